/*
 * catalog_bench.c - in-process catalogue-scale figures for one model with an
 * item index (bench/catalog_scale.sh runs it; results in BENCHMARKS.md):
 *
 *   build/catalog_bench MODEL_DIR [QUERIES=1000] [EF=default] [EF_LIST=16,32,...]
 *
 * - load: seconds to open, validate and load the model (run it twice, or
 *   read the file first, for a warm page cache), wall and process CPU (the
 *   CPU time is the steadier figure on a shared machine);
 * - exact: mf_recommend (the int8 screen + f32 re-score, nothing excluded)
 *   for the first QUERIES users: thread-CPU ms p50 / p99;
 * - bandwidth: the same run's time to stream as many bytes as the int8
 *   table holds, read once with plain loads (the memory-bandwidth floor of
 *   any exact scan), alternated with the exact queries so both see the
 *   same machine;
 * - ann: index_search for the same users at each ef: recall@10 against
 *   the exact answer, p50 / p99; then with a filter callback that removes a
 *   pseudo-random half of the items, against a brute-force filtered answer.
 * Prints a table on stderr and one JSON line on stdout (at EF).
 * Times are thread CPU time (the machine is shared; wall time would be
 * mostly other processes), per query.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>

#include <cblas.h>

#include "core/model.h"
#include "core/repo.h"
#include "families.h"
#include "mf/index.h"
#include "mf/mf.h"
#include "mf/quant.h"

static double cpu_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double proc_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* Resident set size of this process, MB (/proc/self/status VmRSS). */
static double rss_mb(void)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    double kb = 0;
    while (fp && fgets(line, sizeof line, fp))
        if (sscanf(line, "VmRSS: %lf kB", &kb) == 1)
            break;
    if (fp)
        fclose(fp);
    return kb / 1024.0;
}

static double wall_now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(double *v, size_t n, double p)
{
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(p * (double)n);
    return v[i < n ? i : n - 1];
}

/* Half the items, pseudo-randomly (Knuth's multiplicative hash). */
static int keep_half(const void *ctx, int32_t item)
{
    (void)ctx;
    return (((uint32_t)item * 2654435761u) >> 7) & 1;
}

/* Brute-force top 10 of the eligible items (f32, ties to the lower row). */
static void brute(const float *V, size_t n, size_t f, const float *u, struct reco_hit *out)
{
    size_t len = 0;
    int fast = quant_fast(); /* CPUID once: it is slow in a VM */
    for (size_t i = 0; i < n; i++) {
        if (!keep_half(NULL, (int32_t)i))
            continue;
        float s = quant_dot(V + i * f, u, f, fast);
        if (len == 10 && !(s > out[9].score))
            continue;
        size_t at = len < 10 ? len++ : 9;
        while (at > 0 && out[at - 1].score < s) {
            out[at] = out[at - 1];
            at--;
        }
        out[at].item = (int32_t)i;
        out[at].score = s;
    }
}

static double overlap(const struct reco_hit *a, size_t na, const struct reco_hit *b, size_t nb)
{
    size_t hit = 0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            hit += a[i].item == b[j].item;
    return (double)hit / 10.0;
}

/* Sum the bytes with wide loads: the floor of any exact scan. */
static uint64_t stream(const uint64_t *p, size_t words)
{
    uint64_t a = 0, b = 0, c = 0, d = 0;
    for (size_t i = 0; i + 4 <= words; i += 4) {
        a += p[i];
        b ^= p[i + 1];
        c += p[i + 2];
        d ^= p[i + 3];
    }
    return a + b + c + d;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: catalog_bench MODEL_DIR [QUERIES=1000] [EF] [EF_LIST]\n");
        return 2;
    }
    size_t nq = argc > 2 ? (size_t)atol(argv[2]) : 1000;
    size_t ef_main = argc > 3 ? (size_t)atol(argv[3]) : 0;
    const char *ef_list = argc > 4 ? argv[4] : "16,32,64,100,150,200,300";
    /* CATALOG_RERANK=N: re-score the best N of the kept in f32 (0: the
     * index default; -1: all of them). */
    size_t rerank_n =
        getenv("CATALOG_RERANK") ? (size_t)strtoll(getenv("CATALOG_RERANK"), NULL, 10) : 0;
    /* CATALOG_WARM=1: time each walk right after the same walk (what it
     * costs with its rows in the caches: the compute part). */
    int warm = getenv("CATALOG_WARM") && atoi(getenv("CATALOG_WARM"));
    /* CATALOG_BATCH=N: candidates expanded together (index_query.batch). */
    size_t batch_n = getenv("CATALOG_BATCH") ? (size_t)atol(getenv("CATALOG_BATCH")) : 0;
    enc_err err = {0};
    char *path = NULL, *name = NULL;
    int64_t version = 0;
    struct model *m = NULL;
    openblas_set_num_threads(1); /* as encore-server runs it (server/main.c): Y^T Y at load
                                  * is one thread there, and OpenBLAS's idle threads spin */
    double t0 = wall_now(), c0 = proc_now();
    if (repo_resolve(argv[1], &path, &name, &version, &err) ||
        model_load(name, version, path, &model_default_opts, &m, &err)) {
        fprintf(stderr, "catalog_bench: %s\n", err.msg);
        return 1;
    }
    double load_s = wall_now() - t0, load_cpu_s = proc_now() - c0, load_rss = rss_mb();
    const struct mf_model *mf = m->state;
    const struct index *ix = mf_index(mf);
    size_t n = mf_n_items(mf), f = mf_factors(mf), users = mf_n_users(mf);
    if (nq > users)
        nq = users;
    const st_tensor *tv = st_find(m->file, "item_factors"), *tu = st_find(m->file, "user_factors");
    const float *V = tv->data, *U = tu->data;
    /* CATALOG_HUGE_LINKS=1: a second view of the same graph whose layer-0
     * links are copied into transparent huge pages (walk modes "int8h",
     * "f32h"): what the mapped file's 4 KB pages cost the walk. */
    struct index *ixh = NULL;
    if (ix && getenv("CATALOG_HUGE_LINKS") && atoi(getenv("CATALOG_HUGE_LINKS"))) {
        const st_tensor *tp = st_find(m->file, "index.params"),
                        *tl0 = st_find(m->file, "index.level0"),
                        *to = st_find(m->file, "index.upper.offsets"),
                        *tl = st_find(m->file, "index.upper.links");
        const int64_t *pp = tp->data;
        size_t hl = (tl0->nbytes + ((size_t)2 << 20) - 1) / ((size_t)2 << 20) * ((size_t)2 << 20);
        void *l0 = NULL;
        if (posix_memalign(&l0, (size_t)2 << 20, hl) == 0) {
            madvise(l0, hl, MADV_HUGEPAGE);
            memcpy(l0, tl0->data, tl0->nbytes);
            struct index_data hd = {.n = n,
                                    .m = (size_t)pp[1],
                                    .m0 = (size_t)pp[2],
                                    .ef_construction = (size_t)pp[3],
                                    .entry = pp[4],
                                    .top_layer = pp[5],
                                    .level0 = l0,
                                    .upper_off = (int64_t *)to->data,
                                    .upper = (int32_t *)tl->data};
            if (index_view(&hd, V, f, &ixh, &err))
                fprintf(stderr, "catalog_bench: huge-page view: %s\n", err.msg);
        }
    }
    if (!ef_main)
        ef_main = 100;
    fprintf(
        stderr,
        "catalog_bench: %zu items x %zu factors, %zu queries, load %.3f s (CPU %.3f s), RSS after load %.0f MB "
        "(model memory %.0f MB, of which index %.0f MB), index %s\n",
        n, f, nq, load_s, load_cpu_s, load_rss, (double)m->ops->mem_usage(m->state) / 1048576.0,
        ix ? (double)index_bytes(ix) / 1048576.0 : 0.0, ix ? "hnsw" : "none");

    /* Exact answers and timings, alternated with the plain read. */
    float *scratch = malloc(mf_scratch_floats(mf) * sizeof *scratch);
    struct reco_hit *exact = malloc(nq * 10 * sizeof *exact),
                    *fexact = malloc(nq * 10 * sizeof *fexact);
    size_t *nexact = malloc(nq * sizeof *nexact);
    double *ms = malloc(nq * sizeof *ms), *bw = malloc(nq * sizeof *bw),
           *wall = malloc(nq * sizeof *wall);
    size_t bytes = quant_padded(n) * ((f + 3) / 4 * 4);
    uint64_t *table = aligned_alloc(64, (bytes + 63) / 64 * 64);
    memset(table, 1, (bytes + 63) / 64 * 64);
    /* A buffer as large as the table, written between runs, so neither
     * starts with the other's bytes cached. */
    char *evict = malloc(bytes);
    volatile uint64_t sink = 0;
    for (size_t q = 0; q < nq; q++) {
        memset(evict, (int)q, bytes);
        double s = cpu_now();
        sink += stream(table, bytes / 8);
        bw[q] = (cpu_now() - s) * 1e3;
        memset(evict, (int)q + 1, bytes);
        struct reco_query mq = {.user = (int64_t)q, .k = 10, .exclude_seen = 0};
        enum reco_source src;
        s = cpu_now();
        mf_recommend(mf, &mq, scratch, exact + q * 10, &nexact[q], &src, &err);
        ms[q] = (cpu_now() - s) * 1e3;
    }
    double exact_p50 = pct(ms, nq, 0.5), exact_p99 = pct(ms, nq, 0.99), bw_p50 = pct(bw, nq, 0.5);
    fprintf(stderr,
            "exact: p50 %.3f ms p99 %.3f ms; plain read of %zu bytes: p50 %.3f ms "
            "(ratio %.2f)\n",
            exact_p50, exact_p99, bytes, bw_p50, exact_p50 / bw_p50);
    double out_recall = 0, out_frecall = 0, out_p50 = 0, out_p99 = 0, out_fp50 = 0;
    if (ix) {
        for (size_t q = 0; q < nq; q++)
            brute(V, n, f, U + q * f, fexact + q * 10);
        char list[256];
        snprintf(list, sizeof list, "%zu,%s", ef_main, ef_list);
        int first = 1;
        for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ","), first = 0) {
            size_t ef = (size_t)atol(tok);
            size_t wb = index_work_bytes(ix, ef, 0);
            void *work = malloc(wb);
            /* Walk modes, alternated query by query so that the machine's
             * other load hits them alike: CATALOG_WALKS=int8,f32,int8:4
             * (int8 row codes or f32; ":B" expands B candidates at once);
             * default "int8,f32" when the index has codes. The first mode
             * is the JSON line's. */
            const char *wl = getenv("CATALOG_WALKS");
            char wbuf[128];
            snprintf(wbuf, sizeof wbuf, "%s", wl ? wl : index_code_bytes(ix) ? "int8,f32" : "f32");
            int mf32[8], mhuge[8];
            size_t mbatch[8], nm = 0;
            for (char *save = NULL, *t = strtok_r(wbuf, ",", &save); t && nm < 8;
                 t = strtok_r(NULL, ",", &save), nm++) {
                mf32[nm] = strncmp(t, "f32", 3) == 0;
                mhuge[nm] = strchr(t, 'h') && ixh;
                mbatch[nm] = strchr(t, ':') ? (size_t)atol(strchr(t, ':') + 1) : batch_n;
            }
            double *mms = malloc(nm * nq * sizeof *mms), *mwall = malloc(nm * nq * sizeof *mwall);
            for (int filt = 0; filt < 2; filt++) {
                double rec[8] = {0}, visits[8] = {0}, expanded[8] = {0};
                size_t incomplete[8] = {0};
                /* Step i runs query (i + mi nq / nm) mod nq in mode mi: every
                 * mode sees every query once, and consecutive walks are of
                 * different queries (the same query twice in a row would
                 * find the first walk's rows cached). */
                for (size_t step = 0; step < nq; step++)
                    for (size_t mi = 0; mi < nm; mi++) {
                        size_t q = (step + mi * nq / nm) % nq;
                        struct reco_hit hits[10];
                        size_t nh;
                        struct index_stats st;
                        struct index_query iq = {.u = U + q * f,
                                                 .k = 10,
                                                 .ef = ef,
                                                 .filter = filt ? keep_half : NULL,
                                                 .f32_walk = mf32[mi],
                                                 .rerank = rerank_n,
                                                 .batch = mbatch[mi],
                                                 .stats = &st};
                        if (warm) /* the same walk just before: its rows cached */
                            index_search(mhuge[mi] ? ixh : ix, &iq, work, wb, hits, &nh);
                        double s = cpu_now(), w = wall_now();
                        incomplete[mi] +=
                            index_search(mhuge[mi] ? ixh : ix, &iq, work, wb, hits, &nh) != 0;
                        mms[mi * nq + q] = (cpu_now() - s) * 1e3;
                        mwall[mi * nq + q] = (wall_now() - w) * 1e3;
                        visits[mi] += (double)st.visits;
                        expanded[mi] += (double)st.expanded;
                        rec[mi] += filt ? overlap(hits, nh, fexact + q * 10, 10)
                                        : overlap(hits, nh, exact + q * 10, nexact[q]);
                    }
                for (size_t mi = 0; mi < nm; mi++) {
                    double r = rec[mi] / (double)nq;
                    double p50 = pct(mms + mi * nq, nq, 0.5), p99 = pct(mms + mi * nq, nq, 0.99);
                    fprintf(stderr,
                            "ann ef %4zu %s%s:%zu %s: recall@10 %.4f  p50 %.3f ms  p99 %.3f ms  "
                            "(wall p50 %.3f p99 %.3f)  incomplete %zu  visits %.0f expanded "
                            "%.0f\n",
                            ef, mf32[mi] ? "f32 " : "int8", mhuge[mi] ? "h" : "",
                            mbatch[mi] ? mbatch[mi] : INDEX_BATCH,
                            filt ? "50% filtered" : "unfiltered  ", r, p50, p99,
                            pct(mwall + mi * nq, nq, 0.5), pct(mwall + mi * nq, nq, 0.99),
                            incomplete[mi], visits[mi] / (double)nq, expanded[mi] / (double)nq);
                    if (mi || !first)
                        continue;
                    if (!filt) {
                        out_recall = r;
                        out_p50 = p50;
                        out_p99 = p99;
                    } else {
                        out_frecall = r;
                        out_fp50 = p50;
                    }
                }
            }
            free(mms);
            free(mwall);
            free(work);
        }
    }
    /* The server's operations at ef_main (what a request runs after parsing):
     * recommend with exclude_seen (the request default), and `similar` for
     * pseudo-random items, index against "exact": true (cosine). */
    double op_p50 = 0, op_p99 = 0, sim_recall = 0, sim_p50 = 0, sim_p99 = 0, sim_exact_p50 = 0;
    const struct reco_ops *ro = m->ops->reco;
    void *opw = ix ? malloc(ro->scratch_bytes(m->state)) : NULL;
    size_t nsim = nq < 300 ? nq : 300;
    if (opw) {
        struct reco_query oq = {
            .k = 10, .exclude_seen = 1, .index_min_items = 1, .ef_search = ef_main};
        struct reco_hit hits[10], ehits[10];
        struct reco_result res = {.hits = hits}, eres = {.hits = ehits};
        for (size_t q = 0; q < nq; q++) {
            oq.user = (int64_t)q;
            double s = cpu_now();
            ro->recommend(m->state, &oq, opw, &res, &err);
            ms[q] = (cpu_now() - s) * 1e3;
        }
        op_p50 = pct(ms, nq, 0.5);
        op_p99 = pct(ms, nq, 0.99);
        oq.user = -1;
        oq.exclude_seen = 0;
        size_t on_index = 0;
        for (size_t q = 0; q < nsim; q++) {
            int32_t item = (int32_t)(((uint64_t)q * 2654435761u) % n);
            struct reco_query eq = oq;
            eq.exact = 1;
            double s = cpu_now();
            ro->similar(m->state, item, &eq, opw, &eres, &err);
            bw[q] = (cpu_now() - s) * 1e3;
            s = cpu_now();
            ro->similar(m->state, item, &oq, opw, &res, &err);
            ms[q] = (cpu_now() - s) * 1e3;
            on_index += res.search == RECO_SEARCH_INDEX;
            sim_recall += overlap(res.hits, res.n, eres.hits, eres.n);
        }
        sim_recall /= (double)nsim;
        sim_p50 = pct(ms, nsim, 0.5);
        sim_p99 = pct(ms, nsim, 0.99);
        sim_exact_p50 = pct(bw, nsim, 0.5);
        fprintf(stderr,
                "ops at ef %zu: recommend (exclude_seen) p50 %.3f ms p99 %.3f ms; similar "
                "(cosine, %zu items, %zu from the index): recall@10 %.4f p50 %.3f ms p99 %.3f ms, "
                "exact p50 %.3f ms\n",
                ef_main, op_p50, op_p99, nsim, on_index, sim_recall, sim_p50, sim_p99,
                sim_exact_p50);
    }
    free(opw);
    printf("{\"items\":%zu,\"factors\":%zu,\"exact_ms_p50\":%.4f,\"exact_ms_p99\":%.4f,"
           "\"bandwidth_ms\":%.4f,"
           "\"ann_ef\":%zu,\"ann_recall_at_10\":%.4f,\"ann_ms_p50\":%.4f,\"ann_ms_p99\":%.4f,"
           "\"ann_filtered_recall_at_10\":%.4f,\"ann_filtered_ms_p50\":%.4f,\"load_s\":%.3f,"
           "\"load_cpu_s\":%.3f,\"rss_after_load_mb\":%.0f,\"index_mb\":%.1f,"
           "\"reco_op_ms_p50\":%.4f,\"reco_op_ms_p99\":%.4f,\"similar_recall_at_10\":%.4f,"
           "\"similar_ms_p50\":%.4f,\"similar_ms_p99\":%.4f,\"similar_exact_ms_p50\":%.4f}\n",
           n, f, exact_p50, exact_p99, bw_p50, ef_main, out_recall, out_p50, out_p99, out_frecall,
           out_fp50, load_s, load_cpu_s, load_rss, ix ? (double)index_bytes(ix) / 1048576.0 : 0.0,
           op_p50, op_p99, sim_recall, sim_p50, sim_p99, sim_exact_p50);
    free(scratch);
    free(exact);
    free(fexact);
    free(nexact);
    free(ms);
    free(bw);
    free(wall);
    free(table);
    free(evict);
    index_free(ixh);
    model_unref(m);
    free(path);
    free(name);
    return (int)(sink & 0);
}
