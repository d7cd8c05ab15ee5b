// OpenStore: the config's `database` names the backend (doc/fleet.md).
#include "store/postgres_store.h"
#include "store/sqlite_store.h"
#include "store/store.h"

namespace slipway {

bool IsPostgresUrl(const std::string& database) {
  return database.rfind("postgresql://", 0) == 0 || database.rfind("postgres://", 0) == 0;
}

Result<std::unique_ptr<Store>> OpenStore(const std::string& database, const std::string& sqlite_path) {
  if (database.empty() || database == "sqlite") return OpenSqliteStore(sqlite_path);
  if (IsPostgresUrl(database)) {
    SLIPWAY_ASSIGN_OR_RETURN(std::unique_ptr<PostgresStore> store, PostgresStore::Open(database));
    return std::unique_ptr<Store>(std::move(store));
  }
  return InvalidArgument("database: expected 'sqlite' or a postgresql:// URL, got '" + database + "'");
}

}  // namespace slipway
