/*
 * reload.h - hot reload: new versions are loaded off the request path and
 * swapped in on the libuv loop.
 *
 *   triggers                         loop thread             worker pool
 *   --------                         -----------             -----------
 *   uv_fs_event on REPO and on  -->  debounce 100 ms -->     registry_prepare:
 *     each REPO/NAME                 job queue (one load      open, validate,
 *   SIGHUP (every model)        -->  at a time)        -->    load the file
 *   POST /v1/models/{n}:reload  -->  (uv_async_send)          |
 *     (an HTTP thread)                                        v
 *                                    after_work: registry_install (atomic swap),
 *                                    answer the admin request if one waits
 *
 * Requests never wait for a load: they keep taking references to the version
 * being served until registry_install swaps the pointer. A refused version is
 * logged and counted (encore_model_load_failures_total); the old one keeps
 * serving. A load that runs past cfg.load_timeout (a file system that stopped
 * answering) is abandoned: its admin request is answered 503 and the queue
 * goes on; when it ends, its version is installed unless a later job of the
 * same model has finished since.
 */
#ifndef ENCORE_RELOAD_H
#define ENCORE_RELOAD_H

#include <stdint.h>
#include <uv.h>

#include "core/err.h"

struct server;

/* Start the reloader on `loop` (the loop thread): the async handle, the job
 * queue and, when cfg.watch is set, a watch on the repository and on each
 * model directory. Returns 0 or a negative code (a watch that cannot be set
 * is logged, not fatal: SIGHUP and the admin route still work). */
int reload_start(struct server *s, uv_loop_t *loop, enc_err *err);

/* Close the reloader's handles (loop thread); pending jobs are dropped and
 * every waiting admin request (queued or running) is answered 503. Call
 * before http_stop() and before closing the loop. */
void reload_stop(void);

/* Outcome of a job: rc 1 = version installed, 0 = already current, < 0 = the
 * code of the failure (msg says why). Called on the loop thread. */
typedef void (*reload_done_fn)(void *arg, int rc, int64_t version, const char *msg);

/* Queue a load of NAME: the version it should serve (registry.h: pins, else
 * the highest that loads), or exactly `version` when > 0 (with `done`, the
 * admin route: pinned on this replica), or -1: drop this replica's pin and
 * follow the repository again. Thread-safe (any HTTP thread). `done` may be NULL; otherwise it is
 * called once on the loop thread unless reload_cancel(ticket) ran first. Returns a ticket (> 0), or
 * 0 when the queue is full or the reloader is stopped. */
uint64_t reload_request(const char *name, int64_t version, reload_done_fn done, void *arg);

/* Forget the callback of a queued or running job (its load still happens).
 * After it returns, `done` for that ticket is not running and will not run. */
void reload_cancel(uint64_t ticket);

/* Queue a load of every model in the repository (SIGHUP). Loop thread. */
void reload_all(void);

#endif
