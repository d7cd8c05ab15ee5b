// A Store that waits out a database outage: every call that fails with
// kNetwork (the server restarts, fails over, or cannot be reached) is
// retried with a backoff (100 ms doubling to 2 s) until it works, the
// deadline passes, or `give_up` says so. Fleet mode gives it to the
// pipeline, so that a run whose steps go on during a PostgreSQL restart
// records its steps and its end once the database is back (doc/fleet.md).
//
// A write whose reply was lost may have been applied: retrying CreateRun
// could then insert twice. Every other method is idempotent.
// Thread-safe as the wrapped store is.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "store/store.h"

namespace slipway {

class RetryingStore final : public Store {
 public:
  // `inner` must outlive this object. max_wait_ms bounds the wait of one
  // call; give_up (may be empty) is asked between attempts.
  RetryingStore(Store& inner, int64_t max_wait_ms, std::function<bool()> give_up = {});

  // Calls that failed with kNetwork and were retried, since construction.
  int64_t retries() const { return retries_.load(); }

  // Called before every attempt of FinishRun, with the run about to be
  // finished. Fleet mode stores the run's last log bytes there, so that a
  // run never reads as final on another node before its whole log is stored
  // (doc/fleet.md "Logs from any node"). Set it before the store is shared.
  void SetBeforeFinish(std::function<void(const RunRecord&)> hook) { before_finish_ = std::move(hook); }

  Result<int64_t> CreateRun(const RunRecord& run) override;
  Status UpdateRun(const RunRecord& run) override;
  Status PutStep(int64_t run_id, const StepRecord& step) override;
  Status UpdateRunAndSteps(const RunRecord& run) override;
  Status FinishRun(const RunRecord& run, bool deployed) override;
  Result<RunRecord> GetRun(int64_t id) override;
  Result<std::vector<RunRecord>> ListRuns(const RunFilter& filter) override;
  Result<std::optional<RunRecord>> LastRun(const std::string& environment) override;
  Result<std::optional<Deployment>> CurrentDeployment(const std::string& environment) override;
  Result<int64_t> NextBuildNumber(const std::string& environment) override;
  Result<int> InterruptRunning(const std::string& reason) override;
  Result<EnqueueResult> EnqueueRun(const RunRecord& run) override;
  Result<std::vector<RunRecord>> QueuedRuns() override;
  Result<bool> ClaimRun(int64_t id, int64_t started_ms) override;
  Result<bool> FinishQueuedRun(int64_t id, RunStatus status, const std::string& error, int64_t finished_ms) override;
  Result<std::vector<RunCount>> CountRuns() override;
  Result<EnvironmentState> GetEnvironmentState(const std::string& environment) override;
  Status PutEnvironmentState(const EnvironmentState& state) override;
  Result<std::vector<EnvironmentState>> ListEnvironmentStates() override;
  Result<int64_t> CreateToken(const TokenRecord& token) override;
  Result<std::optional<TokenRecord>> FindToken(const std::string& hash) override;
  Result<std::vector<TokenRecord>> ListTokens() override;
  Status DeleteToken(int64_t id) override;
  Result<bool> RecordDelivery(const Delivery& delivery, int64_t keep_ms) override;
  Result<std::vector<Delivery>> PendingDeliveries() override;
  Status MarkDeliveryProcessed(int64_t id, int64_t processed_ms) override;
  Status RegisterNode(const NodeRecord& node) override;
  Result<bool> Heartbeat(const std::string& node_id, int64_t now_ms) override;
  Result<std::vector<NodeRecord>> ListNodes() override;
  Status RemoveNode(const std::string& node_id) override;
  Result<std::optional<RunRecord>> ClaimNextRun(const std::string& node_id, int64_t started_ms,
                                                const std::vector<std::string>& busy) override;
  Result<std::vector<int64_t>> OwnedRuns(const std::string& node_id, const std::vector<int64_t>& run_ids) override;
  Result<ReapResult> ReapLostNodes(int64_t now_ms, int64_t ttl_ms) override;
  Result<bool> AcquireLease(const std::string& name, const std::string& holder, int64_t now_ms,
                            int64_t ttl_ms) override;
  Status ReleaseLease(const std::string& name, const std::string& holder) override;
  Result<std::vector<LeaseRecord>> ListLeases() override;
  Result<bool> ClaimScheduleSlot(const std::string& environment, int64_t slot_ms, int64_t keep_ms) override;
  Status AppendLog(int64_t run_id, int64_t offset, const std::string& data) override;
  Result<std::string> ReadLog(int64_t run_id, int64_t offset, int64_t max_bytes) override;
  Result<int> PruneLogs(int64_t before_ms, int64_t now_ms) override;
  Result<bool> RequestCancel(int64_t id, const std::string& actor, int64_t now_ms) override;
  Result<std::vector<RunRecord>> CancelRequests(const std::string& node_id) override;

 private:
  template <typename F>
  auto Retry(F call) -> decltype(call());

  Store& inner_;
  const int64_t max_wait_ms_;
  const std::function<bool()> give_up_;
  std::function<void(const RunRecord&)> before_finish_;
  std::atomic<int64_t> retries_{0};
};

}  // namespace slipway
