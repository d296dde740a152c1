/*
 * quant.c - int8 item screening with an error bound (see quant.h for why).
 *
 * The AVX2 kernel multiplies 8 items x 4 factors per instruction pair:
 * the item bytes are stored unsigned (q' = q + QUANT_QI in [0, 2 QUANT_QI])
 * so _mm256_maddubs_epi16 (unsigned x signed) takes them against the signed
 * user p directly; a pair of products is at most 2 * 180 * 91 = 32760 <=
 * 32767, so it never saturates, and _mm256_madd_epi16 widens to int32,
 * exact for any f <= 1024. The sum is q'.p = q.p + QUANT_QI sum(p); the
 * per-query constant QUANT_QI sum(p) is subtracted (in int32, exact) before
 * the scaling. The step is three ops per 32 products (maddubs, madd with
 * ones, add) where the signed layout needed four (a sign op first).
 * Each block's groups are summed front to back in two chains, two groups
 * per step summed before they reach the accumulator; the bytes are read in
 * order (blocks side by side, 512 bytes apart, cost 2.6x once the table
 * left the caches). Built with a target attribute so the library needs no
 * -mavx2; chosen at run time.
 *
 * The four blocks of a step are two 16-item chunks; the kernel also reduces
 * their upper bounds to per-chunk maxima while they are still in registers,
 * so quant_select reads only the few chunks whose best upper bound reaches
 * the floor. quant_floor finds the exact k-th best lower bound with a small
 * tournament over chunk maxima: fixed vector work, no data-dependent
 * branches.
 */
#include "mf/quant.h"

#include "core/err.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define QUANT_X86 1
#define QUANT_TARGET __attribute__((target("avx2,fma")))
#endif

#define QUANT_MAX_F 1024 /* int32 sums stay exact; per-call stack arrays stay small */

_Static_assert(2 * (2 * QUANT_QI) * QUANT_QU <= 32767, "maddubs pairs must not saturate");
_Static_assert(QUANT_QI <= 127 && QUANT_QU <= 127, "both sides must fit their bytes");

size_t quant_padded(size_t n)
{
    return (n + 7) / 8 * 8;
}

size_t quant_chunks(size_t n)
{
    return (n + QUANT_CHUNK - 1) / QUANT_CHUNK;
}

/* Chunk c's maximum of lower + width over its items < n, in plain C (the
 * portable kernel, and the chunks the AVX2 step does not cover: a tail, or
 * one holding padding). */
static void chunk_umax_c(const float *lower, const float *width, size_t n, size_t c, float *umax)
{
    size_t i = c * QUANT_CHUNK, end = i + QUANT_CHUNK < n ? i + QUANT_CHUNK : n;
    float um = -INFINITY;
    for (; i < end; i++) {
        float up = lower[i] + width[i];
        um = up > um ? up : um;
    }
    umax[c] = um;
}

/* The largest of p[0..len) (-inf for none) and the first j with p[j] == x
 * (len for none), in plain C. */
static float max_c(const float *p, size_t len)
{
    float m = -INFINITY;
    for (size_t j = 0; j < len; j++)
        m = p[j] > m ? p[j] : m;
    return m;
}

static size_t first_eq_c(const float *p, size_t len, float x)
{
    size_t j = 0;
    while (j < len && p[j] != x)
        j++;
    return j;
}

static size_t groups(size_t f)
{
    return (f + 3) / 4;
}

void quant_free(struct quant_items *qi)
{
    if (!qi)
        return;
    free(qi->q);
    free(qi->scale);
    free(qi->enorm);
    free(qi->qnorm);
    memset(qi, 0, sizeof *qi);
}

int quant_pack(const float *V, size_t n, size_t f, struct quant_items *out)
{
    memset(out, 0, sizeof *out);
    if (f == 0 || f > QUANT_MAX_F)
        return ENC_EINVAL;
    size_t np = quant_padded(n), bytes = np * groups(f) * 4;
    bytes = (bytes + 31) / 32 * 32;
    out->q = aligned_alloc(32, bytes ? bytes : 32);
    out->scale = calloc(np ? np : 1, sizeof *out->scale);
    out->enorm = calloc(np ? np : 1, sizeof *out->enorm);
    out->qnorm = calloc(np ? np : 1, sizeof *out->qnorm);
    if (!out->q || !out->scale || !out->enorm || !out->qnorm) {
        quant_free(out);
        return ENC_ENOMEM;
    }
    memset(out->q, QUANT_QI, bytes); /* q = 0: unused factors, padding, zero items */
    out->n = n;
    out->f = f;
    out->fast = quant_fast();
    /* the rounding allowance of quant.h, r = (f + 8) 2^-23 */
    double rnd = ldexp((double)f + 8, -23);
    for (size_t i = 0; i < n; i++) {
        const float *v = V + i * f;
        float mx = 0;
        for (size_t j = 0; j < f; j++) {
            if (!isfinite(v[j])) {
                quant_free(out);
                return ENC_EINVAL;
            }
            float a = fabsf(v[j]);
            mx = a > mx ? a : mx; /* not fmaxf: a libm call per value (load time) */
        }
        float s = mx / (float)QUANT_QI;
        out->scale[i] = s;
        if (s == 0)
            continue; /* q = 0, e = 0, v = 0: norms 0 */
        uint8_t *blk = out->q + (i / 8) * groups(f) * 32 + (i % 8) * 4;
        double e2 = 0, q2 = 0, v2 = 0;
        for (size_t j = 0; j < f; j++) {
            /* Rounded half away from zero, inline (lrintf is a libm call per
             * value: a sixth of a 1M-item load). Any rounding keeps the bound:
             * e is computed from the r chosen. */
            float x = v[j] / s;
            long r = (long)(x + (x < 0 ? -0.5f : 0.5f));
            r = r > QUANT_QI ? QUANT_QI : r < -QUANT_QI ? -QUANT_QI : r;
            blk[(j / 4) * 32 + j % 4] = (uint8_t)(r + QUANT_QI);
            /* s r is exact in double (24 + 7 bits); e_ij to 2^-53 */
            double sq = (double)s * (double)r, e = (double)v[j] - sq;
            e2 += e * e;
            q2 += sq * sq;
            v2 += (double)v[j] * v[j];
        }
        /* rounded up to float, so never below the true norms */
        out->enorm[i] = nextafterf((float)(sqrt(e2) + rnd * sqrt(v2)), INFINITY);
        out->qnorm[i] = nextafterf((float)sqrt(q2), INFINITY);
    }
    return 0;
}

/* The user side of quant_score. */
struct quser {
    int32_t corr; /* QUANT_QI sum(p): what the unsigned item bytes add to every q'.p */
    float t;      /* the step: u = t p + d */
    float u2, d2; /* upper bounds of |u|_2 and |d|_2 (up to the 1% margin) */
};

/* From the sums over factors of x_j^2 and (x_j - p_j)^2, x = u / t in f32:
 * |u|_2 = t |x|_2, and |d|_2 = t |x - p|_2, where each x_j carries an error
 * of at most QUANT_QU 2^-23 < 2^-16, added as sqrt(f) 2^-16. The rest of the
 * f32 error is relative, ~f 2^-24, well inside the 1% margin. */
static void user_norms(struct quser *us, size_t f, float xx, float dd)
{
    us->u2 = us->t * sqrtf(xx);
    us->d2 = us->t * (sqrtf(dd) + sqrtf((float)f) * 0x1p-16f);
}

/* Factor j of the user, x = u_j / t: p_j into pw, and its terms of sum(p),
 * |x|_2^2 and |x - p|_2^2 (both user kernels, so their bytes agree). */
static inline void quant_one(float x, size_t j, int32_t *pw, int32_t *sum, float *xx, float *dd)
{
    /* Rounding mode is irrelevant to the bound; |u_j| inv <= QUANT_QU up
     * to one rounding, hence the clamp. */
    int r = (int)(x + (x < 0 ? -0.5f : 0.5f));
    int8_t p = (int8_t)(r > QUANT_QU ? QUANT_QU : r < -QUANT_QU ? -QUANT_QU : r);
    *sum += p;
    *xx += x * x;
    *dd += (x - p) * (x - p);
    memcpy((char *)&pw[j / 4] + j % 4, &p, 1);
}

/* The user side: p (int8 in groups of 4, as int32 words) and *us.
 * Returns -1 if u is not finite. */
static int quant_user(const float *u, size_t f, int32_t *pw, struct quser *us)
{
    float mx = 0, l1 = 0;
    for (size_t j = 0; j < f; j++) {
        float a = fabsf(u[j]);
        mx = a > mx ? a : mx;
        l1 += a;
    }
    float t = mx / (float)QUANT_QU, inv = t > 0 ? 1 / t : 0, xx = 0, dd = 0;
    /* An inf or NaN anywhere makes the sum so; a vector so small that 1 / t
     * overflows (subnormal factors) would turn its codes into inf or NaN. */
    if (!isfinite(l1) || !isfinite(inv))
        return -1;
    int32_t sum = 0;
    memset(pw, 0, groups(f) * sizeof *pw);
    for (size_t j = 0; t > 0 && j < f; j++)
        quant_one(u[j] * inv, j, pw, &sum, &xx, &dd);
    us->corr = QUANT_QI * sum; /* |.| <= 90 * 91 * 1024: exact in int32 */
    us->t = t;
    user_norms(us, f, xx, dd);
    return 0;
}

/* What both kernels turn an item's dot product p.q_i into. */
struct qparams {
    float t;      /* the user's scale */
    float c1, c2; /* eps_i = enorm_i c1 + qnorm_i c2 */
    int32_t corr; /* QUANT_QI sum(p): q'.p - corr = q.p */
};

static void score_c(const struct quant_items *qi, const int32_t *pw, struct qparams k, float *lower,
                    float *width, float *umax)
{
    size_t G = groups(qi->f), np = quant_padded(qi->n);
    for (size_t i = 0; i < np; i++) {
        const uint8_t *blk = qi->q + (i / 8) * G * 32 + (i % 8) * 4;
        int32_t acc = 0;
        for (size_t g = 0; g < G; g++) {
            int8_t p[4];
            memcpy(p, &pw[g], 4);
            for (int r = 0; r < 4; r++)
                acc += (int32_t)p[r] * blk[g * 32 + r];
        }
        acc -= k.corr; /* as the AVX2 kernel does: q.p exactly */
        float e = qi->enorm[i] * k.c1 + qi->qnorm[i] * k.c2;
        lower[i] = (float)acc * (k.t * qi->scale[i]) - e;
        width[i] = e + e;
    }
    for (size_t c = 0; c < quant_chunks(qi->n); c++)
        chunk_umax_c(lower, width, qi->n, c, umax);
}

#if QUANT_X86

int quant_fast(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 12) & 1) || !((c >> 27) & 1) || !((c >> 28) & 1))
        return 0; /* FMA, OSXSAVE and AVX */
    unsigned xlo, xhi;
    __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 6) != 6 || __get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 5) & 1; /* AVX2 */
}

/* q' (unsigned item bytes) x p (signed user), pairs to int16, quads to int32 */
#define QSTEP(acc, x)                                                                              \
    acc = _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16((x), pv), ones))
/* two groups (g, g + 1) of one block at p: their sums added first, so the
 * accumulator's chain has one add per two groups */
#define QSTEP2(acc, p)                                                                             \
    acc = _mm256_add_epi32(                                                                        \
        acc,                                                                                       \
        _mm256_add_epi32(                                                                          \
            _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_load_si256((const __m256i *)(p)), pv),   \
                              ones),                                                               \
            _mm256_madd_epi16(                                                                     \
                _mm256_maddubs_epi16(_mm256_load_si256((const __m256i *)((p) + 32)), pv1), ones)))

/* The 8 items of block b from their int32 dot products; returns their
 * upper bounds (lower + width, rounded as quant_select rounds them). */
QUANT_TARGET static inline __m256 finish8(const float *scale, const float *en, const float *qn,
                                          size_t b, __m256i acc, struct qparams k, float *lower,
                                          float *width)
{
    __m256 s = _mm256_loadu_ps(scale + b * 8);
    __m256 e = _mm256_add_ps(_mm256_mul_ps(_mm256_loadu_ps(en + b * 8), _mm256_set1_ps(k.c1)),
                             _mm256_mul_ps(_mm256_loadu_ps(qn + b * 8), _mm256_set1_ps(k.c2)));
    acc = _mm256_sub_epi32(acc, _mm256_set1_epi32(k.corr)); /* q'.p -> q.p */
    __m256 a = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_mul_ps(s, _mm256_set1_ps(k.t)));
    __m256 lo = _mm256_sub_ps(a, e), w = _mm256_add_ps(e, e);
    _mm256_storeu_ps(lower + b * 8, lo);
    _mm256_storeu_ps(width + b * 8, w);
    return _mm256_add_ps(lo, w);
}

/* Chunks j and j + 1 (blocks 2j .. 2j + 3) from the blocks' upper bounds
 * u0..u3: two horizontal maxima in one pass.
 *   a = [chunk j, 4 partial maxima | chunk j + 1, 4 partial maxima]
 *   two pairwise maxima within each half leave each half's maximum in
 *   all four of its lanes. */
QUANT_TARGET static inline void chunk_umax2(__m256 u0, __m256 u1, __m256 u2, __m256 u3, float *umax,
                                            size_t j)
{
    __m256 U0 = _mm256_max_ps(u0, u1), U1 = _mm256_max_ps(u2, u3);
    __m256 a =
        _mm256_max_ps(_mm256_permute2f128_ps(U0, U1, 0x20), _mm256_permute2f128_ps(U0, U1, 0x31));
    a = _mm256_max_ps(a, _mm256_permute_ps(a, _MM_SHUFFLE(1, 0, 3, 2)));
    a = _mm256_max_ps(a, _mm256_permute_ps(a, _MM_SHUFFLE(2, 3, 0, 1)));
    umax[j] = _mm256_cvtss_f32(a);
    umax[j + 1] = _mm_cvtss_f32(_mm256_extractf128_ps(a, 1));
}

/* One block's q'.p (8 items): its groups in order, in two chains. The
 * bytes are read front to back: reading the four blocks of a step side by
 * side (512 bytes apart at 64 factors) kept four chains in flight but
 * measured ~2.6x slower once the table no longer fits the caches (1M items:
 * 8.0 vs 3.1 ms per pass; bench/results/ann.md). */
QUANT_TARGET static inline __m256i block_dot(const uint8_t *q, size_t G, const int32_t *pw)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i a0 = _mm256_setzero_si256(), a1 = a0;
    size_t g = 0;
    for (; g + 4 <= G; g += 4, q += 128) {
        __m256i pv = _mm256_set1_epi32(pw[g]), pv1 = _mm256_set1_epi32(pw[g + 1]);
        QSTEP2(a0, q);
        pv = _mm256_set1_epi32(pw[g + 2]);
        pv1 = _mm256_set1_epi32(pw[g + 3]);
        QSTEP2(a1, q + 64);
    }
    for (; g < G; g++, q += 32) {
        const __m256i pv = _mm256_set1_epi32(pw[g]);
        QSTEP(a0, _mm256_load_si256((const __m256i *)q));
    }
    return _mm256_add_epi32(a0, a1);
}

QUANT_TARGET static void score_avx2(const struct quant_items *qi, const int32_t *pw,
                                    struct qparams k, float *lower, float *width, float *umax)
{
    size_t G = groups(qi->f), nb = quant_padded(qi->n) / 8, stride = G * 32, b = 0;
    /* locals: the stores to lower and width could alias *qi otherwise */
    const float *scale = qi->scale, *en = qi->enorm, *qn = qi->qnorm;
    for (; b + 4 <= nb; b += 4) {
        const uint8_t *q = qi->q + b * stride;
        __m256i a0 = block_dot(q, G, pw), a1 = block_dot(q + stride, G, pw),
                a2 = block_dot(q + 2 * stride, G, pw), a3 = block_dot(q + 3 * stride, G, pw);
        __m256 u0 = finish8(scale, en, qn, b, a0, k, lower, width);
        __m256 u1 = finish8(scale, en, qn, b + 1, a1, k, lower, width);
        __m256 u2 = finish8(scale, en, qn, b + 2, a2, k, lower, width);
        __m256 u3 = finish8(scale, en, qn, b + 3, a3, k, lower, width);
        chunk_umax2(u0, u1, u2, u3, umax, b / 2);
    }
    /* Chunks past the four-block steps, and one holding padding items
     * (whose 0 bounds must not count), in plain C. */
    size_t n = qi->n, from = b / 2 < n / QUANT_CHUNK ? b / 2 : n / QUANT_CHUNK;
    for (; b < nb; b++)
        finish8(scale, en, qn, b, block_dot(qi->q + b * stride, G, pw), k, lower, width);
    for (size_t c = from; c < quant_chunks(n); c++)
        chunk_umax_c(lower, width, n, c, umax);
}
#undef QSTEP
#undef QSTEP2

QUANT_TARGET static inline float hmax8(__m256 v);

/* The sum of the 8 lanes. */
QUANT_TARGET static inline float hsum8(__m256 v)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    return _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
}

/* quant_user in AVX2, bit for bit the same p, corr and t (the same float
 * operations per factor; the rounding is the same explicit add of +-0.5 and
 * truncation, whatever the MXCSR mode); |u|_1 is summed in another order.
 * 32 factors per step: four vectors of int32 packed to bytes in order. */
QUANT_TARGET static int user_avx2(const float *u, size_t f, int32_t *pw, struct quser *us)
{
    const __m256 absm = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 vmx = _mm256_setzero_ps(), vl1 = vmx;
    size_t j = 0;
    for (; j + 8 <= f; j += 8) {
        __m256 a = _mm256_and_ps(_mm256_loadu_ps(u + j), absm);
        vmx = _mm256_max_ps(vmx, a);
        vl1 = _mm256_add_ps(vl1, a);
    }
    float mx = hmax8(vmx), l1 = hsum8(vl1);
    for (; j < f; j++) {
        float a = fabsf(u[j]);
        mx = a > mx ? a : mx;
        l1 += a;
    }
    float t = mx / (float)QUANT_QU, inv = t > 0 ? 1 / t : 0, xx = 0, dd = 0;
    /* a NaN lane drops out of the vector max; 1 / t overflows for a vector
     * of subnormal factors, as in quant_user */
    if (!isfinite(l1) || !isfinite(mx) || !isfinite(inv))
        return -1;
    memset(pw, 0, groups(f) * sizeof *pw);
    int32_t sum = 0;
    if (t > 0) {
        __m256 vxx = _mm256_setzero_ps(), vdd = vxx;
        const __m256 vinv = _mm256_set1_ps(inv), half = _mm256_set1_ps(0.5f),
                     sgn = _mm256_set1_ps(-0.0f);
        const __m256i hi = _mm256_set1_epi32(QUANT_QU), lo = _mm256_set1_epi32(-QUANT_QU),
                      order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
        __m256i vsum = _mm256_setzero_si256();
        for (j = 0; j + 32 <= f; j += 32) {
            __m256i r[4];
            for (int v = 0; v < 4; v++) {
                __m256 x = _mm256_mul_ps(_mm256_loadu_ps(u + j + 8 * v), vinv);
                /* x + (x < 0 ? -0.5 : 0.5), truncated: as quant_user */
                __m256 h = _mm256_or_ps(half, _mm256_and_ps(x, sgn));
                r[v] = _mm256_min_epi32(
                    _mm256_max_epi32(_mm256_cvttps_epi32(_mm256_add_ps(x, h)), lo), hi);
                vsum = _mm256_add_epi32(vsum, r[v]);
                __m256 dx = _mm256_sub_ps(x, _mm256_cvtepi32_ps(r[v]));
                vxx = _mm256_fmadd_ps(x, x, vxx);
                vdd = _mm256_fmadd_ps(dx, dx, vdd);
            }
            __m256i b =
                _mm256_packs_epi16(_mm256_packs_epi32(r[0], r[1]), _mm256_packs_epi32(r[2], r[3]));
            _mm256_storeu_si256((__m256i *)(void *)(pw + j / 4),
                                _mm256_permutevar8x32_epi32(b, order));
        }
        __m128i s4 = _mm_add_epi32(_mm256_castsi256_si128(vsum), _mm256_extracti128_si256(vsum, 1));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(1, 0, 3, 2)));
        s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, _MM_SHUFFLE(2, 3, 0, 1)));
        sum = _mm_cvtsi128_si32(s4);
        xx = hsum8(vxx);
        dd = hsum8(vdd);
        for (; j < f; j++) {
            quant_one(u[j] * inv, j, pw, &sum, &xx, &dd);
        }
    }
    us->corr = QUANT_QI * sum;
    us->t = t;
    user_norms(us, f, xx, dd);
    return 0;
}

QUANT_TARGET static float dot_avx2(const float *x, const float *y, size_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0;
    size_t j = 0;
    for (; j + 16 <= n; j += 16) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j + 8), _mm256_loadu_ps(y + j + 8), a1);
    }
    for (; j + 8 <= n; j += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + j), _mm256_loadu_ps(y + j), a0);
    a0 = _mm256_add_ps(a0, a1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(a0), _mm256_extractf128_ps(a0, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    float d = _mm_cvtss_f32(_mm_add_ss(h, _mm_shuffle_ps(h, h, 1)));
    for (; j < n; j++)
        d += x[j] * y[j];
    return d;
}

/* For each 8-bit mask, the positions of its set bits in ascending order,
 * 4 bits each (the screen's left-packing table; generated by
 * for m: v = 0, at = 0; for b < 8: if m >> b & 1: v |= b << 4 * at++). */
static const uint32_t pack_lut[256] = {
    0x00000000, 0x00000000, 0x00000001, 0x00000010, 0x00000002, 0x00000020, 0x00000021, 0x00000210,
    0x00000003, 0x00000030, 0x00000031, 0x00000310, 0x00000032, 0x00000320, 0x00000321, 0x00003210,
    0x00000004, 0x00000040, 0x00000041, 0x00000410, 0x00000042, 0x00000420, 0x00000421, 0x00004210,
    0x00000043, 0x00000430, 0x00000431, 0x00004310, 0x00000432, 0x00004320, 0x00004321, 0x00043210,
    0x00000005, 0x00000050, 0x00000051, 0x00000510, 0x00000052, 0x00000520, 0x00000521, 0x00005210,
    0x00000053, 0x00000530, 0x00000531, 0x00005310, 0x00000532, 0x00005320, 0x00005321, 0x00053210,
    0x00000054, 0x00000540, 0x00000541, 0x00005410, 0x00000542, 0x00005420, 0x00005421, 0x00054210,
    0x00000543, 0x00005430, 0x00005431, 0x00054310, 0x00005432, 0x00054320, 0x00054321, 0x00543210,
    0x00000006, 0x00000060, 0x00000061, 0x00000610, 0x00000062, 0x00000620, 0x00000621, 0x00006210,
    0x00000063, 0x00000630, 0x00000631, 0x00006310, 0x00000632, 0x00006320, 0x00006321, 0x00063210,
    0x00000064, 0x00000640, 0x00000641, 0x00006410, 0x00000642, 0x00006420, 0x00006421, 0x00064210,
    0x00000643, 0x00006430, 0x00006431, 0x00064310, 0x00006432, 0x00064320, 0x00064321, 0x00643210,
    0x00000065, 0x00000650, 0x00000651, 0x00006510, 0x00000652, 0x00006520, 0x00006521, 0x00065210,
    0x00000653, 0x00006530, 0x00006531, 0x00065310, 0x00006532, 0x00065320, 0x00065321, 0x00653210,
    0x00000654, 0x00006540, 0x00006541, 0x00065410, 0x00006542, 0x00065420, 0x00065421, 0x00654210,
    0x00006543, 0x00065430, 0x00065431, 0x00654310, 0x00065432, 0x00654320, 0x00654321, 0x06543210,
    0x00000007, 0x00000070, 0x00000071, 0x00000710, 0x00000072, 0x00000720, 0x00000721, 0x00007210,
    0x00000073, 0x00000730, 0x00000731, 0x00007310, 0x00000732, 0x00007320, 0x00007321, 0x00073210,
    0x00000074, 0x00000740, 0x00000741, 0x00007410, 0x00000742, 0x00007420, 0x00007421, 0x00074210,
    0x00000743, 0x00007430, 0x00007431, 0x00074310, 0x00007432, 0x00074320, 0x00074321, 0x00743210,
    0x00000075, 0x00000750, 0x00000751, 0x00007510, 0x00000752, 0x00007520, 0x00007521, 0x00075210,
    0x00000753, 0x00007530, 0x00007531, 0x00075310, 0x00007532, 0x00075320, 0x00075321, 0x00753210,
    0x00000754, 0x00007540, 0x00007541, 0x00075410, 0x00007542, 0x00075420, 0x00075421, 0x00754210,
    0x00007543, 0x00075430, 0x00075431, 0x00754310, 0x00075432, 0x00754320, 0x00754321, 0x07543210,
    0x00000076, 0x00000760, 0x00000761, 0x00007610, 0x00000762, 0x00007620, 0x00007621, 0x00076210,
    0x00000763, 0x00007630, 0x00007631, 0x00076310, 0x00007632, 0x00076320, 0x00076321, 0x00763210,
    0x00000764, 0x00007640, 0x00007641, 0x00076410, 0x00007642, 0x00076420, 0x00076421, 0x00764210,
    0x00007643, 0x00076430, 0x00076431, 0x00764310, 0x00076432, 0x00764320, 0x00764321, 0x07643210,
    0x00000765, 0x00007650, 0x00007651, 0x00076510, 0x00007652, 0x00076520, 0x00076521, 0x00765210,
    0x00007653, 0x00076530, 0x00076531, 0x00765310, 0x00076532, 0x00765320, 0x00765321, 0x07653210,
    0x00007654, 0x00076540, 0x00076541, 0x00765410, 0x00076542, 0x00765420, 0x00765421, 0x07654210,
    0x00076543, 0x00765430, 0x00765431, 0x07654310, 0x00765432, 0x07654320, 0x07654321, 0x76543210,
};

/* The items of [i, i + 8) that pass, appended at width + c; returns the new
 * c. Branch-free: the 8 lane indices, left-packed by the table, are stored
 * whole and c moves by the count. The store covers width[c .. c + 8),
 * c <= i: slots already read (this block is in registers). */
QUANT_TARGET static inline size_t select8(const float *lower, float *width, size_t i, size_t c,
                                          __m256 fl)
{
    __m256 lo = _mm256_loadu_ps(lower + i), w = _mm256_loadu_ps(width + i);
    __m256 ok = _mm256_and_ps(_mm256_cmp_ps(_mm256_add_ps(lo, w), fl, _CMP_GE_OQ),
                              _mm256_cmp_ps(lo, _mm256_set1_ps(-INFINITY), _CMP_NEQ_OQ));
    unsigned m = (unsigned)_mm256_movemask_ps(ok);
    __m256i at = _mm256_and_si256(_mm256_srlv_epi32(_mm256_set1_epi32((int)pack_lut[m]),
                                                    _mm256_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28)),
                                  _mm256_set1_epi32(15));
    _mm256_storeu_si256((__m256i *)(void *)(width + c),
                        _mm256_add_epi32(at, _mm256_set1_epi32((int)i)));
    return c + (unsigned)__builtin_popcount(m);
}

/* The items of chunk ch (those < n) that pass, appended at width + c. */
QUANT_TARGET static inline size_t select_chunk(const float *lower, float *width, size_t n,
                                               size_t ch, size_t c, float floor_s, __m256 fl)
{
    size_t i = ch * QUANT_CHUNK;
    if (i + QUANT_CHUNK <= n)
        return select8(lower, width, i + 8, select8(lower, width, i, c, fl), fl);
    for (; i < n; i++)
        if (lower[i] != -INFINITY && lower[i] + width[i] >= floor_s) {
            int32_t at = (int32_t)i;
            memcpy(width + c++, &at, sizeof at);
        }
    return c;
}

/* With umax: one compare per eight chunks finds the few chunks that can
 * hold a candidate; only those are read. Without: eight slots at a time,
 * one add, two compares and a mask test skip a block with no candidate. */
QUANT_TARGET static size_t select_avx2(const float *lower, float *width, size_t n,
                                       const float *umax, float floor_s)
{
    const __m256 fl = _mm256_set1_ps(floor_s);
    size_t c = 0;
    if (umax) {
        size_t nc = quant_chunks(n), ch = 0;
        for (; ch + 8 <= nc; ch += 8) {
            /* not (umax < floor): a NaN maximum does not hide its chunk */
            unsigned m = (unsigned)_mm256_movemask_ps(
                _mm256_cmp_ps(_mm256_loadu_ps(umax + ch), fl, _CMP_NLT_UQ));
            for (; m; m &= m - 1)
                c = select_chunk(lower, width, n, ch + (unsigned)__builtin_ctz(m), c, floor_s, fl);
        }
        for (; ch < nc; ch++)
            if (!(umax[ch] < floor_s))
                c = select_chunk(lower, width, n, ch, c, floor_s, fl);
        return c;
    }
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        c = select8(lower, width, i, c, fl);
    for (; i < n; i++)
        if (lower[i] != -INFINITY && lower[i] + width[i] >= floor_s) {
            int32_t at = (int32_t)i;
            memcpy(width + c++, &at, sizeof at);
        }
    return c;
}

/* The maximum of the 8 lanes. */
QUANT_TARGET static inline float hmax8(__m256 v)
{
    __m128 a = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    a = _mm_max_ps(a, _mm_movehl_ps(a, a));
    return _mm_cvtss_f32(_mm_max_ss(a, _mm_shuffle_ps(a, a, 1)));
}

/* cm[c] = the largest of lower[16c .. 16c + 16) for c < nfull. Eight
 * chunks at a time: 16 loads and 8 maxima leave 8 vectors of 8 partial
 * maxima, and three rounds of pairwise maxima (shufps picks even and odd
 * lanes) transpose them into one vector holding the 8 chunk maxima. */
#define QMAXPAIR(a, b) _mm256_max_ps(_mm256_shuffle_ps(a, b, 0x88), _mm256_shuffle_ps(a, b, 0xDD))
QUANT_TARGET static inline void chunk_lmax_avx2(const float *lower, size_t nfull, float *cm)
{
    size_t c = 0;
    for (; c + 8 <= nfull; c += 8) {
        const float *p = lower + c * QUANT_CHUNK;
#define QV(j) _mm256_max_ps(_mm256_loadu_ps(p + 16 * (j)), _mm256_loadu_ps(p + 16 * (j) + 8))
        __m256 t0 = QMAXPAIR(QMAXPAIR(QV(0), QV(1)), QMAXPAIR(QV(2), QV(3)));
        __m256 t1 = QMAXPAIR(QMAXPAIR(QV(4), QV(5)), QMAXPAIR(QV(6), QV(7)));
#undef QV
        _mm256_storeu_ps(cm + c, _mm256_max_ps(_mm256_permute2f128_ps(t0, t1, 0x20),
                                               _mm256_permute2f128_ps(t0, t1, 0x31)));
    }
    for (; c < nfull; c++)
        cm[c] = hmax8(_mm256_max_ps(_mm256_loadu_ps(lower + c * QUANT_CHUNK),
                                    _mm256_loadu_ps(lower + c * QUANT_CHUNK + 8)));
}
#undef QMAXPAIR

#else

int quant_fast(void)
{
    return 0;
}

#endif

size_t quant_select(const float *lower, float *width, size_t n, const float *umax, float floor_s,
                    int fast)
{
#if QUANT_X86
    if (fast)
        return select_avx2(lower, width, n, umax, floor_s);
#endif
    (void)fast;
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        if (umax && i % QUANT_CHUNK == 0 && umax[i / QUANT_CHUNK] < floor_s) {
            i += QUANT_CHUNK - 1; /* the whole chunk is below the floor */
            continue;
        }
        if (lower[i] != -INFINITY && lower[i] + width[i] >= floor_s) {
            int32_t at = (int32_t)i;
            memcpy(width + c++, &at, sizeof at);
        }
    }
    return c;
}

static size_t round64(size_t x)
{
    return (x + 63) / 64 * 64;
}

/* quant_floor's work space, in floats: chunk maxima cm[nc64], group maxima
 * gm[nc64 / 8], then 2 bytes per chunk of "taken" bits (AVX2 only). */
size_t quant_floor_floats(size_t n)
{
    size_t nc64 = round64(quant_chunks(n));
    return nc64 + nc64 / 8 + nc64 / 2;
}

/*
 * A two-level tournament over the lower bounds:
 *
 *   lower[0 .. n)      items, -inf where excluded
 *   cm[c]              max of chunk c (16 items); -inf past the last chunk
 *   gm[g]              max of cm[8g .. 8g + 8)
 *
 * k times: the best gm, the first chunk in that group holding it, the first
 * item in that chunk holding it; that item is taken (it counts no more) and
 * its chunk and group maxima are recomputed (16 + 8 values). The k-th
 * value taken is the k-th best lower bound, ties counted, exactly as a
 * top-k pass would find it. Each step is a fixed amount of vector work with
 * no data-dependent branch: the chunk-maxima floor this replaced inserted
 * into a sorted list and mispredicted.
 */

/* Plain C: taken items are set to -inf in lower, and restored at the end. */
static float floor_c(float *lower, size_t n, size_t k, float *work)
{
    size_t nc = quant_chunks(n), nc64 = round64(nc), ng = nc64 / 8;
    float *cm = work, *gm = work + nc64;
    for (size_t c = 0; c < nc64; c++)
        cm[c] = c < nc
                    ? max_c(lower + c * QUANT_CHUNK,
                            n - c * QUANT_CHUNK < QUANT_CHUNK ? n - c * QUANT_CHUNK : QUANT_CHUNK)
                    : -INFINITY;
    for (size_t g = 0; g < ng; g++)
        gm[g] = max_c(cm + 8 * g, 8);
    int32_t took[QUANT_FLOOR_MAX_K];
    float was[QUANT_FLOOR_MAX_K], fl = -INFINITY;
    size_t r = 0;
    for (; r < k; r++) {
        float best = max_c(gm, ng);
        if (!(best > -INFINITY)) /* fewer than k items left (or a NaN) */
            break;
        size_t g = first_eq_c(gm, ng, best), c = 8 * g + first_eq_c(cm + 8 * g, 8, best);
        size_t i0 = c * QUANT_CHUNK, len = n - i0 < QUANT_CHUNK ? n - i0 : QUANT_CHUNK;
        size_t i = i0 + first_eq_c(lower + i0, len, best);
        took[r] = (int32_t)i;
        was[r] = lower[i];
        lower[i] = -INFINITY;
        cm[c] = max_c(lower + i0, len);
        gm[g] = max_c(cm + 8 * g, 8);
        fl = best;
    }
    for (size_t j = 0; j < r; j++)
        lower[took[j]] = was[j];
    return r == k ? fl : -INFINITY;
}

#if QUANT_X86
/* 8 lanes: lane j is all ones where bit j (j8: bit 8 + j) of m is set. */
QUANT_TARGET static inline __m256 lanes_of(unsigned m, int hi)
{
    const __m256i bits =
        hi ? _mm256_setr_epi32(1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12, 1 << 13, 1 << 14, 1 << 15)
           : _mm256_setr_epi32(1, 2, 4, 8, 16, 32, 64, 128);
    return _mm256_castsi256_ps(
        _mm256_cmpeq_epi32(_mm256_and_si256(_mm256_set1_epi32((int)m), bits), bits));
}

/* AVX2: lower stays untouched (the screen reloads it next, and a scalar
 * store under a vector load stalls store forwarding); taken items are bits
 * per chunk instead, and cm and gm change by whole-vector stores. */
QUANT_TARGET static float floor_avx2(const float *lower, size_t n, size_t k, float *work)
{
    size_t nc = quant_chunks(n), nfull = n / QUANT_CHUNK, nc64 = round64(nc), ng = nc64 / 8;
    float *cm = work, *gm = work + nc64;
    unsigned char *taken = (unsigned char *)(gm + ng); /* 2 bytes per chunk */
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    chunk_lmax_avx2(lower, nfull, cm);
    size_t nc8 = (nc + 7) / 8 * 8;
    for (size_t c = nfull; c < nc8; c++)
        cm[c] = c < nc ? max_c(lower + c * QUANT_CHUNK, n - c * QUANT_CHUNK) : -INFINITY;
    for (size_t c = nc8; c < nc64; c += 8)
        _mm256_storeu_ps(cm + c, ninf);
    /* gm from cm the way chunk_lmax_avx2 makes cm from lower */
    for (size_t g = 0; g < ng; g += 8) {
        const float *p = cm + 8 * g;
#define QG(a, b) _mm256_max_ps(_mm256_shuffle_ps(a, b, 0x88), _mm256_shuffle_ps(a, b, 0xDD))
#define QV(j) _mm256_loadu_ps(p + 8 * (j))
        __m256 t0 = QG(QG(QV(0), QV(1)), QG(QV(2), QV(3)));
        __m256 t1 = QG(QG(QV(4), QV(5)), QG(QV(6), QV(7)));
#undef QV
#undef QG
        _mm256_storeu_ps(gm + g, _mm256_max_ps(_mm256_permute2f128_ps(t0, t1, 0x20),
                                               _mm256_permute2f128_ps(t0, t1, 0x31)));
    }
    memset(taken, 0, 2 * nc64);
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    __m256 m = _mm256_loadu_ps(gm);
    for (size_t g = 8; g < ng; g += 8)
        m = _mm256_max_ps(m, _mm256_loadu_ps(gm + g));
    float best = hmax8(m), fl = -INFINITY;
    size_t r = 0;
    for (; r < k; r++) {
        if (!(best > -INFINITY)) /* fewer than k items left (or a NaN) */
            break;
        const __m256 bv = _mm256_set1_ps(best);
        size_t g = 0;
        unsigned bits = 0;
        for (; g < ng; g += 8)
            if ((bits = (unsigned)_mm256_movemask_ps(
                     _mm256_cmp_ps(_mm256_loadu_ps(gm + g), bv, _CMP_EQ_OQ))))
                break;
        if (!bits)
            break;
        size_t g8 = g;
        g += (unsigned)__builtin_ctz(bits);
        /* The maxima without group g and without chunk c: ready before the
         * chunk's new maximum is, so the next best follows it in two
         * steps instead of two more horizontal maxima. */
        const __m256 gsel =
            _mm256_castsi256_ps(_mm256_cmpeq_epi32(lane, _mm256_set1_epi32((int)(g - g8))));
        __m256 gv = _mm256_loadu_ps(gm + g8), o = _mm256_blendv_ps(gv, ninf, gsel);
        for (size_t h = 0; h < ng; h += 8)
            if (h != g8)
                o = _mm256_max_ps(o, _mm256_loadu_ps(gm + h));
        float g_oth = hmax8(o);
        __m256 cv = _mm256_loadu_ps(cm + 8 * g);
        bits = (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(cv, bv, _CMP_EQ_OQ));
        if (!bits)
            break;
        size_t j = (unsigned)__builtin_ctz(bits), c = 8 * g + j, i0 = c * QUANT_CHUNK;
        const __m256 csel =
            _mm256_castsi256_ps(_mm256_cmpeq_epi32(lane, _mm256_set1_epi32((int)j)));
        float c_oth = hmax8(_mm256_blendv_ps(cv, ninf, csel));
        unsigned tk = taken[2 * c] | (unsigned)taken[2 * c + 1] << 8;
        float nm;
        if (i0 + QUANT_CHUNK <= n) {
            __m256 a = _mm256_loadu_ps(lower + i0), b = _mm256_loadu_ps(lower + i0 + 8);
            bits = ((unsigned)_mm256_movemask_ps(_mm256_cmp_ps(a, bv, _CMP_EQ_OQ)) |
                    (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(b, bv, _CMP_EQ_OQ)) << 8) &
                   ~tk;
            if (!bits)
                break;
            tk |= 1u << __builtin_ctz(bits);
            a = _mm256_blendv_ps(a, ninf, lanes_of(tk, 0));
            b = _mm256_blendv_ps(b, ninf, lanes_of(tk, 1));
            nm = hmax8(_mm256_max_ps(a, b));
        } else { /* the last chunk, short: plain C */
            size_t len = n - i0, at = 0;
            while (at < len && (lower[i0 + at] != best || (tk >> at & 1)))
                at++;
            if (at == len)
                break;
            tk |= 1u << at;
            nm = -INFINITY;
            for (size_t t = 0; t < len; t++)
                if (!(tk >> t & 1) && lower[i0 + t] > nm)
                    nm = lower[i0 + t];
        }
        taken[2 * c] = (unsigned char)tk;
        taken[2 * c + 1] = (unsigned char)(tk >> 8);
        /* cm[c] and gm[g] change by whole-vector stores */
        float gnew = nm > c_oth ? nm : c_oth;
        _mm256_storeu_ps(cm + 8 * g, _mm256_blendv_ps(cv, _mm256_set1_ps(nm), csel));
        _mm256_storeu_ps(gm + g8, _mm256_blendv_ps(gv, _mm256_set1_ps(gnew), gsel));
        fl = best;
        best = gnew > g_oth ? gnew : g_oth;
    }
    return r == k ? fl : -INFINITY;
}
#endif

float quant_floor(float *lower, size_t n, size_t k, float *work, int fast)
{
    if (k == 0 || k > QUANT_FLOOR_MAX_K || n == 0)
        return -INFINITY;
#if QUANT_X86
    if (fast)
        return floor_avx2(lower, n, k, work);
#endif
    (void)fast;
    return floor_c(lower, n, k, work);
}

#if QUANT_X86
/* Signed x signed bytes: |a| (unsigned) times b with a's sign, so
 * _mm256_maddubs_epi16 takes them; a pair is at most 2 * 127 * 127 = 32258,
 * never saturating (codes are in [-127, 127], never -128). */
QUANT_TARGET static int32_t dot_s8_avx2(const int8_t *a, const int8_t *b, size_t n)
{
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i acc = _mm256_setzero_si256();
    for (size_t j = 0; j < n; j += 32) {
        __m256i x = _mm256_load_si256((const __m256i *)(a + j));
        __m256i y = _mm256_load_si256((const __m256i *)(b + j));
        __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
        acc = _mm256_add_epi32(acc, _mm256_madd_epi16(p, ones));
    }
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(acc), _mm256_extracti128_si256(acc, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h);
}
#endif

#if QUANT_X86
/* The rows loop in one AVX2 function, so dot_s8_avx2 inlines and the
 * rows' loads can be in flight together. */
QUANT_TARGET static void dot_s8_rows_avx2(const int8_t *codes, size_t cols, const float *scale,
                                          const int32_t *rows, size_t n, const int8_t *p, float t,
                                          float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (float)dot_s8_avx2(codes + (size_t)rows[i] * cols, p, cols) * (scale[rows[i]] * t);
}
#endif

void quant_dot_s8_rows(const int8_t *codes, size_t cols, const float *scale, const int32_t *rows,
                       size_t n, const int8_t *p, float t, float *out, int fast)
{
#if QUANT_X86
    if (fast) {
        dot_s8_rows_avx2(codes, cols, scale, rows, n, p, t, out);
        return;
    }
#endif
    (void)fast;
    for (size_t i = 0; i < n; i++)
        out[i] =
            (float)quant_dot_s8(codes + (size_t)rows[i] * cols, p, cols, 0) * (scale[rows[i]] * t);
}

int32_t quant_dot_s8(const int8_t *a, const int8_t *b, size_t n, int fast)
{
#if QUANT_X86
    if (fast)
        return dot_s8_avx2(a, b, n);
#endif
    (void)fast;
    int32_t d = 0;
    for (size_t j = 0; j < n; j++)
        d += (int32_t)a[j] * b[j];
    return d;
}

#if QUANT_X86
/* quant_code_row's rounding, 8 values at a time: cvtps rounds to nearest
 * (ties to even; the bound is the same half step). Returns the scale. */
QUANT_TARGET static float code_row_avx2(const float *x, size_t f, int8_t *out, float mx)
{
    __m256 inv = _mm256_set1_ps(127.0f / mx);
    size_t j = 0;
    for (; j + 8 <= f; j += 8) {
        __m256i q = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + j), inv));
        __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
        _mm_storel_epi64((__m128i *)(out + j), _mm_packs_epi16(w, w));
    }
    for (; j < f; j++)
        out[j] = (int8_t)_mm_cvtss_si32(_mm_set_ss(x[j] * (127.0f / mx)));
    return mx / 127.0f;
}

QUANT_TARGET static float absmax_avx2(const float *x, size_t f, int *bad)
{
    const __m256 abs = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    __m256 m = _mm256_setzero_ps(), lim = _mm256_set1_ps(3.4028235e38f), ok = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= f; j += 8) {
        __m256 a = _mm256_and_ps(_mm256_loadu_ps(x + j), abs);
        ok = _mm256_or_ps(ok, _mm256_cmp_ps(a, lim, _CMP_NLE_UQ)); /* NaN or inf */
        m = _mm256_max_ps(m, a);
    }
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    float mx = _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps(h, h, 1)));
    *bad = _mm256_movemask_ps(ok) != 0;
    for (; j < f; j++) {
        float a = fabsf(x[j]);
        *bad |= !(a <= 3.4028235e38f);
        mx = a > mx ? a : mx;
    }
    return mx;
}
#endif

float quant_code_row(const float *x, size_t f, int8_t *out, size_t cols, int fast)
{
    memset(out, 0, cols);
#if QUANT_X86
    if (fast) {
        int bad;
        float mx = absmax_avx2(x, f, &bad);
        return bad || !(mx > 0) ? 0 : code_row_avx2(x, f, out, mx);
    }
#endif
    (void)fast;
    float mx = 0;
    for (size_t j = 0; j < f; j++) {
        float a = x[j] < 0 ? -x[j] : x[j];
        if (!(a <= 3.4028235e38f)) /* NaN or inf: no codes */
            return 0;
        mx = a > mx ? a : mx;
    }
    if (!(mx > 0))
        return 0;
    float inv = 127.0f / mx;
    for (size_t j = 0; j < f; j++) {
        float v = x[j] * inv; /* in [-127, 127]: round half away from zero */
        int q = (int)(v < 0 ? v - 0.5f : v + 0.5f);
        out[j] = (int8_t)(q > 127 ? 127 : q < -127 ? -127 : q);
    }
    return mx / 127.0f;
}

void quant_unit_rows(const float *V, size_t n, size_t f, float *out)
{
    for (size_t i = 0; i < n; i++) {
        const float *v = V + i * f;
        double n2 = 0;
        for (size_t j = 0; j < f; j++)
            n2 += (double)v[j] * v[j];
        float inv = n2 > 0 ? (float)(1.0 / sqrt(n2)) : 0.0f;
        for (size_t j = 0; j < f; j++)
            out[i * f + j] = v[j] * inv;
    }
}

float quant_dot(const float *x, const float *y, size_t n, int fast)
{
#if QUANT_X86
    if (fast)
        return dot_avx2(x, y, n);
#endif
    (void)fast;
    float d = 0;
    for (size_t j = 0; j < n; j++)
        d += x[j] * y[j];
    return d;
}

int quant_score(const struct quant_items *qi, const float *u, float *lower, float *width,
                float *umax)
{
    int32_t pw[QUANT_MAX_F / 4];
    struct quser us;
#if QUANT_X86
    if (qi->fast ? user_avx2(u, qi->f, pw, &us) : quant_user(u, qi->f, pw, &us))
        return -1;
#else
    if (quant_user(u, qi->f, pw, &us))
        return -1;
#endif
    /* score ~ t s_i (p.q_i) +- eps_i per quant.h: eps_i = 1.01 (|u|_2
     * enorm_i + |d|_2 qnorm_i); enorm_i holds the allowance for the f32
     * arithmetic here and in the exact re-score, the 1% the relative
     * rounding of the norms and of eps itself. */
    struct qparams k = {us.t, 1.01f * us.u2, 1.01f * us.d2, us.corr};
#if QUANT_X86
    if (qi->fast)
        score_avx2(qi, pw, k, lower, width, umax);
    else
#endif
        score_c(qi, pw, k, lower, width, umax);
    return 0;
}
