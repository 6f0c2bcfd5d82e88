// The integration tests' entry point: brings PostgreSQL and Redis up once for
// the whole program (services.h), then runs every test.
#include <gtest/gtest.h>

#include "services.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new pricing::engine::testing_support::ServicesEnvironment);
  return RUN_ALL_TESTS();
}
