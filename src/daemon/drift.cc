// Drift checks on a schedule (issue 8; doc/drift.md): `triggers.verify`, a
// cron expression per environment on its time zone, queues a drift check
// (Daemon::CheckDrift) of what is deployed. In a fleet each occurrence fires
// on one node only (ClaimScheduleSlot). A check missed while the engine was
// down runs once at start-up when the environment has `catch_up: true`.
#include <chrono>

#include "daemon/daemon.h"
#include "triggers/cron.h"
#include "util/clock.h"

namespace slipway {

namespace {

// The key of a drift check's occurrences in the fleet's schedule_fires table.
// '#' is not allowed in environment names, so it never collides with the
// environment's deploy schedule (keyed by the bare name).
std::string DriftSlotKey(const std::string& environment) { return environment + "#verify"; }

}  // namespace

void Daemon::DriftLoop() {
  struct Entry {
    CronSchedule cron;
    TimeZone tz;
    bool catch_up = false;
    int64_t next_ms = CronSchedule::kNever;
  };
  std::map<std::string, Entry> entries;
  uint64_t generation = 0;
  bool loaded = false;
  bool started = false;
  std::unique_lock lock(mu_);
  for (;;) {
    if (stopping_) return;
    if (!loaded || generation != config_generation_) {
      loaded = true;
      generation = config_generation_;
      entries.clear();
      int64_t now = NowMs();
      for (const EnvironmentConfig& env : config_->environments) {
        if (env.triggers.verify.empty()) continue;
        Result<CronSchedule> cron = ParseCron(env.triggers.verify);
        Result<TimeZone> tz = TimeZone::Load(env.triggers.tz);
        if (!cron.ok() || !tz.ok()) {
          LogEvent("'" + env.name +
                   "': drift checks disabled: " + (cron.ok() ? tz.status().message() : cron.status().message()));
          continue;
        }
        Entry e{*cron, *tz, env.triggers.catch_up};
        e.next_ms = e.cron.Next(now, e.tz);
        entries.emplace(env.name, std::move(e));
      }
    }
    if (!started) {
      // At start-up only (not at a reload): catch up on a check that an
      // outage missed, i.e. an occurrence after the last finished check.
      started = true;
      std::map<std::string, Entry> catch_up;
      for (const auto& [name, e] : entries) {
        if (e.catch_up) catch_up.emplace(name, e);
      }
      lock.unlock();
      int64_t start = NowMs();
      for (const auto& [name, e] : catch_up) {
        Result<EnvironmentState> state = store_->GetEnvironmentState(name);
        if (!state.ok()) {
          LogEvent("'" + name + "': cannot tell whether a drift check was missed: " + state.status().message());
          continue;
        }
        // drift_checked_ms is 0 when no check ever finished: nothing to catch up on.
        if (!e.cron.MissedSince(state->drift_checked_ms, start, e.tz)) continue;
        // The first missed occurrence: every node of a fleet that reads the
        // same last check names the same slot, so one of them runs it.
        if (!ClaimScheduleSlot(DriftSlotKey(name), e.cron.Next(state->drift_checked_ms, e.tz))) continue;
        Result<TriggerResult> r = CheckDrift(name, "schedule", "drift schedule (catch-up)");
        LogEvent(
            "'" + name + "': a drift check was missed while the engine was down; " +
            (r.ok() ? "catching up with run " + std::to_string(r->run_id) : "not caught up: " + r.status().message()));
      }
      lock.lock();
      continue;
    }
    int64_t now = NowMs();
    int64_t wake = now + 60'000;
    std::vector<std::pair<std::string, int64_t>> due;  // environment, occurrence
    for (auto& [name, e] : entries) {
      if (e.next_ms <= now) {
        due.emplace_back(name, e.next_ms);
        e.next_ms = e.cron.Next(now, e.tz);
      }
      wake = std::min(wake, e.next_ms);
    }
    if (!due.empty()) {
      lock.unlock();
      for (const auto& [name, slot_ms] : due) {
        // A fleet checks each occurrence once: on the first node to claim it.
        if (!ClaimScheduleSlot(DriftSlotKey(name), slot_ms)) continue;
        Result<TriggerResult> r = CheckDrift(name, "schedule", "drift schedule");
        if (!r.ok()) LogEvent("'" + name + "': scheduled drift check not queued: " + r.status().message());
      }
      lock.lock();
      continue;
    }
    trigger_cv_.wait_for(lock, std::chrono::milliseconds(std::max<int64_t>(wake - now, 10)));
  }
}

}  // namespace slipway
