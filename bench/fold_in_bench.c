/*
 * fold_in_bench.c - the cost of folding a known user's new events into their
 * vector (reco_ops.fold_in_weighted, the update of the trained vector with
 * 3 conjugate-gradient steps) against the exact least-squares step (the same
 * entries, LAPACK Cholesky), per call, in process.
 *
 *   fold_in_bench MODEL_FILE [EVENTS]     (default 50 new event items)
 *
 * The user is the one with the median number of training items (WHICH=max:
 * the most); their training items plus EVENTS items they have not seen are
 * the entries.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/model.h"
#include "families.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the machine is shared */
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: fold_in_bench MODEL_FILE [EVENTS]\n");
        return 2;
    }
    size_t n_ev = argc > 2 ? (size_t)atoi(argv[2]) : 50;
    struct model_load_opts o = {.families = model_families};
    struct model *m;
    enc_err err = {0};
    if (model_load("bench", 1, argv[1], &o, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    const struct reco_ops *ro = m->ops->reco;
    size_t F = ro->factors(m->state), nu = ro->n_users(m->state), ni = ro->n_items(m->state);
    /* the user with the median number of training items (WHICH=max: the most) */
    size_t *cnt = malloc(nu * sizeof *cnt), *srt = malloc(nu * sizeof *srt);
    for (size_t u = 0; u < nu; u++) {
        const int32_t *s;
        cnt[u] = srt[u] = ro->seen(m->state, (int64_t)u, &s);
    }
    for (size_t a = 1; a < nu; a++) /* insertion sort: nu is small here */
        for (size_t b = a; b > 0 && srt[b - 1] > srt[b]; b--) {
            size_t x = srt[b];
            srt[b] = srt[b - 1];
            srt[b - 1] = x;
        }
    const char *which = getenv("WHICH");
    size_t want = which && !strcmp(which, "max") ? srt[nu - 1] : srt[nu / 2];
    int64_t user = 0;
    for (size_t u = 0; u < nu; u++)
        if (cnt[u] == want) {
            user = (int64_t)u;
            break;
        }
    free(cnt);
    free(srt);
    const int32_t *seen;
    size_t ns = ro->seen(m->state, user, &seen);
    size_t n = ns + n_ev;
    int32_t *rows = malloc(n * sizeof *rows);
    float *conf = malloc(n * sizeof *conf), *pref = malloc(n * sizeof *pref);
    float *conf0 = malloc(n * sizeof *conf0), *pref0 = malloc(n * sizeof *pref0);
    float alpha = (float)ro->alpha(m->state);
    for (size_t i = 0; i < ns; i++)
        rows[i] = seen[i], conf[i] = conf0[i] = 1 + alpha, pref[i] = pref0[i] = 1;
    size_t k = ns;
    for (size_t it = 0; it < ni && k < n; it++) {
        int dup = 0;
        for (size_t i = 0; i < ns && !dup; i++)
            dup = seen[i] == (int32_t)it;
        if (!dup)
            rows[k] = (int32_t)it, conf[k] = 1 + alpha, pref[k] = 1, conf0[k] = 1, pref0[k] = 0,
            k++;
    }
    n = k;
    void *scratch = malloc(ro->scratch_bytes(m->state));
    float *vec = malloc(F * sizeof *vec);
    const float *x0 = ro->user_factors(m->state, user);
    for (int pass = 0; pass < 2; pass++) {
        int reps = 2000;
        double t0 = now_s();
        for (int r = 0; r < reps; r++)
            if (ro->fold_in_weighted(m->state, rows, conf, pref, conf0, pref0, n,
                                     pass == 0 ? x0 : NULL, scratch, vec, &err)) {
                fprintf(stderr, "%s\n", err.msg);
                return 1;
            }
        printf("%s: %zu factors, %zu training items + %zu events: %.1f us of CPU per fold-in\n",
               pass == 0 ? "update (CG, 3 steps)" : "exact (Cholesky)   ", F, ns, n - ns,
               (now_s() - t0) / reps * 1e6);
    }
    model_unref(m);
    return 0;
}
