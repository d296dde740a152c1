/* test_mf.c - the mf family: save/load round trip, queries, top-k, refusals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/repo.h"
#include "families.h"
#include "mf/mf.h"
#include "testutil.h"

static char *xstrdup(const char *s)
{
    return strdup(s);
}

/* 3 users x 5 items x 2 factors with scores easy to compute by hand. */
static void make_data(struct mf_data *d)
{
    memset(d, 0, sizeof *d);
    d->n_users = 3;
    d->n_items = 5;
    d->factors = 2;
    static const float U[] = {1, 0, 0, 1, 1, 1};
    static const float V[] = {5, 0, 4, 1, 3, 3, 0, 5, 1, 1};
    d->user_factors = malloc(sizeof U);
    memcpy(d->user_factors, U, sizeof U);
    d->item_factors = malloc(sizeof V);
    memcpy(d->item_factors, V, sizeof V);
    d->user_ids = malloc(3 * sizeof(char *));
    d->user_ids[0] = xstrdup("alice");
    d->user_ids[1] = xstrdup("bob");
    d->user_ids[2] = xstrdup("196");
    d->item_ids = malloc(5 * sizeof(char *));
    d->titles = malloc(5 * sizeof(char *));
    const char *ids[] = {"i0", "i1", "i2", "i3", "i4"};
    const char *titles[] = {"Zero \"quoted\"", "One", "", "Three", "Four"};
    for (int i = 0; i < 5; i++) {
        d->item_ids[i] = xstrdup(ids[i]);
        d->titles[i] = xstrdup(titles[i]);
    }
    /* alice saw i0; bob saw i3, i4; 196 saw nothing */
    d->seen_offsets = malloc(4 * sizeof(int64_t));
    int64_t so[] = {0, 1, 3, 3};
    memcpy(d->seen_offsets, so, sizeof so);
    d->seen_items = malloc(3 * sizeof(int32_t));
    int32_t si[] = {0, 3, 4};
    memcpy(d->seen_items, si, sizeof si);
    d->item_popularity = malloc(5 * sizeof(float));
    float pop[] = {10, 50, 20, 40, 30};
    memcpy(d->item_popularity, pop, sizeof pop);
    d->n_tags = 2;
    d->tag_names = malloc(2 * sizeof(char *));
    d->tag_names[0] = xstrdup("Comedy");
    d->tag_names[1] = xstrdup("Drama");
    d->item_tag_offsets = malloc(6 * sizeof(int64_t));
    int64_t to[] = {0, 1, 2, 2, 3, 4}; /* i0 Comedy, i1 Drama, i2 -, i3 Comedy, i4 Drama */
    memcpy(d->item_tag_offsets, to, sizeof to);
    d->item_tag_ids = malloc(4 * sizeof(int32_t));
    int32_t ti[] = {0, 1, 0, 1};
    memcpy(d->item_tag_ids, ti, sizeof ti);
    d->algorithm = "als";
    d->regularization = 0.1;
    d->alpha = 1.0;
}

static char *repo;
static struct model *model;

static void setup(void)
{
    repo = tu_tmpdir();
    struct mf_data d;
    make_data(&d);
    char out[4200];
    snprintf(out, sizeof out, "%s/films", repo);
    enc_err err = {0};
    int64_t v = 0;
    json_t *hyper = json_pack("{s:i}", "factors", 2);
    ck_assert_int_eq(model_save(&mf_ops, &d, hyper, "fp", out, 0, &v, &err), 0);
    ck_assert_int_eq(v, 1);
    json_decref(hyper);
    mf_data_clear(&d);
    char path[4300];
    snprintf(path, sizeof path, "%s/films/1/model.safetensors", repo);
    ck_assert_msg(model_load("films", 1, path, &model_default_opts, &model, &err) == 0, "%s",
                  err.msg);
}

static void teardown(void)
{
    model_unref(model);
    tu_rmrf(repo);
    free(repo);
}

static size_t run(struct reco_query *q, struct reco_hit *hits, enum reco_source *src)
{
    const struct mf_model *m = model->state;
    float *scratch = malloc(mf_scratch_floats(m) * sizeof(float));
    size_t n = 0;
    enc_err err = {0};
    ck_assert_int_eq(mf_recommend(m, q, scratch, hits, &n, src, &err), 0);
    free(scratch);
    return n;
}

START_TEST(recommend_known_user)
{
    const struct mf_model *m = model->state;
    ck_assert_str_eq(model->ops->family, "mf");
    ck_assert_int_eq(mf_user_index(m, "alice", 5), 0);
    ck_assert_int_eq(mf_user_index(m, "carol", 5), -1);
    /* alice = (1,0): scores i0 5, i1 4, i2 3, i3 0, i4 1; i0 seen */
    struct reco_query q = {.user = 0, .k = 3, .exclude_seen = 1};
    struct reco_hit hits[5];
    enum reco_source src;
    size_t n = run(&q, hits, &src);
    ck_assert_uint_eq(n, 3);
    ck_assert_int_eq(src, RECO_FROM_USER);
    ck_assert_int_eq(hits[0].item, 1);
    ck_assert_float_eq_tol(hits[0].score, 4.0f, 1e-6);
    ck_assert_int_eq(hits[1].item, 2);
    ck_assert_int_eq(hits[2].item, 4);
    q.exclude_seen = 0;
    n = run(&q, hits, &src);
    ck_assert_int_eq(hits[0].item, 0);
    /* explicit exclusions and candidates */
    int32_t ex[] = {1};
    q.exclude_seen = 1;
    q.exclude = ex;
    q.n_exclude = 1;
    n = run(&q, hits, &src);
    ck_assert_int_eq(hits[0].item, 2);
    int32_t cand[] = {3, 4};
    q.candidates = cand;
    q.n_candidates = 2;
    q.k = 5;
    n = run(&q, hits, &src);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(hits[0].item, 4);
    ck_assert_int_eq(hits[1].item, 3);
}
END_TEST

START_TEST(recommend_tag_filter_and_ties)
{
    /* user 196 = (1,1): scores 5,5,6,5,2 -> ties broken by lower index */
    struct reco_query q = {.user = 2, .k = 5, .exclude_seen = 1};
    struct reco_hit hits[5];
    enum reco_source src;
    size_t n = run(&q, hits, &src);
    ck_assert_uint_eq(n, 5);
    int want[] = {2, 0, 1, 3, 4};
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(hits[i].item, want[i]);
    int32_t comedy[] = {0};
    q.tags = comedy;
    q.n_tags = 1;
    n = run(&q, hits, &src);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(hits[0].item, 0);
    ck_assert_int_eq(hits[1].item, 3);
}
END_TEST

START_TEST(popular_fallback_and_fold_in)
{
    struct reco_query q = {.user = -1, .k = 2, .exclude_seen = 1};
    struct reco_hit hits[5];
    enum reco_source src;
    size_t n = run(&q, hits, &src);
    ck_assert_int_eq(src, RECO_FROM_POPULAR);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(hits[0].item, 1); /* popularity 50 */
    ck_assert_int_eq(hits[1].item, 3); /* 40 */
    /* history {i0}: folded-in vector points along item 0's factors (5,0),
     * so i1 (4,1) must beat i3 (0,5); i0 itself is excluded. */
    int32_t hist[] = {0};
    q.history = hist;
    q.n_history = 1;
    q.k = 4;
    n = run(&q, hits, &src);
    ck_assert_int_eq(src, RECO_FROM_HISTORY);
    ck_assert_uint_eq(n, 4);
    ck_assert_int_eq(hits[0].item, 1);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_ne(hits[i].item, 0);
    /* fold-in solves the ALS normal equations: check the residual by hand */
    const struct mf_model *m = model->state;
    float work[2 * 2 + 2];
    enc_err err;
    ck_assert_int_eq(mf_fold_in(m, hist, 1, work, &err), 0);
    float *x = work + 4;
    /* A = V^T V + (c-1) y y^T + reg I with c = 2, b = c y; y = (5,0) */
    double vtv[4] = {0, 0, 0, 0};
    static const float V[] = {5, 0, 4, 1, 3, 3, 0, 5, 1, 1};
    for (int i = 0; i < 5; i++)
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                vtv[a * 2 + b] += V[i * 2 + a] * V[i * 2 + b];
    double A[4] = {vtv[0] + 25 + 0.1, vtv[1], vtv[2], vtv[3] + 0.1};
    double r0 = A[0] * x[0] + A[1] * x[1] - 10, r1 = A[2] * x[0] + A[3] * x[1] - 0;
    ck_assert_double_lt(fabs(r0), 1e-4);
    ck_assert_double_lt(fabs(r1), 1e-4);
}
END_TEST

/* A model trained with per-row regularisation scaling folds a history in
 * with the same scaled regularisation. */
START_TEST(fold_in_scaled_regularization)
{
    struct mf_data d;
    make_data(&d);
    char out[4200];
    snprintf(out, sizeof out, "%s/scaled", repo);
    enc_err err = {0};
    json_t *hyper = json_pack("{s:f,s:f}", "reg_exponent", 0.5, "mean_user_interactions", 4.0);
    ck_assert_int_eq(model_save(&mf_ops, &d, hyper, NULL, out, 0, NULL, &err), 0);
    json_decref(hyper);
    mf_data_clear(&d);
    char path[4300];
    snprintf(path, sizeof path, "%s/scaled/1/model.safetensors", repo);
    struct model *m2;
    ck_assert_int_eq(model_load("scaled", 1, path, &model_default_opts, &m2, &err), 0);
    float work[6];
    int32_t hist[] = {0};
    ck_assert_int_eq(mf_fold_in(m2->state, hist, 1, work, &err), 0);
    /* reg = 0.1 * (1/4)^0.5 = 0.05 on the diagonal */
    static const float V[] = {5, 0, 4, 1, 3, 3, 0, 5, 1, 1};
    double vtv[4] = {0, 0, 0, 0};
    for (int i = 0; i < 5; i++)
        for (int a = 0; a < 2; a++)
            for (int b = 0; b < 2; b++)
                vtv[a * 2 + b] += V[i * 2 + a] * V[i * 2 + b];
    float *x = work + 4;
    double r0 = (vtv[0] + 25 + 0.05) * x[0] + vtv[1] * x[1] - 10;
    double r1 = vtv[2] * x[0] + (vtv[3] + 0.05) * x[1];
    ck_assert_double_lt(fabs(r0), 1e-4);
    ck_assert_double_lt(fabs(r1), 1e-4);
    model_unref(m2);
}
END_TEST

START_TEST(similar_by_cosine)
{
    const struct mf_model *m = model->state;
    float *scratch = malloc(mf_scratch_floats(m) * sizeof(float));
    struct reco_hit hits[5];
    size_t n;
    enc_err err;
    struct reco_query f = {.k = 2};
    /* i0 = (5,0): cosine with i1 (4,1) .970, i2 (3,3) .707, i4 .707, i3 0 */
    ck_assert_int_eq(mf_similar(m, 0, &f, scratch, hits, &n, &err), 0);
    ck_assert_uint_eq(n, 2);
    ck_assert_int_eq(hits[0].item, 1);
    ck_assert_float_eq_tol(hits[0].score, 4.0f / sqrtf(17.0f), 1e-5);
    ck_assert_int_eq(hits[1].item, 2);
    ck_assert_int_ne(mf_similar(m, 9, &f, scratch, hits, &n, &err), 0);
    free(scratch);
}
END_TEST

START_TEST(item_json_is_escaped)
{
    const struct mf_model *m = model->state;
    size_t len;
    const char *j = mf_item_json(m, 0, &len);
    ck_assert_int_eq(strncmp(j, "\"item\":\"i0\",\"title\":\"Zero \\\"quoted\\\"\"", len), 0);
    j = mf_item_json(m, 2, &len); /* empty title omitted */
    ck_assert_int_eq(strncmp(j, "\"item\":\"i2\"", len), 0);
    ck_assert_uint_eq(len, strlen("\"item\":\"i2\""));
}
END_TEST

START_TEST(topk_selection)
{
    float s[] = {1, 7, -INFINITY, 7, 3, 9, 0};
    struct reco_hit h[7];
    ck_assert_uint_eq(mf_topk(s, 7, 3, h), 3);
    ck_assert_int_eq(h[0].item, 5);
    ck_assert_int_eq(h[1].item, 1);
    ck_assert_int_eq(h[2].item, 3);
    ck_assert_uint_eq(mf_topk(s, 7, 10, h), 6); /* -inf never returned */
    ck_assert_int_eq(h[5].item, 6);
    ck_assert_uint_eq(mf_topk(s, 7, 0, h), 0);
    /* random check against a full sort */
    enum { N = 500 };
    float r[N];
    srand(7);
    for (int i = 0; i < N; i++)
        r[i] = (float)(rand() % 50);
    struct reco_hit top[20];
    mf_topk(r, N, 20, top);
    for (int i = 1; i < 20; i++)
        ck_assert(top[i - 1].score > top[i].score ||
                  (top[i - 1].score == top[i].score && top[i - 1].item < top[i].item));
    int better = 0;
    for (int i = 0; i < N; i++)
        if (r[i] > top[19].score || (r[i] == top[19].score && i < top[19].item))
            better++;
    ck_assert_int_eq(better, 19);
}
END_TEST

/* Corrupt one tensor's bytes and rewrite the checksum so only the family's
 * own validation can catch it. */
static int cmp_hit(const void *a, const void *b)
{
    const struct reco_hit *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->item < y->item ? -1 : x->item > y->item;
}

/* mf_topk against a full sort, on catalogues large enough for its chunk
 * floor, with ties, excluded (-inf) items and whole excluded chunks. */
START_TEST(topk_matches_sort)
{
    uint32_t rng = 7;
    for (int trial = 0; trial < 200; trial++) {
        size_t n = 64 + (size_t)(trial * 97) % 3000, k = 1 + (size_t)trial % 40;
        float *s = malloc(n * sizeof *s);
        struct reco_hit *all = malloc(n * sizeof *all), hits[40];
        size_t valid = 0;
        for (size_t i = 0; i < n; i++) {
            rng = rng * 1664525u + 1013904223u;
            int r = (int)(rng >> 20) % 1000;
            s[i] = trial % 3 == 0 ? (float)(r % 7) : (float)r / 37.0f; /* many ties */
            if (r % 11 == 0 || (trial % 5 == 0 && i >= 128 && i < 256))
                s[i] = -INFINITY;
            if (s[i] != -INFINITY)
                all[valid++] = (struct reco_hit){(int32_t)i, s[i]};
        }
        qsort(all, valid, sizeof *all, cmp_hit);
        size_t got = mf_topk(s, n, k, hits), want = valid < k ? valid : k;
        ck_assert_uint_eq(got, want);
        for (size_t i = 0; i < got; i++) {
            ck_assert_int_eq(hits[i].item, all[i].item);
            ck_assert(hits[i].score == all[i].score);
        }
        free(s);
        free(all);
    }
}
END_TEST

/* The server's way in: model_ops.reco, with a caller's user vector and an
 * unavailable-items bitset (the hooks live events use). */
START_TEST(reco_ops_through_the_table)
{
    const struct reco_ops *ro = model->ops->reco;
    ck_assert_ptr_nonnull(ro);
    const void *st = model->state;
    ck_assert_uint_eq(ro->n_users(st), 3);
    ck_assert_uint_eq(ro->n_items(st), 5);
    ck_assert_uint_eq(ro->factors(st), 2);
    ck_assert_int_eq(ro->user_index(st, "bob", 3), 1);
    ck_assert_int_eq(ro->item_index(st, "i3", 2), 3);
    ck_assert_int_eq(ro->item_index(st, "i9", 2), -1);
    ck_assert_int_eq(ro->tag_index(st, "Drama", 5), 1);
    size_t len;
    const char *id = ro->item_id(st, 4, &len);
    ck_assert_int_eq((int)len, 2);
    ck_assert(memcmp(id, "i4", 2) == 0);
    void *scratch = malloc(ro->scratch_bytes(st));
    struct reco_hit hits[5];
    enc_err err = {0};
    /* alice through the table: as mf_recommend (i1 4, i2 3, i4 1) */
    struct reco_query q = {.user = 0, .k = 3, .exclude_seen = 1};
    struct reco_result res = {.hits = hits};
    ck_assert_int_eq(ro->recommend(st, &q, scratch, &res, &err), 0);
    ck_assert_uint_eq(res.n, 3);
    ck_assert_int_eq(res.source, RECO_FROM_USER);
    ck_assert_int_eq(hits[0].item, 1);
    /* unavailable items never come back: i1 and i4 off */
    uint64_t off[1] = {(1u << 1) | (1u << 4)};
    q.unavailable = off;
    ck_assert_int_eq(ro->recommend(st, &q, scratch, &res, &err), 0);
    ck_assert_uint_eq(res.n, 2);
    ck_assert_int_eq(hits[0].item, 2);
    ck_assert_int_eq(hits[1].item, 3);
    q.unavailable = NULL;
    /* a caller's vector wins over the user's factors; the user's seen items
     * still go: (0, 1) scores i3 5, i2 3, i1 1, i4 1 (i0 seen by alice) */
    float vec[2] = {0, 1};
    q.user_vec = vec;
    q.k = 2;
    ck_assert_int_eq(ro->recommend(st, &q, scratch, &res, &err), 0);
    ck_assert_int_eq(res.source, RECO_FROM_VECTOR);
    ck_assert_uint_eq(res.n, 2);
    ck_assert_int_eq(hits[0].item, 3);
    ck_assert_float_eq_tol(hits[0].score, 5.0f, 1e-6);
    ck_assert_int_eq(hits[1].item, 2);
    /* fold_in gives the vector a history query would use */
    int32_t hist[] = {3, 4};
    float folded[2];
    ck_assert_int_eq(ro->fold_in(st, hist, 2, scratch, folded, &err), 0);
    struct reco_hit a[5], b[5];
    struct reco_query qh = {.user = -1, .k = 5, .history = hist, .n_history = 2, .exclude_seen = 1};
    struct reco_query qv = {
        .user = -1, .k = 5, .user_vec = folded, .history = hist, .n_history = 2, .exclude_seen = 1};
    struct reco_result ra = {.hits = a}, rb = {.hits = b};
    ck_assert_int_eq(ro->recommend(st, &qh, scratch, &ra, &err), 0);
    ck_assert_int_eq(ra.source, RECO_FROM_HISTORY);
    ck_assert_int_eq(ro->recommend(st, &qv, scratch, &rb, &err), 0);
    ck_assert_uint_eq(ra.n, 3);
    ck_assert_uint_eq(rb.n, ra.n);
    for (size_t i = 0; i < ra.n; i++) {
        ck_assert_int_eq(a[i].item, b[i].item);
        ck_assert_float_eq_tol(a[i].score, b[i].score, 1e-6);
    }
    int32_t bad[] = {7};
    ck_assert_int_eq(ro->fold_in(st, bad, 1, scratch, folded, &err), ENC_EINVAL);
    /* similar through the table: as mf_similar */
    struct reco_query qs = {.k = 2};
    ck_assert_int_eq(ro->similar(st, 0, &qs, scratch, &res, &err), 0);
    ck_assert_uint_eq(res.n, 2);
    ck_assert_int_eq(hits[0].item, 1);
    free(scratch);
}
END_TEST

START_TEST(refuses_bad_indexes)
{
    struct mf_data d;
    make_data(&d);
    d.seen_items[1] = 99; /* item out of range */
    st_writer *w = st_writer_new();
    ck_assert_int_eq(mf_write(&d, w, NULL, NULL), 0);
    void *buf;
    size_t len;
    enc_err err = {0};
    ck_assert_int_eq(st_writer_to_buffer(w, &buf, &len, &err), 0);
    st_file *f;
    ck_assert_int_eq(st_open_buffer(buf, len, &f, &err), 0);
    void *state = NULL;
    ck_assert_int_eq(mf_ops.load(f, &model_default_opts, &state, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "seen"));
    st_close(f);
    free(buf);
    st_writer_free(w);
    /* a NaN factor */
    d.seen_items[1] = 3;
    d.item_factors[3] = NAN;
    w = st_writer_new();
    mf_write(&d, w, NULL, NULL);
    st_writer_to_buffer(w, &buf, &len, &err);
    ck_assert_int_eq(st_open_buffer(buf, len, &f, &err), 0);
    ck_assert_int_eq(mf_ops.load(f, &model_default_opts, &state, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "NaN"));
    st_close(f);
    free(buf);
    st_writer_free(w);
    mf_data_clear(&d);
}
END_TEST

START_TEST(repository_versions)
{
    /* a second save gets version 2; resolve picks the highest */
    struct mf_data d;
    make_data(&d);
    char out[4200];
    snprintf(out, sizeof out, "%s/films", repo);
    enc_err err = {0};
    int64_t v = 0;
    ck_assert_int_eq(model_save(&mf_ops, &d, NULL, NULL, out, 0, &v, &err), 0);
    ck_assert_int_eq(v, 2);
    ck_assert_int_ne(model_save(&mf_ops, &d, NULL, NULL, out, 2, &v, &err), 0); /* immutable */
    mf_data_clear(&d);
    char *path, *name;
    int64_t ver;
    ck_assert_int_eq(repo_resolve(out, &path, &name, &ver, &err), 0);
    ck_assert_int_eq(ver, 2);
    ck_assert_str_eq(name, "films");
    free(path);
    free(name);
    char vdir[4300];
    snprintf(vdir, sizeof vdir, "%s/1", out);
    ck_assert_int_eq(repo_resolve(vdir, &path, &name, &ver, &err), 0);
    ck_assert_int_eq(ver, 1);
    ck_assert_str_eq(name, "films");
    free(path);
    free(name);
    ck_assert(repo_valid_name("ml-100k_v2.x"));
    ck_assert(!repo_valid_name("../etc"));
    ck_assert(!repo_valid_name(".hidden"));
    ck_assert(!repo_valid_name(""));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mf");
    TCase *tc = tcase_create("mf");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, recommend_known_user);
    tcase_add_test(tc, recommend_tag_filter_and_ties);
    tcase_add_test(tc, popular_fallback_and_fold_in);
    tcase_add_test(tc, fold_in_scaled_regularization);
    tcase_add_test(tc, similar_by_cosine);
    tcase_add_test(tc, item_json_is_escaped);
    tcase_add_test(tc, topk_selection);
    tcase_add_test(tc, topk_matches_sort);
    tcase_add_test(tc, reco_ops_through_the_table);
    tcase_add_test(tc, refuses_bad_indexes);
    tcase_add_test(tc, repository_versions);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
