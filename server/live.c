/* live.c - the event store as the server holds it (see live.h). */
#include "live.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

int live_open(const struct config *c, struct live **out, enc_err *err)
{
    *out = NULL;
    if (!c->events || !*c->events || !strcmp(c->events, "off"))
        return 0;
    struct live *l = calloc(1, sizeof *l);
    if (!l)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    l->min_item_events = c->min_item_events;
    int rc = ev_types_parse(c->event_weights, &l->types, err);
    if (rc) {
        free(l);
        return rc;
    }
    struct evstore_options o;
    evstore_options_default(&o);
    o.location = c->events;
    o.retention_days = c->events_retention_days;
    o.user_cap = c->events_user_cap;
    o.map_bytes = c->events_max_bytes;
    if ((rc = evstore_open(&o, &l->store, err)) != 0) {
        free(l);
        return rc;
    }
    if ((rc = live_reco_init(l, err)) != 0) {
        evstore_close(l->store);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

void live_close(struct live *l)
{
    if (!l)
        return;
    live_reco_free(l);
    evstore_close(l->store);
    free(l);
}

void live_compact(struct live *l)
{
    size_t removed = 0;
    enc_err err = {0};
    if (evstore_compact(l->store, (int64_t)time(NULL), &removed, &err)) {
        live_add(l, store_failures, 1);
        slog("warn", "events: compaction failed: %s", err.msg);
        return;
    }
    live_add(l, compactions, 1);
    live_add(l, compacted, removed);
    if (removed)
        slog("info", "events: compaction removed %zu events older than the retention", removed);
}

void live_metrics(struct live *l, buf *out)
{
    struct evstore_stats st;
    enc_err err = {0};
    int up = evstore_stats(l->store, &st, &err) == 0;
    buf_printf(
        out,
        "# HELP encore_events_accepted_total Events stored (POST /v1/events).\n"
        "# TYPE encore_events_accepted_total counter\n"
        "encore_events_accepted_total %lld\n"
        "# HELP encore_events_duplicates_total Events whose id was already recorded (client retries).\n"
        "# TYPE encore_events_duplicates_total counter\n"
        "encore_events_duplicates_total %lld\n"
        "# HELP encore_events_refused_total Event requests refused as bad input (400/413).\n"
        "# TYPE encore_events_refused_total counter\n"
        "encore_events_refused_total %lld\n"
        "# HELP encore_events_store_failures_total Event store calls that failed (store unreachable, disk full).\n"
        "# TYPE encore_events_store_failures_total counter\n"
        "encore_events_store_failures_total %lld\n"
        "# HELP encore_recommend_model_only_total Recommend answers from the model alone because the event store failed.\n"
        "# TYPE encore_recommend_model_only_total counter\n"
        "encore_recommend_model_only_total %lld\n"
        "# HELP encore_recommend_event_reads_total Recommend requests that read the user's events from the store (users with events, on a cache miss).\n"
        "# TYPE encore_recommend_event_reads_total counter\n"
        "encore_recommend_event_reads_total %lld\n"
        "# HELP encore_events_compacted_total Events removed by retention compaction.\n"
        "# TYPE encore_events_compacted_total counter\n"
        "encore_events_compacted_total %lld\n"
        "# HELP encore_events_store_up 1 if the event store answered this scrape.\n"
        "# TYPE encore_events_store_up gauge\n"
        "encore_events_store_up{store=\"%s\"} %d\n",
        (long long)__atomic_load_n(&l->accepted, __ATOMIC_RELAXED),
        (long long)__atomic_load_n(&l->duplicates, __ATOMIC_RELAXED),
        (long long)__atomic_load_n(&l->refused, __ATOMIC_RELAXED),
        (long long)__atomic_load_n(&l->store_failures, __ATOMIC_RELAXED),
        (long long)__atomic_load_n(&l->model_only, __ATOMIC_RELAXED),
        (long long)__atomic_load_n(&l->user_reads, __ATOMIC_RELAXED),
        (long long)__atomic_load_n(&l->compacted, __ATOMIC_RELAXED), evstore_kind(l->store), up);
    if (!up)
        return;
    buf_printf(
        out,
        "# HELP encore_events_store_events Events kept in the store.\n"
        "# TYPE encore_events_store_events gauge\n"
        "encore_events_store_events %lld\n"
        "# HELP encore_events_store_users Users with events in the store.\n"
        "# TYPE encore_events_store_users gauge\n"
        "encore_events_store_users %lld\n"
        "# HELP encore_events_store_items Catalogue records.\n"
        "# TYPE encore_events_store_items gauge\n"
        "encore_events_store_items %lld\n"
        "# HELP encore_events_store_tombstones Users erased.\n"
        "# TYPE encore_events_store_tombstones gauge\n"
        "encore_events_store_tombstones %lld\n"
        "# HELP encore_events_store_bytes Size of the store (embedded: file bytes in use; Redis: used_memory).\n"
        "# TYPE encore_events_store_bytes gauge\n"
        "encore_events_store_bytes %lld\n",
        (long long)st.events, (long long)st.users, (long long)st.items, (long long)st.tombstones,
        (long long)st.bytes);
}
