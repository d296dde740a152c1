/*
 * v1forms.h - the request forms of KServe V1 :predict (TensorFlow Serving's
 * REST predict API, which KServe V1 follows) beside Encore's own, turned
 * into the one row form that protocol.c's proto_v1_parse reads:
 *
 *   {"instances": [row, ...]}                 row form
 *   {"inputs": [row, ...]}                    the same, as KServe sends it
 *   {"instances": [{"input": row}, ...]}      rows keyed by the input's name
 *   {"inputs": {"input": [row, ...]}}         columnar, the one named input
 *   {"inputs": {"f1": [v, ...], "f2": [...]}} columnar, one column per named
 *                                             feature (tables)
 *   {"inputs": "text"} / {"inputs": {"text": ["a", "b"]}}   text models
 *
 * plus "signature_name" (a string, accepted and ignored: Encore models have
 * one signature) and "parameters" (an object, accepted). The input's name
 * is the one GET /v2/models/{name} reports: "input" (numbers) or "text".
 * Answers are KServe's {"predictions": [...]} whatever the request form.
 */
#ifndef ENCORE_V1FORMS_H
#define ENCORE_V1FORMS_H

#include <jansson.h>

#include "core/err.h"
#include "core/model.h"

/* Normalise `root` to {"instances": [...]}: *rows is a new reference
 * (json_decref) whose values are shared with root (keep root alive while
 * the batch borrows text from it). Returns 0 or ENC_EINVAL / ENC_ENOMEM. */
int v1forms_normalize(const json_t *root, const struct model_io *io, json_t **rows, enc_err *err);

#endif
