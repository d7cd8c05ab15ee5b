// The schedule trigger: cron expressions per environment, evaluated on the
// environment's time zone (UTC unless `tz` is given). A schedule missed while
// the engine was down fires once at start-up when `catch_up: true`.
#include <algorithm>
#include <chrono>
#include <map>

#include "daemon/daemon.h"
#include "triggers/cron.h"
#include "util/clock.h"

namespace slipway {

namespace {

struct Entry {
  std::string environment;
  CronSchedule cron;
  TimeZone tz;
  bool catch_up = false;
};

// CheckDaemonConfig has accepted every expression and zone; one that fails
// here anyway (a zone file removed since) is logged and skipped.
std::vector<Entry> EntriesOf(const Config& config) {
  std::vector<Entry> entries;
  for (const EnvironmentConfig& env : config.environments) {
    if (env.triggers.schedule.empty()) continue;
    Result<TimeZone> tz = TimeZone::Load(env.triggers.tz);
    if (!tz.ok()) {
      LogEvent("'" + env.name + "': schedules disabled: " + tz.status().message());
      continue;
    }
    for (const std::string& text : env.triggers.schedule) {
      Result<CronSchedule> cron = ParseCron(text);
      if (!cron.ok()) {
        LogEvent("'" + env.name + "': schedule skipped: " + cron.status().message());
        continue;
      }
      entries.push_back(Entry{env.name, *cron, *tz, env.triggers.catch_up});
    }
  }
  return entries;
}

}  // namespace

void Daemon::ScheduleLoop() {
  std::unique_lock lock(mu_);
  uint64_t generation = config_generation_;
  std::shared_ptr<const Config> config = config_;
  lock.unlock();
  std::vector<Entry> entries = EntriesOf(*config);

  // At start-up: remember when we began (so that a later outage can be
  // caught up), and catch up on what an earlier outage missed.
  int64_t start = NowMs();
  std::set<std::string> seen;
  for (const Entry& e : entries) {
    if (!seen.insert(e.environment).second) continue;
    Result<EnvironmentState> state = store_->GetEnvironmentState(e.environment);
    if (!state.ok()) continue;
    bool missed = false, catch_up = false;
    int64_t missed_slot = CronSchedule::kNever;  // the first occurrence missed
    for (const Entry& other : entries) {
      if (other.environment == e.environment && other.catch_up) catch_up = true;
      if (other.environment == e.environment && other.catch_up &&
          other.cron.MissedSince(state->schedule_ms, start, other.tz)) {
        missed = true;
        missed_slot = std::min(missed_slot, other.cron.Next(state->schedule_ms, other.tz));
      }
    }
    // A fleet catches up once: nodes starting together read the same
    // schedule_ms, so they claim the same slot, which is also the slot a
    // live node claims when it fires that occurrence normally.
    if (missed && !ClaimScheduleSlot(e.environment, missed_slot)) {
      LogEvent("'" + e.environment + "': a missed schedule was caught up (or fired) by another node");
    } else if (catch_up && !missed && state->schedule_ms > 0) {
      LogEvent("'" + e.environment + "': no schedule occurrence to catch up on");
    } else if (missed) {
      TriggerRequest request;
      request.environment = e.environment;
      request.trigger = "schedule";
      request.actor = "schedule (catch-up)";
      Result<TriggerResult> r = Trigger(request);
      LogEvent(
          "'" + e.environment + "': a schedule was missed while the engine was down; " +
          (r.ok() ? "catching up with run " + std::to_string(r->run_id) : "not caught up: " + r.status().message()));
    }
    Status s = UpdateState(e.environment, [&](EnvironmentState& st) { st.schedule_ms = start; });
    if (!s.ok()) LogEvent("'" + e.environment + "': cannot record the schedule time: " + s.message());
  }

  int64_t checked_until = start;
  lock.lock();
  while (!stopping_) {
    if (config_generation_ != generation) {
      generation = config_generation_;
      config = config_;
      lock.unlock();
      entries = EntriesOf(*config);
      lock.lock();
    }
    int64_t now = NowMs();
    std::set<std::string> fired;
    std::map<std::string, int64_t> slots;  // the occurrence that fires, for ClaimScheduleSlot
    for (const Entry& e : entries) {
      if (fired.count(e.environment) > 0) continue;
      if (e.cron.Next(checked_until, e.tz) > now) continue;
      fired.insert(e.environment);
      slots[e.environment] = e.cron.Next(checked_until, e.tz);
    }
    if (!fired.empty()) {
      lock.unlock();
      for (const std::string& name : fired) {
        // A fleet fires each occurrence once: on the first node to claim it.
        if (!ClaimScheduleSlot(name, slots[name])) continue;
        TriggerRequest request;
        request.environment = name;
        request.trigger = "schedule";
        request.actor = "schedule";
        Result<TriggerResult> r = Trigger(request);
        if (!r.ok()) LogEvent("'" + name + "': schedule fired, nothing queued: " + r.status().message());
        Status s = UpdateState(name, [&](EnvironmentState& st) { st.schedule_ms = now; });
        if (!s.ok()) LogEvent("'" + name + "': cannot record the schedule time: " + s.message());
      }
      lock.lock();
    }
    checked_until = now;
    int64_t next = CronSchedule::kNever;
    next_schedule_.clear();
    for (const Entry& e : entries) {
      int64_t n = e.cron.Next(now, e.tz);
      next = std::min(next, n);
      auto [it, inserted] = next_schedule_.emplace(e.environment, n);
      if (!inserted) it->second = std::min(it->second, n);
    }
    int64_t wait_ms = next == CronSchedule::kNever ? 60'000 : std::clamp<int64_t>(next - NowMs(), 1, 60'000);
    trigger_cv_.wait_for(lock, std::chrono::milliseconds(wait_ms),
                         [&] { return stopping_ || config_generation_ != generation; });
  }
}

}  // namespace slipway
