// The engine's errors are the shared ones (common/error.h): every error that
// reaches a client maps to one code of docs/design.md §2.3. Named here too, so that
// pricing::engine::Result and the like keep working.
#pragma once

#include "common/error.h"

namespace pricing::engine {

using pricing::Error;
using pricing::ErrorCode;
using pricing::ErrorCodeName;
using pricing::Fail;
using pricing::HttpStatus;
using pricing::Result;
using pricing::ToString;

}  // namespace pricing::engine
