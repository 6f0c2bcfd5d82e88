// Audit spool throughput: records/s from Append to `done` (durable) with
// concurrent callers, delivered to a FileAuditStore (embedded mode) or a null
// sink, compared with the naive design measured in the same run: one write()
// + one fdatasync() per record.
//
//   audit_spool_bench [--records N] [--threads T] [--fsync 0|1] [--sink file|null] [--dir D]
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "adapters/audit_spool.h"
#include "audit_test_util.h"

namespace {

using pricing::engine::AuditRecord;
using pricing::engine::AuditSpool;
using pricing::engine::AuditSpoolOptions;
using pricing::engine::FileAuditStore;
using pricing::engine::Result;
using pricing::engine::SerializeAuditRecord;
using pricing::engine::testing::MakeAuditRecord;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

// Records/s of write() + fdatasync() per record, `n` records.
double NaiveRate(const std::string& dir, int n, bool fsync) {
  const std::string path = dir + "/naive.jsonl";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  if (fd < 0) return 0;
  const auto start = Clock::now();
  for (int i = 0; i < n; ++i) {
    const std::string line =
        SerializeAuditRecord(MakeAuditRecord("naive-" + std::to_string(i), i)) + "\n";
    if (::write(fd, line.data(), line.size()) < 0) break;
    if (fsync) ::fdatasync(fd);
  }
  const double rate = n / Seconds(Clock::now() - start);
  ::close(fd);
  ::unlink(path.c_str());
  return rate;
}

}  // namespace

int main(int argc, char** argv) {
  int records = 200'000;
  int threads = 8;
  bool fsync = true;
  std::string sink_kind = "file";
  std::string dir;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const std::string value = argv[i + 1];
    if (flag == "--records")
      records = std::atoi(value.c_str());
    else if (flag == "--threads")
      threads = std::atoi(value.c_str());
    else if (flag == "--fsync")
      fsync = value != "0";
    else if (flag == "--sink")
      sink_kind = value;
    else if (flag == "--dir")
      dir = value;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  std::unique_ptr<pricing::engine::testing::ScratchDir> scratch;
  if (dir.empty()) {
    scratch = std::make_unique<pricing::engine::testing::ScratchDir>();
    dir = scratch->path();
  }
  std::filesystem::create_directories(dir);

  std::unique_ptr<FileAuditStore> store;
  if (sink_kind == "file") {
    auto s = FileAuditStore::Open(dir + "/audit.jsonl", fsync);
    if (!s) {
      std::fprintf(stderr, "%s\n", s.error().message.c_str());
      return 1;
    }
    store = std::move(*s);
  }
  AuditSpoolOptions options;
  options.directory = dir + "/spool";
  options.fsync = fsync;
  FileAuditStore* raw_store = store.get();
  auto spool =
      AuditSpool::Open(options, [raw_store](const std::vector<AuditRecord>& batch) -> Result<void> {
        if (raw_store) return raw_store->InsertBatch(batch);
        return {};
      });
  if (!spool) {
    std::fprintf(stderr, "%s\n", spool.error().message.c_str());
    return 1;
  }

  // Records are built up front so the measurement is the spool, not the test data.
  std::vector<std::vector<AuditRecord>> work(threads);
  for (int i = 0; i < records; ++i)
    work[i % threads].push_back(MakeAuditRecord("rec-" + std::to_string(i), i));

  std::atomic<int> done{0};
  std::atomic<int> failed{0};
  const auto start = Clock::now();
  std::vector<std::thread> callers;
  for (int t = 0; t < threads; ++t) {
    callers.emplace_back([&, t] {
      for (AuditRecord& r : work[t]) {
        (*spool)->Append(std::move(r), [&](Result<void> ok) {
          if (!ok) ++failed;
          ++done;
        });
      }
    });
  }
  for (auto& c : callers) c.join();
  while (done.load() < records) std::this_thread::sleep_for(std::chrono::microseconds(200));
  const double durable_s = Seconds(Clock::now() - start);
  const bool drained = (*spool)->WaitUntilDrained(std::chrono::minutes(5));
  const double delivered_s = Seconds(Clock::now() - start);
  (*spool)->Close();

  const int naive_n = fsync ? std::min(records, 2000) : std::min(records, 50'000);
  const double naive = NaiveRate(dir, naive_n, fsync);
  const double durable_rate = records / durable_s;
  std::printf("audit spool: %d records, %d caller threads, fsync=%s, sink=%s\n", records, threads,
              fsync ? "on" : "off", sink_kind.c_str());
  std::printf("  durable (done fired):   %10.0f records/s  (%.3f s)\n", durable_rate, durable_s);
  std::printf("  delivered to sink:      %10.0f records/s  (%.3f s)%s\n", records / delivered_s,
              delivered_s, drained ? "" : "  NOT DRAINED");
  std::printf("  reference, write%s per record: %10.0f records/s (%d records)\n",
              fsync ? "+fdatasync" : "", naive, naive_n);
  std::printf("  ratio spool / reference: %.1fx\n", durable_rate / naive);
  if (failed.load() > 0) std::printf("  FAILED appends: %d\n", failed.load());
  return failed.load() == 0 && drained ? 0 : 1;
}
