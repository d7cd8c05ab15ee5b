// End-to-end: what `slipway serve` adds for the dashboard (issue 6,
// doc/dashboard.md) — the page and its assets with their security headers,
// GET /api/v1/whoami and GET /api/v1/environments/ENV/changes. The page
// itself is tested in headless Chromium (tests/browser).
#include <gtest/gtest.h>

#include "e2e/daemon_fixture.h"

namespace slipway {
namespace {

using namespace daemon_testing;

class DashboardApiE2E : public ::testing::Test {
 protected:
  void Start() {
    w_.Pin("staging", "v1.0.0");
    w_.settings_->Write("environments/production/deploy.yaml", "code:\n  ref: v1.0.0\n");
    first_ = w_.PushSettings("staging on v1.0.0");
    // Polled every second: a new environment deploys at once, and a push is
    // seen within a second or two. Its test step passes on 1.0.0 only, so a
    // push to v1.1.0 fails and stays pending between deployed and desired.
    cfg_ = w_.WriteConfig(w_.Env("staging", "      push: { poll: 1s }\n",
                                 {{"test", "grep -qx 1.0.0 VERSION"}, {"deploy", kRecordVersion}}));
    viewer_ = w_.Token("viewer", "vera");
    operator_ = w_.Token("operator", "otto");
    serve_ = std::make_unique<Serve>(w_.tmp_.path(), cfg_);
    api_ = std::make_unique<Api>(w_.port_, viewer_);
    ASSERT_TRUE(WaitFor([&] { return api_->Healthy(); }, 15000)) << serve_->Log();
  }

  json Changes() { return api_->GetJson("/api/v1/environments/staging/changes"); }

  World w_;
  std::string cfg_, viewer_, operator_, first_;
  std::unique_ptr<Serve> serve_;
  std::unique_ptr<Api> api_;
};

TEST_F(DashboardApiE2E, PageAndAssetsAreServedWithoutATokenWithStrictHeaders) {
  Start();
  httplib::Client c("127.0.0.1", w_.port_);
  auto index = c.Get("/");
  ASSERT_TRUE(index);
  EXPECT_EQ(index->status, 200);
  EXPECT_EQ(index->get_header_value("Content-Type"), "text/html; charset=utf-8");
  EXPECT_NE(index->body.find("/assets/js/app.js"), std::string::npos);
  std::string csp = index->get_header_value("Content-Security-Policy");
  EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << csp;
  EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << csp;
  EXPECT_EQ(csp.find("unsafe"), std::string::npos) << csp;
  EXPECT_EQ(index->get_header_value("X-Content-Type-Options"), "nosniff");
  EXPECT_EQ(index->get_header_value("Referrer-Policy"), "no-referrer");

  // The ETag lets the browser revalidate for nothing.
  std::string etag = index->get_header_value("ETag");
  ASSERT_FALSE(etag.empty());
  auto again = c.Get("/", {{"If-None-Match", etag}});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 304);
  EXPECT_TRUE(again->body.empty());

  auto js = c.Get("/assets/js/app.js");
  ASSERT_TRUE(js);
  EXPECT_EQ(js->status, 200);
  EXPECT_EQ(js->get_header_value("Content-Type"), "text/javascript; charset=utf-8");
  EXPECT_EQ(js->get_header_value("X-Content-Type-Options"), "nosniff");

  auto missing = c.Get("/assets/nope.js");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  EXPECT_NE(missing->body.find("\"not_found\""), std::string::npos);
  auto escape = c.Get("/assets/..%2Fslipway.yaml");
  ASSERT_TRUE(escape);
  EXPECT_EQ(escape->status, 404);
  EXPECT_EQ(escape->body.find("state_dir"), std::string::npos);
}

TEST_F(DashboardApiE2E, WhoamiNamesTheTokenAndItsRole) {
  Start();
  json v = api_->GetJson("/api/v1/whoami");
  EXPECT_EQ(v["name"], "vera");
  EXPECT_EQ(v["role"], "viewer");
  auto o = api_->GetAs(operator_, "/api/v1/whoami");
  ASSERT_TRUE(o);
  EXPECT_EQ(json::parse(o->body)["role"], "operator");
  auto none = api_->GetAs("", "/api/v1/whoami");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 401);
}

TEST_F(DashboardApiE2E, ChangesListTheSettingsCommitsFilesAndPinBetweenDeployedAndDesired) {
  Start();
  auto env = [&] { return api_->GetJson("/api/v1/environments/staging"); };
  // Deployed and checked: nothing between.
  ASSERT_TRUE(WaitFor([&] { return env()["sync"] == "Synced"; }, 60000)) << serve_->Log();
  json c = Changes();
  EXPECT_EQ(c["path"], "environments/staging");
  EXPECT_EQ(c["from_commit"], first_);
  EXPECT_EQ(c["to_commit"], first_);
  EXPECT_TRUE(c["commits"].empty());
  EXPECT_EQ(c["pin"]["changed"], false);
  EXPECT_EQ(c["note"], "");

  // Two commits: one outside the folder, then the pin moves, with an HTML
  // message kept as it is (the page renders it as text). The push runs and
  // fails its test step: v1.0.0 stays deployed.
  w_.settings_->Write("environments/production/deploy.yaml", "code:\n  ref: v1.1.0\n");
  std::string other = w_.PushSettings("production only");
  w_.Pin("staging", "v1.1.0");
  w_.settings_->Write("environments/staging/notes.txt", "why\n");
  std::string bump = w_.PushSettings("staging to v1.1.0 <b>now</b>");
  ASSERT_TRUE(WaitFor([&] { return env()["desired"]["settings_commit"] == bump; }, 60000)) << serve_->Log();
  EXPECT_EQ(env()["sync"], "OutOfSync");

  c = Changes();
  EXPECT_EQ(c["from_commit"], first_);
  EXPECT_EQ(c["to_commit"], bump);
  ASSERT_EQ(c["commits"].size(), 2u) << c.dump(2);
  EXPECT_EQ(c["commits"][0]["commit"], bump);
  EXPECT_EQ(c["commits"][0]["subject"], "staging to v1.1.0 <b>now</b>");
  EXPECT_EQ(c["commits"][0]["files"],
            json::array({"environments/staging/deploy.yaml", "environments/staging/notes.txt"}));
  EXPECT_EQ(c["commits"][1]["commit"], other);
  EXPECT_TRUE(c["commits"][1]["files"].empty()) << "a commit outside the folder lists no file";
  EXPECT_EQ(c["files"], json::array({"environments/staging/deploy.yaml", "environments/staging/notes.txt"}));
  EXPECT_EQ(c["truncated"], false);
  EXPECT_EQ(c["pin"]["from"]["code_ref"], "v1.0.0");
  EXPECT_EQ(c["pin"]["to"]["code_ref"], "v1.1.0");
  EXPECT_EQ(c["pin"]["from"]["code_commit"], w_.v1_);
  EXPECT_EQ(c["pin"]["to"]["code_commit"], w_.v11_);
  EXPECT_EQ(c["pin"]["changed"], true);

  auto unknown = api_->Get("/api/v1/environments/stagin/changes");
  ASSERT_TRUE(unknown);
  EXPECT_EQ(unknown->status, 404);
  EXPECT_NE(unknown->body.find("staging"), std::string::npos) << "a did-you-mean hint";
}

}  // namespace
}  // namespace slipway
