/* image.c - base64, binary PGM and PNG decoding for {"b64": ...} inputs (see image.h). */
#include "image.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#ifdef ENCORE_HAVE_PNG
#include <png.h>
#endif

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

unsigned char *image_b64_decode(const char *s, size_t n, size_t *len)
{
    unsigned char *out = malloc(n / 4 * 3 + 3);
    if (!out) {
        *len = 1;
        return NULL;
    }
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0, i = 0;
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '=')
            break;
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        int v = b64_value(c);
        if (v < 0)
            goto bad;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    for (; i < n; i++)
        if (s[i] != '=' && s[i] != ' ' && s[i] != '\n' && s[i] != '\r' && s[i] != '\t')
            goto bad;
    if (bits >= 6) /* a lone trailing character carries no whole byte */
        goto bad;
    *len = o;
    return out;
bad:
    free(out);
    *len = 0;
    return NULL;
}

/* One PGM header number after whitespace and # comments; -1 if absent. */
static long pgm_number(const unsigned char *d, size_t n, size_t *pos)
{
    for (;;) {
        while (*pos < n && isspace(d[*pos]))
            (*pos)++;
        if (*pos < n && d[*pos] == '#') {
            while (*pos < n && d[*pos] != '\n')
                (*pos)++;
            continue;
        }
        break;
    }
    if (*pos >= n || !isdigit(d[*pos]))
        return -1;
    long v = 0;
    while (*pos < n && isdigit(d[*pos])) {
        v = v * 10 + (d[(*pos)++] - '0');
        if (v > 1000000)
            return -1;
    }
    return v;
}

/* Binary PGM (P5, 8- or 16-bit) -> gray[H*W] in 0..255. */
static int pgm_decode(const unsigned char *d, size_t n, int64_t H, int64_t W, unsigned char *gray,
                      enc_err *err)
{
    size_t pos = 2;
    long width = pgm_number(d, n, &pos), height = pgm_number(d, n, &pos);
    long maxval = pgm_number(d, n, &pos);
    if (width <= 0 || height <= 0 || maxval <= 0 || maxval > 65535 || pos >= n || !isspace(d[pos]))
        return enc_errf(err, ENC_EINVAL, "malformed PGM header (expected P5 width height maxval)");
    pos++;
    if (width != W || height != H)
        return enc_errf(err, ENC_EINVAL,
                        "image is %ldx%ld (width x height); the model takes %lldx%lld", width,
                        height, (long long)W, (long long)H);
    size_t bpp = maxval > 255 ? 2 : 1, px = (size_t)(W * H);
    if (n - pos < px * bpp)
        return enc_errf(err, ENC_EINVAL, "PGM data truncated: %zu bytes for %zu pixels", n - pos,
                        px);
    for (size_t i = 0; i < px; i++) {
        unsigned long v =
            bpp == 2 ? ((unsigned long)d[pos + 2 * i] << 8) | d[pos + 2 * i + 1] : d[pos + i];
        if (v > (unsigned long)maxval)
            return enc_errf(err, ENC_EINVAL, "PGM pixel %zu is %lu, above maxval %ld", i, v,
                            maxval);
        gray[i] =
            maxval == 255
                ? (unsigned char)v
                : (unsigned char)((v * 255 + (unsigned long)maxval / 2) / (unsigned long)maxval);
    }
    return 0;
}

#ifdef ENCORE_HAVE_PNG
static int png_decode(const unsigned char *d, size_t n, int64_t H, int64_t W, unsigned char *gray,
                      enc_err *err)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_memory(&img, d, n))
        return enc_errf(err, ENC_EINVAL, "malformed PNG: %s", img.message);
    if ((int64_t)img.width != W || (int64_t)img.height != H) {
        int rc =
            enc_errf(err, ENC_EINVAL, "image is %ux%u (width x height); the model takes %lldx%lld",
                     img.width, img.height, (long long)W, (long long)H);
        png_image_free(&img);
        return rc;
    }
    img.format = PNG_FORMAT_GRAY; /* colour is converted, alpha composited on black */
    memset(gray, 0, (size_t)(W * H));
    png_color black = {0, 0, 0};
    if (!png_image_finish_read(&img, &black, gray, 0, NULL)) {
        int rc = enc_errf(err, ENC_EINVAL, "malformed PNG: %s", img.message);
        png_image_free(&img);
        return rc;
    }
    return 0;
}
#endif

int image_decode_gray(const unsigned char *d, size_t n, int64_t H, int64_t W, unsigned char *gray,
                      enc_err *err)
{
    if (n >= 8 && !memcmp(d, "\x89PNG\r\n\x1a\n", 8)) {
#ifdef ENCORE_HAVE_PNG
        return png_decode(d, n, H, W, gray, err);
#else
        return enc_errf(err, ENC_EINVAL,
                        "PNG support was not built in (no libpng); send a binary PGM");
#endif
    }
    if (n >= 3 && d[0] == 'P' && d[1] == '5')
        return pgm_decode(d, n, H, W, gray, err);
    return enc_errf(err, ENC_EINVAL, "not a PNG or binary (P5) PGM image");
}
