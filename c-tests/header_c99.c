/* The header compiles on its own as strict C99 (see the Makefile's flags). */
#include "linedb.h"

/* ISO C forbids an empty translation unit. */
typedef int linedb_header_c99_check;
