/* metrics.c - request counters, latency histograms, model, connection and process gauges. */
#include "metrics.h"

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "remote.h"
#include "server.h"

#define MAX_SERIES 1024
static const double bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
#define N_BOUNDS (sizeof bounds / sizeof *bounds)

struct series {
    const char *route; /* static, from the route table */
    char model[REPO_NAME_MAX + 1];
    int64_t version;
    int status;
    uint64_t touched; /* observation stamp, for eviction */
    uint64_t count;
    uint64_t buckets[N_BOUNDS + 1]; /* per bucket (not cumulative); last = +Inf */
    double sum;
};

struct metrics {
    pthread_mutex_t mu;
    struct series s[MAX_SERIES];
    int n;
    uint64_t stamp;   /* observations so far */
    uint64_t evicted; /* series dropped to make room */
};

struct metrics *metrics_new(void)
{
    struct metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->mu, NULL);
    return m;
}

void metrics_free(struct metrics *m)
{
    if (!m)
        return;
    pthread_mutex_destroy(&m->mu);
    free(m);
}

void metrics_observe(struct metrics *m, const char *route, const char *model, int64_t version,
                     int status, double seconds)
{
    size_t b = 0;
    while (b < N_BOUNDS && seconds > bounds[b])
        b++;
    pthread_mutex_lock(&m->mu);
    struct series *s = NULL;
    for (int i = 0; i < m->n; i++)
        if (m->s[i].status == status && m->s[i].route == route && m->s[i].version == version &&
            !strcmp(m->s[i].model, model)) {
            s = &m->s[i];
            break;
        }
    if (!s) {
        if (m->n < MAX_SERIES)
            s = &m->s[m->n++];
        else { /* evict the least recently updated series */
            s = &m->s[0];
            for (int i = 1; i < m->n; i++)
                if (m->s[i].touched < s->touched)
                    s = &m->s[i];
            m->evicted++;
        }
        memset(s, 0, sizeof *s);
        s->route = route;
        snprintf(s->model, sizeof s->model, "%s", model);
        s->version = version;
        s->status = status;
    }
    s->touched = ++m->stamp;
    s->count++;
    s->buckets[b]++;
    s->sum += seconds;
    pthread_mutex_unlock(&m->mu);
}

static long process_rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose(f);
    }
    return rss * sysconf(_SC_PAGESIZE);
}

static int open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 3; /* ".", ".." and the DIR's own fd */
}

/* Model gauges, written under the registry lock (registry_foreach). */
static void model_line(void *arg, const struct model *m, int current, int64_t failures)
{
    buf *out = arg;
    buf_printf(out,
               "encore_model_load_seconds{model=\"%s\",version=\"%lld\"} %.6f\n"
               "encore_model_loaded_at_seconds{model=\"%s\",version=\"%lld\"} %lld\n"
               "encore_model_memory_bytes{model=\"%s\",version=\"%lld\"} %zu\n"
               "encore_model_serving{model=\"%s\",version=\"%lld\"} %d\n",
               m->name, (long long)m->version, m->load_seconds, m->name, (long long)m->version,
               (long long)m->loaded_at, m->name, (long long)m->version,
               m->ops->mem_usage ? m->ops->mem_usage(m->state) : (size_t)0, m->name,
               (long long)m->version, current);
    /* A file over model_read_max_bytes is served from its mapping: its
     * pages are the page cache's, shared by every process serving it. */
    size_t mapped, resident;
    if (m->file && st_file_residency(m->file, &mapped, &resident) == 0 && mapped)
        buf_printf(out,
                   "encore_model_file_mapped_bytes{model=\"%s\",version=\"%lld\"} %zu\n"
                   "encore_model_file_resident_bytes{model=\"%s\",version=\"%lld\"} %zu\n",
                   m->name, (long long)m->version, mapped, m->name, (long long)m->version,
                   resident);
}

static void model_failures(void *arg, const struct model *m, int current, int64_t failures)
{
    if (current)
        buf_printf(arg, "encore_model_version_failures_total{model=\"%s\"} %lld\n", m->name,
                   (long long)failures);
}

void metrics_render(struct metrics *m, struct server *srv, buf *out)
{
    struct metrics *snap = malloc(sizeof *snap);
    int *done = calloc(MAX_SERIES, sizeof *done);
    if (!snap || !done) {
        free(snap);
        free(done);
        out->oom = 1;
        return;
    }
    pthread_mutex_lock(&m->mu);
    memcpy(snap, m, sizeof *snap);
    pthread_mutex_unlock(&m->mu);

    buf_puts(
        out,
        "# HELP encore_requests_total Requests answered, by route, model, version and status.\n"
        "# TYPE encore_requests_total counter\n");
    for (int i = 0; i < snap->n; i++) {
        struct series *s = &snap->s[i];
        buf_printf(
            out,
            "encore_requests_total{route=\"%s\",model=\"%s\",version=\"%lld\",status=\"%d\"} %llu\n",
            s->route, s->model, (long long)s->version, s->status, (unsigned long long)s->count);
    }
    for (int pass = 0; pass < 2; pass++) {
        buf_puts(out, pass == 0
                          ? "# HELP encore_request_success_total Requests answered with 2xx.\n"
                            "# TYPE encore_request_success_total counter\n"
                          : "# HELP encore_request_failure_total Requests answered with 4xx or 5xx "
                            "(499: the client left first).\n"
                            "# TYPE encore_request_failure_total counter\n");
        for (int i = 0; i < snap->n; i++) {
            struct series *s = &snap->s[i];
            int ok = s->status >= 200 && s->status < 300;
            if (ok != (pass == 0))
                continue;
            buf_printf(
                out,
                "encore_request_%s_total{route=\"%s\",model=\"%s\",version=\"%lld\",status=\"%d\"} %llu\n",
                ok ? "success" : "failure", s->route, s->model, (long long)s->version, s->status,
                (unsigned long long)s->count);
        }
    }
    /* Histogram per (route, model, version): merge the status series. */
    buf_puts(out, "# HELP encore_request_duration_seconds Time from the end of the request headers "
                  "to the response being queued.\n"
                  "# TYPE encore_request_duration_seconds histogram\n");
    for (int i = 0; i < snap->n; i++) {
        if (done[i])
            continue;
        uint64_t b[N_BOUNDS + 1] = {0}, count = 0;
        double sum = 0;
        const struct series *a = &snap->s[i];
        for (int j = i; j < snap->n; j++)
            if (!done[j] && snap->s[j].route == a->route && snap->s[j].version == a->version &&
                !strcmp(snap->s[j].model, a->model)) {
                done[j] = 1;
                for (size_t k = 0; k <= N_BOUNDS; k++)
                    b[k] += snap->s[j].buckets[k];
                count += snap->s[j].count;
                sum += snap->s[j].sum;
            }
        char labels[256];
        snprintf(labels, sizeof labels, "route=\"%s\",model=\"%s\",version=\"%lld\"", a->route,
                 a->model, (long long)a->version);
        uint64_t cum = 0;
        for (size_t k = 0; k <= N_BOUNDS; k++) {
            cum += b[k];
            char le[32];
            if (k < N_BOUNDS)
                snprintf(le, sizeof le, "%g", bounds[k]);
            else
                snprintf(le, sizeof le, "+Inf");
            buf_printf(out, "encore_request_duration_seconds_bucket{%s,le=\"%s\"} %llu\n", labels,
                       le, (unsigned long long)cum);
        }
        buf_printf(out, "encore_request_duration_seconds_sum{%s} %.6f\n", labels, sum);
        buf_printf(out, "encore_request_duration_seconds_count{%s} %llu\n", labels,
                   (unsigned long long)count);
    }
    buf_puts(
        out,
        "# HELP encore_model_load_seconds Time loading and validating each loaded version took.\n"
        "# TYPE encore_model_load_seconds gauge\n"
        "# HELP encore_model_loaded_at_seconds When each loaded version was loaded (unix time).\n"
        "# TYPE encore_model_loaded_at_seconds gauge\n"
        "# HELP encore_model_memory_bytes Memory each loaded version holds (family estimate).\n"
        "# TYPE encore_model_memory_bytes gauge\n"
        "# HELP encore_model_file_mapped_bytes Size of each version's model file when it is "
        "served from the mapping (files over model_read_max_bytes).\n"
        "# TYPE encore_model_file_mapped_bytes gauge\n"
        "# HELP encore_model_file_resident_bytes Bytes of that mapping in memory now (mincore; "
        "page cache, shared between processes).\n"
        "# TYPE encore_model_file_resident_bytes gauge\n"
        "# HELP encore_model_serving 1 for the version that answers requests, 0 for older kept ones.\n"
        "# TYPE encore_model_serving gauge\n");
    registry_foreach(srv->reg, model_line, out);
    buf_puts(
        out,
        "# HELP encore_model_version_failures_total Versions of a model refused (corrupt or incompatible).\n"
        "# TYPE encore_model_version_failures_total counter\n");
    registry_foreach(srv->reg, model_failures, out);
    struct registry_stats rs;
    registry_stats(srv->reg, &rs);
    buf_printf(
        out,
        "# HELP encore_inflight_requests Requests being processed.\n"
        "# TYPE encore_inflight_requests gauge\n"
        "encore_inflight_requests %lld\n"
        "# HELP encore_connections_open Client connections open.\n"
        "# TYPE encore_connections_open gauge\n"
        "encore_connections_open %lld\n"
        "# HELP encore_connections_rejected_total Connections past max_connections (answered 503, or closed at accept past the reserve).\n"
        "# TYPE encore_connections_rejected_total counter\n"
        "encore_connections_rejected_total %lld\n"
        "# HELP encore_connections_rejected_per_ip_total Connections closed at accept past max_connections_per_ip.\n"
        "# TYPE encore_connections_rejected_per_ip_total counter\n"
        "encore_connections_rejected_per_ip_total %lld\n"
        "# HELP encore_connections_timed_out_total Connections cut at their idle or read deadline.\n"
        "# TYPE encore_connections_timed_out_total counter\n"
        "encore_connections_timed_out_total %lld\n"
        "# HELP encore_buffered_bytes Request bodies being received and responses not yet sent (max_buffered_bytes).\n"
        "# TYPE encore_buffered_bytes gauge\n"
        "encore_buffered_bytes %lld\n"
        "# HELP encore_requests_shed_total Inference requests answered 503 over max_buffered_bytes.\n"
        "# TYPE encore_requests_shed_total counter\n"
        "encore_requests_shed_total %lld\n"
        "# HELP encore_models_loaded Models with a version being served.\n"
        "# TYPE encore_models_loaded gauge\n"
        "encore_models_loaded %d\n"
        "# HELP encore_model_loads_total Model versions loaded.\n"
        "# TYPE encore_model_loads_total counter\n"
        "encore_model_loads_total %lld\n"
        "# HELP encore_model_load_failures_total Model versions refused (corrupt or incompatible).\n"
        "# TYPE encore_model_load_failures_total counter\n"
        "encore_model_load_failures_total %lld\n"
        "# HELP encore_model_reloads_total New versions swapped in while serving.\n"
        "# TYPE encore_model_reloads_total counter\n"
        "encore_model_reloads_total %lld\n"
        "# HELP encore_model_last_load_seconds Time the last model load took.\n"
        "# TYPE encore_model_last_load_seconds gauge\n"
        "encore_model_last_load_seconds %.6f\n"
        "# HELP encore_ready 1 when /readyz answers 200.\n"
        "# TYPE encore_ready gauge\n"
        "encore_ready %d\n"
        "# HELP encore_draining 1 after SIGTERM.\n"
        "# TYPE encore_draining gauge\n"
        "encore_draining %d\n"
        "# HELP encore_metrics_evicted_series_total Request series evicted to make room (table full).\n"
        "# TYPE encore_metrics_evicted_series_total counter\n"
        "encore_metrics_evicted_series_total %llu\n"
        "# HELP process_resident_memory_bytes Resident set size.\n"
        "# TYPE process_resident_memory_bytes gauge\n"
        "process_resident_memory_bytes %ld\n"
        "# HELP process_open_fds Open file descriptors.\n"
        "# TYPE process_open_fds gauge\n"
        "process_open_fds %d\n"
        "# HELP process_start_time_seconds Start time since the epoch.\n"
        "# TYPE process_start_time_seconds gauge\n"
        "process_start_time_seconds %lld\n",
        (long long)__atomic_load_n(&srv->inflight, __ATOMIC_RELAXED),
        (long long)__atomic_load_n(&srv->conns_open, __ATOMIC_RELAXED),
        (long long)__atomic_load_n(&srv->conns_rejected, __ATOMIC_RELAXED),
        (long long)__atomic_load_n(&srv->conns_rejected_ip, __ATOMIC_RELAXED),
        (long long)__atomic_load_n(&srv->conns_timed_out, __ATOMIC_RELAXED),
        (long long)__atomic_load_n(&srv->buffered_bytes, __ATOMIC_RELAXED),
        (long long)__atomic_load_n(&srv->shed, __ATOMIC_RELAXED), registry_count(srv->reg),
        (long long)rs.loads, (long long)rs.load_failures, (long long)rs.reloads,
        rs.last_load_seconds, __atomic_load_n(&srv->ready, __ATOMIC_RELAXED),
        __atomic_load_n(&srv->draining, __ATOMIC_RELAXED) != 0, (unsigned long long)snap->evicted,
        process_rss_bytes(), open_fds(), (long long)srv->started_at);
    remote_metrics(out);
    free(snap);
    free(done);
}
