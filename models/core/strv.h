/*
 * strv.h - arrays of owned C strings (ids, titles, tag, feature and class
 * names). Every module that keeps such an array frees, copies and grows it
 * with these, so each string has one owner and one way to go.
 */
#ifndef ENCORE_STRV_H
#define ENCORE_STRV_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

/* Free v[0..n) and v itself. NULL ok; NULL entries ok. */
void strv_free(char **v, size_t n);

/* A new array of n copies of src[i], or of "<prefix><i>" when src is NULL
 * (default feature / class names). Caller frees with strv_free; NULL when
 * out of memory. */
char **strv_dup(const char *const *src, size_t n, const char *prefix);

/* A new array of NUL-terminated copies of the n strings of a string table,
 * string i = bytes[off[i] .. off[i+1]) (a model file's st_strings). Caller
 * frees with strv_free; NULL when out of memory. */
char **strv_from_table(const char *bytes, const int64_t *off, size_t n);

/* A growable array of owned strings; zero-initialise, strv_clear frees. */
struct strv {
    char **v;
    size_t n, cap;
};

/* Append a copy of s[0..len). Returns 0 or ENC_ENOMEM. */
int strv_push(struct strv *a, const char *s, size_t len);

/* Append s itself (malloc'd; the array owns it from now on, and frees it
 * when it cannot be added). s NULL (a failed allocation) is ENC_ENOMEM.
 * Returns 0 or ENC_ENOMEM. */
int strv_push_owned(struct strv *a, char *s);

/* Free every string and the array; the struct is zeroed. */
void strv_clear(struct strv *a);

/* Bytes v[0..n) holds: each string with its NUL and its pointer (what a
 * family's mem_usage counts for its feature and class names). */
size_t strv_mem(char *const *v, size_t n);

/* A new JSON array of the n strings (a model's describe), or NULL when out
 * of memory or a string is not UTF-8. Caller owns the reference. */
json_t *strv_json(char *const *v, size_t n);

#endif
