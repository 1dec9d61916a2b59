/*
 * C-side tests of the version and code functions of include/linedb.h, and of
 * the fixed enum values of API.md. Built against the shared and the static
 * library (see Makefile). Prints "N passed, M failed" last and exits non-zero
 * on any failure.
 */
#include "linedb.h"

#include <stdio.h>
#include <string.h>

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

/* Compares two strings, reporting both on a mismatch. */
static void check_str(const char *what, const char *got, const char *want) {
  if (got != NULL && strcmp(got, want) == 0) {
    passed++;
  } else {
    failed++;
    fprintf(stderr, "FAILED: %s: got \"%s\", want \"%s\"\n", what,
            got != NULL ? got : "(NULL)", want);
  }
}

#define STR2(x) #x
#define STR(x) STR2(x)

static void test_version(void) {
  /* The string the header's macros spell, built by the preprocessor. */
  const char *from_macros =
      STR(LINEDB_VERSION_MAJOR) "." STR(LINEDB_VERSION_MINOR) "." STR(LINEDB_VERSION_PATCH);
  /* And built at run time, in case the macros were not plain numbers. */
  char from_numbers[64];
  snprintf(from_numbers, sizeof from_numbers, "%d.%d.%d", LINEDB_VERSION_MAJOR,
           LINEDB_VERSION_MINOR, LINEDB_VERSION_PATCH);

  const char *version = linedb_version();
  CHECK(version != NULL);
  check_str("linedb_version() vs header macros", version, from_macros);
  check_str("linedb_version() vs header numbers", version, from_numbers);
  check_str("linedb_version()", version, "0.1.0");
  /* A static string: the same pointer every time. */
  CHECK(linedb_version() == version);
}

static void test_code_names(void) {
  static const struct {
    linedb_code code;
    int value;
    const char *name;
  } codes[] = {
      {LINEDB_OK, 0, "LINEDB_OK"},
      {LINEDB_ERR_INVALID_ARGUMENT, 1, "LINEDB_ERR_INVALID_ARGUMENT"},
      {LINEDB_ERR_NOT_FOUND, 2, "LINEDB_ERR_NOT_FOUND"},
      {LINEDB_ERR_ALREADY_EXISTS, 3, "LINEDB_ERR_ALREADY_EXISTS"},
      {LINEDB_ERR_LOCKED, 4, "LINEDB_ERR_LOCKED"},
      {LINEDB_ERR_IO, 5, "LINEDB_ERR_IO"},
      {LINEDB_ERR_CORRUPT, 6, "LINEDB_ERR_CORRUPT"},
      {LINEDB_ERR_VERSION, 7, "LINEDB_ERR_VERSION"},
      {LINEDB_ERR_INTERNAL, 8, "LINEDB_ERR_INTERNAL"},
  };
  size_t i;
  for (i = 0; i < sizeof codes / sizeof codes[0]; i++) {
    CHECK((int)codes[i].code == codes[i].value);
    check_str("linedb_code_name", linedb_code_name(codes[i].code), codes[i].name);
  }

  /* Any other value a C caller can put in the enum gets the unknown name. */
  {
    static const long long others[] = {9, 10, 255, 256, 65536, 0x7fffffffLL, -1, -2};
    for (i = 0; i < sizeof others / sizeof others[0]; i++) {
      check_str("linedb_code_name(out of range)", linedb_code_name((linedb_code)others[i]),
                "LINEDB_UNKNOWN_CODE");
    }
  }

  CHECK(sizeof(linedb_code) == 4);
}

static void test_enum_values(void) {
  CHECK(LINEDB_PRECISION_NANOSECOND == 0);
  CHECK(LINEDB_PRECISION_MICROSECOND == 1);
  CHECK(LINEDB_PRECISION_MILLISECOND == 2);
  CHECK(LINEDB_PRECISION_SECOND == 3);
  CHECK(sizeof(linedb_precision) == 4);

  CHECK(LINEDB_FIELD_NONE == 0);
  CHECK(LINEDB_FIELD_FLOAT == 1);
  CHECK(LINEDB_FIELD_INTEGER == 2);
  CHECK(LINEDB_FIELD_UINTEGER == 3);
  CHECK(LINEDB_FIELD_STRING == 4);
  CHECK(LINEDB_FIELD_BOOLEAN == 5);
  CHECK(sizeof(linedb_field_type) == 4);

  CHECK(LINEDB_MESSAGE_MAX == 1024);
}

int main(void) {
  test_version();
  test_code_names();
  test_enum_values();
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
