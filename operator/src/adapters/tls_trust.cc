#include "adapters/tls_trust.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>

#include <mutex>

namespace pricing::op {
namespace {

std::mutex mu;
std::string bundle;         // guarded by mu
bool had_variable = false;  // guarded by mu: SSL_CERT_FILE was set before deferring

// Where SSL_CERT_FILE points once deferred: a path that never exists.
constexpr const char* kNoFile = "/nonexistent/pricing-operator/ca-bundle-deferred";

}  // namespace

void DeferDefaultCaBundle() {
  std::lock_guard lock(mu);
  const char* variable = X509_get_default_cert_file_env();
  const char* current = ::getenv(variable);
  if (current != nullptr && std::string(current) == kNoFile) return;  // already deferred
  had_variable = current != nullptr;
  bundle = current != nullptr ? current : X509_get_default_cert_file();
  ::setenv(variable, kNoFile, 1);
}

std::string DeferredCaBundle() {
  std::lock_guard lock(mu);
  return bundle;
}

void RestoreCaBundleVariable(std::vector<std::string>& environment) {
  std::lock_guard lock(mu);
  if (bundle.empty()) return;
  const std::string deferred = std::string(X509_get_default_cert_file_env()) + "=" + kNoFile;
  for (auto entry = environment.begin(); entry != environment.end(); ++entry) {
    if (*entry != deferred) continue;
    if (had_variable) {
      *entry = std::string(X509_get_default_cert_file_env()) + "=" + bundle;
    } else {
      environment.erase(entry);
    }
    return;
  }
}

void TrustDefaultCaBundle(boost::asio::ssl::context& context) {
  const std::string file = DeferredCaBundle();
  if (file.empty()) return;
  if (SSL_CTX_load_verify_locations(context.native_handle(), file.c_str(), nullptr) != 1) {
    ERR_clear_error();
  }
}

}  // namespace pricing::op
