/*
 * remote.h - serving a model repository that lives in object storage
 * (--models s3://BUCKET/PREFIX or gs://...).
 *
 * The repository is mirrored into cache_dir by storage/objrepo.h's objsync
 * and the registry serves the mirror like any local repository. The first
 * mirror runs before the server binds (nothing is served yet); after that a
 * poll runs every rescan_seconds on libuv's worker pool, never on the loop
 * thread nor an HTTP thread, and queues a reload of every model whose local
 * copy changed. A failed poll (store unreachable, bucket gone, credentials
 * refused) is logged and counted in /metrics and changes nothing: the
 * server keeps serving what it has and tries again at the next poll.
 */
#ifndef ENCORE_REMOTE_H
#define ENCORE_REMOTE_H

#include <uv.h>

#include "core/buf.h"
#include "core/err.h"

struct server;

/* If s->cfg.models is an object-storage URL: set up the mirror and point
 * s->cfg.models at the cache directory. Returns 0 (also when the models are
 * local) or a negative code for a malformed URL or unusable cache dir. */
int remote_init(struct server *s, enc_err *err);

/* 1 when the repository is remote. */
int remote_enabled(void);

/* One poll on the calling thread (startup only). Returns the number of
 * models whose local copy changed, or a negative code (logged). */
int remote_sync_now(struct server *s);

/* Poll every rescan_seconds from `loop` (loop thread). */
void remote_start(struct server *s, uv_loop_t *loop);
/* Poll soon (loop thread): a version was refused, the next lower one may
 * need fetching. */
void remote_poke(void);
void remote_stop(void); /* before the loop closes; a running poll finishes */
void remote_free(void);

/* Prometheus lines for the mirror (nothing when the models are local). */
void remote_metrics(buf *out);

#endif
