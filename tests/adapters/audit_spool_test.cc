// AuditSpool and FileAuditStore: exact serialization, group commit with
// concurrent callers, retention while the sink is down, recovery after a
// crash (torn tails, a kill -9'd child), the JSON-lines audit file, and the
// frames' CRC-32.
#include "adapters/audit_spool.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/statvfs.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/crc32.h"
#include "audit_test_util.h"

namespace pricing::engine {
namespace {

using namespace std::chrono_literals;
using testing::DiffAuditRecords;
using testing::MakeAuditRecord;
using testing::ScratchDir;
namespace fs = std::filesystem;

// A sink that stores what it accepts and can be switched off or made to
// refuse particular records.
class FakeSink {
 public:
  AuditBatchSink Fn() {
    return [this](const std::vector<AuditRecord>& batch) -> Result<void> {
      std::lock_guard lock(mu_);
      ++calls_;
      if (!up_) return Fail(ErrorCode::kServiceUnavailable, "fake sink is down");
      for (const AuditRecord& r : batch) {
        if (r.calculation_id == poison_) {
          return Fail(ErrorCode::kInvalidParameter, "fake sink refuses " + poison_);
        }
      }
      for (const AuditRecord& r : batch) {
        ++counts_[r.calculation_id];
        records_.push_back(r);
      }
      return {};
    };
  }
  void SetUp(bool up) {
    std::lock_guard lock(mu_);
    up_ = up;
  }
  void SetPoison(std::string id) {
    std::lock_guard lock(mu_);
    poison_ = std::move(id);
  }
  std::map<std::string, int> counts() {
    std::lock_guard lock(mu_);
    return counts_;
  }
  std::vector<AuditRecord> records() {
    std::lock_guard lock(mu_);
    return records_;
  }
  int calls() {
    std::lock_guard lock(mu_);
    return calls_;
  }

 private:
  std::mutex mu_;
  bool up_ = true;
  std::string poison_;
  int calls_ = 0;
  std::map<std::string, int> counts_;
  std::vector<AuditRecord> records_;
};

// Counts `done` callbacks and their outcomes.
class DoneCounter {
 public:
  std::function<void(Result<void>)> Fn() {
    return [this](Result<void> r) {
      std::lock_guard lock(mu_);
      (r ? ok_ : failed_)++;
      cv_.notify_all();
    };
  }
  bool WaitFor(int n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return ok_ + failed_ >= n; });
  }
  int ok() {
    std::lock_guard lock(mu_);
    return ok_;
  }
  int failed() {
    std::lock_guard lock(mu_);
    return failed_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int ok_ = 0;
  int failed_ = 0;
};

AuditSpoolOptions Options(const std::string& dir) {
  AuditSpoolOptions o;
  o.directory = dir;
  o.retry_initial = 5ms;
  o.retry_max = 50ms;
  return o;
}

std::vector<fs::path> Segments(const std::string& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().filename().string().starts_with("segment-") && e.path().extension() == ".spool") {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string Id(int n) { return "calc-" + std::to_string(n); }

// Appends records Id(first)..Id(first+count-1) and waits until each is durable.
void AppendAndWait(AuditSpool& spool, int first, int count) {
  DoneCounter done;
  for (int i = first; i < first + count; ++i) spool.Append(MakeAuditRecord(Id(i), i), done.Fn());
  ASSERT_TRUE(done.WaitFor(count));
  ASSERT_EQ(done.ok(), count);
}

TEST(AuditRecordJson, RoundTripsEveryFieldExactly) {
  for (int n : {0, 1, 7, 364}) {
    const AuditRecord r =
        MakeAuditRecord("6f1c2a9e-0000-4000-8000-00000000000" + std::to_string(n % 10), n);
    const std::string text = SerializeAuditRecord(r);
    auto back = ParseAuditRecord(text);
    ASSERT_TRUE(back) << back.error().message << "\n" << text;
    EXPECT_EQ(DiffAuditRecords(r, *back), "") << text;
  }
  const std::string text = SerializeAuditRecord(MakeAuditRecord("x", 1));
  EXPECT_NE(text.find("\"rate\":\"0.173250000000000001\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"markup\":\"71.20\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"base_rate\":{\"value\":\"0.15\",\"source\":\"lender_api\"}"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("\"at\":\"2026-11-18T"), std::string::npos) << text;
  EXPECT_EQ(text.find('\n'), std::string::npos);
}

// The spool's text, byte for byte: segments written by earlier versions are
// read with a reader of exactly this spelling.
TEST(AuditRecordJson, WritesTheSpoolFormatExactly) {
  EXPECT_EQ(SerializeAuditRecord(MakeAuditRecord("0190f3a2-7c4e-7abc-8def-0123456789ab", 3)),
            "{\"v\":1,\"calculation_id\":\"0190f3a2-7c4e-7abc-8def-0123456789ab\","
            "\"request_id\":\"req-3-\\\"quoted\\\"\\\\\xC3\xBCn\xC3\xAF\","
            "\"api_key_client\":\"big_fund_007\",\"at\":\"2026-11-18T11:06:43.123456810Z\","
            "\"at_unix_ns\":1795000003123456810,\"request\":{\"ticker\":\"GME\","
            "\"position_value\":\"50003.25\",\"loan_days\":4,\"client_id\":\"client_3\"},"
            "\"quote\":{\"rate\":\"0.173250000000000001\",\"borrow_rate_used\":\"0.17325\","
            "\"borrow_cost\":\"1423.97\",\"markup\":\"71.20\",\"transaction_fees\":\"40.00\","
            "\"total_fee\":\"1535.17\",\"day_count\":360},\"inputs\":{\"base_rate\":"
            "{\"value\":\"0.15\",\"source\":\"lender_api\"},\"volatility\":{\"value\":\"32.5\","
            "\"source\":\"db\"},\"event_risk\":{\"value\":3,\"source\":\"events_api\"}}}");
}

// "at" is the UTC text of at_unix_ns (time_text_test checks the text itself
// against gmtime_r), before 1970 too.
TEST(AuditRecordJson, WritesTheTimeAndItsNanoseconds) {
  AuditRecord r = MakeAuditRecord("t", 1);
  r.at = std::chrono::system_clock::time_point(std::chrono::nanoseconds(-1));
  const std::string text = SerializeAuditRecord(r);
  EXPECT_NE(text.find("\"at\":\"1969-12-31T23:59:59.999999999Z\",\"at_unix_ns\":-1,"),
            std::string::npos)
      << text;
  auto back = ParseAuditRecord(text);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(DiffAuditRecords(r, *back), "");
}

TEST(AuditRecordJson, ReadsEveryStringItWritesAndEveryEquivalentSpelling) {
  // Request ids are client text: quotes, backslashes, control characters and
  // non-ASCII bytes must come back exactly, whichever reader takes them.
  for (const std::string& rid : std::vector<std::string>{
           "plain", "q\"uote", "back\\slash", "slash/es", "tab\tnl\ncr\r", std::string("nul\0x", 5),
           "\x01\x1f", "caf\xc3\xa9 \xe2\x82\xac", "\\\"\\\""}) {
    AuditRecord r = MakeAuditRecord("6f1c2a9e-0000-4000-8000-000000000001", 3);
    r.request_id = rid;
    const std::string text = SerializeAuditRecord(r);
    auto back = ParseAuditRecord(text);
    ASSERT_TRUE(back) << back.error().message << "\n" << text;
    EXPECT_EQ(DiffAuditRecords(r, *back), "") << text;
  }
  // Whitespace and another member order are still the same record.
  const AuditRecord r = MakeAuditRecord("6f1c2a9e-0000-4000-8000-000000000002", 5);
  std::string spaced = SerializeAuditRecord(r);
  spaced.insert(1, " \n ");
  auto back = ParseAuditRecord(spaced);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(DiffAuditRecords(r, *back), "");
  std::string reordered = SerializeAuditRecord(r);
  const std::string v = "\"v\":1,";
  reordered.erase(reordered.find(v), v.size());
  reordered.insert(reordered.size() - 1, ",\"v\":1");
  back = ParseAuditRecord(reordered);
  ASSERT_TRUE(back) << back.error().message << "\n" << reordered;
  EXPECT_EQ(DiffAuditRecords(r, *back), "");
  // A record of another version is refused by both readers.
  std::string v2 = SerializeAuditRecord(r);
  v2.replace(v2.find("\"v\":1"), 5, "\"v\":2");
  EXPECT_FALSE(ParseAuditRecord(v2));
}

// Frames of a segment as an earlier version wrote them: the CRC comes from a
// bit-at-a-time CRC-32 (zlib's), independent of the spool's table-driven one.
uint32_t BitwiseCrc32(std::string_view data) {
  uint32_t c = 0xFFFFFFFFu;
  for (unsigned char b : data) {
    c ^= b;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
  }
  return c ^ 0xFFFFFFFFu;
}

TEST(Crc32, AgreesWithABitAtATimeCrcAtEveryLengthAndAlignment) {
  ASSERT_EQ(Crc32("123456789"), 0xCBF43926u);
  std::mt19937_64 rng(20261206);
  std::string buffer(4096 + 16, '\0');
  for (char& c : buffer) c = static_cast<char>(rng());
  // Every length to 1 KiB (folds of 64, the 16-byte steps and the tail), then
  // longer ones, each from several offsets so loads are unaligned too.
  for (size_t n = 0; n <= 4096; n += (n < 1024 ? 1 : 61)) {
    for (size_t offset : {size_t{0}, size_t{1}, size_t{7}, size_t{13}}) {
      const std::string_view data(buffer.data() + offset, n);
      const uint32_t expected = BitwiseCrc32(data);
      ASSERT_EQ(Crc32(data), expected) << n << " bytes at +" << offset;
      ASSERT_EQ(Crc32Portable(data), expected) << n << " bytes at +" << offset;
    }
  }
  // All-zero and all-one bytes, where a fold that dropped a term would still
  // often agree on random data.
  for (char fill : {'\0', '\xff'}) {
    const std::string same(1000, fill);
    EXPECT_EQ(Crc32(same), BitwiseCrc32(same));
  }
  if (!Crc32UsesCarryLessMultiply()) {
    GTEST_SKIP() << "no PCLMULQDQ here: only the table-driven CRC was checked";
  }
}

TEST(AuditSpool, RecoversASegmentWrittenFrameByFrameWithZlibCrcs) {
  ASSERT_EQ(BitwiseCrc32("123456789"), 0xCBF43926u);  // the CRC-32 check value
  ScratchDir dir;
  std::string file("PRSPOOL1", 8);
  auto put32 = [&file](uint32_t v) {
    for (int i = 0; i < 4; ++i) file.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
  };
  for (int i = 0; i < 40; ++i) {
    // Payloads of every length modulo 8 exercise the CRC's tail loop.
    AuditRecord r = MakeAuditRecord(Id(i), i);
    r.request_id += std::string(static_cast<size_t>(i % 8), 'x');
    const std::string payload = SerializeAuditRecord(r);
    put32(static_cast<uint32_t>(payload.size()));
    put32(BitwiseCrc32(payload));
    file += payload;
  }
  std::filesystem::create_directories(dir.path());
  {
    std::ofstream out(dir.path() + "/segment-00000000000000000001.spool", std::ios::binary);
    out << file;
  }
  FakeSink sink;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool) << spool.error().message;
  EXPECT_EQ((*spool)->stats().recovered_records, 40);
  EXPECT_EQ((*spool)->stats().truncated_bytes, 0);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  EXPECT_EQ(sink.counts().size(), 40u);
}

TEST(AuditRecordJson, RejectsMalformedRecords) {
  EXPECT_FALSE(ParseAuditRecord("not json"));
  EXPECT_FALSE(ParseAuditRecord("{}"));
  std::string text = SerializeAuditRecord(MakeAuditRecord("x", 1));
  const std::string bad = text.replace(text.find("\"0.15\""), 6, "\"0.1x\"");
  EXPECT_FALSE(ParseAuditRecord(bad));
}

// Appends from 8 threads at once and checks that every record reaches the
// sink once, field for field. Returns how many came from memory.
int64_t DeliverConcurrentAppends(AuditSpoolOptions options) {
  ScratchDir dir;
  options.directory = dir.path();
  FakeSink sink;
  auto spool = AuditSpool::Open(options, sink.Fn());
  EXPECT_TRUE(spool) << spool.error().message;
  if (!spool) return -1;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 500;
  DoneCounter done;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int n = t * kPerThread + i;
        (*spool)->Append(MakeAuditRecord(Id(n), n), done.Fn());
      }
    });
  }
  for (auto& th : threads) th.join();
  if (!done.WaitFor(kThreads * kPerThread)) {
    ADD_FAILURE() << "not every record became durable";
    return -1;
  }
  EXPECT_EQ(done.ok(), kThreads * kPerThread);
  if (!(*spool)->WaitUntilDrained(10s)) {
    ADD_FAILURE() << "not drained: " << (*spool)->Pending() << " pending";
    return -1;
  }
  EXPECT_EQ((*spool)->Pending(), 0);
  const auto counts = sink.counts();
  EXPECT_EQ(counts.size(), size_t{kThreads * kPerThread});
  for (const auto& [id, count] : counts) EXPECT_EQ(count, 1) << id;
  EXPECT_LE((*spool)->stats().commits, kThreads * kPerThread);
  // Delivered records are the appended ones, field for field.
  for (const AuditRecord& r : sink.records()) {
    const int n = std::stoi(r.calculation_id.substr(5));
    EXPECT_EQ(DiffAuditRecords(r, MakeAuditRecord(Id(n), n)), "") << r.calculation_id;
  }
  const int64_t from_memory = (*spool)->stats().delivered_from_memory;
  EXPECT_EQ((*spool)->stats().delivered_records, kThreads * kPerThread);
  (*spool)->Close();
  EXPECT_TRUE(Segments(dir.path()).empty());
  return from_memory;
}

TEST(AuditSpool, DeliversEveryConcurrentlyAppendedRecordExactlyOnceFromMemory) {
  // 4000 records never fill memory (16384), so none is read back.
  EXPECT_EQ(DeliverConcurrentAppends(Options("")), 4000);
}

TEST(AuditSpool, DeliversEveryConcurrentlyAppendedRecordExactlyOnceFromTheSegments) {
  AuditSpoolOptions options = Options("");
  options.memory_records = 0;
  EXPECT_EQ(DeliverConcurrentAppends(options), 0);
}

TEST(AuditSpool, ReadsTheSegmentsForWhatMemoryCouldNotHoldAndDeliversInOrder) {
  ScratchDir dir;
  FakeSink sink;
  sink.SetUp(false);
  AuditSpoolOptions options = Options(dir.path());
  options.memory_records = 50;
  options.batch_size = 20;
  auto spool = AuditSpool::Open(options, sink.Fn());
  ASSERT_TRUE(spool);
  // Ten commits of 30 while the sink is down: memory fills with the first 50
  // (then the drainer holds 20 of them for its retries), the rest wait on disk.
  for (int round = 0; round < 10; ++round) AppendAndWait(**spool, round * 30, 30);
  EXPECT_EQ((*spool)->Pending(), 300);
  sink.SetUp(true);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s)) << (*spool)->Pending();
  const auto records = sink.records();
  ASSERT_EQ(records.size(), 300u);
  for (int i = 0; i < 300; ++i) {
    ASSERT_EQ(DiffAuditRecords(records[i], MakeAuditRecord(Id(i), i)), "") << "record " << i;
  }
  const auto stats = (*spool)->stats();
  EXPECT_EQ(stats.delivered_records, 300);
  EXPECT_GT(stats.delivered_from_memory, 0);
  EXPECT_LT(stats.delivered_from_memory, 300);
}

// Appends a record whose callback holds the writer thread until Release(),
// so that what is appended meanwhile is queued for the next commit.
class WriterHold {
 public:
  WriterHold(AuditSpool& spool, const std::string& id) {
    spool.Append(MakeAuditRecord(id, 0), [this](Result<void> r) {
      EXPECT_TRUE(r);
      std::unique_lock lock(mu_);
      held_ = true;
      cv_.notify_all();
      cv_.wait(lock, [&] { return released_; });
    });
  }
  ~WriterHold() { Release(); }
  // Returns whether the writer is held (waits up to 10 s for it).
  bool Held() {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 10s, [&] { return held_; });
  }
  void Release() {
    std::lock_guard lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool held_ = false;
  bool released_ = false;
};

TEST(AuditSpool, CommitsEverythingQueuedInOneWrite) {
  ScratchDir dir;
  FakeSink sink;
  sink.SetUp(false);
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  // The first record's `done` holds the writer thread until 999 more records
  // are queued behind it; they must then become durable in a single commit.
  WriterHold hold(**spool, Id(0));
  ASSERT_TRUE(hold.Held());
  DoneCounter done;
  for (int i = 1; i < 1000; ++i) (*spool)->Append(MakeAuditRecord(Id(i), i), done.Fn());
  hold.Release();
  ASSERT_TRUE(done.WaitFor(999));
  EXPECT_EQ(done.ok(), 999);
  EXPECT_EQ((*spool)->stats().commits, 2);
  EXPECT_EQ((*spool)->Pending(), 1000);
  (*spool)->Close(0ms);
}

// A home that keeps what is posted to it until the test runs it.
class HeldHome : public CallbackHome {
 public:
  void Post(std::function<void()> work) override {
    std::lock_guard lock(mu_);
    posted_.push_back(std::move(work));
  }
  int posts() {
    std::lock_guard lock(mu_);
    return static_cast<int>(posted_.size());
  }
  void RunAll() {
    std::vector<std::function<void()>> work;
    {
      std::lock_guard lock(mu_);
      work.swap(posted_);
    }
    for (auto& w : work) w();
  }

 private:
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;
};

TEST(AuditSpool, HandsCallbacksBackToTheHomeOfTheThreadThatAppendedThemOnePostPerCommit) {
  ScratchDir dir;
  FakeSink sink;
  sink.SetUp(false);
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  // Hold the writer in the first record's callback (appended here, with no
  // home, so it runs on the writer) while three threads queue records
  // behind it, so that all of theirs are durable in the second commit.
  WriterHold hold(**spool, Id(0));
  ASSERT_TRUE(hold.Held());
  HeldHome home_a, home_b;
  std::mutex ran_mu;
  std::map<std::string, std::set<std::thread::id>> ran_on;  // appender -> threads its callbacks ran on
  std::map<std::string, int> ok;
  auto callback = [&](std::string who) {
    return [&, who](Result<void> r) {
      std::lock_guard lock(ran_mu);
      ran_on[who].insert(std::this_thread::get_id());
      if (r) ++ok[who];
    };
  };
  auto append = [&](HeldHome* home, std::string who, int first, int n) {
    SetThisThreadHome(home);
    for (int i = first; i < first + n; ++i) (*spool)->Append(MakeAuditRecord(Id(i), i), callback(who));
    SetThisThreadHome(nullptr);
  };
  std::thread a(append, &home_a, "a", 1, 10);
  std::thread b(append, &home_b, "b", 11, 10);
  std::thread c(append, nullptr, "c", 21, 5);
  a.join();
  b.join();
  c.join();
  hold.Release();
  // The homeless thread's callbacks run on the writer; the others wait in
  // their homes, one post each, until the home runs them.
  for (int i = 0; i < 1000; ++i) {
    {
      std::lock_guard lock(ran_mu);
      if (ok["c"] == 5) break;
    }
    std::this_thread::sleep_for(10ms);
  }
  (*spool)->Close(0ms);
  EXPECT_EQ((*spool)->stats().commits, 2);
  // Each home holds its wake-up for the writer (not needed: the homeless
  // thread's records woke it) and its callbacks.
  EXPECT_EQ(home_a.posts(), 2);
  EXPECT_EQ(home_b.posts(), 2);
  {
    std::lock_guard lock(ran_mu);
    EXPECT_EQ(ok["c"], 5);
    EXPECT_EQ(ok.count("a"), 0u);
    EXPECT_EQ(ok.count("b"), 0u);
    ASSERT_EQ(ran_on["c"].size(), 1u);
    EXPECT_NE(*ran_on["c"].begin(), std::this_thread::get_id());
  }
  home_a.RunAll();
  home_b.RunAll();
  std::lock_guard lock(ran_mu);
  EXPECT_EQ(ok["a"], 10);
  EXPECT_EQ(ok["b"], 10);
  EXPECT_EQ(ran_on["a"], std::set<std::thread::id>{std::this_thread::get_id()});
  EXPECT_EQ(ran_on["b"], std::set<std::thread::id>{std::this_thread::get_id()});
}

// Returns whether `home` holds `n` posts within 10 s.
bool WaitForPosts(HeldHome& home, int n) {
  for (int i = 0; i < 1000 && home.posts() < n; ++i) std::this_thread::sleep_for(10ms);
  return home.posts() == n;
}

TEST(AuditSpool, CommitsAnEventLoopsRecordsOnceTheLoopHasRunWhatItHad) {
  ScratchDir dir;
  FakeSink sink;
  sink.SetUp(false);
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  HeldHome loop;
  DoneCounter done;
  // One batch of the loop's handlers prices 50 requests; the writer is idle
  // throughout, and is told of them by one post to the loop.
  std::thread handlers([&] {
    SetThisThreadHome(&loop);
    for (int i = 0; i < 50; ++i) (*spool)->Append(MakeAuditRecord(Id(i), i), done.Fn());
    SetThisThreadHome(nullptr);
  });
  handlers.join();
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ((*spool)->stats().commits, 0);
  EXPECT_EQ((*spool)->Pending(), 50);
  EXPECT_EQ(loop.posts(), 1);
  // The loop gets to its post: all 50 become durable in one commit, and
  // their callbacks come back in one post.
  loop.RunAll();
  ASSERT_TRUE(WaitForPosts(loop, 1));
  EXPECT_EQ((*spool)->stats().commits, 1);
  EXPECT_EQ(done.ok(), 0);
  loop.RunAll();
  EXPECT_EQ(done.ok(), 50);
  // The next batch posts its own wake-up; a thread with no home wakes the
  // writer at once.
  std::thread next([&] {
    SetThisThreadHome(&loop);
    (*spool)->Append(MakeAuditRecord(Id(50), 50), done.Fn());
    SetThisThreadHome(nullptr);
  });
  next.join();
  EXPECT_EQ(loop.posts(), 1);
  AppendAndWait(**spool, 51, 1);
  EXPECT_EQ((*spool)->stats().commits, 2);  // the homeless record took the loop's along
  ASSERT_TRUE(WaitForPosts(loop, 2));       // the wake-up and the loop's callback
  loop.RunAll();
  EXPECT_EQ(done.ok(), 51);
  EXPECT_EQ((*spool)->stats().commits, 2);
  (*spool)->Close(0ms);
}

TEST(AuditSpool, ReportsTheTimeOfEveryGroupCommitsSyncOnlyWhenItSyncs) {
  for (const bool fsync : {true, false}) {
    SCOPED_TRACE(fsync ? "fsync" : "write only");
    ScratchDir dir;
    FakeSink sink;
    std::mutex mu;
    std::vector<std::chrono::nanoseconds> syncs;
    AuditSpoolOptions o = Options(dir.path());
    o.fsync = fsync;
    o.on_sync = [&](std::chrono::nanoseconds took) {
      std::lock_guard lock(mu);
      syncs.push_back(took);
    };
    auto spool = AuditSpool::Open(o, sink.Fn());
    ASSERT_TRUE(spool);
    for (int i = 0; i < 5; ++i) AppendAndWait(**spool, i, 1);  // five commits, one record each
    const int64_t commits = (*spool)->stats().commits;
    (*spool)->Close(1s);
    std::lock_guard lock(mu);
    EXPECT_EQ(commits, 5);
    if (!fsync) {
      EXPECT_TRUE(syncs.empty());
      continue;
    }
    ASSERT_EQ(static_cast<int64_t>(syncs.size()), commits);
    for (auto took : syncs) EXPECT_GT(took.count(), 0);
  }
}

TEST(AuditSpool, KeepsRecordsWhileTheSinkIsDownAndDrainsThemWhenItRecovers) {
  ScratchDir dir;
  FakeSink sink;
  sink.SetUp(false);
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  AppendAndWait(**spool, 0, 120);
  std::this_thread::sleep_for(100ms);
  EXPECT_EQ((*spool)->Pending(), 120);
  EXPECT_TRUE(sink.counts().empty());
  EXPECT_GT((*spool)->stats().sink_failures, 0);
  EXPECT_FALSE((*spool)->WaitUntilDrained(50ms));

  sink.SetUp(true);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  EXPECT_EQ(sink.counts().size(), 120u);
  EXPECT_EQ((*spool)->stats().delivered_records, 120);
}

TEST(AuditSpool, RecordsSurviveARestartWhileTheSinkIsDown) {
  ScratchDir dir;
  {
    FakeSink down;
    down.SetUp(false);
    auto spool = AuditSpool::Open(Options(dir.path()), down.Fn());
    ASSERT_TRUE(spool);
    AppendAndWait(**spool, 0, 50);
    (*spool)->Close(0ms);
    EXPECT_EQ((*spool)->Pending(), 50);
  }
  FakeSink sink;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  EXPECT_EQ((*spool)->stats().recovered_records, 50);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  EXPECT_EQ(sink.counts().size(), 50u);
}

TEST(AuditSpool, HandsOffWhatTheSinkDidNotTakeAndKeepsNothing) {
  ScratchDir dir;
  FakeSink down;
  down.SetUp(false);
  FakeSink peer;
  {
    AuditSpoolOptions o = Options(dir.path());
    o.batch_size = 40;  // several hand-off calls
    auto spool = AuditSpool::Open(o, down.Fn());
    ASSERT_TRUE(spool);
    AppendAndWait(**spool, 0, 50);
    (*spool)->Close(20ms);
    ASSERT_EQ((*spool)->Pending(), 50);
    EXPECT_EQ((*spool)->HandOff(peer.Fn(), 10s), 50);
    EXPECT_EQ((*spool)->Pending(), 0);
    EXPECT_GE(peer.calls(), 2);
  }
  const std::vector<AuditRecord> got = peer.records();
  ASSERT_EQ(got.size(), 50u);
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(DiffAuditRecords(got[i], MakeAuditRecord(Id(i), i)), "") << "in order, exactly";
  }
  EXPECT_TRUE(down.counts().empty());
  // Nothing is left to deliver twice.
  FakeSink sink;
  auto reopened = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(reopened);
  EXPECT_EQ((*reopened)->stats().recovered_records, 0);
  EXPECT_EQ((*reopened)->Pending(), 0);
}

TEST(AuditSpool, ADrainUntilTheSinkFailsEndsAtTheOutageNotAtItsTimeout) {
  ScratchDir dir;
  FakeSink down;
  down.SetUp(false);
  FakeSink peer;
  auto spool = AuditSpool::Open(Options(dir.path()), down.Fn());
  ASSERT_TRUE(spool);
  AppendAndWait(**spool, 0, 50);
  for (int i = 0; i < 200 && (*spool)->stats().sink_failures == 0; ++i) {
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_GT((*spool)->stats().sink_failures, 0);
  const auto start = std::chrono::steady_clock::now();
  (*spool)->Close(60s, /*until_sink_fails=*/true);
  // Waiting out the outage would take the whole minute.
  EXPECT_LT(std::chrono::steady_clock::now() - start, 30s);
  EXPECT_EQ((*spool)->Pending(), 50);
  // The handoff is not cut short by the sink's failures: the peer gets all.
  EXPECT_EQ((*spool)->HandOff(peer.Fn(), 10s), 50);
  EXPECT_EQ(peer.records().size(), 50u);
  EXPECT_TRUE(down.counts().empty());
}

TEST(AuditSpool, ADrainUntilTheSinkFailsDeliversEverythingWhileTheSinkWorks) {
  ScratchDir dir;
  FakeSink sink;
  AuditSpoolOptions o = Options(dir.path());
  o.drain_linger = 60s;  // the records wait for Close's drain
  auto spool = AuditSpool::Open(o, sink.Fn());
  ASSERT_TRUE(spool);
  AppendAndWait(**spool, 0, 120);
  EXPECT_EQ((*spool)->Pending(), 120);
  (*spool)->Close(10s, /*until_sink_fails=*/true);
  EXPECT_EQ((*spool)->Pending(), 0);
  EXPECT_EQ(sink.counts().size(), 120u);
}

TEST(AuditSpool, KeepsWhatAHandOffCouldNotPlace) {
  ScratchDir dir;
  FakeSink down;
  down.SetUp(false);
  {
    auto spool = AuditSpool::Open(Options(dir.path()), down.Fn());
    ASSERT_TRUE(spool);
    AppendAndWait(**spool, 0, 30);
    (*spool)->Close(0ms);
    FakeSink peer_down;
    peer_down.SetUp(false);
    const auto started = std::chrono::steady_clock::now();
    EXPECT_EQ((*spool)->HandOff(peer_down.Fn(), 100ms), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - started, 5s) << "bounded by the timeout";
    EXPECT_GT(peer_down.calls(), 1) << "retried until the timeout";
    EXPECT_EQ((*spool)->Pending(), 30);
  }
  FakeSink sink;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  EXPECT_EQ((*spool)->stats().recovered_records, 30);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  EXPECT_EQ(sink.counts().size(), 30u);
}

TEST(AuditSpool, HandOffOfAnEmptySpoolCallsNothing) {
  ScratchDir dir;
  FakeSink sink;
  FakeSink peer;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  AppendAndWait(**spool, 0, 10);
  (*spool)->Close(10s);
  EXPECT_EQ((*spool)->HandOff(peer.Fn(), 10s), 0);
  EXPECT_EQ(peer.calls(), 0);
  EXPECT_EQ(sink.counts().size(), 10u);
}

TEST(AuditSpool, CursorPreventsResendingAfterARestart) {
  ScratchDir dir;
  {
    FakeSink sink;
    auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
    ASSERT_TRUE(spool);
    AppendAndWait(**spool, 0, 30);
    ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  }
  {
    FakeSink down;
    down.SetUp(false);
    auto spool = AuditSpool::Open(Options(dir.path()), down.Fn());
    ASSERT_TRUE(spool);
    EXPECT_EQ((*spool)->stats().recovered_records, 0);
    AppendAndWait(**spool, 30, 25);
    (*spool)->Close(0ms);
  }
  {
    // The sink takes one batch of 10, then goes down.
    FakeSink sink;
    AuditSpoolOptions o = Options(dir.path());
    o.batch_size = 10;
    std::atomic<int> calls{0};
    auto fn = sink.Fn();
    auto spool = AuditSpool::Open(o, [&](const std::vector<AuditRecord>& b) -> Result<void> {
      if (++calls > 1) return Fail(ErrorCode::kServiceUnavailable, "down");
      return fn(b);
    });
    ASSERT_TRUE(spool);
    EXPECT_EQ((*spool)->stats().recovered_records, 25);
    for (int i = 0; i < 500 && calls.load() < 2; ++i) std::this_thread::sleep_for(10ms);
    (*spool)->Close(0ms);
    EXPECT_EQ(sink.counts().size(), 10u);
    EXPECT_EQ((*spool)->Pending(), 15);
  }
  FakeSink sink;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  EXPECT_EQ((*spool)->stats().recovered_records, 15);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  const auto counts = sink.counts();
  EXPECT_EQ(counts.size(), 15u);
  EXPECT_FALSE(counts.contains(Id(39)));
  EXPECT_TRUE(counts.contains(Id(40)));
  EXPECT_TRUE(counts.contains(Id(54)));
}

// Leaves `count` durable, undelivered records in the spool directory.
void FillSpoolWithSinkDown(const std::string& dir, int count) {
  FakeSink down;
  down.SetUp(false);
  auto spool = AuditSpool::Open(Options(dir), down.Fn());
  ASSERT_TRUE(spool);
  AppendAndWait(**spool, 0, count);
  (*spool)->Close(0ms);
}

TEST(AuditSpool, RecoveryDropsOnlyATornTail) {
  ScratchDir dir;
  FillSpoolWithSinkDown(dir.path(), 20);
  auto segments = Segments(dir.path());
  ASSERT_EQ(segments.size(), 1u);
  // A crash in the middle of the last record's write.
  fs::resize_file(segments[0], fs::file_size(segments[0]) - 7);

  FakeSink sink;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  EXPECT_EQ((*spool)->stats().recovered_records, 19);
  EXPECT_GT((*spool)->stats().truncated_bytes, 0);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  const auto counts = sink.counts();
  EXPECT_EQ(counts.size(), 19u);
  EXPECT_FALSE(counts.contains(Id(19)));
  EXPECT_TRUE(counts.contains(Id(18)));
}

TEST(AuditSpool, RecoveryDropsGarbageAndCorruptRecordsAtTheTail) {
  ScratchDir dir;
  FillSpoolWithSinkDown(dir.path(), 10);
  auto segments = Segments(dir.path());
  ASSERT_EQ(segments.size(), 1u);
  {
    // Flip a byte inside the last record's payload, then append junk.
    std::fstream f(segments[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-3, std::ios::end);
    f.put('#');
    f.seekp(0, std::ios::end);
    f.write("\xff\xff\xff\x7fjunk", 8);
  }
  FakeSink sink;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  EXPECT_EQ((*spool)->stats().recovered_records, 9);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  EXPECT_EQ(sink.counts().size(), 9u);
  EXPECT_FALSE(sink.counts().contains(Id(9)));
}

TEST(AuditSpool, RecoveryRemovesASegmentWithATornHeader) {
  ScratchDir dir;
  FillSpoolWithSinkDown(dir.path(), 5);
  {
    std::ofstream f(dir.path() + "/segment-00000000000000000099.spool", std::ios::binary);
    f.write("PRSP", 4);
  }
  FakeSink sink;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  EXPECT_EQ(sink.counts().size(), 5u);
  EXPECT_FALSE(fs::exists(dir.path() + "/segment-00000000000000000099.spool"));
}

TEST(AuditSpool, RollsSegmentsAndDeletesThemOnceDelivered) {
  ScratchDir dir;
  FakeSink sink;
  sink.SetUp(false);
  AuditSpoolOptions o = Options(dir.path());
  o.max_segment_bytes = 4096;
  auto spool = AuditSpool::Open(o, sink.Fn());
  ASSERT_TRUE(spool);
  for (int i = 0; i < 10; ++i) AppendAndWait(**spool, i * 20, 20);
  EXPECT_GT(Segments(dir.path()).size(), 3u);
  sink.SetUp(true);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  EXPECT_EQ(sink.counts().size(), 200u);
  // Only the active segment is left.
  for (int i = 0; i < 100 && Segments(dir.path()).size() > 1; ++i)
    std::this_thread::sleep_for(10ms);
  EXPECT_EQ(Segments(dir.path()).size(), 1u);
  EXPECT_EQ((*spool)->stats().segments, 1);
}

// A short backlog waits out drain_linger and then goes in one sink call; a
// full batch goes at once; Close does not wait for the linger.
// A spool draining to `sink` in batches of 10 with the given linger.
std::unique_ptr<AuditSpool> OpenLingering(const std::string& dir, FakeSink& sink,
                                          std::chrono::milliseconds linger) {
  AuditSpoolOptions o = Options(dir);
  o.batch_size = 10;
  o.drain_linger = linger;
  auto spool = AuditSpool::Open(o, sink.Fn());
  return spool ? std::move(*spool) : nullptr;
}

TEST(AuditSpool, LingersForAFullBatchButNotLongerThanTheLinger) {
  ScratchDir dir;
  FakeSink sink;
  auto spool = OpenLingering(dir.path(), sink, 3s);
  ASSERT_TRUE(spool);
  AppendAndWait(*spool, 0, 3);
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(sink.calls(), 0);  // durable, but waiting for company
  ASSERT_TRUE(spool->WaitUntilDrained(10s));
  EXPECT_EQ(sink.calls(), 1);
  EXPECT_EQ(sink.counts().size(), 3u);
  spool->Close(0ms);
}

TEST(AuditSpool, SendsAFullBatchWithoutWaitingOutTheLinger) {
  ScratchDir dir;
  FakeSink sink;
  auto spool = OpenLingering(dir.path(), sink, 60s);
  ASSERT_TRUE(spool);
  AppendAndWait(*spool, 0, 25);
  // Two full batches go now; the last 5 wait for the linger.
  for (int i = 0; i < 500 && sink.counts().size() < 20; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(sink.counts().size(), 20u);
  EXPECT_EQ(sink.calls(), 2);
  EXPECT_EQ(spool->Pending(), 5);
  // Close delivers the rest without waiting out the minute.
  spool->Close(10s);
  EXPECT_EQ(sink.counts().size(), 25u);
  EXPECT_EQ(spool->Pending(), 0);
}

// The active segment carries zeros past its records (fewer metadata commits);
// Close cuts them off, and recovery after a crash drops them without calling
// them a torn tail.
TEST(AuditSpool, PreallocatesTheActiveSegmentAndCutsItBackOnClose) {
  ScratchDir dir;
  FakeSink down;
  down.SetUp(false);
  AuditSpoolOptions o = Options(dir.path());
  o.preallocate_bytes = 256 * 1024;
  auto spool = AuditSpool::Open(o, down.Fn());
  ASSERT_TRUE(spool);
  AppendAndWait(**spool, 0, 20);
  auto segments = Segments(dir.path());
  ASSERT_EQ(segments.size(), 1u);
  const auto open_size = fs::file_size(segments[0]);
  EXPECT_GT(open_size, 256u * 1024);
  spool->reset();  // closes it
  const auto closed_size = fs::file_size(segments[0]);
  EXPECT_LT(closed_size, 20u * 1024);  // 20 records of a few hundred bytes
  {
    std::ifstream f(segments[0], std::ios::binary);
    f.seekg(-1, std::ios::end);
    EXPECT_NE(f.get(), 0);  // ends in a record (JSON), not in zeros
  }
  // A crash leaves the zeros in place.
  fs::resize_file(segments[0], closed_size + 300 * 1024);
  FakeSink sink;
  auto reopened = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(reopened);
  EXPECT_EQ((*reopened)->stats().recovered_records, 20);
  EXPECT_EQ((*reopened)->stats().truncated_bytes, 0);
  EXPECT_EQ(fs::file_size(segments[0]), closed_size);
  ASSERT_TRUE((*reopened)->WaitUntilDrained(10s));
  EXPECT_EQ(sink.counts().size(), 20u);
}

TEST(AuditSpool, RecoveryCallsZerosFollowedByJunkATornTail) {
  ScratchDir dir;
  FillSpoolWithSinkDown(dir.path(), 10);
  auto segments = Segments(dir.path());
  ASSERT_EQ(segments.size(), 1u);
  const auto size = fs::file_size(segments[0]);
  fs::resize_file(segments[0], size + 4096);
  {
    std::fstream f(segments[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(0, std::ios::end);
    f.write("junk", 4);
  }
  FakeSink sink;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  EXPECT_EQ((*spool)->stats().recovered_records, 10);
  EXPECT_EQ((*spool)->stats().truncated_bytes, 4096 + 4);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  EXPECT_EQ(sink.counts().size(), 10u);
}

TEST(AuditSpool, DeadLettersOnlyARecordTheSinkRefusesTerminally) {
  ScratchDir dir;
  FakeSink sink;
  sink.SetPoison(Id(4));
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  AppendAndWait(**spool, 0, 10);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  const auto counts = sink.counts();
  EXPECT_EQ(counts.size(), 9u);
  EXPECT_FALSE(counts.contains(Id(4)));
  EXPECT_EQ((*spool)->stats().dead_lettered, 1);
  std::ifstream dead(dir.path() + "/dead-letter.jsonl");
  std::string line;
  ASSERT_TRUE(std::getline(dead, line));
  EXPECT_NE(line.find(Id(4)), std::string::npos) << line;
}

// Returns the offsets [start, end) of every frame of the segment at `path`.
std::vector<std::pair<size_t, size_t>> FrameOffsets(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::pair<size_t, size_t>> frames;
  size_t at = 8;
  while (at + 8 <= data.size()) {
    uint32_t len = 0;
    for (int i = 0; i < 4; ++i) len |= uint32_t(static_cast<unsigned char>(data[at + i])) << (8 * i);
    if (len == 0 || at + 8 + len > data.size()) break;
    frames.emplace_back(at, at + 8 + len);
    at += 8 + len;
  }
  return frames;
}

// Overwrites the byte at `offset` of `path` with one that differs.
void DamageByte(const fs::path& path, size_t offset) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  const char c = static_cast<char>(f.get());
  f.seekp(static_cast<std::streamoff>(offset));
  f.put(static_cast<char>(c ^ 0x5a));
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(AuditSpool, RecoveryKeepsEveryIntactRecordAfterDamageInsideASegment) {
  ScratchDir dir;
  FillSpoolWithSinkDown(dir.path(), 20);
  auto segments = Segments(dir.path());
  ASSERT_EQ(segments.size(), 1u);
  const auto frames = FrameOffsets(segments[0]);
  ASSERT_EQ(frames.size(), 20u);
  DamageByte(segments[0], frames[5].first + 20);  // inside record 5's payload
  DamageByte(segments[0], frames[12].first + 1);  // record 12's length

  FakeSink sink;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  EXPECT_EQ((*spool)->stats().recovered_records, 18);
  EXPECT_EQ((*spool)->stats().damaged_regions, 2);
  EXPECT_EQ((*spool)->stats().damaged_bytes,
            static_cast<int64_t>(frames[5].second - frames[5].first + frames[12].second -
                                 frames[12].first));
  EXPECT_EQ((*spool)->stats().truncated_bytes, 0);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  const auto counts = sink.counts();
  EXPECT_EQ(counts.size(), 18u);
  EXPECT_FALSE(counts.contains(Id(5)));
  EXPECT_FALSE(counts.contains(Id(12)));
  for (int i : {0, 4, 6, 11, 13, 19}) EXPECT_TRUE(counts.contains(Id(i))) << i;
}

TEST(AuditSpool, RecoveryOfADamagedSegmentResendsNothingBeforeTheCursor) {
  ScratchDir dir;
  {
    // 10 delivered, then 10 more kept while the sink is down.
    FakeSink sink;
    auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
    ASSERT_TRUE(spool);
    AppendAndWait(**spool, 0, 10);
    ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
    sink.SetUp(false);
    AppendAndWait(**spool, 10, 10);
    (*spool)->Close(0ms);
  }
  auto segments = Segments(dir.path());
  ASSERT_EQ(segments.size(), 1u);
  const auto frames = FrameOffsets(segments[0]);
  ASSERT_EQ(frames.size(), 20u);
  DamageByte(segments[0], frames[14].first + 30);

  FakeSink sink;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  EXPECT_EQ((*spool)->stats().recovered_records, 9);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  const auto counts = sink.counts();
  EXPECT_EQ(counts.size(), 9u);
  for (int i = 0; i < 10; ++i) EXPECT_FALSE(counts.contains(Id(i))) << i;
  EXPECT_FALSE(counts.contains(Id(14)));
  EXPECT_TRUE(counts.contains(Id(19)));
}

TEST(AuditSpool, DrainerSkipsDamageFoundWhileReadingAndKeepsTheRest) {
  ScratchDir dir;
  FakeSink sink;
  sink.SetUp(false);
  auto options = Options(dir.path());
  options.memory_records = 0;  // the drainer reads every record from the segment
  // The drainer must first read the segment after the damage: a batch it has
  // read stays in memory while the sink is down, and would be delivered
  // intact. So it lingers (fewer than batch_size records) until the segment
  // is rolled by age, 2 s after its first record: ample time to damage it,
  // even in a sanitizer build. Only then, too, is the damaged record's count
  // known and Pending() stops counting it.
  options.drain_linger = 60s;
  options.max_segment_age = 2s;
  auto spool = AuditSpool::Open(options, sink.Fn());
  ASSERT_TRUE(spool);
  AppendAndWait(**spool, 0, 20);
  auto segments = Segments(dir.path());
  ASSERT_EQ(segments.size(), 1u);
  const auto frames = FrameOffsets(segments[0]);
  ASSERT_EQ(frames.size(), 20u);
  DamageByte(segments[0], frames[7].first + 40);
  sink.SetUp(true);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  const auto counts = sink.counts();
  EXPECT_EQ(counts.size(), 19u);
  EXPECT_FALSE(counts.contains(Id(7)));
  EXPECT_TRUE(counts.contains(Id(8)));
  EXPECT_TRUE(counts.contains(Id(19)));
  EXPECT_EQ((*spool)->stats().damaged_regions, 1);
}

TEST(AuditSpool, IsolatesARefusedRecordWithoutDelayingTheOthers) {
  ScratchDir dir;
  FakeSink sink;
  sink.SetPoison(Id(37));
  auto options = Options(dir.path());
  // A backoff for a refused record would stall every record behind it.
  options.retry_initial = std::chrono::hours(1);
  options.retry_max = std::chrono::hours(1);
  int dead_letters = 0;
  options.on_dead_letter = [&] { ++dead_letters; };
  auto spool = AuditSpool::Open(options, sink.Fn());
  ASSERT_TRUE(spool);
  AppendAndWait(**spool, 0, 100);
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  const auto counts = sink.counts();
  EXPECT_EQ(counts.size(), 99u);
  EXPECT_FALSE(counts.contains(Id(37)));
  for (const auto& [id, n] : counts) EXPECT_EQ(n, 1) << id;
  EXPECT_EQ(dead_letters, 1);
  // Halving: about 2 log2(100) calls for the refused record's batch, and 3
  // tries of the record alone; one call per record would be 100.
  EXPECT_LE(sink.calls(), 30);
  (*spool)->Close(0ms);
}

TEST(AuditSpool, KeepsARecordWhoseDeadLetterCannotBeWritten) {
  ScratchDir dir;
  FakeSink sink;
  sink.SetPoison(Id(3));
  // dead-letter.jsonl cannot be opened for appending while it is a directory.
  fs::create_directories(dir.path() + "/dead-letter.jsonl");
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  AppendAndWait(**spool, 0, 6);
  EXPECT_FALSE((*spool)->WaitUntilDrained(300ms));
  // The batch stays pending until record 3 is set aside; the records before
  // it were stored, and are not sent again.
  EXPECT_EQ((*spool)->Pending(), 6);
  EXPECT_EQ(sink.counts().size(), 3u);
  EXPECT_EQ((*spool)->stats().dead_lettered, 0);
  fs::remove(dir.path() + "/dead-letter.jsonl");
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  EXPECT_EQ((*spool)->stats().dead_lettered, 1);
  EXPECT_EQ(sink.counts().size(), 5u);
  EXPECT_NE(ReadText(dir.path() + "/dead-letter.jsonl").find(Id(3)), std::string::npos);
}

TEST(AuditRedrive, SendsDeadLettersAgainAndKeepsOnlyWhatIsRefusedAgain) {
  ScratchDir dir;
  FakeSink sink;
  sink.SetPoison(Id(2));
  {
    auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
    ASSERT_TRUE(spool);
    AppendAndWait(**spool, 0, 5);
    ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
    EXPECT_EQ((*spool)->stats().dead_lettered, 1);
  }
  // Still refused: kept, with the new reason.
  auto again = RedriveDeadLetters(dir.path(), sink.Fn());
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->redriven, 0);
  EXPECT_EQ(again->refused, 1);
  EXPECT_NE(ReadText(dir.path() + "/dead-letter.jsonl").find(Id(2)), std::string::npos);

  sink.SetPoison("");
  auto redriven = RedriveDeadLetters(dir.path(), sink.Fn());
  ASSERT_TRUE(redriven) << redriven.error().message;
  EXPECT_EQ(redriven->redriven, 1);
  EXPECT_EQ(redriven->refused, 0);
  EXPECT_EQ(sink.counts().at(Id(2)), 1);
  EXPECT_EQ(sink.counts().size(), 5u);
  EXPECT_FALSE(fs::exists(dir.path() + "/dead-letter.jsonl"));
  for (const auto& e : fs::directory_iterator(dir.path())) {
    EXPECT_FALSE(e.path().filename().string().starts_with("dead-letter")) << e.path();
  }
  // Nothing left: a second redrive sends nothing.
  auto nothing = RedriveDeadLetters(dir.path(), sink.Fn());
  ASSERT_TRUE(nothing);
  EXPECT_EQ(nothing->redriven, 0);
}

TEST(AuditRedrive, KeepsTheClaimedFileWhileTheStoreIsDownAndSendsItLater) {
  ScratchDir dir;
  FakeSink sink;
  sink.SetPoison(Id(1));
  {
    auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
    ASSERT_TRUE(spool);
    AppendAndWait(**spool, 0, 3);
    ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  }
  sink.SetPoison("");
  sink.SetUp(false);
  auto down = RedriveDeadLetters(dir.path(), sink.Fn());
  ASSERT_FALSE(down);
  EXPECT_NE(down.error().message.find("next redrive"), std::string::npos) << down.error().message;
  // A spool dead-letters meanwhile: a new file, beside the claimed one.
  {
    FakeSink refusing;
    refusing.SetPoison(Id(9));
    auto spool = AuditSpool::Open(Options(dir.path()), refusing.Fn());
    ASSERT_TRUE(spool);
    AppendAndWait(**spool, 9, 1);
    ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  }
  sink.SetUp(true);
  auto later = RedriveDeadLetters(dir.path(), sink.Fn());
  ASSERT_TRUE(later) << later.error().message;
  EXPECT_EQ(later->redriven, 2);
  EXPECT_EQ(sink.counts().at(Id(1)), 1);
  EXPECT_EQ(sink.counts().at(Id(9)), 1);
}

TEST(AuditRedrive, KeepsLinesThatHoldNoRecord) {
  ScratchDir dir;
  {
    std::ofstream out(dir.path() + "/dead-letter.jsonl");
    out << "{\"reason\":\"x\",\"record\":\"not a record\"}\n" << "torn {\n";
  }
  FakeSink sink;
  auto r = RedriveDeadLetters(dir.path(), sink.Fn());
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->unreadable, 2);
  EXPECT_EQ(r->redriven, 0);
  EXPECT_EQ(ReadText(dir.path() + "/dead-letter.jsonl"),
            "{\"reason\":\"x\",\"record\":\"not a record\"}\ntorn {\n");
}

TEST(AuditRecordJson, RefusesNumbersOutsideTheFieldsRange) {
  // A general-parser record (members reordered) whose integers are doubles
  // or too large: refused, never converted (found by the audit_record fuzz
  // target).
  for (const char* bad : {R"({"v":1e30})", R"({"v":1.0})", R"({"v":18446744073709551615})",
                          R"({"v":-9223372036854775808})"}) {
    auto r = ParseAuditRecord(bad);
    EXPECT_FALSE(r) << bad;
  }
}

TEST(AuditSpool, RecoveryMovesAsideASegmentWithAForeignHeaderLongerThanTheMagic) {
  ScratchDir dir;
  {
    std::ofstream out(dir.path() + "/segment-00000000000000000001.spool", std::ios::binary);
    out << "XXSPOOL1abcdefgh";  // found by the spool_segment fuzz target
  }
  FakeSink sink;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool) << spool.error().message;
  EXPECT_TRUE(fs::exists(dir.path() + "/segment-00000000000000000001.spool.corrupt"));
  EXPECT_EQ((*spool)->stats().recovered_records, 0);
}

TEST(AuditSpool, RefusesASecondOpenOfTheSameDirectory) {
  ScratchDir dir;
  FakeSink sink;
  auto first = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(first);
  auto second = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find("in use"), std::string::npos) << second.error().message;
}

TEST(AuditSpool, FailsAppendsAfterClose) {
  ScratchDir dir;
  FakeSink sink;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  (*spool)->Close();
  DoneCounter done;
  (*spool)->Append(MakeAuditRecord("late"), done.Fn());
  ASSERT_TRUE(done.WaitFor(1));
  EXPECT_EQ(done.failed(), 1);
  EXPECT_EQ((*spool)->Pending(), 0);
}

TEST(AuditSpool, RollsAnIdleSegmentByAge) {
  ScratchDir dir;
  FakeSink sink;
  AuditSpoolOptions o = Options(dir.path());
  o.max_segment_age = 50ms;
  auto spool = AuditSpool::Open(o, sink.Fn());
  ASSERT_TRUE(spool);
  AppendAndWait(**spool, 0, 3);
  const auto before = Segments(dir.path());
  ASSERT_EQ(before.size(), 1u);
  std::this_thread::sleep_for(300ms);
  const auto after = Segments(dir.path());
  ASSERT_EQ(after.size(), 1u);
  EXPECT_NE(before[0], after[0]);  // rolled, and the delivered one deleted
  EXPECT_EQ(sink.counts().size(), 3u);
}

// The child appends records from several threads and writes each id whose
// `done` fired to a pipe, until the parent kills it with SIGKILL. Every
// confirmed id must reach the audit file after the parent recovers the spool.
void RunKillTest(bool fsync) {
  ScratchDir dir;
  const std::string spool_dir = dir.path() + "/spool";
  const std::string audit_file = dir.path() + "/audit.jsonl";
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    auto store = FileAuditStore::Open(audit_file, fsync);
    if (!store) ::_exit(2);
    AuditSpoolOptions o;
    o.directory = spool_dir;
    o.fsync = fsync;
    o.max_segment_bytes = 256 * 1024;  // several segments, some deleted mid-run
    FileAuditStore* s = store->get();
    auto spool =
        AuditSpool::Open(o, [s](const std::vector<AuditRecord>& b) { return s->InsertBatch(b); });
    if (!spool) ::_exit(3);
    const int out = fds[1];
    std::atomic<int> in_flight{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0;; ++i) {
          while (in_flight.load() > 2000) std::this_thread::sleep_for(100us);
          const std::string id = "child-" + std::to_string(t) + "-" + std::to_string(i);
          ++in_flight;
          (*spool)->Append(MakeAuditRecord(id, i), [id, out, &in_flight](Result<void> r) {
            if (r) {
              const std::string line = id + "\n";
              if (::write(out, line.data(), line.size()) < 0) ::_exit(4);
            }
            --in_flight;
          });
        }
      });
    }
    for (;;) ::pause();
  }
  ::close(fds[1]);
  std::set<std::string> confirmed;
  std::string partial;
  char buf[4096];
  bool killed = false;
  const auto give_up = std::chrono::steady_clock::now() + 30s;
  for (;;) {
    const ssize_t n = ::read(fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    partial.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = partial.find('\n')) != std::string::npos) {
      confirmed.insert(partial.substr(0, nl));
      partial.erase(0, nl + 1);
    }
    if (!killed && (confirmed.size() >= 5000 || std::chrono::steady_clock::now() > give_up)) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
  }
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  EXPECT_EQ(WTERMSIG(status), SIGKILL);
  EXPECT_TRUE(partial.empty());
  ASSERT_GE(confirmed.size(), 5000u);

  {
    auto store = FileAuditStore::Open(audit_file, fsync);
    ASSERT_TRUE(store) << store.error().message;
    FileAuditStore* s = store->get();
    AuditSpoolOptions o;
    o.directory = spool_dir;
    o.fsync = fsync;
    auto spool =
        AuditSpool::Open(o, [s](const std::vector<AuditRecord>& b) { return s->InsertBatch(b); });
    ASSERT_TRUE(spool) << spool.error().message;
    ASSERT_TRUE((*spool)->WaitUntilDrained(30s)) << (*spool)->Pending();
  }
  auto stored = FileAuditStore::ReadAll(audit_file);
  ASSERT_TRUE(stored) << stored.error().message;
  std::map<std::string, int> counts;
  for (const AuditRecord& r : *stored) {
    ASSERT_TRUE(r.calculation_id.starts_with("child-")) << r.calculation_id;
    ++counts[r.calculation_id];
  }
  size_t missing = 0;
  for (const std::string& id : confirmed) missing += counts.contains(id) ? 0 : 1;
  EXPECT_EQ(missing, 0u) << "of " << confirmed.size() << " confirmed records";
  for (const auto& [id, count] : counts) ASSERT_EQ(count, 1) << id << " stored more than once";
  EXPECT_GE(counts.size(), confirmed.size());
}

TEST(AuditSpool, KilledProcessLosesNoConfirmedRecordWithFsync) { RunKillTest(true); }

TEST(AuditSpool, KilledProcessLosesNoConfirmedRecordWithoutFsync) { RunKillTest(false); }

// A child process whose files may not grow past 64 KiB (RLIMIT_FSIZE) appends
// records one at a time: writes that hit the limit must fail their `done`,
// leave no partial frame behind, and later appends must succeed in a fresh
// segment. After recovery exactly the confirmed records are delivered.
TEST(AuditSpool, FailedWritesReportErrorsAndLeaveTheSpoolClean) {
  ScratchDir dir;
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(fds[0]);
    ::signal(SIGXFSZ, SIG_IGN);
    rlimit limit{};
    ::getrlimit(RLIMIT_FSIZE, &limit);
    limit.rlim_cur = 64 * 1024;
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(2);
    FakeSink down;
    down.SetUp(false);
    auto spool = AuditSpool::Open(Options(dir.path()), down.Fn());
    if (!spool) ::_exit(3);
    int ok = 0;
    int failed = 0;
    for (int i = 0; i < 300; ++i) {
      DoneCounter done;
      (*spool)->Append(MakeAuditRecord(Id(i), i), done.Fn());
      if (!done.WaitFor(1)) ::_exit(4);
      if (done.ok() == 1) {
        ++ok;
        const std::string line = Id(i) + "\n";
        if (::write(fds[1], line.data(), line.size()) < 0) ::_exit(5);
      } else {
        ++failed;
      }
    }
    if (failed == 0 || ok < 250) ::_exit(6);
    if ((*spool)->Pending() != ok) ::_exit(7);
    (*spool)->Close(0ms);
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  ASSERT_EQ(WEXITSTATUS(status), 0);
  std::set<std::string> confirmed;
  for (size_t start = 0, nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
    confirmed.insert(text.substr(start, nl - start));
  }

  FakeSink sink;
  auto spool = AuditSpool::Open(Options(dir.path()), sink.Fn());
  ASSERT_TRUE(spool);
  EXPECT_EQ((*spool)->stats().truncated_bytes, 0);
  EXPECT_EQ((*spool)->stats().recovered_records, static_cast<int64_t>(confirmed.size()));
  ASSERT_TRUE((*spool)->WaitUntilDrained(10s));
  std::set<std::string> delivered;
  for (const auto& [id, count] : sink.counts()) delivered.insert(id);
  EXPECT_EQ(delivered, confirmed);
}

// Readiness asks the spool whether a price's record could be made durable
// now. A child whose files may not grow past 1 KiB: writable before any
// failure, not after a write failed (its probe fails too), writable again
// once files may grow (the probe succeeds), with no write in between.
TEST(AuditSpool, IsNotWritableAfterAFailedWriteUntilAProbeWriteSucceeds) {
  ScratchDir dir;
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::signal(SIGXFSZ, SIG_IGN);
    FakeSink down;
    down.SetUp(false);
    AuditSpoolOptions o = Options(dir.path());
    o.min_free_bytes = 0;
    auto spool = AuditSpool::Open(o, down.Fn());
    if (!spool) ::_exit(2);
    if (!(*spool)->Writable()) ::_exit(3);
    rlimit limit{};
    ::getrlimit(RLIMIT_FSIZE, &limit);
    const rlim_t was = limit.rlim_cur;
    limit.rlim_cur = 1024;
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(4);
    int failed = 0;
    for (int i = 0; i < 8 && failed == 0; ++i) {
      DoneCounter done;
      (*spool)->Append(MakeAuditRecord(Id(i), i), done.Fn());
      if (!done.WaitFor(1)) ::_exit(5);
      if (done.ok() != 1) ++failed;
    }
    if (failed == 0) ::_exit(6);
    if ((*spool)->Writable()) ::_exit(7);
    if ((*spool)->Writable()) ::_exit(8);  // the probe keeps failing
    limit.rlim_cur = was;
    if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) ::_exit(9);
    if (!(*spool)->Writable()) ::_exit(10);
    if (std::filesystem::exists(dir.path() + "/.write-probe")) ::_exit(11);
    (*spool)->Close(0ms);
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "see the ::_exit codes above";
}

// And a file system with less free space than min_free_bytes is not writable
// before anything fails.
TEST(AuditSpool, IsNotWritableWithLessFreeSpaceThanItsFloor) {
  ScratchDir dir;
  FakeSink sink;
  AuditSpoolOptions o = Options(dir.path());
  o.min_free_bytes = uint64_t{1} << 62;  // 4 EiB
  auto spool = AuditSpool::Open(o, sink.Fn());
  ASSERT_TRUE(spool);
  EXPECT_FALSE((*spool)->Writable());
  FakeSink sink2;
  ScratchDir dir2;
  AuditSpoolOptions o2 = Options(dir2.path());
  o2.min_free_bytes = 1;
  auto spool2 = AuditSpool::Open(o2, sink2.Fn());
  ASSERT_TRUE(spool2);
  EXPECT_TRUE((*spool2)->Writable());
  // The floor sits between them: what the free-bytes gauge shows.
  const int64_t free_bytes = (*spool2)->FreeBytes();
  EXPECT_GT(free_bytes, 0);
  struct statvfs fs {};
  ASSERT_EQ(::statvfs(dir2.path().c_str(), &fs), 0);
  const double expected = static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize);
  EXPECT_NEAR(static_cast<double>(free_bytes), expected, 64.0 * 1024 * 1024);
}

TEST(FileAuditStore, IgnoresRecordsItAlreadyStoredAcrossReopen) {
  ScratchDir dir;
  const std::string path = dir.path() + "/audit.jsonl";
  {
    auto store = FileAuditStore::Open(path);
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->InsertBatch({MakeAuditRecord("a", 1), MakeAuditRecord("b", 2)}));
    ASSERT_TRUE((*store)->InsertBatch(
        {MakeAuditRecord("b", 2), MakeAuditRecord("c", 3), MakeAuditRecord("c", 3)}));
  }
  auto store = FileAuditStore::Open(path);
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->InsertBatch({MakeAuditRecord("a", 1), MakeAuditRecord("d", 4)}));
  auto all = FileAuditStore::ReadAll(path);
  ASSERT_TRUE(all);
  std::vector<std::string> ids;
  for (const auto& r : *all) ids.push_back(r.calculation_id);
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b", "c", "d"}));
  EXPECT_EQ(DiffAuditRecords((*all)[3], MakeAuditRecord("d", 4)), "");
}

TEST(FileAuditStore, DropsATornLastLineOnOpen) {
  ScratchDir dir;
  const std::string path = dir.path() + "/audit.jsonl";
  {
    auto store = FileAuditStore::Open(path);
    ASSERT_TRUE(store);
    ASSERT_TRUE((*store)->InsertBatch({MakeAuditRecord("a", 1), MakeAuditRecord("b", 2)}));
  }
  fs::resize_file(path, fs::file_size(path) - 10);
  auto store = FileAuditStore::Open(path);
  ASSERT_TRUE(store);
  ASSERT_TRUE((*store)->InsertBatch({MakeAuditRecord("b", 2)}));
  auto all = FileAuditStore::ReadAll(path);
  ASSERT_TRUE(all) << all.error().message;
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].calculation_id, "a");
  EXPECT_EQ((*all)[1].calculation_id, "b");
}

}  // namespace
}  // namespace pricing::engine
