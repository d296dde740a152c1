/*
 * st.h - Encore model files: the safetensors layout, read with mmap.
 *
 *   +----------+----------------------------+----------------------------+
 *   | u64 LE N | N bytes of JSON header     | data block: raw tensors    |
 *   |          | (space-padded so the data  | back to back, little-endian|
 *   |          |  block starts 8-aligned)   | row-major                  |
 *   +----------+----------------------------+----------------------------+
 *
 * The header is a JSON object: one key per tensor,
 *   "item_factors": {"dtype": "F32", "shape": [1682, 64], "data_offsets": [B, E]}
 * with [B, E) relative to the start of the data block, plus "__metadata__": a
 * map of string to string. Tensors are stored largest dtype first so every
 * tensor is aligned to its element size; offsets cover the block exactly, with
 * no holes (the rule of the reference safetensors reader), so Python can read
 * our files with numpy alone (docs/model-format.md).
 *
 * Encore's metadata keys (all strings): "format" = "encore", "format_version",
 * "family", "hyperparameters" (JSON text), "data_fingerprint", "created",
 * and "data_sha256": SHA-256 of the data block, checked on every load.
 *
 * Strings (ids, titles, tags) are stored as two tensors: NAME.bytes (U8,
 * concatenated UTF-8/latin-1 bytes) and NAME.offsets (I64, n+1 ascending
 * offsets into NAME.bytes).
 *
 * Model files are untrusted input: st_open() checks every length, offset,
 * dtype and shape against the file before anything touches the data, and
 * refuses a bad file with a message naming the field. Small files are read
 * into memory, large ones mapped (st_open_opts).
 */
#ifndef ENCORE_ST_H
#define ENCORE_ST_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define ST_MAX_DIMS 8
#define ST_FILE_NAME "model.safetensors"

typedef enum st_dtype {
    ST_U8,
    ST_I8,
    ST_I32,
    ST_I64,
    ST_U32,
    ST_F32,
    ST_F64,
    ST_F16,
    ST_BF16,
    ST_BOOL,
    ST_DTYPE_COUNT
} st_dtype;

const char *st_dtype_name(st_dtype t);
size_t st_dtype_size(st_dtype t);

typedef struct st_tensor {
    const char *name; /* borrowed from the st_file */
    st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    size_t count;     /* product of shape */
    const void *data; /* points into the mapping; valid until st_close */
    size_t nbytes;
} st_tensor;

/* A string table decoded from NAME.bytes + NAME.offsets (borrowed). */
typedef struct st_strings {
    size_t n;
    const char *bytes;
    const int64_t *offsets; /* n + 1 entries, validated ascending and in bounds */
} st_strings;

/* String i of a table: pointer (not NUL-terminated) and length. */
static inline const char *st_str(const st_strings *s, size_t i, size_t *len)
{
    *len = (size_t)(s->offsets[i + 1] - s->offsets[i]);
    return s->bytes + s->offsets[i];
}

/* ---- reading ---------------------------------------------------------- */

typedef struct st_file st_file;

/* How st_open_with reads a file. */
struct st_open_opts {
    /* Refuse a JSON header longer than this before reading it: jansson
     * holds ~100 bytes per element, so a 63 MiB header once cost 1.4 GB. */
    size_t max_header_bytes;
    /* Files up to this size are read into memory (a file truncated or
     * rewritten in place later cannot touch them); larger ones are mapped. */
    size_t read_max_bytes;
};
#define ST_DEFAULT_MAX_HEADER ((size_t)1 << 20)
#define ST_DEFAULT_READ_MAX ((size_t)64 << 20)
extern const struct st_open_opts st_default_opts; /* the two defaults above */

/* Read (or map) and validate `path`. Only a regular file is opened, without
 * blocking (a FIFO is refused, never waited on); the header length is
 * checked against o->max_header_bytes and the file's size before anything
 * is allocated. On success *out is caller-owned (st_close). */
int st_open_with(const char *path, const struct st_open_opts *o, st_file **out, enc_err *err);
/* st_open_with(path, &st_default_opts, ...). */
int st_open(const char *path, st_file **out, enc_err *err);

/* ---- mapped files that shrink ------------------------------------------
 *
 * A file larger than read_max_bytes stays mapped. If it is truncated, or
 * rewritten with O_TRUNC (`cp` over it), in place, the pages past its new
 * end can no longer be read: touching them raises SIGBUS, whose default
 * action ends the process. (Publishing a version by rename never does
 * this.) A guard turns that signal into an error for the code that touched
 * the pages:
 *
 *   struct st_guard g;
 *   if (ST_GUARD_ENTER(&g)) {
 *       ... read model data ...
 *       st_guard_leave(&g);
 *   } else {
 *       st_guard_leave(&g);
 *       ... a mapped file shrank under this code: give up (503) ...
 *   }
 *
 * Only a SIGBUS at an address inside a file st_open_with mapped, on a
 * thread inside a guard, is caught; any other ends the process as before.
 * The guarded code is abandoned where it stood: what it allocated and the
 * references it took are leaked, and it must not read model data while
 * holding a lock. The file is marked (st_file_faulted) so that its version
 * can be retired. Files read into memory are immune and need no guard. */
struct st_guard {
    sigjmp_buf env;
    struct st_guard *prev;
};
/* 1 on entry; 0 when a fault inside a mapped file came back to it. A macro:
 * sigsetjmp must run in the frame that stays live. */
#define ST_GUARD_ENTER(g) (st_guard_push(g), sigsetjmp((g)->env, 0) == 0)
void st_guard_push(struct st_guard *g);
void st_guard_leave(struct st_guard *g); /* on both branches */
/* Install the SIGBUS handler (idempotent; st_open_with does it before
 * mapping a file). 0, or ENC_EIO when sigaction fails. */
int st_guard_install(enc_err *err);
/* 1 once a guarded read of f's mapping faulted. */
int st_file_faulted(const st_file *f);
/* 1 when f is mapped (not read into memory). */
int st_file_mapped(const st_file *f);
/* For a mapped file: its size (*map_bytes) and how much of it is in memory
 * now (*resident, from mincore: page-cache pages, shared with every process
 * that maps the same file). Both 0 for a file read into memory. 0, or
 * ENC_EIO when mincore fails. */
int st_file_residency(const st_file *f, size_t *map_bytes, size_t *resident);

/* Validate an in-memory buffer (copied). Used by tests and the fuzzer. */
int st_open_buffer(const void *buf, size_t len, st_file **out, enc_err *err);

void st_close(st_file *f); /* st_close(NULL) is a no-op */

size_t st_file_size(const st_file *f);
const char *st_file_sha256(const st_file *f); /* hex of the data block hash */
size_t st_tensor_count(const st_file *f);

/* Borrowed tensor by name, or NULL. */
const st_tensor *st_find(const st_file *f, const char *name);

/* Look up `name` and check dtype and shape: shape[i] < 0 matches any size.
 * A missing tensor, wrong dtype or shape fails with ENC_EFORMAT naming it. */
int st_expect(const st_file *f, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
              const st_tensor **out, enc_err *err);

/* Decode a string table; checks that it holds exactly `n` strings (n = -1: any). */
int st_expect_strings(const st_file *f, const char *name, int64_t n, st_strings *out, enc_err *err);

/* Metadata value (borrowed) or NULL. */
const char *st_meta(const st_file *f, const char *key);

/* ---- writing ---------------------------------------------------------- */

typedef struct st_writer st_writer;

st_writer *st_writer_new(void);
void st_writer_free(st_writer *w);

/* Add a tensor. `data` is copied. Returns 0 or ENC_EINVAL / ENC_ENOMEM. */
int st_writer_add(st_writer *w, const char *name, st_dtype dtype, int ndim, const int64_t *shape,
                  const void *data);

/* st_writer_add without the copy: `data` is borrowed and must stay valid
 * and unchanged until the writer is written and freed. For tables of
 * gigabytes (a 10M-user model's factors) that the caller holds anyway. */
int st_writer_add_ref(st_writer *w, const char *name, st_dtype dtype, int ndim,
                      const int64_t *shape, const void *data);
/* ... taking ownership of a malloc'd `data` (freed with the writer, or at
 * once when this fails). */
int st_writer_add_owned(st_writer *w, const char *name, st_dtype dtype, int ndim,
                        const int64_t *shape, void *data);

/* Add a string table as NAME.bytes and NAME.offsets. lens may be NULL (strlen). */
int st_writer_add_strings(st_writer *w, const char *name, const char *const *strs,
                          const size_t *lens, size_t n);

/* Set a metadata string (copied; replaces an earlier value). */
int st_writer_meta(st_writer *w, const char *key, const char *value);

/* Add every tensor and metadata key of an open file to w (copied), except
 * those keep(name, is_meta, ctx) returns 0 for (keep NULL: everything).
 * data_sha256 is never copied: the writer computes its own. Used to write a
 * new version of a model with a tensor added (encore-train index). */
int st_writer_copy(st_writer *w, const st_file *f,
                   int (*keep)(const char *name, int is_meta, void *ctx), void *ctx);

/* Write the file: data_sha256 is added, then the bytes go to a temporary file
 * in the same directory, fsync, rename over `path`: never a partial file.
 * The tensors are hashed and written from where they lie (the file is not
 * assembled in memory first). */
int st_writer_write(st_writer *w, const char *path, enc_err *err);

/* Serialize to memory (caller frees *buf with free). */
int st_writer_to_buffer(st_writer *w, void **buf, size_t *len, enc_err *err);

/* Hex SHA-256 of a buffer into out[65]. */
void st_sha256_hex(const void *data, size_t len, char out[65]);

#endif
