#include "bench/support/copy_peer.h"

#include "bench/support/bench_util.h"

namespace pg2bq::bench {

CopyOutFigures DiscardCopyOut(PGconn* conn, const std::string& copy_statement) {
  CopyOutFigures f;
  const auto t0 = Clock::now();
  PGresult* res = PQexec(conn, copy_statement.c_str());
  if (PQresultStatus(res) != PGRES_COPY_OUT) {
    PQclear(res);
    Die(copy_statement + ": " + PQerrorMessage(conn));
  }
  PQclear(res);
  char* buf = nullptr;
  int n;
  while ((n = PQgetCopyData(conn, &buf, 0)) > 0) {
    f.bytes += static_cast<std::uint64_t>(n);
    PQfreemem(buf);
  }
  if (n == -2) Die(copy_statement + ": " + PQerrorMessage(conn));
  bool failed = false;
  while ((res = PQgetResult(conn)) != nullptr) {
    failed = failed || PQresultStatus(res) != PGRES_COMMAND_OK;
    PQclear(res);
  }
  if (failed) Die(copy_statement + ": " + PQerrorMessage(conn));
  f.seconds = SecsSince(t0);
  return f;
}

}  // namespace pg2bq::bench
