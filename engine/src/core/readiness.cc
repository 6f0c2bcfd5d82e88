#include "engine/readiness.h"

#include "engine/json_text.h"

namespace pricing::engine {

Staleness::State Staleness::Observe(std::string_view name, bool ok, ReadinessTime now) {
  std::lock_guard lock(mu_);
  if (ok) {
    last_ok_.insert_or_assign(std::string(name), now);
    return State::kOk;
  }
  auto it = last_ok_.find(std::string(name));
  if (it != last_ok_.end() && now - it->second <= limit_) return State::kDegraded;
  return State::kUnavailable;
}

ReadinessAnswer ReadinessOf(const std::vector<ReadinessCheck>& checks, Staleness& stale,
                            ReadinessTime now, std::string_view role) {
  bool ready = true;
  std::vector<std::string_view> degraded;
  std::string body;
  JsonWriter w(&body);
  w.BeginObject().Key("checks").BeginObject();
  for (const ReadinessCheck& c : checks) {
    Staleness::State state = Staleness::State::kUnavailable;
    if (c.stale_ok) {
      state = stale.Observe(c.name, c.ok, now);
    } else if (c.ok) {
      state = Staleness::State::kOk;
    }
    switch (state) {
      case Staleness::State::kOk:
        w.Key(c.name).String("ok");
        break;
      case Staleness::State::kDegraded:
        w.Key(c.name).String("degraded");
        degraded.push_back(c.name);
        break;
      case Staleness::State::kUnavailable:
        w.Key(c.name).String("unavailable");
        ready = ready && !c.required;
        break;
    }
  }
  w.EndObject();
  const char* status = !ready ? "not_ready" : degraded.empty() ? "ready" : "degraded";
  w.Key("status").String(status);
  if (!degraded.empty()) {
    w.Key("degraded").BeginArray();
    for (std::string_view d : degraded) w.String(d);
    w.EndArray();
  }
  w.Key("role").String(role).EndObject();
  return ReadinessAnswer{ready ? 200 : 503, std::move(body)};
}

}  // namespace pricing::engine
