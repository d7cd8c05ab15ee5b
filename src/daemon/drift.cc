// Drift checks on a schedule (issue 8; doc/drift.md): `triggers.verify`, a
// cron expression per environment on its time zone, queues a drift check
// (Daemon::CheckDrift) of what is deployed. A check missed while the engine
// was down is not caught up: the next one comes soon enough.
#include <chrono>

#include "daemon/daemon.h"
#include "triggers/cron.h"
#include "util/clock.h"

namespace slipway {

void Daemon::DriftLoop() {
  struct Entry {
    CronSchedule cron;
    TimeZone tz;
    int64_t next_ms = CronSchedule::kNever;
  };
  std::map<std::string, Entry> entries;
  uint64_t generation = 0;
  bool loaded = false;
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
        Entry e{*cron, *tz};
        e.next_ms = e.cron.Next(now, e.tz);
        entries.emplace(env.name, std::move(e));
      }
    }
    int64_t now = NowMs();
    int64_t wake = now + 60'000;
    std::vector<std::string> due;
    for (auto& [name, e] : entries) {
      if (e.next_ms <= now) {
        due.push_back(name);
        e.next_ms = e.cron.Next(now, e.tz);
      }
      wake = std::min(wake, e.next_ms);
    }
    if (!due.empty()) {
      lock.unlock();
      for (const std::string& name : due) {
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
