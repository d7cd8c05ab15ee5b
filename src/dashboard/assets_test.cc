#include "dashboard/assets.h"

#include <gtest/gtest.h>

#include <string>

#include "testing/testing.h"

namespace slipway {
namespace {

TEST(DashboardAssetsTest, IndexIsEmbeddedByteForByteWithTypeAndEtag) {
  const Asset* index = FindAsset("index.html");
  ASSERT_NE(index, nullptr);
  EXPECT_EQ(index->content_type, "text/html; charset=utf-8");
  EXPECT_EQ(std::string(index->body), testing::ReadTextFile(std::string(SLIPWAY_SOURCE_DIR) + "/web/index.html"));
  ASSERT_GE(index->etag.size(), 3u);
  EXPECT_EQ(index->etag.front(), '"');
  EXPECT_EQ(index->etag.back(), '"');

  const Asset* app = FindAsset("js/app.js");
  ASSERT_NE(app, nullptr);
  EXPECT_EQ(app->content_type, "text/javascript; charset=utf-8");
  EXPECT_NE(app->etag, index->etag);
  ASSERT_NE(FindAsset("style.css"), nullptr);
  EXPECT_EQ(FindAsset("style.css")->content_type, "text/css; charset=utf-8");
}

TEST(DashboardAssetsTest, RefusesPathsOutsideTheTable) {
  EXPECT_EQ(FindAsset(""), nullptr);
  EXPECT_EQ(FindAsset("/index.html"), nullptr);
  EXPECT_EQ(FindAsset("../CMakeLists.txt"), nullptr);
  EXPECT_EQ(FindAsset("js/../index.html"), nullptr);
  EXPECT_EQ(FindAsset("js\\app.js"), nullptr);
  EXPECT_EQ(FindAsset("nope.js"), nullptr);
}

// The CSP allows only the dashboard's own script files, and data must never
// be parsed as HTML: no inline script, no innerHTML / outerHTML /
// insertAdjacentHTML / document.write anywhere in web/.
TEST(DashboardAssetsTest, NoInlineScriptAndNoHtmlSinks) {
  ASSERT_FALSE(AllAssets().empty());
  for (const Asset& a : AllAssets()) {
    std::string body(a.body);
    for (const char* sink : {"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("}) {
      EXPECT_EQ(body.find(sink), std::string::npos) << a.path << " uses " << sink;
    }
    if (a.path.ends_with(".html")) {
      size_t at = 0;
      while ((at = body.find("<script", at)) != std::string::npos) {
        size_t end = body.find('>', at);
        EXPECT_NE(body.substr(at, end - at).find(" src="), std::string::npos) << a.path << ": inline script";
        at = end;
      }
      EXPECT_EQ(body.find(" style="), std::string::npos) << a.path << ": inline style";
      EXPECT_EQ(body.find(" onclick="), std::string::npos) << a.path << ": inline handler";
    }
  }
}

}  // namespace
}  // namespace slipway
