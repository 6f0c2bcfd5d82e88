#include "adapters/callback_home.h"

namespace pricing::engine {
namespace {

thread_local CallbackHome* this_thread_home = nullptr;

}  // namespace

CallbackHome* ThisThreadHome() { return this_thread_home; }

void SetThisThreadHome(CallbackHome* home) { this_thread_home = home; }

}  // namespace pricing::engine
