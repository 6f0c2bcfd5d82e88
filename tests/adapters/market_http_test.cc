// HttpMarketData against a local fake of the external APIs
// (fake_market_api.py, spawned on a free 127.0.0.1 port): exact values, every
// way of being unavailable, the hard deadline, breakers, single-flight and
// the VIX cache.
#include "adapters/market_http.h"

#include <arpa/inet.h>
#include <cpprest/http_client.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <pplx/threadpool.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;

// The fake API server process.
class FakeApiServer {
 public:
  FakeApiServer() {
    int out[2];
    if (::pipe(out) != 0) throw std::runtime_error("pipe");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addclose(&actions, out[0]);
    const char* script = FAKE_MARKET_API_SCRIPT;
    char* argv[] = {const_cast<char*>("python3"), const_cast<char*>(script), nullptr};
    if (posix_spawnp(&pid_, "python3", &actions, nullptr, argv, environ) != 0) {
      throw std::runtime_error("cannot start python3");
    }
    posix_spawn_file_actions_destroy(&actions);
    ::close(out[1]);
    std::string line;
    char c;
    while (::read(out[0], &c, 1) == 1 && c != '\n') line += c;
    ::close(out[0]);
    port_ = std::stoi(line);
    control_ = std::make_unique<web::http::client::http_client>(url());
  }
  ~FakeApiServer() {
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void Put(const std::string& path) {
    auto response = control_->request(web::http::methods::PUT, path).get();
    if (response.status_code() != 200) throw std::runtime_error("control request failed: " + path);
  }

  // Body bytes the last flood answer got sent.
  int64_t Sent() {
    auto body =
        control_->request(web::http::methods::GET, "/__sent").get().extract_json(true).get();
    return body.at("sent").as_number().to_int64();
  }

  int Count() {
    auto body =
        control_->request(web::http::methods::GET, "/__count").get().extract_json(true).get();
    return body.at("count").as_integer();
  }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::unique_ptr<web::http::client::http_client> control_;
};

// A monotonic clock that tests can move forward.
class ShiftedClock {
 public:
  CircuitBreaker::NowFn Fn() {
    return [this] {
      return std::chrono::steady_clock::now() + std::chrono::nanoseconds(shift_.load());
    };
  }
  void Advance(std::chrono::nanoseconds d) { shift_ += d.count(); }

 private:
  std::atomic<int64_t> shift_{0};
};

class HttpMarketDataTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new FakeApiServer(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    server_->Put("/__mode/ok");
    server_->Put("/__delay/0");
    server_->Put("/__rate/0.15");
    server_->Put("/__risk/6");
  }

  HttpMarketDataOptions Options() {
    HttpMarketDataOptions o;
    o.lender_url = o.market_url = o.events_url = server_->url();
    o.timeout = 400ms;
    o.breaker = {.failure_threshold = 3, .cool_down = 10s};
    return o;
  }

  std::unique_ptr<HttpMarketData> Make(HttpMarketDataOptions o) {
    MarketDataObservers observers;
    observers.on_request = [this](MarketApi api, ApiOutcome outcome) {
      std::lock_guard lock(mu_);
      ++outcomes_[std::string(MarketApiName(api)) + "/" + std::string(ApiOutcomeName(outcome))];
    };
    auto md = HttpMarketData::Create(std::move(o), observers, clock_.Fn());
    EXPECT_TRUE(md) << md.error().message;
    return md ? std::move(*md) : nullptr;
  }

  int Outcomes(const std::string& key) {
    std::lock_guard lock(mu_);
    return outcomes_[key];
  }

  static FakeApiServer* server_;
  ShiftedClock clock_;
  std::mutex mu_;
  std::map<std::string, int> outcomes_;
};

FakeApiServer* HttpMarketDataTest::server_ = nullptr;

TEST_F(HttpMarketDataTest, ReturnsExactValuesFromEachApi) {
  auto md = Make(Options());
  auto rate = md->LenderRate("GME");
  ASSERT_TRUE(rate) << rate.error().message;
  EXPECT_EQ(*rate, *Decimal::Parse("0.15"));
  EXPECT_EQ(rate->ToString(), "0.15");
  auto vix = md->MarketVix();
  ASSERT_TRUE(vix) << vix.error().message;
  EXPECT_EQ(vix->ToString(), "22.4");
  auto risk = md->EventRisk("GME");
  ASSERT_TRUE(risk) << risk.error().message;
  EXPECT_EQ(*risk, 6);
  EXPECT_EQ(Outcomes("lender/success"), 1);
  EXPECT_EQ(Outcomes("market/success"), 1);
  EXPECT_EQ(Outcomes("events/success"), 1);

  server_->Put("/__rate/0.123456789012345678");
  rate = md->LenderRate("BRK.B");
  ASSERT_TRUE(rate) << rate.error().message;
  EXPECT_EQ(rate->ToString(), "0.123456789012345678");
  server_->Put("/__rate/1.5e-1");
  rate = md->LenderRate("GME");
  ASSERT_TRUE(rate) << rate.error().message;
  EXPECT_EQ(rate->ToString(), "0.15");
}

TEST_F(HttpMarketDataTest, ServerErrorIsUnavailable) {
  auto md = Make(Options());
  server_->Put("/__mode/error500");
  auto rate = md->LenderRate("GME");
  ASSERT_FALSE(rate);
  EXPECT_EQ(rate.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_NE(rate.error().message.find("500"), std::string::npos) << rate.error().message;
  EXPECT_FALSE(md->MarketVix());
  EXPECT_FALSE(md->EventRisk("GME"));
  EXPECT_EQ(Outcomes("lender/error"), 1);
  EXPECT_EQ(Outcomes("market/error"), 1);
  EXPECT_EQ(Outcomes("events/error"), 1);
}

TEST_F(HttpMarketDataTest, MalformedAnswerIsUnavailable) {
  auto md = Make(Options());
  server_->Put("/__mode/garbage");
  auto rate = md->LenderRate("GME");
  ASSERT_FALSE(rate);
  EXPECT_EQ(rate.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_FALSE(md->MarketVix());
  EXPECT_EQ(Outcomes("lender/error"), 1);
  EXPECT_EQ(Outcomes("market/error"), 1);
}

TEST_F(HttpMarketDataTest, OutOfRangeValuesAreUnavailable) {
  auto md = Make(Options());
  server_->Put("/__rate/11");
  server_->Put("/__risk/11");
  EXPECT_FALSE(md->LenderRate("GME"));
  EXPECT_FALSE(md->EventRisk("GME"));
  server_->Put("/__risk/6.5");
  EXPECT_FALSE(md->EventRisk("GME"));
  server_->Put("/__rate/-0.01");
  EXPECT_FALSE(md->LenderRate("GME"));
  EXPECT_EQ(Outcomes("lender/error"), 2);
  EXPECT_EQ(Outcomes("events/error"), 2);
}

TEST_F(HttpMarketDataTest, HangingServerCannotHoldACallerPastTheTimeout) {
  auto md = Make(Options());
  server_->Put("/__mode/hang");
  const auto start = std::chrono::steady_clock::now();
  auto rate = md->LenderRate("GME");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(rate);
  EXPECT_EQ(rate.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_GE(elapsed, 380ms);
  EXPECT_LT(elapsed, 400ms + 300ms);
  EXPECT_EQ(Outcomes("lender/timeout"), 1);
}

TEST_F(HttpMarketDataTest, TricklingServerCannotHoldACallerPastTheTimeout) {
  auto md = Make(Options());
  server_->Put("/__mode/trickle");
  const auto start = std::chrono::steady_clock::now();
  auto vix = md->MarketVix();
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(vix);
  EXPECT_LT(elapsed, 400ms + 300ms);
  EXPECT_EQ(Outcomes("market/timeout"), 1);
}

TEST_F(HttpMarketDataTest, AnEndlessAnswerIsCutOffAtTheSizeCapWhateverItsFraming) {
  for (const std::string mode : {"flood-chunked", "flood-close"}) {
    auto o = Options();
    o.timeout = 10s;  // the cap ends it, not the deadline
    auto md = Make(o);
    server_->Put("/__mode/" + mode);
    auto vix = md->MarketVix();
    ASSERT_FALSE(vix) << mode;
    EXPECT_NE(vix.error().message.find("too large"), std::string::npos)
        << mode << ": " << vix.error().message;
    // The transfer stopped: no more than the cap and the sockets' buffers
    // left the server, far from the 256 MiB it would send.
    std::this_thread::sleep_for(300ms);
    EXPECT_LT(server_->Sent(), int64_t{32} << 20) << mode;
  }
  EXPECT_EQ(Outcomes("market/error"), 2);
}

TEST_F(HttpMarketDataTest, BreakerOpensAfterRepeatedFailuresAndClosesAfterCoolDown) {
  auto md = Make(Options());
  server_->Put("/__mode/error500");
  const int before = server_->Count();
  for (int i = 0; i < 3; ++i) EXPECT_FALSE(md->LenderRate("GME"));
  EXPECT_EQ(md->BreakerStateOf(MarketApi::kLender), BreakerState::kOpen);
  EXPECT_EQ(md->BreakerStateOf(MarketApi::kMarket), BreakerState::kClosed);

  server_->Put("/__mode/ok");
  auto refused = md->LenderRate("GME");
  ASSERT_FALSE(refused);
  EXPECT_NE(refused.error().message.find("circuit open"), std::string::npos);
  EXPECT_EQ(server_->Count() - before, 3);  // no network while open
  EXPECT_EQ(Outcomes("lender/circuit_open"), 1);
  EXPECT_TRUE(md->MarketVix());  // other APIs are unaffected

  clock_.Advance(10s);
  EXPECT_EQ(md->BreakerStateOf(MarketApi::kLender), BreakerState::kHalfOpen);
  auto rate = md->LenderRate("GME");
  ASSERT_TRUE(rate) << rate.error().message;
  EXPECT_EQ(md->BreakerStateOf(MarketApi::kLender), BreakerState::kClosed);
  EXPECT_EQ(Outcomes("lender/error"), 3);
  EXPECT_EQ(Outcomes("lender/success"), 1);
}

TEST_F(HttpMarketDataTest, TimeoutsAlsoOpenTheBreaker) {
  HttpMarketDataOptions o = Options();
  o.timeout = 150ms;
  o.breaker.failure_threshold = 2;
  auto md = Make(o);
  server_->Put("/__mode/hang");
  EXPECT_FALSE(md->EventRisk("GME"));
  EXPECT_FALSE(md->EventRisk("GME"));
  EXPECT_EQ(md->BreakerStateOf(MarketApi::kEvents), BreakerState::kOpen);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(md->EventRisk("GME"));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 50ms);
  EXPECT_EQ(Outcomes("events/timeout"), 2);
  EXPECT_EQ(Outcomes("events/circuit_open"), 1);
}

TEST_F(HttpMarketDataTest, ConcurrentMissesShareOneRequest) {
  HttpMarketDataOptions o = Options();
  o.timeout = 2s;
  auto md = Make(o);
  server_->Put("/__delay/300");
  const int before = server_->Count();
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto rate = md->LenderRate("GME");
      if (rate && rate->ToString() == "0.15") ++ok;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 8);
  EXPECT_EQ(server_->Count() - before, 1);
  EXPECT_EQ(Outcomes("lender/success"), 1);
}

TEST_F(HttpMarketDataTest, CachesTheVixForItsTtl) {
  HttpMarketDataOptions o = Options();
  o.vix_ttl = 5s;
  auto md = Make(o);
  const int before = server_->Count();
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(md->MarketVix());
  EXPECT_EQ(server_->Count() - before, 1);
  clock_.Advance(4900ms);
  ASSERT_TRUE(md->MarketVix());
  EXPECT_EQ(server_->Count() - before, 1);
  clock_.Advance(200ms);
  ASSERT_TRUE(md->MarketVix());
  EXPECT_EQ(server_->Count() - before, 2);
  // Lender rates are not cached by default.
  ASSERT_TRUE(md->LenderRate("GME"));
  ASSERT_TRUE(md->LenderRate("GME"));
  EXPECT_EQ(server_->Count() - before, 4);
}

TEST_F(HttpMarketDataTest, AbsentApiIsUnavailableWithoutNetwork) {
  HttpMarketDataOptions o;
  o.market_url = server_->url();
  auto md = Make(o);
  const int before = server_->Count();
  auto rate = md->LenderRate("GME");
  ASSERT_FALSE(rate);
  EXPECT_EQ(rate.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_NE(rate.error().message.find("not configured"), std::string::npos);
  EXPECT_FALSE(md->EventRisk("GME"));
  EXPECT_TRUE(md->MarketVix());
  EXPECT_EQ(server_->Count() - before, 1);
  EXPECT_EQ(Outcomes("lender/error") + Outcomes("events/error"), 0);
}

TEST_F(HttpMarketDataTest, RefusedConnectionIsAnError) {
  // A port that nothing listens on: bind, read the port, close.
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(s);
  HttpMarketDataOptions o = Options();
  o.lender_url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto md = Make(o);
  auto rate = md->LenderRate("GME");
  ASSERT_FALSE(rate);
  EXPECT_EQ(rate.error().code, ErrorCode::kServiceUnavailable);
  EXPECT_EQ(Outcomes("lender/error"), 1);
}

TEST(HttpMarketDataCreate, RejectsInvalidUrlsNamingTheField) {
  HttpMarketDataOptions o;
  o.events_url = "ftp://example.com";
  auto md = HttpMarketData::Create(o);
  ASSERT_FALSE(md);
  EXPECT_EQ(md.error().code, ErrorCode::kInvalidParameter);
  EXPECT_EQ(md.error().field, "events_url");
  o.events_url.clear();
  o.lender_url = "not a url";
  md = HttpMarketData::Create(o);
  ASSERT_FALSE(md);
  EXPECT_EQ(md.error().field, "lender_url");
}

}  // namespace
}  // namespace pricing::engine

int main(int argc, char** argv) {
  crossplat::threadpool::initialize_with_threads(2);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
