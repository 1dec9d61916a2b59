// The header compiles on its own as C++11 and links from C++: extern "C"
// names, enums usable as plain C++ enums. Prints "N passed, M failed" last.
#include "linedb.h"

#include <cstdio>
#include <cstring>

int main() {
  int passed = 0;
  int failed = 0;
  const char *version = linedb_version();
  if (version != nullptr && std::strcmp(version, "0.1.0") == 0) {
    passed++;
  } else {
    failed++;
    std::fprintf(stderr, "FAILED: linedb_version() from C++\n");
  }
  const char *name = linedb_code_name(LINEDB_ERR_LOCKED);
  if (name != nullptr && std::strcmp(name, "LINEDB_ERR_LOCKED") == 0) {
    passed++;
  } else {
    failed++;
    std::fprintf(stderr, "FAILED: linedb_code_name() from C++\n");
  }
  static_assert(LINEDB_PRECISION_SECOND == 3, "linedb_precision");
  static_assert(LINEDB_FIELD_BOOLEAN == 5, "linedb_field_type");
  static_assert(LINEDB_MESSAGE_MAX == 1024, "LINEDB_MESSAGE_MAX");
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
