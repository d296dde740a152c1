/*
 * proto_fakes.h - what test_protocol.c and test_proto_write.c share: the
 * inputs of four fake classifiers (an iris-like table with feature names, a
 * 4x4 image with no class names, a 0..1 image, a text model) and J(), a JSON
 * literal.
 */
#ifndef ENCORE_TEST_PROTO_FAKES_H
#define ENCORE_TEST_PROTO_FAKES_H

#include <jansson.h>

#include "core/model.h"
#include "testutil.h"

static const char *const iris_features[] = {"sepal_length", "sepal_width", "petal_length",
                                            "petal_width"};
static const char *const iris_classes[] = {"setosa", "versicolor", "virginica"};
static const char *const text_classes[] = {"neg", "pos"};

static const struct model_io io_iris = {
    .kind = MODEL_INPUT_NUMERIC,
    .n_features = 4,
    .ndim = 1,
    .shape = {4},
    .feature_names = iris_features,
    .min_value = -1000,
    .max_value = 1000,
    .n_classes = 3,
    .class_names = iris_classes,
};
static const struct model_io io_img = {
    .kind = MODEL_INPUT_NUMERIC,
    .n_features = 16,
    .ndim = 2,
    .shape = {4, 4},
    .min_value = 0,
    .max_value = 255,
    .n_classes = 3,
    .class_names = NULL,
};
static const struct model_io io_img01 = {
    /* a model that takes 0..1 pixels */
    .kind = MODEL_INPUT_NUMERIC,
    .n_features = 16,
    .ndim = 3,
    .shape = {1, 4, 4},
    .min_value = 0,
    .max_value = 1,
    .n_classes = 2,
    .class_names = text_classes,
};
static const struct model_io io_text = {
    .kind = MODEL_INPUT_TEXT,
    .n_classes = 2,
    .class_names = text_classes,
};

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    ck_assert_msg(j != NULL, "bad test JSON %s: %s", s, e.text);
    return j;
}

#endif
