/*
 * strmap.h - the one hash map of string ids: byte strings -> dense ids
 * 0..n-1 in insertion order.
 *
 * Every place that turns names into row numbers uses it: the trainer's
 * readers interning user / item / tag ids (interactions.c, items.c), the
 * import's id lists (import.c), a loaded mf model's id tables (mf.c) and the
 * text family's vocabulary (tokenize.c).
 *
 * Keys are the strings of a string table, string i = bytes[off[i] ..
 * off[i+1]) (the layout of st_strings in a model file). A map either owns
 * its table (strmap_add copies each new key into a pool, NUL-terminated) or
 * indexes a table the caller keeps alive (strmap_index: a mapped model file's
 * ids, nothing copied). Lookups are open addressing with linear probing over
 * a power-of-two table at most half full; each slot keeps the high 32 bits
 * of the key's hash, so a probe compares key bytes only on a tag match.
 *
 *   slots[]  id + 1 (0: empty)      tags[]  hash >> 32
 *   off[]    n + 1 key offsets      bytes   the keys
 *
 * A zeroed struct is an empty owned map. Not thread-safe for writers;
 * strmap_find on a map nobody modifies is safe from any number of threads.
 */
#ifndef ENCORE_STRMAP_H
#define ENCORE_STRMAP_H

#include <stddef.h>
#include <stdint.h>

#define STRMAP_MAX ((size_t)INT32_MAX - 1) /* ids fit an int32 */

typedef struct strmap {
    const char *bytes;  /* the keys (== pool when owned) */
    const int64_t *off; /* n + 1 offsets (== pool_off when owned) */
    size_t n;
    int owned;  /* 1: keys copied by strmap_add, each NUL-terminated */
    char *pool; /* owned keys */
    int64_t *pool_off;
    size_t pool_cap, off_cap;
    uint32_t *slots, *tags;
    size_t mask; /* slots - 1 (0 with no table yet) */
} strmap;

/* FNV-1a 64 of s[0..n), with the offset basis Encore has always used:
 * 1469598103934665603, one digit short of the published 14695981039346656037
 * (the mixing is the same). Stable: text models hash n-grams into features
 * with it (tok_hash), so it must never change. */
uint64_t strmap_hash(const char *s, size_t n);

/* Id of s[0..n) in an owned map, adding a copy when new (its id is then the
 * previous size). Returns the id (>= 0) or ENC_ENOMEM / ENC_ETOOLARGE (more
 * than STRMAP_MAX keys); ENC_EINVAL on a map made by strmap_index. */
int64_t strmap_add(strmap *m, const char *s, size_t n);

/* Index the borrowed string table bytes/off of n keys (valid until
 * strmap_clear). Returns 0, ENC_ENOMEM, ENC_ETOOLARGE or ENC_EFORMAT when a
 * key repeats: *dup (may be NULL) is then the index of its second
 * occurrence and strmap_find of it gives the first. m must be empty. */
int strmap_index(strmap *m, const char *bytes, const int64_t *off, size_t n, size_t *dup);

/* Id of s[0..n), or -1. */
int64_t strmap_find(const strmap *m, const char *s, size_t n);

/* Key `id` (< strmap_size): borrowed bytes and length, valid until the next
 * strmap_add or strmap_clear; NUL-terminated in an owned map. */
static inline const char *strmap_key(const strmap *m, size_t id, size_t *len)
{
    *len = (size_t)(m->off[id + 1] - m->off[id]) - (m->owned ? 1 : 0);
    return m->bytes + m->off[id];
}

static inline size_t strmap_size(const strmap *m)
{
    return m->n;
}

/* A new array of NUL-terminated copies of the keys in id order (caller frees
 * with strv_free(v, strmap_size(m))), or NULL when out of memory. */
char **strmap_strv(const strmap *m);

/* Bytes held by the map (table and owned keys). */
size_t strmap_mem(const strmap *m);

/* Free what the map owns; it is zeroed (an empty owned map again). */
void strmap_clear(strmap *m);

#endif
