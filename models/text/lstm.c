/*
 * lstm.c - the text family's recurrent classifier:
 *
 *   token ids -> embedding (E) -> dropout -> LSTM (H, gates i f g o)
 *             -> pool over the real steps (last | mean | max) -> dropout
 *             -> dense (K) -> softmax, cross-entropy loss
 *
 * Sequences are truncated to max_len tokens and padded per batch to the
 * longest one; a padded step copies the previous state (as PyTorch's packed
 * sequences do), so padding never changes a result. Training is minibatch
 * Adam with global-norm gradient clipping and truncated BPTT (the recurrent
 * gradient is cut every `bptt` steps; 0 = full BPTT). All gate matmuls go
 * through cblas_sgemm over the whole batch: the input projection for every
 * step at once, then one (B x H)(H x 4H) product per step.
 *
 * Initialisation follows PyTorch's defaults (embedding N(0,1); LSTM and
 * dense U(-1/sqrt(H), 1/sqrt(H)), the gate bias the sum of two such draws)
 * so bench/lstm_torch.py trains the same model the same way; optionally the
 * forget-gate bias is then set to a constant (text_lstm_params.forget_bias).
 * Everything random comes from splitmix64 seeded by --seed, so a run is
 * deterministic for a given seed and thread count.
 */
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/rng.h"
#include "core/strv.h"
#include "text/text_int.h"

#define LSTM_PAD 0
#define LSTM_UNK 1
#define LSTM_BUCKET 20 /* batches per length-sorted chunk */

struct len_key {
    int len;
    int32_t pos; /* tie-break: keeps the sort deterministic */
    size_t ex;
};

static int cmp_len_key(const void *a, const void *b)
{
    const struct len_key *x = a, *y = b;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return (x->pos > y->pos) - (x->pos < y->pos);
}

void text_lstm_defaults(struct text_lstm_params *p)
{
    memset(p, 0, sizeof *p);
    p->min_count = 1;
    p->max_vocab = 30000;
    p->emb_dim = 100;
    p->hidden = 128;
    p->max_len = 64;
    p->bptt = 0;
    p->pool = TEXT_POOL_MAX;
    p->epochs = 5;
    p->batch = 32;
    p->lr = 0.001;
    p->clip = 5.0;
    p->dropout = 0.5;
    p->seed = 1;
    p->threads = 1;
    p->forget_bias = TEXT_FORGET_BIAS;
}

static double rand_normal(uint64_t *rng)
{
    double u1 = rng_uniform(rng), u2 = rng_uniform(rng);
    if (u1 < 1e-300)
        u1 = 1e-300;
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

static float sigm(float x)
{
    return 1.0f / (1.0f + expf(-x));
}

/* tanh through expf: glibc's tanhf (via expm1f) was 17% of a training
 * profile; this form is within a few float ulps away from 0. */
static float tanh_fast(float x)
{
    if (fabsf(x) < 0.02f) /* avoid cancellation: tanh x = x - x^3/3 + ... */
        return x * (1.0f - x * x * (1.0f / 3.0f));
    return 2.0f / (1.0f + expf(-2.0f * x)) - 1.0f;
}

/* One Adam step on n parameters (PyTorch's formulation, bias corrections
 * folded into lr_t and e_t). A separate function so it can be compiled
 * without errno-setting sqrtf, which lets GCC vectorise it. */
#if defined(__clang__) /* clang has no optimize attribute (and never sets errno in sqrtf) */
#define LSTM_NO_ERRNO
#else
#define LSTM_NO_ERRNO __attribute__((optimize("no-math-errno")))
#endif
LSTM_NO_ERRNO static void adam_step(float *restrict q, const float *restrict g, float *restrict am,
                                    float *restrict av, size_t n, float scale, float lr_t,
                                    float e_t)
{
    const float b1 = 0.9f, b2 = 0.999f;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i] * scale;
        am[i] = b1 * am[i] + (1.0f - b1) * gi;
        av[i] = b2 * av[i] + (1.0f - b2) * gi * gi;
        q[i] -= lr_t * am[i] / (sqrtf(av[i]) + e_t);
    }
}

int text_lstm_blocks(const struct text_model *m, float **ptr, size_t *size)
{
    size_t V = tok_vocab_size(m->vocab) + 2, E = m->emb_dim, H = m->hidden, K = m->n_classes;
    float *p[6] = {m->emb, m->wx, m->wh, m->bg, m->wo, m->bo};
    size_t s[6] = {V * E, E * 4 * H, H * 4 * H, 4 * H, H * K, K};
    for (int i = 0; i < 6; i++) {
        if (ptr)
            ptr[i] = p[i];
        size[i] = s[i];
    }
    return 6;
}

int text_lstm_ids(const struct text_model *m, const char *s, size_t len, int32_t *ids)
{
    struct tok_span *sp = malloc((size_t)m->max_len * sizeof *sp);
    if (!sp)
        return ENC_ENOMEM;
    size_t n = tok_split(s, len, sp, (size_t)m->max_len);
    if (n > (size_t)m->max_len)
        n = (size_t)m->max_len;
    char tok[TOK_MAX_LEN];
    for (size_t i = 0; i < n; i++) {
        size_t tl = tok_copy_lower(s, sp[i], tok);
        int64_t id = tok_vocab_find(m->vocab, tok, tl);
        ids[i] = id < 0 ? LSTM_UNK : (int32_t)id + 2;
    }
    free(sp);
    return (int)n;
}

/* ---- forward / backward over one batch -------------------------------- */

struct ws {
    size_t B, E, H, K;
    int T;
    float *X;                   /* [T][B][E] embedded (and dropped-out) inputs */
    float *xmask;               /* [T][B][E] dropout scale, or NULL */
    float *G;                   /* [T][B][4H] gate activations i f g o */
    float *Cs;                  /* [T+1][B][H] cell states, Cs[0] = 0 */
    float *Hs;                  /* [T+1][B][H] hidden states, Hs[0] = 0 */
    float *TC;                  /* [T][B][H] tanh(c) */
    float *P;                   /* [B][H] pooled (after dropout) */
    float *pmask;               /* [B][H] dropout scale, or NULL */
    int32_t *arg;               /* [B][H] max-pool step */
    float *prob;                /* [B][K] */
    float *dA;                  /* [T][B][4H] */
    float *dX;                  /* [T][B][E] */
    float *dH, *dC, *dP, *dlog; /* [B][H] x3, [B][K] */
};

static void ws_free(struct ws *w)
{
    free(w->X);
    free(w->xmask);
    free(w->G);
    free(w->Cs);
    free(w->Hs);
    free(w->TC);
    free(w->P);
    free(w->pmask);
    free(w->arg);
    free(w->prob);
    free(w->dA);
    free(w->dX);
    free(w->dH);
    free(w->dC);
    free(w->dP);
    free(w->dlog);
}

static int ws_init(struct ws *w, const struct text_model *m, size_t B, int T, int train,
                   int dropout)
{
    memset(w, 0, sizeof *w);
    w->B = B;
    w->T = T;
    w->E = m->emb_dim;
    w->H = m->hidden;
    w->K = m->n_classes;
    size_t TB = (size_t)T * B, H = w->H;
    w->X = malloc(TB * w->E * sizeof(float));
    w->G = malloc(TB * 4 * H * sizeof(float));
    w->Cs = calloc((TB + B) * H, sizeof(float));
    w->Hs = calloc((TB + B) * H, sizeof(float));
    w->TC = malloc(TB * H * sizeof(float));
    w->P = malloc(B * H * sizeof(float));
    w->arg = malloc(B * H * sizeof(int32_t));
    w->prob = malloc(B * w->K * sizeof(float));
    int ok = w->X && w->G && w->Cs && w->Hs && w->TC && w->P && w->arg && w->prob;
    if (dropout) {
        w->xmask = malloc(TB * w->E * sizeof(float));
        w->pmask = malloc(B * H * sizeof(float));
        ok = ok && w->xmask && w->pmask;
    }
    if (train) {
        w->dA = malloc(TB * 4 * H * sizeof(float));
        w->dX = malloc(TB * w->E * sizeof(float));
        w->dH = malloc(B * H * sizeof(float));
        w->dC = malloc(B * H * sizeof(float));
        w->dP = malloc(B * H * sizeof(float));
        w->dlog = malloc(B * w->K * sizeof(float));
        ok = ok && w->dA && w->dX && w->dH && w->dC && w->dP && w->dlog;
    }
    if (!ok) {
        ws_free(w);
        memset(w, 0, sizeof *w);
        return ENC_ENOMEM;
    }
    return 0;
}

/* ids[i*T + t] for t < lens[i] (1 <= lens[i] <= T). Fills w->prob. With
 * dropout > 0 masks are drawn from rng. */
static void forward(const struct text_model *m, struct ws *w, const int32_t *ids, const int *lens,
                    double dropout, uint64_t *rng)
{
    const size_t B = w->B, E = w->E, H = w->H, K = w->K, H4 = 4 * H;
    const int T = w->T;
    const float keep_scale = dropout > 0 ? (float)(1.0 / (1.0 - dropout)) : 1.0f;
    for (int t = 0; t < T; t++)
        for (size_t i = 0; i < B; i++) {
            int32_t id = t < lens[i] ? ids[i * (size_t)T + (size_t)t] : LSTM_PAD;
            float *x = w->X + ((size_t)t * B + i) * E;
            memcpy(x, m->emb + (size_t)id * E, E * sizeof *x);
            if (w->xmask) {
                float *mk = w->xmask + ((size_t)t * B + i) * E;
                for (size_t e = 0; e < E; e++) {
                    mk[e] = rng_uniform(rng) < dropout ? 0.0f : keep_scale;
                    x[e] *= mk[e];
                }
            }
        }
    /* Input projections of every step at once: G = X wx + b. */
    size_t TB = (size_t)T * B;
    for (size_t r = 0; r < TB; r++)
        memcpy(w->G + r * H4, m->bg, H4 * sizeof(float));
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)TB, (int)H4, (int)E, 1.0f, w->X,
                (int)E, m->wx, (int)H4, 1.0f, w->G, (int)H4);
    for (int t = 0; t < T; t++) {
        float *Gt = w->G + (size_t)t * B * H4;
        const float *hprev = w->Hs + (size_t)t * B * H, *cprev = w->Cs + (size_t)t * B * H;
        float *hnext = w->Hs + (size_t)(t + 1) * B * H, *cnext = w->Cs + (size_t)(t + 1) * B * H;
        float *tc = w->TC + (size_t)t * B * H;
        if (B == 1) /* one sequence (predict): sgemv, no packing of wh per step */
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)H, (int)H4, 1.0f, m->wh, (int)H4, hprev, 1,
                        1.0f, Gt, 1);
        else
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)H4, (int)H, 1.0f,
                        hprev, (int)H, m->wh, (int)H4, 1.0f, Gt, (int)H4);
        for (size_t i = 0; i < B; i++) {
            float *a = Gt + i * H4;
            const float *cp = cprev + i * H, *hp = hprev + i * H;
            float *cn = cnext + i * H, *hn = hnext + i * H, *tci = tc + i * H;
            if (t >= lens[i]) {
                memcpy(cn, cp, H * sizeof *cn);
                memcpy(hn, hp, H * sizeof *hn);
                continue;
            }
            for (size_t u = 0; u < H; u++) {
                float ig = sigm(a[u]), fg = sigm(a[H + u]), gg = tanh_fast(a[2 * H + u]),
                      og = sigm(a[3 * H + u]);
                a[u] = ig;
                a[H + u] = fg;
                a[2 * H + u] = gg;
                a[3 * H + u] = og;
                cn[u] = fg * cp[u] + ig * gg;
                tci[u] = tanh_fast(cn[u]);
                hn[u] = og * tci[u];
            }
        }
    }
    /* Pooling over the real steps, then dropout. */
    for (size_t i = 0; i < B; i++) {
        float *p = w->P + i * H;
        int L = lens[i];
        for (size_t u = 0; u < H; u++) {
            if (m->pool == TEXT_POOL_LAST) {
                p[u] = w->Hs[((size_t)L * B + i) * H + u];
            } else if (m->pool == TEXT_POOL_MEAN) {
                float s = 0;
                for (int t = 1; t <= L; t++)
                    s += w->Hs[((size_t)t * B + i) * H + u];
                p[u] = s / (float)L;
            } else {
                float best = w->Hs[(1 * B + i) * H + u];
                int bt = 0;
                for (int t = 2; t <= L; t++) {
                    float v = w->Hs[((size_t)t * B + i) * H + u];
                    if (v > best) {
                        best = v;
                        bt = t - 1;
                    }
                }
                p[u] = best;
                w->arg[i * H + u] = bt;
            }
            if (w->pmask) {
                w->pmask[i * H + u] = rng_uniform(rng) < dropout ? 0.0f : keep_scale;
                p[u] *= w->pmask[i * H + u];
            }
        }
    }
    /* Dense + softmax. */
    for (size_t i = 0; i < B; i++)
        memcpy(w->prob + i * K, m->bo, K * sizeof(float));
    if (B == 1)
        cblas_sgemv(CblasRowMajor, CblasTrans, (int)H, (int)K, 1.0f, m->wo, (int)K, w->P, 1, 1.0f,
                    w->prob, 1);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)B, (int)K, (int)H, 1.0f, w->P,
                    (int)H, m->wo, (int)K, 1.0f, w->prob, (int)K);
    for (size_t i = 0; i < B; i++) {
        float *z = w->prob + i * K, mx = z[0];
        for (size_t k = 1; k < K; k++)
            mx = z[k] > mx ? z[k] : mx;
        double s = 0;
        for (size_t k = 0; k < K; k++)
            s += (z[k] = expf(z[k] - mx));
        for (size_t k = 0; k < K; k++)
            z[k] = (float)(z[k] / s);
    }
}

/* Gradient of the mean cross-entropy into grad blocks (overwritten). */
static void backward(const struct text_model *m, struct ws *w, const int32_t *ids, const int *lens,
                     const int32_t *y, int bptt, float **g)
{
    const size_t B = w->B, E = w->E, H = w->H, K = w->K, H4 = 4 * H;
    const int T = w->T;
    const size_t TB = (size_t)T * B;
    float *gemb = g[0], *gwx = g[1], *gwh = g[2], *gb = g[3], *gwo = g[4], *gbo = g[5];
    for (size_t i = 0; i < B; i++)
        for (size_t k = 0; k < K; k++)
            w->dlog[i * K + k] =
                (w->prob[i * K + k] - (y[i] == (int32_t)k ? 1.0f : 0.0f)) / (float)B;
    /* dense */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)H, (int)K, (int)B, 1.0f, w->P, (int)H,
                w->dlog, (int)K, 0.0f, gwo, (int)K);
    for (size_t k = 0; k < K; k++) {
        float s = 0;
        for (size_t i = 0; i < B; i++)
            s += w->dlog[i * K + k];
        gbo[k] = s;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)H, (int)K, 1.0f, w->dlog,
                (int)K, m->wo, (int)K, 0.0f, w->dP, (int)H);
    if (w->pmask)
        for (size_t r = 0; r < B * H; r++)
            w->dP[r] *= w->pmask[r];
    /* through time */
    memset(w->dH, 0, B * H * sizeof(float));
    memset(w->dC, 0, B * H * sizeof(float));
    for (int t = T - 1; t >= 0; t--) {
        float *dAt = w->dA + (size_t)t * B * H4;
        const float *Gt = w->G + (size_t)t * B * H4, *tc = w->TC + (size_t)t * B * H;
        const float *cprev = w->Cs + (size_t)t * B * H;
        for (size_t i = 0; i < B; i++) {
            float *da = dAt + i * H4;
            int L = lens[i];
            if (t >= L) {
                memset(da, 0, H4 * sizeof *da);
                continue;
            }
            float *dh = w->dH + i * H, *dc = w->dC + i * H;
            const float *a = Gt + i * H4, *tci = tc + i * H, *cp = cprev + i * H;
            const float *dp = w->dP + i * H;
            for (size_t u = 0; u < H; u++) {
                float d = dh[u];
                if (m->pool == TEXT_POOL_LAST)
                    d += t == L - 1 ? dp[u] : 0.0f;
                else if (m->pool == TEXT_POOL_MEAN)
                    d += dp[u] / (float)L;
                else if (w->arg[i * H + u] == t)
                    d += dp[u];
                float ig = a[u], fg = a[H + u], gg = a[2 * H + u], og = a[3 * H + u];
                float dcu = dc[u] + d * og * (1.0f - tci[u] * tci[u]);
                da[u] = dcu * gg * ig * (1.0f - ig);
                da[H + u] = dcu * cp[u] * fg * (1.0f - fg);
                da[2 * H + u] = dcu * ig * (1.0f - gg * gg);
                da[3 * H + u] = d * tci[u] * og * (1.0f - og);
                dc[u] = dcu * fg;
                dh[u] = 0.0f; /* replaced by da wh^T below */
            }
        }
        int cut = bptt > 0 && t % bptt == 0;
        if (cut) {
            memset(w->dH, 0, B * H * sizeof(float));
            memset(w->dC, 0, B * H * sizeof(float));
        } else {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)B, (int)H, (int)H4, 1.0f, dAt,
                        (int)H4, m->wh, (int)H4, 1.0f, w->dH, (int)H);
        }
    }
    /* weight gradients over all steps at once */
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)H, (int)H4, (int)TB, 1.0f, w->Hs,
                (int)H, w->dA, (int)H4, 0.0f, gwh, (int)H4);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)E, (int)H4, (int)TB, 1.0f, w->X,
                (int)E, w->dA, (int)H4, 0.0f, gwx, (int)H4);
    memset(gb, 0, H4 * sizeof(float));
    for (size_t r = 0; r < TB; r++)
        for (size_t c = 0; c < H4; c++)
            gb[c] += w->dA[r * H4 + c];
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)TB, (int)E, (int)H4, 1.0f, w->dA,
                (int)H4, m->wx, (int)H4, 0.0f, w->dX, (int)E);
    size_t V = tok_vocab_size(m->vocab) + 2;
    memset(gemb, 0, V * E * sizeof(float));
    for (int t = 0; t < T; t++)
        for (size_t i = 0; i < B; i++) {
            if (t >= lens[i])
                continue;
            const float *dx = w->dX + ((size_t)t * B + i) * E;
            const float *mk = w->xmask ? w->xmask + ((size_t)t * B + i) * E : NULL;
            float *ge = gemb + (size_t)ids[i * (size_t)T + (size_t)t] * E;
            for (size_t e = 0; e < E; e++)
                ge[e] += mk ? dx[e] * mk[e] : dx[e];
        }
}

static double batch_loss(const struct ws *w, const int32_t *y)
{
    double l = 0;
    for (size_t i = 0; i < w->B; i++)
        l -= log(fmax(w->prob[i * w->K + (size_t)y[i]], 1e-30));
    return l / (double)w->B;
}

int text_lstm_loss(const struct text_model *m, const int32_t *ids, const int *lens, size_t B, int T,
                   const int32_t *y, double *loss, float *grad)
{
    struct ws w;
    if (ws_init(&w, m, B, T, grad != NULL, 0))
        return ENC_ENOMEM;
    forward(m, &w, ids, lens, 0.0, NULL);
    *loss = batch_loss(&w, y);
    if (grad) {
        size_t size[6];
        text_lstm_blocks(m, NULL, size);
        float *g[6];
        float *p = grad;
        for (int b = 0; b < 6; b++) {
            g[b] = p;
            p += size[b];
        }
        backward(m, &w, ids, lens, y, 0, g);
    }
    ws_free(&w);
    return 0;
}

static int lstm_predict(const struct text_model *m, const char *s, size_t len, float *prob)
{
    int32_t *ids = malloc((size_t)m->max_len * sizeof *ids);
    if (!ids)
        return ENC_ENOMEM;
    int n = text_lstm_ids(m, s, len, ids);
    if (n < 0) {
        free(ids);
        return n;
    }
    if (n == 0) { /* no tokens: one unknown word */
        ids[0] = LSTM_UNK;
        n = 1;
    }
    struct ws w;
    if (ws_init(&w, m, 1, n, 0, 0)) {
        free(ids);
        return ENC_ENOMEM;
    }
    forward(m, &w, ids, &n, 0.0, NULL);
    memcpy(prob, w.prob, m->n_classes * sizeof *prob);
    ws_free(&w);
    free(ids);
    return 0;
}

/* ---- the kind's row (text_int.h) ------------------------------------- */

static const char *pool_name(enum text_pool p)
{
    return p == TEXT_POOL_MEAN ? "mean" : p == TEXT_POOL_MAX ? "max" : "last";
}

static int lstm_write(const struct text_model *m, st_writer *w)
{
    int64_t V = (int64_t)tok_vocab_size(m->vocab) + 2, E = (int64_t)m->emb_dim,
            H = (int64_t)m->hidden, K = (int64_t)m->n_classes;
    char num[32];
    snprintf(num, sizeof num, "%d", m->max_len);
    int rc = st_writer_meta(w, "max_len", num);
    rc = rc ? rc : st_writer_meta(w, "pool", pool_name(m->pool));
    rc = rc ? rc : text_add_f32(w, "embedding", m->emb, 2, V, E);
    rc = rc ? rc : text_add_f32(w, "lstm.wx", m->wx, 2, E, 4 * H);
    rc = rc ? rc : text_add_f32(w, "lstm.wh", m->wh, 2, H, 4 * H);
    rc = rc ? rc : text_add_f32(w, "lstm.b", m->bg, 1, 4 * H, 0);
    rc = rc ? rc : text_add_f32(w, "out.w", m->wo, 2, H, K);
    return rc ? rc : text_add_f32(w, "out.b", m->bo, 1, K, 0);
}

static int lstm_read(const st_file *f, struct text_model *m, enc_err *err)
{
    if (m->ngram_min != 1 || m->ngram_max != 1)
        return enc_errf(err, ENC_EFORMAT, "lstm: n-gram range must be 1..1");
    long v;
    int rc = text_meta_int(f, "max_len", 1, 100000, &v, err);
    if (rc)
        return rc;
    m->max_len = (int)v;
    const char *pool = st_meta(f, "pool");
    if (!pool || (strcmp(pool, "last") && strcmp(pool, "mean") && strcmp(pool, "max")))
        return enc_errf(err, ENC_EFORMAT, "metadata 'pool' must be last, mean or max");
    m->pool = strcmp(pool, "mean") == 0  ? TEXT_POOL_MEAN
              : strcmp(pool, "max") == 0 ? TEXT_POOL_MAX
                                         : TEXT_POOL_LAST;
    if ((rc = text_read_vocab(f, m, err)))
        return rc;
    const st_tensor *te = st_find(f, "embedding"), *th = st_find(f, "lstm.wh");
    if (!te || te->ndim != 2 || te->shape[1] < 1 || te->shape[1] > 100000)
        return enc_errf(err, ENC_EFORMAT, "tensor 'embedding' is missing or not 2-D");
    if (!th || th->ndim != 2 || th->shape[0] < 1 || th->shape[0] > 100000)
        return enc_errf(err, ENC_EFORMAT, "tensor 'lstm.wh' is missing or not 2-D");
    int64_t V = (int64_t)tok_vocab_size(m->vocab) + 2, E = te->shape[1], H = th->shape[0],
            K = (int64_t)m->n_classes;
    m->emb_dim = (size_t)E;
    m->hidden = (size_t)H;
    rc = text_copy_f32(f, "embedding", 2, V, E, &m->emb, err);
    rc = rc ? rc : text_copy_f32(f, "lstm.wx", 2, E, 4 * H, &m->wx, err);
    rc = rc ? rc : text_copy_f32(f, "lstm.wh", 2, H, 4 * H, &m->wh, err);
    rc = rc ? rc : text_copy_f32(f, "lstm.b", 1, 4 * H, 0, &m->bg, err);
    rc = rc ? rc : text_copy_f32(f, "out.w", 2, H, K, &m->wo, err);
    return rc ? rc : text_copy_f32(f, "out.b", 1, K, 0, &m->bo, err);
}

static size_t lstm_mem(const struct text_model *m)
{
    size_t V = m->vocab ? tok_vocab_size(m->vocab) + 2 : 2, E = m->emb_dim, H = m->hidden;
    return (V * E + E * 4 * H + H * 4 * H + 4 * H + H * m->n_classes + m->n_classes) *
           sizeof(float);
}

static int lstm_describe(const struct text_model *m, json_t *o)
{
    int bad = json_object_set_new(o, "max_length", json_integer(m->max_len));
    bad |= json_object_set_new(o, "embedding_dim", json_integer((json_int_t)m->emb_dim));
    bad |= json_object_set_new(o, "hidden", json_integer((json_int_t)m->hidden));
    bad |= json_object_set_new(o, "pool", json_string(pool_name(m->pool)));
    return bad ? ENC_ENOMEM : 0;
}

const struct text_kind_ops text_lstm_kind = {
    .name = "lstm",
    .predict = lstm_predict,
    .write = lstm_write,
    .read = lstm_read,
    .mem = lstm_mem,
    .describe = lstm_describe,
};

/* ---- model construction ----------------------------------------------- */

/* Allocate and initialise every parameter block from rng. forget_bias
 * (unless NAN) then overwrites the forget-gate block of the bias after all
 * draws, so the random stream, and every other weight, is the same with and
 * without it. */
static int alloc_params(struct text_model *m, uint64_t *rng, double forget_bias)
{
    size_t V = tok_vocab_size(m->vocab) + 2, E = m->emb_dim, H = m->hidden, K = m->n_classes;
    m->emb = malloc(V * E * sizeof(float));
    m->wx = malloc(E * 4 * H * sizeof(float));
    m->wh = malloc(H * 4 * H * sizeof(float));
    m->bg = malloc(4 * H * sizeof(float));
    m->wo = malloc(H * K * sizeof(float));
    m->bo = malloc(K * sizeof(float));
    if (!m->emb || !m->wx || !m->wh || !m->bg || !m->wo || !m->bo)
        return ENC_ENOMEM;
    for (size_t i = 0; i < V * E; i++)
        m->emb[i] = (float)rand_normal(rng);
    memset(m->emb, 0, E * sizeof(float)); /* padding row, as padding_idx=0 */
    float s = (float)(1.0 / sqrt((double)H));
    float *blk[5] = {m->wx, m->wh, m->bg, m->wo, m->bo};
    size_t n[5] = {E * 4 * H, H * 4 * H, 4 * H, H * K, K};
    for (int b = 0; b < 5; b++)
        for (size_t i = 0; i < n[b]; i++)
            blk[b][i] = (float)((2.0 * rng_uniform(rng) - 1.0) * s);
    /* PyTorch's LSTM has two bias vectors (b_ih + b_hh), each U(-s, s): the
     * gate bias starts as the sum of two draws */
    for (size_t i = 0; i < 4 * H; i++)
        m->bg[i] += (float)((2.0 * rng_uniform(rng) - 1.0) * s);
    /* Gers et al. 2000, Jozefowicz et al. 2015: a positive forget bias makes
     * the cell remember by default early in training. */
    if (!isnan(forget_bias))
        for (size_t u = 0; u < H; u++)
            m->bg[H + u] = (float)forget_bias;
    return 0;
}

int text_lstm_new_random(size_t V, size_t E, size_t H, size_t K, enum text_pool pool, int max_len,
                         uint64_t seed, double forget_bias, struct text_model **out)
{
    *out = NULL;
    struct text_model *m = calloc(1, sizeof *m);
    if (!m || !(m->vocab = tok_vocab_new()) || !(m->class_names = calloc(K, sizeof(char *)))) {
        text_model_free(m);
        return ENC_ENOMEM;
    }
    m->kind = TEXT_LSTM;
    m->n_classes = K;
    m->ngram_min = m->ngram_max = 1;
    m->emb_dim = E;
    m->hidden = H;
    m->pool = pool;
    m->max_len = max_len;
    char buf[32];
    for (size_t k = 0; k < K; k++) {
        snprintf(buf, sizeof buf, "c%zu", k);
        if (!(m->class_names[k] = strdup(buf))) {
            text_model_free(m);
            return ENC_ENOMEM;
        }
    }
    for (size_t v = 0; v < V; v++) {
        int len = snprintf(buf, sizeof buf, "w%zu", v);
        if (tok_vocab_add(m->vocab, buf, (size_t)len, 1) < 0) {
            text_model_free(m);
            return ENC_ENOMEM;
        }
    }
    uint64_t rng = seed;
    if (alloc_params(m, &rng, forget_bias)) {
        text_model_free(m);
        return ENC_ENOMEM;
    }
    text_model_finish(m);
    *out = m;
    return 0;
}

/* Initialise embedding rows from a word2vec/GloVe text file: "word v1 .. vE"
 * per line (an optional "count dim" first line is skipped). */
static int load_vectors(struct text_model *m, const char *path, int verbose, enc_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return enc_errf(err, ENC_EIO, "%s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, E = m->emb_dim, found = 0;
    ssize_t len;
    long long ln = 0;
    int rc = 0;
    float *vec = malloc(E * sizeof *vec);
    if (!vec) {
        fclose(f);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    while (rc == 0 && (len = getline(&line, &cap, f)) > 0) {
        ln++;
        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = 0;
        char *sp = memchr(line, ' ', (size_t)len);
        if (!sp)
            continue;
        size_t fields = 1;
        for (char *c = sp; *c; c++)
            fields += *c == ' ' && c[1] && c[1] != ' ';
        if (ln == 1 && fields == 2)
            continue; /* word2vec header */
        if (fields != E + 1) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: %zu values, --embedding-dim is %zu", path, ln,
                          fields - 1, E);
            break;
        }
        char *p = sp;
        for (size_t e = 0; e < E && rc == 0; e++) {
            char *end;
            vec[e] = strtof(p, &end);
            if (end == p || !isfinite(vec[e]))
                rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: value %zu is not a number", path, ln,
                              e + 1);
            p = end;
        }
        if (rc)
            break;
        int64_t id = tok_vocab_find(m->vocab, line, (size_t)(sp - line));
        if (id >= 0) {
            memcpy(m->emb + ((size_t)id + 2) * E, vec, E * sizeof *vec);
            found++;
        }
    }
    free(line);
    free(vec);
    fclose(f);
    if (rc == 0 && verbose)
        fprintf(stderr, "encore-train text: %zu of %zu vocabulary words initialised from %s\n",
                found, tok_vocab_size(m->vocab), path);
    return rc;
}

/* ---- training ----------------------------------------------------------- */

/* The vocabulary of the training tokens (term frequency, --min-count,
 * --max-vocab) into m->vocab. 0 or ENC_ENOMEM. */
static int build_vocab(struct text_model *m, const struct text_data *d, const size_t *idx, size_t n,
                       const struct text_lstm_params *p)
{
    tok_vocab *counts = tok_vocab_new();
    struct tok_span *sp = NULL;
    size_t spcap = 0;
    char tok[TOK_MAX_LEN];
    int rc = counts ? 0 : ENC_ENOMEM;
    for (size_t s = 0; s < n && rc == 0; s++) {
        size_t i = idx ? idx[s] : s;
        size_t nt = tok_split(d->text[i], d->len[i], NULL, 0);
        if (nt > spcap) {
            struct tok_span *ns = realloc(sp, nt * sizeof *ns);
            if (!ns) {
                rc = ENC_ENOMEM;
                break;
            }
            sp = ns;
            spcap = nt;
        }
        tok_split(d->text[i], d->len[i], sp, nt);
        for (size_t k = 0; k < nt && rc == 0; k++)
            if (tok_vocab_add(counts, tok, tok_copy_lower(d->text[i], sp[k], tok), 1) < 0)
                rc = ENC_ENOMEM;
    }
    if (rc == 0 && tok_vocab_prune(counts, p->min_count, p->max_vocab, &m->vocab))
        rc = ENC_ENOMEM;
    tok_vocab_free(counts);
    free(sp);
    return rc;
}

/* One training run's buffers: the examples' token ids, the visiting order,
 * one batch's ids / lengths / labels, the gradient (in the parameter
 * blocks' layout) and Adam's moments. */
struct run {
    const struct text_data *d;
    const size_t *idx;
    size_t n;
    int L; /* max_len: the row stride of ids */
    int32_t *ids, *yb, *idsb;
    int *lens, *lensb;
    size_t *order, *bstart;
    struct len_key *keyed;
    float *blk[6], *gblk[6]; /* parameter and gradient blocks */
    size_t size[6], total;
    float *grad, *adam_m, *adam_v;
    int64_t step; /* Adam steps taken */
    struct ws w;
};

static void run_free(struct run *r)
{
    ws_free(&r->w);
    free(r->ids);
    free(r->lens);
    free(r->order);
    free(r->bstart);
    free(r->keyed);
    free(r->yb);
    free(r->lensb);
    free(r->idsb);
    free(r->grad);
    free(r->adam_m);
    free(r->adam_v);
}

/* Allocate r's buffers and read every example's token ids (an empty one
 * gets one UNK). 0 or ENC_ENOMEM (run_free frees what was made). */
static int run_init(struct run *r, const struct text_model *m, const struct text_data *d,
                    const size_t *idx, size_t n, const struct text_lstm_params *p)
{
    const int L = p->max_len;
    *r = (struct run){.d = d, .idx = idx, .n = n, .L = L};
    r->ids = malloc(n * (size_t)L * sizeof *r->ids);
    r->lens = malloc(n * sizeof *r->lens);
    r->order = malloc(n * sizeof *r->order);
    r->bstart = malloc(n * sizeof *r->bstart);
    r->keyed = malloc(p->batch * LSTM_BUCKET * sizeof *r->keyed);
    r->yb = malloc(p->batch * sizeof *r->yb);
    r->lensb = malloc(p->batch * sizeof *r->lensb);
    r->idsb = malloc(p->batch * (size_t)L * sizeof *r->idsb);
    if (!r->ids || !r->lens || !r->order || !r->bstart || !r->keyed || !r->yb || !r->lensb ||
        !r->idsb)
        return ENC_ENOMEM;
    for (size_t s = 0; s < n; s++) {
        size_t i = idx ? idx[s] : s;
        int k = text_lstm_ids(m, d->text[i], d->len[i], r->ids + s * (size_t)L);
        if (k < 0)
            return ENC_ENOMEM;
        if (k == 0) {
            r->ids[s * (size_t)L] = LSTM_UNK;
            k = 1;
        }
        r->lens[s] = k;
        r->order[s] = s;
    }
    text_lstm_blocks(m, r->blk, r->size);
    for (int b = 0; b < 6; b++)
        r->total += r->size[b];
    r->grad = malloc(r->total * sizeof *r->grad);
    r->adam_m = calloc(r->total, sizeof *r->adam_m);
    r->adam_v = calloc(r->total, sizeof *r->adam_v);
    if (!r->grad || !r->adam_m || !r->adam_v)
        return ENC_ENOMEM;
    float *q = r->grad;
    for (int b = 0; b < 6; b++) {
        r->gblk[b] = q;
        q += r->size[b];
    }
    return 0;
}

/* The epoch's visiting order: shuffle, sort each run of LSTM_BUCKET
 * batches by length (so a batch pads little), then shuffle the batches.
 * Returns the number of batches. */
static size_t epoch_order(struct run *r, size_t batch, uint64_t *rng)
{
    size_t n = r->n, chunk = batch * LSTM_BUCKET, nb = (n + batch - 1) / batch;
    rng_shuffle(r->order, n, rng);
    for (size_t c0 = 0; c0 < n; c0 += chunk) {
        size_t cn = n - c0 < chunk ? n - c0 : chunk;
        for (size_t k = 0; k < cn; k++)
            r->keyed[k] = (struct len_key){r->lens[r->order[c0 + k]], (int32_t)k, r->order[c0 + k]};
        qsort(r->keyed, cn, sizeof *r->keyed, cmp_len_key);
        for (size_t k = 0; k < cn; k++)
            r->order[c0 + k] = r->keyed[k].ex;
    }
    for (size_t b = 0; b < nb; b++)
        r->bstart[b] = b * batch;
    rng_shuffle(r->bstart, nb, rng);
    return nb;
}

/* Clip the gradient's norm to p->clip and take one Adam step. */
static void adam_update(struct run *r, const struct text_model *m, const struct text_lstm_params *p)
{
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    /* keep the padding row fixed (padding_idx) */
    for (size_t e = 0; e < m->emb_dim; e++)
        r->gblk[0][e] = 0;
    double norm = 0;
    for (size_t i = 0; i < r->total; i++)
        norm += (double)r->grad[i] * r->grad[i];
    norm = sqrt(norm);
    float scale = p->clip > 0 && norm > p->clip ? (float)(p->clip / norm) : 1.0f;
    r->step++;
    double c1 = 1.0 - pow(b1, (double)r->step), c2 = 1.0 - pow(b2, (double)r->step);
    float lr_t = (float)(p->lr * sqrt(c2) / c1), e_t = (float)(eps * sqrt(c2));
    size_t off = 0;
    for (int b = 0; b < 6; b++) {
        adam_step(r->blk[b], r->grad + off, r->adam_m + off, r->adam_v + off, r->size[b], scale,
                  lr_t, e_t);
        off += r->size[b];
    }
}

/* Train on the batch of B examples starting at order[start]: forward,
 * loss and right answers added to *loss_sum / *right, backward, update.
 * 0 or ENC_ENOMEM. */
static int train_batch(struct run *r, struct text_model *m, const struct text_lstm_params *p,
                       size_t start, size_t B, uint64_t *rng, double *loss_sum, size_t *right)
{
    int T = 1;
    for (size_t k = 0; k < B; k++)
        if (r->lens[r->order[start + k]] > T)
            T = r->lens[r->order[start + k]];
    for (size_t k = 0; k < B; k++) {
        size_t s = r->order[start + k];
        r->lensb[k] = r->lens[s];
        r->yb[k] = r->d->label[r->idx ? r->idx[s] : s];
        memcpy(r->idsb + k * (size_t)T, r->ids + s * (size_t)r->L,
               (size_t)r->lens[s] * sizeof *r->ids);
    }
    struct ws *w = &r->w;
    if (ws_init(w, m, B, T, 1, p->dropout > 0))
        return ENC_ENOMEM;
    forward(m, w, r->idsb, r->lensb, p->dropout, rng);
    *loss_sum += batch_loss(w, r->yb) * (double)B;
    for (size_t k = 0; k < B; k++) {
        size_t best = 0;
        for (size_t c = 1; c < w->K; c++)
            if (w->prob[k * w->K + c] > w->prob[k * w->K + best])
                best = c;
        *right += (int32_t)best == r->yb[k];
    }
    backward(m, w, r->idsb, r->lensb, r->yb, p->bptt, r->gblk);
    ws_free(w);
    memset(w, 0, sizeof *w);
    adam_update(r, m, p);
    return 0;
}

static double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int text_lstm_train(const struct text_data *d, const size_t *idx, size_t n,
                    const struct text_lstm_params *p, struct text_model **out, enc_err *err)
{
    *out = NULL;
    if (!idx)
        n = d->n;
    if (n < 2 || p->emb_dim < 1 || p->hidden < 1 || p->max_len < 1 || p->batch < 1 || p->epochs < 1)
        return enc_errf(err, ENC_EINVAL, "lstm: need >= 2 examples and positive sizes");
    openblas_set_num_threads(p->threads > 0 ? p->threads : 1);
    struct text_model *m = calloc(1, sizeof *m);
    struct run r = {0};
    int rc = 0;
    if (!m)
        goto oom;
    m->kind = TEXT_LSTM;
    m->ngram_min = m->ngram_max = 1;
    m->emb_dim = p->emb_dim;
    m->hidden = p->hidden;
    m->max_len = p->max_len;
    m->pool = p->pool;
    m->n_classes = d->n_labels;
    if (!(m->class_names = strv_dup((const char *const *)d->label_names, d->n_labels, NULL)))
        goto oom;
    if (build_vocab(m, d, idx, n, p))
        goto oom;
    uint64_t rng = p->seed * RNG_GAMMA + 0x1234567;
    if (alloc_params(m, &rng, p->forget_bias))
        goto oom;
    text_model_finish(m);
    if (p->vectors && (rc = load_vectors(m, p->vectors, p->verbose, err)))
        goto fail;
    if (run_init(&r, m, d, idx, n, p))
        goto oom;
    for (int ep = 0; ep < p->epochs; ep++) {
        double t0 = mono_seconds(), loss_sum = 0;
        size_t right = 0, nb = epoch_order(&r, p->batch, &rng);
        for (size_t bi = 0; bi < nb; bi++) {
            size_t start = r.bstart[bi];
            size_t B = n - start < p->batch ? n - start : p->batch;
            if (train_batch(&r, m, p, start, B, &rng, &loss_sum, &right))
                goto oom;
        }
        if (p->verbose)
            fprintf(stderr,
                    "encore-train text: lstm epoch %d/%d: loss %.4f, train accuracy %.4f, "
                    "%.1f s\n",
                    ep + 1, p->epochs, loss_sum / (double)n, (double)right / (double)n,
                    mono_seconds() - t0);
    }
    goto done;
oom:
    rc = enc_errf(err, ENC_ENOMEM, "lstm: out of memory");
fail:
    text_model_free(m);
    m = NULL;
done:
    run_free(&r);
    *out = m;
    return rc;
}
