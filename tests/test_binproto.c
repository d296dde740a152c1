/*
 * test_binproto.c - server/binproto.c: the Inference-Header-Content-Length
 * value, assigning the binary region to inputs (every datatype size, BYTES
 * length prefixes, mixed JSON and binary inputs) with every size check and
 * its message, decoding numbers and BYTES, and the response writers.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "binproto.h"
#include "protocol.h"
#include "testutil.h"

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    ck_assert_msg(j != NULL, "bad test JSON %s: %s", s, e.text);
    return j;
}

/* binproto_inputs on JSON `js` and binary bin[0..n); returns rc, err. */
static int assign(const char *js, const void *bin, size_t n, struct binproto_slice *sl,
                  enc_err *err)
{
    json_t *root = J(js);
    int rc = binproto_inputs(root, bin, n, sl, err);
    json_decref(root);
    return rc;
}

static void fails(const char *js, const void *bin, size_t n, const char *f1, const char *f2)
{
    struct binproto_slice sl[BINPROTO_MAX_INPUTS];
    enc_err err = {0};
    ck_assert_int_eq(assign(js, bin, n, sl, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, f1), "'%s' not in '%s'", f1, err.msg);
    if (f2)
        ck_assert_msg(strstr(err.msg, f2), "'%s' not in '%s'", f2, err.msg);
    ck_assert_int_eq(enc_http_status(err.code), 400);
}

START_TEST(header_length)
{
    size_t jl;
    enc_err err = {0};
    ck_assert_int_eq(binproto_header_len("120", 200, &jl, &err), 0);
    ck_assert_uint_eq(jl, 120);
    ck_assert_int_eq(binproto_header_len(" 200 ", 200, &jl, &err), 0);
    ck_assert_uint_eq(jl, 200);
    ck_assert_int_eq(binproto_header_len("201", 200, &jl, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "201") && strstr(err.msg, "200 bytes"), "%s", err.msg);
    ck_assert_int_eq(binproto_header_len("0", 200, &jl, &err), ENC_EINVAL);
    ck_assert_int_eq(binproto_header_len("", 200, &jl, &err), ENC_EINVAL);
    ck_assert_int_eq(binproto_header_len("12a", 200, &jl, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "not a decimal"), "%s", err.msg);
    ck_assert_int_eq(binproto_header_len("-5", 200, &jl, &err), ENC_EINVAL);
    ck_assert_int_eq(binproto_header_len("99999999999999999999999", 200, &jl, &err), ENC_EINVAL);
}
END_TEST

START_TEST(datatype_sizes)
{
    ck_assert_int_eq(binproto_elem_size("FP32"), 4);
    ck_assert_int_eq(binproto_elem_size("FP64"), 8);
    ck_assert_int_eq(binproto_elem_size("INT64"), 8);
    ck_assert_int_eq(binproto_elem_size("INT32"), 4);
    ck_assert_int_eq(binproto_elem_size("UINT8"), 1);
    ck_assert_int_eq(binproto_elem_size("BOOL"), 1);
    ck_assert_int_eq(binproto_elem_size("FP16"), 2);
    ck_assert_int_eq(binproto_elem_size("BYTES"), 0);
    ck_assert_int_eq(binproto_elem_size("FLOAT"), -1);
}
END_TEST

START_TEST(assign_fixed_and_mixed)
{
    struct binproto_slice sl[BINPROTO_MAX_INPUTS];
    enc_err err = {0};
    unsigned char bin[16 + 8 + 3];
    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)i;
    /* FP32 [1,4] = 16 bytes, then a JSON input, then INT64 [1] = 8, UINT8 [3] = 3. */
    ck_assert_int_eq(
        assign(
            "{\"inputs\":[{\"name\":\"a\",\"shape\":[1,4],\"datatype\":\"FP32\","
            "\"parameters\":{\"binary_data_size\":16}},"
            "{\"name\":\"j\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]},"
            "{\"name\":\"b\",\"shape\":[1],\"datatype\":\"INT64\",\"parameters\":{\"binary_data_size\":8}},"
            "{\"name\":\"c\",\"shape\":[3],\"datatype\":\"UINT8\",\"parameters\":{\"binary_data_size\":3}}]}",
            bin, sizeof bin, sl, &err),
        0);
    ck_assert_ptr_eq(sl[0].data, bin);
    ck_assert_uint_eq(sl[0].len, 16);
    ck_assert_ptr_null(sl[1].data); /* the JSON input */
    ck_assert_ptr_eq(sl[2].data, bin + 16);
    ck_assert_uint_eq(sl[2].len, 8);
    ck_assert_ptr_eq(sl[3].data, bin + 24);
    ck_assert_uint_eq(sl[3].len, 3);
    /* No binary inputs and no binary bytes: fine; a body that is not a
     * request is left to the protocol parser. */
    ck_assert_int_eq(assign("{\"inputs\":[{\"name\":\"j\",\"data\":[1]}]}", bin, 0, sl, &err), 0);
    ck_assert_int_eq(assign("{\"inputs\":7}", bin, 0, sl, &err), 0);
    /* A zero-size tensor. */
    ck_assert_int_eq(assign("{\"inputs\":[{\"name\":\"z\",\"shape\":[0,4],\"datatype\":\"FP32\","
                            "\"parameters\":{\"binary_data_size\":0}}]}",
                            bin, 0, sl, &err),
                     0);
}
END_TEST

START_TEST(assign_size_errors)
{
    unsigned char bin[64] = {0};
    /* Size disagrees with datatype x shape: names the input and both sizes. */
    fails("{\"inputs\":[{\"name\":\"INPUT0\",\"shape\":[1,4],\"datatype\":\"FP32\","
          "\"parameters\":{\"binary_data_size\":12}}]}",
          bin, 12, "inputs[0] (INPUT0): binary_data_size is 12 bytes", "needs 16");
    /* Larger than what the body holds. */
    fails("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,16],\"datatype\":\"FP32\","
          "\"parameters\":{\"binary_data_size\":64}}]}",
          bin, 60, "inputs[0] (x): binary_data_size is 64 bytes", "only 60 bytes");
    /* Bytes left over after the last input. */
    fails("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,4],\"datatype\":\"FP32\","
          "\"parameters\":{\"binary_data_size\":16}}]}",
          bin, 20, "20 bytes of binary data", "add up to 16");
    /* Binary bytes but no input claims them. */
    fails("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1]}]}", bin,
          4, "4 bytes of binary data", "add up to 0");
    /* The second of two inputs overruns. */
    fails(
        "{\"inputs\":[{\"name\":\"a\",\"shape\":[2],\"datatype\":\"INT32\",\"parameters\":{\"binary_data_size\":8}},"
        "{\"name\":\"b\",\"shape\":[2],\"datatype\":\"FP64\",\"parameters\":{\"binary_data_size\":16}}]}",
        bin, 20, "inputs[1] (b)", "only 12 bytes");
    fails("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\","
          "\"parameters\":{\"binary_data_size\":-4}}]}",
          bin, 4, "inputs[0] (x): parameters.binary_data_size must be a non-negative integer",
          NULL);
    fails("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\","
          "\"parameters\":{\"binary_data_size\":\"4\"}}]}",
          bin, 4, "non-negative integer", NULL);
    fails("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FP32\",\"data\":[1],"
          "\"parameters\":{\"binary_data_size\":4}}]}",
          bin, 4, "both 'data' and parameters.binary_data_size", NULL);
    fails("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],\"datatype\":\"FLOAT\","
          "\"parameters\":{\"binary_data_size\":4}}]}",
          bin, 4, "datatype 'FLOAT'", NULL);
    fails("{\"inputs\":[{\"name\":\"x\",\"shape\":[1],"
          "\"parameters\":{\"binary_data_size\":4}}]}",
          bin, 4, "inputs[0] (x).datatype is required", NULL);
    fails("{\"inputs\":[{\"name\":\"x\",\"shape\":[1,-1],\"datatype\":\"FP32\","
          "\"parameters\":{\"binary_data_size\":4}}]}",
          bin, 4, "shape[1] must be a non-negative integer", NULL);
    fails("{\"inputs\":[{\"name\":\"x\",\"datatype\":\"FP32\","
          "\"parameters\":{\"binary_data_size\":4}}]}",
          bin, 4, "shape is required", NULL);
    /* A shape whose byte count overflows. */
    fails("{\"inputs\":[{\"name\":\"x\",\"shape\":[4294967296,4294967296,16],\"datatype\":\"FP64\","
          "\"parameters\":{\"binary_data_size\":8}}]}",
          bin, 8, "too large", NULL);
}
END_TEST

static size_t put_str(unsigned char *p, const char *s)
{
    uint32_t l = (uint32_t)strlen(s);
    p[0] = (unsigned char)l;
    p[1] = (unsigned char)(l >> 8);
    p[2] = (unsigned char)(l >> 16);
    p[3] = (unsigned char)(l >> 24);
    memcpy(p + 4, s, l);
    return 4 + l;
}

START_TEST(assign_bytes)
{
    struct binproto_slice sl[BINPROTO_MAX_INPUTS];
    enc_err err = {0};
    unsigned char bin[64];
    size_t n = put_str(bin, "a fine film");
    n += put_str(bin + n, "dull");
    char js[256];
    snprintf(js, sizeof js,
             "{\"inputs\":[{\"name\":\"t\",\"shape\":[2],\"datatype\":\"BYTES\","
             "\"parameters\":{\"binary_data_size\":%zu}}]}",
             n);
    ck_assert_int_eq(assign(js, bin, n, sl, &err), 0);
    ck_assert_uint_eq(sl[0].len, n);
    const char *text[2];
    size_t len[2];
    ck_assert_int_eq(binproto_bytes(&sl[0], 2, 32, "inputs[0] (t)", text, len, &err), 0);
    ck_assert_uint_eq(len[0], 11);
    ck_assert(!memcmp(text[0], "a fine film", 11));
    ck_assert_uint_eq(len[1], 4);
    ck_assert(!memcmp(text[1], "dull", 4));
    /* Element limits. */
    ck_assert_int_eq(binproto_bytes(&sl[0], 2, 8, "inputs[0] (t)", text, len, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "element 0: text of 11 bytes is over the limit of 8"), "%s",
                  err.msg);
    /* Count disagrees with the shape. */
    snprintf(js, sizeof js,
             "{\"inputs\":[{\"name\":\"t\",\"shape\":[3],\"datatype\":\"BYTES\","
             "\"parameters\":{\"binary_data_size\":%zu}}]}",
             n);
    fails(js, bin, n, "holds 2 BYTES elements", "needs 3");
    /* A length prefix cut off: one element and two stray bytes. */
    unsigned char cut[32];
    size_t m = put_str(cut, "abc");
    cut[m++] = 1;
    cut[m++] = 0;
    snprintf(js, sizeof js,
             "{\"inputs\":[{\"name\":\"t\",\"shape\":[2],\"datatype\":\"BYTES\","
             "\"parameters\":{\"binary_data_size\":%zu}}]}",
             m);
    fails(js, cut, m, "BYTES element 1", "cut off");
    /* An element that claims more than its tensor holds. */
    unsigned char big[16] = {200, 0, 0, 0, 'x', 'y'};
    fails("{\"inputs\":[{\"name\":\"t\",\"shape\":[1],\"datatype\":\"BYTES\","
          "\"parameters\":{\"binary_data_size\":6}}]}",
          big, 6, "BYTES element 0 claims 200 bytes", "only 2 remain");
    /* ...even when the body continues past it (the next input's bytes). */
    unsigned char two[16] = {6, 0, 0, 0, 'a', 'b', 1, 0, 0, 0, 'c'};
    fails(
        "{\"inputs\":[{\"name\":\"t\",\"shape\":[1],\"datatype\":\"BYTES\","
        "\"parameters\":{\"binary_data_size\":6}},"
        "{\"name\":\"u\",\"shape\":[1],\"datatype\":\"BYTES\",\"parameters\":{\"binary_data_size\":5}}]}",
        two, 11, "claims 6 bytes", NULL);
    /* An empty element is refused when decoded (as an empty JSON string is). */
    unsigned char empty[4] = {0, 0, 0, 0};
    struct binproto_slice es = {empty, 4};
    ck_assert_int_eq(binproto_bytes(&es, 1, 8, "inputs[0] (t)", text, len, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "empty text"), "%s", err.msg);
}
END_TEST

static void le32w(unsigned char *p, uint32_t u)
{
    p[0] = (unsigned char)u;
    p[1] = (unsigned char)(u >> 8);
    p[2] = (unsigned char)(u >> 16);
    p[3] = (unsigned char)(u >> 24);
}

START_TEST(numeric_every_datatype)
{
    enc_err err = {0};
    float out[4];
    /* FP32, written byte by byte in little-endian order. */
    unsigned char f32[8];
    float a = 1.5f, b = -250.25f;
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    le32w(f32, ua);
    le32w(f32 + 4, ub);
    struct binproto_slice s = {f32, 8};
    ck_assert_int_eq(binproto_numeric(&s, "FP32", 2, 0, 0, 0, "x", out, &err), 0);
    ck_assert(out[0] == 1.5f && out[1] == -250.25f);
    /* Range: the model accepts -100..100. */
    ck_assert_int_eq(binproto_numeric(&s, "FP32", 2, -100, 100, 1, "inputs[0] (x)", out, &err),
                     ENC_EINVAL);
    ck_assert_msg(
        strstr(err.msg,
               "inputs[0] (x) binary data, element 1 (instance 1): -250.25 is out of range"),
        "%s", err.msg);
    /* NaN. */
    float nan = NAN;
    uint32_t un;
    memcpy(&un, &nan, 4);
    le32w(f32 + 4, un);
    ck_assert_int_eq(binproto_numeric(&s, "FP32", 2, 0, 0, 0, "x", out, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "element 1") && strstr(err.msg, "not a finite"), "%s", err.msg);
    /* INT64 -3, 7. */
    unsigned char i64[16] = {0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 7};
    s = (struct binproto_slice){i64, 16};
    ck_assert_int_eq(binproto_numeric(&s, "INT64", 2, 0, 0, 0, "x", out, &err), 0);
    ck_assert(out[0] == -3.0f && out[1] == 7.0f);
    /* INT32 -2. */
    unsigned char i32[4] = {0xfe, 0xff, 0xff, 0xff};
    s = (struct binproto_slice){i32, 4};
    ck_assert_int_eq(binproto_numeric(&s, "INT32", 1, 0, 0, 0, "x", out, &err), 0);
    ck_assert(out[0] == -2.0f);
    /* UINT8 0, 255. */
    unsigned char u8[2] = {0, 255};
    s = (struct binproto_slice){u8, 2};
    ck_assert_int_eq(binproto_numeric(&s, "UINT8", 2, 0, 255, 2, "x", out, &err), 0);
    ck_assert(out[0] == 0.0f && out[1] == 255.0f);
    /* FP64 0.25 and a value too large for a float. */
    unsigned char f64[16];
    double d[2] = {0.25, 1e300};
    memcpy(f64, d, 16); /* the test host is little-endian (x86-64 / arm64) */
    s = (struct binproto_slice){f64, 16};
    ck_assert_int_eq(binproto_numeric(&s, "FP64", 1, 0, 0, 0, "x", out, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "does not hold 1 FP64"), "%s", err.msg);
    ck_assert_int_eq(binproto_numeric(&s, "FP64", 2, 0, 0, 0, "x", out, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "element 1") && strstr(err.msg, "finite"), "%s", err.msg);
    s.len = 8;
    ck_assert_int_eq(binproto_numeric(&s, "FP64", 1, 0, 0, 0, "x", out, &err), 0);
    ck_assert(out[0] == 0.25f);
    /* A datatype the models do not take. */
    unsigned char h[2] = {0, 0x3c};
    s = (struct binproto_slice){h, 2};
    ck_assert_int_eq(binproto_numeric(&s, "FP16", 1, 0, 0, 0, "x", out, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "FP16 is not supported"), "%s", err.msg);
}
END_TEST

START_TEST(writers)
{
    buf o;
    buf_init(&o);
    float v[2] = {0.5f, -2.0f};
    binproto_put_f32(&o, v, 2);
    binproto_put_bytes(&o, "cat", 3);
    ck_assert_uint_eq(o.len, 8 + 4 + 3);
    float back[2];
    memcpy(back, o.data, 8);
    ck_assert(back[0] == 0.5f && back[1] == -2.0f);
    const unsigned char *p = (const unsigned char *)o.data + 8;
    ck_assert(p[0] == 3 && p[1] == 0 && p[2] == 0 && p[3] == 0 && !memcmp(p + 4, "cat", 3));
    /* What the writer produced reads back through the parser. */
    struct binproto_slice s = {(const unsigned char *)o.data + 8, 7};
    const char *text[1];
    size_t len[1];
    enc_err err = {0};
    ck_assert_int_eq(binproto_bytes(&s, 1, 8, "x", text, len, &err), 0);
    ck_assert(len[0] == 3 && !memcmp(text[0], "cat", 3));
    buf_free(&o);
}
END_TEST

/* The protocol through the extension: flags, a binary input parsed against a
 * model's io, and a response whose outputs are binary. */
START_TEST(protocol_binary)
{
    static const char *const names[2] = {"label", "probabilities"};
    unsigned bits;
    enc_err err = {0};
    json_t *root = J("{\"parameters\":{\"binary_data_output\":true},\"inputs\":[]}");
    ck_assert_int_eq(binproto_outputs(root, names, 2, &bits, &err), 0);
    ck_assert_uint_eq(bits, 3);
    json_decref(root);
    root = J("{\"parameters\":{\"binary_data_output\":true},\"outputs\":[{\"name\":\"label\","
             "\"parameters\":{\"binary_data\":false}}]}");
    ck_assert_int_eq(binproto_outputs(root, names, 2, &bits, &err), 0);
    ck_assert_uint_eq(bits, 2);
    json_decref(root);
    root = J("{\"outputs\":[{\"name\":\"probabilities\",\"parameters\":{\"binary_data\":true}}]}");
    ck_assert_int_eq(binproto_outputs(root, names, 2, &bits, &err), 0);
    ck_assert_uint_eq(bits, 2);
    json_decref(root);
    root = J("{\"outputs\":[{\"name\":\"label\",\"parameters\":{\"classification\":2}}]}");
    ck_assert_int_eq(binproto_outputs(root, names, 2, &bits, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "classification extension is not supported"), "%s", err.msg);
    json_decref(root);
    root = J("{\"parameters\":{\"binary_data_output\":1}}");
    ck_assert_int_eq(binproto_outputs(root, names, 2, &bits, &err), ENC_EINVAL);
    json_decref(root);

    /* A [2,2] FP32 input for a 2-feature model, then the binary answer. */
    static const char *const cls[2] = {"neg", "pos"};
    struct model_io io = {.kind = MODEL_INPUT_NUMERIC,
                          .n_features = 2,
                          .ndim = 1,
                          .shape = {2},
                          .min_value = -10,
                          .max_value = 10,
                          .n_classes = 2,
                          .class_names = cls};
    struct proto_limits lim = {.max_instances = 4, .max_text_bytes = 16};
    float x[4] = {1, 2, 3, 4};
    root = J(
        "{\"inputs\":[{\"name\":\"INPUT0\",\"shape\":[2,2],\"datatype\":\"FP32\","
        "\"parameters\":{\"binary_data_size\":16}}],\"parameters\":{\"binary_data_output\":true}}");
    struct binproto_slice sl[BINPROTO_MAX_INPUTS];
    ck_assert_int_eq(binproto_inputs(root, (const unsigned char *)x, 16, sl, &err), 0);
    struct proto_v2_req req;
    struct proto_input in;
    ck_assert_int_eq(proto_v2_parse_request(root, names, 2, &req, &err), 0);
    ck_assert_uint_eq(req.binary, 3);
    ck_assert_int_eq(proto_v2_parse_tensor(req.input, sl, &io, &lim, &in, &err), 0);
    ck_assert(in.batch.n == 2 && in.x[0] == 1 && in.x[3] == 4);
    /* Without its slice the same request is refused, naming the header. */
    struct proto_input in2;
    ck_assert_int_eq(proto_v2_parse_tensor(req.input, NULL, &io, &lim, &in2, &err), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, "Inference-Header-Content-Length"), "%s", err.msg);
    float prob[4] = {0.25f, 0.75f, 0.9f, 0.1f};
    buf o;
    buf_init(&o);
    size_t jl = proto_v2_write(&o, "m", 2, &req, &io, prob, 2);
    ck_assert_uint_gt(jl, 0);
    json_t *h = json_loadb(o.data, jl, 0, NULL);
    ck_assert_ptr_nonnull(h);
    json_t *outs = json_object_get(h, "outputs");
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(json_array_get(outs, 0), "parameters"),
                                           "binary_data_size")),
        4 + 3 + 4 + 3);
    ck_assert_int_eq(
        json_integer_value(json_object_get(json_object_get(json_array_get(outs, 1), "parameters"),
                                           "binary_data_size")),
        16);
    ck_assert_ptr_null(json_object_get(json_array_get(outs, 1), "data"));
    ck_assert_uint_eq(o.len, jl + 14 + 16);
    ck_assert(!memcmp(o.data + jl, "\3\0\0\0pos\3\0\0\0neg", 14));
    ck_assert(!memcmp(o.data + jl + 14, prob, 16));
    json_decref(h);
    buf_free(&o);
    /* No binary output asked: plain JSON, length 0. */
    req.binary = 0;
    ck_assert_uint_eq(proto_v2_write(&o, "m", 2, &req, &io, prob, 2), 0);
    ck_assert_ptr_nonnull(strstr(o.data, "\"data\":[\"pos\",\"neg\"]"));
    buf_free(&o);
    proto_input_free(&in);
    json_decref(root);
    /* A text model reads BYTES from the body. */
    struct model_io tio = {.kind = MODEL_INPUT_TEXT, .n_classes = 2, .class_names = cls};
    unsigned char tb[32];
    size_t n = put_str(tb, "so good");
    root = J("{\"inputs\":[{\"name\":\"TEXT\",\"shape\":[1,1],\"datatype\":\"BYTES\","
             "\"parameters\":{\"binary_data_size\":11}}]}");
    ck_assert_int_eq(binproto_inputs(root, tb, n, sl, &err), 0);
    ck_assert_int_eq(proto_v2_parse_request(root, names, 2, &req, &err), 0);
    ck_assert_int_eq(proto_v2_parse_tensor(req.input, sl, &tio, &lim, &in, &err), 0);
    ck_assert(in.batch.n == 1 && in.text_len[0] == 7 && !memcmp(in.text[0], "so good", 7));
    proto_input_free(&in);
    json_decref(root);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("binproto");
    TCase *tc = tcase_create("binproto");
    tcase_add_test(tc, header_length);
    tcase_add_test(tc, datatype_sizes);
    tcase_add_test(tc, assign_fixed_and_mixed);
    tcase_add_test(tc, assign_size_errors);
    tcase_add_test(tc, assign_bytes);
    tcase_add_test(tc, numeric_every_datatype);
    tcase_add_test(tc, writers);
    tcase_add_test(tc, protocol_binary);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
