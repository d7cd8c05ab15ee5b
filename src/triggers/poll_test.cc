#include "triggers/poll.h"

#include <gtest/gtest.h>

#include <set>

namespace slipway {
namespace {

constexpr int64_t kSecond = 1000;
constexpr int64_t kMinute = 60 * kSecond;

PollTarget Target(const std::string& env, const std::string& url, int64_t interval_ms = 10 * kSecond) {
  PollTarget t;
  t.environment = env;
  t.url = url;
  t.branch = "main";
  t.path = "environments/" + env;
  t.interval_ms = interval_ms;
  return t;
}

std::vector<PollTarget> ManyTargets(int environments, int urls, int64_t interval_ms) {
  std::vector<PollTarget> targets;
  for (int i = 0; i < environments; ++i) {
    targets.push_back(
        Target("env" + std::to_string(i), "https://git.example.com/settings" + std::to_string(i % urls), interval_ms));
  }
  return targets;
}

// ------------------------------------------------------------------ planner

TEST(PollPlannerTest, ThousandEnvironmentsOverTwentyUrlsIsTwentyCallsPerCycle) {
  PollPlanner planner(PollOptions{.jitter = 0, .seed = 1});
  planner.SetTargets(ManyTargets(1000, 20, 10 * kSecond), 0);
  ASSERT_EQ(planner.Status().size(), 20u);
  EXPECT_EQ(planner.TargetsFor("https://git.example.com/settings3").size(), 50u);
  // A fake clock ticking every 100 ms for ten cycles.
  std::map<int64_t, int> calls_per_cycle;
  for (int64_t now = 0; now < 100 * kSecond; now += 100) {
    for (const std::string& url : planner.Due(now)) {
      ++calls_per_cycle[now / (10 * kSecond)];
      planner.ReportSuccess(url, now);
    }
  }
  ASSERT_EQ(calls_per_cycle.size(), 10u);
  for (const auto& [cycle, calls] : calls_per_cycle) EXPECT_EQ(calls, 20) << "cycle " << cycle;
}

TEST(PollPlannerTest, WithJitterEachUrlIsPolledOncePerIntervalOnAverage) {
  PollPlanner planner(PollOptions{.jitter = 0.10, .seed = 42});
  planner.SetTargets(ManyTargets(1000, 20, 10 * kSecond), 0);
  std::map<std::string, std::vector<int64_t>> polls;
  int64_t total = 0;
  const int64_t horizon = 10 * kMinute;
  for (int64_t now = 0; now < horizon; now += 100) {
    auto due = planner.Due(now);
    std::set<std::string> unique(due.begin(), due.end());
    ASSERT_EQ(unique.size(), due.size());
    for (const std::string& url : due) {
      polls[url].push_back(now);
      planner.ReportSuccess(url, now);
      ++total;
    }
  }
  ASSERT_EQ(polls.size(), 20u);
  // 60 cycles of 20 URLs, give or take the jitter.
  EXPECT_NEAR(total, 60 * 20, 40);
  for (const auto& [url, times] : polls) {
    EXPECT_NEAR(static_cast<double>(times.size()), 60, 4) << url;
    for (size_t i = 1; i < times.size(); ++i) {
      int64_t gap = times[i] - times[i - 1];
      EXPECT_GE(gap, 9 * kSecond) << url;
      EXPECT_LE(gap, 11 * kSecond + 100) << url;  // + one clock tick
    }
  }
}

TEST(PollPlannerTest, JitterStaysWithinBoundsAndIsDeterministic) {
  auto schedule = [](uint64_t seed) {
    PollPlanner planner(PollOptions{.jitter = 0.10, .seed = seed});
    planner.SetTargets({Target("a", "https://x/a", 60 * kSecond)}, 0);
    std::vector<int64_t> delays;
    int64_t now = 0;
    for (int i = 0; i < 2000; ++i) {
      EXPECT_EQ(planner.Due(now).size(), 1u);
      planner.ReportSuccess("https://x/a", now);
      int64_t next = planner.NextDueMs();
      delays.push_back(next - now);
      now = next;
    }
    return delays;
  };
  std::vector<int64_t> delays = schedule(7);
  int64_t lo = *std::min_element(delays.begin(), delays.end());
  int64_t hi = *std::max_element(delays.begin(), delays.end());
  EXPECT_GE(lo, 54 * kSecond);
  EXPECT_LE(hi, 66 * kSecond);
  // The draws spread over the whole band.
  EXPECT_LT(lo, 55 * kSecond);
  EXPECT_GT(hi, 65 * kSecond);
  EXPECT_EQ(schedule(7), delays);
  EXPECT_NE(schedule(8), delays);
}

TEST(PollPlannerTest, UrlIsDueWhenAnyOfItsEnvironmentsIs) {
  PollPlanner planner(PollOptions{.jitter = 0, .seed = 1});
  planner.SetTargets({Target("slow", "https://x/s", 5 * kMinute), Target("fast", "https://x/s", 30 * kSecond),
                      Target("other", "https://x/o", 5 * kMinute)},
                     0);
  EXPECT_EQ(planner.Due(0), (std::vector<std::string>{"https://x/s", "https://x/o"}));
  planner.ReportSuccess("https://x/s", 0);
  planner.ReportSuccess("https://x/o", 0);
  EXPECT_TRUE(planner.Due(29 * kSecond).empty());
  EXPECT_EQ(planner.Due(30 * kSecond), (std::vector<std::string>{"https://x/s"}));
  EXPECT_EQ(planner.StatusOf("https://x/s")->interval_ms, 30 * kSecond);
  EXPECT_EQ(planner.StatusOf("https://x/s")->environments, (std::vector<std::string>{"slow", "fast"}));
}

TEST(PollPlannerTest, InFlightUrlsAreNotReturnedTwice) {
  PollPlanner planner(PollOptions{.jitter = 0, .seed = 1});
  planner.SetTargets({Target("a", "https://x/a")}, 0);
  EXPECT_EQ(planner.Due(0).size(), 1u);
  EXPECT_TRUE(planner.Due(kMinute).empty());  // a slow ls-remote
  EXPECT_TRUE(planner.StatusOf("https://x/a")->in_flight);
  EXPECT_EQ(planner.NextDueMs(), INT64_MAX);
  planner.ReportSuccess("https://x/a", kMinute);
  EXPECT_EQ(planner.NextDueMs(), kMinute + 10 * kSecond);
}

TEST(PollPlannerTest, BackoffDoublesUpToTenMinutesAndResets) {
  PollPlanner planner(PollOptions{.jitter = 0, .seed = 1});
  const std::string url = "https://x/a";
  planner.SetTargets({Target("a", url, 10 * kSecond)}, 0);
  int64_t now = 0;
  std::vector<int64_t> delays;
  for (int i = 0; i < 8; ++i) {
    ASSERT_EQ(planner.Due(now).size(), 1u) << i;
    planner.ReportError(url, now, "fatal: unable to access 'https://x/a/': Could not resolve host: x");
    int64_t next = planner.NextDueMs();
    delays.push_back(next - now);
    EXPECT_TRUE(planner.Due(next - 1).empty());
    now = next;
  }
  EXPECT_EQ(delays, (std::vector<int64_t>{20 * kSecond, 40 * kSecond, 80 * kSecond, 160 * kSecond, 320 * kSecond,
                                          600 * kSecond, 600 * kSecond, 600 * kSecond}));
  auto st = *planner.StatusOf(url);
  EXPECT_EQ(st.consecutive_failures, 8);
  EXPECT_EQ(st.errors_total, 8);
  EXPECT_EQ(st.last_error, "fatal: unable to access 'https://x/a/': Could not resolve host: x");
  EXPECT_EQ(st.last_success_ms, 0);
  ASSERT_EQ(planner.Due(now).size(), 1u);
  planner.ReportSuccess(url, now);
  st = *planner.StatusOf(url);
  EXPECT_EQ(st.consecutive_failures, 0);
  EXPECT_EQ(st.errors_total, 8);
  EXPECT_EQ(st.polls_total, 9);
  EXPECT_EQ(st.last_success_ms, now);
  EXPECT_EQ(planner.NextDueMs(), now + 10 * kSecond);
  // A new failure starts the doubling again.
  ASSERT_EQ(planner.Due(now + 10 * kSecond).size(), 1u);
  planner.ReportError(url, now + 10 * kSecond, "again");
  EXPECT_EQ(planner.NextDueMs(), now + 30 * kSecond);
}

TEST(PollPlannerTest, BackoffWithJitterNeverExceedsTheCap) {
  PollPlanner planner(PollOptions{.jitter = 0.10, .seed = 3});
  const std::string url = "https://x/a";
  planner.SetTargets({Target("a", url, 10 * kSecond)}, 0);
  int64_t now = 0;
  for (int i = 0; i < 50; ++i) {
    ASSERT_EQ(planner.Due(now).size(), 1u);
    planner.ReportError(url, now, "boom");
    int64_t delay = planner.NextDueMs() - now;
    int64_t nominal = std::min<int64_t>(10 * kSecond << std::min(i + 1, 20), 10 * kMinute);
    EXPECT_GE(delay, nominal * 9 / 10) << i;
    EXPECT_LE(delay, std::min(nominal * 11 / 10, 10 * kMinute)) << i;
    now += delay;
  }
}

TEST(PollPlannerTest, LongIntervalsBackOffFromTheirOwnInterval) {
  PollPlanner planner(PollOptions{.jitter = 0, .seed = 1});
  planner.SetTargets({Target("a", "https://x/a", 30 * kMinute)}, 0);
  ASSERT_EQ(planner.Due(0).size(), 1u);
  planner.ReportError("https://x/a", 0, "boom");
  EXPECT_EQ(planner.NextDueMs(), 30 * kMinute);
}

TEST(PollPlannerTest, ReloadKeepsStateOfRemainingUrls) {
  PollPlanner planner(PollOptions{.jitter = 0, .seed = 1});
  planner.SetTargets({Target("a", "https://x/a", kMinute), Target("b", "https://x/b", kMinute)}, 0);
  ASSERT_EQ(planner.Due(0).size(), 2u);
  planner.ReportError("https://x/a", 0, "boom");  // next at 2 min
  // b stays in flight across the reload.
  planner.SetTargets({Target("a2", "https://x/a", kMinute), Target("b", "https://x/b", kMinute),
                      Target("c", "https://x/c", kMinute), Target("webhooks-only", "https://x/w", 0)},
                     5 * kSecond);
  auto a = *planner.StatusOf("https://x/a");
  EXPECT_EQ(a.consecutive_failures, 1);
  EXPECT_EQ(a.next_due_ms, 2 * kMinute);
  EXPECT_EQ(a.environments, (std::vector<std::string>{"a2"}));
  EXPECT_TRUE(planner.StatusOf("https://x/b")->in_flight);
  EXPECT_FALSE(planner.StatusOf("https://x/w").has_value());
  EXPECT_EQ(planner.Due(5 * kSecond), (std::vector<std::string>{"https://x/c"}));
  planner.ReportSuccess("https://x/b", 6 * kSecond);
  // A URL that is gone: its reports are ignored.
  planner.SetTargets({Target("c", "https://x/c", kMinute)}, 7 * kSecond);
  planner.ReportSuccess("https://x/a", 8 * kSecond);
  planner.ReportError("https://x/b", 8 * kSecond, "x");
  EXPECT_EQ(planner.Status().size(), 1u);
  EXPECT_TRUE(planner.TargetsFor("https://x/a").empty());
}

TEST(PollPlannerTest, ShorterIntervalTakesEffectAtOnce) {
  PollPlanner planner(PollOptions{.jitter = 0, .seed = 1});
  planner.SetTargets({Target("a", "https://x/a", 10 * kMinute)}, 0);
  ASSERT_EQ(planner.Due(0).size(), 1u);
  planner.ReportSuccess("https://x/a", 0);
  EXPECT_EQ(planner.NextDueMs(), 10 * kMinute);
  planner.SetTargets({Target("a", "https://x/a", kMinute)}, 30 * kSecond);
  EXPECT_EQ(planner.NextDueMs(), kMinute);
  // A longer one waits for the current schedule.
  planner.SetTargets({Target("a", "https://x/a", 20 * kMinute)}, 40 * kSecond);
  EXPECT_EQ(planner.NextDueMs(), kMinute);
}

TEST(PollPlannerTest, NothingToPoll) {
  PollPlanner planner;
  EXPECT_TRUE(planner.Due(0).empty());
  EXPECT_EQ(planner.NextDueMs(), INT64_MAX);
  planner.SetTargets({Target("a", "", kMinute), Target("b", "https://x/b", -1)}, 0);
  EXPECT_TRUE(planner.Status().empty());
  planner.ReportSuccess("https://x/b", 0);  // unknown: ignored
}

// ------------------------------------------------------------------ heads

TEST(BranchHeadsTest, BranchesOnly) {
  std::vector<RemoteRef> refs = {
      {"HEAD", "1111111111111111111111111111111111111111", ""},
      {"refs/heads/main", "2222222222222222222222222222222222222222", ""},
      {"refs/heads/feature/x", "3333333333333333333333333333333333333333", ""},
      {"refs/tags/v1", "4444444444444444444444444444444444444444", "5555555555555555555555555555555555555555"},
      {"refs/pull/1/head", "6666666666666666666666666666666666666666", ""},
      {"refs/heads/", "7777777777777777777777777777777777777777", ""},
  };
  auto heads = BranchHeads(refs);
  EXPECT_EQ(heads, (std::map<std::string, std::string>{{"main", "2222222222222222222222222222222222222222"},
                                                       {"feature/x", "3333333333333333333333333333333333333333"}}));
}

TEST(PathIsUnderTest, FolderBoundaries) {
  EXPECT_TRUE(PathIsUnder("environments/prod/deploy.yaml", "environments/prod"));
  EXPECT_TRUE(PathIsUnder("environments/prod/deploy.yaml", "environments/prod/"));
  EXPECT_TRUE(PathIsUnder("environments/prod", "environments/prod"));
  EXPECT_FALSE(PathIsUnder("environments/production/deploy.yaml", "environments/prod"));
  EXPECT_FALSE(PathIsUnder("environments/pro", "environments/prod"));
  EXPECT_FALSE(PathIsUnder("README.md", "environments/prod"));
  EXPECT_TRUE(PathIsUnder("README.md", ""));
}

// ------------------------------------------------------------------ decisions

const std::string kA = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const std::string kB = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const std::string kC = "cccccccccccccccccccccccccccccccccccccccc";
const std::string kUrl = "https://git.example.com/settings";

// A fake repository: the paths each (from, to) pair changed.
struct FakeRepo {
  std::map<std::pair<std::string, std::string>, std::vector<std::string>> diffs;
  std::vector<std::string> calls;
  ChangedFn Fn() {
    return [this](const std::string& url, const std::string& from, const std::string& to,
                  const std::string& path) -> Result<bool> {
      EXPECT_EQ(url, kUrl);
      calls.push_back(from.substr(0, 1) + ".." + to.substr(0, 1) + ":" + path);
      auto it = diffs.find({from, to});
      if (it == diffs.end()) return NetworkError("fatal: bad object " + from);
      for (const auto& p : it->second) {
        if (PathIsUnder(p, path)) return true;
      }
      return false;
    };
  }
};

TriggerInput Input(const std::string& env, const std::string& last, const std::string& deployed,
                   bool any_path = false) {
  TriggerInput in;
  in.environment = env;
  in.branch = "main";
  in.path = env.empty() ? "" : "environments/" + env;
  in.any_path = any_path;
  in.last_evaluated_commit = last;
  in.deployed_commit = deployed;
  return in;
}

TEST(DecideTriggersTest, OnlyEnvironmentsWhoseFolderChangedAreTriggered) {
  FakeRepo repo;
  repo.diffs[{kA, kB}] = {"environments/prod/deploy.yaml", "README.md"};
  auto d = DecideTriggers(kUrl, {{"main", kB}},
                          {Input("prod", kA, kA), Input("sandbox", kA, kA), Input("production", kA, kA)}, repo.Fn());
  ASSERT_EQ(d.size(), 3u);
  EXPECT_EQ(d[0].action, TriggerAction::kTrigger);
  EXPECT_EQ(d[0].head, kB);
  EXPECT_EQ(d[0].base, kA);
  EXPECT_EQ(d[0].reason, "folder 'environments/prod' changed between aaaaaaa and bbbbbbb");
  EXPECT_TRUE(d[0].record_evaluated());
  EXPECT_EQ(d[1].action, TriggerAction::kFolderUnchanged);
  EXPECT_EQ(d[1].reason, "nothing changed under folder 'environments/sandbox' between aaaaaaa and bbbbbbb");
  EXPECT_TRUE(d[1].record_evaluated());
  EXPECT_EQ(d[2].action, TriggerAction::kFolderUnchanged) << "a prefix is not a folder";
}

TEST(DecideTriggersTest, UnchangedHeadAsksNothing) {
  FakeRepo repo;
  auto d = DecideTriggers(kUrl, {{"main", kA}}, {Input("prod", kA, "")}, repo.Fn());
  EXPECT_EQ(d[0].action, TriggerAction::kUnchanged);
  EXPECT_EQ(d[0].reason, "branch 'main' still at aaaaaaa");
  EXPECT_FALSE(d[0].record_evaluated());
  EXPECT_TRUE(repo.calls.empty());
}

TEST(DecideTriggersTest, FirstSight) {
  FakeRepo repo;
  repo.diffs[{kA, kB}] = {"environments/prod/deploy.yaml"};
  auto d = DecideTriggers(
      kUrl, {{"main", kB}},
      {Input("fresh", "", ""), Input("synced", "", kB), Input("prod", "", kA), Input("sandbox", "", kA)}, repo.Fn());
  EXPECT_EQ(d[0].action, TriggerAction::kTrigger);
  EXPECT_EQ(d[0].reason, "never deployed; head of 'main' is bbbbbbb");
  EXPECT_EQ(d[1].action, TriggerAction::kUpToDate);
  EXPECT_TRUE(d[1].record_evaluated());
  EXPECT_EQ(d[2].action, TriggerAction::kTrigger);  // deployed folder differs from head
  EXPECT_EQ(d[2].base, kA);
  EXPECT_EQ(d[3].action, TriggerAction::kFolderUnchanged);
  EXPECT_EQ(repo.calls, (std::vector<std::string>{"a..b:environments/prod", "a..b:environments/sandbox"}));
}

TEST(DecideTriggersTest, LastEvaluatedWinsOverDeployed) {
  // Deployed at A, evaluated at B (its run failed), now C: only B..C counts,
  // so a commit elsewhere does not retry a failed deployment.
  FakeRepo repo;
  repo.diffs[{kB, kC}] = {"environments/other/x"};
  repo.diffs[{kA, kC}] = {"environments/prod/deploy.yaml"};
  auto d = DecideTriggers(kUrl, {{"main", kC}}, {Input("prod", kB, kA)}, repo.Fn());
  EXPECT_EQ(d[0].action, TriggerAction::kFolderUnchanged);
  EXPECT_EQ(d[0].base, kB);
}

TEST(DecideTriggersTest, HeadAlreadyDeployedIsUpToDate) {
  FakeRepo repo;
  auto d = DecideTriggers(kUrl, {{"main", kB}}, {Input("prod", kA, kB, true)}, repo.Fn());
  EXPECT_EQ(d[0].action, TriggerAction::kUpToDate);
  EXPECT_TRUE(repo.calls.empty());
}

TEST(DecideTriggersTest, AnyPathTriggersOnEveryNewCommit) {
  FakeRepo repo;
  auto d = DecideTriggers(kUrl, {{"main", kB}}, {Input("prod", kA, kA, true)}, repo.Fn());
  EXPECT_EQ(d[0].action, TriggerAction::kTrigger);
  EXPECT_EQ(d[0].reason, "new commit bbbbbbb on 'main' (paths: any)");
  EXPECT_TRUE(repo.calls.empty());
}

TEST(DecideTriggersTest, RootPathMeansAnyChange) {
  FakeRepo repo;
  repo.diffs[{kA, kB}] = {"README.md"};
  auto d = DecideTriggers(kUrl, {{"main", kB}}, {Input("", kA, kA)}, repo.Fn());
  EXPECT_EQ(d[0].action, TriggerAction::kTrigger);
  EXPECT_EQ(d[0].reason, "the repository changed between aaaaaaa and bbbbbbb");
}

TEST(DecideTriggersTest, MissingBranchAndErrorsAreRetried) {
  FakeRepo repo;  // knows no diffs: every question fails
  TriggerInput other = Input("prod", kA, kA);
  other.branch = "release";
  auto d = DecideTriggers(kUrl, {{"main", kB}}, {other, Input("prod", kA, kA)}, repo.Fn());
  EXPECT_EQ(d[0].action, TriggerAction::kBranchMissing);
  EXPECT_EQ(d[0].reason, "branch 'release' not found in the settings repository");
  EXPECT_FALSE(d[0].record_evaluated());
  EXPECT_EQ(d[1].action, TriggerAction::kError);
  EXPECT_EQ(d[1].error.code(), StatusCode::kNetwork);
  EXPECT_EQ(d[1].reason, "cannot compare aaaaaaa..bbbbbbb: fatal: bad object " + kA);
  EXPECT_FALSE(d[1].record_evaluated());
  EXPECT_STREQ(TriggerActionName(d[1].action), "error");
}

TEST(DecideTriggersTest, EachQuestionIsAskedOnce) {
  FakeRepo repo;
  repo.diffs[{kA, kB}] = {"environments/e7/x"};
  std::vector<TriggerInput> inputs;
  for (int i = 0; i < 50; ++i) {
    TriggerInput in = Input("e" + std::to_string(i % 10), kA, kA);
    in.environment += "-" + std::to_string(i);
    inputs.push_back(in);
  }
  auto d = DecideTriggers(kUrl, {{"main", kB}}, inputs, repo.Fn());
  EXPECT_EQ(repo.calls.size(), 10u);
  int triggered = 0;
  for (const auto& x : d) triggered += x.action == TriggerAction::kTrigger;
  EXPECT_EQ(triggered, 5);
  EXPECT_EQ(d[7].environment, "e7-7");
  EXPECT_EQ(d[7].action, TriggerAction::kTrigger);
}

TEST(DecideTriggersTest, WithoutCallbackIsAnInternalError) {
  auto d = DecideTriggers(kUrl, {{"main", kB}}, {Input("prod", kA, kA)}, nullptr);
  EXPECT_EQ(d[0].action, TriggerAction::kError);
  EXPECT_EQ(d[0].error.code(), StatusCode::kInternal);
}

// The daemon's loop in miniature: a fake clock, a planner, a repository whose
// head moves, and the record of what was evaluated.
TEST(PollLoopTest, CommitOutsideTheFolderTriggersNothing) {
  PollPlanner planner(PollOptions{.jitter = 0.1, .seed = 5});
  PollTarget prod = Target("prod", kUrl, 10 * kSecond);
  PollTarget sandbox = Target("sandbox", kUrl, 10 * kSecond);
  planner.SetTargets({prod, sandbox}, 0);
  FakeRepo repo;
  repo.diffs[{kA, kB}] = {"docs/README.md"};
  repo.diffs[{kB, kC}] = {"environments/sandbox/accounts.csv"};
  std::map<std::string, std::string> head = {{"main", kA}};
  std::map<std::string, std::string> evaluated, deployed = {{"prod", kA}, {"sandbox", kA}};
  std::vector<std::string> runs;
  int ls_remote = 0;
  for (int64_t now = 0; now < 2 * kMinute; now += 500) {
    if (now == 30 * kSecond) head["main"] = kB;
    if (now == 60 * kSecond) head["main"] = kC;
    for (const std::string& url : planner.Due(now)) {
      ++ls_remote;
      std::vector<TriggerInput> inputs;
      for (const PollTarget& t : planner.TargetsFor(url)) {
        TriggerInput in{t.environment, t.branch, t.path, t.any_path, evaluated[t.environment], deployed[t.environment]};
        inputs.push_back(in);
      }
      for (const TriggerDecision& d : DecideTriggers(url, head, inputs, repo.Fn())) {
        if (d.action == TriggerAction::kTrigger) {
          runs.push_back(d.environment + "@" + d.head.substr(0, 1));
          deployed[d.environment] = d.head;
        }
        if (d.record_evaluated()) evaluated[d.environment] = d.head;
      }
      planner.ReportSuccess(url, now);
    }
  }
  EXPECT_EQ(runs, (std::vector<std::string>{"sandbox@c"}));
  EXPECT_NEAR(ls_remote, 12, 2);  // one per cycle for both environments
}

}  // namespace
}  // namespace slipway
