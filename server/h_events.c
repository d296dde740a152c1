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
    json_t *root = http_body_json(r); /* borrowed: released with the request */
    if (!root) {
        live_add(l, refused, 1);
        return;
    }
    struct ev_event *ev = NULL;
    char(*tmp)[24] = NULL;
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
    size_t n = json_array_size(arr);
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
    int64_t now = (int64_t)time(NULL);
    for (size_t i = 0; i < n; i++)
        if (read_event(r, l, json_array_get(arr, i), i, now, &ev[i], tmp + 2 * i))
            goto refused;
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
