/*
 * binproto.h - the binary tensor data extension of the Open Inference
 * Protocol over HTTP (Triton's "binary_tensor_data", the default of
 * tritonclient.http): tensors travel as raw little-endian bytes after the
 * JSON object instead of as JSON numbers.
 *
 * Request (header "Inference-Header-Content-Length: J"):
 *
 *   0                      J
 *   +----------------------+-------------+-------------+----
 *   | JSON inference req.  | input a     | input b     | ...
 *   +----------------------+-------------+-------------+----
 *                          binary_data_size of each input that has one, in
 *                          the order of "inputs"; inputs without it carry
 *                          JSON "data" (the two can be mixed)
 *
 * Elements are row-major without padding, in the datatype's native size
 * (FP32 4 bytes, INT64 8, UINT8 1, ...); a BYTES element is a 4-byte
 * little-endian length and that many bytes. A response has the same layout:
 * outputs asked for as binary (request parameter "binary_data_output": true,
 * or an output's "binary_data": true) carry parameters.binary_data_size and
 * no "data", and the response header Inference-Header-Content-Length gives
 * the JSON's length.
 *
 * Every size is checked against the body before a byte is read: a
 * binary_data_size must equal what datatype and shape need (for BYTES: the
 * length prefixes must tile it exactly), the sizes must add up to exactly
 * the bytes after the JSON, and a mismatch is ENC_EINVAL (HTTP 400) naming
 * the input and both sizes.
 */
#ifndef ENCORE_BINPROTO_H
#define ENCORE_BINPROTO_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

/* Most inputs one request may carry as binary (Encore's models take one). */
#define BINPROTO_MAX_INPUTS 16

/* One input's binary data: `data` points into the request body (borrowed,
 * valid while the body is), NULL when the input has no binary_data_size. */
struct binproto_slice {
    const unsigned char *data;
    size_t len;
};

/* The value of an Inference-Header-Content-Length header: a decimal number
 * of at most body_len. Returns 0 with *json_len, or ENC_EINVAL. */
int binproto_header_len(const char *value, size_t body_len, size_t *json_len, enc_err *err);

/* Assign the binary region bin[0..bin_len) (the body after the JSON) to
 * the inputs of the parsed request `root` that carry
 * parameters.binary_data_size: slices[i] is input i's data (slices has room
 * for BINPROTO_MAX_INPUTS; entries of JSON inputs stay {NULL, 0}). Checks
 * each size against its datatype and shape and the total against bin_len.
 * A root that is not an object with an "inputs" array is left to the
 * protocol parser (returns 0 with no slices if bin_len is 0, else EINVAL).
 * Returns 0 or ENC_EINVAL. */
int binproto_inputs(const json_t *root, const unsigned char *bin, size_t bin_len,
                    struct binproto_slice *slices, enc_err *err);

/* Bytes per element of a datatype name, 0 for BYTES (variable), -1 if the
 * name is not an OIP datatype. */
int binproto_elem_size(const char *datatype);

/* Decode `count` numeric elements of `datatype` (FP32, FP64, INT32, INT64
 * or UINT8) from s into dst as floats: each must be finite as a float and,
 * when min < max, inside [min, max]. `what` names the input in messages
 * ("inputs[0] (INPUT0)"); per_instance > 0 adds "(instance k)". The slice
 * must hold exactly count elements (binproto_inputs checked that).
 * Returns 0 or ENC_EINVAL. */
int binproto_numeric(const struct binproto_slice *s, const char *datatype, size_t count, double min,
                     double max, size_t per_instance, const char *what, float *dst, enc_err *err);

/* Split a BYTES slice into `count` elements: text[i] points into the slice
 * (not NUL-terminated), len[i] its length; each must be 1..max_len bytes.
 * Returns 0 or ENC_EINVAL. */
int binproto_bytes(const struct binproto_slice *s, size_t count, size_t max_len, const char *what,
                   const char **text, size_t *len, enc_err *err);

/* Which outputs of a response go back as binary data: the request's
 * parameters.binary_data_output (default false) for every output, unless a
 * requested output's parameters.binary_data says otherwise. Bit i of
 * *binary is out_names[i]. Refuses non-boolean flags and Triton's
 * "classification" output parameter (not supported). Returns 0 or
 * ENC_EINVAL. */
int binproto_outputs(const json_t *root, const char *const *out_names, size_t n_out,
                     unsigned *binary, enc_err *err);

/* Response writers. A response is written as JSON into `o`, each binary
 * output's bytes into a second buffer `tail`; binproto_size_param writes
 * an output's "parameters":{"binary_data_size":N}; binproto_finish appends
 * the tail after the JSON, frees it, and returns the JSON's length for the
 * Inference-Header-Content-Length header (0 when the tail is empty: a
 * plain JSON response). */
void binproto_put_f32(buf *tail, const float *v, size_t n);  /* little-endian FP32 */
void binproto_put_bytes(buf *tail, const char *s, size_t n); /* 4-byte length + bytes */
void binproto_size_param(buf *o, size_t size);
size_t binproto_finish(buf *o, buf *tail);

#endif
