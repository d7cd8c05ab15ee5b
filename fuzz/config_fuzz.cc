// libFuzzer target: slipway.yaml, from text (ParseConfig) and from a file
// (LoadConfig, which adds the size check). Any input must give a Config or a
// Status, never a crash, a hang or a sanitizer report. See doc/reliability.md.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "config/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  auto parsed = slipway::ParseConfig(text, "/fuzz/slipway.yaml");
  if (!parsed.ok() && parsed.status().message().empty()) __builtin_trap();  // an error must say something

  // Every few inputs, through a real file too.
  if (size % 8 == 0) {
    char path[] = "/tmp/slipway-fuzz-config-XXXXXX";
    int fd = mkstemp(path);
    if (fd >= 0) {
      bool written = write(fd, data, size) == static_cast<ssize_t>(size);
      close(fd);
      if (written) (void)slipway::LoadConfig(path).ok();
      unlink(path);
    }
  }
  return 0;
}
