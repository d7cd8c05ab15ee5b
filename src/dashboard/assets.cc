#include "dashboard/assets.h"

#include <algorithm>

namespace slipway {

namespace dashboard_generated {
// Defined in the .cc that embed.cmake generates from web/.
const std::vector<Asset>& Table();
}  // namespace dashboard_generated

const std::vector<Asset>& AllAssets() { return dashboard_generated::Table(); }

const Asset* FindAsset(std::string_view path) {
  if (path.empty() || path.front() == '/' || path.find("..") != std::string_view::npos ||
      path.find('\\') != std::string_view::npos) {
    return nullptr;
  }
  const std::vector<Asset>& table = AllAssets();
  auto it =
      std::lower_bound(table.begin(), table.end(), path, [](const Asset& a, std::string_view p) { return a.path < p; });
  if (it == table.end() || it->path != path) return nullptr;
  return &*it;
}

}  // namespace slipway
