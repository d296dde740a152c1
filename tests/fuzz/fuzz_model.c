/*
 * fuzz_model.c - libFuzzer target for model files, which are untrusted input:
 * st_open_buffer() (the safetensors header, offsets, dtypes, shapes, the
 * checksum) and then every family's loader on whatever it accepted. A
 * loaded model is also described, asked for its io, and - for classifiers -
 * made to predict a small batch of in-range inputs, so that a file that
 * loads cannot crash the server later.
 *
 * The checksum would stop almost every mutation at the door, so the fuzzer
 * works on the file with its data_sha256 rewritten to match (st_open_buffer
 * of the original bytes is still tried first).
 *
 *   cmake --build build-fuzz --target fuzz_model && tests/fuzz/run.sh 60 build-fuzz
 */
#define _GNU_SOURCE /* memmem */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/st.h"
#include "families.h"
#include "fix_checksum.h"

static void exercise(const st_file *f)
{
    for (size_t i = 0; model_families[i]; i++) {
        const struct model_ops *ops = model_families[i];
        void *state = NULL;
        enc_err err = {0};
        if (ops->load(f, &model_default_opts, &state, &err) != 0) {
            if (!err.msg[0])
                abort(); /* a refusal must say why */
            continue;
        }
        if (ops->mem_usage)
            (void)ops->mem_usage(state);
        if (ops->describe) {
            json_t *o = json_object();
            ops->describe(state, o);
            json_decref(o);
        }
        if (ops->task == MODEL_TASK_CLASSIFY && ops->io && ops->predict) {
            const struct model_io *io = ops->io(state);
            if (io && io->kind == MODEL_INPUT_NUMERIC && io->n_features > 0 &&
                io->n_features <= 1 << 16 && io->n_classes > 0 && io->n_classes <= 1 << 12) {
                size_t n = 2;
                float *x = malloc(n * io->n_features * sizeof *x);
                float *prob = malloc(n * io->n_classes * sizeof *prob);
                if (x && prob) {
                    double lo = isfinite(io->min_value) ? io->min_value : -1.0;
                    double hi = isfinite(io->max_value) ? io->max_value : 1.0;
                    for (size_t k = 0; k < n * io->n_features; k++)
                        x[k] = (float)(k % 2 ? lo : (lo + hi) / 2);
                    struct model_batch b = {.n = n, .x = x};
                    (void)ops->predict(state, &b, prob, &err);
                }
                free(x);
                free(prob);
            } else if (io && io->kind == MODEL_INPUT_TEXT && io->n_classes > 0 &&
                       io->n_classes <= 1 << 12) {
                const char *text[2] = {"a fine film", ""};
                size_t len[2] = {11, 0};
                float *prob = malloc(2 * io->n_classes * sizeof *prob);
                struct model_batch b = {.n = 2, .text = text, .text_len = len};
                if (prob)
                    (void)ops->predict(state, &b, prob, &err);
                free(prob);
            }
        }
        ops->free(state);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    st_file *f = NULL;
    enc_err err = {0};
    if (st_open_buffer(data, size, &f, &err) == 0) {
        exercise(f);
        st_close(f);
    } else if (!err.msg[0])
        abort();
    uint8_t *fixed = fix_checksum(data, size);
    if (fixed) {
        if (st_open_buffer(fixed, size, &f, &err) == 0) {
            exercise(f);
            st_close(f);
        }
        free(fixed);
    }
    return 0;
}
