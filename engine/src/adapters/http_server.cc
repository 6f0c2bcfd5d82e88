#include "adapters/http_server.h"

#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "adapters/callback_home.h"
#include "common/socket.h"
#include "adapters/thread_name.h"
#include "engine/json_text.h"

namespace pricing::engine {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string_view HttpRequest::Header(std::string_view lower_name) const {
  for (const auto& [k, v] : headers) {
    if (k == lower_name) return v;
  }
  return {};
}

namespace {

std::string_view Sv(boost::beast::string_view s) { return {s.data(), s.size()}; }

// Appends `value` to a response head, dropping CR and LF so that no value
// can end its header line early. The runs between them go in whole.
void AppendHeaderValue(std::string* out, std::string_view value) {
  if (value.empty()) return;
  // Values hardly ever hold CR or LF: memchr finds that out a vector at a time.
  if (std::memchr(value.data(), '\r', value.size()) == nullptr &&
      std::memchr(value.data(), '\n', value.size()) == nullptr) {
    out->append(value);
    return;
  }
  size_t run = 0;
  for (size_t i = 0; i < value.size(); ++i) {
    if (value[i] == '\r' || value[i] == '\n') {
      out->append(value.data() + run, i - run);
      run = i + 1;
    }
  }
  out->append(value.data() + run, value.size() - run);
}

// One event loop runs all of a connection's handlers, so a connection needs
// no strand: its stream uses the loop's executor directly.
using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
using Stream = beast::basic_stream<tcp, Executor>;

class Session;

// What a graceful stop needs: whether the server is draining, and how many
// connections are still open.
struct Tracker {
  std::atomic<bool> draining{false};
  std::mutex mu;
  std::condition_variable cv;
  int open = 0;  // guarded by mu

  void Opened() {
    std::lock_guard lock(mu);
    ++open;
  }
  void Closed() {
    std::lock_guard lock(mu);
    if (--open == 0) cv.notify_all();
  }
  int Open() {
    std::lock_guard lock(mu);
    return open;
  }
};

// The open connections of one event loop, so that a stop can reach the idle
// ones. Touched when a connection opens or closes, never per request.
struct Connections {
  std::mutex mu;
  std::unordered_map<const Session*, std::weak_ptr<Session>> open;
};

// One client connection: read a request, hand it to the handler, write the
// response the handler delivers (possibly from another thread), repeat while
// keep-alive holds.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Socket&& socket, const HttpServerOptions& options, const HttpHandler& handler,
          const ErrorBodyFn& error_body, Tracker& tracker, Connections& connections)
      : stream_(std::move(socket)),
        // Nothing a client sends is buffered beyond the header limit: a
        // request head, a chunk header with its extensions or the trailers
        // that do not fit fail the read (431). Body bytes pass through.
        buffer_(options.header_limit + kReadSlack),
        options_(options),
        handler_(handler),
        error_body_(error_body),
        tracker_(tracker),
        connections_(connections) {
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
    tracker_.Opened();
  }
  // A session dropped without Close() (its responder discarded unanswered)
  // still counts as closed.
  ~Session() { MarkClosed(); }

  // On the loop's thread, right after construction. `refuse`: the server is
  // at its connection cap; answer 503 and close.
  void Start(bool refuse) {
    {
      std::lock_guard lock(connections_.mu);
      connections_.open.emplace(this, weak_from_this());
    }
    asio::dispatch(stream_.get_executor(), [self = shared_from_this(), refuse] {
      if (!refuse) return self->Read(true);
      self->WriteServerError(503, "SERVICE_UNAVAILABLE",
                             "the server has " + std::to_string(self->options_.max_connections) +
                                 " connections open; retry later");
    });
  }

  // On the loop's thread, once the server drains: a connection waiting for
  // its next request, with no byte of it received, is closed now; any other
  // is closed after the response to the request it is reading or answering.
  void Drain() {
    if (closed_) return;
    keep_alive_ = false;
    if (busy_ || buffer_.size() > 0 || (parser_ && parser_->got_some())) return;
    beast::error_code ec;
    if (stream_.socket().available(ec) > 0 && !ec) return;
    Close();
  }

 private:
  // A new connection's first request, or one already buffered, must arrive
  // whole within the read timeout. An idle keep-alive connection waits up to
  // the idle timeout for the next request's first bytes (the stream's own
  // timeout, which closes quietly) and parses them at once; only a request
  // still incomplete then gets a timer of its own, the read timeout, for the
  // rest. A request that arrives in one read, the usual case, costs one read
  // and no timer.
  void Read(bool first) {
    parser_.emplace();
    parser_->eager(true);
    parser_->body_limit(options_.body_limit);
    parser_->header_limit(static_cast<std::uint32_t>(options_.header_limit));
    timed_out_ = false;
    deadline_armed_ = false;
    if (!first && buffer_.size() == 0) {
      stream_.expires_after(options_.idle_timeout);
      stream_.async_read_some(buffer_.prepare(kReadSlack),
                              [self = shared_from_this()](beast::error_code ec, size_t n) {
                                if (ec) return self->OnRead(ec);
                                self->buffer_.commit(n);
                                self->ParseOrReadRest();
                              });
      return;
    }
    ParseOrReadRest();
  }

  // Feeds the parser what is buffered, as far as it goes. Returns true when
  // that completes the request or breaks it (`*ec` says how).
  bool ParseBuffered(beast::error_code* ec) {
    while (buffer_.size() > 0) {
      const size_t used = parser_->put(buffer_.data(), *ec);
      buffer_.consume(used);
      if (*ec == http::error::need_more) {
        *ec = {};
        break;
      }
      if (*ec || parser_->is_done()) return true;
      if (used == 0) break;
    }
    return parser_->is_done();
  }

  // Parses what is buffered; answers when that completes (or breaks) the
  // request, else reads the rest under the read deadline.
  void ParseOrReadRest() {
    beast::error_code ec;
    if (ParseBuffered(&ec)) return OnRead(ec);
    ArmDeadline();
    ReadStep();
  }

  // One read of the socket, then the parser, then the deadline: the timer may
  // fire while a read's completion is already queued, when there is nothing
  // left for its cancel to stop, so the deadline is checked before each read
  // as well as by the cancel. (Beast's composed reads loop inside, over the
  // whole head, and would start the next read regardless.)
  void ReadStep() {
    const size_t room = buffer_.max_size() - buffer_.size();
    if (room == 0) return OnRead(http::error::buffer_overflow);
    stream_.async_read_some(buffer_.prepare(std::min(room, kReadSlack)),
                            [self = shared_from_this()](beast::error_code ec, size_t n) {
                              if (ec) return self->OnRead(ec);
                              self->buffer_.commit(n);
                              if (self->ParseBuffered(&ec)) return self->OnRead(ec);
                              if (self->timed_out_) return self->OnRead({});
                              self->ReadStep();
                            });
  }

  // The read deadline is a timer of its own that cancels the read: the
  // stream's own timeout would close the socket, and the 408 could not be
  // written.
  void ArmDeadline() {
    stream_.expires_never();
    deadline_armed_ = true;
    deadline_.expires_after(options_.read_timeout);
    deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;  // cancelled: the read completed first
      self->timed_out_ = true;
      beast::error_code ignored;
      self->stream_.socket().cancel(ignored);
    });
  }

  void OnRead(beast::error_code ec) {
    if (deadline_armed_) deadline_.cancel();
    // A request that completed as the deadline fired is served.
    if (timed_out_ && (ec || !parser_->is_done())) {
      // Bytes of a request arrived (parsed, or still waiting in the buffer
      // for the rest of its head): answer 408. Nothing at all: just close.
      if (parser_->got_some() || buffer_.size() > 0)
        return WriteServerError(408, "REQUEST_TIMEOUT", "request not received in time");
      return Close();
    }
    // The idle wait's timeout (no byte of a request came), the peer leaving,
    // or a stop.
    if (ec == beast::error::timeout || ec == http::error::end_of_stream ||
        ec == asio::error::eof || ec == asio::error::connection_reset ||
        ec == asio::error::operation_aborted) {
      return Close();
    }
    if (ec == http::error::body_limit) {
      return WriteServerError(
          413, "PAYLOAD_TOO_LARGE",
          "request body exceeds " + std::to_string(options_.body_limit) + " bytes");
    }
    if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
      return WriteServerError(431, "HEADERS_TOO_LARGE",
                              "the request line and headers, a chunk header or the trailers "
                              "exceed " +
                                  std::to_string(options_.header_limit) + " bytes");
    }
    if (ec)
      return WriteServerError(400, "INVALID_PARAMETER", "malformed HTTP request: " + ec.message());

    auto msg = parser_->release();
    busy_ = true;
    keep_alive_ = msg.keep_alive() && !tracker_.draining.load(std::memory_order_relaxed);
    version_ = msg.version();
    head_only_ = msg.method() == http::verb::head;
    HttpRequest req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    std::string_view target = Sv(msg.target());
    size_t q = target.find('?');
    req.path = std::string(target.substr(0, q));
    if (q != std::string_view::npos) req.query = ParseQuery(target.substr(q + 1));
    req.headers.reserve(8);
    for (const auto& field : msg) {
      req.headers.emplace_back(AsciiLower(Sv(field.name_string())), std::string(Sv(field.value())));
    }
    req.body = std::move(msg.body());
    req.remote = remote_;

    stream_.expires_never();
    // The responder may run on any thread; it hops back onto this connection's
    // event loop before touching the stream, and writes at once when it is
    // already there (a completion handed back to the loop, or an answer the
    // handler gave before returning).
    auto once = std::make_shared<std::atomic<bool>>(false);
    Responder respond = [self = shared_from_this(), once](HttpResponse res) {
      if (once->exchange(true)) return;
      asio::dispatch(self->stream_.get_executor(),
                     [self, res = std::move(res)]() mutable { self->Write(std::move(res)); });
    };
    handler_(std::move(req), std::move(respond));
  }

  // An answer the server gives before the request was read whole; the
  // connection then lingers (see Linger) and closes.
  void WriteServerError(int status, std::string_view code, const std::string& message) {
    busy_ = true;
    keep_alive_ = false;
    unread_input_ = true;
    HttpResponse res;
    res.status = status;
    res.body = error_body_(status, code, message);
    Write(std::move(res));
  }

  // Serializes the status line and headers itself (one string, no per-field
  // allocations) and writes them with the body in one gathered write.
  void Write(HttpResponse res) {
    out_head_.clear();
    out_body_ = std::move(res.body);
    const unsigned version = version_ ? version_ : 11;
    out_head_.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ");
    AppendInt(&out_head_, res.status);
    out_head_.push_back(' ');
    const auto reason = http::obsolete_reason(static_cast<http::status>(res.status));
    out_head_.append(reason.data(), reason.size())
        .append("\r\nServer: pricing-engine\r\nContent-Type: ");
    AppendHeaderValue(&out_head_, res.content_type);
    out_head_.append("\r\nContent-Length: ");
    AppendInt(&out_head_, static_cast<int64_t>(out_body_.size()));
    if (!keep_alive_) {
      out_head_.append("\r\nConnection: close");
    } else if (version == 10) {
      out_head_.append("\r\nConnection: keep-alive");
    }
    for (const auto& [k, v] : res.headers) {
      out_head_.append("\r\n");
      AppendHeaderValue(&out_head_, k);
      out_head_.append(": ");
      AppendHeaderValue(&out_head_, v);
    }
    out_head_.append("\r\n\r\n");
    std::array<asio::const_buffer, 2> buffers{
        asio::buffer(out_head_), asio::buffer(out_body_.data(), head_only_ ? 0 : out_body_.size())};
    stream_.expires_after(options_.read_timeout);
    asio::async_write(stream_, buffers, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Close();
      if (!self->keep_alive_) return self->unread_input_ ? self->Linger() : self->Close();
      self->busy_ = false;
      self->Read(false);
    });
  }

  // A client still sending its body reads the answer, not a reset
  // (common/socket.h).
  void Linger() {
    discard_ = std::make_unique<char[]>(kDiscardSize);
    LingeringClose(stream_, options_.linger_timeout, asio::buffer(discard_.get(), kDiscardSize),
                   [self = shared_from_this()] { self->Close(); });
  }

  void Close() {
    CloseNow(stream_.socket());
    MarkClosed();
  }

  void MarkClosed() {
    if (closed_) return;
    closed_ = true;
    {
      std::lock_guard lock(connections_.mu);
      connections_.open.erase(this);
    }
    tracker_.Closed();
  }

  // Room beyond header_limit for what follows a request head in one read.
  static constexpr size_t kReadSlack = 4096;
  static constexpr size_t kDiscardSize = 16 * 1024;

  Stream stream_;
  beast::flat_buffer buffer_;
  std::unique_ptr<char[]> discard_;  // Linger's sink, allocated only then
  asio::steady_timer deadline_{stream_.get_executor()};  // a request's read deadline
  bool deadline_armed_ = false;                           // for the request being read
  bool timed_out_ = false;                                // deadline_ fired
  std::optional<http::request_parser<http::string_body>> parser_;
  const HttpServerOptions& options_;
  const HttpHandler& handler_;
  const ErrorBodyFn& error_body_;
  Tracker& tracker_;
  Connections& connections_;
  std::string remote_;
  std::string out_head_;  // the response being written: head ...
  std::string out_body_;  // ... and body
  bool keep_alive_ = true;
  bool busy_ = false;    // a request was read and its response is not yet written
  bool closed_ = false;  // Close() ran (or the session is being destroyed)
  bool head_only_ = false;
  bool unread_input_ = false;  // answered before the request was read whole
  unsigned version_ = 11;
};

// Runs on the loop what other threads hand back to it (callback_home.h).
class LoopHome final : public CallbackHome {
 public:
  explicit LoopHome(asio::io_context& ioc) : ioc_(ioc) {}
  void Post(std::function<void()> work) override { asio::post(ioc_, std::move(work)); }

 private:
  asio::io_context& ioc_;
};

// One event loop with its own acceptor; the kernel spreads connections over
// the loops' acceptors (SO_REUSEPORT).
struct Loop {
  Connections connections;  // outlives the sessions the loop still holds
  asio::io_context ioc{1};
  LoopHome home{ioc};  // the loop thread's home; lives as long as the server
  // Keeps run() going while a stop drains: a request waiting for its
  // response has no operation pending on the loop.
  asio::executor_work_guard<asio::io_context::executor_type> work{ioc.get_executor()};
  std::optional<Acceptor> acceptor;
  std::thread thread;
};

}  // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  HttpHandler handler;
  ErrorBodyFn error_body;
  Tracker tracker;  // outlives the loops
  std::vector<std::unique_ptr<Loop>> loops;
  uint16_t bound_port = 0;
  std::once_flag stopped;
  bool started = false;

  void Accept(Loop& loop) {
    loop.acceptor->async_accept([this, &loop](beast::error_code ec, Socket socket) {
      if (ec == asio::error::operation_aborted) return;
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        const bool refuse = tracker.Open() >= options.max_connections;
        std::make_shared<Session>(std::move(socket), options, handler, error_body, tracker,
                                  loop.connections)
            ->Start(refuse);
      }
      if (loop.acceptor->is_open()) Accept(loop);
    });
  }
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler handler, ErrorBodyFn error_body)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  impl_->handler = std::move(handler);
  impl_->error_body = std::move(error_body);
}

HttpServer::~HttpServer() { Stop(); }

std::string HttpServer::Start() {
  int n = impl_->options.threads > 0
              ? impl_->options.threads
              : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  beast::error_code ec;
  auto address = asio::ip::make_address(impl_->options.host, ec);
  if (ec) return "listen address '" + impl_->options.host + "' is not an IP address";
  uint16_t port = impl_->options.port;
  for (int i = 0; i < n; ++i) {
    auto loop = std::make_unique<Loop>();
    loop->acceptor.emplace(loop->ioc.get_executor());
    tcp::endpoint ep(address, port);
    loop->acceptor->open(ep.protocol(), ec);
    if (!ec) loop->acceptor->set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) {
      int one = 1;
      if (::setsockopt(loop->acceptor->native_handle(), SOL_SOCKET, SO_REUSEPORT, &one,
                       sizeof one) != 0) {
        return "cannot set SO_REUSEPORT on the listening socket";
      }
    }
    if (!ec) loop->acceptor->bind(ep, ec);
    if (!ec) loop->acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return "cannot listen on " + impl_->options.host + ":" + std::to_string(port) + ": " +
             ec.message();
    }
    if (port == 0) port = loop->acceptor->local_endpoint().port();
    impl_->loops.push_back(std::move(loop));
  }
  impl_->bound_port = port;
  for (size_t i = 0; i < impl_->loops.size(); ++i) {
    Loop* raw = impl_->loops[i].get();
    impl_->Accept(*raw);
    raw->thread = std::thread([raw, name = IndexedThreadName("http-loop", static_cast<int>(i))] {
      NameThisThread(name);
      SetThisThreadHome(&raw->home);
      raw->ioc.run();
      SetThisThreadHome(nullptr);
    });
  }
  impl_->started = true;
  return {};
}

void HttpServer::Stop() {
  if (!impl_ || !impl_->started) return;
  std::call_once(impl_->stopped, [this] {
    Tracker& tracker = impl_->tracker;
    tracker.draining.store(true);
    for (auto& loop : impl_->loops) {
      asio::post(loop->ioc, [raw = loop.get()] {
        beast::error_code ec;
        raw->acceptor->close(ec);
        std::vector<std::weak_ptr<Session>> open;
        {
          std::lock_guard lock(raw->connections.mu);
          open.reserve(raw->connections.open.size());
          for (const auto& [key, session] : raw->connections.open) open.push_back(session);
        }
        for (const auto& weak : open) {
          if (auto session = weak.lock()) session->Drain();
        }
      });
    }
    {
      std::unique_lock lock(tracker.mu);
      tracker.cv.wait_for(lock, impl_->options.drain_timeout, [&] { return tracker.open == 0; });
    }
    for (auto& loop : impl_->loops) {
      asio::post(loop->ioc, [raw = loop.get()] { raw->ioc.stop(); });
    }
    for (auto& loop : impl_->loops) {
      if (loop->thread.joinable()) loop->thread.join();
    }
  });
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

std::string UrlDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%' && i + 2 < s.size() && HexDigitValue(s[i + 1]) >= 0 &&
               HexDigitValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexDigitValue(s[i + 1]) * 16 + HexDigitValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<std::pair<std::string, std::string>> ParseQuery(std::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    if (!part.empty()) {
      size_t eq = part.find('=');
      if (eq == std::string_view::npos) {
        out.emplace_back(UrlDecode(part), std::string());
      } else {
        out.emplace_back(UrlDecode(part.substr(0, eq)), UrlDecode(part.substr(eq + 1)));
      }
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return out;
}

}  // namespace pricing::engine
