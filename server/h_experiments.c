/*
 * h_experiments.c - A/B experiments over the recommenders (issue #16):
 *
 *   POST /v1/experiments/{name}:recommend   the user's variant answers
 *   GET  /v1/experiments/{name}             the report (counts, hit rates,
 *                                           differences from the control)
 *
 * and the attribution of events that carry a recommendation id (called by
 * h_events.c around its append).
 *
 * Where the numbers live: the event store's counters (store.h), one set per
 * variant named "<experiment>.<variant>", so every replica sharing a store
 * (Redis) adds to and reports the same figures:
 *
 *   recs        recommendations served
 *   users       distinct users served (a member per user)
 *   ev:TYPE     attributed events of that type (a member per client event
 *               id when there is one, so a retried event counts once)
 *   hits        attributed events of a positive type whose item was in the
 *               recommendation's list
 *   hit_recs    recommendations with at least one hit (a member per id):
 *               the proportion the z-test compares
 *
 * The Prometheus counters are this process's own (sum them over replicas).
 * Configuration is experiment.c's; it is swapped whole on SIGHUP while
 * requests keep the set they started with (a reference).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "experiment.h"
#include "live.h"
#include "server.h"

/* ---- the configuration ------------------------------------------------- */

static pthread_mutex_t set_lock = PTHREAD_MUTEX_INITIALIZER;
static struct exp_set *current; /* guarded by set_lock */

int experiments_reload(const char *config_file, enc_err *err)
{
    struct exp_set *s;
    int rc = exp_set_load_file(config_file, &s, err);
    if (rc)
        return rc;
    pthread_mutex_lock(&set_lock);
    struct exp_set *old = current;
    current = s;
    pthread_mutex_unlock(&set_lock);
    exp_set_unref(old);
    return 0;
}

void experiments_free(void)
{
    pthread_mutex_lock(&set_lock);
    struct exp_set *old = current;
    current = NULL;
    pthread_mutex_unlock(&set_lock);
    exp_set_unref(old);
}

size_t experiments_count(void)
{
    pthread_mutex_lock(&set_lock);
    size_t n = current ? current->n : 0;
    pthread_mutex_unlock(&set_lock);
    return n;
}

static struct exp_set *set_get(void)
{
    pthread_mutex_lock(&set_lock);
    struct exp_set *s = current;
    if (s)
        exp_set_ref(s);
    pthread_mutex_unlock(&set_lock);
    return s;
}

static void set_put(void *s)
{
    exp_set_unref(s);
}

/* The named experiment, valid until the request is released, or NULL after
 * answering 404. */
static const struct experiment *experiment_of(struct http_req *r, const char *name)
{
    struct exp_set *s = set_get();
    if (s && http_defer(r, set_put, s)) {
        exp_set_unref(s);
        http_error(r, 500, "out of memory");
        return NULL;
    }
    const struct experiment *e = exp_find(s, name, strlen(name));
    if (!e)
        http_error(r, 404, "unknown experiment '%.64s'", name);
    return e;
}

/* ---- this process's counters (Prometheus) ------------------------------ */

#define SERIES_MAX (EXP_MAX * EXP_VARIANTS_MAX)

struct series {
    char experiment[EXP_NAME_MAX + 1], variant[EXP_NAME_MAX + 1];
    int64_t recs, hits;           /* atomic */
    int64_t events[EV_TYPES_MAX]; /* atomic, by the type's index in live->types */
};
static pthread_mutex_t series_lock = PTHREAD_MUTEX_INITIALIZER;
static struct series series[SERIES_MAX];
static size_t n_series; /* guarded by series_lock; entries are never removed */

/* The series of a configured variant (names checked by the caller), or
 * NULL when the table is full. */
static struct series *series_of(const char *experiment, const char *variant)
{
    pthread_mutex_lock(&series_lock);
    struct series *s = NULL;
    for (size_t i = 0; i < n_series && !s; i++)
        if (!strcmp(series[i].experiment, experiment) && !strcmp(series[i].variant, variant))
            s = &series[i];
    if (!s && n_series < SERIES_MAX) {
        s = &series[n_series++];
        strcpy(s->experiment, experiment);
        strcpy(s->variant, variant);
    }
    pthread_mutex_unlock(&series_lock);
    return s;
}

#define series_add(s, field, n) __atomic_add_fetch(&(s)->field, (int64_t)(n), __ATOMIC_RELAXED)

void experiments_metrics(const struct ev_types *types, buf *out)
{
    pthread_mutex_lock(&series_lock);
    size_t n = n_series;
    pthread_mutex_unlock(&series_lock);
    if (n == 0)
        return;
    buf_puts(out, "# HELP encore_experiment_recommendations_total Experiment recommendations "
                  "served by this process.\n# TYPE encore_experiment_recommendations_total "
                  "counter\n");
    for (size_t i = 0; i < n; i++)
        buf_printf(out,
                   "encore_experiment_recommendations_total{experiment=\"%s\",variant=\"%s\"} "
                   "%lld\n",
                   series[i].experiment, series[i].variant,
                   (long long)__atomic_load_n(&series[i].recs, __ATOMIC_RELAXED));
    buf_puts(out, "# HELP encore_experiment_events_total Events attributed to experiment "
                  "recommendations by this process.\n# TYPE encore_experiment_events_total "
                  "counter\n");
    for (size_t i = 0; i < n; i++)
        for (int t = 0; types && t < types->n; t++)
            buf_printf(out,
                       "encore_experiment_events_total{experiment=\"%s\",variant=\"%s\","
                       "type=\"%s\"} %lld\n",
                       series[i].experiment, series[i].variant, types->name[t],
                       (long long)__atomic_load_n(&series[i].events[t], __ATOMIC_RELAXED));
    buf_puts(out, "# HELP encore_experiment_hits_total Attributed events of a positive type on "
                  "an item of the recommendation's list.\n# TYPE encore_experiment_hits_total "
                  "counter\n");
    for (size_t i = 0; i < n; i++)
        buf_printf(out, "encore_experiment_hits_total{experiment=\"%s\",variant=\"%s\"} %lld\n",
                   series[i].experiment, series[i].variant,
                   (long long)__atomic_load_n(&series[i].hits, __ATOMIC_RELAXED));
}

/* ---- POST /v1/experiments/{name}:recommend ----------------------------- */

struct serve_ctx {
    const struct experiment *e;
    const struct exp_variant *v;
};

static void counted(void *arg, const struct evstore_result *res)
{
    struct live *l = arg;
    if (res->code)
        live_add(l, store_failures, 1);
}

/* The decorator (h_reco.c): the id, the fields, the counts. */
static int decorate(struct http_req *r, void *arg, const struct reco_answer *ans, buf *out)
{
    struct serve_ctx *c = arg;
    struct exp_rec rec;
    memset(&rec, 0, sizeof rec);
    strcpy(rec.experiment, c->e->name);
    strcpy(rec.variant, c->v->name);
    rec.time = (int64_t)time(NULL);
    rec.model_version = (uint32_t)ans->m->version;
    rec.nonce = exp_nonce();
    rec.n = (int)ans->n;
    for (size_t i = 0; i < ans->n && i < EXP_K_MAX; i++)
        rec.fp[i] = exp_fingerprint(ans->ids[i], ans->id_lens[i]);
    char id[EXP_ID_MAX + 1];
    if (exp_rec_encode(&rec, id) < 0) {
        http_error(r, 500, "recommendation id does not fit");
        return -1;
    }
    buf_puts(out, ",\"experiment\":");
    buf_json_str(out, c->e->name, strlen(c->e->name));
    buf_puts(out, ",\"variant\":");
    buf_json_str(out, c->v->name, strlen(c->v->name));
    buf_puts(out, ",\"recommendation_id\":");
    buf_json_str(out, id, strlen(id));
    struct series *s = series_of(c->e->name, c->v->name);
    if (s)
        series_add(s, recs, 1);
    struct live *l = r->srv->live;
    if (l) { /* the shared counts: not waited for */
        char key[2 * EXP_NAME_MAX + 2];
        size_t kl = (size_t)snprintf(key, sizeof key, "%s.%s", c->e->name, c->v->name);
        struct evstore_count cnt[2] = {{key, "recs", NULL, kl, 4, 0},
                                       {key, "users", ans->user, kl, 5, ans->user_len}};
        evstore_count_async(l->store, cnt, 2, rec.time, counted, l);
    }
    return 0;
}

void h_experiment_recommend(struct http_req *r)
{
    const struct experiment *e = experiment_of(r, r->params[0]);
    json_t *root;
    if (!e || !(root = http_body_json(r)))
        return;
    json_t *u = json_object_get(root, "user");
    const char *user;
    size_t user_len;
    char tmp[32];
    if (json_is_string(u)) {
        user = json_string_value(u);
        user_len = json_string_length(u);
    } else if (json_is_integer(u)) {
        user_len = (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(u));
        user = tmp;
    } else {
        http_error(r, 400, "'user' is required: the variant is chosen by the user id");
        return;
    }
    const char *why = ev_id_problem(user, user_len);
    if (why) {
        http_error(r, 400, "'user': %s", why);
        return;
    }
    int vi = exp_assign(e, user, user_len);
    const struct exp_variant *v = &e->v[vi];
    json_t *k = json_object_get(root, "k");
    if (!k && v->params)
        k = json_object_get(v->params, "k");
    if (k && json_is_integer(k) && json_integer_value(k) > EXP_K_MAX) {
        http_error(r, 400,
                   "'k' must be at most %d in an experiment (the recommendation id "
                   "names every item)",
                   EXP_K_MAX);
        return;
    }
    struct serve_ctx *c = http_alloc(r, sizeof *c);
    if (!c) {
        http_error(r, 500, "out of memory");
        return;
    }
    c->e = e;
    c->v = v;
    reco_serve(r, v->model, v->params, decorate, c);
}

/* ---- attribution of events ---------------------------------------------- */

struct exp_attr_one {
    struct evstore_count c[3];
    size_t n;
    int has_id; /* the event has a client id (may be a duplicate) */
    struct series *series;
    int type, hit;
};
struct exp_attribution {
    size_t n;
    struct exp_attr_one *one;
};

/* A copy of len bytes into request memory. */
static const char *req_dup(struct http_req *r, const char *s, size_t len)
{
    char *p = http_alloc(r, len + 1);
    if (p) {
        memcpy(p, s, len);
        p[len] = '\0';
    }
    return p;
}

struct exp_attribution *experiments_attribute(struct http_req *r, const struct ev_types *types,
                                              const struct ev_event *ev, size_t n)
{
    size_t with = 0;
    for (size_t i = 0; i < n; i++)
        with += ev[i].rec_len > 0;
    if (!with)
        return NULL;
    struct exp_set *set = set_get();
    if (!set)
        return NULL;
    struct exp_attribution *a = http_alloc(r, sizeof *a);
    if (a)
        a->one = http_alloc(r, with * sizeof *a->one);
    if (!a || !a->one) {
        exp_set_unref(set);
        return NULL; /* the events are stored all the same; only counts are lost */
    }
    a->n = 0;
    for (size_t i = 0; i < n; i++) {
        const struct ev_event *x = &ev[i];
        struct exp_rec rec;
        const struct experiment *e;
        if (!x->rec_len || exp_rec_decode(x->rec_id, x->rec_len, &rec) ||
            !(e = exp_find(set, rec.experiment, strlen(rec.experiment))) ||
            exp_variant_index(e, rec.variant, strlen(rec.variant)) < 0)
            continue;
        struct exp_attr_one *o = &a->one[a->n];
        memset(o, 0, sizeof *o);
        char key[2 * EXP_NAME_MAX + 2], field[EVSTORE_COUNTER_FIELD_MAX + 1];
        size_t kl = (size_t)snprintf(key, sizeof key, "%s.%s", rec.experiment, rec.variant);
        size_t fl = (size_t)snprintf(field, sizeof field, "ev:%.*s", (int)x->type_len, x->type);
        const char *k = req_dup(r, key, kl), *f = req_dup(r, field, fl);
        const char *id = x->id_len ? req_dup(r, x->id, x->id_len) : "";
        const char *rid = req_dup(r, x->rec_id, x->rec_len);
        if (!k || !f || !id || !rid)
            break;
        int known = 0;
        o->type = ev_types_find(types, x->type, x->type_len);
        o->hit = ev_types_weight(types, x->type, x->type_len, &known) > 0 &&
                 exp_rec_has(&rec, x->item, x->item_len);
        o->has_id = x->id_len > 0;
        o->series = series_of(rec.experiment, rec.variant);
        o->c[o->n++] = (struct evstore_count){k, f, id, kl, fl, x->id_len};
        if (o->hit) {
            o->c[o->n++] = (struct evstore_count){k, "hits", id, kl, 4, x->id_len};
            o->c[o->n++] = (struct evstore_count){k, "hit_recs", rid, kl, 8, x->rec_len};
        }
        a->n++;
    }
    exp_set_unref(set);
    return a->n ? a : NULL;
}

void experiments_attributed(struct live *l, const struct exp_attribution *a,
                            const struct evstore_result *res, int64_t now)
{
    if (!a || res->code)
        return;
    struct evstore_count c[3 * 64];
    size_t m = 0;
    for (size_t i = 0; i < a->n; i++) {
        const struct exp_attr_one *o = &a->one[i];
        /* metrics: an event with an id in a request that had duplicates may
         * be one of them; it is left out of this process's counters (the
         * store's counts are exact: the id is their member) */
        if (o->series && !(o->has_id && res->duplicates)) {
            if (o->type >= 0)
                series_add(o->series, events[o->type], 1);
            if (o->hit)
                series_add(o->series, hits, 1);
        }
        for (size_t j = 0; j < o->n; j++) {
            c[m++] = o->c[j];
            if (m == sizeof c / sizeof *c) {
                evstore_count_async(l->store, c, m, now, counted, l);
                m = 0;
            }
        }
    }
    if (m)
        evstore_count_async(l->store, c, m, now, counted, l);
}

/* ---- GET /v1/experiments/{name} ----------------------------------------- */

struct variant_counts {
    uint64_t recs, users, hits, hit_recs;
    json_t *events;
};

static int read_counter(void *arg, const char *f, size_t len, uint64_t count)
{
    struct variant_counts *c = arg;
    if (len == 4 && !memcmp(f, "recs", 4))
        c->recs = count;
    else if (len == 5 && !memcmp(f, "users", 5))
        c->users = count;
    else if (len == 4 && !memcmp(f, "hits", 4))
        c->hits = count;
    else if (len == 8 && !memcmp(f, "hit_recs", 8))
        c->hit_recs = count;
    else if (len > 3 && !memcmp(f, "ev:", 3))
        json_object_setn_new_nocheck(c->events, f + 3, len - 3, json_integer((json_int_t)count));
    return 0;
}

static void free_json(void *j)
{
    json_decref(j);
}

void h_experiment_get(struct http_req *r)
{
    const struct experiment *e = experiment_of(r, r->params[0]);
    if (!e)
        return;
    struct live *l = r->srv->live;
    if (!l) {
        http_error(r, 503, "events are off on this server: the report reads the event store");
        return;
    }
    struct variant_counts vc[EXP_VARIANTS_MAX];
    memset(vc, 0, sizeof vc);
    for (int i = 0; i < e->n; i++)
        if (!(vc[i].events = json_object()) || http_defer(r, free_json, vc[i].events)) {
            json_decref(vc[i].events);
            http_error(r, 500, "out of memory");
            return;
        }
    enc_err ferr = {0};
    if (evstore_flush(l->store, &ferr)) { /* counts queued before this request */
        live_add(l, store_failures, 1);
        http_fail(r, &ferr);
        return;
    }
    for (int i = 0; i < e->n; i++) {
        char key[2 * EXP_NAME_MAX + 2];
        size_t kl = (size_t)snprintf(key, sizeof key, "%s.%s", e->name, e->v[i].name);
        enc_err err = {0};
        int rc = evstore_counters(l->store, key, kl, read_counter, &vc[i], &err);
        if (rc) {
            live_add(l, store_failures, 1);
            http_fail(r, &err);
            return;
        }
    }
    const struct variant_counts *c0 = &vc[e->control];
    json_t *vs = json_array();
    json_t *root = json_pack("{s:s, s:s, s:s, s:o}", "experiment", e->name, "salt", e->salt,
                             "control", e->v[e->control].name, "variants", vs);
    if (!root) {
        http_error(r, 500, "out of memory");
        return;
    }
    double total = 0;
    for (int i = 0; i < e->n; i++)
        total += e->v[i].weight;
    for (int i = 0; i < e->n; i++) {
        const struct variant_counts *c = &vc[i];
        json_t *v = json_pack(
            "{s:s, s:s, s:f, s:f, s:I, s:I, s:O, s:I, s:I}", "name", e->v[i].name, "model",
            e->v[i].model, "weight", e->v[i].weight, "share", e->v[i].weight / total, "users",
            (json_int_t)c->users, "recommendations", (json_int_t)c->recs, "events", c->events,
            "hits", (json_int_t)c->hits, "recommendations_with_hit", (json_int_t)c->hit_recs);
        if (v && c->recs)
            json_object_set_new(v, "hit_rate", json_real((double)c->hit_recs / (double)c->recs));
        struct exp_diff d;
        if (v && i != e->control &&
            exp_two_prop(c->hit_recs, c->recs, c0->hit_recs, c0->recs, &d) == 0)
            json_object_set_new(v, "vs_control",
                                json_pack("{s:f, s:[f, f], s:f, s:f}", "difference", d.diff, "ci95",
                                          d.lo, d.hi, "z", d.z, "p_value", d.p_value));
        if (!v || json_array_append_new(vs, v)) {
            json_decref(root);
            http_error(r, 500, "out of memory");
            return;
        }
    }
    http_json(r, 200, root);
}
