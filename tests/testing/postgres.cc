#include "testing/postgres.h"

#include <dirent.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <vector>

#include "testing/testing.h"

namespace slipway::testing {

namespace {

// The newest /usr/lib/postgresql/N/bin holding initdb, or "".
std::string FindBinDir() {
  if (const char* env = std::getenv("SLIPWAY_PG_BIN")) return env;
  std::vector<int> versions;
  if (DIR* d = opendir("/usr/lib/postgresql")) {
    while (dirent* e = readdir(d)) {
      int v = std::atoi(e->d_name);
      if (v > 0) versions.push_back(v);
    }
    closedir(d);
  }
  std::sort(versions.rbegin(), versions.rend());
  for (int v : versions) {
    std::string bin = "/usr/lib/postgresql/" + std::to_string(v) + "/bin";
    if (access((bin + "/initdb").c_str(), X_OK) == 0) return bin;
  }
  return "";
}

// PostgreSQL refuses to run as root: pick (or make) an unprivileged user.
std::string PickUser(std::string* why) {
  if (geteuid() != 0) return "";
  for (const char* name : {"postgres", "slipway-pg"}) {
    if (getpwnam(name) != nullptr) return name;
  }
  CommandResult made = Run({"useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", "slipway-pg"});
  if (made.exit_code != 0 && getpwnam("slipway-pg") == nullptr) {
    *why = "cannot create the user slipway-pg to run PostgreSQL: " + made.err;
    return "";
  }
  return "slipway-pg";
}

std::vector<std::string> As(const std::string& user, std::vector<std::string> argv) {
  if (user.empty()) return argv;
  argv.insert(argv.begin(), {"runuser", "-u", user, "--"});
  return argv;
}

bool Chown(const std::string& path, const std::string& user) {
  if (user.empty()) return true;
  const passwd* pw = getpwnam(user.c_str());
  return pw != nullptr && chown(path.c_str(), pw->pw_uid, pw->pw_gid) == 0;
}

// A data directory made by initdb once per machine, user and version:
// copying it takes a fraction of a second, initdb several.
std::string Template(const std::string& bin, const std::string& user, std::string* why) {
  std::string version = bin.substr(0, bin.rfind('/'));
  version = version.substr(version.rfind('/') + 1);
  std::string base = "/tmp/slipway-pg-template-" + version + "-" + (user.empty() ? std::to_string(geteuid()) : user);
  std::string data = base + "/data";
  int lock = open((base + ".lock").c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0600);
  if (lock < 0 || flock(lock, LOCK_EX) != 0) {
    *why = "cannot lock " + base + ".lock";
    if (lock >= 0) close(lock);
    return "";
  }
  if (access((data + "/PG_VERSION").c_str(), F_OK) != 0) {
    Run({"rm", "-rf", base});
    mkdir(base.c_str(), 0700);
    Chown(base, user);
    CommandResult init = Run(As(user, {bin + "/initdb", "-D", data + ".new", "-A", "trust", "-U", "slipway",
                                       "--no-sync", "-E", "UTF8", "--locale=C"}));
    if (init.exit_code != 0 || rename((data + ".new").c_str(), data.c_str()) != 0) {
      *why = "initdb failed: " + init.err;
      close(lock);
      return "";
    }
  }
  close(lock);
  return data;
}

}  // namespace

std::unique_ptr<PostgresServer> PostgresServer::Start(std::string* why) {
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->bin_dir_ = FindBinDir();
  if (server->bin_dir_.empty()) {
    *why = "PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb; `make setup` installs it)";
    return nullptr;
  }
  why->clear();
  server->user_ = PickUser(why);
  if (!why->empty()) return nullptr;
  std::string tmpl = Template(server->bin_dir_, server->user_, why);
  if (tmpl.empty()) return nullptr;
  char dir[] = "/tmp/slipway-pg-XXXXXX";
  if (mkdtemp(dir) == nullptr) {
    *why = "mkdtemp failed";
    return nullptr;
  }
  server->dir_ = dir;
  Chown(server->dir_, server->user_);
  CommandResult copy = Run(As(server->user_, {"cp", "-a", tmpl, server->dir_ + "/data"}));
  if (copy.exit_code != 0) {
    *why = "cannot copy the PostgreSQL template: " + copy.err;
    return nullptr;
  }
  server->port_ = FreePort();
  if (!server->Resume(why)) return nullptr;
  return server;
}

PostgresServer::~PostgresServer() {
  if (running_) {
    Run(As(user_, {bin_dir_ + "/pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"}));
  }
  if (!dir_.empty()) Run({"rm", "-rf", dir_});
}

std::string PostgresServer::Url(const std::string& database) const {
  return "postgresql://slipway@127.0.0.1:" + std::to_string(port_) + "/" + database;
}

bool PostgresServer::RunPgCtl(const std::string& action, std::string* why) {
  std::vector<std::string> argv = {bin_dir_ + "/pg_ctl", "-D", dir_ + "/data", "-w", "-t", "60"};
  if (action == "start") {
    argv.insert(argv.end(), {"-l", dir_ + "/server.log", "-o",
                             "-p " + std::to_string(port_) + " -k " + dir_ +
                                 " -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off"
                                 " -c full_page_writes=off -c max_connections=300"});
  } else {
    argv.insert(argv.end(), {"-m", "fast"});
  }
  argv.push_back(action);
  CommandResult r = Run(As(user_, argv));
  if (r.exit_code != 0) {
    *why = "pg_ctl " + action + " failed: " + r.err + r.out + " (log: " + dir_ + "/server.log)";
    return false;
  }
  return true;
}

bool PostgresServer::Pause(std::string* why) {
  if (!running_) return true;
  if (!RunPgCtl("stop", why)) return false;
  running_ = false;
  return true;
}

bool PostgresServer::Resume(std::string* why) {
  if (running_) return true;
  if (!RunPgCtl("start", why)) return false;
  running_ = true;
  return true;
}

namespace {

bool Psql(const PostgresServer& server, const std::string& sql, std::string* why) {
  CommandResult r = Run({"psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", server.Url("postgres"), "-c", sql});
  if (r.exit_code != 0) {
    *why = "psql '" + sql + "': " + r.err;
    return false;
  }
  return true;
}

}  // namespace

bool PostgresServer::CreateDatabase(const std::string& name, std::string* why) {
  return Psql(*this, "CREATE DATABASE \"" + name + "\"", why);
}

bool PostgresServer::DropDatabase(const std::string& name, std::string* why) {
  return Psql(*this, "DROP DATABASE IF EXISTS \"" + name + "\" WITH (FORCE)", why);
}

PostgresServer* SharedPostgres(std::string* why) {
  static std::string failure;
  static std::unique_ptr<PostgresServer> server = PostgresServer::Start(&failure);
  if (server == nullptr) *why = failure;
  return server.get();
}

std::string NewPostgresDatabaseUrl(std::string* why) {
  PostgresServer* server = SharedPostgres(why);
  if (server == nullptr) return "";
  static std::atomic<int> counter{0};
  std::string name = "test_" + std::to_string(getpid()) + "_" + std::to_string(++counter);
  if (!server->CreateDatabase(name, why)) return "";
  return server->Url(name);
}

bool PostgresRequired() {
  const char* required = std::getenv("SLIPWAY_REQUIRE_POSTGRES");
  return required != nullptr && std::string(required) == "1";
}

}  // namespace slipway::testing
