/*
 * v1forms.c - KServe V1 / TensorFlow Serving request forms -> the row form
 * (see v1forms.h). Columnar tables are transposed into rows of named
 * features; everything else is unwrapped. Values are shared (incref), not
 * copied.
 */
#include "v1forms.h"

#include <string.h>

static const char *input_name(const struct model_io *io)
{
    return io->kind == MODEL_INPUT_TEXT ? "text" : "input";
}

static int is_feature(const struct model_io *io, const char *key)
{
    for (size_t j = 0; io->feature_names && j < io->n_features; j++)
        if (!strcmp(io->feature_names[j], key))
            return 1;
    return 0;
}

/* {"input": row} -> row, for a numeric model whose features are not named
 * "input" (a text model's {"text": ...} is read by protocol.c itself). */
static json_t *unwrap_row(json_t *row, const struct model_io *io)
{
    if (io->kind != MODEL_INPUT_TEXT && json_is_object(row) && json_object_size(row) == 1 &&
        json_object_get(row, "input") && !is_feature(io, "input"))
        return json_object_get(row, "input");
    return row;
}

static int push(json_t *rows, json_t *v, enc_err *err)
{
    return json_array_append(rows, v) ? enc_errf(err, ENC_ENOMEM, "out of memory") : 0;
}

/* Columns of named features -> rows of objects. */
static int transpose(const json_t *cols, const struct model_io *io, json_t *rows, enc_err *err)
{
    const char *key, *first = NULL;
    json_t *v;
    size_t n = 0;
    json_object_foreach((json_t *)cols, key, v) {
        if (!is_feature(io, key))
            return enc_errf(err, ENC_EINVAL,
                            "inputs.%.64s: not a feature of this model (columnar "
                            "'inputs' holds one array per named feature)",
                            key);
        if (!json_is_array(v) || json_array_size(v) == 0)
            return enc_errf(err, ENC_EINVAL,
                            "inputs.%.64s must be a non-empty array: one value per "
                            "instance",
                            key);
        if (first && json_array_size(v) != n)
            return enc_errf(err, ENC_EINVAL,
                            "inputs.%.64s has %zu values but inputs.%.64s has %zu: "
                            "every column needs one value per instance",
                            key, json_array_size(v), first, n);
        if (!first) {
            first = key;
            n = json_array_size(v);
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *row = json_object();
        if (!row || json_array_append_new(rows, row)) /* the array owns row either way */
            return enc_errf(err, ENC_ENOMEM, "out of memory");
        json_object_foreach((json_t *)cols, key, v) {
            if (json_object_set(row, key, json_array_get(v, i)))
                return enc_errf(err, ENC_ENOMEM, "out of memory");
        }
    }
    return 0;
}

int v1forms_normalize(const json_t *root, const struct model_io *io, json_t **out, enc_err *err)
{
    *out = NULL;
    if (!json_is_object(root))
        return enc_errf(err, ENC_EINVAL, "the body must be a JSON object");
    const char *key;
    json_t *v, *inst = NULL, *inputs = NULL;
    json_object_foreach((json_t *)root, key, v) {
        if (!strcmp(key, "instances"))
            inst = v;
        else if (!strcmp(key, "inputs"))
            inputs = v;
        else if (!strcmp(key, "signature_name")) {
            if (!json_is_string(v))
                return enc_errf(err, ENC_EINVAL, "'signature_name' must be a string");
        } else if (!strcmp(key, "parameters")) {
            if (!json_is_object(v))
                return enc_errf(err, ENC_EINVAL, "'parameters' must be an object");
        } else
            return enc_errf(err, ENC_EINVAL,
                            "unknown field '%.64s' (expected 'instances' or "
                            "'inputs', and optionally 'signature_name', 'parameters')",
                            key);
    }
    if (inst && inputs)
        return enc_errf(err, ENC_EINVAL, "give 'instances' or 'inputs', not both");
    if (!inst && !inputs)
        return enc_errf(err, ENC_EINVAL,
                        "'instances' is required: an array of instances (or "
                        "'inputs', in row or columnar form)");
    const char *field = inst ? "instances" : "inputs";
    json_t *src = inst ? inst : inputs;
    json_t *rows = json_array();
    int rc = rows ? 0 : enc_errf(err, ENC_ENOMEM, "out of memory");
    if (rc)
        ;
    else if (inputs && json_is_object(inputs)) {
        json_t *named =
            json_object_size(inputs) == 1 ? json_object_get(inputs, input_name(io)) : NULL;
        if (named && !is_feature(io, input_name(io))) {
            if (json_is_string(named) && io->kind == MODEL_INPUT_TEXT)
                rc = push(rows, named, err);
            else if (!json_is_array(named))
                rc = enc_errf(err, ENC_EINVAL,
                              "inputs.%s must be an array with one entry per "
                              "instance",
                              input_name(io));
            else
                for (size_t i = 0; !rc && i < json_array_size(named); i++)
                    rc = push(rows, json_array_get(named, i), err);
        } else if (io->feature_names && io->kind != MODEL_INPUT_TEXT)
            rc = transpose(inputs, io, rows, err);
        else
            rc = enc_errf(err, ENC_EINVAL,
                          "columnar 'inputs' names this model's one input: "
                          "{\"inputs\": {\"%s\": [...]}} (or send {\"inputs\": [...]})",
                          input_name(io));
    } else if (inputs && json_is_string(inputs) && io->kind == MODEL_INPUT_TEXT)
        rc = push(rows, inputs, err);
    else if (!json_is_array(src))
        rc = enc_errf(err, ENC_EINVAL, "'%s' must be an array of instances, got %s", field,
                      json_is_object(src) ? "an object" : "a scalar");
    else
        for (size_t i = 0; !rc && i < json_array_size(src); i++)
            rc = push(rows, unwrap_row(json_array_get(src, i), io), err);
    json_t *wrap = rc ? NULL : json_object();
    if (!rc && (!wrap || json_object_set(
                             wrap, inst || !json_is_array(inputs) ? "instances" : "inputs", rows)))
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    json_decref(rows);
    if (rc) {
        json_decref(wrap);
        return rc;
    }
    *out = wrap;
    return 0;
}
