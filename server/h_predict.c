/*
 * h_predict.c - the inference protocols' handlers:
 *
 *   POST /v1/models/{name}:predict                      KServe V1
 *   GET  /v2                                            server metadata
 *   GET  /v2/health/live, /v2/health/ready              server health
 *   GET  /v2/models/{name}[/versions/{v}]               model metadata
 *   GET  /v2/models/{name}[/versions/{v}]/ready         model readiness
 *   POST /v2/models/{name}[/versions/{v}]/infer         inference
 *
 * They are written against struct model_io and ops->predict only, so every
 * classifier family (forest, linear, cnn, text) is served by the same code;
 * protocol.c parses and validates the bodies and writes the answers.
 * Recommendation models answer V2 infer too (user ids as a BYTES tensor,
 * parameters.k), through mf_recommend as h_reco.c calls it.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mf/mf.h"
#include "protocol.h"
#include "server.h"

const char *encore_version(void);   /* version.c */

#define V2_MAX_USER_BYTES 256

static struct proto_limits limits(const struct http_req *r)
{
    struct proto_limits l = {(size_t)r->srv->cfg.max_instances, (size_t)r->srv->cfg.max_text_bytes};
    return l;
}

/* The model a route names: {name}, and {version} on versioned routes.
 * Returns a reference (model_unref), or NULL after answering 400 / 404. */
static struct model *route_model(struct http_req *r)
{
    const char *name = r->params[0];
    int64_t version = 0;
    if (r->n_params > 1) {
        const char *s = r->params[1];
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (!isdigit((unsigned char)s[0]) || *end || errno || v < 1) {
            http_error(r, 400, "version '%s' must be a positive integer", s);
            return NULL;
        }
        version = v;
    }
    struct model *m = registry_get(r->srv->reg, name, version);
    if (!m) {
        if (version && (m = registry_get(r->srv->reg, name, 0))) {
            model_unref(m);
            http_error(r, 404, "model '%s' has no loaded version %lld", name, (long long)version);
        } else
            http_error(r, 404, "unknown model '%s'", name);
        return NULL;
    }
    snprintf(r->model, sizeof r->model, "%s", name);
    r->version = m->version;
    return m;
}

static int is_classifier(const struct model *m)
{
    return m->ops->task == MODEL_TASK_CLASSIFY && m->ops->io && m->ops->predict;
}

/* Run ops->predict on a parsed batch. Returns malloc'd probabilities
 * [n * classes], or NULL after answering. */
static float *predict(struct http_req *r, const struct model *m, const struct model_io *io,
                      const struct proto_input *in)
{
    size_t n = in->batch.n, C = io->n_classes;
    float *prob = C && n <= SIZE_MAX / sizeof(float) / C ? malloc(n * C * sizeof *prob) : NULL;
    if (!prob) {
        http_error(r, 500, "out of memory");
        return NULL;
    }
    enc_err err = {0};
    if (m->ops->predict(m->state, &in->batch, prob, &err)) {
        http_fail(r, &err);
        free(prob);
        return NULL;
    }
    return prob;
}

/* ---- V1 ------------------------------------------------------------------ */

void h_v1_predict(struct http_req *r)
{
    struct model *m = route_model(r);
    if (!m)
        return;
    json_t *root = NULL;
    struct proto_input in;
    memset(&in, 0, sizeof in);
    float *prob = NULL;
    enc_err err = {0};
    if (!is_classifier(m)) {
        http_error(r, 400, "model '%s' is a recommendation model: use POST /v1/models/%s:recommend",
                   m->name, m->name);
        goto out;
    }
    const struct model_io *io = m->ops->io(m->state);
    struct proto_limits lim = limits(r);
    if (!(root = http_parse_body(r)))
        goto out;
    if (proto_v1_parse(root, io, &lim, &in, &err)) {
        http_fail(r, &err);
        goto out;
    }
    if (!(prob = predict(r, m, io, &in)))
        goto out;
    r->status = 200;
    proto_v1_write(&r->out, m->name, m->version, io, prob, in.batch.n);
out:
    free(prob);
    proto_input_free(&in);
    json_decref(root);
    model_unref(m);
}

/* ---- V2 server ----------------------------------------------------------- */

void h_v2_server(struct http_req *r)
{
    r->status = 200;
    buf_puts(&r->out, "{\"name\":\"encore\",\"version\":");
    const char *v = encore_version();
    buf_json_str(&r->out, v, strlen(v));
    buf_puts(&r->out, ",\"extensions\":[]}");
}

void h_v2_live(struct http_req *r)
{
    r->status = 200;
    buf_puts(&r->out, "{\"live\":true}");
}

/* The spec: 200 means ready, a 4xx means not ready (Triton answers 400). */
void h_v2_ready(struct http_req *r)
{
    struct server *s = r->srv;
    if (__atomic_load_n(&s->draining, __ATOMIC_RELAXED))
        http_error(r, 400, "not ready: shutting down");
    else if (!__atomic_load_n(&s->ready, __ATOMIC_RELAXED))
        http_error(r, 400, "not ready: no model loaded");
    else {
        r->status = 200;
        buf_puts(&r->out, "{\"ready\":true}");
    }
}

/* ---- V2 model ------------------------------------------------------------ */

void h_v2_model(struct http_req *r)
{
    struct model *m = route_model(r);
    if (!m)
        return;
    /* The loaded versions, as strings the way V2 spells versions. */
    json_t *versions = json_array(), *d = registry_describe(r->srv->reg, m->name);
    json_t *vs = json_object_get(d, "versions"), *v;
    size_t i;
    json_array_foreach(vs, i, v)
    {
        char b[24];
        snprintf(b, sizeof b, "%lld", (long long)json_integer_value(json_object_get(v, "version")));
        json_array_append_new(versions, json_string(b));
    }
    json_decref(d);
    http_json(r, 200, proto_v2_metadata(m, versions));
    model_unref(m);
}

void h_v2_model_ready(struct http_req *r)
{
    struct model *m = route_model(r);
    if (!m)
        return;
    r->status = 200;
    buf_puts(&r->out, "{\"name\":");
    buf_json_str(&r->out, m->name, strlen(m->name));
    buf_printf(&r->out, ",\"version\":\"%lld\",\"ready\":true}", (long long)m->version);
    model_unref(m);
}

/* ---- V2 infer ------------------------------------------------------------ */

static const char *const reco_outputs[2] = {"item_ids", "scores"};

/* A recommendation model through V2: inputs[0] holds N user ids (BYTES);
 * parameters.k (default 10) and parameters.exclude_seen (default true).
 * Outputs item_ids BYTES [N, k'] and scores FP32 [N, k'], where k' is the
 * fewest hits any user got (rows must be rectangular). */
static void v2_recommend(struct http_req *r, const struct model *m, const json_t *root)
{
    const struct mf_model *mf = m->state;
    struct proto_v2_req req;
    struct proto_input in;
    memset(&in, 0, sizeof in);
    enc_err err = {0};
    float *scratch = NULL;
    struct mf_hit *hits = NULL;
    size_t *nh = NULL;
    if (proto_v2_parse_request(root, reco_outputs, 2, &req, &err)) {
        http_fail(r, &err);
        goto out;
    }
    int64_t k = 10;
    int exclude_seen = 1;
    json_t *pk = json_object_get(req.parameters, "k"), *pe = json_object_get(req.parameters, "exclude_seen");
    if (pk && (!json_is_integer(pk) || json_integer_value(pk) < 1 ||
               json_integer_value(pk) > r->srv->cfg.max_k)) {
        http_error(r, 400, "parameters.k must be an integer from 1 to %lld", (long long)r->srv->cfg.max_k);
        goto out;
    }
    if (pk)
        k = json_integer_value(pk);
    if (pe && !json_is_boolean(pe)) {
        http_error(r, 400, "parameters.exclude_seen must be true or false");
        goto out;
    }
    if (pe)
        exclude_seen = json_is_true(pe);
    json_t *dt = json_object_get(req.input, "datatype");
    if (json_is_string(dt) && strcmp(json_string_value(dt), "BYTES")) {
        http_error(r, 400, "inputs[0].datatype: a recommendation model takes user ids as BYTES, not %.32s",
                   json_string_value(dt));
        goto out;
    }
    struct model_io ids = {.kind = MODEL_INPUT_TEXT};
    struct proto_limits lim = {(size_t)r->srv->cfg.max_instances, V2_MAX_USER_BYTES};
    if (proto_v2_parse_tensor(req.input, &ids, &lim, &in, &err)) {
        http_fail(r, &err);
        goto out;
    }
    size_t n = in.batch.n;
    scratch = malloc(mf_scratch_floats(mf) * sizeof *scratch);
    hits = malloc(n * (size_t)k * sizeof *hits);
    nh = malloc(n * sizeof *nh);
    if (!scratch || !hits || !nh) {
        http_error(r, 500, "out of memory");
        goto out;
    }
    size_t kmin = (size_t)k;
    for (size_t i = 0; i < n; i++) {
        struct mf_query q = {.user = mf_user_index(mf, in.text[i], in.text_len[i]),
                             .k = (size_t)k,
                             .exclude_seen = exclude_seen};
        enum mf_source src;
        if (mf_recommend(mf, &q, scratch, hits + i * (size_t)k, &nh[i], &src, &err)) {
            http_fail(r, &err);
            goto out;
        }
        if (nh[i] < kmin)
            kmin = nh[i];
    }
    http_note_user(r, in.text[0], in.text_len[0]);
    buf *o = &r->out;
    r->status = 200;
    buf_puts(o, "{\"model_name\":");
    buf_json_str(o, m->name, strlen(m->name));
    buf_printf(o, ",\"model_version\":\"%lld\"", (long long)m->version);
    if (req.id) {
        buf_puts(o, ",\"id\":");
        buf_json_str(o, req.id, req.id_len);
    }
    buf_puts(o, ",\"outputs\":[");
    if (req.outputs & 1u) {
        buf_printf(o, "{\"name\":\"item_ids\",\"datatype\":\"BYTES\",\"shape\":[%zu,%zu],\"data\":[", n, kmin);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < kmin; j++) {
                size_t len;
                const char *id = mf_item_id(mf, (size_t)hits[i * (size_t)k + j].item, &len);
                if (i || j)
                    buf_append(o, ",", 1);
                buf_json_str(o, id, len);
            }
        buf_puts(o, "]}");
    }
    if (req.outputs & 2u) {
        buf_printf(o, "%s{\"name\":\"scores\",\"datatype\":\"FP32\",\"shape\":[%zu,%zu],\"data\":[",
                   req.outputs & 1u ? "," : "", n, kmin);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < kmin; j++) {
                if (i || j)
                    buf_append(o, ",", 1);
                buf_json_float(o, hits[i * (size_t)k + j].score);
            }
        buf_puts(o, "]}");
    }
    buf_puts(o, "]}");
out:
    free(scratch);
    free(hits);
    free(nh);
    proto_input_free(&in);
}

void h_v2_infer(struct http_req *r)
{
    struct model *m = route_model(r);
    if (!m)
        return;
    json_t *root = NULL;
    struct proto_input in;
    memset(&in, 0, sizeof in);
    float *prob = NULL;
    enc_err err = {0};
    if (!(root = http_parse_body(r)))
        goto out;
    if (m->ops->task == MODEL_TASK_RECOMMEND) {
        v2_recommend(r, m, root);
        goto out;
    }
    if (!is_classifier(m)) {
        http_error(r, 400, "model '%s' (%s) cannot answer infer", m->name, m->ops->family);
        goto out;
    }
    const struct model_io *io = m->ops->io(m->state);
    struct proto_limits lim = limits(r);
    struct proto_v2_req req;
    if (proto_v2_parse_request(root, proto_v2_class_outputs, 2, &req, &err) ||
        proto_v2_parse_tensor(req.input, io, &lim, &in, &err)) {
        http_fail(r, &err);
        goto out;
    }
    if (!(prob = predict(r, m, io, &in)))
        goto out;
    r->status = 200;
    proto_v2_write(&r->out, m->name, m->version, &req, io, prob, in.batch.n);
out:
    free(prob);
    proto_input_free(&in);
    json_decref(root);
    model_unref(m);
}
