// Audit records as the spool and the audit role read them back (a spool
// segment's frame, a line of POST /internal/v1/audit-batches): whatever
// ParseAuditRecord accepts is a record SerializeAuditRecord writes and reads
// back exactly.
#include <string>

#include "adapters/audit_spool.h"
#include "fuzz_check.h"

namespace engine = pricing::engine;
using pricing::fuzz::Check;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto record = engine::ParseAuditRecord(pricing::fuzz::Text(data, size));
  if (!record) return 0;
  const std::string written = engine::SerializeAuditRecord(*record);
  const auto again = engine::ParseAuditRecord(written);
  Check(again.has_value(), "a serialized record does not parse", written);
  Check(engine::SerializeAuditRecord(*again) == written, "a record does not round trip", written);
  return 0;
}
