/*
 * server.h - the server's shared state and the request/route contract that
 * every handler file (h_*.c) is written against.
 *
 *   main.c     phases: config -> load models -> bind -> libuv loop -> drain
 *   http.c     libmicrohttpd glue: body limits, dispatch, responses, access log
 *   routes.c   the route table {method, pattern, handler, scope} and matcher
 *   h_*.c      handlers: one file per area (recommend, admin/health, predict)
 *   registry.c loaded models; metrics.c counters; log.c logs; config.c options
 */
#ifndef ENCORE_SERVER_H
#define ENCORE_SERVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/repo.h"
#include "registry.h"

struct metrics;
struct live;
struct live_query;
struct MHD_Daemon;
struct MHD_Connection;
struct uv_loop_s;

struct server {
    struct config cfg;
    struct registry *reg;
    struct metrics *metrics;
    struct MHD_Daemon *mhd;
    int ready;          /* atomic: models loaded, not draining */
    int draining;       /* atomic: SIGTERM received */
    int64_t inflight;   /* atomic: requests between headers and completion */
    int64_t started_at; /* unix seconds */
    struct auth *auth;  /* bearer tokens (auth.h) */
    int64_t conns_open, conns_rejected, conns_timed_out; /* atomic, conn.c */
    int64_t conns_rejected_ip; /* atomic: closed at accept past max_connections_per_ip */
    int64_t buffered_bytes;    /* atomic: request bodies + unsent responses (max_buffered_bytes) */
    int64_t shed;              /* atomic: requests answered 503 over max_buffered_bytes */
    struct live *live;         /* the event store (live.h); NULL when events are off */
};

/* Route scopes (who may call it when auth is configured). */
enum route_scope { SCOPE_OPEN = 0, SCOPE_INFER = 1, SCOPE_ADMIN = 2 };

#define HTTP_MAX_PARAMS 2

struct http_req;
typedef void (*http_handler)(struct http_req *r);

struct route {
    const char *method;  /* "GET", "POST" */
    const char *pattern; /* "/v1/models/{name}:recommend"; {x} matches [^/:]+ */
    http_handler handler;
    enum route_scope scope;
    const char *name; /* metrics label, e.g. "recommend" */
};

struct http_block;
struct http_deferred;

/* Everything a handler sees and fills. Memory hangs off the request and is
 * released in one place, when the connection reports the request complete
 * (http_req_release): the body, the response, the parsed JSON, whatever
 * the handler took with http_alloc, and the calls it left with http_defer. */
struct http_req {
    struct server *srv;
    struct MHD_Connection *conn;
    const char *method;
    const char *path;
    const struct route *route;
    char params[HTTP_MAX_PARAMS][REPO_NAME_MAX + 1]; /* {name}, {version} in order */
    int n_params;
    buf body;                 /* request body (NUL-terminated; decoded when it came with
                                 Content-Encoding gzip or deflate) */
    const char *infer_header; /* Inference-Header-Content-Length (binary tensor data
                                 extension, binproto.h), borrowed; NULL when absent */
    int body_too_large;
    char request_id[64];
    double t0; /* monotonic seconds at the first byte */
    /* filled by the handler */
    int status;
    buf out;             /* response body (JSON) */
    size_t out_json_len; /* > 0: out is this much JSON, then binary tensor data
                            (sent as Inference-Header-Content-Length) */
    char model[REPO_NAME_MAX + 1];
    int64_t version;
    char user_hash[24];      /* for the access log (log_user_hash unless log_user_ids) */
    int suspended;           /* waiting for another thread (http_suspend) */
    int close;               /* close the connection after the answer */
    int queued;              /* the response was handed to MHD */
    uint64_t ticket;         /* reload job an admin request waits for */
    struct live_query *live; /* h_reco.c: what events add to this answer (live.h), or NULL */
    int64_t buffered;        /* bytes of body + response counted in srv->buffered_bytes */
    /* released with the request */
    json_t *json;                   /* the parsed body (http_body_json) */
    struct http_block *mem;         /* http_alloc's blocks */
    struct http_deferred *deferred; /* http_defer's calls, last registered first */
};

/* The route table (routes.c) and its matcher. */
extern const struct route http_routes[];
/* Find the route for method+path. Returns the route, or NULL with *status
 * 404 (no pattern matches) or 405 (pattern matches, method does not; *allow
 * gets the allowed methods). Captured {params} go into r. */
const struct route *routes_match(const char *method, const char *path, struct http_req *r,
                                 int *status, char *allow, size_t allow_len);

/* Responses. */
void http_error(struct http_req *r, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Answer with an enc_err: status from its code (enc_http_status). */
void http_fail(struct http_req *r, const enc_err *err);
/* Serialize `obj` (stolen) as the response body. */
void http_json(struct http_req *r, int status, json_t *obj);

/* The request body parsed as a JSON object within the configured limits
 * (depth, duplicates rejected): borrowed, valid until the request is
 * released (parsed once; later calls return the same tree). On failure
 * answers 400 and returns NULL. */
json_t *http_body_json(struct http_req *r);
/* The same for the body's first `len` bytes (the JSON part of a binary
 * tensor data request, binproto.h). */
json_t *http_body_json_n(struct http_req *r, size_t len);

/* Request-lifetime memory: `bytes` aligned as max_align_t, valid until the
 * request is released; never freed by the caller. NULL when out of memory. */
void *http_alloc(struct http_req *r, size_t bytes);
/* Call fn(arg) when the request is released (after its response), for what
 * lives elsewhere: a model reference, a parser's owned arrays. Calls run
 * last registered first. 0, or ENC_ENOMEM (not registered: the caller
 * still owns arg). */
int http_defer(struct http_req *r, void (*fn)(void *), void *arg);
/* Release everything hanging off r (deferred calls, http_alloc's blocks,
 * the parsed body, body and response buffers); r itself stays. The
 * completion callback calls it; so do tests that run a handler directly. */
void http_req_release(struct http_req *r);

/* Remember the user id for the access log (hashed unless log_user_ids). */
void http_note_user(struct http_req *r, const char *user, size_t len);

/* A scratch buffer of at least `bytes` owned by the calling HTTP thread,
 * valid until this thread's next http_scratch call (so within one handler
 * call; never across http_suspend). Saves a malloc/free of the scoring
 * buffer per request. NULL if out of memory. Freed when the thread exits. */
void *http_scratch(size_t bytes);

/* A handler that hands its work to another thread calls http_suspend(r) and
 * returns without a status; that thread fills r->status / r->out and calls
 * http_resume(r), and the response goes out from an HTTP thread. */
void http_suspend(struct http_req *r);
void http_resume(struct http_req *r);

/* Read and check tls_cert / tls_key (readable, PEM, matching) before binding. */
int http_tls_load(struct server *s, enc_err *err);
/* Cut connections past their idle or read deadline (the loop calls it every
 * 250 ms). Returns the number of connections with a request in progress. */
int http_sweep(struct server *s);

/* Start (the listener, polled by `loop`, and the HTTP daemon) / quiesce
 * (close the listener) / stop. */
int http_start(struct server *s, struct uv_loop_s *loop, enc_err *err);
void http_quiesce(struct server *s); /* stop accepting; in-flight continue */
void http_stop(struct server *s);

/* h_reco.c, for handlers that answer a recommend on a model of their
 * choosing (h_experiments.c). What the answer returned, borrowed for the
 * decorator's call: */
struct reco_answer {
    const struct model *m;
    const struct reco_hit *hits;
    size_t n;
    const char *const *ids; /* the hits' item ids (not NUL-terminated) */
    const size_t *id_lens;
    const char *user; /* the request's user, or NULL */
    size_t user_len;
};
/* Append fields (",\"key\":value...") to the answer in `out`. 0, or answers
 * the request itself (http_error) and returns -1. */
typedef int (*reco_decorate_fn)(struct http_req *r, void *arg, const struct reco_answer *ans,
                                buf *out);
/* Answer r as POST /v1/models/{name}:recommend would, with the fields of
 * `defaults` (borrowed; NULL: none) filled in where the body has none. */
void reco_serve(struct http_req *r, const char *name, const json_t *defaults,
                reco_decorate_fn decorate, void *arg);
/* Items named in "because" per recommended item ("explain": true). */
#define RECO_EXPLAIN_TOP 3

/* Answer a request for a model that is not served: 503 when the repository
 * has it but none of its versions loads (not ready), else 404. */
void http_model_missing(struct http_req *r, const char *name);

/* Handlers, by file. */
void h_healthz(struct http_req *r);
void h_readyz(struct http_req *r);
void h_metrics(struct http_req *r);
void h_models_list(struct http_req *r);
void h_model_get(struct http_req *r);
void h_model_reload(struct http_req *r);
void h_recommend(struct http_req *r);
void h_similar(struct http_req *r);
void h_v1_predict(struct http_req *r); /* h_predict.c: KServe V1 and V2 */
void h_v2_server(struct http_req *r);
void h_v2_live(struct http_req *r);
void h_v2_ready(struct http_req *r);
void h_v2_model(struct http_req *r);
void h_v2_model_ready(struct http_req *r);
void h_v2_infer(struct http_req *r);
void h_events_post(struct http_req *r); /* h_events.c: events and the catalogue */
void h_user_events(struct http_req *r);
void h_user_erase(struct http_req *r);
void h_item_get(struct http_req *r);
void h_item_put(struct http_req *r);
void h_item_delete(struct http_req *r);
void h_experiment_recommend(struct http_req *r); /* h_experiments.c */
void h_experiment_get(struct http_req *r);

#endif
