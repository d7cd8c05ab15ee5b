#include "config/config.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>

#include "testing/testing.h"
#include "util/fs.h"

namespace slipway {
namespace {

using slipway::testing::TempDir;
using slipway::testing::WriteTextFile;

// The message of a failed parse; fails the test when the parse succeeded.
std::string ErrorOf(const std::string& yaml, const std::string& path = "/srv/slipway/slipway.yaml") {
  auto result = ParseConfig(yaml, path);
  EXPECT_FALSE(result.ok()) << "expected an error for:\n" << yaml;
  if (result.ok()) return "";
  EXPECT_EQ(result.status().code(), StatusCode::kInvalidArgument);
  return result.status().message();
}

Config Parsed(const std::string& yaml, const std::string& path = "/srv/slipway/slipway.yaml") {
  auto result = ParseConfig(yaml, path);
  EXPECT_TRUE(result.ok()) << result.status().message();
  return result.ok() ? std::move(result).value() : Config{};
}

constexpr char kFull[] = R"(state_dir: var/slipway
database: postgresql://slipway@db.internal/slipway
keep_workspaces: 5
max_parallel: 4
log_retention_days: 30
git_timeout: 2m
server:
  listen: 0.0.0.0:9090
  preview_forks: true
  webhooks:
    github: { secret_file: secrets/github }
    generic: { secret_env: SLIPWAY_HOOK_SECRET }
environments:
  automation:
    settings:
      url: codecommit::eu-west-1://SpaSettings
      branch: main
      path: environments/automation/
      role: arn:aws:iam::111111111111:role/Spa-ReadSettingsRole
    code:
      url: https://github.com/reply-fr/sustainable-personal-accounts.git
      ref: main
      allow_urls: [ "https://github.com/example/fork.git" ]
    env:
      VERBOSITY: NO
      RETRIES: 3
    steps:
      - { name: setup,  run: make setup }
      - { name: lint,   run: make lint, timeout: 5m }
      - { name: test,   run: make all-tests, env: { PYTEST_ADDOPTS: "-x" } }
      - name: deploy
        run: make deploy
        role: arn:aws:iam::333333333333:role/Spa-DeployEnvironmentRole
        external_id: spa-42
        duration: 1h
      - { name: notify, run: ./notify.sh, when: always }
    triggers:
      push: { poll: 90s, paths: any }
      schedule: [ "0 3 * * *", "@daily" ]
      tz: Europe/Paris
      catch_up: true
    timeout: 45m
  sandbox:
    buildspec: buildspecs/deploy.yaml
  staging:
    settings: { url: ../settings.git, path: environments/staging }
    buildspec: settings:buildspec.yaml
    triggers: { push: true }
  fixed:
    code: { url: git://127.0.0.1/code, ref: v23.9.22 }
)";

TEST(ConfigTest, ReadsEveryKeyOfAFullFile) {
  Config c = Parsed(kFull);
  EXPECT_EQ(c.path, "/srv/slipway/slipway.yaml");
  EXPECT_EQ(c.dir, "/srv/slipway");
  EXPECT_EQ(c.state_dir, "/srv/slipway/var/slipway");
  EXPECT_EQ(c.database, "postgresql://slipway@db.internal/slipway");
  EXPECT_EQ(c.keep_workspaces, 5);
  EXPECT_EQ(c.log_retention_days, 30);
  EXPECT_TRUE(c.server.preview_forks);
  EXPECT_EQ(c.max_parallel, 4);
  EXPECT_EQ(c.git_timeout_ms, 120'000);
  EXPECT_EQ(c.server.listen, "0.0.0.0:9090");
  ASSERT_EQ(c.server.webhooks.size(), 2u);
  EXPECT_EQ(c.server.webhooks.at("github").secret_file, "/srv/slipway/secrets/github");
  EXPECT_EQ(c.server.webhooks.at("generic").secret_env, "SLIPWAY_HOOK_SECRET");
  EXPECT_EQ(c.EnvironmentNames(), (std::vector<std::string>{"automation", "sandbox", "staging", "fixed"}));

  const EnvironmentConfig* a = c.Find("automation");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->line, 14);
  ASSERT_TRUE(a->settings.has_value());
  EXPECT_EQ(a->settings->url, "codecommit::eu-west-1://SpaSettings");
  EXPECT_EQ(a->settings->branch, "main");
  EXPECT_EQ(a->settings->path, "environments/automation");
  EXPECT_EQ(a->settings->role, "arn:aws:iam::111111111111:role/Spa-ReadSettingsRole");
  ASSERT_TRUE(a->code.has_value());
  EXPECT_EQ(a->code->ref, "main");
  EXPECT_EQ(a->code->allow_urls,
            (std::vector<std::string>{"https://github.com/reply-fr/sustainable-personal-accounts.git",
                                      "https://github.com/example/fork.git"}));
  // Values are taken as written: NO stays NO, numbers stay their text.
  EXPECT_EQ(a->env.at("VERBOSITY"), "NO");
  EXPECT_EQ(a->env.at("RETRIES"), "3");
  ASSERT_EQ(a->steps.size(), 5u);
  EXPECT_EQ(a->steps[1].name, "lint");
  EXPECT_EQ(a->steps[1].timeout_ms, 300'000);
  EXPECT_EQ(a->steps[2].env.at("PYTEST_ADDOPTS"), "-x");
  EXPECT_EQ(a->steps[3].role, "arn:aws:iam::333333333333:role/Spa-DeployEnvironmentRole");
  EXPECT_EQ(a->steps[3].external_id, "spa-42");
  EXPECT_EQ(a->steps[3].role_duration_s, 3600);
  EXPECT_FALSE(a->steps[3].always);
  EXPECT_TRUE(a->steps[4].always);
  EXPECT_TRUE(a->triggers.push.enabled);
  EXPECT_EQ(a->triggers.push.poll_ms, 90'000);
  EXPECT_TRUE(a->triggers.push.any_path);
  EXPECT_EQ(a->triggers.schedule, (std::vector<std::string>{"0 3 * * *", "@daily"}));
  EXPECT_EQ(a->triggers.schedule_at,
            (std::vector<std::string>{"/srv/slipway/slipway.yaml:39:19", "/srv/slipway/slipway.yaml:39:32"}));
  EXPECT_EQ(a->triggers.tz, "Europe/Paris");
  EXPECT_EQ(a->triggers.tz_at, "/srv/slipway/slipway.yaml:40:11");
  EXPECT_TRUE(a->triggers.catch_up);
  EXPECT_EQ(a->timeout_ms, 45 * 60'000);

  const EnvironmentConfig* sandbox = c.Find("sandbox");
  ASSERT_NE(sandbox, nullptr);
  EXPECT_EQ(sandbox->buildspec_path, "/srv/slipway/buildspecs/deploy.yaml");
  EXPECT_FALSE(sandbox->buildspec_in_settings);
  EXPECT_TRUE(sandbox->steps.empty());
  EXPECT_FALSE(sandbox->triggers.push.enabled);

  const EnvironmentConfig* staging = c.Find("staging");
  ASSERT_NE(staging, nullptr);
  EXPECT_EQ(staging->settings->url, "/srv/settings.git");  // relative local paths resolve against the file
  EXPECT_TRUE(staging->buildspec_in_settings);
  EXPECT_EQ(staging->buildspec_path, "buildspec.yaml");
  EXPECT_TRUE(staging->triggers.push.enabled);
  EXPECT_EQ(staging->triggers.push.poll_ms, 60'000);
  EXPECT_FALSE(staging->triggers.push.any_path);

  const EnvironmentConfig* fixed = c.Find("fixed");
  ASSERT_NE(fixed, nullptr);
  EXPECT_FALSE(fixed->settings.has_value());
  EXPECT_EQ(fixed->code->ref, "v23.9.22");
  EXPECT_EQ(fixed->code->allow_urls, (std::vector<std::string>{"git://127.0.0.1/code"}));
  EXPECT_EQ(c.Find("nope"), nullptr);
}

TEST(ConfigTest, DefaultsForAMinimalFile) {
  Config c = Parsed("environments:\n  prod:\n    settings: { url: https://git.example/settings.git }\n");
  EXPECT_EQ(c.state_dir, "/srv/slipway/.slipway");
  EXPECT_EQ(c.database, "sqlite");
  EXPECT_EQ(c.keep_workspaces, 3);
  EXPECT_EQ(c.max_parallel, 0);
  EXPECT_EQ(c.log_retention_days, 90);
  EXPECT_FALSE(c.server.preview_forks);
  EXPECT_EQ(c.git_timeout_ms, 600'000);
  EXPECT_EQ(c.server.listen, "127.0.0.1:8080");
  const EnvironmentConfig& env = c.environments.at(0);
  EXPECT_EQ(env.settings->branch, "main");
  EXPECT_EQ(env.settings->path, "");
  EXPECT_FALSE(env.code.has_value());
  EXPECT_EQ(env.timeout_ms, 60 * 60'000);
  EXPECT_FALSE(env.triggers.push.enabled);
  ASSERT_EQ(env.steps.size(), 4u);
  std::vector<std::string> runs;
  for (const auto& s : env.steps) runs.push_back(s.name + "=" + s.run);
  EXPECT_EQ(runs, (std::vector<std::string>{"setup=make setup", "lint=make lint", "all-tests=make all-tests",
                                            "deploy=make deploy"}));
}

TEST(ConfigTest, StateDirIsRelativeToTheFilesDirectory) {
  Config c = Parsed("state_dir: ../state\nenvironments: { e: { code: { url: x, ref: v1 } } }\n",
                    "/etc/slipway/conf/slipway.yaml");
  EXPECT_EQ(c.state_dir, "/etc/slipway/state");
  Config relative = Parsed("environments: { e: { code: { url: x, ref: v1 } } }\n", "conf/slipway.yaml");
  EXPECT_EQ(relative.path, CurrentDir() + "/conf/slipway.yaml");
  EXPECT_EQ(relative.state_dir, CurrentDir() + "/conf/.slipway");
  Config absolute = Parsed("state_dir: /var/lib/slipway\nenvironments: { e: { code: { url: x, ref: v1 } } }\n");
  EXPECT_EQ(absolute.state_dir, "/var/lib/slipway");
}

TEST(ConfigTest, UnknownKeyWithDidYouMean) {
  std::string yaml =
      "environments:\n"                       // 1
      "  prod:\n"                             // 2
      "    settings:\n"                       // 3
      "      url: https://x/settings.git\n"   // 4
      "    code: { url: https://x/c.git }\n"  // 5
      "    timeout: 10m\n"                    // 6
      "    stpes: []\n";                      // 7
  EXPECT_EQ(ErrorOf(yaml, "slipway.yaml"),
            "slipway.yaml:7:5: unknown key 'stpes' in environment 'prod', did you mean 'steps'?");
}

TEST(ConfigTest, UnknownKeysAtEveryLevel) {
  std::string yaml =
      "stat_dir: x\n"                                      // 1
      "server:\n"                                          // 2
      "  lisen: 1.2.3.4:80\n"                              // 3
      "  webhooks:\n"                                      // 4
      "    githib: { secret_env: X }\n"                    // 5
      "    gitlab: { secret_fil: /x }\n"                   // 6
      "environments:\n"                                    // 7
      "  prod:\n"                                          // 8
      "    settings: { url: u, brnch: main }\n"            // 9
      "    code: { url: u, allow_url: [] }\n"              // 10
      "    steps:\n"                                       // 11
      "      - { name: a, run: b, tiemout: 1m }\n"         // 12
      "    triggers: { pushh: {}, push: { pol: 1m } }\n";  // 13
  std::string err = ErrorOf(yaml, "s.yaml");
  EXPECT_EQ(err,
            "s.yaml:1:1: unknown key 'stat_dir' at the top level, did you mean 'state_dir'?\n"
            "s.yaml:3:3: unknown key 'lisen' in 'server', did you mean 'listen'?\n"
            "s.yaml:5:5: unknown key 'githib' in 'server.webhooks', did you mean 'github'?\n"
            "s.yaml:6:5: 'server.webhooks.gitlab' needs 'secret_file: PATH' or 'secret_env: NAME'\n"
            "s.yaml:6:15: unknown key 'secret_fil' in 'server.webhooks.gitlab', did you mean 'secret_file'?\n"
            "s.yaml:9:25: unknown key 'brnch' in 'settings' of environment 'prod', did you mean 'branch'?\n"
            "s.yaml:10:21: unknown key 'allow_url' in 'code' of environment 'prod', did you mean 'allow_urls'?\n"
            "s.yaml:12:28: unknown key 'tiemout' in step 'a' of environment 'prod', did you mean 'timeout'?\n"
            "s.yaml:13:17: unknown key 'pushh' in 'triggers' of environment 'prod', did you mean 'push'?\n"
            "s.yaml:13:36: unknown key 'pol' in 'triggers.push' of environment 'prod', did you mean 'poll'?");
}

TEST(ConfigTest, WrongTypesSayWhatWasExpected) {
  std::string yaml =
      "keep_workspaces: -1\n"                                       // 1
      "git_timeout: soon\n"                                         // 2
      "database: mysql://x\n"                                       // 3
      "environments:\n"                                             // 4
      "  prod:\n"                                                   // 5
      "    settings: { url: [a, b] }\n"                             // 6
      "    timeout: soon\n"                                         // 7
      "    triggers: { catch_up: maybe, push: { paths: some } }\n"  // 8
      "    steps:\n"                                                // 9
      "      - { name: a, run: b, when: sometimes }\n";             // 10
  EXPECT_EQ(ErrorOf(yaml, "c.yaml"),
            "c.yaml:1:18: expected a whole number from 0 to 10000 for 'keep_workspaces', got '-1'\n"
            "c.yaml:2:14: expected a duration like 90s, 5m or 1h for 'git_timeout', got 'soon'\n"
            "c.yaml:3:11: expected 'sqlite' or a postgresql:// URL for 'database', got 'mysql://x'\n"
            "c.yaml:6:22: expected a string for 'url', got a list\n"
            "c.yaml:7:14: expected a duration like 90s, 5m or 1h for 'timeout', got 'soon'\n"
            "c.yaml:8:27: expected true or false for 'catch_up', got 'maybe'\n"
            "c.yaml:8:49: expected 'any' or 'folder' for 'paths', got 'some'\n"
            "c.yaml:10:34: expected 'always' or 'on_success' for 'when', got 'sometimes'");
}

TEST(ConfigTest, ExpectedAStringForUrl) {
  EXPECT_EQ(ErrorOf("environments:\n  e:\n    code: { url: { a: b }, ref: v1 }\n", "x.yaml"),
            "x.yaml:3:18: expected a string for 'url', got a mapping");
  EXPECT_EQ(ErrorOf("environments:\n  e:\n    code:\n      url:\n      ref: v1\n", "x.yaml"),
            "x.yaml:4:7: expected a string for 'url' (write \"\" for an empty value)");
}

TEST(ConfigTest, AllErrorsAreReportedTogetherInFileOrder) {
  std::string yaml =
      "environments:\n"                      // 1
      "  a:\n"                               // 2
      "    timeout: never\n"                 // 3
      "  b:\n"                               // 4
      "    code: { url: -oops, ref: v1 }\n"  // 5
      "  c:\n"                               // 6
      "    env: { 1BAD: x }\n";              // 7
  std::string err = ErrorOf(yaml, "m.yaml");
  EXPECT_EQ(err,
            "m.yaml:2:3: environment 'a' needs 'settings' (where to read the pin), 'code' (what to deploy) or a "
            "'buildspec'\n"
            "m.yaml:3:14: expected a duration like 90s, 5m or 1h for 'timeout', got 'never'\n"
            "m.yaml:5:18: 'url' must not begin with '-' (git would read it as an option), got '-oops'\n"
            "m.yaml:6:3: environment 'c' needs 'settings' (where to read the pin), 'code' (what to deploy) or a "
            "'buildspec'\n"
            "m.yaml:7:12: variable name '1BAD' in 'env' is not valid: use letters, digits and '_', not starting with "
            "a digit");
}

TEST(ConfigTest, InlineWebhookSecretIsRefused) {
  std::string err = ErrorOf(
      "server:\n  webhooks:\n    github: { secret: hunter2 }\nenvironments: { e: { code: { url: u, ref: v } } }\n",
      "w.yaml");
  EXPECT_EQ(err,
            "w.yaml:3:15: inline secrets are not allowed in 'server.webhooks.github': put the secret in a file and use "
            "'secret_file: PATH', or in the engine's environment and use 'secret_env: NAME'");
  EXPECT_EQ(err.find("hunter2"), std::string::npos) << "the secret must not be echoed";
  EXPECT_NE(ErrorOf("server: { webhooks: { gitea: { secret_file: a, secret_env: B } } }\n"
                    "environments: { e: { code: { url: u, ref: v } } }\n")
                .find("give only one of 'secret_file' and 'secret_env'"),
            std::string::npos);
}

TEST(ConfigTest, RefusesOptionLikeRefsUrlsAndPaths) {
  std::string yaml =
      "environments:\n"                                                              // 1
      "  e:\n"                                                                       // 2
      "    settings: { url: u, branch: --force, path: -p }\n"                        // 3
      "    code: { url: u, ref: --upload-pack=touch /tmp/x, allow_urls: [ -x ] }\n"  // 4
      "    buildspec: -b\n";                                                         // 5
  std::string err = ErrorOf(yaml, "d.yaml");
  EXPECT_NE(err.find("d.yaml:3:33: 'branch' must not begin with '-'"), std::string::npos) << err;
  EXPECT_NE(err.find("d.yaml:3:48: 'path' must not begin with '-'"), std::string::npos) << err;
  EXPECT_NE(err.find("d.yaml:4:26: 'ref' must not begin with '-'"), std::string::npos) << err;
  EXPECT_NE(err.find("d.yaml:4:68: 'allow_urls' must not begin with '-'"), std::string::npos) << err;
  EXPECT_NE(err.find("d.yaml:5:16: 'buildspec' must not begin with '-'"), std::string::npos) << err;
}

TEST(ConfigTest, RefusesCommandRunningTransports) {
  EXPECT_EQ(ErrorOf("environments: { e: { code: { url: 'ext::sh%-c%touch%x', ref: v } } }\n", "t.yaml"),
            "t.yaml:1:35: 'url' must not use git's 'ext::' transport (it runs commands), got 'ext::sh%-c%touch%x'");
  EXPECT_NE(ErrorOf("environments: { e: { settings: { url: 'FD::3' } } }\n").find("'fd::' transport"),
            std::string::npos);
}

// The example of DESIGN.md §3, as written there.
TEST(ConfigTest, DesignExampleParses) {
  Config c = Parsed(R"(state_dir: .slipway              # database, logs, git mirrors, workspaces
database: sqlite                 # default, embedded; or postgresql://user@host/db (fleet mode, §9)
server:
  listen: 127.0.0.1:8080
  webhooks:
    github: { secret_file: /etc/slipway/github-hook-secret }   # or secret_env: NAME; never inline
environments:
  automation:
    settings:
      url: codecommit::eu-west-1://SpaSettings   # any git URL: https, ssh, git, file, codecommit
      branch: main
      path: environments/automation
      role: arn:aws:iam::111111111111:role/Spa-ReadSettingsRole   # optional
    code:
      url: https://github.com/reply-fr/sustainable-personal-accounts.git
      ref: main                  # fallback only; the pin in settings wins
    steps:                       # omitted: the make contract setup / lint / all-tests / deploy
      - { name: setup,  run: make setup }
      - { name: lint,   run: make lint }
      - { name: test,   run: make all-tests }
      - { name: deploy, run: make deploy, role: arn:aws:iam::333333333333:role/Spa-DeployEnvironmentRole }
    triggers:
      push: { poll: 60s }        # plus webhooks, §6
      schedule: [ "0 3 * * *" ]  # cron, 5 fields, UTC unless tz given
    timeout: 60m
  sandbox:
    buildspec: buildspecs/deploy.yaml   # instead of steps: run a CodeBuild buildspec (§5)
)");
  EXPECT_EQ(c.EnvironmentNames(), (std::vector<std::string>{"automation", "sandbox"}));
  EXPECT_EQ(c.Find("automation")->steps.size(), 4u);
  EXPECT_EQ(c.server.webhooks.at("github").secret_file, "/etc/slipway/github-hook-secret");
}

TEST(ConfigTest, SettingsPathMustStayInsideTheRepository) {
  EXPECT_EQ(ErrorOf("environments: { e: { settings: { url: u, path: /etc } } }\n", "p.yaml"),
            "p.yaml:1:48: 'path' must be a path relative to the settings repository, got '/etc'");
  EXPECT_EQ(ErrorOf("environments: { e: { settings: { url: u, path: envs/../../x } } }\n", "p.yaml"),
            "p.yaml:1:48: 'path' must not contain '..', got 'envs/../../x'");
  EXPECT_NE(ErrorOf("environments: { e: { settings: { url: u }, buildspec: 'settings:../b.yaml' } }\n")
                .find("'buildspec' must not contain '..'"),
            std::string::npos);
}

TEST(ConfigTest, EnvironmentRules) {
  EXPECT_NE(ErrorOf("environments: {}\n").find("'environments' is empty"), std::string::npos);
  EXPECT_NE(ErrorOf("state_dir: x\n").find("missing 'environments'"), std::string::npos);
  EXPECT_NE(ErrorOf("").find("the file is empty"), std::string::npos);
  EXPECT_NE(ErrorOf("- a\n- b\n").find("expected a mapping at the top level, got a list"), std::string::npos);
  EXPECT_NE(ErrorOf("environments:\n  'bad name': { code: { url: u, ref: v } }\n")
                .find("2:3: environment name 'bad name' is not valid"),
            std::string::npos);
  EXPECT_NE(
      ErrorOf("environments:\n  " + std::string(65, 'a') + ": { code: { url: u, ref: v } }\n").find("is not valid"),
      std::string::npos);
  Parsed("environments:\n  " + std::string(64, 'a') + ": { code: { url: u, ref: v } }\n");
  EXPECT_NE(ErrorOf("environments:\n  e: { code: { url: u, ref: v } }\n  e: { code: { url: u, ref: v } }\n")
                .find("3:3: duplicate environment 'e', first given at 2:3"),
            std::string::npos);
  EXPECT_NE(ErrorOf("environments:\n  e:\n    code: { url: u }\n")
                .find("3:5: environment 'e' has no 'settings' to pin a version, so 'code' needs a 'ref'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("environments:\n  e:\n    buildspec: settings:b.yaml\n    code: { url: u, ref: v }\n")
                .find("3:5: 'buildspec: settings:b.yaml' reads from the settings folder, but environment 'e' has no "
                      "'settings'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("environments:\n  e:\n    code: { url: u, ref: v }\n    buildspec: b.yaml\n    steps: "
                    "[ { name: a, run: b } ]\n")
                .find("4:5: 'buildspec' and 'steps' cannot both be given in environment 'e'"),
            std::string::npos);
  EXPECT_NE(ErrorOf("environments:\n  e:\n    settings: { branch: main }\n").find("3:5: missing 'url' in 'settings'"),
            std::string::npos);
}

TEST(ConfigTest, StepRules) {
  std::string yaml =
      "environments:\n"                                                           // 1
      "  e:\n"                                                                    // 2
      "    code: { url: u, ref: v }\n"                                            // 3
      "    steps:\n"                                                              // 4
      "      - { name: lint, run: make lint }\n"                                  // 5
      "      - { name: lint, run: make lint }\n"                                  // 6
      "      - { run: make x }\n"                                                 // 7
      "      - { name: y }\n"                                                     // 8
      "      - { name: z, run: r, external_id: abc }\n"                           // 9
      "      - { name: w, run: r, role: arn:aws:iam::1:role/R, duration: 5m }\n"  // 10
      "      - make deploy\n"                                                     // 11
      "      - { name: v, run: r, role: deployer }\n";                            // 12
  EXPECT_EQ(ErrorOf(yaml, "s.yaml"),
            "s.yaml:6:17: duplicate step name 'lint' in environment 'e', first given at 5:17\n"
            "s.yaml:7:9: missing 'name' in step 3 of environment 'e'\n"
            "s.yaml:8:9: missing 'run' in step 'y' of environment 'e'\n"
            "s.yaml:9:28: 'external_id' needs a 'role' in step 'z' of environment 'e'\n"
            "s.yaml:10:67: expected a role session 'duration' from 15m to 12h, got '5m'\n"
            "s.yaml:11:9: expected a mapping like { name: lint, run: make lint } for step 7 of environment 'e', got a "
            "string\n"
            "s.yaml:12:34: expected a role ARN like arn:aws:iam::123456789012:role/NAME for 'role', got 'deployer'");
  EXPECT_NE(ErrorOf("environments: { e: { code: { url: u, ref: v }, steps: [] } }\n")
                .find("'steps' of environment 'e' is empty"),
            std::string::npos);
}

TEST(ConfigTest, TriggerForms) {
  Config c = Parsed(
      "environments:\n"
      "  a: { code: { url: u, ref: v }, triggers: { push: } }\n"
      "  b: { code: { url: u, ref: v }, triggers: { push: { poll: off } } }\n"
      "  c: { code: { url: u, ref: v }, triggers: { push: { poll: 0 } } }\n"
      "  d: { code: { url: u, ref: v }, triggers: { push: false } }\n"
      "  e: { code: { url: u, ref: v }, triggers: { schedule: [ '*/5 * * * 1-5' ] } }\n");
  EXPECT_TRUE(c.Find("a")->triggers.push.enabled);
  EXPECT_EQ(c.Find("a")->triggers.push.poll_ms, 60'000);
  EXPECT_TRUE(c.Find("b")->triggers.push.enabled);
  EXPECT_EQ(c.Find("b")->triggers.push.poll_ms, 0);
  EXPECT_EQ(c.Find("c")->triggers.push.poll_ms, 0);
  EXPECT_FALSE(c.Find("d")->triggers.push.enabled);
  EXPECT_EQ(c.Find("e")->triggers.schedule.at(0), "*/5 * * * 1-5");
  EXPECT_NE(ErrorOf("environments: { e: { code: { url: u, ref: v }, triggers: { schedule: [ '0 3 * *' ] } } }\n")
                .find("expected a cron expression with 5 fields"),
            std::string::npos);
  EXPECT_NE(ErrorOf("environments: { e: { code: { url: u, ref: v }, triggers: { push: { poll: 200ms } } } }\n")
                .find("'poll' must be at least 1s"),
            std::string::npos);
}

TEST(ConfigTest, DuplicateKeysAreReported) {
  EXPECT_EQ(
      ErrorOf("keep_workspaces: 1\nkeep_workspaces: 2\nenvironments: { e: { code: { url: u, ref: v } } }\n", "k.yaml"),
      "k.yaml:2:1: duplicate key 'keep_workspaces' at the top level, first given at 1:1");
}

TEST(ConfigTest, YamlSyntaxErrorsCarryThePosition) {
  std::string err = ErrorOf("environments:\n  e: { code: [ }\n", "bad.yaml");
  EXPECT_TRUE(err.rfind("bad.yaml:2:", 0) == 0) << err;
  EXPECT_NE(err.find("invalid YAML"), std::string::npos) << err;
  err = ErrorOf("a: b\n---\nc: d\n", "two.yaml");
  EXPECT_EQ(err, "two.yaml:2:1: a second YAML document ('---') is not allowed; the file must hold one document");
}

TEST(ConfigTest, BillionLaughsFailsFast) {
  std::string yaml =
      "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n"
      "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
      "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
      "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
      "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
      "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
      "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
      "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
      "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
      "environments: { e: { code: { url: u, ref: v }, env: *i } }\n";
  auto start = std::chrono::steady_clock::now();
  std::string err = ErrorOf(yaml, "bomb.yaml");
  auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_LT(elapsed, std::chrono::seconds(2));
  EXPECT_TRUE(err.rfind("bomb.yaml:", 0) == 0) << err;
  EXPECT_NE(err.find("expands the document beyond 100000 nodes"), std::string::npos) << err;
  EXPECT_NE(err.find("YAML bomb"), std::string::npos) << err;
}

TEST(ConfigTest, ScalarBombFailsFast) {
  // Few nodes, but each alias repeats a long text.
  std::string yaml = "x: &x \"" + std::string(500'000, 'z') + "\"\ny: [";
  for (int i = 0; i < 100; ++i) yaml += "*x,";
  yaml += "*x]\n";
  EXPECT_NE(ErrorOf(yaml).find("MiB of text"), std::string::npos);
}

TEST(ConfigTest, TopLevelXKeysHoldAnchors) {
  Config c = Parsed(
      "x-env: &common { REGION: eu-west-1 }\n"
      "environments:\n"
      "  e: { code: { url: u, ref: v }, env: *common }\n");
  EXPECT_EQ(c.Find("e")->env.at("REGION"), "eu-west-1");
  EXPECT_NE(ErrorOf("environments:\n  e: { code: { url: u, ref: v }, x-env: {} }\n").find("unknown key 'x-env'"),
            std::string::npos);
}

TEST(ConfigTest, AliasesExpandToTheirValues) {
  Config c = Parsed(
      "environments:\n"
      "  a: { code: &code { url: u, ref: v1 }, env: &env { REGION: eu-west-1 } }\n"
      "  b: { code: *code, env: *env }\n");
  EXPECT_EQ(c.Find("b")->code->ref, "v1");
  EXPECT_EQ(c.Find("b")->env.at("REGION"), "eu-west-1");
}

TEST(ConfigTest, NestedAnchorsCannotMultiplyMemory) {
  // 60 nested anchored lists around 2000 scalars: each anchor would keep its
  // own copy of everything below it.
  std::string yaml = "x: ";
  for (int i = 0; i < 60; ++i) yaml += "&a" + std::to_string(i) + " [";
  for (int i = 0; i < 2000; ++i) yaml += "1,";
  yaml += "1";
  for (int i = 0; i < 60; ++i) yaml += "]";
  yaml += "\nenvironments: { e: { code: { url: u, ref: v } } }\n";
  std::string err = ErrorOf(yaml);
  EXPECT_NE(err.find("anchors ('&name') hold more than 100000 nodes"), std::string::npos) << err;
}

TEST(ConfigTest, MergeKeysAreExplained) {
  std::string err = ErrorOf(
      "x-base: &base { url: u, ref: v }\n"
      "environments:\n"
      "  e:\n"
      "    code: { <<: *base }\n",
      "m.yaml");
  EXPECT_NE(err.find("m.yaml:4:13: YAML merge keys ('<<') are not supported in 'code' of environment 'e'"),
            std::string::npos)
      << err;
}

TEST(ConfigTest, RecursiveAliasIsRefused) {
  std::string err = ErrorOf("a: &a [ 1, *a ]\nenvironments: { e: { code: { url: u, ref: v } } }\n");
  EXPECT_NE(err.find("is used inside its own anchor"), std::string::npos) << err;
}

TEST(ConfigTest, HugeDocumentIsRefusedBeforeParsing) {
  std::string yaml = "environments: { e: { code: { url: u, ref: v } } }\n# " + std::string(1 << 20, 'x') + "\n";
  EXPECT_EQ(ErrorOf(yaml, "huge.yaml"), "huge.yaml:1:1: the file is larger than 1024 KiB (" +
                                            std::to_string(yaml.size()) + " bytes); refusing to parse it");
}

TEST(ConfigTest, DeepNestingIsRefused) {
  std::string deep = "environments: { e: { code: { url: u, ref: v }, env: { A: ";
  for (int i = 0; i < 100'000; ++i) deep += "[";
  auto start = std::chrono::steady_clock::now();
  std::string err = ErrorOf(deep, "deep.yaml");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  EXPECT_NE(err.find("deep.yaml:1:"), std::string::npos) << err;
  EXPECT_NE(err.find("nested deeper than 64 levels"), std::string::npos) << err;

  std::string block = "environments:\n";
  std::string indent = "  ";
  for (int i = 0; i < 70; ++i) {
    block += indent + "k" + std::to_string(i) + ":\n";
    indent += "  ";
  }
  EXPECT_NE(ErrorOf(block).find("nested deeper than 64 levels"), std::string::npos);
}

TEST(ConfigTest, ManyNodesAreRefused) {
  std::string yaml = "x: [";
  for (int i = 0; i < 110'000; ++i) yaml += "1,";
  yaml += "1]\n";
  EXPECT_NE(ErrorOf(yaml).find("more than 100000 nodes"), std::string::npos);
}

TEST(ConfigTest, ResolveConfigPathPrefersFlagThenEnvironment) {
  unsetenv("SLIPWAY_CONFIG");
  EXPECT_EQ(ResolveConfigPath(""), "slipway.yaml");
  EXPECT_EQ(ResolveConfigPath("-"), "-");
  setenv("SLIPWAY_CONFIG", "/etc/slipway/slipway.yaml", 1);
  EXPECT_EQ(ResolveConfigPath(""), "/etc/slipway/slipway.yaml");
  EXPECT_EQ(ResolveConfigPath("mine.yaml"), "mine.yaml");
  setenv("SLIPWAY_CONFIG", "", 1);
  EXPECT_EQ(ResolveConfigPath(""), "slipway.yaml");
  unsetenv("SLIPWAY_CONFIG");
}

TEST(ConfigTest, LoadConfigReadsTheFile) {
  TempDir dir;
  WriteTextFile(dir.Sub("slipway.yaml"), "environments:\n  prod:\n    code: { url: ./code, ref: v1 }\n");
  auto c = LoadConfig(dir.Sub("slipway.yaml"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->dir, dir.path());
  EXPECT_EQ(c->state_dir, dir.Sub(".slipway"));
  EXPECT_EQ(c->Find("prod")->code->url, dir.Sub("code"));
}

TEST(ConfigTest, LoadConfigOpenErrorIsOneSentence) {
  TempDir dir;
  auto c = LoadConfig(dir.Sub("x/slipway.yaml"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(c.status().message(), "open '" + dir.Sub("x/slipway.yaml") + "': No such file or directory");
}

TEST(ConfigTest, LoadConfigRefusesAHugeFile) {
  TempDir dir;
  WriteTextFile(dir.Sub("slipway.yaml"), std::string(3 << 20, '#'));
  auto c = LoadConfig(dir.Sub("slipway.yaml"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            dir.Sub("slipway.yaml") + ":1:1: the file is larger than 1024 KiB; refusing to parse it");
}

TEST(ConfigTest, ErrorsNameTheFileAsGiven) {
  TempDir dir;
  WriteTextFile(dir.Sub("slipway.yaml"), "environments:\n  prod:\n    code: { url: u, ref: v }\n    stpes: []\n");
  auto c = LoadConfig(dir.Sub("slipway.yaml"));
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().message(),
            dir.Sub("slipway.yaml") + ":4:5: unknown key 'stpes' in environment 'prod', did you mean 'steps'?");
}

TEST(ConfigTest, QuotedNullAndBooleansStayStrings) {
  Config c = Parsed(
      "environments:\n"
      "  e:\n"
      "    code: { url: u, ref: v }\n"
      "    env: { A: 'null', B: yes, C: 0755, D: '', E: 1.50 }\n");
  const auto& env = c.Find("e")->env;
  EXPECT_EQ(env.at("A"), "null");
  EXPECT_EQ(env.at("B"), "yes");
  EXPECT_EQ(env.at("C"), "0755");
  EXPECT_EQ(env.at("D"), "");
  EXPECT_EQ(env.at("E"), "1.50");
  EXPECT_NE(
      ErrorOf("environments: { e: { code: { url: u, ref: v }, env: { A: ~ } } }\n").find("expected a string for 'A'"),
      std::string::npos);
}

TEST(ConfigTest, IsValidName) {
  EXPECT_TRUE(IsValidName("prod"));
  EXPECT_TRUE(IsValidName("eu-west-1.prod_2"));
  EXPECT_FALSE(IsValidName(""));
  EXPECT_FALSE(IsValidName("-prod"));
  EXPECT_FALSE(IsValidName(".hidden"));
  EXPECT_FALSE(IsValidName("a/b"));
  EXPECT_FALSE(IsValidName("été"));
}

}  // namespace
}  // namespace slipway
