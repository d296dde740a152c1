/*
 * fuzz_binproto.c - libFuzzer target for the binary tensor data extension
 * (server/binproto.c) as a request meets it:
 *
 *   input = 2 bytes little-endian J, then a body whose first J bytes (J
 *           taken modulo the body length + 1) are the JSON header
 *
 * The header value goes through binproto_header_len as its decimal text;
 * the JSON through jansson; the rest through binproto_inputs; every slice
 * it assigns must lie inside the binary region, the slices must add up to
 * all of it, and each is then decoded (binproto_numeric for fixed-size
 * datatypes, binproto_bytes for BYTES). Every refusal must say why. The
 * request then goes through the protocol as the server reads it
 * (proto_v2_parse_request, proto_v2_parse_tensor with inputs[0]'s slice,
 * against a 4-feature numeric and a text model) and an accepted one is
 * answered with proto_v2_write, whose JSON part must parse.
 *
 *   tests/fuzz/run.sh 60    (builds build-fuzz with clang when needed)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binproto.h"
#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2 || size > 1 << 16)
        return 0;
    size_t j = (size_t)data[0] | (size_t)data[1] << 8;
    const unsigned char *body = data + 2;
    size_t n = size - 2;
    j %= n + 1;
    char hdr[32];
    snprintf(hdr, sizeof hdr, "%zu", j);
    size_t jl;
    enc_err err = {0};
    if (binproto_header_len(hdr, n, &jl, &err)) {
        if (!err.msg[0])
            abort();
        return 0;
    }
    if (jl != j)
        abort();
    json_t *root = json_loadb((const char *)body, jl, JSON_REJECT_DUPLICATES, NULL);
    if (!root)
        return 0;
    struct binproto_slice sl[BINPROTO_MAX_INPUTS];
    const unsigned char *bin = body + jl;
    size_t bin_len = n - jl;
    int rc = binproto_inputs(root, bin, bin_len, sl, &err);
    if (rc) {
        if (!err.msg[0])
            abort();
        json_decref(root);
        return 0;
    }
    size_t total = 0;
    const json_t *inputs = json_object_get(root, "inputs");
    for (size_t i = 0; i < BINPROTO_MAX_INPUTS; i++) {
        if (!sl[i].data)
            continue;
        if (sl[i].data < bin || sl[i].len > bin_len || sl[i].data + sl[i].len > bin + bin_len)
            abort();
        total += sl[i].len;
        const json_t *in = json_array_get(inputs, i);
        const char *dt = json_string_value(json_object_get(in, "datatype"));
        int esz = dt ? binproto_elem_size(dt) : -1;
        if (esz < 0)
            abort(); /* binproto_inputs accepted an unknown datatype */
        enc_err e2 = {0};
        if (esz == 0) {
            /* Count the elements the way a caller would: from the shape. */
            size_t count = 1;
            const json_t *shape = json_object_get(in, "shape");
            for (size_t d = 0; d < json_array_size(shape); d++)
                count *= (size_t)json_integer_value(json_array_get(shape, d));
            if (count > 4096)
                continue;
            const char **text = malloc((count + 1) * sizeof *text);
            size_t *len = malloc((count + 1) * sizeof *len);
            if (binproto_bytes(&sl[i], count, 64, "x", text, len, &e2) == 0) {
                for (size_t k = 0; k < count; k++)
                    if ((const unsigned char *)text[k] < sl[i].data ||
                        (const unsigned char *)text[k] + len[k] > sl[i].data + sl[i].len)
                        abort();
            } else if (!e2.msg[0])
                abort();
            free(text);
            free(len);
        } else {
            size_t count = sl[i].len / (size_t)esz;
            float *x = malloc((count + 1) * sizeof *x);
            if (binproto_numeric(&sl[i], dt, count, -1e6, 1e6, 4, "x", x, &e2) == 0) {
                for (size_t k = 0; k < count; k++)
                    if (!(x[k] >= -1e6f && x[k] <= 1e6f))
                        abort();
            } else if (!e2.msg[0])
                abort();
            free(x);
        }
    }
    if (total != bin_len)
        abort();
    static const char *const cls[3] = {"x", "y", "z"};
    for (int text = 0; text < 2; text++) {
        struct model_io io = {.kind = text ? MODEL_INPUT_TEXT : MODEL_INPUT_NUMERIC,
                              .n_features = text ? 0 : 4,
                              .ndim = text ? 0 : 1,
                              .shape = {4},
                              .min_value = -1e6,
                              .max_value = 1e6,
                              .n_classes = 3,
                              .class_names = cls};
        struct proto_limits lim = {.max_instances = 64, .max_text_bytes = 64};
        struct proto_v2_req req;
        struct proto_input in;
        memset(&in, 0, sizeof in);
        enc_err e3 = {0};
        int r3 = proto_v2_parse_request(root, proto_v2_class_outputs, 2, &req, &e3);
        if (!r3)
            r3 = proto_v2_parse_tensor(req.input, sl, &io, &lim, &in, &e3);
        if (r3) {
            if (!e3.msg[0] && r3 != ENC_ENOMEM)
                abort();
            continue;
        }
        if (in.batch.n == 0 || in.batch.n > lim.max_instances)
            abort();
        for (size_t k = 0; text && k < in.batch.n; k++)
            if (in.batch.text_len[k] == 0 || in.batch.text_len[k] > lim.max_text_bytes ||
                (const unsigned char *)in.batch.text[k] < body ||
                (const unsigned char *)in.batch.text[k] + in.batch.text_len[k] > body + n)
                abort();
        float *prob = malloc(in.batch.n * 3 * sizeof *prob);
        for (size_t k = 0; k < in.batch.n * 3; k++)
            prob[k] = 1.0f / 3;
        buf o;
        buf_init(&o);
        size_t hl = proto_v2_write(&o, "m", 1, &req, &io, prob, in.batch.n);
        json_t *back = json_loadb(o.data, hl ? hl : o.len, 0, NULL);
        if (!back && !o.oom)
            abort();
        json_decref(back);
        buf_free(&o);
        free(prob);
        proto_input_free(&in);
    }
    json_decref(root);
    return 0;
}
