/* st.c - safetensors reader (mmap, validated) and writer (temp file + rename). */
#include "core/st.h"

#include "core/jscan.h"

#include <errno.h>
#include <fcntl.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct {
    const char *name;
    size_t size;
} dtypes[ST_DTYPE_COUNT] = {
    [ST_U8] = {"U8", 1},     [ST_I8] = {"I8", 1},     [ST_I32] = {"I32", 4}, [ST_I64] = {"I64", 8},
    [ST_U32] = {"U32", 4},   [ST_F32] = {"F32", 4},   [ST_F64] = {"F64", 8}, [ST_F16] = {"F16", 2},
    [ST_BF16] = {"BF16", 2}, [ST_BOOL] = {"BOOL", 1},
};

const char *st_dtype_name(st_dtype t)
{
    return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].name : "?";
}

size_t st_dtype_size(st_dtype t)
{
    return (unsigned)t < ST_DTYPE_COUNT ? dtypes[t].size : 0;
}

static int dtype_from_name(const char *s, st_dtype *out)
{
    for (int i = 0; i < ST_DTYPE_COUNT; i++)
        if (strcmp(s, dtypes[i].name) == 0) {
            *out = (st_dtype)i;
            return 0;
        }
    return -1;
}

static void hex32(const unsigned char dig[32], char out[65])
{
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[dig[i] >> 4];
        out[2 * i + 1] = hex[dig[i] & 15];
    }
    out[64] = '\0';
}

void st_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char dig[32];
    gnutls_hash_fast(GNUTLS_DIG_SHA256, data, len, dig);
    hex32(dig, out);
}

/* ====================================================================== */
/* reading                                                                */

const struct st_open_opts st_default_opts = {ST_DEFAULT_MAX_HEADER, ST_DEFAULT_READ_MAX};

struct st_file {
    void *map; /* whole file (mmap) or malloc'd copy */
    size_t map_len;
    int mapped;
    int faulted;               /* atomic: a guarded read of the mapping raised SIGBUS */
    int slot;                  /* its place in the mapping table, -1: none */
    const unsigned char *data; /* start of the data block */
    size_t data_len;
    st_tensor *tensors;
    size_t n_tensors;
    char **meta_keys, **meta_vals;
    size_t n_meta;
    char sha256[65];
};

/* ---- mapped files that shrink (see st.h) -------------------------------- */

/* The mappings the SIGBUS handler may claim. Writers hold map_mu; the
 * handler reads lock-free: start and file before len (release), len cleared
 * first on removal. */
#define ST_MAX_MAPPED 1024
static struct {
    uintptr_t start;
    size_t len; /* 0: free slot */
    st_file *file;
} mapped[ST_MAX_MAPPED];
static pthread_mutex_t map_mu = PTHREAD_MUTEX_INITIALIZER;
static __thread struct st_guard *guard_top;
static struct sigaction sigbus_before;
static int sigbus_installed; /* guarded by map_mu */

static void map_register(st_file *f)
{
    f->slot = -1;
    pthread_mutex_lock(&map_mu);
    for (int i = 0; i < ST_MAX_MAPPED; i++)
        if (__atomic_load_n(&mapped[i].len, __ATOMIC_RELAXED) == 0) {
            __atomic_store_n(&mapped[i].start, (uintptr_t)f->map, __ATOMIC_RELAXED);
            __atomic_store_n(&mapped[i].file, f, __ATOMIC_RELAXED);
            __atomic_store_n(&mapped[i].len, f->map_len, __ATOMIC_RELEASE);
            f->slot = i;
            break;
        }
    pthread_mutex_unlock(&map_mu);
}

static void map_unregister(st_file *f)
{
    if (f->slot < 0)
        return;
    pthread_mutex_lock(&map_mu);
    __atomic_store_n(&mapped[f->slot].len, 0, __ATOMIC_RELEASE);
    pthread_mutex_unlock(&map_mu);
    f->slot = -1;
}

static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
    uintptr_t a = (uintptr_t)si->si_addr;
    struct st_guard *g = guard_top;
    for (int i = 0; g && i < ST_MAX_MAPPED; i++) {
        size_t len = __atomic_load_n(&mapped[i].len, __ATOMIC_ACQUIRE);
        uintptr_t start = __atomic_load_n(&mapped[i].start, __ATOMIC_RELAXED);
        if (len && a >= start && a - start < len) {
            st_file *f = __atomic_load_n(&mapped[i].file, __ATOMIC_RELAXED);
            __atomic_store_n(&f->faulted, 1, __ATOMIC_RELAXED);
            siglongjmp(g->env, 1); /* SA_NODEFER: SIGBUS stays unblocked */
        }
    }
    /* Not ours: put back what was there and return; the access faults again
     * and gets the previous action (by default, the end of the process). */
    sigaction(SIGBUS, &sigbus_before, NULL);
    (void)sig;
    (void)uc;
}

int st_guard_install(enc_err *err)
{
    int rc = 0;
    pthread_mutex_lock(&map_mu);
    if (!sigbus_installed) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_sigaction = on_sigbus;
        sa.sa_flags = SA_SIGINFO | SA_NODEFER;
        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGBUS, &sa, &sigbus_before) != 0)
            rc = enc_errf(err, ENC_EIO, "sigaction(SIGBUS): %s", strerror(errno));
        else
            sigbus_installed = 1;
    }
    pthread_mutex_unlock(&map_mu);
    return rc;
}

void st_guard_push(struct st_guard *g)
{
    g->prev = guard_top;
    guard_top = g;
}

void st_guard_leave(struct st_guard *g)
{
    guard_top = g->prev;
}

int st_file_faulted(const st_file *f)
{
    return __atomic_load_n(&f->faulted, __ATOMIC_RELAXED);
}

int st_file_mapped(const st_file *f)
{
    return f->mapped;
}

int st_file_residency(const st_file *f, size_t *map_bytes, size_t *resident)
{
    *map_bytes = *resident = 0;
    if (!f->mapped) /* read into memory: all of it private and resident */
        return 0;
    *map_bytes = f->map_len;
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0)
        return ENC_EIO;
    size_t page = (size_t)ps, pages = (f->map_len + page - 1) / page;
    /* mincore reads page-table state only: no page is touched, so a file
     * that shrank cannot fault here. In chunks, to keep the vector small. */
    unsigned char vec[4096];
    for (size_t at = 0; at < pages; at += sizeof vec) {
        size_t n = pages - at < sizeof vec ? pages - at : sizeof vec;
        if (mincore((char *)f->map + at * page, n * page, vec) != 0)
            return ENC_EIO;
        for (size_t i = 0; i < n; i++)
            *resident += (vec[i] & 1) ? page : 0;
    }
    if (*resident > *map_bytes) /* the last page counts whole */
        *resident = *map_bytes;
    return 0;
}

static int cmp_begin(const void *a, const void *b)
{
    const st_tensor *x = a, *y = b;
    const unsigned char *px = x->data, *py = y->data;
    return px < py ? -1 : px > py;
}

static int get_u64(json_t *v, uint64_t *out)
{
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -1;
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

static int parse_tensor(st_file *f, const char *key, json_t *val, st_tensor *t, enc_err *err)
{
    if (!json_is_object(val))
        return enc_errf(err, ENC_EFORMAT, "tensor '%s': not an object", key);
    json_t *jd = json_object_get(val, "dtype"), *js = json_object_get(val, "shape"),
           *jo = json_object_get(val, "data_offsets");
    if (!json_is_string(jd) || dtype_from_name(json_string_value(jd), &t->dtype) != 0)
        return enc_errf(err, ENC_EFORMAT, "tensor '%s': missing or unknown dtype", key);
    if (!json_is_array(js) || json_array_size(js) > ST_MAX_DIMS)
        return enc_errf(err, ENC_EFORMAT, "tensor '%s': shape must be an array of at most %d dims",
                        key, ST_MAX_DIMS);
    t->ndim = (int)json_array_size(js);
    uint64_t count = 1;
    for (int d = 0; d < t->ndim; d++) {
        uint64_t dim;
        if (get_u64(json_array_get(js, (size_t)d), &dim) != 0)
            return enc_errf(err, ENC_EFORMAT,
                            "tensor '%s': shape[%d] is not a non-negative integer", key, d);
        if (dim != 0 && count > UINT64_MAX / dim)
            return enc_errf(err, ENC_EFORMAT, "tensor '%s': shape overflows", key);
        count *= dim;
        t->shape[d] = (int64_t)dim;
    }
    uint64_t b, e, esz = st_dtype_size(t->dtype);
    if (!json_is_array(jo) || json_array_size(jo) != 2 || get_u64(json_array_get(jo, 0), &b) ||
        get_u64(json_array_get(jo, 1), &e))
        return enc_errf(err, ENC_EFORMAT, "tensor '%s': data_offsets must be [begin, end]", key);
    if (b > e || e > f->data_len)
        return enc_errf(err, ENC_EFORMAT,
                        "tensor '%s': data_offsets [%llu, %llu] outside the %zu-byte data block",
                        key, (unsigned long long)b, (unsigned long long)e, f->data_len);
    if (count > UINT64_MAX / esz || count * esz != e - b)
        return enc_errf(err, ENC_EFORMAT,
                        "tensor '%s': shape needs %llu bytes of %s but data_offsets span %llu", key,
                        (unsigned long long)(count > UINT64_MAX / esz ? 0 : count * esz),
                        st_dtype_name(t->dtype), (unsigned long long)(e - b));
    t->data = f->data + b;
    if (((uintptr_t)t->data) % esz != 0)
        return enc_errf(err, ENC_EFORMAT, "tensor '%s': data not aligned to its %llu-byte dtype",
                        key, (unsigned long long)esz);
    t->count = (size_t)count;
    t->nbytes = (size_t)(e - b);
    t->name = strdup(key);
    if (!t->name)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    return 0;
}

/* A model header is a flat object of small objects: deeper nesting or more
 * values than this is refused before jansson allocates for it. */
#define ST_HEADER_MAX_DEPTH 16
#define ST_HEADER_MAX_VALUES ((size_t)1 << 18)

static int parse_header(st_file *f, const char *hdr, size_t hdr_len, enc_err *err)
{
    switch (jscan_limits(hdr, hdr_len, ST_HEADER_MAX_DEPTH, ST_HEADER_MAX_VALUES)) {
    case JSCAN_TOO_DEEP:
        return enc_errf(err, ENC_EFORMAT, "header: JSON nested deeper than %d levels",
                        ST_HEADER_MAX_DEPTH);
    case JSCAN_TOO_MANY:
        return enc_errf(err, ENC_EFORMAT, "header: more than %zu JSON values",
                        ST_HEADER_MAX_VALUES);
    case JSCAN_OK:
        break;
    }
    json_error_t jerr;
    json_t *root = json_loadb(hdr, hdr_len, JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &jerr);
    if (!root)
        return enc_errf(err, ENC_EFORMAT, "header is not valid JSON (%s at byte %d)", jerr.text,
                        jerr.position);
    int rc = 0;
    if (!json_is_object(root)) {
        rc = enc_errf(err, ENC_EFORMAT, "header is not a JSON object");
        goto out;
    }
    size_t n = json_object_size(root);
    f->tensors = calloc(n ? n : 1, sizeof *f->tensors);
    if (!f->tensors) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val) {
        if (strcmp(key, "__metadata__") == 0) {
            if (!json_is_object(val)) {
                rc = enc_errf(err, ENC_EFORMAT, "__metadata__ is not an object");
                goto out;
            }
            size_t m = json_object_size(val);
            f->meta_keys = calloc(m ? m : 1, sizeof(char *));
            f->meta_vals = calloc(m ? m : 1, sizeof(char *));
            if (!f->meta_keys || !f->meta_vals) {
                rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                goto out;
            }
            const char *mk;
            json_t *mv;
            json_object_foreach(val, mk, mv) {
                if (!json_is_string(mv)) {
                    rc = enc_errf(err, ENC_EFORMAT, "__metadata__.%s is not a string", mk);
                    goto out;
                }
                f->meta_keys[f->n_meta] = strdup(mk);
                f->meta_vals[f->n_meta] = strdup(json_string_value(mv));
                f->n_meta++;
                if (!f->meta_keys[f->n_meta - 1] || !f->meta_vals[f->n_meta - 1]) {
                    rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                    goto out;
                }
            }
            continue;
        }
        rc = parse_tensor(f, key, val, &f->tensors[f->n_tensors], err);
        if (rc)
            goto out;
        f->n_tensors++;
    }
    /* The tensors must tile the data block exactly: no overlap, no holes. */
    st_tensor *sorted = malloc((f->n_tensors ? f->n_tensors : 1) * sizeof *sorted);
    if (!sorted) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto out;
    }
    memcpy(sorted, f->tensors, f->n_tensors * sizeof *sorted);
    qsort(sorted, f->n_tensors, sizeof *sorted, cmp_begin);
    size_t pos = 0;
    for (size_t i = 0; i < f->n_tensors && rc == 0; i++) {
        size_t b = (size_t)((const unsigned char *)sorted[i].data - f->data);
        if (b != pos)
            rc = enc_errf(err, ENC_EFORMAT, "tensor '%s': begins at %zu, expected %zu (%s)",
                          sorted[i].name, b, pos, b < pos ? "overlap" : "hole");
        pos = b + sorted[i].nbytes;
    }
    if (rc == 0 && pos != f->data_len)
        rc = enc_errf(err, ENC_EFORMAT, "tensors cover %zu of %zu data bytes", pos, f->data_len);
    free(sorted);
out:
    json_decref(root);
    return rc;
}

/* The header length from the first 8 bytes, checked against the cap and
 * the file size (before anything is allocated for it). */
static int header_length(const unsigned char p[8], size_t file_len, size_t max_header,
                         uint64_t *out, enc_err *err)
{
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | p[i];
    if (n > file_len - 8)
        return enc_errf(err, ENC_EFORMAT, "header length %llu exceeds the file (%zu bytes)",
                        (unsigned long long)n, file_len);
    if (n > max_header)
        return enc_errf(err, ENC_EFORMAT,
                        "header length %llu is over the %zu-byte limit "
                        "(max_model_header_bytes)",
                        (unsigned long long)n, max_header);
    if (n < 2)
        return enc_errf(err, ENC_EFORMAT, "header length %llu too small", (unsigned long long)n);
    *out = n;
    return 0;
}

static int validate(st_file *f, size_t max_header, enc_err *err)
{
    const unsigned char *p = f->map;
    if (f->map_len < 8)
        return enc_errf(err, ENC_EFORMAT, "file is %zu bytes, shorter than the 8-byte header size",
                        f->map_len);
    uint64_t n = 0; /* header_length sets it when it succeeds; gcc -O3 cannot tell */
    int hrc = header_length(p, f->map_len, max_header, &n, err);
    if (hrc)
        return hrc;
    f->data = p + 8 + n;
    f->data_len = f->map_len - 8 - (size_t)n;
    int rc = parse_header(f, (const char *)p + 8, (size_t)n, err);
    if (rc)
        return rc;
    st_sha256_hex(f->data, f->data_len, f->sha256);
    const char *want = st_meta(f, "data_sha256");
    if (want && strcmp(want, f->sha256) != 0)
        return enc_errf(err, ENC_ECHECKSUM,
                        "data_sha256 mismatch: header says %.16s..., data is %.16s...", want,
                        f->sha256);
    return 0;
}

/* validate(), with a mapped file that shrinks meanwhile refused instead of
 * ending the process (the checksum reads every byte). */
static int validate_guarded(st_file *f, size_t max_header, const char *path, enc_err *err)
{
    struct st_guard g;
    if (!ST_GUARD_ENTER(&g)) {
        st_guard_leave(&g);
        return enc_errf(err, ENC_EIO, "%s: the file shrank while being read", path);
    }
    int rc = validate(f, max_header, err);
    st_guard_leave(&g);
    if (rc)
        enc_err_prefix(err, "%s", path);
    return rc;
}

/* Read exactly len bytes at offset 0; a file that shrank meanwhile fails. */
static int read_all(int fd, unsigned char *dst, size_t len, const char *path, enc_err *err)
{
    size_t off = 0;
    while (off < len) {
        ssize_t k = pread(fd, dst + off, len - off, (off_t)off);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return enc_errf(err, ENC_EIO, "%s: read: %s", path, strerror(errno));
        if (k == 0)
            return enc_errf(err, ENC_EIO, "%s: the file shrank to %zu bytes while being read", path,
                            off);
        off += (size_t)k;
    }
    return 0;
}

int st_open_with(const char *path, const struct st_open_opts *o, st_file **out, enc_err *err)
{
    *out = NULL;
    /* O_NONBLOCK: opening a FIFO must not wait for a writer (it is then
     * refused as not a regular file); no effect on regular files. */
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return enc_errf(err, errno == ENOENT ? ENC_ENOTFOUND : ENC_EIO, "%s: %s", path,
                        strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return enc_errf(err, ENC_EIO, "%s: not a regular file", path);
    }
    st_file *f = calloc(1, sizeof *f);
    if (!f) {
        close(fd);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    f->map_len = (size_t)sb.st_size;
    int rc = 0;
    unsigned char head[8];
    uint64_t hlen;
    /* The header length first: a huge declared header is refused before
     * the file is read or mapped. */
    if (f->map_len >= 8 && (rc = read_all(fd, head, 8, path, err)) == 0 &&
        (rc = header_length(head, f->map_len, o->max_header_bytes, &hlen, err)) != 0)
        enc_err_prefix(err, "%s", path);
    if (rc == 0 && f->map_len > 0 && f->map_len <= o->read_max_bytes) {
        /* malloc gives 16-byte alignment, enough for every dtype. */
        if (!(f->map = malloc(f->map_len)))
            rc = enc_errf(err, ENC_ENOMEM, "%s: out of memory reading %zu bytes", path, f->map_len);
        else
            rc = read_all(fd, f->map, f->map_len, path, err);
    } else if (rc == 0 && f->map_len > 0 && (rc = st_guard_install(err)) == 0) {
        f->map = mmap(NULL, f->map_len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (f->map == MAP_FAILED) {
            f->map = NULL;
            rc = enc_errf(err, ENC_EIO, "%s: mmap: %s", path, strerror(errno));
        } else {
            f->mapped = 1;
            map_register(f);
        }
    }
    close(fd);
    if (rc == 0)
        rc = validate_guarded(f, o->max_header_bytes, path, err);
    if (rc) {
        st_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

int st_open(const char *path, st_file **out, enc_err *err)
{
    return st_open_with(path, &st_default_opts, out, err);
}

int st_open_buffer(const void *buf, size_t len, st_file **out, enc_err *err)
{
    *out = NULL;
    st_file *f = calloc(1, sizeof *f);
    if (!f)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    /* malloc gives 16-byte alignment, enough for every dtype. */
    f->map = malloc(len ? len : 1);
    if (!f->map) {
        free(f);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    memcpy(f->map, buf, len);
    f->map_len = len;
    int rc = validate(f, st_default_opts.max_header_bytes, err);
    if (rc) {
        st_close(f);
        return rc;
    }
    *out = f;
    return 0;
}

void st_close(st_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->n_tensors; i++)
        free((char *)f->tensors[i].name);
    free(f->tensors);
    for (size_t i = 0; i < f->n_meta; i++) {
        free(f->meta_keys[i]);
        free(f->meta_vals[i]);
    }
    free(f->meta_keys);
    free(f->meta_vals);
    if (f->mapped) {
        map_unregister(f);
        munmap(f->map, f->map_len);
    } else
        free(f->map);
    free(f);
}

size_t st_file_size(const st_file *f)
{
    return f->map_len;
}
const char *st_file_sha256(const st_file *f)
{
    return f->sha256;
}
size_t st_tensor_count(const st_file *f)
{
    return f->n_tensors;
}

const st_tensor *st_find(const st_file *f, const char *name)
{
    for (size_t i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0)
            return &f->tensors[i];
    return NULL;
}

int st_expect(const st_file *f, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
              const st_tensor **out, enc_err *err)
{
    const st_tensor *t = st_find(f, name);
    if (!t)
        return enc_errf(err, ENC_EFORMAT, "tensor '%s' is missing", name);
    if (t->dtype != dtype)
        return enc_errf(err, ENC_EFORMAT, "tensor '%s' has dtype %s, expected %s", name,
                        st_dtype_name(t->dtype), st_dtype_name(dtype));
    if (t->ndim != ndim)
        return enc_errf(err, ENC_EFORMAT, "tensor '%s' has %d dims, expected %d", name, t->ndim,
                        ndim);
    for (int d = 0; d < ndim; d++)
        if (shape && shape[d] >= 0 && t->shape[d] != shape[d])
            return enc_errf(err, ENC_EFORMAT, "tensor '%s' has shape[%d] = %lld, expected %lld",
                            name, d, (long long)t->shape[d], (long long)shape[d]);
    if (out)
        *out = t;
    return 0;
}

int st_expect_strings(const st_file *f, const char *name, int64_t n, st_strings *out, enc_err *err)
{
    char bn[256], on[256];
    snprintf(bn, sizeof bn, "%s.bytes", name);
    snprintf(on, sizeof on, "%s.offsets", name);
    const st_tensor *tb, *to;
    int rc = st_expect(f, bn, ST_U8, 1, NULL, &tb, err);
    if (rc)
        return rc;
    int64_t oshape[1] = {n < 0 ? -1 : n + 1};
    rc = st_expect(f, on, ST_I64, 1, oshape, &to, err);
    if (rc)
        return rc;
    if (to->count < 1)
        return enc_errf(err, ENC_EFORMAT, "tensor '%s' is empty", on);
    const int64_t *o = to->data;
    if (o[0] != 0)
        return enc_errf(err, ENC_EFORMAT, "tensor '%s' does not start at 0", on);
    for (size_t i = 1; i < to->count; i++)
        if (o[i] < o[i - 1] || (uint64_t)o[i] > tb->count)
            return enc_errf(err, ENC_EFORMAT, "tensor '%s'[%zu] = %lld out of order or bounds", on,
                            i, (long long)o[i]);
    out->n = to->count - 1;
    out->bytes = tb->data;
    out->offsets = o;
    return 0;
}

const char *st_meta(const st_file *f, const char *key)
{
    for (size_t i = 0; i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], key) == 0)
            return f->meta_vals[i];
    return NULL;
}

/* ====================================================================== */
/* writing                                                                */

struct wtensor {
    char *name;
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    void *data;
    size_t nbytes;
    int borrowed; /* st_writer_add_ref: the caller's, never freed here */
};

struct st_writer {
    struct wtensor *t;
    size_t n, cap;
    json_t *meta;
};

st_writer *st_writer_new(void)
{
    st_writer *w = calloc(1, sizeof *w);
    if (w && !(w->meta = json_object())) {
        free(w);
        return NULL;
    }
    return w;
}

void st_writer_free(st_writer *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->n; i++) {
        free(w->t[i].name);
        if (!w->t[i].borrowed)
            free(w->t[i].data);
    }
    free(w->t);
    json_decref(w->meta);
    free(w);
}

/* How a tensor's bytes reach the writer. */
enum wmode { W_COPY, W_REF, W_ADOPT };

static int writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim,
                      const int64_t *shape, const void *data, enum wmode mode)
{
    if (ndim < 0 || ndim > ST_MAX_DIMS || (unsigned)dtype >= ST_DTYPE_COUNT ||
        strcmp(name, "__metadata__") == 0)
        return ENC_EINVAL;
    size_t count = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return ENC_EINVAL;
        count *= (size_t)shape[d];
    }
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 16;
        struct wtensor *t = realloc(w->t, cap * sizeof *t);
        if (!t)
            return ENC_ENOMEM;
        w->t = t;
        w->cap = cap;
    }
    struct wtensor *t = &w->t[w->n];
    memset(t, 0, sizeof *t);
    t->nbytes = count * st_dtype_size(dtype);
    t->name = strdup(name);
    if (mode == W_COPY) {
        t->data = malloc(t->nbytes ? t->nbytes : 1);
        if (t->data && t->nbytes)
            memcpy(t->data, data, t->nbytes);
    } else {
        t->data = (void *)data;
        t->borrowed = mode == W_REF;
    }
    if (!t->name || !t->data) {
        free(t->name);
        if (mode == W_COPY)
            free(t->data);
        return ENC_ENOMEM;
    }
    t->dtype = dtype;
    t->ndim = ndim;
    for (int d = 0; d < ndim; d++)
        t->shape[d] = shape[d];
    w->n++;
    return 0;
}

int st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                  const void *data)
{
    return writer_add(w, name, dtype, ndim, shape, data, W_COPY);
}

int st_writer_add_ref(st_writer *w, const char *name, st_dtype dtype, int ndim,
                      const int64_t *shape, const void *data)
{
    return writer_add(w, name, dtype, ndim, shape, data, data ? W_REF : W_COPY);
}

int st_writer_add_owned(st_writer *w, const char *name, st_dtype dtype, int ndim,
                        const int64_t *shape, void *data)
{
    int rc = writer_add(w, name, dtype, ndim, shape, data, data ? W_ADOPT : W_COPY);
    if (rc && data)
        free(data);
    return rc;
}

int st_writer_add_strings(st_writer *w, const char *name, const char *const *strs,
                          const size_t *lens, size_t n)
{
    int64_t *off = malloc((n + 1) * sizeof *off);
    if (!off)
        return ENC_ENOMEM;
    off[0] = 0;
    for (size_t i = 0; i < n; i++)
        off[i + 1] = off[i] + (int64_t)(lens ? lens[i] : strlen(strs[i]));
    char *bytes = malloc(off[n] ? (size_t)off[n] : 1);
    if (!bytes) {
        free(off);
        return ENC_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        memcpy(bytes + off[i], strs[i], (size_t)(off[i + 1] - off[i]));
    char bn[256], on[256];
    snprintf(bn, sizeof bn, "%s.bytes", name);
    snprintf(on, sizeof on, "%s.offsets", name);
    int64_t bshape[1] = {off[n]}, oshape[1] = {(int64_t)n + 1};
    int rc = st_writer_add(w, bn, ST_U8, 1, bshape, bytes);
    if (rc == 0)
        rc = st_writer_add(w, on, ST_I64, 1, oshape, off);
    free(bytes);
    free(off);
    return rc;
}

int st_writer_meta(st_writer *w, const char *key, const char *value)
{
    return json_object_set_new(w->meta, key, json_string(value)) == 0 ? 0 : ENC_EINVAL;
}

int st_writer_copy(st_writer *w, const st_file *f,
                   int (*keep)(const char *name, int is_meta, void *ctx), void *ctx)
{
    int rc = 0;
    for (size_t i = 0; !rc && i < f->n_tensors; i++) {
        const st_tensor *t = &f->tensors[i];
        if (!keep || keep(t->name, 0, ctx))
            rc = st_writer_add(w, t->name, t->dtype, t->ndim, t->shape, t->data);
    }
    for (size_t i = 0; !rc && i < f->n_meta; i++)
        if (strcmp(f->meta_keys[i], "data_sha256") != 0 && (!keep || keep(f->meta_keys[i], 1, ctx)))
            rc = st_writer_meta(w, f->meta_keys[i], f->meta_vals[i]);
    return rc;
}

static int cmp_wt(const void *a, const void *b)
{
    const struct wtensor *x = a, *y = b;
    size_t sx = st_dtype_size(x->dtype), sy = st_dtype_size(y->dtype);
    if (sx != sy)
        return sx > sy ? -1 : 1; /* largest element first keeps every tensor aligned */
    return strcmp(x->name, y->name);
}

/* The file's first 8 + padded bytes (length, JSON header, space padding)
 * for the writer's tensors: sorted (largest element first), their offsets,
 * and data_sha256 hashed tensor by tensor, so that the data block is never
 * assembled in memory (a 10M-user model is gigabytes). *prefix is
 * caller-freed; *data_len is what follows it. */
static int writer_prefix(st_writer *w, unsigned char **prefix, size_t *prefix_len, size_t *data_len,
                         enc_err *err)
{
    *prefix = NULL;
    qsort(w->t, w->n, sizeof *w->t, cmp_wt);
    gnutls_hash_hd_t h;
    if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    json_t *hdr = json_object();
    size_t pos = 0;
    for (size_t i = 0; i < w->n; i++) {
        struct wtensor *t = &w->t[i];
        if (t->nbytes)
            gnutls_hash(h, t->data, t->nbytes);
        json_t *shape = json_array();
        for (int d = 0; d < t->ndim; d++)
            json_array_append_new(shape, json_integer(t->shape[d]));
        json_object_set_new(hdr, t->name,
                            json_pack("{s:s, s:o, s:[I,I]}", "dtype", st_dtype_name(t->dtype),
                                      "shape", shape, "data_offsets", (json_int_t)pos,
                                      (json_int_t)(pos + t->nbytes)));
        pos += t->nbytes;
    }
    unsigned char dig[32];
    gnutls_hash_deinit(h, dig);
    char sha[65];
    hex32(dig, sha);
    json_object_set_new(w->meta, "data_sha256", json_string(sha));
    json_object_set(hdr, "__metadata__", w->meta);
    char *text = json_dumps(hdr, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(hdr);
    if (!text)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    size_t n = strlen(text);
    size_t padded = (n + 7) & ~(size_t)7; /* data block starts 8-aligned */
    unsigned char *buf = malloc(8 + padded);
    if (!buf) {
        free(text);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    memcpy(buf + 8, text, n);
    memset(buf + 8 + n, ' ', padded - n);
    free(text);
    *prefix = buf;
    *prefix_len = 8 + padded;
    *data_len = pos;
    return 0;
}

int st_writer_to_buffer(st_writer *w, void **out, size_t *out_len, enc_err *err)
{
    *out = NULL;
    *out_len = 0;
    unsigned char *prefix;
    size_t plen, data_len;
    int rc = writer_prefix(w, &prefix, &plen, &data_len, err);
    if (rc)
        return rc;
    unsigned char *buf = malloc(plen + data_len);
    if (!buf) {
        free(prefix);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    memcpy(buf, prefix, plen);
    free(prefix);
    size_t pos = plen;
    for (size_t i = 0; i < w->n; i++) {
        if (w->t[i].nbytes)
            memcpy(buf + pos, w->t[i].data, w->t[i].nbytes);
        pos += w->t[i].nbytes;
    }
    *out = buf;
    *out_len = plen + data_len;
    return 0;
}

static int write_all(int fd, const void *p, size_t len, const char *path, enc_err *err)
{
    size_t off = 0;
    while (off < len) {
        size_t chunk = len - off < ((size_t)1 << 30) ? len - off : ((size_t)1 << 30);
        ssize_t k = write(fd, (const char *)p + off, chunk);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            return enc_errf(err, ENC_EIO, "%s: write: %s", path,
                            k < 0 ? strerror(errno) : "no progress");
        off += (size_t)k;
    }
    return 0;
}

int st_writer_write(st_writer *w, const char *path, enc_err *err)
{
    unsigned char *prefix;
    size_t plen, data_len;
    int rc = writer_prefix(w, &prefix, &plen, &data_len, err);
    if (rc)
        return rc;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof tmp) {
        free(prefix);
        return enc_errf(err, ENC_EINVAL, "%s: path too long", path);
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        free(prefix);
        return enc_errf(err, ENC_EIO, "%s: %s", tmp, strerror(errno));
    }
    /* the header, then each tensor from where it lies (no copy of the data) */
    rc = write_all(fd, prefix, plen, tmp, err);
    free(prefix);
    for (size_t i = 0; rc == 0 && i < w->n; i++)
        rc = write_all(fd, w->t[i].data, w->t[i].nbytes, tmp, err);
    if (rc == 0 && fsync(fd) != 0)
        rc = enc_errf(err, ENC_EIO, "%s: fsync: %s", tmp, strerror(errno));
    if (close(fd) != 0 && rc == 0)
        rc = enc_errf(err, ENC_EIO, "%s: close: %s", tmp, strerror(errno));
    if (rc == 0 && rename(tmp, path) != 0)
        rc = enc_errf(err, ENC_EIO, "rename %s -> %s: %s", tmp, path, strerror(errno));
    if (rc)
        unlink(tmp);
    return rc;
}
