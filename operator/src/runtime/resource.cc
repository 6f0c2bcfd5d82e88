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

}  // namespace pricing::op
