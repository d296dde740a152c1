/*
 * tokenize.h - the byte-safe tokeniser, n-grams and vocabulary of the text
 * family (NBSVM and LSTM share them, and the trainer and the server run the
 * very same code, so training and serving cannot tokenise differently).
 *
 * Tokens. Input is bytes, never decoded; a "unit" is one byte, or a whole
 * structurally valid UTF-8 sequence:
 *   - ASCII letters and digits, UTF-8 sequences (letters of any script) and
 *     bytes 0xC0-0xFF outside UTF-8 (latin-1 letters) are word units;
 *   - ASCII whitespace and control bytes, U+00A0 / a lone 0xA0 (no-break
 *     space) and U+2000..U+200A separate tokens;
 *   - every other ASCII byte, the cp1252 bytes 0x80-0x9F (quotes, dashes,
 *     the ellipsis 0x85) and latin-1 symbols 0xA1-0xBF outside UTF-8, and
 *     the UTF-8 general punctuation U+200B..U+206F and U+0080..U+00BF are
 *     one-unit tokens of their own ("great!" -> "great" "!"), since "!" and
 *     "?" carry sentiment;
 *   - ASCII A-Z are lower-cased (only ASCII: lower-casing latin-1 bytes would
 *     corrupt UTF-8, and rt-polarity is already lower-case).
 * So no byte sequence can split a UTF-8 character, and cp1252 quotes do not
 * glue to words ("\x93film\x94" -> "\x93" "film" "\x94").
 * A word longer than TOK_MAX_LEN bytes is cut into pieces of at most
 * TOK_MAX_LEN bytes, at unit boundaries.
 *
 * N-grams join tokens with one space ("not good"); tokens never contain a
 * space, so the joined form is unambiguous and readable in the model file.
 *
 * The vocabulary is a string map (core/strmap.h) of byte strings to dense
 * ids with per-entry counts; tok_vocab_prune() keeps those seen at least
 * min_count times, the max_size most frequent (ties by bytes), in that order.
 */
#ifndef ENCORE_TEXT_TOKENIZE_H
#define ENCORE_TEXT_TOKENIZE_H

#include <stddef.h>
#include <stdint.h>

#define TOK_MAX_LEN 64

/* One token: s[off .. off+len) of the input (before lower-casing). */
struct tok_span {
    uint32_t off, len;
};

/* Split s[0..n) into tokens. Writes at most `cap` spans to out (out may be
 * NULL when cap is 0) and returns the total number of tokens, so a caller can
 * size a buffer with a first call. Inputs over 4 GiB are truncated. */
size_t tok_split(const char *s, size_t n, struct tok_span *out, size_t cap);

/* Copy token `t` of s, lower-cased, to dst (room for TOK_MAX_LEN bytes);
 * returns its length. */
size_t tok_copy_lower(const char *s, struct tok_span t, char *dst);

/* A list of n-gram strings of one document, reused across documents.
 * Zero-initialise; tok_grams_clear frees. */
struct tok_grams {
    char *buf; /* concatenated n-grams */
    size_t len, cap;
    uint32_t *off; /* n + 1 offsets into buf */
    size_t n, ncap;
    struct tok_span *spans; /* scratch */
    size_t scap;
};

/* Fill g with the n-grams of s[0..n) for every order in [nmin, nmax]
 * (1 <= nmin <= nmax <= 3), in document order, unigrams first. Duplicates are
 * kept. Returns 0 or ENC_ENOMEM. */
int tok_grams_build(struct tok_grams *g, const char *s, size_t n, int nmin, int nmax);

static inline const char *tok_gram(const struct tok_grams *g, size_t i, size_t *len)
{
    *len = g->off[i + 1] - g->off[i];
    return g->buf + g->off[i];
}

void tok_grams_clear(struct tok_grams *g); /* frees members; the struct can be reused */

/* FNV-1a 64 of a byte string (strmap_hash; NBSVM hashes features with it). */
uint64_t tok_hash(const char *s, size_t n);

typedef struct tok_vocab tok_vocab;

/* A new empty vocabulary (caller frees with tok_vocab_free), NULL on OOM. */
tok_vocab *tok_vocab_new(void);
void tok_vocab_free(tok_vocab *v); /* NULL is a no-op */

/* Id of s (adding it with count 0 if absent), then count += inc.
 * Returns the id (>= 0) or ENC_ENOMEM / ENC_ETOOLARGE (over 2^31 entries). */
int64_t tok_vocab_add(tok_vocab *v, const char *s, size_t n, int64_t inc);

/* Id of s, or -1. Safe to call from several threads on a vocabulary that is
 * no longer modified. */
int64_t tok_vocab_find(const tok_vocab *v, const char *s, size_t n);

size_t tok_vocab_size(const tok_vocab *v);
/* count[id] += inc (ids out of range are ignored). */
void tok_vocab_bump(tok_vocab *v, size_t id, int64_t inc);
int64_t tok_vocab_count(const tok_vocab *v, size_t id);
/* Borrowed bytes of entry id (not NUL-terminated), valid until the next add or free. */
const char *tok_vocab_str(const tok_vocab *v, size_t id, size_t *len);

/* A new vocabulary of the entries with count >= min_count, the max_size most
 * frequent (max_size 0: all), ordered by count descending then bytes; counts
 * are kept. *out is caller-owned. Returns 0 or ENC_ENOMEM. */
int tok_vocab_prune(const tok_vocab *v, int64_t min_count, size_t max_size, tok_vocab **out);

/* Bytes used by the table and its strings. */
size_t tok_vocab_mem(const tok_vocab *v);

#endif
