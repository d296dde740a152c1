/*
 * test_protocol.c - server/protocol.c and server/h_predict.c against fake
 * families: a numeric table with feature names (iris-like), a 4x4 image
 * (0..255, no class names) and a text classifier. Covers the V1 forms (flat,
 * nested, named, b64 PGM/PNG, text and {"text"}), every V2 datatype and
 * shape form, every error path (each message must name where it happened),
 * the response writers and metadata, and the handlers end to end on a
 * registry holding the fake models (no sockets).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef ENCORE_HAVE_PNG
#include <png.h>
#endif

#include "protocol.h"
#include "server.h"
#include "testutil.h"

/* ---- fake families -------------------------------------------------------- */

static const char *const iris_features[] = {"sepal_length", "sepal_width", "petal_length",
                                            "petal_width"};
static const char *const iris_classes[] = {"setosa", "versicolor", "virginica"};
static const char *const text_classes[] = {"neg", "pos"};

static const struct model_io io_iris = {
    .kind = MODEL_INPUT_NUMERIC, .n_features = 4, .ndim = 1, .shape = {4},
    .feature_names = iris_features, .min_value = -1000, .max_value = 1000,
    .n_classes = 3, .class_names = iris_classes,
};
static const struct model_io io_img = {
    .kind = MODEL_INPUT_NUMERIC, .n_features = 16, .ndim = 2, .shape = {4, 4},
    .min_value = 0, .max_value = 255, .n_classes = 3, .class_names = NULL,
};
static const struct model_io io_img01 = {   /* a model that takes 0..1 pixels */
    .kind = MODEL_INPUT_NUMERIC, .n_features = 16, .ndim = 3, .shape = {1, 4, 4},
    .min_value = 0, .max_value = 1, .n_classes = 2, .class_names = text_classes,
};
static const struct model_io io_text = {
    .kind = MODEL_INPUT_TEXT, .n_classes = 2, .class_names = text_classes,
};

/* Numeric: prob[c] = |x[c]| normalised; text: prob = {len, 1} normalised.
 * Enough to see that each instance reached the model intact. */
static int fake_predict(const void *state, const struct model_batch *b, float *prob, enc_err *err)
{
    const struct model_io *io = state;
    size_t C = io->n_classes;
    for (size_t i = 0; i < b->n; i++) {
        float s = 0;
        for (size_t c = 0; c < C; c++) {
            float v = io->kind == MODEL_INPUT_TEXT ? (c == 0 ? (float)b->text_len[i] : 1.0f)
                                                   : fabsf(b->x[i * io->n_features + c]);
            prob[i * C + c] = v;
            s += v;
        }
        for (size_t c = 0; c < C; c++)
            prob[i * C + c] = s > 0 ? prob[i * C + c] / s : 1.0f / (float)C;
    }
    return 0;
}

static const struct model_io *fake_io(const void *state)
{
    return state;
}

static void fake_free(void *state)
{
}

static const struct model_ops fake_ops = {
    .family = "fake", .task = MODEL_TASK_CLASSIFY, .free = fake_free, .io = fake_io,
    .predict = fake_predict,
};
/* A recommender of three items a, b, c: user u1 scores them 3, 2, 1, user
 * u2 1, 2, 3, anyone else gets popularity 2, 3, 1. It knows nothing of
 * exclusions beyond `exclude`; enough to see ids, rows and scores travel. */
static const char *const reco_items[3] = {"a", "b", "c"};
static const char *const reco_json[3] = {"\"item\":\"a\"", "\"item\":\"b\"", "\"item\":\"c\""};
static const float reco_scores[3][3] = {{3, 2, 1}, {1, 2, 3}, {2, 3, 1}};
static size_t fr_count(const void *s) { return 3; }
static size_t fr_factors(const void *s) { return 1; }
static int64_t fr_lookup(const char *const *names, size_t n, const char *id, size_t len)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(names[i]) == len && memcmp(names[i], id, len) == 0)
            return (int64_t)i;
    return -1;
}
static int64_t fr_user(const void *s, const char *id, size_t len)
{
    static const char *const users[2] = {"u1", "u2"};
    return fr_lookup(users, 2, id, len);
}
static int64_t fr_item(const void *s, const char *id, size_t len)
{
    return fr_lookup(reco_items, 3, id, len);
}
static int64_t fr_tag(const void *s, const char *id, size_t len) { return -1; }
static const char *fr_item_id(const void *s, size_t item, size_t *len)
{
    *len = strlen(reco_items[item]);
    return reco_items[item];
}
static const char *fr_item_json(const void *s, size_t item, size_t *len)
{
    *len = strlen(reco_json[item]);
    return reco_json[item];
}
static size_t fr_scratch(const void *s) { return 16; }
static int fr_recommend(const void *s, const struct reco_query *q, void *scratch,
                        struct reco_result *res, enc_err *err)
{
    const float *sc = reco_scores[q->user >= 0 ? q->user : 2];
    res->source = q->user >= 0 ? RECO_FROM_USER : RECO_FROM_POPULAR;
    res->n = 0;
    int used[3] = {0, 0, 0};
    for (size_t i = 0; i < q->n_exclude; i++)
        used[q->exclude[i]] = 1;
    while (res->n < q->k) {   /* selection: best unused, ties to the lower row */
        int best = -1;
        for (int i = 0; i < 3; i++)
            if (!used[i] && (best < 0 || sc[i] > sc[best]))
                best = i;
        if (best < 0)
            break;
        used[best] = 1;
        res->hits[res->n].item = best;
        res->hits[res->n++].score = sc[best];
    }
    return 0;
}
static int fr_similar(const void *s, int32_t item, const struct reco_query *q, void *scratch,
                      struct reco_result *res, enc_err *err)
{
    return enc_errf(err, ENC_EUNSUPPORTED, "no similar");
}
static int fr_fold_in(const void *s, const int32_t *items, size_t n, void *scratch, float *vec,
                      enc_err *err)
{
    return enc_errf(err, ENC_EUNSUPPORTED, "no fold-in");
}
static const struct reco_ops fake_reco = {
    .n_users = fr_count, .n_items = fr_count, .factors = fr_factors, .user_index = fr_user,
    .item_index = fr_item, .tag_index = fr_tag, .item_id = fr_item_id, .item_json = fr_item_json,
    .scratch_bytes = fr_scratch, .recommend = fr_recommend, .similar = fr_similar,
    .fold_in = fr_fold_in,
};
static const struct model_ops fake_reco_ops = {
    .family = "mf", .task = MODEL_TASK_RECOMMEND, .free = fake_free, .reco = &fake_reco,
};

static struct model *fake_model(const char *name, int64_t version, const struct model_ops *ops,
                                const struct model_io *io)
{
    struct model *m = calloc(1, sizeof *m);
    m->name = strdup(name);
    m->path = strdup("/nonexistent");
    m->version = version;
    m->ops = ops;
    m->state = (void *)io;
    m->refs = 1;
    return m;
}

static const struct proto_limits lim = {.max_instances = 8, .max_text_bytes = 32};

/* ---- helpers -------------------------------------------------------------- */

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    ck_assert_msg(j != NULL, "bad test JSON %s: %s", s, e.text);
    return j;
}

static int v1(const char *body, const struct model_io *io, struct proto_input *in, enc_err *err)
{
    json_t *root = J(body);   /* numeric batches do not borrow from the tree */
    int rc = proto_v1_parse(root, io, &lim, in, err);
    json_decref(root);
    return rc;
}

/* Expect a V1 error whose message contains every fragment. */
static void v1_fails(const struct model_io *io, const char *body, const char *f1, const char *f2)
{
    struct proto_input in;
    enc_err err = {0};
    ck_assert_int_eq(v1(body, io, &in, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, f1), "'%s' not in '%s' (body %s)", f1, err.msg, body);
    if (f2)
        ck_assert_msg(strstr(err.msg, f2), "'%s' not in '%s' (body %s)", f2, err.msg, body);
    ck_assert_int_eq(enc_http_status(err.code), 400);
    ck_assert(in.x == NULL && in.text == NULL);
}

static int v2(const char *body, const struct model_io *io, struct proto_input *in,
              struct proto_v2_req *req, json_t **root, enc_err *err)
{
    *root = J(body);
    int rc = proto_v2_parse_request(*root, proto_v2_class_outputs, 2, req, err);
    if (rc == 0)
        rc = proto_v2_parse_tensor(req->input, NULL, io, &lim, in, err);
    return rc;
}

static void v2_fails(const struct model_io *io, const char *body, const char *f1, const char *f2)
{
    struct proto_input in;
    struct proto_v2_req req;
    json_t *root;
    enc_err err = {0};
    memset(&in, 0, sizeof in);
    ck_assert_int_eq(v2(body, io, &in, &req, &root, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, f1), "'%s' not in '%s' (body %s)", f1, err.msg, body);
    if (f2)
        ck_assert_msg(strstr(err.msg, f2), "'%s' not in '%s' (body %s)", f2, err.msg, body);
    ck_assert(in.x == NULL && in.text == NULL);
    json_decref(root);
}

static char *b64(const unsigned char *d, size_t n)
{
    static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char *s = malloc(n / 3 * 4 + 8), *o = s;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)d[i] << 16 | (uint32_t)d[i + 1] << 8 | d[i + 2];
        *o++ = t[v >> 18];
        *o++ = t[(v >> 12) & 63];
        *o++ = t[(v >> 6) & 63];
        *o++ = t[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0);
        *o++ = t[v >> 18];
        *o++ = t[(v >> 12) & 63];
        *o++ = i + 1 < n ? t[(v >> 6) & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return s;
}

/* A body {"instances": [{"b64": "<data>"}]}. */
static char *b64_body(const unsigned char *d, size_t n)
{
    char *e = b64(d, n), *body = malloc(strlen(e) + 64);
    sprintf(body, "{\"instances\": [{\"b64\": \"%s\"}]}", e);
    free(e);
    return body;
}

static size_t pgm(unsigned char *out, int w, int h, int maxval, const unsigned char *px)
{
    int n = sprintf((char *)out, "P5\n# a comment\n%d %d\n%d\n", w, h, maxval);
    memcpy(out + n, px, (size_t)(w * h));
    return (size_t)n + (size_t)(w * h);
}

/* ---- V1 numeric ------------------------------------------------------------- */

START_TEST(v1_flat_and_named)
{
    struct proto_input in;
    enc_err err = {0};
    ck_assert_int_eq(v1("{\"instances\": [[5.1, 3.5, 1.4, 0.2], [6, 2, 4, 1]]}", &io_iris, &in, &err), 0);
    ck_assert_uint_eq(in.batch.n, 2);
    ck_assert(in.batch.x == in.x);
    ck_assert_float_eq(in.x[0], 5.1f);
    ck_assert_float_eq(in.x[3], 0.2f);
    ck_assert_float_eq(in.x[4], 6.0f);
    ck_assert_float_eq(in.x[7], 1.0f);
    proto_input_free(&in);
    /* named features, any key order; "inputs" as KServe also accepts */
    ck_assert_int_eq(v1("{\"inputs\": [{\"petal_width\": 0.2, \"sepal_length\": 5.1, "
                        "\"petal_length\": 1.4, \"sepal_width\": 3.5}]}",
                        &io_iris, &in, &err),
                     0);
    ck_assert_uint_eq(in.batch.n, 1);
    ck_assert_float_eq(in.x[0], 5.1f);
    ck_assert_float_eq(in.x[1], 3.5f);
    ck_assert_float_eq(in.x[2], 1.4f);
    ck_assert_float_eq(in.x[3], 0.2f);
    proto_input_free(&in);
    /* a nested [1][4] instance of a [4] model squeezes to the same shape */
    ck_assert_int_eq(v1("{\"instances\": [[[1, 2, 3, 4]]]}", &io_iris, &in, &err), 0);
    ck_assert_float_eq(in.x[3], 4.0f);
    proto_input_free(&in);
    proto_input_free(NULL);
}
END_TEST

START_TEST(v1_numeric_errors)
{
    v1_fails(&io_iris, "{\"instances\": [[1, 2, 3, 4], [1, 2, 3]]}", "instances[1]", "expected 4 values, got 3");
    v1_fails(&io_iris, "{\"instances\": [[1, 2, \"x\", 4]]}", "instances[0][2] (petal_length)", "expected a number, got a string");
    v1_fails(&io_iris, "{\"instances\": [[1, true, 3, 4]]}", "instances[0][1] (sepal_width)", "got a boolean");
    v1_fails(&io_iris, "{\"instances\": [[1, 2, 3, null]]}", "instances[0][3]", "got null");
    v1_fails(&io_iris, "{\"instances\": [[1, 2, 3, 1e39]]}", "instances[0][3]", "not a finite");
    v1_fails(&io_iris, "{\"instances\": [[1, 2, 3, 4], [1, 2, 5000, 4]]}", "instances[1][2]", "out of range");
    v1_fails(&io_iris, "{\"instances\": [[1, 2, 3, 4], [1, 2, 5000, 4]]}", "-1000 to 1000", NULL);
    v1_fails(&io_iris, "{\"instances\": [{\"sepal_length\": 1, \"sepal_width\": 2, \"petal_length\": 3}]}",
             "instances[0].petal_width", "missing feature");
    v1_fails(&io_iris, "{\"instances\": [{\"sepal_length\": 1, \"sepal_width\": 2, \"petal_length\": 3, "
                       "\"petal_width\": 4, \"colour\": 1}]}",
             "instances[0]", "unknown feature 'colour'");
    v1_fails(&io_iris, "{\"instances\": [{\"sepal_length\": \"1\", \"sepal_width\": 2, \"petal_length\": 3, "
                       "\"petal_width\": 4}]}",
             "instances[0].sepal_length", "expected a number");
    v1_fails(&io_iris, "{\"instances\": [7]}", "instances[0]", "expected an array of 4 numbers or an object");
    v1_fails(&io_iris, "{\"instances\": [\"a\"]}", "instances[0]", "got a string");
    v1_fails(&io_img, "{\"instances\": [{\"a\": 1}]}", "instances[0]", "no feature names");
    v1_fails(&io_iris, "{\"instances\": [[[1, 2], [3, 4]]]}", "instances[0]", "shape [2, 2] does not match");
    /* the envelope */
    v1_fails(&io_iris, "{}", "'instances' is required", NULL);
    v1_fails(&io_iris, "{\"instances\": {}}", "must be an array", NULL);
    v1_fails(&io_iris, "{\"instances\": []}", "is empty", NULL);
    v1_fails(&io_iris, "{\"instances\": [[1,2,3,4]], \"inputs\": [[1,2,3,4]]}", "not both", NULL);
    v1_fails(&io_iris, "{\"instances\": [[1,2,3,4]], \"signature\": 1}", "unknown field 'signature'", NULL);
    v1_fails(&io_iris, "{\"instances\": [[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4],"
                       "[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]]}",
             "9 instances", "limit is 8");
    json_t *arr = json_array();
    struct proto_input in;
    enc_err err = {0};
    ck_assert_int_eq(proto_v1_parse(arr, &io_iris, &lim, &in, &err), ENC_EINVAL);
    json_decref(arr);
}
END_TEST

START_TEST(v1_image_shapes)
{
    const char *ok[] = {
        "{\"instances\": [[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]]}",
        "{\"instances\": [[[0,1,2,3],[4,5,6,7],[8,9,10,11],[12,13,14,15]]]}",
        "{\"instances\": [[[[0,1,2,3],[4,5,6,7],[8,9,10,11],[12,13,14,15]]]]}",
        "{\"instances\": [[[[0],[1],[2],[3]],[[4],[5],[6],[7]],[[8],[9],[10],[11]],[[12],[13],[14],[15]]]]}",
    };
    for (size_t t = 0; t < sizeof ok / sizeof *ok; t++) {
        struct proto_input in;
        enc_err err = {0};
        ck_assert_msg(v1(ok[t], &io_img, &in, &err) == 0, "%s: %s", ok[t], err.msg);
        for (int i = 0; i < 16; i++)
            ck_assert_float_eq(in.x[i], (float)i);
        proto_input_free(&in);
    }
    v1_fails(&io_img, "{\"instances\": [[[0,1,2,3,4,5,6,7],[8,9,10,11,12,13,14,15]]]}",
             "shape [2, 8] does not match the model's input shape [4, 4]", "flat array of 16");
    v1_fails(&io_img, "{\"instances\": [[[0,1,2,3],[4,5,6,7],[8,9,10],[12,13,14,15]]]}",
             "instances[0][2]", "ragged array: 3 elements where 4");
    v1_fails(&io_img, "{\"instances\": [[[0,1,2,3],[4,5,6,7],[8,9,10,[11]],[12,13,14,15]]]}",
             "instances[0][2][3]", "ragged array");
    v1_fails(&io_img, "{\"instances\": [[[0,1,2,3],[4,5,6,7],[8,9,10,11],[12,13,14,256]]]}",
             "instances[0][3][3]", "out of range: the model accepts 0 to 255");
    v1_fails(&io_img, "{\"instances\": [[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,-1]]}", "instances[0][15]",
             "out of range");
    v1_fails(&io_img, "{\"instances\": [[[[[[[[[[1]]]]]]]]]]}", "instances[0]", "nested more than");
}
END_TEST

START_TEST(v1_b64_pgm)
{
    unsigned char px[16], file[128];
    for (int i = 0; i < 16; i++)
        px[i] = (unsigned char)(i * 17);
    size_t n = pgm(file, 4, 4, 255, px);
    char *body = b64_body(file, n);
    struct proto_input in;
    enc_err err = {0};
    ck_assert_msg(v1(body, &io_img, &in, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(in.x[i], (float)(i * 17));
    proto_input_free(&in);
    /* a 0..1 model gets pixels / 255 */
    ck_assert_msg(v1(body, &io_img01, &in, &err) == 0, "%s", err.msg);
    ck_assert_float_eq_tol(in.x[15], 1.0f, 1e-6);
    ck_assert_float_eq_tol(in.x[1], 17.0f / 255.0f, 1e-6);
    proto_input_free(&in);
    /* an image for a model whose input is not an image plane */
    v1_fails(&io_iris, body, "instances[0].b64", "not one grayscale image plane");
    free(body);

    /* maxval 15: scaled to 0..255 */
    unsigned char small[16];
    for (int i = 0; i < 16; i++)
        small[i] = (unsigned char)i;
    n = pgm(file, 4, 4, 15, small);
    body = b64_body(file, n);
    ck_assert_msg(v1(body, &io_img, &in, &err) == 0, "%s", err.msg);
    ck_assert_float_eq(in.x[15], 255.0f);
    ck_assert_float_eq(in.x[1], 17.0f);
    proto_input_free(&in);
    free(body);
    /* a pixel above maxval */
    n = pgm(file, 4, 4, 10, small);
    body = b64_body(file, n);
    v1_fails(&io_img, body, "instances[0].b64", "above maxval");
    free(body);

    /* wrong size, truncated data, bad header, not an image, bad base64 */
    n = pgm(file, 5, 3, 255, px);
    body = b64_body(file, n);
    v1_fails(&io_img, body, "instances[0].b64", "image is 5x3 (width x height); the model takes 4x4");
    free(body);
    n = pgm(file, 4, 4, 255, px);
    body = b64_body(file, n - 3);
    v1_fails(&io_img, body, "instances[0].b64", "truncated");
    free(body);
    body = b64_body((const unsigned char *)"P5\n4 x\n255\n", 11);
    v1_fails(&io_img, body, "instances[0].b64", "malformed PGM header");
    free(body);
    body = b64_body((const unsigned char *)"GIF89a....", 10);
    v1_fails(&io_img, body, "instances[0].b64", "not a PNG or binary (P5) PGM");
    free(body);
    v1_fails(&io_img, "{\"instances\": [{\"b64\": \"!!!!\"}]}", "instances[0].b64", "not valid base64");
    v1_fails(&io_img, "{\"instances\": [{\"b64\": \"QUJD\", \"x\": 1}]}", "instances[0]", "one field, 'b64'");
    v1_fails(&io_img, "{\"instances\": [{\"b64\": 12}]}", "instances[0].b64", "expected a base64 string");
}
END_TEST

#ifdef ENCORE_HAVE_PNG
static char *png_body(int w, int h, int rgb, const unsigned char *px)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)w;
    img.height = (png_uint_32)h;
    img.format = rgb ? PNG_FORMAT_RGB : PNG_FORMAT_GRAY;
    png_alloc_size_t len = 0;
    ck_assert(png_image_write_to_memory(&img, NULL, &len, 0, px, 0, NULL));
    unsigned char *mem = malloc(len);
    ck_assert(png_image_write_to_memory(&img, mem, &len, 0, px, 0, NULL));
    char *body = b64_body(mem, len);
    free(mem);
    return body;
}
#endif

START_TEST(v1_b64_png)
{
#ifdef ENCORE_HAVE_PNG
    unsigned char px[16], rgb[48];
    for (int i = 0; i < 16; i++) {
        px[i] = (unsigned char)(i * 16);
        rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = px[i];
    }
    char *body = png_body(4, 4, 0, px);
    struct proto_input in;
    enc_err err = {0};
    ck_assert_msg(v1(body, &io_img, &in, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq(in.x[i], (float)(i * 16));
    proto_input_free(&in);
    free(body);
    /* colour converted to gray: a gray RGB image keeps its (approximate) levels */
    body = png_body(4, 4, 1, rgb);
    ck_assert_msg(v1(body, &io_img, &in, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 16; i++)
        ck_assert_float_eq_tol(in.x[i], (float)(i * 16), 2.0f);
    proto_input_free(&in);
    free(body);
    body = png_body(2, 8, 0, px);
    v1_fails(&io_img, body, "instances[0].b64", "image is 2x8");
    free(body);
    /* a PNG signature followed by garbage */
    body = b64_body((const unsigned char *)"\x89PNG\r\n\x1a\nxxxxxxxxxxxxxxxx", 24);
    v1_fails(&io_img, body, "instances[0].b64", "malformed PNG");
    free(body);
#else
    tu_skip("built without libpng");
#endif
}
END_TEST

/* ---- V1 text ------------------------------------------------------------- */

START_TEST(v1_text)
{
    json_t *root = J("{\"instances\": [\"a gripping film\", {\"text\": \"dull\"}, \"caf\\u00e9 \\tx\"]}");
    struct proto_input in;
    enc_err err = {0};
    ck_assert_int_eq(proto_v1_parse(root, &io_text, &lim, &in, &err), 0);
    ck_assert_uint_eq(in.batch.n, 3);
    ck_assert(in.batch.text == in.text && in.batch.text_len == in.text_len);
    ck_assert_uint_eq(in.text_len[0], 15);
    ck_assert(!memcmp(in.text[0], "a gripping film", 15));
    ck_assert_uint_eq(in.text_len[1], 4);
    ck_assert(!memcmp(in.text[1], "dull", 4));
    ck_assert_uint_eq(in.text_len[2], 8);   /* "café" is 5 bytes, then space, tab, x */
    ck_assert_int_eq(in.text[2][6], '\t');
    proto_input_free(&in);
    json_decref(root);

    v1_fails(&io_text, "{\"instances\": [\"ok\", \"\"]}", "instances[1]", "empty text");
    v1_fails(&io_text, "{\"instances\": [5]}", "instances[0]", "expected a string or {\"text\": string}");
    v1_fails(&io_text, "{\"instances\": [[\"a\"]]}", "instances[0]", "got an array");
    v1_fails(&io_text, "{\"instances\": [{\"text\": 5}]}", "instances[0].text", "expected a string");
    v1_fails(&io_text, "{\"instances\": [{\"text\": \"\"}]}", "instances[0].text", "empty text");
    v1_fails(&io_text, "{\"instances\": [{\"body\": \"x\"}]}", "instances[0]", "unknown field 'body'");
    v1_fails(&io_text, "{\"instances\": [{}]}", "instances[0].text", "missing");
    v1_fails(&io_text, "{\"instances\": [\"0123456789012345678901234567890123\"]}", "instances[0]",
             "34 bytes is over the limit of 32");
}
END_TEST

/* ---- V2 ------------------------------------------------------------------- */

START_TEST(v2_every_numeric_datatype)
{
#define FMT "{\"id\": \"r1\", \"parameters\": {\"x\": 1}, \"inputs\": [{\"name\": \"input\", " \
            "\"shape\": [2, 4], \"datatype\": \"%s\", \"data\": %s}]}"
    struct {
        const char *dt, *data;
    } cases[] = {
        {"FP32", "[5.1, 3.5, 1.4, 0.2, 6, 2, 4, 1]"},
        {"FP64", "[[5.1, 3.5, 1.4, 0.2], [6, 2, 4, 1]]"},
        {"INT32", "[5, 3, 1, 0, 6, 2, 4, 1]"},
        {"INT64", "[[5, 3, 1, 0], [6, 2, 4, 1]]"},
        {"UINT8", "[5, 3, 1, 0, 6, 2, 4, 1]"},
    };
    for (size_t t = 0; t < sizeof cases / sizeof *cases; t++) {
        char body[512];
        snprintf(body, sizeof body, FMT, cases[t].dt, cases[t].data);
        struct proto_input in;
        struct proto_v2_req req;
        json_t *root;
        enc_err err = {0};
        ck_assert_msg(v2(body, &io_iris, &in, &req, &root, &err) == 0, "%s: %s", cases[t].dt, err.msg);
        ck_assert_uint_eq(in.batch.n, 2);
        ck_assert_float_eq(in.x[4], 6.0f);
        ck_assert_float_eq(in.x[7], 1.0f);
        ck_assert_float_eq(in.x[0], cases[t].dt[0] == 'F' ? 5.1f : 5.0f);
        ck_assert_uint_eq(req.id_len, 2);
        ck_assert(!memcmp(req.id, "r1", 2));
        ck_assert(json_is_object(req.parameters));
        ck_assert_uint_eq(req.outputs, 3);
        proto_input_free(&in);
        json_decref(root);
    }
#undef FMT
}
END_TEST

START_TEST(v2_image_shapes)
{
    const char *shapes[] = {"[1, 16]", "[1, 4, 4]", "[1, 1, 4, 4]", "[1, 4, 4, 1]"};
    const char *datas[] = {"[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]",
                           "[[[0,1,2,3],[4,5,6,7],[8,9,10,11],[12,13,14,15]]]"};
    for (size_t s = 0; s < 4; s++)
        for (size_t d = 0; d < 2; d++) {
            if (d == 1 && s != 1)
                continue;   /* nested data must follow the declared shape exactly */
            char body[512];
            snprintf(body, sizeof body,
                     "{\"inputs\": [{\"name\": \"x\", \"shape\": %s, \"datatype\": \"UINT8\", \"data\": %s}]}",
                     shapes[s], datas[d]);
            struct proto_input in;
            struct proto_v2_req req;
            json_t *root;
            enc_err err = {0};
            ck_assert_msg(v2(body, &io_img, &in, &req, &root, &err) == 0, "%s: %s", body, err.msg);
            for (int i = 0; i < 16; i++)
                ck_assert_float_eq(in.x[i], (float)i);
            proto_input_free(&in);
            json_decref(root);
        }
    v2_fails(&io_img, "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 2, 8], \"datatype\": \"FP32\", \"data\": "
                      "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}]}",
             "inputs[0].shape [1, 2, 8] does not match the model's input [N, 4, 4]", "[N, 16]");
    v2_fails(&io_img, "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4, 4], \"datatype\": \"FP32\", \"data\": "
                      "[[0,1,2,3,4,5,6,7],[8,9,10,11,12,13,14,15]]}]}",
             "nested as [2, 8] but the shape is [1, 4, 4]", NULL);
    v2_fails(&io_img, "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4, 4], \"datatype\": \"FP32\", \"data\": "
                      "[[[0,1,2,3],[4,5,6,7],[8,9,10],[12,13,14,15]]]}]}",
             "inputs[0].data[0][2]", "ragged array");
    v2_fails(&io_img, "{\"inputs\": [{\"name\": \"x\", \"shape\": [16], \"datatype\": \"FP32\", \"data\": "
                      "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}]}",
             "shape [16] does not match", NULL);
}
END_TEST

START_TEST(v2_numeric_errors)
{
#define T(dt, shape, data) \
    "{\"inputs\": [{\"name\": \"input\", \"shape\": " shape ", \"datatype\": \"" dt "\", \"data\": " data "}]}"
    v2_fails(&io_iris, T("FP32", "[2, 4]", "[1, 2, 3, 4, 5, \"x\", 7, 8]"),
             "inputs[0].data[5] (sepal_width) (instance 1)", "expected a number (FP32), got a string");
    v2_fails(&io_iris, T("FP32", "[2, 4]", "[[1, 2, 3, 4], [5, 6, 1e39, 8]]"),
             "inputs[0].data[1][2] (petal_length) (instance 1)", "not a finite 32-bit float");
    v2_fails(&io_iris, T("FP64", "[1, 4]", "[1, 2, 3, 1e300]"), "inputs[0].data[3]", "not a finite");
    v2_fails(&io_iris, T("FP32", "[1, 4]", "[1, 2, 3, 4000]"), "inputs[0].data[3]", "out of range");
    v2_fails(&io_iris, T("INT32", "[1, 4]", "[1, 2, 3.5, 4]"), "inputs[0].data[2]", "expected an integer (INT32), got 3.5");
    v2_fails(&io_iris, T("INT32", "[1, 4]", "[1, 2, 3000000000, 4]"), "inputs[0].data[2]", "does not fit INT32");
    v2_fails(&io_iris, T("INT64", "[1, 4]", "[1, 2, 3, 4.25]"), "inputs[0].data[3]", "expected an integer (INT64)");
    v2_fails(&io_img, T("UINT8", "[1, 16]", "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,300]"), "inputs[0].data[15]",
             "does not fit UINT8");
    v2_fails(&io_img, T("UINT8", "[1, 16]", "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,-1]"), "inputs[0].data[15]",
             "does not fit UINT8");
    v2_fails(&io_iris, T("FP32", "[2, 4]", "[1, 2, 3, 4, 5, 6, 7]"), "has 7 values; shape [2, 4] needs 8", NULL);
    v2_fails(&io_iris, T("FP32", "[1, 5]", "[1, 2, 3, 4, 5]"), "shape [1, 5] does not match the model's input [N, 4]", NULL);
    v2_fails(&io_iris, T("FP32", "[4]", "[1, 2, 3, 4]"), "shape [4] does not match", NULL);
    v2_fails(&io_iris, T("FP32", "[0, 4]", "[]"), "holds no instances", NULL);
    v2_fails(&io_iris, T("FP32", "[9, 4]", "[]"), "9 instances; the limit is 8", NULL);
    v2_fails(&io_iris, T("FP32", "[1, -4]", "[1, 2, 3, 4]"), "shape[1] must be a non-negative integer", NULL);
    v2_fails(&io_iris, T("FP32", "[1, 4.0]", "[1, 2, 3, 4]"), "shape[1] must be a non-negative integer", NULL);
    v2_fails(&io_iris, T("FP32", "[]", "[1, 2, 3, 4]"), "inputs[0].shape is required", NULL);
    v2_fails(&io_iris, T("FP32", "[1, 4]", "{}"), "inputs[0].data is required", NULL);
    v2_fails(&io_iris, T("FP16", "[1, 4]", "[1, 2, 3, 4]"), "datatype 'FP16' is not supported", NULL);
    v2_fails(&io_iris, T("BYTES", "[1, 4]", "[\"a\", \"b\", \"c\", \"d\"]"), "takes numbers", "not BYTES");
    v2_fails(&io_iris, "{\"inputs\": [{\"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}]}",
             "inputs[0].name is required", NULL);
    v2_fails(&io_iris, "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"data\": [1, 2, 3, 4]}]}",
             "inputs[0].datatype is required", NULL);
    v2_fails(&io_iris, "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4], \"dims\": 1}]}",
             "inputs[0]: unknown field 'dims'", NULL);
    v2_fails(&io_iris, "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", "
                       "\"parameters\": {\"binary_data_size\": 16}}]}",
             "binary_data_size", "Inference-Header-Content-Length");
    v2_fails(&io_iris, "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1,2,3,4], "
                       "\"parameters\": 3}]}",
             "inputs[0].parameters must be an object", NULL);
#undef T
}
END_TEST

START_TEST(v2_envelope)
{
    const char *good = "{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}";
    char body[512];
    v2_fails(&io_iris, "{}", "'inputs' is required", NULL);
    v2_fails(&io_iris, "{\"inputs\": {}}", "'inputs' must be an array", NULL);
    v2_fails(&io_iris, "{\"inputs\": []}", "one input tensor; 'inputs' has 0", NULL);
    snprintf(body, sizeof body, "{\"inputs\": [%s, %s]}", good, good);
    v2_fails(&io_iris, body, "'inputs' has 2", NULL);
    v2_fails(&io_iris, "{\"inputs\": [3]}", "inputs[0] must be an object", NULL);
    snprintf(body, sizeof body, "{\"id\": 7, \"inputs\": [%s]}", good);
    v2_fails(&io_iris, body, "'id' must be a string", NULL);
    snprintf(body, sizeof body, "{\"parameters\": [], \"inputs\": [%s]}", good);
    v2_fails(&io_iris, body, "'parameters' must be an object", NULL);
    snprintf(body, sizeof body, "{\"model\": \"x\", \"inputs\": [%s]}", good);
    v2_fails(&io_iris, body, "unknown field 'model'", NULL);
    snprintf(body, sizeof body, "{\"outputs\": [{\"name\": \"logits\"}], \"inputs\": [%s]}", good);
    v2_fails(&io_iris, body, "outputs[0]: unknown output 'logits' (this model has label, probabilities)", NULL);
    snprintf(body, sizeof body, "{\"outputs\": [{\"nam\": \"label\"}], \"inputs\": [%s]}", good);
    v2_fails(&io_iris, body, "outputs[0] must be an object with a string 'name'", NULL);
    snprintf(body, sizeof body, "{\"outputs\": [{\"name\": \"label\", \"x\": 1}], \"inputs\": [%s]}", good);
    v2_fails(&io_iris, body, "outputs[0]: unknown field 'x'", NULL);
    snprintf(body, sizeof body, "{\"outputs\": {}, \"inputs\": [%s]}", good);
    v2_fails(&io_iris, body, "'outputs' must be an array", NULL);

    /* requested outputs select bits */
    snprintf(body, sizeof body, "{\"outputs\": [{\"name\": \"probabilities\", \"parameters\": {}}], \"inputs\": [%s]}", good);
    json_t *root = J(body);
    struct proto_v2_req req;
    enc_err err = {0};
    ck_assert_int_eq(proto_v2_parse_request(root, proto_v2_class_outputs, 2, &req, &err), 0);
    ck_assert_uint_eq(req.outputs, 2);
    ck_assert(req.id == NULL);
    json_decref(root);
    json_t *arr = json_array();
    ck_assert_int_eq(proto_v2_parse_request(arr, proto_v2_class_outputs, 2, &req, &err), ENC_EINVAL);
    json_decref(arr);
}
END_TEST

START_TEST(v2_text)
{
    const char *bodies[] = {
        "{\"inputs\": [{\"name\": \"text\", \"shape\": [2], \"datatype\": \"BYTES\", \"data\": [\"good\", \"bad film\"]}]}",
        "{\"inputs\": [{\"name\": \"text\", \"shape\": [2, 1], \"datatype\": \"BYTES\", \"data\": [[\"good\"], [\"bad film\"]]}]}",
        "{\"inputs\": [{\"name\": \"text\", \"shape\": [2, 1], \"datatype\": \"BYTES\", \"data\": [\"good\", \"bad film\"]}]}",
    };
    for (size_t t = 0; t < 3; t++) {
        struct proto_input in;
        struct proto_v2_req req;
        json_t *root;
        enc_err err = {0};
        ck_assert_msg(v2(bodies[t], &io_text, &in, &req, &root, &err) == 0, "%s", err.msg);
        ck_assert_uint_eq(in.batch.n, 2);
        ck_assert_uint_eq(in.text_len[1], 8);
        ck_assert(!memcmp(in.text[1], "bad film", 8));
        proto_input_free(&in);
        json_decref(root);
    }
#define T(dt, shape, data) \
    "{\"inputs\": [{\"name\": \"text\", \"shape\": " shape ", \"datatype\": \"" dt "\", \"data\": " data "}]}"
    v2_fails(&io_text, T("BYTES", "[2]", "[\"ok\", \"\"]"), "inputs[0].data[1] (instance 1)", "empty text");
    v2_fails(&io_text, T("BYTES", "[2]", "[\"ok\", 5]"), "inputs[0].data[1]", "expected a string, got a number");
    v2_fails(&io_text, T("BYTES", "[1]", "[\"0123456789012345678901234567890123\"]"), "inputs[0].data[0]",
             "over the limit of 32");
    v2_fails(&io_text, T("FP32", "[1]", "[1.0]"), "takes text as BYTES, not FP32", NULL);
    v2_fails(&io_text, T("BYTES", "[1, 2]", "[\"a\", \"b\"]"), "a text model takes [N] or [N, 1]", NULL);
#undef T
}
END_TEST

/* ---- writers and metadata ----------------------------------------------------- */

START_TEST(writers)
{
    const float prob[6] = {0.1f, 0.7f, 0.2f, 0.5f, 0.25f, 0.25f};
    buf o;
    buf_init(&o);
    proto_v1_write(&o, "iris", 3, &io_iris, prob, 2);
    json_t *j = J(o.data);
    ck_assert_str_eq(json_string_value(json_object_get(j, "model")), "iris");
    ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 3);
    json_t *p = json_object_get(j, "predictions");
    ck_assert_uint_eq(json_array_size(p), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 0), "label")), "versicolor");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 1), "label")), "setosa");
    json_t *pr = json_object_get(json_array_get(p, 0), "probabilities");
    ck_assert_double_eq_tol(json_number_value(json_object_get(pr, "virginica")), 0.2, 1e-6);
    json_decref(j);
    buf_free(&o);

    /* no class names: labels are the class indexes as strings; ties go low */
    const float tie[3] = {0.25f, 0.5f, 0.5f};
    proto_v1_write(&o, "img", 1, &io_img, tie, 1);
    j = J(o.data);
    p = json_object_get(j, "predictions");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 0), "label")), "1");
    ck_assert(json_object_get(json_object_get(json_array_get(p, 0), "probabilities"), "2") != NULL);
    json_decref(j);
    buf_free(&o);

    struct proto_v2_req req = {.id = "a\"b", .id_len = 3, .outputs = 3};
    proto_v2_write(&o, "iris", 3, &req, &io_iris, prob, 2);
    j = J(o.data);
    ck_assert_str_eq(json_string_value(json_object_get(j, "model_name")), "iris");
    ck_assert_str_eq(json_string_value(json_object_get(j, "model_version")), "3");
    ck_assert_str_eq(json_string_value(json_object_get(j, "id")), "a\"b");
    json_t *outs = json_object_get(j, "outputs");
    ck_assert_uint_eq(json_array_size(outs), 2);
    json_t *lab = json_array_get(outs, 0), *pb = json_array_get(outs, 1);
    ck_assert_str_eq(json_string_value(json_object_get(lab, "name")), "label");
    ck_assert_str_eq(json_string_value(json_object_get(lab, "datatype")), "BYTES");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(lab, "shape"), 0)), 2);
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(lab, "data"), 1)), "setosa");
    ck_assert_str_eq(json_string_value(json_object_get(pb, "datatype")), "FP32");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(pb, "shape"), 1)), 3);
    ck_assert_uint_eq(json_array_size(json_object_get(pb, "data")), 6);
    ck_assert_double_eq_tol(json_number_value(json_array_get(json_object_get(pb, "data"), 1)), 0.7, 1e-6);
    json_decref(j);
    buf_free(&o);

    req = (struct proto_v2_req){.outputs = 2};
    proto_v2_write(&o, "iris", 3, &req, &io_iris, prob, 2);
    j = J(o.data);
    ck_assert(json_object_get(j, "id") == NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "outputs")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "outputs"), 0), "name")),
                     "probabilities");
    json_decref(j);
    buf_free(&o);
    ck_assert_uint_eq(proto_argmax(prob + 3, 3), 0);

    /* exact 0 / 1 and a multi-digit version take the printf-free paths */
    const float pure[3] = {0.0f, 1.0f, 0.0f};
    proto_v1_write(&o, "iris", 1234567, &io_iris, pure, 1);
    ck_assert_msg(strstr(o.data, "\"version\":1234567,") != NULL, "%s", o.data);
    ck_assert_msg(strstr(o.data, "{\"setosa\":0,\"versicolor\":1,\"virginica\":0}") != NULL, "%s", o.data);
    buf_free(&o);
    req = (struct proto_v2_req){.outputs = 3};
    proto_v2_write(&o, "iris", 90, &req, &io_iris, pure, 1);
    ck_assert_msg(strstr(o.data, "\"model_version\":\"90\"") != NULL, "%s", o.data);
    ck_assert_msg(strstr(o.data, "\"shape\":[1,3],\"data\":[0,1,0]") != NULL, "%s", o.data);
    buf_free(&o);
}
END_TEST

START_TEST(metadata)
{
    struct model *m = fake_model("iris", 2, &fake_ops, &io_iris);
    json_t *versions = json_array();
    json_array_append_new(versions, json_string("2"));
    json_t *md = proto_v2_metadata(m, versions);
    ck_assert_str_eq(json_string_value(json_object_get(md, "name")), "iris");
    ck_assert_str_eq(json_string_value(json_object_get(md, "platform")), "encore_fake");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(md, "versions"), 0)), "2");
    json_t *in = json_array_get(json_object_get(md, "inputs"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(in, "datatype")), "FP32");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(in, "shape"), 0)), -1);
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(in, "shape"), 1)), 4);
    ck_assert_str_eq(json_string_value(json_array_get(
                         json_object_get(json_object_get(in, "parameters"), "feature_names"), 3)),
                     "petal_width");
    ck_assert(json_object_get(json_object_get(in, "parameters"), "min_value") != NULL);   /* -1000..1000 */
    json_t *out = json_object_get(md, "outputs");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(out, 0), "name")), "label");
    ck_assert_int_eq(json_integer_value(json_array_get(json_object_get(json_array_get(out, 1), "shape"), 1)), 3);
    json_decref(md);
    model_unref(m);

    m = fake_model("img", 1, &fake_ops, &io_img01);
    md = proto_v2_metadata(m, NULL);
    in = json_array_get(json_object_get(md, "inputs"), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(in, "shape")), 4);   /* [-1, 1, 4, 4] */
    ck_assert(json_object_get(md, "versions") == NULL);
    ck_assert_double_eq(json_real_value(json_object_get(json_object_get(in, "parameters"), "max_value")), 1.0);
    json_decref(md);
    model_unref(m);

    /* a table over the whole float line: no range in the metadata */
    struct model_io unbounded = io_iris;
    unbounded.min_value = -FLT_MAX;
    unbounded.max_value = FLT_MAX;
    m = fake_model("wide", 1, &fake_ops, &unbounded);
    md = proto_v2_metadata(m, NULL);
    in = json_array_get(json_object_get(md, "inputs"), 0);
    ck_assert(json_object_get(json_object_get(in, "parameters"), "min_value") == NULL);
    ck_assert(json_object_get(json_object_get(in, "parameters"), "feature_names") != NULL);
    json_decref(md);
    model_unref(m);

    m = fake_model("reviews", 1, &fake_ops, &io_text);
    md = proto_v2_metadata(m, NULL);
    in = json_array_get(json_object_get(md, "inputs"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(in, "datatype")), "BYTES");
    json_decref(md);
    model_unref(m);

    m = fake_model("movies", 1, &fake_reco_ops, NULL);
    md = proto_v2_metadata(m, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(md, "inputs"), 0), "name")), "user");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(md, "outputs"), 0), "name")), "item_ids");
    json_decref(md);
    model_unref(m);
}
END_TEST

/* ---- handlers on a registry of fake models ------------------------------- */

static struct server srv;
static char *repo_dir;

static void handlers_setup(void)
{
    memset(&srv, 0, sizeof srv);
    config_defaults(&srv.cfg);
    srv.cfg.max_instances = 8;
    repo_dir = tu_tmpdir();
    enc_err err = {0};
    ck_assert_int_eq(registry_new(repo_dir, 2, NULL, &srv.reg, &err), 0);
    registry_install(srv.reg, fake_model("iris", 1, &fake_ops, &io_iris));
    registry_install(srv.reg, fake_model("iris", 2, &fake_ops, &io_iris));
    registry_install(srv.reg, fake_model("reviews", 1, &fake_ops, &io_text));
    registry_install(srv.reg, fake_model("movies", 1, &fake_reco_ops, NULL));
    srv.ready = 1;
}

static void handlers_teardown(void)
{
    registry_free(srv.reg);
    tu_rmrf(repo_dir);
    free(repo_dir);
}

/* Run a handler with a body and route params; returns the status and a
 * parsed body (caller decrefs). */
static int call(http_handler h, const char *name, const char *version, const char *body, json_t **out)
{
    struct http_req r;
    memset(&r, 0, sizeof r);
    r.srv = &srv;
    r.method = body ? "POST" : "GET";
    r.path = "/test";
    buf_init(&r.body);
    buf_init(&r.out);
    if (body)
        buf_puts(&r.body, body);
    snprintf(r.params[0], sizeof r.params[0], "%s", name ? name : "");
    r.n_params = name ? 1 : 0;
    if (version) {
        snprintf(r.params[1], sizeof r.params[1], "%s", version);
        r.n_params = 2;
    }
    h(&r);
    json_error_t e;
    *out = json_loads(r.out.data ? r.out.data : "", 0, &e);
    ck_assert_msg(*out != NULL, "handler wrote invalid JSON: %s", r.out.data ? r.out.data : "(nothing)");
    http_req_release(&r);   /* as the completion callback: deferred calls, arena, JSON, buffers */
    ck_assert_ptr_null(r.mem);
    return r.status;
}

static const char *err_of(json_t *j)
{
    const char *s = json_string_value(json_object_get(j, "error"));
    return s ? s : "";
}

START_TEST(handlers_v1)
{
    json_t *j;
    ck_assert_int_eq(call(h_v1_predict, "iris", NULL, "{\"instances\": [[1, 8, 1, 0], [0, 0, 0, 0]]}", &j), 200);
    json_t *p = json_object_get(j, "predictions");
    ck_assert_uint_eq(json_array_size(p), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 0), "label")), "versicolor");
    ck_assert_double_eq_tol(
        json_number_value(json_object_get(json_object_get(json_array_get(p, 0), "probabilities"), "versicolor")),
        0.8, 1e-6);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "version")), 2);
    json_decref(j);

    ck_assert_int_eq(call(h_v1_predict, "iris", NULL, "{\"instances\": [[1, 8, 1]]}", &j), 400);
    ck_assert(strstr(err_of(j), "instances[0]: expected 4 values, got 3"));
    json_decref(j);
    ck_assert_int_eq(call(h_v1_predict, "nope", NULL, "{\"instances\": [[1, 8, 1, 0]]}", &j), 404);
    ck_assert(strstr(err_of(j), "unknown model 'nope'"));
    json_decref(j);
    ck_assert_int_eq(call(h_v1_predict, "movies", NULL, "{\"instances\": [[1]]}", &j), 400);
    ck_assert(strstr(err_of(j), ":recommend"));
    json_decref(j);
    ck_assert_int_eq(call(h_v1_predict, "iris", NULL, "{\"instances\": [[1, 8", &j), 400);
    ck_assert(strstr(err_of(j), "malformed JSON"));
    json_decref(j);
    ck_assert_int_eq(call(h_v1_predict, "reviews", NULL, "{\"instances\": [\"abc\", {\"text\": \"x\"}]}", &j), 200);
    p = json_object_get(j, "predictions");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 0), "label")), "neg");   /* 3:1 */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 1), "label")), "neg");   /* 1:1, tie */
    json_decref(j);
}
END_TEST

START_TEST(handlers_v2)
{
    json_t *j;
    const char *body = "{\"id\": \"42\", \"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], "
                       "\"datatype\": \"FP32\", \"data\": [0, 0, 3, 1]}]}";
    ck_assert_int_eq(call(h_v2_infer, "iris", NULL, body, &j), 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "id")), "42");
    ck_assert_str_eq(json_string_value(json_object_get(j, "model_version")), "2");
    json_t *outs = json_object_get(j, "outputs");
    ck_assert_str_eq(json_string_value(json_array_get(json_object_get(json_array_get(outs, 0), "data"), 0)), "virginica");
    json_decref(j);
    /* versioned routes reach older loaded versions; unknown ones are 404 */
    ck_assert_int_eq(call(h_v2_infer, "iris", "1", body, &j), 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "model_version")), "1");
    json_decref(j);
    ck_assert_int_eq(call(h_v2_infer, "iris", "7", body, &j), 404);
    ck_assert(strstr(err_of(j), "no loaded version 7"));
    json_decref(j);
    ck_assert_int_eq(call(h_v2_infer, "iris", "x1", body, &j), 400);
    json_decref(j);
    ck_assert_int_eq(call(h_v2_infer, "nope", NULL, body, &j), 404);
    json_decref(j);
    ck_assert_int_eq(call(h_v2_infer, "iris", NULL, "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], "
                                                    "\"datatype\": \"FP32\", \"data\": [0, 0, 3]}]}",
                          &j),
                     400);
    ck_assert(strstr(err_of(j), "has 3 values; shape [1, 4] needs 4"));
    json_decref(j);

    ck_assert_int_eq(call(h_v2_model_ready, "iris", NULL, NULL, &j), 200);
    ck_assert(json_is_true(json_object_get(j, "ready")));
    json_decref(j);
    ck_assert_int_eq(call(h_v2_model_ready, "iris", "1", NULL, &j), 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "version")), "1");
    json_decref(j);
    ck_assert_int_eq(call(h_v2_model_ready, "iris", "3", NULL, &j), 404);
    json_decref(j);
    ck_assert_int_eq(call(h_v2_server, NULL, NULL, NULL, &j), 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "name")), "encore");
    ck_assert(json_is_array(json_object_get(j, "extensions")));
    json_decref(j);
    ck_assert_int_eq(call(h_v2_live, NULL, NULL, NULL, &j), 200);
    json_decref(j);
    ck_assert_int_eq(call(h_v2_ready, NULL, NULL, NULL, &j), 200);
    json_decref(j);
    srv.draining = 1;
    ck_assert_int_eq(call(h_v2_ready, NULL, NULL, NULL, &j), 400);
    json_decref(j);
    srv.draining = 0;

    /* a recommendation model through V2: bad k and a classifier's datatype */
    ck_assert_int_eq(call(h_v2_infer, "movies", NULL, "{\"parameters\": {\"k\": 0}, \"inputs\": [{\"name\": \"user\", "
                                                      "\"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"u1\"]}]}",
                          &j),
                     400);
    ck_assert(strstr(err_of(j), "parameters.k"));
    json_decref(j);
    ck_assert_int_eq(call(h_v2_infer, "movies", NULL, "{\"inputs\": [{\"name\": \"user\", \"shape\": [1, 4], "
                                                      "\"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}]}",
                          &j),
                     400);
    ck_assert(strstr(err_of(j), "user ids as BYTES, not FP32"));
    json_decref(j);
    ck_assert_int_eq(call(h_v2_infer, "movies", NULL, "{\"outputs\": [{\"name\": \"label\"}], \"inputs\": [{\"name\": \"user\", "
                                                      "\"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"u1\"]}]}",
                          &j),
                     400);
    ck_assert(strstr(err_of(j), "item_ids, scores"));
    json_decref(j);
    /* and answers: two users, k 2, through the model's reco_ops */
    ck_assert_int_eq(call(h_v2_infer, "movies", NULL, "{\"id\": \"r1\", \"parameters\": {\"k\": 2}, "
                                                      "\"inputs\": [{\"name\": \"user\", \"shape\": [2], "
                                                      "\"datatype\": \"BYTES\", \"data\": [\"u1\", \"u2\"]}]}",
                          &j),
                     200);
    char *dump = json_dumps(j, JSON_COMPACT);
    ck_assert_str_eq(dump, "{\"model_name\":\"movies\",\"model_version\":\"1\",\"id\":\"r1\","
                           "\"outputs\":[{\"name\":\"item_ids\",\"datatype\":\"BYTES\",\"shape\":[2,2],"
                           "\"data\":[\"a\",\"b\",\"c\",\"b\"]},{\"name\":\"scores\",\"datatype\":"
                           "\"FP32\",\"shape\":[2,2],\"data\":[3,2,3,2]}]}");
    free(dump);
    json_decref(j);
    /* the scores output alone, for an unknown user (popularity) */
    ck_assert_int_eq(call(h_v2_infer, "movies", NULL, "{\"outputs\": [{\"name\": \"scores\"}], "
                                                      "\"inputs\": [{\"name\": \"user\", \"shape\": [1], "
                                                      "\"datatype\": \"BYTES\", \"data\": [\"zz\"]}]}",
                          &j),
                     200);
    json_t *o2 = json_object_get(j, "outputs");
    ck_assert_uint_eq(json_array_size(o2), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(o2, 0), "name")), "scores");
    ck_assert_uint_eq(json_array_size(json_object_get(json_array_get(o2, 0), "data")), 3);
    json_decref(j);
}
END_TEST

/* POST :recommend through a recommender's reco_ops (the handler knows no family). */
START_TEST(handlers_recommend)
{
    json_t *j;
    ck_assert_int_eq(call(h_recommend, "movies", NULL, "{\"user\": \"u2\", \"k\": 2, \"exclude\": [\"c\", \"zz\"]}",
                          &j),
                     200);
    char *dump = json_dumps(j, JSON_COMPACT);
    ck_assert_str_eq(dump, "{\"model\":\"movies\",\"version\":1,\"user\":\"u2\",\"source\":\"model\",\"items\":"
                           "[{\"item\":\"b\",\"score\":2},{\"item\":\"a\",\"score\":1}]}");
    free(dump);
    json_decref(j);
    ck_assert_int_eq(call(h_recommend, "movies", NULL, "{\"user\": 7, \"k\": 1}", &j), 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "fallback")), "popular");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(j, "items"), 0), "item")), "b");
    json_decref(j);
    ck_assert_int_eq(call(h_similar, "movies", NULL, "{\"item\": \"a\"}", &j), 400);
    ck_assert(strstr(err_of(j), "no similar"));
    json_decref(j);
    ck_assert_int_eq(call(h_similar, "movies", NULL, "{\"item\": \"q\"}", &j), 404);
    json_decref(j);
    ck_assert_int_eq(call(h_recommend, "iris", NULL, "{\"user\": \"u1\"}", &j), 400);
    ck_assert(strstr(err_of(j), "classifier"));
    json_decref(j);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("protocol");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, v1_flat_and_named);
    tcase_add_test(tc, v1_numeric_errors);
    tcase_add_test(tc, v1_image_shapes);
    tcase_add_test(tc, v1_b64_pgm);
    tcase_add_test(tc, v1_text);
    tcase_add_test(tc, v2_every_numeric_datatype);
    tcase_add_test(tc, v2_image_shapes);
    tcase_add_test(tc, v2_numeric_errors);
    tcase_add_test(tc, v2_envelope);
    tcase_add_test(tc, v2_text);
    tcase_add_test(tc, writers);
    tcase_add_test(tc, metadata);
    suite_add_tcase(s, tc);
    tcase_add_test(tu_optional_tcase(s, "png"), v1_b64_png);
    TCase *th = tcase_create("handlers");
    tcase_add_checked_fixture(th, handlers_setup, handlers_teardown);
    tcase_add_test(th, handlers_v1);
    tcase_add_test(th, handlers_v2);
    tcase_add_test(th, handlers_recommend);
    suite_add_tcase(s, th);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
