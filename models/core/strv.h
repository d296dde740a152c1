/*
 * strv.h - arrays of owned C strings (ids, titles, feature and class names).
 * Every module that keeps such an array frees and copies it with these.
 */
#ifndef ENCORE_STRV_H
#define ENCORE_STRV_H

#include <stddef.h>

/* Free v[0..n) and v itself. NULL ok; NULL entries ok. */
void strv_free(char **v, size_t n);

/* A new array of n copies of src[i], or of "<prefix><i>" when src is NULL
 * (default feature / class names). Caller frees with strv_free; NULL when
 * out of memory. */
char **strv_dup(const char *const *src, size_t n, const char *prefix);

#endif
