// Files compiled into the binary (cmake/Embed.cmake), so a container image
// needs nothing from the source tree at run time.
#pragma once

#include <string_view>
#include <vector>

namespace pricing::engine {

// Returns the contents of the embedded document `name` (e.g. "openapi.yaml"),
// or an empty view.
std::string_view EmbeddedDoc(std::string_view name);
std::vector<std::string_view> EmbeddedDocNames();

inline std::string_view EmbeddedOpenApi() { return EmbeddedDoc("openapi.yaml"); }

}  // namespace pricing::engine
