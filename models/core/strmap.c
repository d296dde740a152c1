/* strmap.c - the hash map of string ids (see strmap.h). */
#include "core/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/strv.h"

uint64_t strmap_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull; /* sic: see strmap.h */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* FNV-1a's low bits depend only on the low bits of the input bytes: fold
 * high bits in before masking (the tag keeps the high 32 bits). */
static size_t slot_of(uint64_t h, size_t mask)
{
    return (size_t)(h ^ (h >> 29)) & mask;
}

static int key_eq(const strmap *m, uint32_t id, const char *s, size_t n)
{
    size_t len;
    const char *k = strmap_key(m, id, &len);
    return len == n && memcmp(k, s, n) == 0;
}

/* The slot holding s, or the empty slot where it would go. */
static size_t probe(const strmap *m, const char *s, size_t n, uint64_t h)
{
    size_t i = slot_of(h, m->mask);
    uint32_t tag = (uint32_t)(h >> 32);
    while (m->slots[i] && (m->tags[i] != tag || !key_eq(m, m->slots[i] - 1, s, n)))
        i = (i + 1) & m->mask;
    return i;
}

int64_t strmap_find(const strmap *m, const char *s, size_t n)
{
    if (!m->slots)
        return -1;
    size_t i = probe(m, s, n, strmap_hash(s, n));
    return m->slots[i] ? (int64_t)m->slots[i] - 1 : -1;
}

/* A new table of `nslots` (a power of two) holding the current keys. */
static int rehash(strmap *m, size_t nslots)
{
    uint32_t *slots = calloc(nslots, sizeof *slots), *tags = calloc(nslots, sizeof *tags);
    if (!slots || !tags) {
        free(slots);
        free(tags);
        return ENC_ENOMEM;
    }
    size_t mask = nslots - 1;
    for (size_t id = 0; id < m->n; id++) {
        size_t len;
        const char *k = strmap_key(m, id, &len);
        uint64_t h = strmap_hash(k, len);
        size_t i = slot_of(h, mask);
        while (slots[i])
            i = (i + 1) & mask;
        slots[i] = (uint32_t)id + 1;
        tags[i] = (uint32_t)(h >> 32);
    }
    free(m->slots);
    free(m->tags);
    m->slots = slots;
    m->tags = tags;
    m->mask = mask;
    return 0;
}

/* Slots for n keys at most half full. */
static size_t slots_for(size_t n)
{
    size_t s = 16;
    while (s < 2 * n + 2)
        s *= 2;
    return s;
}

/* Room in the owned pool for one more key of n bytes (and its NUL). */
static int pool_reserve(strmap *m, size_t n)
{
    if (m->n + 2 > m->off_cap) {
        size_t nc = m->off_cap ? m->off_cap * 2 : 64;
        int64_t *no = realloc(m->pool_off, nc * sizeof *no);
        if (!no)
            return ENC_ENOMEM;
        if (!m->pool_off)
            no[0] = 0;
        m->pool_off = no;
        m->off_cap = nc;
    }
    size_t used = (size_t)m->pool_off[m->n];
    if (n + 1 > m->pool_cap - used) {
        size_t nc = m->pool_cap ? m->pool_cap : 1024;
        while (n + 1 > nc - used)
            nc *= 2;
        char *np = realloc(m->pool, nc);
        if (!np)
            return ENC_ENOMEM;
        m->pool = np;
        m->pool_cap = nc;
    }
    return 0;
}

int64_t strmap_add(strmap *m, const char *s, size_t n)
{
    if (m->n && !m->owned)
        return ENC_EINVAL;
    m->owned = 1;
    uint64_t h = strmap_hash(s, n);
    if (m->slots) {
        size_t i = probe(m, s, n, h);
        if (m->slots[i])
            return (int64_t)m->slots[i] - 1;
    }
    if (m->n >= STRMAP_MAX)
        return ENC_ETOOLARGE;
    if (pool_reserve(m, n))
        return ENC_ENOMEM;
    m->bytes = m->pool; /* the pool may have moved */
    m->off = m->pool_off;
    if ((m->n + 1) * 2 + 2 > m->mask + 1 && rehash(m, slots_for(m->n + 1)))
        return ENC_ENOMEM;
    size_t at = (size_t)m->pool_off[m->n];
    memcpy(m->pool + at, s, n);
    m->pool[at + n] = '\0';
    m->pool_off[m->n + 1] = (int64_t)(at + n + 1);
    size_t i = probe(m, s, n, h); /* the table may have grown */
    m->slots[i] = (uint32_t)m->n + 1;
    m->tags[i] = (uint32_t)(h >> 32);
    return (int64_t)m->n++;
}

int strmap_index(strmap *m, const char *bytes, const int64_t *off, size_t n, size_t *dup)
{
    if (m->n || m->owned)
        return ENC_EINVAL;
    if (n > STRMAP_MAX)
        return ENC_ETOOLARGE;
    m->bytes = bytes;
    m->off = off;
    size_t nslots = slots_for(n);
    uint32_t *slots = calloc(nslots, sizeof *slots), *tags = calloc(nslots, sizeof *tags);
    if (!slots || !tags) {
        free(slots);
        free(tags);
        strmap_clear(m);
        return ENC_ENOMEM;
    }
    m->slots = slots;
    m->tags = tags;
    m->mask = nslots - 1;
    /* Insert one key at a time so a repeat is found against the earlier ones. */
    for (size_t id = 0; id < n; id++) {
        size_t len;
        const char *k = strmap_key(m, id, &len);
        uint64_t h = strmap_hash(k, len);
        m->n = id; /* the keys inserted so far */
        size_t i = probe(m, k, len, h);
        if (m->slots[i]) {
            if (dup)
                *dup = id;
            return ENC_EFORMAT;
        }
        m->slots[i] = (uint32_t)id + 1;
        m->tags[i] = (uint32_t)(h >> 32);
    }
    m->n = n;
    return 0;
}

char **strmap_strv(const strmap *m)
{
    char **v = calloc(m->n ? m->n : 1, sizeof *v);
    for (size_t i = 0; v && i < m->n; i++) {
        size_t len;
        const char *k = strmap_key(m, i, &len);
        if (!(v[i] = malloc(len + 1))) {
            strv_free(v, i);
            return NULL;
        }
        memcpy(v[i], k, len);
        v[i][len] = '\0';
    }
    return v;
}

size_t strmap_mem(const strmap *m)
{
    size_t table = m->slots ? (m->mask + 1) * (sizeof *m->slots + sizeof *m->tags) : 0;
    return table + m->pool_cap + m->off_cap * sizeof *m->pool_off;
}

void strmap_clear(strmap *m)
{
    free(m->pool);
    free(m->pool_off);
    free(m->slots);
    free(m->tags);
    memset(m, 0, sizeof *m);
}
