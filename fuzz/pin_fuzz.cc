// libFuzzer target: the pin readers, deploy.yaml and variables.sh (parsed,
// never executed). The first byte picks the reader. See doc/reliability.md.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/pin.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) {
    auto pin = slipway::ParseVariablesSh(text, "settings@fuzz:environments/x/variables.sh");
    if (!pin.ok() && pin.status().message().empty()) __builtin_trap();
  } else {
    auto pin = slipway::ParseDeployYaml(text, "settings@fuzz:environments/x/deploy.yaml");
    if (!pin.ok() && pin.status().message().empty()) __builtin_trap();
  }
  return 0;
}
