/*
 * linedb quickstart, in C: open a store in ./demo-data, create a database
 * and a token, write a batch, see the 400 answers to a batch with a bad
 * line and to one with a type conflict, query the data back, print the
 * store's status, close.
 *
 * Build and run against a debug build of the library (after `cargo build`):
 *
 *   make -C c-tests quickstart        (runs it in a temporary directory)
 *
 * or by hand, from the repository's root:
 *
 *   cc -std=c99 -Iinclude examples/quickstart.c -Ltarget/debug \
 *      -Wl,-rpath,$PWD/target/debug -llinedb -o quickstart && ./quickstart
 */
#include "linedb.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Prints each line a query delivers; returns 0 to go on. */
static int print_line(void *ctx, const char *line, size_t len) {
  unsigned long *n = (unsigned long *)ctx;
  (*n)++;
  /* line is not NUL-terminated and lives only during this call */
  printf("  %.*s\n", (int)len, line);
  return 0;
}

static uint16_t write_batch(linedb *db, const char *token, const char *lines) {
  linedb_result res;
  uint16_t status =
      linedb_write(db, "telemetry", token, lines, strlen(lines), LINEDB_PRECISION_SECOND, &res);
  if (status == 204) {
    printf("write: 204, %" PRIu64 " points stored\n", res.count);
  } else {
    printf("write: %u, line %" PRIu64 ": %s\n", (unsigned)status, res.error_line, res.message);
  }
  return status;
}

int main(void) {
  linedb *db = NULL;
  linedb_error err;
  linedb_options opts;
  linedb_result res;
  linedb_stats stats;
  linedb_field_type type;
  char token[LINEDB_TOKEN_BUF];
  unsigned long lines = 0;
  linedb_code code;
  int ok = 1;

  printf("linedb %s\n", linedb_version());

  linedb_options_init(&opts); /* defaults: tokens required, 1 GiB WAL bound */
  code = linedb_open("demo-data", &opts, &db, &err);
  if (code != LINEDB_OK) {
    fprintf(stderr, "open: %s: %s\n", linedb_code_name(code), err.message);
    return 1;
  }

  code = linedb_create_database(db, "telemetry", &err);
  if (code == LINEDB_ERR_ALREADY_EXISTS) {
    printf("database telemetry exists (an earlier run)\n");
  } else if (code != LINEDB_OK) {
    fprintf(stderr, "create database: %s: %s\n", linedb_code_name(code), err.message);
    ok = 0;
  }
  code = linedb_create_token(db, "telemetry", LINEDB_PERM_READ | LINEDB_PERM_WRITE, token,
                             sizeof token, &err);
  if (code != LINEDB_OK) {
    fprintf(stderr, "create token: %s: %s\n", linedb_code_name(code), err.message);
    linedb_close(db, NULL);
    return 1;
  }
  printf("token: %.8s... (keep it secret)\n", token);

  /* A good batch: timestamps in seconds. */
  ok &= write_batch(db, token,
                    "weather,station=oslo temp=4.5,humidity=81i 1700000000\n"
                    "weather,station=bergen temp=7.25,humidity=90i 1700000000\n"
                    "weather,station=oslo temp=4.0,humidity=83i 1700000060\n") == 204;
  /* A bad line rejects the whole batch: 400, nothing stored. */
  ok &= write_batch(db, token,
                    "weather,station=oslo temp=3.5 1700000120\n"
                    "weather,station=oslo temp=\n") == 400;
  /* humidity is an integer in this partition (measurement and day): a
     float is a type conflict, 400. */
  ok &= write_batch(db, token, "weather,station=tromso humidity=70.5 1700000180\n") == 400;
  /* Without a token: 401. */
  ok &= write_batch(db, NULL, "weather,station=oslo temp=1 1700000240\n") == 401;

  printf("query:\n");
  if (linedb_query(db, "telemetry", token, "weather", INT64_MIN, INT64_MAX, print_line, &lines,
                   &res) != 200) {
    fprintf(stderr, "query: %u %s\n", (unsigned)res.status, res.message);
    ok = 0;
  }
  printf("  (%lu lines)\n", lines);

  if (linedb_field_type_get(db, "telemetry", "weather", 1700000000LL * 1000000000LL, "humidity",
                            &type, &err) == LINEDB_OK) {
    printf("humidity is %s\n", type == LINEDB_FIELD_INTEGER ? "an integer" : "not an integer?");
  }

  stats.struct_size = sizeof stats;
  if (linedb_stats_get(db, &stats, &err) == LINEDB_OK) {
    printf("stats: %" PRIu64 " databases, %" PRIu64 " partitions, %" PRIu64
           " points, %" PRIu64 " WAL bytes, %" PRIu64 " segment bytes, %" PRIu64
           " writes accepted, %" PRIu64 " rejected, last sequence %" PRIu64 "\n",
           stats.databases, stats.partitions, stats.points, stats.wal_bytes, stats.segment_bytes,
           stats.writes_accepted, stats.writes_rejected, stats.last_sequence);
  }

  code = linedb_close(db, &err);
  if (code != LINEDB_OK) {
    fprintf(stderr, "close: %s: %s\n", linedb_code_name(code), err.message);
    ok = 0;
  }
  printf(ok ? "quickstart: ok\n" : "quickstart: FAILED\n");
  return ok ? 0 : 1;
}
