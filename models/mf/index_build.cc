/*
 * index_build.cc - index_build (index.h): hnswlib builds the HNSW graph over
 * the item factors in its inner-product space; the links are copied out as
 * item rows.
 *
 * The only C++ in Encore, behind index.h's C declarations, linked by the
 * trainer and the tests (library encore_index_build), never by the server.
 *
 * Space: hnswlib's inner product (distance 1 - u.v), the dot product being
 * quant_dot (AVX2+FMA or plain C, chosen at run time like quant.c's kernels,
 * so the trainer needs no -mavx2). The norm-augmentation transform (L2 over
 * [v, sqrt(max|v|^2 - |v|^2)]) was measured too (bench/results/ann.md): a
 * little better on factors fitted to MovieLens, but when item norms are
 * heavy-tailed (popularity is, in large catalogues) almost every item sits
 * at the augmented pole and recall@10 fell to 0.1 at any beam width, where
 * the inner-product graph kept 0.97.
 */
#include <hnswlib/hnswlib.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <thread>
#include <vector>


extern "C" {
#include "mf/index.h"
#include "mf/quant.h"
}

namespace {

/* hnswlib calls this with its stored vectors and dist_func_param. */
struct ip_param {
    size_t dim;
    int fast;
};

float ip_distance(const void *a, const void *b, const void *param)
{
    const ip_param *p = static_cast<const ip_param *>(param);
    return 1.0f - quant_dot(static_cast<const float *>(a), static_cast<const float *>(b), p->dim,
                            p->fast);
}

class InnerProduct : public hnswlib::SpaceInterface<float> {
  public:
    explicit InnerProduct(size_t dim) : p_{dim, quant_fast()} {}
    size_t get_data_size() override { return p_.dim * sizeof(float); }
    hnswlib::DISTFUNC<float> get_dist_func() override { return ip_distance; }
    void *get_dist_func_param() override { return &p_; }

  private:
    ip_param p_;
};

/* Copy hnswlib's graph out, internal ids mapped to item rows. */
void extract(const hnswlib::HierarchicalNSW<float> &h, size_t n, const std::vector<int32_t> &row,
             struct index_data *out)
{
    size_t m0 = h.maxM0_, m = h.maxM_, w0 = m0 + 1, w = m + 1;
    for (size_t id = 0; id < n; id++) {
        unsigned *l0 = h.get_linklist0((hnswlib::tableint)id);
        int32_t *dst = out->level0 + (size_t)row[id] * w0;
        unsigned cnt = h.getListCount(l0);
        dst[0] = (int32_t)cnt;
        const hnswlib::tableint *links = reinterpret_cast<const hnswlib::tableint *>(l0 + 1);
        for (size_t j = 0; j < m0; j++)
            dst[1 + j] = j < cnt ? row[links[j]] : -1;
    }
    for (size_t id = 0; id < n; id++)
        out->upper_off[row[id] + 1] = (int64_t)h.element_levels_[id] * (int64_t)w;
    for (size_t i = 0; i < n; i++)
        out->upper_off[i + 1] += out->upper_off[i];
    for (size_t id = 0; id < n; id++) {
        int levels = h.element_levels_[id];
        int32_t *dst = out->upper + out->upper_off[row[id]];
        for (int l = 1; l <= levels; l++, dst += w) {
            unsigned *ll = h.get_linklist((hnswlib::tableint)id, l);
            unsigned cnt = h.getListCount(ll);
            const hnswlib::tableint *links = reinterpret_cast<const hnswlib::tableint *>(ll + 1);
            dst[0] = (int32_t)cnt;
            for (size_t j = 0; j < m; j++)
                dst[1 + j] = j < cnt ? row[links[j]] : -1;
        }
    }
    out->entry = row[h.enterpoint_node_];
    out->top_layer = h.maxlevel_;
}

int build(const float *V, size_t n, size_t f, const struct index_params *p,
          struct index_data *out, enc_err *err)
{
    auto t0 = std::chrono::steady_clock::now();
    InnerProduct space(f);
    hnswlib::HierarchicalNSW<float> h(&space, n, p->m, p->ef_construction, p->seed);
    int threads = p->threads < 1 ? 1 : p->threads;
#if defined(ENCORE_INDEX_BUILD_TSAN)
    threads = 1;   /* see __tsan_default_options below */
#endif
    std::atomic<size_t> next(0);
    std::atomic<bool> failed(false);
    auto work = [&]() {
        try {
            for (size_t i; !failed && (i = next++) < n;)
                h.addPoint(V + i * f, i);
        } catch (...) {
            failed = true;
        }
    };
    std::vector<std::thread> pool;
    for (int t = 1; t < threads; t++)
        pool.emplace_back(work);
    work();
    for (auto &t : pool)
        t.join();
    if (failed)
        return enc_errf(err, ENC_ENOMEM, "index build: out of memory");
    std::vector<int32_t> row(n);
    for (size_t id = 0; id < n; id++)
        row[id] = (int32_t)h.getExternalLabel((hnswlib::tableint)id);
    size_t upper_links = 0;
    for (size_t id = 0; id < n; id++)
        upper_links += (size_t)h.element_levels_[id] * (h.maxM_ + 1);
    out->n = n;
    out->m = h.maxM_;
    out->m0 = h.maxM0_;
    out->ef_construction = h.ef_construction_;
    out->level0 = static_cast<int32_t *>(std::malloc(n * (out->m0 + 1) * sizeof(int32_t)));
    out->upper_off = static_cast<int64_t *>(std::calloc(n + 1, sizeof(int64_t)));
    out->upper = static_cast<int32_t *>(std::malloc((upper_links ? upper_links : 1) * sizeof(int32_t)));
    if (!out->level0 || !out->upper_off || !out->upper) {
        index_data_clear(out);
        return enc_errf(err, ENC_ENOMEM, "index build: out of memory");
    }
    extract(h, n, row, out);
    out->build_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return 0;
}

}  // namespace

#if defined(ENCORE_INDEX_BUILD_TSAN)
/* ThreadSanitizer builds only (CMakeLists.txt). hnswlib 0.6.2's parallel
 * addPoint draws every item's level from one unsynchronised RNG (a data race
 * in the library; it only decides an item's level, and is why a threaded
 * build differs from run to run), so the TSan build builds with one thread
 * (above), and this file is compiled without TSan: instrumented, hnswlib's
 * build takes ten minutes of the suite. Its mutexes still reach TSan's
 * interceptors, and addPoint takes its `global` lock while holding the new
 * item's link lock where a new top-level item holds `global` while locking
 * other items' lists: TSan's lock-order detector reports that cycle even
 * within one thread, where it cannot deadlock, with stacks it no longer
 * has (no suppression can name it). Programs that link the index build
 * (the trainer, the index tests, benches; never the server) therefore run
 * TSan without lock-order checking; races are still checked.
 * TSAN_OPTIONS=detect_deadlocks=1 overrides this default. */
extern "C" __attribute__((used, visibility("default"))) const char *__tsan_default_options(void)
{
    return "detect_deadlocks=0";
}
#endif

extern "C" int index_build(const float *V, size_t n, size_t f, const struct index_params *p,
                           struct index_data *out, enc_err *err)
{
    std::memset(out, 0, sizeof *out);
    if (n == 0 || n >= INT32_MAX || f == 0 || f > 4096)
        return enc_errf(err, ENC_EINVAL, "index build: %zu items x %zu factors out of range", n, f);
    if (p->m < 2 || p->m > INDEX_MAX_M || p->ef_construction < 1 || p->ef_construction > 100000)
        return enc_errf(err, ENC_EINVAL,
                        "index build: M must be 2..%d and ef_construction 1..100000 (got %zu, %zu)",
                        INDEX_MAX_M, p->m, p->ef_construction);
    try {
        return build(V, n, f, p, out, err);
    } catch (const std::bad_alloc &) {
        index_data_clear(out);
        return enc_errf(err, ENC_ENOMEM, "index build: out of memory");
    } catch (const std::exception &e) {
        index_data_clear(out);
        return enc_errf(err, ENC_EINTERNAL, "index build: %s", e.what());
    }
}
