// The engine writes RFC 3339 with the shared writer (common/time_text.h).
#pragma once

#include "common/time_text.h"

namespace pricing::engine {

using pricing::AppendRfc3339Utc;
using pricing::Rfc3339Utc;

}  // namespace pricing::engine
