/*
 * rng.h - the one random number generator: splitmix64 (Steele, Lea & Flood,
 * "Fast splittable pseudorandom number generators", OOPSLA 2014; Vigna's
 * public-domain reference splitmix64.c).
 *
 * Every trainer draws from it (ALS / BPR initialisation and sampling, the
 * SVM's row order, forest bootstraps, CNN initialisation and dropout, text
 * shuffles, fold assignment, the demo data), so "same seed, same model" holds
 * across families and the stream is written down once. It is small and fast,
 * passes BigCrush, and each output is a bijective hash of its state, which is
 * why a counter can be hashed directly (rng_hash) when a draw must not depend
 * on the order of others (CNN dropout masks, per-tree seeds).
 *
 *   state s  --(s += GAMMA)-->  z = s  --mix-->  output
 *
 * rng_next(&s) and rng_hash(x) are the same function: rng_next returns
 * rng_hash(s) and advances s by GAMMA.
 */
#ifndef ENCORE_RNG_H
#define ENCORE_RNG_H

#include <stddef.h>
#include <stdint.h>

#define RNG_GAMMA 0x9E3779B97F4A7C15ull /* 2^64 / golden ratio, odd */

/* The splitmix64 output for state x: (x + GAMMA) through the mixing function.
 * A stateless 64-bit hash of x (a bijection). */
static inline uint64_t rng_hash(uint64_t x)
{
    uint64_t z = x + RNG_GAMMA;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Next output of the generator whose state is *s; advances *s. */
static inline uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    *s = x + RNG_GAMMA;
    return rng_hash(x);
}

/* The top 24 bits of r as a number in [0, 1) (k / 2^24: exact in a float,
 * so float and double callers see the same value). */
static inline double rng_unit24(uint64_t r)
{
    return (double)(r >> 40) * (1.0 / 16777216.0);
}

/* The top 53 bits of r as a double in [0, 1). */
static inline double rng_unit53(uint64_t r)
{
    return (double)(r >> 11) * (1.0 / 9007199254740992.0);
}

/* A uniform double in [0, 1) from the generator *s. */
static inline double rng_uniform(uint64_t *s)
{
    return rng_unit53(rng_next(s));
}

/* rng_next(s) % n, n > 0: uniform in [0, n) up to a modulo bias below n / 2^64
 * (< 2^-40 for any n Encore draws from). */
static inline uint64_t rng_below(uint64_t *s, uint64_t n)
{
    return rng_next(s) % n;
}

/* Shuffle a[0..n) in place (Fisher-Yates from the end: for i = n .. 2, swap
 * a[i-1] with a[rng_below(s, i)]), drawing n - 1 numbers from *s. */
static inline void rng_shuffle(size_t *a, size_t n, uint64_t *s)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(s, i), t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

#endif
