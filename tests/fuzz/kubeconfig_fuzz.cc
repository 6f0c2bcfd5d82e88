// A kubeconfig file (`pricing-operator --kubeconfig`, $KUBECONFIG): loading
// it never breaks. Relative file references resolve to a private directory
// holding a CA, a client certificate and key, and a token.
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "adapters/kubeconfig.h"
#include "fuzz_check.h"

namespace op = pricing::op;
using pricing::fuzz::Check;

namespace {

std::string Write(const std::filesystem::path& path, std::string_view text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  return path.string();
}

const std::filesystem::path& Dir() {
  static const std::filesystem::path dir = [] {
    const char* tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/kubeconfig-fuzz-XXXXXX";
    Check(::mkdtemp(pattern.data()) != nullptr, "mkdtemp");
    const std::filesystem::path d = pattern;
    Write(d / "ca.crt", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    Write(d / "client.crt", "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n");
    Write(d / "client.key", "-----BEGIN PRIVATE KEY-----\nMIID\n-----END PRIVATE KEY-----\n");
    Write(d / "token", "fuzz-token\n");
    std::atexit([] { std::filesystem::remove_all(Dir()); });
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = pricing::fuzz::Text(data, size);
  (void)op::DecodeBase64(text);
  const std::string path = Write(Dir() / "config", text);
  if (auto config = op::LoadKubeconfig(path)) {
    Check(!config->server.empty(), "a kubeconfig without a server accepted");
    op::BearerToken token(*config);
    (void)token.Get();
  }
  return 0;
}
