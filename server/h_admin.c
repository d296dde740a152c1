/* h_admin.c - health, readiness, metrics and model description handlers. */
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
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
    /* http.c adds a trailing newline after the body; the exposition format
     * already ends in one, which is harmless. */
}

void h_models_list(struct http_req *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "models", registry_list(r->srv->reg));
    http_json(r, 200, o);
}

void h_model_get(struct http_req *r)
{
    const char *name = r->params[0];
    json_t *o = registry_describe(r->srv->reg, name);
    if (!o) {
        http_error(r, 404, "unknown model '%s'", name);
        return;
    }
    snprintf(r->model, sizeof r->model, "%s", name);
    http_json(r, 200, o);
}
