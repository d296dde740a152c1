/*
 * half.c - the binary16 item-scoring kernel (see half.h for why).
 *
 * Eight blocks (64 items) per step keep eight independent FMA chains in
 * flight, enough to cover the FMA latency on current x86 cores; the tail
 * goes one block at a time. Built with a target attribute so the rest of
 * the library needs no -mavx2, and only called after half_supported().
 */
#include "mf/half.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#include <immintrin.h>
#define HALF_X86 1
#define HALF_TARGET __attribute__((target("avx2,fma,f16c")))
#endif

size_t half_padded(size_t n)
{
    return (n + 7) / 8 * 8;
}

size_t half_elems(size_t n, size_t f)
{
    return half_padded(n) * f;
}

#if HALF_X86

/* CPUID, not __builtin_cpu_supports: clang 14 does not know "f16c". AVX
 * state must also be enabled by the OS (OSXSAVE and XCR0 bits 1-2). */
int half_supported(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!(fma && osxsave && avx && f16c))
        return 0;
    unsigned xlo, xhi;
    __asm__("xgetbv" : "=a"(xlo), "=d"(xhi) : "c"(0));
    if ((xlo & 6) != 6)
        return 0;
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    return (b >> 5) & 1; /* AVX2 */
}

HALF_TARGET int half_pack(const float *V, size_t n, size_t f, uint16_t *out)
{
    memset(out, 0, half_elems(n, f) * sizeof *out);
    for (size_t i = 0; i < n; i++) {
        const float *v = V + i * f;
        uint16_t *blk = out + (i / 8) * f * 8 + i % 8;
        for (size_t j = 0; j < f; j++) {
            if (!isfinite(v[j]) || fabsf(v[j]) > 65504.0f)
                return -1;
            blk[j * 8] = (uint16_t)_cvtss_sh(v[j], _MM_FROUND_TO_NEAREST_INT);
        }
    }
    return 0;
}

#define LOADH(p) _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(p)))

HALF_TARGET void half_score(const uint16_t *Vh, size_t n, size_t f, const float *u, float *scores)
{
    size_t nb = half_padded(n) / 8, b = 0, s = f * 8;
    for (; b + 8 <= nb; b += 8) {
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0,
               a7 = a0;
        const uint16_t *p = Vh + b * s;
        for (size_t j = 0; j < f; j++, p += 8) {
            __m256 uj = _mm256_broadcast_ss(u + j);
            a0 = _mm256_fmadd_ps(LOADH(p), uj, a0);
            a1 = _mm256_fmadd_ps(LOADH(p + s), uj, a1);
            a2 = _mm256_fmadd_ps(LOADH(p + 2 * s), uj, a2);
            a3 = _mm256_fmadd_ps(LOADH(p + 3 * s), uj, a3);
            a4 = _mm256_fmadd_ps(LOADH(p + 4 * s), uj, a4);
            a5 = _mm256_fmadd_ps(LOADH(p + 5 * s), uj, a5);
            a6 = _mm256_fmadd_ps(LOADH(p + 6 * s), uj, a6);
            a7 = _mm256_fmadd_ps(LOADH(p + 7 * s), uj, a7);
        }
        float *o = scores + b * 8;
        _mm256_storeu_ps(o, a0);
        _mm256_storeu_ps(o + 8, a1);
        _mm256_storeu_ps(o + 16, a2);
        _mm256_storeu_ps(o + 24, a3);
        _mm256_storeu_ps(o + 32, a4);
        _mm256_storeu_ps(o + 40, a5);
        _mm256_storeu_ps(o + 48, a6);
        _mm256_storeu_ps(o + 56, a7);
    }
    for (; b < nb; b++) {
        __m256 a = _mm256_setzero_ps();
        const uint16_t *p = Vh + b * s;
        for (size_t j = 0; j < f; j++, p += 8)
            a = _mm256_fmadd_ps(LOADH(p), _mm256_broadcast_ss(u + j), a);
        _mm256_storeu_ps(scores + b * 8, a);
    }
}

#else /* not x86-64: never selected, half_supported() says so */

int half_supported(void)
{
    return 0;
}

int half_pack(const float *V, size_t n, size_t f, uint16_t *out)
{
    (void)V, (void)n, (void)f, (void)out;
    return -1;
}

void half_score(const uint16_t *Vh, size_t n, size_t f, const float *u, float *scores)
{
    (void)Vh, (void)f, (void)u;
    memset(scores, 0, half_padded(n) * sizeof *scores);
}

#endif

/* ---- plain binary16 rows ------------------------------------------------ */

static uint16_t float_to_half(float x)
{
    uint32_t b;
    memcpy(&b, &x, sizeof b);
    uint16_t sign = (uint16_t)((b >> 16) & 0x8000);
    uint32_t exp = (b >> 23) & 0xff, man = b & 0x7fffff;
    int e = (int)exp - 127 + 15;
    if (e >= 31) /* too large (callers refuse it first): infinity */
        return sign | 0x7c00;
    if (e <= 0) { /* subnormal half (or zero): shift the full mantissa */
        if (e < -10)
            return sign;
        man |= 0x800000;
        int shift = 14 - e; /* 14..24 */
        uint32_t h = man >> shift, rem = man & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1)))
            h++;
        return sign | (uint16_t)h;
    }
    uint32_t h = ((uint32_t)e << 10) | (man >> 13), rem = man & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1)))
        h++; /* may carry into the exponent: still right (up to infinity) */
    return sign | (uint16_t)h;
}

static float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, e = (h >> 10) & 31, man = h & 1023, b;
    if (e == 0) {
        if (man == 0) {
            b = sign;
        } else { /* subnormal: normalise */
            int k = -1;
            do {
                k++;
                man <<= 1;
            } while (!(man & 1024));
            b = sign | ((uint32_t)(127 - 15 - k) << 23) | ((man & 1023) << 13);
        }
    } else if (e == 31) {
        b = sign | 0x7f800000 | (man << 13);
    } else {
        b = sign | ((e - 15 + 127) << 23) | (man << 13);
    }
    float x;
    memcpy(&x, &b, sizeof x);
    return x;
}

int half_from_floats(const float *in, size_t n, uint16_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(in[i]) || fabsf(in[i]) > 65504.0f)
            return -1;
        out[i] = float_to_half(in[i]);
    }
    return 0;
}

void half_to_floats(const uint16_t *in, size_t n, float *out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = half_to_float(in[i]);
}

int half_all_finite(const uint16_t *in, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((in[i] & 0x7c00) == 0x7c00)
            return 0;
    return 1;
}
