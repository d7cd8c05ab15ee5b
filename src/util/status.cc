#include "util/status.h"

namespace slipway {

const std::string& Status::message() const {
  static const std::string kEmpty;
  return rep_ ? rep_->message : kEmpty;
}

Status Status::WithContext(std::string_view context) const {
  if (ok()) return *this;
  return Status(code(), std::string(context) + ": " + rep_->message);
}

Status InvalidArgument(std::string message) { return {StatusCode::kInvalidArgument, std::move(message)}; }
Status NotFound(std::string message) { return {StatusCode::kNotFound, std::move(message)}; }
Status IoError(std::string message) { return {StatusCode::kIo, std::move(message)}; }
Status Timeout(std::string message) { return {StatusCode::kTimeout, std::move(message)}; }
Status Cancelled(std::string message) { return {StatusCode::kCancelled, std::move(message)}; }
Status NetworkError(std::string message) { return {StatusCode::kNetwork, std::move(message)}; }
Status Failed(std::string message) { return {StatusCode::kFailed, std::move(message)}; }
Status Internal(std::string message) { return {StatusCode::kInternal, "internal error: " + std::move(message)}; }

}  // namespace slipway
