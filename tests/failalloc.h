/*
 * failalloc.h - a failing allocator for the unit tests, as jansson's tests
 * have: fail the Nth allocation of an operation, for every N, so that every
 * error path after an allocation runs. Each run must end in success or in a
 * negative code with a message, crash nowhere, and leak nothing (ASan's leak
 * checker in the ASan+UBSan suite sees what a failed path forgot to free).
 *
 * How: a test that includes this header is linked with
 *   -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup,
 *   --wrap=strndup,--wrap=aligned_alloc
 * (CMakeLists.txt does it when it sees the include), so every such call in
 * Encore's own code - the static libraries and the test - goes through the
 * counter here; jansson's allocations come through json_set_alloc_funcs,
 * except while it parses or dumps: json_loads / json_loadb / json_load_file
 * and json_dumps / json_dumpb (also wrapped) fail as a whole instead, because
 * jansson's lexer silently drops a byte, and its writer an object key, when
 * an allocation fails (see failalloc.c). Not covered: allocations
 * inside libc (fopen, opendir, qsort), zlib, OpenBLAS and other shared
 * libraries.
 *
 * Only the calling thread's allocations are counted while a walk runs
 * (other threads, e.g. a BLAS pool, are not failed).
 */
#ifndef ENCORE_FAILALLOC_H
#define ENCORE_FAILALLOC_H

/* An operation under test: 0 on success (and, when it produced something,
 * the same thing as the run without failures), a negative code otherwise,
 * or FA_WRONG after fa_wrong() said what is wrong. An operation must not call
 * Check's ck_assert* while it runs: Check (a static library in Debian) is
 * linked with the wrapped allocator too, and a passing assertion allocates. */
typedef int (*fa_op)(void *ctx);
#define FA_WRONG 1
int fa_wrong(const char *fmt, ...) __attribute__((format(printf, 1, 2))); /* FA_WRONG */

/* Run op once without failures (it must return 0) counting its allocations
 * (N), then N more times, the k-th with its k-th allocation failing. Fails
 * the test (Check) if a run returns anything but 0 or a negative code.
 * Returns N. */
long fa_walk(const char *what, fa_op op, void *ctx);

/* Lower level: arm counting on this thread with the n-th allocation failing
 * (0: none); disarm; allocations counted; whether the failure happened. */
void fa_arm(long fail_at);
void fa_disarm(void);
long fa_count(void);
int fa_failed(void);

#endif
