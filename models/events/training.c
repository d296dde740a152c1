/* training.c - the event store as training input (see training.h). */
#include "events/training.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Erased users, in a sorted array of owned strings (bsearch). */
struct tombs {
    char **ids;
    size_t n, cap;
    int oom;
};

static int tomb_add(void *arg, const char *user, size_t len, int64_t when)
{
    struct tombs *t = arg;
    if (t->n == t->cap) {
        size_t nc = t->cap ? 2 * t->cap : 64;
        char **n2 = realloc(t->ids, nc * sizeof *n2);
        if (!n2) {
            t->oom = 1;
            return 1;
        }
        t->ids = n2;
        t->cap = nc;
    }
    if (!(t->ids[t->n] = strndup(user, len))) {
        t->oom = 1;
        return 1;
    }
    t->n++;
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

struct merge {
    struct ia_builder *b;
    const struct ev_types *types;
    struct evtrain_info *info;
    int rc;
};

static int add_event(void *arg, const struct ev_event *e)
{
    struct merge *m = arg;
    if (e->seq > m->info->cutoff_seq) /* arrived after the read began */
        return 0;
    m->info->events++;
    float w = ev_types_weight(m->types, e->type, e->type_len, NULL);
    if (w == 0) {
        m->info->events_zero++;
        return 0;
    }
    if (e->time > m->info->cutoff_time)
        m->info->cutoff_time = e->time;
    if ((m->rc = ia_builder_add(m->b, e->user, e->user_len, e->item, e->item_len, w)) != 0)
        return 1;
    return 0;
}

int evtrain_merge(const struct ia_matrix *file, struct evstore *s, const struct ev_types *types,
                  struct ia_matrix *out, struct evtrain_info *info, enc_err *err)
{
    memset(out, 0, sizeof *out);
    memset(info, 0, sizeof *info);
    struct tombs t = {0};
    struct ia_builder *b = NULL;
    struct evstore_stats st;
    int rc;
    if ((rc = evstore_id(s, info->store_id, err)) != 0 || (rc = evstore_stats(s, &st, err)) != 0)
        return rc;
    info->cutoff_seq = st.last_seq;
    info->read_at = (int64_t)time(NULL);
    if ((rc = evstore_tombstones(s, tomb_add, &t, err)) != 0)
        goto out;
    if (t.oom) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto out;
    }
    if (t.n) /* qsort(NULL, 0, ...) is undefined (UBSan) */
        qsort(t.ids, t.n, sizeof *t.ids, str_cmp);
    info->erased_users = t.n;
    if ((rc = ia_builder_new(&b)) != 0) {
        rc = enc_errf(err, rc, "out of memory");
        goto out;
    }
    if (file) {
        for (size_t u = 0; u < file->n_users; u++) {
            const char *uid = file->user_ids[u];
            int64_t lo = file->indptr[u], hi = file->indptr[u + 1];
            if (t.n && bsearch(&uid, t.ids, t.n, sizeof *t.ids, str_cmp)) {
                info->file_pairs_dropped += (size_t)(hi - lo);
                continue;
            }
            for (int64_t k = lo; k < hi; k++) {
                const char *iid = file->item_ids[file->indices[k]];
                if ((rc = ia_builder_add(b, uid, strlen(uid), iid, strlen(iid),
                                         file->weights[k])) != 0) {
                    rc = enc_errf(err, rc, "out of memory");
                    goto out;
                }
            }
        }
    }
    struct merge m = {b, types, info, 0};
    if ((rc = evstore_scan(s, add_event, &m, err)) != 0)
        goto out;
    if (m.rc) {
        rc = enc_errf(err, m.rc, "event store: %s",
                      m.rc == ENC_ENOMEM ? "out of memory" : "unusable event");
        goto out;
    }
    if ((rc = ia_builder_finish(b, out)) != 0) {
        rc = enc_errf(err, rc, "out of memory");
        goto out;
    }
    if (out->nnz == 0) {
        ia_matrix_clear(out);
        rc = enc_errf(err, ENC_EFORMAT,
                      "no interactions to train on (the file and the event "
                      "store together left none with a positive weight)");
    }
    if (file) {
        out->format = file->format;
        memcpy(out->sha256, file->sha256, sizeof out->sha256);
    }
out:
    ia_builder_free(b);
    for (size_t i = 0; i < t.n; i++)
        free(t.ids[i]);
    free(t.ids);
    return rc;
}
