/* file.c - whole-file reads, gzip or plain (see file.h). */
#include "core/file.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* Double the buffer (one spare byte beyond cap for the NUL). */
static int grow(char **b, size_t *cap, const char *path, enc_err *err)
{
    if (*cap >= ENC_READ_MAX)
        return enc_errf(err, ENC_ETOOLARGE, "%s: larger than %zu bytes", path, ENC_READ_MAX);
    size_t nc = *cap * 2 > ENC_READ_MAX ? ENC_READ_MAX : *cap * 2;
    char *nb = realloc(*b, nc + 1);
    if (!nb)
        return enc_errf(err, ENC_ENOMEM, "%s: out of memory", path);
    *b = nb;
    *cap = nc;
    return 0;
}

/* A gzread failure at byte n: corrupt data is the file's fault, others I/O. */
static int gz_failure(gzFile g, size_t n, const char *path, enc_err *err)
{
    int zerr;
    const char *msg = gzerror(g, &zerr);
    return enc_errf(err, zerr == Z_DATA_ERROR || zerr == Z_BUF_ERROR ? ENC_EFORMAT : ENC_EIO,
                    "%s: byte %zu (decompressed): %s", path, n,
                    zerr == Z_ERRNO ? strerror(errno) : msg);
}

int enc_read_file(const char *path, char **buf, size_t *len, enc_err *err)
{
    *buf = NULL;
    *len = 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return enc_errf(err, ENC_EIO, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return enc_errf(err, ENC_EIO, "%s: cannot open: %s", path, strerror(EISDIR));
    errno = 0;
    gzFile g = gzopen(path, "rb");
    if (!g)
        return enc_errf(err, ENC_EIO, "%s: cannot open: %s", path,
                        errno ? strerror(errno) : "out of memory");
    gzbuffer(g, 1 << 17);
    /* The file's size is a good first guess: a plain file is read in one go,
     * a gzip one is at least that large. */
    size_t cap = 1 << 16, n = 0;
    if (S_ISREG(st.st_mode) && (uint64_t)st.st_size >= cap)
        cap = (uint64_t)st.st_size < ENC_READ_MAX ? (size_t)st.st_size + 1 : ENC_READ_MAX;
    char *b = malloc(cap + 1);
    int rc = b ? 0 : enc_errf(err, ENC_ENOMEM, "%s: out of memory", path);
    while (rc == 0) {
        if (n == cap && (rc = grow(&b, &cap, path, err)))
            break;
        size_t want = cap - n > (1u << 30) ? (1u << 30) : cap - n;
        int k = gzread(g, b + n, (unsigned)want);
        if (k < 0)
            rc = gz_failure(g, n, path, err);
        else if (k == 0)
            break;
        else
            n += (size_t)k;
    }
    /* gzread returns 0 both at a clean end and at a truncated gzip stream. */
    int zerr = Z_OK;
    if (rc == 0)
        gzerror(g, &zerr);
    if (rc == 0 && zerr != Z_OK && zerr != Z_STREAM_END)
        rc = gz_failure(g, n, path, err);
    gzclose(g);
    if (rc) {
        free(b);
        return rc;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return 0;
}
