// The fleet's store methods (issue 7; doc/fleet.md), in the shared suite:
// they run against SQLite and PostgreSQL alike (store_test.h).
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "store/store_test.h"

namespace slipway {
namespace {

// A pinned queued run (never coalesced).
RunRecord Pinned(const std::string& environment, int n) {
  RunRecord run;
  run.environment = environment;
  run.trigger = "manual";
  run.actor = "tester";
  run.status = RunStatus::kQueued;
  run.settings_commit = std::string(39, 'a') + std::to_string(n % 10);
  run.created_ms = 1'000 + n;
  return run;
}

NodeRecord Node(const std::string& id, int64_t heartbeat_ms) {
  NodeRecord node;
  node.id = id;
  node.address = "127.0.0.1:7070";
  node.version = "test";
  node.started_ms = heartbeat_ms;
  node.heartbeat_ms = heartbeat_ms;
  return node;
}

Status Finish(Store& store, RunRecord run) {
  run.status = RunStatus::kSucceeded;
  run.finished_ms = run.started_ms + 1;
  return store.FinishRun(run, false);
}

TEST_P(StoreTest, ClaimsFromManyThreadsTakeEachRunOnceAndOneRunPerEnvironment) {
  std::unique_ptr<Store> other = Connect();
  ASSERT_NE(other, nullptr);
  std::map<std::string, std::vector<int64_t>> queued;  // by environment, in order
  for (int i = 0; i < 12; ++i) {
    std::string env = "env-" + std::to_string(i % 4);
    ASSERT_OK_AND_ASSIGN(EnqueueResult r, store_->EnqueueRun(Pinned(env, i)));
    queued[env].push_back(r.id);
  }
  // Rounds: every thread claims until nothing is left, then the claimed
  // runs finish. No environment may be claimed twice within a round.
  std::vector<int64_t> claimed_all;
  for (int round = 0; round < 3; ++round) {
    std::mutex mu;
    std::vector<RunRecord> claimed;
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
      threads.emplace_back([&, t] {
        Store& store = t % 2 == 0 ? *store_ : *other;
        for (;;) {
          Result<std::optional<RunRecord>> run = store.ClaimNextRun("node-" + std::to_string(t), 5'000, {});
          if (!run.ok()) {
            ++failures;
            ADD_FAILURE() << run.status().ToString();
            return;
          }
          if (!run->has_value()) return;
          std::lock_guard lock(mu);
          claimed.push_back(**run);
        }
      });
    }
    for (auto& t : threads) t.join();
    ASSERT_EQ(failures.load(), 0);
    ASSERT_EQ(claimed.size(), 4u) << "round " << round;
    std::set<std::string> envs;
    for (const RunRecord& r : claimed) {
      EXPECT_TRUE(envs.insert(r.environment).second) << r.environment << " claimed twice at once";
      EXPECT_EQ(r.status, RunStatus::kRunning);
      EXPECT_EQ(r.started_ms, 5'000);
      // Oldest first within the environment.
      EXPECT_EQ(r.id, queued[r.environment][round]) << r.environment;
      claimed_all.push_back(r.id);
      ASSERT_OK(Finish(*store_, r));
    }
  }
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> none, store_->ClaimNextRun("node-0", 6'000, {}));
  EXPECT_FALSE(none.has_value());
  EXPECT_EQ(std::set<int64_t>(claimed_all.begin(), claimed_all.end()).size(), 12u);
}

TEST_P(StoreTest, ClaimSkipsBusyEnvironmentsAndOnesRunningElsewhere) {
  ASSERT_OK_AND_ASSIGN(EnqueueResult a, store_->EnqueueRun(Pinned("a", 1)));
  ASSERT_OK_AND_ASSIGN(EnqueueResult b, store_->EnqueueRun(Pinned("b", 2)));
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> got, store_->ClaimNextRun("n1", 1, {"a"}));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, b.id);
  // "b" runs (on n1): a second run of it waits even though n2 asks.
  ASSERT_OK_AND_ASSIGN(EnqueueResult b2, store_->EnqueueRun(Pinned("b", 3)));
  ASSERT_OK_AND_ASSIGN(got, store_->ClaimNextRun("n2", 2, {"a"}));
  EXPECT_FALSE(got.has_value());
  ASSERT_OK_AND_ASSIGN(got, store_->ClaimNextRun("n2", 2, {}));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->id, a.id);
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> owned, store_->OwnedRuns("n1", {a.id, b.id, b2.id}));
  EXPECT_EQ(owned, std::vector<int64_t>{b.id});
}

TEST_P(StoreTest, LostNodesRunsAreInterruptedAndTheOthersKept) {
  ASSERT_OK(store_->RegisterNode(Node("n1", 1'000)));
  ASSERT_OK(store_->RegisterNode(Node("n2", 1'000)));
  ASSERT_OK_AND_ASSIGN(EnqueueResult r1, store_->EnqueueRun(Pinned("a", 1)));
  ASSERT_OK_AND_ASSIGN(EnqueueResult r2, store_->EnqueueRun(Pinned("b", 2)));
  ASSERT_OK_AND_ASSIGN(EnqueueResult r3, store_->EnqueueRun(Pinned("c", 3)));
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> c1, store_->ClaimNextRun("n1", 1'100, {}));
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> c2, store_->ClaimNextRun("n2", 1'200, {}));
  ASSERT_TRUE(c1 && c2);
  ASSERT_EQ(c1->id, r1.id);
  StepRecord step;
  step.index = 0;
  step.name = "deploy";
  step.status = StepStatus::kRunning;
  ASSERT_OK(store_->PutStep(r1.id, step));
  ASSERT_OK_AND_ASSIGN(bool alive, store_->Heartbeat("n2", 5'000));
  EXPECT_TRUE(alive);
  ASSERT_OK_AND_ASSIGN(std::vector<NodeRecord> nodes, store_->ListNodes());
  ASSERT_EQ(nodes.size(), 2u);
  EXPECT_EQ(nodes[0].running_run_ids, std::vector<int64_t>{r1.id});

  ASSERT_OK_AND_ASSIGN(ReapResult reaped, store_->ReapLostNodes(6'000, 3'000));
  EXPECT_EQ(reaped.lost_nodes, std::vector<std::string>{"n1"});
  EXPECT_EQ(reaped.interrupted_run_ids, std::vector<int64_t>{r1.id});
  ASSERT_OK_AND_ASSIGN(RunRecord run, store_->GetRun(r1.id));
  EXPECT_EQ(run.status, RunStatus::kInterrupted);
  EXPECT_EQ(run.error.rfind("node lost: n1", 0), 0u) << run.error;
  EXPECT_EQ(run.finished_ms, 6'000);
  ASSERT_EQ(run.steps.size(), 1u);
  EXPECT_EQ(run.steps[0].status, StepStatus::kCancelled);
  ASSERT_OK_AND_ASSIGN(run, store_->GetRun(r2.id));
  EXPECT_EQ(run.status, RunStatus::kRunning);
  ASSERT_OK_AND_ASSIGN(run, store_->GetRun(r3.id));
  EXPECT_EQ(run.status, RunStatus::kQueued);

  // The lost node learns it at its next heartbeat, and owns nothing.
  ASSERT_OK_AND_ASSIGN(alive, store_->Heartbeat("n1", 6'500));
  EXPECT_FALSE(alive);
  ASSERT_OK_AND_ASSIGN(std::vector<int64_t> owned, store_->OwnedRuns("n1", {r1.id}));
  EXPECT_TRUE(owned.empty());
  ASSERT_OK_AND_ASSIGN(nodes, store_->ListNodes());
  ASSERT_EQ(nodes.size(), 1u);
  EXPECT_EQ(nodes[0].id, "n2");
  EXPECT_EQ(nodes[0].heartbeat_ms, 5'000);
  // Reaping again finds nothing; the environment is free for another node.
  ASSERT_OK_AND_ASSIGN(reaped, store_->ReapLostNodes(6'000, 3'000));
  EXPECT_TRUE(reaped.lost_nodes.empty());
  ASSERT_OK_AND_ASSIGN(EnqueueResult again, store_->EnqueueRun(Pinned("a", 4)));
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> c3, store_->ClaimNextRun("n2", 7'000, {}));
  ASSERT_TRUE(c3.has_value());
  EXPECT_EQ(c3->id, r3.id);
  ASSERT_OK_AND_ASSIGN(c3, store_->ClaimNextRun("n2", 7'000, {}));
  ASSERT_TRUE(c3.has_value());
  EXPECT_EQ(c3->id, again.id);
}

TEST_P(StoreTest, LeasesHaveOneHolderUntilTheyExpire) {
  ASSERT_OK_AND_ASSIGN(bool held, store_->AcquireLease("triggers:a", "n1", 1'000, 3'000));
  EXPECT_TRUE(held);
  ASSERT_OK_AND_ASSIGN(held, store_->AcquireLease("triggers:a", "n2", 2'000, 3'000));
  EXPECT_FALSE(held);
  ASSERT_OK_AND_ASSIGN(held, store_->AcquireLease("triggers:a", "n1", 3'500, 3'000));  // renewed to 6'500
  EXPECT_TRUE(held);
  ASSERT_OK_AND_ASSIGN(held, store_->AcquireLease("triggers:a", "n2", 5'000, 3'000));
  EXPECT_FALSE(held);
  ASSERT_OK_AND_ASSIGN(held, store_->AcquireLease("triggers:a", "n2", 7'000, 3'000));  // expired: taken over
  EXPECT_TRUE(held);
  ASSERT_OK_AND_ASSIGN(held, store_->AcquireLease("triggers:a", "n1", 7'100, 3'000));
  EXPECT_FALSE(held);
  ASSERT_OK(store_->ReleaseLease("triggers:a", "n1"));  // not n1's: nothing happens
  ASSERT_OK_AND_ASSIGN(std::vector<LeaseRecord> leases, store_->ListLeases());
  ASSERT_EQ(leases.size(), 1u);
  EXPECT_EQ(leases[0].holder, "n2");
  EXPECT_EQ(leases[0].expires_ms, 10'000);
  ASSERT_OK(store_->ReleaseLease("triggers:a", "n2"));
  ASSERT_OK_AND_ASSIGN(held, store_->AcquireLease("triggers:a", "n1", 7'200, 3'000));
  EXPECT_TRUE(held);
}

TEST_P(StoreTest, AScheduleSlotIsClaimedOnceAcrossConnections) {
  std::unique_ptr<Store> other = Connect();
  ASSERT_NE(other, nullptr);
  std::atomic<int> winners{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    threads.emplace_back([&, t] {
      Store& store = t % 2 == 0 ? *store_ : *other;
      Result<bool> won = store.ClaimScheduleSlot("nightly", 60'000, 86'400'000);
      if (!won.ok()) ADD_FAILURE() << won.status().ToString();
      if (won.ok() && *won) ++winners;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(winners.load(), 1);
  ASSERT_OK_AND_ASSIGN(bool next, store_->ClaimScheduleSlot("nightly", 120'000, 86'400'000));
  EXPECT_TRUE(next);
  ASSERT_OK_AND_ASSIGN(bool other_env, store_->ClaimScheduleSlot("weekly", 60'000, 86'400'000));
  EXPECT_TRUE(other_env);
}

TEST_P(StoreTest, StoredLogsReadFromAnyOffsetAndArePruned) {
  ASSERT_OK_AND_ASSIGN(EnqueueResult r, store_->EnqueueRun(Pinned("a", 1)));
  std::string binary("x\0y\xff", 4);
  ASSERT_OK(store_->AppendLog(r.id, 0, "hello "));
  ASSERT_OK(store_->AppendLog(r.id, 6, "world" + binary));
  ASSERT_OK(store_->AppendLog(r.id, 0, "HELLO "));  // a retried chunk: ignored
  ASSERT_OK_AND_ASSIGN(std::string all, store_->ReadLog(r.id, 0, 1 << 20));
  EXPECT_EQ(all, "hello world" + binary);
  ASSERT_OK_AND_ASSIGN(std::string part, store_->ReadLog(r.id, 3, 4));
  EXPECT_EQ(part, "lo w");
  ASSERT_OK_AND_ASSIGN(std::string end, store_->ReadLog(r.id, 15, 100));
  EXPECT_EQ(end, "");
  EXPECT_EQ(store_->AppendLog(999'999, 0, "x").code(), StatusCode::kNotFound);

  // Only logs of runs finished before the cut are pruned.
  ASSERT_OK_AND_ASSIGN(int pruned, store_->PruneLogs(1'000'000, 2'000'000));
  EXPECT_EQ(pruned, 0);  // still queued
  ASSERT_OK_AND_ASSIGN(bool done, store_->FinishQueuedRun(r.id, RunStatus::kCancelled, "", 500'000));
  ASSERT_TRUE(done);
  ASSERT_OK_AND_ASSIGN(pruned, store_->PruneLogs(400'000, 2'000'000));
  EXPECT_EQ(pruned, 0);
  ASSERT_OK_AND_ASSIGN(pruned, store_->PruneLogs(1'000'000, 2'000'000));
  EXPECT_EQ(pruned, 1);
  ASSERT_OK_AND_ASSIGN(all, store_->ReadLog(r.id, 0, 100));
  EXPECT_EQ(all, "");
}

TEST_P(StoreTest, LogRetentionMarksRunsFinishedBeforeTheCutAndKeepsTheirRecords) {
  constexpr int64_t kDay = 24 * 3600'000LL;
  const int64_t now = 400 * kDay;
  // Finished 100 and 10 days ago; one running since 100 days; one queued.
  ASSERT_OK_AND_ASSIGN(EnqueueResult old_run, store_->EnqueueRun(Pinned("a", 1)));
  ASSERT_OK_AND_ASSIGN(EnqueueResult recent, store_->EnqueueRun(Pinned("b", 2)));
  ASSERT_OK_AND_ASSIGN(EnqueueResult running, store_->EnqueueRun(Pinned("c", 3)));
  ASSERT_OK_AND_ASSIGN(EnqueueResult queued, store_->EnqueueRun(Pinned("d", 4)));
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> a, store_->ClaimNextRun("n1", now - 101 * kDay, {"b", "c", "d"}));
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> b, store_->ClaimNextRun("n1", now - 11 * kDay, {"a", "c", "d"}));
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> c, store_->ClaimNextRun("n1", now - 100 * kDay, {"a", "b", "d"}));
  ASSERT_TRUE(a && b && c);
  ASSERT_EQ(c->id, running.id);
  a->status = RunStatus::kFailed;
  a->finished_ms = now - 100 * kDay;
  ASSERT_OK(store_->FinishRun(*a, false));
  b->status = RunStatus::kSucceeded;
  b->finished_ms = now - 10 * kDay;
  ASSERT_OK(store_->FinishRun(*b, false));
  for (int64_t id : {old_run.id, recent.id, running.id}) ASSERT_OK(store_->AppendLog(id, 0, "output\n"));

  ASSERT_OK_AND_ASSIGN(int pruned, store_->PruneLogs(now - 90 * kDay, now));
  EXPECT_EQ(pruned, 1);
  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(old_run.id));
  EXPECT_EQ(got.log_pruned_ms, now);
  EXPECT_EQ(got.status, RunStatus::kFailed);  // the record stays
  ASSERT_OK_AND_ASSIGN(std::string log, store_->ReadLog(old_run.id, 0, 100));
  EXPECT_EQ(log, "");
  for (int64_t id : {recent.id, running.id, queued.id}) {
    ASSERT_OK_AND_ASSIGN(got, store_->GetRun(id));
    EXPECT_EQ(got.log_pruned_ms, 0) << "run " << id;
  }
  for (int64_t id : {recent.id, running.id}) {
    ASSERT_OK_AND_ASSIGN(log, store_->ReadLog(id, 0, 100));
    EXPECT_EQ(log, "output\n") << "run " << id;
  }
  // Idempotent: a second node pruning at the same time changes nothing.
  std::unique_ptr<Store> other = Connect();
  ASSERT_NE(other, nullptr);
  ASSERT_OK_AND_ASSIGN(pruned, other->PruneLogs(now - 90 * kDay, now + 1));
  EXPECT_EQ(pruned, 0);
  ASSERT_OK_AND_ASSIGN(got, store_->GetRun(old_run.id));
  EXPECT_EQ(got.log_pruned_ms, now);
  // A shorter retention later reaches the recent run too.
  ASSERT_OK_AND_ASSIGN(pruned, other->PruneLogs(now - 5 * kDay, now + 2));
  EXPECT_EQ(pruned, 1);
  ASSERT_OK_AND_ASSIGN(got, store_->GetRun(recent.id));
  EXPECT_EQ(got.log_pruned_ms, now + 2);
}

TEST_P(StoreTest, AReturningLostNodeCannotOverwriteTheInterruptedRun) {
  ASSERT_OK(store_->RegisterNode(Node("n1", 1'000)));
  ASSERT_OK_AND_ASSIGN(EnqueueResult r, store_->EnqueueRun(Pinned("a", 1)));
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> mine, store_->ClaimNextRun("n1", 1'100, {}));
  ASSERT_TRUE(mine.has_value());
  ASSERT_EQ(mine->id, r.id);
  // Another node declares n1 lost.
  std::unique_ptr<Store> other = Connect();
  ASSERT_NE(other, nullptr);
  ASSERT_OK_AND_ASSIGN(ReapResult reaped, other->ReapLostNodes(10'000, 3'000));
  ASSERT_EQ(reaped.interrupted_run_ids, std::vector<int64_t>{r.id});

  // n1 returns, stops its processes and records the end of its run as it
  // saw it: nothing is written, and it is told so.
  RunRecord late = *mine;
  late.status = RunStatus::kCancelled;
  late.error = "cancelled";
  late.finished_ms = 11'000;
  late.steps = {StepRecord{0, "deploy", StepStatus::kCancelled, std::nullopt, 1'100, 9'900}};
  Status finished = store_->FinishRun(late, true);
  EXPECT_EQ(finished.code(), StatusCode::kFailed) << finished.ToString();
  EXPECT_NE(finished.message().find("no longer running (it is interrupted)"), std::string::npos) << finished.ToString();
  // Nor may an update in between make it `running` again.
  RunRecord again = *mine;
  again.status = RunStatus::kRunning;
  again.workspace = "/ws";
  Status updated = store_->UpdateRun(again);
  EXPECT_EQ(updated.code(), StatusCode::kFailed) << updated.ToString();

  ASSERT_OK_AND_ASSIGN(RunRecord got, other->GetRun(r.id));
  EXPECT_EQ(got.status, RunStatus::kInterrupted);
  EXPECT_EQ(got.error.rfind("node lost: n1", 0), 0u) << got.error;
  EXPECT_EQ(got.finished_ms, 10'000);
  EXPECT_EQ(got.workspace, "");
  EXPECT_TRUE(got.steps.empty());
  ASSERT_OK_AND_ASSIGN(std::optional<Deployment> d, other->CurrentDeployment("a"));
  EXPECT_FALSE(d.has_value());
  // A final run's other fields may still change (the workspace is removed).
  got.workspace = "";
  got.exported_json = "{}";
  ASSERT_OK(store_->UpdateRun(got));
}

TEST_P(StoreTest, AFinishRunRepeatedAfterALostReplyIsOk) {
  ASSERT_OK_AND_ASSIGN(EnqueueResult r, store_->EnqueueRun(Pinned("a", 1)));
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> run, store_->ClaimNextRun("n1", 1'100, {}));
  ASSERT_TRUE(run.has_value());
  run->status = RunStatus::kSucceeded;
  run->finished_ms = 2'000;
  ASSERT_OK(store_->FinishRun(*run, true));
  ASSERT_OK(store_->FinishRun(*run, true));
  run->status = RunStatus::kFailed;  // but not a different end
  EXPECT_EQ(store_->FinishRun(*run, false).code(), StatusCode::kFailed);
  ASSERT_OK_AND_ASSIGN(RunRecord got, store_->GetRun(r.id));
  EXPECT_EQ(got.status, RunStatus::kSucceeded);
}

TEST_P(StoreTest, ACancelAskedOnAnyConnectionReachesTheOwningNode) {
  ASSERT_OK_AND_ASSIGN(EnqueueResult r, store_->EnqueueRun(Pinned("a", 1)));
  ASSERT_OK_AND_ASSIGN(EnqueueResult q, store_->EnqueueRun(Pinned("b", 2)));
  ASSERT_OK_AND_ASSIGN(std::optional<RunRecord> run, store_->ClaimNextRun("n1", 1'100, {"b"}));
  ASSERT_TRUE(run.has_value());
  std::unique_ptr<Store> other = Connect();  // the node the API call reached
  ASSERT_NE(other, nullptr);
  ASSERT_OK_AND_ASSIGN(std::vector<RunRecord> asked, store_->CancelRequests("n1"));
  EXPECT_TRUE(asked.empty());
  ASSERT_OK_AND_ASSIGN(bool recorded, other->RequestCancel(r.id, "alice", 5'000));
  EXPECT_TRUE(recorded);
  ASSERT_OK_AND_ASSIGN(recorded, other->RequestCancel(r.id, "bob", 6'000));  // the first request stays
  EXPECT_TRUE(recorded);
  ASSERT_OK_AND_ASSIGN(asked, store_->CancelRequests("n1"));
  ASSERT_EQ(asked.size(), 1u);
  EXPECT_EQ(asked[0].id, r.id);
  EXPECT_EQ(asked[0].cancel_requested_ms, 5'000);
  EXPECT_EQ(asked[0].cancel_requested_by, "alice");
  ASSERT_OK_AND_ASSIGN(asked, store_->CancelRequests("n2"));
  EXPECT_TRUE(asked.empty());
  // Only running runs take a request.
  ASSERT_OK_AND_ASSIGN(recorded, other->RequestCancel(q.id, "alice", 5'000));
  EXPECT_FALSE(recorded);
  EXPECT_EQ(other->RequestCancel(999'999, "alice", 5'000).status().code(), StatusCode::kNotFound);
  // The owner cancels; the request is answered.
  run->status = RunStatus::kCancelled;
  run->finished_ms = 7'000;
  ASSERT_OK(store_->FinishRun(*run, false));
  ASSERT_OK_AND_ASSIGN(asked, store_->CancelRequests("n1"));
  EXPECT_TRUE(asked.empty());
  ASSERT_OK_AND_ASSIGN(recorded, other->RequestCancel(r.id, "alice", 8'000));
  EXPECT_FALSE(recorded);
}

}  // namespace
}  // namespace slipway
