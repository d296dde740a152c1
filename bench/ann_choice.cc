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
#include <hnswlib/hnswlib.h>
#include <faiss/IndexHNSW.h>
#include <faiss/impl/IDSelector.h>
#include <omp.h>

#include <algorithm>
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
    omp_set_num_threads(2);
    double t0 = now();
    Truth truth = brute(V, n, d, U.data(), nq, nullptr);
    std::vector<uint8_t> allowed(n);
    std::vector<uint8_t> bitmap((n + 7) / 8);
    for (size_t i = 0; i < n; i++) {
        allowed[i] = (i * 2654435761u >> 7) & 1;   // a pseudo-random half
        if (allowed[i])
            bitmap[i >> 3] |= 1 << (i & 7);
    }
    Truth ftruth = brute(V, n, d, U.data(), nq, &allowed);
    printf("%zu items x %zu, %zu queries, M %zu, ef_construction %zu (truth %.1f s)\n", n, d, nq, M,
           efc, now() - t0);
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
