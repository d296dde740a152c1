/*
 * proto_write.c - the protocols' answers (see protocol.h): KServe V1 and
 * V2 classifier responses and V2 recommend responses, appended to a buf as
 * JSON text (no jansson tree: a V1 iris answer is a few dozen appends and
 * three %.7g floats per instance), with the binary tensor data extension's
 * outputs after the JSON when a request asks for them. Parsing is in
 * protocol.c.
 */
#include "protocol.h"

#include <stdio.h>
#include <string.h>

/* ---- responses ---------------------------------------------------------- */

size_t proto_argmax(const float *p, size_t n)
{
    size_t best = 0;
    for (size_t c = 1; c < n; c++)
        if (p[c] > p[best])
            best = c;
    return best;
}

/* Probabilities of 0 and 1 are common (forest leaves are often pure) and
 * print the same as %.7g would, without a trip through printf. */
static void put_prob(buf *o, float p)
{
    if (p == 0.0f)
        buf_append(o, "0", 1);
    else if (p == 1.0f)
        buf_append(o, "1", 1);
    else
        buf_json_float(o, p);
}

/* Decimal integer without printf. */
static void put_int(buf *o, long long v)
{
    char tmp[24], *e = tmp + sizeof tmp, *p = e;
    unsigned long long u = v < 0 ? 0ull - (unsigned long long)v : (unsigned long long)v;
    do
        *--p = (char)('0' + u % 10);
    while (u /= 10);
    if (v < 0)
        *--p = '-';
    buf_append(o, p, (size_t)(e - p));
}

static void class_str(buf *o, const struct model_io *io, size_t c)
{
    if (io->class_names && io->class_names[c])
        buf_json_str(o, io->class_names[c], strlen(io->class_names[c]));
    else
        buf_printf(o, "\"%zu\"", c);
}

/* The same name as a binary BYTES element. */
static void class_bin(buf *tail, const struct model_io *io, size_t c)
{
    char b[24];
    const char *s = io->class_names && io->class_names[c] ? io->class_names[c] : b;
    if (s == b)
        snprintf(b, sizeof b, "%zu", c);
    binproto_put_bytes(tail, s, strlen(s));
}

void proto_v1_write(buf *o, const char *model, int64_t version, const struct model_io *io,
                    const float *prob, size_t n)
{
    size_t C = io->n_classes;
    buf_puts(o, "{\"model\":");
    buf_json_str(o, model, strlen(model));
    buf_puts(o, ",\"version\":");
    put_int(o, version);
    buf_puts(o, ",\"predictions\":[");
    for (size_t i = 0; i < n; i++) {
        const float *p = prob + i * C;
        buf_puts(o, i ? ",{\"label\":" : "{\"label\":");
        class_str(o, io, proto_argmax(p, C));
        buf_puts(o, ",\"probabilities\":{");
        for (size_t c = 0; c < C; c++) {
            if (c)
                buf_append(o, ",", 1);
            class_str(o, io, c);
            buf_append(o, ":", 1);
            put_prob(o, p[c]);
        }
        buf_puts(o, "}}");
    }
    buf_puts(o, "]}");
}

const char *const proto_v2_class_outputs[2] = {"label", "probabilities"};

size_t proto_v2_write(buf *o, const char *model, int64_t version, const struct proto_v2_req *req,
                      const struct model_io *io, const float *prob, size_t n)
{
    size_t C = io->n_classes;
    buf tail; /* binary outputs, appended after the JSON */
    buf_init(&tail);
    buf_puts(o, "{\"model_name\":");
    buf_json_str(o, model, strlen(model));
    buf_puts(o, ",\"model_version\":\"");
    put_int(o, version);
    buf_append(o, "\"", 1);
    if (req->id) {
        buf_puts(o, ",\"id\":");
        buf_json_str(o, req->id, req->id_len);
    }
    buf_puts(o, ",\"outputs\":[");
    int first = 1;
    if (req->outputs & 1u) {
        buf_puts(o, "{\"name\":\"label\",\"datatype\":\"BYTES\",\"shape\":[");
        put_int(o, (long long)n);
        if (req->binary & 1u) {
            for (size_t i = 0; i < n; i++)
                class_bin(&tail, io, proto_argmax(prob + i * C, C));
            buf_puts(o, "],");
            binproto_size_param(o, tail.len);
            buf_append(o, "}", 1);
        } else {
            buf_puts(o, "],\"data\":[");
            for (size_t i = 0; i < n; i++) {
                if (i)
                    buf_append(o, ",", 1);
                class_str(o, io, proto_argmax(prob + i * C, C));
            }
            buf_puts(o, "]}");
        }
        first = 0;
    }
    if (req->outputs & 2u) {
        buf_puts(o, first ? "{" : ",{");
        buf_puts(o, "\"name\":\"probabilities\",\"datatype\":\"FP32\",\"shape\":[");
        put_int(o, (long long)n);
        buf_append(o, ",", 1);
        put_int(o, (long long)C);
        if (req->binary & 2u) {
            binproto_put_f32(&tail, prob, n * C);
            buf_puts(o, "],");
            binproto_size_param(o, n * C * sizeof(float));
            buf_append(o, "}", 1);
        } else {
            buf_puts(o, "],\"data\":[");
            for (size_t i = 0; i < n * C; i++) {
                if (i)
                    buf_append(o, ",", 1);
                put_prob(o, prob[i]);
            }
            buf_puts(o, "]}");
        }
    }
    buf_puts(o, "]}");
    return binproto_finish(o, &tail);
}

size_t proto_v2_write_reco(buf *o, const struct model *m, const struct proto_v2_req *req,
                           const struct reco_hit *hits, size_t n, size_t stride, size_t kmin)
{
    buf tail; /* binary outputs, appended after the JSON */
    buf_init(&tail);
    buf_puts(o, "{\"model_name\":");
    buf_json_str(o, m->name, strlen(m->name));
    buf_puts(o, ",\"model_version\":\"");
    put_int(o, m->version);
    buf_append(o, "\"", 1);
    if (req->id) {
        buf_puts(o, ",\"id\":");
        buf_json_str(o, req->id, req->id_len);
    }
    buf_puts(o, ",\"outputs\":[");
    if (req->outputs & 1u) {
        buf_printf(o, "{\"name\":\"item_ids\",\"datatype\":\"BYTES\",\"shape\":[%zu,%zu],", n,
                   kmin);
        buf_puts(o, req->binary & 1u ? "" : "\"data\":[");
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < kmin; j++) {
                size_t len;
                const char *id =
                    m->ops->reco->item_id(m->state, (size_t)hits[i * stride + j].item, &len);
                if (req->binary & 1u)
                    binproto_put_bytes(&tail, id, len);
                else {
                    if (i || j)
                        buf_append(o, ",", 1);
                    buf_json_str(o, id, len);
                }
            }
        if (req->binary & 1u)
            binproto_size_param(o, tail.len);
        buf_puts(o, req->binary & 1u ? "}" : "]}");
    }
    if (req->outputs & 2u) {
        buf_printf(o, "%s{\"name\":\"scores\",\"datatype\":\"FP32\",\"shape\":[%zu,%zu],",
                   req->outputs & 1u ? "," : "", n, kmin);
        buf_puts(o, req->binary & 2u ? "" : "\"data\":[");
        size_t at = tail.len;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < kmin; j++) {
                if (req->binary & 2u)
                    binproto_put_f32(&tail, &hits[i * stride + j].score, 1);
                else {
                    if (i || j)
                        buf_append(o, ",", 1);
                    buf_json_float(o, hits[i * stride + j].score);
                }
            }
        if (req->binary & 2u)
            binproto_size_param(o, tail.len - at);
        buf_puts(o, req->binary & 2u ? "}" : "]}");
    }
    buf_puts(o, "]}");
    return binproto_finish(o, &tail);
}
