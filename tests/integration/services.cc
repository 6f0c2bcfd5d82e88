#include "services.h"

#include <libpq-fe.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>

#include "common/testing/shell.h"

#ifndef PRICING_SOURCE_DIR
#error "PRICING_SOURCE_DIR must name the source tree (set by tests/integration/CMakeLists.txt)"
#endif

namespace pricing::engine::testing_support {
namespace {

Services* g_services = nullptr;

std::string Script() { return std::string(PRICING_SOURCE_DIR) + "/scripts/services.sh"; }

using pricing::testing_shell::ShellQuote;

}  // namespace

Services& Services::Get() {
  if (g_services == nullptr) {
    std::fprintf(stderr, "Services::Get() called without the ServicesEnvironment\n");
    std::abort();
  }
  return *g_services;
}

bool Services::Run(std::string_view command) {
  const std::string cmd = "bash " + ShellQuote(Script()) + " " + std::string(command) + " " +
                          ShellQuote(dir_) + " >/dev/null";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    ADD_FAILURE() << cmd << " exited with status " << rc;
    return false;
  }
  return true;
}

bool Services::Up() {
  char tmpl[] = "/tmp/pricing-integration-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    ADD_FAILURE() << "mkdtemp failed";
    return false;
  }
  dir_ = tmpl;
  if (!Run("up")) return false;
  // The watchdog stops the services if this process dies without TearDown.
  const std::string watchdog = "setsid bash -c " +
                               ShellQuote("while kill -0 " + std::to_string(getpid()) +
                                          " 2>/dev/null; do sleep 1; done; exec bash " +
                                          ShellQuote(Script()) + " down " + ShellQuote(dir_)) +
                               " </dev/null >/dev/null 2>&1 &";
  if (std::system(watchdog.c_str()) != 0) ADD_FAILURE() << "could not start the watchdog";
  std::ifstream env(dir_ + "/services.env");
  std::string line;
  while (std::getline(env, line)) {
    const size_t eq = line.find('=');
    if (eq != std::string::npos) values_[line.substr(0, eq)] = line.substr(eq + 1);
  }
  for (const char* key : {"PRICING_DATABASE_URL", "PRICING_REDIS_URL", "PRICING_PG_ADMIN_URL"}) {
    if (!values_.contains(key)) {
      ADD_FAILURE() << dir_ << "/services.env lacks " << key;
      return false;
    }
  }
  return true;
}

void Services::Down() {
  if (!dir_.empty()) Run("down");
}

std::string Services::CreateDatabase() {
  const std::string name = "it_" + std::to_string(getpid()) + "_" + std::to_string(++databases_);
  std::unique_ptr<PGconn, decltype(&PQfinish)> admin(PQconnectdb(admin_url().c_str()), PQfinish);
  if (PQstatus(admin.get()) != CONNECTION_OK) {
    ADD_FAILURE() << "admin connection: " << PQerrorMessage(admin.get());
    return {};
  }
  // The name is generated above (no user input), so it can be spliced.
  PGresult* r = PQexec(admin.get(), ("CREATE DATABASE " + name + " OWNER pricing").c_str());
  const bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
  if (!ok) ADD_FAILURE() << "CREATE DATABASE: " << PQresultErrorMessage(r);
  PQclear(r);
  const std::string& url = database_url();
  return url.substr(0, url.rfind('/') + 1) + name;
}

void ServicesEnvironment::SetUp() {
  g_services = new Services();
  ASSERT_TRUE(g_services->Up()) << "could not start PostgreSQL and Redis with " << Script();
}

void ServicesEnvironment::TearDown() {
  if (g_services == nullptr) return;
  g_services->Down();
  delete g_services;
  g_services = nullptr;
}

}  // namespace pricing::engine::testing_support
