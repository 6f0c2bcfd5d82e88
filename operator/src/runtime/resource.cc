#include <algorithm>
#include <charconv>
#include <string_view>

#include "op/kube.h"

namespace pricing::op {

const Resource* ResourceOfChild(std::string_view api_version, std::string_view kind) {
  for (const Resource* r : {&kDeployments, &kServices, &kHorizontalPodAutoscalers,
                            &kPodDisruptionBudgets}) {
    if (r->kind == kind && r->ApiVersion() == api_version) return r;
  }
  return nullptr;
}

bool IsTooLargeResourceVersion(const KubeError& error) {
  // The API server answers 504 Timeout with the cause ResourceVersionTooLarge
  // and this message (apimachinery's NewTooLargeResourceVersionError).
  return error.message.find("Too large resource version") != std::string::npos;
}

std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value) {
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
  int64_t seconds = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), seconds);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || seconds < 0) {
    return std::nullopt;
  }
  return std::chrono::seconds(std::min<int64_t>(seconds, 3600));
}

}  // namespace pricing::op
