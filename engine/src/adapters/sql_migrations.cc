#include "adapters/sql_migrations.h"

#include <algorithm>
#include <charconv>

#include "adapters/memory_store.h"

namespace pricing::engine {

// Generated from engine/sql/*.sql by cmake/Embed.cmake.
std::string_view EmbeddedSql(std::string_view name);
std::vector<std::string_view> EmbeddedSqlNames();

Result<std::vector<SqlMigration>> ParseMigrations(
    const std::vector<std::pair<std::string_view, std::string_view>>& files) {
  std::vector<SqlMigration> out;
  for (const auto& [name, sql] : files) {
    const size_t underscore = name.find('_');
    int version = 0;
    const char* end = name.data() + (underscore == std::string_view::npos ? 0 : underscore);
    auto [ptr, ec] = std::from_chars(name.data(), end, version);
    if (underscore == std::string_view::npos || underscore == 0 || ec != std::errc() ||
        ptr != end || version <= 0 || !name.ends_with(".sql")) {
      return Fail(ErrorCode::kCalculationError,
                  "migration file '" + std::string(name) + "' is not named NNNN_name.sql");
    }
    out.push_back(SqlMigration{version, std::string(name), sql, Sha256Hex(sql)});
  }
  std::sort(out.begin(), out.end(),
            [](const SqlMigration& a, const SqlMigration& b) { return a.version < b.version; });
  for (size_t i = 1; i < out.size(); ++i) {
    if (out[i].version == out[i - 1].version) {
      return Fail(ErrorCode::kCalculationError, "migrations '" + out[i - 1].name + "' and '" +
                                                    out[i].name + "' share version " +
                                                    std::to_string(out[i].version));
    }
  }
  return out;
}

Result<std::vector<SqlMigration>> EmbeddedMigrations() {
  std::vector<std::pair<std::string_view, std::string_view>> files;
  for (std::string_view name : EmbeddedSqlNames()) files.emplace_back(name, EmbeddedSql(name));
  return ParseMigrations(files);
}

}  // namespace pricing::engine
