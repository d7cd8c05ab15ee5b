#include "server/api_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "dashboard/assets.h"
#include "server/auth.h"
#include "server/follow_pacer.h"
#include "store/record_json.h"
#include "triggers/webhook.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

// A run or token id from a route's (\d+): digits that do not fit in int64_t
// name no record (0), instead of std::stoll's out_of_range becoming a 500
// (found by tests/e2e/hostile_test.cc).
int64_t PathId(const std::string& digits) {
  int64_t id = 0;
  for (char c : digits) {
    if (c < '0' || c > '9' || id > (INT64_MAX - (c - '0')) / 10) return 0;
    id = id * 10 + (c - '0');
  }
  return id;
}

using nlohmann::json;

// --- JSON forms (store/record_json.h: those of `slipway show --json`, with
// the log's URL instead of the engine machine's paths) ---

json RunJson(const RunRecord& r, bool with_steps) {
  return RunRecordToJson(r, RunJsonOptions{.steps = with_steps, .log_url = true});
}

json EnvironmentJson(const EnvironmentView& v) {
  json j;
  j["name"] = v.name;
  j["state"] = v.state;
  j["paused"] = v.paused;
  j["held_run_id"] = v.held_run_id ? json(v.held_run_id) : json(nullptr);
  j["paused_by"] = v.paused_by;
  j["paused_ms"] = v.paused_ms;
  j["running_run_id"] = v.running_run_id ? json(v.running_run_id) : json(nullptr);
  j["queued_runs"] = v.queued_runs;
  j["sync"] = SyncStatusName(v.sync);
  j["sync_reason"] = v.sync_reason;
  j["sync_checked_ms"] = v.sync_checked_ms;
  j["drift"] = v.drift.empty() ? json(nullptr) : json(v.drift);  // doc/drift.md
  j["drift_reason"] = v.drift_reason;
  j["drift_checked_ms"] = v.drift_checked_ms;
  j["drift_run_id"] = v.drift_run_id ? json(v.drift_run_id) : json(nullptr);
  j["deployed"] = DeploymentToJson(v.deployed);
  json desired;
  desired["settings_commit"] = v.desired_settings_commit;
  desired["code_ref"] = v.desired_code_ref;
  desired["code_commit"] = v.desired_code_commit;
  j["desired"] = v.sync_checked_ms ? desired : json(nullptr);
  json triggers;
  triggers["push"] = v.push;
  triggers["poll_ms"] = v.poll_ms;
  triggers["evaluated_commit"] = v.evaluated_commit;
  triggers["error"] = v.trigger_error;
  triggers["error_ms"] = v.trigger_error_ms;
  triggers["schedule"] = v.schedule;
  triggers["next_schedule_ms"] = v.next_schedule_ms;
  j["triggers"] = triggers;
  j["last_run"] = v.last_run ? RunJson(*v.last_run, false) : json(nullptr);
  return j;
}

// --- Answers ---

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // With a charset, httplib does not compress JSON: it would pick brotli at
  // its slowest setting for any browser (5 s for the 200-environment list
  // on a busy machine; bench/dashboard), and the API is read on loopback or
  // a LAN where compression only costs.
  res.set_content(body.dump(2) + "\n", "application/json; charset=utf-8");
}

// 202 for a queued (or coalesced) run.
void SendQueued(httplib::Response& res, const TriggerResult& r) {
  json j;
  j["run_id"] = r.run_id;
  j["coalesced"] = r.coalesced;
  j["run"] = "/api/v1/runs/" + std::to_string(r.run_id);
  SendJson(res, 202, j);
}

void SendError(httplib::Response& res, int status, const std::string& message) {
  const char* code = "internal";
  switch (status) {
    case 400:
      code = "bad_request";
      break;
    case 401:
      code = "unauthorized";
      break;
    case 403:
      code = "forbidden";
      break;
    case 404:
      code = "not_found";
      break;
    case 405:
      code = "method_not_allowed";
      break;
    case 409:
      code = "conflict";
      break;
    case 410:
      code = "gone";  // a log deleted by log_retention_days
      break;
    case 411:
      code = "length_required";
      break;
    case 413:
      code = "payload_too_large";
      break;
    case 503:
      code = "unavailable";
      break;
    case 507:
      code = "insufficient_storage";
      break;
    default:
      break;
  }
  json j;
  j["error"] = code;
  j["message"] = message;
  SendJson(res, status, j);
  if (status == 401) res.set_header("WWW-Authenticate", "Bearer");
}

int HttpStatusOf(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kFailed:
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kTimeout:
    case StatusCode::kCancelled:
      return 503;
    case StatusCode::kNoSpace:
      return 507;
    default:
      return 500;
  }
}

void SendStatus(httplib::Response& res, const Status& status) {
  SendError(res, HttpStatusOf(status), status.message());
}

// A query parameter as an integer; false (and a 400 sent) when malformed.
bool IntParam(const httplib::Request& req, httplib::Response& res, const char* name, int64_t* out) {
  if (!req.has_param(name)) return true;
  std::string text = req.get_param_value(name);
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || v < 0) {
    SendError(res, 400,
              "query parameter '" + std::string(name) + "' must be a non-negative integer, got '" + text + "'");
    return false;
  }
  *out = v;
  return true;
}

// The request body as a JSON object; an empty body is {}. false (and a 400
// sent) otherwise.
bool BodyObject(const httplib::Request& req, httplib::Response& res, json* out) {
  if (Trim(req.body).empty()) {
    *out = json::object();
    return true;
  }
  json j = json::parse(req.body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    SendError(res, 400, "the request body must be a JSON object");
    return false;
  }
  *out = std::move(j);
  return true;
}

Result<std::string> ReadSecret(const WebhookSecret& secret, const std::string& hook) {
  if (!secret.secret_env.empty()) {
    const char* value = std::getenv(secret.secret_env.c_str());
    if (value == nullptr || *value == '\0') {
      return Failed("the secret of webhook '" + hook + "' is missing: environment variable " + secret.secret_env +
                    " is not set");
    }
    return std::string(value);
  }
  SLIPWAY_ASSIGN_OR_RETURN(std::string text, ReadFileLimited(secret.secret_file, 64 * 1024));
  // A trailing newline (echo secret > file) is not part of the secret.
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  if (text.empty()) return Failed("the secret file of webhook '" + hook + "' is empty: " + secret.secret_file);
  return text;
}

// cpp-httplib reads a POST without Content-Length until the client closes
// the connection, and answers 400 when it does not: say what is missing.
httplib::Server::HandlerResponse LengthCheck(const httplib::Request& req, httplib::Response& res) {
  if ((req.method == "POST" || req.method == "PUT") && !req.has_header("Content-Length") &&
      req.get_header_value("Transfer-Encoding").find("chunked") == std::string::npos) {
    SendError(res, 411, "a " + req.method + " needs a Content-Length header (with curl: add -d '')");
    return httplib::Server::HandlerResponse::Handled;
  }
  return httplib::Server::HandlerResponse::Unhandled;
}

// --- The dashboard (doc/dashboard.md) ---

// The page holds no data (everything comes from the token-protected API),
// so it is served without a token; these headers keep it from running
// anything but its own files and from leaking its URL.
void SendAsset(const httplib::Request& req, httplib::Response& res, const Asset& asset) {
  res.set_header("Content-Security-Policy",
                 "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                 "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'");
  res.set_header("X-Content-Type-Options", "nosniff");
  res.set_header("Referrer-Policy", "no-referrer");
  res.set_header("Cache-Control", "no-cache");
  res.set_header("ETag", std::string(asset.etag));
  if (req.get_header_value("If-None-Match") == asset.etag) {
    res.status = 304;
    return;
  }
  res.set_content(std::string(asset.body), std::string(asset.content_type));
}

json ChangesJson(const EnvironmentChanges& c) {
  json j;
  j["environment"] = c.environment;
  j["path"] = c.path;
  j["from_commit"] = c.from_commit;
  j["to_commit"] = c.to_commit;
  json commits = json::array();
  for (const auto& sc : c.commits) {
    commits.push_back({{"commit", sc.commit},
                       {"subject", sc.subject},
                       {"author", sc.author},
                       {"time_ms", sc.time_ms},
                       {"files", sc.files}});
  }
  j["commits"] = commits;
  j["truncated"] = c.truncated;
  j["files"] = c.files;
  j["pin"] = {{"from", {{"code_ref", c.code_ref_from}, {"code_commit", c.code_commit_from}}},
              {"to", {{"code_ref", c.code_ref_to}, {"code_commit", c.code_commit_to}}},
              {"changed", c.code_ref_from != c.code_ref_to || c.code_commit_from != c.code_commit_to}};
  j["note"] = c.note;
  return j;
}

// The nice value of the HTTP threads (see Routes).
constexpr int kHttpNice = 10;

// --- Live logs ---

constexpr size_t kLogChunk = 64 * 1024;
// How often a follower that has caught up looks for more of the log.
constexpr int kFollowPollMs = 50;
// What a follower of a running run is sent at most (follow_pacer.h): about
// 65,000 lines of 130 bytes a second, more than anyone reads or a browser
// shows. Once the run has ended, the rest goes at full speed.
constexpr int64_t kLiveFollowBytesPerSecond = 8 << 20;
constexpr int64_t kLiveFollowBurst = 4 * kLogChunk;
// How often a follower asks the store whether its run has ended.
constexpr int64_t kFollowStatusCheckMs = 250;

// Whether a thread may enter SCHED_IDLE and come back (see IdleScope):
// coming back to SCHED_OTHER needs CAP_SYS_NICE or an RLIMIT_NICE that
// allows the thread's nice value. Tried once, in a thread of its own.
bool CanLeaveIdleClass() {
  static const bool can = [] {
    bool ok = false;
    std::thread probe([&ok] {
      sched_param param{};
      if (::sched_setscheduler(0, SCHED_IDLE, &param) != 0) return;
      (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kHttpNice);
      ok = ::sched_setscheduler(0, SCHED_OTHER, &param) == 0;
    });
    probe.join();
    return ok;
  }();
  return can;
}

// Runs its scope's work in the SCHED_IDLE class: on CPU time that no normal
// task wants, giving the CPU up the moment a step's process wakes. The nice
// value of the HTTP threads alone does not keep followers off a step that
// prints at full speed: its pipeline hands over between processes at every
// pipe write, and each time a follower (and its reader, woken by it) held a
// CPU the step then waited for (bench/daemon fan-out: two readers cost the
// step half its throughput). Followers fall behind instead and catch up
// when the step pauses or ends; they read the file, so that costs no memory.
// A pool thread must not stay idle for the requests it serves next, so the
// scope does nothing where the class cannot be left again (see
// CanLeaveIdleClass: run as root, with CAP_SYS_NICE, or LimitNICE=10).
// Take no lock inside the scope that another thread may wait for (the
// store's): a starved idle thread holding it would stall that thread too.
class IdleScope {
 public:
  IdleScope() {
    sched_param param{};
    active_ = CanLeaveIdleClass() && ::sched_setscheduler(0, SCHED_IDLE, &param) == 0;
  }
  ~IdleScope() {
    sched_param param{};
    // The nice value is kept across the change of class.
    if (active_) (void)::sched_setscheduler(0, SCHED_OTHER, &param);
  }
  IdleScope(const IdleScope&) = delete;
  IdleScope& operator=(const IdleScope&) = delete;

 private:
  bool active_ = false;
};

// Appends lines as one Server-Sent Event whose id is the byte offset after
// them. Carriage returns are dropped: SSE would read them as line ends.
void AppendEvent(std::string_view text, int64_t end_offset, std::string* out) {
  out->append("id: ");
  out->append(std::to_string(end_offset));
  out->push_back('\n');
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    size_t end = nl == std::string_view::npos ? text.size() : nl;
    out->append("data: ");
    std::string_view line = text.substr(start, end - start);
    for (size_t cr; (cr = line.find('\r')) != std::string_view::npos; line.remove_prefix(cr + 1)) {
      out->append(line.substr(0, cr));
    }
    out->append(line);
    out->push_back('\n');
    start = end + 1;
  }
  *out += '\n';
}

}  // namespace

Status ParseListenAddress(const std::string& listen, std::string* host, int* port) {
  size_t colon = listen.rfind(':');
  auto bad = [&] {
    return InvalidArgument("listen address '" + listen + "' is not HOST:PORT (e.g. 127.0.0.1:8080, [::1]:8080, :8080)");
  };
  if (colon == std::string::npos) return bad();
  std::string h = listen.substr(0, colon);
  std::string p = listen.substr(colon + 1);
  if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), ::isdigit)) return bad();
  int n = std::stoi(p);
  if (n > 65535) return bad();
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (h.empty()) h = "0.0.0.0";
  *host = h;
  *port = n;
  return Status::Ok();
}

struct ApiServer::Impl {
  Daemon& daemon;
  ApiServerOptions options;
  httplib::Server server;
  std::string host;
  int port = 0;
  std::atomic<bool> stopping{false};

  Impl(Daemon& d, ApiServerOptions o) : daemon(d), options(std::move(o)) {}

  // The token of the request, checked against `need`. Sends 401/403 and
  // returns nullopt when it does not do.
  std::optional<TokenRecord> Authorize(const httplib::Request& req, httplib::Response& res, TokenRole need) {
    std::string header = req.get_header_value("Authorization");
    if (header.empty()) {
      SendError(res, 401,
                "missing bearer token: send 'Authorization: Bearer TOKEN' (create one with 'slipway token create')");
      return std::nullopt;
    }
    if (!StartsWith(header, "Bearer ") && !StartsWith(header, "bearer ")) {
      SendError(res, 401, "the Authorization header must be 'Bearer TOKEN'");
      return std::nullopt;
    }
    std::string token(Trim(std::string_view(header).substr(7)));
    Result<std::optional<TokenRecord>> found = daemon.store().FindToken(HashToken(token));
    if (!found.ok()) {
      SendError(res, 500, found.status().message());
      return std::nullopt;
    }
    if (!found->has_value()) {
      SendError(res, 401, "unknown or revoked token");
      return std::nullopt;
    }
    const TokenRecord& t = **found;
    if (static_cast<int>(t.role) < static_cast<int>(need)) {
      SendError(res, 403,
                std::string("this needs the ") + TokenRoleName(need) + " role; token '" + ActorOf(t) + "' is a " +
                    TokenRoleName(t.role));
      return std::nullopt;
    }
    return t;
  }

  // For actions: authorised and the engine is not shutting down.
  std::optional<TokenRecord> AuthorizeAction(const httplib::Request& req, httplib::Response& res, TokenRole need) {
    std::optional<TokenRecord> t = Authorize(req, res, need);
    if (t && daemon.stopping()) {
      SendError(res, 503, "the engine is shutting down; try again once it is back");
      return std::nullopt;
    }
    return t;
  }

  void Routes();
  void Webhook(const httplib::Request& req, httplib::Response& res);
  void Runs(const httplib::Request& req, httplib::Response& res);
  void Log(const httplib::Request& req, httplib::Response& res, int64_t id);
  void Follow(const httplib::Request& req, httplib::Response& res, const RunRecord& run, int64_t offset);
};

void ApiServer::Impl::Routes() {
  httplib::Server& s = server;

  s.Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    json j;
    j["status"] = daemon.stopping() ? "stopping" : "ok";
    SendJson(res, daemon.stopping() ? 503 : 200, j);
  });

  s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(daemon.MetricsText(), "text/plain; version=0.0.4; charset=utf-8");
  });

  s.Get("/api/v1/environments", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, TokenRole::kViewer)) return;
    Result<std::vector<EnvironmentView>> views = daemon.Environments();
    if (!views.ok()) return SendStatus(res, views.status());
    json arr = json::array();
    for (const auto& v : *views) arr.push_back(EnvironmentJson(v));
    json j;
    j["environments"] = arr;
    SendJson(res, 200, j);
  });

  s.Get(R"(/api/v1/environments/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, TokenRole::kViewer)) return;
    Result<EnvironmentView> view = daemon.Environment(req.matches[1]);
    if (!view.ok()) return SendStatus(res, view.status());
    SendJson(res, 200, EnvironmentJson(*view));
  });

  s.Get(R"(/api/v1/environments/([^/]+)/changes)", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, TokenRole::kViewer)) return;
    Result<EnvironmentChanges> changes = daemon.Changes(req.matches[1]);
    if (!changes.ok()) return SendStatus(res, changes.status());
    SendJson(res, 200, ChangesJson(*changes));
  });

  // Fleet mode (doc/fleet.md): every live node, its heartbeat and its runs.
  s.Get("/api/v1/nodes", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, TokenRole::kViewer)) return;
    Result<std::vector<NodeRecord>> nodes = daemon.Nodes();
    if (!nodes.ok()) return SendStatus(res, nodes.status());
    json arr = json::array();
    for (const NodeRecord& n : *nodes) {
      arr.push_back(json{{"id", n.id},
                         {"address", n.address},
                         {"version", n.version},
                         {"started_ms", n.started_ms},
                         {"heartbeat_ms", n.heartbeat_ms},
                         {"running_run_ids", n.running_run_ids},
                         {"self", n.id == daemon.node_id()}});
    }
    SendJson(res, 200, json{{"fleet", !daemon.node_id().empty()}, {"nodes", arr}});
  });

  s.Get("/api/v1/whoami", [this](const httplib::Request& req, httplib::Response& res) {
    std::optional<TokenRecord> token = Authorize(req, res, TokenRole::kViewer);
    if (!token) return;
    SendJson(res, 200, json{{"name", ActorOf(*token)}, {"role", TokenRoleName(token->role)}});
  });

  s.Get("/", [](const httplib::Request& req, httplib::Response& res) {
    const Asset* index = FindAsset("index.html");
    if (index == nullptr) return SendError(res, 404, "this build has no dashboard");
    SendAsset(req, res, *index);
  });

  s.Get(R"(/assets/(.+))", [](const httplib::Request& req, httplib::Response& res) {
    const Asset* asset = FindAsset(req.matches[1].str());
    if (asset == nullptr) return SendError(res, 404, "no dashboard file '" + req.matches[1].str() + "'");
    SendAsset(req, res, *asset);
  });

  s.Post(R"(/api/v1/environments/([^/]+)/trigger)", [this](const httplib::Request& req, httplib::Response& res) {
    std::optional<TokenRecord> token = AuthorizeAction(req, res, TokenRole::kOperator);
    if (!token) return;
    json body;
    if (!BodyObject(req, res, &body)) return;
    TriggerRequest request;
    request.environment = req.matches[1];
    request.trigger = "manual";
    request.actor = ActorOf(*token);
    if (body.contains("ref")) {
      if (!body["ref"].is_string()) return SendError(res, 400, "'ref' must be a string");
      request.ref = body["ref"].get<std::string>();
    }
    Result<TriggerResult> r = daemon.Trigger(request);
    if (!r.ok()) return SendStatus(res, r.status());
    SendQueued(res, *r);
  });

  // Issue 8: a drift check now (doc/drift.md).
  s.Post(R"(/api/v1/environments/([^/]+)/drift-check)", [this](const httplib::Request& req, httplib::Response& res) {
    std::optional<TokenRecord> token = AuthorizeAction(req, res, TokenRole::kOperator);
    if (!token) return;
    Result<TriggerResult> r = daemon.CheckDrift(req.matches[1], "manual", ActorOf(*token));
    if (!r.ok()) return SendStatus(res, r.status());
    SendQueued(res, *r);
  });

  s.Post(R"(/api/v1/environments/([^/]+)/rollback)", [this](const httplib::Request& req, httplib::Response& res) {
    std::optional<TokenRecord> token = AuthorizeAction(req, res, TokenRole::kOperator);
    if (!token) return;
    json body;
    if (!BodyObject(req, res, &body)) return;
    int64_t to = 0;
    if (body.contains("to")) {
      if (!body["to"].is_number_integer() || body["to"].get<int64_t>() <= 0) {
        return SendError(res, 400, "'to' must be a run id");
      }
      to = body["to"].get<int64_t>();
    }
    Result<TriggerResult> r = daemon.Rollback(req.matches[1], to, ActorOf(*token));
    if (!r.ok()) return SendStatus(res, r.status());
    Result<RunRecord> run = daemon.store().GetRun(r->run_id);
    json j;
    j["run_id"] = r->run_id;
    j["run"] = "/api/v1/runs/" + std::to_string(r->run_id);
    Result<EnvironmentView> view = daemon.Environment(req.matches[1]);
    if (view.ok()) {
      j["held_run_id"] = view->held_run_id;
      j["state"] = view->state;
    }
    SendJson(res, 202, j);
  });

  for (const char* action : {"pause", "resume"}) {
    std::string pattern = std::string(R"(/api/v1/environments/([^/]+)/)") + action;
    bool pause = std::string(action) == "pause";
    s.Post(pattern, [this, pause](const httplib::Request& req, httplib::Response& res) {
      std::optional<TokenRecord> token = AuthorizeAction(req, res, TokenRole::kOperator);
      if (!token) return;
      std::string name = req.matches[1];
      Status st = pause ? daemon.Pause(name, ActorOf(*token)) : daemon.Resume(name, ActorOf(*token));
      if (!st.ok()) return SendStatus(res, st);
      Result<EnvironmentView> view = daemon.Environment(name);
      if (!view.ok()) return SendStatus(res, view.status());
      SendJson(res, 200, EnvironmentJson(*view));
    });
  }

  s.Get("/api/v1/runs", [this](const httplib::Request& req, httplib::Response& res) { Runs(req, res); });

  s.Get(R"(/api/v1/runs/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, TokenRole::kViewer)) return;
    Result<RunRecord> run = daemon.store().GetRun(PathId(req.matches[1]));
    if (!run.ok()) return SendStatus(res, run.status());
    SendJson(res, 200, RunJson(*run, true));
  });

  s.Get(R"(/api/v1/runs/(\d+)/log)", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, TokenRole::kViewer)) return;
    Log(req, res, PathId(req.matches[1]));
  });

  s.Post(R"(/api/v1/runs/(\d+)/cancel)", [this](const httplib::Request& req, httplib::Response& res) {
    std::optional<TokenRecord> token = Authorize(req, res, TokenRole::kOperator);
    if (!token) return;
    int64_t id = PathId(req.matches[1]);
    Status st = daemon.Cancel(id, ActorOf(*token));
    if (!st.ok()) return SendStatus(res, st);
    Result<RunRecord> run = daemon.store().GetRun(id);
    if (!run.ok()) return SendStatus(res, run.status());
    SendJson(res, 202, RunJson(*run, false));
  });

  s.Post("/api/v1/reload", [this](const httplib::Request& req, httplib::Response& res) {
    if (!AuthorizeAction(req, res, TokenRole::kAdmin)) return;
    Status st = daemon.Reload();
    if (!st.ok()) {
      return SendError(res, st.code() == StatusCode::kInvalidArgument ? 400 : HttpStatusOf(st),
                       "the new config was refused and the running one kept: " + st.message());
    }
    json j;
    j["reloaded"] = daemon.config()->path;
    j["environments"] = daemon.config()->EnvironmentNames();
    SendJson(res, 200, j);
  });

  s.Get("/api/v1/tokens", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, TokenRole::kAdmin)) return;
    Result<std::vector<TokenRecord>> tokens = daemon.store().ListTokens();
    if (!tokens.ok()) return SendStatus(res, tokens.status());
    json arr = json::array();
    for (const auto& t : *tokens) {
      arr.push_back({{"id", t.id}, {"name", t.name}, {"role", TokenRoleName(t.role)}, {"created_ms", t.created_ms}});
    }
    SendJson(res, 200, json{{"tokens", arr}});
  });

  s.Post("/api/v1/tokens", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, TokenRole::kAdmin)) return;
    json body;
    if (!BodyObject(req, res, &body)) return;
    TokenRole role = TokenRole::kViewer;
    if (!body.contains("role") || !body["role"].is_string() ||
        !ParseTokenRole(body["role"].get<std::string>(), &role)) {
      return SendError(res, 400, "'role' must be one of viewer, operator, admin");
    }
    std::string name = body.contains("name") && body["name"].is_string() ? body["name"].get<std::string>() : "";
    Result<CreatedToken> created = CreateToken(daemon.store(), role, name);
    if (!created.ok()) return SendStatus(res, created.status());
    SendJson(
        res, 201,
        json{{"id", created->record.id}, {"name", name}, {"role", TokenRoleName(role)}, {"token", created->token}});
  });

  s.Delete(R"(/api/v1/tokens/(\d+))", [this](const httplib::Request& req, httplib::Response& res) {
    if (!Authorize(req, res, TokenRole::kAdmin)) return;
    Status st = daemon.store().DeleteToken(PathId(req.matches[1]));
    if (!st.ok()) return SendStatus(res, st);
    res.status = 204;
  });

  s.Post(R"(/hooks/([^/]+))", [this](const httplib::Request& req, httplib::Response& res) { Webhook(req, res); });

  // The HTTP threads run at a lower CPU priority than the runs: people
  // following a log (or a busy dashboard) never slow a deploy step down; on
  // an idle machine it changes nothing. Set once per pool thread.
  s.set_pre_routing_handler([](const httplib::Request& req, httplib::Response& res) {
    thread_local bool lowered = (void(::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), kHttpNice)), true);
    (void)lowered;
    return LengthCheck(req, res);
  });
  // Every answer of 400 and above without a body of its own (unknown
  // routes, 413 from the body limit) gets the JSON error form.
  s.set_error_handler(httplib::Server::HandlerWithResponse([this](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
    if (res.status == 413) {
      if (StartsWith(req.path, "/hooks/")) daemon.CountWebhook(req.path.substr(7), "too_large");
      SendError(res, 413, "the request body is larger than " + std::to_string(options.max_body_bytes) + " bytes");
    } else if (res.status == 404) {
      SendError(res, 404, "no such endpoint: " + req.method + " " + req.path + " (see doc/api.md)");
    } else if (res.status == 400) {
      SendError(res, 400, "the request could not be read");
    } else {
      SendError(res, res.status, "the request failed");
    }
    return httplib::Server::HandlerResponse::Handled;
  }));

  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    SendError(res, 500, "internal error: " + what);
  });
}

void ApiServer::Impl::Runs(const httplib::Request& req, httplib::Response& res) {
  if (!Authorize(req, res, TokenRole::kViewer)) return;
  RunFilter filter;
  filter.environment = req.get_param_value("environment");
  if (req.has_param("status")) {
    RunStatus status = RunStatus::kQueued;
    std::string name = req.get_param_value("status");
    if (!ParseRunStatus(name, &status)) {
      return SendError(res, 400, "unknown run status '" + name + "'" + DidYouMeanHint(name, RunStatusNames()));
    }
    filter.status = status;
  }
  int64_t limit = 50, before = 0;
  if (!IntParam(req, res, "limit", &limit) || !IntParam(req, res, "before", &before)) return;
  if (limit < 1 || limit > 500) return SendError(res, 400, "'limit' must be between 1 and 500");
  filter.limit = static_cast<int>(limit);
  filter.before_id = before;
  Result<std::vector<RunRecord>> runs = daemon.store().ListRuns(filter);
  if (!runs.ok()) return SendStatus(res, runs.status());
  json arr = json::array();
  for (const auto& r : *runs) arr.push_back(RunJson(r, false));
  json j;
  j["runs"] = arr;
  if (static_cast<int64_t>(runs->size()) == limit) {
    std::string next = "/api/v1/runs?limit=" + std::to_string(limit) + "&before=" + std::to_string(runs->back().id);
    if (!filter.environment.empty()) next += "&environment=" + filter.environment;
    if (filter.status) next += std::string("&status=") + RunStatusName(*filter.status);
    j["next"] = next;
  } else {
    j["next"] = nullptr;
  }
  SendJson(res, 200, j);
}

void ApiServer::Impl::Log(const httplib::Request& req, httplib::Response& res, int64_t id) {
  Result<RunRecord> run = daemon.store().GetRun(id);
  if (!run.ok()) return SendStatus(res, run.status());
  // Deleted by log_retention_days: gone for good (410), the record stays.
  if (run->log_pruned_ms != 0) return SendError(res, 410, PrunedLogMessage(*run, daemon.config()->log_retention_days));
  int64_t offset = 0;
  if (!IntParam(req, res, "offset", &offset)) return;
  std::string last_event_id = req.get_header_value("Last-Event-ID");
  bool follow = req.get_param_value("follow") == "1" || req.get_param_value("follow") == "true" ||
                req.get_header_value("Accept").find("text/event-stream") != std::string::npos;
  if (follow) {
    if (!last_event_id.empty() && std::all_of(last_event_id.begin(), last_event_id.end(), ::isdigit) &&
        last_event_id.size() < 18) {
      offset = std::stoll(last_event_id);
    }
    return Follow(req, res, *run, offset);
  }
  if (run->log_path.empty()) return SendError(res, 404, "run " + std::to_string(id) + " has no log yet (it is queued)");
  // Fleet mode: a run of another node is read from the database, where
  // that node copies its log (fleet.cc), even if a file of that name exists
  // here (each node's disk is its own).
  bool remote = !daemon.node_id().empty() && !run->node.empty() && run->node != daemon.node_id();
  UniqueFd fd(remote ? -1 : ::open(run->log_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (remote || (!fd.valid() && errno == ENOENT && !daemon.node_id().empty())) {
    res.set_chunked_content_provider(
        "text/plain; charset=utf-8", [this, id, offset](size_t at, httplib::DataSink& sink) {
          Result<std::string> chunk =
              daemon.store().ReadLog(id, offset + static_cast<int64_t>(at), static_cast<int64_t>(kLogChunk));
          if (!chunk.ok()) return false;
          if (chunk->empty()) {
            sink.done();
            return true;
          }
          return sink.write(chunk->data(), chunk->size());
        });
    return;
  }
  if (!fd.valid()) return SendStatus(res, PosixError("open '" + run->log_path + "'", errno));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return SendStatus(res, PosixError("stat '" + run->log_path + "'", errno));
  int64_t size = st.st_size;
  if (offset > size) offset = size;
  res.set_header("X-Log-Size", std::to_string(size));
  auto shared_fd = std::make_shared<UniqueFd>(std::move(fd));
  // Streamed in chunks: a log of gigabytes never sits in memory.
  res.set_content_provider(static_cast<size_t>(size - offset), "text/plain; charset=utf-8",
                           [shared_fd, offset](size_t at, size_t length, httplib::DataSink& sink) {
                             std::string buf(std::min(length, kLogChunk), '\0');
                             ssize_t n =
                                 ::pread(shared_fd->get(), buf.data(), buf.size(), offset + static_cast<int64_t>(at));
                             if (n <= 0) return false;
                             return sink.write(buf.data(), static_cast<size_t>(n));
                           });
}

void ApiServer::Impl::Follow(const httplib::Request&, httplib::Response& res, const RunRecord& run, int64_t offset) {
  struct State {
    int64_t run_id = 0;
    std::string path;
    UniqueFd fd;
    int64_t offset = 0;
    bool remote = false;  // fleet: another node runs it; read the database, not a file
    bool final = false;   // the run has finished: what the file holds now is all there will be
    RunStatus status = RunStatus::kQueued;
    int64_t last_check_ms = 0;
    int64_t last_write_ms = 0;
    // The last send was of everything the file had (less than a buffer):
    // this follower has caught up with a step that is still printing.
    bool sent_partial = false;
    std::string buf;
    std::string event;  // kept between sends: the hot path allocates nothing
    FollowPacer pacer{kLiveFollowBytesPerSecond, kLiveFollowBurst, MonotonicMs()};
  };
  auto state = std::make_shared<State>();
  state->run_id = run.id;
  state->path = run.log_path;
  state->remote = !daemon.node_id().empty() && !run.node.empty() && run.node != daemon.node_id();
  state->offset = offset;
  state->final = IsFinal(run.status);
  state->status = run.status;
  state->last_write_ms = MonotonicMs();
  state->buf.resize(kLogChunk);
  state->event.reserve(kLogChunk + kLogChunk / 8 + 64);
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  res.set_chunked_content_provider("text/event-stream", [this, state](size_t, httplib::DataSink& sink) {
    State& s = *state;
    // Asks the store about the run, at most every kFollowStatusCheckMs: its
    // log path and node once it starts, and whether it has ended.
    auto check_run = [&](int64_t now) {
      if (now - s.last_check_ms < kFollowStatusCheckMs) return;
      s.last_check_ms = now;
      Result<RunRecord> r = daemon.store().GetRun(s.run_id);
      if (!r.ok()) return;
      if (s.path.empty()) s.path = r->log_path;
      // A queued run has no node yet; it may start on another one.
      if (!s.fd.valid() && !daemon.node_id().empty() && !r->node.empty()) s.remote = r->node != daemon.node_id();
      s.status = r->status;
      s.final = IsFinal(r->status);
    };
    // Each call returns within about a second so that httplib notices a
    // reader that went away and a server that is stopping.
    for (int round = 0; round < 20; ++round) {
      if (stopping.load()) {
        sink.done();
        return true;
      }
      // Caught up with a step that prints fast: let its output gather for a
      // moment instead of sending each of the small pieces it writes (every
      // one a wake-up of this thread and of the reader, taking CPU from the
      // step). Idle followers slept this long between polls already, so a
      // line shows no later than before.
      if (s.sent_partial) {
        s.sent_partial = false;
        if (!s.final) std::this_thread::sleep_for(std::chrono::milliseconds(kFollowPollMs));
      }
      // Behind a run that still prints fast: wait for the pacer, and notice
      // meanwhile when the run ends (from then on the follower is not paced).
      if (!s.final) {
        int64_t now = MonotonicMs();
        if (int64_t wait = s.pacer.WaitMs(now); wait > 0) {
          check_run(now);
          if (!s.final) std::this_thread::sleep_for(std::chrono::milliseconds(std::min<int64_t>(wait, kFollowPollMs)));
          continue;
        }
      }
      if (!s.remote && !s.fd.valid() && !s.path.empty()) {
        s.fd = UniqueFd(::open(s.path.c_str(), O_RDONLY | O_CLOEXEC));
      }
      ssize_t n = 0;
      // Reading the file, framing and sending: the bulk of a follower's work.
      // Ends before the store is asked about the run (below).
      std::optional<IdleScope> idle;
      if (s.fd.valid()) {
        idle.emplace();
        n = ::pread(s.fd.get(), s.buf.data(), s.buf.size(), s.offset);
        if (n < 0) n = 0;
      } else if (!daemon.node_id().empty()) {
        // Fleet mode: a run of another node; its log is copied into the
        // database (fleet.cc, every 250 ms and before the run is final).
        Result<std::string> chunk = daemon.store().ReadLog(s.run_id, s.offset, static_cast<int64_t>(s.buf.size()));
        if (chunk.ok() && !chunk->empty()) {
          std::copy(chunk->begin(), chunk->end(), s.buf.begin());
          n = static_cast<ssize_t>(chunk->size());
        }
      }
      size_t use = 0;
      if (n > 0) {
        std::string_view got(s.buf.data(), static_cast<size_t>(n));
        size_t nl = got.rfind('\n');
        // Whole lines only, unless the buffer is full of one long line or
        // the run is over (a last line without a newline).
        if (nl != std::string_view::npos) use = nl + 1;
        if (use == 0 && (static_cast<size_t>(n) == s.buf.size() || s.final)) use = static_cast<size_t>(n);
      }
      if (use > 0) {
        std::string_view text(s.buf.data(), use);
        if (text.back() == '\n') text.remove_suffix(1);
        s.event.clear();
        AppendEvent(text, s.offset + static_cast<int64_t>(use), &s.event);
        s.offset += static_cast<int64_t>(use);
        s.last_write_ms = MonotonicMs();
        s.sent_partial = static_cast<size_t>(n) < s.buf.size();
        bool ok = sink.write(s.event.data(), s.event.size());
        s.pacer.Sent(static_cast<int64_t>(s.event.size()), MonotonicMs());
        // A chunk of very short lines frames much larger than it is.
        if (s.event.capacity() > 4 * kLogChunk) std::string().swap(s.event);
        return ok;  // ~IdleScope
      }
      idle.reset();
      if (s.final) {
        std::string end = "event: end\ndata: " + std::string(RunStatusName(s.status)) + "\n\n";
        sink.write(end.data(), end.size());
        sink.done();
        return true;
      }
      int64_t now = MonotonicMs();
      check_run(now);
      // Read the file once more after seeing the final status: the last
      // lines were written before it.
      if (s.final) continue;
      if (now - s.last_write_ms >= 15'000) {
        s.last_write_ms = now;
        static constexpr char kKeepAlive[] = ": keep-alive\n\n";
        return sink.write(kKeepAlive, sizeof kKeepAlive - 1);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(kFollowPollMs));
    }
    return true;
  });
}

void ApiServer::Impl::Webhook(const httplib::Request& req, httplib::Response& res) {
  std::string name = req.matches[1];
  Result<WebhookProvider> provider = ParseWebhookProvider(name);
  if (!provider.ok()) return SendError(res, 404, provider.status().message());
  std::shared_ptr<const Config> config = daemon.config();
  auto secret_config = config->server.webhooks.find(name);
  if (secret_config == config->server.webhooks.end()) {
    daemon.CountWebhook(name, "not_configured");
    return SendError(res, 404,
                     "webhook '" + name + "' is not configured: add server.webhooks." + name +
                         " with secret_file or secret_env to " + config->path);
  }
  if (daemon.stopping()) return SendError(res, 503, "the engine is shutting down; deliver again later");
  Result<std::string> secret = ReadSecret(secret_config->second, name);
  if (!secret.ok()) {
    daemon.CountWebhook(name, "error");
    return SendError(res, 500, secret.status().message());
  }
  std::map<std::string, std::string> headers;
  for (const auto& [k, v] : req.headers) headers[ToLower(k)] = v;
  Result<WebhookEvent> event = ParseWebhook(*provider, headers, req.body, *secret);
  if (!event.ok()) {
    int status = WebhookHttpStatus(event.status());
    daemon.CountWebhook(name, status == 401 ? "unauthorized" : status == 400 ? "bad_request" : "error");
    return SendError(res, status, event.status().message());
  }
  Result<WebhookOutcome> outcome = daemon.AcceptWebhook(name, *event);
  if (!outcome.ok()) return SendStatus(res, outcome.status());
  json j;
  j["result"] = WebhookOutcomeName(*outcome);
  j["event"] = event->event;
  j["delivery"] = event->delivery_id;
  if (event->kind == WebhookKind::kIgnored) j["reason"] = event->ignored_reason;
  if (event->kind == WebhookKind::kPush || event->kind == WebhookKind::kPullRequest) {
    j["branch"] = event->branch;
    j["commit"] = event->commit;
  }
  if (event->kind == WebhookKind::kPullRequest) j["pull_request"] = event->pull_request.number;
  SendJson(res, *outcome == WebhookOutcome::kQueued ? 202 : 200, j);
}

ApiServer::ApiServer(Daemon& daemon, ApiServerOptions options)
    : impl_(std::make_unique<Impl>(daemon, std::move(options))) {
  Impl& i = *impl_;
  i.server.new_task_queue = [threads = i.options.threads] { return new httplib::ThreadPool(threads); };
  i.server.set_payload_max_length(i.options.max_body_bytes);
  i.server.set_read_timeout(10, 0);
  i.server.set_write_timeout(10, 0);
  i.server.set_tcp_nodelay(true);
  // SO_REUSEADDR only: a restart may bind while old connections linger in
  // TIME_WAIT. httplib's default adds SO_REUSEPORT, with which a second
  // daemon on the same port started silently and took half the requests.
  i.server.set_socket_options([](int sock) {
    int yes = 1;
    (void)::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  (void)CanLeaveIdleClass();  // the probe, once, before any request
  i.Routes();
}

ApiServer::~ApiServer() { Stop(); }

Status ApiServer::Bind() {
  Impl& i = *impl_;
  SLIPWAY_RETURN_IF_ERROR(ParseListenAddress(i.options.listen, &i.host, &i.port));
  if (i.port == 0) {
    int port = i.server.bind_to_any_port(i.host);
    if (port <= 0) return IoError("listen on '" + i.options.listen + "': cannot bind");
    i.port = port;
    return Status::Ok();
  }
  if (!i.server.bind_to_port(i.host, i.port)) {
    return IoError("listen on '" + i.options.listen +
                   "': cannot bind (is another 'slipway serve' or program using that port?)");
  }
  return Status::Ok();
}

int ApiServer::port() const { return impl_->port; }

void ApiServer::Serve() { impl_->server.listen_after_bind(); }

void ApiServer::Stop() {
  impl_->stopping.store(true);
  impl_->server.stop();
}

}  // namespace slipway
