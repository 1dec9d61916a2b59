/*
 * C-side tests of the whole C API of include/linedb.h (API.md): opening and
 * closing, every linedb_code, databases and tokens, every write status that
 * C can provoke, queries, status, struct_size compatibility, and concurrent
 * writers on one handle. Built against the shared and the static library,
 * and run under ASan/UBSan and valgrind (see Makefile). Each test works in
 * its own temporary directory and removes it. Prints "N passed, M failed"
 * last and exits non-zero on any failure.
 *
 * A status 500 (a failed store, a caught panic) and 503 while closing are
 * not reachable from C deterministically; src/ffi/tests.rs covers them.
 */
#define _XOPEN_SOURCE 700

#include "linedb.h"
#include "util.h"

#include <pthread.h>
#include <stddef.h>

#define DAY_NS 86400000000000LL

/* Opens a store in dir with the given flags and max_wal_bytes (0: default). */
static linedb *open_store(const char *dir, uint32_t flags, uint64_t max_wal_bytes) {
  linedb_options opts;
  linedb_error err;
  linedb *db = NULL;
  linedb_code code;
  linedb_options_init(&opts);
  opts.flags = flags;
  opts.max_wal_bytes = max_wal_bytes;
  code = linedb_open(dir, &opts, &db, &err);
  if (code != LINEDB_OK) {
    fprintf(stderr, "open %s: %s: %s\n", dir, linedb_code_name(code), err.message);
    return NULL;
  }
  return db;
}

static void close_store(linedb *db) {
  linedb_error err;
  CHECK_CODE(linedb_close(db, &err), LINEDB_OK);
}

static uint16_t write_text(linedb *db, const char *database, const char *token, const char *lines,
                           linedb_result *res) {
  return linedb_write(db, database, token, lines, strlen(lines), LINEDB_PRECISION_NANOSECOND, res);
}

/* ---- query helpers ------------------------------------------------------ */

struct collected {
  size_t lines;
  size_t stop_after; /* 0: never stop */
  char first[256];
  char last[256];
  int saw_nul_or_newline;
};

static int collect(void *ctx, const char *line, size_t len) {
  struct collected *c = (struct collected *)ctx;
  size_t n = len < sizeof c->last - 1 ? len : sizeof c->last - 1;
  if (memchr(line, '\n', len) != NULL || memchr(line, '\0', len) != NULL) c->saw_nul_or_newline = 1;
  memcpy(c->last, line, n);
  c->last[n] = '\0';
  if (c->lines == 0) memcpy(c->first, c->last, n + 1);
  c->lines++;
  return c->stop_after != 0 && c->lines >= c->stop_after;
}

static uint64_t count_lines(linedb *db, const char *database, const char *token) {
  struct collected c;
  linedb_result res;
  memset(&c, 0, sizeof c);
  CHECK_STATUS(linedb_query(db, database, token, NULL, INT64_MIN, INT64_MAX, collect, &c, &res), 200,
               res);
  CHECK(res.count == c.lines);
  return c.lines;
}

/* ---- tests ---------------------------------------------------------------- */

static void test_options_init(void) {
  linedb_options opts;
  memset(&opts, 0xAB, sizeof opts);
  linedb_options_init(&opts);
  CHECK(opts.struct_size == sizeof(linedb_options));
  CHECK(opts.flags == 0);
  CHECK(opts.max_wal_bytes == (uint64_t)1 << 30);
  CHECK(opts.max_columns_per_table == 250);
  CHECK(opts.max_tables_per_database == 500);
  CHECK(opts.max_batch_bytes == (uint64_t)10 << 20);
  linedb_options_init(NULL); /* no crash */
  CHECK(LINEDB_OPEN_NO_AUTH == 1);
  CHECK(LINEDB_PERM_READ == 1 && LINEDB_PERM_WRITE == 2);
  CHECK(LINEDB_TOKEN_BUF == 128);
}

static void test_open_errors(void) {
  char dir[4096], path[4200];
  linedb_error err;
  linedb *db = (linedb *)&err; /* must be set to NULL on failure */
  linedb *second = NULL;
  linedb_options opts;

  make_temp_dir(dir, sizeof dir);

  /* NULL arguments */
  CHECK_CODE(linedb_open(NULL, NULL, &db, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK(db == NULL);
  CHECK(err.code == LINEDB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "dir") != NULL);
  CHECK_CODE(linedb_open(dir, NULL, NULL, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_open(dir, NULL, NULL, NULL), LINEDB_ERR_INVALID_ARGUMENT);
  /* non-UTF-8 path */
  CHECK_CODE(linedb_open("/tmp/\xff\xfe", NULL, &db, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "UTF-8") != NULL);
  /* struct_size 0 and absurdly small */
  linedb_options_init(&opts);
  opts.struct_size = 0;
  CHECK_CODE(linedb_open(dir, &opts, &db, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "struct_size") != NULL);
  opts.struct_size = 4;
  CHECK_CODE(linedb_open(dir, &opts, &db, &err), LINEDB_ERR_INVALID_ARGUMENT);
  /* unknown flags */
  linedb_options_init(&opts);
  opts.flags = 0x80;
  CHECK_CODE(linedb_open(dir, &opts, &db, &err), LINEDB_ERR_INVALID_ARGUMENT);

  /* INVALID_ARGUMENT: an empty dir (it would be the working directory) and
     a dir that is a regular file; nothing is created */
  CHECK_CODE(linedb_open("", NULL, &db, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK(db == NULL);
  snprintf(path, sizeof path, "%s/plain", dir);
  CHECK(write_all(path, (const unsigned char *)"x", 1) == 0);
  CHECK_CODE(linedb_open(path, NULL, &db, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "not a directory") != NULL);

  /* IO: the parent is missing; a path under a regular file */
  snprintf(path, sizeof path, "%s/missing/store", dir);
  CHECK_CODE(linedb_open(path, NULL, &db, &err), LINEDB_ERR_IO);
  CHECK(err.code == LINEDB_ERR_IO);
  CHECK(strstr(err.message, "missing") != NULL);
  snprintf(path, sizeof path, "%s/file", dir);
  CHECK(write_all(path, (const unsigned char *)"x", 1) == 0);
  snprintf(path, sizeof path, "%s/file/store", dir);
  CHECK_CODE(linedb_open(path, NULL, &db, &err), LINEDB_ERR_IO);

  /* LOCKED: the same directory twice */
  snprintf(path, sizeof path, "%s/store", dir);
  CHECK_CODE(linedb_open(path, NULL, &db, &err), LINEDB_OK);
  CHECK(db != NULL);
  CHECK_CODE(linedb_open(path, NULL, &second, &err), LINEDB_ERR_LOCKED);
  CHECK(second == NULL);
  CHECK(err.code == LINEDB_ERR_LOCKED);
  CHECK(strstr(err.message, "store") != NULL);
  close_store(db);
  /* closed: the lock is released */
  CHECK_CODE(linedb_open(path, NULL, &second, NULL), LINEDB_OK);
  close_store(second);

  /* linedb_close(NULL) is a no-op */
  CHECK_CODE(linedb_close(NULL, NULL), LINEDB_OK);
  CHECK_CODE(linedb_close(NULL, &err), LINEDB_OK);

  remove_tree(dir);
}

static void test_null_handle(void) {
  linedb_error err;
  linedb_result res;
  linedb_stats stats;
  linedb_field_type type;
  char token[LINEDB_TOKEN_BUF];
  struct collected c;
  memset(&c, 0, sizeof c);
  stats.struct_size = sizeof stats;

  CHECK_CODE(linedb_create_database(NULL, "db", &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "NULL") != NULL);
  CHECK_CODE(linedb_create_token(NULL, "db", LINEDB_PERM_READ, token, sizeof token, &err),
             LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_revoke_token(NULL, "x", &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_stats_get(NULL, &stats, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_field_type_get(NULL, "db", "m", 0, "f", &type, &err),
             LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_checkpoint(NULL, NULL), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_STATUS(linedb_write(NULL, "db", NULL, "m f=1", 5, LINEDB_PRECISION_NANOSECOND, &res), 400,
               res);
  CHECK(res.status == 400 && strstr(res.message, "NULL") != NULL);
  CHECK_STATUS(linedb_write(NULL, "db", NULL, "m f=1", 5, LINEDB_PRECISION_NANOSECOND, NULL), 400,
               res);
  CHECK_STATUS(linedb_query(NULL, "db", NULL, NULL, 0, 1, collect, &c, &res), 400, res);
}

static void test_databases_and_tokens(void) {
  char dir[4096], long_name[80];
  char token[LINEDB_TOKEN_BUF], reader[LINEDB_TOKEN_BUF], all[LINEDB_TOKEN_BUF];
  char small[44];
  linedb_error err;
  linedb *db;
  size_t i;

  make_temp_dir(dir, sizeof dir);
  db = open_store(dir, 0, 0);
  CHECK(db != NULL);
  if (db == NULL) return;

  /* error untouched on success */
  memset(&err, 0, sizeof err);
  err.code = LINEDB_ERR_CORRUPT;
  strcpy(err.message, "sentinel");
  CHECK_CODE(linedb_create_database(db, "metrics", &err), LINEDB_OK);
  CHECK(err.code == LINEDB_ERR_CORRUPT && strcmp(err.message, "sentinel") == 0);

  CHECK_CODE(linedb_create_database(db, "metrics", &err), LINEDB_ERR_ALREADY_EXISTS);
  CHECK(err.code == LINEDB_ERR_ALREADY_EXISTS && strstr(err.message, "metrics") != NULL);
  CHECK_CODE(linedb_create_database(db, "metrics", NULL), LINEDB_ERR_ALREADY_EXISTS);
  CHECK_CODE(linedb_create_database(db, "", &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_create_database(db, "a/b", &err), LINEDB_ERR_INVALID_ARGUMENT);
  for (i = 0; i < 65; i++) long_name[i] = 'n';
  long_name[65] = '\0';
  CHECK_CODE(linedb_create_database(db, long_name, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_create_database(db, "\xc3\x28", &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "UTF-8") != NULL);
  CHECK_CODE(linedb_create_database(db, NULL, &err), LINEDB_ERR_INVALID_ARGUMENT);

  /* tokens */
  memset(token, 'x', sizeof token);
  CHECK_CODE(linedb_create_token(db, "metrics", LINEDB_PERM_READ | LINEDB_PERM_WRITE, token,
                                 sizeof token, &err),
             LINEDB_OK);
  CHECK(strlen(token) == 44 && strncmp(token, "ldb_", 4) == 0);
  CHECK(token[45] == 'x'); /* nothing written past the NUL */
  CHECK_CODE(linedb_create_token(db, "metrics", LINEDB_PERM_READ, reader, 45, &err), LINEDB_OK);
  CHECK(strlen(reader) == 44 && strcmp(reader, token) != 0);
  CHECK_CODE(linedb_create_token(db, "*", LINEDB_PERM_WRITE, all, sizeof all, NULL), LINEDB_OK);
  /* too small a buffer: nothing created, buffer untouched */
  memset(small, 'y', sizeof small);
  CHECK_CODE(linedb_create_token(db, "metrics", LINEDB_PERM_READ, small, sizeof small, &err),
             LINEDB_ERR_INVALID_ARGUMENT);
  CHECK(small[0] == 'y' && strstr(err.message, "token_out_len") != NULL);
  CHECK_CODE(linedb_create_token(db, "metrics", LINEDB_PERM_READ, NULL, 128, &err),
             LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_create_token(db, "metrics", 0, token + 64, 64, &err),
             LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_create_token(db, "metrics", 4, token + 64, 64, &err),
             LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_create_token(db, "a/b", LINEDB_PERM_READ, token + 64, 64, &err),
             LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_create_token(db, NULL, LINEDB_PERM_READ, token + 64, 64, &err),
             LINEDB_ERR_INVALID_ARGUMENT);

  /* revoke */
  CHECK_CODE(linedb_revoke_token(db, "not a token", &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_revoke_token(db, NULL, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_revoke_token(db, "ldb_0000000000000000000000000000000000000000", &err),
             LINEDB_ERR_NOT_FOUND);
  CHECK(err.code == LINEDB_ERR_NOT_FOUND);
  CHECK_CODE(linedb_revoke_token(db, reader, &err), LINEDB_OK);
  CHECK_CODE(linedb_revoke_token(db, reader, &err), LINEDB_ERR_NOT_FOUND);

  close_store(db);
  remove_tree(dir);
}

static void test_write_statuses(void) {
  char dir[4096];
  char rw[LINEDB_TOKEN_BUF], ro[LINEDB_TOKEN_BUF], wo[LINEDB_TOKEN_BUF], other[LINEDB_TOKEN_BUF];
  char star[LINEDB_TOKEN_BUF];
  char *long_line;
  linedb_result res;
  linedb *db;
  size_t i;

  make_temp_dir(dir, sizeof dir);
  db = open_store(dir, 0, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK_CODE(linedb_create_database(db, "metrics", NULL), LINEDB_OK);
  CHECK_CODE(linedb_create_token(db, "metrics", LINEDB_PERM_READ | LINEDB_PERM_WRITE, rw, sizeof rw,
                                 NULL),
             LINEDB_OK);
  CHECK_CODE(linedb_create_token(db, "metrics", LINEDB_PERM_READ, ro, sizeof ro, NULL), LINEDB_OK);
  CHECK_CODE(linedb_create_token(db, "metrics", LINEDB_PERM_WRITE, wo, sizeof wo, NULL), LINEDB_OK);
  CHECK_CODE(linedb_create_token(db, "other", LINEDB_PERM_WRITE, other, sizeof other, NULL),
             LINEDB_OK);
  CHECK_CODE(linedb_create_token(db, "*", LINEDB_PERM_READ | LINEDB_PERM_WRITE, star, sizeof star,
                                 NULL),
             LINEDB_OK);

  /* 204 */
  memset(&res, 0x55, sizeof res);
  CHECK_STATUS(write_text(db, "metrics", rw, "cpu,host=a usage=1.5 1000\ncpu,host=b usage=2 1000\n",
                          &res),
               204, res);
  CHECK(res.status == 204 && res.count == 2 && res.error_line == 0 && res.retry_after_secs == 0);
  CHECK(res.message[0] == '\0');
  CHECK_STATUS(write_text(db, "metrics", wo, "cpu,host=c usage=3 2000", NULL), 204, res);
  /* an empty batch, and one of only comments and blank lines: 204, count 0 */
  CHECK_STATUS(linedb_write(db, "metrics", rw, NULL, 0, LINEDB_PRECISION_NANOSECOND, &res), 204, res);
  CHECK(res.count == 0);
  CHECK_STATUS(write_text(db, "metrics", rw, "# comment\n\n  \n", &res), 204, res);
  CHECK(res.count == 0);
  /* precisions */
  CHECK_STATUS(linedb_write(db, "metrics", rw, "prec v=1 3", 10, LINEDB_PRECISION_SECOND, &res), 204,
               res);
  CHECK_STATUS(linedb_write(db, "metrics", rw, "prec v=1 3", 10, LINEDB_PRECISION_MILLISECOND, &res),
               204, res);
  CHECK_STATUS(linedb_write(db, "metrics", rw, "prec v=1 3", 10, LINEDB_PRECISION_MICROSECOND, &res),
               204, res);

  /* 400: the first bad line, quoted, with its number */
  CHECK_STATUS(write_text(db, "metrics", rw, "cpu,host=a usage=1 3000\ncpu,host=a usage= 3000\nbad\n",
                          &res),
               400, res);
  CHECK(res.status == 400 && res.error_line == 2 && res.count == 0);
  CHECK(strstr(res.message, "cpu,host=a usage= 3000") != NULL);
  /* 400: a type conflict with a stored point (same partition), and in the batch */
  CHECK_STATUS(write_text(db, "metrics", rw, "cpu,host=z usage=1 5000\ncpu,host=a usage=7i 4000", &res),
               400, res);
  CHECK(res.error_line == 2);
  CHECK(strstr(res.message, "usage=7i") != NULL);
  CHECK_STATUS(write_text(db, "metrics", rw, "new f=1i 1\nnew f=\"s\" 2", &res), 400, res);
  CHECK(res.error_line == 2);
  /* the same field may have another type in another day's partition */
  {
    char line[128];
    snprintf(line, sizeof line, "cpu,host=a usage=7i %lld", (long long)(3 * DAY_NS));
    CHECK_STATUS(write_text(db, "metrics", rw, line, &res), 204, res);
  }
  /* 400: bad arguments */
  CHECK_STATUS(linedb_write(db, "metrics", rw, "m f=1", 5, (linedb_precision)9, &res), 400, res);
  CHECK(strstr(res.message, "precision") != NULL);
  CHECK_STATUS(linedb_write(db, NULL, rw, "m f=1", 5, LINEDB_PRECISION_NANOSECOND, &res), 400, res);
  CHECK_STATUS(linedb_write(db, "metrics", rw, NULL, 5, LINEDB_PRECISION_NANOSECOND, &res), 400, res);
  CHECK_STATUS(linedb_write(db, "\xff", rw, "m f=1", 5, LINEDB_PRECISION_NANOSECOND, &res), 400, res);
  CHECK_STATUS(linedb_write(db, "metrics", "\xff", "m f=1", 5, LINEDB_PRECISION_NANOSECOND, &res), 400,
               res);
  /* non-UTF-8 in the batch is the parser's 400 */
  CHECK_STATUS(write_text(db, "metrics", rw, "m f=\"\xff\" 1", &res), 400, res);
  CHECK(res.error_line == 1);
  /* a message longer than LINEDB_MESSAGE_MAX is cut, NUL-terminated */
  long_line = (char *)malloc(5001);
  CHECK(long_line != NULL);
  if (long_line != NULL) {
    for (i = 0; i < 5000; i++) long_line[i] = 'a';
    long_line[5000] = '\0';
    memset(res.message, 'z', sizeof res.message);
    CHECK_STATUS(write_text(db, "metrics", rw, long_line, &res), 400, res);
    CHECK(memchr(res.message, '\0', sizeof res.message) != NULL);
    CHECK(strlen(res.message) <= LINEDB_MESSAGE_MAX - 1 && strlen(res.message) > 100);
    free(long_line);
  }

  /* 401 in every variant */
  CHECK_STATUS(write_text(db, "metrics", NULL, "m f=1 1", &res), 401, res);
  CHECK(res.message[0] != '\0');
  CHECK_STATUS(write_text(db, "metrics", "", "m f=1 1", &res), 401, res);
  CHECK_STATUS(write_text(db, "metrics", "malformed", "m f=1 1", &res), 401, res);
  CHECK_STATUS(write_text(db, "metrics", "ldb_0000000000000000000000000000000000000000", "m f=1 1",
                          &res),
               401, res);
  CHECK_STATUS(write_text(db, "metrics", ro, "m f=1 1", &res), 401, res);
  CHECK_STATUS(write_text(db, "metrics", other, "m f=1 1", &res), 401, res);
  /* case matters */
  {
    char changed[LINEDB_TOKEN_BUF];
    strcpy(changed, rw);
    for (i = 4; changed[i] != '\0'; i++) {
      if (changed[i] >= 'a' && changed[i] <= 'z') {
        changed[i] = (char)(changed[i] - 'a' + 'A');
        break;
      } else if (changed[i] >= 'A' && changed[i] <= 'Z') {
        changed[i] = (char)(changed[i] - 'A' + 'a');
        break;
      }
    }
    if (changed[i] != '\0') {
      CHECK_STATUS(write_text(db, "metrics", changed, "m f=1 1", &res), 401, res);
    }
  }
  /* 401 comes before 404 and 400 */
  CHECK_STATUS(write_text(db, "nope", NULL, "garbage", &res), 401, res);
  /* 404: the token may write the database, which does not exist */
  CHECK_STATUS(write_text(db, "nope", star, "m f=1 1", &res), 404, res);
  CHECK(strstr(res.message, "nope") != NULL);
  CHECK_STATUS(write_text(db, "other", other, "m f=1 1", &res), 404, res);
  /* revoked: 401 from then on */
  CHECK_STATUS(write_text(db, "metrics", wo, "m f=1 1", &res), 204, res);
  CHECK_CODE(linedb_revoke_token(db, wo, NULL), LINEDB_OK);
  CHECK_STATUS(write_text(db, "metrics", wo, "m f=1 2", &res), 401, res);

  /* queries answer the same codes, with read permission */
  {
    struct collected c;
    memset(&c, 0, sizeof c);
    CHECK_STATUS(linedb_query(db, "metrics", ro, "cpu", INT64_MIN, INT64_MAX, collect, &c, &res), 200,
                 res);
    CHECK(res.count == 4 && c.lines == 4 && res.message[0] == '\0');
    CHECK(strcmp(c.first, "cpu,host=a usage=1.5 1000") == 0);
    CHECK(!c.saw_nul_or_newline);
    CHECK_STATUS(linedb_query(db, "metrics", wo, NULL, 0, 1, collect, &c, &res), 401, res);
    CHECK_STATUS(linedb_query(db, "metrics", other, NULL, 0, 1, collect, &c, &res), 401, res);
    CHECK_STATUS(linedb_query(db, "metrics", NULL, NULL, 0, 1, collect, &c, &res), 401, res);
    CHECK_STATUS(linedb_query(db, "nope", star, NULL, 0, 1, collect, &c, &res), 404, res);
    CHECK_STATUS(linedb_query(db, "metrics", ro, NULL, 0, 1, NULL, &c, &res), 400, res);
    CHECK_STATUS(linedb_query(db, "metrics", ro, "\xff", 0, 1, collect, &c, &res), 400, res);
    CHECK_STATUS(linedb_query(db, NULL, ro, NULL, 0, 1, collect, &c, NULL), 400, res);
    /* a measurement that does not exist: 200, nothing */
    memset(&c, 0, sizeof c);
    CHECK_STATUS(linedb_query(db, "metrics", ro, "none", INT64_MIN, INT64_MAX, collect, &c, &res), 200,
                 res);
    CHECK(c.lines == 0 && res.count == 0);
    /* stopping early: the stopping line is counted */
    memset(&c, 0, sizeof c);
    c.stop_after = 2;
    CHECK_STATUS(linedb_query(db, "metrics", star, NULL, INT64_MIN, INT64_MAX, collect, &c, &res), 200,
                 res);
    CHECK(c.lines == 2 && res.count == 2);
  }

  close_store(db);
  remove_tree(dir);
}

/* A batch of n lines "m f=<i> <i>", each padded to about 64 bytes with a
   string field; malloc'd, the caller frees it. */
static char *big_batch(size_t n, size_t *len) {
  size_t cap = n * 96 + 1, at = 0, i;
  char *buf = malloc(cap);
  if (buf == NULL) return NULL;
  for (i = 0; i < n; i++)
    at += (size_t)snprintf(buf + at, cap - at, "m f=%zu,s=\"%040zu\" %zu\n", i, i, i + 1);
  *len = at;
  return buf;
}

/* 413: over max_batch_bytes, or a WAL record alone over max_wal_bytes (taken
   as 1 MiB when set lower); nothing is stored, and the store goes on. */
static void test_limits_413(void) {
  char dir[4096];
  linedb_options opts;
  linedb_result res;
  linedb_error err;
  linedb *db = NULL;
  size_t len = 0;
  char *batch = big_batch(40000, &len); /* about 2.6 MB */
  CHECK(batch != NULL && len > (2u << 20));
  if (batch == NULL) return;
  make_temp_dir(dir, sizeof dir);
  linedb_options_init(&opts);
  opts.flags = LINEDB_OPEN_NO_AUTH;
  opts.max_wal_bytes = 64;              /* raised to 1 MiB */
  opts.max_batch_bytes = len - 1;       /* one byte short */
  CHECK_CODE(linedb_open(dir, &opts, &db, &err), LINEDB_OK);
  if (db == NULL) { free(batch); return; }
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  /* "*" is no database name: a "*" token means every database */
  CHECK_CODE(linedb_create_database(db, "*", &err), LINEDB_ERR_INVALID_ARGUMENT);

  CHECK(linedb_write(db, "db", NULL, batch, len, LINEDB_PRECISION_NANOSECOND, &res) == 413);
  CHECK(res.status == 413 && res.retry_after_secs == 0 && res.error_line == 0);
  CHECK(strstr(res.message, "max_batch_bytes") != NULL);
  CHECK(count_lines(db, "db", NULL) == 0);
  close_store(db);

  /* Within max_batch_bytes, but its record is over the 1 MiB WAL limit. */
  opts.max_batch_bytes = 0;             /* the default, 10 MiB */
  CHECK_CODE(linedb_open(dir, &opts, &db, &err), LINEDB_OK);
  if (db == NULL) { free(batch); return; }
  CHECK(linedb_write(db, "db", NULL, batch, len, LINEDB_PRECISION_NANOSECOND, &res) == 413);
  CHECK(strstr(res.message, "max_wal_bytes") != NULL);
  CHECK(count_lines(db, "db", NULL) == 0);
  /* 64 was taken as 1 MiB: a 300 KB batch fits, many times over (a
     checkpoint runs at half the limit, so the backlog never stops writes). */
  {
    size_t small = 0, i;
    char *part = big_batch(5000, &small);
    CHECK(part != NULL);
    for (i = 0; part != NULL && i < 10; i++)
      CHECK_STATUS(linedb_write(db, "db", NULL, part, small, LINEDB_PRECISION_NANOSECOND, &res), 204, res);
    free(part);
  }
  CHECK(count_lines(db, "db", NULL) == 5000);
  close_store(db);
  free(batch);
  remove_tree(dir);
}

/* Entries of dir/wal, "." and ".." left out; -1 if it cannot be read. */
static int wal_entries(const char *dir) {
  char waldir[4200];
  int n = 0;
  DIR *d;
  struct dirent *e;
  snprintf(waldir, sizeof waldir, "%s/wal", dir);
  d = opendir(waldir);
  if (d == NULL) return -1;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
  closedir(d);
  return n;
}

/* linedb_set_wal_file_bytes (0.2): the size of each log file; a checkpoint
   brings the log back to one file, and a closed store's log holds none. */
static void test_wal_file_bytes(void) {
  char dir[4096];
  linedb_options opts;
  linedb_result res;
  linedb_error err;
  linedb *db = NULL;
  size_t len = 0, i;
  char *batch = big_batch(2000, &len); /* about 130 KB */
  CHECK(batch != NULL);
  if (batch == NULL) return;
  make_temp_dir(dir, sizeof dir);
  linedb_options_init(&opts);
  opts.flags = LINEDB_OPEN_NO_AUTH;
  CHECK_CODE(linedb_open(dir, &opts, &db, &err), LINEDB_OK);
  if (db == NULL) { free(batch); return; }
  CHECK_CODE(linedb_set_wal_file_bytes(db, 100, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "WAL file size") != NULL);
  CHECK_CODE(linedb_set_wal_file_bytes(NULL, 1 << 16, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_set_wal_file_bytes(db, 64 << 10, &err), LINEDB_OK);
  CHECK_CODE(linedb_checkpoint(db, &err), LINEDB_OK); /* the next file is made at the new size */
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  for (i = 0; i < 10; i++)
    CHECK_STATUS(linedb_write(db, "db", NULL, batch, len, LINEDB_PRECISION_NANOSECOND, &res), 204, res);
  CHECK(wal_entries(dir) >= 3); /* the records span several files */
  CHECK_CODE(linedb_checkpoint(db, &err), LINEDB_OK);
  CHECK(wal_entries(dir) == 1); /* the file the next write goes to */
  CHECK_STATUS(linedb_write(db, "db", NULL, batch, len, LINEDB_PRECISION_NANOSECOND, &res), 204, res);
  close_store(db);
  CHECK(wal_entries(dir) == 0);
  CHECK_CODE(linedb_open(dir, &opts, &db, &err), LINEDB_OK);
  if (db == NULL) { free(batch); return; }
  CHECK(count_lines(db, "db", NULL) == 2000);
  close_store(db);
  free(batch);
  remove_tree(dir);
}

/* linedb_verify reads every stored byte; a flipped stored value is found by
   it, and a query of that partition answers 500 naming the file, while
   another partition keeps answering. */
static void test_verify(void) {
  char dir[4096], seg[4400];
  linedb_verify_report rep;
  linedb_result res;
  linedb_error err;
  linedb *db;
  unsigned char *bytes;
  size_t len = 0, i;
  const double stored = 0.1234567; /* no decimal of 3 or 6 places: stored as its bits */
  unsigned char needle[8];

  make_temp_dir(dir, sizeof dir);
  db = open_store(dir, LINEDB_OPEN_NO_AUTH, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  CHECK_STATUS(write_text(db, "db", NULL, "cpu,host=a f=0.1234567 10\ncpu,host=b f=2.5 20", &res), 204, res);
  CHECK_STATUS(write_text(db, "db", NULL, "mem,host=a used=7i 86400000000005", &res), 204, res);

  memset(&rep, 0xAB, sizeof rep);
  rep.struct_size = sizeof rep;
  CHECK_CODE(linedb_verify(db, &rep, &err), LINEDB_OK);
  CHECK(rep.damaged_blocks == 0 && rep.first_damage[0] == '\0');
  CHECK(rep.files >= 3 && rep.blocks >= 2 && rep.bytes > 0);
  /* An older, smaller struct: only what fits is written. */
  memset(&rep, 0xAB, sizeof rep);
  rep.struct_size = 16;
  CHECK_CODE(linedb_verify(db, &rep, &err), LINEDB_OK);
  CHECK(rep.files >= 3 && rep.blocks == 0xABABABABABABABABULL);
  rep.struct_size = 8;
  CHECK_CODE(linedb_verify(db, &rep, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "struct_size") != NULL);
  CHECK_CODE(linedb_verify(db, NULL, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_verify(NULL, &rep, &err), LINEDB_ERR_INVALID_ARGUMENT);
  close_store(db);

  /* Flip one bit of the stored 0.1234567 (f64 bits, little-endian). */
  snprintf(seg, sizeof seg, "%s/data/1/1/1970-01-01/000001.seg", dir);
  memcpy(needle, &stored, sizeof needle);
  bytes = read_all(seg, &len);
  CHECK(bytes != NULL);
  for (i = 0; bytes != NULL && i + 8 <= len; i++) {
    if (memcmp(bytes + i, needle, 8) == 0) {
      bytes[i] ^= 0x01;
      break;
    }
  }
  CHECK(bytes != NULL && i + 8 <= len);
  if (bytes != NULL) CHECK(write_all(seg, bytes, len) == 0);
  free(bytes);

  db = open_store(dir, LINEDB_OPEN_NO_AUTH, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  {
    struct collected c;
    memset(&c, 0, sizeof c);
    CHECK(linedb_query(db, "db", NULL, "cpu", INT64_MIN, INT64_MAX, collect, &c, &res) == 500);
    CHECK(c.lines == 0);
    CHECK(strstr(res.message, "checksum mismatch") != NULL && strstr(res.message, "000001.seg") != NULL);
    CHECK(linedb_query(db, "db", NULL, "mem", INT64_MIN, INT64_MAX, collect, &c, &res) == 200 && res.count == 1);
  }
  memset(&rep, 0, sizeof rep);
  rep.struct_size = sizeof rep;
  CHECK_CODE(linedb_verify(db, &rep, &err), LINEDB_OK);
  CHECK(rep.damaged_blocks == 1);
  CHECK(strstr(rep.first_damage, "000001.seg") != NULL);
  close_store(db);
  remove_tree(dir);
}

/* Files under a tree whose names end with the suffix in `ends_with`. */
static const char *ends_with;
static int files_counted;
static int count_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  size_t n = strlen(path), k = strlen(ends_with);
  (void)sb;
  (void)ftw;
  if (flag == FTW_F && n >= k && strcmp(path + n - k, ends_with) == 0) files_counted++;
  return 0;
}
static int count_files(const char *dir, const char *suffix) {
  ends_with = suffix;
  files_counted = 0;
  nftw(dir, count_entry, 16, FTW_PHYS);
  return files_counted;
}

/* linedb_compact (0.2): seals every partition (segment files replaced by
   one sealed file each), makes it durable and waits; the points read back
   the same, before and after a reopen, and a later write merges. */
static void test_compact(void) {
  char dir[4096];
  linedb_result res;
  linedb_stats stats;
  linedb_error err;
  linedb *db;
  make_temp_dir(dir, sizeof dir);
  db = open_store(dir, LINEDB_OPEN_NO_AUTH, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  CHECK_STATUS(write_text(db, "db", NULL, "m,h=a f=1,s=\"x\" 1\nm f=2 86400000000001", &res), 204, res);
  memset(&stats, 0, sizeof stats);
  stats.struct_size = sizeof stats;
  CHECK_CODE(linedb_stats_get(db, &stats, &err), LINEDB_OK);
  CHECK(stats.wal_bytes > 0);
  CHECK(count_files(dir, ".seg") == 2);
  CHECK_CODE(linedb_compact(db, &err), LINEDB_OK);
  CHECK(count_files(dir, ".seg") == 0);
  CHECK(count_files(dir, ".col") == 2);
  CHECK_CODE(linedb_stats_get(db, &stats, &err), LINEDB_OK);
  CHECK(stats.wal_bytes == 0);
  CHECK(stats.points == 2);
  CHECK(count_lines(db, "db", NULL) == 2);
  /* A late write to a sealed partition: one more segment, merged by queries. */
  CHECK_STATUS(write_text(db, "db", NULL, "m,h=a g=3i 1", &res), 204, res);
  CHECK(count_files(dir, ".seg") == 1);
  CHECK(count_lines(db, "db", NULL) == 2);
  CHECK_CODE(linedb_compact(NULL, &err), LINEDB_ERR_INVALID_ARGUMENT);
  close_store(db);
  db = open_store(dir, LINEDB_OPEN_NO_AUTH, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK(count_lines(db, "db", NULL) == 2);
  close_store(db);
  remove_tree(dir);
}

/* Whether the file at path starts and ends with Parquet's magic "PAR1";
   -1 if it cannot be read. */
static int is_parquet(const char *path) {
  unsigned char head[4], tail[4];
  long size;
  int ok;
  FILE *f = fopen(path, "rb");
  if (f == NULL) return -1;
  ok = fread(head, 1, 4, f) == 4 && fseek(f, -4, SEEK_END) == 0 && fread(tail, 1, 4, f) == 4;
  size = ftell(f);
  fclose(f);
  return ok && size > 8 && memcmp(head, "PAR1", 4) == 0 && memcmp(tail, "PAR1", 4) == 0;
}

/* linedb_export_parquet: a whole file at the path with the rows counted;
   a path that exists is refused and left as it was; bad arguments are 400
   and unknown names 404, with nothing made. (Every value is read back by
   pyarrow in tests/export.rs.) */
static void test_export_parquet(void) {
  char dir[4096], path[4200], missing[4200];
  linedb_result res;
  linedb *db;
  FILE *f;
  make_temp_dir(dir, sizeof dir);
  snprintf(path, sizeof path, "%s/cpu.parquet", dir);
  snprintf(missing, sizeof missing, "%s/no/such/cpu.parquet", dir);
  db = open_store(dir, LINEDB_OPEN_NO_AUTH, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  CHECK_STATUS(write_text(db, "db", NULL, "cpu,host=a v=1i,s=\"x\" 1\ncpu,host=b v=2i 2\ncpu v=3i 86400000000000", &res),
               204, res);
  CHECK_STATUS(linedb_export_parquet(db, "db", NULL, "cpu", 0, 86400000000000LL, path, &res), 200, res);
  CHECK(res.count == 2);
  CHECK(res.message[0] == '\0');
  CHECK(is_parquet(path) == 1);
  /* The file exists now: refused, and untouched. */
  CHECK_STATUS(linedb_export_parquet(db, "db", NULL, "cpu", 0, INT64_MAX, path, &res), 400, res);
  CHECK(strstr(res.message, "exists") != NULL);
  CHECK(is_parquet(path) == 1);
  CHECK(remove(path) == 0);
  CHECK_STATUS(linedb_export_parquet(db, "db", NULL, "cpu", 0, INT64_MAX, missing, &res), 400, res);
  CHECK_STATUS(linedb_export_parquet(db, "db", NULL, NULL, 0, INT64_MAX, path, &res), 400, res);
  CHECK_STATUS(linedb_export_parquet(db, "db", NULL, "cpu", 0, INT64_MAX, NULL, &res), 400, res);
  CHECK_STATUS(linedb_export_parquet(NULL, "db", NULL, "cpu", 0, INT64_MAX, path, &res), 400, res);
  CHECK_STATUS(linedb_export_parquet(db, "nodb", NULL, "cpu", 0, INT64_MAX, path, &res), 404, res);
  CHECK_STATUS(linedb_export_parquet(db, "db", NULL, "mem", 0, INT64_MAX, path, &res), 404, res);
  f = fopen(path, "rb");
  CHECK(f == NULL);
  if (f != NULL) fclose(f);
  /* Every point, both days; result may be NULL. */
  CHECK(linedb_export_parquet(db, "db", NULL, "cpu", INT64_MIN, INT64_MAX, path, NULL) == 200);
  CHECK(is_parquet(path) == 1);
  close_store(db);
  remove_tree(dir);
}

/* ---- InfluxQL ------------------------------------------------------------- */

/* The JSON document's pieces, joined. */
struct doc {
  char text[4096];
  size_t len;
  size_t pieces;
};

static int append_piece(void *ctx, const char *piece, size_t len) {
  struct doc *d = (struct doc *)ctx;
  size_t room = sizeof d->text - 1 - d->len;
  size_t n = len < room ? len : room;
  memcpy(d->text + d->len, piece, n);
  d->len += n;
  d->text[d->len] = '\0';
  d->pieces++;
  return 0;
}

static uint16_t influxql(linedb *db, const char *database, const char *q, const linedb_query_options *opts,
                         struct doc *d, linedb_result *res) {
  memset(d, 0, sizeof *d);
  return linedb_influxql(db, database, NULL, q, opts, append_piece, d, res);
}

static void test_influxql(void) {
  char dir[4096];
  linedb_query_options opts;
  linedb_result res;
  struct doc d;
  linedb *db;
  make_temp_dir(dir, sizeof dir);
  db = open_store(dir, LINEDB_OPEN_NO_AUTH, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  CHECK_STATUS(write_text(db, "db", NULL, "cpu,host=a v=1 0\ncpu,host=b v=2 0\ncpu,host=a v=4 3600000000000", &res), 204,
               res);

  memset(&opts, 0xAB, sizeof opts);
  linedb_query_options_init(&opts);
  CHECK(opts.struct_size == sizeof(linedb_query_options));
  CHECK(opts.now_ns == 0 && opts.epoch == -1);
  linedb_query_options_init(NULL); /* no crash */

  /* Windows with their mean, times as RFC 3339 (the default). */
  CHECK_STATUS(influxql(db, "db", "SELECT mean(v) FROM cpu WHERE time >= 0 AND time < 2h GROUP BY time(1h)", NULL, &d, &res),
               200, res);
  CHECK(res.count == 1);
  CHECK(strcmp(d.text, "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"columns\":[\"time\",\"mean\"],"
                       "\"values\":[[\"1970-01-01T00:00:00Z\",1.5],[\"1970-01-01T01:00:00Z\",4]]}]}]}") == 0);

  /* Times in seconds; grouped by tag; two statements. */
  opts.epoch = LINEDB_PRECISION_SECOND;
  CHECK_STATUS(influxql(db, "db", "SELECT last(v) FROM cpu GROUP BY host; SHOW MEASUREMENTS", &opts, &d, &res), 200, res);
  CHECK(res.count == 2);
  CHECK(strcmp(d.text, "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"cpu\",\"tags\":{\"host\":\"a\"},"
                       "\"columns\":[\"time\",\"last\"],\"values\":[[3600,4]]},{\"name\":\"cpu\",\"tags\":{\"host\":\"b\"},"
                       "\"columns\":[\"time\",\"last\"],\"values\":[[0,2]]}]},{\"statement_id\":1,\"series\":[{\"name\":"
                       "\"measurements\",\"columns\":[\"name\"],\"values\":[[\"cpu\"]]}]}]}") == 0);

  /* now() is the options' instant. */
  opts.epoch = -1;
  opts.now_ns = 7200000000000LL;
  CHECK_STATUS(influxql(db, "db", "SELECT count(v) FROM cpu WHERE time > now() - 90m", &opts, &d, &res), 200, res);
  CHECK(strstr(d.text, "[\"1970-01-01T00:30:00.000000001Z\",1]") != NULL);

  /* A statement's own error is in the document; the next is not run. */
  CHECK_STATUS(influxql(db, "db", "SELECT v, count(v) FROM cpu; SHOW MEASUREMENTS", NULL, &d, &res), 200, res);
  CHECK(strcmp(d.text, "{\"results\":[{\"statement_id\":0,\"error\":\"mixing aggregate and non-aggregate queries is not "
                       "supported\"},{\"statement_id\":1,\"error\":\"not executed\"}]}") == 0);

  /* Text that does not parse: 400 and influxd's error document. */
  CHECK_STATUS(influxql(db, "db", "SELECT FROM cpu", NULL, &d, &res), 400, res);
  CHECK(strncmp(d.text, "{\"error\":\"error parsing query: ", 31) == 0);
  CHECK(strstr(res.message, "error parsing query") != NULL);

  /* An unknown database: 404 with influxd's answer. */
  CHECK_STATUS(influxql(db, "nodb", "SELECT v FROM cpu", NULL, &d, &res), 404, res);
  CHECK(strcmp(d.text, "{\"results\":[{\"statement_id\":0,\"error\":\"database not found: nodb\"}]}") == 0);

  /* Bad arguments: 400, nothing delivered. */
  opts.epoch = 9;
  CHECK_STATUS(influxql(db, "db", "SHOW MEASUREMENTS", &opts, &d, &res), 400, res);
  CHECK(d.pieces == 0);
  opts.epoch = -1;
  opts.struct_size = 2;
  CHECK_STATUS(influxql(db, "db", "SHOW MEASUREMENTS", &opts, &d, &res), 400, res);
  CHECK(d.pieces == 0);
  /* A struct from an older build (struct_size only): the defaults. */
  opts.struct_size = 4;
  CHECK_STATUS(influxql(db, "db", "SHOW MEASUREMENTS", &opts, &d, &res), 200, res);
  CHECK_STATUS(influxql(db, "db", NULL, NULL, &d, &res), 400, res);
  CHECK_STATUS(linedb_influxql(db, "db", NULL, "SHOW MEASUREMENTS", NULL, NULL, NULL, &res), 400, res);
  CHECK_STATUS(linedb_influxql(NULL, "db", NULL, "SHOW MEASUREMENTS", NULL, append_piece, &d, &res), 400, res);
  /* result may be NULL. */
  memset(&d, 0, sizeof d);
  CHECK(linedb_influxql(db, "db", NULL, "SHOW MEASUREMENTS", NULL, append_piece, &d, NULL) == 200);
  close_store(db);
  remove_tree(dir);
}

/* The typed answers, written out as text to compare. */
struct typed {
  char text[2048];
  size_t len;
  int stop_after_rows; /* 0: never */
  int rows;
};

static void typed_put(struct typed *t, const char *s, size_t n) {
  size_t room = sizeof t->text - 1 - t->len;
  if (n > room) n = room;
  memcpy(t->text + t->len, s, n);
  t->len += n;
  t->text[t->len] = '\0';
}

static void typed_puts(struct typed *t, const char *s) { typed_put(t, s, strlen(s)); }

static int on_series(void *ctx, uint32_t statement, const char *name, const char *const *tag_keys,
                     const char *const *tag_values, size_t tag_count, const char *const *columns, size_t column_count) {
  struct typed *t = (struct typed *)ctx;
  char buf[64];
  size_t k;
  snprintf(buf, sizeof buf, "S%u:", statement);
  typed_puts(t, buf);
  typed_puts(t, name == NULL ? "(none)" : name);
  for (k = 0; k < tag_count; k++) {
    typed_puts(t, k == 0 ? "{" : ",");
    typed_puts(t, tag_keys[k]);
    typed_puts(t, "=");
    typed_puts(t, tag_values[k]);
    typed_puts(t, k + 1 == tag_count ? "}" : "");
  }
  for (k = 0; k < column_count; k++) {
    typed_puts(t, k == 0 ? "[" : ",");
    typed_puts(t, columns[k]);
  }
  typed_puts(t, "]");
  return 0;
}

static int on_row(void *ctx, const linedb_value *values, size_t n) {
  struct typed *t = (struct typed *)ctx;
  char buf[64];
  size_t k;
  typed_puts(t, "(");
  for (k = 0; k < n; k++) {
    const linedb_value *v = &values[k];
    if (k > 0) typed_puts(t, " ");
    switch (v->type) {
      case LINEDB_VALUE_NULL: typed_puts(t, "null"); break;
      case LINEDB_VALUE_TIME: snprintf(buf, sizeof buf, "t%lld", (long long)v->i); typed_puts(t, buf); break;
      case LINEDB_VALUE_INTEGER: snprintf(buf, sizeof buf, "%lldi", (long long)v->i); typed_puts(t, buf); break;
      case LINEDB_VALUE_UNSIGNED: snprintf(buf, sizeof buf, "%lluu", (unsigned long long)v->u); typed_puts(t, buf); break;
      case LINEDB_VALUE_FLOAT: snprintf(buf, sizeof buf, "%g", v->f); typed_puts(t, buf); break;
      case LINEDB_VALUE_BOOLEAN: typed_puts(t, v->b ? "true" : "false"); break;
      case LINEDB_VALUE_STRING: typed_puts(t, "'"); typed_put(t, v->s, v->s_len); typed_puts(t, "'"); break;
      default: typed_puts(t, "?"); break;
    }
  }
  typed_puts(t, ")");
  t->rows++;
  return t->stop_after_rows != 0 && t->rows >= t->stop_after_rows;
}

static int on_error(void *ctx, uint32_t statement, const char *message) {
  struct typed *t = (struct typed *)ctx;
  char buf[64];
  snprintf(buf, sizeof buf, "E%d:", statement == UINT32_MAX ? -1 : (int)statement);
  typed_puts(t, buf);
  typed_puts(t, message);
  typed_puts(t, ";");
  return 0;
}

static void test_influxql_rows(void) {
  char dir[4096];
  linedb_rows_fn fns;
  linedb_result res;
  struct typed t;
  linedb *db;
  make_temp_dir(dir, sizeof dir);
  db = open_store(dir, LINEDB_OPEN_NO_AUTH, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  CHECK_STATUS(write_text(db, "db", NULL,
                          "cpu,host=a v=1.5,n=3i,u=7u,ok=true,s=\"x y\" 10\ncpu,host=b v=2.5,ok=false 20\n"
                          "cpu,host=a n=4i 30",
                          &res),
               204, res);
  fns.series = on_series;
  fns.row = on_row;
  fns.error = on_error;

  /* Every type, nulls marked; time as nanoseconds. */
  memset(&t, 0, sizeof t);
  CHECK_STATUS(linedb_influxql_rows(db, "db", NULL, "SELECT * FROM cpu", NULL, &fns, &t, &res), 200, res);
  CHECK(res.count == 1);
  CHECK(strcmp(t.text, "S0:cpu[time,host,n,ok,s,u,v](t10 'a' 3i true 'x y' 7u 1.5)(t20 'b' null false null null 2.5)"
                       "(t30 'a' 4i null null null null)") == 0);

  /* Groups with tags; a statement error; the one after it not run. */
  memset(&t, 0, sizeof t);
  CHECK_STATUS(linedb_influxql_rows(db, "db", NULL, "SELECT sum(n) FROM cpu GROUP BY host; SELECT mean(s) FROM cpu; SHOW MEASUREMENTS",
                                    NULL, &fns, &t, &res),
               200, res);
  CHECK(strcmp(t.text, "S0:cpu{host=a}[time,sum](t0 7i)E1:mean() does not apply to string field \"s\";E2:not executed;") ==
        0);

  /* SHOW SERIES has no name; rows have no time. */
  memset(&t, 0, sizeof t);
  CHECK_STATUS(linedb_influxql_rows(db, "db", NULL, "SHOW SERIES", NULL, &fns, &t, &res), 200, res);
  CHECK(strcmp(t.text, "S0:(none)[key]('cpu,host=a')('cpu,host=b')") == 0);

  /* A row callback that stops: nothing more. */
  memset(&t, 0, sizeof t);
  t.stop_after_rows = 1;
  CHECK_STATUS(linedb_influxql_rows(db, "db", NULL, "SELECT v FROM cpu; SHOW MEASUREMENTS", NULL, &fns, &t, &res), 200,
               res);
  CHECK(t.rows == 1);
  CHECK(strstr(t.text, "measurements") == NULL);

  /* A text that does not parse, an unknown database. */
  memset(&t, 0, sizeof t);
  CHECK_STATUS(linedb_influxql_rows(db, "db", NULL, "SELECT", NULL, &fns, &t, &res), 400, res);
  CHECK(strncmp(t.text, "E-1:error parsing query: ", 25) == 0);
  memset(&t, 0, sizeof t);
  CHECK_STATUS(linedb_influxql_rows(db, "nodb", NULL, "SELECT v FROM cpu", NULL, &fns, &t, &res), 404, res);
  CHECK(strcmp(t.text, "E0:database not found: nodb;") == 0);

  /* Bad arguments: 400, no callback. */
  memset(&t, 0, sizeof t);
  CHECK_STATUS(linedb_influxql_rows(db, "db", NULL, "SHOW MEASUREMENTS", NULL, NULL, &t, &res), 400, res);
  fns.row = NULL;
  CHECK_STATUS(linedb_influxql_rows(db, "db", NULL, "SHOW MEASUREMENTS", NULL, &fns, &t, &res), 400, res);
  fns.row = on_row;
  fns.error = NULL; /* allowed */
  CHECK_STATUS(linedb_influxql_rows(db, "db", NULL, "SELECT mean(s) FROM cpu", NULL, &fns, &t, &res), 200, res);
  CHECK(t.len == 0);
  close_store(db);
  remove_tree(dir);
}

/* One statement through the Arrow C Stream Interface: the schema's
   formats, a batch per series, and every release called. */
static void test_influxql_arrow(void) {
  char dir[4096];
  struct ArrowArrayStream stream;
  struct ArrowSchema schema;
  struct ArrowArray batch;
  linedb_result res;
  linedb *db;
  int batches = 0;
  int64_t rows = 0;
  make_temp_dir(dir, sizeof dir);
  db = open_store(dir, LINEDB_OPEN_NO_AUTH, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  CHECK_STATUS(write_text(db, "db", NULL, "cpu,host=a v=1.5,n=3i 10\ncpu,host=b v=2.5,n=4i 20\ncpu,host=a n=5i 30", &res),
               204, res);
  memset(&stream, 0xAB, sizeof stream);
  CHECK_STATUS(linedb_influxql_arrow(db, "db", NULL, "SELECT n, v FROM cpu GROUP BY host", NULL, &stream, &res), 200,
               res);
  CHECK(stream.release != NULL);
  if (stream.release == NULL) return;
  CHECK(stream.get_schema(&stream, &schema) == 0);
  CHECK(schema.n_children == 4);
  if (schema.n_children == 4) {
    CHECK(strcmp(schema.children[0]->name, "time") == 0 && strcmp(schema.children[0]->format, "tsn:UTC") == 0);
    CHECK(strcmp(schema.children[1]->name, "host") == 0 && strcmp(schema.children[1]->format, "u") == 0);
    CHECK(strcmp(schema.children[2]->name, "n") == 0 && strcmp(schema.children[2]->format, "l") == 0);
    CHECK(strcmp(schema.children[3]->name, "v") == 0 && strcmp(schema.children[3]->format, "g") == 0);
  }
  schema.release(&schema);
  for (;;) {
    CHECK(stream.get_next(&stream, &batch) == 0);
    if (batch.release == NULL) break; /* the end */
    batches++;
    rows += batch.length;
    CHECK(batch.n_children == 4);
    batch.release(&batch);
  }
  CHECK(batches == 2 && rows == 3);
  stream.release(&stream);
  CHECK(stream.release == NULL);

  /* Failures leave the stream released: nothing to free. */
  memset(&stream, 0xAB, sizeof stream);
  CHECK_STATUS(linedb_influxql_arrow(db, "db", NULL, "SELECT v, count(v) FROM cpu", NULL, &stream, &res), 400, res);
  CHECK(stream.release == NULL);
  CHECK(strstr(res.message, "mixing aggregate") != NULL);
  memset(&stream, 0xAB, sizeof stream);
  CHECK_STATUS(linedb_influxql_arrow(db, "nodb", NULL, "SHOW MEASUREMENTS", NULL, &stream, &res), 404, res);
  CHECK(stream.release == NULL);
  CHECK_STATUS(linedb_influxql_arrow(db, "db", NULL, "SHOW MEASUREMENTS", NULL, NULL, &res), 400, res);
  close_store(db);
  remove_tree(dir);
}

/* Descriptors open in this process now (Linux). */
static int open_fds(void) {
  int n = 0;
  DIR *d = opendir("/proc/self/fd");
  if (d == NULL) return -1;
  while (readdir(d) != NULL) n++;
  closedir(d);
  return n;
}

/* The segment files held open are bounded (256): 400 partitions take at
   most that many descriptors, and every point is there, before and after a
   reopen; linedb_set_max_open_segments moves the bound. */
static void test_bounded_open_segments(void) {
  char dir[4096], line[128];
  linedb_options opts;
  linedb_result res;
  linedb_error err;
  linedb *db = NULL;
  int before, during, day;
  make_temp_dir(dir, sizeof dir);
  linedb_options_init(&opts);
  opts.flags = LINEDB_OPEN_NO_AUTH;
  before = open_fds();
  CHECK_CODE(linedb_open(dir, &opts, &db, &err), LINEDB_OK);
  if (db == NULL) return;
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  for (day = 0; day < 400; day++) {
    snprintf(line, sizeof line, "m f=%di %lld", day, (long long)day * 86400000000000LL);
    CHECK_STATUS(write_text(db, "db", NULL, line, &res), 204, res);
  }
  during = open_fds();
  /* The lock, the WAL's few files, and at most 256 segments plus the one
     the last write pinned. */
  CHECK(during - before <= 256 + 1 + 8);
  CHECK(count_lines(db, "db", NULL) == 400);
  close_store(db);
  CHECK(open_fds() == before);
  CHECK_CODE(linedb_open(dir, &opts, &db, &err), LINEDB_OK);
  if (db == NULL) return;
  CHECK(count_lines(db, "db", NULL) == 400);
  CHECK(open_fds() - before <= 256 + 1 + 8);
  /* A lower bound, set on the open store: idle files close at once, and
     100 more partitions keep within it. */
  CHECK_CODE(linedb_set_max_open_segments(db, 16, &err), LINEDB_OK);
  CHECK(open_fds() - before <= 16 + 1 + 8);
  for (day = 400; day < 500; day++) {
    snprintf(line, sizeof line, "m f=%di %lld", day, (long long)day * 86400000000000LL);
    CHECK_STATUS(write_text(db, "db", NULL, line, &res), 204, res);
  }
  CHECK(open_fds() - before <= 16 + 1 + 8);
  CHECK(count_lines(db, "db", NULL) == 500);
  /* 0 restores the default; a NULL handle is refused. */
  CHECK_CODE(linedb_set_max_open_segments(db, 0, &err), LINEDB_OK);
  CHECK_CODE(linedb_set_max_open_segments(NULL, 8, &err), LINEDB_ERR_INVALID_ARGUMENT);
  close_store(db);
  remove_tree(dir);
}

static void test_no_auth_and_reopen(void) {
  char dir[4096];
  linedb_result res;
  linedb_stats stats;
  linedb_error err;
  linedb_field_type type = (linedb_field_type)99;
  linedb *db;

  make_temp_dir(dir, sizeof dir);
  db = open_store(dir, LINEDB_OPEN_NO_AUTH, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  CHECK_STATUS(write_text(db, "db", NULL, "m,t=1 f=1,s=\"x\",i=1i,u=1u,b=true 10\nm,t=2 f=2 20", &res),
               204, res);
  CHECK_STATUS(write_text(db, "missing", NULL, "m f=1 1", &res), 404, res);

  CHECK_CODE(linedb_field_type_get(db, "db", "m", 10, "f", &type, &err), LINEDB_OK);
  CHECK(type == LINEDB_FIELD_FLOAT);
  CHECK_CODE(linedb_field_type_get(db, "db", "m", 10, "s", &type, &err), LINEDB_OK);
  CHECK(type == LINEDB_FIELD_STRING);
  CHECK_CODE(linedb_field_type_get(db, "db", "m", 10, "i", &type, &err), LINEDB_OK);
  CHECK(type == LINEDB_FIELD_INTEGER);
  CHECK_CODE(linedb_field_type_get(db, "db", "m", 10, "u", &type, &err), LINEDB_OK);
  CHECK(type == LINEDB_FIELD_UINTEGER);
  CHECK_CODE(linedb_field_type_get(db, "db", "m", 10, "b", &type, &err), LINEDB_OK);
  CHECK(type == LINEDB_FIELD_BOOLEAN);
  CHECK_CODE(linedb_field_type_get(db, "db", "m", 10, "nope", &type, &err), LINEDB_OK);
  CHECK(type == LINEDB_FIELD_NONE);
  type = LINEDB_FIELD_FLOAT;
  CHECK_CODE(linedb_field_type_get(db, "db", "m", 5 * DAY_NS, "f", &type, &err), LINEDB_OK);
  CHECK(type == LINEDB_FIELD_NONE);
  CHECK_CODE(linedb_field_type_get(db, "missing", "m", 10, "f", &type, &err), LINEDB_ERR_NOT_FOUND);
  CHECK(strstr(err.message, "missing") != NULL);
  CHECK_CODE(linedb_field_type_get(db, "db", NULL, 10, "f", &type, &err),
             LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_field_type_get(db, "db", "m", 10, "f", NULL, &err), LINEDB_ERR_INVALID_ARGUMENT);

  CHECK_CODE(linedb_checkpoint(db, &err), LINEDB_OK);
  stats.struct_size = sizeof stats;
  CHECK_CODE(linedb_stats_get(db, &stats, &err), LINEDB_OK);
  CHECK(stats.struct_size == sizeof stats);
  CHECK(stats.databases == 1 && stats.points == 2 && stats.partitions == 1);
  CHECK(stats.writes_accepted == 1 && stats.writes_rejected == 1);
  CHECK(stats.last_sequence > 0 && stats.segment_bytes > 0);
  close_store(db);

  /* reopened: the data, the database and the field types are there */
  db = open_store(dir, LINEDB_OPEN_NO_AUTH, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK(count_lines(db, "db", NULL) == 2);
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_ERR_ALREADY_EXISTS);
  CHECK_STATUS(write_text(db, "db", NULL, "m f=1i 11", &res), 400, res);
  memset(&stats, 0, sizeof stats);
  stats.struct_size = sizeof stats;
  CHECK_CODE(linedb_stats_get(db, &stats, NULL), LINEDB_OK);
  CHECK(stats.points == 2 && stats.writes_accepted == 0 && stats.writes_rejected == 1);
  close_store(db);

  /* without NO_AUTH the same store needs tokens */
  db = open_store(dir, 0, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK_STATUS(write_text(db, "db", NULL, "m f=1 12", &res), 401, res);
  close_store(db);
  remove_tree(dir);
}

/* An older program's structs: only the first fields, passed with their own
   sizeof. */
struct old_options {
  uint32_t struct_size;
  uint32_t flags;
};

struct old_stats {
  uint32_t struct_size;
  uint64_t databases;
  uint64_t partitions;
  uint64_t canary; /* outside struct_size: never written */
};

static void test_struct_size_compatibility(void) {
  char dir[4096];
  struct old_options opts;
  struct old_stats stats;
  linedb_result res;
  linedb_error err;
  linedb *db = NULL;

  make_temp_dir(dir, sizeof dir);
  opts.struct_size = sizeof opts;
  opts.flags = LINEDB_OPEN_NO_AUTH;
  CHECK_CODE(linedb_open(dir, (const linedb_options *)(const void *)&opts, &db, &err), LINEDB_OK);
  if (db == NULL) return;
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  /* the flag was read: no token needed */
  CHECK_STATUS(write_text(db, "db", NULL, "m f=1 1", &res), 204, res);

  stats.struct_size = (uint32_t)offsetof(struct old_stats, canary);
  stats.databases = 77;
  stats.partitions = 77;
  stats.canary = 0x1234567890abcdefULL;
  CHECK_CODE(linedb_stats_get(db, (linedb_stats *)(void *)&stats, &err), LINEDB_OK);
  CHECK(stats.struct_size == offsetof(struct old_stats, canary));
  CHECK(stats.databases == 1 && stats.partitions == 1);
  CHECK(stats.canary == 0x1234567890abcdefULL);

  stats.struct_size = 0;
  CHECK_CODE(linedb_stats_get(db, (linedb_stats *)(void *)&stats, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK(strstr(err.message, "struct_size") != NULL);
  stats.struct_size = 8;
  CHECK_CODE(linedb_stats_get(db, (linedb_stats *)(void *)&stats, &err), LINEDB_ERR_INVALID_ARGUMENT);
  CHECK_CODE(linedb_stats_get(db, NULL, &err), LINEDB_ERR_INVALID_ARGUMENT);
  close_store(db);
  remove_tree(dir);
}

/* ---- damaged stores --------------------------------------------------- */

/* The first *.wal file (by name) in dir/wal, written to path; 0 if found. */
static int first_wal_file(const char *dir, char *path, size_t len) {
  char waldir[4200];
  char best[256] = "";
  DIR *d;
  struct dirent *e;
  snprintf(waldir, sizeof waldir, "%s/wal", dir);
  d = opendir(waldir);
  if (d == NULL) return -1;
  while ((e = readdir(d)) != NULL) {
    size_t n = strlen(e->d_name);
    if (n == 12 && strcmp(e->d_name + 8, ".wal") == 0 &&
        (best[0] == '\0' || strcmp(e->d_name, best) < 0)) {
      strcpy(best, e->d_name);
    }
  }
  closedir(d);
  if (best[0] == '\0') return -1;
  snprintf(path, len, "%s/%s", waldir, best);
  return 0;
}

static void test_corrupt_wal(void) {
  char dir[4096], live[4200], intact[4200], damaged[4200], wal[4400];
  linedb_result res;
  linedb_error err;
  linedb *db;
  linedb *again = NULL;
  unsigned char *bytes;
  size_t len = 0;
  int i;

  make_temp_dir(dir, sizeof dir);
  snprintf(live, sizeof live, "%s/live", dir);
  snprintf(intact, sizeof intact, "%s/intact", dir);
  snprintf(damaged, sizeof damaged, "%s/damaged", dir);
  db = open_store(live, LINEDB_OPEN_NO_AUTH, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  for (i = 0; i < 4; i++) {
    char line[64];
    snprintf(line, sizeof line, "m f=%d %d", i, i + 1);
    CHECK_STATUS(write_text(db, "db", NULL, line, &res), 204, res);
  }
  /* Every acknowledged batch is in the WAL (fsynced) and not yet
     checkpointed: copies taken now are what a crash would leave. */
  CHECK(copy_tree(live, intact) == 0);
  CHECK(copy_tree(live, damaged) == 0);
  close_store(db);

  /* the intact copy opens and replays its WAL */
  db = open_store(intact, LINEDB_OPEN_NO_AUTH, 0);
  CHECK(db != NULL);
  if (db != NULL) {
    CHECK(count_lines(db, "db", NULL) == 4);
    close_store(db);
  }

  /* Damage the first record's payload; good records follow it. */
  CHECK(first_wal_file(damaged, wal, sizeof wal) == 0);
  bytes = read_all(wal, &len);
  CHECK(bytes != NULL && len > 40 + 24 + 8);
  if (bytes != NULL && len > 40 + 24 + 8) {
    bytes[40 + 24 + 2] ^= 0x5A;
    CHECK(write_all(wal, bytes, len) == 0);
  }
  free(bytes);
  CHECK_CODE(linedb_open(damaged, NULL, &again, &err), LINEDB_ERR_CORRUPT);
  CHECK(again == NULL);
  CHECK(err.code == LINEDB_ERR_CORRUPT);
  CHECK(strstr(err.message, ".wal") != NULL);
  if (again != NULL) linedb_close(again, NULL);
  remove_tree(dir);
}

/* A catalog of format version 3 (this build writes 2), its checksum
   re-sealed: VERSION. */
static void test_unknown_catalog_version(void) {
  char dir[4096], catalog[4200];
  linedb_error err;
  linedb *db;
  unsigned char *bytes;
  size_t len = 0;

  make_temp_dir(dir, sizeof dir);
  db = open_store(dir, LINEDB_OPEN_NO_AUTH, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  close_store(db);

  /* catalog = magic (8) | version u32 | body length u64 | crc32 u32 | body;
     the crc covers bytes 8..20 and the body */
  snprintf(catalog, sizeof catalog, "%s/catalog", dir);
  bytes = read_all(catalog, &len);
  CHECK(bytes != NULL && len >= 24);
  if (bytes != NULL && len >= 24) {
    uint64_t body = get_le64(bytes + 12);
    uint32_t crc;
    CHECK(get_le32(bytes + 8) == 3);
    CHECK(body == len - 24);
    put_le32(bytes + 8, 4);
    crc = crc32_update(0, bytes + 8, 12);
    crc = crc32_update(crc, bytes + 24, len - 24);
    put_le32(bytes + 20, crc);
    CHECK(write_all(catalog, bytes, len) == 0);
  }
  free(bytes);
  db = NULL;
  CHECK_CODE(linedb_open(dir, NULL, &db, &err), LINEDB_ERR_VERSION);
  CHECK(db == NULL);
  CHECK(strstr(err.message, "version") != NULL);
  if (db != NULL) linedb_close(db, NULL);
  remove_tree(dir);
}

/* ---- concurrent writers --------------------------------------------------- */

#define THREADS 8
#define BATCHES 15
#define POINTS 10

struct writer {
  linedb *db;
  const char *token;
  int id;
  int ok;
};

static void *write_batches(void *arg) {
  struct writer *w = (struct writer *)arg;
  char batch[POINTS * 64];
  int b, p;
  for (b = 0; b < BATCHES; b++) {
    size_t used = 0;
    linedb_result res;
    for (p = 0; p < POINTS; p++) {
      used += (size_t)snprintf(batch + used, sizeof batch - used, "load,thread=%d v=%di %d\n", w->id,
                               b * POINTS + p, b * POINTS + p + 1);
    }
    if (linedb_write(w->db, "db", w->token, batch, used, LINEDB_PRECISION_NANOSECOND, &res) == 204 &&
        res.count == POINTS) {
      w->ok++;
    } else {
      fprintf(stderr, "writer %d: %u %s\n", w->id, (unsigned)res.status, res.message);
    }
  }
  return NULL;
}

static void test_concurrent_writers(void) {
  char dir[4096], token[LINEDB_TOKEN_BUF];
  pthread_t threads[THREADS];
  struct writer writers[THREADS];
  linedb_stats stats;
  linedb *db;
  int i;

  make_temp_dir(dir, sizeof dir);
  db = open_store(dir, 0, 0);
  CHECK(db != NULL);
  if (db == NULL) return;
  CHECK_CODE(linedb_create_database(db, "db", NULL), LINEDB_OK);
  CHECK_CODE(linedb_create_token(db, "db", LINEDB_PERM_READ | LINEDB_PERM_WRITE, token, sizeof token,
                                 NULL),
             LINEDB_OK);
  for (i = 0; i < THREADS; i++) {
    writers[i].db = db;
    writers[i].token = token;
    writers[i].id = i;
    writers[i].ok = 0;
    CHECK(pthread_create(&threads[i], NULL, write_batches, &writers[i]) == 0);
  }
  for (i = 0; i < THREADS; i++) {
    CHECK(pthread_join(threads[i], NULL) == 0);
    CHECK(writers[i].ok == BATCHES);
  }
  CHECK(count_lines(db, "db", token) == THREADS * BATCHES * POINTS);
  stats.struct_size = sizeof stats;
  CHECK_CODE(linedb_stats_get(db, &stats, NULL), LINEDB_OK);
  CHECK(stats.points == THREADS * BATCHES * POINTS);
  CHECK(stats.writes_accepted == THREADS * BATCHES);
  CHECK(stats.writes_rejected == 0);
  close_store(db);

  db = open_store(dir, 0, 0);
  CHECK(db != NULL);
  if (db != NULL) {
    CHECK(count_lines(db, "db", token) == THREADS * BATCHES * POINTS);
    close_store(db);
  }
  remove_tree(dir);
}

int main(void) {
  test_options_init();
  test_open_errors();
  test_null_handle();
  test_databases_and_tokens();
  test_write_statuses();
  test_limits_413();
  test_wal_file_bytes();
  test_verify();
  test_compact();
  test_export_parquet();
  test_influxql();
  test_influxql_rows();
  test_influxql_arrow();
  test_bounded_open_segments();
  test_no_auth_and_reopen();
  test_struct_size_compatibility();
  test_corrupt_wal();
  test_unknown_catalog_version();
  test_concurrent_writers();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
