// The durable audit trail (docs/design.md §2.3: no audit record may be lost, not on
// a crash, not while PostgreSQL or Redis is down).
//
// AuditSpool is a local write-ahead spool in front of the audit store of
// record. Append() hands a record to a single writer thread that group-commits:
// everything queued goes to the active segment file in one write() and one
// fdatasync(), then every waiting `done` fires (on the thread that appended
// it, when that thread is an event loop). An event loop's records wake the
// writer once the loop has finished what it is running (all the requests one
// poll found ready), not one by one, so a busy loop's requests share a
// commit; any other thread's record wakes it at once. A drainer thread reads the
// segments in order and delivers them in batches to a sink (PostgreSQL's
// InsertAuditBatch, or a FileAuditStore in embedded mode), retrying with
// backoff while the sink is down. The records of recent commits stay in memory
// too (a bounded number), so in the steady state the drainer delivers them
// without reading back and parsing what the writer just wrote; it reads the
// segments for whatever memory does not hold (after a restart, or a backlog
// past the bound). A segment is deleted only after all of its
// records were accepted, and a persisted cursor avoids re-sending. Re-sending
// (after a crash between delivery and cursor update) is harmless because the
// sinks are idempotent on calculation_id.
//
// On disk (directory `options.directory`): `segment-<20-digit seq>.spool`
// files, each an 8-byte magic followed by frames
//   [u32 little-endian payload length][u32 CRC-32 of payload][payload]
// where the payload is SerializeAuditRecord() (never empty, so a zero length
// marks the preallocated end of the active segment); `cursor` (the first unacked
// frame, replaced atomically); `LOCK` (flock: one process per directory); and
// `dead-letter.jsonl` (records the sink refused terminally, or that no longer
// parse: one JSON object per line, {"reason":…,"record":…}, appended under the
// file's flock and synced; RedriveDeadLetters sends them again). A torn tail
// left by a crash fails the length/CRC check and is truncated on start-up;
// every complete record before it is delivered. Damage inside a segment (a
// frame whose length or CRC is wrong) is skipped up to the next intact frame,
// at start-up and while draining, and counted: the records after it are kept.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <vector>

#include "adapters/callback_home.h"
#include "engine/error.h"
#include "engine/ports.h"

namespace pricing::engine {

// Returns `record` as one line of JSON (no newline): every field of
// AuditRecord, decimals as exact decimal text, sources by wire name, the time
// as RFC 3339 UTC with nanoseconds plus integer nanoseconds since the epoch.
std::string SerializeAuditRecord(const AuditRecord& record);

// Returns the record SerializeAuditRecord() wrote, exactly; kCalculationError
// on malformed input.
Result<AuditRecord> ParseAuditRecord(std::string_view json);

// Stores a batch of records in the audit store of record. Must be idempotent
// on calculation_id. Errors with kServiceUnavailable are transient (retried
// forever with backoff); any other error is terminal for the records involved
// (retried one record at a time, then dead-lettered).
using AuditBatchSink = std::function<Result<void>(const std::vector<AuditRecord>&)>;

struct AuditSpoolOptions {
  std::string directory;  // created if missing
  // true: a record is durable (done fires) after fdatasync — survives power
  // loss. false: after write() — survives kill -9 of the process only.
  bool fsync = true;
  size_t max_segment_bytes = 64u << 20;               // roll the active segment past this size
  std::chrono::milliseconds max_segment_age{60'000};  // or when this old and non-empty
  // The active segment is extended with zeros this much ahead of its records,
  // so a group commit overwrites blocks the file system has already
  // allocated and its fdatasync flushes data without a journal commit for the
  // file's size. A closed segment is cut back to its records; after a crash,
  // recovery drops the zeros. 0: plain appends.
  size_t preallocate_bytes = 1u << 20;
  // Writable() is false while the spool's file system has less than this
  // free (for an unprivileged process): a process about to fail its writes
  // should stop taking prices first. 0: only a failed write counts.
  uint64_t min_free_bytes = 4u << 20;
  size_t batch_size = 500;                            // records per sink call
  // Committed records kept in memory for the drainer, at most. While the sink
  // keeps up, every record is delivered from memory; past this many waiting
  // (the sink down or slow), new commits are left to the segments until the
  // drainer has caught up. 0: the drainer always reads the segments.
  size_t memory_records = 16384;
  // While fewer than batch_size records wait in the active segment, the
  // drainer waits this long (from when the first of them became durable)
  // for more, so that a steady stream reaches the sink in full batches
  // rather than one small transaction per group commit. Records are durable
  // in the spool meanwhile; this only delays their copy in the sink. 0: send
  // every commit at once.
  std::chrono::milliseconds drain_linger{50};
  std::chrono::milliseconds retry_initial{100};       // sink backoff, doubling
  std::chrono::milliseconds retry_max{5'000};
  int terminal_attempts = 3;  // tries of a single record refused terminally
  // The delivery cursor is persisted at most this often (and at Close). A
  // crash re-sends at most this much, which the idempotent sinks ignore.
  std::chrono::milliseconds cursor_sync_interval{200};
  // Operational messages (torn tail truncated, sink down, dead-lettered
  // records). May be called from the spool's threads. Null: silent.
  std::function<void(std::string_view)> log;
  // Called on the writer thread with the time of each group commit's
  // fdatasync (only when `fsync`), whether it succeeded or not: every record
  // of the commit waited that long. Must be quick. Null: not observed.
  std::function<void(std::chrono::nanoseconds)> on_sync;
  // Called once per record written to dead-letter.jsonl, and with the size of
  // each unreadable stretch skipped inside a segment. Null: not observed.
  std::function<void()> on_dead_letter;
  std::function<void(int64_t bytes)> on_damage;
};

class AuditSpool : public AuditSink {
 public:
  struct Stats {
    int64_t recovered_records = 0;  // found undelivered in the spool at Open
    int64_t truncated_bytes = 0;    // torn tails removed at Open
    int64_t commits = 0;            // group commits (one write + one fdatasync) since Open
    int64_t delivered_records = 0;  // accepted by the sink since Open
    int64_t delivered_from_memory = 0;  // of those, taken from memory, not read from a segment
    int64_t sink_failures = 0;      // failed sink calls since Open
    int64_t dead_lettered = 0;      // records moved to dead-letter.jsonl
    int64_t damaged_regions = 0;    // unreadable stretches skipped inside segments
    int64_t damaged_bytes = 0;      // their bytes
    int64_t segments = 0;           // segment files currently on disk
  };

  // Opens (creating if needed) the spool in options.directory, recovers its
  // segments and starts the writer and drainer threads. Fails with
  // kServiceUnavailable if the directory cannot be used or another process
  // holds it.
  static Result<std::unique_ptr<AuditSpool>> Open(AuditSpoolOptions options, AuditBatchSink sink);

  // Close(drain_timeout = 2 s).
  ~AuditSpool() override;
  AuditSpool(const AuditSpool&) = delete;
  AuditSpool& operator=(const AuditSpool&) = delete;

  // Queues `record`; `done` fires once it is durable (ok), or with
  // kServiceUnavailable if it could not be written or the spool is closed.
  // Never blocks on I/O. Appended on a thread with a home (an HTTP event
  // loop, callback_home.h), `done` is handed back to run there, together
  // with the other callbacks of the same commit from that thread; otherwise
  // it runs on the writer thread (or inline when the spool is closed) and
  // must be quick: the next group commit waits for it.
  void Append(AuditRecord record, std::function<void(Result<void>)> done) override;

  // Records accepted by Append (or recovered at Open) and not yet accepted by
  // the sink.
  int64_t Pending() const override;

  // Returns true once Pending() is 0, false if `timeout` passes first.
  bool WaitUntilDrained(std::chrono::milliseconds timeout) const;

  // Stops accepting records, makes every queued one durable (firing its
  // `done`), keeps delivering to the sink for at most `drain_timeout`, then
  // stops both threads. What was not delivered stays in the spool for the next
  // Open. With `until_sink_fails`, the drain also ends as soon as a sink call
  // fails (at once if the last one failed): for a caller that hands off next
  // rather than wait out an outage. Idempotent.
  void Close(std::chrono::milliseconds drain_timeout = std::chrono::milliseconds(2000),
             bool until_sink_fails = false);

  // After Close: delivers the records still pending to `to` instead of the
  // sink, on the calling thread, for at most `timeout` (retrying `to` as the
  // drainer retries the sink). `to` takes the sink's duties: a record counts
  // as delivered once it accepts it, so it must keep the record durably (a
  // peer's spool). Returns how many records `to` accepted; what it did not
  // stays in the spool for the next Open. Call once.
  int64_t HandOff(AuditBatchSink to, std::chrono::milliseconds timeout);

  Stats stats() const;

  // Whether a record appended now can be made durable, for readiness: false
  // while the file system holds less than min_free_bytes, or after a failed
  // write until a probe write (a small file, written, synced and removed)
  // succeeds. Reads the file system; call from a prober, not per request.
  bool Writable() const;
  // Bytes free to this process on the spool's file system; -1 when it cannot
  // be read.
  int64_t FreeBytes() const;

 private:
  struct Segment {
    uint64_t seq = 0;
    uint64_t size = 0;    // durable bytes (header included)
    int64_t records = 0;  // durable records
    bool closed = false;  // no more writes
  };
  using Done = std::function<void(Result<void>)>;
  // A queued record's callback, and the home of the thread that appended it
  // (null: none), where the callback runs.
  struct Waiter {
    Done done;
    CallbackHome* home = nullptr;
  };
  struct Frame {
    std::string payload;
    uint64_t end = 0;  // offset just past the frame
  };
  // A committed record kept for the drainer, and where its frame is.
  struct Committed {
    uint64_t seq = 0;
    uint64_t start = 0;  // offset of the frame in segment `seq`
    uint64_t end = 0;    // offset just past it
    AuditRecord record;
  };

  AuditSpool(AuditSpoolOptions options, AuditBatchSink sink);

  Result<void> Recover();
  bool ProbeWrite() const;
  Result<void> OpenActiveSegment(uint64_t seq);
  void WriterLoop();
  // Writes `frames` (the frames of `records`, whose callbacks are `batch`, in
  // order) in one write and one fdatasync, keeps the records for the drainer,
  // then fires the callbacks.
  void WriteBatch(std::vector<Waiter>* batch, const std::string& frames,
                  std::vector<AuditRecord>* records);
  // Calls every callback of `batch` with `result`: each one appended on a
  // thread with a home is handed back there, all of that home's in one post;
  // the others run here.
  static void Complete(std::vector<Waiter>* batch, const Result<void>& result);
  // Moves the committed records (frame offsets from `start`) to committed_,
  // unless it is full. REQUIRES: drain_mu_ held.
  void KeepCommitted(uint64_t start, const std::string& frames, std::vector<AuditRecord>* records);
  // Moves from committed_ to `records` the records of segment `seq` from
  // `offset` up to `limit`, at most batch_size, if memory holds the one at
  // `offset`, and returns the offset just past the last one moved (`offset`
  // when none was); drops the ones the cursor has passed. REQUIRES: drain_mu_
  // held.
  uint64_t TakeCommitted(uint64_t seq, uint64_t offset, uint64_t limit,
                         std::vector<AuditRecord>* records);
  void RollLocked();
  // Closes the active segment, cutting off its preallocated zeros.
  void CloseActiveSegment();
  void DrainerLoop();
  void DrainUntilStopped();
  // Reads up to batch_size frames of segment `seq` in [offset, limit),
  // skipping damage, and sets `end` past what it read (or skipped). Fails
  // only when the file cannot be read.
  Result<std::vector<Frame>> ReadFrames(uint64_t seq, uint64_t offset, uint64_t limit,
                                        uint64_t* end);
  // Delivers `records` (parsed from `payloads`, or from memory when
  // `payloads` is empty) until the sink accepts them or the drainer must stop;
  // records the sink refuses terminally are isolated by halving and
  // dead-lettered, without delaying the others. Returns false when stopped
  // before delivery.
  bool Deliver(std::vector<AuditRecord> records, const std::vector<std::string>& payloads);
  // Moves the cursor past the `frames` frames of segment `seq` up to `end`,
  // of which `delivered` reached the sink (the others were dead-lettered), and
  // persists it if it is due.
  void Delivered(uint64_t seq, uint64_t end, size_t frames, size_t delivered);
  // Appends the record to dead-letter.jsonl durably. Returns false (logged)
  // if it could not, and the record must stay in the spool.
  bool DeadLetter(const std::string& payload, std::string_view why);
  // Replaces the file at `path` with `content` atomically (and durably with fsync).
  Result<void> ReplaceFile(const std::string& path, std::string_view content);
  Result<void> PersistCursor(uint64_t seq, uint64_t offset);
  // Sleeps `delay` or until the drainer is told to give up. Returns false if it must stop.
  bool Backoff(std::chrono::milliseconds delay);
  bool MustStopDraining() const;  // REQUIRES: drain_mu_ held
  void Log(std::string_view message) const;
  std::string SegmentPath(uint64_t seq) const;

  const AuditSpoolOptions options_;
  const AuditBatchSink sink_;
  // Set by HandOff once both threads have stopped; replaces sink_ from then on.
  AuditBatchSink handoff_;
  int lock_fd_ = -1;
  int dir_fd_ = -1;

  std::atomic<int64_t> pending_{0};
  std::atomic<int64_t> commits_{0};
  std::atomic<int64_t> delivered_{0};
  std::atomic<int64_t> delivered_from_memory_{0};
  std::atomic<int64_t> sink_failures_{0};
  std::atomic<int64_t> dead_lettered_{0};
  std::atomic<int64_t> damaged_regions_{0};
  std::atomic<int64_t> damaged_bytes_{0};
  // The last group commit failed; cleared by the next that succeeds or by a
  // successful probe in Writable().
  mutable std::atomic<bool> write_failed_{false};
  int64_t recovered_records_ = 0;
  int64_t truncated_bytes_ = 0;

  // What wakes the writer. Shared with the wake-ups posted to event loops,
  // which may run after the spool is gone.
  struct WriterWake {
    std::mutex mu;
    std::condition_variable cv;
    bool woken = false;  // records queued since the writer last took the queue are due
    // Homes holding a posted wake-up that has not run yet: one per loop at a time.
    std::vector<CallbackHome*> posted;
    // Marks the queue due and wakes the writer. REQUIRES: mu held.
    void Wake();
  };
  // Writer side. queue_, queue_frames_, queue_records_ and closing_ are
  // guarded by wake_->mu.
  const std::shared_ptr<WriterWake> wake_ = std::make_shared<WriterWake>();
  std::vector<Waiter> queue_;  // one per queued record, in order
  std::string queue_frames_;  // the queued records' frames, in the same order
  std::vector<AuditRecord> queue_records_;  // the queued records, in the same order
  bool closing_ = false;
  // Owned by the writer thread (and by Open before it starts).
  int active_fd_ = -1;
  uint64_t active_seq_ = 0;
  uint64_t active_size_ = 0;       // header and durable frames
  uint64_t active_allocated_ = 0;  // the file's size: frames, then zeros
  int64_t active_records_ = 0;
  std::chrono::steady_clock::time_point active_since_{};

  // Shared between writer and drainer, guarded by drain_mu_.
  mutable std::mutex drain_mu_;
  mutable std::condition_variable drain_cv_;
  std::deque<Segment> segments_;  // on disk, ascending seq; the last may be active
  bool stop_draining_ = false;
  std::chrono::steady_clock::time_point drain_deadline_{};
  bool drain_until_sink_fails_ = false;  // Close's until_sink_fails, while draining
  bool sink_failing_ = false;            // the last sink call failed
  // Drainer position: the next frame to deliver.
  uint64_t cursor_seq_ = 0;
  uint64_t cursor_offset_ = 0;
  int64_t cursor_records_ = 0;  // records of cursor_seq_ before cursor_offset_
  bool drainer_lingering_ = false;  // the drainer waits out drain_linger
  // Committed records not delivered yet, in commit order, as one run with no
  // gap: once a commit finds it full, none is added until it is empty again.
  std::deque<Committed> committed_;
  bool committed_full_ = false;
  // Owned by the drainer thread: the last cursor written to disk.
  uint64_t persisted_seq_ = 0;
  uint64_t persisted_offset_ = 0;
  std::chrono::steady_clock::time_point persisted_at_{};

  std::mutex dead_letter_mu_;
  std::once_flag close_once_;
  std::thread writer_;
  std::thread drainer_;
};

// What RedriveDeadLetters did.
struct RedriveStats {
  int64_t redriven = 0;    // accepted by the sink: no longer dead letters
  int64_t refused = 0;     // refused again: kept, with the new reason
  int64_t unreadable = 0;  // lines holding no record: kept as they were
};

// Sends the dead letters of the spool in `directory` to `sink` again (the
// `pricing-engine audit redrive` command). Safe while a spool runs on the
// same directory: the current dead-letter.jsonl is claimed by an atomic
// rename under its lock, and new dead letters start a new file. A claimed
// file is removed only once each of its lines is stored or written back as a
// dead letter, so a crash or an unavailable sink (kServiceUnavailable) leaves
// it for the next redrive, which re-sends it (the sinks are idempotent).
Result<RedriveStats> RedriveDeadLetters(const std::string& directory, const AuditBatchSink& sink,
                                        bool fsync = true);

// The audit store of record in embedded mode: an append-only JSON-lines file,
// one SerializeAuditRecord() per line. InsertBatch is idempotent for recently
// stored calculation_ids (the last `dedup_window`, loaded from the file's tail
// at Open), which covers every re-send the spool can make. Thread-safe.
class FileAuditStore {
 public:
  // Opens `path` for appending (creating it), dropping a torn last line.
  static Result<std::unique_ptr<FileAuditStore>> Open(std::string path, bool fsync = true,
                                                      size_t dedup_window = 100'000);
  ~FileAuditStore();
  FileAuditStore(const FileAuditStore&) = delete;
  FileAuditStore& operator=(const FileAuditStore&) = delete;

  // Appends the records not stored yet with one write() (and one fdatasync).
  // Returns kServiceUnavailable if the file cannot be written.
  Result<void> InsertBatch(const std::vector<AuditRecord>& records);

  // Returns every record of the file at `path`, in order.
  static Result<std::vector<AuditRecord>> ReadAll(const std::string& path);

 private:
  FileAuditStore(std::string path, int fd, bool fsync, size_t dedup_window);
  void Remember(const std::string& id);  // REQUIRES: mu_ held

  const std::string path_;
  const int fd_;
  const bool fsync_;
  const size_t dedup_window_;
  std::mutex mu_;
  std::deque<std::string> recent_order_;
  std::unordered_set<std::string> recent_;
};

}  // namespace pricing::engine
