// The Store suite shared by every implementation (see store_test.h), and the
// tests of the enum helpers in store.cc.
#include "store/store_test.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <set>
#include <thread>
#include <vector>

#include "testing/postgres.h"

namespace slipway {
namespace {

TEST(RunStatusTest, NamesRoundTrip) {
  for (RunStatus s : {RunStatus::kQueued, RunStatus::kRunning, RunStatus::kSucceeded, RunStatus::kFailed,
                      RunStatus::kCancelled, RunStatus::kTimedOut, RunStatus::kInterrupted}) {
    RunStatus parsed = RunStatus::kQueued;
    EXPECT_TRUE(ParseRunStatus(RunStatusName(s), &parsed)) << RunStatusName(s);
    EXPECT_EQ(parsed, s);
  }
  EXPECT_STREQ(RunStatusName(RunStatus::kTimedOut), "timed_out");
  EXPECT_EQ(RunStatusNames().size(), 7u);
  RunStatus untouched = RunStatus::kFailed;
  EXPECT_FALSE(ParseRunStatus("Succeeded", &untouched));
  EXPECT_FALSE(ParseRunStatus("", &untouched));
  EXPECT_EQ(untouched, RunStatus::kFailed);
}

TEST(RunStatusTest, FinalStates) {
  EXPECT_FALSE(IsFinal(RunStatus::kQueued));
  EXPECT_FALSE(IsFinal(RunStatus::kRunning));
  EXPECT_TRUE(IsFinal(RunStatus::kSucceeded));
  EXPECT_TRUE(IsFinal(RunStatus::kFailed));
  EXPECT_TRUE(IsFinal(RunStatus::kCancelled));
  EXPECT_TRUE(IsFinal(RunStatus::kTimedOut));
  EXPECT_TRUE(IsFinal(RunStatus::kInterrupted));
}

TEST(StepStatusTest, NamesRoundTrip) {
  for (StepStatus s : {StepStatus::kPending, StepStatus::kRunning, StepStatus::kSucceeded, StepStatus::kFailed,
                       StepStatus::kSkipped, StepStatus::kCancelled, StepStatus::kTimedOut}) {
    StepStatus parsed = StepStatus::kPending;
    EXPECT_TRUE(ParseStepStatus(StepStatusName(s), &parsed)) << StepStatusName(s);
    EXPECT_EQ(parsed, s);
  }
  StepStatus untouched = StepStatus::kSkipped;
  EXPECT_FALSE(ParseStepStatus("done", &untouched));
  EXPECT_EQ(untouched, StepStatus::kSkipped);
}

// A run with every field set to something distinctive.
RunRecord FullRun(const std::string& environment, RunStatus status = RunStatus::kRunning) {
  RunRecord run;
  run.environment = environment;
  run.kind = "preview";
  run.trigger = "webhook";
  run.actor = "O'Brien \"ops\" — équipe";
  run.status = status;
  run.settings_commit = std::string(40, 'a');
  run.code_url = "https://github.com/reply-fr/sustainable-personal-accounts.git";
  run.code_ref = "v23.9.22";
  run.code_commit = std::string(40, 'b');
  run.branch_pin = true;
  run.requested_ref = "refs/heads/feature";
  run.created_ms = 1'790'000'000'123;
  run.started_ms = 1'790'000'001'456;
  run.finished_ms = 0;
  run.error = std::string("line one\nline two with a NUL \0 inside", 37);
  run.log_path = "/var/lib/slipway/logs/1.log";
  run.workspace = "/var/lib/slipway/work/1";
  run.exported_json = R"({"A":"1","B":"two"})";
  run.signer = "Alice Example <alice@example.com> (ssh SHA256:abc)";
  run.context_json = R"({"forge":"github","number":7})";
  return run;
}

StepRecord Step(int index, const std::string& name, StepStatus status, std::optional<int> exit_code = std::nullopt) {
  StepRecord step;
  step.index = index;
  step.name = name;
  step.status = status;
  step.exit_code = exit_code;
  step.started_ms = 1'790'000'002'000 + index;
  step.duration_ms = 1000 * (index + 1);
  return step;
}

void ExpectSameFields(const RunRecord& got, const RunRecord& want) {
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.environment, want.environment);
  EXPECT_EQ(got.kind, want.kind);
  EXPECT_EQ(got.trigger, want.trigger);
  EXPECT_EQ(got.actor, want.actor);
  EXPECT_EQ(got.status, want.status);
  EXPECT_EQ(got.settings_commit, want.settings_commit);
  EXPECT_EQ(got.code_url, want.code_url);
  EXPECT_EQ(got.code_ref, want.code_ref);
  EXPECT_EQ(got.code_commit, want.code_commit);
  EXPECT_EQ(got.branch_pin, want.branch_pin);
  EXPECT_EQ(got.requested_ref, want.requested_ref);
  EXPECT_EQ(got.created_ms, want.created_ms);
  EXPECT_EQ(got.started_ms, want.started_ms);
  EXPECT_EQ(got.finished_ms, want.finished_ms);
  EXPECT_EQ(got.error, want.error);
  EXPECT_EQ(got.log_path, want.log_path);
  EXPECT_EQ(got.workspace, want.workspace);
  EXPECT_EQ(got.exported_json, want.exported_json);
  EXPECT_EQ(got.signer, want.signer);
  EXPECT_EQ(got.context_json, want.context_json);
}

void ExpectSameSteps(const std::vector<StepRecord>& got, const std::vector<StepRecord>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    EXPECT_EQ(got[i].index, want[i].index);
    EXPECT_EQ(got[i].name, want[i].name);
    EXPECT_EQ(got[i].status, want[i].status);
    EXPECT_EQ(got[i].exit_code, want[i].exit_code);
    EXPECT_EQ(got[i].started_ms, want[i].started_ms);
    EXPECT_EQ(got[i].duration_ms, want[i].duration_ms);
  }
}

}  // namespace

std::string StoreTestName(const ::testing::TestParamInfo<StoreTestParam>& info) { return info.param.name; }

void StoreTest::SetUp() {
  if (GetParam().unavailable) {
    std::string why = GetParam().unavailable();
    if (!why.empty()) {
      if (testing::PostgresRequired()) FAIL() << why;
      GTEST_SKIP() << why;
    }
  }
  database_ = GetParam().make_database();
  ASSERT_NE(database_, nullptr);
  store_ = Connect();
  ASSERT_NE(store_, nullptr);
}

void StoreTest::TearDown() {
  store_.reset();
  if (database_) EXPECT_OK(database_->CheckIntegrity());
  database_.reset();
}

std::unique_ptr<Store> StoreTest::Connect() {
  Result<std::unique_ptr<Store>> store = database_->Connect();
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  if (!store.ok()) return nullptr;
  return std::move(store).value();
}

namespace {

TEST_P(StoreTest, CreateAndGetRoundTripEveryField) {
  RunRecord run = FullRun("automation");
  run.id = 999;                                            // ignored
  run.steps.push_back(Step(0, "x", StepStatus::kFailed));  // ignored: CreateRun stores no steps
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateRun(run));
  EXPECT_GT(id, 0);

  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(id));
  run.id = id;
  ExpectSameFields(got, run);
  EXPECT_TRUE(got.steps.empty());

  // Defaults and empty strings round-trip too.
  RunRecord empty;
  ASSERT_OK_AND_ASSIGN(int64_t empty_id, store_->CreateRun(empty));
  EXPECT_GT(empty_id, id);
  ASSERT_OK_AND_ASSIGN(RunRecord got_empty, store_->GetRun(empty_id));
  empty.id = empty_id;
  ExpectSameFields(got_empty, empty);
}

TEST_P(StoreTest, EveryStatusRoundTrips) {
  for (const std::string& name : RunStatusNames()) {
    RunStatus status = RunStatus::kQueued;
    ASSERT_TRUE(ParseRunStatus(name, &status));
    ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateRun(FullRun("env", status)));
    ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(id));
    EXPECT_EQ(got.status, status) << name;
  }
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateRun(FullRun("env")));
  std::vector<StepRecord> steps;
  int index = 0;
  for (StepStatus s : {StepStatus::kPending, StepStatus::kRunning, StepStatus::kSucceeded, StepStatus::kFailed,
                       StepStatus::kSkipped, StepStatus::kCancelled, StepStatus::kTimedOut}) {
    steps.push_back(Step(index++, StepStatusName(s), s));
    ASSERT_OK(store_->PutStep(id, steps.back()));
  }
  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(id));
  ExpectSameSteps(got.steps, steps);
}

TEST_P(StoreTest, GetRunOfUnknownIdIsNotFound) {
  Result<RunRecord> run = store_->GetRun(12345);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), StatusCode::kNotFound);
  EXPECT_NE(run.status().message().find("12345"), std::string::npos) << run.status().ToString();
}

TEST_P(StoreTest, UpdateRunOverwritesFieldsButNotSteps) {
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateRun(FullRun("automation")));
  ASSERT_OK(store_->PutStep(id, Step(0, "setup", StepStatus::kSucceeded, 0)));

  RunRecord changed;
  changed.id = id;
  changed.environment = "sandbox";
  changed.kind = "deploy";
  changed.trigger = "manual";
  changed.actor = "alice";
  changed.status = RunStatus::kRunning;
  changed.settings_commit = "c1";
  changed.code_url = "file:///code";
  changed.code_ref = "main";
  changed.code_commit = "c2";
  changed.branch_pin = false;
  changed.requested_ref = "";
  changed.created_ms = 1;
  changed.started_ms = 2;
  changed.finished_ms = 3;
  changed.error = "";
  changed.log_path = "/l";
  changed.workspace = "";
  changed.exported_json = "";
  ASSERT_OK(store_->UpdateRun(changed));

  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(id));
  ExpectSameFields(got, changed);
  ASSERT_EQ(got.steps.size(), 1u);
  EXPECT_EQ(got.steps[0].name, "setup");
}

TEST_P(StoreTest, UpdateOfUnknownRunIsNotFound) {
  RunRecord run = FullRun("automation");
  run.id = 777;
  Status status = store_->UpdateRun(run);
  EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.ToString();
}

TEST_P(StoreTest, UpdateRunAndStepsWritesTheRunAndEveryStep) {
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateRun(FullRun("automation")));
  RunRecord run = FullRun("automation");
  run.id = id;
  run.log_path = "/state/logs/automation/1.log";
  run.steps = {Step(0, "setup", StepStatus::kPending), Step(1, "deploy", StepStatus::kPending)};
  ASSERT_OK(store_->UpdateRunAndSteps(run));
  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(id));
  ExpectSameFields(got, run);
  ExpectSameSteps(got.steps, run.steps);
}

TEST_P(StoreTest, UpdateRunAndStepsOfAFinishedRunWritesNoStepEither) {
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateRun(FullRun("automation")));
  RunRecord finished = FullRun("automation", RunStatus::kFailed);
  finished.id = id;
  finished.steps = {Step(0, "setup", StepStatus::kFailed, 2)};
  ASSERT_OK(store_->FinishRun(finished, false));

  RunRecord again = FullRun("automation");  // running
  again.id = id;
  again.steps = {Step(0, "setup", StepStatus::kPending), Step(1, "deploy", StepStatus::kPending)};
  Status status = store_->UpdateRunAndSteps(again);
  EXPECT_EQ(status.code(), StatusCode::kFailed) << status.ToString();
  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(id));
  EXPECT_EQ(got.status, RunStatus::kFailed);
  ExpectSameSteps(got.steps, finished.steps);
}

TEST_P(StoreTest, StepsComeBackOrderedByIndexAndPutStepReplaces) {
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateRun(FullRun("automation")));
  StepRecord deploy = Step(3, "deploy", StepStatus::kPending);
  StepRecord setup = Step(0, "setup", StepStatus::kSucceeded, 0);
  StepRecord test = Step(2, "test", StepStatus::kRunning);
  StepRecord lint = Step(1, "lint", StepStatus::kFailed, 2);
  for (const StepRecord& s : {deploy, setup, test, lint}) ASSERT_OK(store_->PutStep(id, s));

  test.status = StepStatus::kTimedOut;  // killed: no exit code
  test.duration_ms = 3'600'000;
  ASSERT_OK(store_->PutStep(id, test));
  lint.exit_code = 0;
  lint.status = StepStatus::kSucceeded;
  ASSERT_OK(store_->PutStep(id, lint));

  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(id));
  ExpectSameSteps(got.steps, {setup, lint, test, deploy});
  EXPECT_FALSE(got.steps[2].exit_code.has_value());
  EXPECT_EQ(got.steps[1].exit_code, 0);
}

TEST_P(StoreTest, PutStepOfUnknownRunIsNotFound) {
  Status status = store_->PutStep(4242, Step(0, "setup", StepStatus::kRunning));
  EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.ToString();
  EXPECT_NE(status.message().find("4242"), std::string::npos) << status.ToString();
}

TEST_P(StoreTest, StepsOfOneRunDoNotLeakIntoAnother) {
  ASSERT_OK_AND_ASSIGN(int64_t a, store_->CreateRun(FullRun("automation")));
  ASSERT_OK_AND_ASSIGN(int64_t b, store_->CreateRun(FullRun("automation")));
  ASSERT_OK(store_->PutStep(a, Step(0, "a0", StepStatus::kSucceeded, 0)));
  ASSERT_OK(store_->PutStep(b, Step(0, "b0", StepStatus::kSucceeded, 0)));
  ASSERT_OK(store_->PutStep(b, Step(1, "b1", StepStatus::kSucceeded, 0)));
  ASSERT_OK_AND_ASSIGN(RunRecord got_a, store_->GetRun(a));
  ASSERT_OK_AND_ASSIGN(RunRecord got_b, store_->GetRun(b));
  ASSERT_EQ(got_a.steps.size(), 1u);
  EXPECT_EQ(got_a.steps[0].name, "a0");
  ASSERT_EQ(got_b.steps.size(), 2u);
}

// Creates a running run of `environment` and finishes it with `status`.
Result<RunRecord> FinishNewRun(Store& store, const std::string& environment, RunStatus status, bool deployed,
                               const std::string& code_commit) {
  RunRecord run = FullRun(environment);
  run.code_commit = code_commit;
  SLIPWAY_ASSIGN_OR_RETURN(run.id, store.CreateRun(run));
  run.status = status;
  run.finished_ms = run.started_ms + 60'000;
  run.steps = {Step(0, "setup", StepStatus::kSucceeded, 0), Step(1, "deploy", StepStatus::kSucceeded, 0)};
  if (status != RunStatus::kSucceeded) run.steps[1] = Step(1, "deploy", StepStatus::kFailed, 2);
  SLIPWAY_RETURN_IF_ERROR(store.FinishRun(run, deployed));
  return run;
}

TEST_P(StoreTest, FinishRunWritesRunStepsAndDeployment) {
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateRun(FullRun("automation")));
  // A step written while running, absent from the final list: kept.
  ASSERT_OK(store_->PutStep(id, Step(2, "notify", StepStatus::kSucceeded, 0)));
  ASSERT_OK(store_->PutStep(id, Step(0, "setup", StepStatus::kRunning)));

  RunRecord run = FullRun("automation", RunStatus::kSucceeded);
  run.id = id;
  run.finished_ms = run.started_ms + 42'000;
  run.error = "";
  run.steps = {Step(0, "setup", StepStatus::kSucceeded, 0), Step(1, "deploy", StepStatus::kSucceeded, 0)};
  ASSERT_OK(store_->FinishRun(run, /*deployed=*/true));

  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(id));
  ExpectSameFields(got, run);
  ExpectSameSteps(got.steps, {run.steps[0], run.steps[1], Step(2, "notify", StepStatus::kSucceeded, 0)});

  ASSERT_OK_AND_ASSIGN(std::optional<Deployment> d, store_->CurrentDeployment("automation"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->environment, "automation");
  EXPECT_EQ(d->run_id, id);
  EXPECT_EQ(d->settings_commit, run.settings_commit);
  EXPECT_EQ(d->code_url, run.code_url);
  EXPECT_EQ(d->code_ref, run.code_ref);
  EXPECT_EQ(d->code_commit, run.code_commit);
  EXPECT_EQ(d->deployed_ms, run.finished_ms);
}

TEST_P(StoreTest, NeverDeployedEnvironmentHasNoDeployment) {
  ASSERT_OK_AND_ASSIGN(std::optional<Deployment> d, store_->CurrentDeployment("nowhere"));
  EXPECT_FALSE(d.has_value());
  // A succeeded run that did not deploy (e.g. a plan) does not make one.
  ASSERT_OK(StatusOf(FinishNewRun(*store_, "automation", RunStatus::kSucceeded, /*deployed=*/false, "c1")));
  ASSERT_OK_AND_ASSIGN(d, store_->CurrentDeployment("automation"));
  EXPECT_FALSE(d.has_value());
}

TEST_P(StoreTest, FailedRunLeavesPreviousDeploymentCurrent) {
  ASSERT_OK_AND_ASSIGN(RunRecord good, FinishNewRun(*store_, "automation", RunStatus::kSucceeded, true, "good"));
  for (RunStatus status : {RunStatus::kFailed, RunStatus::kCancelled, RunStatus::kTimedOut, RunStatus::kInterrupted}) {
    // Even when the caller claims it deployed: only a succeeded run counts.
    ASSERT_OK_AND_ASSIGN(RunRecord bad, FinishNewRun(*store_, "automation", status, /*deployed=*/true, "bad"));
    ASSERT_OK_AND_ASSIGN(std::optional<Deployment> d, store_->CurrentDeployment("automation"));
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(d->run_id, good.id) << RunStatusName(status);
    EXPECT_EQ(d->code_commit, "good");
    ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(bad.id));
    EXPECT_EQ(got.status, status);  // the failed run itself is recorded
  }
}

TEST_P(StoreTest, SucceededDeployedRunReplacesDeploymentOfItsEnvironmentOnly) {
  ASSERT_OK_AND_ASSIGN(RunRecord first, FinishNewRun(*store_, "automation", RunStatus::kSucceeded, true, "one"));
  ASSERT_OK_AND_ASSIGN(RunRecord other, FinishNewRun(*store_, "sandbox", RunStatus::kSucceeded, true, "sand"));
  ASSERT_OK_AND_ASSIGN(RunRecord second, FinishNewRun(*store_, "automation", RunStatus::kSucceeded, true, "two"));

  ASSERT_OK_AND_ASSIGN(std::optional<Deployment> d, store_->CurrentDeployment("automation"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_id, second.id);
  EXPECT_EQ(d->code_commit, "two");
  ASSERT_OK_AND_ASSIGN(d, store_->CurrentDeployment("sandbox"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_id, other.id);
}

TEST_P(StoreTest, FinishRunOfUnknownRunWritesNothing) {
  RunRecord run = FullRun("automation", RunStatus::kSucceeded);
  run.id = 31337;
  run.steps = {Step(0, "deploy", StepStatus::kSucceeded, 0)};
  Status status = store_->FinishRun(run, true);
  EXPECT_EQ(status.code(), StatusCode::kNotFound) << status.ToString();
  ASSERT_OK_AND_ASSIGN(std::optional<Deployment> d, store_->CurrentDeployment("automation"));
  EXPECT_FALSE(d.has_value());
}

TEST_P(StoreTest, FinishRunRefusesANonFinalStatus) {
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateRun(FullRun("automation")));
  RunRecord run = FullRun("automation", RunStatus::kRunning);
  run.id = id;
  Status status = store_->FinishRun(run, true);
  EXPECT_EQ(status.code(), StatusCode::kInternal) << status.ToString();
  ASSERT_OK_AND_ASSIGN(std::optional<Deployment> d, store_->CurrentDeployment("automation"));
  EXPECT_FALSE(d.has_value());
}

std::vector<int64_t> Ids(const std::vector<RunRecord>& runs) {
  std::vector<int64_t> ids;
  for (const RunRecord& r : runs) ids.push_back(r.id);
  return ids;
}

TEST_P(StoreTest, ListRunsNewestFirstWithFilters) {
  std::vector<int64_t> automation, sandbox, failed;
  for (int i = 0; i < 10; ++i) {
    RunStatus status = i % 3 == 0 ? RunStatus::kFailed : RunStatus::kSucceeded;
    std::string env = i % 2 == 0 ? "automation" : "sandbox";
    ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateRun(FullRun(env, status)));
    (env == "automation" ? automation : sandbox).insert((env == "automation" ? automation : sandbox).begin(), id);
    if (status == RunStatus::kFailed) failed.insert(failed.begin(), id);
  }
  ASSERT_OK(store_->PutStep(automation.front(), Step(0, "setup", StepStatus::kSucceeded, 0)));

  RunFilter filter;
  filter.environment = "automation";
  ASSERT_OK_AND_ASSIGN(std::vector<RunRecord> runs, store_->ListRuns(filter));
  EXPECT_EQ(Ids(runs), automation);
  for (const RunRecord& r : runs) EXPECT_TRUE(r.steps.empty());  // ListRuns carries no steps
  ExpectSameFields(runs[0], [&] {
    RunRecord want = FullRun("automation", runs[0].status);
    want.id = automation.front();
    return want;
  }());

  filter = RunFilter();
  filter.status = RunStatus::kFailed;
  ASSERT_OK_AND_ASSIGN(runs, store_->ListRuns(filter));
  EXPECT_EQ(Ids(runs), failed);

  filter.environment = "sandbox";
  ASSERT_OK_AND_ASSIGN(runs, store_->ListRuns(filter));
  for (const RunRecord& r : runs) {
    EXPECT_EQ(r.environment, "sandbox");
    EXPECT_EQ(r.status, RunStatus::kFailed);
  }
  EXPECT_EQ(runs.size(), 2u);  // i = 3, 9

  filter = RunFilter();
  filter.environment = "nowhere";
  ASSERT_OK_AND_ASSIGN(runs, store_->ListRuns(filter));
  EXPECT_TRUE(runs.empty());
}

TEST_P(StoreTest, ListRunsPagesWithBeforeId) {
  std::vector<int64_t> all;
  for (int i = 0; i < 23; ++i) {
    ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateRun(FullRun(i % 4 == 0 ? "other" : "automation")));
    all.insert(all.begin(), id);
  }

  // Walk every page of 5 and get back exactly all runs, newest first.
  std::vector<int64_t> walked;
  RunFilter filter;
  filter.limit = 5;
  for (int page = 0; page < 10; ++page) {
    ASSERT_OK_AND_ASSIGN(std::vector<RunRecord> runs, store_->ListRuns(filter));
    EXPECT_LE(runs.size(), 5u);
    if (runs.empty()) break;
    for (const RunRecord& r : runs) walked.push_back(r.id);
    filter.before_id = runs.back().id;
  }
  EXPECT_EQ(walked, all);

  // Paging combines with the environment filter.
  std::vector<int64_t> automation;
  for (int64_t id : all) {
    ASSERT_OK_AND_ASSIGN(RunRecord r, store_->GetRun(id));
    if (r.environment == "automation") automation.push_back(id);
  }
  filter = RunFilter();
  filter.environment = "automation";
  filter.limit = 4;
  filter.before_id = automation[3];
  ASSERT_OK_AND_ASSIGN(std::vector<RunRecord> page, store_->ListRuns(filter));
  EXPECT_EQ(Ids(page), std::vector<int64_t>(automation.begin() + 4, automation.begin() + 8));

  // limit <= 0: everything.
  filter = RunFilter();
  filter.limit = 0;
  ASSERT_OK_AND_ASSIGN(page, store_->ListRuns(filter));
  EXPECT_EQ(Ids(page), all);
  // The default limit is 50.
  for (int i = 0; i < 30; ++i) ASSERT_OK(StatusOf(store_->CreateRun(FullRun("automation"))));
  ASSERT_OK_AND_ASSIGN(page, store_->ListRuns(RunFilter()));
  EXPECT_EQ(page.size(), 50u);
}

TEST_P(StoreTest, LastRunIsTheNewestOfItsEnvironment) {
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> last, store_->LastRun("automation"));
  EXPECT_FALSE(last.has_value());

  ASSERT_OK_AND_ASSIGN(int64_t a1, store_->CreateRun(FullRun("automation")));
  ASSERT_OK_AND_ASSIGN(int64_t a2, store_->CreateRun(FullRun("automation", RunStatus::kQueued)));
  ASSERT_OK_AND_ASSIGN(int64_t s1, store_->CreateRun(FullRun("sandbox")));
  EXPECT_LT(a1, a2);
  ASSERT_OK_AND_ASSIGN(last, store_->LastRun("automation"));
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->id, a2);
  EXPECT_EQ(last->status, RunStatus::kQueued);
  ASSERT_OK_AND_ASSIGN(last, store_->LastRun("sandbox"));
  ASSERT_TRUE(last.has_value());
  EXPECT_EQ(last->id, s1);
}

TEST_P(StoreTest, BuildNumbersCountPerEnvironment) {
  for (int64_t want = 1; want <= 3; ++want) {
    ASSERT_OK_AND_ASSIGN(int64_t n, store_->NextBuildNumber("automation"));
    EXPECT_EQ(n, want);
  }
  ASSERT_OK_AND_ASSIGN(int64_t n, store_->NextBuildNumber("sandbox"));
  EXPECT_EQ(n, 1);
  ASSERT_OK_AND_ASSIGN(n, store_->NextBuildNumber("automation"));
  EXPECT_EQ(n, 4);
}

TEST_P(StoreTest, InterruptRunningMarksOnlyRunningRuns) {
  ASSERT_OK_AND_ASSIGN(int64_t running, store_->CreateRun(FullRun("automation", RunStatus::kRunning)));
  ASSERT_OK(store_->PutStep(running, Step(0, "setup", StepStatus::kSucceeded, 0)));
  ASSERT_OK(store_->PutStep(running, Step(1, "test", StepStatus::kRunning)));
  ASSERT_OK(store_->PutStep(running, Step(2, "deploy", StepStatus::kPending)));
  RunRecord with_end = FullRun("sandbox", RunStatus::kRunning);
  with_end.finished_ms = 5;  // already set: kept
  ASSERT_OK_AND_ASSIGN(int64_t running2, store_->CreateRun(with_end));
  ASSERT_OK_AND_ASSIGN(int64_t queued, store_->CreateRun(FullRun("automation", RunStatus::kQueued)));
  ASSERT_OK_AND_ASSIGN(RunRecord done, FinishNewRun(*store_, "other", RunStatus::kSucceeded, true, "c"));
  // A `running` step of a finished run is left alone (not ours to judge).
  ASSERT_OK(store_->PutStep(done.id, Step(5, "odd", StepStatus::kRunning)));

  ASSERT_OK_AND_ASSIGN(int count, store_->InterruptRunning("the engine restarted"));
  EXPECT_EQ(count, 2);

  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(running));
  EXPECT_EQ(got.status, RunStatus::kInterrupted);
  EXPECT_EQ(got.error, "the engine restarted");
  EXPECT_GT(got.finished_ms, 0);
  ASSERT_EQ(got.steps.size(), 3u);
  EXPECT_EQ(got.steps[0].status, StepStatus::kSucceeded);
  EXPECT_EQ(got.steps[1].status, StepStatus::kCancelled);
  EXPECT_EQ(got.steps[2].status, StepStatus::kPending);

  ASSERT_OK_AND_ASSIGN(got, store_->GetRun(running2));
  EXPECT_EQ(got.status, RunStatus::kInterrupted);
  EXPECT_EQ(got.finished_ms, 5);

  ASSERT_OK_AND_ASSIGN(got, store_->GetRun(queued));
  EXPECT_EQ(got.status, RunStatus::kQueued);  // queued runs survive a restart
  ASSERT_OK_AND_ASSIGN(got, store_->GetRun(done.id));
  EXPECT_EQ(got.status, RunStatus::kSucceeded);
  EXPECT_EQ(got.steps.back().status, StepStatus::kRunning);

  ASSERT_OK_AND_ASSIGN(count, store_->InterruptRunning("again"));
  EXPECT_EQ(count, 0);
}

TEST_P(StoreTest, ReopenKeepsEverything) {
  ASSERT_OK_AND_ASSIGN(RunRecord deployed, FinishNewRun(*store_, "automation", RunStatus::kSucceeded, true, "c1"));
  ASSERT_OK_AND_ASSIGN(int64_t n, store_->NextBuildNumber("automation"));
  EXPECT_EQ(n, 1);
  store_.reset();

  store_ = Connect();
  ASSERT_NE(store_, nullptr);
  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(deployed.id));
  ExpectSameFields(got, deployed);
  ExpectSameSteps(got.steps, deployed.steps);
  ASSERT_OK_AND_ASSIGN(std::optional<Deployment> d, store_->CurrentDeployment("automation"));
  ASSERT_TRUE(d.has_value());
  EXPECT_EQ(d->run_id, deployed.id);
  ASSERT_OK_AND_ASSIGN(n, store_->NextBuildNumber("automation"));
  EXPECT_EQ(n, 2);
  // Ids keep growing after a reopen.
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateRun(FullRun("automation")));
  EXPECT_GT(id, deployed.id);
}

TEST_P(StoreTest, TwoConnectionsSeeEachOthersWrites) {
  std::unique_ptr<Store> other = Connect();
  ASSERT_NE(other, nullptr);
  ASSERT_OK_AND_ASSIGN(RunRecord run, FinishNewRun(*store_, "automation", RunStatus::kSucceeded, true, "c1"));
  ASSERT_OK_AND_ASSIGN(RunRecord seen, other->GetRun(run.id));
  ExpectSameFields(seen, run);
  ASSERT_OK_AND_ASSIGN(int64_t n, other->NextBuildNumber("automation"));
  EXPECT_EQ(n, 1);
  ASSERT_OK_AND_ASSIGN(n, store_->NextBuildNumber("automation"));
  EXPECT_EQ(n, 2);
}

// Every thread runs whole runs: create, steps, finish with a deployment,
// build numbers; readers list meanwhile. Nothing may fail or be lost.
void Hammer(const std::vector<Store*>& stores, int threads, int runs_per_thread) {
  std::vector<std::thread> workers;
  std::vector<std::vector<int64_t>> numbers(threads);
  std::atomic<int> failures{0};
  auto check = [&](const Status& status) {
    if (!status.ok()) {
      ++failures;
      ADD_FAILURE() << status.ToString();
    }
    return status.ok();
  };
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      Store& store = *stores[t % stores.size()];
      std::string env = "env-" + std::to_string(t);
      for (int i = 0; i < runs_per_thread; ++i) {
        Result<int64_t> number = store.NextBuildNumber("shared");
        if (!check(number.status())) return;
        numbers[t].push_back(*number);
        Result<int64_t> id = store.CreateRun(FullRun(env));
        if (!check(id.status())) return;
        if (!check(store.PutStep(*id, Step(0, "setup", StepStatus::kRunning)))) return;
        RunRecord run = FullRun(env, RunStatus::kSucceeded);
        run.id = *id;
        run.steps = {Step(0, "setup", StepStatus::kSucceeded, 0), Step(1, "deploy", StepStatus::kSucceeded, 0)};
        if (!check(store.FinishRun(run, true))) return;
        RunFilter filter;
        filter.limit = 10;
        if (!check(store.ListRuns(filter).status())) return;
        Result<std::optional<Deployment>> d = store.CurrentDeployment(env);
        if (!check(d.status())) return;
        if (!d->has_value() || (*d)->run_id != *id) {
          ++failures;
          ADD_FAILURE() << env << ": the deployment is not run " << *id;
        }
      }
    });
  }
  for (std::thread& w : workers) w.join();
  ASSERT_EQ(failures.load(), 0);

  std::vector<int64_t> all;
  for (const auto& n : numbers) all.insert(all.end(), n.begin(), n.end());
  std::sort(all.begin(), all.end());
  std::vector<int64_t> want(threads * runs_per_thread);
  for (size_t i = 0; i < want.size(); ++i) want[i] = static_cast<int64_t>(i) + 1;
  EXPECT_EQ(all, want) << "build numbers must be unique and gapless";

  RunFilter filter;
  filter.limit = 0;
  Result<std::vector<RunRecord>> runs = stores[0]->ListRuns(filter);
  ASSERT_TRUE(runs.ok()) << runs.status().ToString();
  EXPECT_EQ(runs->size(), want.size());
  for (const RunRecord& r : *runs) EXPECT_EQ(r.status, RunStatus::kSucceeded);
}

// --- The daemon's extensions ---

// A floating queued run: it resolves the newest head when it starts.
RunRecord Queued(const std::string& environment, const std::string& trigger = "push") {
  RunRecord run;
  run.environment = environment;
  run.trigger = trigger;
  run.actor = "poller";
  run.status = RunStatus::kQueued;
  run.created_ms = 1'790'000'000'000;
  return run;
}

TEST_P(StoreTest, EnqueueCoalescesFloatingRunsOfOneEnvironment) {
  ASSERT_OK_AND_ASSIGN(EnqueueResult first, store_->EnqueueRun(Queued("automation")));
  EXPECT_FALSE(first.coalesced);
  ASSERT_OK_AND_ASSIGN(EnqueueResult second, store_->EnqueueRun(Queued("automation", "webhook")));
  EXPECT_TRUE(second.coalesced);
  EXPECT_EQ(second.id, first.id);
  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(first.id));
  EXPECT_EQ(got.trigger, "push");  // the first trigger's record is kept
  EXPECT_EQ(got.status, RunStatus::kQueued);

  // Another environment, another requested ref, or pinned commits: a run of its own.
  ASSERT_OK_AND_ASSIGN(EnqueueResult other_env, store_->EnqueueRun(Queued("sandbox")));
  EXPECT_FALSE(other_env.coalesced);
  RunRecord with_ref = Queued("automation");
  with_ref.requested_ref = "v2";
  ASSERT_OK_AND_ASSIGN(EnqueueResult ref, store_->EnqueueRun(with_ref));
  EXPECT_FALSE(ref.coalesced);
  RunRecord pinned = Queued("automation", "rollback");
  pinned.settings_commit = std::string(40, 'a');
  pinned.code_commit = std::string(40, 'b');
  ASSERT_OK_AND_ASSIGN(EnqueueResult p1, store_->EnqueueRun(pinned));
  ASSERT_OK_AND_ASSIGN(EnqueueResult p2, store_->EnqueueRun(pinned));
  EXPECT_FALSE(p1.coalesced);
  EXPECT_FALSE(p2.coalesced);
  EXPECT_NE(p1.id, p2.id);

  // Once the queued run starts, the next trigger queues a new one.
  ASSERT_OK_AND_ASSIGN(bool claimed, store_->ClaimRun(first.id, 1'790'000'000'500));
  EXPECT_TRUE(claimed);
  ASSERT_OK_AND_ASSIGN(EnqueueResult third, store_->EnqueueRun(Queued("automation")));
  EXPECT_FALSE(third.coalesced);
  EXPECT_GT(third.id, first.id);

  ASSERT_OK_AND_ASSIGN(std::vector<RunRecord> queued, store_->QueuedRuns());
  std::vector<int64_t> ids;
  for (const auto& r : queued) ids.push_back(r.id);
  EXPECT_EQ(ids, (std::vector<int64_t>{other_env.id, ref.id, p1.id, p2.id, third.id}));  // oldest first
}

TEST_P(StoreTest, EnqueueRefusesARunThatIsNotQueued) {
  Result<EnqueueResult> r = store_->EnqueueRun(FullRun("automation", RunStatus::kRunning));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInternal);
}

TEST_P(StoreTest, EnqueueFromManyThreadsCoalescesIntoOneRun) {
  std::unique_ptr<Store> other = Connect();
  ASSERT_NE(other, nullptr);
  std::vector<std::thread> threads;
  std::vector<int64_t> ids(8);
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      Store& store = t % 2 ? *other : *store_;
      Result<EnqueueResult> r = store.EnqueueRun(Queued("automation"));
      if (!r.ok()) {
        ++failures;
        return;
      }
      ids[t] = r->id;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(std::set<int64_t>(ids.begin(), ids.end()).size(), 1u);
}

TEST_P(StoreTest, ClaimAndFinishQueuedRunOnlyMoveQueuedRuns) {
  ASSERT_OK_AND_ASSIGN(EnqueueResult a, store_->EnqueueRun(Queued("automation")));
  ASSERT_OK_AND_ASSIGN(EnqueueResult b, store_->EnqueueRun(Queued("sandbox")));

  ASSERT_OK_AND_ASSIGN(bool cancelled, store_->FinishQueuedRun(a.id, RunStatus::kCancelled, "cancelled by ops", 77));
  EXPECT_TRUE(cancelled);
  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(a.id));
  EXPECT_EQ(got.status, RunStatus::kCancelled);
  EXPECT_EQ(got.error, "cancelled by ops");
  EXPECT_EQ(got.finished_ms, 77);
  // A cancelled run can no longer be claimed, nor cancelled twice.
  ASSERT_OK_AND_ASSIGN(bool claimed, store_->ClaimRun(a.id, 80));
  EXPECT_FALSE(claimed);
  ASSERT_OK_AND_ASSIGN(cancelled, store_->FinishQueuedRun(a.id, RunStatus::kCancelled, "again", 90));
  EXPECT_FALSE(cancelled);
  ASSERT_OK_AND_ASSIGN(got, store_->GetRun(a.id));
  EXPECT_EQ(got.error, "cancelled by ops");

  ASSERT_OK_AND_ASSIGN(claimed, store_->ClaimRun(b.id, 99));
  EXPECT_TRUE(claimed);
  ASSERT_OK_AND_ASSIGN(got, store_->GetRun(b.id));
  EXPECT_EQ(got.status, RunStatus::kRunning);
  EXPECT_EQ(got.started_ms, 99);
  ASSERT_OK_AND_ASSIGN(cancelled, store_->FinishQueuedRun(b.id, RunStatus::kCancelled, "too late", 100));
  EXPECT_FALSE(cancelled);  // running: cancelling it is the runner's job

  EXPECT_EQ(store_->ClaimRun(424242, 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->FinishQueuedRun(424242, RunStatus::kCancelled, "", 1).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(store_->FinishQueuedRun(b.id, RunStatus::kRunning, "", 1).status().code(), StatusCode::kInternal);
  ASSERT_OK_AND_ASSIGN(std::vector<RunRecord> queued, store_->QueuedRuns());
  EXPECT_TRUE(queued.empty());
}

TEST_P(StoreTest, CountRunsGroupsByEnvironmentAndStatus) {
  ASSERT_OK(StatusOf(FinishNewRun(*store_, "automation", RunStatus::kSucceeded, true, "c1")));
  ASSERT_OK(StatusOf(FinishNewRun(*store_, "automation", RunStatus::kSucceeded, true, "c2")));
  ASSERT_OK(StatusOf(FinishNewRun(*store_, "automation", RunStatus::kFailed, false, "c3")));
  ASSERT_OK(StatusOf(store_->EnqueueRun(Queued("sandbox"))));
  ASSERT_OK_AND_ASSIGN(std::vector<RunCount> counts, store_->CountRuns());
  ASSERT_EQ(counts.size(), 3u);
  EXPECT_EQ(counts[0].environment, "automation");
  EXPECT_EQ(counts[0].status, RunStatus::kFailed);
  EXPECT_EQ(counts[0].count, 1);
  EXPECT_EQ(counts[1].status, RunStatus::kSucceeded);
  EXPECT_EQ(counts[1].count, 2);
  EXPECT_GT(counts[1].last_finished_ms, 0);
  EXPECT_EQ(counts[2].environment, "sandbox");
  EXPECT_EQ(counts[2].status, RunStatus::kQueued);
}

TEST_P(StoreTest, EnvironmentStateDefaultsThenRoundTrips) {
  ASSERT_OK_AND_ASSIGN(EnvironmentState state, store_->GetEnvironmentState("automation"));
  EXPECT_EQ(state.environment, "automation");
  EXPECT_FALSE(state.paused);
  EXPECT_EQ(state.held_run_id, 0);
  EXPECT_EQ(state.evaluated_commit, "");

  state.paused = true;
  state.held_run_id = 12;
  state.paused_by = "O'Brien";
  state.paused_ms = 1234;
  state.evaluated_commit = std::string(40, 'c');
  state.schedule_ms = 5678;
  ASSERT_OK(store_->PutEnvironmentState(state));
  EnvironmentState other;
  other.environment = "sandbox";
  ASSERT_OK(store_->PutEnvironmentState(other));

  std::unique_ptr<Store> second = Connect();
  ASSERT_NE(second, nullptr);
  ASSERT_OK_AND_ASSIGN(EnvironmentState got, second->GetEnvironmentState("automation"));
  EXPECT_TRUE(got.paused);
  EXPECT_EQ(got.held_run_id, 12);
  EXPECT_EQ(got.paused_by, "O'Brien");
  EXPECT_EQ(got.paused_ms, 1234);
  EXPECT_EQ(got.evaluated_commit, std::string(40, 'c'));
  EXPECT_EQ(got.schedule_ms, 5678);

  got.paused = false;
  got.held_run_id = 0;
  ASSERT_OK(second->PutEnvironmentState(got));  // replaces
  ASSERT_OK_AND_ASSIGN(std::vector<EnvironmentState> all, store_->ListEnvironmentStates());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].environment, "automation");
  EXPECT_FALSE(all[0].paused);
  EXPECT_EQ(all[0].evaluated_commit, std::string(40, 'c'));
  EXPECT_EQ(all[1].environment, "sandbox");
}

TEST_P(StoreTest, DriftStateRoundTripsAndClears) {
  ASSERT_OK_AND_ASSIGN(EnvironmentState state, store_->GetEnvironmentState("automation"));
  EXPECT_EQ(state.drift, "");
  EXPECT_EQ(state.drift_checked_ms, 0);
  state.drift = "Drifted";
  state.drift_reason = "make diff printed 3 lines";
  state.drift_checked_ms = 1'790'000'000'000;
  state.drift_run_id = 41;
  state.schedule_ms = 99;
  ASSERT_OK(store_->PutEnvironmentState(state));

  std::unique_ptr<Store> second = Connect();
  ASSERT_NE(second, nullptr);
  ASSERT_OK_AND_ASSIGN(EnvironmentState got, second->GetEnvironmentState("automation"));
  EXPECT_EQ(got.drift, "Drifted");
  EXPECT_EQ(got.drift_reason, "make diff printed 3 lines");
  EXPECT_EQ(got.drift_checked_ms, 1'790'000'000'000);
  EXPECT_EQ(got.drift_run_id, 41);
  EXPECT_EQ(got.schedule_ms, 99);

  got.drift = "";  // a clean check clears it
  got.drift_reason = "";
  got.drift_run_id = 42;
  ASSERT_OK(second->PutEnvironmentState(got));
  ASSERT_OK_AND_ASSIGN(std::vector<EnvironmentState> all, store_->ListEnvironmentStates());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].drift, "");
  EXPECT_EQ(all[0].drift_reason, "");
  EXPECT_EQ(all[0].drift_run_id, 42);
}

TEST_P(StoreTest, SignerAndContextSurviveUpdateFinishAndQueue) {
  RunRecord run = FullRun("automation", RunStatus::kQueued);
  run.settings_commit.clear();
  run.code_commit.clear();
  ASSERT_OK_AND_ASSIGN(EnqueueResult queued, store_->EnqueueRun(run));
  ASSERT_OK_AND_ASSIGN(std::vector<RunRecord> in_queue, store_->QueuedRuns());
  ASSERT_EQ(in_queue.size(), 1u);
  EXPECT_EQ(in_queue[0].signer, run.signer);
  EXPECT_EQ(in_queue[0].context_json, run.context_json);

  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(queued.id));
  got.status = RunStatus::kRunning;
  got.signer = "Bob <bob@example.com>";
  ASSERT_OK(store_->UpdateRun(got));
  got.status = RunStatus::kSucceeded;
  got.finished_ms = got.started_ms + 1;
  ASSERT_OK(store_->FinishRun(got, false));
  ASSERT_OK_AND_ASSIGN(RunRecord finished, store_->GetRun(queued.id));
  EXPECT_EQ(finished.signer, "Bob <bob@example.com>");
  EXPECT_EQ(finished.context_json, run.context_json);
}

TEST_P(StoreTest, TokensAreFoundByHashOnly) {
  TokenRecord token;
  token.name = "ci";
  token.role = TokenRole::kOperator;
  token.hash = std::string(64, 'e');
  token.created_ms = 42;
  ASSERT_OK_AND_ASSIGN(int64_t id, store_->CreateToken(token));
  EXPECT_GT(id, 0);
  ASSERT_OK_AND_ASSIGN(std::optional<TokenRecord> found, store_->FindToken(std::string(64, 'e')));
  ASSERT_TRUE(found.has_value());
  EXPECT_EQ(found->id, id);
  EXPECT_EQ(found->name, "ci");
  EXPECT_EQ(found->role, TokenRole::kOperator);
  EXPECT_EQ(found->created_ms, 42);
  ASSERT_OK_AND_ASSIGN(found, store_->FindToken(std::string(64, 'f')));
  EXPECT_FALSE(found.has_value());

  Result<int64_t> again = store_->CreateToken(token);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kAlreadyExists);

  token.hash = std::string(64, '1');
  token.role = TokenRole::kAdmin;
  ASSERT_OK_AND_ASSIGN(int64_t id2, store_->CreateToken(token));
  ASSERT_OK_AND_ASSIGN(std::vector<TokenRecord> all, store_->ListTokens());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[1].role, TokenRole::kAdmin);
  ASSERT_OK(store_->DeleteToken(id));
  EXPECT_EQ(store_->DeleteToken(id).code(), StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(all, store_->ListTokens());
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].id, id2);
}

TEST(TokenRoleTest, NamesRoundTrip) {
  for (TokenRole r : {TokenRole::kViewer, TokenRole::kOperator, TokenRole::kAdmin}) {
    TokenRole parsed = TokenRole::kViewer;
    EXPECT_TRUE(ParseTokenRole(TokenRoleName(r), &parsed));
    EXPECT_EQ(parsed, r);
  }
  TokenRole untouched = TokenRole::kOperator;
  EXPECT_FALSE(ParseTokenRole("root", &untouched));
  EXPECT_EQ(untouched, TokenRole::kOperator);
}

TEST_P(StoreTest, DuplicateDeliveriesAreRecordedOnce) {
  Delivery d;
  d.source = "github";
  d.delivery_id = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
  d.payload = R"({"commit":"abc"})";
  d.received_ms = 1'000'000;
  ASSERT_OK_AND_ASSIGN(bool fresh, store_->RecordDelivery(d, 86'400'000));
  EXPECT_TRUE(fresh);
  ASSERT_OK_AND_ASSIGN(fresh, store_->RecordDelivery(d, 86'400'000));
  EXPECT_FALSE(fresh);
  Delivery gitlab = d;
  gitlab.source = "gitlab";  // ids are unique per source only
  ASSERT_OK_AND_ASSIGN(fresh, store_->RecordDelivery(gitlab, 86'400'000));
  EXPECT_TRUE(fresh);

  ASSERT_OK_AND_ASSIGN(std::vector<Delivery> pending, store_->PendingDeliveries());
  ASSERT_EQ(pending.size(), 2u);
  EXPECT_EQ(pending[0].source, "github");
  EXPECT_EQ(pending[0].payload, d.payload);
  ASSERT_OK(store_->MarkDeliveryProcessed(pending[0].id, 1'000'500));
  EXPECT_EQ(store_->MarkDeliveryProcessed(9999, 1).code(), StatusCode::kNotFound);
  ASSERT_OK_AND_ASSIGN(pending, store_->PendingDeliveries());
  ASSERT_EQ(pending.size(), 1u);
  EXPECT_EQ(pending[0].source, "gitlab");

  // A processed delivery is still a duplicate while it is kept...
  ASSERT_OK_AND_ASSIGN(fresh, store_->RecordDelivery(d, 86'400'000));
  EXPECT_FALSE(fresh);
  // ...and forgotten once older than keep_ms.
  Delivery later = d;
  later.delivery_id = "another";
  later.received_ms = d.received_ms + 86'400'001;
  ASSERT_OK_AND_ASSIGN(fresh, store_->RecordDelivery(later, 86'400'000));
  EXPECT_TRUE(fresh);
  d.received_ms = later.received_ms;
  ASSERT_OK_AND_ASSIGN(fresh, store_->RecordDelivery(d, 86'400'000));
  EXPECT_TRUE(fresh);
}

TEST_P(StoreTest, FourThreadsOnOneStore) { Hammer({store_.get()}, 4, 25); }

TEST_P(StoreTest, FourThreadsOnTwoConnections) {
  std::unique_ptr<Store> other = Connect();
  ASSERT_NE(other, nullptr);
  Hammer({store_.get(), other.get()}, 4, 25);
}

}  // namespace
}  // namespace slipway
