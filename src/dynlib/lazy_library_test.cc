#include "dynlib/lazy_library.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <string>

#include "dynlib/libcurl.h"
#include "dynlib/libpq.h"

namespace slipway {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(LazyLibraryTest, AMissingLibraryIsOneSentenceNamingWhatNeedsItAndThePackage) {
  LazyLibrary library("libslipway-no-such-library.so.5", "libslipway5", {"PQexec"});
  Status status = library.Load("PostgreSQL store");
  EXPECT_EQ(status.code(), StatusCode::kFailed);
  EXPECT_EQ(status.message(),
            "PostgreSQL store needs libslipway-no-such-library.so.5 (Debian package libslipway5): "
            "libslipway-no-such-library.so.5: cannot open shared object file: No such file or directory");
  // The outcome is kept; each caller names itself.
  EXPECT_EQ(library.Load("notifier").message(),
            "notifier needs libslipway-no-such-library.so.5 (Debian package libslipway5): "
            "libslipway-no-such-library.so.5: cannot open shared object file: No such file or directory");
}

TEST(LazyLibraryTest, AMissingFunctionFailsTheLoad) {
  LazyLibrary library("libc.so.6", "libc6", {"strlen", "slipway_no_such_function"});
  Status status = library.Load("the test");
  EXPECT_EQ(status.code(), StatusCode::kFailed);
  EXPECT_THAT(status.message(), StartsWith("the test needs libc.so.6 (Debian package libc6): "));
  EXPECT_THAT(status.message(), HasSubstr("undefined symbol: slipway_no_such_function"));
}

TEST(LazyLibraryTest, AFailedInitFailsTheLoad) {
  LazyLibrary library("libc.so.6", "libc6", {"strlen"},
                      [](const std::vector<void*>&) { return std::string("init refused"); });
  EXPECT_EQ(library.Load("the test").message(), "the test needs libc.so.6 (Debian package libc6): init refused");
}

TEST(LazyLibraryTest, ResolvesFunctionsAndRunsInitOnceWithTheirAddresses) {
  static int inits = 0;
  static void* seen = nullptr;
  LazyLibrary library("libc.so.6", "libc6", {"strlen"}, [](const std::vector<void*>& addresses) {
    ++inits;
    seen = addresses.at(0);
    return std::string();
  });
  ASSERT_TRUE(library.Load("the test").ok());
  ASSERT_TRUE(library.Load("the test").ok());
  EXPECT_EQ(inits, 1);
  auto strlen_fn = reinterpret_cast<size_t (*)(const char*)>(library.Symbol(0));
  EXPECT_EQ(seen, reinterpret_cast<void*>(strlen_fn));
  EXPECT_EQ(strlen_fn("slipway"), 7u);
}

TEST(LazyLibraryDeathTest, AFunctionCalledWithoutItsLibraryIsAnInternalError) {
  LazyLibrary library("libslipway-no-such-library.so.5", "libslipway5", {"PQexec"});
  EXPECT_DEATH(library.Symbol(0), "internal error: PQexec called without libslipway-no-such-library.so.5");
}

// This machine has both (make setup installs them), with every function
// that Slipway calls.
TEST(LazyLibraryTest, LibpqAndLibcurlLoadHere) {
  EXPECT_TRUE(LoadLibpq().ok()) << LoadLibpq().message();
  EXPECT_TRUE(LoadLibcurl("the test").ok()) << LoadLibcurl("the test").message();
}

}  // namespace
}  // namespace slipway
