/*
 * npy.c - the .npy reader (see npy.h): the magic and header length, the
 * header's Python literal (a small cursor, struct lit, whose errors name the
 * header column), the dtype, and the size of the data block.
 */
#include "mf/npy.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int mul_ok(size_t a, size_t b, size_t *out)
{
    if (a && b > SIZE_MAX / a)
        return 0;
    *out = a * b;
    return 1;
}

static const unsigned char npy_magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

int mf_npy_is(const void *buf, size_t len)
{
    return len >= 6 && memcmp(buf, npy_magic, 6) == 0;
}

/* A cursor over the header's Python literal, for messages by column. */
struct lit {
    const char *s, *end, *start;
};

static void lit_ws(struct lit *p)
{
    while (p->s < p->end && (*p->s == ' ' || *p->s == '\t'))
        p->s++;
}

static int lit_fail(struct lit *p, enc_err *err, const char *what)
{
    return enc_errf(err, ENC_EFORMAT, "npy header column %td: %s", p->s - p->start + 1, what);
}

/* A quoted Python string without escapes (numpy never writes any) into out. */
static int lit_string(struct lit *p, char *out, size_t cap, enc_err *err)
{
    if (p->s >= p->end || (*p->s != '\'' && *p->s != '"'))
        return lit_fail(p, err, "expected a quoted string");
    char q = *p->s++;
    size_t n = 0;
    while (p->s < p->end && *p->s != q) {
        if (*p->s == '\\')
            return lit_fail(p, err, "escapes are not allowed in header strings");
        if (n + 1 >= cap)
            return lit_fail(p, err, "string too long");
        out[n++] = *p->s++;
    }
    if (p->s >= p->end)
        return lit_fail(p, err, "unterminated string");
    p->s++;
    out[n] = '\0';
    return 0;
}

static int lit_word(struct lit *p, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(p->end - p->s) >= n && memcmp(p->s, w, n) == 0) {
        p->s += n;
        return 1;
    }
    return 0;
}

/* "(3, 4)", "(3,)" or "()" */
static int lit_shape(struct lit *p, struct mf_npy *o, enc_err *err)
{
    if (p->s >= p->end || *p->s != '(')
        return lit_fail(p, err, "shape must be a tuple");
    p->s++;
    o->ndim = 0;
    for (;;) {
        lit_ws(p);
        if (p->s < p->end && *p->s == ')') {
            p->s++;
            return 0;
        }
        if (p->s >= p->end || *p->s < '0' || *p->s > '9')
            return lit_fail(p, err, "shape entries must be non-negative integers");
        if (o->ndim == MF_NPY_MAX_DIMS)
            return lit_fail(p, err, "too many dimensions");
        int64_t v = 0;
        while (p->s < p->end && *p->s >= '0' && *p->s <= '9') {
            v = v * 10 + (*p->s++ - '0');
            if (v > (INT64_C(1) << 50))
                return lit_fail(p, err, "shape entry too large");
        }
        o->shape[o->ndim++] = v;
        lit_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == ')') {
            /* (3) is an int in Python, not a tuple */
            if (o->ndim == 1)
                return lit_fail(p, err, "a 1-D shape needs a trailing comma: (n,)");
            p->s++;
            return 0;
        }
        return lit_fail(p, err, "expected ',' or ')' in shape");
    }
}

static int npy_descr(const char *d, struct mf_npy *o, enc_err *err)
{
    if (!d[0] || !d[1])
        return enc_errf(err, ENC_EFORMAT, "npy header: descr '%s' is not a dtype", d);
    char bo = d[0], kind = d[1];
    if (kind == 'O')
        return enc_errf(err, ENC_EUNSUPPORTED,
                        "npy: object arrays (pickles) are refused; save ids as str or int");
    if (bo != '<' && bo != '>' && bo != '|' && bo != '=')
        return enc_errf(err, ENC_EFORMAT, "npy header: descr '%s' has no byte order", d);
    char *end;
    errno = 0;
    long sz = strtol(d + 2, &end, 10);
    if (d[2] < '0' || d[2] > '9' || *end || errno || sz <= 0 || sz > 1 << 20)
        return enc_errf(err, ENC_EFORMAT, "npy header: descr '%s' has no valid item size", d);
    o->kind = kind;
    o->big_endian = bo == '>';
    switch (kind) {
    case 'f':
        if (sz != 4 && sz != 8)
            return enc_errf(err, ENC_EUNSUPPORTED, "npy: dtype '%s': only float32 and float64", d);
        break;
    case 'i':
    case 'u':
        if (sz != 1 && sz != 2 && sz != 4 && sz != 8)
            return enc_errf(err, ENC_EFORMAT, "npy header: descr '%s': bad integer size", d);
        break;
    case 'U':
        o->itemsize = (size_t)sz * 4;
        return 0;
    case 'S':
        break;
    default:
        return enc_errf(err, ENC_EUNSUPPORTED, "npy: dtype '%s' is not supported", d);
    }
    o->itemsize = (size_t)sz;
    return 0;
}

/* The fixed part: magic, version, header length; the header's span
 * [*hstart, *hstart + *hlen) is checked for printable ASCII and a final
 * newline. */
static int npy_preamble(const unsigned char *b, size_t len, struct mf_npy *o, size_t *hstart,
                        size_t *hlen, enc_err *err)
{
    if (!mf_npy_is(b, len))
        return enc_errf(err, ENC_EFORMAT, "npy: missing the \\x93NUMPY magic");
    if (len < 10)
        return enc_errf(err, ENC_EFORMAT, "npy: truncated before the header length");
    o->major = b[6];
    o->minor = b[7];
    if (o->major < 1 || o->major > 3 || o->minor != 0)
        return enc_errf(err, ENC_EUNSUPPORTED, "npy: format version %d.%d (reads 1.0, 2.0, 3.0)",
                        o->major, o->minor);
    if (o->major == 1) {
        *hstart = 10;
        *hlen = (size_t)b[8] | (size_t)b[9] << 8;
    } else {
        if (len < 12)
            return enc_errf(err, ENC_EFORMAT, "npy: truncated before the header length");
        *hstart = 12;
        *hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    }
    if (*hlen > len - *hstart)
        return enc_errf(err, ENC_EFORMAT,
                        "npy: header length %zu runs past the end of the file (%zu bytes)", *hlen,
                        len);
    if (*hlen == 0 || b[*hstart + *hlen - 1] != '\n')
        return enc_errf(err, ENC_EFORMAT, "npy header: must end with a newline");
    for (size_t i = 0; i + 1 < *hlen; i++) {
        unsigned char c = b[*hstart + i];
        if (c < 0x20 || c > 0x7e)
            return enc_errf(err, ENC_EFORMAT,
                            "npy header column %zu: byte 0x%02x is not printable ASCII", i + 1, c);
    }
    return 0;
}

/* One "key: value" of the header dict at p (after the '{' or a ','). */
static int npy_item(struct lit *p, struct mf_npy *o, char *descr, int have[3], enc_err *err)
{
    char key[32];
    const char *kpos = p->s;
    int rc = lit_string(p, key, sizeof key, err);
    if (rc)
        return rc;
    lit_ws(p);
    if (p->s >= p->end || *p->s != ':')
        return lit_fail(p, err, "expected ':' after a key");
    p->s++;
    lit_ws(p);
    if (strcmp(key, "descr") == 0 && !have[0]) {
        if (p->s < p->end && *p->s == '[')
            return lit_fail(p, err, "structured dtypes are not supported");
        have[0] = 1;
        return lit_string(p, descr, 64, err);
    }
    if (strcmp(key, "fortran_order") == 0 && !have[1]) {
        if (lit_word(p, "True"))
            o->fortran_order = 1;
        else if (lit_word(p, "False"))
            o->fortran_order = 0;
        else
            return lit_fail(p, err, "fortran_order must be True or False");
        have[1] = 1;
        return 0;
    }
    if (strcmp(key, "shape") == 0 && !have[2]) {
        have[2] = 1;
        return lit_shape(p, o, err);
    }
    p->s = kpos;
    return enc_errf(err, ENC_EFORMAT, "npy header column %td: %s key '%s'", kpos - p->start + 1,
                    strcmp(key, "descr") && strcmp(key, "fortran_order") && strcmp(key, "shape")
                        ? "unexpected"
                        : "duplicate",
                    key);
}

/* The header dict: exactly descr (into descr[64]), fortran_order and shape. */
static int npy_dict(struct lit *p, struct mf_npy *o, char *descr, enc_err *err)
{
    lit_ws(p);
    if (p->s >= p->end || *p->s != '{')
        return lit_fail(p, err, "header must be a dict literal");
    p->s++;
    int have[3] = {0, 0, 0}, rc; /* descr, fortran_order, shape */
    for (;;) {
        lit_ws(p);
        if (p->s < p->end && *p->s == '}') {
            p->s++;
            break;
        }
        if ((rc = npy_item(p, o, descr, have, err)))
            return rc;
        lit_ws(p);
        if (p->s < p->end && *p->s == ',') {
            p->s++;
            continue;
        }
        if (p->s < p->end && *p->s == '}') {
            p->s++;
            break;
        }
        return lit_fail(p, err, "expected ',' or '}'");
    }
    lit_ws(p);
    if (p->s != p->end)
        return lit_fail(p, err, "unexpected text after the dict");
    if (!have[0] || !have[1] || !have[2])
        return enc_errf(err, ENC_EFORMAT, "npy header: missing key '%s'",
                        !have[0]   ? "descr"
                        : !have[1] ? "fortran_order"
                                   : "shape");
    return 0;
}

int mf_npy_parse(const void *buf, size_t len, struct mf_npy *o, enc_err *err)
{
    const unsigned char *b = buf;
    memset(o, 0, sizeof *o);
    size_t hstart = 0, hlen = 0;
    int rc = npy_preamble(b, len, o, &hstart, &hlen, err);
    if (rc)
        return rc;
    struct lit p = {(const char *)b + hstart, (const char *)b + hstart + hlen - 1,
                    (const char *)b + hstart};
    char descr[64] = "";
    if ((rc = npy_dict(&p, o, descr, err)) || (rc = npy_descr(descr, o, err)))
        return rc;
    size_t count = 1;
    for (int i = 0; i < o->ndim; i++)
        if (!mul_ok(count, (size_t)o->shape[i], &count))
            return enc_errf(err, ENC_EFORMAT, "npy header: shape overflows");
    size_t nbytes;
    if (!mul_ok(count, o->itemsize, &nbytes))
        return enc_errf(err, ENC_EFORMAT, "npy header: shape x itemsize overflows");
    size_t have = len - hstart - hlen;
    if (have != nbytes)
        return enc_errf(err, ENC_EFORMAT,
                        "npy: data block is %zu bytes, shape and dtype '%s' need %zu (%s)", have,
                        descr, nbytes, have < nbytes ? "truncated" : "trailing bytes");
    o->count = count;
    o->data = b + hstart + hlen;
    o->nbytes = nbytes;
    return 0;
}

uint64_t mf_npy_raw(const struct mf_npy *a, size_t i)
{
    const unsigned char *p = a->data + i * a->itemsize;
    uint64_t v = 0;
    for (size_t k = 0; k < a->itemsize; k++) {
        size_t pos = a->big_endian ? k : a->itemsize - 1 - k;
        v = v << 8 | p[pos];
    }
    return v;
}
