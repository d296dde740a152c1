/*
 * h_reco.c - POST /v1/models/{name}:recommend and :similar.
 *
 * The request is parsed with jansson and validated field by field (unknown
 * fields are refused so a typo never silently changes a result); ids become
 * rows and the query runs through the model's reco_ops (core/model.h), so
 * this file knows no family. The response is written straight into the
 * output buffer from the model's pre-escaped item fragments.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "live.h"
#include "server.h"

/* Parsed request fields shared by recommend and similar. */
struct reco_args {
    const char *user;
    size_t user_len;
    char user_buf[32]; /* a numeric user id written as text */
    const char *item;
    size_t item_len;
    char item_buf[32];
    int64_t k;
    int exclude_seen;
    int32_t *exclude, *candidates, *history, *tags;
    size_t n_exclude, n_candidates, n_history, n_tags;
    int has_candidates;
    int unknown_tag;
    double diversity;       /* 0..1: MMR re-ranking (reco_ops.rerank) */
    int64_t max_per_tag;    /* 0: no cap */
    int explain;            /* "because" per item (reco_ops.explain) */
    size_t unknown_history; /* history ids the model does not know (answered) */
    int exact;              /* "exact": true: no approximate index */
    /* as sent (borrowed from the body): new items and catalogue tags take
     * part in them (live_narrow) */
    const json_t *j_candidates, *j_exclude, *j_tags;
};

/* An id may be sent as a JSON string or an integer; ids are strings. */
static int id_text(json_t *v, const char **s, size_t *len, char *tmp, size_t tmp_len)
{
    if (json_is_string(v)) {
        *s = json_string_value(v);
        *len = json_string_length(v);
        return 0;
    }
    if (json_is_integer(v)) {
        *len = (size_t)snprintf(tmp, tmp_len, "%lld", (long long)json_integer_value(v));
        *s = tmp;
        return 0;
    }
    return -1;
}

/* Resolve a JSON array of item ids to rows; unknown ids are skipped (they
 * cannot be recommended anyway). 0, or answers 400 and returns -1. */
static int item_list(struct http_req *r, const struct model *m, json_t *arr, const char *field,
                     int32_t **out, size_t *n)
{
    if (!json_is_array(arr)) {
        http_error(r, 400, "'%s' must be an array of item ids", field);
        return -1;
    }
    size_t len = json_array_size(arr);
    if (len > (size_t)r->srv->cfg.max_history) {
        http_error(r, 400, "'%s' has %zu entries; the limit is %lld", field, len,
                   (long long)r->srv->cfg.max_history);
        return -1;
    }
    *out = http_alloc(r, (len ? len : 1) * sizeof **out);
    if (!*out) {
        http_error(r, 500, "out of memory");
        return -1;
    }
    *n = 0;
    for (size_t i = 0; i < len; i++) {
        const char *s;
        size_t sl;
        char tmp[32];
        if (id_text(json_array_get(arr, i), &s, &sl, tmp, sizeof tmp)) {
            http_error(r, 400, "'%s'[%zu] must be a string id", field, i);
            return -1;
        }
        int64_t row = m->ops->reco->item_index(m->state, s, sl);
        if (row >= 0)
            (*out)[(*n)++] = (int32_t)row;
    }
    return 0;
}

static int parse_args(struct http_req *r, const struct model *m, json_t *root, int similar,
                      struct reco_args *a)
{
    const struct config *c = &r->srv->cfg;
    a->k = 10;
    a->exclude_seen = 1;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (!similar && !strcmp(key, "user")) {
            if (id_text(v, &a->user, &a->user_len, a->user_buf, sizeof a->user_buf) ||
                a->user_len == 0) {
                http_error(r, 400, "'user' must be a non-empty string id");
                return -1;
            }
        } else if (similar && !strcmp(key, "item")) {
            if (id_text(v, &a->item, &a->item_len, a->item_buf, sizeof a->item_buf) ||
                a->item_len == 0) {
                http_error(r, 400, "'item' must be a non-empty string id");
                return -1;
            }
        } else if (!strcmp(key, "k")) {
            if (!json_is_integer(v) || json_integer_value(v) < 1 ||
                json_integer_value(v) > c->max_k) {
                http_error(r, 400, "'k' must be an integer from 1 to %lld", (long long)c->max_k);
                return -1;
            }
            a->k = json_integer_value(v);
        } else if (!strcmp(key, "diversity")) {
            if (!json_is_number(v) || !(json_number_value(v) >= 0 && json_number_value(v) <= 1)) {
                http_error(r, 400, "'diversity' must be a number from 0 to 1");
                return -1;
            }
            a->diversity = json_number_value(v);
        } else if (!strcmp(key, "max_per_tag")) {
            if (!json_is_integer(v) || json_integer_value(v) < 0 ||
                json_integer_value(v) > c->max_k) {
                http_error(r, 400, "'max_per_tag' must be an integer from 0 (no cap) to %lld",
                           (long long)c->max_k);
                return -1;
            }
            a->max_per_tag = json_integer_value(v);
        } else if (!similar && !strcmp(key, "explain")) {
            if (!json_is_boolean(v)) {
                http_error(r, 400, "'explain' must be true or false");
                return -1;
            }
            a->explain = json_is_true(v);
        } else if (!strcmp(key, "exact")) {
            if (!json_is_boolean(v)) {
                http_error(r, 400, "'exact' must be true or false");
                return -1;
            }
            a->exact = json_is_true(v);
        } else if (!similar && !strcmp(key, "exclude_seen")) {
            if (!json_is_boolean(v)) {
                http_error(r, 400, "'exclude_seen' must be true or false");
                return -1;
            }
            a->exclude_seen = json_is_true(v);
        } else if (!strcmp(key, "exclude")) {
            if (item_list(r, m, v, "exclude", &a->exclude, &a->n_exclude))
                return -1;
            a->j_exclude = v;
        } else if (!strcmp(key, "candidates")) {
            if (item_list(r, m, v, "candidates", &a->candidates, &a->n_candidates))
                return -1;
            a->has_candidates = 1;
            a->j_candidates = v;
        } else if (!similar && !strcmp(key, "history")) {
            if (item_list(r, m, v, "history", &a->history, &a->n_history))
                return -1;
            a->unknown_history = json_array_size(v) - a->n_history;
        } else if (!strcmp(key, "filter")) {
            json_t *tags = json_object_get(v, "tags");
            if (!json_is_object(v) || json_object_size(v) != 1 || !json_is_array(tags)) {
                http_error(r, 400, "'filter' must be {\"tags\": [names]}");
                return -1;
            }
            size_t n = json_array_size(tags);
            if (n > (size_t)c->max_history) {
                http_error(r, 400, "'filter.tags' has too many entries");
                return -1;
            }
            a->tags = http_alloc(r, (n ? n : 1) * sizeof *a->tags);
            if (!a->tags) {
                http_error(r, 500, "out of memory");
                return -1;
            }
            for (size_t i = 0; i < n; i++) {
                json_t *t = json_array_get(tags, i);
                if (!json_is_string(t)) {
                    http_error(r, 400, "'filter.tags'[%zu] must be a string", i);
                    return -1;
                }
                int64_t id =
                    m->ops->reco->tag_index(m->state, json_string_value(t), json_string_length(t));
                if (id >= 0)
                    a->tags[a->n_tags++] = (int32_t)id;
                else
                    a->unknown_tag = 1;
            }
            if (n == 0) {
                http_error(r, 400, "'filter.tags' must name at least one tag");
                return -1;
            }
            a->j_tags = tags;
        } else {
            http_error(r, 400,
                       similar
                           ? "unknown field '%s' (allowed: item, k, exclude, candidates, filter, "
                             "diversity, max_per_tag)"
                           : "unknown field '%s' (allowed: user, k, history, exclude_seen, "
                             "exclude, candidates, filter, diversity, max_per_tag, explain, exact)",
                       key);
            return -1;
        }
    }
    if (similar && !a->item) {
        http_error(r, 400, "'item' is required");
        return -1;
    }
    if (!similar && !a->user && !a->history) {
        http_error(r, 400, "'user' (or 'history' for a new user) is required");
        return -1;
    }
    return 0;
}

/* A hit's JSON fragment ("item":..,"title":..): a new item's, or a
 * catalogue title's (live_reco.c), or the model's. */
static const char *hit_fragment(struct http_req *r, const struct model *m, int32_t row,
                                size_t n_items, size_t *len)
{
    const char *frag = r->live ? live_fragment(r->live, row, n_items, len) : NULL;
    return frag ? frag : m->ops->reco->item_json(m->state, (size_t)row, len);
}

/* "items": [...], each with its score and, with explanations, "because". */
static void write_hits(struct http_req *r, const struct model *m, const struct reco_hit *hits,
                       size_t n, const struct reco_because *because, const size_t *n_because,
                       size_t top)
{
    size_t n_items = m->ops->reco->n_items(m->state);
    buf *o = &r->out;
    buf_puts(o, ",\"items\":[");
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *frag = hit_fragment(r, m, hits[i].item, n_items, &len);
        buf_append(o, i ? ",{" : "{", i ? 2 : 1);
        buf_append(o, frag, len);
        buf_puts(o, ",\"score\":");
        buf_json_float(o, hits[i].score);
        if (because) {
            buf_puts(o, ",\"because\":[");
            for (size_t j = 0; j < n_because[i]; j++) {
                const struct reco_because *b = &because[i * top + j];
                const char *bf = hit_fragment(r, m, b->item, n_items, &len);
                buf_append(o, j ? ",{" : "{", j ? 2 : 1);
                buf_append(o, bf, len);
                buf_puts(o, ",\"share\":");
                buf_json_float(o, b->share);
                buf_append(o, "}", 1);
            }
            buf_append(o, "]", 1);
        }
        buf_append(o, "}", 1);
    }
    buf_puts(o, "]}");
}

static void unref_model(void *m)
{
    model_unref(m);
}

/* The recommender a route names, borrowed until the request is released
 * (the reference is dropped then), or NULL after answering. */
static const struct model *reco_model(struct http_req *r, const char *name)
{
    struct model *m = registry_get(r->srv->reg, name, 0);
    if (!m) {
        http_model_missing(r, name);
        return NULL;
    }
    if (http_defer(r, unref_model, m)) {
        model_unref(m);
        http_error(r, 500, "out of memory");
        return NULL;
    }
    size_t name_len = strnlen(name, sizeof r->model - 1); /* a route param: <= REPO_NAME_MAX */
    memcpy(r->model, name, name_len);
    r->model[name_len] = '\0';
    r->version = m->version;
    if (m->ops->task != MODEL_TASK_RECOMMEND) {
        http_error(r, 400, "model '%s' is a %s classifier: use :predict", name, m->ops->family);
        return NULL;
    }
    if (!m->ops->reco) {
        http_error(r, 400, "model '%s' (%s) cannot answer recommend or similar", name,
                   m->ops->family);
        return NULL;
    }
    return m;
}

static void free_live_query(void *lq)
{
    live_query_free(lq);
}

/* Recorded events and the catalogue (live_reco.c): a folded vector,
 * consumed and disliked items left out, withdrawn items never returned.
 * 0, or answers and returns -1. */
static int live_query(struct http_req *r, const struct model *m, const struct reco_args *a,
                      int similar, void *scratch, struct reco_query *q, struct live_query *lq)
{
    enc_err err = {0};
    int64_t row = q->user;
    if (live_prepare(r->srv->live, m, similar ? NULL : a->user, a->user_len, &row, a->history,
                     a->n_history, a->exclude_seen, scratch, lq, &err) != 0) {
        http_fail(r, &err);
        return -1;
    }
    q->unavailable = lq->unavailable;
    if (similar)
        return 0;
    q->user = row;
    if (lq->vec || row < 0) { /* folded in already (still left out), or an erased user */
        q->history = a->history;
        q->n_history = a->n_history;
    }
    q->user_vec = lq->vec;
    if (lq->n_exclude) {
        int32_t *ex = http_alloc(r, (a->n_exclude + lq->n_exclude) * sizeof *ex);
        if (!ex) {
            http_error(r, 500, "out of memory");
            return -1;
        }
        if (a->n_exclude)
            memcpy(ex, a->exclude, a->n_exclude * sizeof *ex);
        memcpy(ex + a->n_exclude, lq->exclude, lq->n_exclude * sizeof *ex);
        q->exclude = ex;
        q->n_exclude = a->n_exclude + lq->n_exclude;
    }
    return 0;
}

/* Run the query the arguments describe into res (hits: room for a->k).
 * *source: where the user's vector came from (live_reco.c), or NULL.
 * 0, or answers and returns -1. */
static int run_query(struct http_req *r, const struct model *m, const struct reco_args *a,
                     int similar, struct reco_result *res, const char **source,
                     struct reco_query *q_out)
{
    const struct reco_ops *ro = m->ops->reco;
    struct reco_query q = {
        .user = -1,
        .k = (size_t)a->k,
        .exclude_seen = a->exclude_seen,
        .exclude = a->exclude,
        .n_exclude = a->n_exclude,
        .candidates = a->has_candidates ? a->candidates : NULL,
        .n_candidates = a->n_candidates,
        .tags = a->tags,
        .n_tags = a->n_tags,
        .history = a->history,
        .n_history = a->n_history,
        .index_min_items = (size_t)r->srv->cfg.index_min_items,
        .ef_search = (size_t)r->srv->cfg.ef_search,
        .exact = a->exact,
    };
    int64_t item = -1;
    if (similar) {
        item = ro->item_index(m->state, a->item, a->item_len);
        /* an item the model lacks may be a new one the events brought (below) */
        if (item < 0 && !(r->srv->live && ro->similar_vec)) {
            http_error(r, 404, "unknown item '%.*s' in model '%s'",
                       (int)(a->item_len > 128 ? 128 : a->item_len), a->item, m->name);
            return -1;
        }
    } else if (a->user) {
        http_note_user(r, a->user, a->user_len);
        q.user = ro->user_index(m->state, a->user, a->user_len);
        if (q.user >= 0) { /* a known user's own factors win over a sent history */
            q.history = NULL;
            q.n_history = 0;
        }
    }
    res->n = 0;
    res->source = RECO_FROM_USER;
    *q_out = q;
    int live = r->srv->live && ro->fold_in_weighted;
    if (!live && a->unknown_tag && a->n_tags == 0) /* every tag unknown: nothing matches */
        return 0;
    void *scratch = http_scratch(ro->scratch_bytes(m->state)); /* the thread's, not the request's */
    enc_err err = {0};
    if (!scratch) {
        http_error(r, 500, "out of memory");
        return -1;
    }
    *source = NULL;
    struct live_query *lq = NULL;
    if (live) {
        lq = http_alloc(r, sizeof *lq);
        if (!lq || (memset(lq, 0, sizeof *lq), http_defer(r, free_live_query, lq))) {
            http_error(r, 500, "out of memory");
            return -1;
        }
        if (live_query(r, m, a, similar, scratch, &q, lq))
            return -1;
        *source = lq->source;
        r->live = lq;
        /* candidates, exclusions and tags as sent: new items and the
         * catalogue's tags take part (a catalogue tag filter replaces q's) */
        int replaced = 0;
        if (live_narrow(lq, m, a->j_candidates, a->j_exclude, a->j_tags, &replaced, &err)) {
            http_fail(r, &err);
            return -1;
        }
        if (replaced) {
            q.tags = NULL;
            q.n_tags = 0;
            q.unavailable = lq->unavailable;
        } else if (a->unknown_tag && a->n_tags == 0) {
            *q_out = q;
            return 0; /* every tag unknown to the model and the catalogue */
        }
    }
    const float *new_vec = NULL; /* :similar of a new item */
    int32_t new_index = -1;
    if (similar && item < 0) {
        new_vec = lq ? live_new_item_vec(lq, a->item, a->item_len, &new_index) : NULL;
        if (!new_vec) {
            http_error(r, 404, "unknown item '%.*s' in model '%s'",
                       (int)(a->item_len > 128 ? 128 : a->item_len), a->item, m->name);
            return -1;
        }
    }
    int rc = similar ? new_vec ? ro->similar_vec(m->state, new_vec, &q, scratch, res, &err)
                               : ro->similar(m->state, (int32_t)item, &q, scratch, res, &err)
                     : ro->recommend(m->state, &q, scratch, res, &err);
    if (rc != 0) {
        http_fail(r, &err);
        return -1;
    }
    /* New items (not in the model) compete for the k places, within the
     * request's candidates, exclusions and tags (live_narrow). */
    if (lq && live_has_new(lq)) {
        size_t n_items = ro->n_items(m->state);
        if (similar) {
            const float *qv = new_vec ? new_vec : ro->item_factors(m->state, item);
            live_merge_new(lq, qv, NULL, 0, 1, new_index, q.k, n_items, res);
        } else if (res->source == RECO_FROM_USER || res->source == RECO_FROM_VECTOR) {
            const float *u = q.user_vec ? q.user_vec : ro->user_factors(m->state, q.user);
            live_merge_new(lq, u, a->user, a->user_len, 0, -1, q.k, n_items, res);
        } else if (res->source == RECO_FROM_HISTORY && ro->fold_in) {
            /* the model folded the history in its scratch: fold it again */
            float *u = http_alloc(r, ro->factors(m->state) * sizeof *u);
            if (u && ro->fold_in(m->state, q.history, q.n_history, scratch, u, &err) == 0)
                live_merge_new(lq, u, a->user, a->user_len, 0, -1, q.k, n_items, res);
        }
    }
    *q_out = q;
    return 0;
}

/* {"model", "version", "user" | "item", ["fallback"], "source", ["search"],
 *  ["unknown_history": N], [extra fields], "items": [...]} */
static void write_answer(struct http_req *r, const struct model *m, const struct reco_args *a,
                         int similar, const struct reco_result *res, const char *source,
                         const buf *extra, const struct reco_because *because,
                         const size_t *n_because)
{
    buf *o = &r->out;
    r->status = 200;
    /* One allocation for the usual answer (~70 bytes an item), and for
     * k <= 10 one that glibc's per-thread cache serves: buf doubles from
     * 256, so 704 asks for 1,024 bytes; 1,088 asked for 2,048, past the
     * cache's 1,032, and every request paid _int_malloc and _int_free. */
    buf_reserve(o, 64 + res->n * 64);
    buf_puts(o, "{\"model\":");
    buf_json_str(o, m->name, strlen(m->name));
    buf_puts(o, ",\"version\":");
    buf_int(o, (long long)m->version);
    if (similar) {
        buf_puts(o, ",\"item\":");
        buf_json_str(o, a->item, a->item_len);
    } else {
        if (a->user) {
            buf_puts(o, ",\"user\":");
            buf_json_str(o, a->user, a->user_len);
        }
        if (res->source == RECO_FROM_POPULAR)
            buf_puts(o, ",\"fallback\":\"popular\"");
        else if (res->source == RECO_FROM_HISTORY)
            buf_puts(o, ",\"fallback\":\"history\"");
        /* where the user's vector came from */
        source = res->source == RECO_FROM_POPULAR   ? "popular"
                 : res->source == RECO_FROM_HISTORY ? "history"
                 : source                           ? source
                                                    : "model";
        buf_puts(o, ",\"source\":\"");
        buf_puts(o, source);
        buf_puts(o, "\"");
        if (a->unknown_history) { /* said, so a history of unknown ids is not silent */
            buf_puts(o, ",\"unknown_history\":");
            buf_int(o, (long long)a->unknown_history);
        }
    }
    /* Which path answered (recommend and similar), for models with an item index. */
    if (res->has_index)
        buf_puts(o, res->search == RECO_SEARCH_INDEX      ? ",\"search\":\"index\""
                    : res->search == RECO_SEARCH_FALLBACK ? ",\"search\":\"exact_fallback\""
                                                          : ",\"search\":\"exact\"");
    if (extra && extra->len)
        buf_append(o, extra->data, extra->len);
    write_hits(r, m, res->hits, res->n, because, n_because, RECO_EXPLAIN_TOP);
}

/* The largest pool a re-ranking widens to when the tag cap had to give way. */
#define RERANK_POOL_MAX 4096

/* Diversify: re-rank a pool of candidates down to `want` (reco_ops.rerank).
 * The pool is reco_rerank_pool(want) wide; when the tag cap had to give way
 * and the pool was full, it is widened (x4, up to RERANK_POOL_MAX) and the
 * query run again. 0, or answers and returns -1. */
static int run_diversified(struct http_req *r, const struct model *m, struct reco_args *a,
                           int similar, struct reco_result *res, const char **source,
                           struct reco_query *q)
{
    const struct reco_ops *ro = m->ops->reco;
    size_t want = (size_t)a->k, pool = reco_rerank_pool(want);
    if (pool > RERANK_POOL_MAX)
        pool = want > RERANK_POOL_MAX ? want : RERANK_POOL_MAX;
    struct reco_rerank o = {
        .k = want, .diversity = a->diversity, .max_per_tag = (size_t)a->max_per_tag};
    struct reco_hit *final = http_alloc(r, want * sizeof *final);
    for (;;) {
        struct reco_result cand = {.hits = http_alloc(r, pool * sizeof *cand.hits)};
        void *rs = http_alloc(r, reco_rerank_scratch_bytes(pool));
        if (!final || !cand.hits || !rs) {
            http_error(r, 500, "out of memory");
            return -1;
        }
        a->k = (int64_t)pool;
        int rc = run_query(r, m, a, similar, &cand, source, q);
        a->k = (int64_t)want;
        if (rc)
            return -1;
        enc_err err = {0};
        size_t relaxed = 0;
        *res = cand;
        res->hits = final;
        /* a tag cap counts the catalogue's tags where it sets them */
        int32_t *keys = NULL;
        uint32_t *off = NULL;
        if (o.max_per_tag && r->live &&
            live_rerank_tags(r->live, m, cand.hits, cand.n, &keys, &off, &err) != 0) {
            http_fail(r, &err);
            return -1;
        }
        o.tag_keys = keys, o.tag_off = off;
        rc = ro->rerank(m->state, cand.hits, cand.n, &o, rs, res, &relaxed, &err);
        free(keys), free(off);
        o.tag_keys = NULL, o.tag_off = NULL;
        if (rc != 0) {
            http_fail(r, &err);
            return -1;
        }
        if (!(relaxed && cand.n == pool && pool < RERANK_POOL_MAX))
            return 0;
        pool = pool * 4 > RERANK_POOL_MAX ? RERANK_POOL_MAX : pool * 4;
    }
}

/* "because" for each hit (reco_ops.explain) over the items the user's
 * vector stands on. A popularity answer has none. 0, or answers and
 * returns -1. */
static int explain_hits(struct http_req *r, const struct model *m, const struct reco_query *q,
                        const struct reco_result *res, struct reco_because **because,
                        size_t **n_because)
{
    const struct reco_ops *ro = m->ops->reco;
    *because = http_alloc(r, (res->n ? res->n : 1) * RECO_EXPLAIN_TOP * sizeof **because);
    *n_because = http_alloc(r, (res->n ? res->n : 1) * sizeof **n_because);
    int32_t *targets = http_alloc(r, (res->n ? res->n : 1) * sizeof *targets);
    if (!*because || !*n_because || !targets) {
        http_error(r, 500, "out of memory");
        return -1;
    }
    memset(*n_because, 0, (res->n ? res->n : 1) * sizeof **n_because);
    if (res->source == RECO_FROM_POPULAR || res->n == 0)
        return 0;
    /* the items the answer's vector was made from: the user's training
     * items (the trained vector), the history as sent (folded in by the
     * query), or what live_reco.c folded in (events) */
    struct reco_basis basis = {0}, owned = {0};
    enc_err err = {0};
    if (res->source == RECO_FROM_USER) {
        basis.n = ro->seen(m->state, q->user, &basis.items);
    } else if (res->source == RECO_FROM_HISTORY) {
        basis.items = q->history;
        basis.n = q->n_history;
    } else if (live_basis(m, r->live, q->user, q->history, q->n_history, &owned, &err) != 0) {
        http_fail(r, &err);
        return -1;
    } else {
        basis = owned;
    }
    for (size_t i = 0; i < res->n; i++)
        targets[i] = res->hits[i].item;
    void *scratch = http_scratch(ro->scratch_bytes(m->state));
    int rc = scratch ? ro->explain(m->state, &basis, targets, res->n, RECO_EXPLAIN_TOP, scratch,
                                   *because, *n_because, &err)
                     : enc_errf(&err, ENC_ENOMEM, "out of memory");
    live_basis_free(&owned);
    if (rc) {
        http_fail(r, &err);
        return -1;
    }
    return 0;
}

/* The item ids of an answer's hits (borrowed from the model or the live
 * view), for a decorator. 0, or answers and returns -1. */
static int answer_ids(struct http_req *r, const struct model *m, const struct reco_result *res,
                      struct reco_answer *ans)
{
    const struct reco_ops *ro = m->ops->reco;
    size_t n_items = ro->n_items(m->state);
    const char **ids = http_alloc(r, (res->n ? res->n : 1) * sizeof *ids);
    size_t *lens = http_alloc(r, (res->n ? res->n : 1) * sizeof *lens);
    if (!ids || !lens) {
        http_error(r, 500, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < res->n; i++) {
        int32_t row = res->hits[i].item;
        ids[i] = (size_t)row < n_items ? ro->item_id(m->state, (size_t)row, &lens[i])
                                       : live_new_item_id(r->live, row, n_items, &lens[i]);
        if (!ids[i])
            ids[i] = "", lens[i] = 0;
    }
    ans->ids = ids;
    ans->id_lens = lens;
    return 0;
}

/* Shared body of the endpoints: model, arguments, query, answer. Every
 * allocation hangs off the request (http_alloc, http_defer). */
static void serve(struct http_req *r, const char *name, int similar, const json_t *defaults,
                  reco_decorate_fn decorate, void *arg)
{
    const struct model *m = reco_model(r, name);
    json_t *root;
    struct reco_args a;
    memset(&a, 0, sizeof a);
    if (!m || !(root = http_body_json(r)))
        return;
    if (defaults && json_object_update_missing(root, (json_t *)defaults) != 0) {
        http_error(r, 500, "out of memory");
        return;
    }
    if (parse_args(r, m, root, similar, &a))
        return;
    const struct reco_ops *ro = m->ops->reco;
    if ((a.diversity > 0 || a.max_per_tag > 0) && !ro->rerank) {
        http_error(r, 400, "model '%s' (%s) cannot re-rank: leave out diversity and max_per_tag",
                   m->name, m->ops->family);
        return;
    }
    if (a.explain && !(ro->explain && ro->seen)) {
        http_error(r, 400, "model '%s' (%s) cannot explain its answers", m->name, m->ops->family);
        return;
    }
    struct reco_result res = {0};
    struct reco_query q;
    const char *source = NULL;
    if (a.diversity > 0 || a.max_per_tag > 0) {
        if (run_diversified(r, m, &a, similar, &res, &source, &q))
            return;
    } else {
        res.hits = http_alloc(r, (size_t)a.k * sizeof *res.hits);
        if (!res.hits) {
            http_error(r, 500, "out of memory");
            return;
        }
        if (run_query(r, m, &a, similar, &res, &source, &q))
            return;
    }
    struct reco_because *because = NULL;
    size_t *n_because = NULL;
    if (a.explain && explain_hits(r, m, &q, &res, &because, &n_because))
        return;
    buf extra;
    buf_init(&extra);
    if (decorate) {
        struct reco_answer ans = {m, res.hits, res.n, NULL, NULL, a.user, a.user_len};
        if (answer_ids(r, m, &res, &ans) || decorate(r, arg, &ans, &extra)) {
            buf_free(&extra);
            return;
        }
    }
    write_answer(r, m, &a, similar, &res, source, &extra, because, n_because);
    buf_free(&extra);
}

void reco_serve(struct http_req *r, const char *name, const json_t *defaults,
                reco_decorate_fn decorate, void *arg)
{
    serve(r, name, 0, defaults, decorate, arg);
}

void h_recommend(struct http_req *r)
{
    serve(r, r->params[0], 0, NULL, NULL, NULL);
}

void h_similar(struct http_req *r)
{
    serve(r, r->params[0], 1, NULL, NULL, NULL);
}
