/*
 * h_predict.c - the inference protocols' handlers:
 *
 *   POST /v1/models/{name}:predict                      KServe V1 (forms: v1forms.h)
 *   GET  /v2, /v2/                                      server metadata
 *   GET  /v2/health/live, /v2/health/ready              server health
 *   GET  /v2/models/{name}[/versions/{v}]               model metadata
 *   GET  /v2/models/{name}[/versions/{v}]/ready         model readiness
 *   POST /v2/models/{name}[/versions/{v}]/infer         inference
 *
 * They are written against struct model_io and ops->predict only, so every
 * classifier family (forest, linear, cnn, text) is served by the same code;
 * protocol.c parses and validates the bodies and writes the answers.
 * Recommendation models answer V2 infer too (user ids as a BYTES tensor,
 * parameters.k), through the model's reco_ops as h_reco.c calls them.
 * V2 infer speaks the binary tensor data extension both ways (binproto.h):
 * with an Inference-Header-Content-Length header the body is that much
 * JSON followed by raw tensors, and outputs asked for as binary follow the
 * JSON of the answer.
 *
 * What a request needs hangs off it: the model is borrowed (route_model
 * hands its reference to http_defer), parsed inputs and probabilities come
 * from http_alloc / http_defer, so a handler returns at any point with
 * nothing to free.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/version.h"
#include "protocol.h"
#include "server.h"
#include "v1forms.h"

static struct proto_limits limits(const struct http_req *r)
{
    struct proto_limits l = {(size_t)r->srv->cfg.max_instances, (size_t)r->srv->cfg.max_text_bytes};
    return l;
}

static void unref_model(void *m)
{
    model_unref(m);
}

/* The model a route names: {name}, and {version} on versioned routes.
 * Borrowed until the request is released (the reference is dropped then),
 * or NULL after answering 400 / 404 / 500. */
static const struct model *route_model(struct http_req *r)
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
            http_model_missing(r, name);
        return NULL;
    }
    if (http_defer(r, unref_model, m)) {
        model_unref(m);
        http_error(r, 500, "out of memory");
        return NULL;
    }
    snprintf(r->model, sizeof r->model, "%s", name);
    r->version = m->version;
    return m;
}

static void input_free(void *in)
{
    proto_input_free(in);
}

static void decref(void *j)
{
    json_decref(j);
}

/* An empty proto_input whose arrays (filled by a parser) are freed with the
 * request, or NULL after answering 500. */
static struct proto_input *request_input(struct http_req *r)
{
    struct proto_input *in = http_alloc(r, sizeof *in);
    if (!in || http_defer(r, input_free, in)) {
        http_error(r, 500, "out of memory");
        return NULL;
    }
    memset(in, 0, sizeof *in);
    return in;
}

static int is_classifier(const struct model *m)
{
    return m->ops->task == MODEL_TASK_CLASSIFY && m->ops->io && m->ops->predict;
}

/* Run ops->predict on a parsed batch. Returns probabilities [n * classes]
 * (request memory), or NULL after answering. */
static float *predict(struct http_req *r, const struct model *m, const struct model_io *io,
                      const struct proto_input *in)
{
    size_t n = in->batch.n, C = io->n_classes;
    float *prob =
        C && n <= SIZE_MAX / sizeof(float) / C ? http_alloc(r, n * C * sizeof *prob) : NULL;
    if (!prob) {
        http_error(r, 500, "out of memory");
        return NULL;
    }
    enc_err err = {0};
    if (m->ops->predict(m->state, &in->batch, prob, &err)) {
        http_fail(r, &err);
        return NULL;
    }
    return prob;
}

/* ---- V1 ------------------------------------------------------------------ */

void h_v1_predict(struct http_req *r)
{
    const struct model *m = route_model(r);
    if (!m)
        return;
    if (!is_classifier(m)) {
        http_error(r, 400, "model '%s' is a recommendation model: use POST /v1/models/%s:recommend",
                   m->name, m->name);
        return;
    }
    const struct model_io *io = m->ops->io(m->state);
    struct proto_limits lim = limits(r);
    struct proto_input *in;
    json_t *root, *rows = NULL;
    float *prob;
    enc_err err = {0};
    if (!(root = http_body_json(r)) || !(in = request_input(r)))
        return;
    int rc = v1forms_normalize(root, io, &rows, &err);
    if (rows && http_defer(r, decref, rows)) {
        http_error(r, 500, "out of memory");
        return;
    }
    if (rc || proto_v1_parse(rows, io, &lim, in, &err)) {
        http_fail(r, &err);
        return;
    }
    if (!(prob = predict(r, m, io, in)))
        return;
    r->status = 200;
    proto_v1_write(&r->out, m->name, m->version, io, prob, in->batch.n);
}

/* ---- V2 server ----------------------------------------------------------- */

void h_v2_server(struct http_req *r)
{
    r->status = 200;
    buf_puts(&r->out, "{\"name\":\"encore\",\"version\":");
    buf_json_str(&r->out, ENCORE_VERSION, strlen(ENCORE_VERSION));
    buf_puts(&r->out, ",\"extensions\":[\"binary_tensor_data\"]}");
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
    const struct model *m = route_model(r);
    if (!m)
        return;
    /* The loaded versions, as strings the way V2 spells versions. */
    json_t *d = registry_describe(r->srv->reg, m->name);
    if (!d || http_defer(r, decref, d)) {
        json_decref(d);
        http_error(r, 500, "out of memory");
        return;
    }
    json_t *versions = json_array(), *vs = json_object_get(d, "versions"), *v;
    size_t i;
    json_array_foreach(vs, i, v) {
        char b[24];
        snprintf(b, sizeof b, "%lld", (long long)json_integer_value(json_object_get(v, "version")));
        json_array_append_new(versions, json_string(b));
    }
    http_json(r, 200, proto_v2_metadata(m, versions));
}

void h_v2_model_ready(struct http_req *r)
{
    const struct model *m = route_model(r);
    if (!m)
        return;
    r->status = 200;
    buf_puts(&r->out, "{\"name\":");
    buf_json_str(&r->out, m->name, strlen(m->name));
    buf_printf(&r->out, ",\"version\":\"%lld\",\"ready\":true}", (long long)m->version);
}

/* ---- V2 infer ------------------------------------------------------------ */

/* The V2 request: the whole body as JSON, or with the binary tensor data
 * extension its first Inference-Header-Content-Length bytes, the rest
 * assigned to the inputs (bin). Returns the tree (the request's), or NULL
 * after answering. */
static json_t *v2_body(struct http_req *r, struct binproto_slice *bin)
{
    memset(bin, 0, sizeof *bin * BINPROTO_MAX_INPUTS);
    if (!r->infer_header)
        return http_body_json(r);
    size_t jl;
    enc_err err = {0};
    if (binproto_header_len(r->infer_header, r->body.len, &jl, &err)) {
        http_fail(r, &err);
        return NULL;
    }
    json_t *root = http_body_json_n(r, jl);
    if (root && binproto_inputs(root, (const unsigned char *)r->body.data + jl, r->body.len - jl,
                                bin, &err)) {
        http_fail(r, &err);
        return NULL;
    }
    return root;
}

/* A recommendation model through V2 (protocol.h's proto_v2_parse_reco):
 * each user id in inputs[0] gets its top k through the model's reco_ops. */
static void v2_recommend(struct http_req *r, const struct model *m, const json_t *root,
                         const struct binproto_slice *bin)
{
    const struct reco_ops *ro = m->ops->reco;
    enc_err err = {0};
    if (!ro) {
        http_error(r, 400, "model '%s' (%s) cannot answer infer", m->name, m->ops->family);
        return;
    }
    struct proto_v2_reco *req = http_alloc(r, sizeof *req);
    if (!req || http_defer(r, input_free, &req->users)) {
        http_error(r, 500, "out of memory");
        return;
    }
    memset(req, 0, sizeof *req);
    /* Each user is a scoring pass and k hits: both are capped (issue #20). */
    const struct config *c = &r->srv->cfg;
    size_t max_users =
        (size_t)(c->max_recommend_instances < c->max_instances ? c->max_recommend_instances
                                                               : c->max_instances);
    if (proto_v2_parse_reco(root, bin, (size_t)c->max_k, max_users, req, &err)) {
        http_fail(r, &err);
        return;
    }
    size_t n = req->users.batch.n, k = req->k, kmin = k;
    if (n * k > (size_t)c->max_hits_per_request) {
        http_error(r, 400, "%zu user ids x k %zu = %zu hits, over max_hits_per_request (%lld)", n,
                   k, n * k, (long long)c->max_hits_per_request);
        return;
    }
    void *scratch = http_scratch(ro->scratch_bytes(m->state)); /* the thread's */
    struct reco_hit *hits = http_alloc(r, n * k * sizeof *hits);
    if (!scratch || !hits) {
        http_error(r, 500, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        struct reco_query q = {
            .user = ro->user_index(m->state, req->users.text[i], req->users.text_len[i]),
            .k = k,
            .exclude_seen = req->exclude_seen,
            .index_min_items = (size_t)c->index_min_items,
            .ef_search = (size_t)c->ef_search,
        };
        struct reco_result res = {.hits = hits + i * k};
        if (ro->recommend(m->state, &q, scratch, &res, &err)) {
            http_fail(r, &err);
            return;
        }
        if (res.n < kmin)
            kmin = res.n;
    }
    http_note_user(r, req->users.text[0], req->users.text_len[0]);
    r->status = 200;
    r->out_json_len = proto_v2_write_reco(&r->out, m, &req->req, hits, n, k, kmin);
}

void h_v2_infer(struct http_req *r)
{
    const struct model *m = route_model(r);
    json_t *root;
    struct binproto_slice bin[BINPROTO_MAX_INPUTS];
    if (!m || !(root = v2_body(r, bin)))
        return;
    if (m->ops->task == MODEL_TASK_RECOMMEND) {
        v2_recommend(r, m, root, bin);
        return;
    }
    if (!is_classifier(m)) {
        http_error(r, 400, "model '%s' (%s) cannot answer infer", m->name, m->ops->family);
        return;
    }
    const struct model_io *io = m->ops->io(m->state);
    struct proto_limits lim = limits(r);
    struct proto_v2_req req;
    struct proto_input *in;
    float *prob;
    enc_err err = {0};
    if (!(in = request_input(r)))
        return;
    if (proto_v2_parse_request(root, proto_v2_class_outputs, 2, &req, &err) ||
        proto_v2_parse_tensor(req.input, bin, io, &lim, in, &err)) {
        http_fail(r, &err);
        return;
    }
    if (!(prob = predict(r, m, io, in)))
        return;
    r->status = 200;
    r->out_json_len = proto_v2_write(&r->out, m->name, m->version, &req, io, prob, in->batch.n);
}
