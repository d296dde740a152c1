/* eval_lists.c - see eval_lists.h. */
#include "eval_lists.h"

#include <stdlib.h>

#include "mf/interactions.h"

int eval_tap_init(struct eval_tap *t, re_recommend_fn inner, void *ctx, const char *label,
                  const struct ia_matrix *train, const float *vectors, size_t factors, FILE *lists)
{
    *t = (struct eval_tap){inner, ctx, label, train, NULL, lists};
    return list_eval_new(train, vectors, factors, &t->le);
}

void eval_tap_clear(struct eval_tap *t)
{
    list_eval_free(t->le);
    t->le = NULL;
}

int eval_tap_fn(void *ctx, const char *user_id, int64_t train_user, const int32_t *train_items,
                size_t n_train, size_t k, int32_t *out, size_t *n_out, enc_err *err)
{
    struct eval_tap *t = ctx;
    int rc = t->inner(t->ctx, user_id, train_user, train_items, n_train, k, out, n_out, err);
    if (rc || (rc = list_eval_add(t->le, out, *n_out, err)) != 0)
        return rc;
    if (t->lists) {
        fprintf(t->lists, "%s\t%s\t", t->label, user_id);
        for (size_t i = 0; i < *n_out; i++)
            fprintf(t->lists, "%s%s", i ? "," : "", t->train->item_ids[out[i]]);
        fputc('\n', t->lists);
    }
    return 0;
}

int eval_tap_json(const struct eval_tap *t, json_t *obj)
{
    struct list_measures lm;
    list_eval_result(t->le, &lm);
    int bad = json_object_set_new(obj, "ild", json_real(lm.ild));
    bad |= json_object_set_new(obj, "ild_factors", json_real(lm.ild_factors));
    bad |= json_object_set_new(obj, "arp", json_real(lm.arp));
    bad |= json_object_set_new(obj, "long_tail", json_real(lm.long_tail));
    bad |= json_object_set_new(obj, "gini", json_real(lm.gini));
    return bad ? ENC_ENOMEM : 0;
}
