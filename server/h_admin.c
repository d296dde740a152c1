/*
 * h_admin.c - health, readiness, metrics, model description and the admin
 * reload handler.
 *
 * POST /v1/models/{name}:reload never loads on an HTTP thread: it queues a
 * job (reload.c), suspends the connection, and the loop thread fills the
 * answer and resumes it when the load has finished (or was refused).
 * {"version": N} serves N and pins it on this replica; {"version": "latest"}
 * drops the pin; no body re-checks the repository.
 */
#include <stdlib.h>
#include <string.h>

#include "experiment.h"
#include "metrics.h"
#include "reload.h"
#include "live.h"
#include "server.h"

void h_healthz(struct http_req *r)
{
    r->status = 200;
    buf_puts(&r->out, "{\"status\":\"ok\"}");
}

void h_readyz(struct http_req *r)
{
    struct server *s = r->srv;
    if (__atomic_load_n(&s->draining, __ATOMIC_RELAXED)) {
        http_error(r, 503, "draining: shutting down");
        return;
    }
    if (!__atomic_load_n(&s->ready, __ATOMIC_RELAXED)) {
        char missing[512];
        int any = registry_ready(s->reg, 0, NULL, 0);
        registry_ready(s->reg, 1, missing, sizeof missing);
        if (any && *missing) /* readiness "all": a model without a valid version */
            http_error(r, 503, "not ready: no valid version of model(s) %s", missing);
        else
            http_error(r, 503, "not ready: models not loaded");
        return;
    }
    r->status = 200;
    buf_printf(&r->out, "{\"status\":\"ready\",\"models\":%d}", registry_count(s->reg));
}

void h_metrics(struct http_req *r)
{
    r->status = 200;
    metrics_render(r->srv->metrics, r->srv, &r->out);
    if (r->srv->live)
        live_metrics(r->srv->live, &r->out);
    experiments_metrics(r->srv->live ? &r->srv->live->types : NULL, &r->out);
    /* http.c adds a trailing newline after the body; the exposition format
     * already ends in one, which is harmless. */
}

/* KServe V1: {"models": [name, ...]}; Encore's description of each
 * model's serving version follows under "details". */
void h_models_list(struct http_req *r)
{
    json_t *o = json_object(), *names = json_array(), *details = registry_list(r->srv->reg), *m;
    int bad = !details;
    size_t i;
    json_array_foreach(details, i, m) {
        bad |= json_array_append(names, json_object_get(m, "name"));
    }
    bad |= json_object_set_new(o, "models", names);
    bad |= json_object_set_new(o, "details", details);
    if (bad) { /* out of memory: http_json(NULL) answers 500 */
        json_decref(o);
        o = NULL;
    }
    http_json(r, 200, o);
}

void http_model_missing(struct http_req *r, const char *name)
{
    /* KServe answers a model that exists but is not ready with 503: clients
     * and load balancers retry that, where a 404 says "no such model". */
    if (registry_known(r->srv->reg, name))
        http_error(r, 503, "model '%s' is not ready: none of its versions loads", name);
    else
        http_error(r, 404, "unknown model '%s'", name);
}

void h_model_get(struct http_req *r)
{
    const char *name = r->params[0];
    json_t *o = registry_describe(r->srv->reg, name);
    if (!o) {
        struct model *m = registry_get(r->srv->reg, name, 0); /* known: out of memory */
        if (m)
            http_error(r, 500, "out of memory");
        else
            http_model_missing(r, name);
        model_unref(m);
        return;
    }
    snprintf(r->model, sizeof r->model, "%s", name);
    r->version = json_integer_value(json_object_get(o, "version"));
    /* KServe V1's model status is {"name", "ready"}: a described model has
     * a loaded version, so it is ready; the rest is Encore's description. */
    json_object_set_new(o, "ready", json_true());
    http_json(r, 200, o);
}

/* Loop thread, reload.c's lock held: answer the suspended request. */
static void reload_done(void *arg, int rc, int64_t version, const char *msg)
{
    struct http_req *r = arg;
    const char *name = r->params[0];
    /* r->ticket is left alone: the HTTP thread may still be storing it;
     * cancelling a finished ticket is a no-op. */
    if (rc >= 0) {
        snprintf(r->model, sizeof r->model, "%s", name);
        r->version = version;
        r->status = 200;
        buf_puts(&r->out, "{\"model\":");
        buf_json_str(&r->out, name, strlen(name));
        json_t *d = registry_describe(r->srv->reg, name);
        json_t *pin = d ? json_object_get(d, "pinned") : NULL;
        buf_printf(&r->out, ",\"version\":%lld,\"status\":\"%s\",\"pinned\":", (long long)version,
                   rc == 1 ? "loaded" : "current");
        if (pin && json_is_object(pin))
            buf_printf(&r->out, "{\"version\":%lld,\"by\":\"%s\"}}",
                       (long long)json_integer_value(json_object_get(pin, "version")),
                       json_string_value(json_object_get(pin, "by")));
        else
            buf_puts(&r->out, "null}");
        json_decref(d);
    } else if (rc == ENC_ENOTFOUND)
        http_error(r, 404, "model '%s': %s", name, msg);
    else if (rc == ENC_EBUSY)
        http_error(r, 503, "model '%s': %s", name, msg);
    else if (rc == ENC_EINVAL)
        http_error(r, 400, "model '%s': %s", name, msg);
    else /* the file is corrupt or incompatible: the request itself was fine */
        http_error(r, 422,
                   "model '%s': version refused, the served version (if any) keeps "
                   "serving: %s",
                   name, msg);
    http_resume(r);
}

void h_model_reload(struct http_req *r)
{
    const char *name = r->params[0];
    if (!repo_valid_name(name)) {
        http_error(r, 400, "invalid model name '%s': 1..128 of A-Z a-z 0-9 _ . - (no leading '.')",
                   name);
        return;
    }
    int64_t version = 0;
    if (r->body.len > 0) {
        json_t *root = http_body_json(r); /* borrowed: released with the request */
        if (!root)
            return;
        const char *key;
        json_t *v;
        json_object_foreach(root, key, v) {
            if (strcmp(key, "version") != 0) {
                http_error(r, 400, "unknown field '%s' (allowed: version)", key);
                break;
            }
            if (json_is_string(v) && !strcmp(json_string_value(v), "latest")) {
                version = -1; /* unpin: follow the repository again */
                continue;
            }
            if (!json_is_integer(v) || json_integer_value(v) < 1) {
                http_error(r, 400, "'version' must be a positive integer or \"latest\"");
                break;
            }
            version = json_integer_value(v);
        }
        if (r->status)
            return;
    }
    /* Suspend first: the job may finish before this function returns. */
    http_suspend(r);
    r->ticket = reload_request(name, version, reload_done, r);
    if (!r->ticket) {
        http_error(r, 503, "reload queue full or shutting down: retry shortly");
        http_resume(r);
    }
}
