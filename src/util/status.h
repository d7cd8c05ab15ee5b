// Status and Result<T>: recoverable errors as values (see STYLE.md "Errors").
//
// A Status is either OK (allocates nothing) or carries a code and a one-line,
// lower-case message that quotes the object it is about, e.g.
//   open 'settings/deploy.yaml': No such file or directory
// No exception crosses a module boundary; code that calls a throwing library
// catches at that boundary and returns a Status.
#pragma once

#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace slipway {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad input from a user: config, refs, URLs, flags
  kNotFound,
  kAlreadyExists,
  kIo,       // an OS call failed
  kNoSpace,  // ENOSPC / EDQUOT
  kTimeout,
  kCancelled,
  kNetwork,  // a remote could not be reached or answered badly
  kPermissionDenied,
  kFailed,  // a command or step did not succeed
  kInternal,
};

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(StatusCode code, std::string message)
      : rep_(code == StatusCode::kOk ? nullptr : std::make_shared<Rep>(Rep{code, std::move(message)})) {}

  static Status Ok() { return Status(); }

  bool ok() const { return rep_ == nullptr; }
  StatusCode code() const { return rep_ ? rep_->code : StatusCode::kOk; }
  // Empty for OK.
  const std::string& message() const;
  // "message" for errors, "ok" for OK.
  std::string ToString() const { return ok() ? "ok" : rep_->message; }

  // Returns a copy whose message is "CONTEXT: message".
  Status WithContext(std::string_view context) const;

 private:
  struct Rep {
    StatusCode code;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;
};

Status InvalidArgument(std::string message);
Status NotFound(std::string message);
Status IoError(std::string message);
Status Timeout(std::string message);
Status Cancelled(std::string message);
Status NetworkError(std::string message);
Status Failed(std::string message);
Status Internal(std::string message);

// Result<T>: a T or an error Status. Access value() only when ok().
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}        // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & {
    assert(ok());
    return std::get<T>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<T>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<T>(std::move(v_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace slipway

// Early-return helpers. SLIPWAY_ASSIGN_OR_RETURN(auto x, Expr()) declares x.
#define SLIPWAY_RETURN_IF_ERROR(expr)                  \
  do {                                                 \
    ::slipway::Status slipway_status_ = (expr);        \
    if (!slipway_status_.ok()) return slipway_status_; \
  } while (0)

#define SLIPWAY_CONCAT_INNER(a, b) a##b
#define SLIPWAY_CONCAT(a, b) SLIPWAY_CONCAT_INNER(a, b)
#define SLIPWAY_ASSIGN_OR_RETURN(lhs, expr) \
  SLIPWAY_ASSIGN_OR_RETURN_IMPL(SLIPWAY_CONCAT(slipway_result_, __LINE__), lhs, expr)
#define SLIPWAY_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
