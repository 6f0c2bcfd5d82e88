#include "adapters/ops_server.h"

#include <array>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>
#include <utility>

#include "common/socket.h"
#include "common/text.h"
#include "common/thread_name.h"

namespace pricing::op {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

constexpr uint32_t kHeaderLimit = 8 * 1024;
constexpr uint64_t kBodyLimit = 8 * 1024;
constexpr auto kRequestTimeout = std::chrono::seconds(10);
constexpr auto kIdleTimeout = std::chrono::seconds(90);
constexpr int kMaxConnections = 64;
constexpr const char* kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr const char* kTextContentType = "text/plain; charset=utf-8";

Error AddressError(const std::string& address, std::string_view why) {
  return Invalid("", "cannot listen on \"" + address + "\": " + std::string(why));
}

// Splits "[host]:port" into its parts and resolves the host. An empty host is
// returned as nullopt: every interface.
Result<std::pair<std::optional<asio::ip::address>, uint16_t>> ParseAddress(
    const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return std::unexpected(AddressError(address, "want [host]:port"));
  }
  std::string host = address.substr(0, colon);
  const std::string_view port_text = std::string_view(address).substr(colon + 1);
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || port_text.size() > 5 || ec != std::errc() ||
      end != port_text.data() + port_text.size() || port > 65535) {
    return std::unexpected(AddressError(address, "the port is not a number from 0 to 65535"));
  }
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string::npos) {
    return std::unexpected(AddressError(address, "an IPv6 host must be in brackets"));
  }
  if (host.empty()) return std::pair{std::optional<asio::ip::address>(), uint16_t(port)};
  boost::system::error_code error;
  asio::ip::address ip = asio::ip::make_address(host, error);
  if (!error) return std::pair{std::optional(ip), uint16_t(port)};
  asio::io_context ioc;
  tcp::resolver resolver(ioc);
  const auto results = resolver.resolve(host, "", tcp::resolver::passive, error);
  if (error || results.empty()) {
    return std::unexpected(AddressError(
        address, "cannot resolve \"" + host + "\": " + (error ? error.message() : "no address")));
  }
  return std::pair{std::optional(results.begin()->endpoint().address()), uint16_t(port)};
}

// Opens, binds and listens on `endpoint`; on IPv6 also accepts IPv4 when
// `dual_stack`.
boost::system::error_code Listen(tcp::acceptor& acceptor, const tcp::endpoint& endpoint,
                                 bool dual_stack) {
  boost::system::error_code ec;
  if (acceptor.open(endpoint.protocol(), ec)) return ec;
  if (acceptor.set_option(asio::socket_base::reuse_address(true), ec)) return ec;
  if (dual_stack && acceptor.set_option(asio::ip::v6_only(false), ec)) return ec;
  if (acceptor.bind(endpoint, ec)) return ec;
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec)) return ec;
  return ec;
}

// Whether `authorization` is "Bearer <token>", compared in constant time.
bool BearerMatches(std::string_view authorization, std::string_view token) {
  constexpr std::string_view kScheme = "Bearer ";
  if (authorization.size() < kScheme.size() ||
      !EqualsIgnoreCase(authorization.substr(0, kScheme.size()), kScheme)) {
    return false;
  }
  const std::string_view given = authorization.substr(kScheme.size());
  unsigned char diff = given.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < token.size(); ++i) {
    diff |= static_cast<unsigned char>(token[i] ^ (i < given.size() ? given[i] : 0));
  }
  return diff == 0;
}

}  // namespace

struct OpsServer::Impl {
  class Session;

  explicit Impl(Handlers* handlers) : handlers(handlers) {}

  void Accept();
  http::response<http::string_body> Respond(const http::request<http::string_body>& request);

  Handlers* handlers;
  std::atomic<int> connections{0};
  asio::io_context ioc{1};
  tcp::acceptor acceptor{ioc};
  std::thread thread;
};

class OpsServer::Impl::Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Impl* server, tcp::socket socket) : server_(server), stream_(std::move(socket)) {
    ++server_->connections;
  }
  ~Session() { --server_->connections; }

  void Read() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    stream_.expires_after(buffer_.size() > 0 ? kRequestTimeout : kIdleTimeout);
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

 private:
  void OnRead(beast::error_code ec) {
    if (ec == http::error::body_limit || ec == http::error::header_limit) {
      return ReplyAndClose(http::status::payload_too_large, "request too large");
    }
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || ec == asio::error::eof ||
        ec == asio::error::connection_reset) {
      return Close();
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
      return ReplyAndClose(http::status::bad_request, "bad request");
    }
    if (ec) return Close();
    const http::request<http::string_body> request = parser_->release();
    response_ = server_->Respond(request);
    response_.keep_alive(request.keep_alive());
    Write();
  }

  void ReplyAndClose(http::status status, std::string_view body) {
    response_ = {};
    response_.result(status);
    response_.version(11);
    response_.set(http::field::content_type, kTextContentType);
    response_.body() = std::string(body) + "\n";
    response_.prepare_payload();
    response_.keep_alive(false);
    Write();
  }

  void Write() {
    stream_.expires_after(kRequestTimeout);
    http::async_write(stream_, response_,
                      [self = shared_from_this()](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        if (!self->response_.keep_alive()) return self->LingeringClose();
                        self->Read();
                      });
  }

  // A peer still sending its body reads the reply, not a reset
  // (common/socket.h); a second at most.
  void LingeringClose() {
    pricing::LingeringClose(stream_, std::chrono::seconds(1), asio::buffer(drain_),
                            [self = shared_from_this()] { self->Close(); });
  }

  void Close() { CloseNow(stream_.socket()); }

  Impl* server_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_{kHeaderLimit + kBodyLimit};
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> response_;
  std::array<char, 4096> drain_{};
};

void OpsServer::Impl::Accept() {
  acceptor.async_accept([this](beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) return;
    if (!ec) {
      if (connections.load() >= kMaxConnections) {
        beast::error_code ignored;
        socket.close(ignored);
      } else {
        std::make_shared<Session>(this, std::move(socket))->Read();
      }
    }
    Accept();
  });
}

http::response<http::string_body> OpsServer::Impl::Respond(
    const http::request<http::string_body>& request) {
  http::response<http::string_body> response;
  response.version(request.version());
  response.set(http::field::content_type, kTextContentType);
  const std::string_view target(request.target().data(), request.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  const bool known = path == "/healthz" || path == "/readyz" || path == "/metrics";
  const bool get_or_head =
      request.method() == http::verb::get || request.method() == http::verb::head;
  try {
    if (!known) {
      response.result(http::status::not_found);
      response.body() = "not found\n";
    } else if (!get_or_head) {
      response.result(http::status::method_not_allowed);
      response.set(http::field::allow, "GET, HEAD");
      response.body() = "method not allowed\n";
    } else if (path == "/metrics" && !handlers->metrics_token.empty() &&
               !BearerMatches(std::string_view(request[http::field::authorization].data(),
                                               request[http::field::authorization].size()),
                              handlers->metrics_token)) {
      response.result(http::status::unauthorized);
      response.set(http::field::www_authenticate, "Bearer realm=\"pricing-operator metrics\"");
      response.body() = "unauthorized\n";
    } else if (path == "/metrics") {
      response.result(http::status::ok);
      response.set(http::field::content_type, kMetricsContentType);
      response.body() = handlers->metrics ? handlers->metrics() : std::string();
    } else {
      const bool healthz = path == "/healthz";
      const std::function<bool()>& check = healthz ? handlers->healthy : handlers->ready;
      const bool ok = !check || check();
      response.result(ok ? http::status::ok : http::status::service_unavailable);
      response.body() = ok ? "ok" : (healthz ? "not healthy" : "not ready");
    }
  } catch (...) {
    response.result(http::status::internal_server_error);
    response.body() = "internal error\n";
  }
  response.content_length(response.body().size());
  if (request.method() == http::verb::head) response.body().clear();
  return response;
}

OpsServer::OpsServer(std::string address, Handlers handlers)
    : address_(std::move(address)), handlers_(std::move(handlers)) {}

OpsServer::~OpsServer() { Stop(); }

Result<int> OpsServer::Start() {
  std::lock_guard lock(mu_);
  if (impl_) return std::unexpected(AddressError(address_, "the server is already running"));
  auto parsed = ParseAddress(address_);
  if (!parsed) return std::unexpected(parsed.error());
  const auto [host, port] = *parsed;
  auto impl = std::make_unique<Impl>(&handlers_);
  boost::system::error_code ec;
  if (host) {
    ec = Listen(impl->acceptor, tcp::endpoint(*host, port), false);
  } else {
    ec = Listen(impl->acceptor, tcp::endpoint(tcp::v6(), port), true);
    if (ec && ec != asio::error::address_in_use) {
      boost::system::error_code ignored;
      impl->acceptor.close(ignored);
      ec = Listen(impl->acceptor, tcp::endpoint(tcp::v4(), port), false);
    }
  }
  if (ec) return std::unexpected(AddressError(address_, ec.message()));
  const int bound = impl->acceptor.local_endpoint(ec).port();
  if (ec) return std::unexpected(AddressError(address_, ec.message()));
  impl->Accept();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    NameThisThread("ops-http");
    for (;;) {
      try {
        raw->ioc.run();
        return;
      } catch (...) {
      }
    }
  });
  impl_ = std::move(impl);
  return bound;
}

void OpsServer::Stop() {
  std::lock_guard lock(mu_);
  if (!impl_) return;
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  impl_.reset();
}

}  // namespace pricing::op
