/* config.c - the option table and its sources (see config.h). */
#define _GNU_SOURCE /* CPU_COUNT, sched_getaffinity */
#include "config.h"
#include "core/version.h"

#include "events/event.h"

#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <jansson.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum opt_kind { K_STR, K_INT, K_BOOL };

struct option_row {
    const char *name; /* config-file key and --flag (dashes or underscores) */
    enum opt_kind kind;
    size_t offset;
    const char *dflt;
    int64_t min, max;
    const char *env;
    const char *help;
};

#define O(f) offsetof(struct config, f)
static const struct option_row options[] = {
    {"models", K_STR, O(models), "./models", 0, 0, "ENCORE_MODELS",
     "model repository: a directory REPO/NAME/VERSION/model.safetensors, or object storage "
     "s3://BUCKET/PREFIX or gs://BUCKET/PREFIX (mirrored into cache_dir; credentials from "
     "the AWS_* environment, docs/deploy.md)"},
    {"host", K_STR, O(host), "0.0.0.0", 0, 0, "ENCORE_HOST", "address to listen on"},
    {"port", K_INT, O(port), "8080", 1, 65535, "ENCORE_PORT", "TCP port to listen on"},
    {"threads", K_INT, O(threads), "0", 0, 256, "ENCORE_THREADS",
     "HTTP worker threads, one epoll loop each; 0 = twice the cores this process may use "
     "(CPU affinity and the cgroup quota: v2 cpu.max, v1 cpu.cfs_quota_us), so that a thread preempted mid-request "
     "does not hold up the connections of a whole core"},
    {"cpu_millicores", K_INT, O(cpu_millicores), "0", 0, 1000000, "ENCORE_CPU_MILLICORES",
     "the container's CPU limit in millicores (Kubernetes: the downward API's limits.cpu with "
     "divisor 1m); with threads 0, twice these cores (rounded up) instead of the cgroup quota; "
     "0 = not given"},
    {"max_body_bytes", K_INT, O(max_body_bytes), "1048576", 64, 1 << 30, "ENCORE_MAX_BODY_BYTES",
     "largest request body accepted (413 above)"},
    {"max_header_bytes", K_INT, O(max_header_bytes), "16384", 4096, 1 << 24,
     "ENCORE_MAX_HEADER_BYTES",
     "memory per connection for the request line and headers (431 above); libmicrohttpd zeroes "
     "it after every request, so larger costs CPU on every request"},
    {"max_connections", K_INT, O(max_connections), "1024", 1, 1000000, "ENCORE_MAX_CONNECTIONS",
     "concurrent connections; the next ones get 503 + Connection: close, and past a reserve of max(16, 1/8) more are closed at accept"},
    {"connection_timeout", K_INT, O(connection_timeout), "30", 1, 86400,
     "ENCORE_CONNECTION_TIMEOUT",
     "seconds a connection may stay idle (no request, or no byte sent or read) before it is closed"},
    {"read_timeout", K_INT, O(read_timeout), "10", 1, 86400, "ENCORE_READ_TIMEOUT",
     "seconds to receive a whole request (headers and body) once its request line arrived; "
     "slower clients are cut off"},
    {"max_k", K_INT, O(max_k), "1000", 1, 1000000, "ENCORE_MAX_K",
     "largest k in recommend/similar"},
    {"max_instances", K_INT, O(max_instances), "1000", 1, 10000000, "ENCORE_MAX_INSTANCES",
     "instances per predict request"},
    {"max_history", K_INT, O(max_history), "10000", 1, 10000000, "ENCORE_MAX_HISTORY",
     "entries in history / exclude / candidates lists"},
    {"max_text_bytes", K_INT, O(max_text_bytes), "65536", 1, 1 << 30, "ENCORE_MAX_TEXT_BYTES",
     "bytes per text instance"},
    {"max_json_depth", K_INT, O(max_json_depth), "32", 2, 10000, "ENCORE_MAX_JSON_DEPTH",
     "nesting depth of request JSON"},
    {"gzip_min_bytes", K_INT, O(gzip_min_bytes), "2048", 0, 1 << 30, "ENCORE_GZIP_MIN_BYTES",
     "gzip a response of at least this many bytes when the request sends Accept-Encoding: gzip "
     "(zlib level 1); 0 never compresses. Request bodies with Content-Encoding gzip or deflate "
     "are always accepted, max_body_bytes applying to the decompressed size"},
    {"score_precision", K_STR, O(score_precision), "auto", 0, 0, "ENCORE_SCORE_PRECISION",
     "recommend/similar scoring: i8 (int8 screening with an error bound, then exact f32 "
     "re-scoring of the few items that can reach the top k: the f32 answer, faster), f32 "
     "(OpenBLAS over every item), f16 (binary16 item factors, approximate; needs AVX2, FMA "
     "and F16C), or auto (i8 where the CPU has AVX2 and FMA, else f32)"},
    {"drain_seconds", K_INT, O(drain_seconds), "5", 0, 3600, "ENCORE_DRAIN_SECONDS",
     "after SIGTERM, keep serving this long while /readyz answers 503"},
    {"shutdown_timeout", K_INT, O(shutdown_timeout), "30", 0, 3600, "ENCORE_SHUTDOWN_TIMEOUT",
     "then wait at most this long for in-flight requests"},
    {"access_log", K_BOOL, O(access_log), "true", 0, 1, "ENCORE_ACCESS_LOG",
     "one JSON line per request on stderr"},
    {"log_user_ids", K_BOOL, O(log_user_ids), "false", 0, 1, "ENCORE_LOG_USER_IDS",
     "log user ids in clear text (default: a keyed hash, see log_hash_key_file)"},
    {"watch", K_BOOL, O(watch), "true", 0, 1, "ENCORE_WATCH",
     "load new versions dropped into the repository"},
    {"rescan_seconds", K_INT, O(rescan_seconds), "30", 0, 86400, "ENCORE_RESCAN_SECONDS",
     "also rescan the repository this often (0: never); file watches miss writes made on "
     "other nodes of a network volume"},
    {"versions_kept", K_INT, O(versions_kept), "1", 1, 100, "ENCORE_VERSIONS_KEPT",
     "versions of each model kept loaded"},
    {"cache_dir", K_STR, O(cache_dir), "", 0, 0, "ENCORE_CACHE_DIR",
     "with models in object storage: the local mirror (an emptyDir in Kubernetes); empty = "
     "$TMPDIR/encore-cache"},
    {"s3_endpoint", K_STR, O(s3_endpoint), "", 0, 0, "ENCORE_S3_ENDPOINT",
     "S3-compatible endpoint URL (MinIO, GCS interoperability, a test server; path-style "
     "addressing); empty = AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS S3 for the region"},
    {"readiness", K_STR, O(readiness), "all", 0, 0, "ENCORE_READINESS",
     "when /readyz answers 200: all (every model in the repository serves a valid version; "
     "a model whose every version was refused keeps the pod unready) or any (one model "
     "served is enough)"},
    {"tokens_file", K_STR, O(tokens_file), "", 0, 0, "ENCORE_TOKENS_FILE",
     "bearer tokens for inference, one per line (empty and no ENCORE_TOKENS: inference is open)"},
    {"admin_token_file", K_STR, O(admin_token_file), "", 0, 0, "ENCORE_ADMIN_TOKEN_FILE",
     "bearer token for admin routes (empty and no ENCORE_ADMIN_TOKEN: admin routes disabled)"},
    {"tls_cert", K_STR, O(tls_cert), "", 0, 0, "ENCORE_TLS_CERT",
     "PEM certificate (enables HTTPS)"},
    {"tls_key", K_STR, O(tls_key), "", 0, 0, "ENCORE_TLS_KEY", "PEM private key"},
    {"max_recommend_instances", K_INT, O(max_recommend_instances), "100", 1, 10000000,
     "ENCORE_MAX_RECOMMEND_INSTANCES",
     "user ids in one V2 infer on a recommendation model (each one is a scoring pass over every "
     "item; 400 above)"},
    {"max_hits_per_request", K_INT, O(max_hits_per_request), "10000", 1, 1000000000,
     "ENCORE_MAX_HITS_PER_REQUEST",
     "instances x k in one recommendation request (400 above): bounds the work and the answer"},
    {"max_response_bytes", K_INT, O(max_response_bytes), "16777216", 4096, (int64_t)1 << 40,
     "ENCORE_MAX_RESPONSE_BYTES",
     "largest response body; a larger answer is replaced by a 400 naming this limit"},
    {"max_buffered_bytes", K_INT, O(max_buffered_bytes), "134217728", 1 << 20, (int64_t)1 << 44,
     "ENCORE_MAX_BUFFERED_BYTES",
     "memory held for clients across all connections (request bodies being received, responses "
     "not yet sent); past it, inference requests get 503 + Retry-After until clients read"},
    {"events", K_STR, O(events), "./events", 0, 0, "ENCORE_EVENTS",
     "event store for live recommendations: a directory (embedded LMDB store, one replica), "
     "redis://HOST:PORT[/DB] (shared by every replica), or off"},
    {"event_weights", K_STR, O(event_weights), EV_DEFAULT_WEIGHTS, 0, 0, "ENCORE_EVENT_WEIGHTS",
     "event types and their weights (confidences; negative: the user does not want the item)"},
    {"events_retention_days", K_INT, O(events_retention_days), "90", 1, 36500,
     "ENCORE_EVENTS_RETENTION_DAYS", "days an event is kept after it was received"},
    {"events_user_cap", K_INT, O(events_user_cap), "1000", 1, 1000000, "ENCORE_EVENTS_USER_CAP",
     "most recent events kept per user (older ones are dropped)"},
    {"max_events", K_INT, O(max_events), "1000", 1, 100000, "ENCORE_MAX_EVENTS",
     "events per POST /v1/events request (413 above)"},
    {"events_max_bytes", K_INT, O(events_max_bytes), "8589934592", 1048576, 1LL << 42,
     "ENCORE_EVENTS_MAX_BYTES", "largest size of the embedded event store's file"},
    {"max_model_header_bytes", K_INT, O(max_model_header_bytes), "1048576", 4096, 1 << 30,
     "ENCORE_MAX_MODEL_HEADER_BYTES",
     "largest JSON header a model file may declare; checked before the header is read"},
    {"model_read_max_bytes", K_INT, O(model_read_max_bytes), "67108864", 0, (int64_t)1 << 40,
     "ENCORE_MODEL_READ_MAX_BYTES",
     "model files up to this size are read into memory (safe from later changes to the file); "
     "larger ones are mapped, and a mapped file truncated in place retires its version (503) "
     "instead of crashing the server"},
    {"min_item_events", K_INT, O(min_item_events), "3", 1, 1000000, "ENCORE_MIN_ITEM_EVENTS",
     "events an item the model lacks needs before its vector comes from its users (the ALS "
     "item step); before that it comes from the items sharing its catalogue tags"},
    {"log_hash_key_file", K_STR, O(log_hash_key_file), "", 0, 0, "ENCORE_LOG_HASH_KEY_FILE",
     "secret key for the user-id hash in the access log: the first line, 32 to 128 hex digits "
     "(replicas sharing it log the same hash for the same user); empty: a random key per process"},
    {"max_connections_per_ip", K_INT, O(max_connections_per_ip), "256", 0, 1000000,
     "ENCORE_MAX_CONNECTIONS_PER_IP",
     "connections one client address may hold; the next are closed at accept (0: no limit). "
     "Behind a proxy every client has the proxy's address: raise it or set 0"},
    {"first_request_timeout", K_INT, O(first_request_timeout), "5", 1, 86400,
     "ENCORE_FIRST_REQUEST_TIMEOUT",
     "seconds a new connection has to send its first request line before it is closed"},
    {"load_timeout", K_INT, O(load_timeout), "120", 1, 86400, "ENCORE_LOAD_TIMEOUT",
     "seconds a model load may run before the reload queue stops waiting for it (its admin "
     "request gets 503; the load finishes in the background)"},
    {"tls_priorities", K_STR, O(tls_priorities),
     "SECURE128:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:-RSA:-DHE-DSS:-CIPHER-ALL:+CHACHA20-POLY1305:"
     "+AES-256-GCM:+AES-128-GCM:-MAC-ALL:+AEAD:%SERVER_PRECEDENCE",
     0, 0, "ENCORE_TLS_PRIORITIES",
     "GnuTLS priority string for HTTPS (default: TLS 1.2 and 1.3, forward-secret key exchange, "
     "AEAD ciphers only)"},
    {"max_json_elements", K_INT, O(max_json_elements), "131072", 16, 1 << 30,
     "ENCORE_MAX_JSON_ELEMENTS",
     "values and object members in a request's JSON, counted by a scan before parsing (400 "
     "above; the parser needs ~100-250 bytes per value)"},
    {"index_min_items", K_INT, O(index_min_items), "100000", 1, INT32_MAX, "ENCORE_INDEX_MIN_ITEMS",
     "recommend from a model's approximate item index (encore-train --index hnsw) when its "
     "catalogue has at least this many items; smaller ones are scored exhaustively, and a "
     "request may ask for \"exact\": true"},
    {"ef_search", K_INT, O(ef_search), "0", 0, 1000, "ENCORE_EF_SEARCH",
     "beam width of an item-index search (raised to k): higher finds more of the exact top k "
     "for more time; 0: the model's own, which encore-train measured as the smallest reaching "
     "recall@10 0.95 on the model's users (100 for a model without one; BENCHMARKS.md)"},
};
#undef O
#define N_OPTIONS (sizeof options / sizeof *options)

static int set_value(struct config *c, const struct option_row *o, const char *val,
                     const char *source, enc_err *err)
{
    void *dst = (char *)c + o->offset;
    if (o->kind == K_STR) {
        *(const char **)dst = val;
        return 0;
    }
    int64_t v;
    if (o->kind == K_BOOL) {
        if (!strcmp(val, "true") || !strcmp(val, "1") || !strcmp(val, "yes") || !strcmp(val, "on"))
            v = 1;
        else if (!strcmp(val, "false") || !strcmp(val, "0") || !strcmp(val, "no") ||
                 !strcmp(val, "off"))
            v = 0;
        else
            return enc_errf(err, ENC_EINVAL, "%s: %s: '%s' is not true or false", source, o->name,
                            val);
    } else {
        char *end;
        errno = 0;
        long long ll = strtoll(val, &end, 10);
        if (errno || end == val || *end)
            return enc_errf(err, ENC_EINVAL, "%s: %s: '%s' is not an integer", source, o->name,
                            val);
        v = ll;
    }
    if (o->kind == K_INT && (v < o->min || v > o->max))
        return enc_errf(err, ENC_ERANGE, "%s: %s: %lld is outside %lld..%lld", source, o->name,
                        (long long)v, (long long)o->min, (long long)o->max);
    *(int64_t *)dst = v;
    return 0;
}

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof *c);
    for (size_t i = 0; i < N_OPTIONS; i++)
        set_value(c, &options[i], options[i].dflt, "default", NULL);
}

int config_is_default(const struct config *c, const char *name)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (!strcmp(options[i].name, name))
            return options[i].kind == K_STR &&
                   *(const char *const *)((const char *)c + options[i].offset) == options[i].dflt;
    return 0;
}

void config_free(struct config *c)
{
    for (int i = 0; i < c->n_owned; i++)
        free(c->owned[i]);
    c->n_owned = 0;
}

static const struct option_row *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *n = options[i].name;
        if (strlen(n) != len)
            continue;
        size_t k = 0;
        while (k < len && (n[k] == name[k] || (n[k] == '_' && name[k] == '-')))
            k++;
        if (k == len)
            return &options[i];
    }
    return NULL;
}

static int load_file(struct config *c, const char *path, enc_err *err)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return enc_errf(err, ENC_EINVAL, "config file %s:%d:%d: %s", path, jerr.line, jerr.column,
                        jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return enc_errf(err, ENC_EINVAL, "config file %s: must be a JSON object", path);
    }
    const char *key;
    json_t *val;
    int rc = 0;
    json_object_foreach(root, key, val) {
        if (key[0] == '_') /* "_comment" and friends */
            continue;
        if (!strcmp(key, "experiments")) /* a section of its own: experiment.c reads it */
            continue;
        const struct option_row *o = find_option(key, strlen(key));
        char src[512];
        snprintf(src, sizeof src, "config file %s", path);
        if (!o) {
            rc = enc_errf(err, ENC_EINVAL, "%s: unknown option '%s'", src, key);
            break;
        }
        char tmp[64];
        const char *s = NULL;
        if (o->kind == K_STR && json_is_string(val))
            s = json_string_value(val);
        else if (o->kind == K_INT && json_is_integer(val)) {
            snprintf(tmp, sizeof tmp, "%lld", (long long)json_integer_value(val));
            s = tmp;
        } else if (o->kind == K_BOOL && json_is_boolean(val))
            s = json_is_true(val) ? "true" : "false";
        if (!s) {
            rc = enc_errf(err, ENC_EINVAL, "%s: %s must be %s", src, key,
                          o->kind == K_STR   ? "a string"
                          : o->kind == K_INT ? "an integer"
                                             : "true or false");
            break;
        }
        if (o->kind == K_STR) {
            if (c->n_owned == (int)(sizeof c->owned / sizeof *c->owned) ||
                !(c->owned[c->n_owned] = strdup(s))) {
                rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                break;
            }
            s = c->owned[c->n_owned++];
        }
        if ((rc = set_value(c, o, s, src, err)) != 0)
            break;
    }
    json_decref(root);
    return rc;
}

static const char *flag_value(int argc, char **argv, int *i, const char *flag, enc_err *err)
{
    const char *eq = strchr(argv[*i], '=');
    if (eq)
        return eq + 1;
    if (*i + 1 >= argc) {
        enc_errf(err, ENC_EINVAL, "%s needs a value", flag);
        return NULL;
    }
    return argv[++*i];
}

int config_load(struct config *c, int argc, char **argv, enc_err *err)
{
    config_defaults(c);
    /* The config file path comes from flags or the environment first. */
    const char *file = getenv("ENCORE_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            config_usage(stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--help-markdown")) {
            config_markdown(stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("encore-server %s\n", ENCORE_VERSION);
            return 1;
        }
        if (!strncmp(argv[i], "--config", 8) && (argv[i][8] == '\0' || argv[i][8] == '=')) {
            int j = i;
            file = flag_value(argc, argv, &j, "--config", err);
            if (!file)
                return ENC_EINVAL;
        }
    }
    int rc;
    c->config_file = file;
    if (file && *file && (rc = load_file(c, file, err)) != 0)
        return rc;
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const char *v = getenv(options[i].env);
        char src[128];
        snprintf(src, sizeof src, "environment %s", options[i].env);
        if (v && (rc = set_value(c, &options[i], v, src, err)) != 0)
            return rc;
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strncmp(a, "--config", 8) && (a[8] == '\0' || a[8] == '=')) {
            if (a[8] == '\0')
                i++;
            continue;
        }
        if (!strcmp(a, "--check-health"))
            continue; /* handled by main */
        if (strncmp(a, "--", 2) != 0)
            return enc_errf(err, ENC_EINVAL, "unexpected argument '%s' (see --help)", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        const struct option_row *o = find_option(name, eq ? (size_t)(eq - name) : strlen(name));
        if (!o)
            return enc_errf(err, ENC_EINVAL, "unknown option '%s' (see --help)", a);
        const char *v;
        char flag[128];
        snprintf(flag, sizeof flag, "--%s", o->name);
        if (o->kind == K_BOOL && !eq && (i + 1 >= argc || strncmp(argv[i + 1], "--", 2) == 0))
            v = "true"; /* a bare boolean flag switches it on */
        else if (!(v = flag_value(argc, argv, &i, flag, err)))
            return ENC_EINVAL;
        if ((rc = set_value(c, o, v, flag, err)) != 0)
            return rc;
    }
    /* Cross-field validation. */
    if (!c->models || !*c->models)
        return enc_errf(err, ENC_EINVAL, "models: a model repository directory is required");
    if (strcmp(c->readiness, "all") != 0 && strcmp(c->readiness, "any") != 0)
        return enc_errf(err, ENC_EINVAL, "readiness: '%s' is not all or any", c->readiness);
    if ((*c->tls_cert != '\0') != (*c->tls_key != '\0'))
        return enc_errf(err, ENC_EINVAL, "tls_cert and tls_key must be given together");
    struct ev_types types;
    if (ev_types_parse(c->event_weights, &types, err))
        return ENC_EINVAL;
    if (!c->events || !*c->events)
        return enc_errf(err, ENC_EINVAL, "events: a directory, redis://HOST:PORT[/DB] or off");
    if (c->threads == 0 && c->cpu_millicores > 0) {
        int64_t cores = (c->cpu_millicores + 999) / 1000, n = 2 * cores;
        c->threads = n < 2 ? 2 : n > 64 ? 64 : n;
    }
    if (c->threads == 0)
        c->threads = config_auto_threads(access("/sys/fs/cgroup/cpu.max", R_OK) == 0
                                             ? "/sys/fs/cgroup/cpu.max"
                                             : "/sys/fs/cgroup/cpu/cpu.cfs_quota_us");
    return 0;
}

int64_t config_auto_threads(const char *cpu_max_path)
{
    int64_t cores = 1;
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        cores = CPU_COUNT(&set);
    /* A container limited to Q of every P microseconds of CPU time
     * ("Q P" in cgroup v2's cpu.max; "max P" is no limit) still sees every
     * core of its node in its affinity mask. */
    FILE *f = cpu_max_path ? fopen(cpu_max_path, "r") : NULL;
    size_t pl = cpu_max_path ? strlen(cpu_max_path) : 0;
    const char v1[] = "cpu.cfs_quota_us";
    if (f && pl >= sizeof v1 - 1 && !strcmp(cpu_max_path + pl - (sizeof v1 - 1), v1)) {
        /* cgroup v1: the quota (-1 = none) here, the period beside it */
        long long quota = -1, period = 0;
        char pp[4096];
        snprintf(pp, sizeof pp, "%.*scpu.cfs_period_us", (int)(pl - (sizeof v1 - 1)), cpu_max_path);
        FILE *pf = fopen(pp, "r");
        if (fscanf(f, "%lld", &quota) != 1)
            quota = -1;
        if (!pf || fscanf(pf, "%lld", &period) != 1)
            period = 0;
        if (pf)
            fclose(pf);
        if (quota > 0 && period > 0) {
            int64_t q = (int64_t)((quota + period - 1) / period);
            if (q < cores)
                cores = q;
        }
        fclose(f);
        f = NULL;
    }
    if (f) {
        long long quota, period;
        if (fscanf(f, "%lld %lld", &quota, &period) == 2 && quota > 0 && period > 0) {
            int64_t q = (int64_t)((quota + period - 1) / period);
            if (q < cores)
                cores = q;
        }
        fclose(f);
    }
    int64_t n = 2 * cores;
    return n < 2 ? 2 : n > 64 ? 64 : n;
}

static void print_default(FILE *out, const struct option_row *o)
{
    if (o->kind == K_STR && !*o->dflt)
        fprintf(out, "(none)");
    else
        fprintf(out, "%s", o->dflt);
}

void config_usage(FILE *out)
{
    fprintf(out, "usage: encore-server [--config FILE] [--OPTION VALUE ...]\n"
                 "       encore-server --check-health [--port N]\n\n"
                 "Serves the models in a repository over HTTP. Options come from defaults, then\n"
                 "the JSON config file, then ENCORE_* environment variables, then flags.\n\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_row *o = &options[i];
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", o->name);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(out, "  %-22s %s\n  %-22s env %s, default ", flag, o->help, "", o->env);
        print_default(out, o);
        if (o->kind == K_INT)
            fprintf(out, ", range %lld..%lld", (long long)o->min, (long long)o->max);
        fprintf(out, "\n");
    }
    fprintf(out, "  %-22s %s\n", "--config FILE", "JSON config file (env ENCORE_CONFIG)");
    fprintf(out, "  %-22s %s\n", "ENCORE_TOKENS",
            "environment only: inference bearer tokens, comma or space separated");
    fprintf(out, "  %-22s %s\n", "ENCORE_ADMIN_TOKEN",
            "environment only: the admin bearer token (enables POST /v1/models/NAME:reload)");
    fprintf(out, "  %-22s %s\n", "--check-health",
            "exit 0 if GET /healthz on 127.0.0.1:PORT answers 200 (container HEALTHCHECK)");
}

void config_markdown(FILE *out)
{
    fprintf(out, "| option (config key) | flag | environment | default | range | meaning |\n"
                 "|---|---|---|---|---|---|\n");
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_row *o = &options[i];
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", o->name);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(out, "| `%s` | `%s` | `%s` | ", o->name, flag, o->env);
        print_default(out, o);
        if (o->kind == K_INT)
            fprintf(out, " | %lld..%lld", (long long)o->min, (long long)o->max);
        else
            fprintf(out, " | %s", o->kind == K_BOOL ? "true/false" : "");
        fprintf(out, " | %s |\n", o->help);
    }
    fprintf(out,
            "| (config file path) | `--config` | `ENCORE_CONFIG` | (none) | | JSON config file "
            "(keys as in the first column; keys starting with `_` are comments) |\n"
            "| (inference tokens) | | `ENCORE_TOKENS` | (none) | | bearer tokens for inference, "
            "comma or space separated; added to those of `tokens_file` |\n"
            "| (admin token) | | `ENCORE_ADMIN_TOKEN` | (none) | | the admin bearer token "
            "(in addition to the one in `admin_token_file`) |\n");
}
