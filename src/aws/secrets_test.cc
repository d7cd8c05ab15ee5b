#include "aws/secrets.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "aws/local_server.h"

namespace slipway::aws {
namespace {

using nlohmann::json;

const Credentials kReader{"AKIAREADER0000000001", "reader-secret/+key", "", 0};
const Credentials kOther{"AKIAOTHER00000000001", "other-secret", "", 0};

TEST(AwsSecretsTest, EndpointsFollowTheSdkOrder) {
  EXPECT_EQ(*ResolveServiceEndpoint({}, "ssm", "eu-west-1"), "https://ssm.eu-west-1.amazonaws.com");
  EXPECT_EQ(*ResolveServiceEndpoint({}, "secretsmanager", "cn-north-1"),
            "https://secretsmanager.cn-north-1.amazonaws.com.cn");
  EXPECT_EQ(*ResolveServiceEndpoint({}, "ssm", ""), "https://ssm.us-east-1.amazonaws.com");
  EnvMap env = {{"AWS_ENDPOINT_URL", "http://127.0.0.1:1/"}, {"AWS_ENDPOINT_URL_SECRETS_MANAGER", "http://h:2"}};
  EXPECT_EQ(*ResolveServiceEndpoint(env, "ssm", "eu-west-1"), "http://127.0.0.1:1");
  EXPECT_EQ(*ResolveServiceEndpoint(env, "secretsmanager", "eu-west-1"), "http://h:2");
  env["AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"] = "true";
  EXPECT_EQ(*ResolveServiceEndpoint(env, "ssm", "eu-west-1"), "https://ssm.eu-west-1.amazonaws.com");
  Result<std::string> bad = ResolveServiceEndpoint({{"AWS_ENDPOINT_URL_SSM", "ftp://x"}}, "ssm", "eu-west-1");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("AWS_ENDPOINT_URL_SSM"), std::string::npos);
}

TEST(AwsSecretsTest, SecretReferencesSplitLikeCodeBuild) {
  Result<SecretReferenceParts> p = ParseSecretReference("prod/db:password:AWSPREVIOUS:v-1");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->secret_id, "prod/db");
  EXPECT_EQ(p->json_key, "password");
  EXPECT_EQ(p->version_stage, "AWSPREVIOUS");
  EXPECT_EQ(p->version_id, "v-1");
  p = ParseSecretReference("arn:aws:secretsmanager:eu-west-1:111111111111:secret:prod/db-AbCdEf:pw");
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->secret_id, "arn:aws:secretsmanager:eu-west-1:111111111111:secret:prod/db-AbCdEf");
  EXPECT_EQ(p->json_key, "pw");
  EXPECT_FALSE(ParseSecretReference("").ok());
  EXPECT_FALSE(ParseSecretReference("a:b:c:d:e").ok());
}

// Against tests/aws/fake_sts.py, which checks each signature with botocore.
class AwsSecretsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    json config = {{"users",
                    {{{"access_key_id", kReader.access_key_id},
                      {"secret_access_key", kReader.secret_access_key},
                      {"arn", "arn:aws:iam::1:user/reader"}},
                     {{"access_key_id", kOther.access_key_id},
                      {"secret_access_key", kOther.secret_access_key},
                      {"arn", "arn:aws:iam::1:user/other"}}}},
                   {"parameters", {{"/prod/token", "t0ken-value"}}},
                   {"secrets", {{"prod/db", R"({"pw": "hunter22", "port": 5432})"}, {"plain", "just-text"}}},
                   {"secret_readers", {"arn:aws:iam::1:user/reader"}}};
    server_ = std::make_unique<testing::FakeSts>(config);
    ASSERT_TRUE(server_->ok());
    http_ = NewCurlHttpClient(HttpSettings{});
    SecretsClientOptions options;
    options.region = "eu-west-1";
    options.ssm_endpoint = server_->Origin();
    options.secrets_endpoint = server_->Origin();
    options.http = http_.get();
    options.retry_delay_ms = 1;
    client_ = std::make_unique<SecretsClient>(options);
  }
  std::unique_ptr<testing::FakeSts> server_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<SecretsClient> client_;
};

TEST_F(AwsSecretsClientTest, ReadsParametersAndSecretsSignedAsBotocoreExpects) {
  EXPECT_EQ(*client_->GetParameter(kReader, "/prod/token"), "t0ken-value");
  EXPECT_EQ(*client_->GetSecretValue(kReader, "plain"), "just-text");
  EXPECT_EQ(*client_->GetSecretValue(kReader, "prod/db:pw"), "hunter22");
  EXPECT_EQ(*client_->GetSecretValue(kReader, "prod/db:port"), "5432");
  EXPECT_EQ(*client_->GetSecretValue(kReader, "prod/db::AWSCURRENT"), R"({"pw": "hunter22", "port": 5432})");
  for (const auto& e : server_->Log()) EXPECT_EQ(e.value("outcome", ""), "ok") << e.dump();
}

TEST_F(AwsSecretsClientTest, ErrorsNameWhatWasAskedFor) {
  Result<std::string> missing = client_->GetParameter(kReader, "/prod/nope");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(), "ssm parameter '/prod/nope': not found");
  Result<std::string> denied = client_->GetSecretValue(kOther, "prod/db");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ(denied.status().message().rfind("secret 'prod/db': AccessDeniedException: ", 0), 0u)
      << denied.status().message();
  Result<std::string> no_key = client_->GetSecretValue(kReader, "prod/db:user");
  ASSERT_FALSE(no_key.ok());
  EXPECT_EQ(no_key.status().message(), "secret 'prod/db': no key 'user' in its JSON");
  Result<std::string> gone = client_->GetSecretValue(kReader, "prod/other");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.status().code(), StatusCode::kNotFound);
  Credentials wrong = kReader;
  wrong.secret_access_key = "not-the-secret";
  Result<std::string> bad_signature = client_->GetParameter(wrong, "/prod/token");
  ASSERT_FALSE(bad_signature.ok());
  EXPECT_EQ(bad_signature.status().code(), StatusCode::kPermissionDenied) << bad_signature.status().message();
}

}  // namespace
}  // namespace slipway::aws
