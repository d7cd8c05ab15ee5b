// Fleet mode (issue 7; doc/fleet.md): several `slipway serve` nodes share
// one PostgreSQL database and coordinate only through it.
//
// * Claiming: the dispatcher takes queued runs with Store::ClaimNextRun (FOR
//   UPDATE SKIP LOCKED; a unique index lets one deploy run per environment
//   be running across the fleet).
// * Liveness: the fleet thread heartbeats every heartbeat_ms, declares lost
//   the nodes silent for node_ttl_ms (their runs become `interrupted`), and
//   stops the processes of its own runs that another node declared lost.
// * Triggers: polling of an environment is owned by the holder of the lease
//   "triggers:ENV" (a fair share per node, failing over within one TTL); a
//   schedule occurrence fires on the first node that claims its slot.
// * Logs: the fleet thread copies each running run's new log bytes into the
//   database every kShipLogsMs, and a run's thread stores the last ones
//   before the run is marked final, so that any node can serve (and follow)
//   the whole log.
// * Cancel through any node: the API node records a request
//   (Store::RequestCancel); the node running the run sees it at its next
//   heartbeat and cancels as usual.
// * Outages: every database call of the fleet thread and the dispatcher is
//   retried with a backoff; nothing is acknowledged before it is stored.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "daemon/daemon.h"
#include "util/clock.h"
#include "util/fs.h"
#include "util/strings.h"

namespace slipway {

namespace {

constexpr const char* kNodeVersion = "0.1.0";
// Fired schedule slots are remembered this long (far longer than any clock
// skew between nodes).
constexpr int64_t kKeepScheduleSlotsMs = 7 * 24 * 3600'000LL;
// Log bytes copied into the database per call.
constexpr size_t kLogChunkBytes = 256 * 1024;
constexpr int64_t kMaxBackoffMs = 5'000;
// While a run writes output, its new bytes reach the database this often.
constexpr int64_t kShipLogsMs = 250;

std::string LeaseName(const std::string& environment) { return "triggers:" + environment; }

// Polling is the trigger that must run on one node only (schedules are
// decided per occurrence by ClaimScheduleSlot; webhooks by the inbox).
std::vector<std::string> LeasedEnvironments(const Config& config) {
  std::vector<std::string> names;
  for (const EnvironmentConfig& env : config.environments) {
    if (env.settings && env.triggers.push.enabled && env.triggers.push.poll_ms > 0) names.push_back(env.name);
  }
  return names;
}

// This node as it registers (at start, and again after it was declared lost).
NodeRecord NodeAt(const std::string& id, const std::string& address, int64_t now) {
  NodeRecord node;
  node.id = id;
  node.address = address;
  node.version = kNodeVersion;
  node.started_ms = now;
  node.heartbeat_ms = now;
  return node;
}

}  // namespace

std::string Daemon::node_id() const { return node_id_; }  // constant once Start returned

Result<std::vector<NodeRecord>> Daemon::Nodes() { return store_->ListNodes(); }

Status Daemon::FleetStart() {
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) std::snprintf(host, sizeof host, "node");
  int64_t now = NowMs();
  node_id_ = std::string(host) + ":" + std::to_string(getpid()) + ":" + std::to_string(now);
  SLIPWAY_RETURN_IF_ERROR(store_->RegisterNode(NodeAt(node_id_, options_.node_address, now)));
  LogEvent("fleet mode: node " + node_id_ + " registered; heartbeat every " + FormatDurationMs(options_.heartbeat_ms) +
           ", a node silent for " + FormatDurationMs(options_.node_ttl_ms) + " is declared lost");
  fleet_ = std::thread([this] { FleetLoop(); });
  return Status::Ok();
}

void Daemon::FleetStop() {
  {
    std::lock_guard lock(mu_);
    trigger_cv_.notify_all();
  }
  if (fleet_.joinable()) fleet_.join();
  ShipLogs();  // the last bytes of runs that ended during the shutdown
  Status removed = store_->RemoveNode(node_id_);
  if (!removed.ok()) LogEvent("cannot unregister node " + node_id_ + ": " + removed.message());
}

void Daemon::FleetLoop() {
  std::unique_lock lock(mu_);
  int64_t next_tick_ms = 0;  // monotonic
  // Heartbeats go on while runs drain during a shutdown: the node is alive.
  while (!(stopping_ && running_.empty())) {
    lock.unlock();
    if (MonotonicMs() >= next_tick_ms) {
      FleetTick(NowMs());
      int64_t wait_ms = options_.heartbeat_ms;
      if (int64_t down = store_down_since_ms_.load(); down != 0) {
        // Back off while the database is away: 2x per failure, at most 5 s.
        int64_t failures = std::min<int64_t>(store_failures_.load(), 6);
        wait_ms = std::min<int64_t>(kMaxBackoffMs, options_.heartbeat_ms << std::max<int64_t>(0, failures - 1));
        wait_ms = std::max<int64_t>(wait_ms, options_.heartbeat_ms);
      }
      next_tick_ms = MonotonicMs() + wait_ms;
    } else if (store_down_since_ms_.load() == 0) {
      ShipLogs();  // between heartbeats: followers on other nodes lag at most this much
    }
    lock.lock();
    int64_t sleep_ms = std::clamp<int64_t>(next_tick_ms - MonotonicMs(), 1, kShipLogsMs);
    trigger_cv_.wait_for(lock, std::chrono::milliseconds(sleep_ms), [&] { return stopping_ && running_.empty(); });
  }
}

void Daemon::FleetTick(int64_t now) {
  // The first failure is logged, then one line per 10 s of outage.
  static thread_local int64_t last_logged_ms = 0;
  static thread_local int64_t reap_not_before_ms = 0;
  auto failed = [&](const std::string& what, const Status& status) {
    ++store_failures_;
    int64_t expected = 0;
    bool first = store_down_since_ms_.compare_exchange_strong(expected, now);
    if (first || now - last_logged_ms >= 10'000) {
      last_logged_ms = now;
      LogEvent("fleet: " + what + " failed, retrying with backoff (database unavailable for " +
               FormatDurationMs(now - store_down_since_ms_.load()) + "): " + status.message());
    }
  };

  Result<bool> alive = store_->Heartbeat(node_id_, now);
  if (!alive.ok()) return failed("heartbeat", alive.status());
  if (int64_t down = store_down_since_ms_.exchange(0); down != 0) {
    LogEvent("fleet: the database is reachable again after " + FormatDurationMs(now - down));
    store_failures_ = 0;
    // Every node missed its heartbeats during the outage: give them one TTL
    // to come back before declaring anyone lost.
    reap_not_before_ms = now + options_.node_ttl_ms;
  }
  if (!*alive) {
    // Another node declared us lost: our runs are `interrupted` already and
    // another node may start their environments. Stop them, join again.
    std::vector<int64_t> stopped;
    {
      std::lock_guard lock(mu_);
      for (auto& [env, active] : running_) {
        active.cancel->Cancel();
        stopped.push_back(active.run_id);
      }
    }
    takeovers_ += static_cast<int64_t>(stopped.size());
    LogEvent("fleet: this node was declared lost (no heartbeat for " + FormatDurationMs(options_.node_ttl_ms) +
             "); stopping its " + std::to_string(stopped.size()) + " run(s) and registering again");
    if (Status s = store_->RegisterNode(NodeAt(node_id_, options_.node_address, now)); !s.ok()) {
      return failed("register again", s);
    }
  }

  // Runs of ours that another node took over while we could not heartbeat.
  std::vector<int64_t> mine;
  {
    std::lock_guard lock(mu_);
    for (const auto& [env, active] : running_) mine.push_back(active.run_id);
  }
  if (!mine.empty()) {
    Result<std::vector<int64_t>> owned = store_->OwnedRuns(node_id_, mine);
    if (!owned.ok()) return failed("check runs", owned.status());
    std::lock_guard lock(mu_);
    for (int64_t id : mine) {
      if (std::binary_search(owned->begin(), owned->end(), id)) continue;
      auto it = running_ids_.find(id);
      if (it == running_ids_.end()) continue;  // it just finished
      auto active = running_.find(it->second);
      if (active == running_.end() || active->second.run_id != id) continue;
      // Finished a moment ago (no longer `running`) or taken over: a cancel
      // is harmless for the former and required for the latter.
      Result<RunRecord> stored = store_->GetRun(id);
      if (stored.ok() && stored->status == RunStatus::kInterrupted) {
        active->second.cancel->Cancel();
        ++takeovers_;
        LogEvent("fleet: run " + std::to_string(id) + " was declared lost by another node; stopping its processes");
      }
    }
  }

  CancelRequested();

  if (now >= reap_not_before_ms) {
    Result<ReapResult> reaped = store_->ReapLostNodes(now, options_.node_ttl_ms);
    if (!reaped.ok()) return failed("reap lost nodes", reaped.status());
    for (const std::string& node : reaped->lost_nodes) LogEvent("fleet: node " + node + " declared lost");
    for (int64_t id : reaped->interrupted_run_ids) {
      LogEvent("fleet: run " + std::to_string(id) + " interrupted: its node was lost");
    }
    if (!reaped->interrupted_run_ids.empty()) {
      std::lock_guard lock(mu_);
      WakeDispatcher();  // their environments are free again
    }
  }

  // Leases: renew ours, take free ones up to a fair share, give up extras.
  std::shared_ptr<const Config> config = this->config();
  std::vector<std::string> wanted = LeasedEnvironments(*config);
  std::set<std::string> held;
  if (!wanted.empty()) {
    Result<std::vector<NodeRecord>> nodes = store_->ListNodes();
    if (!nodes.ok()) return failed("list nodes", nodes.status());
    size_t live = std::max<size_t>(1, nodes->size());
    size_t share = (wanted.size() + live - 1) / live;
    std::set<std::string> had;
    {
      std::lock_guard lock(mu_);
      had = leased_;
    }
    for (const std::string& name : wanted) {
      if (had.count(name) == 0) continue;
      if (held.size() >= share) {
        Status released = store_->ReleaseLease(LeaseName(name), node_id_);
        if (!released.ok()) return failed("release a lease", released);
        continue;
      }
      Result<bool> renewed = store_->AcquireLease(LeaseName(name), node_id_, now, options_.node_ttl_ms);
      if (!renewed.ok()) return failed("renew a lease", renewed.status());
      if (*renewed) held.insert(name);
    }
    for (const std::string& name : wanted) {
      if (held.size() >= share) break;
      if (held.count(name) > 0 || had.count(name) > 0) continue;
      Result<bool> taken = store_->AcquireLease(LeaseName(name), node_id_, now, options_.node_ttl_ms);
      if (!taken.ok()) return failed("take a lease", taken.status());
      if (*taken) held.insert(name);
    }
  }
  {
    std::lock_guard lock(mu_);
    if (held != leased_) {
      for (const std::string& name : held) {
        if (leased_.count(name) == 0) LogEvent("fleet: this node now polls '" + name + "'");
      }
      leased_ = held;
      SetPollTargets(*config_);
      trigger_cv_.notify_all();
    }
  }

  ShipLogs();
}

void Daemon::CancelRequested() {
  {
    std::lock_guard lock(mu_);
    if (running_.empty()) return;
  }
  // A failure is left to the heartbeat's outage reporting; the next tick asks again.
  Result<std::vector<RunRecord>> asked = store_->CancelRequests(node_id_);
  if (!asked.ok()) return;
  std::lock_guard lock(mu_);
  for (const RunRecord& run : *asked) {
    auto it = running_ids_.find(run.id);
    if (it == running_ids_.end()) continue;  // it just finished
    auto active = running_.find(it->second);
    if (active == running_.end() || active->second.run_id != run.id || active->second.cancel->cancelled()) continue;
    active->second.cancel->Cancel();
    LogEvent("run " + std::to_string(run.id) + " cancelled by " +
             (run.cancel_requested_by.empty() ? "someone" : run.cancel_requested_by) + " through another node");
  }
}

void Daemon::ShipLogs() {
  std::set<int64_t> running;
  {
    std::lock_guard lock(mu_);
    for (const auto& [env, active] : running_) running.insert(active.run_id);
  }
  std::lock_guard ship(ship_mu_);
  for (int64_t id : running) {
    ShippedLog& log = shipped_[id];
    if (log.path.empty()) {
      // Set once the run has opened its log (the pipeline records it).
      Result<RunRecord> run = store_->GetRun(id);
      if (!run.ok() || run->log_path.empty()) continue;
      log.path = run->log_path;
    }
    if (!ShipLogLocked(id, log)) return;  // the store is away: the next call resumes
  }
  // Runs that ended since the last call: their last bytes (normally stored
  // already, before the run was marked final), then they are forgotten.
  for (auto it = shipped_.begin(); it != shipped_.end();) {
    if (running.count(it->first) > 0) {
      ++it;
      continue;
    }
    if (!it->second.path.empty() && !ShipLogLocked(it->first, it->second)) return;
    it = shipped_.erase(it);
  }
}

bool Daemon::ShipLog(int64_t run_id, const std::string& log_path) {
  std::lock_guard ship(ship_mu_);
  ShippedLog& log = shipped_[run_id];
  if (log.path.empty()) log.path = log_path;
  return ShipLogLocked(run_id, log);
}

bool Daemon::ShipLogLocked(int64_t run_id, ShippedLog& log) {
  UniqueFd fd(::open(log.path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) return true;  // not written yet (or deleted): nothing to store
  std::string buf(kLogChunkBytes, '\0');
  for (;;) {
    ssize_t n = ::pread(fd.get(), buf.data(), buf.size(), log.offset);
    if (n <= 0) return true;
    Status appended = store_->AppendLog(run_id, log.offset, buf.substr(0, static_cast<size_t>(n)));
    if (!appended.ok()) {
      if (appended.code() == StatusCode::kNotFound) return true;  // the run is gone
      LogEvent("fleet: cannot store the log of run " + std::to_string(run_id) + ": " + appended.message());
      return false;
    }
    log.offset += n;
  }
}

void Daemon::StartFleetRunsLocked(const std::shared_ptr<const Config>& config, int max_parallel) {
  std::vector<std::string> busy;
  for (const auto& [env, active] : running_) busy.push_back(env);
  while (static_cast<int>(running_.size()) < max_parallel) {
    Result<std::optional<RunRecord>> claimed = store_->ClaimNextRun(node_id_, NowMs(), busy);
    if (!claimed.ok()) {
      // One line per 10 s of failures (the fleet loop reports the outage).
      static thread_local int64_t last_logged_ms = 0;
      if (int64_t now = NowMs(); now - last_logged_ms >= 10'000) {
        last_logged_ms = now;
        LogEvent("fleet: cannot claim a queued run (retrying): " + claimed.status().message());
      }
      return;
    }
    if (!claimed->has_value()) return;
    RunRecord run = std::move(**claimed);
    busy.push_back(run.environment);
    if (config->Find(run.environment) == nullptr) {
      run.status = RunStatus::kFailed;
      run.error = "environment '" + run.environment + "' is not in " + config->path + " on node " + node_id_;
      run.finished_ms = NowMs();
      Status s = store_->FinishRun(run, false);
      if (!s.ok()) LogEvent("cannot drop run " + std::to_string(run.id) + ": " + s.message());
      continue;
    }
    StartClaimedLocked(std::move(run), config);
  }
}

void Daemon::StartClaimedLocked(RunRecord run, const std::shared_ptr<const Config>& config) {
  Active& active = running_[run.environment];
  active.run_id = run.id;
  active.environment = run.environment;
  active.cancel = std::make_shared<CancelToken>();
  running_ids_[run.id] = run.environment;
  LogEvent("run " + std::to_string(run.id) + " of '" + run.environment + "' started on this node (" + run.trigger +
           (run.actor.empty() ? "" : " by " + run.actor) + ")");
  // The thread cannot finish before it is stored: it needs mu_ to end.
  active.thread = std::thread([this, run, config, cancel = active.cancel] { Execute(run, config, cancel); });
}

bool Daemon::ClaimScheduleSlot(const std::string& environment, int64_t slot_ms) {
  if (!options_.fleet) return true;
  Result<bool> claimed = store_->ClaimScheduleSlot(environment, slot_ms, kKeepScheduleSlotsMs);
  if (!claimed.ok()) {
    LogEvent("'" + environment +
             "': cannot claim the schedule occurrence; not fired here: " + claimed.status().message());
    return false;
  }
  return *claimed;
}

void Daemon::FleetMetrics(std::string* out) {
  size_t leases = 0;
  {
    std::lock_guard lock(mu_);
    leases = leased_.size();
  }
  *out +=
      "# HELP slipway_fleet_database_up 0 while this node cannot reach the database (it waits and retries).\n"
      "# TYPE slipway_fleet_database_up gauge\n"
      "slipway_fleet_database_up " +
      std::string(store_down_since_ms_.load() == 0 ? "1" : "0") +
      "\n"
      "# HELP slipway_fleet_database_failures Failed database calls of the fleet loop since the last success.\n"
      "# TYPE slipway_fleet_database_failures gauge\n"
      "slipway_fleet_database_failures " +
      std::to_string(store_failures_.load()) +
      "\n"
      "# HELP slipway_fleet_takeovers_total Runs of this node stopped because another node declared it lost.\n"
      "# TYPE slipway_fleet_takeovers_total counter\n"
      "slipway_fleet_takeovers_total " +
      std::to_string(takeovers_.load()) +
      "\n"
      "# HELP slipway_fleet_leases Environments whose polling this node owns.\n"
      "# TYPE slipway_fleet_leases gauge\n"
      "slipway_fleet_leases " +
      std::to_string(leases) + "\n";
}

}  // namespace slipway
