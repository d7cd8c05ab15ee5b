// The web dashboard's files (web/), compiled into the binary so that the
// dashboard works with no network and no files beside the binary (issue 6;
// doc/dashboard.md). The table is generated at build time from web/ by
// embed.cmake; editing a file under web/ rebuilds it.
#pragma once

#include <string_view>
#include <vector>

namespace slipway {

struct Asset {
  std::string_view path;          // relative to web/, e.g. "index.html", "js/app.js"
  std::string_view content_type;  // e.g. "text/javascript; charset=utf-8"
  std::string_view etag;          // quoted strong ETag from the content's SHA-256, e.g. "\"3f2a...\""
  std::string_view body;
};

// The asset at `path` (relative to web/, no leading '/'), or nullptr. Never
// matches a path with "..", a leading '/' or a backslash. Thread-safe (the
// table is constant).
const Asset* FindAsset(std::string_view path);

// Every asset, sorted by path (for tests and the benchmark).
const std::vector<Asset>& AllAssets();

}  // namespace slipway
