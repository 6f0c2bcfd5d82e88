#include "adapters/http_client.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <deque>
#include <future>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_set>

#include "adapters/thread_name.h"
#include "engine/json_text.h"

namespace pricing::engine {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

std::string_view HttpClientResponse::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return {};
}

namespace {

struct Upstream {
  std::string host;  // without brackets
  uint16_t port = 80;
  std::string host_header;  // as written in the URL
};

Result<Upstream> ParseBaseUrl(std::string_view url) {
  auto bad = [&] {
    return Fail(ErrorCode::kInvalidParameter,
                "'" + std::string(url) + "' is not an http://host[:port] URL", "base_url");
  };
  constexpr std::string_view kScheme = "http://";
  if (!url.starts_with(kScheme)) return bad();
  std::string_view rest = url.substr(kScheme.size());
  while (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/@?# ") != std::string_view::npos) return bad();
  std::string_view host = rest;
  std::string_view port = "80";
  if (rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad();
    host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return bad();
      port = after.substr(1);
    }
  } else if (const size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (host.find(':') != std::string_view::npos) return bad();
  }
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (host.empty() || port.empty() || ec != std::errc() || p != port.data() + port.size() ||
      value == 0 || value > 65535) {
    return bad();
  }
  return Upstream{std::string(host), static_cast<uint16_t>(value), std::string(rest)};
}

// Resolved addresses of a host name are reused this long.
constexpr std::chrono::seconds kResolveTtl{30};
constexpr std::chrono::milliseconds kSweepInterval{100};

}  // namespace

struct HttpClient::Impl {
  struct Conn {
    explicit Conn(asio::io_context& ioc) : stream(ioc) {}
    beast::tcp_stream stream;
    beast::flat_buffer buffer;
    SteadyClock::time_point idle_since{};
  };

  struct Exchange {
    http::request<http::string_body> request;
    std::optional<http::response_parser<http::string_body>> parser;
    Callback done;
    SteadyClock::time_point deadline{};
    bool resent = false;
    std::string name;
    std::chrono::milliseconds timeout{0};

    // A call whose handler is dropped unrun (the client went away) still
    // gets its answer.
    ~Exchange() {
      if (done) done(Fail(ErrorCode::kServiceUnavailable, name + ": client closed"));
    }
  };

  struct Loop {
    asio::io_context ioc{1};
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
    std::thread thread;
    // Everything below belongs to the loop's thread.
    std::vector<std::shared_ptr<Conn>> idle;  // most recently used last
    std::unordered_set<std::shared_ptr<Conn>> busy;
    std::unordered_set<std::shared_ptr<tcp::resolver>> resolving;
    std::deque<std::shared_ptr<Exchange>> waiting;
    int open = 0;  // idle + busy (connecting included)
    SteadyClock::time_point backoff_until{};
    std::string last_error;
    std::vector<tcp::endpoint> endpoints;
    SteadyClock::time_point resolved_at{};
    std::optional<asio::steady_timer> sweep;
    bool closed = false;
  };

  HttpClientOptions options;
  Upstream upstream;
  std::optional<asio::ip::address> literal;  // the host, when it is an IP address
  std::vector<std::unique_ptr<Loop>> loops;
  std::atomic<size_t> next{0};
  std::atomic<bool> closed{false};
  std::once_flag close_once;
  std::atomic<int64_t> connects{0};
  std::atomic<int64_t> reused{0};
  std::atomic<int64_t> resent{0};
  std::atomic<int64_t> failures{0};

  std::unexpected<Error> Unavailable(const std::string& why) const {
    return Fail(ErrorCode::kServiceUnavailable, options.name + ": " + why);
  }
  std::unexpected<Error> Timeout(const Exchange& ex) const {
    return Unavailable("no answer within " + std::to_string(ex.timeout.count()) + " ms");
  }

  void Finish(const std::shared_ptr<Exchange>& ex, Result<HttpClientResponse> result) {
    Callback done = std::move(ex->done);
    ex->done = nullptr;
    if (!result) ++failures;
    if (done) done(std::move(result));
  }

  void CloseConn(Loop& loop, const std::shared_ptr<Conn>& conn) {
    beast::error_code ec;
    conn->stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    conn->stream.socket().close(ec);
    --loop.open;
  }

  void DropIdle(Loop& loop) {
    for (auto& conn : loop.idle) CloseConn(loop, conn);
    loop.idle.clear();
  }

  void Start(Loop& loop, std::shared_ptr<Exchange> ex) {
    if (loop.closed) return Finish(ex, Unavailable("client closed"));
    const auto now = SteadyClock::now();
    if (now >= ex->deadline) return Finish(ex, Timeout(*ex));
    while (!loop.idle.empty()) {
      std::shared_ptr<Conn> conn = std::move(loop.idle.back());
      loop.idle.pop_back();
      if (now - conn->idle_since >= options.idle_timeout) {
        CloseConn(loop, conn);
        continue;
      }
      ++reused;
      return Run(loop, std::move(ex), std::move(conn), /*pooled=*/true);
    }
    if (loop.open >= options.max_connections) {
      loop.waiting.push_back(std::move(ex));
      return;
    }
    if (now < loop.backoff_until) return Finish(ex, Unavailable(loop.last_error));
    Connect(loop, std::move(ex));
  }

  void Connect(Loop& loop, std::shared_ptr<Exchange> ex) {
    ++loop.open;
    auto conn = std::make_shared<Conn>(loop.ioc);
    loop.busy.insert(conn);
    auto connect = [this, &loop, ex, conn] {
      conn->stream.expires_at(ex->deadline);
      conn->stream.async_connect(
          loop.endpoints, [this, &loop, ex, conn](beast::error_code ec, const tcp::endpoint&) {
            if (ec) return ConnectFailed(loop, ex, conn, ec);
            ++connects;
            beast::error_code ignored;
            conn->stream.socket().set_option(tcp::no_delay(true), ignored);
            Run(loop, ex, conn, /*pooled=*/false);
          });
    };
    if (literal) {
      if (loop.endpoints.empty()) loop.endpoints.emplace_back(*literal, upstream.port);
      return connect();
    }
    if (!loop.endpoints.empty() && SteadyClock::now() - loop.resolved_at < kResolveTtl) {
      return connect();
    }
    auto resolver = std::make_shared<tcp::resolver>(loop.ioc);
    auto timer = std::make_shared<asio::steady_timer>(loop.ioc);
    loop.resolving.insert(resolver);
    timer->expires_at(ex->deadline);
    timer->async_wait([resolver](beast::error_code ec) {
      if (!ec) resolver->cancel();
    });
    resolver->async_resolve(upstream.host, std::to_string(upstream.port),
                            [this, &loop, ex, conn, resolver, timer, connect](
                                beast::error_code ec, tcp::resolver::results_type results) {
                              timer->cancel();
                              loop.resolving.erase(resolver);
                              if (!ec && results.empty()) ec = asio::error::host_not_found;
                              if (ec) {
                                return ConnectFailed(
                                    loop, ex, conn,
                                    ec == asio::error::operation_aborted && !loop.closed
                                        ? beast::error_code(beast::error::timeout)
                                        : ec);
                              }
                              loop.endpoints.clear();
                              for (const auto& r : results) loop.endpoints.push_back(r.endpoint());
                              loop.resolved_at = SteadyClock::now();
                              connect();
                            });
  }

  void ConnectFailed(Loop& loop, const std::shared_ptr<Exchange>& ex,
                     const std::shared_ptr<Conn>& conn, beast::error_code ec) {
    loop.busy.erase(conn);
    CloseConn(loop, conn);
    loop.endpoints.clear();
    if (loop.closed) {
      Finish(ex, Unavailable("client closed"));
    } else {
      loop.last_error = "cannot connect to " + upstream.host_header + ": " + ec.message();
      loop.backoff_until = SteadyClock::now() + options.reconnect_backoff;
      Finish(ex, ec == beast::error::timeout ? Timeout(*ex) : Unavailable(loop.last_error));
    }
    ServeWaiting(loop);
  }

  void Run(Loop& loop, std::shared_ptr<Exchange> ex, std::shared_ptr<Conn> conn, bool pooled) {
    loop.busy.insert(conn);
    ex->parser.emplace();
    ex->parser->body_limit(options.max_response_bytes);
    // The answer to HEAD has a Content-Length but no body.
    if (ex->request.method() == http::verb::head) ex->parser->skip(true);
    conn->stream.expires_at(ex->deadline);
    http::async_write(
        conn->stream, ex->request, [this, &loop, ex, conn, pooled](beast::error_code ec, size_t) {
          if (ec) return Failed(loop, ex, conn, ec, pooled);
          http::async_read(conn->stream, conn->buffer, *ex->parser,
                           [this, &loop, ex, conn, pooled](beast::error_code ec, size_t) {
                             if (ec) return Failed(loop, ex, conn, ec, pooled);
                             Completed(loop, ex, conn);
                           });
        });
  }

  void Completed(Loop& loop, const std::shared_ptr<Exchange>& ex,
                 const std::shared_ptr<Conn>& conn) {
    auto& res = ex->parser->get();
    HttpClientResponse out;
    out.status = static_cast<int>(res.result_int());
    out.headers.reserve(8);
    for (const auto& field : res) {
      out.headers.emplace_back(AsciiLower({field.name_string().data(), field.name_string().size()}),
                               std::string(field.value().data(), field.value().size()));
    }
    out.body = std::move(res.body());
    loop.busy.erase(conn);
    if (res.keep_alive() && !loop.closed) {
      conn->stream.expires_never();
      conn->idle_since = SteadyClock::now();
      loop.idle.push_back(conn);
    } else {
      CloseConn(loop, conn);
    }
    Finish(ex, std::move(out));
    ServeWaiting(loop);
  }

  void Failed(Loop& loop, const std::shared_ptr<Exchange>& ex, const std::shared_ptr<Conn>& conn,
              beast::error_code ec, bool pooled) {
    const bool got_some = ex->parser && ex->parser->got_some();
    loop.busy.erase(conn);
    CloseConn(loop, conn);
    if (!loop.closed && pooled && !got_some && !ex->resent && ec != beast::error::timeout &&
        SteadyClock::now() < ex->deadline) {
      // The upstream closed a pooled connection before answering (idle close,
      // restart): the others are likely dead too.
      ex->resent = true;
      ++resent;
      DropIdle(loop);
      return Start(loop, ex);
    }
    if (loop.closed) {
      Finish(ex, Unavailable("client closed"));
    } else if (ec == beast::error::timeout) {
      Finish(ex, Timeout(*ex));
    } else {
      Finish(ex, Unavailable(upstream.host_header + ": " + ec.message()));
    }
    ServeWaiting(loop);
  }

  void ServeWaiting(Loop& loop) {
    while (!loop.waiting.empty() && (!loop.idle.empty() || loop.open < options.max_connections)) {
      std::shared_ptr<Exchange> ex = std::move(loop.waiting.front());
      loop.waiting.pop_front();
      Start(loop, std::move(ex));
    }
  }

  void Sweep(Loop& loop) {
    if (loop.closed) return;
    const auto now = SteadyClock::now();
    std::erase_if(loop.idle, [&](const std::shared_ptr<Conn>& conn) {
      if (now - conn->idle_since < options.idle_timeout) return false;
      CloseConn(loop, conn);
      return true;
    });
    while (!loop.waiting.empty() && loop.waiting.front()->deadline <= now) {
      std::shared_ptr<Exchange> ex = std::move(loop.waiting.front());
      loop.waiting.pop_front();
      Finish(ex, Timeout(*ex));
    }
    loop.sweep->expires_after(kSweepInterval);
    loop.sweep->async_wait([this, &loop](beast::error_code ec) {
      if (!ec) Sweep(loop);
    });
  }

  void Shutdown(Loop& loop) {
    loop.closed = true;
    loop.sweep->cancel();
    DropIdle(loop);
    for (const auto& conn : loop.busy) {
      beast::error_code ec;
      conn->stream.socket().cancel(ec);
      conn->stream.socket().close(ec);
    }
    for (const auto& resolver : loop.resolving) resolver->cancel();
    auto waiting = std::move(loop.waiting);
    loop.waiting.clear();
    for (auto& ex : waiting) Finish(ex, Unavailable("client closed"));
  }
};

HttpClient::HttpClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpClient::~HttpClient() { Close(); }

Result<std::unique_ptr<HttpClient>> HttpClient::Create(HttpClientOptions options) {
  auto upstream = ParseBaseUrl(options.base_url);
  if (!upstream) return std::unexpected(upstream.error());
  if (options.threads < 1 || options.max_connections < 1 || options.timeout.count() <= 0) {
    return Fail(ErrorCode::kInvalidParameter,
                "http client: threads, max_connections and timeout must be positive");
  }
  auto impl = std::make_shared<Impl>();
  impl->options = std::move(options);
  impl->upstream = std::move(*upstream);
  beast::error_code ec;
  auto address = asio::ip::make_address(impl->upstream.host, ec);
  if (!ec) impl->literal = address;
  for (int i = 0; i < impl->options.threads; ++i) {
    auto loop = std::make_unique<Impl::Loop>();
    loop->work.emplace(loop->ioc.get_executor());
    loop->sweep.emplace(loop->ioc);
    impl->loops.push_back(std::move(loop));
  }
  Impl* raw = impl.get();
  for (size_t i = 0; i < impl->loops.size(); ++i) {
    Impl::Loop* l = impl->loops[i].get();
    asio::post(l->ioc, [raw, l] { raw->Sweep(*l); });
    l->thread = std::thread([l, name = IndexedThreadName("http-client", static_cast<int>(i))] {
      NameThisThread(name);
      l->ioc.run();
    });
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

void HttpClient::Send(HttpClientRequest request, Callback done) {
  Impl& impl = *impl_;
  auto ex = std::make_shared<Impl::Exchange>();
  ex->name = impl.options.name;
  ex->done = std::move(done);
  if (impl.closed.load()) return impl.Finish(ex, impl.Unavailable("client closed"));
  ex->request.version(11);
  ex->request.method_string(request.method);
  ex->request.target(request.target);
  ex->request.set(http::field::host, impl.upstream.host_header);
  ex->request.set(http::field::user_agent, "pricing-engine");
  for (auto& [name, value] : request.headers) ex->request.set(name, value);
  ex->request.body() = std::move(request.body);
  ex->request.keep_alive(true);
  ex->request.prepare_payload();
  const auto timeout = request.timeout.count() > 0 && request.timeout < impl.options.timeout
                           ? request.timeout
                           : impl.options.timeout;
  ex->deadline = SteadyClock::now() + timeout;
  ex->timeout = timeout;
  Impl::Loop& loop =
      *impl.loops[impl.next.fetch_add(1, std::memory_order_relaxed) % impl.loops.size()];
  Impl* raw = impl_.get();
  asio::post(loop.ioc,
             [raw, &loop, ex = std::move(ex)]() mutable { raw->Start(loop, std::move(ex)); });
}

Result<HttpClientResponse> HttpClient::SendSync(HttpClientRequest request) {
  for (const auto& loop : impl_->loops) {
    if (loop->thread.get_id() == std::this_thread::get_id()) {
      return Fail(ErrorCode::kCalculationError,
                  impl_->options.name + ": SendSync called on the client's own loop");
    }
  }
  auto promise = std::make_shared<std::promise<Result<HttpClientResponse>>>();
  auto future = promise->get_future();
  Send(std::move(request),
       [promise](Result<HttpClientResponse> r) { promise->set_value(std::move(r)); });
  return future.get();
}

void HttpClient::Close() {
  if (!impl_) return;
  Impl* impl = impl_.get();
  std::call_once(impl->close_once, [impl] {
    impl->closed.store(true);
    for (auto& loop : impl->loops) {
      Impl::Loop* l = loop.get();
      asio::post(l->ioc, [impl, l] { impl->Shutdown(*l); });
      l->work.reset();
    }
    for (auto& loop : impl->loops) {
      if (loop->thread.joinable()) loop->thread.join();
      // Calls posted while the loop was stopping fail now.
      loop->ioc.restart();
      loop->ioc.poll();
    }
  });
}

HttpClient::Stats HttpClient::stats() const {
  return Stats{impl_->connects.load(), impl_->reused.load(), impl_->resent.load(),
               impl_->failures.load()};
}

}  // namespace pricing::engine
