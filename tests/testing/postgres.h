// A real PostgreSQL server for tests (issue 7): Debian's binaries
// (/usr/lib/postgresql/VERSION/bin), its own data directory, a free port on
// 127.0.0.1, run as a non-root user (`postgres`, or `slipway-pg` created on
// demand) when the tests run as root. For tests only.
#pragma once

#include <memory>
#include <string>

namespace slipway::testing {

class PostgresServer {
 public:
  // Initialises a data directory (copied from a template made once per
  // machine and PostgreSQL version) and starts the server. nullptr with
  // *why set when that is impossible (PostgreSQL not installed, ...).
  static std::unique_ptr<PostgresServer> Start(std::string* why);
  // Stops the server (immediate) and removes its data directory.
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  int port() const { return port_; }
  // postgresql://slipway@127.0.0.1:PORT/DATABASE
  std::string Url(const std::string& database) const;
  // CREATE / DROP DATABASE through psql; false with *why on failure.
  bool CreateDatabase(const std::string& name, std::string* why);
  bool DropDatabase(const std::string& name, std::string* why);
  // Stops the server (fast shutdown), keeping the data; Resume starts it
  // again on the same port. For outage tests.
  bool Pause(std::string* why);
  bool Resume(std::string* why);

 private:
  PostgresServer() = default;
  bool RunPgCtl(const std::string& action, std::string* why);

  std::string bin_dir_;
  std::string user_;  // "" when not root: run as ourselves
  std::string dir_;   // owns data/
  int port_ = 0;
  bool running_ = false;
};

// The server shared by every test of this binary, started on first use and
// stopped at exit; nullptr with *why when none can run.
PostgresServer* SharedPostgres(std::string* why);
// A fresh, empty database on the shared server; "" with *why when none.
std::string NewPostgresDatabaseUrl(std::string* why);
// Whether a test that finds no PostgreSQL server must fail instead of
// skipping: SLIPWAY_REQUIRE_POSTGRES=1, as `make test` sets.
bool PostgresRequired();

}  // namespace slipway::testing

// In a test body: declares `url`, a fresh database on the shared server. The
// test is skipped when no server can run (failed under PostgresRequired()).
#define SLIPWAY_NEW_POSTGRES_DATABASE_OR_SKIP(url)                         \
  std::string url;                                                         \
  {                                                                        \
    std::string why_no_server;                                             \
    if (::slipway::testing::SharedPostgres(&why_no_server) == nullptr) {   \
      if (::slipway::testing::PostgresRequired()) FAIL() << why_no_server; \
      GTEST_SKIP() << "no PostgreSQL server: " << why_no_server;           \
    }                                                                      \
    url = ::slipway::testing::NewPostgresDatabaseUrl(&why_no_server);      \
    ASSERT_FALSE(url.empty()) << why_no_server;                            \
  }
