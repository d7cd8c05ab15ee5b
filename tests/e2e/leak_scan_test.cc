// "Secrets never leak" (issue 9, doc/reliability.md). The scan itself runs
// last: ctest's e2e_leak_scan test (CMakeLists.txt) runs
// LeakScanE2E.NoRecordedSecretInAnyKeptLogDatabaseOrApiOutput with
// SLIPWAY_LEAK_SCAN=1 after every other test (FIXTURES_CLEANUP), over what
// they kept (tests/testing/leak_scan.h). Run alone, without that variable, it
// is skipped.
#include "testing/leak_scan.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <iostream>
#include <memory>

#include "testing/testing.h"

namespace slipway {
namespace {

using slipway::testing::LeakFinding;
using slipway::testing::ScanForSecrets;

// The scanner can fail: a secret planted in each kind of kept file is found,
// through the same TempDir -> kept area path the e2e tests use.
TEST(LeakScan, FindsASecretPlantedInADatabaseALogAndCapturedOutput) {
  auto scan_root_holder = std::make_unique<slipway::testing::TempDir>();
  const slipway::testing::TempDir& scan_root = *scan_root_holder;
  setenv("SLIPWAY_LEAK_SCAN_DIR", scan_root.path().c_str(), 1);
  const std::string secret = "planted-secret-0123456789";
  slipway::testing::RecordSecret(secret);
  {
    slipway::testing::TempDir test_dir;
    slipway::testing::WriteTextFile(test_dir.Sub("state/slipway.db"), std::string("SQLite format 3\0x", 17) + secret);
    slipway::testing::WriteTextFile(test_dir.Sub("state/logs/prod/7"), "2026-11-26T12:00:00.000Z | " + secret + "\n");
    slipway::testing::WriteTextFile(test_dir.Sub("serve-1.log"), "clean\n");
    slipway::testing::WriteTextFile(test_dir.Sub("work/code/notes.db"), secret);  // a test's own repo: skipped
  }
  slipway::testing::KeepTextForLeakScan("api-answer.json", "{\"token\":\"" + secret + "\"}");
  std::vector<std::string> secrets = slipway::testing::RecordedSecrets();
  ASSERT_EQ(secrets, std::vector<std::string>{secret});
  size_t files = 0;
  std::vector<LeakFinding> found = ScanForSecrets(scan_root.Sub("kept"), secrets, &files);
  EXPECT_EQ(files, 4u);  // slipway.db, logs/prod/7, serve-1.log, api-answer.json
  ASSERT_EQ(found.size(), 3u);
  std::string where;
  for (const auto& f : found) where += f.file + "\n";
  EXPECT_NE(where.find("state/slipway.db"), std::string::npos) << where;
  EXPECT_NE(where.find("state/logs/prod/7"), std::string::npos) << where;
  EXPECT_NE(where.find("api-answer.json"), std::string::npos) << where;
  EXPECT_EQ(found[0].secret.find(secret), std::string::npos) << "the message must not repeat the secret";
  scan_root_holder.reset();  // while SLIPWAY_LEAK_SCAN_DIR still names it: nothing copied into itself
  unsetenv("SLIPWAY_LEAK_SCAN_DIR");
}

TEST(LeakScanE2E, NoRecordedSecretInAnyKeptLogDatabaseOrApiOutput) {
  const char* enabled = std::getenv("SLIPWAY_LEAK_SCAN");
  if (enabled == nullptr || std::string(enabled) != "1") {
    GTEST_SKIP() << "runs as ctest's e2e_leak_scan, after every other test";
  }
  std::vector<std::string> secrets = slipway::testing::RecordedSecrets();
  if (secrets.empty()) GTEST_SKIP() << "no test recorded a secret in " << slipway::testing::LeakScanDir();
  size_t files = 0, bytes = 0;
  std::vector<LeakFinding> found = ScanForSecrets(slipway::testing::LeakScanDir() + "/kept", secrets, &files, &bytes);
  std::cout << "leak scan: " << secrets.size() << " secrets in " << files << " files (" << bytes / 1024
            << " KiB) kept by the tests" << std::endl;
  RecordProperty("secrets", static_cast<int>(secrets.size()));
  RecordProperty("files", static_cast<int>(files));
  EXPECT_GT(files, 0u);
  for (const auto& f : found) ADD_FAILURE() << "secret " << f.secret << " found in " << f.file;
}

}  // namespace
}  // namespace slipway
