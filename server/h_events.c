/*
 * h_events.c - what users did, and the catalogue (issue #15):
 *
 *   POST   /v1/events               record events (all or nothing)
 *   GET    /v1/users/{id}/events    a user's events, newest first (?limit=N)
 *   DELETE /v1/users/{id}           erase a user (admin)
 *   GET    /v1/items/{id}           an item's catalogue record
 *   PUT    /v1/items/{id}           set it (admin)
 *   DELETE /v1/items/{id}           withdraw the item (admin)
 *
 * A POST is validated whole before anything is stored, so a refused request
 * leaves the store unchanged; the errors name the event and field
 * ("events[3].item: ..."). The append itself is asynchronous: the request is
 * suspended until the store's group commit (embedded) or Redis has answered,
 * so an HTTP thread never waits on an fsync. A store that cannot be reached
 * answers 503 with nothing written.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <microhttpd.h>

#include "core/jscan.h"
#include "events/catalog.h"
#include "experiment.h"
#include "live.h"
#include "server.h"

static struct live *live_or_404(struct http_req *r)
{
    struct live *l = r->srv->live;
    if (!l)
        http_error(r, 404, "events are off on this server (the events option)");
    return l;
}

/* A store failure: 503 when the store is unreachable, else 500. */
static void store_fail(struct http_req *r, struct live *l, int code, const char *msg)
{
    live_add(l, store_failures, 1);
    http_error(r, code == ENC_EBUSY ? 503 : enc_http_status(code), "%s", msg);
}

/* ---- POST /v1/events --------------------------------------------------- */

/* An id given as a JSON string, or an integer written as its decimal text
 * into tmp. NULL with a message in `why` when it is neither or not valid. */
static const char *id_field(json_t *v, char *tmp, size_t tmp_len, size_t *len, const char **why)
{
    const char *s;
    if (json_is_string(v)) {
        s = json_string_value(v);
        *len = json_string_length(v);
    } else if (json_is_integer(v)) {
        *len = (size_t)snprintf(tmp, tmp_len, "%lld", (long long)json_integer_value(v));
        s = tmp;
    } else {
        *why = "must be a string id";
        return NULL;
    }
    if ((*why = ev_id_problem(s, *len)) != NULL)
        return NULL;
    return s;
}

/* The allowed type names, for an error message. */
static void type_names(const struct ev_types *t, char *out, size_t len)
{
    size_t used = 0;
    out[0] = '\0';
    for (int i = 0; i < t->n && used + 2 < len; i++)
        used += (size_t)snprintf(out + used, len - used, "%s%s", i ? ", " : "", t->name[i]);
}

/* Read events[i] into *e. 0, or answers 400 and returns -1. */
static int read_event(struct http_req *r, struct live *l, json_t *o, size_t i, int64_t now,
                      struct ev_event *e, char (*tmp)[24])
{
    if (!json_is_object(o)) {
        http_error(r, 400, "events[%zu]: must be an object", i);
        return -1;
    }
    const char *key;
    json_t *v;
    int have_time = 0;
    memset(e, 0, sizeof *e);
    json_object_foreach(o, key, v) {
        const char *why = NULL, *s;
        size_t len = 0;
        if (!strcmp(key, "user") || !strcmp(key, "item")) {
            int is_user = key[0] == 'u';
            if (!(s = id_field(v, tmp[is_user ? 0 : 1], sizeof tmp[0], &len, &why))) {
                http_error(r, 400, "events[%zu].%s: %s", i, key, why);
                return -1;
            }
            if (is_user)
                e->user = s, e->user_len = (uint16_t)len;
            else
                e->item = s, e->item_len = (uint16_t)len;
        } else if (!strcmp(key, "type")) {
            int t = json_is_string(v)
                        ? ev_types_find(&l->types, json_string_value(v), json_string_length(v))
                        : -1;
            if (t < 0) {
                char names[512];
                type_names(&l->types, names, sizeof names);
                http_error(r, 400, "events[%zu].type: must be one of %s", i, names);
                return -1;
            }
            e->type = l->types.name[t];
            e->type_len = (uint16_t)strlen(l->types.name[t]);
        } else if (!strcmp(key, "time")) {
            int64_t t = -1;
            if (json_is_integer(v))
                t = json_integer_value(v);
            else if (!json_is_string(v) ||
                     ev_time_parse(json_string_value(v), json_string_length(v), &t) != 0)
                t = -1;
            if (t < 0 || t > now + EV_TIME_FUTURE_SLACK) {
                http_error(r, 400,
                           "events[%zu].time: must be unix seconds or an RFC 3339 time, not in "
                           "the future",
                           i);
                return -1;
            }
            e->time = t;
            have_time = 1;
        } else if (!strcmp(key, "id") || !strcmp(key, "recommendation_id")) {
            if (!json_is_string(v)) {
                http_error(r, 400, "events[%zu].%s: must be a string", i, key);
                return -1;
            }
            s = json_string_value(v);
            len = json_string_length(v);
            if ((why = ev_id_problem(s, len)) != NULL) {
                http_error(r, 400, "events[%zu].%s: %s", i, key, why);
                return -1;
            }
            if (key[0] == 'i')
                e->id = s, e->id_len = (uint16_t)len;
            else
                e->rec_id = s, e->rec_len = (uint16_t)len;
        } else {
            http_error(r, 400,
                       "events[%zu]: unknown field '%.64s' (allowed: user, item, type, time, id, "
                       "recommendation_id)",
                       i, key);
            return -1;
        }
    }
    const char *missing = !e->user ? "user" : !e->item ? "item" : !e->type ? "type" : NULL;
    if (missing) {
        http_error(r, 400, "events[%zu].%s: required", i, missing);
        return -1;
    }
    if (!have_time)
        e->time = now;
    return 0;
}

/* ---- the fast path of a POST's body ------------------------------------- */

/* Most bodies are plain: {"events":[{"user":"196","item":"50","type":"play",
 * "id":"..."}, ...]} with ASCII strings without escapes and integers. Such a
 * body is read here in one pass with the events' strings pointing into it,
 * no JSON tree (jansson allocates ~100 bytes per value; measured, parsing
 * was the largest part of the HTTP threads' CPU per event). Anything else
 * (escapes, non-ASCII text, other numbers, unknown or repeated fields, and
 * every invalid event) is left to the general path, which words the errors,
 * so both paths accept exactly the same bodies with the same events. */

struct fscan {
    const char *p, *end;
};

static void fs_ws(struct fscan *f)
{
    while (f->p < f->end && (*f->p == ' ' || *f->p == '\n' || *f->p == '\t' || *f->p == '\r'))
        f->p++;
}

/* Skip whitespace, then take character c. */
static int fs_take(struct fscan *f, char c)
{
    fs_ws(f);
    if (f->p < f->end && *f->p == c) {
        f->p++;
        return 1;
    }
    return 0;
}

/* A string of printable ASCII without escapes: its bytes (in the body). */
static const char *fs_str(struct fscan *f, size_t *len)
{
    if (!fs_take(f, '"'))
        return NULL;
    const char *s = f->p;
    while (f->p < f->end && *f->p != '"') {
        unsigned char c = (unsigned char)*f->p;
        if (c < 0x20 || c > 0x7e || c == '\\')
            return NULL;
        f->p++;
    }
    if (f->p >= f->end)
        return NULL;
    *len = (size_t)(f->p++ - s);
    return s;
}

/* A non-negative integer in its canonical decimal form (no sign, no leading
 * zero, no fraction or exponent, at most 18 digits): its text and value. */
static const char *fs_int(struct fscan *f, size_t *len, int64_t *value)
{
    fs_ws(f);
    const char *s = f->p;
    int64_t v = 0;
    while (f->p < f->end && *f->p >= '0' && *f->p <= '9')
        v = v * 10 + (*f->p++ - '0');
    size_t n = (size_t)(f->p - s);
    if (n == 0 || n > 18 || (n > 1 && s[0] == '0') ||
        (f->p < f->end && (*f->p == '.' || *f->p == 'e' || *f->p == 'E')))
        return NULL;
    *len = n;
    *value = v;
    return s;
}

/* An id: a string, or an integer (its text is what id_field would write). */
static const char *fs_id(struct fscan *f, size_t *len)
{
    int64_t v;
    fs_ws(f);
    return f->p < f->end && *f->p == '"' ? fs_str(f, len) : fs_int(f, len, &v);
}

/* One event object; 0, or -1: not for the fast path. */
static int fs_event(struct fscan *f, struct live *l, int64_t now, struct ev_event *e)
{
    if (!fs_take(f, '{'))
        return -1;
    memset(e, 0, sizeof *e);
    unsigned seen = 0;
    int have_time = 0;
    do {
        size_t klen, len = 0;
        const char *key = fs_str(f, &klen), *s = NULL;
        if (!key || !fs_take(f, ':'))
            return -1;
        unsigned bit;
#define KEY_IS(lit) (klen == sizeof lit - 1 && !memcmp(key, lit, klen))
        if (KEY_IS("user") || KEY_IS("item")) {
            bit = key[0] == 'u' ? 1 : 2;
            if (!(s = fs_id(f, &len)) || ev_id_problem(s, len))
                return -1;
            if (bit == 1)
                e->user = s, e->user_len = (uint16_t)len;
            else
                e->item = s, e->item_len = (uint16_t)len;
        } else if (KEY_IS("type")) {
            bit = 4;
            int t = (s = fs_str(f, &len)) ? ev_types_find(&l->types, s, len) : -1;
            if (t < 0)
                return -1;
            e->type = l->types.name[t];
            e->type_len = (uint16_t)strlen(l->types.name[t]);
        } else if (KEY_IS("time")) {
            bit = 8;
            int64_t t = -1;
            fs_ws(f);
            if (f->p < f->end && *f->p == '"') {
                if (!(s = fs_str(f, &len)) || ev_time_parse(s, len, &t) != 0)
                    return -1;
            } else if (!fs_int(f, &len, &t)) {
                return -1;
            }
            if (t < 0 || t > now + EV_TIME_FUTURE_SLACK)
                return -1;
            e->time = t;
            have_time = 1;
        } else if (KEY_IS("id") || KEY_IS("recommendation_id")) {
            bit = klen == 2 ? 16 : 32;
            if (!(s = fs_str(f, &len)) || ev_id_problem(s, len))
                return -1;
            if (bit == 16)
                e->id = s, e->id_len = (uint16_t)len;
            else
                e->rec_id = s, e->rec_len = (uint16_t)len;
        } else {
            return -1;
        }
#undef KEY_IS
        if (seen & bit) /* a repeated field: the general path refuses it */
            return -1;
        seen |= bit;
    } while (fs_take(f, ','));
    if (!fs_take(f, '}') || (seen & 7) != 7)
        return -1;
    if (!have_time)
        e->time = now;
    return 0;
}

/* The body's events through the fast path: their number (> 0) with *out
 * (caller frees), or 0: use the general path. */
static size_t fast_events(struct http_req *r, struct live *l, int64_t now, struct ev_event **out)
{
    const struct config *c = &r->srv->cfg;
    struct fscan f = {r->body.data, r->body.data + r->body.len};
    *out = NULL;
    if (!r->body.len || jscan_limits(r->body.data, r->body.len, (int)c->max_json_depth,
                                     (size_t)c->max_json_elements) != JSCAN_OK)
        return 0;
    size_t klen, n = 0, cap = 0;
    const char *key;
    if (!fs_take(&f, '{') || !(key = fs_str(&f, &klen)) || klen != 6 ||
        memcmp(key, "events", 6) != 0 || !fs_take(&f, ':') || !fs_take(&f, '['))
        return 0;
    struct ev_event *ev = NULL;
    do {
        if (n >= (size_t)c->max_events) /* the general path answers 413 */
            goto general;
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            nc = nc < (size_t)c->max_events ? nc : (size_t)c->max_events;
            struct ev_event *ne = realloc(ev, nc * sizeof *ev);
            if (!ne)
                goto general;
            ev = ne;
            cap = nc;
        }
        if (fs_event(&f, l, now, &ev[n]) != 0)
            goto general;
        n++;
    } while (fs_take(&f, ','));
    if (!fs_take(&f, ']') || !fs_take(&f, '}'))
        goto general;
    fs_ws(&f);
    if (f.p != f.end)
        goto general;
    *out = ev;
    return n;
general:
    free(ev);
    return 0;
}

/* A POST's request and what its events add to experiments' counts. */
struct post_ctx {
    struct http_req *r;
    struct exp_attribution *attr; /* NULL: none */
    int64_t now;
};

/* The store's thread (or this one): answer and resume. */
static void appended(void *arg, const struct evstore_result *res)
{
    struct post_ctx *pc = arg;
    struct http_req *r = pc->r;
    struct live *l = r->srv->live;
    experiments_attributed(l, pc->attr, res, pc->now); /* (before the request may go) */
    if (res->code) {
        store_fail(r, l, res->code, res->err.msg);
    } else {
        live_add(l, accepted, res->accepted);
        live_add(l, duplicates, res->duplicates);
        r->status = 200;
        buf_printf(&r->out, "{\"accepted\":%zu,\"duplicates\":%zu}", res->accepted,
                   res->duplicates);
    }
    http_resume(r);
}

void h_events_post(struct http_req *r)
{
    struct live *l = live_or_404(r);
    if (!l)
        return;
    int64_t now = (int64_t)time(NULL);
    struct ev_event *ev = NULL;
    char(*tmp)[24] = NULL;
    size_t n = fast_events(r, l, now, &ev);
    if (n)
        goto append;
    json_t *root = http_body_json(r); /* borrowed: released with the request */
    if (!root) {
        live_add(l, refused, 1);
        return;
    }
    json_t *arr = NULL;
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v) {
        if (strcmp(key, "events") != 0) {
            http_error(r, 400, "unknown field '%.64s' (allowed: events)", key);
            goto refused;
        }
        arr = v;
    }
    if (!json_is_array(arr) || json_array_size(arr) == 0) {
        http_error(r, 400, "'events' must be a non-empty array of events");
        goto refused;
    }
    n = json_array_size(arr);
    if (n > (size_t)r->srv->cfg.max_events) {
        http_error(r, 413, "'events' has %zu events; the limit is %lld (max_events)", n,
                   (long long)r->srv->cfg.max_events);
        goto refused;
    }
    ev = malloc(n * sizeof *ev);
    tmp = malloc(n * 2 * sizeof *tmp); /* integer ids written as text */
    if (!ev || !tmp) {
        http_error(r, 500, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++)
        if (read_event(r, l, json_array_get(arr, i), i, now, &ev[i], tmp + 2 * i))
            goto refused;
append:
    if (n == 1)
        http_note_user(r, ev[0].user, ev[0].user_len);
    struct post_ctx *pc = http_alloc(r, sizeof *pc);
    if (!pc) {
        http_error(r, 500, "out of memory");
        goto out;
    }
    pc->r = r;
    pc->now = now;
    pc->attr = experiments_attribute(r, &l->types, ev, n);
    /* Suspend first: the answer may come before evstore_append_async returns. */
    http_suspend(r);
    evstore_append_async(l->store, ev, n, now, appended, pc); /* copies the events */
    goto out;
refused:
    live_add(l, refused, 1);
out:
    free(ev);
    free(tmp);
}

/* ---- GET /v1/users/{id}/events ------------------------------------------ */

struct list_ctx {
    buf *o;
    int n;
};

static int list_event(void *arg, const struct ev_event *e)
{
    struct list_ctx *c = arg;
    buf_puts(c->o, c->n++ ? ",{\"item\":" : "{\"item\":");
    buf_json_str(c->o, e->item, e->item_len);
    buf_puts(c->o, ",\"type\":");
    buf_json_str(c->o, e->type, e->type_len);
    buf_printf(c->o, ",\"time\":%lld,\"received\":%lld,\"seq\":%llu", (long long)e->time,
               (long long)e->recv, (unsigned long long)e->seq);
    if (e->id_len) {
        buf_puts(c->o, ",\"id\":");
        buf_json_str(c->o, e->id, e->id_len);
    }
    if (e->rec_len) {
        buf_puts(c->o, ",\"recommendation_id\":");
        buf_json_str(c->o, e->rec_id, e->rec_len);
    }
    buf_puts(c->o, "}");
    return 0;
}

void h_user_events(struct http_req *r)
{
    struct live *l = live_or_404(r);
    if (!l)
        return;
    const char *user = r->params[0];
    size_t len = strlen(user);
    const char *why = ev_id_problem(user, len);
    if (why) {
        http_error(r, 400, "user id %s", why);
        return;
    }
    http_note_user(r, user, len);
    long long limit = 100;
    const char *q = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "limit");
    if (q) {
        char *end;
        limit = strtoll(q, &end, 10);
        if (end == q || *end || limit < 1 || limit > r->srv->cfg.events_user_cap) {
            http_error(r, 400, "limit: must be an integer from 1 to %lld (events_user_cap)",
                       (long long)r->srv->cfg.events_user_cap);
            return;
        }
    }
    buf body = {0};
    struct list_ctx c = {&body, 0};
    enc_err err = {0};
    int rc = evstore_user_events(l->store, user, len, (size_t)limit, list_event, &c, &err);
    if (rc) {
        buf_free(&body);
        store_fail(r, l, rc, err.msg);
        return;
    }
    int64_t when = 0;
    int erased = evstore_erased_at(l->store, user, len, &when, &err);
    r->status = 200;
    buf_puts(&r->out, "{\"user\":");
    buf_json_str(&r->out, user, len);
    if (erased == 1)
        buf_printf(&r->out, ",\"erased_at\":%lld", (long long)when);
    buf_puts(&r->out, ",\"events\":[");
    if (body.len)
        buf_append(&r->out, body.data, body.len);
    buf_puts(&r->out, "]}");
    buf_free(&body);
}

/* ---- DELETE /v1/users/{id} ----------------------------------------------- */

void h_user_erase(struct http_req *r)
{
    struct live *l = live_or_404(r);
    if (!l)
        return;
    const char *user = r->params[0];
    size_t len = strlen(user);
    const char *why = ev_id_problem(user, len);
    if (why) {
        http_error(r, 400, "user id %s", why);
        return;
    }
    http_note_user(r, user, len);
    size_t removed = 0;
    enc_err err = {0};
    int rc = evstore_erase_user(l->store, user, len, (int64_t)time(NULL), &removed, &err);
    if (rc) {
        store_fail(r, l, rc, err.msg);
        return;
    }
    r->status = 200;
    buf_puts(&r->out, "{\"user\":");
    buf_json_str(&r->out, user, len);
    buf_printf(&r->out, ",\"erased\":true,\"events_removed\":%zu}", removed);
}

/* ---- the catalogue --------------------------------------------------------- */

static const char *item_param(struct http_req *r, size_t *len)
{
    const char *item = r->params[0];
    *len = strlen(item);
    const char *why = ev_id_problem(item, *len);
    if (why) {
        http_error(r, 400, "item id %s", why);
        return NULL;
    }
    return item;
}

/* Answer {"item": id, ...record}. */
static void answer_item(struct http_req *r, const char *item, size_t len, const struct cat_item *it)
{
    json_t *o = cat_item_to_object(it);
    if (!o) {
        http_error(r, 500, "out of memory");
        return;
    }
    json_object_set_new(o, "item", json_stringn(item, len));
    http_json(r, 200, o);
}

static int store_item(struct http_req *r, struct live *l, const char *item, size_t len,
                      const struct cat_item *it)
{
    size_t jlen;
    char *json = cat_item_to_json(it, &jlen);
    if (!json) {
        http_error(r, 500, "out of memory");
        return -1;
    }
    enc_err err = {0};
    int rc = evstore_item_put(l->store, item, len, json, jlen, &err);
    free(json);
    if (rc) {
        store_fail(r, l, rc, err.msg);
        return -1;
    }
    return 0;
}

void h_item_put(struct http_req *r)
{
    struct live *l = live_or_404(r);
    size_t len;
    const char *item = l ? item_param(r, &len) : NULL;
    if (!item)
        return;
    json_t *root = http_body_json(r); /* borrowed: released with the request */
    if (!root)
        return;
    struct cat_item it;
    enc_err err = {0};
    if (cat_item_from_request(root, (int64_t)time(NULL), &it, &err)) {
        http_error(r, 400, "%s", err.msg);
    } else if (store_item(r, l, item, len, &it) == 0) {
        answer_item(r, item, len, &it);
    }
    cat_item_clear(&it);
}

/* The stored record, or an empty one. 0, or answers and returns -1. */
static int load_item(struct http_req *r, struct live *l, const char *item, size_t len,
                     struct cat_item *it)
{
    char *json = NULL;
    enc_err err = {0};
    memset(it, 0, sizeof *it);
    int rc = evstore_item_get(l->store, item, len, &json, &err);
    if (rc < 0) {
        store_fail(r, l, rc, err.msg);
        return -1;
    }
    if (rc == 1 && cat_item_from_json(json, strlen(json), it, &err) != 0)
        memset(it, 0, sizeof *it); /* unreadable: start afresh */
    free(json);
    return rc;
}

void h_item_get(struct http_req *r)
{
    struct live *l = live_or_404(r);
    size_t len;
    const char *item = l ? item_param(r, &len) : NULL;
    if (!item)
        return;
    struct cat_item it;
    int rc = load_item(r, l, item, len, &it);
    if (rc == 0)
        http_error(r, 404, "no catalogue record for item '%.128s'", item);
    else if (rc == 1)
        answer_item(r, item, len, &it);
    cat_item_clear(&it);
}

/* Withdraw: the record stays (title, tags), marked unavailable. */
void h_item_delete(struct http_req *r)
{
    struct live *l = live_or_404(r);
    size_t len;
    const char *item = l ? item_param(r, &len) : NULL;
    if (!item)
        return;
    struct cat_item it;
    if (load_item(r, l, item, len, &it) >= 0) {
        it.withdrawn = 1;
        it.updated = (int64_t)time(NULL);
        if (store_item(r, l, item, len, &it) == 0)
            answer_item(r, item, len, &it);
    }
    cat_item_clear(&it);
}
