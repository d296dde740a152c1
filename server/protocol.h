/*
 * protocol.h - KServe V1 and Open Inference Protocol (V2) request parsing and
 * response writing for classifiers, written once against struct model_io.
 *
 * A family describes its input with a model_io (numeric: n_features values
 * of a per-instance shape, optional feature names and an accepted range;
 * text: byte strings) and its output with class names. This module turns a
 * request body into a struct model_batch that has already been validated
 * against that description, so ops->predict never sees a wrong count, a
 * non-finite value or an out-of-range value, and writes the answers:
 *
 *   V1  {"instances"|"inputs": [...]}             -> {"predictions": [...]}
 *       numeric  [5.1, 3.5, 1.4, 0.2]              flat, row-major
 *                [[...28...], ...28 rows]           nested, shape of model_io
 *                {"sepal_length": 5.1, ...}         named features
 *                {"b64": "<PNG or binary PGM>"}     8-bit grayscale image
 *       text     "a fine film" or {"text": "a fine film"}
 *   V2  {"id", "parameters", "inputs": [{name, shape, datatype, data}],
 *        "outputs": [{name}]}                      -> {"outputs": [...]}
 *       datatypes FP32 FP64 INT32 INT64 UINT8 (numeric) and BYTES (text);
 *       shape [N, ...per-instance shape...]; data flat row-major or nested.
 *
 * Every error names where it happened ("instances[3][1] (sepal_width): ...",
 * "inputs[0].data[17] (instance 4): ...") and is ENC_EINVAL, which the server
 * answers with HTTP 400 {"error": "..."} (limits too: a batch over
 * max_instances or a text over max_text_bytes is a bad request, not a 413).
 */
#ifndef ENCORE_PROTOCOL_H
#define ENCORE_PROTOCOL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "binproto.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/model.h"

/* Request limits (from the server configuration). */
struct proto_limits {
    size_t max_instances;  /* instances per request */
    size_t max_text_bytes; /* bytes per text instance */
};

/* A parsed, validated batch. `batch` is what ops->predict takes; it points
 * into the owned arrays below and, for text, into the JSON tree the request
 * was parsed from (so the tree must outlive the batch). */
struct proto_input {
    struct model_batch batch;
    float *x;          /* owned: n * io->n_features (numeric) */
    const char **text; /* owned array; strings borrowed from the JSON tree */
    size_t *text_len;  /* owned */
};

/* Release the owned arrays; the struct is zeroed. NULL ok. */
void proto_input_free(struct proto_input *in);

/* Numeric values must be JSON numbers, finite as 32-bit floats and inside
 * [io->min_value, io->max_value] (a family that leaves min >= max, e.g. both
 * 0, gets no range check). Pixels decoded from {"b64": ...} are 0..255, or
 * scaled to 0..1 when io->max_value <= 1. */

/* Parse a V1 body ({"instances": [...]} or {"inputs": [...]}) against `io`.
 * Returns 0 with *out filled (caller frees with proto_input_free), or
 * ENC_EINVAL / ENC_ENOMEM with a message naming the instance and field. */
int proto_v1_parse(const json_t *root, const struct model_io *io, const struct proto_limits *lim,
                   struct proto_input *out, enc_err *err);

/* The V2 envelope: everything but the tensor contents. */
#define PROTO_V2_MAX_OUTPUTS 4
struct proto_v2_req {
    const char *id; /* borrowed from the tree; NULL when absent */
    size_t id_len;
    const json_t *parameters; /* borrowed request-level parameters, or NULL */
    const json_t *input;      /* borrowed: the one input tensor object */
    unsigned outputs;         /* bit i set: out_names[i] was requested (all
                                 bits when the request names no outputs) */
    unsigned binary;          /* bit i set: out_names[i] goes back as binary
                                 data (binproto_outputs) */
};

/* Check a V2 inference request's envelope: known fields only, "id" a string,
 * "parameters" an object, exactly one input tensor, and "outputs" (if any)
 * naming only `out_names[0..n_out)`. Returns 0 or ENC_EINVAL. */
int proto_v2_parse_request(const json_t *root, const char *const *out_names, size_t n_out,
                           struct proto_v2_req *req, enc_err *err);

/* Parse one V2 input tensor {name, shape, datatype, data, parameters}
 * against `io`: numeric datatypes for a numeric model, BYTES for text; the
 * shape is [N, per-instance shape...] and must agree with the data. The
 * values come from JSON "data", or from `bin` when the input carried
 * parameters.binary_data_size (bin: its slice from binproto_inputs, NULL
 * when the request had no binary part; BYTES then borrow from the body).
 * Returns 0 with *out filled (proto_input_free), or ENC_EINVAL / ENC_ENOMEM. */
int proto_v2_parse_tensor(const json_t *input, const struct binproto_slice *bin,
                          const struct model_io *io, const struct proto_limits *lim,
                          struct proto_input *out, enc_err *err);

/* Index of the largest of p[0..n) (ties: the lower index). */
size_t proto_argmax(const float *p, size_t n);

/* Append a V1 response for n instances with probabilities prob[n * classes]:
 * {"model":..,"version":..,"predictions":[{"label":..,"probabilities":{..}}]} */
void proto_v1_write(buf *o, const char *model, int64_t version, const struct model_io *io,
                    const float *prob, size_t n);

/* Output names of a V2 classifier response, in bit order of req->outputs. */
extern const char *const proto_v2_class_outputs[2]; /* "label", "probabilities" */

/* Append a V2 inference response: model_name, model_version, id (echoed)
 * and the requested outputs: label BYTES [N], probabilities FP32 [N, C],
 * as JSON data or, per req->binary, as binary data after the JSON.
 * Returns the JSON's length when there is binary data (the response's
 * Inference-Header-Content-Length), else 0. */
size_t proto_v2_write(buf *o, const char *model, int64_t version, const struct proto_v2_req *req,
                      const struct model_io *io, const float *prob, size_t n);

/* ---- recommendation models through V2 ---------------------------------- */

/* Output names of a V2 recommend response, in bit order of req->outputs. */
extern const char *const proto_v2_reco_outputs[2]; /* "item_ids", "scores" */

/* A parsed V2 recommend request: inputs[0] holds N user ids (BYTES, each at
 * most PROTO_V2_MAX_USER_BYTES); parameters.k (1..max_k, default 10) and
 * parameters.exclude_seen (default true). */
#define PROTO_V2_MAX_USER_BYTES 256
struct proto_v2_reco {
    struct proto_v2_req req;
    struct proto_input users; /* users.batch.text[i], text_len[i]: borrowed from the tree */
    size_t k;
    int exclude_seen;
};

/* Parse and check a V2 recommend body (bin: inputs[0]'s binary data, see
 * proto_v2_parse_tensor). Returns 0 with *out filled (free out->users with
 * proto_input_free), or ENC_EINVAL / ENC_ENOMEM. */
int proto_v2_parse_reco(const json_t *root, const struct binproto_slice *bin, size_t max_k,
                        size_t max_instances, struct proto_v2_reco *out, enc_err *err);

/* Append a V2 recommend response for n users: user i's hits are
 * hits[i * stride .. i * stride + kmin), item ids from m's reco_ops.
 * Outputs item_ids BYTES [n, kmin] and scores FP32 [n, kmin] (rows must be
 * rectangular: kmin is the fewest hits any user got); binary as in
 * proto_v2_write, whose return value it shares. */
size_t proto_v2_write_reco(buf *o, const struct model *m, const struct proto_v2_req *req,
                           const struct reco_hit *hits, size_t n, size_t stride, size_t kmin);

/* V2 model metadata {name, versions, platform, inputs, outputs} for `m`
 * (inputs/outputs from its model_io, or the recommend tensors). `versions`
 * (stolen, may be NULL) is a JSON array of version strings. New reference,
 * NULL on allocation failure. */
json_t *proto_v2_metadata(const struct model *m, json_t *versions);

#endif
