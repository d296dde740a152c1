/*
 * testutil.h - helpers shared by the Check unit tests.
 *
 * Every tests/test_<module>.c is its own executable (CMake globs them) and
 * runs its suite with tu_run(); ctest sets ENCORE_SOURCE_DIR/ENCORE_BUILD_DIR.
 */
#ifndef ENCORE_TESTUTIL_H
#define ENCORE_TESTUTIL_H

#include <check.h>
#include <stddef.h>

/* Path under the source tree (static buffer, one per call site: copy it). */
const char *tu_src(const char *rel);
/* The shared datasets directory (../shared/datasets beside the repo, or
 * $ENCORE_SHARED/datasets), or NULL when absent (tests then skip, saying so). */
const char *tu_shared_datasets(void);
/* A fresh temporary directory (malloc'd path; removed by tu_rmrf). */
char *tu_tmpdir(void);
void tu_rmrf(const char *path);
/* Write a file with the given contents; returns 0 on success. */
int tu_write_file(const char *path, const char *contents, size_t len);
/* Read a whole file (malloc'd, NUL-terminated), NULL on failure. */
char *tu_read_file(const char *path, size_t *len);

/* Run a suite, print Check's summary, return the process exit code. */
int tu_run(Suite *s);

#endif
