// The system CA bundle, loaded only into the TLS connections that trust it.
//
// cpprestsdk readies every new TLS connection with OpenSSL's default trust
// paths before the caller's callback runs, and the default file is the
// system's whole CA bundle: about 140 certificates parsed for each connection,
// milliseconds of CPU and a megabyte of heap, only for the Kubernetes client
// to replace them with the cluster's CA. The heap is freed, but the operator's
// resident size keeps its high-water mark: an idle operator's heap and stacks
// are 6.0 MiB resident with those loads, 2.6 MiB without.
//
// DeferDefaultCaBundle() records which bundle file the process would trust
// ($SSL_CERT_FILE, else OpenSSL's built-in default) and points SSL_CERT_FILE
// at no file, so the default paths keep only the hashed certificate
// directory, read lazily. TrustDefaultCaBundle() loads the recorded bundle
// into a context that should trust it: a volatility source's, or a cluster's
// that has no CA of its own. Trust is what it was; only the Kubernetes
// connections with a cluster CA stop parsing a bundle they never used.
#pragma once

#include <boost/asio/ssl/context.hpp>
#include <string>
#include <vector>

namespace pricing::op {

// Call once, before any thread starts (it changes the environment).
void DeferDefaultCaBundle();

// The bundle DeferDefaultCaBundle recorded ("" before it ran).
std::string DeferredCaBundle();

// Adds the recorded bundle's certificates to `context`'s trust store; does
// nothing before DeferDefaultCaBundle ran (the default paths then hold it) or
// when the file cannot be read (OpenSSL's defaults ignore that too).
void TrustDefaultCaBundle(boost::asio::ssl::context& context);

// Puts SSL_CERT_FILE back in `environment` ("NAME=value" entries for a child
// process, such as an exec credential plugin) as it was before
// DeferDefaultCaBundle: its old value, or no entry when the program had none.
// Leaves other entries, and an SSL_CERT_FILE set to anything else, alone.
void RestoreCaBundleVariable(std::vector<std::string>& environment);

}  // namespace pricing::op
