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
 * temporary directory REPO/NAME/.tmp-PID and renames it to REPO/NAME/VERSION.
 * Readers ignore directories that are not plain positive integers.
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

#endif
