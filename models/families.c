/* families.c - the built-in family table (see families.h). Adding a family =
 * one module under models/ + one row here. */
#include "families.h"

#include "cnn/cnn.h"
#include "forest/forest.h"
#include "linear/linear.h"
#include "mf/mf.h"
#include "text/text.h"

const struct model_ops *const model_families[] = {
    &mf_ops, &forest_ops, &linear_ops, &text_ops, &cnn_ops, NULL,
};

const struct model_load_opts model_default_opts = {
    .families = model_families,
    .precision = MODEL_PRECISION_AUTO,
};
