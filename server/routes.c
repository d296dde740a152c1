/*
 * routes.c - the route table: adding an endpoint is one row here plus its
 * handler. Patterns are literal text with {param} segments; a param matches
 * one or more characters other than '/' and ':' (so "{name}:recommend" works
 * the way KServe and Google APIs spell custom methods).
 */
#include <stdio.h>
#include <string.h>

#include "server.h"

const struct route http_routes[] = {
    {"GET", "/healthz", h_healthz, SCOPE_OPEN, "healthz"},
    {"GET", "/readyz", h_readyz, SCOPE_OPEN, "readyz"},
    {"GET", "/metrics", h_metrics, SCOPE_OPEN, "metrics"},
    {"GET", "/v1/models", h_models_list, SCOPE_INFER, "models"},
    {"GET", "/v1/models/{name}", h_model_get, SCOPE_INFER, "model"},
    {"POST", "/v1/models/{name}:recommend", h_recommend, SCOPE_INFER, "recommend"},
    {"POST", "/v1/models/{name}:similar", h_similar, SCOPE_INFER, "similar"},
    {"POST", "/v1/models/{name}:reload", h_model_reload, SCOPE_ADMIN, "reload"},
    {"POST", "/v1/models/{name}:predict", h_v1_predict, SCOPE_INFER, "predict"},
    {"GET", "/v2", h_v2_server, SCOPE_OPEN, "v2_server"},
    {"GET", "/v2/", h_v2_server, SCOPE_OPEN, "v2_server"}, /* as the OIP spec spells it */
    {"GET", "/v2/health/live", h_v2_live, SCOPE_OPEN, "v2_live"},
    {"GET", "/v2/health/ready", h_v2_ready, SCOPE_OPEN, "v2_ready"},
    {"GET", "/v2/models/{name}", h_v2_model, SCOPE_INFER, "v2_model"},
    {"GET", "/v2/models/{name}/versions/{version}", h_v2_model, SCOPE_INFER, "v2_model"},
    {"GET", "/v2/models/{name}/ready", h_v2_model_ready, SCOPE_INFER, "v2_model_ready"},
    {"GET", "/v2/models/{name}/versions/{version}/ready", h_v2_model_ready, SCOPE_INFER,
     "v2_model_ready"},
    {"POST", "/v2/models/{name}/infer", h_v2_infer, SCOPE_INFER, "v2_infer"},
    {"POST", "/v2/models/{name}/versions/{version}/infer", h_v2_infer, SCOPE_INFER, "v2_infer"},
    {"POST", "/v1/events", h_events_post, SCOPE_INFER, "events"},
    {"GET", "/v1/users/{id}/events", h_user_events, SCOPE_INFER, "user_events"},
    {"DELETE", "/v1/users/{id}", h_user_erase, SCOPE_ADMIN, "user_erase"},
    {"GET", "/v1/items/{id}", h_item_get, SCOPE_INFER, "item"},
    {"PUT", "/v1/items/{id}", h_item_put, SCOPE_ADMIN, "item_put"},
    {"DELETE", "/v1/items/{id}", h_item_delete, SCOPE_ADMIN, "item_delete"},
    {"POST", "/v1/experiments/{name}:recommend", h_experiment_recommend, SCOPE_INFER,
     "experiment_recommend"},
    {"GET", "/v1/experiments/{name}", h_experiment_get, SCOPE_INFER, "experiment"},
    {NULL, NULL, NULL, SCOPE_OPEN, NULL},
};

/* Match path against pattern; captures into params. 1 on a match. */
static int match(const char *pat, const char *path, char params[][REPO_NAME_MAX + 1], int *np)
{
    int n = 0;
    while (*pat) {
        if (*pat == '{') {
            const char *close = strchr(pat, '}');
            if (!close)
                return 0;
            size_t len = strcspn(path, "/:?");
            if (len == 0 || len > REPO_NAME_MAX || n >= HTTP_MAX_PARAMS)
                return 0;
            memcpy(params[n], path, len);
            params[n][len] = '\0';
            n++;
            path += len;
            pat = close + 1;
            continue;
        }
        if (*pat != *path)
            return 0;
        pat++;
        path++;
    }
    if (*path != '\0')
        return 0;
    *np = n;
    return 1;
}

const struct route *routes_match(const char *method, const char *path, struct http_req *r,
                                 int *status, char *allow, size_t allow_len)
{
    int path_matched = 0;
    if (allow_len)
        allow[0] = '\0';
    for (const struct route *rt = http_routes; rt->method; rt++) {
        char params[HTTP_MAX_PARAMS][REPO_NAME_MAX + 1];
        int np = 0;
        if (!match(rt->pattern, path, params, &np))
            continue;
        if (strcmp(rt->method, method) == 0 ||
            (strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0)) {
            memcpy(r->params, params, sizeof params);
            r->n_params = np;
            return rt;
        }
        path_matched = 1;
        size_t used = strlen(allow);
        if (used + strlen(rt->method) + 3 < allow_len && !strstr(allow, rt->method))
            snprintf(allow + used, allow_len - used, "%s%s", used ? ", " : "", rt->method);
    }
    *status = path_matched ? 405 : 404;
    return NULL;
}
