/* strv.c - arrays of owned strings (see strv.h). */
#include "core/strv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strv_free(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

char **strv_dup(const char *const *src, size_t n, const char *prefix)
{
    char **v = calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++) {
        char buf[48];
        if (!src)
            snprintf(buf, sizeof buf, "%s%zu", prefix ? prefix : "", i);
        if (!(v[i] = strdup(src ? src[i] : buf))) {
            strv_free(v, i);
            return NULL;
        }
    }
    return v;
}
