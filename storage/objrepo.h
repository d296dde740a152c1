/*
 * objrepo.h - a model repository in object storage, laid out as on disk:
 *
 *   s3://BUCKET/PREFIX/NAME/VERSION/model.safetensors
 *   s3://BUCKET/PREFIX/NAME/pinned            (optional: one version number)
 *
 * A version is complete when its model.safetensors exists: it is the only
 * file of a version and publishers upload it last (a PUT appears whole or
 * not at all), so keys under NAME/VERSION/ without it (an upload under way,
 * or abandoned) are never used.
 *
 * The server does not read models from the bucket directly: objsync mirrors
 * each model's newest complete version (and the pinned one) into a local
 * cache directory that the registry serves like any repository (hot reload,
 * pins, fallback to the highest valid version all work unchanged).
 *
 *   poll (every rescan_seconds, on libuv's worker pool)
 *     LIST PREFIX/  -->  per model: complete versions, pinned, ETags
 *     newest version not refused (by the registry or the checksum)
 *       local copy with the same ETag?  yes: nothing to download
 *       no: GET into CACHE/NAME/.sync-XXXXXX/, check size and the SHA-256
 *           of the data block (st_open), rename to CACHE/NAME/VERSION
 *     pinned: mirrored to CACHE/NAME/pinned (its version fetched too)
 *     local versions gone from the bucket, or no longer needed: removed
 *
 * The trainer's side: objrepo_publish (the repo_remote_publish_fn of
 * core/repo.h), objrepo_pin, objrepo_prune, objrepo_fetch.
 */
#ifndef ENCORE_OBJREPO_H
#define ENCORE_OBJREPO_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

/* ---- the trainer's side -------------------------------------------------- */

/* Upload `file` as s3://.../NAME/VERSION/model.safetensors (`out` names the
 * model: s3://BUCKET/PREFIX/NAME); version 0 = one above the highest there.
 * Refuses an existing version. */
int objrepo_publish(const char *file, const char *out, int64_t version, int64_t *version_out,
                    enc_err *err);

/* Write (version > 0) or delete (0) s3://.../NAME/pinned. */
int objrepo_pin(const char *model_url, int64_t version, enc_err *err);

/* Delete all but the `keep` highest complete versions (never the pinned). */
int objrepo_prune(const char *model_url, int64_t keep, int64_t *removed, enc_err *err);

/* Download one object URL into dir (keeping its base name); *local is
 * malloc'd. */
int objrepo_fetch(const char *url, const char *dir, char **local, enc_err *err);

/* Download the version of a model that servers serve (the pinned one, else
 * the highest complete) into DIR/NAME/VERSION/; *local = that directory. */
int objrepo_fetch_model(const char *model_url, const char *dir, char **local, enc_err *err);

/* ---- the server's side: objsync ------------------------------------------ */

struct objsync;

struct objsync_stats {
    int64_t syncs, failures; /* polls that succeeded / failed */
    int64_t downloads, download_bytes;
    int64_t rejected;     /* downloads refused (size or checksum) */
    int64_t last_success; /* unix seconds, 0 = never */
    int consecutive_failures;
};

/* A mirror of the repository at `url` in `cache_dir` (created if needed;
 * versions already there from an earlier run are reused when their ETag
 * matches). `endpoint` as for s3_open. */
int objsync_new(const char *url, const char *endpoint, const char *cache_dir, struct objsync **out,
                enc_err *err);
void objsync_free(struct objsync *s);

/* Asked for each candidate version: 1 if the registry refused it (so the
 * next lower one is fetched instead). */
typedef int (*objsync_refused_fn)(void *arg, const char *name, int64_t version);

/* One poll. Any thread, one call at a time. *changed (optional) gets the
 * names whose local copy changed (malloc'd array of malloc'd strings, for
 * the caller to reload and free). Returns 0, or a negative code when the
 * bucket could not be listed (counted; the cache is left as it was). */
int objsync_run(struct objsync *s, objsync_refused_fn refused, void *arg, char ***changed,
                size_t *n_changed, enc_err *err);

void objsync_stats(struct objsync *s, struct objsync_stats *out); /* thread-safe */

#endif
