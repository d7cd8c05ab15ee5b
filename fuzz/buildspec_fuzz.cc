// libFuzzer target: the CodeBuild buildspec 0.2 parser. See doc/reliability.md.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "buildspec/buildspec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto spec = slipway::ParseBuildspec(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!spec.ok() && spec.status().message().empty()) __builtin_trap();
  return 0;
}
