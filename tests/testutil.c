/* testutil.c - see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *tu_src(const char *rel)
{
    static char buf[8][4096];
    static int slot;
    const char *root = getenv("ENCORE_SOURCE_DIR");
    char *b = buf[slot++ % 8];
    snprintf(b, 4096, "%s/%s", root ? root : ".", rel);
    return b;
}

const char *tu_shared_datasets(void)
{
    static char buf[4096];
    const char *env = getenv("ENCORE_SHARED");
    struct stat sb;
    if (env)
        snprintf(buf, sizeof buf, "%s/datasets", env);
    else
        snprintf(buf, sizeof buf, "%s", tu_src("../shared/datasets"));
    return stat(buf, &sb) == 0 && S_ISDIR(sb.st_mode) ? buf : NULL;
}

char *tu_tmpdir(void)
{
    char tmpl[] = "/tmp/encore-test.XXXXXX";
    char *d = mkdtemp(tmpl);
    return d ? strdup(d) : NULL;
}

void tu_rmrf(const char *path)
{
    if (!path || strncmp(path, "/tmp/encore-test.", 17) != 0)
        return; /* never anything but our own temp dirs */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
}

int tu_mkdirs(const char *path)
{
    char p[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof p)
        return -1;
    memcpy(p, path, n + 1);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, 0777) != 0 && errno != EEXIST)
            return -1;
        *s = '/';
    }
    return mkdir(p, 0777) == 0 || errno == EEXIST ? 0 : -1;
}

int tu_write_file(const char *path, const char *contents, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t k = fwrite(contents, 1, len, f);
    return fclose(f) == 0 && k == len ? 0 : -1;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = '\0';
        if (len)
            *len = (size_t)n;
    }
    return buf;
}

/* Check runs each test in a forked child by default, so skips are recorded
 * in a file (named in the environment, inherited by the children) rather
 * than in memory. */
#define TU_SKIP_ENV "ENCORE_TU_SKIP_LOG"

void tu_skip_note(const char *test, const char *fmt, ...)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "%s: ", test);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    va_end(ap);
    printf("SKIP %s\n", line);
    fflush(stdout);
    const char *log = getenv(TU_SKIP_ENV);
    int fd = log ? open(log, O_WRONLY | O_APPEND | O_CREAT, 0600) : -1;
    if (fd < 0) {
        fprintf(stderr, "tu_skip: cannot record the skip (%s unset or unwritable)\n", TU_SKIP_ENV);
        abort(); /* a skip that cannot be reported must not pass */
    }
    size_t len = strlen(line);
    line[len] = '\n';
    if (write(fd, line, len + 1) != (ssize_t)(len + 1))
        abort();
    close(fd);
}

int tu_need(const char *pkg, const char *cmd)
{
    char sh[4096];
    snprintf(sh, sizeof sh, "(%s) >/dev/null 2>&1", cmd);
    if (system(sh) == 0)
        return 0;
    snprintf(sh, sizeof sh, "bash '%s' --list test 2>/dev/null | grep -qx -- '%s'",
             tu_src("scripts/deps.sh"), pkg);
    int installable = system(sh) == 0;
    const char *ci = getenv("CI");
    if (installable && ci && strcmp(ci, "true") == 0) {
        fprintf(stderr,
                "FAIL: needs %s ('%s' failed); under CI=true this is a failure: "
                "bash scripts/deps.sh test installs it\n",
                pkg, cmd);
        return 1;
    }
    printf("SKIP: needs %s ('%s' failed; %s)\n", pkg, cmd,
           installable ? "bash scripts/deps.sh test installs it"
                       : "scripts/deps.sh does not install it");
    return 77;
}

TCase *tu_optional_tcase(Suite *s, const char *name)
{
    TCase *tc = tcase_create(name);
    tcase_set_tags(tc, "optional");
    suite_add_tcase(s, tc);
    return tc;
}

int tu_run(Suite *s)
{
    char log[] = "/tmp/encore-test-skips.XXXXXX";
    int fd = mkstemp(log);
    if (fd < 0 || setenv(TU_SKIP_ENV, log, 1) != 0) {
        perror("tu_run: skip log");
        return 1;
    }
    close(fd);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    size_t len = 0;
    char *skips = tu_read_file(log, &len);
    unlink(log);
    unsetenv(TU_SKIP_ENV);
    int rc = failed ? 1 : 0;
    if (len > 0) {
        int n = 0;
        for (size_t i = 0; i < len; i++)
            n += skips[i] == '\n';
        printf("%d test(s) skipped (exit 77 unless a test failed):\n%s", n, skips);
        if (!failed)
            rc = 77;
    }
    free(skips);
    return rc;
}
