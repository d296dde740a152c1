/*
 * quant.c - int8 item screening with an error bound (see quant.h for why).
 *
 * The AVX2 kernel multiplies 8 items x 4 factors per instruction pair:
 * _mm256_sign_epi8 moves the user's signs onto the item bytes so that
 * _mm256_maddubs_epi16 (unsigned x signed) can take |p|; a pair of
 * products is at most 2 * 127 * 127 < 32767, so it never saturates, and
 * _mm256_madd_epi16 widens to int32, which is exact for any f <= 1024.
 * Four blocks per step keep four independent chains in flight. Built with a
 * target attribute so the library needs no -mavx2; chosen at run time.
 */
#include "mf/quant.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define QUANT_X86 1
#define QUANT_TARGET __attribute__((target("avx2,fma")))
#endif

#define QUANT_MAX_F 1024   /* int32 sums stay exact; per-call stack arrays stay small */

size_t quant_padded(size_t n)
{
    return (n + 7) / 8 * 8;
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
    free(qi->l1);
    memset(qi, 0, sizeof *qi);
}

int quant_pack(const float *V, size_t n, size_t f, struct quant_items *out)
{
    memset(out, 0, sizeof *out);
    if (f == 0 || f > QUANT_MAX_F)
        return -1;
    size_t np = quant_padded(n), bytes = np * groups(f) * 4;
    bytes = (bytes + 31) / 32 * 32;
    out->q = aligned_alloc(32, bytes ? bytes : 32);
    out->scale = calloc(np ? np : 1, sizeof *out->scale);
    out->l1 = calloc(np ? np : 1, sizeof *out->l1);
    if (!out->q || !out->scale || !out->l1) {
        quant_free(out);
        return -1;
    }
    memset(out->q, 0, bytes);
    out->n = n;
    out->f = f;
    out->fast = quant_fast();
    for (size_t i = 0; i < n; i++) {
        const float *v = V + i * f;
        float mx = 0, l1 = 0;
        for (size_t j = 0; j < f; j++) {
            if (!isfinite(v[j])) {
                quant_free(out);
                return -1;
            }
            mx = fmaxf(mx, fabsf(v[j]));
            l1 += fabsf(v[j]);
        }
        float s = mx / 127.0f;
        out->scale[i] = s;
        out->l1[i] = l1;
        if (s == 0)
            continue;
        int8_t *blk = out->q + (i / 8) * groups(f) * 32 + (i % 8) * 4;
        for (size_t j = 0; j < f; j++) {
            long r = lrintf(v[j] / s);
            blk[(j / 4) * 32 + j % 4] = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
        }
    }
    return 0;
}

/* The user side: p (int8 in groups of 4, as int32 words), |p|, t, |u|_1.
 * Returns -1 if u is not finite. */
static int quant_user(const float *u, size_t f, int32_t *pw, int32_t *aw, float *t_out,
                      float *l1_out)
{
    float mx = 0, l1 = 0;
    for (size_t j = 0; j < f; j++) {
        float a = fabsf(u[j]);
        mx = a > mx ? a : mx;
        l1 += a;
    }
    if (!isfinite(l1))   /* an inf or NaN anywhere makes the sum so */
        return -1;
    float t = mx / 127.0f, inv = t > 0 ? 1 / t : 0;
    memset(pw, 0, groups(f) * sizeof *pw);
    memset(aw, 0, groups(f) * sizeof *aw);
    for (size_t j = 0; t > 0 && j < f; j++) {
        /* Rounding mode is irrelevant to the bound; |u_j| inv <= 127 up to
         * one rounding, hence the clamp. */
        float x = u[j] * inv;
        int r = (int)(x + (x < 0 ? -0.5f : 0.5f));
        int8_t p = (int8_t)(r > 127 ? 127 : r < -127 ? -127 : r);
        int8_t a = (int8_t)(p < 0 ? -p : p);
        memcpy((char *)&pw[j / 4] + j % 4, &p, 1);
        memcpy((char *)&aw[j / 4] + j % 4, &a, 1);
    }
    *t_out = t;
    *l1_out = l1;
    return 0;
}

/* What both kernels turn an item's dot product p.q_i into. */
struct qparams {
    float t;        /* the user's scale */
    float c1, c2;   /* eps_i = s_i c1 + |v_i|_1 c2 */
};

static void score_c(const struct quant_items *qi, const int32_t *pw, struct qparams k,
                    float *lower, float *width)
{
    size_t G = groups(qi->f), np = quant_padded(qi->n);
    for (size_t i = 0; i < np; i++) {
        const int8_t *blk = qi->q + (i / 8) * G * 32 + (i % 8) * 4;
        int32_t acc = 0;
        for (size_t g = 0; g < G; g++) {
            int8_t p[4];
            memcpy(p, &pw[g], 4);
            for (int r = 0; r < 4; r++)
                acc += (int32_t)p[r] * blk[g * 32 + r];
        }
        float e = qi->scale[i] * k.c1 + qi->l1[i] * k.c2;
        lower[i] = (float)acc * (k.t * qi->scale[i]) - e;
        width[i] = e + e;
    }
}

#if QUANT_X86

int quant_fast(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !((c >> 12) & 1) || !((c >> 27) & 1) ||
        !((c >> 28) & 1))
        return 0;   /* FMA, OSXSAVE and AVX */
    unsigned xlo, xhi;
    __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 6) != 6 || __get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 5) & 1;   /* AVX2 */
}

#define QSTEP(acc, x)                                                                  \
    acc = _mm256_add_epi32(                                                            \
        acc, _mm256_madd_epi16(_mm256_maddubs_epi16(av, _mm256_sign_epi8((x), sv)), ones))

/* The 8 items of block b from their int32 dot products. */
QUANT_TARGET static inline void finish8(const struct quant_items *qi, size_t b, __m256i acc,
                                        struct qparams k, float *lower, float *width)
{
    __m256 s = _mm256_loadu_ps(qi->scale + b * 8), l1 = _mm256_loadu_ps(qi->l1 + b * 8);
    __m256 e = _mm256_add_ps(_mm256_mul_ps(s, _mm256_set1_ps(k.c1)),
                             _mm256_mul_ps(l1, _mm256_set1_ps(k.c2)));
    __m256 a = _mm256_mul_ps(_mm256_cvtepi32_ps(acc), _mm256_mul_ps(s, _mm256_set1_ps(k.t)));
    _mm256_storeu_ps(lower + b * 8, _mm256_sub_ps(a, e));
    _mm256_storeu_ps(width + b * 8, _mm256_add_ps(e, e));
}

QUANT_TARGET static void score_avx2(const struct quant_items *qi, const int32_t *pw,
                                    const int32_t *aw, struct qparams k, float *lower,
                                    float *width)
{
    size_t G = groups(qi->f), nb = quant_padded(qi->n) / 8, stride = G * 32, b = 0;
    const __m256i ones = _mm256_set1_epi16(1);
    for (; b + 4 <= nb; b += 4) {
        const int8_t *q = qi->q + b * stride;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (size_t g = 0; g < G; g++, q += 32) {
            const __m256i sv = _mm256_set1_epi32(pw[g]), av = _mm256_set1_epi32(aw[g]);
            QSTEP(a0, _mm256_load_si256((const __m256i *)q));
            QSTEP(a1, _mm256_load_si256((const __m256i *)(q + stride)));
            QSTEP(a2, _mm256_load_si256((const __m256i *)(q + 2 * stride)));
            QSTEP(a3, _mm256_load_si256((const __m256i *)(q + 3 * stride)));
        }
        finish8(qi, b, a0, k, lower, width);
        finish8(qi, b + 1, a1, k, lower, width);
        finish8(qi, b + 2, a2, k, lower, width);
        finish8(qi, b + 3, a3, k, lower, width);
    }
    for (; b < nb; b++) {
        const int8_t *q = qi->q + b * stride;
        __m256i a0 = _mm256_setzero_si256();
        for (size_t g = 0; g < G; g++, q += 32) {
            const __m256i sv = _mm256_set1_epi32(pw[g]), av = _mm256_set1_epi32(aw[g]);
            QSTEP(a0, _mm256_load_si256((const __m256i *)q));
        }
        finish8(qi, b, a0, k, lower, width);
    }
}
#undef QSTEP

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

/* Eight slots at a time: one add, two compares and a mask test skip a
 * block with no candidate, the common case. */
QUANT_TARGET static size_t select_avx2(const float *lower, float *width, size_t n,
                                       float floor_s)
{
    const __m256 fl = _mm256_set1_ps(floor_s), ninf = _mm256_set1_ps(-INFINITY);
    size_t c = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 lo = _mm256_loadu_ps(lower + i), w = _mm256_loadu_ps(width + i);
        __m256 ok = _mm256_and_ps(_mm256_cmp_ps(_mm256_add_ps(lo, w), fl, _CMP_GE_OQ),
                                  _mm256_cmp_ps(lo, ninf, _CMP_NEQ_OQ));
        unsigned m = (unsigned)_mm256_movemask_ps(ok);
        while (m) {   /* c <= i + bit: every slot written was read above */
            int32_t at = (int32_t)(i + (unsigned)__builtin_ctz(m));
            memcpy(width + c++, &at, sizeof at);
            m &= m - 1;
        }
    }
    for (; i < n; i++)
        if (lower[i] != -INFINITY && lower[i] + width[i] >= floor_s) {
            int32_t at = (int32_t)i;
            memcpy(width + c++, &at, sizeof at);
        }
    return c;
}

#else

int quant_fast(void)
{
    return 0;
}

#endif

size_t quant_select(const float *lower, float *width, size_t n, float floor_s, int fast)
{
#if QUANT_X86
    if (fast)
        return select_avx2(lower, width, n, floor_s);
#endif
    (void)fast;
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        if (lower[i] != -INFINITY && lower[i] + width[i] >= floor_s) {
            int32_t at = (int32_t)i;
            memcpy(width + c++, &at, sizeof at);
        }
    return c;
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

int quant_score(const struct quant_items *qi, const float *u, float *lower, float *width)
{
    int32_t pw[QUANT_MAX_F / 4], aw[QUANT_MAX_F / 4];
    float t, ul1;
    if (quant_user(u, qi->f, pw, aw, &t, &ul1))
        return -1;
    /* score ~ t s_i (p.q_i) +- eps_i per quant.h, eps 1% over for rounding
     * (the f32 products and sums here and in the exact re-score are ~1e-5
     * relative to it). */
    struct qparams k = {t, 1.01f * (ul1 / 2 + (float)qi->f * t / 4), 1.01f * t / 2};
#if QUANT_X86
    if (qi->fast)
        score_avx2(qi, pw, aw, k, lower, width);
    else
#endif
        score_c(qi, pw, k, lower, width);
    return 0;
}
