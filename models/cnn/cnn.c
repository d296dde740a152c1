/*
 * cnn.c - the CNN family's model file (cnn_write / cnn_from_file, layout in
 * cnn.h; every shape, count and value checked) and its model_ops row. The
 * architecture is parsed in cnn_arch.c, the passes run in cnn_layers.c,
 * training in cnn_train.c.
 */
#include "cnn/cnn.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/strv.h"

/* ---- files -------------------------------------------------------------- */

static int meta_f(st_writer *w, const char *key, double v)
{
    char b[64];
    snprintf(b, sizeof b, "%.9g", v);
    return st_writer_meta(w, key, b);
}

/* Shape of layer L's weight tensor into ws; returns its rank. */
static int weight_shape(const struct cnn_layer *L, int64_t ws[4])
{
    switch (L->kind) {
    case CNN_CONV:
        ws[0] = L->filters;
        ws[1] = ws[2] = L->k;
        ws[3] = L->in_c;
        return 4;
    case CNN_BN:
        ws[0] = L->units;
        return 1;
    default:
        ws[0] = L->units;
        ws[1] = L->in_c;
        return 2;
    }
}

int cnn_write(const struct cnn_net *net, st_writer *w, const json_t *hyper, const char *fingerprint)
{
    int rc = model_write_common_meta(w, "cnn", hyper, fingerprint);
    rc = rc ? rc : st_writer_meta(w, "arch", net->arch);
    rc = rc ? rc : meta_f(w, "input_height", net->in_h);
    rc = rc ? rc : meta_f(w, "input_width", net->in_w);
    rc = rc ? rc : meta_f(w, "input_channels", net->in_c);
    rc = rc ? rc : meta_f(w, "input_max", net->input_max);
    rc = rc ? rc : meta_f(w, "input_scale", net->input_scale);
    rc = rc ? rc : meta_f(w, "input_offset", net->input_offset);
    for (int i = 0; i < net->n_layers && !rc; i++) {
        const struct cnn_layer *L = &net->layers[i];
        if (!L->n_w)
            continue;
        char name[64];
        int64_t ws[4], bs[1] = {(int64_t)L->n_b};
        int wd = weight_shape(L, ws);
        snprintf(name, sizeof name, "layers.%d.weight", i);
        rc = st_writer_add(w, name, ST_F32, wd, ws, net->params + L->w_off);
        snprintf(name, sizeof name, "layers.%d.bias", i);
        rc = rc ? rc : st_writer_add(w, name, ST_F32, 1, bs, net->params + L->b_off);
        if (L->kind == CNN_BN) {
            snprintf(name, sizeof name, "layers.%d.running_mean", i);
            rc = rc ? rc : st_writer_add(w, name, ST_F32, 1, bs, net->stats + L->s_off);
            snprintf(name, sizeof name, "layers.%d.running_var", i);
            rc = rc ? rc : st_writer_add(w, name, ST_F32, 1, bs, net->stats + L->s_off + L->units);
        }
    }
    rc = rc ? rc
            : st_writer_add_strings(w, "class_names", (const char *const *)net->class_names, NULL,
                                    (size_t)net->n_classes);
    return rc;
}

/* A required numeric metadata value within [lo, hi]. */
static int meta_num(const st_file *f, const char *key, double lo, double hi, double *v,
                    enc_err *err)
{
    const char *s = st_meta(f, key);
    if (!s)
        return enc_errf(err, ENC_EFORMAT, "metadata '%s' missing", key);
    char *end;
    errno = 0;
    double x = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(x) || x < lo || x > hi)
        return enc_errf(err, ENC_EFORMAT,
                        "metadata '%s' = '%.40s': expected a number in "
                        "[%g, %g]",
                        key, s, lo, hi);
    *v = x;
    return 0;
}

/* Layer i's tensors in f, shapes checked against the layer: weight, bias
 * and for batch norm the running mean and variance (tm, tv; else NULL). */
static int layer_tensors(const st_file *f, const struct cnn_layer *L, int i, const st_tensor **tw,
                         const st_tensor **tb, const st_tensor **tm, const st_tensor **tv,
                         enc_err *err)
{
    char name[64];
    int64_t ws[4], bs[1] = {(int64_t)L->n_b};
    int wd = weight_shape(L, ws);
    int rc;
    *tm = *tv = NULL;
    snprintf(name, sizeof name, "layers.%d.weight", i);
    if ((rc = st_expect(f, name, ST_F32, wd, ws, tw, err)))
        return rc;
    snprintf(name, sizeof name, "layers.%d.bias", i);
    if ((rc = st_expect(f, name, ST_F32, 1, bs, tb, err)) || L->kind != CNN_BN)
        return rc;
    snprintf(name, sizeof name, "layers.%d.running_mean", i);
    if ((rc = st_expect(f, name, ST_F32, 1, bs, tm, err)))
        return rc;
    snprintf(name, sizeof name, "layers.%d.running_var", i);
    return st_expect(f, name, ST_F32, 1, bs, tv, err);
}

/* Every tensor `arch` needs is in f with its shape: checked on a plan of
 * the network (cnn_plan) before anything is allocated for its parameters,
 * so that a file of metadata alone (30 batch norms on a 2048 x 2048 input:
 * 1 GB of parameters, in 400 bytes) is refused for the cost of reading it. */
static int check_before_alloc(const st_file *f, const char *arch, int h, int w, int c, enc_err *err)
{
    struct cnn_net *plan;
    int rc = cnn_plan(arch, h, w, c, &plan, err);
    if (rc) {
        enc_err_prefix(err, "metadata 'arch'");
        return ENC_EFORMAT;
    }
    for (int i = 0; rc == 0 && i < plan->n_layers; i++) {
        const st_tensor *tw, *tb, *tm, *tv;
        if (plan->layers[i].n_w)
            rc = layer_tensors(f, &plan->layers[i], i, &tw, &tb, &tm, &tv, err);
    }
    cnn_free(plan);
    return rc;
}

int cnn_from_file(const st_file *f, struct cnn_net **out, enc_err *err)
{
    *out = NULL;
    const char *arch = st_meta(f, "arch");
    if (!arch)
        return enc_errf(err, ENC_EFORMAT, "metadata 'arch' missing");
    double h, w, c, mx, sc, of;
    int rc = meta_num(f, "input_height", 1, 4096, &h, err);
    rc = rc ? rc : meta_num(f, "input_width", 1, 4096, &w, err);
    rc = rc ? rc : meta_num(f, "input_channels", 1, 64, &c, err);
    rc = rc ? rc : meta_num(f, "input_max", 1, 1e6, &mx, err);
    rc = rc ? rc : meta_num(f, "input_scale", -1e6, 1e6, &sc, err);
    rc = rc ? rc : meta_num(f, "input_offset", -1e6, 1e6, &of, err);
    if (rc)
        return rc;
    if (h != floor(h) || w != floor(w) || c != floor(c))
        return enc_errf(err, ENC_EFORMAT, "metadata input_height/width/channels must be integers");
    if ((rc = check_before_alloc(f, arch, (int)h, (int)w, (int)c, err)))
        return rc;
    struct cnn_net *net;
    rc = cnn_new(arch, (int)h, (int)w, (int)c, &net, err);
    if (rc)
        return rc;
    net->input_max = (float)mx;
    net->input_scale = (float)sc;
    net->input_offset = (float)of;
    net->io.max_value = mx;
    size_t expected = 2; /* class_names.bytes / .offsets */
    for (int i = 0; i < net->n_layers; i++) {
        const struct cnn_layer *L = &net->layers[i];
        if (!L->n_w)
            continue;
        const st_tensor *tw, *tb, *tm, *tv;
        if ((rc = layer_tensors(f, L, i, &tw, &tb, &tm, &tv, err)))
            goto fail;
        memcpy(net->params + L->w_off, tw->data, L->n_w * sizeof(float));
        memcpy(net->params + L->b_off, tb->data, L->n_b * sizeof(float));
        expected += 2;
        if (L->kind != CNN_BN)
            continue;
        float *rm = net->stats + L->s_off, *rv = rm + L->units;
        memcpy(rm, tm->data, L->n_b * sizeof(float));
        memcpy(rv, tv->data, L->n_b * sizeof(float));
        for (int j = 0; j < L->units; j++)
            if (!isfinite(rm[j]) || !isfinite(rv[j]) || rv[j] < 0) {
                rc = enc_errf(err, ENC_EFORMAT,
                              "layers.%d.running_mean/var[%d] = %g / %g: "
                              "expected finite values and a variance >= 0",
                              i, j, rm[j], rv[j]);
                goto fail;
            }
        expected += 2;
    }
    for (size_t j = 0; j < net->n_params; j++)
        if (!isfinite(net->params[j])) {
            rc = enc_errf(err, ENC_EFORMAT, "parameter %zu is not finite", j);
            goto fail;
        }
    st_strings names;
    if ((rc = st_expect_strings(f, "class_names", net->n_classes, &names, err)))
        goto fail;
    for (int i = 0; i < net->n_classes; i++) {
        size_t len;
        const char *s = st_str(&names, (size_t)i, &len);
        char *d = strndup(s, len);
        if (!d) {
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
            goto fail;
        }
        free(net->class_names[i]);
        net->class_names[i] = d;
    }
    if (st_tensor_count(f) != expected) {
        rc = enc_errf(err, ENC_EFORMAT, "%zu tensors, the arch '%s' has %zu", st_tensor_count(f),
                      arch, expected);
        goto fail;
    }
    *out = net;
    return 0;
fail:
    cnn_free(net);
    return rc;
}

/* ---- the family row ----------------------------------------------------- */

static int ops_load(const st_file *f, const struct model_load_opts *opts, void **state,
                    enc_err *err)
{
    struct cnn_net *net;
    int rc = cnn_from_file(f, &net, err);
    *state = rc ? NULL : net;
    return rc;
}

static void ops_free(void *state)
{
    cnn_free(state);
}

static size_t ops_mem_usage(const void *state)
{
    const struct cnn_net *net = state;
    size_t s = sizeof *net + (net->n_params + net->n_stats) * sizeof(float);
    for (int i = 0; i < net->n_classes; i++)
        s += strlen(net->class_names[i]) + 1;
    return s;
}

static int ops_describe(const void *state, json_t *obj)
{
    const struct cnn_net *net = state;
    int bad = json_object_set_new(obj, "arch", json_string(net->arch));
    bad |= json_object_set_new(obj, "parameters", json_integer((json_int_t)net->n_params));
    bad |= json_object_set_new(obj, "input_shape",
                               json_pack("[i,i,i]", net->in_h, net->in_w, net->in_c));
    bad |= json_object_set_new(obj, "input_max", json_real(net->input_max));
    bad |= json_object_set_new(obj, "class_names",
                               strv_json(net->class_names, (size_t)net->n_classes));
    return bad ? ENC_ENOMEM : 0;
}

static const struct model_io *ops_io(const void *state)
{
    return &((const struct cnn_net *)state)->io;
}

static int ops_predict(const void *state, const struct model_batch *batch, float *prob,
                       enc_err *err)
{
    if (!batch->x)
        return enc_errf(err, ENC_EINVAL, "the cnn family takes numeric instances");
    return cnn_predict(state, batch->x, batch->n, prob, err);
}

static int ops_write(const void *data, st_writer *w, const json_t *hyper, const char *fingerprint)
{
    return cnn_write(data, w, hyper, fingerprint);
}

const struct model_ops cnn_ops = {
    .family = "cnn",
    .task = MODEL_TASK_CLASSIFY,
    .load = ops_load,
    .free = ops_free,
    .mem_usage = ops_mem_usage,
    .describe = ops_describe,
    .write = ops_write,
    .io = ops_io,
    .predict = ops_predict,
};
