#include "adapters/tls_trust.h"

#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <unistd.h>

#include <boost/asio/ssl/context.hpp>
#include <cstdio>
#include <string>

namespace pricing::op {
namespace {

// Writes a self-signed CA certificate as PEM to a new file; returns its path.
std::string WriteSelfSignedCa() {
  EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
  X509* cert = X509_new();
  ASN1_INTEGER_set(X509_get_serialNumber(cert), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert), 3600);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("tls-trust-test"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  X509_sign(cert, key, EVP_sha256());
  char path[] = "/tmp/tls-trust-test-XXXXXX";
  const int fd = mkstemp(path);
  FILE* out = fdopen(fd, "w");
  PEM_write_X509(out, cert);
  fclose(out);
  X509_free(cert);
  EVP_PKEY_free(key);
  return path;
}

int TrustedCertificates(boost::asio::ssl::context& context) {
  int n = 0;
  STACK_OF(X509_OBJECT)* objects =
      X509_STORE_get0_objects(SSL_CTX_get_cert_store(context.native_handle()));
  for (int i = 0; i < sk_X509_OBJECT_num(objects); ++i) {
    if (X509_OBJECT_get_type(sk_X509_OBJECT_value(objects, i)) == X509_LU_X509) ++n;
  }
  return n;
}

// One test: deferring changes the process's environment for good.
TEST(TlsTrust, TheDefaultBundleIsLoadedOnlyWhereItIsTrusted) {
  const std::string bundle = WriteSelfSignedCa();
  ASSERT_EQ(::setenv(X509_get_default_cert_file_env(), bundle.c_str(), 1), 0);

  boost::asio::ssl::context before(boost::asio::ssl::context::sslv23);
  TrustDefaultCaBundle(before);  // not deferred yet: nothing to add
  EXPECT_EQ(TrustedCertificates(before), 0);
  before.set_default_verify_paths();
  EXPECT_EQ(TrustedCertificates(before), 1) << "the default paths load the bundle eagerly";

  DeferDefaultCaBundle();
  EXPECT_EQ(DeferredCaBundle(), bundle);
  DeferDefaultCaBundle();  // a second call keeps what the first recorded
  EXPECT_EQ(DeferredCaBundle(), bundle);
  EXPECT_NE(std::string(::getenv(X509_get_default_cert_file_env())), bundle);

  boost::asio::ssl::context kube(boost::asio::ssl::context::sslv23);
  kube.set_default_verify_paths();  // what cpprestsdk does for every connection
  EXPECT_EQ(TrustedCertificates(kube), 0);

  boost::asio::ssl::context volatility(boost::asio::ssl::context::sslv23);
  volatility.set_default_verify_paths();
  TrustDefaultCaBundle(volatility);
  EXPECT_EQ(TrustedCertificates(volatility), 1);
  ::unlink(bundle.c_str());
}

}  // namespace
}  // namespace pricing::op
