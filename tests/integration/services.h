// The PostgreSQL and Redis the integration tests run against: private
// instances started once per test program by scripts/services.sh in a fresh
// temporary directory (a GoogleTest global Environment), and torn down at the
// end. A watchdog tears them down too if the program dies without doing so.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <string_view>

namespace pricing::engine::testing_support {

class Services {
 public:
  // REQUIRES: the ServicesEnvironment has been set up.
  static Services& Get();

  // The application role's URL of database `pricing`.
  const std::string& database_url() const { return values_.at("PRICING_DATABASE_URL"); }
  const std::string& redis_url() const { return values_.at("PRICING_REDIS_URL"); }
  const std::string& admin_url() const { return values_.at("PRICING_PG_ADMIN_URL"); }

  // Creates an empty database owned by the application role and returns its
  // URL, so each test gets its own schema to migrate.
  std::string CreateDatabase();

  // Fault injection through scripts/services.sh (same ports and data on
  // restart). Each returns true on success.
  bool StopPostgres() { return Run("stop-pg"); }
  bool StartPostgres() { return Run("start-pg"); }
  bool StopRedis() { return Run("stop-redis"); }
  bool StartRedis() { return Run("start-redis"); }

 private:
  friend class ServicesEnvironment;
  bool Up();
  void Down();
  bool Run(std::string_view command);

  std::string dir_;
  std::map<std::string, std::string> values_;  // DIR/services.env
  int databases_ = 0;
};

class ServicesEnvironment : public ::testing::Environment {
 public:
  void SetUp() override;
  void TearDown() override;
};

}  // namespace pricing::engine::testing_support
