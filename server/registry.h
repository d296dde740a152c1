/*
 * registry.h - the models the server has loaded, by name.
 *
 * Each name maps to its served `struct model` (an immutable, refcounted
 * snapshot, see core/model.h) plus up to versions_kept - 1 others.
 *
 * Which version is served: a replica pin (the admin route with a version)
 * if set, else the repository pin (REPO/NAME/pinned, repo_read_pin) if
 * present, else the highest version that loads: a refused version is logged,
 * counted and passed over for the next lower one, so a bad newest version
 * never leaves a model unserved while an older valid one exists. Requests
 * take a reference with registry_get() and drop it with model_unref() when
 * done; registry_install() swaps a new version in atomically, so requests in
 * flight finish on the version they started with, and an old version is
 * freed when its last request completes.
 */
#ifndef ENCORE_REGISTRY_H
#define ENCORE_REGISTRY_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/model.h"
#include "core/repo.h"

struct registry;

/* A new, empty registry over the repository directory `repo` (borrowed)
 * that loads with `opts` (copied; NULL: families.h's model_default_opts). */
int registry_new(const char *repo, int versions_kept, const struct model_load_opts *opts,
                 struct registry **out, enc_err *err);
void registry_free(struct registry *r); /* drops every reference; NULL ok */

/* Load the highest version of every model in the repository. A model that
 * fails is logged (one line naming model, file and problem) and skipped.
 * Returns the number loaded (>= 0) or a negative code if the repository
 * itself cannot be read. */
int registry_load_all(struct registry *r, enc_err *err);

/* Bring NAME to the version it should serve (see the top of this file), or
 * to exactly `version` when > 0, and install it, on the calling thread.
 * Returns 1 if another version was installed, 0 if already current, or a
 * negative code (what was served keeps serving). With `version` > 0 the
 * version is pinned on this replica (REG_PIN). The server calls it only
 * before it binds; while serving, reloads go through registry_prepare on
 * libuv's worker pool and registry_install on the loop (server/reload.c). */
int registry_reload(struct registry *r, const char *name, int64_t version, enc_err *err);

/* Pin NAME to `version` (> 0) on this replica and log it: what REG_PIN does
 * once the version loads, for a caller that decides later (server/reload.c
 * pins on the loop thread, so that a load abandoned after load_timeout and
 * overtaken by a later reload does not pin its version when it ends). */
void registry_pin(struct registry *r, const char *name, int64_t version);

/* Flags of registry_prepare. */
enum {
    REG_RETRY = 1, /* try versions refused before even if their file is unchanged */
    REG_PIN = 2,   /* with version > 0: pin it on this replica once it loads */
    REG_UNPIN = 4, /* drop this replica's pin first ({"version": "latest"}) */
};

/* The loading half of registry_reload, safe on any thread: decide the
 * version to serve, then open, validate and load it without touching what
 * is served. Returns 1 with *out holding one reference to install (a new
 * load, or a loaded version that is not the served one), 0 (*out NULL) when
 * nothing changes, or a negative code: a refused version is logged and
 * counted in load_failures (per model too), and without a pin the next lower
 * version is tried. A version that was refused is not tried again while its
 * file is unchanged (same size and mtime), so later watch events, rescans or
 * SIGHUP do not log and count the same refusal again; REG_RETRY (the admin
 * route) tries it anyway. An unreadable or malformed REPO/NAME/pinned is an
 * error (ENC_EINVAL), never a guess. */
int registry_prepare(struct registry *r, const char *name, int64_t version, int flags,
                     struct model **out, enc_err *err);

/* 1 if version of NAME was refused and its file is unchanged since. */
int registry_refused(struct registry *r, const char *name, int64_t version);

/* Readiness: 1 if at least one model is served and, with `all`, every model
 * that has versions in the repository has one served (none whose every
 * version was refused). `missing` (optional) gets the names of those
 * without ("a, b"), truncated to len. */
int registry_ready(struct registry *r, int all, char *missing, size_t len);

/* Forget NAME if it has no loaded version (its directory is gone). */
void registry_forget(struct registry *r, const char *name);

/* Drop every loaded version whose mapped file shrank under a read
 * (st_file_faulted), logging each. The names of their models (up to `max`)
 * go to names[], to reload them; returns how many. Thread-safe. */
int registry_retire_faulted(struct registry *r, char (*names)[REPO_NAME_MAX + 1], int max);

/* Install `m` (the registry takes the caller's reference): it becomes the
 * served version; the least recently served versions beyond versions_kept
 * are dropped (freed when their last request completes). */
void registry_install(struct registry *r, struct model *m);

/* A reference to NAME's served version (version 0) or that exact loaded
 * version, or NULL. The caller drops it with model_unref(). */
struct model *registry_get(struct registry *r, const char *name, int64_t version);

/* 1 if NAME has versions in the repository, loaded or not (a model whose
 * every version was refused is known but unserved). */
int registry_known(struct registry *r, const char *name);

/* Number of model names with a loaded version. */
int registry_count(struct registry *r);

/* [ describe(model), ... ] of current versions, or of one name with every
 * loaded version under "versions" (NULL if unknown). New references, or
 * NULL when out of memory (never a partial answer). */
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

/* Names of loaded models (malloc'd array of malloc'd strings), or NULL
 * (and *n 0) when out of memory. */
char **registry_names(struct registry *r, int *n);

#endif
