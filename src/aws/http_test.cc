#include "aws/http.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "aws/local_server.h"
#include "testing/testing.h"
#include "util/strings.h"

namespace slipway::aws {
namespace {

using nlohmann::json;

TEST(AwsHttp, SendsMethodHeadersAndBodyAndReadsTheAnswer) {
  testing::LocalServer server("fake_metadata.py", {});
  ASSERT_TRUE(server.ok());
  auto client = NewCurlHttpClient(HttpSettings{});
  HttpRequest request{"PUT", server.Origin() + "/echo/a%20b?x=1", {{"X-Thing", "  v  "}, {"X-Empty", ""}}, "payload"};
  Result<HttpResponse> response = client->Send(request);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->Header("content-type"), "application/json");
  json echo = json::parse(response->body);
  EXPECT_EQ(echo["method"], "PUT");
  EXPECT_EQ(echo["path"], "/echo/a%20b?x=1");
  EXPECT_EQ(echo["body"], "payload");
  std::map<std::string, std::string> headers;
  for (const auto& h : echo["headers"]) headers[h[0]] = h[1];
  EXPECT_EQ(Trim(headers["X-Thing"]), "v");
  EXPECT_TRUE(headers.count("X-Empty"));
  EXPECT_FALSE(headers.count("Expect"));
}

TEST(AwsHttp, AnErrorStatusIsAResponseNotAnError) {
  testing::LocalServer server("fake_metadata.py", {});
  ASSERT_TRUE(server.ok());
  auto client = NewCurlHttpClient(HttpSettings{});
  Result<HttpResponse> response = client->Send(HttpRequest{"GET", server.Origin() + "/nothing-here", {}, ""});
  ASSERT_TRUE(response.ok());
  EXPECT_EQ(response->status, 404);
  EXPECT_EQ(response->body, "not found");
}

TEST(AwsHttp, TimeoutNamesTheHost) {
  testing::LocalServer server("fake_metadata.py", {});
  ASSERT_TRUE(server.ok());
  auto client = NewCurlHttpClient(HttpSettings{});
  HttpRequest request{"GET", server.Origin() + "/slow?ms=3000", {}, ""};
  request.timeout_ms = 200;
  Result<HttpResponse> response = client->Send(request);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kTimeout);
  EXPECT_TRUE(StartsWith(response.status().message(), "request to '127.0.0.1' timed out after 200ms"))
      << response.status().message();
}

TEST(AwsHttp, RefusedConnectionNamesTheHost) {
  auto client = NewCurlHttpClient(HttpSettings{});
  int port = slipway::testing::FreePort();
  Result<HttpResponse> response = client->Send(HttpRequest{"GET", "http://127.0.0.1:" + std::to_string(port), {}, ""});
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kNetwork);
  EXPECT_TRUE(StartsWith(response.status().message(), "request to '127.0.0.1': ")) << response.status().message();
}

TEST(AwsHttp, RejectsOtherSchemes) {
  auto client = NewCurlHttpClient(HttpSettings{});
  Result<HttpResponse> response = client->Send(HttpRequest{"GET", "file:///etc/passwd", {}, ""});
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kInvalidArgument);
}

TEST(AwsHttp, GoesThroughTheProxyOfTheEnvironmentSnapshot) {
  testing::LocalServer proxy("fake_metadata.py", {});
  ASSERT_TRUE(proxy.ok());
  auto client = NewCurlHttpClient(HttpSettings::FromEnvironment({{"http_proxy", proxy.Origin()}}));
  Result<HttpResponse> response = client->Send(HttpRequest{"GET", "http://sts.example.invalid/echo", {}, ""});
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(json::parse(response->body)["path"], "http://sts.example.invalid/echo");
}

TEST(AwsHttp, NeverProxiesLoopbackOrMetadataAddresses) {
  testing::LocalServer server("fake_metadata.py", {});
  ASSERT_TRUE(server.ok());
  // A proxy that does not exist: any request sent to it would fail.
  HttpSettings settings = HttpSettings::FromEnvironment({{"http_proxy", "http://127.0.0.1:1"}});
  auto client = NewCurlHttpClient(settings);
  Result<HttpResponse> response = client->Send(HttpRequest{"GET", server.Origin() + "/echo", {}, ""});
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
}

TEST(AwsHttp, SettingsComeFromTheSnapshot) {
  HttpSettings s = HttpSettings::FromEnvironment({{"HTTPS_PROXY", "http://p:3128"},
                                                  {"ALL_PROXY", "http://all:1"},
                                                  {"no_proxy", ".internal"},
                                                  {"AWS_CA_BUNDLE", "/etc/ca.pem"},
                                                  {"SSL_CERT_FILE", "/other.pem"}});
  EXPECT_EQ(s.https_proxy, "http://p:3128");
  EXPECT_EQ(s.http_proxy, "http://all:1");
  EXPECT_EQ(s.no_proxy, ".internal");
  EXPECT_EQ(s.ca_bundle, "/etc/ca.pem");
}

}  // namespace
}  // namespace slipway::aws
