/*
 * testutil.h - helpers shared by the Check unit tests.
 *
 * Every tests/test_<module>.c is its own executable (CMake globs them) and
 * runs its suite with tu_run(); ctest sets ENCORE_SOURCE_DIR/ENCORE_BUILD_DIR.
 *
 * Skips. A test that cannot run here (no shared datasets, a CPU without AVX2)
 * calls tu_skip("why") and returns. A skip never counts as a pass: tu_run
 * exits 77 (ctest's SKIP_RETURN_CODE, shown as "Skipped") when a test skipped
 * and none failed. So that a skip does not hide the tests that did run, put
 * tests that may skip in a TCase made by tu_optional_tcase(): CMake sees the
 * call and runs them as their own ctest entry, test_<module>_optional (Check's
 * CK_INCLUDE_TAGS / CK_EXCLUDE_TAGS on the tag "optional").
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
/* mkdir -p without a shell (any characters in the path); 0 on success. */
int tu_mkdirs(const char *path);
/* Write a file with the given contents; returns 0 on success. */
int tu_write_file(const char *path, const char *contents, size_t len);
/* Read a whole file (malloc'd, NUL-terminated), NULL on failure. */
char *tu_read_file(const char *path, size_t *len);

/* Run a suite, print Check's summary, return the process exit code:
 * 1 if a test failed, else 77 if one skipped (listing why), else 0. */
int tu_run(Suite *s);

/* Skip the current test (inside START_TEST): record why, print it, return. */
#define tu_skip(...)                                                                               \
    do {                                                                                           \
        tu_skip_note(__func__, __VA_ARGS__);                                                       \
        return;                                                                                    \
    } while (0)
void tu_skip_note(const char *test, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* For a whole test program that needs a tool: 0 when the shell command `cmd`
 * succeeds; otherwise 77 (skip; prints why), or 1 under CI=true when Debian
 * package `pkg` is one that scripts/deps.sh installs (as e2e_need does in
 * tests/lib/e2e.sh). Return it from main. */
int tu_need(const char *pkg, const char *cmd);

/* A TCase tagged "optional", added to s: for tests that may tu_skip. */
TCase *tu_optional_tcase(Suite *s, const char *name);

#endif
