/*
 * mf.c - the "mf" family: save, load (validated, pointing into the mapped
 * file, then the derived scoring tables), describe, the live fold-in steps
 * and the reco_ops row the server calls. The queries themselves (scoring,
 * top-k, recommend, similar, fold-in) are in query.c; what both share is
 * mf_int.h.
 */
#include "mf/mf_int.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "core/strv.h"
#include "mf/index.h"
#include "mf/mf_ann.h"

/* ====================================================================== */
/* saving                                                                 */

void mf_data_clear(struct mf_data *d)
{
    if (!d)
        return;
    free(d->user_factors);
    free(d->item_factors);
    strv_free(d->user_ids, d->n_users);
    strv_free(d->item_ids, d->n_items);
    free(d->seen_offsets);
    free(d->seen_items);
    free(d->item_popularity);
    strv_free(d->titles, d->n_items);
    strv_free(d->tag_names, d->n_tags);
    free(d->item_tag_offsets);
    free(d->item_tag_ids);
    index_data_clear(d->index);
    free(d->index);
    index_data_clear(d->index_cosine);
    free(d->index_cosine);
    memset(d, 0, sizeof *d);
}

int mf_write(const struct mf_data *d, st_writer *w, const json_t *hyper, const char *fingerprint)
{
    int64_t uf[2] = {(int64_t)d->n_users, (int64_t)d->factors};
    int64_t vf[2] = {(int64_t)d->n_items, (int64_t)d->factors};
    int64_t so[1] = {(int64_t)d->n_users + 1};
    int64_t nnz = d->seen_offsets ? d->seen_offsets[d->n_users] : 0;
    int64_t si[1] = {nnz}, ni[1] = {(int64_t)d->n_items}, io[1] = {(int64_t)d->n_items + 1};
    int rc = model_write_common_meta(w, "mf", hyper, fingerprint);
    rc = rc ? rc : st_writer_meta(w, "algorithm", d->algorithm ? d->algorithm : "als");
    char num[64];
    snprintf(num, sizeof num, "%.9g", d->regularization);
    rc = rc ? rc : st_writer_meta(w, "regularization", num);
    snprintf(num, sizeof num, "%.9g", d->alpha);
    rc = rc ? rc : st_writer_meta(w, "alpha", num);
    if (d->user_f16 && rc == 0) { /* binary16 rows (half.h); a value it cannot hold fails */
        size_t nu = d->n_users * d->factors;
        uint16_t *uh = malloc((nu > 0 ? nu : 1) * sizeof *uh);
        if (!uh)
            return ENC_ENOMEM;
        if (half_from_floats(d->user_factors, nu, uh) != 0) {
            free(uh);
            return ENC_ERANGE;
        }
        rc = st_writer_add_owned(w, "user_factors", ST_F16, 2, uf, uh);
    } else if (!d->user_f16) {
        /* the factor tables are borrowed, not copied (d outlives the writer):
         * 10M users x 64 factors are 2.56 GB */
        rc = rc ? rc : st_writer_add_ref(w, "user_factors", ST_F32, 2, uf, d->user_factors);
    }
    rc = rc ? rc : st_writer_add_ref(w, "item_factors", ST_F32, 2, vf, d->item_factors);
    rc = rc ? rc
            : st_writer_add_strings(w, "user_ids", (const char *const *)d->user_ids, NULL,
                                    d->n_users);
    rc = rc ? rc
            : st_writer_add_strings(w, "item_ids", (const char *const *)d->item_ids, NULL,
                                    d->n_items);
    /* Optional members are written empty so every file has the same tensors. */
    int64_t *zoff = NULL;
    float *zpop = NULL;
    const char **empty = NULL;
    if (!d->seen_offsets || !d->item_popularity || !d->titles || !d->item_tag_offsets) {
        zoff = calloc(d->n_users + d->n_items + 2, sizeof *zoff);
        zpop = calloc(d->n_items + 1, sizeof *zpop);
        empty = calloc(d->n_items + 1, sizeof *empty);
        if (!zoff || !zpop || !empty) {
            free(zoff);
            free(zpop);
            free(empty);
            return ENC_ENOMEM;
        }
        for (size_t i = 0; i < d->n_items; i++)
            empty[i] = "";
    }
    rc = rc ? rc
            : st_writer_add(w, "seen.offsets", ST_I64, 1, so,
                            d->seen_offsets ? d->seen_offsets : zoff);
    rc = rc ? rc : st_writer_add(w, "seen.items", ST_I32, 1, si, d->seen_items);
    rc = rc ? rc
            : st_writer_add(w, "item_popularity", ST_F32, 1, ni,
                            d->item_popularity ? d->item_popularity : zpop);
    rc = rc ? rc
            : st_writer_add_strings(w, "titles", d->titles ? (const char *const *)d->titles : empty,
                                    NULL, d->n_items);
    rc = rc ? rc
            : st_writer_add_strings(w, "tags", (const char *const *)d->tag_names, NULL, d->n_tags);
    int64_t tnnz = d->item_tag_offsets ? d->item_tag_offsets[d->n_items] : 0;
    int64_t ti[1] = {tnnz};
    rc = rc ? rc
            : st_writer_add(w, "item_tags.offsets", ST_I64, 1, io,
                            d->item_tag_offsets ? d->item_tag_offsets : zoff);
    rc = rc ? rc : st_writer_add(w, "item_tags.ids", ST_I32, 1, ti, d->item_tag_ids);
    if (d->index)
        rc = rc ? rc : index_save(d->index, w);
    if (d->index && d->index_cosine)
        rc = rc ? rc : index_save_named(d->index_cosine, INDEX_COSINE_PREFIX, w);
    free(zoff);
    free(zpop);
    free(empty);
    return rc;
}

static int mf_write_op(const void *data, st_writer *w, const json_t *hyper, const char *fingerprint)
{
    return mf_write(data, w, hyper, fingerprint);
}

/* ====================================================================== */
/* loading                                                                */

/* An index over one of the file's string tables (nothing copied). */
static int index_ids(strmap *m, const st_strings *keys, const char *what, enc_err *err)
{
    size_t dup;
    int rc = strmap_index(m, keys->bytes, keys->offsets, keys->n, &dup);
    if (rc == ENC_EFORMAT) {
        size_t len;
        const char *k = st_str(keys, dup, &len);
        return enc_errf(err, rc, "%s: duplicate id '%.*s'", what, (int)(len > 64 ? 64 : len), k);
    }
    return rc ? enc_errf(err, rc, "%s: %s", what, enc_strerror(rc)) : 0;
}

static int check_csr(const int64_t *off, size_t rows, const int32_t *idx, size_t nnz, size_t limit,
                     const char *what, enc_err *err)
{
    if (off[0] != 0 || (size_t)off[rows] != nnz)
        return enc_errf(err, ENC_EFORMAT, "%s.offsets must run from 0 to %zu", what, nnz);
    for (size_t r = 0; r < rows; r++)
        if (off[r + 1] < off[r])
            return enc_errf(err, ENC_EFORMAT, "%s.offsets[%zu] decreases", what, r + 1);
    for (size_t i = 0; i < nnz; i++)
        if (idx[i] < 0 || (size_t)idx[i] >= limit)
            return enc_errf(err, ENC_EFORMAT, "%s[%zu] = %d out of range 0..%zu", what, i, idx[i],
                            limit);
    return 0;
}

static void mf_free_state(void *state)
{
    struct mf_model *m = state;
    if (!m)
        return;
    strmap_clear(&m->users);
    strmap_clear(&m->items);
    strmap_clear(&m->tagmap);
    free(m->Vn);
    free(m->Vt);
    free(m->Vnt);
    free(m->Vh);
    free(m->Vnh);
    quant_free(&m->Vq);
    quant_free(&m->Vnq);
    free(m->yty);
    free(m->item_json);
    free(m->item_json_off);
    mf_ann_free(m->ann);
    free(m);
}

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

static double meta_double(const st_file *f, const char *key, double dflt)
{
    const char *s = st_meta(f, key);
    if (!s)
        return dflt;
    char *end;
    double v = strtod(s, &end);
    return (end != s && isfinite(v) && v >= 0) ? v : dflt;
}

/* The scoring kernel a model builds at load (model_load_opts.precision):
 * int8 screening (quant.h), binary16 (half.h) or f32 (cblas_sgemv) only. */
enum score_mode { SCORE_F32, SCORE_F16, SCORE_I8 };

static enum score_mode score_mode_of(enum model_precision p)
{
    switch (p) {
    case MODEL_PRECISION_I8:
        return SCORE_I8;
    case MODEL_PRECISION_F32:
        return SCORE_F32;
    case MODEL_PRECISION_F16:
        return SCORE_F16;
    case MODEL_PRECISION_AUTO:
        break;
    }
    return quant_fast() ? SCORE_I8 : SCORE_F32;
}

static int mf_check_opts(const struct model_load_opts *opts, enc_err *err)
{
    if (opts->precision == MODEL_PRECISION_F16 && !half_supported())
        return enc_errf(err, ENC_EUNSUPPORTED,
                        "score precision f16 needs an x86-64 CPU with AVX2, FMA and F16C");
    return 0;
}

/* The factors (shapes agree, values finite) and the id tables. */
static int load_factors(const st_file *f, struct mf_model *m, enc_err *err)
{
    const st_tensor *tu, *tv;
    int64_t any2[2] = {-1, -1};
    /* user_factors may be binary16 (--user-precision f16): decoded a row at
     * a time (mf_user_row), never widened into a private copy */
    const st_tensor *tf = st_find(f, "user_factors");
    st_dtype udt = tf && tf->dtype == ST_F16 ? ST_F16 : ST_F32;
    int rc = st_expect(f, "user_factors", udt, 2, any2, &tu, err);
    rc = rc ? rc : st_expect(f, "item_factors", ST_F32, 2, any2, &tv, err);
    if (rc)
        return rc;
    m->n_users = (size_t)tu->shape[0];
    m->n_items = (size_t)tv->shape[0];
    m->f = (size_t)tu->shape[1];
    if (m->f == 0 || m->f > 4096 || (size_t)tv->shape[1] != m->f)
        return enc_errf(err, ENC_EFORMAT,
                        "factor dims %lld (users) and %lld (items) must match, 1..4096",
                        (long long)tu->shape[1], (long long)tv->shape[1]);
    if (m->n_items == 0 || m->n_items >= INT32_MAX || m->n_users >= INT32_MAX)
        return enc_errf(err, ENC_EFORMAT, "item count %zu / user count %zu out of range",
                        m->n_items, m->n_users);
    m->U = udt == ST_F32 ? tu->data : NULL;
    m->Uh = udt == ST_F16 ? tu->data : NULL;
    m->V = tv->data;
    if ((m->U ? !all_finite(m->U, tu->count) : !half_all_finite(m->Uh, tu->count)) ||
        !all_finite(m->V, tv->count))
        return enc_errf(err, ENC_EFORMAT, "factors contain NaN or infinity");
    rc = st_expect_strings(f, "user_ids", (int64_t)m->n_users, &m->user_ids, err);
    rc = rc ? rc : st_expect_strings(f, "item_ids", (int64_t)m->n_items, &m->item_ids, err);
    rc = rc ? rc : st_expect_strings(f, "titles", (int64_t)m->n_items, &m->titles, err);
    rc = rc ? rc : st_expect_strings(f, "tags", -1, &m->tags, err);
    m->n_tags = m->tags.n;
    return rc;
}

/* Seen items and item tags (CSR, indexes in range) and popularity (finite). */
static int load_tables(const st_file *f, struct mf_model *m, enc_err *err)
{
    int64_t so[1] = {(int64_t)m->n_users + 1}, io[1] = {(int64_t)m->n_items + 1},
            ni[1] = {(int64_t)m->n_items}, any1[1] = {-1};
    const st_tensor *t, *tsi, *tti;
    int rc = st_expect(f, "seen.offsets", ST_I64, 1, so, &t, err);
    if (rc)
        return rc;
    m->seen_off = t->data;
    rc = st_expect(f, "seen.items", ST_I32, 1, any1, &tsi, err);
    rc = rc ? rc
            : check_csr(m->seen_off, m->n_users, tsi->data, tsi->count, m->n_items, "seen", err);
    if (rc)
        return rc;
    m->seen_items = tsi->data;
    if ((rc = st_expect(f, "item_popularity", ST_F32, 1, ni, &t, err)))
        return rc;
    m->pop = t->data;
    if (!all_finite(m->pop, m->n_items))
        return enc_errf(err, ENC_EFORMAT, "item_popularity contains NaN or infinity");
    rc = st_expect(f, "item_tags.offsets", ST_I64, 1, io, &t, err);
    rc = rc ? rc : st_expect(f, "item_tags.ids", ST_I32, 1, any1, &tti, err);
    if (rc)
        return rc;
    m->tag_off = t->data;
    m->tag_ids = tti->data;
    return check_csr(m->tag_off, m->n_items, m->tag_ids, tti->count, m->n_tags, "item_tags", err);
}

/* How training turned weights into confidences (the hyperparameters'
 * "confidence", written by encore-train since the confidence schemes; see
 * confidence.h), for fold-ins of histories and events. A file without it
 * was trained with c = 1 + alpha * w on weights of 1 (what this gives).
 * Values out of range keep that default. */
static void load_confidence(json_t *c, struct mf_model *m)
{
    m->conf = (struct conf_serving){CONF_LINEAR, m->alpha, 1.0, 1.0, 1.0};
    enum conf_scheme s;
    json_t *js = json_object_get(c, "scheme"), *je = json_object_get(c, "epsilon"),
           *jw = json_object_get(c, "typical_weight"), *jf = json_object_get(c, "typical_f"),
           *ja = json_object_get(c, "alpha");
    if (!json_is_string(js) || conf_scheme_parse(json_string_value(js), &s) || s == CONF_AUTO)
        return;
    double e = json_number_value(je), w = json_number_value(jw), f = json_number_value(jf);
    double a = json_is_number(ja) ? json_number_value(ja) : m->alpha;
    if (!(e > 0 && isfinite(e) && w > 0 && isfinite(w) && f > 0 && isfinite(f) && a >= 0 &&
          isfinite(a)))
        return;
    m->conf = (struct conf_serving){s, a, e, w, f};
}

/* Fold-in's regularisation (and its per-row scaling, if training used it:
 * optional keys of the hyperparameters JSON, bounds as encore-train als
 * enforces them) and the algorithm name. */
static void load_meta(const st_file *f, struct mf_model *m)
{
    m->reg = meta_double(f, "regularization", 0.01);
    m->alpha = meta_double(f, "alpha", 1.0);
    const char *hp = st_meta(f, "hyperparameters");
    json_t *h = hp ? json_loads(hp, 0, NULL) : NULL;
    json_t *je = json_object_get(h, "reg_exponent"),
           *jm = json_object_get(h, "mean_user_interactions");
    if (json_is_number(je) && json_is_number(jm) && json_number_value(je) >= -2 &&
        json_number_value(je) <= 2 && json_number_value(jm) > 0 &&
        isfinite(json_number_value(jm))) {
        m->reg_exponent = json_number_value(je);
        m->mean_user = json_number_value(jm);
    }
    load_confidence(json_object_get(h, "confidence"), m);
    /* The index's default beams, as the trainer measured them (ignored when out of range). */
    json_t *jx = json_object_get(h, "index"), *jef = json_object_get(jx, "ef_search"),
           *jsef = json_object_get(jx, "similar_ef_search");
    if (json_is_integer(jef) && json_integer_value(jef) >= 1 &&
        json_integer_value(jef) <= MF_ANN_MAX_EF)
        m->ann_ef = (size_t)json_integer_value(jef);
    if (json_is_integer(jsef) && json_integer_value(jsef) >= 1 &&
        json_integer_value(jsef) <= MF_ANN_MAX_EF)
        m->ann_ef_similar = (size_t)json_integer_value(jsef);
    json_decref(h);
    m->algorithm = st_meta(f, "algorithm");
    /* The popular fallback's scores: the share of training users who have
     * the item (popularity is users per item), so they lie in [0, 1]. */
    double top = (double)m->n_users;
    for (size_t i = 0; i < m->n_items; i++)
        top = m->pop[i] > top ? m->pop[i] : top;
    m->pop_scale = top > 0 ? (float)(1.0 / top) : 0.0f;
}

/* The scoring tables: unit-length item factors, the int8 or binary16 packs
 * the precision asks for, the transposed tables only when neither pack
 * exists (the f32 gemv is then the kernel: at 1M x 64 they are 512 MB that
 * an int8 model never reads), and Y^T Y for fold-in. */
static int build_scoring(struct mf_model *m, enum model_precision precision, enc_err *err)
{
    size_t F = m->f, NI = m->n_items;
    m->Vn = malloc(NI * F * sizeof *m->Vn);
    m->yty = malloc(F * F * sizeof *m->yty);
    if (!m->Vn || !m->yty)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    quant_unit_rows(m->V, NI, F, m->Vn);
    enum score_mode score_mode = score_mode_of(precision);
    /* Factors int8 cannot pack (f > 1024): this model stays on the f32 path.
     * Out of memory is a failed load, not a quietly slower model. */
    if (score_mode == SCORE_I8) {
        int rc = quant_pack(m->V, NI, F, &m->Vq);
        if (rc == 0 && (rc = quant_pack(m->Vn, NI, F, &m->Vnq)) != 0)
            quant_free(&m->Vq);
        if (rc == ENC_ENOMEM)
            return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    if (score_mode == SCORE_F16 && half_supported()) {
        m->Vh = malloc(half_elems(NI, F) * sizeof *m->Vh);
        m->Vnh = malloc(half_elems(NI, F) * sizeof *m->Vnh);
        if (!m->Vh || !m->Vnh)
            return enc_errf(err, ENC_ENOMEM, "out of memory");
        /* Values binary16 cannot hold: keep this model on the f32 path. */
        if (half_pack(m->V, NI, F, m->Vh) || half_pack(m->Vn, NI, F, m->Vnh)) {
            free(m->Vh);
            free(m->Vnh);
            m->Vh = m->Vnh = NULL;
        }
    }
    if (!m->Vq.q && !m->Vh) {
        m->Vt = malloc(NI * F * sizeof *m->Vt);
        m->Vnt = malloc(NI * F * sizeof *m->Vnt);
        if (!m->Vt || !m->Vnt)
            return enc_errf(err, ENC_ENOMEM, "out of memory");
        for (size_t i = 0; i < NI; i++)
            for (size_t j = 0; j < F; j++) {
                m->Vt[j * NI + i] = m->V[i * F + j];
                m->Vnt[j * NI + i] = m->Vn[i * F + j];
            }
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)F, (int)F, (int)NI, 1.0f, m->V,
                (int)F, m->V, (int)F, 0.0f, m->yty, (int)F);
    return 0;
}

/* Every item's `"item":"<id>","title":"<title>"` response fragment,
 * JSON-escaped once here so a response costs one memcpy per item. */
static int build_item_json(struct mf_model *m, enc_err *err)
{
    size_t NI = m->n_items;
    if (!(m->item_json_off = malloc((NI + 1) * sizeof *m->item_json_off)))
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    buf b;
    buf_init(&b);
    for (size_t i = 0; i < NI; i++) {
        size_t len, tlen;
        const char *id = st_str(&m->item_ids, i, &len);
        const char *title = st_str(&m->titles, i, &tlen);
        m->item_json_off[i] = b.len;
        buf_puts(&b, "\"item\":");
        buf_json_str(&b, id, len);
        if (tlen) {
            buf_puts(&b, ",\"title\":");
            buf_json_str(&b, title, tlen);
        }
    }
    m->item_json_off[NI] = b.len;
    if (b.oom) {
        buf_free(&b);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    m->item_json = buf_steal(&b, NULL);
    return 0;
}

/* mf_ops.load: validate everything the file holds (pointing into the
 * mapping), then build the id maps and derived tables. */
static int mf_load(const st_file *f, const struct model_load_opts *opts, void **state, enc_err *err)
{
    struct mf_model *m = calloc(1, sizeof *m);
    if (!m)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int rc = load_factors(f, m, err);
    rc = rc ? rc : load_tables(f, m, err);
    if (rc == 0)
        load_meta(f, m);
    rc = rc ? rc : index_ids(&m->users, &m->user_ids, "user_ids", err);
    rc = rc ? rc : index_ids(&m->items, &m->item_ids, "item_ids", err);
    rc = rc ? rc : index_ids(&m->tagmap, &m->tags, "tags", err);
    rc = rc ? rc : build_scoring(m, opts->precision, err);
    if (rc == 0) { /* the item index, if the file has one (mf_ann.h) */
        struct mf_ann_view av = {.n_items = m->n_items,
                                 .n_users = m->n_users,
                                 .factors = m->f,
                                 .n_tags = m->n_tags,
                                 .V = m->V,
                                 .Vn = m->Vn,
                                 .seen_off = m->seen_off,
                                 .seen_items = m->seen_items,
                                 .tag_off = m->tag_off,
                                 .tag_ids = m->tag_ids,
                                 .ef = m->ann_ef,
                                 .ef_similar = m->ann_ef_similar};
        rc = mf_ann_load(f, &av, &m->ann, err);
    }
    rc = rc ? rc : build_item_json(m, err);
    rc = rc ? rc : mf_rerank_units(m, err);
    if (rc) {
        mf_free_state(m);
        return rc;
    }
    *state = m;
    return 0;
}

static size_t mf_mem_usage(const void *state)
{
    const struct mf_model *m = state;
    size_t F = m->f;
    return sizeof *m + m->n_users * F * (m->Uh ? sizeof *m->Uh : sizeof(float)) +
           (m->Vt ? 4 : 2) * m->n_items * F * sizeof(float) + F * F * sizeof(float) +
           (m->Vh ? 2 * half_elems(m->n_items, F) * sizeof *m->Vh : 0) +
           (m->Vq.q ? 2 * quant_padded(m->n_items) * ((F + 3) / 4 * 4 + 3 * sizeof(float)) : 0) +
           m->item_json_off[m->n_items] + strmap_mem(&m->users) + strmap_mem(&m->items) +
           strmap_mem(&m->tagmap) + mf_ann_bytes(m->ann);
}

static int mf_describe(const void *state, json_t *o)
{
    const struct mf_model *m = state;
    int bad = json_object_set_new(o, "users", json_integer((json_int_t)m->n_users));
    bad |= json_object_set_new(o, "items", json_integer((json_int_t)m->n_items));
    bad |= json_object_set_new(o, "factors", json_integer((json_int_t)m->f));
    bad |= json_object_set_new(o, "tags", json_integer((json_int_t)m->n_tags));
    bad |=
        json_object_set_new(o, "interactions", json_integer((json_int_t)m->seen_off[m->n_users]));
    bad |=
        json_object_set_new(o, "algorithm", json_string(m->algorithm ? m->algorithm : "unknown"));
    bad |= json_object_set_new(o, "score_precision",
                               json_string(m->Vh     ? "f16"
                                           : m->Vq.q ? "i8"
                                                     : "f32"));
    bad |= json_object_set_new(o, "user_precision", json_string(m->Uh ? "f16" : "f32"));
    bad |= mf_ann_describe(m->ann, o);
    bad |= json_object_set_new(
        o, "diversity_units", json_pack("{s:f,s:f}", "relevance", m->unit_rel, "ild", m->unit_ild));
    return bad ? ENC_ENOMEM : 0;
}

/* ====================================================================== */
/* queries                                                                */

size_t mf_n_users(const struct mf_model *m)
{
    return m->n_users;
}
size_t mf_n_items(const struct mf_model *m)
{
    return m->n_items;
}
void mf_diversity_units(const struct mf_model *m, double *rel, double *ild)
{
    *rel = m->unit_rel;
    *ild = m->unit_ild;
}
size_t mf_factors(const struct mf_model *m)
{
    return m->f;
}
const struct index *mf_index(const struct mf_model *m)
{
    return mf_ann_index(m->ann);
}

int64_t mf_user_index(const struct mf_model *m, const char *id, size_t len)
{
    return strmap_find(&m->users, id, len);
}
int64_t mf_item_index(const struct mf_model *m, const char *id, size_t len)
{
    return strmap_find(&m->items, id, len);
}
int64_t mf_tag_index(const struct mf_model *m, const char *name, size_t len)
{
    return strmap_find(&m->tagmap, name, len);
}
const char *mf_item_id(const struct mf_model *m, size_t item, size_t *len)
{
    return st_str(&m->item_ids, item, len);
}
const char *mf_item_json(const struct mf_model *m, size_t item, size_t *len)
{
    *len = m->item_json_off[item + 1] - m->item_json_off[item];
    return m->item_json + m->item_json_off[item];
}

/* ====================================================================== */
/* live recommendations: weighted fold-in, the item step, vectors         */

/* The ALS half-step with per-entry confidence c and preference p (1: likes,
 * 0: does not): solve
 *     (G + reg I + sum_i (c_i - 1) v_i v_i^T) x = sum_i c_i p_i v_i
 * where G is Y^T Y (a user from items) or X^T X (an item from users).
 * Without x0: the exact solve (LAPACK sposv). With x0, the vector the model
 * was trained to for the same entries at confidences c0 and preferences p0:
 * the update. Writing A and b for the new system, A0 and b0 for the one x0
 * solves, A (x - x0) = (b - b0) - (A - A0) x0, whose right-hand side only
 * involves the entries that changed; `steps` conjugate-gradient steps from
 * 0 solve it (A applied as G v + reg v + the rank-n correction, never
 * formed). So a user with no new entries keeps the trained vector exactly,
 * and the training weights, which the model file does not keep, matter only
 * through A's conditioning. work: F*F + 4F floats. */
static int solve_weighted(size_t F, const float *G, double reg, const float *const *v,
                          const float *conf, const float *pref, const float *conf0,
                          const float *pref0, size_t n, const float *x0, int steps, float *work,
                          float *x, enc_err *err)
{
    float *b = work + F * F, *r = b + F, *p = r + F, *Ap = p + F;
    if (!x0) {
        float *A = work;
        memset(b, 0, F * sizeof *b);
        for (size_t i = 0; i < n; i++)
            if (pref[i] != 0)
                cblas_saxpy((int)F, conf[i] * pref[i], v[i], 1, b, 1);
        memcpy(A, G, F * F * sizeof *A);
        for (size_t j = 0; j < F; j++)
            A[j * F + j] += (float)reg;
        /* A += sum (c_i - 1) v_i v_i^T as one rank-n update of the gathered
         * rows scaled by sqrt(c_i - 1) (ssyrk), not n rank-1 ones */
        float *W = n ? malloc(n * F * sizeof *W) : NULL;
        if (n && !W)
            return enc_errf(err, ENC_ENOMEM, "out of memory");
        for (size_t i = 0; i < n; i++) {
            float sc = sqrtf(conf[i] - 1.0f);
            for (size_t j = 0; j < F; j++)
                W[i * F + j] = sc * v[i][j];
        }
        if (n)
            cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, (int)F, (int)n, 1.0f, W, (int)F,
                        1.0f, A, (int)F);
        free(W);
        memcpy(x, b, F * sizeof *x);
        lapack_int info =
            LAPACKE_sposv(LAPACK_ROW_MAJOR, 'U', (lapack_int)F, 1, A, (lapack_int)F, x, 1);
        if (info != 0)
            return enc_errf(err, ENC_EINTERNAL, "fold-in: system not positive definite (%d)",
                            (int)info);
        return 0;
    }
    /* The entries' vectors side by side (n x F, from the caller's rows in
     * the work space past the four vectors when it fits, else the heap): the
     * rank-n term of A p is then two gemv calls instead of 2n dot/axpy calls. */
    float *Vg = NULL, *cw = NULL;
    if (n) {
        Vg = malloc(n * F * sizeof *Vg);
        cw = malloc(n * 2 * sizeof *cw);
        if (!Vg || !cw) {
            free(Vg);
            free(cw);
            return enc_errf(err, ENC_ENOMEM, "out of memory");
        }
        for (size_t i = 0; i < n; i++) {
            memcpy(Vg + i * F, v[i], F * sizeof *Vg);
            cw[i] = conf[i] - 1.0f;
        }
    }
    float *t = cw ? cw + n : NULL; /* n floats: Vg p, then scaled */
    /* r = (b - b0) - (A - A0) x0, from the entries that changed */
    memset(r, 0, F * sizeof *r);
    for (size_t i = 0; i < n; i++) {
        float db = conf[i] * pref[i] - conf0[i] * pref0[i], dc = conf[i] - conf0[i];
        if (db == 0 && dc == 0)
            continue;
        float coef = db - dc * cblas_sdot((int)F, v[i], 1, x0, 1);
        cblas_saxpy((int)F, coef, v[i], 1, r, 1);
    }
    float *d = b; /* the update, from 0 */
    memset(d, 0, F * sizeof *d);
    memcpy(p, r, F * sizeof *p);
    float rs = cblas_sdot((int)F, r, 1, r, 1);
    for (int s = 0; s < steps && rs > 1e-20f; s++) {
        cblas_ssymv(CblasRowMajor, CblasUpper, (int)F, 1.0f, G, (int)F, p, 1, 0.0f, Ap, 1);
        cblas_saxpy((int)F, (float)reg, p, 1, Ap, 1);
        if (n) { /* Ap += Vg^T diag(c - 1) Vg p */
            cblas_sgemv(CblasRowMajor, CblasNoTrans, (int)n, (int)F, 1.0f, Vg, (int)F, p, 1, 0.0f,
                        t, 1);
            for (size_t i = 0; i < n; i++)
                t[i] *= cw[i];
            cblas_sgemv(CblasRowMajor, CblasTrans, (int)n, (int)F, 1.0f, Vg, (int)F, t, 1, 1.0f, Ap,
                        1);
        }
        float pAp = cblas_sdot((int)F, p, 1, Ap, 1);
        if (!(pAp > 0))
            break;
        float a = rs / pAp;
        cblas_saxpy((int)F, a, p, 1, d, 1);
        cblas_saxpy((int)F, -a, Ap, 1, r, 1);
        float rs2 = cblas_sdot((int)F, r, 1, r, 1);
        for (size_t j = 0; j < F; j++)
            p[j] = r[j] + (rs2 / rs) * p[j];
        rs = rs2;
    }
    free(Vg);
    free(cw);
    for (size_t j = 0; j < F; j++) {
        x[j] = x0[j] + d[j];
        if (!isfinite(x[j]))
            return enc_errf(err, ENC_EINTERNAL, "fold-in: did not converge");
    }
    return 0;
}

#define MF_LIVE_CG_STEPS 3
#define MF_LIVE_MAX 4096 /* entries of one weighted fold-in */

static int op_fold_in_weighted(const void *s, const int32_t *items, const float *conf,
                               const float *pref, const float *conf0, const float *pref0, size_t n,
                               const float *x0, void *scratch, float *vec, enc_err *err)
{
    const struct mf_model *m = s;
    if (n > MF_LIVE_MAX)
        return enc_errf(err, ENC_EINVAL, "fold-in: more than %d items", MF_LIVE_MAX);
    const float **rows = malloc((n ? n : 1) * sizeof *rows);
    if (!rows)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    for (size_t i = 0; i < n; i++) {
        if (items[i] < 0 || (size_t)items[i] >= m->n_items || !(conf[i] >= 1) ||
            (x0 && !(conf0[i] >= 1))) {
            free(rows);
            return enc_errf(err, ENC_EINVAL, "fold-in: bad entry %zu", i);
        }
        rows[i] = m->V + (size_t)items[i] * m->f;
    }
    double reg = m->reg;
    if (m->reg_exponent != 0 && m->mean_user > 0) /* as training regularised a row */
        reg *= pow((double)(n ? n : 1) / m->mean_user, m->reg_exponent);
    int rc = solve_weighted(m->f, m->yty, reg, rows, conf, pref, conf0, pref0, n, x0,
                            MF_LIVE_CG_STEPS, scratch, vec, err);
    free(rows);
    return rc;
}

static int op_item_step(const void *s, const float *users, const float *conf, size_t n,
                        void *scratch, float *vec, enc_err *err)
{
    const struct mf_model *m = s;
    if (n > MF_LIVE_MAX)
        return enc_errf(err, ENC_EINVAL, "item step: more than %d users", MF_LIVE_MAX);
    /* The step without the X^T X term: a new item has not been shown to
     * every user, so the users who did not play it are no evidence against
     * it yet (the trained items got their zeros from a catalogue everyone
     * could see). With it, three plays among a thousand users make a vector
     * near zero that no one is ever recommended. */
    size_t F = m->f;
    float *G = calloc(F * F, sizeof *G);
    const float **rows = malloc((n ? n : 1) * sizeof *rows);
    float *pref = malloc((n ? n : 1) * sizeof *pref);
    int rc;
    if (!G || !rows || !pref) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    } else {
        for (size_t i = 0; i < n; i++) {
            rows[i] = users + i * m->f;
            pref[i] = 1;
        }
        /* an item's row regularisation, as training scaled it: by its users
         * over the mean users per item */
        double reg = m->reg,
               mean_item = m->n_items ? (double)m->seen_off[m->n_users] / (double)m->n_items : 0;
        if (m->reg_exponent != 0 && mean_item > 0)
            reg *= pow((double)(n ? n : 1) / mean_item, m->reg_exponent);
        rc = solve_weighted(m->f, G, reg, rows, conf, pref, NULL, NULL, n, NULL, 0, scratch, vec,
                            err);
    }
    free(G);
    free(rows);
    free(pref);
    return rc;
}

static size_t op_seen(const void *s, int64_t user, const int32_t **items)
{
    const struct mf_model *m = s;
    if (user < 0 || (size_t)user >= m->n_users) {
        *items = NULL;
        return 0;
    }
    *items = m->seen_items + m->seen_off[user];
    return (size_t)(m->seen_off[user + 1] - m->seen_off[user]);
}

static const float *op_user_factors(const void *s, int64_t user)
{
    const struct mf_model *m = s;
    /* an f16 row is decoded into this thread's buffer (model.h's contract:
     * valid until the next call on the thread) */
    static _Thread_local float row[4096];
    return user >= 0 && (size_t)user < m->n_users ? mf_user_row(m, (size_t)user, row) : NULL;
}

static const float *op_item_factors(const void *s, int64_t item)
{
    const struct mf_model *m = s;
    return item >= 0 && (size_t)item < m->n_items ? m->V + (size_t)item * m->f : NULL;
}

static size_t op_item_tags(const void *s, int64_t item, const int32_t **tags)
{
    const struct mf_model *m = s;
    if (item < 0 || (size_t)item >= m->n_items) {
        *tags = NULL;
        return 0;
    }
    *tags = m->tag_ids + m->tag_off[item];
    return (size_t)(m->tag_off[item + 1] - m->tag_off[item]);
}

static int op_similar_vec(const void *s, const float *vec, const struct reco_query *q,
                          void *scratch, struct reco_result *res, enc_err *err)
{
    const struct mf_model *m = s;
    size_t F = m->f;
    float *scores = scratch, *width = (float *)scratch + half_padded(m->n_items);
    float *u = width + half_padded(m->n_items); /* the fold-in area: F floats are free */
    float norm = cblas_snrm2((int)F, vec, 1);
    res->source = RECO_FROM_VECTOR;
    res->n = 0;
    if (!(norm > 0))
        return 0;
    for (size_t j = 0; j < F; j++)
        u[j] = vec[j] / norm;
    int screened = mf_score_items(m, q, u, m->Vn, m->Vnt, m->Vnh, &m->Vnq, scores, width,
                                  mf_chunk_maxima(m, scratch));
    mf_apply_filters(m, q, scores);
    res->n = screened ? mf_top_screened(m, m->Vn, u, m->Vnq.fast, scores, width,
                                        mf_chunk_maxima(m, scratch), q->k, res->hits)
                      : mf_topk(scores, m->n_items, q->k, res->hits);
    return 0;
}

static double op_alpha(const void *s)
{
    return ((const struct mf_model *)s)->alpha;
}

static double op_confidence(const void *s, double weight)
{
    return conf_serve(&((const struct mf_model *)s)->conf, weight);
}

static double op_typical_weight(const void *s)
{
    return ((const struct mf_model *)s)->conf.typical_weight;
}

/* ====================================================================== */
/* the recommender operations (model.h's struct reco_ops)                */

static size_t op_n_users(const void *s)
{
    return mf_n_users(s);
}
static size_t op_n_items(const void *s)
{
    return mf_n_items(s);
}
static size_t op_factors(const void *s)
{
    return mf_factors(s);
}
static int64_t op_user_index(const void *s, const char *id, size_t len)
{
    return mf_user_index(s, id, len);
}
static int64_t op_item_index(const void *s, const char *id, size_t len)
{
    return mf_item_index(s, id, len);
}
static int64_t op_tag_index(const void *s, const char *name, size_t len)
{
    return mf_tag_index(s, name, len);
}
static const char *op_item_id(const void *s, size_t item, size_t *len)
{
    return mf_item_id(s, item, len);
}
static const char *op_item_json(const void *s, size_t item, size_t *len)
{
    return mf_item_json(s, item, len);
}
/* Scratch: the exact path's floats, then (8-aligned) the index's work. */
static size_t ann_offset(const struct mf_model *m)
{
    return (mf_scratch_floats(m) * sizeof(float) + 7) / 8 * 8;
}
static size_t op_scratch_bytes(const void *s)
{
    return ann_offset(s) + mf_ann_scratch_bytes(((const struct mf_model *)s)->ann);
}

static int op_recommend(const void *s, const struct reco_query *q, void *scratch,
                        struct reco_result *res, enc_err *err)
{
    const struct mf_model *m = s;
    res->has_index = m->ann != NULL;
    res->search = RECO_SEARCH_EXACT;
    if (mf_ann_wanted(m->ann, q, 0)) { /* the item index when it can answer (mf_ann.h) */
        const float *u;
        float *work = (float *)scratch + 2 * half_padded(m->n_items);
        int rc = mf_user_vector(m, q, work, &u, &res->source, err);
        if (rc || (u && mf_ann_recommend(m->ann, q, u, (char *)scratch + ann_offset(m), res) == 0))
            return rc;
    }
    return mf_recommend(s, q, scratch, res->hits, &res->n, &res->source, err);
}

static int op_similar(const void *s, int32_t item, const struct reco_query *q, void *scratch,
                      struct reco_result *res, enc_err *err)
{
    const struct mf_model *m = s;
    res->source = RECO_FROM_USER;
    res->has_index = m->ann != NULL;
    res->search = RECO_SEARCH_EXACT;
    /* The item index's cosine graph, when the file has one (mf_ann.h). */
    if (mf_ann_wanted(m->ann, q, 1) &&
        mf_ann_similar(m->ann, q, item, (char *)scratch + ann_offset(m), res) == 0)
        return 0;
    return mf_similar(s, item, q, scratch, res->hits, &res->n, err);
}

static int op_fold_in(const void *s, const int32_t *items, size_t n, void *scratch, float *vec,
                      enc_err *err)
{
    const struct mf_model *m = s;
    for (size_t i = 0; i < n; i++)
        if (items[i] < 0 || (size_t)items[i] >= m->n_items)
            return enc_errf(err, ENC_EINVAL, "item row %d out of range", items[i]);
    float *work = scratch; /* F*F + F floats: the system, then x */
    int rc = mf_fold_in(m, items, n, work, err);
    if (rc == 0)
        memcpy(vec, work + m->f * m->f, m->f * sizeof *vec);
    return rc;
}

static int op_rerank(const void *s, const struct reco_hit *cands, size_t n,
                     const struct reco_rerank *o, void *scratch, struct reco_result *res,
                     size_t *relaxed, enc_err *err)
{
    res->n = mf_rerank(s, cands, n, o, scratch, res->hits, relaxed);
    return 0;
}

static int op_explain(const void *s, const struct reco_basis *basis, const int32_t *targets,
                      size_t n, size_t top, void *scratch, struct reco_because *because,
                      size_t *n_because, enc_err *err)
{
    return mf_explain(s, basis, targets, n, top, scratch, because, n_because, err);
}

static const struct reco_ops mf_reco_ops = {
    .n_users = op_n_users,
    .n_items = op_n_items,
    .factors = op_factors,
    .user_index = op_user_index,
    .item_index = op_item_index,
    .tag_index = op_tag_index,
    .item_id = op_item_id,
    .item_json = op_item_json,
    .scratch_bytes = op_scratch_bytes,
    .recommend = op_recommend,
    .similar = op_similar,
    .fold_in = op_fold_in,
    .seen = op_seen,
    .user_factors = op_user_factors,
    .item_factors = op_item_factors,
    .item_tags = op_item_tags,
    .fold_in_weighted = op_fold_in_weighted,
    .item_step = op_item_step,
    .similar_vec = op_similar_vec,
    .alpha = op_alpha,
    .rerank = op_rerank,
    .explain = op_explain,
    .confidence = op_confidence,
    .typical_weight = op_typical_weight,
};

const struct model_ops mf_ops = {
    .family = "mf",
    .task = MODEL_TASK_RECOMMEND,
    .load = mf_load,
    .free = mf_free_state,
    .mem_usage = mf_mem_usage,
    .describe = mf_describe,
    .write = mf_write_op,
    .check_opts = mf_check_opts,
    .reco = &mf_reco_ops,
};
