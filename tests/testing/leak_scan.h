// "Secrets never leak" (issue 9, doc/reliability.md): tests record the secret
// values they hand to the engine (tokens, webhook secrets, base credentials,
// secret values), and every TempDir keeps, when it is removed, the files the
// engine wrote into it (databases, run logs, daemon output) plus any API or
// SSE output a test captured. tests/e2e/leak_scan_test.cc, which ctest runs
// after every other test (FIXTURES_CLEANUP in CMakeLists.txt), looks for every
// recorded secret in every kept file. For tests only.
//
// Everything lives under LeakScanDir() = <build dir>/e2e-leak-scan:
//   secrets/<pid>.txt           one hex-encoded secret a line
//   kept/<Suite.Test>/<pid>-<n>/ the files kept from one TempDir or capture
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace slipway::testing {

// <build dir>/e2e-leak-scan (SLIPWAY_LEAK_SCAN_DIR overrides it).
std::string LeakScanDir();

// Records a value that must appear in no kept file. Values shorter than 8
// bytes are ignored (they would match by chance). Thread-safe.
void RecordSecret(std::string_view value);

// Copies what the engine wrote under `dir` (files named *.db, *.db-wal,
// *.db-shm, *.log, *.jsonl and everything under a `logs` folder; at most
// 64 MiB of each) to the kept area of the current test. Git repositories,
// mirrors and workspaces are skipped: they hold what tests wrote, not what
// the engine wrote. Called by ~TempDir().
void KeepForLeakScan(const std::string& dir);

// Keeps captured output (an API answer, an SSE stream) of the current test.
void KeepTextForLeakScan(const std::string& label, std::string_view text);

// Every secret recorded by any test process so far.
std::vector<std::string> RecordedSecrets();

struct LeakFinding {
  std::string file;    // path of the file holding the secret
  std::string secret;  // the secret, shortened for messages: "gith…(13 bytes)"
};
// Looks for each secret, as raw bytes, in every regular file under root.
std::vector<LeakFinding> ScanForSecrets(const std::string& root, const std::vector<std::string>& secrets,
                                        size_t* files_scanned = nullptr, size_t* bytes_scanned = nullptr);

}  // namespace slipway::testing
