// Previews of pull requests, drift checks and notifications end to end
// (issue 8; doc/previews.md, doc/drift.md, doc/notifications.md): the real
// `slipway serve`, real repositories on git daemon, and one local HTTP
// receiver standing in for the GitHub, GitLab and Gitea APIs and for Slack,
// Teams and a generic webhook, recording every request it gets. Email goes
// to a small SMTP sink (python3) that only accepts mail after STARTTLS,
// with a certificate made here with openssl.
#include <gtest/gtest.h>
#include <httplib.h>
#include <signal.h>

#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "e2e/daemon_fixture.h"
#include "notify/notify.h"
#include "triggers/webhook.h"

namespace slipway {
namespace {

using daemon_testing::Api;
using daemon_testing::Serve;
using daemon_testing::WaitFor;
using daemon_testing::World;
using nlohmann::json;
using testing::ReadTextFile;
using testing::Sh;
using testing::WriteTextFile;

// Records every POST it receives; answers 201 (like the forges) or
// `fail_status`, or a scripted answer to the next requests of a path prefix.
class Receiver {
 public:
  struct Request {
    std::string path;
    httplib::Headers headers;
    std::string body;
    int answered = 0;  // the status it got
  };
  Receiver() {
    server_.Post(R"(/.*)", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      res.status = fail_status_ > 0 ? fail_status_ : 201;
      for (auto& [prefix, answers] : scripted_) {
        if (req.path.rfind(prefix, 0) == 0 && !answers.empty()) {
          res.status = answers.front();
          answers.erase(answers.begin());
          break;
        }
      }
      requests_.push_back({req.path, req.headers, req.body, res.status});
      res.set_content("{}", "application/json");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~Receiver() {
    server_.stop();
    thread_.join();
  }
  std::string Url(const std::string& prefix) const { return "http://127.0.0.1:" + std::to_string(port_) + prefix; }
  std::vector<Request> Got(const std::string& path_prefix) {
    std::lock_guard lock(mu_);
    std::vector<Request> out;
    for (const auto& r : requests_) {
      if (r.path.rfind(path_prefix, 0) == 0) out.push_back(r);
    }
    return out;
  }
  void FailWith(int status) {
    std::lock_guard lock(mu_);
    fail_status_ = status;
  }
  // The next requests under path_prefix get these answers, in order.
  void AnswerNext(const std::string& path_prefix, std::vector<int> answers) {
    std::lock_guard lock(mu_);
    scripted_.emplace_back(path_prefix, std::move(answers));
  }

 private:
  httplib::Server server_;
  int port_ = 0;
  std::thread thread_;
  std::mutex mu_;
  std::vector<Request> requests_;
  int fail_status_ = 0;
  std::vector<std::pair<std::string, std::vector<int>>> scripted_;
};

// A code base with the make contract and `make diff`: lint fails when the
// settings bring a file named `bad`; diff prints changes.txt (from the
// settings) and $OUT/drift.txt (the "live" state the test changes).
void AddMakefile(World& w) {
  w.code_->Write("Makefile",
                 "setup:\n\t@echo setup\n"
                 "lint:\n\t@test ! -f bad\n"
                 "all-tests:\n\t@echo tests pass\n"
                 "diff:\n\t@cat changes.txt 2>/dev/null || true\n\t@cat \"$(OUT)/drift.txt\" 2>/dev/null || true\n"
                 "deploy:\n\t@echo deployed\n"
                 ".PHONY: setup lint all-tests diff deploy\n");
  w.code_->Commit("make contract with diff");
  w.code_->Tag("v2.0.0");
  w.code_->PushTo(w.tmp_.Sub("remotes/code.git"));
}

std::string GithubPullRequest(const World& w, int number, const std::string& head, const std::string& branch) {
  json body = {{"action", "opened"},
               {"number", number},
               {"pull_request",
                {{"number", number},
                 {"title", "change " + branch},
                 {"head", {{"sha", head}, {"ref", branch}}},
                 {"base", {{"sha", std::string(40, '0')}, {"ref", "main"}}}}},
               {"repository", {{"full_name", "org/settings"}, {"clone_url", w.SettingsUrl()}}}};
  return body.dump();
}

httplib::Result Hook(int port, const std::string& path, const httplib::Headers& headers, const std::string& body) {
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(30, 0);
  return c.Post(path, headers, body, "application/json");
}

json Body(const Receiver::Request& r) { return json::parse(r.body, nullptr, false); }

class TrustTellE2E : public ::testing::Test {
 protected:
  void SetUp() override {
    AddMakefile(w_);
    w_.Pin("alpha", "v2.0.0");
    w_.Pin("beta", "v2.0.0");
    main_ = w_.PushSettings("alpha and beta on v2.0.0");
    WriteTextFile(w_.tmp_.Sub("secrets/hook"), "hook-secret\n", 0600);
    WriteTextFile(w_.tmp_.Sub("secrets/forge-token"), "forge-token-123\n", 0600);
    WriteTextFile(w_.tmp_.Sub("secrets/hmac"), "hmac-key\n", 0600);
    for (const char* s : {"hook-secret", "forge-token-123", "hmac-key"}) testing::RecordSecret(s);
  }

  std::string Config(const std::string& alpha_extra = "", const std::string& top_extra = "",
                     const std::string& alpha_deploy = "make deploy", const std::string& server_extra = "",
                     const std::string& alpha_triggers = "      push: { poll: 0 }\n") {
    std::string server = server_extra +
                         "  public_url: http://slipway.example/\n"
                         "  webhooks:\n"
                         "    github: { secret_file: secrets/hook }\n"
                         "    gitlab: { secret_file: secrets/hook }\n"
                         "    gitea: { secret_file: secrets/hook }\n"
                         "  forges:\n"
                         "    github: { api_url: " +
                         rx_.Url("/github") +
                         ", token_file: secrets/forge-token, comment: true }\n"
                         "    gitlab: { api_url: " +
                         rx_.Url("/gitlab/api/v4") +
                         ", token_file: secrets/forge-token }\n"
                         "    gitea: { api_url: " +
                         rx_.Url("/gitea/api/v1") + ", token_env: SLIPWAY_TEST_FORGE_TOKEN }\n";
    std::string envs = w_.Env("alpha", alpha_triggers, {{"deploy", alpha_deploy}}) + alpha_extra +
                       w_.Env("beta", "      push: { poll: 0 }\n", {{"deploy", "make deploy"}});
    return w_.WriteConfig(envs, server, top_extra);
  }

  // A branch of the settings with `files` changed, published; returns its head.
  std::string Branch(const std::string& name, const std::vector<std::pair<std::string, std::string>>& files) {
    Sh("git checkout -q -b " + name + " main", w_.settings_->dir());
    for (const auto& [path, content] : files) w_.settings_->Write(path, content);
    std::string head = w_.PushSettings("change on " + name);
    Sh("git checkout -q main", w_.settings_->dir());
    return head;
  }

  std::vector<json> Previews(Api& api, const std::string& env) {
    std::vector<json> out;
    for (const json& r : api.Runs(env)) {
      if (r["kind"] == "preview") out.push_back(r);
    }
    return out;
  }

  World w_;
  Receiver rx_;
  std::string main_;
};

TEST_F(TrustTellE2E, GithubPullRequestPreviewsOnlyTheTouchedEnvironmentAndReportsStatuses) {
  std::string cfg = Config();
  Api api(w_.port_, w_.Token("viewer", "watcher"));
  Serve serve(w_.tmp_.path(), cfg, {}, {"SLIPWAY_TEST_FORGE_TOKEN=forge-token-123"});
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();

  // PR 1 touches only beta's folder, and its diff shows a change.
  std::string head = Branch("pr-1", {{"environments/beta/changes.txt", "+ bucket logs-beta\n"}});
  std::string body = GithubPullRequest(w_, 1, head, "pr-1");
  auto r = Hook(w_.port_, "/hooks/github",
                {{"X-GitHub-Event", "pull_request"},
                 {"X-GitHub-Delivery", "pr-1-a"},
                 {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex("hook-secret", body)}},
                body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202) << r->body;
  EXPECT_EQ(json::parse(r->body)["pull_request"], 1);

  ASSERT_TRUE(WaitFor([&] { return Previews(api, "beta").size() == 1; }, 30000)) << serve.Log();
  json run = Previews(api, "beta")[0];
  int64_t id = run["id"].get<int64_t>();
  EXPECT_EQ(api.WaitFinal(id, 60000), "succeeded") << serve.Log();
  run = api.Run(id);
  EXPECT_EQ(run["settings_commit"], head);
  EXPECT_EQ(run["trigger"], "pull_request");
  EXPECT_EQ(run["pull_request"]["number"], 1);
  std::vector<std::string> steps;
  for (const json& s : run["steps"]) steps.push_back(s["name"]);
  EXPECT_EQ(steps, (std::vector<std::string>{"setup", "lint", "all-tests", "diff"})) << "no deploy step";
  EXPECT_TRUE(Previews(api, "alpha").empty()) << "alpha's folder was not touched";
  // A preview never becomes a deployment.
  json env = api.GetJson("/api/v1/environments/beta");
  EXPECT_TRUE(env["deployed"].is_null()) << env.dump();

  std::string statuses = "/github/repos/org/settings/statuses/" + head;
  ASSERT_TRUE(WaitFor([&] { return rx_.Got(statuses).size() == 2; }, 15000)) << serve.Log();
  std::vector<Receiver::Request> got = rx_.Got(statuses);
  EXPECT_EQ(Body(got[0])["state"], "pending");
  EXPECT_EQ(Body(got[1])["state"], "success");
  for (const auto& g : got) {
    EXPECT_EQ(Body(g)["target_url"], "http://slipway.example/#/run/" + std::to_string(id));
    EXPECT_EQ(Body(g)["context"], "slipway/beta");
    EXPECT_EQ(g.headers.find("Authorization")->second, "Bearer forge-token-123");
  }
  // The comment carries the tail of `make diff`.
  ASSERT_TRUE(WaitFor([&] { return rx_.Got("/github/repos/org/settings/issues/1/comments").size() == 1; }, 5000));
  std::string comment = Body(rx_.Got("/github/repos/org/settings/issues/1/comments")[0])["body"];
  EXPECT_NE(comment.find("+ bucket logs-beta"), std::string::npos) << comment;

  // PR 2 breaks alpha's lint: failure, reported on its own head.
  std::string bad = Branch("pr-2", {{"environments/alpha/bad", "x\n"}});
  body = GithubPullRequest(w_, 2, bad, "pr-2");
  r = Hook(w_.port_, "/hooks/github",
           {{"X-GitHub-Event", "pull_request"},
            {"X-GitHub-Delivery", "pr-2-a"},
            {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex("hook-secret", body)}},
           body);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202);
  ASSERT_TRUE(WaitFor([&] { return Previews(api, "alpha").size() == 1; }, 30000)) << serve.Log();
  int64_t alpha_id = Previews(api, "alpha")[0]["id"].get<int64_t>();
  EXPECT_EQ(api.WaitFinal(alpha_id, 60000), "failed");
  statuses = "/github/repos/org/settings/statuses/" + bad;
  ASSERT_TRUE(WaitFor([&] { return rx_.Got(statuses).size() == 2; }, 15000)) << serve.Log();
  EXPECT_EQ(Body(rx_.Got(statuses)[1])["state"], "failure");
  EXPECT_NE(Body(rx_.Got(statuses)[1])["description"].get<std::string>().find("step 'lint' failed"), std::string::npos);
  EXPECT_EQ(Previews(api, "beta").size(), 1u) << "PR 2 touched only alpha";
  EXPECT_EQ(serve.Log().find("forge-token-123"), std::string::npos) << "a token reached the log";
}

TEST_F(TrustTellE2E, GitlabAndGiteaMergeRequestsGetTheirOwnStatusApis) {
  std::string cfg = Config();
  Api api(w_.port_, w_.Token("viewer", "watcher"));
  Serve serve(w_.tmp_.path(), cfg, {}, {"SLIPWAY_TEST_FORGE_TOKEN=forge-token-123"});
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();

  std::string gl_head = Branch("mr-7", {{"environments/alpha/extra.yaml", "a: 1\n"}});
  json gl = {{"object_kind", "merge_request"},
             {"object_attributes",
              {{"iid", 7},
               {"action", "open"},
               {"source_branch", "mr-7"},
               {"target_branch", "main"},
               {"title", "alpha extra"},
               {"last_commit", {{"id", gl_head}}}}},
             {"project", {{"id", 42}, {"git_http_url", w_.SettingsUrl()}}}};
  auto r = Hook(w_.port_, "/hooks/gitlab",
                {{"X-Gitlab-Event", "Merge Request Hook"}, {"X-Gitlab-Token", "hook-secret"}}, gl.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202) << r->body;
  std::string gl_path = "/gitlab/api/v4/projects/42/statuses/" + gl_head;
  ASSERT_TRUE(WaitFor([&] { return rx_.Got(gl_path).size() == 2; }, 60000)) << serve.Log();
  EXPECT_EQ(Body(rx_.Got(gl_path)[0])["state"], "pending");
  EXPECT_EQ(Body(rx_.Got(gl_path)[1])["state"], "success");
  EXPECT_EQ(Body(rx_.Got(gl_path)[1])["name"], "slipway/alpha");
  EXPECT_EQ(rx_.Got(gl_path)[1].headers.find("PRIVATE-TOKEN")->second, "forge-token-123");

  std::string gt_head = Branch("pr-9", {{"environments/beta/bad", "x\n"}});
  json gt = {{"action", "synchronized"},
             {"number", 9},
             {"pull_request", {{"head", {{"sha", gt_head}, {"ref", "pr-9"}}}, {"base", {{"ref", "main"}}}}},
             {"repository", {{"full_name", "org/settings"}, {"clone_url", w_.SettingsUrl()}}}};
  r = Hook(w_.port_, "/hooks/gitea",
           {{"X-Gitea-Event", "pull_request"},
            {"X-Gitea-Delivery", "gt-9"},
            {"X-Gitea-Signature", HmacSha256Hex("hook-secret", gt.dump())}},
           gt.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202) << r->body;
  std::string gt_path = "/gitea/api/v1/repos/org/settings/statuses/" + gt_head;
  ASSERT_TRUE(WaitFor([&] { return rx_.Got(gt_path).size() == 2; }, 60000)) << serve.Log();
  EXPECT_EQ(Body(rx_.Got(gt_path)[0])["state"], "pending");
  EXPECT_EQ(Body(rx_.Got(gt_path)[1])["state"], "failure");
  EXPECT_EQ(rx_.Got(gt_path)[1].headers.find("Authorization")->second, "token forge-token-123");
}

TEST_F(TrustTellE2E, DriftCheckMarksDriftedThenTheNextCleanCheckClearsIt) {
  std::string cfg = Config(
      "    notify:\n"
      "      - { type: webhook, url: " +
      rx_.Url("/hook") + ", secret_file: secrets/hmac, events: [drift] }\n");
  Api api(w_.port_, w_.Token("operator", "ops"));
  Serve serve(w_.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();

  auto check = [&]() -> std::string {
    auto r = api.Post("/api/v1/environments/alpha/drift-check");
    if (!r || r->status != 202) return "refused: " + (r ? r->body : std::string("no answer"));
    return api.WaitFinal(json::parse(r->body)["run_id"].get<int64_t>(), 60000);
  };
  // Never deployed: nothing to compare with.
  auto refused = api.Post("/api/v1/environments/alpha/drift-check");
  ASSERT_TRUE(refused);
  EXPECT_NE(refused->status, 202);

  auto t = api.Post("/api/v1/environments/alpha/trigger");
  ASSERT_TRUE(t);
  ASSERT_EQ(api.WaitFinal(json::parse(t->body)["run_id"].get<int64_t>(), 60000), "succeeded") << serve.Log();

  // The live state differs from the settings: make diff prints it.
  WriteTextFile(w_.tmp_.Sub("out/drift.txt"), "~ bucket logs-alpha: versioning Enabled -> Suspended\n");
  EXPECT_EQ(check(), "succeeded");
  json env = api.GetJson("/api/v1/environments/alpha");
  EXPECT_EQ(env["drift"], "Drifted") << env.dump();
  EXPECT_EQ(env["drift_reason"], "make diff printed 1 line");
  EXPECT_EQ(env["deployed"]["run_id"], json::parse(t->body)["run_id"]) << "a drift check never deploys";
  EXPECT_NE(api.Get("/metrics")->body.find("slipway_environment_drifted{environment=\"alpha\"} 1"), std::string::npos);
  // The drift notification, signed with the HMAC key.
  ASSERT_TRUE(WaitFor([&] { return rx_.Got("/hook").size() == 1; }, 15000)) << serve.Log();
  Receiver::Request n = rx_.Got("/hook")[0];
  EXPECT_EQ(Body(n)["event"], "drift");
  EXPECT_EQ(Body(n)["environment"], "alpha");
  EXPECT_EQ(n.headers.find("X-Slipway-Signature-256")->second, HmacSignature("hmac-key", n.body));

  // Put right: the next check is clean and clears the mark.
  unlink(w_.tmp_.Sub("out/drift.txt").c_str());
  EXPECT_EQ(check(), "succeeded");
  env = api.GetJson("/api/v1/environments/alpha");
  EXPECT_TRUE(env["drift"].is_null()) << env.dump();
  EXPECT_NE(api.Get("/metrics")->body.find("slipway_environment_drifted{environment=\"alpha\"} 0"), std::string::npos);
  EXPECT_EQ(rx_.Got("/hook").size(), 1u);
}

// A tiny SMTP server that offers STARTTLS and refuses mail before it.
constexpr const char* kSmtpSink = R"py(
import socket, ssl, sys, base64
port, cert, key, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(cert, key)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", port))
srv.listen(8)
open(out + ".ready", "w").close()
while True:
    conn, _ = srv.accept()
    f = conn.makefile("rwb")
    tls = False
    log = []
    def send(line):
        f.write((line + "\r\n").encode()); f.flush()
    send("220 sink ESMTP")
    while True:
        raw = f.readline()
        if not raw: break
        cmd = raw.decode(errors="replace").rstrip("\r\n"); up = cmd.upper()
        if up.startswith("EHLO"):
            f.write(b"250-sink\r\n")
            send("250 STARTTLS" if not tls else "250 AUTH PLAIN LOGIN")
        elif up == "STARTTLS":
            send("220 ready")
            conn = ctx.wrap_socket(conn, server_side=True)
            f = conn.makefile("rwb"); tls = True
        elif up.startswith("AUTH PLAIN"):
            parts = cmd.split(" ")
            if len(parts) < 3:
                send("334 "); parts.append(f.readline().decode().strip())
            log.append("AUTH " + base64.b64decode(parts[2]).decode().replace("\0", "|")); send("235 ok")
        elif up.startswith("MAIL FROM") or up.startswith("RCPT TO"):
            if not tls: send("530 must issue STARTTLS first"); continue
            log.append(cmd); send("250 ok")
        elif up == "DATA":
            send("354 go")
            data = []
            while True:
                l = f.readline().decode(errors="replace")
                if l in (".\r\n", ".\n", ""): break
                data.append(l)
            log.append("TLS " + str(tls)); log.append("".join(data)); send("250 queued")
        elif up == "QUIT":
            send("221 bye"); break
        else:
            send("250 ok")
    if log:
        with open(out, "a") as o: o.write("\n".join(log) + "\n=====\n")
    conn.close()
)py";

TEST_F(TrustTellE2E, FailureAndRecoveryReachSlackTeamsWebhookAndEmailOverStartTls) {
  // The SMTP sink, with a self-signed certificate for 127.0.0.1.
  Sh("openssl req -x509 -newkey rsa:2048 -nodes -keyout smtp-key.pem -out smtp-cert.pem -days 1 -subj /CN=127.0.0.1 "
     "-addext subjectAltName=IP:127.0.0.1 2>/dev/null",
     w_.tmp_.path());
  WriteTextFile(w_.tmp_.Sub("sink.py"), kSmtpSink);
  WriteTextFile(w_.tmp_.Sub("secrets/smtp"), "smtp-pass-456\n", 0600);
  testing::RecordSecret("smtp-pass-456");
  int smtp_port = testing::FreePort();
  std::string pid = Sh("python3 sink.py " + std::to_string(smtp_port) +
                           " smtp-cert.pem smtp-key.pem mail.txt </dev/null >sink.log 2>&1 & echo $!",
                       w_.tmp_.path())
                        .out;
  struct Kill {
    int pid;
    ~Kill() {
      if (pid > 0) kill(pid, SIGKILL);
    }
  } killer{std::atoi(pid.c_str())};
  ASSERT_TRUE(WaitFor([&] { return testing::FileExists(w_.tmp_.Sub("mail.txt.ready")); }, 10000));

  WriteTextFile(w_.tmp_.Sub("secrets/slack-url"), rx_.Url("/slack/T000/B000/XXXX") + "\n", 0600);
  std::string notify =
      "notify:\n"
      "  - { type: slack, url_file: secrets/slack-url }\n"
      "  - { type: teams, url: " +
      rx_.Url("/teams") +
      " }\n"
      "  - { type: webhook, url: " +
      rx_.Url("/hook") +
      ", events: [failure, recovery, success] }\n"
      "  - type: email\n"
      "    smtp: smtp://127.0.0.1:" +
      std::to_string(smtp_port) +
      "\n"
      "    from: slipway@example.com\n"
      "    to: [ops@example.com]\n"
      "    username: slipway\n"
      "    password_file: secrets/smtp\n"
      "    ca_file: smtp-cert.pem\n";
  // alpha's deploy fails while its settings bring a file named `bad`.
  std::string cfg = Config("", notify, "test ! -f bad && make deploy");
  Api api(w_.port_, w_.Token("operator", "ops"));
  Serve serve(w_.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
  auto trigger = [&]() {
    auto t = api.Post("/api/v1/environments/alpha/trigger");
    EXPECT_TRUE(t && t->status == 202);
    return api.WaitFinal(json::parse(t->body)["run_id"].get<int64_t>(), 60000);
  };
  w_.settings_->Write("environments/alpha/bad", "x\n");
  w_.PushSettings("alpha gets a bad file");

  EXPECT_EQ(trigger(), "failed");
  ASSERT_TRUE(WaitFor([&] { return rx_.Got("/slack/").size() == 1 && rx_.Got("/teams").size() == 1; }, 20000))
      << serve.Log();
  EXPECT_NE(Body(rx_.Got("/slack/")[0])["text"].get<std::string>().find("alpha: deploy run"), std::string::npos);
  EXPECT_NE(Body(rx_.Got("/slack/")[0])["text"].get<std::string>().find("failed"), std::string::npos);
  EXPECT_EQ(Body(rx_.Got("/teams")[0])["@type"], "MessageCard");
  ASSERT_TRUE(WaitFor([&] { return rx_.Got("/hook").size() == 1; }, 20000));
  EXPECT_EQ(Body(rx_.Got("/hook")[0])["event"], "failure");
  ASSERT_TRUE(WaitFor([&] { return ReadTextFile(w_.tmp_.Sub("mail.txt")).find("=====") != std::string::npos; }, 20000))
      << serve.Log() << ReadTextFile(w_.tmp_.Sub("sink.log"));
  std::string mail = ReadTextFile(w_.tmp_.Sub("mail.txt"));
  EXPECT_NE(mail.find("TLS True"), std::string::npos) << mail;
  EXPECT_NE(mail.find("AUTH |slipway|smtp-pass-456"), std::string::npos) << mail;
  EXPECT_NE(mail.find("RCPT TO:<ops@example.com>"), std::string::npos) << mail;
  EXPECT_NE(mail.find("Subject: [slipway] alpha: deploy run"), std::string::npos) << mail;

  // Fixed: success, and recovery (the first success after a failure).
  w_.settings_->Remove("environments/alpha/bad");
  w_.PushSettings("alpha fixed");
  EXPECT_EQ(trigger(), "succeeded");
  ASSERT_TRUE(WaitFor([&] { return rx_.Got("/hook").size() == 3; }, 20000)) << serve.Log();
  std::vector<std::string> events;
  for (const auto& h : rx_.Got("/hook")) events.push_back(Body(h)["event"]);
  EXPECT_EQ(events, (std::vector<std::string>{"failure", "success", "recovery"}));
  ASSERT_TRUE(WaitFor([&] { return rx_.Got("/slack/").size() == 2; }, 20000));
  EXPECT_NE(Body(rx_.Got("/slack/")[1])["text"].get<std::string>().find("recovered"), std::string::npos);
  std::string log = serve.Log();
  EXPECT_EQ(log.find("smtp-pass-456"), std::string::npos);
  EXPECT_EQ(log.find("/slack/T000"), std::string::npos) << "the Slack URL is a credential";
}

TEST_F(TrustTellE2E, AnUndeliverableNotificationIsCountedAndNeverFailsTheRun) {
  rx_.FailWith(500);
  std::string cfg = Config("", "notify:\n  - { type: teams, url: " + rx_.Url("/teams") + " }\n", "false");
  Api api(w_.port_, w_.Token("operator", "ops"));
  Serve serve(w_.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
  auto t = api.Post("/api/v1/environments/alpha/trigger");
  ASSERT_TRUE(t);
  int64_t id = json::parse(t->body)["run_id"].get<int64_t>();
  int64_t started = daemon_testing::SteadyMs();
  EXPECT_EQ(api.WaitFinal(id, 60000), "failed");
  EXPECT_LT(daemon_testing::SteadyMs() - started, 30000);
  // 4 attempts with 1 s, 2 s, 4 s of backoff, then counted as failed.
  ASSERT_TRUE(WaitFor(
      [&] {
        return api.Get("/metrics")->body.find("slipway_notifications_total{target=\"teams\",result=\"failed\"} 1") !=
               std::string::npos;
      },
      30000))
      << api.Get("/metrics")->body;
  EXPECT_EQ(rx_.Got("/teams").size(), 4u);
  EXPECT_NE(serve.Log().find("notification not delivered after 4 attempts"), std::string::npos);
}

TEST_F(TrustTellE2E, ACommitStatusAnswered503TwiceIsRetriedAndArrivesWithTheRunsState) {
  std::string cfg = Config();
  Api api(w_.port_, w_.Token("viewer", "watcher"));
  Serve serve(w_.tmp_.path(), cfg, {}, {"SLIPWAY_TEST_FORGE_TOKEN=forge-token-123"});
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();

  std::string head = Branch("pr-3", {{"environments/beta/changes.txt", "+ bucket logs-beta\n"}});
  std::string statuses = "/github/repos/org/settings/statuses/" + head;
  rx_.AnswerNext(statuses, {503, 503});  // the forge has a bad minute
  std::string body = GithubPullRequest(w_, 3, head, "pr-3");
  auto r = Hook(w_.port_, "/hooks/github",
                {{"X-GitHub-Event", "pull_request"},
                 {"X-GitHub-Delivery", "pr-3-a"},
                 {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex("hook-secret", body)}},
                body);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 202) << r->body;
  ASSERT_TRUE(WaitFor([&] { return Previews(api, "beta").size() == 1; }, 30000)) << serve.Log();
  int64_t id = Previews(api, "beta")[0]["id"].get<int64_t>();
  EXPECT_EQ(api.WaitFinal(id, 60000), "succeeded") << serve.Log();

  // The status the forge finally accepted is the run's result, for its head.
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<Receiver::Request> got = rx_.Got(statuses);
        return !got.empty() && got.back().answered == 201 && Body(got.back())["state"] == "success";
      },
      30000))
      << serve.Log();
  std::vector<Receiver::Request> got = rx_.Got(statuses);
  ASSERT_GE(got.size(), 3u);
  EXPECT_EQ(got[0].answered, 503);
  EXPECT_EQ(got[1].answered, 503);
  EXPECT_EQ(Body(got.back())["target_url"], "http://slipway.example/#/run/" + std::to_string(id));
  EXPECT_EQ(Body(got.back())["context"], "slipway/beta");
  std::string metrics = api.Get("/metrics")->body;
  EXPECT_NE(metrics.find("slipway_commit_statuses_total{forge=\"github\",result=\"delivered\"}"), std::string::npos)
      << metrics;
  EXPECT_EQ(metrics.find("slipway_commit_statuses_total{forge=\"github\",result=\"failed\"}"), std::string::npos)
      << metrics;
}

TEST_F(TrustTellE2E, ACommitStatusRefusedWith401IsNotRetriedAndIsCounted) {
  std::string cfg = Config();
  Api api(w_.port_, w_.Token("viewer", "watcher"));
  Serve serve(w_.tmp_.path(), cfg, {}, {"SLIPWAY_TEST_FORGE_TOKEN=forge-token-123"});
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
  std::string head = Branch("pr-4", {{"environments/beta/changes.txt", "+ bucket logs-beta\n"}});
  std::string statuses = "/github/repos/org/settings/statuses/" + head;
  rx_.AnswerNext(statuses, {401, 401});  // a revoked token: both statuses refused
  std::string body = GithubPullRequest(w_, 4, head, "pr-4");
  auto r = Hook(w_.port_, "/hooks/github",
                {{"X-GitHub-Event", "pull_request"},
                 {"X-GitHub-Delivery", "pr-4-a"},
                 {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex("hook-secret", body)}},
                body);
  ASSERT_TRUE(r);
  ASSERT_TRUE(WaitFor([&] { return Previews(api, "beta").size() == 1; }, 30000)) << serve.Log();
  EXPECT_EQ(api.WaitFinal(Previews(api, "beta")[0]["id"].get<int64_t>(), 60000), "succeeded");
  ASSERT_TRUE(WaitFor(
      [&] {
        return serve.Log().find("commit status 'success' not delivered after 1 attempt (github): ") !=
               std::string::npos;
      },
      30000))
      << serve.Log();
  // Each state was tried once (a `pending` still waiting when `success` came
  // is replaced, never retried).
  std::vector<std::string> states;
  for (const auto& g : rx_.Got(statuses)) {
    EXPECT_EQ(g.answered, 401);
    states.push_back(Body(g)["state"]);
  }
  EXPECT_TRUE(states == (std::vector<std::string>{"pending", "success"}) ||
              states == (std::vector<std::string>{"success"}))
      << "a 401 is not retried: " << ::testing::PrintToString(states);
  std::string metrics = api.Get("/metrics")->body;
  EXPECT_NE(metrics.find("slipway_commit_statuses_total{forge=\"github\",result=\"failed\"} " +
                         std::to_string(states.size())),
            std::string::npos)
      << metrics;
  EXPECT_EQ(serve.Log().find("forge-token-123"), std::string::npos);
}

TEST_F(TrustTellE2E, ADriftCheckMissedWhileDownRunsOnceAtStartWithCatchUp) {
  std::string cfg = w_.WriteConfig(
      w_.Env("alpha", "      push: { poll: 0 }\n      verify: \"0 6 * * *\"\n      catch_up: true\n",
             {{"deploy", "make deploy"}}) +
      w_.Env("beta", "      push: { poll: 0 }\n      verify: \"0 6 * * *\"\n", {{"deploy", "make deploy"}}));
  Api api(w_.port_, w_.Token("operator", "ops"));
  auto drift_runs = [&](const std::string& env) {
    std::vector<json> out;
    for (const json& r : api.Runs(env)) {
      if (r["kind"] == "drift") out.push_back(r);
    }
    return out;
  };
  auto final_status = [&](const httplib::Result& r) -> std::string {
    if (!r || r->status != 202) return "refused: " + (r ? r->body : std::string("no answer"));
    return api.WaitFinal(json::parse(r->body)["run_id"].get<int64_t>(), 60000);
  };
  {
    Serve serve(w_.tmp_.path(), cfg);
    ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
    for (const char* env : {"alpha", "beta"}) {
      ASSERT_EQ(final_status(api.Post(std::string("/api/v1/environments/") + env + "/trigger")), "succeeded")
          << serve.Log();
      ASSERT_EQ(final_status(api.Post(std::string("/api/v1/environments/") + env + "/drift-check")), "succeeded")
          << serve.Log();
    }
    serve.Signal(SIGTERM);
    ASSERT_EQ(serve.Wait(20000), 0) << serve.Log();
  }
  // Pretend the engine was down for two days: 06:00 passed at least once
  // since the last check.
  auto r = slipway::testing::Run({"sqlite3", w_.tmp_.Sub("state/slipway.db"),
                                  "UPDATE environment_state SET drift_checked_ms = drift_checked_ms - 172800000 "
                                  "WHERE drift_checked_ms > 0"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Serve again(w_.tmp_.path(), cfg);
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << again.Log();
  ASSERT_TRUE(WaitFor(
      [&] {
        std::vector<json> runs = drift_runs("alpha");
        return runs.size() == 2 && runs[0]["status"] == "succeeded";
      },
      60000))
      << again.Log();
  json run = drift_runs("alpha")[0];
  EXPECT_EQ(run["trigger"], "schedule");
  EXPECT_EQ(run["actor"], "drift schedule (catch-up)");
  EXPECT_NE(again.Log().find("'alpha': a drift check was missed while the engine was down; catching up with run " +
                             std::to_string(run["id"].get<int64_t>())),
            std::string::npos)
      << again.Log();
  // The check is recorded: the next start has nothing to catch up on.
  json env = api.GetJson("/api/v1/environments/alpha");
  EXPECT_EQ(env["drift_run_id"], run["id"]) << env.dump();
  EXPECT_EQ(drift_runs("alpha").size(), 2u) << "caught up once";
  EXPECT_EQ(drift_runs("beta").size(), 1u) << "without catch_up, a missed check is skipped";
}

// A commit of the settings that is on no branch: published only under `ref`
// of the settings remote, as a forge keeps a fork's pull request head.
std::string PublishUnderRef(World& w, const std::string& ref, const std::string& path, const std::string& content) {
  Sh("git checkout -q --detach main", w.settings_->dir());
  w.settings_->Write(path, content);
  std::string commit = w.settings_->Commit("change from a fork");
  Sh("git push -q " + w.tmp_.Sub("remotes/settings.git") + " HEAD:" + ref, w.settings_->dir());
  Sh("git checkout -q main", w.settings_->dir());
  return commit;
}

std::string ForkPullRequest(const World& w, int number, const std::string& head, bool say_fork) {
  json body = json::parse(GithubPullRequest(w, number, head, "fork-topic"));
  if (say_fork) {
    body["pull_request"]["head"]["repo"] = {{"full_name", "forker/settings"}};
    body["pull_request"]["base"]["repo"] = {{"full_name", "org/settings"}};
  }
  return body.dump();
}

TEST_F(TrustTellE2E, AForkPullRequestIsPreviewedFromItsPullRefOnlyWhenOptedIn) {
  std::string head = PublishUnderRef(w_, "refs/pull/5/head", "environments/beta/changes.txt", "+ bucket from-fork\n");
  std::string statuses = "/github/repos/org/settings/statuses/" + head;
  std::string off = Config();
  Api api(w_.port_, w_.Token("viewer", "watcher"));
  auto hook = [&](const std::string& delivery, const std::string& body) {
    auto r = Hook(w_.port_, "/hooks/github",
                  {{"X-GitHub-Event", "pull_request"},
                   {"X-GitHub-Delivery", delivery},
                   {"X-Hub-Signature-256", "sha256=" + HmacSha256Hex("hook-secret", body)}},
                  body);
    return r ? r->status : 0;
  };
  {
    // Off (the default): neither the payload's word nor a head on no branch gets previewed.
    Serve serve(w_.tmp_.path(), off, {}, {"SLIPWAY_TEST_FORGE_TOKEN=forge-token-123"});
    ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
    EXPECT_EQ(hook("fork-5-a", ForkPullRequest(w_, 5, head, true)), 202);
    ASSERT_TRUE(WaitFor(
        [&] {
          return serve.Log().find(
                     "github pull request 5 comes from a fork: not previewed (server.preview_forks is "
                     "off)") != std::string::npos;
        },
        30000))
        << serve.Log();
    EXPECT_EQ(hook("fork-5-b", ForkPullRequest(w_, 5, head, false)), 202);
    ASSERT_TRUE(WaitFor(
        [&] {
          return serve.Log().find("is on no branch of " + w_.SettingsUrl() +
                                  ": a request from a fork is not previewed (server.preview_forks is off)") !=
                 std::string::npos;
        },
        30000))
        << serve.Log();
    EXPECT_TRUE(Previews(api, "beta").empty());
    EXPECT_TRUE(rx_.Got(statuses).empty()) << "no status for a fork's request that is not previewed";
    serve.Signal(SIGTERM);
    ASSERT_EQ(serve.Wait(20000), 0) << serve.Log();
  }

  // On: the head comes from refs/pull/5/head; GitLab's from refs/merge-requests/6/head.
  std::string cfg = Config("", "", "make deploy", "  preview_forks: true\n");
  Serve serve(w_.tmp_.path(), cfg, {}, {"SLIPWAY_TEST_FORGE_TOKEN=forge-token-123"});
  ASSERT_TRUE(WaitFor([&] { return api.Healthy(); }, 15000)) << serve.Log();
  EXPECT_EQ(hook("fork-5-c", ForkPullRequest(w_, 5, head, true)), 202);
  ASSERT_TRUE(WaitFor([&] { return Previews(api, "beta").size() == 1; }, 30000)) << serve.Log();
  int64_t id = Previews(api, "beta")[0]["id"].get<int64_t>();
  EXPECT_EQ(api.WaitFinal(id, 60000), "succeeded") << serve.Log();
  json run = api.Run(id);
  EXPECT_EQ(run["settings_commit"], head);
  std::vector<std::string> steps;
  for (const json& s : run["steps"]) steps.push_back(s["name"]);
  EXPECT_EQ(steps, (std::vector<std::string>{"setup", "lint", "all-tests", "diff"})) << "no deploy step";
  EXPECT_TRUE(api.GetJson("/api/v1/environments/beta")["deployed"].is_null());
  EXPECT_TRUE(Previews(api, "alpha").empty());
  EXPECT_NE(serve.Log().find("github pull request 5 comes from a fork: previewing " + head.substr(0, 12) +
                             " from refs/pull/5/head"),
            std::string::npos)
      << serve.Log();
  ASSERT_TRUE(WaitFor([&] { return rx_.Got(statuses).size() == 2; }, 15000)) << serve.Log();
  EXPECT_EQ(Body(rx_.Got(statuses)[0])["state"], "pending");
  EXPECT_EQ(Body(rx_.Got(statuses)[1])["state"], "success");
  ASSERT_TRUE(WaitFor([&] { return rx_.Got("/github/repos/org/settings/issues/5/comments").size() == 1; }, 15000));
  EXPECT_NE(Body(rx_.Got("/github/repos/org/settings/issues/5/comments")[0])["body"].get<std::string>().find(
                "+ bucket from-fork"),
            std::string::npos);

  std::string mr_head =
      PublishUnderRef(w_, "refs/merge-requests/6/head", "environments/alpha/extra.yaml", "from: a fork\n");
  json gl = {{"object_kind", "merge_request"},
             {"object_attributes",
              {{"iid", 6},
               {"action", "open"},
               {"source_branch", "topic"},
               {"target_branch", "main"},
               {"source_project_id", 99},
               {"target_project_id", 42},
               {"last_commit", {{"id", mr_head}}}}},
             {"project", {{"id", 42}, {"git_http_url", w_.SettingsUrl()}}}};
  auto r = Hook(w_.port_, "/hooks/gitlab",
                {{"X-Gitlab-Event", "Merge Request Hook"}, {"X-Gitlab-Token", "hook-secret"}}, gl.dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 202) << r->body;
  std::string gl_path = "/gitlab/api/v4/projects/42/statuses/" + mr_head;
  ASSERT_TRUE(WaitFor([&] { return rx_.Got(gl_path).size() == 2; }, 60000)) << serve.Log();
  EXPECT_EQ(Body(rx_.Got(gl_path)[1])["state"], "success");
  ASSERT_EQ(Previews(api, "alpha").size(), 1u);
  EXPECT_EQ(Previews(api, "alpha")[0]["settings_commit"], mr_head);
}

}  // namespace
}  // namespace slipway
