#include "adapters/market_http.h"

#include <cpprest/containerstream.h>
#include <cpprest/http_client.h>
#include <cpprest/uri.h>

#include <array>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <optional>
#include <system_error>
#include <unordered_map>
#include <utility>

#include "engine/json_text.h"

namespace pricing::engine {

namespace {

namespace http = web::http;
using http::client::http_client;
using http::client::http_client_config;
using SteadyTime = std::chrono::steady_clock::time_point;

constexpr size_t kMaxCacheEntries = 4096;

std::unexpected<Error> Unavailable(MarketApi api, std::string_view why) {
  std::string message(MarketApiName(api));
  message += " API unavailable: ";
  message += why;
  return Fail(ErrorCode::kServiceUnavailable, std::move(message));
}

// One outbound request and everyone waiting for it.
// Reads the rest of `body` into `text`, at most `max` bytes in all: returns
// the text, or nothing once more than `max` has come.
pplx::task<std::optional<std::string>> ReadCapped(
    concurrency::streams::istream body, size_t max,
    std::shared_ptr<concurrency::streams::container_buffer<std::string>> text =
        std::make_shared<concurrency::streams::container_buffer<std::string>>()) {
  const size_t room = max + 1 - text->collection().size();
  return body.read(*text, std::min<size_t>(room, 16 * 1024))
      .then([body, max, text](size_t n) -> pplx::task<std::optional<std::string>> {
        if (text->collection().size() > max) {
          return pplx::task_from_result(std::optional<std::string>());
        }
        if (n == 0) {
          return pplx::task_from_result(std::optional<std::string>(std::move(text->collection())));
        }
        return ReadCapped(body, max, text);
      });
}

struct Flight {
  std::string key;
  SteadyTime deadline;  // real time: callers never wait past it
  CircuitBreaker::Permit permit;
  pplx::cancellation_token_source cancel;

  std::mutex mu;
  std::condition_variable cv;
  bool finished = false;
  Result<Decimal> result;
};

}  // namespace

std::string_view MarketApiName(MarketApi api) {
  switch (api) {
    case MarketApi::kLender:
      return "lender";
    case MarketApi::kMarket:
      return "market";
    case MarketApi::kEvents:
      return "events";
  }
  return "unknown";
}

std::string_view ApiOutcomeName(ApiOutcome outcome) {
  switch (outcome) {
    case ApiOutcome::kSuccess:
      return "success";
    case ApiOutcome::kError:
      return "error";
    case ApiOutcome::kTimeout:
      return "timeout";
    case ApiOutcome::kCircuitOpen:
      return "circuit_open";
  }
  return "unknown";
}

struct HttpMarketData::Impl : std::enable_shared_from_this<HttpMarketData::Impl> {
  struct Endpoint {
    MarketApi api = MarketApi::kLender;
    std::shared_ptr<http_client> client;  // null: the API is absent
    std::unique_ptr<CircuitBreaker> breaker;
    std::chrono::milliseconds ttl{0};
    std::function<Result<Decimal>(const std::string& body, const std::string& ticker)> parse;
  };

  struct CacheEntry {
    Decimal value;
    SteadyTime expires;
  };

  HttpMarketDataOptions options;
  MarketDataObservers observers;
  CircuitBreaker::NowFn now;
  std::array<Endpoint, 3> endpoints;

  std::mutex mu;  // guards flights and cache
  std::unordered_map<std::string, std::shared_ptr<Flight>> flights;
  std::unordered_map<std::string, CacheEntry> cache;

  std::mutex tasks_mu;
  std::condition_variable tasks_cv;
  int outstanding = 0;  // request chains whose last continuation has not run
  std::atomic<bool> closed{false};

  Endpoint& At(MarketApi api) { return endpoints[static_cast<size_t>(api)]; }

  void Report(MarketApi api, ApiOutcome outcome) const {
    if (observers.on_request && !closed.load(std::memory_order_acquire)) {
      observers.on_request(api, outcome);
    }
  }

  // Returns the value of `path` on `api`: from the cache, by joining an
  // outbound request in flight, or by starting one.
  Result<Decimal> Fetch(MarketApi api, const std::string& path, const std::string& ticker) {
    Endpoint& ep = At(api);
    if (!ep.client) {
      std::string message(MarketApiName(api));
      message += " API not configured";
      return Fail(ErrorCode::kServiceUnavailable, std::move(message));
    }
    std::string key;
    key.reserve(path.size() + 2);
    key += static_cast<char>('0' + static_cast<int>(api));
    key += path;

    std::shared_ptr<Flight> flight;
    bool leader = false;
    {
      std::lock_guard lock(mu);
      if (ep.ttl.count() > 0) {
        auto it = cache.find(key);
        if (it != cache.end() && now() < it->second.expires) return it->second.value;
      }
      auto it = flights.find(key);
      if (it != flights.end()) {
        flight = it->second;
      } else {
        CircuitBreaker::Permit permit = ep.breaker->Allow();
        if (permit) {
          flight = std::make_shared<Flight>();
          flight->key = key;
          flight->deadline = std::chrono::steady_clock::now() + options.timeout;
          flight->permit = permit;
          flights.emplace(key, flight);
          leader = true;
        }
      }
    }
    if (!flight) {
      Report(api, ApiOutcome::kCircuitOpen);
      return Unavailable(api, "circuit open");
    }
    if (leader) Launch(ep, flight, path, ticker);

    {
      std::unique_lock lock(flight->mu);
      if (flight->cv.wait_until(lock, flight->deadline, [&] { return flight->finished; })) {
        return flight->result;
      }
    }
    Finish(ep, flight,
           Unavailable(api, "no answer within " + std::to_string(options.timeout.count()) + " ms"),
           ApiOutcome::kTimeout);
    std::lock_guard lock(flight->mu);
    return flight->result;
  }

  // Completes `flight` with `result` unless it already completed: wakes its
  // waiters, updates the cache and the breaker, reports the outcome.
  void Finish(Endpoint& ep, const std::shared_ptr<Flight>& flight, Result<Decimal> result,
              ApiOutcome outcome) {
    {
      // Everything a caller could observe next (the flight gone, the cache,
      // the breaker, the metrics) is settled before any waiter wakes, so a
      // caller that returns and calls again never sees stale state.
      std::lock_guard flight_lock(flight->mu);
      if (flight->finished) return;
      {
        std::lock_guard lock(mu);
        auto it = flights.find(flight->key);
        if (it != flights.end() && it->second == flight) flights.erase(it);
        if (outcome == ApiOutcome::kSuccess && ep.ttl.count() > 0) {
          if (cache.size() >= kMaxCacheEntries) {
            const auto t = now();
            std::erase_if(cache, [&](const auto& kv) { return kv.second.expires <= t; });
            if (cache.size() >= kMaxCacheEntries) cache.clear();
          }
          cache[flight->key] = CacheEntry{*result, now() + ep.ttl};
        }
      }
      ep.breaker->Record(flight->permit, outcome == ApiOutcome::kSuccess);
      Report(ep.api, outcome);
      flight->result = std::move(result);
      flight->finished = true;
    }
    flight->cv.notify_all();
    if (outcome == ApiOutcome::kTimeout) flight->cancel.cancel();
  }

  void TaskStarted() {
    std::lock_guard lock(tasks_mu);
    ++outstanding;
  }
  void TaskDone() {
    std::lock_guard lock(tasks_mu);
    if (--outstanding == 0) tasks_cv.notify_all();
  }

  // Classifies an exception out of a cpprest task.
  void FinishWithException(Endpoint& ep, const std::shared_ptr<Flight>& flight,
                           std::exception_ptr error) {
    try {
      std::rethrow_exception(error);
    } catch (const http::http_exception& e) {
      const bool timed_out = e.error_code() == std::errc::timed_out;
      Finish(ep, flight, Unavailable(ep.api, e.what()),
             timed_out ? ApiOutcome::kTimeout : ApiOutcome::kError);
    } catch (const pplx::task_canceled&) {
      Finish(ep, flight, Unavailable(ep.api, "request cancelled"), ApiOutcome::kTimeout);
    } catch (const std::exception& e) {
      Finish(ep, flight, Unavailable(ep.api, e.what()), ApiOutcome::kError);
    } catch (...) {
      Finish(ep, flight, Unavailable(ep.api, "unknown failure"), ApiOutcome::kError);
    }
  }

  // Starts the outbound request of `flight`; its continuations finish it.
  void Launch(Endpoint& ep, std::shared_ptr<Flight> flight, const std::string& path,
              const std::string& ticker) {
    auto self = shared_from_this();
    TaskStarted();
    pplx::task<http::http_response> request;
    try {
      request = ep.client->request(http::methods::GET, path, flight->cancel.get_token());
    } catch (...) {
      FinishWithException(ep, flight, std::current_exception());
      TaskDone();
      return;
    }
    request.then([self, &ep, flight, ticker](pplx::task<http::http_response> task) {
      http::http_response response;
      try {
        response = task.get();
      } catch (...) {
        self->FinishWithException(ep, flight, std::current_exception());
        self->TaskDone();
        return;
      }
      const http::status_code status = response.status_code();
      if (status < 200 || status > 299) {
        self->Finish(ep, flight, Unavailable(ep.api, "HTTP status " + std::to_string(status)),
                     ApiOutcome::kError);
        self->TaskDone();
        return;
      }
      // Over the cap, whatever the framing: a declared length says so at
      // once, a chunked or close-delimited answer once that much has come.
      if (response.headers().content_length() > self->options.max_body_bytes) {
        self->Finish(ep, flight, Unavailable(ep.api, "answer too large"), ApiOutcome::kError);
        self->TaskDone();
        return;
      }
      pplx::task<std::optional<std::string>> body;
      try {
        body = ReadCapped(response.body(), self->options.max_body_bytes);
      } catch (...) {
        self->FinishWithException(ep, flight, std::current_exception());
        self->TaskDone();
        return;
      }
      body.then([self, &ep, flight, ticker](pplx::task<std::optional<std::string>> task) {
        try {
          const std::optional<std::string> text = task.get();
          if (!text) {
            // Stops the transfer too: nothing more of it is read.
            flight->cancel.cancel();
            self->Finish(ep, flight, Unavailable(ep.api, "answer too large"), ApiOutcome::kError);
            self->TaskDone();
            return;
          }
          Result<Decimal> value = ep.parse(*text, ticker);
          if (value) {
            self->Finish(ep, flight, *value, ApiOutcome::kSuccess);
          } else {
            self->Finish(ep, flight, Unavailable(ep.api, value.error().message),
                         ApiOutcome::kError);
          }
        } catch (...) {
          self->FinishWithException(ep, flight, std::current_exception());
        }
        self->TaskDone();
      });
    });
  }
};

namespace {

// Returns the client for `url`, sharing one per distinct base URL.
Result<std::shared_ptr<http_client>> ClientFor(
    const std::string& url, std::string_view field, const http_client_config& config,
    std::map<std::string, std::shared_ptr<http_client>>* clients) {
  if (url.empty()) return std::shared_ptr<http_client>();
  auto it = clients->find(url);
  if (it != clients->end()) return it->second;
  try {
    if (!web::uri::validate(url)) throw std::invalid_argument("not a URI");
    web::uri uri(url);
    if (uri.scheme() != "http" && uri.scheme() != "https") {
      throw std::invalid_argument("scheme must be http or https");
    }
    if (uri.host().empty()) throw std::invalid_argument("no host");
    auto client = std::make_shared<http_client>(uri, config);
    clients->emplace(url, client);
    return client;
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kInvalidParameter,
                std::string(field) + ": invalid URL '" + url + "': " + e.what(),
                std::string(field));
  }
}

std::string EncodeSegment(const std::string& s) { return web::uri::encode_data_string(s); }

}  // namespace

Result<std::unique_ptr<HttpMarketData>> HttpMarketData::Create(HttpMarketDataOptions options,
                                                               MarketDataObservers observers,
                                                               CircuitBreaker::NowFn now) {
  if (options.timeout.count() <= 0) {
    return Fail(ErrorCode::kInvalidParameter, "timeout must be positive", "timeout");
  }
  auto impl = std::make_shared<Impl>();
  impl->now =
      now ? std::move(now) : CircuitBreaker::NowFn([] { return std::chrono::steady_clock::now(); });
  impl->observers = std::move(observers);

  http_client_config config;
  config.set_timeout(options.timeout);
  std::map<std::string, std::shared_ptr<http_client>> clients;
  const std::array<std::pair<const std::string*, std::string_view>, 3> urls = {{
      {&options.lender_url, "lender_url"},
      {&options.market_url, "market_url"},
      {&options.events_url, "events_url"},
  }};
  const std::array<std::chrono::milliseconds, 3> ttls = {options.lender_ttl, options.vix_ttl,
                                                         options.events_ttl};
  for (size_t i = 0; i < impl->endpoints.size(); ++i) {
    auto client = ClientFor(*urls[i].first, urls[i].second, config, &clients);
    if (!client) return std::unexpected(client.error());
    Impl::Endpoint& ep = impl->endpoints[i];
    ep.api = static_cast<MarketApi>(i);
    ep.client = *client;
    ep.ttl = ttls[i];
    std::weak_ptr<Impl> weak = impl;
    const MarketApi api = ep.api;
    ep.breaker = std::make_unique<CircuitBreaker>(options.breaker, impl->now,
                                                  [weak, api](BreakerState from, BreakerState to) {
                                                    auto self = weak.lock();
                                                    if (self && self->observers.on_breaker)
                                                      self->observers.on_breaker(api, from, to);
                                                  });
  }
  impl->At(MarketApi::kLender).parse = [](const std::string& body, const std::string& ticker) {
    return ParseLenderRate(body, ticker);
  };
  impl->At(MarketApi::kMarket).parse = [](const std::string& body, const std::string&) {
    return ParseVix(body);
  };
  impl->At(MarketApi::kEvents).parse = [](const std::string& body,
                                          const std::string& ticker) -> Result<Decimal> {
    auto risk = ParseEventRisk(body, ticker);
    if (!risk) return std::unexpected(risk.error());
    return Decimal::FromInt(*risk);
  };
  impl->options = std::move(options);
  return std::unique_ptr<HttpMarketData>(new HttpMarketData(std::move(impl)));
}

HttpMarketData::HttpMarketData(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpMarketData::~HttpMarketData() {
  std::vector<std::shared_ptr<Flight>> flights;
  {
    std::lock_guard lock(impl_->mu);
    for (auto& [key, flight] : impl_->flights) flights.push_back(flight);
  }
  for (auto& flight : flights) flight->cancel.cancel();
  {
    std::unique_lock lock(impl_->tasks_mu);
    impl_->tasks_cv.wait_for(lock, impl_->options.timeout + std::chrono::seconds(1),
                             [&] { return impl_->outstanding == 0; });
  }
  impl_->closed.store(true, std::memory_order_release);
}

Result<Decimal> HttpMarketData::LenderRate(const std::string& ticker) {
  return impl_->Fetch(MarketApi::kLender, "/api/v1/borrows/" + EncodeSegment(ticker), ticker);
}

Result<Decimal> HttpMarketData::MarketVix() {
  return impl_->Fetch(MarketApi::kMarket, "/api/v1/market/vix", std::string());
}

Result<int> HttpMarketData::EventRisk(const std::string& ticker) {
  auto risk = impl_->Fetch(MarketApi::kEvents, "/api/v1/events/" + EncodeSegment(ticker), ticker);
  if (!risk) return std::unexpected(risk.error());
  return static_cast<int>(*risk->ToInt64());
}

BreakerState HttpMarketData::BreakerStateOf(MarketApi api) const {
  return impl_->endpoints[static_cast<size_t>(api)].breaker->State();
}

}  // namespace pricing::engine
