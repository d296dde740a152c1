/*
 * repo.h - the model repository, laid out as TensorFlow Serving and Triton do:
 *
 *   REPO/
 *     movielens/            one directory per model NAME
 *       1/model.safetensors
 *       2/model.safetensors VERSION = positive integer; the highest is served
 *     iris/
 *       1/model.safetensors
 *
 * Writers never expose a partial version: repo_publish() writes into a hidden
 * temporary directory REPO/NAME/.tmp-XXXXXX (mkdtemp: unique even for two
 * trainers with the same PID in two containers) and renames it to
 * REPO/NAME/VERSION. Readers ignore directories that are not plain positive
 * integers.
 *
 * REPO/NAME/pinned (optional) holds one version number: every server serves
 * that version of NAME instead of the highest (a rollback that reaches every
 * replica). Written atomically by repo_write_pin (encore-train pin).
 */
#ifndef ENCORE_REPO_H
#define ENCORE_REPO_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/st.h"

#define REPO_NAME_MAX 128

/* A model name is 1..128 of [A-Za-z0-9_.-], not starting with '.'. */
int repo_valid_name(const char *name);

/* 0 when `path` (symlinks resolved) is inside the directory `repo`
 * (resolved too); otherwise ENC_EFORBIDDEN naming the path and where it
 * leads, or ENC_ENOTFOUND / ENC_EIO when either cannot be resolved. A
 * symlink that leaves the repository (say to /etc/passwd) is refused
 * before the file is opened, so nothing of an outside file reaches a
 * message or a client. */
int repo_contains(const char *repo, const char *path, enc_err *err);

/* Highest version under REPO/NAME (0 and ENC_ENOTFOUND if none). */
int repo_latest_version(const char *model_dir, int64_t *version, enc_err *err);

/* All versions under model_dir, ascending. *versions is caller-freed. */
int repo_list_versions(const char *model_dir, int64_t **versions, size_t *n, enc_err *err);

/* Model names (subdirectories with a valid name) under repo; caller frees
 * each name and the array. */
int repo_list_models(const char *repo, char ***names, size_t *n, enc_err *err);

/* Resolve DIR = a version directory (.../NAME/3) or a model directory
 * (.../NAME, then its highest version) to the model file path (malloc'd),
 * and optionally the name and version. */
int repo_resolve(const char *dir, char **file_path, char **name, int64_t *version, enc_err *err);

/* Write `w` as REPO/NAME/VERSION/model.safetensors. `out` is "REPO/NAME";
 * version 0 picks the next free one. Creates REPO/NAME as needed; refuses an
 * existing version. On success *version_out is the version written. */
int repo_publish(st_writer *w, const char *out, int64_t version, int64_t *version_out,
                 enc_err *err);

/* Copy the model file `src` into "REPO/NAME" as a new version, the way
 * repo_publish writes one (temp dir, rename). */
int repo_publish_file(const char *src, const char *out, int64_t version, int64_t *version_out,
                      enc_err *err);

/* Repositories in object storage (s3://BUCKET/PREFIX, gs://...): core has
 * no network code, so a program that links one (encore_s3) registers a
 * publisher; repo_publish and repo_publish_file hand such an `out` to it
 * with a complete local model file. Without one they refuse the URL. */
typedef int (*repo_remote_publish_fn)(const char *file, const char *out, int64_t version,
                                      int64_t *version_out, enc_err *err);
void repo_set_remote_publisher(repo_remote_publish_fn fn);
int repo_is_url(const char *path); /* s3:// or gs:// */

/* The repository pin of model_dir (REPO/NAME/pinned): *version = the pinned
 * version, or 0 when there is no pin file. A pin file that does not hold one
 * positive integer (surrounding whitespace allowed) is ENC_EINVAL, naming the
 * file and its text: the caller keeps what it serves rather than guess. */
int repo_read_pin(const char *model_dir, int64_t *version, enc_err *err);

/* Pin model_dir to `version` (> 0), or remove the pin (0). Atomic: a temp
 * file renamed over REPO/NAME/pinned. Refuses a version that is not in the
 * repository. */
int repo_write_pin(const char *model_dir, int64_t version, enc_err *err);

/* Delete all but the `keep` highest versions of model_dir (never the pinned
 * one). *removed (optional) = the number removed. */
int repo_prune(const char *model_dir, int64_t keep, int64_t *removed, enc_err *err);

/* rm -r of one version directory's plain files and the directory. */
int repo_remove_version(const char *model_dir, int64_t version, enc_err *err);

#endif
