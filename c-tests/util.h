/*
 * Helpers shared by the C tests: checks that count passes and failures,
 * temporary directories, and small file operations. Header-only (static
 * functions), so each test program stays one translation unit.
 */
#ifndef LINEDB_TEST_UTIL_H
#define LINEDB_TEST_UTIL_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int passed = 0;
static int failed = 0;

#define CHECK(cond)                                                        \
  do {                                                                     \
    if (cond) {                                                            \
      passed++;                                                            \
    } else {                                                               \
      failed++;                                                            \
      fprintf(stderr, "%s:%d: FAILED: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                      \
  } while (0)

/* A code check that prints both names on a mismatch. */
#define CHECK_CODE(got, want)                                                         \
  do {                                                                                \
    linedb_code got_ = (got);                                                         \
    if (got_ == (want)) {                                                             \
      passed++;                                                                       \
    } else {                                                                          \
      failed++;                                                                       \
      fprintf(stderr, "%s:%d: FAILED: %s is %s, want %s\n", __FILE__, __LINE__, #got, \
              linedb_code_name(got_), linedb_code_name(want));                        \
    }                                                                                 \
  } while (0)

/* A status check that prints the result's message on a mismatch. */
#define CHECK_STATUS(got, want, res)                                                     \
  do {                                                                                   \
    unsigned got_ = (unsigned)(got);                                                     \
    if (got_ == (unsigned)(want)) {                                                      \
      passed++;                                                                          \
    } else {                                                                             \
      failed++;                                                                          \
      fprintf(stderr, "%s:%d: FAILED: %s is %u, want %u (%s)\n", __FILE__, __LINE__, #got, \
              got_, (unsigned)(want), (res).message);                                    \
    }                                                                                    \
  } while (0)

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

/* rm -rf path */
static void remove_tree(const char *path) {
  nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* A new empty directory under $TMPDIR (or /tmp); the caller removes it
   with remove_tree. */
static void make_temp_dir(char *out, size_t len) {
  const char *base = getenv("TMPDIR");
  if (base == NULL || base[0] == '\0') base = "/tmp";
  snprintf(out, len, "%s/linedb-ctest-XXXXXX", base);
  if (mkdtemp(out) == NULL) {
    perror("mkdtemp");
    exit(2);
  }
}

/* Copies the file src to dst; 0 on success. */
static int copy_file(const char *src, const char *dst) {
  char buf[65536];
  int in = open(src, O_RDONLY);
  int out;
  ssize_t n;
  int rc = 0;
  /* A file the store removed or renamed since the listing (its next WAL
     file, made ahead under a temporary name by the maintenance thread):
     not part of the copy, as it would not be of a crash image. */
  if (in < 0) return errno == ENOENT ? 0 : -1;
  out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (out < 0) {
    close(in);
    return -1;
  }
  while ((n = read(in, buf, sizeof buf)) > 0) {
    if (write(out, buf, (size_t)n) != n) {
      rc = -1;
      break;
    }
  }
  if (n < 0) rc = -1;
  close(in);
  close(out);
  return rc;
}

/* cp -r src dst (dst must not exist); 0 on success. */
static int copy_tree(const char *src, const char *dst) {
  DIR *dir;
  struct dirent *entry;
  int rc = 0;
  if (mkdir(dst, 0755) != 0) return -1;
  dir = opendir(src);
  if (dir == NULL) return -1;
  while (rc == 0 && (entry = readdir(dir)) != NULL) {
    char from[4096], to[4096];
    struct stat st;
    if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0) continue;
    snprintf(from, sizeof from, "%s/%s", src, entry->d_name);
    snprintf(to, sizeof to, "%s/%s", dst, entry->d_name);
    if (lstat(from, &st) != 0) {
      rc = errno == ENOENT ? 0 : -1; /* gone since the listing: see copy_file */
    } else if (S_ISDIR(st.st_mode)) {
      rc = copy_tree(from, to);
    } else if (S_ISREG(st.st_mode)) {
      rc = copy_file(from, to);
    }
  }
  closedir(dir);
  return rc;
}

/* Reads the whole file into a malloc'd buffer; NULL on failure. */
static unsigned char *read_all(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  unsigned char *buf;
  long size;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return NULL;
  }
  buf = (unsigned char *)malloc((size_t)size + 1);
  if (buf == NULL || fread(buf, 1, (size_t)size, f) != (size_t)size) {
    free(buf);
    fclose(f);
    return NULL;
  }
  fclose(f);
  *len = (size_t)size;
  return buf;
}

static int write_all(const char *path, const unsigned char *buf, size_t len) {
  FILE *f = fopen(path, "wb");
  int rc = 0;
  if (f == NULL) return -1;
  if (fwrite(buf, 1, len, f) != len) rc = -1;
  if (fclose(f) != 0) rc = -1;
  return rc;
}

/* CRC-32 (IEEE 802.3, reflected, as zlib and crc32fast). */
static uint32_t crc32_update(uint32_t crc, const unsigned char *p, size_t len) {
  size_t i;
  int k;
  crc = ~crc;
  for (i = 0; i < len; i++) {
    crc ^= p[i];
    for (k = 0; k < 8; k++) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

static uint32_t get_le32(const unsigned char *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const unsigned char *p) {
  return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

#endif
