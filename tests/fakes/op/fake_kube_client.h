// An in-memory Kubernetes API server behind the KubeClient interface, for
// controller tests: objects keyed by (resource, namespace, name), one global
// resourceVersion counter, uid / generation / creationTimestamp assigned by
// the "server", optimistic concurrency on Update, server-side apply
// approximated as a deep merge, and watches served from an event log that can
// be compacted (410 Expired), bookmarked and closed on demand.
//
// Any call can be made to fail (LevelDB's SpecialEnv idea):
//
//   kube.FailNext(2);                       // the next 2 calls of any method fail (503)
//   kube.FailNext(1, "Apply");              // the next Apply fails
//   kube.FailNext(1, "Get", KubeError{KubeError::Kind::kForbidden, 403, "Forbidden", "no"});
//   kube.SetDown(true);                     // every call fails until SetDown(false)
//   kube.Calls("Watch");                    // calls so far (failed ones included)
//   kube.Writes();                          // every write request the server received
//   kube.SetDelay("Update", 1h);            // hold each UpdateWithin an hour, or until its timeout
//
// Method names: "Get", "List", "Watch", "Create", "Update", "Apply", "Delete".
//
// Approximations: apply records the applied fields under the field manager in
// managedFields (every list atomic) but never removes a field by omission, and
// other writers never take ownership away; a null in an applied object removes that key; deletion is
// immediate (no finalizers, no garbage collection); the watch timeout and idle
// timeout are not simulated (use CloseWatches / BreakWatches).
//
// Thread-safe: one mutex, one condition variable for the watch streams. Watch
// streams may outlive the client.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "op/clock.h"
#include "op/kube.h"
#include "op/managed_fields.h"
#include "op/time_text.h"

namespace pricing::op::fakes {

// One write request as the fake server received it (after failure injection:
// injected failures are not recorded; rejected requests such as conflicts are).
struct KubeWrite {
  std::string method;       // "Create", "Update", "Apply", "Delete"
  std::string resource;     // the plural, e.g. "deployments"
  std::string namespace_name;
  std::string name;
  std::string subresource;  // "status" for a status apply, else ""
  nlohmann::json body;      // the object sent (null for Delete)
  bool succeeded = false;   // the call returned a value
  bool changed = false;     // the stored state changed (a new resourceVersion)
};

// One Watch call as the fake server received it.
struct KubeWatchCall {
  Resource resource;
  WatchOptions options;
};

class FakeKubeClient : public KubeClient {
 public:
  // Timestamps (creationTimestamp) come from `clock` when given, else are
  // 2026-11-27T14:30:00Z. `clock` must outlive the client.
  explicit FakeKubeClient(const Clock* clock = nullptr)
      : server_(std::make_shared<Server>()), clock_(clock) {}

  // --- KubeClient -----------------------------------------------------------

  KubeResult<nlohmann::json> Get(const Resource& resource, const std::string& namespace_name,
                                 const std::string& name) override {
    std::unique_lock lock(server_->mu);
    if (auto e = CheckLocked("Get")) return std::unexpected(*e);
    const nlohmann::json* stored = FindLocked(resource, namespace_name, name);
    if (stored == nullptr) return std::unexpected(NotFound(resource, name));
    return *stored;
  }

  KubeResult<ListResult> List(const Resource& resource, const ListOptions& options) override {
    std::unique_lock lock(server_->mu);
    if (auto e = CheckLocked("List")) return std::unexpected(*e);
    ListResult result;
    auto it = server_->objects.find(ResourceKey(resource));
    if (it != server_->objects.end()) {
      for (const auto& [key, object] : it->second) {
        if (Matches(object, options.namespace_name, options.label_selector)) {
          result.items.push_back(options.transform ? options.transform(object) : object);
        }
      }
    }
    result.resource_version = std::to_string(server_->counter);
    return result;
  }

  KubeResult<std::unique_ptr<WatchStream>> Watch(const Resource& resource,
                                                 const WatchOptions& options) override {
    std::unique_lock lock(server_->mu);
    if (auto e = CheckLocked("Watch")) return std::unexpected(*e);
    server_->watch_calls.push_back(KubeWatchCall{resource, options});
    auto stream = std::make_shared<StreamState>();
    stream->resource_key = ResourceKey(resource);
    stream->namespace_name = options.namespace_name;
    stream->label_selector = options.label_selector;
    stream->bookmarks = options.allow_bookmarks;
    const std::string& rv = options.resource_version;
    if (rv.empty() || rv == "0") {
      auto it = server_->objects.find(stream->resource_key);
      if (it != server_->objects.end()) {
        for (const auto& [key, object] : it->second) {
          if (Matches(object, stream->namespace_name, stream->label_selector)) {
            stream->initial.push_back(WatchEvent{WatchEvent::Type::kAdded, object});
          }
        }
      }
      stream->position = server_->log.size();
    } else {
      const std::optional<uint64_t> from = ParseVersion(rv);
      if (!from) {
        return std::unexpected(KubeError{KubeError::Kind::kInvalid, 400, "BadRequest",
                                         "invalid resource version \"" + rv + "\""});
      }
      if (*from < server_->compacted) {
        const KubeError gone = Gone(*from, server_->compacted);
        if (server_->gone_as_error) return std::unexpected(gone);
        stream->initial.push_back(WatchEvent{WatchEvent::Type::kError, GoneStatus(gone)});
        stream->end_after_initial = true;
      }
      stream->position = static_cast<size_t>(
          std::partition_point(server_->log.begin(), server_->log.end(),
                               [&](const LogEntry& e) { return e.rv <= *from; }) -
          server_->log.begin());
    }
    server_->streams.push_back(stream);
    return std::make_unique<Stream>(server_, stream);
  }

  KubeResult<nlohmann::json> Create(const Resource& resource,
                                    const nlohmann::json& object) override {
    std::unique_lock lock(server_->mu);
    if (auto e = CheckLocked("Create")) return std::unexpected(*e);
    nlohmann::json body = object;
    const std::string ns = NamespaceOf(resource, body);
    std::string name = MetaString(body, "name");
    if (name.empty() && !MetaString(body, "generateName").empty()) {
      name = MetaString(body, "generateName") + NextSuffixLocked();
    }
    KubeWrite& write = RecordWriteLocked("Create", resource, ns, name, "", object);
    if (name.empty()) return std::unexpected(Invalid("metadata.name is required"));
    if (FindLocked(resource, ns, name) != nullptr) {
      return std::unexpected(KubeError{KubeError::Kind::kConflict, 409, "AlreadyExists",
                                       resource.plural + " \"" + name + "\" already exists"});
    }
    body.erase("status");
    body["metadata"]["name"] = name;
    nlohmann::json stored = InsertLocked(resource, ns, std::move(body));
    write.succeeded = write.changed = true;
    return stored;
  }

  KubeResult<nlohmann::json> Update(const Resource& resource,
                                    const nlohmann::json& object) override {
    std::unique_lock lock(server_->mu);
    if (auto e = CheckLocked("Update")) return std::unexpected(*e);
    const std::string ns = NamespaceOf(resource, object);
    const std::string name = MetaString(object, "name");
    KubeWrite& write = RecordWriteLocked("Update", resource, ns, name, "", object);
    nlohmann::json* stored = FindLocked(resource, ns, name);
    if (stored == nullptr) return std::unexpected(NotFound(resource, name));
    const std::string sent_rv = MetaString(object, "resourceVersion");
    if (!sent_rv.empty() && sent_rv != MetaString(*stored, "resourceVersion")) {
      return std::unexpected(StaleConflict(resource, name));
    }
    nlohmann::json next = object;
    if (stored->contains("status")) {
      next["status"] = (*stored)["status"];
    } else {
      next.erase("status");
    }
    KeepServerMetadata(*stored, next);
    write.changed = ReplaceLocked(resource, *stored, std::move(next), /*spec_may_change=*/true);
    write.succeeded = true;
    return *stored;
  }

  KubeResult<nlohmann::json> Apply(const Resource& resource, const nlohmann::json& object,
                                   std::string_view field_manager,
                                   std::string_view subresource = "") override {
    std::unique_lock lock(server_->mu);
    if (auto e = CheckLocked("Apply")) return std::unexpected(*e);
    const std::string ns = NamespaceOf(resource, object);
    const std::string name = MetaString(object, "name");
    KubeWrite& write =
        RecordWriteLocked("Apply", resource, ns, name, std::string(subresource), object);
    if (field_manager.empty()) return std::unexpected(Invalid("fieldManager is required"));
    if (name.empty()) return std::unexpected(Invalid("metadata.name is required"));
    if (resource.namespaced && ns.empty()) {
      return std::unexpected(Invalid("metadata.namespace is required"));
    }
    if (!subresource.empty() && subresource != "status") {
      return std::unexpected(NotFound(resource, name));
    }
    nlohmann::json* stored = FindLocked(resource, ns, name);
    if (subresource == "status") {
      if (stored == nullptr) return std::unexpected(NotFound(resource, name));
      nlohmann::json next = *stored;
      if (object.contains("status") && !object["status"].is_null()) {
        next["status"] = object["status"];
      } else {
        next.erase("status");
      }
      write.changed = ReplaceLocked(resource, *stored, std::move(next), /*spec_may_change=*/false);
      write.succeeded = true;
      return *stored;
    }
    nlohmann::json applied = object;
    applied.erase("status");
    if (applied.contains("metadata") && applied["metadata"].is_object()) {
      for (const char* field : kServerMetadata) applied["metadata"].erase(field);
    }
    const nlohmann::json fields = FieldSetOf(AppliedContent(applied));
    if (stored == nullptr) {
      nlohmann::json created = InsertLocked(resource, ns, std::move(applied));
      nlohmann::json* inserted = FindLocked(resource, ns, name);
      SetAppliedFields(*inserted, field_manager, fields);
      server_->log.back().event.object = *inserted;
      write.succeeded = write.changed = true;
      return *inserted;
    }
    nlohmann::json next = *stored;
    DeepMerge(next, applied);
    SetAppliedFields(next, field_manager, fields);
    write.changed = ReplaceLocked(resource, *stored, std::move(next), /*spec_may_change=*/true);
    write.succeeded = true;
    return *stored;
  }

  KubeResult<void> Delete(const Resource& resource, const std::string& namespace_name,
                          const std::string& name, const DeleteOptions& options = {}) override {
    std::unique_lock lock(server_->mu);
    if (auto e = CheckLocked("Delete")) return std::unexpected(*e);
    const std::string ns = resource.namespaced ? namespace_name : "";
    KubeWrite& write = RecordWriteLocked("Delete", resource, ns, name, "", nullptr);
    auto objects = server_->objects.find(ResourceKey(resource));
    if (objects == server_->objects.end()) return std::unexpected(NotFound(resource, name));
    auto it = objects->second.find({ns, name});
    if (it == objects->second.end()) return std::unexpected(NotFound(resource, name));
    if (!options.precondition_uid.empty() &&
        options.precondition_uid != MetaString(it->second, "uid")) {
      return std::unexpected(
          KubeError{KubeError::Kind::kConflict, 409, "Conflict",
                    "Precondition failed: UID in precondition: " + options.precondition_uid +
                        ", UID in object meta: " + MetaString(it->second, "uid")});
    }
    nlohmann::json last = std::move(it->second);
    objects->second.erase(it);
    last["metadata"]["resourceVersion"] = std::to_string(++server_->counter);
    AppendLocked(resource, WatchEvent::Type::kDeleted, std::move(last));
    write.succeeded = write.changed = true;
    return {};
  }

  // --- Calls with a timeout ---------------------------------------------------
  // Each records its timeout (CallTimeouts), then is held for the delay set
  // for its method (SetDelay) or until its timeout passes, whichever is first:
  // past its timeout it fails with kTransient, counted as a call, and changes
  // nothing; otherwise it runs as the call without a timeout. Waits are
  // measured on the clock's monotonic time (the steady clock without one), so
  // a test moves a held call along with FakeClock::Advance.

  KubeResult<nlohmann::json> GetWithin(const Resource& resource, const std::string& namespace_name,
                                       const std::string& name,
                                       std::chrono::nanoseconds timeout) override {
    if (auto e = Hold("Get", timeout)) return std::unexpected(*e);
    return Get(resource, namespace_name, name);
  }

  KubeResult<nlohmann::json> CreateWithin(const Resource& resource, const nlohmann::json& object,
                                          std::chrono::nanoseconds timeout) override {
    if (auto e = Hold("Create", timeout)) return std::unexpected(*e);
    return Create(resource, object);
  }

  KubeResult<nlohmann::json> UpdateWithin(const Resource& resource, const nlohmann::json& object,
                                          std::chrono::nanoseconds timeout) override {
    if (auto e = Hold("Update", timeout)) return std::unexpected(*e);
    return Update(resource, object);
  }

  // --- Test controls --------------------------------------------------------

  // Holds every later GetWithin, CreateWithin or UpdateWithin (`method`
  // "Get", "Create" or "Update") for `delay`, or until its timeout; zero
  // releases the calls held now.
  void SetDelay(const std::string& method, std::chrono::nanoseconds delay) {
    std::unique_lock lock(server_->mu);
    server_->delays[method] = delay;
    server_->cv.notify_all();
  }

  // Returns the number of calls held by SetDelay now.
  int HeldCalls() const {
    std::unique_lock lock(server_->mu);
    return server_->held;
  }

  // Returns the timeout of every GetWithin, CreateWithin or UpdateWithin
  // (`method` "Get", "Create" or "Update") so far, oldest first.
  std::vector<std::chrono::nanoseconds> CallTimeouts(const std::string& method) const {
    std::unique_lock lock(server_->mu);
    auto it = server_->timeouts.find(method);
    return it == server_->timeouts.end() ? std::vector<std::chrono::nanoseconds>() : it->second;
  }

  // Stores `object` (in its metadata.namespace) as if created or updated by
  // someone else: assigns uid / creationTimestamp / generation when missing,
  // a new resourceVersion, keeps .status, and logs ADDED or MODIFIED for
  // watches. Not counted as a call or recorded as a write. Returns it as stored.
  nlohmann::json Seed(const Resource& resource, nlohmann::json object) {
    std::unique_lock lock(server_->mu);
    const std::string ns = NamespaceOf(resource, object);
    const std::string name = MetaString(object, "name");
    nlohmann::json* stored = FindLocked(resource, ns, name);
    if (stored == nullptr) return InsertLocked(resource, ns, std::move(object));
    KeepServerMetadata(*stored, object);
    ReplaceLocked(resource, *stored, std::move(object), /*spec_may_change=*/true,
                  /*force_event=*/true);
    return *stored;
  }

  // Returns the stored object, without counting a call.
  std::optional<nlohmann::json> Object(const Resource& resource,
                                       const std::string& namespace_name,
                                       const std::string& name) const {
    std::unique_lock lock(server_->mu);
    const nlohmann::json* stored =
        const_cast<FakeKubeClient*>(this)->FindLocked(resource, namespace_name, name);
    if (stored == nullptr) return std::nullopt;
    return *stored;
  }

  // Returns every stored object of `resource`, ordered by namespace/name.
  std::vector<nlohmann::json> Objects(const Resource& resource) const {
    std::unique_lock lock(server_->mu);
    std::vector<nlohmann::json> out;
    auto it = server_->objects.find(ResourceKey(resource));
    if (it == server_->objects.end()) return out;
    for (const auto& [key, object] : it->second) out.push_back(object);
    return out;
  }

  // Returns the current resourceVersion (the global counter).
  std::string ResourceVersion() const {
    std::unique_lock lock(server_->mu);
    return std::to_string(server_->counter);
  }

  // Expires every event logged so far: a watch from an older resourceVersion
  // gets an ERROR event with a Status {code: 410, reason: "Expired"} (or,
  // after SetGoneAsError(true), Watch returns kGone), and an open stream that
  // has not yet delivered an expired event gets that ERROR event and ends.
  void Compact() {
    std::unique_lock lock(server_->mu);
    for (LogEntry& e : server_->log) e.expired = true;
    server_->compacted = server_->counter;
    server_->cv.notify_all();
  }

  // Makes Watch from an expired resourceVersion return KubeError kGone
  // instead of a stream whose first event is a 410 ERROR.
  void SetGoneAsError(bool gone_as_error) {
    std::unique_lock lock(server_->mu);
    server_->gone_as_error = gone_as_error;
  }

  // Sends a BOOKMARK with the current resourceVersion to every open stream that
  // allowed bookmarks, after the events it has not yet delivered.
  void SendBookmark() {
    std::unique_lock lock(server_->mu);
    for (const auto& s : server_->streams) {
      if (s->bookmarks) s->pending_bookmarks.push_back({server_->log.size(), server_->counter});
    }
    server_->cv.notify_all();
  }

  // Ends every open stream as the server does when a watch times out: Next
  // returns nullopt (after the events already queued for it).
  void CloseWatches() {
    std::unique_lock lock(server_->mu);
    for (const auto& s : server_->streams) s->close_position = server_->log.size();
    server_->streams.clear();
    server_->cv.notify_all();
  }

  // Breaks every open stream as a failed connection does: the next Next
  // returns `error` (default: a kTransient error), and the stream is over.
  void BreakWatches(std::optional<KubeError> error = std::nullopt) {
    std::unique_lock lock(server_->mu);
    for (const auto& s : server_->streams) {
      s->broken = error.value_or(
          KubeError{KubeError::Kind::kTransient, 0, "", "injected: watch connection reset"});
    }
    server_->streams.clear();
    server_->cv.notify_all();
  }

  // Returns the number of streams opened and neither closed, broken nor
  // destroyed.
  size_t OpenWatches() const {
    std::unique_lock lock(server_->mu);
    return server_->streams.size();
  }

  // Returns every Watch call so far (failed ones excluded), oldest first.
  std::vector<KubeWatchCall> WatchCalls() const {
    std::unique_lock lock(server_->mu);
    return server_->watch_calls;
  }

  // Returns every write request received so far, oldest first.
  std::vector<KubeWrite> Writes() const {
    std::unique_lock lock(server_->mu);
    return server_->writes;
  }

  // Forgets the recorded writes and watch calls.
  void ClearWrites() {
    std::unique_lock lock(server_->mu);
    server_->writes.clear();
    server_->watch_calls.clear();
  }

  // The error an injected failure carries unless the test gives one: a 503.
  static KubeError DefaultError(std::string_view method) {
    return KubeError{KubeError::Kind::kTransient, 503, "ServiceUnavailable",
                     "injected failure in " + std::string(method)};
  }

  // The next `n` calls of `method` (empty: of any method) fail with `error`
  // (default: DefaultError). Several requests queue up in order.
  void FailNext(int n, std::string method = "", std::optional<KubeError> error = {}) {
    if (n <= 0) return;
    std::unique_lock lock(server_->mu);
    server_->planned.push_back(Planned{n, std::move(method), std::move(error)});
  }

  // While `down`, every call fails with `error` (default: DefaultError).
  void SetDown(bool down, std::optional<KubeError> error = std::nullopt) {
    std::unique_lock lock(server_->mu);
    server_->down = down;
    server_->down_error = std::move(error);
  }

  // Forgets planned failures and the down state.
  void ClearFailures() {
    std::unique_lock lock(server_->mu);
    server_->planned.clear();
    server_->down = false;
    server_->down_error.reset();
  }

  // Returns the number of calls of `method` so far (empty: of every method),
  // failed ones included.
  int64_t Calls(std::string_view method = {}) const {
    std::unique_lock lock(server_->mu);
    if (method.empty()) {
      int64_t total = 0;
      for (const auto& [m, n] : server_->calls) total += n;
      return total;
    }
    auto it = server_->calls.find(std::string(method));
    return it == server_->calls.end() ? 0 : it->second;
  }

 private:
  static constexpr const char* kServerMetadata[] = {"resourceVersion", "uid", "generation",
                                                    "creationTimestamp", "managedFields"};

  struct LogEntry {
    uint64_t rv = 0;
    std::string resource_key;
    WatchEvent event;
    bool expired = false;
  };

  struct StreamState {
    std::string resource_key;
    std::string namespace_name;
    std::string label_selector;
    bool bookmarks = false;
    std::deque<WatchEvent> initial;
    bool end_after_initial = false;
    size_t position = 0;  // the next log entry to consider
    std::deque<std::pair<size_t, uint64_t>> pending_bookmarks;  // {log position, rv}
    bool cancelled = false;
    std::optional<size_t> close_position;  // set by CloseWatches: no entries from here on
    bool ended = false;
    std::optional<KubeError> broken;
  };

  struct Planned {
    int remaining = 0;
    std::string method;
    std::optional<KubeError> error;
  };

  using ObjectKey = std::pair<std::string, std::string>;  // {namespace, name}

  struct Server {
    std::mutex mu;
    std::condition_variable cv;
    std::map<std::string, std::map<ObjectKey, nlohmann::json>> objects;  // by ResourceKey
    uint64_t counter = 0;
    uint64_t uids = 0;
    uint64_t compacted = 0;
    bool gone_as_error = false;
    std::vector<LogEntry> log;
    std::vector<std::shared_ptr<StreamState>> streams;
    std::vector<KubeWrite> writes;
    std::vector<KubeWatchCall> watch_calls;
    std::vector<Planned> planned;
    std::map<std::string, int64_t> calls;
    bool down = false;
    std::optional<KubeError> down_error;
    std::map<std::string, std::chrono::nanoseconds> delays;                 // by method
    std::map<std::string, std::vector<std::chrono::nanoseconds>> timeouts;  // by method
    int held = 0;
  };

  class Stream : public WatchStream {
   public:
    Stream(std::shared_ptr<Server> server, std::shared_ptr<StreamState> state)
        : server_(std::move(server)), state_(std::move(state)) {}

    ~Stream() override {
      std::unique_lock lock(server_->mu);
      std::erase(server_->streams, state_);
    }

    KubeResult<std::optional<WatchEvent>> Next() override {
      std::unique_lock lock(server_->mu);
      StreamState& s = *state_;
      while (true) {
        if (s.cancelled || s.ended) return std::optional<WatchEvent>();
        if (s.broken) {
          s.ended = true;
          return std::unexpected(*s.broken);
        }
        if (!s.initial.empty()) {
          WatchEvent e = std::move(s.initial.front());
          s.initial.pop_front();
          if (s.initial.empty() && s.end_after_initial) s.ended = true;
          return std::optional<WatchEvent>(std::move(e));
        }
        if (!s.pending_bookmarks.empty() && s.pending_bookmarks.front().first <= s.position) {
          const uint64_t rv = s.pending_bookmarks.front().second;
          s.pending_bookmarks.pop_front();
          return std::optional<WatchEvent>(WatchEvent{WatchEvent::Type::kBookmark, BookmarkObject(rv)});
        }
        if (s.position < s.close_position.value_or(server_->log.size())) {
          const LogEntry& entry = server_->log[s.position];
          if (entry.resource_key != s.resource_key ||
              !Matches(entry.event.object, s.namespace_name, s.label_selector)) {
            ++s.position;
            continue;
          }
          if (entry.expired) {
            s.ended = true;
            const uint64_t from = s.position == 0 ? 0 : server_->log[s.position - 1].rv;
            return std::optional<WatchEvent>(
                WatchEvent{WatchEvent::Type::kError, GoneStatus(Gone(from, server_->compacted))});
          }
          ++s.position;
          return std::optional<WatchEvent>(entry.event);
        }
        if (s.close_position) return std::optional<WatchEvent>();
        server_->cv.wait(lock);
      }
    }

    void Cancel() override {
      std::unique_lock lock(server_->mu);
      state_->cancelled = true;
      server_->cv.notify_all();
    }

   private:
    nlohmann::json BookmarkObject(uint64_t rv) const {
      return nlohmann::json{{"kind", "Bookmark"},
                            {"metadata", {{"resourceVersion", std::to_string(rv)}}}};
    }

    std::shared_ptr<Server> server_;
    std::shared_ptr<StreamState> state_;
  };

  // Returns "plural.group", or "plural" for the core API.
  static std::string ResourceKey(const Resource& r) {
    return r.group.empty() ? r.plural : r.plural + "." + r.group;
  }

  static std::string MetaString(const nlohmann::json& object, const char* field) {
    if (!object.is_object()) return "";
    auto m = object.find("metadata");
    if (m == object.end() || !m->is_object()) return "";
    auto f = m->find(field);
    return f != m->end() && f->is_string() ? f->get<std::string>() : "";
  }

  static std::string NamespaceOf(const Resource& r, const nlohmann::json& object) {
    return r.namespaced ? MetaString(object, "namespace") : "";
  }

  static std::optional<uint64_t> ParseVersion(const std::string& rv) {
    if (rv.empty() || rv.size() > 19) return std::nullopt;
    uint64_t v = 0;
    for (char c : rv) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    return v;
  }

  // Returns whether `object` is in `namespace_name` ("" = any) and matches
  // `selector`: comma-separated "k=v", "k==v", "k!=v", "k" (exists), "!k".
  static bool Matches(const nlohmann::json& object, const std::string& namespace_name,
                      const std::string& selector) {
    if (!namespace_name.empty() && MetaString(object, "namespace") != namespace_name) {
      return false;
    }
    if (selector.empty()) return true;
    nlohmann::json labels = nlohmann::json::object();
    if (object.contains("metadata") && object["metadata"].contains("labels") &&
        object["metadata"]["labels"].is_object()) {
      labels = object["metadata"]["labels"];
    }
    size_t start = 0;
    while (start <= selector.size()) {
      size_t end = selector.find(',', start);
      if (end == std::string::npos) end = selector.size();
      const std::string term = selector.substr(start, end - start);
      start = end + 1;
      if (term.empty()) continue;
      const size_t ne = term.find("!=");
      const size_t eq = term.find('=');
      if (ne != std::string::npos) {
        const std::string k = term.substr(0, ne);
        if (labels.contains(k) && labels[k] == term.substr(ne + 2)) return false;
      } else if (eq != std::string::npos) {
        const std::string k = term.substr(0, eq);
        const size_t v = term.compare(eq, 2, "==") == 0 ? eq + 2 : eq + 1;
        if (!labels.contains(k) || labels[k] != term.substr(v)) return false;
      } else if (term[0] == '!') {
        if (labels.contains(term.substr(1))) return false;
      } else if (!labels.contains(term)) {
        return false;
      }
    }
    return true;
  }

  // Merges `patch` into `target`: objects merge recursively, arrays and
  // scalars replace, a null removes the key.
  static void DeepMerge(nlohmann::json& target, const nlohmann::json& patch) {
    if (!patch.is_object() || !target.is_object()) {
      target = patch;
      return;
    }
    for (const auto& [k, v] : patch.items()) {
      if (v.is_null()) {
        target.erase(k);
      } else if (v.is_object() && target.contains(k) && target[k].is_object()) {
        DeepMerge(target[k], v);
      } else {
        target[k] = v;
      }
    }
  }

  // The fieldsV1 set of an applied object: "f:" per member, every list atomic.
  static nlohmann::json FieldSetOf(const nlohmann::json& value) {
    nlohmann::json out = nlohmann::json::object();
    if (!value.is_object()) return out;
    for (auto it = value.begin(); it != value.end(); ++it) {
      out["f:" + it.key()] = FieldSetOf(it.value());
    }
    return out;
  }

  // Records `fields` as `manager`'s Apply entry in `object`'s managedFields.
  static void SetAppliedFields(nlohmann::json& object, std::string_view manager,
                               const nlohmann::json& fields) {
    nlohmann::json& managed = object["metadata"]["managedFields"];
    if (!managed.is_array()) managed = nlohmann::json::array();
    nlohmann::json entry = {{"manager", std::string(manager)},
                            {"operation", "Apply"},
                            {"apiVersion", object.value("apiVersion", "")},
                            {"fieldsType", "FieldsV1"},
                            {"fieldsV1", fields}};
    for (nlohmann::json& e : managed) {
      if (e.value("manager", "") == manager && e.value("operation", "") == "Apply" &&
          e.value("subresource", "").empty()) {
        e = std::move(entry);
        return;
      }
    }
    managed.push_back(std::move(entry));
  }

  // Copies the server-managed metadata of `stored` into `next`.
  static void KeepServerMetadata(const nlohmann::json& stored, nlohmann::json& next) {
    for (const char* field : kServerMetadata) {
      if (stored["metadata"].contains(field)) {
        next["metadata"][field] = stored["metadata"][field];
      } else if (next.contains("metadata")) {
        next["metadata"].erase(field);
      }
    }
  }

  static KubeError NotFound(const Resource& r, const std::string& name) {
    return KubeError{KubeError::Kind::kNotFound, 404, "NotFound",
                     r.plural + " \"" + name + "\" not found"};
  }

  static KubeError Invalid(const std::string& message) {
    return KubeError{KubeError::Kind::kInvalid, 422, "Invalid", message};
  }

  static KubeError StaleConflict(const Resource& r, const std::string& name) {
    return KubeError{KubeError::Kind::kConflict, 409, "Conflict",
                     "Operation cannot be fulfilled on " + r.plural + " \"" + name +
                         "\": the object has been modified; please apply your changes to the "
                         "latest version and try again"};
  }

  static KubeError Gone(uint64_t from, uint64_t compacted) {
    return KubeError{KubeError::Kind::kGone, 410, "Expired",
                     "too old resource version: " + std::to_string(from) + " (" +
                         std::to_string(compacted) + ")"};
  }

  static nlohmann::json GoneStatus(const KubeError& e) {
    return nlohmann::json{{"apiVersion", "v1"}, {"kind", "Status"},       {"metadata", nlohmann::json::object()},
                          {"status", "Failure"}, {"message", e.message}, {"reason", e.reason},
                          {"code", e.http_status}};
  }

  MonoTime MonotonicNow() const {
    return clock_ != nullptr ? clock_->Monotonic() : std::chrono::steady_clock::now();
  }

  // Records a call of `method` with `timeout` and holds it as SetDelay says.
  // Returns the error of a call held past its timeout.
  std::optional<KubeError> Hold(const std::string& method, std::chrono::nanoseconds timeout) {
    std::unique_lock lock(server_->mu);
    server_->timeouts[method].push_back(timeout);
    const MonoTime start = MonotonicNow();
    ++server_->held;
    for (;;) {
      const std::chrono::nanoseconds waited = MonotonicNow() - start;
      if (waited >= server_->delays[method]) break;
      if (waited >= timeout) {
        --server_->held;
        ++server_->calls[method];
        return KubeError{KubeError::Kind::kTransient, 0, "",
                         method + ": no answer within " +
                             std::to_string(std::chrono::duration<double>(timeout).count()) +
                             " s (injected delay)"};
      }
      server_->cv.wait_for(lock, std::chrono::milliseconds(1));
    }
    --server_->held;
    return std::nullopt;
  }

  std::optional<KubeError> CheckLocked(std::string_view method) {
    ++server_->calls[std::string(method)];
    if (server_->down) return server_->down_error.value_or(DefaultError(method));
    for (auto it = server_->planned.begin(); it != server_->planned.end(); ++it) {
      if (!it->method.empty() && it->method != method) continue;
      KubeError e = it->error.value_or(DefaultError(method));
      if (--it->remaining <= 0) server_->planned.erase(it);
      return e;
    }
    return std::nullopt;
  }

  KubeWrite& RecordWriteLocked(std::string method, const Resource& r, const std::string& ns,
                               const std::string& name, std::string subresource,
                               nlohmann::json body) {
    server_->writes.push_back(KubeWrite{std::move(method), r.plural, ns, name,
                                        std::move(subresource), std::move(body), false, false});
    return server_->writes.back();
  }

  nlohmann::json* FindLocked(const Resource& r, const std::string& namespace_name,
                             const std::string& name) {
    auto objects = server_->objects.find(ResourceKey(r));
    if (objects == server_->objects.end()) return nullptr;
    auto it = objects->second.find({r.namespaced ? namespace_name : "", name});
    return it == objects->second.end() ? nullptr : &it->second;
  }

  std::string NextSuffixLocked() { return ZeroPadded(++server_->uids % 100000, 5); }

  static std::string ZeroPadded(uint64_t n, size_t width) {
    std::string digits = std::to_string(n);
    return digits.size() >= width ? digits : std::string(width - digits.size(), '0') + digits;
  }

  // Stores a new object, filling in the server's fields; logs ADDED.
  nlohmann::json InsertLocked(const Resource& r, const std::string& ns, nlohmann::json object) {
    object["apiVersion"] = r.ApiVersion();
    object["kind"] = r.kind;
    nlohmann::json& meta = object["metadata"];
    if (r.namespaced) {
      meta["namespace"] = ns;
    } else {
      meta.erase("namespace");
    }
    if (!meta.contains("uid")) {
      meta["uid"] = "00000000-0000-4000-8000-" + ZeroPadded(++server_->uids, 12);
    }
    if (!meta.contains("creationTimestamp")) {
      meta["creationTimestamp"] = FormatRfc3339(
          std::chrono::floor<std::chrono::seconds>(clock_ ? clock_->Now() : kDefaultTime));
    }
    if (!meta.contains("generation")) meta["generation"] = 1;
    meta.erase("managedFields");
    meta["resourceVersion"] = std::to_string(++server_->counter);
    const std::string name = meta.value("name", "");
    nlohmann::json& stored = server_->objects[ResourceKey(r)][{ns, name}];
    stored = std::move(object);
    AppendLocked(r, WatchEvent::Type::kAdded, stored);
    return stored;
  }

  // Makes `next` the stored object when it differs from `stored` (or
  // `force_event`): a new resourceVersion, generation+1 when `spec_may_change`
  // and .spec differs; logs MODIFIED. Returns whether it changed.
  bool ReplaceLocked(const Resource& r, nlohmann::json& stored, nlohmann::json next,
                     bool spec_may_change, bool force_event = false) {
    next["apiVersion"] = r.ApiVersion();
    next["kind"] = r.kind;
    next["metadata"]["resourceVersion"] = stored["metadata"]["resourceVersion"];
    next["metadata"]["generation"] = stored["metadata"].value("generation", 1);
    if (r.namespaced) next["metadata"]["namespace"] = stored["metadata"]["namespace"];
    next["metadata"]["name"] = stored["metadata"]["name"];
    if (next == stored && !force_event) return false;
    const nlohmann::json no_spec;
    const nlohmann::json& old_spec = stored.contains("spec") ? stored["spec"] : no_spec;
    const nlohmann::json& new_spec = next.contains("spec") ? next["spec"] : no_spec;
    if (spec_may_change && old_spec != new_spec) {
      next["metadata"]["generation"] = next["metadata"]["generation"].get<int64_t>() + 1;
    }
    next["metadata"]["resourceVersion"] = std::to_string(++server_->counter);
    stored = std::move(next);
    AppendLocked(r, WatchEvent::Type::kModified, stored);
    return true;
  }

  void AppendLocked(const Resource& r, WatchEvent::Type type, nlohmann::json object) {
    server_->log.push_back(
        LogEntry{server_->counter, ResourceKey(r), WatchEvent{type, std::move(object)}, false});
    server_->cv.notify_all();
  }

  static constexpr TimePoint kDefaultTime = TimePoint(std::chrono::seconds(1795789800));

  std::shared_ptr<Server> server_;
  const Clock* clock_;
};

}  // namespace pricing::op::fakes
