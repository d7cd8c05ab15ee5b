// The Store test suite, shared by every implementation. For tests only.
//
// store_test.cc defines the tests (TEST_P on StoreTest); each implementation
// instantiates them with a factory for its databases, e.g.
//   INSTANTIATE_TEST_SUITE_P(Sqlite, StoreTest, ::testing::Values(SqliteParam()), StoreTestName);
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "store/store.h"
#include "util/status.h"

// ASSERT_OK(status or result), ASSERT_OK_AND_ASSIGN(lhs, result).
#ifndef ASSERT_OK
#define ASSERT_OK(expr)                                                     \
  do {                                                                      \
    const ::slipway::Status& assert_ok_status_ = ::slipway::StatusOf(expr); \
    ASSERT_TRUE(assert_ok_status_.ok()) << assert_ok_status_.ToString();    \
  } while (0)
#define EXPECT_OK(expr)                                                     \
  do {                                                                      \
    const ::slipway::Status& expect_ok_status_ = ::slipway::StatusOf(expr); \
    EXPECT_TRUE(expect_ok_status_.ok()) << expect_ok_status_.ToString();    \
  } while (0)
#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ASSERT_OK_AND_ASSIGN_IMPL(SLIPWAY_CONCAT(assert_ok_result_, __LINE__), lhs, expr)
#define ASSERT_OK_AND_ASSIGN_IMPL(tmp, lhs, expr)   \
  auto tmp = (expr);                                \
  ASSERT_TRUE(tmp.ok()) << tmp.status().ToString(); \
  lhs = std::move(tmp).value()
#endif

namespace slipway {

inline Status StatusOf(const Status& status) { return status; }
template <typename T>
Status StatusOf(const Result<T>& result) {
  return result.status();
}

// One fresh, empty database for one test.
class StoreTestDatabase {
 public:
  virtual ~StoreTestDatabase() = default;
  // Opens another Store on this database: a second connection, as a second
  // process (a CLI beside the daemon, another fleet node) would have.
  virtual Result<std::unique_ptr<Store>> Connect() = 0;
  // Checks the database's own consistency (SQLite: PRAGMA integrity_check).
  virtual Status CheckIntegrity() { return Status::Ok(); }
};

struct StoreTestParam {
  std::string name;  // "sqlite", "postgres": part of the test names
  std::function<std::unique_ptr<StoreTestDatabase>()> make_database;
  // When set and it returns a reason, the tests are skipped with it (e.g. no
  // PostgreSQL server could be started); SLIPWAY_REQUIRE_POSTGRES=1 (make
  // test) turns that into a failure.
  std::function<std::string()> unavailable;
};

std::string StoreTestName(const ::testing::TestParamInfo<StoreTestParam>& info);

class StoreTest : public ::testing::TestWithParam<StoreTestParam> {
 protected:
  // Makes a fresh database and connects store_ to it.
  void SetUp() override;
  // Closes every connection, then checks the database's integrity.
  void TearDown() override;

  // Another connection to the test's database; fails the test on error.
  std::unique_ptr<Store> Connect();

  std::unique_ptr<StoreTestDatabase> database_;
  std::unique_ptr<Store> store_;
};

}  // namespace slipway
