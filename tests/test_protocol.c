/*
 * test_protocol.c - server/protocol.c's parsing against the inputs of fake
 * classifiers (tests/proto_fakes.h): a numeric table with feature names
 * (iris-like), a 4x4 image (0..255, no class names), a 0..1 image and a text
 * classifier. Covers the V1 forms (flat, nested, named, b64 PGM/PNG, text
 * and {"text"}), every V2 datatype and shape form, and every error path
 * (each message must name where it happened). The answers, V2 metadata and
 * the handlers are test_proto_write.c's.
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
#include "proto_fakes.h"
#include "testutil.h"

static const struct proto_limits lim = {.max_instances = 8, .max_text_bytes = 32};

/* ---- helpers -------------------------------------------------------------- */

static int v1(const char *body, const struct model_io *io, struct proto_input *in, enc_err *err)
{
    json_t *root = J(body); /* numeric batches do not borrow from the tree */
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
    ck_assert_int_eq(
        v1("{\"instances\": [[5.1, 3.5, 1.4, 0.2], [6, 2, 4, 1]]}", &io_iris, &in, &err), 0);
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
    v1_fails(&io_iris, "{\"instances\": [[1, 2, 3, 4], [1, 2, 3]]}", "instances[1]",
             "expected 4 values, got 3");
    v1_fails(&io_iris, "{\"instances\": [[1, 2, \"x\", 4]]}", "instances[0][2] (petal_length)",
             "expected a number, got a string");
    v1_fails(&io_iris, "{\"instances\": [[1, true, 3, 4]]}", "instances[0][1] (sepal_width)",
             "got a boolean");
    v1_fails(&io_iris, "{\"instances\": [[1, 2, 3, null]]}", "instances[0][3]", "got null");
    v1_fails(&io_iris, "{\"instances\": [[1, 2, 3, 1e39]]}", "instances[0][3]", "not a finite");
    v1_fails(&io_iris, "{\"instances\": [[1, 2, 3, 4], [1, 2, 5000, 4]]}", "instances[1][2]",
             "out of range");
    v1_fails(&io_iris, "{\"instances\": [[1, 2, 3, 4], [1, 2, 5000, 4]]}", "-1000 to 1000", NULL);
    v1_fails(&io_iris,
             "{\"instances\": [{\"sepal_length\": 1, \"sepal_width\": 2, \"petal_length\": 3}]}",
             "instances[0].petal_width", "missing feature");
    v1_fails(&io_iris,
             "{\"instances\": [{\"sepal_length\": 1, \"sepal_width\": 2, \"petal_length\": 3, "
             "\"petal_width\": 4, \"colour\": 1}]}",
             "instances[0]", "unknown feature 'colour'");
    v1_fails(&io_iris,
             "{\"instances\": [{\"sepal_length\": \"1\", \"sepal_width\": 2, \"petal_length\": 3, "
             "\"petal_width\": 4}]}",
             "instances[0].sepal_length", "expected a number");
    v1_fails(&io_iris, "{\"instances\": [7]}", "instances[0]",
             "expected an array of 4 numbers or an object");
    v1_fails(&io_iris, "{\"instances\": [\"a\"]}", "instances[0]", "got a string");
    v1_fails(&io_img, "{\"instances\": [{\"a\": 1}]}", "instances[0]", "no feature names");
    v1_fails(&io_iris, "{\"instances\": [[[1, 2], [3, 4]]]}", "instances[0]",
             "shape [2, 2] does not match");
    /* the envelope */
    v1_fails(&io_iris, "{}", "'instances' is required", NULL);
    v1_fails(&io_iris, "{\"instances\": {}}", "must be an array", NULL);
    v1_fails(&io_iris, "{\"instances\": []}", "is empty", NULL);
    v1_fails(&io_iris, "{\"instances\": [[1,2,3,4]], \"inputs\": [[1,2,3,4]]}", "not both", NULL);
    v1_fails(&io_iris, "{\"instances\": [[1,2,3,4]], \"signature\": 1}",
             "unknown field 'signature'", NULL);
    v1_fails(&io_iris,
             "{\"instances\": [[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4],"
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
    v1_fails(&io_img, "{\"instances\": [[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,-1]]}",
             "instances[0][15]", "out of range");
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
    v1_fails(&io_img, body, "instances[0].b64",
             "image is 5x3 (width x height); the model takes 4x4");
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
    v1_fails(&io_img, "{\"instances\": [{\"b64\": \"!!!!\"}]}", "instances[0].b64",
             "not valid base64");
    v1_fails(&io_img, "{\"instances\": [{\"b64\": \"QUJD\", \"x\": 1}]}", "instances[0]",
             "one field, 'b64'");
    v1_fails(&io_img, "{\"instances\": [{\"b64\": 12}]}", "instances[0].b64",
             "expected a base64 string");
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
    json_t *root =
        J("{\"instances\": [\"a gripping film\", {\"text\": \"dull\"}, \"caf\\u00e9 \\tx\"]}");
    struct proto_input in;
    enc_err err = {0};
    ck_assert_int_eq(proto_v1_parse(root, &io_text, &lim, &in, &err), 0);
    ck_assert_uint_eq(in.batch.n, 3);
    ck_assert(in.batch.text == in.text && in.batch.text_len == in.text_len);
    ck_assert_uint_eq(in.text_len[0], 15);
    ck_assert(!memcmp(in.text[0], "a gripping film", 15));
    ck_assert_uint_eq(in.text_len[1], 4);
    ck_assert(!memcmp(in.text[1], "dull", 4));
    ck_assert_uint_eq(in.text_len[2], 8); /* "café" is 5 bytes, then space, tab, x */
    ck_assert_int_eq(in.text[2][6], '\t');
    proto_input_free(&in);
    json_decref(root);

    v1_fails(&io_text, "{\"instances\": [\"ok\", \"\"]}", "instances[1]", "empty text");
    v1_fails(&io_text, "{\"instances\": [5]}", "instances[0]",
             "expected a string or {\"text\": string}");
    v1_fails(&io_text, "{\"instances\": [[\"a\"]]}", "instances[0]", "got an array");
    v1_fails(&io_text, "{\"instances\": [{\"text\": 5}]}", "instances[0].text",
             "expected a string");
    v1_fails(&io_text, "{\"instances\": [{\"text\": \"\"}]}", "instances[0].text", "empty text");
    v1_fails(&io_text, "{\"instances\": [{\"body\": \"x\"}]}", "instances[0]",
             "unknown field 'body'");
    v1_fails(&io_text, "{\"instances\": [{}]}", "instances[0].text", "missing");
    v1_fails(&io_text, "{\"instances\": [\"0123456789012345678901234567890123\"]}", "instances[0]",
             "34 bytes is over the limit of 32");
}
END_TEST

/* ---- V2 ------------------------------------------------------------------- */

START_TEST(v2_every_numeric_datatype)
{
#define FMT                                                                                        \
    "{\"id\": \"r1\", \"parameters\": {\"x\": 1}, \"inputs\": [{\"name\": \"input\", "             \
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
        ck_assert_msg(v2(body, &io_iris, &in, &req, &root, &err) == 0, "%s: %s", cases[t].dt,
                      err.msg);
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
                continue; /* nested data must follow the declared shape exactly */
            char body[512];
            snprintf(
                body, sizeof body,
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
    v2_fails(
        &io_img,
        "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 2, 8], \"datatype\": \"FP32\", \"data\": "
        "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}]}",
        "inputs[0].shape [1, 2, 8] does not match the model's input [N, 4, 4]", "[N, 16]");
    v2_fails(
        &io_img,
        "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4, 4], \"datatype\": \"FP32\", \"data\": "
        "[[0,1,2,3,4,5,6,7],[8,9,10,11,12,13,14,15]]}]}",
        "nested as [2, 8] but the shape is [1, 4, 4]", NULL);
    v2_fails(
        &io_img,
        "{\"inputs\": [{\"name\": \"x\", \"shape\": [1, 4, 4], \"datatype\": \"FP32\", \"data\": "
        "[[[0,1,2,3],[4,5,6,7],[8,9,10],[12,13,14,15]]]}]}",
        "inputs[0].data[0][2]", "ragged array");
    v2_fails(&io_img,
             "{\"inputs\": [{\"name\": \"x\", \"shape\": [16], \"datatype\": \"FP32\", \"data\": "
             "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15]}]}",
             "shape [16] does not match", NULL);
}
END_TEST

START_TEST(v2_numeric_errors)
{
#define T(dt, shape, data)                                                                         \
    "{\"inputs\": [{\"name\": \"input\", \"shape\": " shape ", \"datatype\": \"" dt                \
    "\", \"data\": " data "}]}"
    v2_fails(&io_iris, T("FP32", "[2, 4]", "[1, 2, 3, 4, 5, \"x\", 7, 8]"),
             "inputs[0].data[5] (sepal_width) (instance 1)",
             "expected a number (FP32), got a string");
    v2_fails(&io_iris, T("FP32", "[2, 4]", "[[1, 2, 3, 4], [5, 6, 1e39, 8]]"),
             "inputs[0].data[1][2] (petal_length) (instance 1)", "not a finite 32-bit float");
    v2_fails(&io_iris, T("FP64", "[1, 4]", "[1, 2, 3, 1e300]"), "inputs[0].data[3]",
             "not a finite");
    v2_fails(&io_iris, T("FP32", "[1, 4]", "[1, 2, 3, 4000]"), "inputs[0].data[3]", "out of range");
    v2_fails(&io_iris, T("INT32", "[1, 4]", "[1, 2, 3.5, 4]"), "inputs[0].data[2]",
             "expected an integer (INT32), got 3.5");
    v2_fails(&io_iris, T("INT32", "[1, 4]", "[1, 2, 3000000000, 4]"), "inputs[0].data[2]",
             "does not fit INT32");
    v2_fails(&io_iris, T("INT64", "[1, 4]", "[1, 2, 3, 4.25]"), "inputs[0].data[3]",
             "expected an integer (INT64)");
    v2_fails(&io_img, T("UINT8", "[1, 16]", "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,300]"),
             "inputs[0].data[15]", "does not fit UINT8");
    v2_fails(&io_img, T("UINT8", "[1, 16]", "[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,-1]"),
             "inputs[0].data[15]", "does not fit UINT8");
    v2_fails(&io_iris, T("FP32", "[2, 4]", "[1, 2, 3, 4, 5, 6, 7]"),
             "has 7 values; shape [2, 4] needs 8", NULL);
    v2_fails(&io_iris, T("FP32", "[1, 5]", "[1, 2, 3, 4, 5]"),
             "shape [1, 5] does not match the model's input [N, 4]", NULL);
    v2_fails(&io_iris, T("FP32", "[4]", "[1, 2, 3, 4]"), "shape [4] does not match", NULL);
    v2_fails(&io_iris, T("FP32", "[0, 4]", "[]"), "holds no instances", NULL);
    v2_fails(&io_iris, T("FP32", "[9, 4]", "[]"), "9 instances; the limit is 8", NULL);
    v2_fails(&io_iris, T("FP32", "[1, -4]", "[1, 2, 3, 4]"),
             "shape[1] must be a non-negative integer", NULL);
    v2_fails(&io_iris, T("FP32", "[1, 4.0]", "[1, 2, 3, 4]"),
             "shape[1] must be a non-negative integer", NULL);
    v2_fails(&io_iris, T("FP32", "[]", "[1, 2, 3, 4]"), "inputs[0].shape is required", NULL);
    v2_fails(&io_iris, T("FP32", "[1, 4]", "{}"), "inputs[0].data is required", NULL);
    v2_fails(&io_iris, T("FP16", "[1, 4]", "[1, 2, 3, 4]"), "datatype 'FP16' is not supported",
             NULL);
    v2_fails(&io_iris, T("BYTES", "[1, 4]", "[\"a\", \"b\", \"c\", \"d\"]"), "takes numbers",
             "not BYTES");
    v2_fails(&io_iris,
             "{\"inputs\": [{\"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}]}",
             "inputs[0].name is required", NULL);
    v2_fails(&io_iris,
             "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"data\": [1, 2, 3, 4]}]}",
             "inputs[0].datatype is required", NULL);
    v2_fails(
        &io_iris,
        "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4], \"dims\": 1}]}",
        "inputs[0]: unknown field 'dims'", NULL);
    v2_fails(&io_iris,
             "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", "
             "\"parameters\": {\"binary_data_size\": 16}}]}",
             "binary_data_size", "Inference-Header-Content-Length");
    v2_fails(
        &io_iris,
        "{\"inputs\": [{\"name\": \"a\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1,2,3,4], "
        "\"parameters\": 3}]}",
        "inputs[0].parameters must be an object", NULL);
#undef T
}
END_TEST

START_TEST(v2_envelope)
{
    const char *good =
        "{\"name\": \"input\", \"shape\": [1, 4], \"datatype\": \"FP32\", \"data\": [1, 2, 3, 4]}";
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
    v2_fails(&io_iris, body,
             "outputs[0]: unknown output 'logits' (this model has label, probabilities)", NULL);
    snprintf(body, sizeof body, "{\"outputs\": [{\"nam\": \"label\"}], \"inputs\": [%s]}", good);
    v2_fails(&io_iris, body, "outputs[0] must be an object with a string 'name'", NULL);
    snprintf(body, sizeof body,
             "{\"outputs\": [{\"name\": \"label\", \"x\": 1}], \"inputs\": [%s]}", good);
    v2_fails(&io_iris, body, "outputs[0]: unknown field 'x'", NULL);
    snprintf(body, sizeof body, "{\"outputs\": {}, \"inputs\": [%s]}", good);
    v2_fails(&io_iris, body, "'outputs' must be an array", NULL);

    /* requested outputs select bits */
    snprintf(body, sizeof body,
             "{\"outputs\": [{\"name\": \"probabilities\", \"parameters\": {}}], \"inputs\": [%s]}",
             good);
    json_t *root = J(body);
    struct proto_v2_req req;
    enc_err err = {0};
    ck_assert_int_eq(proto_v2_parse_request(root, proto_v2_class_outputs, 2, &req, &err), 0);
    ck_assert_uint_eq(req.outputs, 2);
    ck_assert(req.id == NULL);
    json_decref(root);
    json_t *arr = json_array();
    ck_assert_int_eq(proto_v2_parse_request(arr, proto_v2_class_outputs, 2, &req, &err),
                     ENC_EINVAL);
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
#define T(dt, shape, data)                                                                         \
    "{\"inputs\": [{\"name\": \"text\", \"shape\": " shape ", \"datatype\": \"" dt                 \
    "\", \"data\": " data "}]}"
    v2_fails(&io_text, T("BYTES", "[2]", "[\"ok\", \"\"]"), "inputs[0].data[1] (instance 1)",
             "empty text");
    v2_fails(&io_text, T("BYTES", "[2]", "[\"ok\", 5]"), "inputs[0].data[1]",
             "expected a string, got a number");
    v2_fails(&io_text, T("BYTES", "[1]", "[\"0123456789012345678901234567890123\"]"),
             "inputs[0].data[0]", "over the limit of 32");
    v2_fails(&io_text, T("FP32", "[1]", "[1.0]"), "takes text as BYTES, not FP32", NULL);
    v2_fails(&io_text, T("BYTES", "[1, 2]", "[\"a\", \"b\"]"), "a text model takes [N] or [N, 1]",
             NULL);
#undef T
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
    suite_add_tcase(s, tc);
    tcase_add_test(tu_optional_tcase(s, "png"), v1_b64_png);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
