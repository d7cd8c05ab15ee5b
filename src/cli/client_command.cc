#include "cli/client_command.h"

#include <httplib.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli/commands.h"
#include "server/api_server.h"
#include "server/auth.h"
#include "util/strings.h"

namespace slipway {

namespace {

using nlohmann::json;

struct ClientFlags {
  std::string config;
  std::string server;
  std::string token;
};

std::unique_ptr<CLI::App> NewClientApp(const char* name, const char* help, ClientFlags* flags) {
  auto app = std::make_unique<CLI::App>(help, name);
  app->add_option("-c,--config", flags->config, "the engine config, for server.listen (default ./slipway.yaml)");
  app->add_option("--server", flags->server, "the daemon's URL (default $SLIPWAY_SERVER, else server.listen)");
  app->add_option("--token", flags->token, "an API token (default $SLIPWAY_TOKEN)");
  return app;
}

int Parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    PrintError(app.get_name() + ": " + e.what() + " (run 'slipway " + app.get_name() + " --help')");
    return kExitUsage;
  }
  return -1;
}

// One HTTP exchange with the daemon. On failure prints one sentence and
// returns nullopt.
class DaemonClient {
 public:
  static std::optional<DaemonClient> Connect(const ClientFlags& flags) {
    std::string error;
    std::string url = DaemonUrl(flags.server, flags.config, &error);
    if (url.empty()) {
      PrintError(error);
      return std::nullopt;
    }
    std::string token = flags.token;
    if (token.empty()) {
      const char* env = std::getenv("SLIPWAY_TOKEN");
      if (env != nullptr) token = env;
    }
    return DaemonClient(url, token);
  }

  // Returns the parsed JSON body of a 2xx answer; prints the daemon's error
  // message otherwise.
  std::optional<json> Call(const std::string& method, const std::string& path, const json& body = nullptr) {
    httplib::Client client(url_);
    client.set_connection_timeout(5, 0);
    client.set_read_timeout(60, 0);
    if (!token_.empty()) client.set_bearer_token_auth(token_);
    std::string text = body.is_null() ? "" : body.dump();
    httplib::Result r = method == "GET" ? client.Get(path) : client.Post(path, text, "application/json");
    if (!r) {
      PrintError("cannot reach the slipway daemon at " + url_ + ": " + httplib::to_string(r.error()) +
                 " (is 'slipway serve' running there? set --server or SLIPWAY_SERVER)");
      return std::nullopt;
    }
    json answer = json::parse(r->body, nullptr, false);
    if (r->status >= 400) {
      std::string message = answer.is_object() && answer.contains("message") && answer["message"].is_string()
                                ? answer["message"].get<std::string>()
                                : "HTTP " + std::to_string(r->status);
      if (r->status == 401 && token_.empty()) message += " (set --token or SLIPWAY_TOKEN)";
      PrintError(message);
      return std::nullopt;
    }
    if (answer.is_discarded()) answer = json::object();
    return answer;
  }

  // Polls the run until it is final and returns its exit code.
  int Wait(int64_t run_id) {
    std::string last;
    for (;;) {
      std::optional<json> run = Call("GET", "/api/v1/runs/" + std::to_string(run_id));
      if (!run) return kExitFailed;
      std::string status = run->value("status", "");
      if (status != last) {
        std::fprintf(stderr, "run %lld: %s\n", static_cast<long long>(run_id), status.c_str());
        last = status;
      }
      RunStatus parsed = RunStatus::kQueued;
      if (ParseRunStatus(status, &parsed) && IsFinal(parsed)) {
        std::string error = run->value("error", "");
        if (!error.empty()) PrintError("run " + std::to_string(run_id) + " " + status + ": " + error);
        return ExitCodeFor(parsed);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
  }

 private:
  DaemonClient(std::string url, std::string token) : url_(std::move(url)), token_(std::move(token)) {}
  std::string url_;
  std::string token_;
};

// Path segments: environment names are [A-Za-z0-9_.-], so no escaping is
// needed; anything else is refused here with the config's wording.
bool CheckEnvName(const std::string& name) {
  if (IsValidName(name)) return true;
  PrintError("'" + name + "' is not an environment name (letters, digits, '_', '.', '-')");
  return false;
}

int EnvAction(int argc, char** argv, const char* name, const char* help, const char* verb) {
  ClientFlags flags;
  std::string env;
  auto app = NewClientApp(name, help, &flags);
  app->add_option("ENV", env, "the environment")->required();
  if (int rc = Parse(*app, argc, argv); rc >= 0) return rc;
  if (!CheckEnvName(env)) return kExitUsage;
  std::optional<DaemonClient> client = DaemonClient::Connect(flags);
  if (!client) return kExitFailed;
  std::optional<json> answer = client->Call("POST", "/api/v1/environments/" + env + "/" + name);
  if (!answer) return kExitFailed;
  std::printf("'%s' %s: %s\n", env.c_str(), verb, answer->value("state", "").c_str());
  return kExitOk;
}

}  // namespace

std::string DaemonUrl(const std::string& flag, const std::string& config_flag, std::string* error) {
  if (!flag.empty()) return flag;
  const char* env = std::getenv("SLIPWAY_SERVER");
  if (env != nullptr && *env != '\0') return env;
  Result<Config> config = LoadConfig(ResolveConfigPath(config_flag));
  if (!config.ok()) {
    *error = "no daemon address: give --server URL or set SLIPWAY_SERVER (reading server.listen failed: " +
             Split(config.status().message(), '\n').front() + ")";
    return "";
  }
  std::string host;
  int port = 0;
  Status parsed = ParseListenAddress(config->server.listen, &host, &port);
  if (!parsed.ok()) {
    *error = parsed.message();
    return "";
  }
  if (host == "0.0.0.0") host = "127.0.0.1";
  if (host == "::") host = "::1";
  if (host.find(':') != std::string::npos) host = "[" + host + "]";
  return "http://" + host + ":" + std::to_string(port);
}

int TriggerCommand(int argc, char** argv) {
  ClientFlags flags;
  std::string env, ref;
  bool wait = false, as_json = false;
  auto app = NewClientApp("trigger", "Ask the daemon to run an environment (queued; joins a queued run)", &flags);
  app->add_option("ENV", env, "the environment")->required();
  app->add_option("--ref", ref, "deploy this code ref instead of the pinned one");
  app->add_flag("--wait", wait, "wait for the run to finish; exit with its outcome");
  app->add_flag("--json", as_json, "print the daemon's answer as JSON");
  if (int rc = Parse(*app, argc, argv); rc >= 0) return rc;
  if (!CheckEnvName(env)) return kExitUsage;
  std::optional<DaemonClient> client = DaemonClient::Connect(flags);
  if (!client) return kExitFailed;
  json body = json::object();
  if (!ref.empty()) body["ref"] = ref;
  std::optional<json> answer = client->Call("POST", "/api/v1/environments/" + env + "/trigger", body);
  if (!answer) return kExitFailed;
  int64_t id = answer->value("run_id", int64_t{0});
  if (as_json) {
    std::printf("%s\n", answer->dump(2).c_str());
  } else if (answer->value("coalesced", false)) {
    std::printf("run %lld of '%s' was already queued; this trigger joined it\n", static_cast<long long>(id),
                env.c_str());
  } else {
    std::printf("queued run %lld of '%s'\n", static_cast<long long>(id), env.c_str());
  }
  return wait ? client->Wait(id) : kExitOk;
}

int CancelCommand(int argc, char** argv) {
  ClientFlags flags;
  int64_t id = 0;
  auto app = NewClientApp("cancel", "Cancel a queued or running run", &flags);
  app->add_option("RUN", id, "the run id")->required();
  if (int rc = Parse(*app, argc, argv); rc >= 0) return rc;
  std::optional<DaemonClient> client = DaemonClient::Connect(flags);
  if (!client) return kExitFailed;
  std::optional<json> answer = client->Call("POST", "/api/v1/runs/" + std::to_string(id) + "/cancel");
  if (!answer) return kExitFailed;
  std::string status = answer->value("status", "");
  std::printf("run %lld %s\n", static_cast<long long>(id),
              status == "running" ? "is being cancelled" : ("is " + status).c_str());
  return kExitOk;
}

int RollbackCommand(int argc, char** argv) {
  ClientFlags flags;
  std::string env;
  int64_t to = 0;
  bool wait = false;
  auto app = NewClientApp("rollback",
                          "Re-deploy an earlier successful run's exact commits and hold the environment there", &flags);
  app->add_option("ENV", env, "the environment")->required();
  app->add_option("--to", to, "the run to go back to (default: the deployment before the current one)");
  app->add_flag("--wait", wait, "wait for the rollback run to finish; exit with its outcome");
  if (int rc = Parse(*app, argc, argv); rc >= 0) return rc;
  if (!CheckEnvName(env)) return kExitUsage;
  std::optional<DaemonClient> client = DaemonClient::Connect(flags);
  if (!client) return kExitFailed;
  json body = json::object();
  if (to > 0) body["to"] = to;
  std::optional<json> answer = client->Call("POST", "/api/v1/environments/" + env + "/rollback", body);
  if (!answer) return kExitFailed;
  int64_t id = answer->value("run_id", int64_t{0});
  std::printf("run %lld rolls '%s' back to run %lld; '%s' is held there until 'slipway resume %s'\n",
              static_cast<long long>(id), env.c_str(), static_cast<long long>(answer->value("held_run_id", int64_t{0})),
              env.c_str(), env.c_str());
  return wait ? client->Wait(id) : kExitOk;
}

int PauseCommand(int argc, char** argv) {
  return EnvAction(argc, argv, "pause", "Pause automatic triggers (push, schedule) of an environment", "paused");
}

int ResumeCommand(int argc, char** argv) {
  return EnvAction(argc, argv, "resume", "End a pause or a rollback's hold", "resumed");
}

int TokenCommand(int argc, char** argv) {
  std::string config_flag, role_name, name;
  int64_t id = 0;
  CLI::App app("Manage API tokens (works without a running daemon)", "token");
  app.add_option("-c,--config", config_flag, "the engine config (default ./slipway.yaml or $SLIPWAY_CONFIG)");
  app.require_subcommand(1);
  // -c after the subcommand (and the global -c that Main appends) belongs to `token`.
  app.fallthrough();
  CLI::App* create = app.add_subcommand("create", "create a token and print it (shown only once)");
  create->add_option("--role", role_name, "viewer, operator or admin")->required();
  create->add_option("--name", name, "a name for the token (shown as the actor of what it does)");
  CLI::App* list = app.add_subcommand("list", "list tokens (never their secrets)");
  CLI::App* remove = app.add_subcommand("delete", "revoke a token");
  remove->add_option("ID", id, "the token id")->required();
  if (int rc = Parse(app, argc, argv); rc >= 0) return rc;
  Result<Config> config = LoadConfigOrReport(config_flag);
  if (!config.ok()) return kExitUsage;
  Result<std::unique_ptr<Store>> store = OpenStore(*config);
  if (!store.ok()) return kExitFailed;
  if (create->parsed()) {
    TokenRole role = TokenRole::kViewer;
    if (!ParseTokenRole(role_name, &role)) {
      PrintError("token create: unknown role '" + role_name + "'" +
                 DidYouMeanHint(role_name, {"viewer", "operator", "admin"}) + "; use viewer, operator or admin");
      return kExitUsage;
    }
    Result<CreatedToken> created = CreateToken(**store, role, name);
    if (!created.ok()) {
      PrintError(created.status().message());
      return kExitFailed;
    }
    std::printf("%s\n", created->token.c_str());
    std::fprintf(stderr, "token %lld (%s%s%s) created; it is shown only this once\n",
                 static_cast<long long>(created->record.id), TokenRoleName(role), name.empty() ? "" : ", ",
                 name.c_str());
    return kExitOk;
  }
  if (list->parsed()) {
    Result<std::vector<TokenRecord>> tokens = (*store)->ListTokens();
    if (!tokens.ok()) {
      PrintError(tokens.status().message());
      return kExitFailed;
    }
    std::printf("%-5s %-9s %s\n", "ID", "ROLE", "NAME");
    for (const auto& t : *tokens) {
      std::printf("%-5lld %-9s %s\n", static_cast<long long>(t.id), TokenRoleName(t.role), t.name.c_str());
    }
    return kExitOk;
  }
  Status deleted = (*store)->DeleteToken(id);
  if (!deleted.ok()) {
    PrintError(deleted.code() == StatusCode::kNotFound ? "no token " + std::to_string(id) : deleted.message());
    return kExitFailed;
  }
  std::printf("token %lld revoked\n", static_cast<long long>(id));
  return kExitOk;
}

}  // namespace slipway
