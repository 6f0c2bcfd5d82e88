// Audit spool recovery: a segment file (and a cursor) as a crash, a full disk
// or a damaged disk may leave them. Each input becomes the files of a fresh
// spool directory, which AuditSpool::Open recovers; every record it recovers
// must then reach the sink or the dead-letter file.
//
// Input: one flags byte, then the body.
//   flags & 1: the body is the segment's bytes after the magic, verbatim;
//              otherwise each line of the body is one frame's payload, framed
//              with its true length and CRC.
//   flags & 2: (verbatim) the magic is left out too: the body is the file.
//   flags & 4: (framed) the last frame is torn: only half of it is written.
//   flags & 8: a cursor file pointing just past the first frame.
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "adapters/audit_spool.h"
#include "adapters/crc32.h"
#include "fuzz_check.h"

namespace engine = pricing::engine;
namespace fs = std::filesystem;
using pricing::fuzz::Check;

namespace {

constexpr std::string_view kMagic = "PRSPOOL1";

void PutU32(std::string* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}

void Write(const fs::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

const fs::path& Root() {
  static const fs::path root = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/spool-fuzz-XXXXXX";
    Check(::mkdtemp(pattern.data()) != nullptr, "mkdtemp");
    std::atexit([] { fs::remove_all(Root()); });
    return fs::path(pattern);
  }();
  return root;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  const std::string_view body = pricing::fuzz::Text(data + 1, size - 1);

  const fs::path dir = Root() / "spool";
  fs::remove_all(dir);
  fs::create_directories(dir);

  std::string segment;
  uint64_t first_frame_end = 0;
  if (flags & 1) {
    if (!(flags & 2)) segment = kMagic;
    segment += body;
  } else {
    segment = kMagic;
    std::vector<std::string_view> lines;
    for (std::string_view rest = body; !rest.empty();) {
      const auto [line, tail] = pricing::fuzz::SplitOnce(rest, "\n");
      if (!line.empty()) lines.push_back(line);
      rest = tail;
    }
    for (size_t i = 0; i < lines.size(); ++i) {
      std::string frame;
      PutU32(&frame, static_cast<uint32_t>(lines[i].size()));
      PutU32(&frame, engine::Crc32(lines[i]));
      frame += lines[i];
      if ((flags & 4) && i + 1 == lines.size()) frame.resize(frame.size() / 2);
      segment += frame;
      if (i == 0) first_frame_end = segment.size();
    }
  }
  Write(dir / "segment-00000000000000000001.spool", segment);
  if ((flags & 8) && first_frame_end != 0) {
    const std::string position = "1 " + std::to_string(first_frame_end);
    Write(dir / "cursor",
          "PRCURSOR1 " + position + " " + std::to_string(engine::Crc32(position)) + "\n");
  }

  engine::AuditSpoolOptions options;
  options.directory = dir.string();
  options.fsync = false;
  options.preallocate_bytes = 0;
  options.drain_linger = std::chrono::milliseconds(0);
  options.retry_initial = std::chrono::milliseconds(1);
  options.cursor_sync_interval = std::chrono::milliseconds(0);
  std::atomic<int64_t> accepted{0};
  auto spool = engine::AuditSpool::Open(
      options, [&accepted](const std::vector<engine::AuditRecord>& batch) -> engine::Result<void> {
        accepted += static_cast<int64_t>(batch.size());
        return {};
      });
  if (!spool) return 0;
  const bool drained = (*spool)->WaitUntilDrained(std::chrono::seconds(5));
  const auto stats = (*spool)->stats();
  (*spool)->Close(std::chrono::milliseconds(0));
  Check(drained, "recovered records were never delivered",
        std::to_string((*spool)->Pending()) + " pending");
  Check(stats.delivered_records + stats.dead_lettered == stats.recovered_records,
        "recovered records neither delivered nor dead-lettered",
        std::to_string(stats.recovered_records) + " recovered, " +
            std::to_string(stats.delivered_records) + " delivered, " +
            std::to_string(stats.dead_lettered) + " dead-lettered");
  Check(accepted.load() == stats.delivered_records, "the sink saw another count");
  return 0;
}
