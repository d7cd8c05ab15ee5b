#include "aws/sts.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "aws/local_server.h"
#include "aws/timestamp.h"
#include "aws/xml.h"
#include "testing/testing.h"
#include "util/clock.h"
#include "util/strings.h"

namespace slipway::aws {
namespace {

using nlohmann::json;

const Credentials kEngine{"AKIAENGINE0000000001", "engine-secret/+key", "", 0};
const Credentials kExpired{"AKIAEXPIRED000000001", "expired-secret", "", 0};
constexpr const char* kDeploy = "arn:aws:iam::222222222222:role/deploy";
constexpr const char* kDenied = "arn:aws:iam::222222222222:role/denied";
constexpr const char* kWithExternalId = "arn:aws:iam::222222222222:role/partner";
constexpr const char* kWebRole = "arn:aws:iam::222222222222:role/web";

json FakeStsConfig(int fail_first = 0) {
  return json{{"users",
               {{{"access_key_id", kEngine.access_key_id},
                 {"secret_access_key", kEngine.secret_access_key},
                 {"arn", "arn:aws:iam::111111111111:user/engine"}},
                {{"access_key_id", kExpired.access_key_id},
                 {"secret_access_key", kExpired.secret_access_key},
                 {"arn", "arn:aws:iam::111111111111:user/old"},
                 {"expired", true}}}},
              {"roles",
               {{{"arn", kDeploy}},
                {{"arn", kDenied}, {"deny", true}},
                {{"arn", kWithExternalId}, {"external_id", "ext-123"}},
                {{"arn", kWebRole}, {"web_identity_tokens", {"good-oidc-token"}}}}},
              {"fail_first", fail_first}};
}

// One fake STS for the suite (starting one takes a good fraction of a
// second); a test that needs another configuration starts its own.
class AwsStsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { shared_ = new testing::FakeSts(FakeStsConfig()); }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }
  void Start(int fail_first = 0) {
    if (fail_first > 0) {
      own_ = std::make_unique<testing::FakeSts>(FakeStsConfig(fail_first));
      sts_ = own_.get();
    } else {
      sts_ = shared_;
    }
    ASSERT_TRUE(sts_->ok());
    log_start_ = sts_->Log().size();
    http_ = NewCurlHttpClient(HttpSettings{});
    StsOptions options;
    options.endpoint = StsEndpoint{sts_->Origin(), "eu-west-1"};
    options.http = http_.get();
    options.retry_delay_ms = 1;
    client_ = std::make_unique<StsClient>(options);
  }
  // The requests the fake STS saw since Start().
  json NewLog() const {
    json log = sts_->Log();
    json out = json::array();
    for (size_t i = log_start_; i < log.size(); ++i) out.push_back(log[i]);
    return out;
  }

  static testing::FakeSts* shared_;
  std::unique_ptr<testing::FakeSts> own_;
  testing::FakeSts* sts_ = nullptr;
  size_t log_start_ = 0;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<StsClient> client_;
};
testing::FakeSts* AwsStsTest::shared_ = nullptr;

TEST_F(AwsStsTest, AssumeRoleGivesWorkingCredentials) {
  Start();
  int64_t before = NowMs();
  Result<Credentials> creds = client_->AssumeRole(kEngine, {kDeploy, MakeSessionName("prod", "42"), "", 1800});
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();
  EXPECT_TRUE(StartsWith(creds->access_key_id, "ASIA"));
  EXPECT_FALSE(creds->secret_access_key.empty());
  EXPECT_FALSE(creds->session_token.empty());
  EXPECT_NEAR(static_cast<double>(creds->expiration_ms - before), 1800e3, 5e3);
  // The new credentials sign requests that the fake STS (botocore) accepts.
  Result<std::string> arn = client_->GetCallerIdentityArn(creds.value());
  ASSERT_TRUE(arn.ok()) << arn.status().ToString();
  EXPECT_EQ(arn.value(), "arn:aws:sts::222222222222:assumed-role/deploy/slipway-prod-42");
  json log = NewLog();
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[0]["params"]["RoleSessionName"], "slipway-prod-42");
  EXPECT_EQ(log[0]["params"]["DurationSeconds"], "1800");
  EXPECT_EQ(log[0]["caller"], "arn:aws:iam::111111111111:user/engine");
}

TEST_F(AwsStsTest, AccessDeniedIsOneSentenceNamingTheRole) {
  Start();
  Result<Credentials> creds = client_->AssumeRole(kEngine, {kDenied, "slipway-prod-1", "", 0});
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(creds.status().message(),
            "assume role 'arn:aws:iam::222222222222:role/denied': AccessDenied: User: "
            "arn:aws:iam::111111111111:user/engine is not authorized to perform: sts:AssumeRole on resource: "
            "arn:aws:iam::222222222222:role/denied");
  EXPECT_EQ(NewLog().size(), 1u) << "a refusal is not retried";
}

TEST_F(AwsStsTest, ExpiredBaseTokenIsOneSentenceNamingTheRole) {
  Start();
  Result<Credentials> creds = client_->AssumeRole(kExpired, {kDeploy, "slipway-prod-1", "", 0});
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(creds.status().message(),
            "assume role 'arn:aws:iam::222222222222:role/deploy': ExpiredToken: The security token included in the "
            "request is expired");
}

TEST_F(AwsStsTest, WrongSecretFailsBotocoreSignatureCheck) {
  Start();
  Credentials wrong = kEngine;
  wrong.secret_access_key = "not-the-secret";
  Result<Credentials> creds = client_->AssumeRole(wrong, {kDeploy, "slipway-prod-1", "", 0});
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), StatusCode::kPermissionDenied);
  EXPECT_TRUE(StartsWith(creds.status().message(),
                         "assume role 'arn:aws:iam::222222222222:role/deploy': SignatureDoesNotMatch: The request "
                         "signature we calculated does not match"))
      << creds.status().message();
}

TEST_F(AwsStsTest, ExternalIdIsSent) {
  Start();
  Result<Credentials> without = client_->AssumeRole(kEngine, {kWithExternalId, "slipway-a-1", "", 0});
  EXPECT_EQ(without.status().code(), StatusCode::kPermissionDenied);
  Result<Credentials> with = client_->AssumeRole(kEngine, {kWithExternalId, "slipway-a-1", "ext-123", 0});
  EXPECT_TRUE(with.ok()) << with.status().ToString();
}

TEST_F(AwsStsTest, BadDurationIsAValidationError) {
  Start();
  Result<Credentials> creds = client_->AssumeRole(kEngine, {kDeploy, "slipway-a-1", "", 60});
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(StartsWith(creds.status().message(),
                         "assume role 'arn:aws:iam::222222222222:role/deploy': "
                         "ValidationError: 1 validation error detected"));
}

TEST_F(AwsStsTest, ServerErrorsAreRetried) {
  Start(/*fail_first=*/2);
  Result<Credentials> creds = client_->AssumeRole(kEngine, {kDeploy, "slipway-a-1", "", 0});
  EXPECT_TRUE(creds.ok()) << creds.status().ToString();
  EXPECT_EQ(NewLog().size(), 3u);
}

TEST_F(AwsStsTest, WebIdentity) {
  Start();
  Result<Credentials> creds =
      client_->AssumeRoleWithWebIdentity({kWebRole, "slipway-web-1", "", 0}, "good-oidc-token\n");
  ASSERT_TRUE(creds.ok()) << creds.status().ToString();
  Result<std::string> arn = client_->GetCallerIdentityArn(creds.value());
  ASSERT_TRUE(arn.ok()) << arn.status().ToString();
  EXPECT_EQ(arn.value(), "arn:aws:sts::222222222222:assumed-role/web/slipway-web-1");
  Result<Credentials> bad = client_->AssumeRoleWithWebIdentity({kWebRole, "slipway-web-1", "", 0}, "forged");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "assume role 'arn:aws:iam::222222222222:role/web' with web identity: InvalidIdentityToken: Couldn't "
            "retrieve verification key from your identity provider");
}

TEST(AwsSts, UnreachableEndpointNamesRoleAndHost) {
  auto http = NewCurlHttpClient(HttpSettings{});
  StsOptions options;
  options.endpoint = StsEndpoint{"http://127.0.0.1:" + std::to_string(slipway::testing::FreePort()), "us-east-1"};
  options.http = http.get();
  options.attempts = 1;
  StsClient client(options);
  Result<Credentials> creds = client.AssumeRole(kEngine, {kDeploy, "slipway-a-1", "", 0});
  ASSERT_FALSE(creds.ok());
  EXPECT_EQ(creds.status().code(), StatusCode::kNetwork);
  EXPECT_TRUE(StartsWith(creds.status().message(),
                         "assume role 'arn:aws:iam::222222222222:role/deploy': request to '127.0.0.1': "))
      << creds.status().message();
}

TEST(AwsSts, EndpointResolution) {
  auto url = [](const EnvMap& env, std::string_view region) {
    Result<StsEndpoint> e = ResolveStsEndpoint(env, region);
    return e.ok() ? e->url + " " + e->signing_region : e.status().message();
  };
  EXPECT_EQ(url({}, "eu-west-1"), "https://sts.eu-west-1.amazonaws.com eu-west-1");
  EXPECT_EQ(url({}, "cn-north-1"), "https://sts.cn-north-1.amazonaws.com.cn cn-north-1");
  EXPECT_EQ(url({}, ""), "https://sts.amazonaws.com us-east-1");
  EXPECT_EQ(url({{"AWS_ENDPOINT_URL", "http://127.0.0.1:4566/"}}, "eu-west-1"), "http://127.0.0.1:4566 eu-west-1");
  EXPECT_EQ(url({{"AWS_ENDPOINT_URL", "http://a:1"}, {"AWS_ENDPOINT_URL_STS", "http://b:2"}}, "eu-west-1"),
            "http://b:2 eu-west-1");
  EXPECT_EQ(url({{"AWS_ENDPOINT_URL_STS", "http://b:2"}, {"AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true"}}, "eu-west-1"),
            "https://sts.eu-west-1.amazonaws.com eu-west-1");
  EXPECT_EQ(url({{"AWS_ENDPOINT_URL_STS", "localhost:9"}}, "eu-west-1"),
            "AWS_ENDPOINT_URL_STS='localhost:9' is not an http(s) URL");
}

TEST(AwsSts, SessionNames) {
  EXPECT_EQ(MakeSessionName("prod", "42"), "slipway-prod-42");
  EXPECT_EQ(MakeSessionName("eu west/prod!", "run 7"), "slipway-eu-west-prod--run-7");
  EXPECT_EQ(SanitizeSessionName("a_b+c=d,e.f@g-h"), "a_b+c=d,e.f@g-h");
  std::string long_env(100, 'e');
  std::string name = MakeSessionName(long_env, "20240611-0042");
  EXPECT_EQ(name.size(), 64u);
  EXPECT_TRUE(EndsWith(name, "-20240611-0042"));
  EXPECT_EQ(MakeSessionName("x", std::string(100, 'r')).size(), 64u);
}

TEST(AwsXml, ParsesAwsAnswers) {
  Result<XmlElement> doc = ParseXml(
      "<?xml version=\"1.0\"?>\n<!-- c -->\n<a:Root xmlns:a=\"urn:x\" attr='x>y'><a:Item>one &amp; &lt;two&gt; "
      "&#65;&#x42;&#x1F680;</a:Item><Empty/><C><![CDATA[<raw>&]]></C></a:Root>");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->name, "Root");
  EXPECT_EQ(doc->TextAt({"Item"}), "one & <two> AB\xf0\x9f\x9a\x80");
  EXPECT_EQ(doc->TextAt({"C"}), "<raw>&");
  EXPECT_NE(doc->Find({"Empty"}), nullptr);
  EXPECT_EQ(doc->Find({"Missing", "X"}), nullptr);
}

TEST(AwsXml, RejectsMalformedDocuments) {
  for (const char* bad : {"", "<a>", "<a></b>", "<a>&bogus;</a>", "<a>&#0;</a>", "<a></a><b/>",
                          "<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>", "<a b=c/>"}) {
    EXPECT_FALSE(ParseXml(bad).ok()) << bad;
  }
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<a>";
  EXPECT_FALSE(ParseXml(deep).ok());
}

TEST(AwsTimestamp, ParsesTheFormsAwsWrites) {
  EXPECT_EQ(ParseIso8601("1970-01-01T00:00:00Z").value(), 0);
  EXPECT_EQ(ParseIso8601("2024-05-01T12:00:00Z").value(), 1714564800000);
  EXPECT_EQ(ParseIso8601("2024-05-01T14:00:00.250+02:00").value(), 1714564800250);
  EXPECT_EQ(ParseIso8601("2024-05-01T12:00:00.123456+0000").value(), 1714564800123);
  EXPECT_FALSE(ParseIso8601("2024-05-01T12:00:00").ok());
  EXPECT_FALSE(ParseIso8601("yesterday").ok());
  EXPECT_EQ(FormatIso8601(1714564800000), "2024-05-01T12:00:00Z");
}

}  // namespace
}  // namespace slipway::aws
