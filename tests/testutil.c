/* testutil.c - see testutil.h. */
#define _GNU_SOURCE
#include "testutil.h"

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
        return;   /* never anything but our own temp dirs */
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    if (system(cmd) != 0)
        fprintf(stderr, "warning: could not remove %s\n", path);
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

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
