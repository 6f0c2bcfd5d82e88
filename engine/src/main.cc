// pricing-engine: the REST pricing service (docs/design.md §2).
//
//   pricing-engine [serve] [flags]   serve prices (the default subcommand)
//   pricing-engine migrate [flags]   apply the database migrations and exit
//   pricing-engine seed FILE [flags] upsert a reference-data YAML file and exit
//
// `serve` runs one role (--role): `all` does everything in one process; the
// split roles are gateway (auth, rate limits, forwarding to calculation),
// calculation (pricing over the data role, Redis and the audit role), data
// (PostgreSQL and the external APIs behind an internal API), cache (keeps
// Redis warm for active tickers) and audit (audit batches into PostgreSQL).
//
// Configuration: flags > --config FILE.yaml > PRICING_* environment > defaults
// (`pricing-engine --help`). A bad value stops the process with one line.
// clang-format off
#include <utility>  // first: Boost.Asio headers pulled in by cpprestsdk need std::exchange
// clang-format on

#include <pplx/threadpool.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "adapters/thread_name.h"
#include "engine/config.h"
#include "roles/commands.h"
#include "roles/common.h"
#include "roles/roles.h"

namespace pricing::engine {
namespace {

int Serve(const EngineConfig& cfg) {
  if (auto ok = ValidateRoleConfig(cfg); !ok) Die(ok.error().message);
  switch (cfg.role) {
    case Role::kAll:
      return ServeAll(cfg);
    case Role::kGateway:
      return ServeGateway(cfg);
    case Role::kCalculation:
      return ServeCalculation(cfg);
    case Role::kData:
      return ServeData(cfg);
    case Role::kCache:
      return ServeCache(cfg);
    case Role::kAudit:
      return ServeAudit(cfg);
  }
  return ServeAll(cfg);
}

}  // namespace
}  // namespace pricing::engine

int main(int argc, char** argv) {
  using namespace pricing::engine;
  // Signals are handled by one thread waiting on them; others never see them.
  // The mask is set before any thread starts, since threads inherit it: a
  // SIGTERM the kernel gave to a thread without it would end the process on
  // the spot, skipping the graceful stop.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  pricing::SetLogOutput(STDOUT_FILENO, "pricing-engine");

  // cpprestsdk's shared pool defaults to 40 threads; on small machines a pool
  // the size of the core count is faster and has far lower tail latency.
  const int cpprest_threads = static_cast<int>(std::max(2u, std::thread::hardware_concurrency()));
  crossplat::threadpool::initialize_with_threads(static_cast<size_t>(cpprest_threads));
  NameThreadsOf(crossplat::threadpool::shared_instance().service().get_executor(), cpprest_threads,
                "cpprest");

  std::vector<std::string> args(argv + 1, argv + argc);
  auto cfg = LoadConfig(
      args,
      [](const std::string& name) -> std::optional<std::string> {
        const char* v = std::getenv(name.c_str());
        return v ? std::optional<std::string>(v) : std::nullopt;
      },
      ReadFile);
  if (!cfg) Die(cfg.error().message);
  if (cfg->show_help) {
    std::cout << "usage: pricing-engine [serve|migrate|seed FILE|audit redrive] [flags]\n\n"
              << ConfigHelp();
    return 0;
  }
  std::string sub = cfg->positional.empty() ? "serve" : cfg->positional[0];
  if (sub == "migrate") return Migrate(*cfg);
  if (sub == "seed") return Seed(*cfg);
  if (sub == "audit") return Audit(*cfg);
  if (sub != "serve")
    Die("unknown subcommand '" + sub + "' (serve, migrate, seed FILE, audit redrive)");

  std::thread([set] {
    pricing::NameThisThread("signals");
    int sig = 0;
    sigwait(&set, &sig);
    RequestStop();
  }).detach();
  return Serve(*cfg);
}
