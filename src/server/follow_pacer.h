// Paces a live log follower while its run is still going (api_server.cc,
// GET /runs/ID/log?follow=1).
//
// A step can print hundreds of megabytes a second. Every byte a follower sends
// is read, framed as Server-Sent Events and copied into a socket by the
// daemon, and received by a reader that, in a small installation, shares the
// machine with the step: on two cores, two readers following at full speed
// took a quarter to a half of the step's throughput (bench/daemon, fan-out,
// readers in SCHED_IDLE and at nice 10). Nobody reads a log at that speed,
// and a browser cannot even show it, so a follower of a running run is sent
// at most `bytes_per_second` on average. It catches up at full speed once the
// run has ended; nothing is skipped.
//
//   FollowPacer pacer(kLiveFollowBytesPerSecond, kLiveFollowBurst, MonotonicMs());
//   if (int64_t wait = pacer.WaitMs(MonotonicMs()); wait > 0) sleep(wait) ...
//   send(chunk); pacer.Sent(chunk.size(), MonotonicMs());
#pragma once

#include <algorithm>
#include <cstdint>

namespace slipway {

class FollowPacer {
 public:
  // The budget starts full: a follower that connects gets `burst` bytes at
  // once (the lines it missed so far, or the first of them).
  FollowPacer(int64_t bytes_per_second, int64_t burst, int64_t now_ms)
      : rate_(bytes_per_second), burst_(burst), budget_(burst), last_ms_(now_ms) {}

  // How long to wait, from `now_ms`, before the next send: 0 when it may go now.
  int64_t WaitMs(int64_t now_ms) {
    Refill(now_ms);
    if (budget_ > 0) return 0;
    // Enough time for one byte of budget, rounded up: waking a millisecond
    // early would find none yet.
    return ((1 - budget_) * 1000 + rate_ - 1) / rate_;
  }

  // Records a send of `bytes`; a send may take the budget below zero (chunks
  // are not split), which the waits that follow pay back.
  void Sent(int64_t bytes, int64_t now_ms) {
    Refill(now_ms);
    budget_ -= bytes;
  }

 private:
  void Refill(int64_t now_ms) {
    if (now_ms <= last_ms_) return;
    budget_ = std::min(burst_, budget_ + (now_ms - last_ms_) * rate_ / 1000);
    last_ms_ = now_ms;
  }

  const int64_t rate_;
  const int64_t burst_;
  int64_t budget_;
  int64_t last_ms_;
};

}  // namespace slipway
