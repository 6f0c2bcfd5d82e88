#include "adapters/kube_client.h"

#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <cpprest/http_client.h>
#include <cpprest/uri.h>
#include <pplx/threadpool.h>

#include <atomic>
#include <boost/asio/ssl.hpp>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <optional>
#include <system_error>
#include <utility>

#include "adapters/tls_trust.h"
#include "adapters/token_bucket.h"

namespace pricing::op {

namespace {

namespace http = web::http;
using http::client::http_client;
using http::client::http_client_config;
using nlohmann::json;

// The answer to one request: the status code (0 when none arrived) and body,
// or why there is none.
struct Exchange {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  int status = 0;
  std::optional<http::http_response> response;  // watch requests: kept for reading the body
  std::string body;
  std::string retry_after;  // the answer's Retry-After header, if any
  std::string error;       // set when the request failed
  bool timed_out = false;  // cpprestsdk's own (inactivity) timer fired
};

void EnsureThreadPool() {
  static std::once_flag once;
  std::call_once(once, [] {
    try {
      crossplat::threadpool::initialize_with_threads(4);
    } catch (const std::exception&) {
      // Already initialized by the program: keep its size.
    }
  });
}

// Returns the address family a connection to `host` uses: an address's own,
// or the first that the resolver answers with the flags asio resolves with
// (address_configured), so it is the endpoint cpprestsdk connects to first.
std::optional<boost::asio::ip::tcp> FamilyOf(std::string host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(host, ec);
  if (!ec) return address.is_v6() ? boost::asio::ip::tcp::v6() : boost::asio::ip::tcp::v4();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_ADDRCONFIG;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &found) != 0 || found == nullptr) {
    return std::nullopt;
  }
  const int family = found->ai_family;
  freeaddrinfo(found);
  if (family == AF_INET6) return boost::asio::ip::tcp::v6();
  if (family == AF_INET) return boost::asio::ip::tcp::v4();
  return std::nullopt;
}

// Sets TCP keepalive on `socket`. cpprestsdk hands a new connection's socket
// over before connecting it, unopened, and asio connects an open socket as it
// is: so it is opened here, with the family the connection will use, to
// carry the options. A reused connection's socket is open already. Best
// effort: a socket whose family cannot be told is left to asio.
void KeepAlive(boost::asio::ip::tcp::socket& socket, const std::string& host,
               const RestClientOptions& options) {
  boost::system::error_code ec;
  if (!socket.is_open()) {
    auto family = FamilyOf(host);
    if (!family) return;
    socket.open(*family, ec);
    if (ec) return;
  }
  const int fd = socket.native_handle();
  const int on = 1;
  const int idle = static_cast<int>(options.keepalive_idle.count());
  const int interval = static_cast<int>(std::max<int64_t>(options.keepalive_interval.count(), 1));
  const int probes = std::max(options.keepalive_probes, 1);
  setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof on);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof interval);
  setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof probes);
}

// The native-handle hook of every HTTP client of the API server `server`.
std::function<void(http::client::native_handle)> KeepAliveHook(const std::string& server,
                                                               const RestClientOptions& options) {
  if (options.keepalive_idle.count() <= 0) return {};
  const web::uri uri(server);
  return [host = uri.host(), https = uri.scheme() == "https", options](
             http::client::native_handle handle) {
    if (https) {
      using Stream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket&>;
      KeepAlive(static_cast<Stream*>(handle)->next_layer(), host, options);
    } else {
      KeepAlive(*static_cast<boost::asio::ip::tcp::socket*>(handle), host, options);
    }
  };
}

std::string DescribeException(std::exception_ptr error, bool* timed_out) {
  try {
    std::rethrow_exception(std::move(error));
  } catch (const http::http_exception& e) {
    if (timed_out != nullptr) {
      *timed_out = e.error_code() == std::make_error_code(std::errc::timed_out);
    }
    return e.what();
  } catch (const pplx::task_canceled&) {
    return "canceled";
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

void Finish(const std::shared_ptr<Exchange>& exchange, std::string body, std::string error,
            bool timed_out) {
  {
    std::lock_guard lock(exchange->mu);
    exchange->body = std::move(body);
    exchange->error = std::move(error);
    exchange->timed_out = timed_out;
    exchange->done = true;
  }
  exchange->cv.notify_all();
}

// Waits for `exchange` until `deadline`; past it cancels the request through
// `cancel` and waits for its (prompt) completion. Returns false when the
// deadline passed.
bool AwaitExchange(Exchange& exchange, std::chrono::steady_clock::time_point deadline,
                   pplx::cancellation_token_source& cancel) {
  std::unique_lock lock(exchange.mu);
  if (exchange.cv.wait_until(lock, deadline, [&] { return exchange.done; })) return true;
  lock.unlock();
  cancel.cancel();
  lock.lock();
  exchange.cv.wait_for(lock, std::chrono::seconds(5), [&] { return exchange.done; });
  return false;
}

// A caller's bound on one call (KubeClient::GetWithin...): when it ends, and
// its length, for the message of a call that outlived it.
struct CallBound {
  std::chrono::steady_clock::time_point end;
  std::chrono::nanoseconds timeout;
};

// Returns the bound of a call made now with `timeout`; none when it would end
// past the end of time (nanoseconds::max(): unbounded).
std::optional<CallBound> BoundOf(std::chrono::nanoseconds timeout) {
  const auto now = std::chrono::steady_clock::now();
  if (timeout >= std::chrono::steady_clock::time_point::max() - now) return std::nullopt;
  return CallBound{now + timeout, timeout};
}

KubeError Transient(std::string message) {
  return KubeError{KubeError::Kind::kTransient, 0, "", std::move(message)};
}

KubeError Invalid(std::string message) {
  return KubeError{KubeError::Kind::kInvalid, 0, "", std::move(message)};
}

// Sets apiVersion and kind of `object` from `resource` where they are missing.
void FillTypeMeta(const Resource& resource, json& object) {
  if (!object.is_object()) return;
  if (!object.contains("apiVersion")) object["apiVersion"] = resource.ApiVersion();
  if (!object.contains("kind")) object["kind"] = resource.kind;
}

std::string MetadataString(const json& object, const char* key) {
  if (!object.is_object()) return "";
  const auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return "";
  const auto value = metadata->find(key);
  if (value == metadata->end() || !value->is_string()) return "";
  return value->get<std::string>();
}

// Configures TLS of `context` for `config`: only the cluster's CA is trusted
// when it has one, and the client certificate is presented. Returns the
// setting at fault.
std::optional<Error> ConfigureTls(boost::asio::ssl::context& context, const ClusterConfig& config) {
  try {
    if (!config.certificate_authority_pem.empty()) {
      SSL_CTX_set_cert_store(context.native_handle(), X509_STORE_new());
      context.add_certificate_authority(boost::asio::buffer(config.certificate_authority_pem));
    } else if (!config.insecure_skip_tls_verify) {
      TrustDefaultCaBundle(context);  // a cluster whose certificate a public CA signed
    }
  } catch (const std::exception& e) {
    return op::Invalid("certificate_authority_pem",
                       std::string("not a PEM certificate: ") + e.what());
  }
  try {
    if (!config.client_certificate_pem.empty()) {
      context.use_certificate_chain(boost::asio::buffer(config.client_certificate_pem));
    }
  } catch (const std::exception& e) {
    return op::Invalid("client_certificate_pem", std::string("not a PEM certificate: ") + e.what());
  }
  try {
    if (!config.client_key_pem.empty()) {
      context.use_private_key(boost::asio::buffer(config.client_key_pem),
                              boost::asio::ssl::context::pem);
    }
  } catch (const std::exception& e) {
    return op::Invalid("client_key_pem",
                       std::string("not a PEM key matching the certificate: ") + e.what());
  }
  return std::nullopt;
}

WatchEvent::Type EventType(std::string_view type, bool* known) {
  *known = true;
  if (type == "ADDED") return WatchEvent::Type::kAdded;
  if (type == "MODIFIED") return WatchEvent::Type::kModified;
  if (type == "DELETED") return WatchEvent::Type::kDeleted;
  if (type == "BOOKMARK") return WatchEvent::Type::kBookmark;
  if (type == "ERROR") return WatchEvent::Type::kError;
  *known = false;
  return WatchEvent::Type::kError;
}

class RestWatchStream final : public WatchStream {
 public:
  RestWatchStream(std::shared_ptr<http_client> client,
                  std::shared_ptr<pplx::cancellation_token_source> cancel,
                  http::http_response response, Resource resource,
                  std::chrono::seconds idle_timeout)
      : client_(std::move(client)),
        cancel_(std::move(cancel)),
        response_(std::move(response)),
        body_(response_.body().streambuf()),
        resource_(std::move(resource)),
        idle_timeout_(idle_timeout) {}

  ~RestWatchStream() override { Cancel(); }

  KubeResult<std::optional<WatchEvent>> Next() override {
    std::lock_guard lock(next_mu_);
    while (true) {
      if (cancelled_.load()) return std::nullopt;
      if (ended_) return std::nullopt;
      const size_t newline = buffer_.find('\n');
      if (newline != std::string::npos) {
        std::string line = buffer_.substr(0, newline);
        buffer_.erase(0, newline + 1);
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
        return Parse(line);
      }
      KubeResult<bool> more = Read();
      if (!more || !*more) {
        ended_ = true;
        if (cancelled_.load()) return std::nullopt;
        if (!more) return std::unexpected(std::move(more.error()));
        return std::nullopt;
      }
    }
  }

  void Cancel() override {
    cancelled_.store(true);
    cancel_->cancel();
  }

 private:
  using Buffer = concurrency::streams::streambuf<uint8_t>;

  // Appends the bytes available now, or waits for at least one. Returns
  // false at the normal end of the body, an error when it ended otherwise.
  KubeResult<bool> Read() {
    try {
      const size_t available = body_.in_avail();
      if (available > 0) {
        std::string chunk(std::min<size_t>(available, 64 * 1024), '\0');
        const size_t n = body_.getn(reinterpret_cast<uint8_t*>(chunk.data()), chunk.size()).get();
        if (n > 0) {
          buffer_.append(chunk.data(), n);
          return true;
        }
      } else {
        const auto c = body_.bumpc().get();
        if (c != Buffer::traits::eof()) {
          buffer_.push_back(static_cast<char>(c));
          return true;
        }
      }
    } catch (...) {
      return std::unexpected(Failure(std::current_exception()));
    }
    // End of the body: normal, or closed with the request's failure.
    try {
      response_.content_ready().get();
    } catch (...) {
      return std::unexpected(Failure(std::current_exception()));
    }
    if (buffer_.find_first_not_of(" \t\r\n") != std::string::npos) {
      return std::unexpected(Transient("watch of " + resource_.plural +
                                       ": the stream ended in the middle of an event"));
    }
    return false;
  }

  KubeError Failure(std::exception_ptr error) {
    bool timed_out = false;
    const std::string what = DescribeException(std::move(error), &timed_out);
    if (timed_out) {
      return Transient("watch of " + resource_.plural + ": no data from the server for " +
                       std::to_string(idle_timeout_.count()) + " s");
    }
    return Transient("watch of " + resource_.plural + " failed: " + what);
  }

  KubeResult<std::optional<WatchEvent>> Parse(const std::string& line) {
    try {
      json event = json::parse(line);
      bool known = false;
      WatchEvent result;
      result.type = EventType(event.at("type").get<std::string>(), &known);
      if (!known) {
        return std::unexpected(Transient("watch of " + resource_.plural +
                                         ": unknown event type in " + line.substr(0, 200)));
      }
      result.object = std::move(event.at("object"));
      if (result.type != WatchEvent::Type::kError) FillTypeMeta(resource_, result.object);
      return result;
    } catch (const std::exception& e) {
      ended_ = true;
      Cancel();
      cancelled_.store(false);
      return std::unexpected(
          Transient("watch of " + resource_.plural + ": malformed event: " + e.what()));
    }
  }

  std::shared_ptr<http_client> client_;  // owns the watch's connection
  std::shared_ptr<pplx::cancellation_token_source> cancel_;
  http::http_response response_;
  Buffer body_;
  const Resource resource_;
  const std::chrono::seconds idle_timeout_;
  std::atomic<bool> cancelled_{false};
  std::mutex next_mu_;  // guards the fields below: Next() calls do not overlap
  std::string buffer_;
  bool ended_ = false;
};

}  // namespace

std::string ResourcePath(const Resource& resource, std::string_view namespace_name,
                         std::string_view name, std::string_view subresource) {
  std::string path = resource.group.empty() ? "/api/" + resource.version
                                            : "/apis/" + resource.group + "/" + resource.version;
  if (resource.namespaced && !namespace_name.empty()) {
    path += "/namespaces/";
    path += PercentEncode(namespace_name);
  }
  path += "/";
  path += resource.plural;
  if (!name.empty()) {
    path += "/";
    path += PercentEncode(name);
    if (!subresource.empty()) {
      path += "/";
      path += PercentEncode(subresource);
    }
  }
  return path;
}

std::string WithQuery(std::string path,
                      const std::vector<std::pair<std::string, std::string>>& params) {
  char separator = '?';
  for (const auto& [name, value] : params) {
    if (value.empty()) continue;
    path += separator;
    path += PercentEncode(name);
    path += '=';
    path += PercentEncode(value);
    separator = '&';
  }
  return path;
}

KubeError ErrorFromResponse(int http_status, std::string_view body, std::string_view what) {
  KubeError error;
  error.http_status = http_status;
  using Kind = KubeError::Kind;
  if (http_status == 404) {
    error.kind = Kind::kNotFound;
  } else if (http_status == 409) {
    error.kind = Kind::kConflict;
  } else if (http_status == 410) {
    error.kind = Kind::kGone;
  } else if (http_status == 400 || http_status == 422) {
    error.kind = Kind::kInvalid;
  } else if (http_status == 401 || http_status == 403) {
    error.kind = Kind::kForbidden;
  } else if (http_status == 408 || http_status == 429 || http_status >= 500) {
    error.kind = Kind::kTransient;
  } else {
    error.kind = Kind::kTerminal;
  }
  std::string status_message;
  try {
    const json status = json::parse(body);
    if (status.is_object()) {
      if (status.contains("reason") && status["reason"].is_string()) {
        error.reason = status["reason"].get<std::string>();
      }
      if (status.contains("message") && status["message"].is_string()) {
        status_message = status["message"].get<std::string>();
      }
    }
  } catch (const std::exception&) {
    status_message = std::string(body.substr(0, 200));
  }
  error.message = std::string(what) + ": HTTP " + std::to_string(http_status);
  if (!error.reason.empty()) error.message += " " + error.reason;
  if (!status_message.empty()) error.message += ": " + status_message;
  return error;
}

struct RestKubeClient::Impl {
  // What one request is sent with: the bearer token, the HTTP client whose
  // connections present the right client certificate, and the exec plugin's
  // credential they came from (null without a plugin).
  struct Auth {
    std::string bearer;
    std::shared_ptr<http_client> client;
    std::shared_ptr<const ExecCredential> credential;
  };

  ClusterConfig config;
  RestClientOptions options;
  TokenBucket bucket;
  BearerToken token;
  std::unique_ptr<ExecCredentials> exec;  // when the credentials come from a plugin

  std::mutex mu;
  http_client_config http_config;       // guarded by mu
  std::shared_ptr<http_client> client;  // guarded by mu
  std::string client_certificate_pem;   // guarded by mu: the exec certificate `client` presents
  std::string client_key_pem;           // guarded by mu

  Impl(ClusterConfig cluster, RestClientOptions opts)
      : config(std::move(cluster)),
        options(std::move(opts)),
        bucket(options.qps, options.burst),
        token(config) {
    if (config.exec) exec = std::make_unique<ExecCredentials>(*config.exec);
  }

  void Report(const std::string& method, int code) const {
    if (options.on_request) options.on_request(method, code);
  }

  static std::function<void(boost::asio::ssl::context&)> TlsCallback(ClusterConfig tls) {
    tls.exec.reset();
    return
        [tls = std::move(tls)](boost::asio::ssl::context& context) { ConfigureTls(context, tls); };
  }

  // Returns the credentials of the next request: the exec plugin's (run when
  // they are due), else the configured token. A plugin that fails is
  // kTransient, like a request that got no answer.
  KubeResult<Auth> Authenticate() {
    Auth auth;
    if (exec) {
      Result<std::shared_ptr<const ExecCredential>> credential = exec->Get();
      if (!credential) return std::unexpected(Transient(ToString(credential.error())));
      auth.credential = std::move(*credential);
      auth.bearer = auth.credential->token;
    } else {
      auth.bearer = token.Get();
    }
    std::lock_guard lock(mu);
    if (auth.credential && (auth.credential->client_certificate_pem != client_certificate_pem ||
                            auth.credential->client_key_pem != client_key_pem)) {
      if (auto error = PresentCertificate(*auth.credential)) return std::unexpected(*error);
    }
    auth.client = client;
    return auth;
  }

  // Replaces the HTTP client by one whose connections present `credential`'s
  // client certificate: connections already open keep the one they were
  // opened with, so they go with the old client. REQUIRES: mu held.
  std::optional<KubeError> PresentCertificate(const ExecCredential& credential) {
    const std::string& field = exec->config().field;
    ClusterConfig tls = config;
    tls.client_certificate_pem = credential.client_certificate_pem;
    tls.client_key_pem = credential.client_key_pem;
    try {
      boost::asio::ssl::context probe(boost::asio::ssl::context::sslv23);
      if (auto error = ConfigureTls(probe, tls)) {
        const char* what = error->field == "client_key_pem" ? "status.clientKeyData"
                                                            : "status.clientCertificateData";
        return Transient(field + ": the plugin's " + what + " is not usable: " + error->message);
      }
      http_client_config next = http_config;
      next.set_ssl_context_callback(TlsCallback(std::move(tls)));
      auto replacement = std::make_shared<http_client>(web::uri(config.server), next);
      http_config = std::move(next);
      client = std::move(replacement);
    } catch (const std::exception& e) {
      return Transient(field + ": TLS setup with the plugin's certificate failed: " + e.what());
    }
    client_certificate_pem = credential.client_certificate_pem;
    client_key_pem = credential.client_key_pem;
    return std::nullopt;
  }

  // Whether a request refused with `error` should be sent again with the
  // plugin's credential run anew: after a 401 to a plugin's credential, once
  // the plugin gave a different one. Updates `auth` to it.
  bool RenewAfter(const KubeError& error, Auth& auth) {
    if (error.http_status != 401 || !auth.credential) return false;
    exec->Invalidate(auth.credential);
    KubeResult<Auth> renewed = Authenticate();
    if (!renewed) return false;
    const ExecCredential& before = *auth.credential;
    const ExecCredential& after = *renewed->credential;
    if (after.token == before.token &&
        after.client_certificate_pem == before.client_certificate_pem &&
        after.client_key_pem == before.client_key_pem) {
      return false;
    }
    auth = std::move(*renewed);
    return true;
  }

  // Sends the watch request of `path` with `auth` and returns its stream
  // once the server answered.
  KubeResult<std::unique_ptr<WatchStream>> OpenWatch(const Resource& resource,
                                                     const WatchOptions& options,
                                                     const std::string& path, const Auth& auth);

  http::http_request MakeRequest(const http::method& method, const std::string& path,
                                 const std::string* body, const std::string& content_type,
                                 const std::string& bearer) {
    http::http_request request(method);
    request.set_request_uri(web::uri(path));
    request.headers().add("Accept", "application/json");
    request.headers().add("User-Agent", options.user_agent);
    if (!config.tls_server_name.empty() && config.server.starts_with("https://")) {
      // cpprestsdk sends the Host header's name as SNI and verifies the
      // server's certificate against it.
      request.headers().add("Host", config.tls_server_name);
    }
    if (!bearer.empty()) request.headers().add("Authorization", "Bearer " + bearer);
    if (body != nullptr) request.set_body(*body, content_type);
    return request;
  }

  // Sends one request and returns the status code (2xx) and body, or the
  // KubeError of the answer or of its absence. After a 401 to an exec
  // plugin's credential, runs the plugin again and, when it gives another
  // credential, sends the request once more.
  KubeResult<std::string> Send(const http::method& method, const std::string& path,
                               const std::string* body = nullptr,
                               const std::string& content_type = "application/json",
                               std::optional<CallBound> bound = std::nullopt) {
    KubeResult<Auth> auth = Authenticate();
    if (!auth) {
      auth.error().message = method + " " + path + ": " + auth.error().message;
      return std::unexpected(std::move(auth.error()));
    }
    KubeResult<std::string> answer = SendOnce(method, path, body, content_type, *auth, bound);
    if (!answer && RenewAfter(answer.error(), *auth)) {
      answer = SendOnce(method, path, body, content_type, *auth, bound);
    }
    return answer;
  }

  // The request ends by the request timeout, or by `bound` when that ends
  // sooner; past `bound` it is not sent.
  KubeResult<std::string> SendOnce(const http::method& method, const std::string& path,
                                   const std::string* body, const std::string& content_type,
                                   const Auth& auth, std::optional<CallBound> bound) {
    bucket.Take();
    const std::string what = method + " " + path;
    pplx::cancellation_token_source cancel;
    auto exchange = std::make_shared<Exchange>();
    const auto now = std::chrono::steady_clock::now();
    auto deadline = now + options.timeout;
    if (bound && bound->end >= deadline) bound.reset();
    const std::string limit =
        bound ? std::to_string(
                    std::chrono::duration_cast<std::chrono::milliseconds>(bound->timeout).count()) +
                    " ms"
              : std::to_string(options.timeout.count()) + " s";
    if (bound) {
      deadline = bound->end;
      if (now >= deadline) return std::unexpected(Transient(what + ": no answer within " + limit));
    }
    try {
      auth.client
          ->request(MakeRequest(method, path, body, content_type, auth.bearer), cancel.get_token())
          .then([exchange](pplx::task<http::http_response> task) {
            http::http_response response = task.get();
            {
              std::lock_guard lock(exchange->mu);
              exchange->status = response.status_code();
              if (auto it = response.headers().find(U("Retry-After"));
                  it != response.headers().end()) {
                exchange->retry_after = utility::conversions::to_utf8string(it->second);
              }
            }
            return response.extract_utf8string(true);
          })
          .then([exchange](pplx::task<std::string> task) {
            try {
              Finish(exchange, task.get(), "", false);
            } catch (...) {
              bool timed_out = false;
              std::string error = DescribeException(std::current_exception(), &timed_out);
              Finish(exchange, "", std::move(error), timed_out);
            }
          });
    } catch (const std::exception& e) {
      Report(method, 0);
      return std::unexpected(Transient(what + ": " + e.what()));
    }
    const bool in_time = AwaitExchange(*exchange, deadline, cancel);
    std::lock_guard lock(exchange->mu);
    if (!in_time || exchange->timed_out) {
      Report(method, 0);
      return std::unexpected(Transient(what + ": no answer within " + limit));
    }
    if (!exchange->error.empty()) {
      Report(method, 0);
      return std::unexpected(Transient(what + ": " + exchange->error));
    }
    Report(method, exchange->status);
    if (exchange->status < 200 || exchange->status > 299) {
      KubeError error = ErrorFromResponse(exchange->status, exchange->body, what);
      error.retry_after = ParseRetryAfter(exchange->retry_after);
      return std::unexpected(std::move(error));
    }
    return std::move(exchange->body);
  }

  // Send, then the body parsed as JSON.
  KubeResult<json> SendJson(const http::method& method, const std::string& path,
                            const std::string* body = nullptr,
                            const std::string& content_type = "application/json",
                            std::optional<CallBound> bound = std::nullopt) {
    auto answer = Send(method, path, body, content_type, bound);
    if (!answer) return std::unexpected(std::move(answer.error()));
    try {
      return json::parse(*answer);
    } catch (const std::exception& e) {
      return std::unexpected(Transient(method + " " + path + ": the answer is not JSON: " +
                                       e.what()));
    }
  }
};

Result<std::unique_ptr<RestKubeClient>> RestKubeClient::FromConfig(ClusterConfig config,
                                                                   RestClientOptions options) {
  EnsureThreadPool();
  try {
    web::uri base(config.server);
    if (base.scheme() != "https" && base.scheme() != "http") {
      return Fail("server", "\"" + config.server + "\" is not an http(s) URL");
    }
  } catch (const std::exception& e) {
    return Fail("server", "\"" + config.server + "\" is not a URL: " + e.what());
  }
  try {
    boost::asio::ssl::context probe(boost::asio::ssl::context::sslv23);
    if (auto error = ConfigureTls(probe, config)) return std::unexpected(std::move(*error));
  } catch (const std::exception& e) {
    return Fail("", std::string("TLS setup failed: ") + e.what());
  }
  auto impl = std::make_shared<Impl>(std::move(config), std::move(options));
  impl->http_config.set_timeout(impl->options.timeout);
  impl->http_config.set_validate_certificates(!impl->config.insecure_skip_tls_verify);
  impl->http_config.set_ssl_context_callback(Impl::TlsCallback(impl->config));
  impl->http_config.set_nativehandle_options(KeepAliveHook(impl->config.server, impl->options));
  try {
    impl->client = std::make_shared<http_client>(web::uri(impl->config.server), impl->http_config);
  } catch (const std::exception& e) {
    return Fail("server", e.what());
  }
  return std::unique_ptr<RestKubeClient>(new RestKubeClient(std::move(impl)));
}

RestKubeClient::RestKubeClient(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

RestKubeClient::~RestKubeClient() = default;

KubeResult<json> RestKubeClient::Get(const Resource& resource, const std::string& namespace_name,
                                     const std::string& name) {
  return GetWithin(resource, namespace_name, name, std::chrono::nanoseconds::max());
}

KubeResult<json> RestKubeClient::GetWithin(const Resource& resource,
                                           const std::string& namespace_name,
                                           const std::string& name,
                                           std::chrono::nanoseconds timeout) {
  const std::optional<CallBound> bound = BoundOf(timeout);
  if (name.empty()) return std::unexpected(Invalid("Get " + resource.plural + ": empty name"));
  auto object = impl_->SendJson(http::methods::GET, ResourcePath(resource, namespace_name, name),
                                nullptr, "application/json", bound);
  if (object) FillTypeMeta(resource, *object);
  return object;
}

KubeResult<ListResult> RestKubeClient::List(const Resource& resource, const ListOptions& options) {
  ListResult result;
  std::string continue_token;
  const std::string base = ResourcePath(resource, options.namespace_name);
  do {
    const std::string path = WithQuery(
        base, {{"labelSelector", options.label_selector},
               {"fieldSelector", options.field_selector},
               {"limit", impl_->options.list_page_size > 0
                             ? std::to_string(impl_->options.list_page_size)
                             : ""},
               {"continue", continue_token}});
    auto page = impl_->SendJson(http::methods::GET, path);
    if (!page) return std::unexpected(std::move(page.error()));
    try {
      const json& metadata = page->at("metadata");
      result.resource_version = metadata.value("resourceVersion", "");
      continue_token = metadata.value("continue", "");
      json& items = page->at("items");
      if (items.is_array()) {
        result.items.reserve(result.items.size() + items.size());
        for (json& item : items) {
          FillTypeMeta(resource, item);
          if (options.transform) {
            result.items.push_back(options.transform(item));
            item = nullptr;  // the page's copy goes now, not with the page
          } else {
            result.items.push_back(std::move(item));
          }
        }
      }
    } catch (const std::exception& e) {
      return std::unexpected(Transient("GET " + path + ": not a list: " + e.what()));
    }
  } while (!continue_token.empty());
  return result;
}

KubeResult<std::unique_ptr<WatchStream>> RestKubeClient::Impl::OpenWatch(
    const Resource& resource, const WatchOptions& options, const std::string& path,
    const Auth& auth) {
  Impl& impl = *this;
  const std::string what = "GET " + path;
  impl.bucket.Take();

  http_client_config config = auth.client->client_config();
  config.set_timeout(options.idle_timeout);
  std::shared_ptr<http_client> client;
  auto cancel = std::make_shared<pplx::cancellation_token_source>();
  auto exchange = std::make_shared<Exchange>();
  try {
    client = std::make_shared<http_client>(web::uri(impl.config.server), config);
    client
        ->request(impl.MakeRequest(http::methods::GET, path, nullptr, "", auth.bearer),
                  cancel->get_token())
        .then([exchange](pplx::task<http::http_response> task) {
          try {
            http::http_response response = task.get();
            {
              std::lock_guard lock(exchange->mu);
              exchange->status = response.status_code();
              exchange->response = response;
            }
            Finish(exchange, "", "", false);
          } catch (...) {
            bool timed_out = false;
            std::string error = DescribeException(std::current_exception(), &timed_out);
            Finish(exchange, "", std::move(error), timed_out);
          }
        });
  } catch (const std::exception& e) {
    impl.Report("GET", 0);
    return std::unexpected(Transient(what + ": " + e.what()));
  }
  const auto deadline = std::chrono::steady_clock::now() + impl.options.timeout;
  const bool in_time = AwaitExchange(*exchange, deadline, *cancel);
  std::unique_lock lock(exchange->mu);
  if (!in_time || exchange->timed_out || !exchange->error.empty() || !exchange->response) {
    impl.Report("GET", 0);
    return std::unexpected(Transient(
        what + ": " + (exchange->error.empty() || !in_time ? "no answer in time" : exchange->error)));
  }
  const int status = exchange->status;
  http::http_response response = *exchange->response;
  lock.unlock();
  impl.Report("GET", status);
  if (status != 200) {
    std::string body;
    try {
      body = response.extract_utf8string(true).get();
    } catch (const std::exception&) {
    }
    KubeError error = ErrorFromResponse(status, body, what);
    if (auto it = response.headers().find(U("Retry-After")); it != response.headers().end()) {
      error.retry_after = ParseRetryAfter(utility::conversions::to_utf8string(it->second));
    }
    return std::unexpected(std::move(error));
  }
  return std::make_unique<RestWatchStream>(std::move(client), std::move(cancel),
                                           std::move(response), resource, options.idle_timeout);
}

KubeResult<std::unique_ptr<WatchStream>> RestKubeClient::Watch(const Resource& resource,
                                                               const WatchOptions& options) {
  Impl& impl = *impl_;
  const std::string path = WithQuery(
      ResourcePath(resource, options.namespace_name),
      {{"watch", "1"},
       {"allowWatchBookmarks", options.allow_bookmarks ? "true" : ""},
       {"resourceVersion", options.resource_version},
       {"labelSelector", options.label_selector},
       {"timeoutSeconds", std::to_string(options.timeout.count())}});
  KubeResult<Impl::Auth> auth = impl.Authenticate();
  if (!auth) {
    auth.error().message = "GET " + path + ": " + auth.error().message;
    return std::unexpected(std::move(auth.error()));
  }
  KubeResult<std::unique_ptr<WatchStream>> stream = impl.OpenWatch(resource, options, path, *auth);
  if (!stream && impl.RenewAfter(stream.error(), *auth)) {
    stream = impl.OpenWatch(resource, options, path, *auth);
  }
  return stream;
}

KubeResult<json> RestKubeClient::Create(const Resource& resource, const json& object) {
  return CreateWithin(resource, object, std::chrono::nanoseconds::max());
}

KubeResult<json> RestKubeClient::CreateWithin(const Resource& resource, const json& object,
                                              std::chrono::nanoseconds timeout) {
  const std::optional<CallBound> bound = BoundOf(timeout);
  const std::string namespace_name = MetadataString(object, "namespace");
  if (resource.namespaced && namespace_name.empty()) {
    return std::unexpected(Invalid("Create " + resource.plural + ": metadata.namespace is empty"));
  }
  json body = object;
  FillTypeMeta(resource, body);
  const std::string text = body.dump();
  auto created = impl_->SendJson(http::methods::POST, ResourcePath(resource, namespace_name), &text,
                                 "application/json", bound);
  if (created) FillTypeMeta(resource, *created);
  return created;
}

KubeResult<json> RestKubeClient::Update(const Resource& resource, const json& object) {
  return UpdateWithin(resource, object, std::chrono::nanoseconds::max());
}

KubeResult<json> RestKubeClient::UpdateWithin(const Resource& resource, const json& object,
                                              std::chrono::nanoseconds timeout) {
  const std::optional<CallBound> bound = BoundOf(timeout);
  const std::string namespace_name = MetadataString(object, "namespace");
  const std::string name = MetadataString(object, "name");
  if (name.empty() || (resource.namespaced && namespace_name.empty())) {
    return std::unexpected(
        Invalid("Update " + resource.plural + ": metadata.name or metadata.namespace is empty"));
  }
  json body = object;
  FillTypeMeta(resource, body);
  const std::string text = body.dump();
  auto updated = impl_->SendJson(http::methods::PUT, ResourcePath(resource, namespace_name, name),
                                 &text, "application/json", bound);
  if (updated) FillTypeMeta(resource, *updated);
  return updated;
}

KubeResult<json> RestKubeClient::Apply(const Resource& resource, const json& object,
                                       std::string_view field_manager,
                                       std::string_view subresource) {
  const std::string namespace_name = MetadataString(object, "namespace");
  const std::string name = MetadataString(object, "name");
  if (name.empty() || (resource.namespaced && namespace_name.empty())) {
    return std::unexpected(
        Invalid("Apply " + resource.plural + ": metadata.name or metadata.namespace is empty"));
  }
  if (field_manager.empty()) {
    return std::unexpected(Invalid("Apply " + resource.plural + ": empty field manager"));
  }
  json body = object;
  FillTypeMeta(resource, body);
  const std::string text = body.dump();
  const std::string path =
      WithQuery(ResourcePath(resource, namespace_name, name, subresource),
                {{"fieldManager", std::string(field_manager)}, {"force", "true"}});
  auto applied = impl_->SendJson(http::methods::PATCH, path, &text, "application/apply-patch+yaml");
  if (applied) FillTypeMeta(resource, *applied);
  return applied;
}

KubeResult<void> RestKubeClient::Delete(const Resource& resource, const std::string& namespace_name,
                                        const std::string& name, const DeleteOptions& options) {
  if (name.empty()) return std::unexpected(Invalid("Delete " + resource.plural + ": empty name"));
  json body = {{"apiVersion", "v1"}, {"kind", "DeleteOptions"}};
  if (!options.propagation_policy.empty()) body["propagationPolicy"] = options.propagation_policy;
  if (!options.precondition_uid.empty()) {
    body["preconditions"] = {{"uid", options.precondition_uid}};
  }
  const std::string text = body.dump();
  auto answer =
      impl_->Send(http::methods::DEL, ResourcePath(resource, namespace_name, name), &text);
  if (!answer) return std::unexpected(std::move(answer.error()));
  return {};
}

}  // namespace pricing::op
