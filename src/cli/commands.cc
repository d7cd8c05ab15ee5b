// The subcommand table and the commands that read or run one environment.
#include "cli/commands.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <thread>

#include "cli/buildspec_command.h"
#include "cli/client_command.h"
#include "cli/git_credential_command.h"
#include "cli/json.h"
#include "cli/serve_command.h"
#include "pipeline/pipeline.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

// Parses a command's arguments with CLI11. Returns -1 to go on, or the exit
// code to return (help printed, or a usage error reported).
int ParseArgs(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    PrintError(std::string(app.get_name()) + ": " + e.what() + " (run 'slipway " + app.get_name() + " --help')");
    return kExitUsage;
  }
  return -1;
}

std::unique_ptr<CLI::App> NewApp(const char* name, const char* help, std::string* config_flag) {
  auto app = std::make_unique<CLI::App>(help, name);
  app->add_option("-c,--config", *config_flag, "the engine config (default ./slipway.yaml or $SLIPWAY_CONFIG)");
  return app;
}

std::string Short(const std::string& commit) { return commit.empty() ? "-" : commit.substr(0, 12); }

// How often `logs --follow` looks for more.
constexpr int64_t kFollowPollMs = 200;
void SleepMs(int64_t ms) { std::this_thread::sleep_for(std::chrono::milliseconds(ms)); }

std::string When(int64_t ms) { return ms == 0 ? "-" : FormatTimestamp(ms).substr(0, 19) + "Z"; }

// Ctrl-C and SIGTERM cancel the running steps through one token.
CancelToken* g_cancel = nullptr;
void OnSignal(int) {
  if (g_cancel != nullptr) g_cancel->Cancel();
}

int Validate(int argc, char** argv) {
  std::string config_flag;
  auto app = NewApp("validate", "Check slipway.yaml and report every problem with its line and column", &config_flag);
  if (int rc = ParseArgs(*app, argc, argv); rc >= 0) return rc;
  Result<Config> config = LoadConfigOrReport(config_flag);
  if (!config.ok()) return kExitUsage;
  std::printf("%s: ok, %zu environment(s): %s\n", config->path.c_str(), config->environments.size(),
              [&] {
                std::string names;
                for (const auto& n : config->EnvironmentNames()) names += (names.empty() ? "" : ", ") + n;
                return names;
              }()
                  .c_str());
  return kExitOk;
}

int RunCommand(int argc, char** argv) {
  std::string config_flag, env_name, ref;
  bool dry_run = false, json = false;
  auto app = NewApp("run", "Run an environment's pipeline now and wait for it", &config_flag);
  app->add_option("ENV", env_name, "the environment")->required();
  app->add_option("--ref", ref, "deploy this code ref instead of the pinned one (a tag or a full commit)");
  app->add_flag("--dry-run", dry_run, "resolve what would run, run nothing");
  app->add_flag("--json", json, "print the final run record as JSON on stdout (the log goes to stderr)");
  if (int rc = ParseArgs(*app, argc, argv); rc >= 0) return rc;
  Result<Config> config = LoadConfigOrReport(config_flag);
  if (!config.ok()) return kExitUsage;
  Result<const EnvironmentConfig*> env = FindEnvironment(*config, env_name);
  if (!env.ok()) return kExitUsage;
  Result<std::unique_ptr<Store>> store = OpenStore(*config);
  if (!store.ok()) return kExitFailed;
  Pipeline pipeline(*config, **store);

  if (dry_run) {
    Plan plan = pipeline.MakePlan(**env);
    if (json) {
      std::printf("%s\n", PlanToJson(plan).c_str());
    } else {
      if (!plan.desired) {
        PrintError(plan.error);
        return kExitFailed;
      }
      std::printf("would run '%s' at code %s (%s) with settings %s:\n", env_name.c_str(),
                  plan.desired->code_ref.c_str(), Short(plan.desired->code.commit).c_str(),
                  Short(plan.desired->settings_commit).c_str());
      for (const auto& s : Pipeline::StepsOf(**env)) std::printf("  %-12s %s\n", s.name.c_str(), s.run.c_str());
    }
    return plan.desired ? kExitOk : kExitFailed;
  }

  CancelToken cancel;
  g_cancel = &cancel;
  struct sigaction sa = {};
  sa.sa_handler = OnSignal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);

  RunOptions options;
  options.trigger = "manual";
  const char* user = std::getenv("USER");
  options.actor = user != nullptr ? user : "cli";
  options.ref_override = ref;
  options.cancel = &cancel;
  options.echo_fd = json ? STDERR_FILENO : STDOUT_FILENO;
  Result<RunRecord> run = pipeline.Run(**env, options);
  g_cancel = nullptr;
  if (!run.ok()) {
    PrintError(run.status().message());
    return kExitFailed;
  }
  if (json) {
    std::printf("%s\n", RunToJson(*run).c_str());
  } else if (run->status != RunStatus::kSucceeded) {
    PrintError("run " + std::to_string(run->id) + " of '" + env_name + "' " + RunStatusName(run->status) + ": " +
               run->error);
  }
  std::fflush(stdout);
  pipeline.PrepareNextRun(**env, *run, /*checkout_ahead=*/false);  // git's housekeeping of the mirrors
  Pipeline::EmptyTrashDetached(config->state_dir);                 // old workspaces: nobody waits for that
  return ExitCodeFor(run->status);
}

int PlanCommand(int argc, char** argv) {
  std::string config_flag, env_name;
  bool json = false;
  auto app = NewApp("plan", "Show what would be deployed and whether it is in sync; nothing runs", &config_flag);
  app->add_option("ENV", env_name, "the environment")->required();
  app->add_flag("--json", json, "print the plan as JSON");
  if (int rc = ParseArgs(*app, argc, argv); rc >= 0) return rc;
  Result<Config> config = LoadConfigOrReport(config_flag);
  if (!config.ok()) return kExitUsage;
  Result<const EnvironmentConfig*> env = FindEnvironment(*config, env_name);
  if (!env.ok()) return kExitUsage;
  Result<std::unique_ptr<Store>> store = OpenStore(*config);
  if (!store.ok()) return kExitFailed;
  Pipeline pipeline(*config, **store);
  Plan plan = pipeline.MakePlan(**env);
  if (json) {
    std::printf("%s\n", PlanToJson(plan).c_str());
    return plan.desired ? kExitOk : kExitFailed;
  }
  std::printf("environment  %s\nsync         %s (%s)\n", env_name.c_str(), SyncStatusName(plan.sync),
              plan.reason.c_str());
  if (plan.deployed) {
    std::printf("deployed     code %s %s, settings %s (run %lld, %s)\n", plan.deployed->code_ref.c_str(),
                Short(plan.deployed->code_commit).c_str(), Short(plan.deployed->settings_commit).c_str(),
                static_cast<long long>(plan.deployed->run_id), When(plan.deployed->deployed_ms).c_str());
  } else {
    std::printf("deployed     nothing yet\n");
  }
  if (plan.desired) {
    const Desired& d = *plan.desired;
    std::printf("desired      code %s %s (%s), settings %s\n", d.code_ref.c_str(), Short(d.code.commit).c_str(),
                d.code.commit.empty() ? "-" : RefKindName(d.code.kind), Short(d.settings_commit).c_str());
    for (const auto& w : d.warnings) std::printf("warning      %s\n", w.c_str());
  } else {
    PrintError(plan.error);
    return kExitFailed;
  }
  for (const auto& p : plan.changed_paths) std::printf("changed      %s\n", p.c_str());
  return kExitOk;
}

int StatusCommand(int argc, char** argv) {
  std::string config_flag;
  bool json = false, offline = false;
  auto app = NewApp("status", "Every environment: sync status, what is deployed, the last run", &config_flag);
  app->add_flag("--json", json, "print the status as JSON");
  app->add_flag("--offline", offline, "do not contact the settings and code remotes (sync shows Unknown)");
  if (int rc = ParseArgs(*app, argc, argv); rc >= 0) return rc;
  Result<Config> config = LoadConfigOrReport(config_flag);
  if (!config.ok()) return kExitUsage;
  Result<std::unique_ptr<Store>> store = OpenStore(*config);
  if (!store.ok()) return kExitFailed;
  Pipeline pipeline(*config, **store);
  std::vector<EnvironmentStatus> rows;
  for (const auto& env : config->environments) {
    EnvironmentStatus row;
    row.environment = env.name;
    if (offline) {
      Result<std::optional<Deployment>> d = (*store)->CurrentDeployment(env.name);
      if (d.ok()) row.deployed = *d;
      row.reason = "not checked (--offline)";
    } else {
      Plan plan = pipeline.MakePlan(env);
      row.sync = plan.sync;
      row.reason = plan.reason;
      row.deployed = plan.deployed;
    }
    Result<std::optional<RunRecord>> last = (*store)->LastRun(env.name);
    if (last.ok()) row.last_run = *last;
    rows.push_back(std::move(row));
  }
  if (json) {
    std::printf("%s\n", StatusToJson(rows).c_str());
    return kExitOk;
  }
  std::printf("%-16s %-10s %-28s %-13s %s\n", "ENVIRONMENT", "SYNC", "DEPLOYED CODE", "SETTINGS", "LAST RUN");
  for (const auto& r : rows) {
    std::string code = r.deployed ? r.deployed->code_ref + " " + r.deployed->code_commit.substr(0, 7) : "-";
    std::string last = r.last_run ? "#" + std::to_string(r.last_run->id) + " " + RunStatusName(r.last_run->status) +
                                        " " + When(r.last_run->started_ms)
                                  : "-";
    std::string marker;
    Result<EnvironmentState> state = (*store)->GetEnvironmentState(r.environment);
    if (state.ok() && state->held_run_id != 0) {
      marker = "  (held at run " + std::to_string(state->held_run_id) + ")";
    } else if (state.ok() && state->paused) {
      marker = "  (paused)";
    }
    if (state.ok() && !state->drift.empty()) marker += "  (" + state->drift + ": " + state->drift_reason + ")";
    std::printf("%-16s %-10s %-28s %-13s %s%s\n", r.environment.c_str(), SyncStatusName(r.sync), code.c_str(),
                r.deployed ? r.deployed->settings_commit.substr(0, 12).c_str() : "-", last.c_str(), marker.c_str());
  }
  // Fleet mode (doc/fleet.md): the live nodes, their heartbeats and runs.
  Result<std::vector<NodeRecord>> nodes = (*store)->ListNodes();
  if (nodes.ok() && !nodes->empty()) {
    std::printf("\n%-44s %-22s %-16s %s\n", "NODE", "ADDRESS", "HEARTBEAT", "RUNNING");
    for (const NodeRecord& n : *nodes) {
      std::string running;
      for (int64_t id : n.running_run_ids) running += (running.empty() ? "#" : ", #") + std::to_string(id);
      std::printf("%-44s %-22s %-16s %s\n", n.id.c_str(), n.address.c_str(), When(n.heartbeat_ms).c_str(),
                  running.empty() ? "-" : running.c_str());
    }
  }
  return kExitOk;
}

int HistoryCommand(int argc, char** argv) {
  std::string config_flag, env_name;
  int limit = 20;
  bool json = false;
  auto app = NewApp("history", "The runs of one or all environments, newest first", &config_flag);
  app->add_option("ENV", env_name, "only this environment");
  app->add_option("--limit", limit, "at most this many runs (default 20)")->check(CLI::Range(1, 10000));
  app->add_flag("--json", json, "print the runs as JSON");
  if (int rc = ParseArgs(*app, argc, argv); rc >= 0) return rc;
  Result<Config> config = LoadConfigOrReport(config_flag);
  if (!config.ok()) return kExitUsage;
  if (!env_name.empty() && !FindEnvironment(*config, env_name).ok()) return kExitUsage;
  Result<std::unique_ptr<Store>> store = OpenStore(*config);
  if (!store.ok()) return kExitFailed;
  RunFilter filter;
  filter.environment = env_name;
  filter.limit = limit;
  Result<std::vector<RunRecord>> runs = (*store)->ListRuns(filter);
  if (!runs.ok()) {
    PrintError(runs.status().message());
    return kExitFailed;
  }
  if (json) {
    std::printf("%s\n", RunsToJson(*runs).c_str());
    return kExitOk;
  }
  std::printf("%-6s %-16s %-11s %-9s %-21s %-9s %s\n", "RUN", "ENVIRONMENT", "STATUS", "TRIGGER", "STARTED", "DURATION",
              "CODE");
  for (const auto& r : *runs) {
    std::string code = r.code_ref.empty() ? "-" : r.code_ref + " " + r.code_commit.substr(0, 7);
    std::printf("%-6lld %-16s %-11s %-9s %-21s %-9s %s\n", static_cast<long long>(r.id), r.environment.c_str(),
                RunStatusName(r.status), r.trigger.c_str(), When(r.started_ms).c_str(),
                r.finished_ms ? FormatDurationMs(r.finished_ms - r.started_ms).c_str() : "-", code.c_str());
  }
  return kExitOk;
}

// The run `slipway logs --env ENV` shows: the newest run of ENV; with
// follow, when that one is already finished, the next one (waited for).
Result<int64_t> NewestRunToFollow(Store& store, const std::string& env, bool follow) {
  SLIPWAY_ASSIGN_OR_RETURN(std::optional<RunRecord> newest, store.LastRun(env));
  if (newest && (!follow || !IsFinal(newest->status))) return newest->id;
  if (!follow) return NotFound("environment '" + env + "' has no runs yet");
  std::fprintf(stderr, "waiting for the next run of '%s' (Ctrl-C to stop)\n", env.c_str());
  int64_t after = newest ? newest->id : 0;
  for (;;) {
    SleepMs(kFollowPollMs);
    SLIPWAY_ASSIGN_OR_RETURN(std::optional<RunRecord> next, store.LastRun(env));
    if (next && next->id > after) return next->id;
  }
}

Result<RunRecord> LoadRun(const std::string& config_flag, int64_t id) {
  SLIPWAY_ASSIGN_OR_RETURN(Config config, LoadConfigOrReport(config_flag));
  SLIPWAY_ASSIGN_OR_RETURN(std::unique_ptr<Store> store, OpenStore(config));
  Result<RunRecord> run = store->GetRun(id);
  if (!run.ok()) PrintError(run.status().message());
  return run;
}

int ShowCommand(int argc, char** argv) {
  std::string config_flag;
  int64_t id = 0;
  bool json = false;
  auto app = NewApp("show", "One run: what ran, at which commits, each step's status", &config_flag);
  app->add_option("RUN", id, "the run id")->required();
  app->add_flag("--json", json, "print the run as JSON");
  if (int rc = ParseArgs(*app, argc, argv); rc >= 0) return rc;
  Result<RunRecord> run = LoadRun(config_flag, id);
  if (!run.ok()) return run.status().code() == StatusCode::kNotFound ? kExitFailed : kExitUsage;
  if (json) {
    std::printf("%s\n", RunToJson(*run).c_str());
    return kExitOk;
  }
  const RunRecord& r = *run;
  std::printf("run          %lld\nenvironment  %s\nstatus       %s\ntrigger      %s%s\n", static_cast<long long>(r.id),
              r.environment.c_str(), RunStatusName(r.status), r.trigger.c_str(),
              r.actor.empty() ? "" : (" by " + r.actor).c_str());
  std::printf("settings     %s\ncode         %s %s%s\n", r.settings_commit.empty() ? "-" : r.settings_commit.c_str(),
              r.code_ref.empty() ? "-" : r.code_ref.c_str(), r.code_commit.c_str(),
              r.branch_pin ? " (branch pin)" : "");
  std::printf("started      %s\nduration     %s\n", When(r.started_ms).c_str(),
              r.finished_ms ? FormatDurationMs(r.finished_ms - r.started_ms).c_str() : "-");
  if (!r.error.empty()) std::printf("error        %s\n", r.error.c_str());
  std::printf("log          %s\nsteps:\n", r.log_path.c_str());
  for (const auto& s : r.steps) {
    std::printf("  %-12s %-10s %-6s %s\n", s.name.c_str(), StepStatusName(s.status),
                s.exit_code ? std::to_string(*s.exit_code).c_str() : "-",
                s.started_ms ? FormatDurationMs(s.duration_ms).c_str() : "-");
  }
  return kExitOk;
}

int LogsCommand(int argc, char** argv) {
  std::string config_flag, env_name;
  int64_t id = 0;
  bool follow = false;
  auto app = NewApp("logs", "Print a run's log, or follow it while it runs", &config_flag);
  CLI::Option* run_option = app->add_option("RUN", id, "the run id");
  CLI::Option* env_option = app->add_option("--env", env_name, "the newest run of this environment");
  run_option->excludes(env_option);
  app->add_flag("-f,--follow", follow,
                "go on printing until the run finishes (exit code as 'slipway run'); with --env and no run going, "
                "wait for the next one");
  if (int rc = ParseArgs(*app, argc, argv); rc >= 0) return rc;
  if (run_option->count() == 0 && env_option->count() == 0) {
    PrintError("logs: name a run (slipway logs RUN) or an environment (slipway logs --env ENV)");
    return kExitUsage;
  }
  Result<Config> config = LoadConfigOrReport(config_flag);
  if (!config.ok()) return kExitUsage;
  Result<std::unique_ptr<Store>> store = OpenStore(*config);
  if (!store.ok()) return kExitFailed;
  if (!env_name.empty()) {
    if (!FindEnvironment(*config, env_name).ok()) return kExitUsage;
    Result<int64_t> newest = NewestRunToFollow(**store, env_name, follow);
    if (!newest.ok()) {
      PrintError(newest.status().message());
      return kExitFailed;
    }
    id = *newest;
  }
  // A log deleted by log_retention_days: one sentence instead of a file error.
  if (Result<RunRecord> run = (*store)->GetRun(id); run.ok() && run->log_pruned_ms != 0) {
    PrintError(PrunedLogMessage(*run, config->log_retention_days));
    return kExitFailed;
  }
  Result<RunStatus> final_status = CopyRunLog(**store, id, follow, stdout);
  if (!final_status.ok()) {
    PrintError(final_status.status().message());
    return kExitFailed;
  }
  return follow ? ExitCodeFor(*final_status) : kExitOk;
}

}  // namespace

const std::vector<Command>& Commands() {
  static const std::vector<Command> kCommands = {
      {"validate", "check slipway.yaml; every problem with its line and column", Validate},
      {"run", "run an environment's pipeline now and wait for it", RunCommand},
      {"plan", "what would be deployed, and whether it is in sync; nothing runs", PlanCommand},
      {"status", "every environment: sync status, deployed version, last run", StatusCommand},
      {"history", "past runs, newest first", HistoryCommand},
      {"show", "one run: commits, steps, statuses", ShowCommand},
      {"logs", "print a run's log", LogsCommand},
      {"buildspec", "run an AWS CodeBuild buildspec locally (buildspec run FILE)", BuildspecCommand},
      {"demo", "build a demo code repo and settings repo and deploy two environments", DemoCommand},
      {"serve", "run the engine: triggers, the run queue, the HTTP API", ServeCommand},
      {"trigger", "ask the daemon to run an environment (trigger ENV [--wait])", TriggerCommand},
      {"cancel", "cancel a queued or running run (cancel RUN)", CancelCommand},
      {"rollback", "re-deploy an earlier run and hold there (rollback ENV [--to RUN])", RollbackCommand},
      {"pause", "pause automatic triggers of an environment", PauseCommand},
      {"resume", "end a pause or a rollback's hold", ResumeCommand},
      {"token", "create, list or revoke API tokens (token create --role R)", TokenCommand},
      {"git-credential", "git's credential helper for codecommit:: URLs (run by git, not by hand)",
       GitCredentialCommand},
  };
  return kCommands;
}

void PrintError(const std::string& message) {
  for (const auto& line : Split(message, '\n')) {
    if (!line.empty()) std::fprintf(stderr, "slipway: %s\n", line.c_str());
  }
}

Result<Config> LoadConfigOrReport(const std::string& flag_path) {
  Result<Config> config = LoadConfig(ResolveConfigPath(flag_path));
  if (!config.ok()) PrintError(config.status().message());
  return config;
}

Result<std::unique_ptr<Store>> OpenStore(const Config& config) {
  Status made = MakeDirs(config.state_dir);
  if (!made.ok()) {
    PrintError(made.message());
    return made;
  }
  // "sqlite" (the default) or a postgresql:// URL (fleet mode, doc/fleet.md).
  Result<std::unique_ptr<Store>> store = OpenStore(config.database, JoinPath(config.state_dir, "slipway.db"));
  if (!store.ok()) PrintError(store.status().message());
  return store;
}

Result<const EnvironmentConfig*> FindEnvironment(const Config& config, const std::string& name) {
  const EnvironmentConfig* env = config.Find(name);
  if (env == nullptr) {
    Status s =
        NotFound("no environment '" + name + "' in " + config.path + DidYouMeanHint(name, config.EnvironmentNames()));
    PrintError(s.message());
    return s;
  }
  return env;
}

Result<RunStatus> CopyRunLog(Store& store, int64_t id, bool follow, std::FILE* out) {
  SLIPWAY_ASSIGN_OR_RETURN(RunRecord run, store.GetRun(id));
  off_t offset = 0;
  std::string buffer(64 * 1024, '\0');
  for (;;) {
    // The status is read before the log: once a run is final, its whole log
    // is on disk, so the copy below is complete.
    bool final = IsFinal(run.status);
    UniqueFd fd(run.log_path.empty() ? -1 : ::open(run.log_path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.valid()) {
      for (;;) {
        ssize_t n = ::pread(fd.get(), buffer.data(), buffer.size(), offset);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return PosixError("read log '" + run.log_path + "'", errno);
        if (n == 0) break;
        std::fwrite(buffer.data(), 1, static_cast<size_t>(n), out);
        offset += n;
      }
      std::fflush(out);
    } else if (!run.log_path.empty() && errno != ENOENT) {
      return PosixError("open log '" + run.log_path + "'", errno);
    } else if (!follow) {
      return NotFound("run " + std::to_string(id) + " has no log (it is " + RunStatusName(run.status) + ")");
    }
    if (!follow || final) return run.status;
    SleepMs(kFollowPollMs);
    SLIPWAY_ASSIGN_OR_RETURN(run, store.GetRun(id));
  }
}

int ExitCodeFor(RunStatus status) {
  switch (status) {
    case RunStatus::kSucceeded:
      return kExitOk;
    case RunStatus::kCancelled:
      return kExitCancelled;
    default:
      return kExitFailed;
  }
}

}  // namespace slipway
