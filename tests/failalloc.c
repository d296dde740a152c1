/* failalloc.c - see failalloc.h. */
#include "failalloc.h"

#include <check.h>
#include <jansson.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t k, size_t n);
void *__wrap_realloc(void *p, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);

/* Armed on one thread only: the walk's. */
static pthread_t armed_thread;
static int armed;
static long counted, fail_at;
static int failed;

static int should_fail(void)
{
    if (!armed || !pthread_equal(pthread_self(), armed_thread))
        return 0;
    counted++;
    if (fail_at && counted == fail_at) {
        failed = 1;
        return 1;
    }
    return 0;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t k, size_t n)
{
    return should_fail() ? NULL : __real_calloc(k, n);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n); /* p stays valid on failure */
}

char *__wrap_strdup(const char *s)
{
    return should_fail() ? NULL : __real_strdup(s);
}

char *__wrap_strndup(const char *s, size_t n)
{
    return should_fail() ? NULL : __real_strndup(s, n);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return should_fail() ? NULL : __real_aligned_alloc(align, n);
}

/* jansson's parser is exempt from failing allocations: its lexer drops a
 * byte when its buffer cannot grow (load.c's lex_save ignores the result of
 * strbuffer_append_byte), so a parse under failures can silently change a
 * string rather than fail. Instead each json_load* call of Encore's code is
 * one failure point of its own, failing as a parse that ran out of memory
 * would: NULL, with json_error_out_of_memory. */
json_t *__real_json_loads(const char *s, size_t flags, json_error_t *e);
json_t *__real_json_loadb(const char *s, size_t n, size_t flags, json_error_t *e);
json_t *__real_json_load_file(const char *path, size_t flags, json_error_t *e);
json_t *__wrap_json_loads(const char *s, size_t flags, json_error_t *e);
json_t *__wrap_json_loadb(const char *s, size_t n, size_t flags, json_error_t *e);
json_t *__wrap_json_load_file(const char *path, size_t flags, json_error_t *e);

static int parsing; /* inside a json_load* or json_dump* (the walk's thread only) */

static json_t *parse_oom(json_error_t *e)
{
    if (e) {
        memset(e, 0, sizeof *e);
        snprintf(e->text, sizeof e->text - 1, "out of memory");
        e->text[JSON_ERROR_TEXT_LENGTH - 1] = (char)json_error_out_of_memory;
    }
    return NULL;
}

json_t *__wrap_json_loads(const char *s, size_t flags, json_error_t *e)
{
    if (should_fail())
        return parse_oom(e);
    parsing++;
    json_t *j = __real_json_loads(s, flags, e);
    parsing--;
    return j;
}

json_t *__wrap_json_loadb(const char *s, size_t n, size_t flags, json_error_t *e)
{
    if (should_fail())
        return parse_oom(e);
    parsing++;
    json_t *j = __real_json_loadb(s, n, flags, e);
    parsing--;
    return j;
}

json_t *__wrap_json_load_file(const char *path, size_t flags, json_error_t *e)
{
    if (should_fail())
        return parse_oom(e);
    parsing++;
    json_t *j = __real_json_load_file(path, flags, e);
    parsing--;
    return j;
}

/* The same for jansson's writer: dump.c ignores the result of dump_string()
 * for an object's keys, so a dump whose buffer cannot grow can leave a key
 * out and still return the text. json_dumps / json_dumpb of Encore's code
 * are one failure point each (NULL / 0, as when out of memory). */
char *__real_json_dumps(const json_t *j, size_t flags);
size_t __real_json_dumpb(const json_t *j, char *b, size_t n, size_t flags);
char *__wrap_json_dumps(const json_t *j, size_t flags);
size_t __wrap_json_dumpb(const json_t *j, char *b, size_t n, size_t flags);

char *__wrap_json_dumps(const json_t *j, size_t flags)
{
    if (should_fail())
        return NULL;
    parsing++;
    char *s = __real_json_dumps(j, flags);
    parsing--;
    return s;
}

size_t __wrap_json_dumpb(const json_t *j, char *b, size_t n, size_t flags)
{
    if (should_fail())
        return 0;
    parsing++;
    size_t k = __real_json_dumpb(j, b, n, flags);
    parsing--;
    return k;
}

/* jansson allocates in its own (shared) library: route it here too (but
 * not while it parses or dumps, see above). */
static void *json_malloc(size_t n)
{
    return parsing ? __real_malloc(n) : __wrap_malloc(n);
}

static void json_setup(void)
{
    json_set_alloc_funcs(json_malloc, free);
}

void fa_arm(long n)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, json_setup);
    armed_thread = pthread_self();
    counted = 0;
    fail_at = n;
    failed = 0;
    armed = 1;
}

void fa_disarm(void)
{
    armed = 0;
}

long fa_count(void)
{
    return counted;
}

int fa_failed(void)
{
    return failed;
}

static char wrong[1024];

int fa_wrong(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(wrong, sizeof wrong, fmt, ap); /* into a static buffer: no allocation */
    va_end(ap);
    return FA_WRONG;
}

long fa_walk(const char *what, fa_op op, void *ctx)
{
    wrong[0] = '\0';
    fa_arm(0);
    int rc = op(ctx);
    fa_disarm();
    long n = fa_count();
    ck_assert_msg(rc == 0, "%s: fails (%d) without any allocation failing: %s", what, rc, wrong);
    ck_assert_msg(n > 0, "%s: no allocation counted (is the test linked with --wrap?)", what);
    long reached = 0;
    for (long k = 1; k <= n; k++) {
        fa_arm(k);
        rc = op(ctx);
        fa_disarm();
        ck_assert_msg(rc <= 0, "%s: allocation %ld of %ld failed: returned %d: %s", what, k, n, rc,
                      wrong);
        reached += fa_failed();
    }
    /* The same operation allocates the same way each time (a differing count
     * would leave allocations unwalked). */
    ck_assert_msg(reached == n, "%s: only %ld of %ld failure points reached", what, reached, n);
    return n;
}
