/*
 * test_v1forms.c - server/v1forms.c: every KServe V1 / TensorFlow Serving
 * request form (row, row keyed by the input's name, columnar by input name,
 * columnar by feature for tables, text) comes out as the row form that
 * proto_v1_parse reads and parses to the same batch; signature_name and
 * parameters are accepted; malformed forms are refused with a reason.
 */
#include <string.h>

#include "protocol.h"
#include "testutil.h"
#include "v1forms.h"

static const char *const feats[] = {"a", "b"};
static const char *const classes[] = {"x", "y"};
static const struct model_io io_tab = {
    .kind = MODEL_INPUT_NUMERIC,
    .n_features = 2,
    .ndim = 1,
    .shape = {2},
    .feature_names = feats,
    .min_value = -100,
    .max_value = 100,
    .n_classes = 2,
    .class_names = classes,
};
static const struct model_io io_txt = {
    .kind = MODEL_INPUT_TEXT, .n_classes = 2, .class_names = classes};
static const struct proto_limits lim = {.max_instances = 8, .max_text_bytes = 32};

/* Normalise and parse `body`; returns rc and the batch. */
static int parse(const char *body, const struct model_io *io, struct proto_input *in, enc_err *err,
                 json_t **root)
{
    *root = json_loads(body, 0, NULL);
    ck_assert_msg(*root != NULL, "bad test JSON %s", body);
    json_t *rows = NULL;
    int rc = v1forms_normalize(*root, io, &rows, err);
    if (!rc)
        rc = proto_v1_parse(rows, io, &lim, in, err);
    json_decref(rows);
    return rc;
}

START_TEST(numeric_forms_agree)
{
    const char *bodies[] = {
        "{\"instances\": [[1, 2], [3, 4]]}",
        "{\"inputs\": [[1, 2], [3, 4]]}",
        "{\"signature_name\": \"serving_default\", \"instances\": [[1, 2], [3, 4]]}",
        "{\"parameters\": {\"t\": 1}, \"inputs\": [[1, 2], [3, 4]]}",
        "{\"instances\": [{\"input\": [1, 2]}, {\"input\": [3, 4]}]}",
        "{\"inputs\": {\"input\": [[1, 2], [3, 4]]}}",
        "{\"inputs\": {\"b\": [2, 4], \"a\": [1, 3]}}",
        "{\"instances\": [{\"a\": 1, \"b\": 2}, {\"b\": 4, \"a\": 3}]}",
    };
    for (size_t k = 0; k < sizeof bodies / sizeof *bodies; k++) {
        struct proto_input in;
        enc_err err = {0};
        json_t *root;
        ck_assert_msg(parse(bodies[k], &io_tab, &in, &err, &root) == 0, "%s: %s", bodies[k],
                      err.msg);
        ck_assert_uint_eq(in.batch.n, 2);
        ck_assert_msg(in.x[0] == 1 && in.x[1] == 2 && in.x[2] == 3 && in.x[3] == 4, "%s",
                      bodies[k]);
        proto_input_free(&in);
        json_decref(root);
    }
}
END_TEST

START_TEST(text_forms_agree)
{
    const char *bodies[] = {
        "{\"instances\": [\"good film\"]}",
        "{\"inputs\": [\"good film\"]}",
        "{\"inputs\": \"good film\"}",
        "{\"inputs\": {\"text\": [\"good film\"]}}",
        "{\"instances\": [{\"text\": \"good film\"}]}",
    };
    for (size_t k = 0; k < sizeof bodies / sizeof *bodies; k++) {
        struct proto_input in;
        enc_err err = {0};
        json_t *root;
        ck_assert_msg(parse(bodies[k], &io_txt, &in, &err, &root) == 0, "%s: %s", bodies[k],
                      err.msg);
        ck_assert_uint_eq(in.batch.n, 1);
        ck_assert(in.text_len[0] == 9 && !memcmp(in.text[0], "good film", 9));
        proto_input_free(&in);
        json_decref(root);
    }
}
END_TEST

static void refused(const char *body, const struct model_io *io, const char *frag)
{
    struct proto_input in;
    memset(&in, 0, sizeof in);
    enc_err err = {0};
    json_t *root;
    ck_assert_int_eq(parse(body, io, &in, &err, &root), ENC_EINVAL);
    ck_assert_msg(strstr(err.msg, frag), "'%s' not in '%s' (%s)", frag, err.msg, body);
    json_decref(root);
}

START_TEST(refusals)
{
    refused("{\"inputs\": {\"a\": [1, 3], \"b\": [2]}}", &io_tab,
            "inputs.b has 1 values but inputs.a has 2");
    refused("{\"inputs\": {\"a\": [1], \"zz\": [2]}}", &io_tab, "inputs.zz: not a feature");
    refused("{\"inputs\": {\"a\": 1, \"b\": 2}}", &io_tab, "inputs.a must be a non-empty array");
    refused("{\"inputs\": {\"a\": [1]}}", &io_tab, "missing feature");
    refused("{\"inputs\": {\"input\": 5}}", &io_tab, "inputs.input must be an array");
    refused("{\"inputs\": {\"words\": [\"x\"]}}", &io_txt, "{\"inputs\": {\"text\": [...]}}");
    refused("{\"inputs\": [[1, 2]], \"instances\": [[1, 2]]}", &io_tab, "not both");
    refused("{\"signature_name\": 3, \"instances\": [[1, 2]]}", &io_tab,
            "'signature_name' must be a string");
    refused("{\"parameters\": [], \"instances\": [[1, 2]]}", &io_tab,
            "'parameters' must be an object");
    refused("{\"instance\": [[1, 2]]}", &io_tab, "unknown field 'instance'");
    refused("{\"signature_name\": \"s\"}", &io_tab, "'instances' is required");
    refused("{\"instances\": 7}", &io_tab, "'instances' must be an array");
    refused("{\"inputs\": [[1, 2, 3]]}", &io_tab, "inputs[0]"); /* the client's own key */
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("v1forms");
    TCase *tc = tcase_create("v1forms");
    tcase_add_test(tc, numeric_forms_agree);
    tcase_add_test(tc, text_forms_agree);
    tcase_add_test(tc, refusals);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
