// ann_choice.cc - hnswlib vs FAISS on the same factors, for the choice of
// the ANN library (bench/results/ann.md). Not part of the build:
//
//   g++ -O2 -mavx2 -mfma -fopenmp -o /tmp/ann_choice bench/ann_choice.cc \
//       -lfaiss -lopenblas -llapack   (needs libhnswlib-dev and libfaiss-dev)
//   /tmp/ann_choice DIR [M] [EF_CONSTRUCTION] [QUERIES] [variants]
//
// DIR holds item_factors.npy and user_factors.npy (bench/catalog_synth.py).
// variants: any of h (hnswlib inner-product space), a (hnswlib L2 on
// norm-augmented items), f (FAISS IndexHNSWFlat, inner product); default "haf".
// For each: build seconds (2 threads), resident bytes added, and per ef:
// recall@10 against brute force, p50 / p99 query ms (one thread), and for
// FAISS the same with an IDSelector removing half the items (hnswlib 0.6.2,
// Debian's, has no filtered search).
//
// Inverted files (session 4, bench/results/ann.md), inner product. One
// coarse quantizer per nlist, shared by the variants: ANN_KMEANS=ip (FAISS's
// default for an IP index: k-means assigning by inner product) or l2 (k-means
// and item assignment by L2; lists probed by <q, centroid> through an
// IndexFlatIP on the same centroids, swapped in after add: far better on
// these factors, see the results).
//   i  IndexIVFFlat                 s  IndexIVFScalarQuantizer QT_8bit
//   q  IndexIVFScalarQuantizer QT_4bit
//   p  IndexIVFPQFastScan (4-bit PQ, ANN_PQ_M sub-quantizers), then the
//      k_factor * 10 candidates re-ranked (what IndexRefineFlat does; done
//      here because 1.7.3's IndexRefine takes no SearchParameters): in f32,
//      or with ANN_RERANK=int8 on Encore's int8 row codes and the best 40 in
//      f32. 1.7.3's IndexIVFFastScan refuses SearchParameters ("search params
//      not supported for this index"): nprobe is set on the index and the
//      50% filter is applied to the candidates (a post-filter, labelled so).
//   m  not FAISS, an estimate: variant p's whole query written by hand with
//      AVX2 (OpenBLAS sgemv over the real centroids, top nprobe, a 4-bit LUT,
//      vpshufb scan of the probed lists in FAISS's block layout of 32 codes
//      with the real list sizes, the re-rank of k_factor * 10 rows of the
//      real tables as ANN_RERANK says), because Debian's libfaiss.a is built
//      for baseline x86-64 (no AVX2: no vpshufb, simd16uint16 emulated). The
//      codes are synthetic, so the candidates kept are not the real ones
//      (recall comes from variant p); timed in wall time (the thread-CPU
//      clock is a ~0.6 us system call here, too coarse for the parts).
//   e  not FAISS: after variant i, the same lists scanned by a hand-written
//      AVX2 inverted file on Encore's int8 row codes with an f32 re-score of
//      the best 40 (ivf_int8_handmade): recall and time both measured.
// (With -mavx512vnni -mavx512vl added, ANN_VNNI=1 gives variant e the
// vpdpbusd kernel.)
// Environment: ANN_ITEMS (first N items only), ANN_NLIST (1024,4096),
// ANN_NPROBE (1,2,...,256: the sweep stops once both recalls pass 0.96),
// ANN_KFACTOR (4,10,20,40), ANN_PQ_M (16), ANN_KMEANS, ANN_RERANK, ANN_WARM,
// ANN_PREFETCH and ANN_CONTEND (variant e only, see ivf_int8_handmade), ANN_TRUTH (a
// cache file for the exact answers). Per nprobe: recall@10, thread-CPU p50 /
// p99 ms per query (one thread), codes scanned per query (IndexIVFStats.ndis),
// unfiltered and with the same pseudo-random half removed as above
// (IDSelectorBitmap in SearchParametersIVF.sel).
#include <hnswlib/hnswlib.h>
#include <faiss/IndexFlat.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVFFlat.h>
#include <faiss/IndexIVFPQFastScan.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/AuxIndexStructures.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/IDSelector.h>
#include <faiss/invlists/InvertedLists.h>
#include <cblas.h>
#include <immintrin.h>
#include <omp.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

static double now()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static long rss_kb()
{
    std::ifstream f("/proc/self/status");
    std::string line;
    while (std::getline(f, line))
        if (line.rfind("VmRSS:", 0) == 0)
            return std::stol(line.substr(6));
    return 0;
}

static std::vector<float> load_npy(const std::string &path, size_t &rows, size_t &cols)
{
    std::ifstream f(path, std::ios::binary);
    char magic[10];
    f.read(magic, 10);
    unsigned hl = (unsigned char)magic[8] | ((unsigned char)magic[9] << 8);
    std::string h(hl, ' ');
    f.read(&h[0], hl);
    size_t p = h.find("'shape': (");
    sscanf(h.c_str() + p + 10, "%zu, %zu", &rows, &cols);
    std::vector<float> v(rows * cols);
    f.read((char *)v.data(), v.size() * 4);
    return v;
}

typedef std::vector<std::vector<int>> Truth;

// Exact top 10 per query (of the items `allowed`, or all).
static Truth brute(const std::vector<float> &V, size_t n, size_t d, const float *Q, size_t nq,
                   const std::vector<uint8_t> *allowed)
{
    Truth t(nq);
#pragma omp parallel for
    for (size_t q = 0; q < nq; q++) {
        std::vector<std::pair<float, int>> best;
        for (size_t i = 0; i < n; i++) {
            if (allowed && !(*allowed)[i])
                continue;
            float s = 0;
            for (size_t j = 0; j < d; j++)
                s += V[i * d + j] * Q[q * d + j];
            if (best.size() < 10) {
                best.push_back({s, (int)i});
                std::push_heap(best.begin(), best.end(), std::greater<>());
            } else if (s > best.front().first) {
                std::pop_heap(best.begin(), best.end(), std::greater<>());
                best.back() = {s, (int)i};
                std::push_heap(best.begin(), best.end(), std::greater<>());
            }
        }
        for (auto &b : best)
            t[q].push_back(b.second);
    }
    return t;
}

static double recall(const Truth &t, size_t q, const std::vector<int64_t> &got)
{
    int hit = 0;
    for (int64_t g : got)
        hit += std::count(t[q].begin(), t[q].end(), (int)g) > 0;
    return hit / 10.0;
}

static double cpu_now()
{
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static std::vector<int> int_list(const char *env, const char *dflt)
{
    const char *s = getenv(env);
    std::vector<int> v;
    for (const char *p = s && *s ? s : dflt; *p;) {
        v.push_back(atoi(p));
        while (*p && *p != ',')
            p++;
        if (*p == ',')
            p++;
    }
    return v;
}

// Exact answers cached in a file (ANN_TRUTH): nq, n, then 2 * nq * 10 ints.
static bool truth_load(const char *path, size_t n, size_t nq, Truth &t, Truth &ft)
{
    FILE *f = path ? fopen(path, "rb") : nullptr;
    if (!f)
        return false;
    size_t hdr[2] = {0, 0};
    bool ok = fread(hdr, sizeof hdr, 1, f) == 1 && hdr[0] == nq && hdr[1] == n;
    t.assign(nq, std::vector<int>(10));
    ft.assign(nq, std::vector<int>(10));
    for (size_t q = 0; ok && q < nq; q++)
        ok = fread(t[q].data(), 4, 10, f) == 10 && fread(ft[q].data(), 4, 10, f) == 10;
    fclose(f);
    return ok;
}

static void truth_save(const char *path, size_t n, size_t nq, const Truth &t, const Truth &ft)
{
    FILE *f = path ? fopen(path, "wb") : nullptr;
    if (!f)
        return;
    size_t hdr[2] = {nq, n};
    fwrite(hdr, sizeof hdr, 1, f);
    for (size_t q = 0; q < nq; q++)
        if (t[q].size() == 10 && ft[q].size() == 10)
            fwrite(t[q].data(), 4, 10, f), fwrite(ft[q].data(), 4, 10, f);
    fclose(f);
}

struct Row {
    double p50, p99, wall50, rec, ndis;
};

static Row summarize(std::vector<double> &ms, std::vector<double> &wall, double rec, double ndis, size_t nq)
{
    std::sort(ms.begin(), ms.end());
    std::sort(wall.begin(), wall.end());
    return {ms[ms.size() / 2], ms[ms.size() * 99 / 100], wall[wall.size() / 2], rec / nq, ndis / nq};
}

// AVX2 4-bit LUT scan in FAISS's fast-scan layout: blocks of 32 codes, per
// pair of sub-quantizers 32 bytes (low / high nibbles), two vpshufb into
// uint8 partial sums widened to uint16, then a threshold compare and a
// movemask per block (candidates go to a small top list). Returns the
// number of candidates kept (so the work cannot be optimised away).
static size_t lut_scan_avx2(const uint8_t *codes, size_t nblocks, int M, const uint8_t *lut, uint16_t thresh,
                            uint16_t *keep, size_t cap)
{
    size_t kept = 0;
    const __m256i lo = _mm256_set1_epi8(0x0f), bias = _mm256_set1_epi16((short)0x8000);
    const __m256i th = _mm256_set1_epi16((short)(thresh ^ 0x8000));
    for (size_t b = 0; b < nblocks; b++) {
        const uint8_t *c = codes + b * (size_t)M * 16;
        __m256i a0 = _mm256_setzero_si256(), a1 = a0, a2 = a0, a3 = a0;
        for (int m = 0; m < M / 2; m++) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(c + m * 32));
            __m256i l0 = _mm256_loadu_si256((const __m256i *)(lut + m * 64));
            __m256i l1 = _mm256_loadu_si256((const __m256i *)(lut + m * 64 + 32));
            __m256i r0 = _mm256_shuffle_epi8(l0, _mm256_and_si256(x, lo));
            __m256i r1 = _mm256_shuffle_epi8(l1, _mm256_and_si256(_mm256_srli_epi16(x, 4), lo));
            a0 = _mm256_add_epi16(a0, r0);   // FAISS's trick: even bytes
            a1 = _mm256_add_epi16(a1, _mm256_srli_epi16(r0, 8));   // carry in the high byte
            a2 = _mm256_add_epi16(a2, r1);
            a3 = _mm256_add_epi16(a3, _mm256_srli_epi16(r1, 8));
        }
        a0 = _mm256_sub_epi16(a0, _mm256_slli_epi16(a1, 8));
        a2 = _mm256_sub_epi16(a2, _mm256_slli_epi16(a3, 8));
        __m256i d0 = _mm256_add_epi16(_mm256_blend_epi16(a0, a1, 0xaa), _mm256_blend_epi16(a2, a3, 0xaa));
        __m256i d1 = _mm256_add_epi16(_mm256_blend_epi16(a1, a0, 0xaa), _mm256_blend_epi16(a3, a2, 0xaa));
        __m256i g0 = _mm256_cmpgt_epi16(_mm256_xor_si256(d0, bias), th);
        __m256i g1 = _mm256_cmpgt_epi16(_mm256_xor_si256(d1, bias), th);
        unsigned mask = (unsigned)_mm256_movemask_epi8(_mm256_packs_epi16(g0, g1));
        while (mask) {
            int j = __builtin_ctz(mask);
            mask &= mask - 1;
            if (kept < cap)
                keep[kept] = (uint16_t)(b * 32 + j);
            kept++;
        }
    }
    return kept;
}

static double loadavg();
static void select_top(const float *cs, int n, int np, std::vector<std::pair<float, int>> &out);

// Int8 row codes as Encore's walk uses them (models/mf/index.c): per row
// round(v / s) with s = max|v| / 127, for the two-stage re-rank
// (ANN_RERANK=int8: the k_factor * 10 candidates scored on their codes, the
// best 40 re-scored in f32, as index.c's INDEX_RERANK_MIN).
struct Int8Table {
    std::vector<int8_t> code;
    std::vector<float> scale;
};

static Int8Table int8_table(const std::vector<float> &V, size_t n, size_t d)
{
    Int8Table t;
    t.code.resize(n * d);
    t.scale.resize(n);
    for (size_t i = 0; i < n; i++) {
        float mx = 0;
        for (size_t j = 0; j < d; j++)
            mx = std::max(mx, std::fabs(V[i * d + j]));
        float sc = mx > 0 ? mx / 127.0f : 1.0f;
        t.scale[i] = sc;
        for (size_t j = 0; j < d; j++)
            t.code[i * d + j] = (int8_t)std::lrint(V[i * d + j] / sc);
    }
    return t;
}

static inline float dot_s8_avx2(const float *q, const int8_t *c, size_t d)
{
    __m256 acc = _mm256_setzero_ps();
    for (size_t j = 0; j + 8 <= d; j += 8) {
        __m256i w = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(c + j)));
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), _mm256_cvtepi32_ps(w), acc);
    }
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

static const size_t RERANK_F32 = 40;

static inline float dot_avx2(const float *a, const float *b, size_t d)
{
    __m256 acc = _mm256_setzero_ps();
    size_t j = 0;
    for (; j + 8 <= d; j += 8)
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(a + j), _mm256_loadu_ps(b + j), acc);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float x = _mm_cvtss_f32(h);
    for (; j < d; j++)
        x += a[j] * b[j];
    return x;
}

// The AVX2 estimate of one IVF-PQ fast-scan query (variant m, see the
// header). Prints p50 / p99 of the whole and the p50 of each part.
static void avx2_estimate(const float *cent, int nlist, const std::vector<size_t> &lsize,
                          const std::vector<size_t> &loff, const std::vector<uint8_t> &codes, int pq_m,
                          const std::vector<float> &V, size_t n, size_t d, const std::vector<float> &U, size_t nq,
                          int np, size_t kk, const Int8Table *i8)
{
    size_t dsub = d / pq_m;
    std::vector<float> book(pq_m * 16 * dsub);
    for (size_t i = 0; i < book.size(); i++)
        book[i] = (float)((i * 2654435761u >> 9) % 1000) / 1000.0f - 0.5f;
    std::vector<double> tot, tc, tl, ts, tr;
    std::vector<float> cd(nlist), lutf(pq_m * 16);
    std::vector<int> ord(nlist);
    std::vector<uint8_t> lut(pq_m * 32);
    std::vector<uint16_t> keep(1 << 16);
    size_t sink = 0, scanned = 0, kk0 = kk;
    for (size_t q = 0; q < nq; q++) {
        const float *qv = U.data() + q * d;
        kk = kk0;
        double t0 = now();
        // OpenBLAS's sgemv (AVX2 kernels, runtime dispatch), then the best
        // np (select_top)
        cblas_sgemv(CblasRowMajor, CblasNoTrans, nlist, (int)d, 1.0f, cent, (int)d, qv, 1, 0.0f, cd.data(), 1);
        std::vector<std::pair<float, int>> heap;
        select_top(cd.data(), nlist, np, heap);
        for (int i = 0; i < np; i++)
            ord[i] = heap[i].second;
        double t1 = now();
        float lo = 1e30f, hi = -1e30f;
        for (int m = 0; m < pq_m; m++)
            for (int c = 0; c < 16; c++) {
                float x = 0;
                for (size_t j = 0; j < dsub; j++)
                    x += qv[m * dsub + j] * book[(m * 16 + c) * dsub + j];
                lutf[m * 16 + c] = x;
                lo = std::min(lo, x), hi = std::max(hi, x);
            }
        for (int m = 0; m < pq_m; m++)   // two 16-entry tables per 32 bytes, as the scan reads them
            for (int c = 0; c < 16; c++) {
                uint8_t v = (uint8_t)((lutf[m * 16 + c] - lo) / (hi - lo + 1e-9f) * 15.0f);
                lut[(m / 2) * 64 + (m & 1) * 32 + c] = v;
                lut[(m / 2) * 64 + (m & 1) * 32 + 16 + c] = v;
            }
        double t2 = now();
        for (int i = 0; i < np; i++) {
            int l = ord[i];
            size_t nb = (lsize[l] + 31) / 32;
            scanned += lsize[l];
            sink += lut_scan_avx2(codes.data() + loff[l] * pq_m / 2, nb, pq_m, lut.data(),
                                  (uint16_t)(pq_m * 10), keep.data(), keep.size());
        }
        double t3 = now();
        std::vector<std::pair<float, size_t>> top(kk);
        std::vector<size_t> rows(kk);
        for (size_t j = 0; j < kk; j++)   // rows spread over the table, like real candidates
            rows[j] = ((q * 7919 + j) * 2654435761u) % n;
        if (i8) {   // int8 codes of all kk (one line each), then f32 for the best 40
            for (size_t j = 0; j < kk; j++) {
                _mm_prefetch((const char *)(i8->code.data() + rows[j] * d), _MM_HINT_T0);
                _mm_prefetch((const char *)(i8->scale.data() + rows[j]), _MM_HINT_T0);
            }
            for (size_t j = 0; j < kk; j++)
                top[j] = {dot_s8_avx2(qv, i8->code.data() + rows[j] * d, d) * i8->scale[rows[j]], rows[j]};
            size_t keep40 = std::min(RERANK_F32, kk);
            std::partial_sort(top.begin(), top.begin() + keep40, top.end(),
                              [](auto &a, auto &b) { return a.first > b.first; });
            top.resize(keep40);
            for (auto &t : top)
                rows[&t - &top[0]] = t.second;
            kk = keep40;
        }
        for (size_t j = 0; j < kk; j++)   // all their lines requested first
            for (size_t b = 0; b < d * 4; b += 64)
                _mm_prefetch((const char *)(V.data() + rows[j] * d) + b, _MM_HINT_T0);
        for (size_t j = 0; j < kk; j++)
            top[j] = {dot_avx2(qv, V.data() + rows[j] * d, d), rows[j]};
        std::partial_sort(top.begin(), top.begin() + std::min<size_t>(10, kk), top.end(),
                          [](auto &a, auto &b) { return a.first > b.first; });
        sink += top[0].second & 1;
        double t4 = now();
        tot.push_back((t4 - t0) * 1e3), tc.push_back((t1 - t0) * 1e3), tl.push_back((t2 - t1) * 1e3);
        ts.push_back((t3 - t2) * 1e3), tr.push_back((t4 - t3) * 1e3);
    }
    for (auto *v : {&tot, &tc, &tl, &ts, &tr})
        std::sort(v->begin(), v->end());
    size_t h = nq / 2;
    printf("avx2-est nlist %4d nprobe %3d kf %2zu re-rank %s (hand-written AVX2, not FAISS; wall): p50 %.4f ms  "
           "p99 %.4f ms  = coarse %.4f + LUT %.4f + scan %.4f (%.0f codes, %.2f ns/code) + re-rank %.4f  (sink %zu)  "
           "load %.1f\n",
           nlist, np, kk0 / 10, i8 ? "int8" : "f32 ", tot[h], tot[nq * 99 / 100], tc[h], tl[h], ts[h], (double)scanned / nq,
           ts[h] * 1e6 / ((double)scanned / nq), tr[h], sink % 10, loadavg());
    fflush(stdout);
}

// Sum of each of 8 int32x8 vectors, as one int32x8 (lane i = sum of v[i]).
static inline __m256i hsum8(__m256i v[8])
{
    __m256i a = _mm256_hadd_epi32(v[0], v[1]), b = _mm256_hadd_epi32(v[2], v[3]);
    __m256i c = _mm256_hadd_epi32(v[4], v[5]), e = _mm256_hadd_epi32(v[6], v[7]);
    a = _mm256_hadd_epi32(a, b);   // lanes: v0 v0 v1 v1 v2 v2 v3 v3 partials per 128-bit half
    c = _mm256_hadd_epi32(c, e);
    __m256i lo = _mm256_permute2x128_si256(a, c, 0x20), hi = _mm256_permute2x128_si256(a, c, 0x31);
    return _mm256_add_epi32(lo, hi);   // v0 v1 v2 v3 v4 v5 v6 v7
}

// Scores of `cnt` rows of 64 codes against the query: the codes stored as
// uint8 (c + 128), the query quantized to [-63, 63] so that maddubs's pairs
// (2 * 255 * 63 = 32130) cannot saturate, the offset removed with
// 128 * sum(q) (the trick of models/mf/quant.c's QUANT_QI / QUANT_QU); then
// times the row scales. 8 rows at a time.
// VNNI (ANN_VNNI=1, when compiled with -mavx512vnni -mavx512vl): vpdpbusd
// sums the u8 x s8 products of 4 bytes straight into int32 (no maddubs /
// madd pair), same results.
template <bool VNNI>
static inline void s8_rows64(const uint8_t *rows, const float *scale, size_t cnt, __m256i q0, __m256i q1,
                             int32_t qsum128, float qs, float *out)
{
    const __m256i ones = _mm256_set1_epi16(1), off = _mm256_set1_epi32(qsum128);
    size_t r = 0;
    for (; r + 8 <= cnt; r += 8) {
        __m256i v[8];
        for (int j = 0; j < 8; j++) {
            const uint8_t *c = rows + (r + j) * 64;
            __m256i x0 = _mm256_loadu_si256((const __m256i *)c), x1 = _mm256_loadu_si256((const __m256i *)(c + 32));
#ifdef __AVX512VNNI__
            if (VNNI) {
                v[j] = _mm256_dpbusd_epi32(_mm256_dpbusd_epi32(_mm256_setzero_si256(), x0, q0), x1, q1);
                continue;
            }
#endif
            v[j] = _mm256_add_epi32(_mm256_madd_epi16(_mm256_maddubs_epi16(x0, q0), ones),
                                    _mm256_madd_epi16(_mm256_maddubs_epi16(x1, q1), ones));
        }
        __m256 f = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(hsum8(v), off)),
                                 _mm256_mul_ps(_mm256_loadu_ps(scale + r), _mm256_set1_ps(qs)));
        _mm256_storeu_ps(out + r, f);
    }
    alignas(32) int8_t q[64];
    _mm256_store_si256((__m256i *)q, q0);
    _mm256_store_si256((__m256i *)(q + 32), q1);
    for (; r < cnt; r++) {
        const uint8_t *c = rows + r * 64;
        int32_t acc = 0;
        for (int j = 0; j < 64; j++)
            acc += (int32_t)c[j] * q[j];
        out[r] = (float)(acc - qsum128) * scale[r] * qs;
    }
}

// The best np of n scores (n >= np): a 256-bucket histogram between their
// min and max finds the bucket holding the np-th best; the scores at or above
// it (np and part of a bucket) are then ordered exactly. (Branch-light: a heap
// or nth_element over 2,048 random scores took ~7-9 us here, the histogram ~3.6.)
static void select_top(const float *cs, int n, int np, std::vector<std::pair<float, int>> &out)
{
    __m256 mn = _mm256_set1_ps(INFINITY), mx = _mm256_set1_ps(-INFINITY);
    int l = 0;
    for (; l + 8 <= n; l += 8) {
        __m256 x = _mm256_loadu_ps(cs + l);
        mn = _mm256_min_ps(mn, x), mx = _mm256_max_ps(mx, x);
    }
    float a[8], b[8];
    _mm256_storeu_ps(a, mn), _mm256_storeu_ps(b, mx);
    float lo = a[0], hi = b[0];
    for (int i = 1; i < 8; i++)
        lo = std::min(lo, a[i]), hi = std::max(hi, b[i]);
    for (; l < n; l++)
        lo = std::min(lo, cs[l]), hi = std::max(hi, cs[l]);
    float sc = hi > lo ? 255.99f / (hi - lo) : 0.0f;
    unsigned h[256] = {0};
    for (int i = 0; i < n; i++)
        h[(int)((cs[i] - lo) * sc)]++;
    int tb = 255;
    unsigned cum = h[255];
    while (cum < (unsigned)np && tb > 0)
        cum += h[--tb];
    out.clear();
    for (int i = 0; i < n; i++)
        if ((int)((cs[i] - lo) * sc) >= tb)
            out.push_back({cs[i], i});
    std::nth_element(out.begin(), out.begin() + (np - 1), out.end(), std::greater<>());
    out.resize(np);
}

// Variant e (not FAISS): an inverted file written by hand with AVX2, on the
// lists of the IVF index just built (same centroids, same assignment): per
// list its items' int8 codes (Encore's per-row code, not residuals) stored
// contiguously, the centroids in int8 too; a query is quantized to int8,
// scores the centroids, takes the best np lists, scans their codes keeping
// the best 40 (a filter is checked only for a score that would enter), and
// re-scores those 40 in f32 from the item table. Recall and time measured.
static void ivf_int8_handmade(const faiss::IndexIVF &ivf, const float *cent, int nlist, const std::vector<float> &V,
                              size_t n, size_t d, const std::vector<float> &U, size_t nq, const Truth &truth,
                              const Truth &ftruth, const std::vector<uint8_t> &bitmap,
                              const std::vector<int> &nprobes)
{
    if (d != 64) {
        printf("ivf-int8: needs 64 factors\n");
        return;
    }
    // Lists laid out contiguously: codes, scales, ids.
    std::vector<size_t> off(nlist + 1, 0);
    for (int l = 0; l < nlist; l++)
        off[l + 1] = off[l] + ivf.invlists->list_size(l);
    std::vector<uint8_t> code(off[nlist] * 64);
    std::vector<float> scale(off[nlist]);
    std::vector<int64_t> ids(off[nlist]);
    auto quantize = [](const float *v, uint8_t *c, float *sc) {   // rows: c + 128
        float mx = 0;
        for (int j = 0; j < 64; j++)
            mx = std::max(mx, std::fabs(v[j]));
        *sc = mx > 0 ? mx / 127.0f : 1.0f;
        for (int j = 0; j < 64; j++)
            c[j] = (uint8_t)(std::lrint(v[j] / *sc) + 128);
    };
    for (int l = 0; l < nlist; l++) {
        const faiss::Index::idx_t *li = ivf.invlists->get_ids(l);
        for (size_t j = 0; j < ivf.invlists->list_size(l); j++) {
            size_t at = off[l] + j;
            ids[at] = li[j];
            quantize(V.data() + (size_t)li[j] * d, code.data() + at * 64, &scale[at]);
        }
        ivf.invlists->release_ids(l, li);
    }
    std::vector<uint8_t> ccode(nlist * 64);
    std::vector<float> cscale(nlist);
    for (int l = 0; l < nlist; l++)
        quantize(cent + (size_t)l * d, ccode.data() + l * 64, &cscale[l]);
    const size_t R = RERANK_F32;
    std::vector<float> cs(nlist), sc(4096);
    size_t maxlist = 0;
    for (int l = 0; l < nlist; l++)
        maxlist = std::max(maxlist, off[l + 1] - off[l]);
    sc.resize(maxlist + 8);
    // ANN_PREFETCH=1: software prefetch of the next list (not faster);
    // ANN_WARM=1: each query run twice, the second timed (its codes cached).
    bool prefetch = getenv("ANN_PREFETCH") && atoi(getenv("ANN_PREFETCH"));
    int reps = getenv("ANN_WARM") && atoi(getenv("ANN_WARM")) ? 2 : 1;
    bool vnni = getenv("ANN_VNNI") && atoi(getenv("ANN_VNNI"));
#ifndef __AVX512VNNI__
    if (vnni) {
        printf("ivf-int8: ANN_VNNI needs a build with -mavx512vnni -mavx512vl\n");
        vnni = false;
    }
#endif
    // ANN_CONTEND=1: a second thread streams the codes of 32 random lists
    // after another for as long as the timed queries run (the memory traffic
    // of a second worker's scans), to see what sharing the bandwidth costs.
    std::atomic<bool> stop{false};
    std::thread contender;
    bool contend = getenv("ANN_CONTEND") && atoi(getenv("ANN_CONTEND"));
    if (contend)
        contender = std::thread([&] {
            uint64_t x = 88172645463325252ull;
            __m256i acc = _mm256_setzero_si256();
            while (!stop.load(std::memory_order_relaxed)) {
                for (int i = 0; i < 32; i++) {
                    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                    int l = (int)(x % (uint64_t)nlist);
                    for (size_t b = off[l] * 64; b + 32 <= off[l + 1] * 64; b += 32)
                        acc = _mm256_add_epi8(acc, _mm256_loadu_si256((const __m256i *)(code.data() + b)));
                }
            }
            volatile int sink = _mm256_extract_epi32(acc, 0);
            (void)sink;
        });
    for (int np : nprobes) {
        if (np > nlist)
            break;
        for (int filt = 0; filt < 2; filt++) {
            std::vector<double> wall, cpu, tc, ts, tr, tk;
            double rec = 0, scanned = 0;
            for (size_t qr = 0; qr < nq * reps; qr++) {
                size_t q = qr / reps;
                const float *qv = U.data() + q * d;
                double c0 = cpu_now(), w0 = now();
                alignas(32) int8_t qc[64];
                float qmx = 0;
                for (int j = 0; j < 64; j++)
                    qmx = std::max(qmx, std::fabs(qv[j]));
                float qs = qmx > 0 ? qmx / 63.0f : 1.0f;
                int32_t qsum = 0;
                for (int j = 0; j < 64; j++)
                    qc[j] = (int8_t)std::lrint(qv[j] / qs), qsum += qc[j];
                __m256i qa0 = _mm256_load_si256((const __m256i *)qc), qa1 = _mm256_load_si256((const __m256i *)(qc + 32));
                (vnni ? s8_rows64<true> : s8_rows64<false>)(ccode.data(), cscale.data(), nlist, qa0, qa1, 128 * qsum,
                                                             qs, cs.data());
                double w0b = now();
                std::vector<std::pair<float, int>> lh;   // the best np lists
                select_top(cs.data(), nlist, np, lh);
                double w1 = now();
                std::vector<std::pair<float, int64_t>> top;   // best R (min-heap)
                top.reserve(R + 1);
                float th = -INFINITY;
                for (size_t li = 0; li < lh.size(); li++) {
                    int l = lh[li].second;
                    if (prefetch && li + 1 < lh.size()) {   // the next list's codes requested while this one is scanned
                        int nl = lh[li + 1].second;
                        const char *b = (const char *)(code.data() + off[nl] * 64);
                        for (size_t x = 0; x < (off[nl + 1] - off[nl]) * 64; x += 64)
                            _mm_prefetch(b + x, _MM_HINT_T0);
                    }
                    size_t cnt = off[l + 1] - off[l];
                    scanned += cnt;
                    (vnni ? s8_rows64<true> : s8_rows64<false>)(code.data() + off[l] * 64, scale.data() + off[l],
                                                                 cnt, qa0, qa1, 128 * qsum, qs, sc.data());
                    for (size_t j8 = 0; j8 < cnt; j8 += 8) {   // 8 scores against the threshold at once
                        unsigned m = (unsigned)_mm256_movemask_ps(
                                _mm256_cmp_ps(_mm256_loadu_ps(sc.data() + j8), _mm256_set1_ps(th), _CMP_GT_OQ));
                        if (cnt - j8 < 8)
                            m &= (1u << (cnt - j8)) - 1;
                        while (m) {
                            size_t j = j8 + __builtin_ctz(m);
                            m &= m - 1;
                            if (sc[j] <= th)
                                continue;
                            int64_t id = ids[off[l] + j];
                            if (filt && !(bitmap[id >> 3] >> (id & 7) & 1))
                                continue;
                            if (top.size() < R) {
                                top.push_back({sc[j], id});
                                std::push_heap(top.begin(), top.end(), std::greater<>());
                                if (top.size() == R)
                                    th = top.front().first;
                            } else {
                                std::pop_heap(top.begin(), top.end(), std::greater<>());
                                top.back() = {sc[j], id};
                                std::push_heap(top.begin(), top.end(), std::greater<>());
                                th = top.front().first;
                            }
                        }
                    }
                }
                double w2 = now();
                for (auto &t : top)
                    for (size_t b = 0; b < d * 4; b += 64)
                        _mm_prefetch((const char *)(V.data() + t.second * d) + b, _MM_HINT_T0);
                for (auto &t : top)
                    t.first = dot_avx2(qv, V.data() + t.second * d, d);
                size_t k10 = std::min<size_t>(10, top.size());
                std::partial_sort(top.begin(), top.begin() + k10, top.end(),
                                  [](auto &a, auto &b) { return a.first > b.first; });
                double w3 = now(), c3 = cpu_now();
                if (qr % reps != (size_t)reps - 1)
                    continue;   // the warming run

                wall.push_back((w3 - w0) * 1e3), cpu.push_back((c3 - c0) * 1e3);
                tc.push_back((w1 - w0) * 1e3), ts.push_back((w2 - w1) * 1e3), tr.push_back((w3 - w2) * 1e3);
                tk.push_back((w0b - w0) * 1e3);
                std::vector<int64_t> got;
                for (size_t j = 0; j < k10; j++)
                    got.push_back(top[j].second);
                rec += recall(filt ? ftruth : truth, q, got);
            }
            for (auto *v : {&wall, &cpu, &tc, &ts, &tr, &tk})
                std::sort(v->begin(), v->end());
            size_t h = nq / 2;
            printf("ivf-int8 (hand-written AVX2, not FAISS) nlist %4d nprobe %3d %s: recall@10 %.4f  cpu p50 %.4f ms  "
                   "p99 %.4f ms  wall p50 %.4f p99 %.4f  = coarse %.4f (scoring %.4f) + scan %.4f (%.0f codes, %.0f KB) + f32 "
                   "re-rank of %zu %.4f%s%s  load %.1f\n",
                   nlist, np, filt ? "50% filtered" : "unfiltered  ", rec / nq, cpu[h], cpu[nq * 99 / 100], wall[h],
                   wall[nq * 99 / 100], tc[h], tk[h], ts[h], scanned / nq / reps, scanned / nq / reps * 68 / 1024, R, tr[h],
                   vnni ? "  (VNNI)" : prefetch ? "  (prefetch)" : contend ? "  (a second thread streaming lists)" : "",
                   reps > 1 ? "  (warm: each query timed right after itself)" : "", loadavg());
            fflush(stdout);
        }
    }
    stop = true;
    if (contender.joinable())
        contender.join();
}

static void print_row(const char *name, int nlist, int np, int kf, const char *mode, const Row &r, double load)
{
    char kfs[16] = "";
    if (kf)
        snprintf(kfs, sizeof kfs, " kf %2d", kf);
    printf("%-8s nlist %4d nprobe %3d%s %s: recall@10 %.4f  p50 %.4f ms  p99 %.4f ms  (wall p50 %.4f)  "
           "codes/query %.0f  load %.1f\n",
           name, nlist, np, kfs, mode, r.rec, r.p50, r.p99, r.wall50, r.ndis,
           load);
    fflush(stdout);
}

static double loadavg()
{
    double l = 0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = 0;
        fclose(f);
    }
    return l;
}

// Inverted-file variants (see the header). V: n x d items; U: queries.
static void run_ivf(const std::vector<float> &V, size_t n, size_t d, const std::vector<float> &U, size_t nq,
                    const Truth &truth, const Truth &ftruth, const std::vector<uint8_t> &bitmap,
                    const std::string &variants)
{
    std::vector<int> nlists = int_list("ANN_NLIST", "1024,4096");
    std::vector<int> nprobes = int_list("ANN_NPROBE", "1,2,4,8,12,16,24,32,48,64,96,128,192,256");
    std::vector<int> kfs = int_list("ANN_KFACTOR", "4,10,20,40");
    int pq_m = int_list("ANN_PQ_M", "16")[0];
    openblas_set_num_threads(1);   // the estimate's sgemv: one thread, like the queries
    Int8Table i8t;
    const Int8Table *i8 = nullptr;
    if (getenv("ANN_RERANK") && !strcmp(getenv("ANN_RERANK"), "int8")) {
        i8t = int8_table(V, n, d);
        i8 = &i8t;
    }
    faiss::IDSelectorBitmap sel(n, bitmap.data());
    for (int nlist : nlists) {
        omp_set_num_threads(2);
        // ANN_KMEANS=ip (FAISS's default for an IP index: k-means assigning
        // by inner product) or l2 (k-means and item assignment by L2, lists
        // probed by <q, centroid> through an IP quantizer on the same
        // centroids, swapped in after add).
        bool l2 = getenv("ANN_KMEANS") && !strcmp(getenv("ANN_KMEANS"), "l2");
        faiss::IndexFlatIP quantizer((int)d);
        faiss::IndexFlatL2 quantizer_l2((int)d);
        faiss::Index *build_q = l2 ? (faiss::Index *)&quantizer_l2 : &quantizer;
        double t0 = now();
        {   // train the shared quantizer once, as IndexIVF::train would
            faiss::IndexIVFFlat tmp(build_q, d, nlist, l2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT);
            tmp.cp.niter = 10;
            tmp.cp.max_points_per_centroid = 64;
            tmp.train((faiss::Index::idx_t)n, V.data());
        }
        if (l2)
            quantizer.add(nlist, quantizer_l2.get_xb());
        double qtrain = now() - t0;
        // The coarse step alone: quantizer search for 64 probes, one thread.
        omp_set_num_threads(1);
        std::vector<double> qms;
        for (size_t q = 0; q < nq; q++) {
            float D[256];
            faiss::Index::idx_t L[256];
            double s = cpu_now();
            quantizer.search(1, U.data() + q * d, 64, D, L);
            qms.push_back((cpu_now() - s) * 1e3);
        }
        std::sort(qms.begin(), qms.end());
        printf("ivf nlist %d (%s k-means): quantizer k-means %.1f s (10 iterations, %d points per centroid); "
               "coarse search alone (64 of %d centroids) p50 %.4f ms  p99 %.4f ms\n",
               nlist, l2 ? "L2" : "IP", qtrain, 64, nlist, qms[nq / 2], qms[nq * 99 / 100]);
        for (char var : std::string("isqp")) {
            if (variants.find(var) == std::string::npos)
                continue;
            omp_set_num_threads(2);
            long r0 = rss_kb();
            t0 = now();
            faiss::IndexIVF *idx;
            const char *name;
            if (var == 'i') {
                idx = new faiss::IndexIVFFlat(build_q, d, nlist, faiss::METRIC_INNER_PRODUCT);
                name = "ivfflat";
            } else if (var == 's' || var == 'q') {
                idx = new faiss::IndexIVFScalarQuantizer(
                        build_q, d, nlist,
                        var == 's' ? faiss::ScalarQuantizer::QT_8bit : faiss::ScalarQuantizer::QT_4bit,
                        faiss::METRIC_INNER_PRODUCT, true);
                name = var == 's' ? "ivfsq8" : "ivfsq4";
            } else {
                idx = new faiss::IndexIVFPQFastScan(build_q, d, nlist, pq_m, 4, faiss::METRIC_INNER_PRODUCT);
                name = i8 ? "ivfpq-i8" : "ivfpqfs";
            }
            idx->train((faiss::Index::idx_t)n, V.data());
            idx->add((faiss::Index::idx_t)n, V.data());
            double bt = now() - t0;
            idx->quantizer = &quantizer;   // probe by inner product (same centroids)
            faiss::InvertedLists *il = idx->invlists;
            size_t mx = 0;
            for (size_t l = 0; l < il->nlist; l++)
                mx = std::max(mx, il->list_size(l));
            printf("%s nlist %d: train+add %.1f s (2 threads), +%ld MB resident, code %zu bytes, "
                   "largest list %zu (mean %.0f), imbalance %.2f\n",
                   name, nlist, bt, (rss_kb() - r0) / 1024, idx->code_size, mx, (double)n / nlist,
                   il->imbalance_factor());
            fflush(stdout);
            omp_set_num_threads(1);
            bool done[2] = {false, false};
            int last_np = 0;
            for (int np : nprobes) {
                if (np > nlist || (done[0] && done[1]))
                    break;
                last_np = np;
                std::vector<int> kl = var == 'p' ? kfs : std::vector<int>{0};
                for (int filt = 0; filt < 2; filt++) {
                    for (int kf : kl) {
                        faiss::SearchParametersIVF sp;
                        sp.nprobe = np;
                        // IndexIVFFastScan (1.7.3) refuses SearchParameters:
                        // nprobe on the index, and the filter applied to the
                        // candidates before the re-rank (post-filter, not an
                        // IDSelector inside the scan).
                        const faiss::SearchParameters *spp = var == 'p' ? nullptr : &sp;
                        idx->nprobe = np;
                        if (filt && var != 'p')
                            sp.sel = &sel;
                        size_t kk = kf ? (size_t)kf * 10 : 10;
                        std::vector<float> D(kk);
                        std::vector<faiss::Index::idx_t> L(kk);
                        std::vector<double> ms, wall;
                        double rec = 0, ndis = 0;
                        bool refused = false;
                        for (size_t q = 0; q < nq && !refused; q++) {
                            const float *qv = U.data() + q * d;
                            faiss::indexIVF_stats.reset();
                            double w = now(), s = cpu_now();
                            try {
                                idx->search(1, qv, (faiss::Index::idx_t)kk, D.data(), L.data(), spp);
                            } catch (const faiss::FaissException &e) {
                                printf("%s nlist %d %s: search refused: %s\n", name, nlist,
                                       filt ? "50% filtered" : "unfiltered", e.what());
                                refused = true;
                                break;
                            }
                            std::vector<std::pair<float, int64_t>> top;
                            if (kf) {   // re-rank the kk candidates in f32 (IndexRefineFlat)
                                for (size_t j = 0; j < kk; j++) {
                                    if (L[j] < 0 || (filt && !(bitmap[L[j] >> 3] >> (L[j] & 7) & 1)))
                                        continue;
                                    float x = i8 ? dot_s8_avx2(qv, i8->code.data() + (size_t)L[j] * d, d) *
                                                           i8->scale[L[j]]
                                                 : dot_avx2(qv, V.data() + (size_t)L[j] * d, d);
                                    top.push_back({x, L[j]});
                                }
                                if (i8 && top.size() > RERANK_F32) {   // the best 40 in f32
                                    std::partial_sort(top.begin(), top.begin() + RERANK_F32, top.end(),
                                                      [](auto &a, auto &b) { return a.first > b.first; });
                                    top.resize(RERANK_F32);
                                }
                                if (i8)
                                    for (auto &t : top)
                                        t.first = dot_avx2(qv, V.data() + (size_t)t.second * d, d);
                                size_t k10 = std::min<size_t>(10, top.size());
                                std::partial_sort(top.begin(), top.begin() + k10, top.end(),
                                                  [](auto &a, auto &b) { return a.first > b.first; });
                                top.resize(k10);
                            }
                            ms.push_back((cpu_now() - s) * 1e3);
                            wall.push_back((now() - w) * 1e3);
                            ndis += faiss::indexIVF_stats.ndis;
                            std::vector<int64_t> got;
                            if (kf)
                                for (auto &t : top)
                                    got.push_back(t.second);
                            else
                                for (size_t j = 0; j < 10; j++)
                                    if (L[j] >= 0)
                                        got.push_back(L[j]);
                            rec += recall(filt ? ftruth : truth, q, got);
                        }
                        if (refused)
                            break;
                        Row r = summarize(ms, wall, rec, ndis, nq);
                        print_row(name, nlist, np, kf,
                                  !filt ? "unfiltered  " : var == 'p' ? "50% post-filtered" : "50% filtered",
                                  r, loadavg());
                        if (r.rec >= 0.96)
                            done[filt] = true;
                    }
                }
            }
            if (var == 'i' && variants.find('e') != std::string::npos)
                ivf_int8_handmade(*idx, quantizer.get_xb(), nlist, V, n, d, U, nq, truth, ftruth, bitmap,
                                  nprobes);
            if (var == 'p' && variants.find('m') != std::string::npos) {
                // The real list sizes and the real centroids; synthetic codes.
                std::vector<size_t> lsize(nlist), loff(nlist + 1, 0);
                for (int l = 0; l < nlist; l++) {
                    lsize[l] = il->list_size(l);
                    loff[l + 1] = loff[l] + (lsize[l] + 31) / 32 * 32;
                }
                std::vector<uint8_t> codes(loff[nlist] * pq_m / 2);
                for (size_t i = 0; i < codes.size(); i++)
                    codes[i] = (uint8_t)(i * 2654435761u >> 13);
                for (int np : nprobes) {
                    if (np > nlist || np > last_np)
                        break;
                    for (int kf : kfs)
                        avx2_estimate(quantizer.get_xb(), nlist, lsize, loff, codes, pq_m, V, n, d, U, nq, np,
                                      (size_t)kf * 10, i8);
                }
            }
            delete idx;
        }
    }
}

static void report(const char *name, int ef, std::vector<double> &ms, double rec, const char *extra)
{
    std::sort(ms.begin(), ms.end());
    printf("%-10s ef %4d  recall@10 %.4f  p50 %.3f ms  p99 %.3f ms%s\n", name, ef, rec,
           ms[ms.size() / 2], ms[ms.size() * 99 / 100], extra);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    std::string dir = argv[1];
    size_t M = argc > 2 ? atoi(argv[2]) : 16, efc = argc > 3 ? atoi(argv[3]) : 100;
    size_t nq = argc > 4 ? atoi(argv[4]) : 1000;
    std::string variants = argc > 5 ? argv[5] : "haf";
    size_t n, d, nu, du;
    std::vector<float> V = load_npy(dir + "/item_factors.npy", n, d);
    std::vector<float> U = load_npy(dir + "/user_factors.npy", nu, du);
    nq = std::min(nq, nu);
    if (getenv("ANN_ITEMS") && (size_t)atol(getenv("ANN_ITEMS")) < n) {
        n = (size_t)atol(getenv("ANN_ITEMS"));
        V.resize(n * d);
    }
    omp_set_num_threads(2);
    double t0 = now();
    const char *tpath = getenv("ANN_TRUTH");
    Truth truth, ftruth;
    bool cached = truth_load(tpath, n, nq, truth, ftruth);
    std::vector<uint8_t> allowed(n);
    std::vector<uint8_t> bitmap((n + 7) / 8);
    for (size_t i = 0; i < n; i++) {
        allowed[i] = (i * 2654435761u >> 7) & 1;   // a pseudo-random half
        if (allowed[i])
            bitmap[i >> 3] |= 1 << (i & 7);
    }
    if (!cached) {
        truth = brute(V, n, d, U.data(), nq, nullptr);
        ftruth = brute(V, n, d, U.data(), nq, &allowed);
        truth_save(tpath, n, nq, truth, ftruth);
    }
    printf("%zu items x %zu, %zu queries, M %zu, ef_construction %zu (truth %.1f s%s), load %.1f\n", n, d, nq,
           M, efc, now() - t0, cached ? ", cached" : "", loadavg());
    if (variants.find_first_of("isqp") != std::string::npos)
        run_ivf(V, n, d, U, nq, truth, ftruth, bitmap, variants);
    const int efs[] = {16, 32, 64, 100, 150, 200, 300};

    if (variants.find('h') != std::string::npos || variants.find('a') != std::string::npos) {
        for (char var : std::string("ha")) {
            if (variants.find(var) == std::string::npos)
                continue;
            size_t dim = var == 'a' ? d + 1 : d;
            std::vector<float> X;
            if (var == 'a') {   // [v, sqrt(max^2 - |v|^2)]: L2 order = inner-product order
                double mx = 0;
                for (size_t i = 0; i < n; i++) {
                    double s = 0;
                    for (size_t j = 0; j < d; j++)
                        s += (double)V[i * d + j] * V[i * d + j];
                    mx = std::max(mx, s);
                }
                X.resize(n * dim);
                for (size_t i = 0; i < n; i++) {
                    double s = 0;
                    for (size_t j = 0; j < d; j++)
                        s += (double)V[i * d + j] * V[i * d + j], X[i * dim + j] = V[i * d + j];
                    X[i * dim + d] = (float)std::sqrt(std::max(0.0, mx - s));
                }
            }
            const float *src = var == 'a' ? X.data() : V.data();
            hnswlib::InnerProductSpace ip(dim);
            hnswlib::L2Space l2(dim);
            hnswlib::SpaceInterface<float> *sp = var == 'a' ? (hnswlib::SpaceInterface<float> *)&l2 : &ip;
            long r0 = rss_kb();
            t0 = now();
            auto *h = new hnswlib::HierarchicalNSW<float>(sp, n, M, efc, 100);
            std::vector<std::thread> th;
            for (int w = 0; w < 2; w++)
                th.emplace_back([&, w] {
                    for (size_t i = w; i < n; i += 2)
                        h->addPoint(src + i * dim, i);
                });
            for (auto &x : th)
                x.join();
            printf("hnswlib-%s build %.1f s, +%ld MB resident\n", var == 'a' ? "aug" : "ip",
                   now() - t0, (rss_kb() - r0) / 1024);
            std::vector<float> qv(dim, 0.0f);
            for (int ef : efs) {
                h->setEf(ef);
                std::vector<double> ms;
                double rec = 0;
                for (size_t q = 0; q < nq; q++) {
                    std::copy(U.begin() + q * d, U.begin() + q * d + d, qv.begin());
                    double s = now();
                    auto res = h->searchKnn(qv.data(), 10);
                    ms.push_back((now() - s) * 1e3);
                    std::vector<int64_t> got;
                    while (!res.empty()) {
                        got.push_back((int64_t)res.top().second);
                        res.pop();
                    }
                    rec += recall(truth, q, got);
                }
                report(var == 'a' ? "hnsw-aug" : "hnsw-ip", ef, ms, rec / nq, "");
            }
            delete h;
        }
    }
    if (variants.find('f') != std::string::npos) {
        long r0 = rss_kb();
        t0 = now();
        faiss::IndexHNSWFlat idx((int)d, (int)M, faiss::METRIC_INNER_PRODUCT);
        idx.hnsw.efConstruction = (int)efc;
        idx.add((faiss::Index::idx_t)n, V.data());
        printf("faiss-ip build %.1f s, +%ld MB resident\n", now() - t0, (rss_kb() - r0) / 1024);
        omp_set_num_threads(1);
        faiss::IDSelectorBitmap sel(n, bitmap.data());
        for (int ef : efs) {
            for (int filt = 0; filt < 2; filt++) {
                faiss::SearchParametersHNSW sp;
                sp.efSearch = ef;
                idx.hnsw.efSearch = ef;   // 1.7.3 reads this one, not params' efSearch
                if (filt)
                    sp.sel = &sel;
                std::vector<double> ms;
                double rec = 0;
                size_t short_answers = 0;
                for (size_t q = 0; q < nq; q++) {
                    std::vector<float> D(10);
                    std::vector<faiss::Index::idx_t> L(10);
                    double s = now();
                    idx.search(1, U.data() + q * d, 10, D.data(), L.data(), &sp);
                    ms.push_back((now() - s) * 1e3);
                    std::vector<int64_t> got;
                    for (auto l : L)
                        if (l >= 0)
                            got.push_back(l);
                    short_answers += got.size() < 10;
                    rec += recall(filt ? ftruth : truth, q, got);
                }
                char extra[64];
                snprintf(extra, sizeof extra, "  %s, %zu answers short of 10",
                         filt ? "50% filtered" : "unfiltered", short_answers);
                report("faiss-ip", ef, ms, rec / nq, extra);
            }
        }
    }
    return 0;
}
