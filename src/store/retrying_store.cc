#include "store/retrying_store.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

namespace slipway {

namespace {

const Status& StatusOf(const Status& status) { return status; }
template <typename T>
const Status& StatusOf(const Result<T>& result) {
  return result.status();
}

int64_t SteadyNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

RetryingStore::RetryingStore(Store& inner, int64_t max_wait_ms, std::function<bool()> give_up)
    : inner_(inner), max_wait_ms_(max_wait_ms), give_up_(std::move(give_up)) {}

template <typename F>
auto RetryingStore::Retry(F call) -> decltype(call()) {
  int64_t deadline = SteadyNowMs() + max_wait_ms_;
  int64_t backoff_ms = 100;
  for (;;) {
    auto result = call();
    if (StatusOf(result).code() != StatusCode::kNetwork) return result;
    if (SteadyNowMs() + backoff_ms > deadline || (give_up_ && give_up_())) return result;
    ++retries_;
    std::this_thread::sleep_for(std::chrono::milliseconds(backoff_ms));
    backoff_ms = std::min<int64_t>(backoff_ms * 2, 2000);
  }
}

Result<int64_t> RetryingStore::CreateRun(const RunRecord& run) {
  return Retry([&] { return inner_.CreateRun(run); });
}

Status RetryingStore::UpdateRun(const RunRecord& run) {
  return Retry([&] { return inner_.UpdateRun(run); });
}

Status RetryingStore::PutStep(int64_t run_id, const StepRecord& step) {
  return Retry([&] { return inner_.PutStep(run_id, step); });
}

Status RetryingStore::UpdateRunAndSteps(const RunRecord& run) {
  return Retry([&] { return inner_.UpdateRunAndSteps(run); });
}

Status RetryingStore::FinishRun(const RunRecord& run, bool deployed) {
  return Retry([&] {
    if (before_finish_) before_finish_(run);
    return inner_.FinishRun(run, deployed);
  });
}

Result<RunRecord> RetryingStore::GetRun(int64_t id) {
  return Retry([&] { return inner_.GetRun(id); });
}

Result<std::vector<RunRecord>> RetryingStore::ListRuns(const RunFilter& filter) {
  return Retry([&] { return inner_.ListRuns(filter); });
}

Result<std::optional<RunRecord>> RetryingStore::LastRun(const std::string& environment) {
  return Retry([&] { return inner_.LastRun(environment); });
}

Result<std::optional<Deployment>> RetryingStore::CurrentDeployment(const std::string& environment) {
  return Retry([&] { return inner_.CurrentDeployment(environment); });
}

Result<int64_t> RetryingStore::NextBuildNumber(const std::string& environment) {
  return Retry([&] { return inner_.NextBuildNumber(environment); });
}

Result<int> RetryingStore::InterruptRunning(const std::string& reason) {
  return Retry([&] { return inner_.InterruptRunning(reason); });
}

Result<EnqueueResult> RetryingStore::EnqueueRun(const RunRecord& run) {
  return Retry([&] { return inner_.EnqueueRun(run); });
}

Result<std::vector<RunRecord>> RetryingStore::QueuedRuns() {
  return Retry([&] { return inner_.QueuedRuns(); });
}

Result<bool> RetryingStore::ClaimRun(int64_t id, int64_t started_ms) {
  return Retry([&] { return inner_.ClaimRun(id, started_ms); });
}

Result<bool> RetryingStore::FinishQueuedRun(int64_t id, RunStatus status, const std::string& error,
                                            int64_t finished_ms) {
  return Retry([&] { return inner_.FinishQueuedRun(id, status, error, finished_ms); });
}

Result<std::vector<RunCount>> RetryingStore::CountRuns() {
  return Retry([&] { return inner_.CountRuns(); });
}

Result<EnvironmentState> RetryingStore::GetEnvironmentState(const std::string& environment) {
  return Retry([&] { return inner_.GetEnvironmentState(environment); });
}

Status RetryingStore::PutEnvironmentState(const EnvironmentState& state) {
  return Retry([&] { return inner_.PutEnvironmentState(state); });
}

Result<std::vector<EnvironmentState>> RetryingStore::ListEnvironmentStates() {
  return Retry([&] { return inner_.ListEnvironmentStates(); });
}

Result<int64_t> RetryingStore::CreateToken(const TokenRecord& token) {
  return Retry([&] { return inner_.CreateToken(token); });
}

Result<std::optional<TokenRecord>> RetryingStore::FindToken(const std::string& hash) {
  return Retry([&] { return inner_.FindToken(hash); });
}

Result<std::vector<TokenRecord>> RetryingStore::ListTokens() {
  return Retry([&] { return inner_.ListTokens(); });
}

Status RetryingStore::DeleteToken(int64_t id) {
  return Retry([&] { return inner_.DeleteToken(id); });
}

Result<bool> RetryingStore::RecordDelivery(const Delivery& delivery, int64_t keep_ms) {
  return Retry([&] { return inner_.RecordDelivery(delivery, keep_ms); });
}

Result<std::vector<Delivery>> RetryingStore::PendingDeliveries() {
  return Retry([&] { return inner_.PendingDeliveries(); });
}

Status RetryingStore::MarkDeliveryProcessed(int64_t id, int64_t processed_ms) {
  return Retry([&] { return inner_.MarkDeliveryProcessed(id, processed_ms); });
}

Status RetryingStore::RegisterNode(const NodeRecord& node) {
  return Retry([&] { return inner_.RegisterNode(node); });
}

Result<bool> RetryingStore::Heartbeat(const std::string& node_id, int64_t now_ms) {
  return Retry([&] { return inner_.Heartbeat(node_id, now_ms); });
}

Result<std::vector<NodeRecord>> RetryingStore::ListNodes() {
  return Retry([&] { return inner_.ListNodes(); });
}

Status RetryingStore::RemoveNode(const std::string& node_id) {
  return Retry([&] { return inner_.RemoveNode(node_id); });
}

Result<std::optional<RunRecord>> RetryingStore::ClaimNextRun(const std::string& node_id, int64_t started_ms,
                                                             const std::vector<std::string>& busy) {
  return Retry([&] { return inner_.ClaimNextRun(node_id, started_ms, busy); });
}

Result<std::vector<int64_t>> RetryingStore::OwnedRuns(const std::string& node_id, const std::vector<int64_t>& run_ids) {
  return Retry([&] { return inner_.OwnedRuns(node_id, run_ids); });
}

Result<ReapResult> RetryingStore::ReapLostNodes(int64_t now_ms, int64_t ttl_ms) {
  return Retry([&] { return inner_.ReapLostNodes(now_ms, ttl_ms); });
}

Result<bool> RetryingStore::AcquireLease(const std::string& name, const std::string& holder, int64_t now_ms,
                                         int64_t ttl_ms) {
  return Retry([&] { return inner_.AcquireLease(name, holder, now_ms, ttl_ms); });
}

Status RetryingStore::ReleaseLease(const std::string& name, const std::string& holder) {
  return Retry([&] { return inner_.ReleaseLease(name, holder); });
}

Result<std::vector<LeaseRecord>> RetryingStore::ListLeases() {
  return Retry([&] { return inner_.ListLeases(); });
}

Result<bool> RetryingStore::ClaimScheduleSlot(const std::string& environment, int64_t slot_ms, int64_t keep_ms) {
  return Retry([&] { return inner_.ClaimScheduleSlot(environment, slot_ms, keep_ms); });
}

Status RetryingStore::AppendLog(int64_t run_id, int64_t offset, const std::string& data) {
  return Retry([&] { return inner_.AppendLog(run_id, offset, data); });
}

Result<std::string> RetryingStore::ReadLog(int64_t run_id, int64_t offset, int64_t max_bytes) {
  return Retry([&] { return inner_.ReadLog(run_id, offset, max_bytes); });
}

Result<int> RetryingStore::PruneLogs(int64_t before_ms, int64_t now_ms) {
  return Retry([&] { return inner_.PruneLogs(before_ms, now_ms); });
}

Result<bool> RetryingStore::RequestCancel(int64_t id, const std::string& actor, int64_t now_ms) {
  return Retry([&] { return inner_.RequestCancel(id, actor, now_ms); });
}

Result<std::vector<RunRecord>> RetryingStore::CancelRequests(const std::string& node_id) {
  return Retry([&] { return inner_.CancelRequests(node_id); });
}

}  // namespace slipway
