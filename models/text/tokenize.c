/*
 * tokenize.c - byte-safe tokeniser, n-gram lists and the vocabulary of the
 * text family (see tokenize.h for the rules).
 */
#define _GNU_SOURCE 1 /* qsort_r */
#include "text/tokenize.h"

#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/strmap.h"

/* Token classes of one unit (a byte, or a whole UTF-8 sequence). */
enum { SEP = 0, WORD = 1, PUNCT = 2 };

/* Length of a structurally valid UTF-8 multi-byte sequence at s[0..n), or 0. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    size_t k = s[0] >= 0xC2 && s[0] <= 0xDF   ? 2
               : s[0] >= 0xE0 && s[0] <= 0xEF ? 3
               : s[0] >= 0xF0 && s[0] <= 0xF4 ? 4
                                              : 0;
    if (!k || k > n)
        return 0;
    for (size_t i = 1; i < k; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    return k;
}

/* Class of the unit at s[0..n) (n >= 1) and its length in *len. */
static int unit_class(const unsigned char *s, size_t n, size_t *len)
{
    unsigned char c = s[0];
    *len = 1;
    if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
            return WORD;
        return c <= 0x20 || c == 0x7f ? SEP : PUNCT;
    }
    size_t k = utf8_len(s, n);
    if (k) {
        *len = k;
        if (k == 2 && c == 0xC2) /* U+0080..U+00BF: nbsp, C1, latin-1 symbols */
            return s[1] == 0xA0 ? SEP : PUNCT;
        if (k == 3 && c == 0xE2 && (s[1] == 0x80 || (s[1] == 0x81 && s[2] <= 0xAF)))
            return s[1] == 0x80 && s[2] <= 0x8A ? SEP : PUNCT; /* U+2000..U+206F */
        return WORD;
    }
    /* A byte outside UTF-8: latin-1 / cp1252. 0x80-0x9F are cp1252 quotes,
     * dashes and the ellipsis, 0xA1-0xBF latin-1 symbols: punctuation; 0xA0
     * is a no-break space; 0xC0-0xFF are letters. */
    if (c == 0xA0)
        return SEP;
    return c < 0xC0 ? PUNCT : WORD;
}

size_t tok_split(const char *s, size_t n, struct tok_span *out, size_t cap)
{
    if (n > UINT32_MAX)
        n = UINT32_MAX;
    const unsigned char *u = (const unsigned char *)s;
    size_t count = 0, i = 0;
    while (i < n) {
        size_t ul;
        int c = unit_class(u + i, n - i, &ul);
        if (c == SEP) {
            i += ul;
            continue;
        }
        size_t start = i, len = ul;
        if (c == WORD) {
            size_t nl;
            while (i + len < n && unit_class(u + i + len, n - i - len, &nl) == WORD &&
                   len + nl <= TOK_MAX_LEN)
                len += nl;
        }
        if (count < cap)
            out[count] = (struct tok_span){(uint32_t)start, (uint32_t)len};
        count++;
        i += len;
    }
    return count;
}

size_t tok_copy_lower(const char *s, struct tok_span t, char *dst)
{
    for (uint32_t k = 0; k < t.len; k++) {
        unsigned char c = (unsigned char)s[t.off + k];
        dst[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    return t.len;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    size_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *np = realloc(*p, nc * elem);
    if (!np)
        return ENC_ENOMEM;
    *p = np;
    *cap = nc;
    return 0;
}

int tok_grams_build(struct tok_grams *g, const char *s, size_t n, int nmin, int nmax)
{
    if (nmin < 1)
        nmin = 1;
    if (nmax > 3)
        nmax = 3;
    size_t nt = tok_split(s, n, NULL, 0);
    if (grow((void **)&g->spans, &g->scap, nt + 1, sizeof *g->spans))
        return ENC_ENOMEM;
    tok_split(s, n, g->spans, nt);
    g->n = 0;
    g->len = 0;
    size_t total = 0;
    for (int k = nmin; k <= nmax; k++)
        total += nt >= (size_t)k ? nt - (size_t)k + 1 : 0;
    if (grow((void **)&g->off, &g->ncap, total + 1, sizeof *g->off) ||
        grow((void **)&g->buf, &g->cap, (size_t)nmax * (TOK_MAX_LEN + 1) * (nt + 1), 1))
        return ENC_ENOMEM;
    g->off[0] = 0;
    for (int k = nmin; k <= nmax; k++)
        for (size_t i = 0; i + (size_t)k <= nt; i++) {
            for (int j = 0; j < k; j++) {
                if (j)
                    g->buf[g->len++] = ' ';
                g->len += tok_copy_lower(s, g->spans[i + (size_t)j], g->buf + g->len);
            }
            g->off[++g->n] = (uint32_t)g->len;
        }
    return 0;
}

void tok_grams_clear(struct tok_grams *g)
{
    free(g->buf);
    free(g->off);
    free(g->spans);
    memset(g, 0, sizeof *g);
}

uint64_t tok_hash(const char *s, size_t n)
{
    return strmap_hash(s, n);
}

/* ---- vocabulary: a string map plus a count per id ---------------------- */

struct tok_vocab {
    strmap map;
    int64_t *counts;
    size_t ccap;
};

tok_vocab *tok_vocab_new(void)
{
    return calloc(1, sizeof(tok_vocab));
}

void tok_vocab_free(tok_vocab *v)
{
    if (!v)
        return;
    strmap_clear(&v->map);
    free(v->counts);
    free(v);
}

int64_t tok_vocab_find(const tok_vocab *v, const char *s, size_t n)
{
    return strmap_find(&v->map, s, n);
}

int64_t tok_vocab_add(tok_vocab *v, const char *s, size_t n, int64_t inc)
{
    size_t before = strmap_size(&v->map);
    if (grow((void **)&v->counts, &v->ccap, before + 1, sizeof *v->counts))
        return ENC_ENOMEM;
    int64_t id = strmap_add(&v->map, s, n);
    if (id < 0)
        return id;
    if ((size_t)id == before)
        v->counts[id] = inc;
    else
        v->counts[id] += inc;
    return id;
}

size_t tok_vocab_size(const tok_vocab *v)
{
    return strmap_size(&v->map);
}

void tok_vocab_bump(tok_vocab *v, size_t id, int64_t inc)
{
    if (id < strmap_size(&v->map))
        v->counts[id] += inc;
}

int64_t tok_vocab_count(const tok_vocab *v, size_t id)
{
    return id < strmap_size(&v->map) ? v->counts[id] : 0;
}

const char *tok_vocab_str(const tok_vocab *v, size_t id, size_t *len)
{
    return strmap_key(&v->map, id, len);
}

static int cmp_entries(const void *a, const void *b, void *ctx)
{
    const tok_vocab *v = ctx;
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    if (v->counts[x] != v->counts[y])
        return v->counts[x] > v->counts[y] ? -1 : 1;
    size_t lx, ly;
    const char *sx = tok_vocab_str(v, x, &lx), *sy = tok_vocab_str(v, y, &ly);
    int c = memcmp(sx, sy, lx < ly ? lx : ly);
    return c ? c : (lx < ly ? -1 : lx > ly);
}

int tok_vocab_prune(const tok_vocab *v, int64_t min_count, size_t max_size, tok_vocab **out)
{
    *out = NULL;
    size_t n = strmap_size(&v->map);
    uint32_t *ids = malloc((n ? n : 1) * sizeof *ids);
    tok_vocab *nv = tok_vocab_new();
    if (!ids || !nv) {
        free(ids);
        tok_vocab_free(nv);
        return ENC_ENOMEM;
    }
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (v->counts[i] >= min_count)
            ids[k++] = (uint32_t)i;
    qsort_r(ids, k, sizeof *ids, cmp_entries, (void *)v); /* glibc (gnu11 build) */
    if (max_size && k > max_size)
        k = max_size;
    for (size_t i = 0; i < k; i++) {
        size_t len;
        const char *s = tok_vocab_str(v, ids[i], &len);
        if (tok_vocab_add(nv, s, len, v->counts[ids[i]]) < 0) {
            free(ids);
            tok_vocab_free(nv);
            return ENC_ENOMEM;
        }
    }
    free(ids);
    *out = nv;
    return 0;
}

size_t tok_vocab_mem(const tok_vocab *v)
{
    return sizeof *v + strmap_mem(&v->map) + v->ccap * sizeof *v->counts;
}
