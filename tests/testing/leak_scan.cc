#include "testing/leak_scan.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

namespace slipway::testing {
namespace {

namespace fs = std::filesystem;

constexpr uintmax_t kMaxKeptBytes = 64ull << 20;

std::string Hex(std::string_view s) {
  static const char* kDigits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 15]);
  }
  return out;
}

std::string Unhex(std::string_view s) {
  std::string out;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    out.push_back(static_cast<char>(std::stoi(std::string(s.substr(i, 2)), nullptr, 16)));
  return out;
}

std::string CurrentTestLabel() {
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  if (info == nullptr) return "outside-tests";
  return std::string(info->test_suite_name()) + "." + info->name();
}

std::string NewKeptDir() {
  static std::atomic<int> counter{0};
  return LeakScanDir() + "/kept/" + CurrentTestLabel() + "/" + std::to_string(getpid()) + "-" +
         std::to_string(++counter);
}

bool EngineWritten(const fs::path& rel) {
  std::string name = rel.filename().string();
  auto ends = [&](std::string_view suffix) { return name.size() >= suffix.size() && name.ends_with(suffix); };
  if (ends(".db") || ends(".db-wal") || ends(".db-shm") || ends(".log") || ends(".jsonl")) return true;
  for (const auto& part : rel.parent_path()) {
    if (part == "logs") return true;
  }
  return false;
}

void CopyPrefix(const fs::path& from, const fs::path& to) {
  std::ifstream in(from, std::ios::binary);
  std::ofstream out(to, std::ios::binary);
  std::vector<char> buffer(1 << 16);
  uintmax_t left = kMaxKeptBytes;
  while (left > 0 && in) {
    in.read(buffer.data(), static_cast<std::streamsize>(std::min<uintmax_t>(buffer.size(), left)));
    std::streamsize n = in.gcount();
    if (n <= 0) break;
    out.write(buffer.data(), n);
    left -= static_cast<uintmax_t>(n);
  }
}

}  // namespace

std::string LeakScanDir() {
  if (const char* dir = std::getenv("SLIPWAY_LEAK_SCAN_DIR"); dir != nullptr && *dir != '\0') return dir;
  return fs::path(SLIPWAY_BINARY).parent_path().string() + "/e2e-leak-scan";
}

void RecordSecret(std::string_view value) {
  if (value.size() < 8) return;
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  std::error_code ec;
  fs::create_directories(LeakScanDir() + "/secrets", ec);
  std::ofstream out(LeakScanDir() + "/secrets/" + std::to_string(getpid()) + ".txt", std::ios::app);
  out << Hex(value) << "\n";
}

void KeepForLeakScan(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  const std::string scan_dir = LeakScanDir();
  if (scan_dir.starts_with(dir) || dir.starts_with(scan_dir)) return;  // never copy the kept area into itself
  std::string kept;
  auto it = fs::recursive_directory_iterator(dir, fs::directory_options::skip_permission_denied, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& path = it->path();
    std::string name = path.filename().string();
    if (it->is_directory(ec) && !it->is_symlink(ec) &&
        (name == ".git" || name == "mirrors" || name == "workspaces" || name == "remotes" || name == "work" ||
         name.ends_with(".git"))) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file(ec) || it->is_symlink(ec)) continue;
    fs::path rel = fs::relative(path, dir, ec);
    if (ec || !EngineWritten(rel)) continue;
    if (kept.empty()) kept = NewKeptDir();
    fs::path to = fs::path(kept) / rel;
    fs::create_directories(to.parent_path(), ec);
    CopyPrefix(path, to);
  }
}

void KeepTextForLeakScan(const std::string& label, std::string_view text) {
  std::string kept = NewKeptDir();
  std::error_code ec;
  fs::create_directories(kept, ec);
  std::ofstream out(kept + "/" + label, std::ios::binary);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
}

std::vector<std::string> RecordedSecrets() {
  std::vector<std::string> secrets;
  std::error_code ec;
  for (auto it = fs::directory_iterator(LeakScanDir() + "/secrets", ec); !ec && it != fs::directory_iterator();
       it.increment(ec)) {
    std::ifstream in(it->path());
    std::string line;
    while (std::getline(in, line)) {
      if (!line.empty()) secrets.push_back(Unhex(line));
    }
  }
  std::sort(secrets.begin(), secrets.end());
  secrets.erase(std::unique(secrets.begin(), secrets.end()), secrets.end());
  return secrets;
}

std::vector<LeakFinding> ScanForSecrets(const std::string& root, const std::vector<std::string>& secrets,
                                        size_t* files_scanned, size_t* bytes_scanned) {
  std::vector<LeakFinding> findings;
  size_t files = 0, bytes = 0;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    std::ifstream in(it->path(), std::ios::binary);
    std::stringstream content;
    content << in.rdbuf();
    std::string data = content.str();
    ++files;
    bytes += data.size();
    for (const std::string& secret : secrets) {
      if (data.find(secret) != std::string::npos) {
        findings.push_back(
            {it->path().string(), secret.substr(0, 4) + "…(" + std::to_string(secret.size()) + " bytes)"});
      }
    }
  }
  if (files_scanned != nullptr) *files_scanned = files;
  if (bytes_scanned != nullptr) *bytes_scanned = bytes;
  return findings;
}

}  // namespace slipway::testing
