// The libpq functions Slipway calls (postgres_store.cc and its test). They
// are defined here with <libpq-fe.h>'s own declarations, so the compiler
// checks each signature, and forward to libpq.so.5, loaded at first use.
#include "dynlib/libpq.h"

#include <libpq-fe.h>

#include "dynlib/lazy_library.h"

// X(name) for every libpq function defined below. A function used but not
// listed here fails to link (the binary does not link libpq).
#define SLIPWAY_LIBPQ_FUNCTIONS(X) \
  X(PQclear)                       \
  X(PQcmdTuples)                   \
  X(PQconnectdb)                   \
  X(PQconnectdbParams)             \
  X(PQerrorMessage)                \
  X(PQexec)                        \
  X(PQexecParams)                  \
  X(PQfinish)                      \
  X(PQgetisnull)                   \
  X(PQgetlength)                   \
  X(PQgetvalue)                    \
  X(PQntuples)                     \
  X(PQreset)                       \
  X(PQresultErrorField)            \
  X(PQresultErrorMessage)          \
  X(PQresultStatus)                \
  X(PQstatus)                      \
  X(PQtransactionStatus)

namespace slipway {

namespace {

enum LibpqFunction : size_t {
#define SLIPWAY_ENUM(name) k_##name,
  SLIPWAY_LIBPQ_FUNCTIONS(SLIPWAY_ENUM)
#undef SLIPWAY_ENUM
};

LazyLibrary& Libpq() {
#define SLIPWAY_NAME(name) #name,
  static LazyLibrary library(kLibpqSoname, "libpq5", {SLIPWAY_LIBPQ_FUNCTIONS(SLIPWAY_NAME)});
#undef SLIPWAY_NAME
  return library;
}

}  // namespace

Status LoadLibpq() { return Libpq().Load("PostgreSQL store"); }

}  // namespace slipway

// libpq's `name`, with its declared type.
#define SLIPWAY_PQ(name) reinterpret_cast<decltype(&::name)>(::slipway::Libpq().Symbol(::slipway::k_##name))

// Null is a no-op for these in libpq too; checked here so that destroying
// an empty handle never loads the library.
void PQclear(PGresult* res) {
  if (res != nullptr) SLIPWAY_PQ(PQclear)(res);
}
void PQfinish(PGconn* conn) {
  if (conn != nullptr) SLIPWAY_PQ(PQfinish)(conn);
}

char* PQcmdTuples(PGresult* res) { return SLIPWAY_PQ(PQcmdTuples)(res); }
PGconn* PQconnectdb(const char* conninfo) { return SLIPWAY_PQ(PQconnectdb)(conninfo); }
PGconn* PQconnectdbParams(const char* const* keywords, const char* const* values, int expand_dbname) {
  return SLIPWAY_PQ(PQconnectdbParams)(keywords, values, expand_dbname);
}
char* PQerrorMessage(const PGconn* conn) { return SLIPWAY_PQ(PQerrorMessage)(conn); }
PGresult* PQexec(PGconn* conn, const char* query) { return SLIPWAY_PQ(PQexec)(conn, query); }
PGresult* PQexecParams(PGconn* conn, const char* command, int nParams, const Oid* paramTypes,
                       const char* const* paramValues, const int* paramLengths, const int* paramFormats,
                       int resultFormat) {
  return SLIPWAY_PQ(PQexecParams)(conn, command, nParams, paramTypes, paramValues, paramLengths, paramFormats,
                                  resultFormat);
}
int PQgetisnull(const PGresult* res, int tup_num, int field_num) {
  return SLIPWAY_PQ(PQgetisnull)(res, tup_num, field_num);
}
int PQgetlength(const PGresult* res, int tup_num, int field_num) {
  return SLIPWAY_PQ(PQgetlength)(res, tup_num, field_num);
}
char* PQgetvalue(const PGresult* res, int tup_num, int field_num) {
  return SLIPWAY_PQ(PQgetvalue)(res, tup_num, field_num);
}
int PQntuples(const PGresult* res) { return SLIPWAY_PQ(PQntuples)(res); }
void PQreset(PGconn* conn) { SLIPWAY_PQ(PQreset)(conn); }
char* PQresultErrorField(const PGresult* res, int fieldcode) { return SLIPWAY_PQ(PQresultErrorField)(res, fieldcode); }
char* PQresultErrorMessage(const PGresult* res) { return SLIPWAY_PQ(PQresultErrorMessage)(res); }
ExecStatusType PQresultStatus(const PGresult* res) { return SLIPWAY_PQ(PQresultStatus)(res); }
ConnStatusType PQstatus(const PGconn* conn) { return SLIPWAY_PQ(PQstatus)(conn); }
PGTransactionStatusType PQtransactionStatus(const PGconn* conn) { return SLIPWAY_PQ(PQtransactionStatus)(conn); }
