/*
 * mf_recommend_bench.c - in-process cost of one recommend (score every item,
 * drop the user's seen items, top-k), with f32 (cblas_sgemv), f16
 * (mf/half.c) and i8 (mf/quant.c screening + exact re-score) scoring,
 * measured side by side in one run.
 *
 *   build/mf_recommend_bench MODEL_DIR [K=10] [ROUNDS=20] [PRECISIONS=f32,f16,i8] [QUERY=seen]
 *                            [EVICT_KB=0]
 *
 * MODEL_DIR is a model's NAME or VERSION directory (as `encore-train eval`
 * takes). Every round asks for every user once with each precision in
 * turn, so machine noise hits all alike; prints the median and minimum
 * thread-CPU microseconds per call, and, when the first precision is f32,
 * how many of the top-k lists (items and order) are identical to f32's.
 * QUERY: seen (recommend, the user's seen items excluded), all (recommend,
 * nothing excluded) or similar (items similar to item u, for u < users).
 * A single precision (e.g. `i8`) suits callgrind: instructions per call are
 * then mf_recommend's (or mf_similar's) inclusive count / calls.
 * EVICT_KB > 0: a proxy for a server whose other work evicts the model from
 * the caches between requests: before every call the bench writes a buffer
 * of that many KB (untimed), and each call is timed alone (the clock reads
 * then count in every precision alike).
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/model.h"
#include "core/repo.h"
#include "families.h"
#include "mf/mf.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static struct model *load(const char *dir, const char *precision)
{
    enc_err err = {0};
    char *path = NULL, *name = NULL;
    int64_t version = 0;
    struct model *m = NULL;
    struct model_load_opts lo = model_default_opts;
    if (model_precision_parse(precision, &lo.precision, &err) || model_load_opts_check(&lo, &err) ||
        repo_resolve(dir, &path, &name, &version, &err) ||
        model_load(name, version, path, &lo, &m, &err)) {
        fprintf(stderr, "mf_recommend_bench: %s\n", err.msg);
        exit(1);
    }
    free(path);
    free(name);
    if (m->ops != &mf_ops) {
        fprintf(stderr, "mf_recommend_bench: %s: not an mf model\n", dir);
        exit(1);
    }
    return m;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: mf_recommend_bench MODEL_DIR [K=10] [ROUNDS=20] "
                        "[PRECISIONS=f32,f16,i8] [QUERY=seen|all|similar] [EVICT_KB=0]\n");
        return 2;
    }
    size_t k = argc > 2 ? (size_t)atoi(argv[2]) : 10;
    int rounds = argc > 3 ? atoi(argv[3]) : 20;
    char plist[64];
    snprintf(plist, sizeof plist, "%s", argc > 4 ? argv[4] : "f32,f16,i8");
    const char *query = argc > 5 ? argv[5] : "seen";
    size_t evict = argc > 6 ? (size_t)atol(argv[6]) * 1024 : 0;
    unsigned char *junk = evict ? malloc(evict) : NULL;
    if (evict && !junk)
        return 1;
    int similar = strcmp(query, "similar") == 0, seen = strcmp(query, "seen") == 0;
    if (k < 1 || k > 1000 || rounds < 1 || !(similar || seen || strcmp(query, "all") == 0)) {
        fprintf(stderr, "mf_recommend_bench: K must be 1..1000, ROUNDS >= 1, QUERY seen, all or "
                        "similar\n");
        return 2;
    }
    openblas_set_num_threads(1); /* as the server: one request, one thread */
    enum { MAXP = 3 };
    const char *names[MAXP];
    int NP = 0;
    for (char *tok = strtok(plist, ","); tok; tok = strtok(NULL, ","))
        if (NP < MAXP)
            names[NP++] = tok;
    if (NP == 0) {
        fprintf(stderr, "mf_recommend_bench: no precision given\n");
        return 2;
    }
    struct model *models[MAXP];
    for (int p = 0; p < NP; p++)
        models[p] = load(argv[1], names[p]);
    const struct mf_model *m0 = models[0]->state;
    size_t users = mf_n_users(m0);
    float *scratch = malloc(mf_scratch_floats(m0) * sizeof *scratch);
    struct reco_hit *hits = malloc(NP * users * k * sizeof *hits);
    size_t *nh = calloc((size_t)NP * users, sizeof *nh);
    double *per[MAXP];
    for (int p = 0; p < NP; p++)
        if (!(per[p] = malloc((size_t)rounds * sizeof(double))))
            return 1;
    if (!scratch || !hits || !nh)
        return 1;
    enc_err err = {0};
    enum reco_source src;
    for (int r = 0; r < rounds; r++)
        for (int p = 0; p < NP; p++) {
            const struct mf_model *m = models[p]->state;
            double t0 = cpu_now(), spent = 0;
            for (size_t u = 0; u < users; u++) {
                struct reco_query q = {.user = (int64_t)u, .k = k, .exclude_seen = seen};
                struct reco_hit *h = hits + (p * users + u) * k;
                size_t *n = &nh[p * users + u];
                if (evict) {
                    for (size_t b = 0; b < evict; b += 64)
                        junk[b] = (unsigned char)(junk[b] + u);
                    t0 = cpu_now();
                }
                if (similar
                        ? u < mf_n_items(m) && mf_similar(m, (int32_t)u, &q, scratch, h, n, &err)
                        : mf_recommend(m, &q, scratch, h, n, &src, &err)) {
                    fprintf(stderr, "mf_recommend_bench: %s\n", err.msg);
                    return 1;
                }
                if (evict)
                    spent += cpu_now() - t0;
            }
            per[p][r] = (evict ? spent : cpu_now() - t0) / (double)users * 1e6;
        }
    printf("{\"users\":%zu,\"items\":%zu,\"factors\":%zu,\"k\":%zu,\"rounds\":%d,\"query\":\"%s\","
           "\"evict_kb\":%zu",
           users, mf_n_items(m0), mf_factors(m0), k, rounds, query, evict / 1024);
    for (int p = 0; p < NP; p++) {
        qsort(per[p], (size_t)rounds, sizeof(double), cmp_double);
        printf(",\"%s_us_median\":%.2f,\"%s_us_min\":%.2f", names[p], per[p][rounds / 2], names[p],
               per[p][0]);
    }
    for (int p = 1; p < NP && strcmp(names[0], "f32") == 0; p++) {
        size_t same = 0; /* lists whose items agree with f32's (scores may differ by rounding) */
        for (size_t u = 0; u < users; u++) {
            const struct reco_hit *a = hits + u * k, *b = hits + (p * users + u) * k;
            int eq = nh[u] == nh[p * users + u];
            for (size_t i = 0; eq && i < nh[u]; i++)
                eq = a[i].item == b[i].item;
            same += (size_t)eq;
        }
        printf(",\"%s_identical_top_k_lists\":%zu", names[p], same);
    }
    printf("}\n");
    free(junk);
    free(scratch);
    free(hits);
    free(nh);
    for (int p = 0; p < NP; p++) {
        free(per[p]);
        model_unref(models[p]);
    }
    return 0;
}
