// Why a write of a run was refused by its stored status: the sentences both
// backends give (store.h's UpdateRun and FinishRun), defined in store.cc.
#pragma once

#include <string>

#include "store/store.h"

namespace slipway {

// "run 12 is failed already; a final status is never changed (nothing written)"
std::string FinalStatusKeptMessage(const RunRecord& run, const std::string& stored_status);
// "run 12 is no longer running (it is interrupted); its end (cancelled) was not recorded"
std::string NoLongerRunningMessage(const RunRecord& run, const std::string& stored_status);

}  // namespace slipway
