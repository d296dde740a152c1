/* strv.c - arrays of owned strings (see strv.h). */
#include "core/strv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"

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

char **strv_from_table(const char *bytes, const int64_t *off, size_t n)
{
    char **v = calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; v && i < n; i++)
        if (!(v[i] = strndup(bytes + off[i], (size_t)(off[i + 1] - off[i])))) {
            strv_free(v, i);
            return NULL;
        }
    return v;
}

int strv_push_owned(struct strv *a, char *s)
{
    if (!s)
        return ENC_ENOMEM;
    if (a->n == a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 16;
        char **nv = nc > SIZE_MAX / sizeof *nv ? NULL : realloc(a->v, nc * sizeof *nv);
        if (!nv) {
            free(s);
            return ENC_ENOMEM;
        }
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = s;
    return 0;
}

int strv_push(struct strv *a, const char *s, size_t len)
{
    return strv_push_owned(a, strndup(s, len));
}

void strv_clear(struct strv *a)
{
    strv_free(a->v, a->n);
    memset(a, 0, sizeof *a);
}

size_t strv_mem(char *const *v, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += strlen(v[i]) + 1 + sizeof(char *);
    return s;
}

json_t *strv_json(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++)
        if (json_array_append_new(a, json_string(v[i]))) {
            json_decref(a);
            return NULL;
        }
    return a;
}
