#include "aws/credentials.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "aws/http.h"
#include "aws/local_server.h"
#include "aws/shared_config.h"
#include "aws/sts.h"
#include "testing/testing.h"
#include "util/clock.h"
#include "util/strings.h"

namespace slipway::aws {
namespace {

using nlohmann::json;
using slipway::testing::TempDir;
using slipway::testing::WriteTextFile;

constexpr const char* kEngineKey = "AKIAENGINE0000000001";
constexpr const char* kEngineSecret = "engine-secret/+key";
constexpr const char* kDeploy = "arn:aws:iam::222222222222:role/deploy";
constexpr const char* kSecond = "arn:aws:iam::333333333333:role/second-hop";
constexpr const char* kWebRole = "arn:aws:iam::222222222222:role/web";

class AwsChainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    json config = {{"users",
                    {{{"access_key_id", kEngineKey},
                      {"secret_access_key", kEngineSecret},
                      {"arn", "arn:aws:iam::111111111111:user/engine"}}}},
                   {"roles",
                    {{{"arn", kDeploy}},
                     {{"arn", kSecond}, {"trusted", {"arn:aws:sts::222222222222:assumed-role/deploy/ops-session"}}},
                     {{"arn", kWebRole}, {"web_identity_tokens", {"oidc-token-1"}}}}}};
    sts_ = new testing::FakeSts(config);
  }
  static void TearDownTestSuite() {
    delete sts_;
    sts_ = nullptr;
  }
  void SetUp() override {
    ASSERT_TRUE(sts_->ok());
    http_ = NewCurlHttpClient(HttpSettings{});
    // A clean snapshot: no IMDS probing unless a test asks for it.
    env_ = {{"HOME", dir_.path()}, {"AWS_EC2_METADATA_DISABLED", "true"}, {"PATH", "/usr/bin:/bin"}};
  }
  ChainOptions Options() {
    ChainOptions o;
    o.env = env_;
    o.http = http_.get();
    return o;
  }
  Result<ResolvedCredentials> Resolve() { return ResolveBaseCredentials(Options()); }
  std::string CallerArn(const Credentials& c) {
    StsOptions options;
    options.endpoint = StsEndpoint{sts_->Origin(), "eu-west-1"};
    options.http = http_.get();
    Result<std::string> arn = StsClient(options).GetCallerIdentityArn(c);
    return arn.ok() ? arn.value() : arn.status().message();
  }
  void WriteCredentialsFile(const std::string& text) { WriteTextFile(dir_.Sub(".aws/credentials"), text); }
  void WriteConfigFile(const std::string& text) { WriteTextFile(dir_.Sub(".aws/config"), text); }

  static testing::FakeSts* sts_;
  TempDir dir_;
  std::unique_ptr<HttpClient> http_;
  EnvMap env_;
};
testing::FakeSts* AwsChainTest::sts_ = nullptr;

TEST_F(AwsChainTest, NothingConfiguredListsWhatWasTried) {
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(r.status().message(),
            "no AWS credentials found (tried environment variables, web identity, profile "
            "'default' in '" +
                dir_.path() + "/.aws/credentials' and '" + dir_.path() +
                "/.aws/config', container credentials, EC2 instance metadata (disabled by "
                "AWS_EC2_METADATA_DISABLED))");
}

TEST_F(AwsChainTest, EnvironmentComesFirst) {
  WriteCredentialsFile("[default]\naws_access_key_id = AKIAFILE\naws_secret_access_key = file-secret\n");
  env_["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  env_["AWS_SECRET_ACCESS_KEY"] = "env-secret";
  env_["AWS_SESSION_TOKEN"] = "env-token";
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source, "environment variables");
  EXPECT_EQ(r->credentials.access_key_id, "AKIAENV");
  EXPECT_EQ(r->credentials.session_token, "env-token");
  EXPECT_EQ(SecretStrings(r->credentials), (std::vector<std::string>{"env-secret", "env-token"}));
}

TEST_F(AwsChainTest, HalfSetEnvironmentIsAnError) {
  env_["AWS_ACCESS_KEY_ID"] = "AKIAENV";
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
}

TEST_F(AwsChainTest, ProfileKeysFromTheCredentialsFile) {
  WriteTextFile(dir_.Sub("creds.ini"),
                "# comment\n[default]\naws_access_key_id=AKIADEFAULT\naws_secret_access_key=d\n\n"
                "[dev]\r\naws_access_key_id = AKIADEV\r\naws_secret_access_key = dev/secret+\r\n"
                "aws_session_token = dev-token\r\n");
  env_["AWS_SHARED_CREDENTIALS_FILE"] = dir_.Sub("creds.ini");
  env_["AWS_PROFILE"] = "dev";
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->credentials.access_key_id, "AKIADEV");
  EXPECT_EQ(r->credentials.secret_access_key, "dev/secret+");
  EXPECT_EQ(r->credentials.session_token, "dev-token");
  EXPECT_EQ(r->source, "profile 'dev' in '" + dir_.Sub("creds.ini") + "'");
}

TEST_F(AwsChainTest, ProfileKeysFromTheConfigFile) {
  WriteTextFile(dir_.Sub("cfg"),
                "[profile ops]\naws_access_key_id = AKIAOPS\naws_secret_access_key = s\n"
                "region = eu-central-1\ns3 =\n  max_concurrent_requests = 20\n");
  env_["AWS_CONFIG_FILE"] = dir_.Sub("cfg");
  env_["AWS_PROFILE"] = "ops";
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->credentials.access_key_id, "AKIAOPS");
  EXPECT_EQ(r->source, "profile 'ops' in '" + dir_.Sub("cfg") + "'");
  Result<SharedConfig> config = LoadSharedConfig(env_);
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(ResolveRegion(env_, config.value()), "eu-central-1");
  env_["AWS_DEFAULT_REGION"] = "us-west-2";
  EXPECT_EQ(ResolveRegion(env_, config.value()), "us-west-2");
  env_["AWS_REGION"] = "ap-south-1";
  EXPECT_EQ(ResolveRegion(env_, config.value()), "ap-south-1");
}

TEST_F(AwsChainTest, UnknownExplicitProfileIsAnError) {
  env_["AWS_PROFILE"] = "nope";
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "profile 'nope' (AWS_PROFILE) is not in '" + dir_.path() + "/.aws/credentials' or '" +
                                      dir_.path() + "/.aws/config'");
}

TEST_F(AwsChainTest, CredentialProcess) {
  WriteTextFile(dir_.Sub("my creds.sh"),
                "#!/bin/sh\n[ \"$1\" = \"--arg with space\" ] || { echo \"bad args: $*\" >&2; exit 3; }\n"
                "echo '{\"Version\": 1, \"AccessKeyId\": \"AKIAPROC\", \"SecretAccessKey\": \"proc-secret\", "
                "\"SessionToken\": \"proc-token\", \"Expiration\": \"2030-01-02T03:04:05Z\"}'\n",
                0755);
  WriteConfigFile("[profile proc]\ncredential_process = \"" + dir_.Sub("my creds.sh") + "\" '--arg with space'\n");
  env_["AWS_PROFILE"] = "proc";
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source, "credential_process of profile 'proc'");
  EXPECT_EQ(r->credentials.access_key_id, "AKIAPROC");
  EXPECT_EQ(r->credentials.session_token, "proc-token");
  EXPECT_EQ(r->credentials.expiration_ms, 1893553445000);
}

TEST_F(AwsChainTest, FailingCredentialProcessIsAnErrorWithItsStderrNotItsStdout) {
  WriteTextFile(dir_.Sub("fail.sh"),
                "#!/bin/sh\necho '{\"SecretAccessKey\": \"half-a-secret\"'\necho 'sso session expired' >&2\nexit 2\n",
                0755);
  WriteConfigFile("[default]\ncredential_process = " + dir_.Sub("fail.sh") + "\n");
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "credential_process of profile 'default' failed (exit status 2): sso session expired");
  WriteTextFile(dir_.Sub("v2.sh"),
                "#!/bin/sh\necho '{\"Version\": 2, \"AccessKeyId\": \"a\", \"SecretAccessKey\": \"b\"}'\n", 0755);
  WriteConfigFile("[default]\ncredential_process = " + dir_.Sub("v2.sh") + "\n");
  r = Resolve();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "credential_process of profile 'default': answer must have \"Version\": 1");
}

TEST_F(AwsChainTest, RoleArnWithSourceProfileChains) {
  env_["AWS_ENDPOINT_URL_STS"] = sts_->Origin();
  env_["AWS_REGION"] = "eu-west-1";
  WriteCredentialsFile(std::string("[base]\naws_access_key_id = ") + kEngineKey +
                       "\naws_secret_access_key = " + kEngineSecret + "\n");
  WriteConfigFile(std::string("[profile deploy]\nrole_arn = ") + kDeploy +
                  "\nsource_profile = base\nrole_session_name = ops-session\nduration_seconds = 1200\n"
                  "[profile second]\nrole_arn = " +
                  kSecond + "\nsource_profile = deploy\n");
  env_["AWS_PROFILE"] = "second";
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source, std::string("role '") + kSecond + "' of profile 'second' (source: role '" + kDeploy +
                           "' of profile 'deploy' (source: profile 'base' in '" + dir_.path() + "/.aws/credentials'))");
  EXPECT_EQ(CallerArn(r->credentials), "arn:aws:sts::333333333333:assumed-role/second-hop/slipway-engine");
}

TEST_F(AwsChainTest, SourceProfileCycleIsRefused) {
  WriteConfigFile(
      "[profile a]\nrole_arn = arn:aws:iam::1:role/a\nsource_profile = b\n"
      "[profile b]\nrole_arn = arn:aws:iam::1:role/b\nsource_profile = a\n");
  env_["AWS_PROFILE"] = "a";
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "source_profile cycle: a -> b -> a");
}

TEST_F(AwsChainTest, RoleArnWithCredentialSourceNeedsThatSource) {
  env_["AWS_ENDPOINT_URL"] = sts_->Origin();
  WriteConfigFile(std::string("[default]\nrole_arn = ") + kDeploy + "\ncredential_source = Environment\n");
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "profile 'default': credential_source 'Environment' has no credentials");
  WriteConfigFile(std::string("[default]\nrole_arn = ") + kDeploy + "\ncredential_source = Ec2\n");
  r = Resolve();
  EXPECT_EQ(r.status().message(),
            "profile 'default': unknown credential_source 'Ec2' (Environment, Ec2InstanceMetadata or EcsContainer)");
}

TEST_F(AwsChainTest, WebIdentityFromTheEnvironment) {
  WriteTextFile(dir_.Sub("token"), "oidc-token-1\n");
  env_["AWS_WEB_IDENTITY_TOKEN_FILE"] = dir_.Sub("token");
  env_["AWS_ROLE_ARN"] = kWebRole;
  env_["AWS_ROLE_SESSION_NAME"] = "pod/7";
  env_["AWS_ENDPOINT_URL_STS"] = sts_->Origin();
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source, "web identity token file '" + dir_.Sub("token") + "' for role '" + kWebRole + "'");
  EXPECT_EQ(CallerArn(r->credentials), "arn:aws:sts::222222222222:assumed-role/web/pod-7");
  WriteTextFile(dir_.Sub("token"), "stolen\n");
  r = Resolve();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kPermissionDenied);
}

class AwsMetadataTest : public AwsChainTest {
 protected:
  void StartMetadata(const std::vector<std::string>& args) {
    metadata_ = std::make_unique<testing::LocalServer>("fake_metadata.py", args);
    ASSERT_TRUE(metadata_->ok());
  }
  json MetadataLog() {
    Result<HttpResponse> r = http_->Send(HttpRequest{"GET", metadata_->Origin() + "/_log", {}, ""});
    return r.ok() ? json::parse(r->body) : json::array();
  }
  std::unique_ptr<testing::LocalServer> metadata_;
};

TEST_F(AwsMetadataTest, ContainerCredentialsWithAuthorizationTokenFile) {
  StartMetadata({"--auth-token", "container-auth-token"});
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = metadata_->Origin() + "/creds";
  WriteTextFile(dir_.Sub("auth"), "container-auth-token\n");
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"] = dir_.Sub("auth");
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "ignored-when-the-file-is-set";
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source, "container credentials endpoint '" + metadata_->Origin() + "/creds'");
  EXPECT_TRUE(StartsWith(r->credentials.access_key_id, "ASIAECS"));
  EXPECT_GT(r->credentials.expiration_ms, NowMs());
  env_.erase("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
  env_["AWS_CONTAINER_AUTHORIZATION_TOKEN"] = "wrong";
  r = Resolve();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "container credentials endpoint '" + metadata_->Origin() + "/creds': HTTP 403: bad authorization token");
}

TEST_F(AwsMetadataTest, RoleArnWithCredentialSourceEcsContainer) {
  StartMetadata({});
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = metadata_->Origin() + "/creds";
  env_["AWS_ENDPOINT_URL_STS"] = sts_->Origin();
  WriteConfigFile(std::string("[default]\nrole_arn = ") + kDeploy + "\ncredential_source = EcsContainer\n");
  Result<ResolvedCredentials> r = Resolve();
  // The fake STS does not know the container's keys: the refusal shows that
  // the role was asked for with them.
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            std::string("assume role '") + kDeploy +
                "': InvalidClientTokenId: The security token included in the request is invalid.");
  json log = sts_->Log();
  ASSERT_FALSE(log.empty());
  EXPECT_EQ(log.back()["action"], "AssumeRole");
}

TEST_F(AwsMetadataTest, ContainerFullUriMustBeLocalOrHttps) {
  env_["AWS_CONTAINER_CREDENTIALS_FULL_URI"] = "http://evil.example.com/creds";
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(AwsMetadataTest, InstanceMetadataUsesAnImdsV2Token) {
  StartMetadata({"--role", "engine-instance-role"});
  env_.erase("AWS_EC2_METADATA_DISABLED");
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = metadata_->Origin() + "/";
  Result<ResolvedCredentials> r = Resolve();
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->source, "EC2 instance metadata (role 'engine-instance-role')");
  EXPECT_TRUE(StartsWith(r->credentials.access_key_id, "ASIAIMDS"));
  json log = MetadataLog();
  ASSERT_GE(log.size(), 3u);
  EXPECT_EQ(log[0]["method"], "PUT");
  EXPECT_EQ(log[0]["path"], "/latest/api/token");
  for (size_t i = 1; i < 3; ++i) {
    bool has_token = false;
    for (const auto& h : log[i]["headers"]) has_token |= ToLower(h[0].get<std::string>()) == "x-aws-ec2-metadata-token";
    EXPECT_TRUE(has_token) << log[i].dump();
  }
}

TEST_F(AwsMetadataTest, ProviderCachesAndRefreshesBeforeExpiry) {
  StartMetadata({"--expires-in", "600"});
  env_.erase("AWS_EC2_METADATA_DISABLED");
  env_["AWS_EC2_METADATA_SERVICE_ENDPOINT"] = metadata_->Origin();
  int64_t offset_ms = 0;
  ChainOptions options = Options();
  options.clock = [&] { return NowMs() + offset_ms; };
  CredentialsProvider provider(options, /*refresh_before_ms=*/5 * 60 * 1000);
  std::vector<std::string> lines;
  provider.set_logger([&](const std::string& line) { lines.push_back(line); });
  Result<Credentials> first = provider.Get();
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(first->access_key_id, "ASIAIMDS0001");
  EXPECT_EQ(provider.Get()->access_key_id, "ASIAIMDS0001") << "cached";
  offset_ms = 4 * 60 * 1000;  // 6 minutes left: still outside the refresh window
  EXPECT_EQ(provider.Get()->access_key_id, "ASIAIMDS0001");
  offset_ms = 6 * 60 * 1000;  // 4 minutes left: refresh
  EXPECT_EQ(provider.Get()->access_key_id, "ASIAIMDS0002");
  EXPECT_EQ(provider.source(), "EC2 instance metadata (role 'slipway-instance-role')");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(StartsWith(lines[0],
                         "aws: base credentials from EC2 instance metadata (role 'slipway-instance-role') "
                         "(key ASIA\xE2\x80\xA6"))
      << lines[0];
  for (const std::string& line : lines) {
    EXPECT_EQ(line.find("secret-imds"), std::string::npos);
    EXPECT_EQ(line.find("token-imds"), std::string::npos);
  }
}

TEST_F(AwsChainTest, ProviderKeepsValidCredentialsWhenARefreshFails) {
  // A credential_process that answers once, then fails.
  WriteTextFile(dir_.Sub("once.sh"),
                "#!/bin/sh\nif [ -e " + dir_.Sub("used") + " ]; then echo 'down' >&2; exit 1; fi\ntouch " +
                    dir_.Sub("used") +
                    "\necho \"{\\\"Version\\\": 1, \\\"AccessKeyId\\\": \\\"AKIAONCE\\\", \\\"SecretAccessKey\\\": "
                    "\\\"s\\\", \\\"Expiration\\\": \\\"$(date -u -d '+10 min' +%Y-%m-%dT%H:%M:%SZ)\\\"}\"\n",
                0755);
  WriteConfigFile("[default]\ncredential_process = " + dir_.Sub("once.sh") + "\n");
  int64_t offset_ms = 0;
  ChainOptions options = Options();
  options.clock = [&] { return NowMs() + offset_ms; };
  CredentialsProvider provider(options);
  ASSERT_TRUE(provider.Get().ok());
  offset_ms = 6 * 60 * 1000;  // inside the refresh window; the refresh fails; 4 minutes are left
  Result<Credentials> kept = provider.Get();
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  EXPECT_EQ(kept->access_key_id, "AKIAONCE");
  offset_ms = 9 * 60 * 1000 + 30 * 1000;  // 30 seconds left: the failure shows
  Result<Credentials> failed = provider.Get();
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().message(), "credential_process of profile 'default' failed (exit status 1): down");
}

TEST(AwsCredentials, EnvironmentForAStepAndSecretsForTheMasker) {
  Credentials c{"ASIAROLE", "role-secret", "role-token", 0};
  EnvMap env = CredentialsEnvironment(c, "eu-west-1");
  EXPECT_EQ(env, (EnvMap{{"AWS_ACCESS_KEY_ID", "ASIAROLE"},
                         {"AWS_SECRET_ACCESS_KEY", "role-secret"},
                         {"AWS_SESSION_TOKEN", "role-token"},
                         {"AWS_REGION", "eu-west-1"},
                         {"AWS_DEFAULT_REGION", "eu-west-1"}}));
  EXPECT_EQ(SecretStrings(c), (std::vector<std::string>{"role-secret", "role-token"}));
  EXPECT_EQ(SecretStrings(Credentials{"AKIA", "long-term", "", 0}), std::vector<std::string>{"long-term"});
  EXPECT_EQ(CredentialsEnvironment(Credentials{"AKIA", "s", "", 0}, "").size(), 2u);
  EXPECT_EQ(AbbreviateKeyId("AKIAIOSFODNN7EXAMPLE"), "AKIA\xE2\x80\xA6MPLE");
}

TEST_F(AwsChainTest, StsEndpointFollowsTheProfileRegion) {
  WriteConfigFile("[default]\nregion = ap-northeast-1\n");
  Result<StsEndpoint> e = StsEndpointForEnvironment(env_);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->url, "https://sts.ap-northeast-1.amazonaws.com");
  env_["AWS_ENDPOINT_URL_STS"] = sts_->Origin();
  EXPECT_EQ(StsEndpointForEnvironment(env_)->url, sts_->Origin());
}

TEST(AwsSharedConfig, SplitCommandLineLikeAShell) {
  auto split = [](std::string_view s) {
    Result<std::vector<std::string>> r = SplitCommandLine(s);
    return r.ok() ? r.value() : std::vector<std::string>{"ERROR"};
  };
  EXPECT_EQ(split("a b  c"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(split("'a b' \"c \\\" d\" e\\ f"), (std::vector<std::string>{"a b", "c \" d", "e f"}));
  EXPECT_EQ(split("x''y \"\""), (std::vector<std::string>{"xy", ""}));
  EXPECT_EQ(split("'open"), std::vector<std::string>{"ERROR"});
}

TEST(AwsSharedConfig, IniSections) {
  auto ini = ParseIni("[a]\nk = v = w\n; c\n  nested = x\n[broken\nz = 1\n[b]\nK: V\n");
  EXPECT_EQ(ini["a"]["k"], "v = w");
  EXPECT_EQ(ini["a"].count("nested"), 0u);
  EXPECT_EQ(ini["b"]["k"], "V");
  EXPECT_EQ(ini.count("broken"), 0u);
}

}  // namespace
}  // namespace slipway::aws
