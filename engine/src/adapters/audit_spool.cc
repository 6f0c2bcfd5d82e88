#include "adapters/audit_spool.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <utility>

#include "adapters/crc32.h"
#include "adapters/thread_name.h"
#include "engine/json_text.h"
#include "engine/time_text.h"

namespace pricing::engine {

namespace {

using Json = nlohmann::json;
using SteadyClock = std::chrono::steady_clock;

constexpr char kSegmentMagic[8] = {'P', 'R', 'S', 'P', 'O', 'O', 'L', '1'};
constexpr uint64_t kHeaderBytes = sizeof(kSegmentMagic);
constexpr size_t kFrameHeaderBytes = 8;
constexpr uint32_t kMaxPayloadBytes = 16u << 20;
constexpr size_t kReadChunkBytes = 1u << 20;
constexpr std::string_view kSegmentPrefix = "segment-";
constexpr std::string_view kSegmentSuffix = ".spool";
constexpr std::string_view kCursorMagic = "PRCURSOR1";

void PutU32(char* out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xFF);
}

uint32_t GetU32(const char* in) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<uint32_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

std::string ErrnoText(std::string_view what, int err) {
  std::string out(what);
  out += ": ";
  out += std::strerror(err);
  return out;
}

bool WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Reads up to `size` bytes at `offset`; returns the count read (short only at
// end of file) or -1.
ssize_t PreadAll(int fd, char* data, size_t size, uint64_t offset) {
  size_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, data + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  return static_cast<ssize_t>(done);
}

bool WriteAllAt(int fd, const char* data, size_t size, uint64_t offset) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
    offset += static_cast<uint64_t>(n);
  }
  return true;
}

int SyncData(int fd) {
  int rc;
  do {
    rc = ::fdatasync(fd);
  } while (rc != 0 && errno == EINTR);
  return rc;
}

constexpr std::string_view kDeadLetterFile = "dead-letter.jsonl";
constexpr std::string_view kRedrivePrefix = "dead-letter.redrive-";

int FsyncDir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return -1;
  const int rc = ::fsync(fd);
  ::close(fd);
  return rc;
}

// Appends `text` (whole lines) to the dead letters of the spool in `dir`,
// under the file's own lock: a redrive renames the file away under that
// lock, so a writer that finds the name moved writes to the new file.
Result<void> AppendDeadLetters(const std::string& dir, std::string_view text, bool fsync) {
  const std::string path = dir + "/" + std::string(kDeadLetterFile);
  for (int attempt = 0; attempt < 16; ++attempt) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0)
      return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: open " + path, errno));
    struct stat held {}, named {};
    if (::flock(fd, LOCK_EX) != 0 || ::fstat(fd, &held) != 0) {
      const int err = errno;
      ::close(fd);
      return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: lock " + path, err));
    }
    if (::stat(path.c_str(), &named) != 0 || named.st_ino != held.st_ino ||
        named.st_dev != held.st_dev) {
      ::close(fd);  // renamed by a redrive meanwhile
      continue;
    }
    const bool ok = WriteAll(fd, text.data(), text.size()) &&
                    (!fsync || (SyncData(fd) == 0 && FsyncDir(dir) == 0));
    const int err = errno;
    ::close(fd);
    if (!ok) return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: write " + path, err));
    return {};
  }
  return Fail(ErrorCode::kServiceUnavailable, "audit spool: " + path + " keeps being renamed");
}

// Returns the end of the frame at `at` in `data` if one is there whole, with
// a matching CRC and a payload that parses as an audit record.
std::optional<uint64_t> IntactFrameAt(std::string_view data, uint64_t at) {
  if (at + kFrameHeaderBytes > data.size()) return std::nullopt;
  const uint32_t len = GetU32(data.data() + at);
  if (len == 0 || len > kMaxPayloadBytes || at + kFrameHeaderBytes + len > data.size())
    return std::nullopt;
  const std::string_view payload = data.substr(at + kFrameHeaderBytes, len);
  // Every record is a JSON object: a cheap test before the CRC.
  if (payload.front() != '{' || Crc32(payload) != GetU32(data.data() + at + 4))
    return std::nullopt;
  if (!ParseAuditRecord(payload)) return std::nullopt;
  return at + kFrameHeaderBytes + len;
}

// Returns the offset of the first intact frame (IntactFrameAt) at or after
// `from`, if any.
std::optional<uint64_t> NextIntactFrame(std::string_view data, uint64_t from) {
  for (uint64_t at = from; at + kFrameHeaderBytes < data.size(); ++at) {
    if (data[at + kFrameHeaderBytes] == '{' && IntactFrameAt(data, at)) return at;
  }
  return std::nullopt;
}

// The frame header of `payload`: its length and CRC-32.
std::array<char, kFrameHeaderBytes> FrameHeaderOf(std::string_view payload) {
  std::array<char, kFrameHeaderBytes> header{};
  PutU32(header.data(), static_cast<uint32_t>(payload.size()));
  PutU32(header.data() + 4, Crc32(payload));
  return header;
}

std::optional<uint64_t> ParseSegmentName(std::string_view name) {
  if (!name.starts_with(kSegmentPrefix) || !name.ends_with(kSegmentSuffix)) return std::nullopt;
  std::string_view digits = name.substr(
      kSegmentPrefix.size(), name.size() - kSegmentPrefix.size() - kSegmentSuffix.size());
  if (digits.size() != 20) return std::nullopt;
  uint64_t seq = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;
    seq = seq * 10 + static_cast<uint64_t>(c - '0');
  }
  return seq;
}

// Throws std::runtime_error (or nlohmann's exceptions) on anything unexpected;
// ParseAuditRecord turns them into an Error.
Decimal DecimalAt(const Json& j, const char* key) {
  const std::string& text = j.at(key).get_ref<const std::string&>();
  auto d = Decimal::Parse(text);
  if (!d) throw std::runtime_error(std::string(key) + ": not a decimal: " + text);
  return *d;
}

Source SourceAt(const Json& j) {
  const std::string& text = j.at("source").get_ref<const std::string&>();
  auto s = ParseSource(text);
  if (!s) throw std::runtime_error("unknown source: " + text);
  return *s;
}

// Returns the calculation_id of a line written by SerializeAuditRecord
// without parsing the whole line, or empty.
std::string_view CalculationIdOf(std::string_view line) {
  constexpr std::string_view kKey = "\"calculation_id\":\"";
  const size_t at = line.find(kKey);
  if (at == std::string_view::npos) return {};
  const size_t begin = at + kKey.size();
  const size_t end = line.find('"', begin);
  if (end == std::string_view::npos) return {};
  return line.substr(begin, end - begin);
}

// Reads the exact text SerializeAuditRecord() writes, front to back: every
// drained record takes this path, so it allocates only the record's own
// strings. Returns nullopt on any other spelling (whitespace, another member
// order, an escape it does not decode), which ParseAuditRecord then hands to
// the general JSON parser.
class AuditTextReader {
 public:
  explicit AuditTextReader(std::string_view text) : s_(text) {}

  std::optional<AuditRecord> Read() {
    AuditRecord r;
    int64_t version = 0, at_ns = 0, loan_days = 0, day_count = 0, event_risk = 0;
    std::string at_text;
    // clang-format off
    const bool ok =
        Lit(R"({"v":)") && Int(&version) && version == 1 &&
        Lit(R"(,"calculation_id":)") && Str(&r.calculation_id) &&
        Lit(R"(,"request_id":)") && Str(&r.request_id) &&
        Lit(R"(,"api_key_client":)") && Str(&r.api_key_client) &&
        Lit(R"(,"at":)") && Str(&at_text) &&
        Lit(R"(,"at_unix_ns":)") && Int(&at_ns) &&
        Lit(R"(,"request":{"ticker":)") && Str(&r.request.ticker) &&
        Lit(R"(,"position_value":)") && Dec(&r.request.position_value) &&
        Lit(R"(,"loan_days":)") && Int(&loan_days) &&
        Lit(R"(,"client_id":)") && Str(&r.request.client_id) &&
        Lit(R"(},"quote":{"rate":)") && Dec(&r.quote.rate) &&
        Lit(R"(,"borrow_rate_used":)") && Dec(&r.quote.borrow_rate_used) &&
        Lit(R"(,"borrow_cost":)") && Dec(&r.quote.borrow_cost) &&
        Lit(R"(,"markup":)") && Dec(&r.quote.markup) &&
        Lit(R"(,"transaction_fees":)") && Dec(&r.quote.transaction_fees) &&
        Lit(R"(,"total_fee":)") && Dec(&r.quote.total_fee) &&
        Lit(R"(,"day_count":)") && Int(&day_count) &&
        Lit(R"(},"inputs":{"base_rate":{"value":)") && Dec(&r.inputs.base_rate.value) &&
        Lit(R"(,"source":)") && Src(&r.inputs.base_rate.source) &&
        Lit(R"(},"volatility":{"value":)") && Dec(&r.inputs.volatility.value) &&
        Lit(R"(,"source":)") && Src(&r.inputs.volatility.source) &&
        Lit(R"(},"event_risk":{"value":)") && Int(&event_risk) &&
        Lit(R"(,"source":)") && Src(&r.inputs.event_risk.source) &&
        Lit("}}}") && pos_ == s_.size();
    // clang-format on
    if (!ok || !Fits<int>(loan_days) || !Fits<int>(day_count) || !Fits<int>(event_risk)) {
      return std::nullopt;
    }
    r.request.loan_days = static_cast<int>(loan_days);
    r.quote.day_count = static_cast<int>(day_count);
    r.inputs.event_risk.value = static_cast<int>(event_risk);
    r.at = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(at_ns)));
    return r;
  }

 private:
  template <typename T>
  static bool Fits(int64_t v) {
    return v >= std::numeric_limits<T>::min() && v <= std::numeric_limits<T>::max();
  }

  bool Lit(std::string_view lit) {
    if (s_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }

  bool Int(int64_t* out) {
    const char* begin = s_.data() + pos_;
    auto [end, ec] = std::from_chars(begin, s_.data() + s_.size(), *out);
    if (ec != std::errc() || end == begin) return false;
    pos_ += static_cast<size_t>(end - begin);
    return true;
  }

  // A JSON string whose only escapes are \" \\ and \/ (anything else, e.g.
  // control characters or \u escapes, is left to the general parser).
  bool Str(std::string* out) {
    if (pos_ >= s_.size() || s_[pos_] != '"') return false;
    ++pos_;
    out->clear();
    while (pos_ < s_.size()) {
      const size_t stop = s_.find_first_of("\"\\", pos_);
      if (stop == std::string_view::npos) return false;
      out->append(s_.substr(pos_, stop - pos_));
      pos_ = stop + 1;
      if (s_[stop] == '"') return true;
      if (pos_ >= s_.size()) return false;
      const char e = s_[pos_++];
      if (e != '"' && e != '\\' && e != '/') return false;
      out->push_back(e);
    }
    return false;
  }

  bool Dec(Decimal* out) {
    if (!Str(&scratch_)) return false;
    auto d = Decimal::Parse(scratch_);
    if (!d) return false;
    *out = *d;
    return true;
  }

  bool Src(Source* out) {
    if (!Str(&scratch_)) return false;
    auto src = ParseSource(scratch_);
    if (!src) return false;
    *out = *src;
    return true;
  }

  std::string_view s_;
  size_t pos_ = 0;
  std::string scratch_;
};

}  // namespace

// Written member by member rather than through JsonWriter (it runs once per
// priced request, on the event loop); the text is the same. Decimal and
// source texts need no escaping.
std::string SerializeAuditRecord(const AuditRecord& r) {
  using namespace std::string_view_literals;  // literals append with their length known
  std::string out;
  out.reserve(640);
  auto decimal = [&](std::string_view key, const Decimal& d, int places) {
    out.append(key).push_back('"');
    d.AppendTo(&out, places);
    out.push_back('"');
  };
  auto sourced = [&](std::string_view key, const Sourced<Decimal>& v) {
    decimal(key, v.value, 0);
    out.append(",\"source\":\""sv).append(SourceName(v.source)).append("\"}"sv);
  };
  const int64_t at_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(r.at.time_since_epoch()).count();
  out.append("{\"v\":1,\"calculation_id\":"sv);
  AppendJsonString(&out, r.calculation_id);
  out.append(",\"request_id\":"sv);
  AppendJsonString(&out, r.request_id);
  out.append(",\"api_key_client\":"sv);
  AppendJsonString(&out, r.api_key_client);
  out.append(",\"at\":\""sv);
  AppendRfc3339Utc(&out, r.at, 9);
  out.append("\",\"at_unix_ns\":"sv);
  AppendInt(&out, at_ns);
  out.append(",\"request\":{\"ticker\":"sv);
  AppendJsonString(&out, r.request.ticker);
  decimal(",\"position_value\":", r.request.position_value, 2);
  out.append(",\"loan_days\":"sv);
  AppendInt(&out, r.request.loan_days);
  out.append(",\"client_id\":"sv);
  AppendJsonString(&out, r.request.client_id);
  decimal("},\"quote\":{\"rate\":", r.quote.rate, 0);
  decimal(",\"borrow_rate_used\":", r.quote.borrow_rate_used, 0);
  decimal(",\"borrow_cost\":", r.quote.borrow_cost, 2);
  decimal(",\"markup\":", r.quote.markup, 2);
  decimal(",\"transaction_fees\":", r.quote.transaction_fees, 2);
  decimal(",\"total_fee\":", r.quote.total_fee, 2);
  out.append(",\"day_count\":"sv);
  AppendInt(&out, r.quote.day_count);
  sourced("},\"inputs\":{\"base_rate\":{\"value\":", r.inputs.base_rate);
  sourced(",\"volatility\":{\"value\":", r.inputs.volatility);
  out.append(",\"event_risk\":{\"value\":"sv);
  AppendInt(&out, r.inputs.event_risk.value);
  out.append(",\"source\":\""sv).append(SourceName(r.inputs.event_risk.source)).append("\"}}}"sv);
  return out;
}

namespace {

// The integer `key` of `j` within [lo, hi]: an integer JSON number, else
// throws (a double such as 1e30 is never converted).
int64_t IntegerAt(const Json& j, const char* key, int64_t lo, int64_t hi) {
  const Json& v = j.at(key);
  const bool fits = v.is_number_unsigned()
                        ? v.get<uint64_t>() <= static_cast<uint64_t>(hi)
                        : v.is_number_integer() && v.get<int64_t>() >= lo && v.get<int64_t>() <= hi;
  if (!fits) throw std::runtime_error(std::string(key) + " is not an integer in range");
  return v.is_number_unsigned() ? static_cast<int64_t>(v.get<uint64_t>()) : v.get<int64_t>();
}

int IntAt(const Json& j, const char* key) {
  return static_cast<int>(
      IntegerAt(j, key, std::numeric_limits<int>::min(), std::numeric_limits<int>::max()));
}

int64_t Int64At(const Json& j, const char* key) {
  return IntegerAt(j, key, std::numeric_limits<int64_t>::min(),
                   std::numeric_limits<int64_t>::max());
}

}  // namespace

Result<AuditRecord> ParseAuditRecord(std::string_view text) {
  if (auto fast = AuditTextReader(text).Read()) return std::move(*fast);
  try {
    const Json j = Json::parse(text);
    if (IntAt(j, "v") != 1) throw std::runtime_error("unknown version");
    AuditRecord r;
    r.calculation_id = j.at("calculation_id").get<std::string>();
    r.request_id = j.at("request_id").get<std::string>();
    r.api_key_client = j.at("api_key_client").get<std::string>();
    r.at = std::chrono::system_clock::time_point(
        std::chrono::duration_cast<std::chrono::system_clock::duration>(
            std::chrono::nanoseconds(Int64At(j, "at_unix_ns"))));
    const Json& req = j.at("request");
    r.request.ticker = req.at("ticker").get<std::string>();
    r.request.position_value = DecimalAt(req, "position_value");
    r.request.loan_days = IntAt(req, "loan_days");
    r.request.client_id = req.at("client_id").get<std::string>();
    const Json& q = j.at("quote");
    r.quote.rate = DecimalAt(q, "rate");
    r.quote.borrow_rate_used = DecimalAt(q, "borrow_rate_used");
    r.quote.borrow_cost = DecimalAt(q, "borrow_cost");
    r.quote.markup = DecimalAt(q, "markup");
    r.quote.transaction_fees = DecimalAt(q, "transaction_fees");
    r.quote.total_fee = DecimalAt(q, "total_fee");
    r.quote.day_count = IntAt(q, "day_count");
    const Json& in = j.at("inputs");
    r.inputs.base_rate = {DecimalAt(in.at("base_rate"), "value"), SourceAt(in.at("base_rate"))};
    r.inputs.volatility = {DecimalAt(in.at("volatility"), "value"), SourceAt(in.at("volatility"))};
    r.inputs.event_risk = {IntAt(in.at("event_risk"), "value"),
                           SourceAt(in.at("event_risk"))};
    return r;
  } catch (const std::exception& e) {
    return Fail(ErrorCode::kCalculationError, std::string("malformed audit record: ") + e.what());
  }
}

// ---------------------------------------------------------------------------
// AuditSpool

AuditSpool::AuditSpool(AuditSpoolOptions options, AuditBatchSink sink)
    : options_(std::move(options)), sink_(std::move(sink)) {}

Result<std::unique_ptr<AuditSpool>> AuditSpool::Open(AuditSpoolOptions options,
                                                     AuditBatchSink sink) {
  if (options.directory.empty()) {
    return Fail(ErrorCode::kServiceUnavailable, "audit spool: no directory configured");
  }
  if (!sink) return Fail(ErrorCode::kServiceUnavailable, "audit spool: no sink");
  options.batch_size = std::max<size_t>(1, options.batch_size);
  options.terminal_attempts = std::max(1, options.terminal_attempts);
  std::unique_ptr<AuditSpool> spool(new AuditSpool(std::move(options), std::move(sink)));
  const std::string& dir = spool->options_.directory;

  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    return Fail(ErrorCode::kServiceUnavailable,
                "audit spool: cannot create " + dir + ": " + ec.message());
  }
  spool->dir_fd_ = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (spool->dir_fd_ < 0) {
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: open " + dir, errno));
  }
  const std::string lock_path = dir + "/LOCK";
  spool->lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (spool->lock_fd_ < 0) {
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: open " + lock_path, errno));
  }
  if (::flock(spool->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      return Fail(ErrorCode::kServiceUnavailable,
                  "audit spool: " + dir + " is in use by another process");
    }
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: lock " + lock_path, err));
  }
  if (auto r = spool->Recover(); !r) return std::unexpected(r.error());
  uint64_t next_seq = spool->cursor_seq_ + 1;
  if (!spool->segments_.empty()) next_seq = std::max(next_seq, spool->segments_.back().seq + 1);
  if (auto r = spool->OpenActiveSegment(next_seq); !r) return std::unexpected(r.error());
  spool->writer_ = std::thread([s = spool.get()] {
    NameThisThread("audit-writer");
    s->WriterLoop();
  });
  spool->drainer_ = std::thread([s = spool.get()] {
    NameThisThread("audit-drainer");
    s->DrainerLoop();
  });
  return spool;
}

AuditSpool::~AuditSpool() {
  Close();
  if (active_fd_ >= 0) ::close(active_fd_);
  if (dir_fd_ >= 0) ::close(dir_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

std::string AuditSpool::SegmentPath(uint64_t seq) const {
  char name[64];
  std::snprintf(name, sizeof(name), "segment-%020" PRIu64 ".spool", seq);
  return options_.directory + "/" + name;
}

void AuditSpool::Log(std::string_view message) const {
  if (options_.log) options_.log(message);
}

Result<void> AuditSpool::Recover() {
  // Cursor: "PRCURSOR1 <seq> <offset> <crc32 of "<seq> <offset>">".
  bool cursor_valid = false;
  uint64_t cursor_seq = 0;
  uint64_t cursor_offset = 0;
  {
    const std::string path = options_.directory + "/cursor";
    if (FILE* f = std::fopen(path.c_str(), "re")) {
      char magic[16] = {};
      unsigned long long seq = 0, offset = 0;
      unsigned int crc = 0;
      if (std::fscanf(f, "%15s %llu %llu %u", magic, &seq, &offset, &crc) == 4 &&
          kCursorMagic == magic) {
        const std::string body = std::to_string(seq) + " " + std::to_string(offset);
        if (Crc32(body) == crc) {
          cursor_valid = true;
          cursor_seq = seq;
          cursor_offset = offset;
        }
      }
      std::fclose(f);
      if (!cursor_valid)
        Log("audit spool: cursor file unreadable; re-sending from the oldest segment");
    }
  }

  std::vector<uint64_t> seqs;
  if (DIR* d = ::opendir(options_.directory.c_str())) {
    while (dirent* e = ::readdir(d)) {
      if (auto seq = ParseSegmentName(e->d_name)) seqs.push_back(*seq);
    }
    ::closedir(d);
  } else {
    return Fail(ErrorCode::kServiceUnavailable,
                ErrnoText("audit spool: list " + options_.directory, errno));
  }
  std::sort(seqs.begin(), seqs.end());

  int64_t cursor_records = 0;
  bool cursor_found = false;
  for (uint64_t seq : seqs) {
    const std::string path = SegmentPath(seq);
    if (cursor_valid && seq < cursor_seq) {
      ::unlink(path.c_str());  // fully delivered before the crash
      continue;
    }
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: open " + path, errno));
    }
    // A segment is read whole: at most max_segment_bytes plus its
    // preallocation, one segment at a time.
    std::string data;
    {
      struct stat st {};
      ::fstat(fd, &st);
      data.resize(static_cast<size_t>(st.st_size));
      const ssize_t got = PreadAll(fd, data.data(), data.size(), 0);
      if (got < 0) {
        const int err = errno;
        ::close(fd);
        return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: read " + path, err));
      }
      data.resize(static_cast<size_t>(got));
    }
    const uint64_t size = data.size();
    if (size < kHeaderBytes || std::memcmp(data.data(), kSegmentMagic, kHeaderBytes) != 0) {
      ::close(fd);
      const bool torn_header =
          std::memcmp(data.data(), kSegmentMagic, std::min<size_t>(size, kHeaderBytes)) == 0;
      if (torn_header && size < kHeaderBytes) {
        ::unlink(path.c_str());  // created, never written: holds no record
      } else {
        const std::string aside = path + ".corrupt";
        ::rename(path.c_str(), aside.c_str());
        Log("audit spool: " + path + " has no valid header; moved aside to " + aside);
      }
      continue;
    }
    // Walk the frames. A frame that is not intact is skipped up to the next
    // intact one (resynchronising on length, CRC and a record that parses);
    // with none after it, it starts the tail.
    const bool cursor_here = cursor_valid && seq == cursor_seq;
    std::vector<std::pair<uint64_t, uint64_t>> frames;  // [start, end) of each intact frame
    uint64_t offset = kHeaderBytes;
    int64_t before_cursor = 0;
    bool cursor_on_boundary = !cursor_here || cursor_offset == offset;
    int64_t damaged_regions = 0;
    for (;;) {
      if (auto end = IntactFrameAt(data, offset)) {
        frames.emplace_back(offset, *end);
        offset = *end;
        if (cursor_here && offset <= cursor_offset) {
          before_cursor = static_cast<int64_t>(frames.size());
          if (offset == cursor_offset) cursor_on_boundary = true;
        }
        continue;
      }
      if (offset >= size) break;
      const auto next = NextIntactFrame(data, offset + 1);
      if (!next) break;
      ++damaged_regions;
      damaged_regions_.fetch_add(1);
      damaged_bytes_.fetch_add(static_cast<int64_t>(*next - offset));
      if (options_.on_damage) options_.on_damage(static_cast<int64_t>(*next - offset));
      Log("audit spool: " + path + ": " + std::to_string(*next - offset) +
          " unreadable bytes at offset " + std::to_string(offset) +
          "; resumed at the next intact record");
      offset = *next;
    }
    const bool zeros_tail =
        std::all_of(data.begin() + static_cast<ptrdiff_t>(offset), data.end(),
                    [](char c) { return c == 0; });
    if (offset < size && !zeros_tail) {
      // Zeros are the active segment's preallocation, left by a crash;
      // anything else is a torn or damaged tail.
      truncated_bytes_ += static_cast<int64_t>(size - offset);
      Log("audit spool: " + path + ": dropped a torn tail of " + std::to_string(size - offset) +
          " bytes after " + std::to_string(frames.size()) + " complete records");
    }
    bool rewritten = false;
    if (damaged_regions > 0) {
      // Rewritten with only its intact frames still to deliver, so that the
      // drainer reads a clean segment.
      const size_t skip = cursor_here && cursor_on_boundary && cursor_offset <= offset
                              ? static_cast<size_t>(before_cursor)
                              : 0;
      std::string clean(data.data(), kHeaderBytes);
      for (size_t i = skip; i < frames.size(); ++i) {
        clean.append(data, frames[i].first, frames[i].second - frames[i].first);
      }
      frames.erase(frames.begin(), frames.begin() + static_cast<ptrdiff_t>(skip));
      ::close(fd);
      if (auto r = ReplaceFile(path, clean); !r) return r;
      offset = clean.size();
      rewritten = true;
    } else {
      if (offset < size && (::ftruncate(fd, static_cast<off_t>(offset)) != 0 ||
                            (options_.fsync && SyncData(fd) != 0))) {
        const int err = errno;
        ::close(fd);
        return Fail(ErrorCode::kServiceUnavailable,
                    ErrnoText("audit spool: truncate " + path, err));
      }
      ::close(fd);
    }
    const auto records = static_cast<int64_t>(frames.size());
    if (cursor_here) {
      cursor_found = true;
      if (rewritten) {
        cursor_offset = kHeaderBytes;
        cursor_records = 0;
      } else if (cursor_on_boundary && cursor_offset <= offset) {
        cursor_records = before_cursor;
      } else {
        Log("audit spool: cursor does not match " + path + "; re-sending it from the start");
        cursor_offset = kHeaderBytes;
        cursor_records = 0;
      }
    }
    segments_.push_back(Segment{seq, offset, records, /*closed=*/true});
  }

  if (cursor_found) {
    cursor_seq_ = cursor_seq;
    cursor_offset_ = cursor_offset;
    cursor_records_ = cursor_records;
  } else {
    // Everything before the first remaining segment was delivered.
    cursor_seq_ = segments_.empty() ? cursor_seq : segments_.front().seq;
    cursor_offset_ = kHeaderBytes;
    cursor_records_ = 0;
  }
  int64_t pending = 0;
  for (const Segment& s : segments_) pending += s.records;
  if (cursor_found) pending -= cursor_records_;
  pending_.store(pending);
  recovered_records_ = pending;
  if (pending > 0) {
    Log("audit spool: recovered " + std::to_string(pending) + " undelivered records in " +
        std::to_string(segments_.size()) + " segments");
  }
  return {};
}

Result<void> AuditSpool::OpenActiveSegment(uint64_t seq) {
  const std::string path = SegmentPath(seq);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: create " + path, errno));
  }
  if (!WriteAll(fd, kSegmentMagic, kHeaderBytes) ||
      (options_.fsync && (SyncData(fd) != 0 || ::fsync(dir_fd_) != 0))) {
    const int err = errno;
    ::close(fd);
    ::unlink(path.c_str());
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: initialise " + path, err));
  }
  active_fd_ = fd;
  active_seq_ = seq;
  active_size_ = kHeaderBytes;
  active_allocated_ = kHeaderBytes;
  active_records_ = 0;
  {
    std::lock_guard lock(drain_mu_);
    segments_.push_back(Segment{seq, kHeaderBytes, 0, /*closed=*/false});
  }
  drain_cv_.notify_all();
  return {};
}

void AuditSpool::Append(AuditRecord record, std::function<void(Result<void>)> done) {
  const std::string payload = SerializeAuditRecord(record);
  if (payload.size() > kMaxPayloadBytes) {
    if (done) done(Fail(ErrorCode::kServiceUnavailable, "audit record too large to spool"));
    return;
  }
  const auto header = FrameHeaderOf(payload);
  CallbackHome* const home = ThisThreadHome();
  bool post_wake = false;
  {
    std::unique_lock lock(wake_->mu);
    if (closing_) {
      lock.unlock();
      if (done) done(Fail(ErrorCode::kServiceUnavailable, "audit spool is closed"));
      return;
    }
    pending_.fetch_add(1, std::memory_order_relaxed);
    // Straight into the next commit's buffer: no per-record frame to
    // allocate here and free on the writer thread.
    queue_frames_.append(header.data(), header.size()).append(payload);
    queue_.push_back(Waiter{std::move(done), home});
    queue_records_.push_back(std::move(record));
    if (home == nullptr) {
      wake_->Wake();
    } else if (std::ranges::find(wake_->posted, home) == wake_->posted.end()) {
      wake_->posted.push_back(home);
      post_wake = true;
    }
  }
  // An event loop runs a post after the handlers it already has, so the
  // writer hears of this loop's records once it has served every request
  // its last poll found: one commit, one fdatasync and one post of
  // completions back per batch instead of per request (at 128 connections,
  // about 40 records per commit instead of 13). An idle loop's batch is this one
  // request, and the wake-up follows at once.
  if (post_wake) {
    home->Post([wake = wake_, home] {
      std::lock_guard lock(wake->mu);
      std::erase(wake->posted, home);
      wake->Wake();
    });
  }
}

void AuditSpool::WriterWake::Wake() {
  if (woken) return;
  woken = true;
  cv.notify_one();
}

int64_t AuditSpool::Pending() const { return pending_.load(std::memory_order_relaxed); }

bool AuditSpool::WaitUntilDrained(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(drain_mu_);
  return drain_cv_.wait_for(lock, timeout, [&] { return pending_.load() == 0; });
}

AuditSpool::Stats AuditSpool::stats() const {
  Stats s;
  s.recovered_records = recovered_records_;
  s.truncated_bytes = truncated_bytes_;
  s.commits = commits_.load();
  s.delivered_records = delivered_.load();
  s.delivered_from_memory = delivered_from_memory_.load();
  s.sink_failures = sink_failures_.load();
  s.dead_lettered = dead_lettered_.load();
  s.damaged_regions = damaged_regions_.load();
  s.damaged_bytes = damaged_bytes_.load();
  std::lock_guard lock(drain_mu_);
  s.segments = static_cast<int64_t>(segments_.size());
  return s;
}

void AuditSpool::Close(std::chrono::milliseconds drain_timeout, bool until_sink_fails) {
  std::call_once(close_once_, [&] {
    {
      std::lock_guard lock(wake_->mu);
      closing_ = true;
    }
    wake_->cv.notify_all();
    if (writer_.joinable()) writer_.join();
    {
      std::lock_guard lock(drain_mu_);
      stop_draining_ = true;
      drain_deadline_ = SteadyClock::now() + drain_timeout;
      drain_until_sink_fails_ = until_sink_fails;
      if (until_sink_fails && sink_failing_) drain_deadline_ = SteadyClock::now();
    }
    drain_cv_.notify_all();
    if (drainer_.joinable()) drainer_.join();
  });
}

int64_t AuditSpool::HandOff(AuditBatchSink to, std::chrono::milliseconds timeout) {
  Close();
  const int64_t before = delivered_.load();
  if (Pending() == 0 || !to) return 0;
  {
    std::lock_guard lock(drain_mu_);
    handoff_ = std::move(to);
    drain_deadline_ = SteadyClock::now() + timeout;
    drain_until_sink_fails_ = false;  // the peer is retried for all of `timeout`
    sink_failing_ = false;
  }
  // Both threads have stopped: the drainer's loop runs here, to the new sink.
  DrainerLoop();
  return delivered_.load() - before;
}

void AuditSpool::WriterLoop() {
  // Swapped with the queue at each commit, so both buffers keep their capacity.
  std::vector<Waiter> batch;
  std::string frames;
  std::vector<AuditRecord> records;
  for (;;) {
    batch.clear();
    frames.clear();
    records.clear();
    if (frames.capacity() > (8u << 20)) frames = std::string();  // after a burst
    bool closing = false;
    {
      std::unique_lock lock(wake_->mu);
      auto ready = [&] { return wake_->woken || closing_; };
      if (active_records_ > 0) {
        wake_->cv.wait_until(lock, active_since_ + options_.max_segment_age, ready);
      } else {
        wake_->cv.wait(lock, ready);
      }
      // Everything queued goes, including records of a loop still serving
      // its batch: its wake-up then finds the rest.
      wake_->woken = false;
      batch.swap(queue_);
      frames.swap(queue_frames_);
      records.swap(queue_records_);
      closing = closing_;
    }
    if (!batch.empty()) WriteBatch(&batch, frames, &records);
    if (active_records_ > 0 && (active_size_ >= options_.max_segment_bytes ||
                                SteadyClock::now() - active_since_ >= options_.max_segment_age)) {
      RollLocked();
    }
    if (closing && batch.empty()) break;
  }
  // The active segment is final now; the drainer may delete it once delivered.
  CloseActiveSegment();
  {
    std::lock_guard lock(drain_mu_);
    if (!segments_.empty() && segments_.back().seq == active_seq_) segments_.back().closed = true;
  }
  drain_cv_.notify_all();
}

void AuditSpool::CloseActiveSegment() {
  if (active_fd_ < 0) return;
  if (active_allocated_ > active_size_) {
    if (::ftruncate(active_fd_, static_cast<off_t>(active_size_)) != 0 ||
        (options_.fsync && SyncData(active_fd_) != 0)) {
      // Harmless: recovery drops the zeros too.
      Log(ErrnoText("audit spool: cut the preallocation of " + SegmentPath(active_seq_), errno));
    }
  }
  ::close(active_fd_);
  active_fd_ = -1;
}

void AuditSpool::RollLocked() {
  CloseActiveSegment();
  {
    std::lock_guard lock(drain_mu_);
    for (Segment& s : segments_) {
      if (s.seq == active_seq_) s.closed = true;
    }
  }
  drain_cv_.notify_all();
  if (auto r = OpenActiveSegment(active_seq_ + 1); !r) {
    Log(r.error().message);
    ++active_seq_;  // the next attempt uses a fresh name
  }
}

void AuditSpool::KeepCommitted(uint64_t start, const std::string& frames,
                               std::vector<AuditRecord>* records) {
  if (committed_full_ && committed_.empty()) committed_full_ = false;
  if (committed_full_ || committed_.size() + records->size() > options_.memory_records) {
    committed_full_ = true;
    return;
  }
  size_t pos = 0;
  for (AuditRecord& record : *records) {
    const uint64_t frame = kFrameHeaderBytes + GetU32(frames.data() + pos);
    committed_.push_back(
        Committed{active_seq_, start + pos, start + pos + frame, std::move(record)});
    pos += frame;
  }
}

uint64_t AuditSpool::TakeCommitted(uint64_t seq, uint64_t offset, uint64_t limit,
                                   std::vector<AuditRecord>* records) {
  while (!committed_.empty() &&
         (committed_.front().seq < seq ||
          (committed_.front().seq == seq && committed_.front().end <= offset))) {
    committed_.pop_front();
  }
  uint64_t next = offset;
  while (!committed_.empty() && records->size() < options_.batch_size) {
    Committed& c = committed_.front();
    if (c.seq != seq || c.start != next || c.end > limit) break;
    next = c.end;
    records->push_back(std::move(c.record));
    committed_.pop_front();
  }
  return next;
}

void AuditSpool::Complete(std::vector<Waiter>* batch, const Result<void>& result) {
  auto run = [](Done& done, const Result<void>& r) {
    try {
      done(r);
    } catch (...) {
    }
  };
  // One entry per home, in order of first appearance: a commit holds the
  // records of a few event loops at most.
  std::vector<std::pair<CallbackHome*, std::vector<Done>>> homes;
  for (Waiter& w : *batch) {
    if (!w.done) continue;
    if (w.home == nullptr) {
      run(w.done, result);
      continue;
    }
    auto it =
        std::find_if(homes.begin(), homes.end(), [&](const auto& h) { return h.first == w.home; });
    if (it == homes.end()) it = homes.insert(homes.end(), {w.home, {}});
    it->second.push_back(std::move(w.done));
  }
  for (auto& [home, dones] : homes) {
    home->Post([run, dones = std::move(dones), result]() mutable {
      for (Done& done : dones) run(done, result);
    });
  }
}

void AuditSpool::WriteBatch(std::vector<Waiter>* batch, const std::string& frames,
                            std::vector<AuditRecord>* records) {
  auto fail_all = [&](const std::string& why) {
    Log(why);
    write_failed_.store(true, std::memory_order_relaxed);
    {
      std::lock_guard lock(drain_mu_);  // so WaitUntilDrained cannot miss the change
      pending_.fetch_sub(static_cast<int64_t>(batch->size()));
    }
    drain_cv_.notify_all();
    Complete(batch, Fail(ErrorCode::kServiceUnavailable, why));
  };
  if (active_fd_ < 0) {
    RollLocked();
    if (active_fd_ < 0) return fail_all("audit spool: no writable segment");
  }
  const uint64_t end = active_size_ + frames.size();
  bool ok = WriteAllAt(active_fd_, frames.data(), frames.size(), active_size_);
  if (ok && end > active_allocated_) {
    active_allocated_ = end;
    // Extend the zeros past the records, made durable by the same fdatasync:
    // one metadata commit per extension instead of one per batch. Best effort
    // (a full disk or a file size limit leaves plain appends).
    if (options_.preallocate_bytes > 0) {
      const std::string zeros(options_.preallocate_bytes, '\0');
      if (WriteAllAt(active_fd_, zeros.data(), zeros.size(), end)) {
        active_allocated_ = end + zeros.size();
      } else if (::ftruncate(active_fd_, static_cast<off_t>(end)) != 0) {
        ok = false;
      }
    }
  }
  if (ok && options_.fsync) {
    const auto sync_start = SteadyClock::now();
    ok = SyncData(active_fd_) == 0;
    if (options_.on_sync) options_.on_sync(SteadyClock::now() - sync_start);
  }
  if (!ok) {
    const std::string why = ErrnoText("audit spool: write " + SegmentPath(active_seq_), errno);
    // Cut off a partial write so the segment stays a clean run of frames, then
    // continue in a fresh segment: after a failed fdatasync the state of this
    // one's pages is unknown.
    if (::ftruncate(active_fd_, static_cast<off_t>(active_size_)) != 0) {
      Log(ErrnoText("audit spool: truncate after failed write", errno));
    } else {
      active_allocated_ = active_size_;
    }
    RollLocked();
    return fail_all(why);
  }
  commits_.fetch_add(1, std::memory_order_relaxed);
  write_failed_.store(false, std::memory_order_relaxed);
  if (active_records_ == 0) active_since_ = SteadyClock::now();
  const uint64_t start = active_size_;
  active_size_ = end;
  active_records_ += static_cast<int64_t>(batch->size());
  bool wake_drainer = true;
  {
    std::lock_guard lock(drain_mu_);
    KeepCommitted(start, frames, records);
    Segment& s = segments_.back();
    s.size = active_size_;
    s.records = active_records_;
    // A lingering drainer needs no wake-up per commit, only once it has a
    // full batch to send.
    if (drainer_lingering_ && s.seq == cursor_seq_) {
      wake_drainer = s.records - cursor_records_ >= static_cast<int64_t>(options_.batch_size);
    }
  }
  if (wake_drainer) drain_cv_.notify_all();
  Complete(batch, {});
}

int64_t AuditSpool::FreeBytes() const {
  struct statvfs fs {};
  if (::statvfs(options_.directory.c_str(), &fs) != 0) return -1;
  return static_cast<int64_t>(static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize);
}

bool AuditSpool::Writable() const {
  if (options_.min_free_bytes > 0) {
    const int64_t free_bytes = FreeBytes();
    if (free_bytes < 0 || static_cast<uint64_t>(free_bytes) < options_.min_free_bytes) {
      return false;
    }
  }
  if (!write_failed_.load(std::memory_order_relaxed)) return true;
  if (!ProbeWrite()) return false;
  write_failed_.store(false, std::memory_order_relaxed);
  return true;
}

bool AuditSpool::ProbeWrite() const {
  const std::string path = options_.directory + "/.write-probe";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const std::string block(4096, '\0');
  bool ok = WriteAllAt(fd, block.data(), block.size(), 0) && (!options_.fsync || SyncData(fd) == 0);
  ::close(fd);
  ok = ::unlink(path.c_str()) == 0 && ok;
  return ok;
}

bool AuditSpool::MustStopDraining() const {
  return stop_draining_ && SteadyClock::now() >= drain_deadline_;
}

bool AuditSpool::Backoff(std::chrono::milliseconds delay) {
  std::unique_lock lock(drain_mu_);
  const auto wake = SteadyClock::now() + delay;
  for (;;) {
    if (MustStopDraining()) return false;
    if (SteadyClock::now() >= wake) return true;
    auto until = wake;
    if (stop_draining_) until = std::min(until, drain_deadline_);
    const bool was_stopping = stop_draining_;
    drain_cv_.wait_until(lock, until, [&] { return stop_draining_ != was_stopping; });
  }
}

Result<std::vector<AuditSpool::Frame>> AuditSpool::ReadFrames(uint64_t seq, uint64_t offset,
                                                              uint64_t limit, uint64_t* end) {
  const std::string path = SegmentPath(seq);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: open " + path, errno));
  std::vector<Frame> frames;
  std::string buf;
  auto read_error = [&] {
    const int err = errno;
    ::close(fd);
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: read " + path, err));
  };
  // Damage at `bad`: skips to the next intact frame before `limit` (or to
  // `limit`), counting what it could not read.
  auto resync = [&](uint64_t bad) -> bool {
    std::string rest(static_cast<size_t>(limit - bad), '\0');
    if (PreadAll(fd, rest.data(), rest.size(), bad) != static_cast<ssize_t>(rest.size()))
      return false;
    const auto next = NextIntactFrame(rest, 1);
    const uint64_t resume = next ? bad + *next : limit;
    damaged_regions_.fetch_add(1);
    damaged_bytes_.fetch_add(static_cast<int64_t>(resume - bad));
    if (options_.on_damage) options_.on_damage(static_cast<int64_t>(resume - bad));
    Log("audit spool: " + path + ": " + std::to_string(resume - bad) +
        " unreadable bytes at offset " + std::to_string(bad) +
        (next ? "; resumed at the next intact record" : "; none intact after them"));
    offset = resume;
    return true;
  };
  while (offset < limit && frames.size() < options_.batch_size) {
    const size_t want = static_cast<size_t>(std::min<uint64_t>(limit - offset, kReadChunkBytes));
    buf.resize(want);
    const ssize_t got = PreadAll(fd, buf.data(), want, offset);
    if (got < 0) return read_error();
    size_t pos = 0;
    size_t available = static_cast<size_t>(got);
    bool damaged = available < kFrameHeaderBytes;
    while (!damaged && pos + kFrameHeaderBytes <= available &&
           frames.size() < options_.batch_size) {
      const uint32_t len = GetU32(buf.data() + pos);
      const uint32_t crc = GetU32(buf.data() + pos + 4);
      if (len == 0 || len > kMaxPayloadBytes || offset + pos + kFrameHeaderBytes + len > limit) {
        damaged = true;
        break;
      }
      bool oversized = false;
      if (pos + kFrameHeaderBytes + len > available) {
        if (pos > 0) break;  // continue from this frame in the next chunk
        // A single frame larger than the chunk: read it whole.
        buf.resize(kFrameHeaderBytes + len);
        if (PreadAll(fd, buf.data(), buf.size(), offset) != static_cast<ssize_t>(buf.size())) {
          return read_error();
        }
        available = buf.size();
        oversized = true;
      }
      std::string payload(buf.data() + pos + kFrameHeaderBytes, len);
      if (Crc32(payload) != crc) {
        damaged = true;
        break;
      }
      pos += kFrameHeaderBytes + len;
      frames.push_back(Frame{std::move(payload), offset + pos});
      if (oversized) break;
    }
    offset += pos;
    if (damaged && !resync(offset)) return read_error();
  }
  ::close(fd);
  *end = offset;
  return frames;
}

bool AuditSpool::DeadLetter(const std::string& payload, std::string_view why) {
  std::lock_guard lock(dead_letter_mu_);
  Json line;
  line["reason"] = std::string(why);
  line["record"] = payload;
  const std::string text = line.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  if (auto r = AppendDeadLetters(options_.directory, text, options_.fsync); !r) {
    Log(r.error().message + "; the record stays in the spool");
    return false;
  }
  dead_lettered_.fetch_add(1);
  if (options_.on_dead_letter) options_.on_dead_letter();
  Log("audit spool: dead-lettered a record: " + std::string(why));
  return true;
}

bool AuditSpool::Deliver(std::vector<AuditRecord> records,
                         const std::vector<std::string>& payloads) {
  auto call = [&](const std::vector<AuditRecord>& batch) -> Result<void> {
    try {
      return handoff_ ? handoff_(batch) : sink_(batch);
    } catch (const std::exception& e) {
      return Fail(ErrorCode::kServiceUnavailable, std::string("audit sink threw: ") + e.what());
    } catch (...) {
      return Fail(ErrorCode::kServiceUnavailable, "audit sink threw");
    }
  };
  bool failing = false;
  auto note_failure = [&](const Error& e) {
    sink_failures_.fetch_add(1);
    if (e.code != ErrorCode::kServiceUnavailable) return;  // that record, not the sink
    if (!failing) Log("audit spool: sink unavailable, retrying: " + e.message);
    failing = true;
    std::lock_guard lock(drain_mu_);
    sink_failing_ = true;
    if (stop_draining_ && drain_until_sink_fails_) drain_deadline_ = SteadyClock::now();
  };
  auto note_success = [&] {
    if (failing) Log("audit spool: sink available again");
    failing = false;
    std::lock_guard lock(drain_mu_);
    sink_failing_ = false;
  };

  if (records.empty()) return true;
  // The records of [begin, end) still to deliver, last first. A range the
  // sink refuses terminally is halved until the records at fault stand
  // alone: each is found in O(log n) calls and dead-lettered, and the others
  // go on without waiting. Only an unavailable sink is waited for, with a
  // backoff that starts afresh for each range.
  std::vector<std::pair<size_t, size_t>> todo{{0, records.size()}};
  std::vector<AuditRecord> part;
  while (!todo.empty()) {
    const auto [begin, end] = todo.back();
    todo.pop_back();
    const bool whole = begin == 0 && end == records.size();
    if (!whole) {
      part.assign(std::make_move_iterator(records.begin() + static_cast<ptrdiff_t>(begin)),
                  std::make_move_iterator(records.begin() + static_cast<ptrdiff_t>(end)));
    }
    const std::vector<AuditRecord>& batch = whole ? records : part;
    auto delay = options_.retry_initial;
    int terminal = 0;
    for (;;) {
      Result<void> r = call(batch);
      if (r) {
        note_success();
        break;
      }
      note_failure(r.error());
      if (r.error().code == ErrorCode::kServiceUnavailable) {
        if (!Backoff(delay)) return false;
        delay = std::min(delay * 2, options_.retry_max);
        continue;
      }
      if (end - begin > 1) {
        const size_t mid = begin + (end - begin) / 2;
        if (!whole) {
          // Put the records back for the halves.
          std::move(part.begin(), part.end(), records.begin() + static_cast<ptrdiff_t>(begin));
        }
        todo.emplace_back(mid, end);
        todo.emplace_back(begin, mid);
        break;
      }
      if (++terminal < options_.terminal_attempts) continue;
      const std::string& payload = payloads.empty() ? SerializeAuditRecord(batch[0]) : payloads[begin];
      if (DeadLetter(payload, r.error().message)) break;
      // Not even the dead letter could be written: the record stays here.
      if (!Backoff(delay)) return false;
      delay = std::min(delay * 2, options_.retry_max);
    }
  }
  return true;
}

Result<void> AuditSpool::PersistCursor(uint64_t seq, uint64_t offset) {
  const std::string body = std::to_string(seq) + " " + std::to_string(offset);
  const std::string text =
      std::string(kCursorMagic) + " " + body + " " + std::to_string(Crc32(body)) + "\n";
  return ReplaceFile(options_.directory + "/cursor", text);
}

void AuditSpool::DrainerLoop() {
  DrainUntilStopped();
  uint64_t seq, offset;
  {
    std::lock_guard lock(drain_mu_);
    seq = cursor_seq_;
    offset = cursor_offset_;
  }
  if (seq != persisted_seq_ || offset != persisted_offset_) {
    if (auto r = PersistCursor(seq, offset); !r) Log(r.error().message);
  }
}

void AuditSpool::DrainUntilStopped() {
  // While a short backlog in the active segment waits for company: until when.
  bool lingering = false;
  SteadyClock::time_point linger_until{};
  for (;;) {
    uint64_t seq = 0;
    uint64_t offset = 0;
    uint64_t limit = 0;
    std::vector<AuditRecord> from_memory;
    uint64_t memory_end = 0;
    {
      std::unique_lock lock(drain_mu_);
      for (;;) {
        if (MustStopDraining()) return;
        if (segments_.empty()) {
          if (stop_draining_) return;
          drain_cv_.wait(lock);
          continue;
        }
        const Segment& s = segments_.front();
        if (s.seq != cursor_seq_) {
          cursor_seq_ = s.seq;
          cursor_offset_ = kHeaderBytes;
          cursor_records_ = 0;
        }
        if (cursor_offset_ < s.size) {
          const bool short_batch =
              s.records - cursor_records_ < static_cast<int64_t>(options_.batch_size);
          if (short_batch && !s.closed && !stop_draining_ && options_.drain_linger.count() > 0) {
            const auto now = SteadyClock::now();
            if (!lingering) linger_until = now + options_.drain_linger;
            lingering = true;
            if (now < linger_until) {
              drainer_lingering_ = true;
              drain_cv_.wait_until(lock, linger_until);
              drainer_lingering_ = false;
              continue;
            }
          }
          lingering = false;
          seq = s.seq;
          offset = cursor_offset_;
          limit = s.size;
          memory_end = TakeCommitted(seq, offset, limit, &from_memory);
          break;
        }
        if (s.closed) {
          // Every record of this segment was delivered (or dead-lettered, or
          // lost to corruption and logged): it can go.
          const int64_t unaccounted = s.records - cursor_records_;
          if (unaccounted > 0) pending_.fetch_sub(unaccounted);
          const std::string path = SegmentPath(s.seq);
          segments_.pop_front();
          lock.unlock();
          ::unlink(path.c_str());
          lock.lock();
          drain_cv_.notify_all();
          continue;
        }
        if (stop_draining_) return;  // caught up with the active segment
        drain_cv_.wait(lock);
      }
    }

    if (!from_memory.empty()) {
      const size_t n = from_memory.size();
      if (!Deliver(std::move(from_memory), {})) return;
      delivered_from_memory_.fetch_add(static_cast<int64_t>(n));
      Delivered(seq, memory_end, n, n);
      continue;
    }
    uint64_t end = offset;
    auto frames = ReadFrames(seq, offset, limit, &end);
    if (!frames) {
      // The segment could not be read (not damage, which ReadFrames skips):
      // retried after a pause, its records stay pending.
      Log(frames.error().message);
      if (!Backoff(options_.retry_max)) return;
      continue;
    }
    std::vector<AuditRecord> records;
    std::vector<std::string> payloads;
    records.reserve(frames->size());
    payloads.reserve(frames->size());
    bool kept = true;
    for (Frame& f : *frames) {
      auto record = ParseAuditRecord(f.payload);
      if (!record) {
        kept = kept && DeadLetter(f.payload, record.error().message);
        continue;
      }
      records.push_back(std::move(*record));
      payloads.push_back(std::move(f.payload));
    }
    if (!kept) {
      // A record that does not parse could not be set aside: nothing of this
      // read moves on until it can be.
      if (!Backoff(options_.retry_max)) return;
      continue;
    }
    if (frames->empty() && end == offset) continue;
    const size_t delivered = records.size();
    if (!Deliver(std::move(records), payloads)) return;
    Delivered(seq, end, frames->size(), delivered);
  }
}

void AuditSpool::Delivered(uint64_t seq, uint64_t end, size_t frames, size_t delivered) {
  const auto now = SteadyClock::now();
  if (now - persisted_at_ >= options_.cursor_sync_interval) {
    if (auto r = PersistCursor(seq, end); !r) {
      Log(r.error().message);
    } else {
      persisted_seq_ = seq;
      persisted_offset_ = end;
      persisted_at_ = now;
    }
  }
  delivered_.fetch_add(static_cast<int64_t>(delivered));
  {
    std::lock_guard lock(drain_mu_);
    cursor_offset_ = end;
    cursor_records_ += static_cast<int64_t>(frames);
    pending_.fetch_sub(static_cast<int64_t>(frames));
  }
  drain_cv_.notify_all();
}

Result<void> AuditSpool::ReplaceFile(const std::string& path, std::string_view content) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: " + tmp, errno));
  const bool ok =
      WriteAll(fd, content.data(), content.size()) && (!options_.fsync || SyncData(fd) == 0);
  const int err = errno;
  ::close(fd);
  if (!ok) return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: " + tmp, err));
  if (::rename(tmp.c_str(), path.c_str()) != 0 || (options_.fsync && ::fsync(dir_fd_) != 0)) {
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit spool: " + path, errno));
  }
  return {};
}

// ---------------------------------------------------------------------------
// Redrive

Result<RedriveStats> RedriveDeadLetters(const std::string& directory, const AuditBatchSink& sink,
                                        bool fsync) {
  const std::string path = directory + "/" + std::string(kDeadLetterFile);
  // Claims the current dead letters by renaming them, under the lock their
  // writers take; a spool that dead-letters meanwhile starts a new file.
  if (const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC); fd >= 0) {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    char name[96];
    std::snprintf(name, sizeof(name), "%s%020" PRId64 "%09ld.jsonl",
                  std::string(kRedrivePrefix).c_str(), static_cast<int64_t>(now.tv_sec),
                  now.tv_nsec);
    const std::string claimed = directory + "/" + name;
    const bool ok = ::flock(fd, LOCK_EX) == 0 && ::rename(path.c_str(), claimed.c_str()) == 0 &&
                    (!fsync || FsyncDir(directory) == 0);
    const int err = errno;
    ::close(fd);
    if (!ok) return Fail(ErrorCode::kServiceUnavailable, ErrnoText("redrive: claim " + path, err));
  } else if (errno != ENOENT) {
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("redrive: open " + path, errno));
  }

  // Every claimed file, this run's and any an earlier run left, oldest first.
  std::vector<std::string> files;
  if (DIR* d = ::opendir(directory.c_str())) {
    while (dirent* e = ::readdir(d)) {
      const std::string_view n = e->d_name;
      if (n.starts_with(kRedrivePrefix) && n.ends_with(".jsonl")) files.emplace_back(n);
    }
    ::closedir(d);
  } else {
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("redrive: list " + directory, errno));
  }
  std::sort(files.begin(), files.end());

  auto call = [&](const std::vector<AuditRecord>& batch) -> Result<void> {
    try {
      return sink(batch);
    } catch (const std::exception& e) {
      return Fail(ErrorCode::kServiceUnavailable, std::string("audit sink threw: ") + e.what());
    }
  };
  RedriveStats stats;
  for (const std::string& name : files) {
    const std::string file = directory + "/" + name;
    std::ifstream in(file, std::ios::binary);
    if (!in) return Fail(ErrorCode::kServiceUnavailable, "redrive: cannot read " + file);
    std::string kept;  // lines that stay dead letters
    std::vector<AuditRecord> records;
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
      std::optional<AuditRecord> record;
      if (j.is_object() && j.contains("record") && j["record"].is_string()) {
        if (auto r = ParseAuditRecord(j["record"].get_ref<const std::string&>())) record = *r;
      }
      if (!record) {
        ++stats.unreadable;
        kept += line + "\n";
        continue;
      }
      records.push_back(std::move(*record));
      lines.push_back(std::move(line));
    }
    auto unavailable = [&](const Error& e) {
      return Fail(ErrorCode::kServiceUnavailable,
                  "redrive: the audit store is unavailable (" + e.message + "); " + file +
                      " is kept and will be sent by the next redrive");
    };
    for (size_t begin = 0; begin < records.size(); begin += 500) {
      const size_t end = std::min(records.size(), begin + 500);
      const std::vector<AuditRecord> batch(records.begin() + static_cast<ptrdiff_t>(begin),
                                           records.begin() + static_cast<ptrdiff_t>(end));
      auto r = call(batch);
      if (r) {
        stats.redriven += static_cast<int64_t>(batch.size());
        continue;
      }
      if (r.error().code == ErrorCode::kServiceUnavailable) return unavailable(r.error());
      for (size_t i = begin; i < end; ++i) {
        auto one = call({records[i]});
        if (one) {
          ++stats.redriven;
          continue;
        }
        if (one.error().code == ErrorCode::kServiceUnavailable) return unavailable(one.error());
        ++stats.refused;
        Json line;
        line["reason"] = one.error().message;
        line["record"] = Json::parse(lines[i])["record"];
        kept += line.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
      }
    }
    if (!kept.empty()) {
      if (auto r = AppendDeadLetters(directory, kept, fsync); !r) return std::unexpected(r.error());
    }
    if (::unlink(file.c_str()) != 0 || (fsync && FsyncDir(directory) != 0)) {
      return Fail(ErrorCode::kServiceUnavailable, ErrnoText("redrive: remove " + file, errno));
    }
  }
  return stats;
}

// ---------------------------------------------------------------------------
// FileAuditStore

FileAuditStore::FileAuditStore(std::string path, int fd, bool fsync, size_t dedup_window)
    : path_(std::move(path)), fd_(fd), fsync_(fsync), dedup_window_(dedup_window) {}

FileAuditStore::~FileAuditStore() { ::close(fd_); }

Result<std::unique_ptr<FileAuditStore>> FileAuditStore::Open(std::string path, bool fsync,
                                                             size_t dedup_window) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0)
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit file: open " + path, errno));
  std::unique_ptr<FileAuditStore> store(new FileAuditStore(path, fd, fsync, dedup_window));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit file: stat " + path, errno));
  }
  uint64_t size = static_cast<uint64_t>(st.st_size);
  // Read the tail: it holds the ids to de-duplicate against and any torn line.
  constexpr uint64_t kTailBytes = 64u << 20;
  const uint64_t start = size > kTailBytes ? size - kTailBytes : 0;
  std::string tail(size - start, '\0');
  if (PreadAll(fd, tail.data(), tail.size(), start) != static_cast<ssize_t>(tail.size())) {
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit file: read " + path, errno));
  }
  if (!tail.empty() && tail.back() != '\n') {
    const size_t last_newline = tail.rfind('\n');
    const uint64_t keep = last_newline == std::string::npos ? start : start + last_newline + 1;
    if (keep == start && start > 0) {
      return Fail(ErrorCode::kServiceUnavailable,
                  "audit file: " + path + " ends in an overlong line");
    }
    if (::ftruncate(fd, static_cast<off_t>(keep)) != 0 || (fsync && SyncData(fd) != 0)) {
      return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit file: truncate " + path, errno));
    }
    tail.resize(keep - start);
    size = keep;
  }
  std::string_view rest(tail);
  if (start > 0) {
    const size_t first = rest.find('\n');
    rest.remove_prefix(first == std::string_view::npos ? rest.size() : first + 1);
  }
  std::lock_guard lock(store->mu_);
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest.remove_prefix(nl == std::string_view::npos ? rest.size() : nl + 1);
    const std::string_view id = CalculationIdOf(line);
    if (!id.empty()) store->Remember(std::string(id));
  }
  return store;
}

void FileAuditStore::Remember(const std::string& id) {
  if (dedup_window_ == 0 || !recent_.insert(id).second) return;
  recent_order_.push_back(id);
  while (recent_order_.size() > dedup_window_) {
    recent_.erase(recent_order_.front());
    recent_order_.pop_front();
  }
}

Result<void> FileAuditStore::InsertBatch(const std::vector<AuditRecord>& records) {
  std::lock_guard lock(mu_);
  std::string text;
  std::vector<const std::string*> added;
  std::unordered_set<std::string_view> in_batch;
  for (const AuditRecord& r : records) {
    if (recent_.contains(r.calculation_id) || !in_batch.insert(r.calculation_id).second) continue;
    text += SerializeAuditRecord(r);
    text += '\n';
    added.push_back(&r.calculation_id);
  }
  if (text.empty()) return {};
  struct stat st {};
  if (::fstat(fd_, &st) != 0) {
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit file: stat " + path_, errno));
  }
  if (!WriteAll(fd_, text.data(), text.size()) || (fsync_ && SyncData(fd_) != 0)) {
    const std::string why = ErrnoText("audit file: write " + path_, errno);
    if (::ftruncate(fd_, st.st_size) != 0) {
      return Fail(ErrorCode::kServiceUnavailable, why + "; and cannot undo a partial line");
    }
    return Fail(ErrorCode::kServiceUnavailable, why);
  }
  for (const std::string* id : added) Remember(*id);
  return {};
}

Result<std::vector<AuditRecord>> FileAuditStore::ReadAll(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "re");
  if (f == nullptr)
    return Fail(ErrorCode::kServiceUnavailable, ErrnoText("audit file: " + path, errno));
  std::string text;
  char chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof(chunk), f)) > 0) text.append(chunk, n);
  std::fclose(f);
  std::vector<AuditRecord> out;
  std::string_view rest(text);
  while (!rest.empty()) {
    const size_t nl = rest.find('\n');
    if (nl == std::string_view::npos) break;  // a torn last line holds no stored record
    auto record = ParseAuditRecord(rest.substr(0, nl));
    if (!record) return std::unexpected(record.error());
    out.push_back(std::move(*record));
    rest.remove_prefix(nl + 1);
  }
  return out;
}

}  // namespace pricing::engine
