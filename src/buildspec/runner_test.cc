// Table-driven tests of the buildspec runner: one case per rule of
// doc/buildspec.md and per point of buildspec-semantics.md, each run under
// /bin/sh (dash on Debian) and with env.shell: bash.
//
// Commands record what ran by calling `t WORDS`, a tiny script on PATH that
// appends WORDS as one line to $TRACE. Phase states are written as one letter
// each for DOWNLOAD_SOURCE, INSTALL, PRE_BUILD, BUILD, POST_BUILD,
// UPLOAD_ARTIFACTS: S succeeded, F failed, T timed out, X stopped, - skipped.
#include "buildspec/runner.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <regex>
#include <thread>

#include "buildspec/shell_vars.h"
#include "testing/testing.h"
#include "util/strings.h"

namespace slipway {
namespace {

using ::slipway::testing::FileExists;
using ::slipway::testing::ReadTextFile;
using ::slipway::testing::TempDir;
using ::slipway::testing::WriteTextFile;

struct Fixture {
  TempDir dir;
  std::string src, bin, trace, artifacts;
  std::string log;
  Fixture() {
    src = dir.Sub("src");
    bin = dir.Sub("bin");
    trace = dir.Sub("trace");
    artifacts = dir.Sub("out");
    WriteTextFile(src + "/.keep", "");
    WriteTextFile(bin + "/t", "#!/bin/sh\nprintf '%s\\n' \"$*\" >> \"$TRACE\"\n", 0755);
    WriteTextFile(trace, "");
  }
  std::vector<std::string> Trace() const {
    std::vector<std::string> lines = Split(ReadTextFile(trace), '\n');
    if (!lines.empty() && lines.back().empty()) lines.pop_back();
    return lines;
  }
};

struct Case {
  const char* name;
  const char* yaml;
  std::vector<std::string> trace;    // lines `t` wrote, in order
  const char* phases;                // see the file comment
  const char* status;                // final build status
  const char* only_shell = nullptr;  // "sh" or "bash" when the rule is shell-specific
  std::vector<std::string> log_contains = {};
  std::map<std::string, std::string> exported = {};
  EnvMap env_config = {};
  EnvMap overrides = {};
  int64_t timeout_ms = 0;
  std::function<void(Fixture&)> setup = nullptr;
  std::function<void(const Fixture&, const BuildResult&)> check = nullptr;
};

std::string PhaseLetters(const BuildResult& r) {
  std::string out;
  for (const auto& p : r.phases) {
    switch (p.status) {
      case PhaseStatus::kSucceeded:
        out += 'S';
        break;
      case PhaseStatus::kFailed:
        out += 'F';
        break;
      case PhaseStatus::kTimedOut:
        out += 'T';
        break;
      case PhaseStatus::kStopped:
        out += 'X';
        break;
      case PhaseStatus::kFault:
        out += '!';
        break;
      case PhaseStatus::kSkipped:
        out += '-';
        break;
    }
  }
  return out;
}

// Adds env.shell: bash to a buildspec.
std::string WithBash(std::string yaml) {
  size_t at = yaml.find("\nenv:\n");
  if (at != std::string::npos) return yaml.insert(at + 6, "  shell: bash\n");
  if (StartsWith(yaml, "env:\n")) return yaml.insert(5, "  shell: bash\n");
  return yaml + "env:\n  shell: bash\n";
}

struct RunOutput {
  BuildResult result;
  std::string log;
};

RunOutput RunCase(Fixture& f, const std::string& yaml, const Case& c, const CancelToken* cancel = nullptr) {
  std::string path = f.dir.Sub("buildspec.yml");
  WriteTextFile(path, yaml);
  BuildspecRunOptions o;
  o.buildspec_path = path;
  o.src_dir = f.src;
  o.base_env = {{"PATH", f.bin + ":/usr/local/bin:/usr/bin:/bin"},
                {"TRACE", f.trace},
                {"HOME", f.dir.Sub("home")},
                {"LANG", "C"}};
  o.env_config = c.env_config;
  o.overrides = c.overrides;
  o.project = "demo";
  o.build_number = 7;
  o.initiator = "tester";
  o.timeout_ms = c.timeout_ms;
  o.grace_ms = 200;
  o.cancel = cancel;
  o.artifacts_dir = f.artifacts;
  std::string log;
  o.log = [&](std::string_view chunk) { log.append(chunk); };
  Result<BuildResult> r = RunBuildspec(o);
  EXPECT_TRUE(r.ok()) << r.status().message();
  RunOutput out;
  if (r.ok()) out.result = *r;
  out.log = log;
  return out;
}

const std::vector<Case>& Cases() {
  static const std::vector<Case> kCases = {
      // --- Phases and order (§3.1) ---
      {"all_phases_in_order",
       R"y(version: 0.2
phases:
  post_build:
    commands:
      - t post
  build:
    commands:
      - t build
  install:
    commands:
      - t install
  pre_build:
    commands:
      - t pre
)y",
       {"install", "pre", "build", "post"},
       "SSSSSS",
       "SUCCEEDED"},
      {"absent_phases_are_still_entered_and_logged",
       R"y(version: 0.2
phases:
  build:
    commands:
      - t build
)y",
       {"build"},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {"Entering phase INSTALL\n", "Phase complete: INSTALL State: SUCCEEDED\n", "Entering phase POST_BUILD\n",
        "Phases found in YAML: 1\n", " BUILD: 1 commands\n"}},
      {"phases_found_lines_sorted_by_name",
       R"y(version: 0.2
phases:
  pre_build:
    commands: [t a, t b, t c]
  build:
    commands: [t d]
)y",
       {"a", "b", "c", "d"},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {"Phases found in YAML: 2\n", " BUILD: 1 commands\n", " PRE_BUILD: 3 commands\n"}},
      // --- Process model and state (§2.3, §2.4) ---
      {"exported_variable_carries_to_next_entry_and_children",
       R"y(version: 0.2
phases:
  build:
    commands:
      - export A=1
      - t "A=$A"
      - sh -c 't "child A=$A"'
)y",
       {"A=1", "child A=1"},
       "SSSSSS",
       "SUCCEEDED"},
      {"plain_variable_carries_to_next_entry",
       R"y(version: 0.2
phases:
  build:
    commands:
      - B=2
      - t "B=$B"
)y",
       {"B=2"},
       "SSSSSS",
       "SUCCEEDED"},
      {"plain_variable_carries_across_phases",
       R"y(version: 0.2
phases:
  install:
    commands:
      - DEFAULT_PATH=$(pwd)/x
  post_build:
    commands:
      - t "${DEFAULT_PATH##*/}"
)y",
       {"x"},
       "SSSSSS",
       "SUCCEEDED"},
      {"plain_variable_is_exported_to_children_from_the_next_entry",
       R"y(version: 0.2
phases:
  build:
    commands:
      - C=3
      - sh -c 't "child C=$C"'
)y",
       {"child C=3"},
       "SSSSSS",
       "SUCCEEDED"},
      {"plain_variable_is_not_exported_within_its_own_entry",
       R"y(version: 0.2
phases:
  build:
    commands:
      - |
        D=4
        sh -c 't "child D=[$D]"'
)y",
       {"child D=[]"},
       "SSSSSS",
       "SUCCEEDED"},
      {"unset_carries",
       R"y(version: 0.2
env:
  variables:
    X: from-buildspec
phases:
  build:
    commands:
      - t "X=$X"
      - unset X
      - t "X=${X-unset}"
      - sh -c 't "child X=${X-unset}"'
)y",
       {"X=from-buildspec", "X=unset", "child X=unset"},
       "SSSSSS",
       "SUCCEEDED"},
      {"multi_line_and_quoted_values_carry_exactly",
       R"y(version: 0.2
phases:
  build:
    commands:
      - |
        M="$(printf 'line1\nline2')"
        Q="it's \"q\" \$x \\ end"
        E=""
      - t "$M"
      - t "$Q"
      - t "E=[${E-unset}]"
)y",
       {"line1", "line2", "it's \"q\" $x \\ end", "E=[]"},
       "SSSSSS",
       "SUCCEEDED"},
      {"control_characters_carry_exactly",
       R"y(version: 0.2
phases:
  build:
    commands:
      - CC="$(printf 'x\001y\tz')"
      - '[ "$CC" = "$(printf "x\001y\tz")" ] && t same'
)y",
       {"same"},
       "SSSSSS",
       "SUCCEEDED"},
      {"starts_in_codebuild_src_dir",
       R"y(version: 0.2
phases:
  install:
    commands:
      - '[ "$(pwd)" = "$CODEBUILD_SRC_DIR" ] && t in-src'
)y",
       {"in-src"},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {"Moving to directory "}},
      {"cd_carries_within_a_phase",
       R"y(version: 0.2
phases:
  install:
    commands:
      - mkdir -p sub && cd sub
      - t "$(basename "$(pwd)")"
)y",
       {"sub"},
       "SSSSSS",
       "SUCCEEDED"},
      {"cd_carries_across_phases",
       R"y(version: 0.2
phases:
  install:
    commands:
      - mkdir -p code && cd code
  pre_build:
    commands:
      - t "pre $(basename "$(pwd)")"
  build:
    commands:
      - t "build $(basename "$PWD")"
)y",
       {"pre code", "build code"},
       "SSSSSS",
       "SUCCEEDED"},
      {"sourced_file_carries_path_and_variables",
       R"y(version: 0.2
phases:
  install:
    commands:
      - mkdir -p venv/bin && printf '#!/bin/sh\necho venv-python\n' > venv/bin/python && chmod +x venv/bin/python
      - printf 'VIRTUAL_ENV=%s/venv\nexport VIRTUAL_ENV\nPATH="$VIRTUAL_ENV/bin:$PATH"\ndeactivate() { :; }\n' "$(pwd)" > activate
      - . ./activate
  build:
    commands:
      - t "$(python)"
      - t "${VIRTUAL_ENV##*/}"
)y",
       {"venv-python", "venv"},
       "SSSSSS",
       "SUCCEEDED"},
      {"functions_do_not_carry",
       R"y(version: 0.2
phases:
  build:
    commands:
      - f() { t in-f; }
      - f || t no-function
)y",
       {"no-function"},
       "SSSSSS",
       "SUCCEEDED"},
      {"aliases_do_not_carry",
       R"y(version: 0.2
phases:
  build:
    commands:
      - alias hello='t aliased'
      - hello 2>/dev/null || t no-alias
)y",
       {"no-alias"},
       "SSSSSS",
       "SUCCEEDED"},
      {"arrays_do_not_carry",
       R"y(version: 0.2
phases:
  build:
    commands:
      - arr=(one two); declare -A map=([k]=v); t "${arr[1]} ${map[k]}"
      - t "arr=[${arr[1]:-}] map=[${map[k]:-}]"
)y",
       {"two v", "arr=[] map=[]"},
       "SSSSSS",
       "SUCCEEDED",
       "bash"},
      {"shell_options_do_not_carry",
       R"y(version: 0.2
phases:
  build:
    commands:
      - set -e
      - |
        false
        t after-false
)y",
       {"after-false"},
       "SSSSSS",
       "SUCCEEDED"},
      {"shell_managed_variables_are_not_carried",
       R"y(version: 0.2
phases:
  build:
    commands:
      - IFS=:; first_shlvl=${SHLVL-}
      - set -- $(echo "a:b:c"); t "fields=$#"
      - '[ "${SHLVL-}" = "$first_shlvl" ] && t shlvl-same'
)y",
       {"fields=1", "shlvl-same"},
       "SSSSSS",
       "SUCCEEDED"},
      {"background_jobs_end_with_their_entry",
       R"y(version: 0.2
phases:
  build:
    commands:
      - (sleep 3; t late) &
      - t next
)y",
       {"next"},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {"Warning: background processes started by this command were stopped when it ended"},
       {},
       {},
       {},
       0,
       nullptr,
       [](const Fixture& f, const BuildResult& r) {
         EXPECT_LT(r.finished_ms - r.started_ms, 2500);
         std::this_thread::sleep_for(std::chrono::milliseconds(3500));
         EXPECT_EQ(f.Trace(), std::vector<std::string>{"next"});
       }},
      {"stdin_is_empty",
       R"y(version: 0.2
phases:
  build:
    commands:
      - read line || t eof
)y",
       {"eof"},
       "SSSSSS",
       "SUCCEEDED"},
      // --- Blocks and exit (§2.5) ---
      {"block_is_one_command",
       R"y(version: 0.2
phases:
  build:
    commands:
      - |
        t one
        t two
)y",
       {"one", "two"},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {"Running command t one\nt two\n"}},
      {"block_status_is_the_last_commands",
       R"y(version: 0.2
phases:
  build:
    commands:
      - |
        false
        t masked
)y",
       {"masked"},
       "SSSSSS",
       "SUCCEEDED"},
      {"block_failing_last_command_fails_the_phase",
       R"y(version: 0.2
phases:
  build:
    commands:
      - |
        t one
        false
      - t never
)y",
       {"one"},
       "SSSFSS",
       "FAILED"},
      {"set_e_in_a_block_aborts_it",
       R"y(version: 0.2
phases:
  build:
    commands:
      - |
        set -e
        t one
        false
        t never
)y",
       {"one"},
       "SSSFSS",
       "FAILED"},
      {"set_e_exempts_if_conditions",
       R"y(version: 0.2
phases:
  build:
    commands:
      - |
        set -e
        if false; then t no; fi
        false || t or-list
        t end
)y",
       {"or-list", "end"},
       "SSSSSS",
       "SUCCEEDED"},
      {"exit_0_ends_only_the_entry",
       R"y(version: 0.2
phases:
  build:
    commands:
      - |
        t a
        exit 0
        t b
      - t c
)y",
       {"a", "c"},
       "SSSSSS",
       "SUCCEEDED"},
      {"exit_n_fails_with_codebuilds_lines",
       R"y(version: 0.2
phases:
  build:
    commands:
      - t a
      - exit 3
)y",
       {"a"},
       "SSSFSS",
       "FAILED",
       nullptr,
       {"Command did not exit successfully exit 3 exit status 3\n", "Phase complete: BUILD State: FAILED\n",
        "Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: exit 3. "
        "Reason: exit status 3\n"}},
      {"state_set_before_exit_is_kept",
       R"y(version: 0.2
phases:
  build:
    commands:
      - |
        export K=kept
        mkdir -p d && cd d
        exit 0
      - t "K=$K in $(basename "$(pwd)")"
)y",
       {"K=kept in d"},
       "SSSSSS",
       "SUCCEEDED"},
      {"user_exit_trap_runs_and_its_entry_state_is_not_carried",
       R"y(version: 0.2
phases:
  build:
    commands:
      - |
        export LOST=1
        trap 't user-trap' EXIT
      - t "LOST=${LOST-unset}"
)y",
       {"user-trap", "LOST=unset"},
       "SSSSSS",
       "SUCCEEDED"},
      {"user_text_starts_on_line_4_sh",
       R"y(version: 0.2
phases:
  build:
    commands:
      - no_such_command_xyz
)y",
       {},
       "SSSFSS",
       "FAILED",
       "sh",
       {"script.sh: 4: no_such_command_xyz: not found", "exit status 127"}},
      {"user_text_starts_on_line_4_bash",
       R"y(version: 0.2
phases:
  build:
    commands:
      - no_such_command_xyz
)y",
       {},
       "SSSFSS",
       "FAILED",
       "bash",
       {"script.sh: line 4: no_such_command_xyz: command not found"}},
      {"dash_rejects_bashisms",
       R"y(version: 0.2
phases:
  build:
    commands:
      - '[[ 1 == 1 ]] && t bashism'
)y",
       {},
       "SSSFSS",
       "FAILED",
       "sh",
       {"[[: not found"}},
      {"bash_accepts_bashisms",
       R"y(version: 0.2
phases:
  build:
    commands:
      - '[[ 1 == 1 ]] && t bashism'
      - set -o pipefail
)y",
       {"bashism"},
       "SSSSSS",
       "SUCCEEDED",
       "bash"},
      {"dash_refuses_pipefail",
       R"y(version: 0.2
phases:
  build:
    commands:
      - set -o pipefail
)y",
       {},
       "SSSFSS",
       "FAILED",
       "sh",
       {"script.sh: 4: set: Illegal option -o pipefail"}},
      {"empty_entry_succeeds",
       R"y(version: 0.2
phases:
  build:
    commands:
      -
      - t after-empty
)y",
       {"after-empty"},
       "SSSSSS",
       "SUCCEEDED"},
      {"last_exit_is_the_previous_entrys_status",
       R"y(version: 0.2
phases:
  build:
    commands:
      - t "first=$CODEBUILD_LAST_EXIT"
      - (exit 5)
    finally:
      - t "last=$CODEBUILD_LAST_EXIT"
)y",
       {"first=0", "last=5"},
       "SSSFSS",
       "FAILED"},
      // --- Inside a phase (§3.2) ---
      {"first_failure_skips_the_rest_of_commands",
       R"y(version: 0.2
phases:
  build:
    commands:
      - t a
      - "false"
      - t b
)y",
       {"a"},
       "SSSFSS",
       "FAILED"},
      {"finally_runs_after_a_failure",
       R"y(version: 0.2
phases:
  build:
    commands:
      - t a
      - "false"
      - t b
    finally:
      - t f1
      - t f2
)y",
       {"a", "f1", "f2"},
       "SSSFSS",
       "FAILED"},
      {"finally_runs_after_success",
       R"y(version: 0.2
phases:
  build:
    commands:
      - t a
    finally:
      - t f
)y",
       {"a", "f"},
       "SSSSSS",
       "SUCCEEDED"},
      {"failing_finally_fails_the_phase_and_skips_later_finally_entries",
       R"y(version: 0.2
phases:
  build:
    commands:
      - t a
    finally:
      - "false"
      - t f2
  post_build:
    commands:
      - t post
)y",
       {"a", "post"},
       "SSSFSS",
       "FAILED"},
      {"finally_sees_state_of_commands",
       R"y(version: 0.2
phases:
  build:
    commands:
      - export F=from-commands
    finally:
      - t "F=$F"
)y",
       {"F=from-commands"},
       "SSSSSS",
       "SUCCEEDED"},
      // --- Default transitions (§3.3) ---
      {"install_failure_skips_everything_after",
       R"y(version: 0.2
phases:
  install:
    commands:
      - "false"
    finally:
      - t install-finally
  pre_build:
    commands: [t pre]
  build:
    commands: [t build]
  post_build:
    commands: [t post]
artifacts:
  files: ['**/*']
)y",
       {"install-finally"},
       "SF----",
       "FAILED"},
      {"pre_build_failure_skips_everything_after",
       R"y(version: 0.2
phases:
  install:
    commands: [t install]
  pre_build:
    commands: ["false"]
  build:
    commands: [t build]
  post_build:
    commands: [t post]
)y",
       {"install"},
       "SSF---",
       "FAILED"},
      {"build_failure_still_runs_post_build_and_upload",
       R"y(version: 0.2
phases:
  build:
    commands: [t build, "false"]
  post_build:
    commands: [t post]
)y",
       {"build", "post"},
       "SSSFSS",
       "FAILED"},
      {"post_build_failure_still_uploads_artifacts",
       R"y(version: 0.2
phases:
  post_build:
    commands: ["false"]
artifacts:
  files: [.keep]
)y",
       {},
       "SSSSFS",
       "FAILED",
       nullptr,
       {},
       {},
       {},
       {},
       0,
       nullptr,
       [](const Fixture& f, const BuildResult&) { EXPECT_TRUE(FileExists(f.artifacts + "/.keep")); }},
      {"failure_in_an_early_phase_fails_the_build_even_if_later_phases_succeed",
       R"y(version: 0.2
phases:
  build:
    commands: ["false"]
  post_build:
    commands: [t post]
)y",
       {"post"},
       "SSSFSS",
       "FAILED"},
      // --- on-failure (§3.4) ---
      {"on_failure_continue_after_install",
       R"y(version: 0.2
phases:
  install:
    on-failure: CONTINUE
    commands: ["false", t never]
  pre_build:
    commands: [t pre]
  build:
    commands: [t build]
  post_build:
    commands: [t post]
)y",
       {"pre", "build", "post"},
       "SFSSSS",
       "FAILED"},
      {"on_failure_continue_after_pre_build",
       R"y(version: 0.2
phases:
  pre_build:
    on-failure: CONTINUE
    commands: ["false"]
  build:
    commands: [t build]
)y",
       {"build"},
       "SSFSSS",
       "FAILED"},
      {"on_failure_abort_on_build_skips_post_build",
       R"y(version: 0.2
phases:
  build:
    on-failure: ABORT
    commands: ["false"]
    finally: [t build-finally]
  post_build:
    commands: [t post]
)y",
       {"build-finally"},
       "SSSF--",
       "FAILED"},
      {"on_failure_abort_on_install",
       R"y(version: 0.2
phases:
  install:
    on-failure: ABORT
    commands: ["false"]
  build:
    commands: [t build]
)y",
       {},
       "SF----",
       "FAILED"},
      {"on_failure_continue_on_build_equals_default",
       R"y(version: 0.2
phases:
  build:
    on-failure: CONTINUE
    commands: ["false"]
  post_build:
    commands: [t post]
)y",
       {"post"},
       "SSSFSS",
       "FAILED"},
      {"aft_pattern_fails_post_build_on_failed_build",
       R"y(version: 0.2
phases:
  build:
    on-failure: CONTINUE
    commands: ["false"]
  post_build:
    commands:
      - |
        if [ "$CODEBUILD_BUILD_SUCCEEDING" = "0" ]; then
          t failing
          exit 1
        fi
)y",
       {"failing"},
       "SSSFFS",
       "FAILED"},
      // --- CODEBUILD_BUILD_SUCCEEDING (§3.5) ---
      {"build_succeeding_is_1_then_0",
       R"y(version: 0.2
phases:
  install:
    commands: [t "install $CODEBUILD_BUILD_SUCCEEDING"]
  build:
    commands: [t "build $CODEBUILD_BUILD_SUCCEEDING", "false"]
    finally: [t "finally $CODEBUILD_BUILD_SUCCEEDING"]
  post_build:
    commands: [t "post $CODEBUILD_BUILD_SUCCEEDING"]
)y",
       {"install 1", "build 1", "finally 0", "post 0"},
       "SSSFSS",
       "FAILED"},
      {"build_succeeding_cannot_be_set_by_commands",
       R"y(version: 0.2
phases:
  build:
    commands:
      - export CODEBUILD_BUILD_SUCCEEDING=0
      - t "$CODEBUILD_BUILD_SUCCEEDING"
)y",
       {"1"},
       "SSSSSS",
       "SUCCEEDED"},
      // --- Variables (§4) ---
      {"env_variables_are_literal",
       R"y(version: 0.2
env:
  variables:
    P: $PATH:/x
    N: NO
    V: 1.10
phases:
  build:
    commands:
      - t "$P" "$N" "$V"
)y",
       {"$PATH:/x NO 1.10"},
       "SSSSSS",
       "SUCCEEDED"},
      {"precedence_override_over_config_over_buildspec",
       R"y(version: 0.2
env:
  variables:
    A: buildspec
    B: buildspec
    C: buildspec
phases:
  build:
    commands:
      - t "$A $B $C"
)y",
       {"buildspec config override"},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {},
       {},
       {{"B", "config"}, {"C", "config"}},
       {{"C", "override"}}},
      {"buildspec_variables_replace_the_base_environment",
       R"y(version: 0.2
env:
  variables:
    LANG: en_GB.UTF-8
phases:
  build:
    commands:
      - t "$LANG"
)y",
       {"en_GB.UTF-8"},
       "SSSSSS",
       "SUCCEEDED"},
      {"codebuild_variables_are_set",
       R"y(version: 0.2
phases:
  build:
    commands:
      - t "$CODEBUILD_BUILD_ID"
      - t "$CODEBUILD_BUILD_ARN"
      - t "$CODEBUILD_BUILD_NUMBER $CODEBUILD_INITIATOR $AWS_REGION $AWS_DEFAULT_REGION"
      - t "${#CODEBUILD_START_TIME}"
      - t "${CODEBUILD_RESOLVED_SOURCE_VERSION-unset}"
      - '[ "$CODEBUILD_SRC_DIR" = "$(pwd)" ] && t src-ok'
)y",
       {},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {},
       {},
       {},
       {},
       0,
       nullptr,
       [](const Fixture& f, const BuildResult& r) {
         std::vector<std::string> t = f.Trace();
         ASSERT_EQ(t.size(), 6u);
         EXPECT_TRUE(std::regex_match(t[0], std::regex("demo:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-"
                                                       "[0-9a-f]{12}")))
             << t[0];
         EXPECT_EQ(t[0], r.build_id);
         EXPECT_EQ(t[1], "arn:aws:codebuild:us-east-1:000000000000:build/" + r.build_id);
         EXPECT_EQ(t[2], "7 tester us-east-1 us-east-1");
         EXPECT_EQ(t[3], "13");
         EXPECT_EQ(t[4], "unset");
         EXPECT_EQ(t[5], "src-ok");
       }},
      {"region_from_an_override",
       R"y(version: 0.2
phases:
  build:
    commands:
      - t "$AWS_REGION $AWS_DEFAULT_REGION ${CODEBUILD_BUILD_ARN%%:000000000000*}"
)y",
       {"eu-west-1 eu-west-1 arn:aws:codebuild:eu-west-1"},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {},
       {},
       {},
       {{"AWS_REGION", "eu-west-1"}}},
      {"home_is_the_given_home",
       R"y(version: 0.2
phases:
  build:
    commands:
      - t "${HOME##*/}"
)y",
       {"home"},
       "SSSSSS",
       "SUCCEEDED"},
      {"codebuild_variables_cannot_be_overridden",
       R"y(version: 0.2
env:
  variables:
    CODEBUILD_BUILD_NUMBER: "99"
phases:
  build:
    commands:
      - t "$CODEBUILD_BUILD_NUMBER"
)y",
       {"7"},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {"Ignoring CODEBUILD_BUILD_NUMBER"}},
      // --- exported-variables (§5.1) ---
      {"exported_variables_take_the_value_at_the_end_of_post_build",
       R"y(version: 0.2
env:
  exported-variables: [E1, E2, NEVER_SET, AWS_SECRET]
phases:
  install:
    commands:
      - export E1=early
  build:
    commands:
      - E2=plain
  post_build:
    commands:
      - E1=late
      - export AWS_SECRET=x
)y",
       {},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {"Not exporting AWS_SECRET"},
       {{"E1", "late"}, {"E2", "plain"}}},
      {"exported_variables_on_a_failed_build",
       R"y(version: 0.2
env:
  exported-variables: [IMAGE_TAG]
phases:
  build:
    commands:
      - IMAGE_TAG=abc
      - "false"
)y",
       {},
       "SSSFSS",
       "FAILED",
       nullptr,
       {},
       {{"IMAGE_TAG", "abc"}}},
      // --- Logs (§5.3) ---
      {"log_lines_are_codebuilds",
       R"y(version: 0.2
phases:
  install:
    runtime-versions:
      python: 3.11
  build:
    commands:
      - printf 'no-newline'
)y",
       {},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {"Waiting for agent ping\n", "Phase is DOWNLOAD_SOURCE\n", "Processing environment variables\n",
        "Skipping install of runtimes. Runtime version selection is not supported by this build image\n",
        "No commands found for phase name: install\n", "Cache is not defined in the buildspec\n",
        "Running command printf 'no-newline'\nno-newline\n\n", "Phase context status code:  Message: \n",
        "Phase complete: UPLOAD_ARTIFACTS State: SUCCEEDED\n"},
       {},
       {},
       {},
       0,
       nullptr,
       [](const Fixture&, const BuildResult&) {}},
      // --- Timeouts and stop (§5.2) ---
      {"timeout_kills_the_group_and_skips_the_rest",
       R"y(version: 0.2
phases:
  build:
    commands:
      - t start
      - (sleep 1; t grandchild-survived) & sleep 5
    finally:
      - t finally
  post_build:
    commands: [t post]
)y",
       {"start"},
       "SSST--",
       "TIMED_OUT",
       nullptr,
       {"Phase complete: BUILD State: TIMED_OUT\n"},
       {},
       {},
       {},
       700,
       nullptr,
       [](const Fixture& f, const BuildResult&) {
         std::this_thread::sleep_for(std::chrono::milliseconds(1300));
         EXPECT_EQ(f.Trace(), std::vector<std::string>{"start"}) << "a process of the group outlived the timeout";
       }},
      // --- Artifacts, reports, cache, proxy (§1) ---
      {"artifacts_are_copied_with_their_paths",
       R"y(version: 0.2
phases:
  build:
    commands:
      - mkdir -p dist/sub && echo a > dist/a.txt && echo b > dist/sub/b.txt && echo c > dist/skip.log
artifacts:
  base-directory: dist
  files:
    - '**/*'
  exclude-paths:
    - '*.log'
)y",
       {},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {"Found 2 file(s)"},
       {},
       {},
       {},
       0,
       nullptr,
       [](const Fixture& f, const BuildResult& r) {
         EXPECT_EQ(ReadTextFile(f.artifacts + "/a.txt"), "a\n");
         EXPECT_EQ(ReadTextFile(f.artifacts + "/sub/b.txt"), "b\n");
         EXPECT_FALSE(FileExists(f.artifacts + "/skip.log"));
         EXPECT_EQ(r.artifacts, (std::vector<std::string>{"a.txt", "sub/b.txt"}));
       }},
      {"artifacts_discard_paths",
       R"y(version: 0.2
phases:
  build:
    commands:
      - mkdir -p target/x && echo j > target/x/app.jar
artifacts:
  files: [target/**/*.jar]
  discard-paths: yes
)y",
       {},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {},
       {},
       {},
       {},
       0,
       nullptr,
       [](const Fixture& f, const BuildResult&) { EXPECT_EQ(ReadTextFile(f.artifacts + "/app.jar"), "j\n"); }},
      {"artifacts_without_matches_fail_upload",
       R"y(version: 0.2
phases:
  build:
    commands: [t build]
artifacts:
  files: [missing/*]
)y",
       {"build"},
       "SSSSSF",
       "FAILED",
       nullptr,
       {"Phase context status code: CLIENT_ERROR Message: no matching artifact paths found\n"}},
      {"artifacts_are_uploaded_after_a_build_failure",
       R"y(version: 0.2
phases:
  build:
    commands: [echo partial > part.txt, "false"]
artifacts:
  files: [part.txt]
)y",
       {},
       "SSSFSS",
       "FAILED",
       nullptr,
       {},
       {},
       {},
       {},
       0,
       nullptr,
       [](const Fixture& f, const BuildResult&) { EXPECT_TRUE(FileExists(f.artifacts + "/part.txt")); }},
      {"secondary_artifacts_and_reports_are_collected",
       R"y(version: 0.2
phases:
  build:
    commands: [echo s > s.txt, mkdir -p reports && echo '<x/>' > reports/unit.xml]
artifacts:
  files: [s.txt]
  secondary-artifacts:
    extra:
      files: [s.txt]
reports:
  unit:
    files: ['reports/*.xml']
)y",
       {},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {},
       {},
       {},
       {},
       0,
       nullptr,
       [](const Fixture& f, const BuildResult&) {
         EXPECT_TRUE(FileExists(f.artifacts + "/s.txt"));
         EXPECT_TRUE(FileExists(f.artifacts + "/extra/s.txt"));
         EXPECT_TRUE(FileExists(f.artifacts + "/reports/unit/reports/unit.xml"));
       }},
      {"cache_proxy_and_credential_helper_are_logged_no_ops",
       R"y(version: 0.2
env:
  git-credential-helper: yes
proxy:
  upload-artifacts: yes
cache:
  paths: ['/root/.m2/**/*']
phases:
  build:
    commands: [t build]
)y",
       {"build"},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {"git-credential-helper: yes is a no-op", "proxy settings are ignored", "Cache paths are neither restored"}},
      // --- Rejections before anything runs (§1) ---
      {"yaml_file_error_runs_nothing",
       R"y(version: 0.2
phases:
  build:
    commands: [t build]
  postbuild:
    commands: [t post]
)y",
       {},
       "F-----",
       "FAILED",
       nullptr,
       {"Phase complete: DOWNLOAD_SOURCE State: FAILED\n",
        "Phase context status code: YAML_FILE_ERROR Message: Invalid buildspec phase name: POSTBUILD. Expecting: "
        "BUILD,INSTALL,POST_BUILD,PRE_BUILD\n"}},
      {"parameter_store_is_not_available_yet",
       R"y(version: 0.2
env:
  parameter-store:
    TOKEN: /ci/token
phases:
  build:
    commands: [t build]
)y",
       {},
       "F-----",
       "FAILED",
       nullptr,
       {"env.parameter-store is not available yet", "--env TOKEN="}},
      {"parameter_store_variable_given_as_override_needs_no_lookup",
       R"y(version: 0.2
env:
  secrets-manager:
    TOKEN: ci:token
phases:
  build:
    commands: [t "$TOKEN"]
)y",
       {"given"},
       "SSSSSS",
       "SUCCEEDED",
       nullptr,
       {},
       {},
       {},
       {{"TOKEN", "given"}}},
  };
  return kCases;
}

struct Param {
  size_t index;
  std::string shell;  // "sh" or "bash"
};

class BuildspecRunnerTest : public ::testing::TestWithParam<Param> {};

TEST_P(BuildspecRunnerTest, Case) {
  const Case& c = Cases()[GetParam().index];
  bool bash = GetParam().shell == "bash";
  Fixture f;
  if (c.setup) c.setup(f);
  std::string yaml = bash ? WithBash(c.yaml) : c.yaml;
  RunOutput out = RunCase(f, yaml, c);
  SCOPED_TRACE(out.log);
  if (!c.check || !c.trace.empty()) {
    EXPECT_EQ(f.Trace(), c.trace);
  }
  EXPECT_EQ(PhaseLetters(out.result), c.phases);
  EXPECT_STREQ(BuildStatusName(out.result.status), c.status);
  for (const auto& s : c.log_contains) EXPECT_NE(out.log.find(s), std::string::npos) << "log lacks: " << s;
  std::map<std::string, std::string> exported(out.result.exported_variables.begin(),
                                              out.result.exported_variables.end());
  EXPECT_EQ(exported, c.exported);
  if (c.check) c.check(f, out.result);
}

std::vector<Param> AllParams() {
  std::vector<Param> out;
  for (size_t i = 0; i < Cases().size(); ++i) {
    for (const char* shell : {"sh", "bash"}) {
      if (Cases()[i].only_shell != nullptr && Cases()[i].only_shell != std::string(shell)) continue;
      out.push_back({i, shell});
    }
  }
  return out;
}

INSTANTIATE_TEST_SUITE_P(Table, BuildspecRunnerTest, ::testing::ValuesIn(AllParams()),
                         [](const ::testing::TestParamInfo<Param>& info) {
                           return std::string(Cases()[info.param.index].name) + "_" + info.param.shell;
                         });

TEST(BuildspecRunner, TableHasAtLeastFortyRules) { EXPECT_GE(Cases().size(), 40u); }

// --- Cases that need more than the table ---

TEST(BuildspecRunner, CancelStopsTheBuild) {
  for (const char* shell : {"sh", "bash"}) {
    Fixture f;
    Case c{"cancel", "", {}, "", ""};
    std::string yaml =
        "version: 0.2\nphases:\n  build:\n    commands:\n      - t start\n      - sleep 10\n"
        "  post_build:\n    commands: [t post]\n";
    if (std::string(shell) == "bash") yaml = WithBash(yaml);
    CancelToken token;
    std::thread canceller([&] {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      token.Cancel();
    });
    auto start = std::chrono::steady_clock::now();
    RunOutput out = RunCase(f, yaml, c, &token);
    canceller.join();
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
    EXPECT_EQ(out.result.status, BuildStatus::kStopped) << shell;
    EXPECT_EQ(PhaseLetters(out.result), "SSSX--") << shell;
    EXPECT_EQ(f.Trace(), std::vector<std::string>{"start"});
  }
}

TEST(BuildspecRunner, MissingFileIsAYamlFileError) {
  Fixture f;
  BuildspecRunOptions o;
  o.buildspec_path = f.dir.Sub("nope.yml");
  o.src_dir = f.src;
  std::string log;
  o.log = [&](std::string_view chunk) { log.append(chunk); };
  Result<BuildResult> r = RunBuildspec(o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->rejected());
  EXPECT_EQ(r->phases[0].context_code, "YAML_FILE_ERROR");
  EXPECT_EQ(r->phases[0].context_message, "YAML file does not exist");
  EXPECT_NE(log.find("Phase context status code: YAML_FILE_ERROR Message: YAML file does not exist\n"),
            std::string::npos);
}

TEST(BuildspecRunner, RunAsOtherUser) {
  Fixture f;
  chmod(f.dir.path().c_str(), 0755);
  chmod(f.src.c_str(), 0777);
  chmod(f.trace.c_str(), 0666);
  Case c{"run_as", "", {}, "", ""};
  std::string yaml =
      "version: 0.2\nphases:\n  build:\n    run-as: nobody\n    commands:\n      - t \"$(id -un)\"\n"
      "      - export FROM_NOBODY=1\n  post_build:\n    commands:\n      - t \"$(id -un) "
      "$FROM_NOBODY\"\n";
  RunOutput out = RunCase(f, yaml, c);
  if (geteuid() == 0) {
    EXPECT_EQ(out.result.status, BuildStatus::kSucceeded) << out.log;
    EXPECT_EQ(f.Trace(), (std::vector<std::string>{"nobody", "root 1"}));
  } else {
    EXPECT_TRUE(out.result.rejected());
    EXPECT_NE(out.result.phases[0].context_message.find("needs Slipway to run as root"), std::string::npos);
  }
}

TEST(BuildspecRunner, UnknownRunAsUserIsRefused) {
  Fixture f;
  Case c{"run_as", "", {}, "", ""};
  RunOutput out = RunCase(f, "version: 0.2\nrun-as: no-such-user-xyz\nphases:\n  build:\n    commands: [t x]\n", c);
  EXPECT_TRUE(out.result.rejected());
  EXPECT_EQ(f.Trace(), std::vector<std::string>{});
  EXPECT_NE(out.log.find("run-as user 'no-such-user-xyz' does not exist"), std::string::npos);
}

TEST(BuildspecRunner, NothingOfTheEnginesEnvironmentLeaks) {
  setenv("SLIPWAY_TEST_LEAK", "leaked", 1);
  Fixture f;
  Case c{"leak", "", {}, "", ""};
  RunOutput out =
      RunCase(f, "version: 0.2\nphases:\n  build:\n    commands:\n      - t \"[${SLIPWAY_TEST_LEAK-}]\"\n", c);
  unsetenv("SLIPWAY_TEST_LEAK");
  EXPECT_EQ(f.Trace(), std::vector<std::string>{"[]"});
}

TEST(BuildspecRunner, ResultAsJson) {
  Fixture f;
  Case c{"json", "", {}, "", ""};
  RunOutput out = RunCase(
      f, "version: 0.2\nenv:\n  exported-variables: [TAG]\nphases:\n  build:\n    commands: [TAG=v1, \"false\"]\n", c);
  std::string json = BuildResultToJson(out.result);
  EXPECT_NE(json.find("\"status\": \"FAILED\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"context_code\": \"COMMAND_EXECUTION_ERROR\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"TAG\": \"v1\""), std::string::npos) << json;
  EXPECT_NE(json.find("\"name\": \"UPLOAD_ARTIFACTS\""), std::string::npos) << json;
}

TEST(BuildspecRunner, AgentLinesHaveCodeBuildsTimestamp) {
  Fixture f;
  Case c{"stamp", "", {}, "", ""};
  RunOutput out = RunCase(f, "version: 0.2\nphases:\n  build:\n    commands: [echo hi]\n", c);
  std::regex agent(R"(^\[Container\] \d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}\.\d{6} .+$)");
  size_t agent_lines = 0;
  for (const auto& line : Split(out.log, '\n')) {
    if (StartsWith(line, "[Container]")) {
      ++agent_lines;
      EXPECT_TRUE(std::regex_match(line, agent)) << line;
    }
  }
  EXPECT_GT(agent_lines, 15u);
}

TEST(BuildspecRunner, OutputIsStreamedNotBuffered) {
  Fixture f;
  BuildspecRunOptions o;
  std::string path = f.dir.Sub("b.yml");
  WriteTextFile(path, "version: 0.2\nphases:\n  build:\n    commands:\n      - echo first; sleep 1; echo second\n");
  o.buildspec_path = path;
  o.src_dir = f.src;
  o.base_env = {{"PATH", "/usr/bin:/bin"}};
  auto start = std::chrono::steady_clock::now();
  int64_t first_at = -1;
  std::string log;
  o.log = [&](std::string_view chunk) {
    log.append(chunk);
    if (first_at < 0 && log.find("first\n") != std::string::npos) {
      first_at =
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
    }
  };
  Result<BuildResult> r = RunBuildspec(o);
  ASSERT_TRUE(r.ok());
  int64_t total =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  EXPECT_GE(first_at, 0);
  EXPECT_LT(first_at, total - 500) << "output of a running command arrived only at its end";
}

// --- The `set` parser ---

TEST(ShellVars, ParsesDashAndBashQuoting) {
  Result<std::vector<ShellVariable>> r = ParseSetOutput(
      "A='plain'\nB='it'\"'\"'s\ntwo'\nC=bare\nD='x'\\''y'\nE=$'a\\tb\\001\\n\\'q'\nF=\nARR=([0]=\"1\" [1]=\")\")\n"
      "G=\"dq \\\"x\\\" \\$y\"\nf () \n{ \n    echo hi\n}\nH=after\n");
  ASSERT_TRUE(r.ok()) << r.status().message();
  std::map<std::string, std::string> m;
  for (auto& v : *r) m[v.name] = v.value;
  EXPECT_EQ(m["A"], "plain");
  EXPECT_EQ(m["B"], "it's\ntwo");
  EXPECT_EQ(m["C"], "bare");
  EXPECT_EQ(m["D"], "x'y");
  EXPECT_EQ(m["E"], std::string("a\tb\001\n'q"));
  EXPECT_EQ(m["F"], "");
  EXPECT_EQ(m.count("ARR"), 0u);
  EXPECT_EQ(m["G"], "dq \"x\" $y");
  EXPECT_EQ(m.count("H"), 0u) << "parsing stops at the first function";
}

TEST(ShellVars, UnterminatedQuoteIsAnError) { EXPECT_FALSE(ParseSetOutput("A='open\n").ok()); }

TEST(ShellVars, ManagedVariables) {
  for (const char* n : {"PPID", "PWD", "OLDPWD", "SHLVL", "_", "IFS", "BASH_VERSINFO", "BASHOPTS", "SHELLOPTS"}) {
    EXPECT_TRUE(IsShellManagedVariable(n)) << n;
  }
  for (const char* n : {"PATH", "HOME", "VIRTUAL_ENV", "BASHFUL", "HISTORY_FILE", "AWS_REGION"}) {
    EXPECT_FALSE(IsShellManagedVariable(n)) << n;
  }
}

}  // namespace
}  // namespace slipway
