// The database schema's migrations: engine/sql/NNNN_name.sql, compiled into the
// binary at build time (engine/CMakeLists.txt embeds them), so an image needs
// no SQL files at run time. RunMigrations (pg_store.h) applies them.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/error.h"

namespace pricing::engine {

struct SqlMigration {
  int version = 0;       // NNNN of the file name
  std::string name;      // the file name, e.g. "0001_init.sql"
  std::string_view sql;  // the file's text
  std::string checksum;  // lowercase hex SHA-256 of `sql`
};

// Returns the embedded migrations ordered by version. kCalculationError when a
// file name does not start with a positive version number followed by '_', or
// two files share a version (a build defect, caught by the tests).
Result<std::vector<SqlMigration>> EmbeddedMigrations();

// Parses migrations from (file name, text) pairs; the same rules as
// EmbeddedMigrations.
Result<std::vector<SqlMigration>> ParseMigrations(
    const std::vector<std::pair<std::string_view, std::string_view>>& files);

}  // namespace pricing::engine
