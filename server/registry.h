/*
 * registry.h - the models the server has loaded, by name.
 *
 * Each name maps to its current `struct model` (an immutable, refcounted
 * snapshot, see core/model.h) plus up to versions_kept older ones. Requests
 * take a reference with registry_get() and drop it with model_unref() when
 * done; registry_install() swaps a new version in atomically, so requests in
 * flight finish on the version they started with, and an old version is
 * freed when its last request completes.
 */
#ifndef ENCORE_REGISTRY_H
#define ENCORE_REGISTRY_H

#include <jansson.h>
#include <stdint.h>

#include "core/err.h"
#include "core/model.h"

struct registry;

/* A new, empty registry over the repository directory `repo` (borrowed)
 * that loads with `opts` (copied; NULL: families.h's model_default_opts). */
int registry_new(const char *repo, int versions_kept, const struct model_load_opts *opts,
                 struct registry **out, enc_err *err);
void registry_free(struct registry *r);   /* drops every reference; NULL ok */

/* Load the highest version of every model in the repository. A model that
 * fails is logged (one line naming model, file and problem) and skipped.
 * Returns the number loaded (>= 0) or a negative code if the repository
 * itself cannot be read. */
int registry_load_all(struct registry *r, enc_err *err);

/* Load REPO/NAME's highest version if it is newer than the one loaded (or
 * `version` exactly when > 0) and install it. Returns 1 if a new version was
 * installed, 0 if already current, or a negative code (the old version keeps
 * serving). Loads on the calling thread: the server calls it only before it
 * binds; while serving, reloads go through registry_prepare on libuv's worker
 * pool and registry_install on the loop (server/reload.c). */
int registry_reload(struct registry *r, const char *name, int64_t version, enc_err *err);

/* The loading half of registry_reload, safe on any thread: resolve the
 * version, then open, validate and load it without touching what is served.
 * Returns 1 with *out holding one reference to install, 0 (*out NULL) when
 * that version is already the one served, or a negative code: a refused
 * version is logged and counted in load_failures (per model too).
 * A highest version that was refused is not tried again while its file is
 * unchanged (same size and mtime), so every later watch event or SIGHUP does
 * not log and count the same refusal again; `retry` (the admin route, an
 * exact version) tries it anyway. */
int registry_prepare(struct registry *r, const char *name, int64_t version, int retry,
                     struct model **out, enc_err *err);

/* Install `m` (the registry takes the caller's reference): it becomes the
 * served version if it is the highest loaded; older versions beyond
 * versions_kept are dropped (freed when their last request completes). */
void registry_install(struct registry *r, struct model *m);

/* A reference to NAME's current version (version 0) or that exact loaded
 * version, or NULL. The caller drops it with model_unref(). */
struct model *registry_get(struct registry *r, const char *name, int64_t version);

/* Number of model names with a loaded version. */
int registry_count(struct registry *r);

/* [ describe(model), ... ] of current versions, or of one name with every
 * loaded version under "versions" (NULL if unknown). New references. */
json_t *registry_list(struct registry *r);
json_t *registry_describe(struct registry *r, const char *name);

/* Counters for /metrics. */
struct registry_stats {
    int64_t loads, load_failures, reloads;
    double last_load_seconds;
};
void registry_stats(struct registry *r, struct registry_stats *out);

/* Call fn for every loaded version (current first within a name) with the
 * registry locked: fn must be quick and must not call back into the registry.
 * `failures` is the number of versions of that name refused so far. */
void registry_foreach(struct registry *r,
                      void (*fn)(void *arg, const struct model *m, int current, int64_t failures),
                      void *arg);

/* Names of loaded models (malloc'd array of malloc'd strings). */
char **registry_names(struct registry *r, int *n);

#endif
