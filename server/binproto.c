/*
 * binproto.c - the binary tensor data extension (see binproto.h for the
 * layout). The body is untrusted: sizes are read from the JSON, checked
 * against the shape, the datatype and the bytes actually present, and only
 * then is anything read from the binary region.
 */
#include "binproto.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXD 8 /* dimensions of a tensor's shape */

static const struct {
    const char *name;
    int size;
} dtypes[] = {
    {"BOOL", 1}, {"UINT8", 1}, {"UINT16", 2}, {"UINT32", 4}, {"UINT64", 8},
    {"INT8", 1}, {"INT16", 2}, {"INT32", 4},  {"INT64", 8},  {"FP16", 2},
    {"FP32", 4}, {"FP64", 8},  {"BF16", 2},   {"BYTES", 0},
};

int binproto_elem_size(const char *datatype)
{
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (!strcmp(datatype, dtypes[i].name))
            return dtypes[i].size;
    return -1;
}

int binproto_header_len(const char *value, size_t body_len, size_t *json_len, enc_err *err)
{
    const char *p = value;
    while (*p == ' ' || *p == '\t')
        p++;
    size_t v = 0;
    int digits = 0;
    for (; isdigit((unsigned char)*p); p++, digits++) {
        if (v > (SIZE_MAX - 9) / 10)
            return enc_errf(err, ENC_EINVAL, "Inference-Header-Content-Length '%.32s' is too large",
                            value);
        v = v * 10 + (size_t)(*p - '0');
    }
    while (*p == ' ' || *p == '\t')
        p++;
    if (!digits || *p)
        return enc_errf(err, ENC_EINVAL,
                        "Inference-Header-Content-Length '%.32s' is not a decimal byte count",
                        value);
    if (v == 0 || v > body_len)
        return enc_errf(err, ENC_EINVAL,
                        "Inference-Header-Content-Length is %zu but the body has %zu bytes", v,
                        body_len);
    *json_len = v;
    return 0;
}

static uint32_t le32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const unsigned char *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* "[2, 784]" into s. */
static void fmt_shape(char *s, size_t n, const int64_t *shape, int nd)
{
    size_t k = (size_t)snprintf(s, n, "[");
    for (int d = 0; d < nd && k < n; d++)
        k += (size_t)snprintf(s + k, n - k, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (k < n)
        snprintf(s + k, n - k, "]");
}

/* "inputs[i] (name)" */
static void input_label(char *s, size_t n, size_t i, const json_t *in)
{
    const char *name = json_string_value(json_object_get(in, "name"));
    if (name)
        snprintf(s, n, "inputs[%zu] (%.64s)", i, name);
    else
        snprintf(s, n, "inputs[%zu]", i);
}

/* Walk BYTES length prefixes over p[0..size): the element count, or an
 * error naming where the tiling breaks. */
static int bytes_count(const unsigned char *p, size_t size, size_t *count, const char *what,
                       enc_err *err)
{
    size_t off = 0, k = 0;
    while (off < size) {
        if (size - off < 4)
            return enc_errf(err, ENC_EINVAL,
                            "%s: BYTES element %zu: its 4-byte length starts at byte %zu of a "
                            "binary_data_size of %zu and is cut off",
                            what, k, off, size);
        uint32_t l = le32(p + off);
        if ((size_t)l > size - off - 4)
            return enc_errf(err, ENC_EINVAL,
                            "%s: BYTES element %zu claims %u bytes but only %zu remain of its "
                            "binary_data_size of %zu",
                            what, k, l, size - off - 4, size);
        off += 4 + (size_t)l;
        k++;
    }
    *count = k;
    return 0;
}

int binproto_inputs(const json_t *root, const unsigned char *bin, size_t bin_len,
                    struct binproto_slice *slices, enc_err *err)
{
    memset(slices, 0, sizeof *slices * BINPROTO_MAX_INPUTS);
    const json_t *inputs = json_object_get(root, "inputs");
    size_t used = 0;
    if (json_is_array(inputs)) {
        for (size_t i = 0; i < json_array_size(inputs); i++) {
            const json_t *in = json_array_get(inputs, i);
            const json_t *bds =
                json_object_get(json_object_get(in, "parameters"), "binary_data_size");
            if (!bds)
                continue;
            char what[96];
            input_label(what, sizeof what, i, in);
            if (i >= BINPROTO_MAX_INPUTS)
                return enc_errf(err, ENC_EINVAL, "%s: at most %d inputs may carry binary data",
                                what, BINPROTO_MAX_INPUTS);
            if (!json_is_integer(bds) || json_integer_value(bds) < 0)
                return enc_errf(err, ENC_EINVAL,
                                "%s: parameters.binary_data_size must be a non-negative integer",
                                what);
            if (json_object_get(in, "data"))
                return enc_errf(err, ENC_EINVAL,
                                "%s: has both 'data' and parameters.binary_data_size; send one",
                                what);
            const char *dt = json_string_value(json_object_get(in, "datatype"));
            if (!dt)
                return enc_errf(err, ENC_EINVAL, "%s.datatype is required: a string", what);
            int esz = binproto_elem_size(dt);
            if (esz < 0)
                return enc_errf(err, ENC_EINVAL,
                                "%s.datatype '%.32s' is not an inference protocol "
                                "datatype",
                                what, dt);
            const json_t *shape = json_object_get(in, "shape");
            if (!json_is_array(shape) || json_array_size(shape) > MAXD)
                return enc_errf(err, ENC_EINVAL, "%s.shape is required: an array of up to %d sizes",
                                what, MAXD);
            int64_t sh[MAXD];
            int nd = (int)json_array_size(shape);
            size_t count = 1;
            int overflow = 0;
            for (int d = 0; d < nd; d++) {
                const json_t *x = json_array_get(shape, (size_t)d);
                if (!json_is_integer(x) || json_integer_value(x) < 0)
                    return enc_errf(err, ENC_EINVAL, "%s.shape[%d] must be a non-negative integer",
                                    what, d);
                sh[d] = json_integer_value(x);
                if (sh[d] && count > SIZE_MAX / 16 / (uint64_t)sh[d])
                    overflow = 1;
                else
                    count *= (size_t)sh[d];
            }
            char shs[160];
            fmt_shape(shs, sizeof shs, sh, nd);
            size_t size = (size_t)json_integer_value(bds);
            if ((uint64_t)json_integer_value(bds) > SIZE_MAX || size > bin_len - used)
                return enc_errf(
                    err, ENC_EINVAL,
                    "%s: binary_data_size is %lld bytes but only %zu bytes of binary data "
                    "remain after the JSON header (%zu in all)",
                    what, (long long)json_integer_value(bds), bin_len - used, bin_len);
            if (overflow)
                return enc_errf(err, ENC_EINVAL, "%s.shape %s is too large", what, shs);
            const unsigned char *p = bin + used;
            if (esz > 0) {
                if (size != count * (size_t)esz)
                    return enc_errf(
                        err, ENC_EINVAL,
                        "%s: binary_data_size is %zu bytes but shape %s of %s needs %zu "
                        "(%zu elements of %d bytes)",
                        what, size, shs, dt, count * (size_t)esz, count, esz);
            } else {
                size_t k = 0;
                int rc = bytes_count(p, size, &k, what, err);
                if (rc)
                    return rc;
                if (k != count)
                    return enc_errf(
                        err, ENC_EINVAL,
                        "%s: binary_data_size of %zu bytes holds %zu BYTES elements but "
                        "shape %s needs %zu",
                        what, size, k, shs, count);
            }
            slices[i].data = p;
            slices[i].len = size;
            used += size;
        }
    }
    if (used != bin_len)
        return enc_errf(err, ENC_EINVAL,
                        "the body has %zu bytes of binary data after the JSON header but the "
                        "inputs' binary_data_size add up to %zu",
                        bin_len, used);
    return 0;
}

static int bad_value(enc_err *err, const char *what, size_t i, size_t per, const char *fmt,
                     double v, double min, double max)
{
    char inst[48] = "";
    if (per)
        snprintf(inst, sizeof inst, " (instance %zu)", i / per);
    if (fmt)
        return enc_errf(err, ENC_EINVAL, "%s binary data, element %zu%s: %g %s", what, i, inst, v,
                        fmt);
    return enc_errf(err, ENC_EINVAL,
                    "%s binary data, element %zu%s: %g is out of range: the model accepts %g to %g",
                    what, i, inst, v, min, max);
}

int binproto_numeric(const struct binproto_slice *s, const char *datatype, size_t count, double min,
                     double max, size_t per_instance, const char *what, float *dst, enc_err *err)
{
    int esz = binproto_elem_size(datatype);
    if (esz <= 0 || !s->data || s->len != count * (size_t)esz)
        return enc_errf(err, ENC_EINVAL, "%s: binary data of %zu bytes does not hold %zu %s values",
                        what, s->len, count, datatype);
    const unsigned char *p = s->data;
    int ranged = min < max;
    float fmin = (float)min, fmax = (float)max;
    if (!strcmp(datatype, "FP32")) {
        for (size_t i = 0; i < count; i++) {
            uint32_t u = le32(p + 4 * i);
            float f;
            memcpy(&f, &u, 4);
            if (!isfinite(f))
                return bad_value(err, what, i, per_instance,
                                 "is not a finite 32-bit float (NaN/Inf are not accepted)", f, 0,
                                 0);
            if (ranged && (f < fmin || f > fmax))
                return bad_value(err, what, i, per_instance, NULL, f, min, max);
            dst[i] = f;
        }
        return 0;
    }
    for (size_t i = 0; i < count; i++) {
        double d;
        if (!strcmp(datatype, "FP64")) {
            uint64_t u = le64(p + 8 * i);
            memcpy(&d, &u, 8);
        } else if (!strcmp(datatype, "INT64"))
            d = (double)(int64_t)le64(p + 8 * i);
        else if (!strcmp(datatype, "INT32"))
            d = (double)(int32_t)le32(p + 4 * i);
        else if (!strcmp(datatype, "UINT8"))
            d = p[i];
        else
            return enc_errf(err, ENC_EINVAL,
                            "%s: datatype %s is not supported (FP32, FP64, INT32, INT64, UINT8)",
                            what, datatype);
        float f = (float)d;
        if (!isfinite(d) || !isfinite(f))
            return bad_value(err, what, i, per_instance,
                             "is not a finite 32-bit float (NaN/Inf are not accepted)", d, 0, 0);
        if (ranged && (f < fmin || f > fmax))
            return bad_value(err, what, i, per_instance, NULL, d, min, max);
        dst[i] = f;
    }
    return 0;
}

int binproto_bytes(const struct binproto_slice *s, size_t count, size_t max_len, const char *what,
                   const char **text, size_t *len, enc_err *err)
{
    size_t off = 0;
    for (size_t k = 0; k < count; k++) {
        if (!s->data || s->len - off < 4 || (size_t)le32(s->data + off) > s->len - off - 4)
            return enc_errf(err, ENC_EINVAL, "%s: binary data holds fewer than %zu BYTES elements",
                            what, count);
        size_t l = le32(s->data + off);
        if (l == 0)
            return enc_errf(err, ENC_EINVAL, "%s binary data, element %zu: empty text", what, k);
        if (l > max_len)
            return enc_errf(
                err, ENC_EINVAL,
                "%s binary data, element %zu: text of %zu bytes is over the limit of %zu "
                "bytes",
                what, k, l, max_len);
        text[k] = (const char *)s->data + off + 4;
        len[k] = l;
        off += 4 + l;
    }
    if (off != s->len)
        return enc_errf(err, ENC_EINVAL, "%s: binary data holds more than %zu BYTES elements", what,
                        count);
    return 0;
}

void binproto_put_f32(buf *o, const float *v, size_t n)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    buf_append(o, v, n * sizeof *v);
#else
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        unsigned char b[4] = {(unsigned char)u, (unsigned char)(u >> 8), (unsigned char)(u >> 16),
                              (unsigned char)(u >> 24)};
        buf_append(o, b, 4);
    }
#endif
}

void binproto_put_bytes(buf *o, const char *s, size_t n)
{
    uint32_t l = (uint32_t)n;
    unsigned char b[4] = {(unsigned char)l, (unsigned char)(l >> 8), (unsigned char)(l >> 16),
                          (unsigned char)(l >> 24)};
    buf_append(o, b, 4);
    buf_append(o, s, n);
}

void binproto_size_param(buf *o, size_t size)
{
    buf_puts(o, "\"parameters\":{\"binary_data_size\":");
    buf_int(o, (long long)size);
    buf_append(o, "}", 1);
}

size_t binproto_finish(buf *o, buf *tail)
{
    size_t json_len = 0;
    if (tail->len || tail->oom) {
        json_len = o->len;
        if (tail->oom)
            o->oom = 1; /* the writer answers 500 */
        else
            buf_append(o, tail->data, tail->len);
    }
    buf_free(tail);
    return json_len;
}

/* A boolean flag, or an error naming it. */
static int flag(const json_t *v, const char *what, int *out, enc_err *err)
{
    if (!v)
        return 0;
    if (!json_is_boolean(v))
        return enc_errf(err, ENC_EINVAL, "%s must be true or false", what);
    *out = json_is_true(v);
    return 0;
}

int binproto_outputs(const json_t *root, const char *const *out_names, size_t n_out,
                     unsigned *binary, enc_err *err)
{
    int all = 0;
    *binary = 0;
    int rc = flag(json_object_get(json_object_get(root, "parameters"), "binary_data_output"),
                  "parameters.binary_data_output", &all, err);
    if (rc)
        return rc;
    if (all)
        *binary = (1u << n_out) - 1;
    const json_t *outputs = json_object_get(root, "outputs");
    for (size_t i = 0; i < json_array_size(outputs); i++) {
        const json_t *o = json_array_get(outputs, i);
        const char *name = json_string_value(json_object_get(o, "name"));
        const json_t *p = json_object_get(o, "parameters");
        if (!name || !p)
            continue;
        if (!json_is_object(p))
            return enc_errf(err, ENC_EINVAL, "outputs[%zu].parameters must be an object", i);
        if (json_object_get(p, "classification"))
            return enc_errf(err, ENC_EINVAL,
                            "outputs[%zu] (%.64s): the classification extension is not supported; "
                            "the label output holds each instance's top class",
                            i, name);
        char what[96];
        snprintf(what, sizeof what, "outputs[%zu].parameters.binary_data", i);
        int b = all;
        if ((rc = flag(json_object_get(p, "binary_data"), what, &b, err)))
            return rc;
        for (size_t j = 0; j < n_out; j++)
            if (!strcmp(name, out_names[j]))
                *binary = b ? *binary | 1u << j : *binary & ~(1u << j);
    }
    return 0;
}
