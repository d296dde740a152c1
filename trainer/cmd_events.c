/*
 * cmd_events.c - encore-train events: read the event store.
 *
 *   encore-train events export --events STORE --out FILE.tsv [--event-weights SPEC]
 *       every recorded event as TAB-separated lines with a header:
 *       user, item, type, weight, time (unix seconds), for Spark or anything else
 *   encore-train events stats --events STORE
 *       the store's counts as one JSON object on stdout
 *
 * STORE is what the server's `events` option names: a directory (the
 * embedded store, opened read-only while the server keeps writing) or
 * redis://HOST:PORT[/DB]. Erased users have no events left to export.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "events/store.h"
#include "trainer.h"

struct export_ctx {
    FILE *f;
    const struct ev_types *types;
    size_t n;
    int failed;
};

static int export_one(void *arg, const struct ev_event *e)
{
    struct export_ctx *x = arg;
    float w = ev_types_weight(x->types, e->type, e->type_len, NULL);
    if (fprintf(x->f, "%.*s\t%.*s\t%.*s\t%g\t%lld\n", (int)e->user_len, e->user, (int)e->item_len,
                e->item, (int)e->type_len, e->type, (double)w, (long long)e->time) < 0) {
        x->failed = 1;
        return 1;
    }
    x->n++;
    return 0;
}

static int open_store(const char *location, struct evstore **s)
{
    struct evstore_options o;
    evstore_options_default(&o);
    o.location = location;
    o.read_only = 1;
    enc_err err = {0};
    if (evstore_open(&o, s, &err)) {
        fprintf(stderr, "encore-train events: --events: %s\n", err.msg);
        return 1;
    }
    return 0;
}

static int run_export(int argc, char **argv)
{
    const char *events = NULL, *out = NULL, *weights = EV_DEFAULT_WEIGHTS;
    const struct opt opts[] = {
        {"events", OPT_STR, &events, "event store: a directory or redis://HOST:PORT[/DB]", 0, -1,
         1},
        {"out", OPT_STR, &out, "TSV file to write (user, item, type, weight, time)", 0, -1, 1},
        {"event-weights", OPT_STR, &weights, "event types and weights, as the server's", 0, -1, 0},
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    int rc = opts_parse("events export", "--events STORE --out FILE.tsv", opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    struct ev_types types;
    enc_err err = {0};
    if (ev_types_parse(weights, &types, &err)) {
        fprintf(stderr, "encore-train events export: --event-weights: %s\n", err.msg);
        return 2;
    }
    struct evstore *s;
    if (open_store(events, &s))
        return 1;
    /* write beside the target, then rename: a reader never sees half a file */
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", out);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        fprintf(stderr, "encore-train events export: %s: cannot write\n", tmp);
        evstore_close(s);
        return 1;
    }
    fprintf(f, "user\titem\ttype\tweight\ttime\n");
    struct export_ctx x = {f, &types, 0, 0};
    rc = evstore_scan(s, export_one, &x, &err);
    evstore_close(s);
    if (fclose(f) != 0)
        x.failed = 1;
    if (rc || x.failed || rename(tmp, out) != 0) {
        fprintf(stderr, "encore-train events export: %s\n", rc ? err.msg : "cannot write the file");
        remove(tmp);
        return 1;
    }
    fprintf(stderr, "events export: %zu events -> %s\n", x.n, out);
    return 0;
}

static int run_stats(int argc, char **argv)
{
    const char *events = NULL;
    const struct opt opts[] = {
        {"events", OPT_STR, &events, "event store: a directory or redis://HOST:PORT[/DB]", 0, -1,
         1},
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    int rc = opts_parse("events stats", "--events STORE", opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    struct evstore *s;
    if (open_store(events, &s))
        return 1;
    struct evstore_stats st;
    char id[33];
    enc_err err = {0};
    rc = evstore_stats(s, &st, &err) || evstore_id(s, id, &err);
    if (!rc)
        printf("{\"store\":\"%s\",\"id\":\"%s\",\"events\":%lld,\"users\":%lld,\"items\":%lld,"
               "\"tombstones\":%lld,\"bytes\":%lld,\"last_seq\":%llu}\n",
               evstore_kind(s), id, (long long)st.events, (long long)st.users, (long long)st.items,
               (long long)st.tombstones, (long long)st.bytes, (unsigned long long)st.last_seq);
    else
        fprintf(stderr, "encore-train events stats: %s\n", err.msg);
    evstore_close(s);
    return rc ? 1 : 0;
}

int cmd_events(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        FILE *o = argc < 2 ? stderr : stdout;
        fprintf(o, "usage: encore-train events export --events STORE --out FILE.tsv\n"
                   "       encore-train events stats --events STORE\n"
                   "STORE: the server's events option (a directory or redis://HOST:PORT[/DB])\n");
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "export"))
        return run_export(argc - 1, argv + 1);
    if (!strcmp(argv[1], "stats"))
        return run_stats(argc - 1, argv + 1);
    fprintf(stderr, "encore-train events: unknown subcommand '%s' (export, stats)\n", argv[1]);
    return 2;
}
