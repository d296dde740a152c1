/*
 * test_proto_write.c - the answers: server/proto_write.c's V1 / V2 writers,
 * protocol.c's V2 metadata, and the handlers (h_predict.c, h_reco.c) end to
 * end on a registry holding fake models (no sockets): three fake classifiers
 * whose probabilities show that each instance reached the model intact, and
 * a fake recommender of three items through model_ops.reco (V2 recommend
 * answers and :recommend).
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol.h"
#include "server.h"
#include "proto_fakes.h"
#include "testutil.h"

/* ---- fake families -------------------------------------------------------- */

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

static void fake_free(void *state) {}

static const struct model_ops fake_ops = {
    .family = "fake",
    .task = MODEL_TASK_CLASSIFY,
    .free = fake_free,
    .io = fake_io,
    .predict = fake_predict,
};
/* A recommender of three items a, b, c: user u1 scores them 3, 2, 1, user
 * u2 1, 2, 3, anyone else gets popularity 2, 3, 1. It knows nothing of
 * exclusions beyond `exclude`; enough to see ids, rows and scores travel. */
static const char *const reco_items[3] = {"a", "b", "c"};
static const char *const reco_json[3] = {"\"item\":\"a\"", "\"item\":\"b\"", "\"item\":\"c\""};
static const float reco_scores[3][3] = {{3, 2, 1}, {1, 2, 3}, {2, 3, 1}};
static size_t fr_count(const void *s)
{
    return 3;
}
static size_t fr_factors(const void *s)
{
    return 1;
}
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
static int64_t fr_tag(const void *s, const char *id, size_t len)
{
    return -1;
}
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
static size_t fr_scratch(const void *s)
{
    return 16;
}
static int fr_recommend(const void *s, const struct reco_query *q, void *scratch,
                        struct reco_result *res, enc_err *err)
{
    const float *sc = reco_scores[q->user >= 0 ? q->user : 2];
    res->source = q->user >= 0 ? RECO_FROM_USER : RECO_FROM_POPULAR;
    res->n = 0;
    int used[3] = {0, 0, 0};
    for (size_t i = 0; i < q->n_exclude; i++)
        used[q->exclude[i]] = 1;
    while (res->n < q->k) { /* selection: best unused, ties to the lower row */
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
    .n_users = fr_count,
    .n_items = fr_count,
    .factors = fr_factors,
    .user_index = fr_user,
    .item_index = fr_item,
    .tag_index = fr_tag,
    .item_id = fr_item_id,
    .item_json = fr_item_json,
    .scratch_bytes = fr_scratch,
    .recommend = fr_recommend,
    .similar = fr_similar,
    .fold_in = fr_fold_in,
};
static const struct model_ops fake_reco_ops = {
    .family = "mf",
    .task = MODEL_TASK_RECOMMEND,
    .free = fake_free,
    .reco = &fake_reco,
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
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 0), "label")),
                     "versicolor");
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
    ck_assert_double_eq_tol(json_number_value(json_array_get(json_object_get(pb, "data"), 1)), 0.7,
                            1e-6);
    json_decref(j);
    buf_free(&o);

    req = (struct proto_v2_req){.outputs = 2};
    proto_v2_write(&o, "iris", 3, &req, &io_iris, prob, 2);
    j = J(o.data);
    ck_assert(json_object_get(j, "id") == NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(j, "outputs")), 1);
    ck_assert_str_eq(json_string_value(
                         json_object_get(json_array_get(json_object_get(j, "outputs"), 0), "name")),
                     "probabilities");
    json_decref(j);
    buf_free(&o);
    ck_assert_uint_eq(proto_argmax(prob + 3, 3), 0);

    /* exact 0 / 1 and a multi-digit version take the printf-free paths */
    const float pure[3] = {0.0f, 1.0f, 0.0f};
    proto_v1_write(&o, "iris", 1234567, &io_iris, pure, 1);
    ck_assert_msg(strstr(o.data, "\"version\":1234567,") != NULL, "%s", o.data);
    ck_assert_msg(strstr(o.data, "{\"setosa\":0,\"versicolor\":1,\"virginica\":0}") != NULL, "%s",
                  o.data);
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
    ck_assert(json_object_get(json_object_get(in, "parameters"), "min_value") !=
              NULL); /* -1000..1000 */
    json_t *out = json_object_get(md, "outputs");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(out, 0), "name")), "label");
    ck_assert_int_eq(
        json_integer_value(json_array_get(json_object_get(json_array_get(out, 1), "shape"), 1)), 3);
    json_decref(md);
    model_unref(m);

    m = fake_model("img", 1, &fake_ops, &io_img01);
    md = proto_v2_metadata(m, NULL);
    in = json_array_get(json_object_get(md, "inputs"), 0);
    ck_assert_uint_eq(json_array_size(json_object_get(in, "shape")), 4); /* [-1, 1, 4, 4] */
    ck_assert(json_object_get(md, "versions") == NULL);
    ck_assert_double_eq(
        json_real_value(json_object_get(json_object_get(in, "parameters"), "max_value")), 1.0);
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
    ck_assert_str_eq(json_string_value(
                         json_object_get(json_array_get(json_object_get(md, "inputs"), 0), "name")),
                     "user");
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(md, "outputs"), 0), "name")),
                     "item_ids");
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
static int call(http_handler h, const char *name, const char *version, const char *body,
                json_t **out)
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
    ck_assert_msg(*out != NULL, "handler wrote invalid JSON: %s",
                  r.out.data ? r.out.data : "(nothing)");
    http_req_release(&r); /* as the completion callback: deferred calls, arena, JSON, buffers */
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
    ck_assert_int_eq(
        call(h_v1_predict, "iris", NULL, "{\"instances\": [[1, 8, 1, 0], [0, 0, 0, 0]]}", &j), 200);
    json_t *p = json_object_get(j, "predictions");
    ck_assert_uint_eq(json_array_size(p), 2);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 0), "label")),
                     "versicolor");
    ck_assert_double_eq_tol(
        json_number_value(
            json_object_get(json_object_get(json_array_get(p, 0), "probabilities"), "versicolor")),
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
    ck_assert_int_eq(
        call(h_v1_predict, "reviews", NULL, "{\"instances\": [\"abc\", {\"text\": \"x\"}]}", &j),
        200);
    p = json_object_get(j, "predictions");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 0), "label")),
                     "neg"); /* 3:1 */
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(p, 1), "label")),
                     "neg"); /* 1:1, tie */
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
    ck_assert_str_eq(
        json_string_value(json_array_get(json_object_get(json_array_get(outs, 0), "data"), 0)),
        "virginica");
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
    ck_assert_int_eq(call(h_v2_infer, "iris", NULL,
                          "{\"inputs\": [{\"name\": \"input\", \"shape\": [1, 4], "
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
    ck_assert_int_eq(call(h_v2_infer, "movies", NULL,
                          "{\"parameters\": {\"k\": 0}, \"inputs\": [{\"name\": \"user\", "
                          "\"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"u1\"]}]}",
                          &j),
                     400);
    ck_assert(strstr(err_of(j), "parameters.k"));
    json_decref(j);
    ck_assert_int_eq(call(h_v2_infer, "movies", NULL,
                          "{\"inputs\": [{\"name\": \"user\", \"shape\": [1, 4], "
                          "\"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}]}",
                          &j),
                     400);
    ck_assert(strstr(err_of(j), "user ids as BYTES, not FP32"));
    json_decref(j);
    ck_assert_int_eq(
        call(h_v2_infer, "movies", NULL,
             "{\"outputs\": [{\"name\": \"label\"}], \"inputs\": [{\"name\": \"user\", "
             "\"shape\": [1], \"datatype\": \"BYTES\", \"data\": [\"u1\"]}]}",
             &j),
        400);
    ck_assert(strstr(err_of(j), "item_ids, scores"));
    json_decref(j);
    /* and answers: two users, k 2, through the model's reco_ops */
    ck_assert_int_eq(call(h_v2_infer, "movies", NULL,
                          "{\"id\": \"r1\", \"parameters\": {\"k\": 2}, "
                          "\"inputs\": [{\"name\": \"user\", \"shape\": [2], "
                          "\"datatype\": \"BYTES\", \"data\": [\"u1\", \"u2\"]}]}",
                          &j),
                     200);
    char *dump = json_dumps(j, JSON_COMPACT);
    ck_assert_str_eq(dump,
                     "{\"model_name\":\"movies\",\"model_version\":\"1\",\"id\":\"r1\","
                     "\"outputs\":[{\"name\":\"item_ids\",\"datatype\":\"BYTES\",\"shape\":[2,2],"
                     "\"data\":[\"a\",\"b\",\"c\",\"b\"]},{\"name\":\"scores\",\"datatype\":"
                     "\"FP32\",\"shape\":[2,2],\"data\":[3,2,3,2]}]}");
    free(dump);
    json_decref(j);
    /* the scores output alone, for an unknown user (popularity) */
    ck_assert_int_eq(call(h_v2_infer, "movies", NULL,
                          "{\"outputs\": [{\"name\": \"scores\"}], "
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
    ck_assert_int_eq(call(h_recommend, "movies", NULL,
                          "{\"user\": \"u2\", \"k\": 2, \"exclude\": [\"c\", \"zz\"]}", &j),
                     200);
    char *dump = json_dumps(j, JSON_COMPACT);
    ck_assert_str_eq(
        dump, "{\"model\":\"movies\",\"version\":1,\"user\":\"u2\",\"source\":\"model\",\"items\":"
              "[{\"item\":\"b\",\"score\":2},{\"item\":\"a\",\"score\":1}]}");
    free(dump);
    json_decref(j);
    ck_assert_int_eq(call(h_recommend, "movies", NULL, "{\"user\": 7, \"k\": 1}", &j), 200);
    ck_assert_str_eq(json_string_value(json_object_get(j, "fallback")), "popular");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(json_object_get(j, "items"), 0), "item")),
        "b");
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
    Suite *s = suite_create("proto_write");
    TCase *tc = tcase_create("write");
    tcase_add_test(tc, writers);
    tcase_add_test(tc, metadata);
    suite_add_tcase(s, tc);
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
