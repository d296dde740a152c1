/*
 * cnn_arch.c - the CNN family's architecture: parsing an arch string
 * ("conv32k3same,relu,pool2,flatten,dense10") into layers with their shapes
 * and parameter offsets (cnn_new), freeing, class names, and weight
 * initialisation (cnn_init). The passes are in cnn_layers.c, the model file
 * and the family row in cnn.c, training in cnn_train.c.
 */
#include "cnn/cnn.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "core/strv.h"

/* ---- arch ------------------------------------------------------------- */

/* Parse a non-negative integer at *p (advances). */
static int parse_int(const char **p, int *v)
{
    const char *s = *p;
    long x = 0;
    if (!isdigit((unsigned char)*s))
        return -1;
    while (isdigit((unsigned char)*s) && x < 1000000)
        x = x * 10 + (*s++ - '0');
    if (x >= 1000000)
        return -1;
    *p = s;
    *v = (int)x;
    return 0;
}

/* Parse one spec item (NUL-terminated) into *L (kind and hyperparameters). */
static int parse_item(const char *item, struct cnn_layer *L, enc_err *err)
{
    memset(L, 0, sizeof *L);
    const char *p = item;
    if (strcmp(item, "relu") == 0) {
        L->kind = CNN_RELU;
        return 0;
    }
    if (strcmp(item, "flatten") == 0) {
        L->kind = CNN_FLATTEN;
        return 0;
    }
    if (strcmp(item, "bn") == 0) {
        L->kind = CNN_BN;
        return 0;
    }
    if (strcmp(item, "pool2") == 0 || strcmp(item, "maxpool2") == 0) {
        L->kind = CNN_POOL;
        return 0;
    }
    if (strncmp(item, "conv", 4) == 0) {
        p += 4;
        L->kind = CNN_CONV;
        if (parse_int(&p, &L->filters) || *p != 'k' || (p++, parse_int(&p, &L->k)))
            goto bad;
        if (strcmp(p, "same") == 0) {
            if (L->k % 2 == 0)
                return enc_errf(err, ENC_EINVAL,
                                "arch item '%s': \"same\" padding needs an odd "
                                "kernel size",
                                item);
            L->pad = (L->k - 1) / 2;
        } else if (*p && strcmp(p, "valid") != 0) {
            goto bad;
        }
        if (L->filters < 1 || L->filters > 4096 || L->k < 1 || L->k > 15)
            return enc_errf(err, ENC_EINVAL,
                            "arch item '%s': filters must be 1..4096 and the "
                            "kernel 1..15",
                            item);
        return 0;
    }
    if (strncmp(item, "dense", 5) == 0) {
        p += 5;
        L->kind = CNN_DENSE;
        if (parse_int(&p, &L->units) || *p)
            goto bad;
        if (L->units < 1 || L->units > 65536)
            return enc_errf(err, ENC_EINVAL, "arch item '%s': units must be 1..65536", item);
        return 0;
    }
    if (strncmp(item, "dropout", 7) == 0) {
        p += 7;
        L->kind = CNN_DROPOUT;
        char *end;
        errno = 0;
        double r = strtod(p, &end);
        if (end == p || *end || errno || !(r >= 0 && r < 1))
            return enc_errf(err, ENC_EINVAL,
                            "arch item '%s': expected dropoutR with 0 <= R < 1 "
                            "(e.g. dropout0.5)",
                            item);
        L->rate = (float)r;
        return 0;
    }
bad:
    return enc_errf(err, ENC_EINVAL,
                    "arch item '%s': expected convFkK[same|valid], relu, pool2, "
                    "flatten, denseN, dropoutR or bn",
                    item);
}

void cnn_free(struct cnn_net *net)
{
    if (!net)
        return;
    strv_free(net->class_names, (size_t)net->n_classes);
    free(net->params);
    free(net->stats);
    free(net->arch);
    free(net);
}

int cnn_set_class_names(struct cnn_net *net, const char *const *names)
{
    for (int i = 0; i < net->n_classes; i++) {
        char *s = strdup(names[i]);
        if (!s)
            return ENC_ENOMEM;
        free(net->class_names[i]);
        net->class_names[i] = s;
    }
    return 0;
}

/* The next comma-separated item of `arch` at *p into item[cap] (advances).
 * Returns 1 (an item), 0 (the end) or ENC_EINVAL. */
static int next_item(const char *arch, const char **p, char *item, size_t cap, enc_err *err)
{
    if (!**p)
        return 0;
    const char *comma = strchr(*p, ',');
    size_t len = comma ? (size_t)(comma - *p) : strlen(*p);
    if (len == 0 || len >= cap)
        return enc_errf(err, ENC_EINVAL, "arch '%s': empty or overlong item at offset %zu", arch,
                        (size_t)(*p - arch));
    memcpy(item, *p, len);
    item[len] = 0;
    *p += len + (comma ? 1 : 0);
    if (comma && !**p)
        return enc_errf(err, ENC_EINVAL, "arch '%s': trailing comma", arch);
    return 1;
}

/* Where the layers placed so far leave the activation, and what they used. */
struct placing {
    int h, w, c;      /* the next layer's input */
    int flat;         /* past flatten / dense */
    size_t off, soff; /* parameters and running statistics so far */
};

/* Give the parsed layer L (item number n, 1-based) its input and output
 * shapes, its parameter and statistics offsets, and check its size;
 * advances *at. 0 or ENC_EINVAL. */
static int place_layer(struct cnn_net *net, struct cnn_layer *L, int n, const char *item,
                       struct placing *at, enc_err *err)
{
    const int ch = at->h, cw = at->w, cc = at->c;
    L->in_h = ch;
    L->in_w = cw;
    L->in_c = cc;
    if ((L->kind == CNN_CONV || L->kind == CNN_POOL) && at->flat)
        return enc_errf(err, ENC_EINVAL, "arch item %d '%s': comes after flatten/dense", n, item);
    switch (L->kind) {
    case CNN_CONV:
        L->out_h = ch + 2 * L->pad - L->k + 1;
        L->out_w = cw + 2 * L->pad - L->k + 1;
        L->out_c = L->filters;
        L->n_w = (size_t)L->filters * L->k * L->k * cc;
        L->n_b = (size_t)L->filters;
        size_t cols = (size_t)(L->out_h > 0 ? L->out_h : 0) * (L->out_w > 0 ? L->out_w : 0) * L->k *
                      L->k * cc;
        if (cols > net->max_cols)
            net->max_cols = cols;
        break;
    case CNN_POOL:
        L->out_h = ch / 2;
        L->out_w = cw / 2;
        L->out_c = cc;
        break;
    case CNN_DENSE:
        L->in_c = ch * cw * cc;
        L->in_h = L->in_w = 1;
        L->out_h = L->out_w = 1;
        L->out_c = L->units;
        L->n_w = (size_t)L->units * L->in_c;
        L->n_b = (size_t)L->units;
        at->flat = 1;
        break;
    case CNN_FLATTEN:
        at->flat = 1;
        L->out_h = ch; /* shape unchanged: NHWC is already flat */
        L->out_w = cw;
        L->out_c = cc;
        break;
    case CNN_BN:
        /* per channel on images, per feature once flat (BatchNorm1d
         * after nn.Flatten / nn.Linear) */
        L->units = at->flat ? ch * cw * cc : cc;
        L->out_h = ch;
        L->out_w = cw;
        L->out_c = cc;
        L->n_w = L->n_b = (size_t)L->units; /* gamma, beta */
        L->s_off = at->soff;
        at->soff += 2 * (size_t)L->units; /* running mean, running var */
        break;
    default:
        L->out_h = ch;
        L->out_w = cw;
        L->out_c = cc;
    }
    if (L->out_h < 1 || L->out_w < 1)
        return enc_errf(err, ENC_EINVAL, "arch item %d '%s': the %d x %d input shrinks to nothing",
                        n, item, ch, cw);
    L->w_off = at->off;
    at->off += L->n_w;
    L->b_off = at->off;
    at->off += L->n_b;
    size_t act = (size_t)L->out_h * L->out_w * L->out_c;
    if (act > ((size_t)1 << 26) || at->off > ((size_t)1 << 28))
        return enc_errf(err, ENC_EINVAL, "arch item %d '%s': network too large", n, item);
    if (act > net->max_act)
        net->max_act = act;
    at->h = L->out_h;
    at->w = L->out_w;
    at->c = L->out_c;
    return 0;
}

/* Parameters (zero; batch norm's gamma 1), running statistics (mean 0,
 * var 1) and class names "0".."K-1". 0 or ENC_ENOMEM. */
static int alloc_params(struct cnn_net *net, size_t n_params, size_t n_stats, enc_err *err)
{
    net->n_params = n_params;
    net->params = calloc(n_params ? n_params : 1, sizeof *net->params);
    net->n_stats = n_stats;
    net->stats = calloc(n_stats ? n_stats : 1, sizeof *net->stats);
    net->class_names = calloc((size_t)net->n_classes, sizeof *net->class_names);
    if (!net->params || !net->stats || !net->class_names)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    for (int i = 0; i < net->n_layers; i++) {
        const struct cnn_layer *L = &net->layers[i];
        if (L->kind == CNN_BN) /* gamma 1 (beta 0), running var 1 (mean 0) */
            for (int j = 0; j < L->units; j++) {
                net->params[L->w_off + j] = 1.0f;
                net->stats[L->s_off + L->units + j] = 1.0f;
            }
    }
    for (int i = 0; i < net->n_classes; i++) {
        char b[16];
        snprintf(b, sizeof b, "%d", i);
        if (!(net->class_names[i] = strdup(b)))
            return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    return 0;
}

/* 8-bit pixels scaled to 0..1, and the model_io the server checks against. */
static void set_input(struct cnn_net *net)
{
    const int h = net->in_h, w = net->in_w, c = net->in_c;
    net->input_scale = 1.0f / 255.0f;
    net->input_offset = 0;
    net->input_max = 255;
    net->io.kind = MODEL_INPUT_NUMERIC;
    net->io.n_features = (size_t)h * w * c;
    net->io.ndim = c == 1 ? 2 : 3;
    net->io.shape[0] = h;
    net->io.shape[1] = w;
    net->io.shape[2] = c == 1 ? 0 : c;
    net->io.min_value = 0;
    net->io.max_value = 255;
    net->io.n_classes = (size_t)net->n_classes;
    net->io.class_names = (const char *const *)net->class_names;
}

/* cnn_new (alloc) or cnn_plan (!alloc). */
static int build(const char *arch, int h, int w, int c, int alloc, struct cnn_net **out,
                 enc_err *err)
{
    *out = NULL;
    if (h < 1 || w < 1 || c < 1 || h > 4096 || w > 4096 || c > 64)
        return enc_errf(err, ENC_EINVAL, "input %d x %d x %d out of range", h, w, c);
    struct cnn_net *net = calloc(1, sizeof *net);
    if (!net || !(net->arch = strdup(arch))) {
        free(net);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    net->in_h = h;
    net->in_w = w;
    net->in_c = c;
    net->max_act = (size_t)h * w * c;
    struct placing at = {.h = h, .w = w, .c = c};
    char item[64];
    const char *p = arch;
    int rc;
    while ((rc = next_item(arch, &p, item, sizeof item, err)) == 1) {
        if (net->n_layers == CNN_MAX_LAYERS) {
            rc = enc_errf(err, ENC_EINVAL, "arch '%s': more than %d layers", arch, CNN_MAX_LAYERS);
            goto fail;
        }
        struct cnn_layer *L = &net->layers[net->n_layers];
        if ((rc = parse_item(item, L, err)) ||
            (rc = place_layer(net, L, net->n_layers + 1, item, &at, err)))
            goto fail;
        net->n_layers++;
    }
    if (rc)
        goto fail;
    if (net->n_layers == 0 || net->layers[net->n_layers - 1].kind != CNN_DENSE) {
        rc = enc_errf(err, ENC_EINVAL, "arch '%s': the last layer must be denseN (N = classes)",
                      arch);
        goto fail;
    }
    net->n_classes = net->layers[net->n_layers - 1].units;
    if (net->n_classes < 2 || net->n_classes > CNN_MAX_CLASSES) {
        rc = enc_errf(err, ENC_EINVAL, "arch '%s': %d classes (expected 2..%d)", arch,
                      net->n_classes, CNN_MAX_CLASSES);
        goto fail;
    }
    if (!alloc) {
        net->n_params = at.off;
        net->n_stats = at.soff;
        *out = net;
        return 0;
    }
    if ((rc = alloc_params(net, at.off, at.soff, err)))
        goto fail;
    set_input(net);
    *out = net;
    return 0;
fail:
    cnn_free(net);
    return rc;
}

int cnn_new(const char *arch, int h, int w, int c, struct cnn_net **out, enc_err *err)
{
    return build(arch, h, w, c, 1, out, err);
}

int cnn_plan(const char *arch, int h, int w, int c, struct cnn_net **out, enc_err *err)
{
    return build(arch, h, w, c, 0, out, err);
}

/* ---- initialisation: core/rng.h's splitmix64 as a hash chain ------------ */

void cnn_init(struct cnn_net *net, uint64_t seed, enum cnn_init scheme)
{
    uint64_t s = rng_hash(seed ^ 0x5EEDull);
    for (int i = 0; i < net->n_layers; i++) {
        struct cnn_layer *L = &net->layers[i];
        if (L->kind == CNN_BN) { /* no draws: bn-free archs keep their weights */
            for (int c = 0; c < L->units; c++) {
                net->params[L->w_off + c] = 1.0f;
                net->params[L->b_off + c] = 0.0f;
                net->stats[L->s_off + c] = 0.0f;
                net->stats[L->s_off + L->units + c] = 1.0f;
            }
            continue;
        }
        if (!L->n_w)
            continue;
        /* He where a ReLU follows (through pooling / flatten / dropout / bn). */
        int relu = 0;
        for (int j = i + 1; j < net->n_layers; j++) {
            enum cnn_kind k = net->layers[j].kind;
            if (k == CNN_RELU)
                relu = 1;
            if (k != CNN_POOL && k != CNN_FLATTEN && k != CNN_DROPOUT && k != CNN_BN)
                break;
        }
        double fan_in = L->kind == CNN_CONV ? (double)L->k * L->k * L->in_c : L->in_c;
        double fan_out = L->kind == CNN_CONV ? (double)L->k * L->k * L->filters : L->units;
        double lim = scheme == CNN_INIT_UNIFORM      ? 1.0 / sqrt(fan_in)
                     : scheme == CNN_INIT_HE && relu ? sqrt(6.0 / fan_in)
                                                     : sqrt(6.0 / (fan_in + fan_out));
        float *W = net->params + L->w_off;
        for (size_t j = 0; j < L->n_w; j++) {
            s = rng_hash(s);
            W[j] = (float)((2.0 * rng_unit24(s) - 1.0) * lim);
        }
        memset(net->params + L->b_off, 0, L->n_b * sizeof(float));
    }
}
