/*
 * idx.c - IDX and CSV image data sets (see idx.h).
 *
 * Files are read whole by enc_read_file (core/file.h), which reads gzip and
 * raw files alike, so "train-images-idx3-ubyte" and
 * "train-images-idx3-ubyte.gz" take the same path. Every size is checked
 * before it is used.
 */
#include "cnn/idx.h"
#include "core/file.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void idx_array_clear(struct idx_array *a)
{
    if (!a)
        return;
    free(a->data);
    memset(a, 0, sizeof *a);
}

void idx_dataset_clear(struct idx_dataset *d)
{
    if (!d)
        return;
    free(d->pixels);
    free(d->labels);
    memset(d, 0, sizeof *d);
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int idx_parse(const void *buf, size_t len, const char *name, struct idx_array *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    const unsigned char *p = buf;
    if (len < 4)
        return enc_errf(err, ENC_EFORMAT,
                        "%s: byte %zu: truncated IDX header (file has %zu bytes, "
                        "the magic needs 4)",
                        name, len, len);
    if (p[0] != 0 || p[1] != 0)
        return enc_errf(err, ENC_EFORMAT,
                        "%s: byte 0: bad magic 0x%02x%02x%02x%02x (an IDX file "
                        "starts with 00 00 TYPE NDIM)",
                        name, p[0], p[1], p[2], p[3]);
    if (p[2] != 0x08) {
        const int known =
            p[2] == 0x09 || p[2] == 0x0B || p[2] == 0x0C || p[2] == 0x0D || p[2] == 0x0E;
        return enc_errf(err, known ? ENC_EUNSUPPORTED : ENC_EFORMAT,
                        "%s: byte 2: element type 0x%02x %s (images and labels are 0x08, "
                        "unsigned byte)",
                        name, p[2], known ? "not supported" : "unknown");
    }
    int nd = p[3];
    if (nd < 1 || nd > IDX_MAX_DIMS)
        return enc_errf(err, ENC_EFORMAT, "%s: byte 3: %d dimensions (expected 1..%d)", name, nd,
                        IDX_MAX_DIMS);
    size_t hdr = 4 + 4 * (size_t)nd;
    if (len < hdr)
        return enc_errf(err, ENC_EFORMAT,
                        "%s: byte %zu: truncated IDX header (%d dimensions need "
                        "%zu bytes)",
                        name, len, nd, hdr);
    size_t count = 1;
    for (int d = 0; d < nd; d++) {
        uint32_t v = be32(p + 4 + 4 * d);
        if (v == 0)
            return enc_errf(err, ENC_EFORMAT, "%s: byte %d: dimension %d is 0", name, 4 + 4 * d, d);
        if (count > IDX_MAX_BYTES / v)
            return enc_errf(err, ENC_EFORMAT,
                            "%s: byte %d: dimension %d (%u) makes the array "
                            "larger than %zu bytes",
                            name, 4 + 4 * d, d, v, (size_t)IDX_MAX_BYTES);
        count *= v;
        out->dims[d] = v;
    }
    if (len - hdr < count)
        return enc_errf(err, ENC_EFORMAT,
                        "%s: byte %zu: truncated: the dimensions promise %zu "
                        "data bytes after the %zu-byte header, the file ends after %zu",
                        name, len, count, hdr, len - hdr);
    if (len - hdr > count)
        return enc_errf(err, ENC_EFORMAT, "%s: byte %zu: %zu unexpected bytes after the data", name,
                        hdr + count, len - hdr - count);
    out->data = malloc(count);
    if (!out->data)
        return enc_errf(err, ENC_ENOMEM, "%s: out of memory", name);
    memcpy(out->data, p + hdr, count);
    out->ndim = nd;
    out->count = count;
    return 0;
}

int idx_read(const char *path, struct idx_array *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    int rc = enc_read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    rc = idx_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

static int max_label(const uint8_t *labels, size_t n)
{
    int m = -1;
    for (size_t i = 0; i < n; i++)
        if (labels[i] > m)
            m = labels[i];
    return m;
}

int idx_load(const char *images_path, const char *labels_path, struct idx_dataset *out,
             enc_err *err)
{
    memset(out, 0, sizeof *out);
    struct idx_array im, lb;
    int rc = idx_read(images_path, &im, err);
    if (rc)
        return rc;
    if (im.ndim != 3) {
        idx_array_clear(&im);
        return enc_errf(err, ENC_EFORMAT,
                        "%s: byte 3: images need 3 dimensions (N x rows x cols), "
                        "the file has %d",
                        images_path, im.ndim);
    }
    rc = idx_read(labels_path, &lb, err);
    if (rc) {
        idx_array_clear(&im);
        return rc;
    }
    if (lb.ndim != 1 || lb.dims[0] != im.dims[0]) {
        rc = lb.ndim != 1 ? enc_errf(err, ENC_EFORMAT,
                                     "%s: byte 3: labels need 1 dimension, the file has %d",
                                     labels_path, lb.ndim)
                          : enc_errf(err, ENC_EFORMAT, "%s: byte 4: %u labels but %s has %u images",
                                     labels_path, lb.dims[0], images_path, im.dims[0]);
        idx_array_clear(&im);
        idx_array_clear(&lb);
        return rc;
    }
    out->n = im.dims[0];
    out->rows = im.dims[1];
    out->cols = im.dims[2];
    out->pixels = im.data;
    out->labels = lb.data;
    out->n_classes = max_label(lb.data, lb.count) + 1;
    return 0;
}

/* Parse one unsigned integer field 0..255 at *p; advances *p. */
static int csv_field(const char **p, const char *end, int *v)
{
    const char *s = *p;
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    long x = 0;
    const char *d = s;
    while (s < end && *s >= '0' && *s <= '9' && x <= 255)
        x = x * 10 + (*s++ - '0');
    if (s == d || x > 255)
        return -1;
    if (s < end && *s == '.') { /* accept "12.0" but not "12.5" */
        s++;
        while (s < end && *s == '0')
            s++;
    }
    while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
        s++;
    *p = s;
    *v = (int)x;
    return 0;
}

int idx_load_csv(const char *path, struct idx_dataset *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    char *buf;
    size_t len;
    int rc = enc_read_file(path, &buf, &len, err);
    if (rc)
        return rc;
    const char *p = buf, *end = p + len;
    size_t line = 0, npix = 0, cap = 0;
    uint8_t *pix = NULL, *lab = NULL;
    size_t n = 0;
    while (p < end) {
        line++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *q = p;
        /* blank line (only whitespace) */
        while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
            q++;
        if (q == eol) {
            p = eol + 1;
            continue;
        }
        if (line == 1 && !(*q >= '0' && *q <= '9')) { /* header */
            p = eol + 1;
            continue;
        }
        if (npix == 0) { /* the first data line fixes the width */
            size_t commas = 0;
            for (const char *c = q; c < eol; c++)
                commas += *c == ',';
            npix = commas;
            size_t side = (size_t)llround(sqrt((double)npix));
            if (npix == 0 || side * side != npix) {
                rc = enc_errf(err, ENC_EFORMAT,
                              "%s:%zu:1: %zu pixel values per line; expected a "
                              "label then a square image (e.g. 784 = 28 x 28)",
                              path, line, npix);
                goto fail;
            }
            out->rows = out->cols = side;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 1024;
            uint8_t *np = realloc(pix, nc * npix), *nl = realloc(lab, nc);
            if (np)
                pix = np;
            if (nl)
                lab = nl;
            if (!np || !nl) {
                rc = enc_errf(err, ENC_ENOMEM, "%s: out of memory", path);
                goto fail;
            }
            cap = nc;
        }
        for (size_t f = 0; f <= npix; f++) {
            int v;
            if (csv_field(&q, eol, &v)) {
                rc = enc_errf(err, ENC_EFORMAT, "%s:%zu:%zu: field %zu: expected an integer 0..255",
                              path, line, (size_t)(q - p) + 1, f + 1);
                goto fail;
            }
            if (f == 0)
                lab[n] = (uint8_t)v;
            else
                pix[n * npix + f - 1] = (uint8_t)v;
            if (f < npix) {
                if (q >= eol || *q != ',') {
                    rc = enc_errf(err, ENC_EFORMAT, "%s:%zu:%zu: line has %zu fields, expected %zu",
                                  path, line, (size_t)(q - p) + 1, f + 1, npix + 1);
                    goto fail;
                }
                q++;
            }
        }
        if (q != eol) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%zu:%zu: more than %zu fields", path, line,
                          (size_t)(q - p) + 1, npix + 1);
            goto fail;
        }
        n++;
        p = eol + 1;
    }
    if (n == 0) {
        rc = enc_errf(err, ENC_EFORMAT, "%s: no data lines", path);
        goto fail;
    }
    free(buf);
    out->n = n;
    out->pixels = pix;
    out->labels = lab;
    out->n_classes = max_label(lab, n) + 1;
    return 0;
fail:
    free(buf);
    free(pix);
    free(lab);
    memset(out, 0, sizeof *out);
    return rc;
}

static int ends_with(const char *s, const char *suf)
{
    size_t a = strlen(s), b = strlen(suf);
    return a >= b && strcmp(s + a - b, suf) == 0;
}

int idx_load_any(const char *images_path, const char *labels_path, struct idx_dataset *out,
                 enc_err *err)
{
    if (ends_with(images_path, ".csv") || ends_with(images_path, ".csv.gz"))
        return idx_load_csv(images_path, out, err);
    if (!labels_path) {
        memset(out, 0, sizeof *out);
        return enc_errf(err, ENC_EINVAL, "%s: an IDX image file needs a labels file", images_path);
    }
    return idx_load(images_path, labels_path, out, err);
}
