// Helpers shared by the audit spool tests and benchmark: a fully populated
// AuditRecord per id, and a scratch directory that removes itself.
#pragma once

#include <string>

#include "engine/ports.h"

namespace pricing::engine::testing {

// Returns a record with every field set; values vary with `n` so that a
// swapped or dropped field is noticed.
AuditRecord MakeAuditRecord(const std::string& calculation_id, int n = 0);

// Returns a description of the first field where `a` and `b` differ, or empty.
std::string DiffAuditRecords(const AuditRecord& a, const AuditRecord& b);

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on
// destruction.
class ScratchDir {
 public:
  ScratchDir();
  ~ScratchDir();
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace pricing::engine::testing
