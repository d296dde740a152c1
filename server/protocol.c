/*
 * protocol.c - KServe V1 / Open Inference Protocol V2 bodies <-> model_batch
 * (see protocol.h for the accepted forms).
 *
 * Parsing walks the jansson tree once: the nested shape of an array is read
 * from its first elements, checked against what the model takes, and then a
 * walk verifies every sub-array has that length (a ragged array is an error)
 * while converting leaves straight into the batch. Error paths are formatted
 * only when an error is reported, so a valid request costs no string work.
 *
 * The answers are written by proto_write.c; this file also builds the V2
 * model metadata (a jansson tree: it is not on a hot path).
 */
#include "protocol.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#define MAXD 8 /* dimensions of one tensor or one nested instance */

enum dtype { DT_ANY = 0, DT_FP32, DT_FP64, DT_INT32, DT_INT64, DT_UINT8, DT_BYTES };
static const char *const dt_names[] = {"a number", "FP32",  "FP64", "INT32",
                                       "INT64",    "UINT8", "BYTES"};

/* ---- error locations --------------------------------------------------- */

/* Where a value sits; formatted only when an error is reported. */
struct where {
    const char *base; /* "instances", "inputs" */
    size_t base_i;    /* instance index (V1) or tensor index (V2) */
    const char *sub;  /* ".data", ".b64" or "" */
    size_t idx[MAXD]; /* nested indexes below base[base_i]sub */
    int depth;
    const char *key;     /* ".key" (a named feature), or NULL */
    const char *feature; /* " (feature)" for positional values, or NULL */
    long long instance;  /* " (instance k)" for V2 data, or -1 */
};

static int where_errf(enc_err *err, const struct where *w, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int where_errf(enc_err *err, const struct where *w, const char *fmt, ...)
{
    char path[320], msg[400];
    size_t n =
        (size_t)snprintf(path, sizeof path, "%s[%zu]%s", w->base, w->base_i, w->sub ? w->sub : "");
    for (int d = 0; d < w->depth && n < sizeof path; d++)
        n += (size_t)snprintf(path + n, sizeof path - n, "[%zu]", w->idx[d]);
    if (w->key && n < sizeof path)
        n += (size_t)snprintf(path + n, sizeof path - n, ".%.64s", w->key);
    if (w->feature && n < sizeof path)
        n += (size_t)snprintf(path + n, sizeof path - n, " (%.64s)", w->feature);
    if (w->instance >= 0 && n < sizeof path)
        snprintf(path + n, sizeof path - n, " (instance %lld)", w->instance);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return enc_errf(err, ENC_EINVAL, "%s: %s", path, msg);
}

static const char *kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* ---- shapes ------------------------------------------------------------ */

static void fmt_shape(char *s, size_t n, const int64_t *shape, int nd, const char *lead)
{
    size_t k = (size_t)snprintf(s, n, "[%s", lead ? lead : "");
    for (int d = 0; d < nd && k < n; d++)
        k += (size_t)snprintf(s + k, n - k, "%s%lld", d || lead ? ", " : "", (long long)shape[d]);
    if (k < n)
        snprintf(s + k, n - k, "]");
}

/* The model's per-instance shape; falls back to {n_features} when the
 * family left it unset or inconsistent. Returns ndim. */
static int io_shape(const struct model_io *io, int64_t *s)
{
    if (io->ndim >= 1 && io->ndim <= 4) {
        int64_t p = 1;
        for (int d = 0; d < io->ndim; d++) {
            s[d] = io->shape[d];
            p = s[d] > 0 && p <= INT64_MAX / s[d] ? p * s[d] : -1;
        }
        if (p == (int64_t)io->n_features)
            return io->ndim;
    }
    s[0] = (int64_t)io->n_features;
    return 1;
}

/* Shapes equal once dimensions of size 1 are dropped. */
static int squeeze_eq(const int64_t *a, int na, const int64_t *b, int nb)
{
    int i = 0, j = 0;
    for (;;) {
        while (i < na && a[i] == 1)
            i++;
        while (j < nb && b[j] == 1)
            j++;
        if (i == na || j == nb)
            return i == na && j == nb;
        if (a[i++] != b[j++])
            return 0;
    }
}

/* Product of shape[0..nd) if every dim is >= 0 and it is <= limit, else -1. */
static int64_t shape_count(const int64_t *shape, int nd, int64_t limit)
{
    int64_t p = 1;
    for (int d = 0; d < nd; d++) {
        if (shape[d] < 0)
            return -1;
        if (shape[d] == 0)
            p = 0;
        else if (p > limit / shape[d])
            return -1;
        else
            p *= shape[d];
    }
    return p <= limit ? p : -1;
}

/* The nested shape of an array, read along first elements. -1 if deeper
 * than MAXD. */
static int nested_shape(const json_t *v, int64_t *shape, int *nd)
{
    *nd = 0;
    while (json_is_array(v)) {
        if (*nd == MAXD)
            return -1;
        shape[(*nd)++] = (int64_t)json_array_size(v);
        if (json_array_size(v) == 0)
            break;
        v = json_array_get(v, 0);
    }
    return 0;
}

/* ---- leaves ------------------------------------------------------------ */

/* One JSON value as the float the model sees: type for `dt`, finite as a
 * float, inside io's range (an unset range, min >= max, accepts any value). */
static int to_float(const json_t *v, enum dtype dt, const struct model_io *io, float *out,
                    const struct where *w, enc_err *err)
{
    double d;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (dt == DT_INT32 && (i < INT32_MIN || i > INT32_MAX))
            return where_errf(err, w, "%lld does not fit INT32", (long long)i);
        if (dt == DT_UINT8 && (i < 0 || i > 255))
            return where_errf(err, w, "%lld does not fit UINT8 (0..255)", (long long)i);
        d = (double)i;
    } else if (json_is_real(v)) {
        d = json_real_value(v);
        if (dt == DT_INT32 || dt == DT_INT64 || dt == DT_UINT8)
            return where_errf(err, w, "expected an integer (%s), got %g", dt_names[dt], d);
    } else if (dt == DT_ANY)
        return where_errf(err, w, "expected a number, got %s", kind(v));
    else
        return where_errf(err, w, "expected a number (%s), got %s", dt_names[dt], kind(v));
    float f = (float)d;
    if (!isfinite(d) || !isfinite(f))
        return where_errf(err, w, "%g is not a finite 32-bit float (NaN/Inf are not accepted)", d);
    if (io->min_value < io->max_value && (f < io->min_value || f > io->max_value))
        return where_errf(err, w, "%g is out of range: the model accepts %g to %g", d,
                          io->min_value, io->max_value);
    *out = f;
    return 0;
}

static int text_leaf(const json_t *v, const struct proto_limits *lim, const char **s, size_t *len,
                     const struct where *w, enc_err *err)
{
    if (!json_is_string(v))
        return where_errf(err, w, "expected a string, got %s", kind(v));
    size_t n = json_string_length(v);
    if (n == 0)
        return where_errf(err, w, "empty text");
    if (n > lim->max_text_bytes)
        return where_errf(err, w, "text of %zu bytes is over the limit of %zu bytes", n,
                          lim->max_text_bytes);
    *s = json_string_value(v);
    *len = n;
    return 0;
}

/* ---- the nested-array walk ---------------------------------------------- */

struct walker {
    enum dtype dt;
    const struct model_io *io;
    const struct proto_limits *lim;
    float *x;          /* numeric destination */
    const char **text; /* text destination */
    size_t *text_len;
    size_t n;            /* leaves written */
    size_t per_instance; /* V2: leaves per instance (for messages) */
    int64_t shape[MAXD]; /* expected nested shape */
    int ndim;
    struct where w;
    enc_err *err;
};

static int walk(struct walker *k, const json_t *v, int depth)
{
    k->w.depth = depth;
    if (depth < k->ndim) {
        if (!json_is_array(v))
            return where_errf(k->err, &k->w, "expected an array of %lld, got %s",
                              (long long)k->shape[depth], kind(v));
        if ((int64_t)json_array_size(v) != k->shape[depth])
            return where_errf(k->err, &k->w, "ragged array: %zu elements where %lld were expected",
                              json_array_size(v), (long long)k->shape[depth]);
        for (size_t i = 0; i < json_array_size(v); i++) {
            k->w.idx[depth] = i;
            int rc = walk(k, json_array_get(v, i), depth + 1);
            if (rc)
                return rc;
        }
        k->w.depth = depth;
        return 0;
    }
    if (k->per_instance)
        k->w.instance = (long long)(k->n / k->per_instance);
    if (json_is_array(v))
        return where_errf(k->err, &k->w, "ragged array: an array where a value was expected");
    if (k->dt == DT_BYTES) {
        int rc = text_leaf(v, k->lim, &k->text[k->n], &k->text_len[k->n], &k->w, k->err);
        k->n += rc == 0;
        return rc;
    }
    if (k->io->feature_names && k->io->n_features)
        k->w.feature = k->io->feature_names[k->n % k->io->n_features];
    int rc = to_float(v, k->dt, k->io, &k->x[k->n], &k->w, k->err);
    k->w.feature = NULL;
    k->n += rc == 0;
    return rc;
}

/* ---- batches ------------------------------------------------------------ */

void proto_input_free(struct proto_input *in)
{
    if (!in)
        return;
    free(in->x);
    free(in->text);
    free(in->text_len);
    memset(in, 0, sizeof *in);
}

static int alloc_input(struct proto_input *in, const struct model_io *io, size_t n, enc_err *err)
{
    memset(in, 0, sizeof *in);
    if (io->kind == MODEL_INPUT_TEXT) {
        in->text = malloc(n * sizeof *in->text);
        in->text_len = malloc(n * sizeof *in->text_len);
        if (!in->text || !in->text_len) {
            proto_input_free(in);
            return enc_errf(err, ENC_ENOMEM, "out of memory");
        }
    } else {
        if (io->n_features && n > SIZE_MAX / sizeof(float) / io->n_features)
            return enc_errf(err, ENC_ENOMEM, "batch too large");
        in->x = malloc(n * io->n_features * sizeof *in->x + 1);
        if (!in->x)
            return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    in->batch.n = n;
    in->batch.x = in->x;
    in->batch.text = in->text;
    in->batch.text_len = in->text_len;
    return 0;
}

/* ---- images ------------------------------------------------------------- */

/* {"b64": "..."}: decode a PNG or binary PGM into the instance's n_features
 * values. Pixels are 0..255, scaled to 0..1 when the model's range ends at 1. */
static int image_instance(const json_t *b64, const struct model_io *io, float *dst, struct where *w,
                          enc_err *err)
{
    w->sub = ".b64";
    if (!json_is_string(b64))
        return where_errf(err, w, "expected a base64 string, got %s", kind(b64));
    int64_t s[4], q[4];
    int nd = io_shape(io, s), nq = 0;
    for (int d = 0; d < nd; d++)
        if (s[d] != 1)
            q[nq++] = s[d];
    if (nq != 2) {
        char sh[96];
        fmt_shape(sh, sizeof sh, s, nd, NULL);
        return where_errf(err, w, "this model's input shape %s is not one grayscale image plane",
                          sh);
    }
    size_t len;
    unsigned char *bytes = image_b64_decode(json_string_value(b64), json_string_length(b64), &len);
    if (!bytes)
        return len ? enc_errf(err, ENC_ENOMEM, "out of memory")
                   : where_errf(err, w, "not valid base64");
    unsigned char *gray = malloc((size_t)(q[0] * q[1]));
    int rc;
    enc_err e = {0};
    if (!gray)
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    else if ((rc = image_decode_gray(bytes, len, q[0], q[1], gray, &e)) == ENC_EINVAL)
        where_errf(err, w, "%s", e.msg); /* the decoder's message, after where */
    else if (rc)
        enc_errf(err, rc, "%s", e.msg);
    float scale = io->max_value <= 1.0 ? 1.0f / 255.0f : 1.0f;
    for (size_t i = 0; rc == 0 && i < io->n_features; i++) {
        float f = gray[i] * scale;
        if (io->min_value < io->max_value && (f < io->min_value || f > io->max_value))
            rc = where_errf(err, w, "pixel %zu is %g, outside the model's range %g to %g", i, f,
                            io->min_value, io->max_value);
        dst[i] = f;
    }
    free(gray);
    free(bytes);
    return rc;
}

/* ---- V1 ----------------------------------------------------------------- */

static int v1_numeric(const json_t *v, const struct model_io *io, float *dst, struct where *w,
                      enc_err *err)
{
    size_t nf = io->n_features;
    if (json_is_array(v)) {
        struct walker k = {.dt = DT_ANY, .io = io, .x = dst, .w = *w, .err = err};
        if (nested_shape(v, k.shape, &k.ndim))
            return where_errf(err, w, "arrays nested more than %d levels", MAXD);
        int64_t s[4];
        int nd = io_shape(io, s);
        int64_t cnt = shape_count(k.shape, k.ndim, INT64_MAX);
        if (k.ndim == 1 && cnt != (int64_t)nf)
            return where_errf(err, w, "expected %zu values, got %lld", nf, (long long)cnt);
        if (k.ndim > 1 && (cnt != (int64_t)nf || !squeeze_eq(k.shape, k.ndim, s, nd))) {
            char got[96], want[96];
            fmt_shape(got, sizeof got, k.shape, k.ndim, NULL);
            fmt_shape(want, sizeof want, s, nd, NULL);
            return where_errf(
                err, w,
                "shape %s does not match the model's input shape %s (or a flat array of %zu)", got,
                want, nf);
        }
        return walk(&k, v, 0);
    }
    if (json_is_object(v)) {
        json_t *b64 = json_object_get(v, "b64");
        if (b64) {
            if (json_object_size(v) != 1)
                return where_errf(err, w, "an image instance has one field, 'b64'");
            return image_instance(b64, io, dst, w, err);
        }
        if (!io->feature_names)
            return where_errf(err, w,
                              "an object of named features, but this model has no feature names: "
                              "send an array of %zu numbers",
                              nf);
        for (size_t j = 0; j < nf; j++) {
            w->key = io->feature_names[j];
            json_t *x = json_object_get(v, w->key);
            if (!x)
                return where_errf(err, w, "missing feature");
            int rc = to_float(x, DT_ANY, io, &dst[j], w, err);
            if (rc)
                return rc;
        }
        w->key = NULL;
        if (json_object_size(v) != nf) {
            const char *key;
            json_t *x;
            json_object_foreach((json_t *)v, key, x) {
                size_t j = 0;
                while (j < nf && strcmp(key, io->feature_names[j]))
                    j++;
                if (j == nf)
                    return where_errf(err, w, "unknown feature '%.64s'", key);
            }
        }
        return 0;
    }
    return where_errf(err, w, "expected an array of %zu numbers%s, got %s", nf,
                      io->feature_names ? " or an object of named features" : "", kind(v));
}

static int v1_text(const json_t *v, const struct proto_limits *lim, const char **s, size_t *len,
                   struct where *w, enc_err *err)
{
    if (json_is_object(v)) {
        const char *key;
        json_t *x;
        json_object_foreach((json_t *)v, key, x) {
            if (strcmp(key, "text"))
                return where_errf(
                    err, w,
                    "unknown field '%.64s' (a text instance is a string or {\"text\": string})",
                    key);
        }
        w->key = "text";
        v = json_object_get(v, "text");
        if (!v)
            return where_errf(err, w, "missing");
        return text_leaf(v, lim, s, len, w, err);
    }
    if (!json_is_string(v))
        return where_errf(err, w, "expected a string or {\"text\": string}, got %s", kind(v));
    return text_leaf(v, lim, s, len, w, err);
}

int proto_v1_parse(const json_t *root, const struct model_io *io, const struct proto_limits *lim,
                   struct proto_input *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    if (!json_is_object(root))
        return enc_errf(err, ENC_EINVAL, "the body must be a JSON object");
    const char *key, *field = NULL;
    json_t *v, *inst = NULL;
    json_object_foreach((json_t *)root, key, v) {
        if (!strcmp(key, "instances") || !strcmp(key, "inputs")) {
            if (inst)
                return enc_errf(err, ENC_EINVAL, "give 'instances' or 'inputs', not both");
            inst = v;
            field = key;
        } else
            return enc_errf(err, ENC_EINVAL,
                            "unknown field '%.64s' (expected 'instances' or 'inputs')", key);
    }
    if (!inst)
        return enc_errf(err, ENC_EINVAL, "'instances' is required: an array of instances");
    if (!json_is_array(inst))
        return enc_errf(err, ENC_EINVAL, "'%s' must be an array of instances, got %s", field,
                        kind(inst));
    size_t n = json_array_size(inst);
    if (n == 0)
        return enc_errf(err, ENC_EINVAL, "'%s' is empty", field);
    if (n > lim->max_instances)
        return enc_errf(err, ENC_EINVAL, "'%s' has %zu instances; the limit is %zu", field, n,
                        lim->max_instances);
    int rc = alloc_input(out, io, n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct where w = {.base = field, .base_i = i, .sub = "", .instance = -1};
        const json_t *x = json_array_get(inst, i);
        if (io->kind == MODEL_INPUT_TEXT)
            rc = v1_text(x, lim, &out->text[i], &out->text_len[i], &w, err);
        else
            rc = v1_numeric(x, io, out->x + i * io->n_features, &w, err);
    }
    if (rc)
        proto_input_free(out);
    return rc;
}

/* ---- V2 ----------------------------------------------------------------- */

int proto_v2_parse_request(const json_t *root, const char *const *out_names, size_t n_out,
                           struct proto_v2_req *req, enc_err *err)
{
    memset(req, 0, sizeof *req);
    if (!json_is_object(root))
        return enc_errf(err, ENC_EINVAL, "the body must be a JSON object");
    const char *key;
    json_t *v, *inputs = NULL, *outputs = NULL;
    json_object_foreach((json_t *)root, key, v) {
        if (!strcmp(key, "id")) {
            if (!json_is_string(v))
                return enc_errf(err, ENC_EINVAL, "'id' must be a string, got %s", kind(v));
            req->id = json_string_value(v);
            req->id_len = json_string_length(v);
        } else if (!strcmp(key, "parameters")) {
            if (!json_is_object(v))
                return enc_errf(err, ENC_EINVAL, "'parameters' must be an object, got %s", kind(v));
            req->parameters = v;
        } else if (!strcmp(key, "inputs"))
            inputs = v;
        else if (!strcmp(key, "outputs"))
            outputs = v;
        else
            return enc_errf(err, ENC_EINVAL,
                            "unknown field '%.64s' (expected id, parameters, inputs, outputs)",
                            key);
    }
    if (!inputs)
        return enc_errf(err, ENC_EINVAL, "'inputs' is required: [{name, shape, datatype, data}]");
    if (!json_is_array(inputs))
        return enc_errf(err, ENC_EINVAL, "'inputs' must be an array of tensors, got %s",
                        kind(inputs));
    if (json_array_size(inputs) != 1)
        return enc_errf(err, ENC_EINVAL, "this model takes one input tensor; 'inputs' has %zu",
                        json_array_size(inputs));
    req->input = json_array_get(inputs, 0);
    if (!json_is_object(req->input))
        return enc_errf(err, ENC_EINVAL,
                        "inputs[0] must be an object {name, shape, datatype, data}");
    if (!outputs || (json_is_array(outputs) && json_array_size(outputs) == 0)) {
        req->outputs = (1u << n_out) - 1;
        return binproto_outputs(root, out_names, n_out, &req->binary, err);
    }
    if (!json_is_array(outputs))
        return enc_errf(err, ENC_EINVAL, "'outputs' must be an array of {\"name\": ...}, got %s",
                        kind(outputs));
    for (size_t i = 0; i < json_array_size(outputs); i++) {
        json_t *o = json_array_get(outputs, i), *name = json_object_get(o, "name");
        if (!json_is_object(o) || !json_is_string(name))
            return enc_errf(err, ENC_EINVAL, "outputs[%zu] must be an object with a string 'name'",
                            i);
        json_object_foreach(o, key, v) {
            if (strcmp(key, "name") && strcmp(key, "parameters"))
                return enc_errf(err, ENC_EINVAL,
                                "outputs[%zu]: unknown field '%.64s' (expected name, parameters)",
                                i, key);
        }
        size_t j = 0;
        while (j < n_out && strcmp(json_string_value(name), out_names[j]))
            j++;
        if (j == n_out) {
            char have[128];
            size_t k = 0;
            have[0] = '\0';
            for (size_t t = 0; t < n_out && k < sizeof have; t++)
                k += (size_t)snprintf(have + k, sizeof have - k, "%s%s", t ? ", " : "",
                                      out_names[t]);
            return enc_errf(err, ENC_EINVAL,
                            "outputs[%zu]: unknown output '%.64s' (this model has %s)", i,
                            json_string_value(name), have);
        }
        req->outputs |= 1u << j;
    }
    return binproto_outputs(root, out_names, n_out, &req->binary, err);
}

static enum dtype dtype_of(const char *s)
{
    static const struct {
        const char *name;
        enum dtype dt;
    } t[] = {{"FP32", DT_FP32},   {"FP64", DT_FP64},   {"INT32", DT_INT32},
             {"INT64", DT_INT64}, {"UINT8", DT_UINT8}, {"BYTES", DT_BYTES}};
    for (size_t i = 0; i < sizeof t / sizeof *t; i++)
        if (!strcmp(s, t[i].name))
            return t[i].dt;
    return DT_ANY;
}

int proto_v2_parse_tensor(const json_t *input, const struct binproto_slice *bin,
                          const struct model_io *io, const struct proto_limits *lim,
                          struct proto_input *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    const char *key;
    json_t *v, *name = NULL, *shape = NULL, *dtype = NULL, *data = NULL, *params = NULL;
    if (!json_is_object(input))
        return enc_errf(err, ENC_EINVAL,
                        "inputs[0] must be an object {name, shape, datatype, data}");
    json_object_foreach((json_t *)input, key, v) {
        if (!strcmp(key, "name"))
            name = v;
        else if (!strcmp(key, "shape"))
            shape = v;
        else if (!strcmp(key, "datatype"))
            dtype = v;
        else if (!strcmp(key, "data"))
            data = v;
        else if (!strcmp(key, "parameters"))
            params = v;
        else
            return enc_errf(
                err, ENC_EINVAL,
                "inputs[0]: unknown field '%.64s' (expected name, shape, datatype, data, parameters)",
                key);
    }
    if (!json_is_string(name))
        return enc_errf(err, ENC_EINVAL, "inputs[0].name is required: a string");
    if (params && !json_is_object(params))
        return enc_errf(err, ENC_EINVAL, "inputs[0].parameters must be an object");
    int is_bin = params && json_object_get(params, "binary_data_size");
    if (is_bin && !(bin && bin->data))
        return enc_errf(err, ENC_EINVAL,
                        "inputs[0]: parameters.binary_data_size needs the binary "
                        "tensor data extension's Inference-Header-Content-Length header");
    if (!json_is_string(dtype))
        return enc_errf(err, ENC_EINVAL,
                        "inputs[0].datatype is required: FP32, FP64, INT32, INT64, UINT8 or BYTES");
    enum dtype dt = dtype_of(json_string_value(dtype));
    if (dt == DT_ANY)
        return enc_errf(
            err, ENC_EINVAL,
            "inputs[0].datatype '%.32s' is not supported (FP32, FP64, INT32, INT64, UINT8, BYTES)",
            json_string_value(dtype));
    if (!json_is_array(shape) || json_array_size(shape) == 0 || json_array_size(shape) > MAXD)
        return enc_errf(err, ENC_EINVAL, "inputs[0].shape is required: an array of 1 to %d sizes",
                        MAXD);
    int64_t sh[MAXD];
    int nd = (int)json_array_size(shape);
    for (int d = 0; d < nd; d++) {
        json_t *x = json_array_get(shape, (size_t)d);
        if (!json_is_integer(x) || json_integer_value(x) < 0)
            return enc_errf(err, ENC_EINVAL, "inputs[0].shape[%d] must be a non-negative integer",
                            d);
        sh[d] = json_integer_value(x);
    }
    char got[128], want[128];
    fmt_shape(got, sizeof got, sh, nd, NULL);
    size_t per;
    if (io->kind == MODEL_INPUT_TEXT) {
        if (dt != DT_BYTES)
            return enc_errf(err, ENC_EINVAL,
                            "inputs[0].datatype: this model takes text as BYTES, not %s",
                            dt_names[dt]);
        if (nd > 2 || (nd == 2 && sh[1] != 1))
            return enc_errf(err, ENC_EINVAL, "inputs[0].shape %s: a text model takes [N] or [N, 1]",
                            got);
        per = 1;
    } else {
        if (dt == DT_BYTES)
            return enc_errf(
                err, ENC_EINVAL,
                "inputs[0].datatype: this model takes numbers (FP32, FP64, INT32, INT64 or UINT8), not BYTES");
        int64_t s[4];
        int ns = io_shape(io, s);
        per = io->n_features;
        if (nd < 2 || shape_count(sh + 1, nd - 1, INT64_MAX) != (int64_t)per ||
            (nd > 2 && !squeeze_eq(sh + 1, nd - 1, s, ns))) {
            fmt_shape(want, sizeof want, s, ns, "N");
            return enc_errf(err, ENC_EINVAL,
                            "inputs[0].shape %s does not match the model's input %s (or [N, %zu])",
                            got, want, per);
        }
    }
    if (sh[0] == 0)
        return enc_errf(err, ENC_EINVAL, "inputs[0].shape %s holds no instances", got);
    if (sh[0] > (int64_t)lim->max_instances)
        return enc_errf(err, ENC_EINVAL, "inputs[0] has %lld instances; the limit is %zu",
                        (long long)sh[0], lim->max_instances);
    size_t n = (size_t)sh[0], total = n * per;
    if (is_bin) { /* binproto_inputs checked the size against the shape */
        char what[96];
        snprintf(what, sizeof what, "inputs[0] (%.64s)", json_string_value(name));
        int rc = alloc_input(out, io, n, err);
        if (!rc && io->kind == MODEL_INPUT_TEXT)
            rc = binproto_bytes(bin, n, lim->max_text_bytes, what, out->text, out->text_len, err);
        else if (!rc)
            rc = binproto_numeric(bin, dt_names[dt], total, io->min_value, io->max_value, per, what,
                                  out->x, err);
        if (rc)
            proto_input_free(out);
        return rc;
    }
    if (!json_is_array(data))
        return enc_errf(err, ENC_EINVAL,
                        "inputs[0].data is required: an array (flat row-major or nested)");
    struct walker k = {.dt = dt,
                       .io = io,
                       .lim = lim,
                       .per_instance = per,
                       .err = err,
                       .w = {.base = "inputs", .base_i = 0, .sub = ".data", .instance = -1}};
    int64_t dsh[MAXD];
    int dnd;
    if (nested_shape(data, dsh, &dnd))
        return enc_errf(err, ENC_EINVAL, "inputs[0].data is nested more than %d levels", MAXD);
    if (dnd == 1) {
        if (dsh[0] != (int64_t)total)
            return enc_errf(err, ENC_EINVAL, "inputs[0].data has %lld values; shape %s needs %zu",
                            (long long)dsh[0], got, total);
        k.ndim = 1;
        k.shape[0] = (int64_t)total;
    } else {
        int same = dnd == nd;
        for (int d = 0; same && d < nd; d++)
            same = dsh[d] == sh[d];
        if (!same) {
            char dg[128];
            fmt_shape(dg, sizeof dg, dsh, dnd, NULL);
            return enc_errf(err, ENC_EINVAL, "inputs[0].data is nested as %s but the shape is %s",
                            dg, got);
        }
        k.ndim = nd;
        memcpy(k.shape, sh, sizeof(int64_t) * (size_t)nd);
    }
    int rc = alloc_input(out, io, n, err);
    if (rc)
        return rc;
    k.x = out->x;
    k.text = out->text;
    k.text_len = out->text_len;
    rc = walk(&k, data, 0);
    if (rc)
        proto_input_free(out);
    return rc;
}

/* ---- recommendation models through V2 ------------------------------------ */

const char *const proto_v2_reco_outputs[2] = {"item_ids", "scores"};

int proto_v2_parse_reco(const json_t *root, const struct binproto_slice *bin, size_t max_k,
                        size_t max_instances, struct proto_v2_reco *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    out->k = 10;
    out->exclude_seen = 1;
    int rc = proto_v2_parse_request(root, proto_v2_reco_outputs, 2, &out->req, err);
    if (rc)
        return rc;
    const json_t *pk = json_object_get(out->req.parameters, "k"),
                 *pe = json_object_get(out->req.parameters, "exclude_seen");
    if (pk && (!json_is_integer(pk) || json_integer_value(pk) < 1 ||
               (uint64_t)json_integer_value(pk) > max_k))
        return enc_errf(err, ENC_EINVAL, "parameters.k must be an integer from 1 to %zu", max_k);
    if (pk)
        out->k = (size_t)json_integer_value(pk);
    if (pe && !json_is_boolean(pe))
        return enc_errf(err, ENC_EINVAL, "parameters.exclude_seen must be true or false");
    if (pe)
        out->exclude_seen = json_is_true(pe);
    const json_t *dt = json_object_get(out->req.input, "datatype");
    if (json_is_string(dt) && strcmp(json_string_value(dt), "BYTES"))
        return enc_errf(
            err, ENC_EINVAL,
            "inputs[0].datatype: a recommendation model takes user ids as BYTES, not %.32s",
            json_string_value(dt));
    static const struct model_io ids = {.kind = MODEL_INPUT_TEXT};
    struct proto_limits lim = {max_instances, PROTO_V2_MAX_USER_BYTES};
    return proto_v2_parse_tensor(out->req.input, bin, &ids, &lim, &out->users, err);
}

/* The metadata builders below return NULL rather than a value with a part
 * missing: json_*_set_new / append_new return -1 when their value is NULL
 * (it could not be made) or cannot be added, and `bad` collects that. */
static json_t *incomplete(json_t *v, int bad)
{
    if (!bad)
        return v;
    json_decref(v);
    return NULL;
}

static json_t *tensor_meta(const char *name, const char *dtype, const int64_t *shape, int nd)
{
    json_t *t = json_object(), *s = json_array();
    int bad = json_object_set_new(t, "name", json_string(name));
    bad |= json_object_set_new(t, "datatype", json_string(dtype));
    for (int d = 0; d < nd; d++)
        bad |= json_array_append_new(s, json_integer(shape[d]));
    bad |= json_object_set_new(t, "shape", s);
    return incomplete(t, bad);
}

static json_t *string_array(const char *const *s, size_t n)
{
    json_t *a = json_array();
    int bad = !a;
    for (size_t i = 0; i < n; i++) {
        if (s && s[i])
            bad |= json_array_append_new(a, json_string(s[i]));
        else {
            char b[24];
            snprintf(b, sizeof b, "%zu", i);
            bad |= json_array_append_new(a, json_string(b));
        }
    }
    return incomplete(a, bad);
}

json_t *proto_v2_metadata(const struct model *m, json_t *versions)
{
    json_t *o = json_object(), *in = json_array(), *out = json_array();
    char platform[64];
    snprintf(platform, sizeof platform, "encore_%s", m->ops->family);
    int bad = json_object_set_new(o, "name", json_string(m->name));
    if (versions)
        bad |= json_object_set_new(o, "versions", versions);
    bad |= json_object_set_new(o, "platform", json_string(platform));
    if (m->ops->task == MODEL_TASK_RECOMMEND || !m->ops->io) {
        int64_t any[2] = {-1, -1};
        bad |= json_array_append_new(in, tensor_meta("user", "BYTES", any, 1));
        bad |= json_array_append_new(out, tensor_meta("item_ids", "BYTES", any, 2));
        bad |= json_array_append_new(out, tensor_meta("scores", "FP32", any, 2));
    } else {
        const struct model_io *io = m->ops->io(m->state);
        int64_t s[5] = {-1};
        if (io->kind == MODEL_INPUT_TEXT)
            bad |= json_array_append_new(in, tensor_meta("text", "BYTES", s, 1));
        else {
            int nd = io_shape(io, s + 1);
            json_t *t = tensor_meta("input", "FP32", s, nd + 1);
            json_t *p = json_object();
            if (io->feature_names)
                bad |= json_object_set_new(p, "feature_names",
                                           string_array(io->feature_names, io->n_features));
            /* A range of the whole float line (tables) says nothing: omit it. */
            if (io->min_value < io->max_value &&
                (io->min_value > -FLT_MAX || io->max_value < FLT_MAX)) {
                bad |= json_object_set_new(p, "min_value", json_real(io->min_value));
                bad |= json_object_set_new(p, "max_value", json_real(io->max_value));
            }
            bad |= json_object_set_new(t, "parameters", p);
            bad |= json_array_append_new(in, t);
        }
        int64_t lab[1] = {-1}, pr[2] = {-1, (int64_t)io->n_classes};
        bad |= json_array_append_new(out, tensor_meta("label", "BYTES", lab, 1));
        json_t *t = tensor_meta("probabilities", "FP32", pr, 2);
        json_t *p = json_object();
        bad |= json_object_set_new(p, "class_names", string_array(io->class_names, io->n_classes));
        bad |= json_object_set_new(t, "parameters", p);
        bad |= json_array_append_new(out, t);
    }
    bad |= json_object_set_new(o, "inputs", in);
    bad |= json_object_set_new(o, "outputs", out);
    return incomplete(o, bad);
}
