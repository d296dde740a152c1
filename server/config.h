/*
 * config.h - encore-server configuration: one table of options.
 *
 * Every option has a row {name, type, default, min, max, env, help}; the
 * table drives defaults, the JSON config file, ENCORE_* environment
 * variables, --flags, validation, --help and docs/configuration.md. Later
 * sources override earlier ones:
 *
 *   defaults -> config file (--config / ENCORE_CONFIG) -> environment -> flags
 */
#ifndef ENCORE_CONFIG_H
#define ENCORE_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "core/err.h"

struct config {
    const char *config_file;
    const char *models; /* model repository */
    const char *host;
    int64_t port;
    int64_t threads;        /* HTTP worker threads (MHD thread pool); never 0 after
                               config_load (0 asks for config_auto_threads) */
    int64_t cpu_millicores; /* CPU limit from the downward API; 0 = probe the cgroup */
    int64_t max_body_bytes;
    int64_t max_header_bytes;
    int64_t max_connections;
    int64_t connection_timeout; /* seconds idle before a connection is closed */
    int64_t read_timeout;       /* seconds to receive a whole request */
    int64_t max_k;
    int64_t max_instances;
    int64_t max_history;
    int64_t max_text_bytes;
    int64_t max_json_depth;
    int64_t gzip_min_bytes;      /* gzip responses this large for Accept-Encoding: gzip; 0 off */
    const char *score_precision; /* auto, i8, f32 or f16 (model_load_opts.precision) */
    int64_t drain_seconds;       /* SIGTERM: keep serving this long with /readyz 503 */
    int64_t shutdown_timeout;    /* then wait at most this long for in-flight requests */
    int64_t access_log;          /* bool */
    int64_t log_user_ids;        /* bool: write user ids in clear (default: hashed) */
    int64_t watch;               /* bool: load new versions dropped into the repository */
    int64_t rescan_seconds;      /* periodic rescan (network volumes give no file events) */
    int64_t versions_kept;
    const char *readiness;   /* "all" (default) or "any" */
    const char *cache_dir;   /* local mirror of an object-storage repository */
    const char *s3_endpoint; /* S3-compatible endpoint ("" = the AWS_* environment) */
    const char *tokens_file; /* inference bearer tokens, one per line */
    const char *admin_token_file;
    const char *tls_cert;
    const char *tls_key;
    int64_t max_recommend_instances; /* user ids per V2 recommend infer */
    int64_t max_hits_per_request;    /* instances x k per recommendation request */
    int64_t max_response_bytes;      /* largest response body */
    int64_t max_buffered_bytes;      /* request bodies + unsent responses, all connections */
    const char *events;              /* event store: a directory, redis://HOST:PORT[/DB], or off */
    const char *event_weights;       /* "type:weight,..." (events/event.h) */
    int64_t events_retention_days;
    int64_t events_user_cap;        /* events kept per user */
    int64_t max_events;             /* events per POST /v1/events */
    int64_t events_max_bytes;       /* embedded store: largest file */
    int64_t max_model_header_bytes; /* model files: JSON header cap */
    int64_t model_read_max_bytes;   /* model files up to this are read, larger mapped */
    int64_t min_item_events;        /* events before a new item's vector comes from its users */
    const char *log_hash_key_file;  /* secret key of the user-id hash (log.h) */
    int64_t max_connections_per_ip; /* 0: no per-address limit */
    int64_t first_request_timeout;  /* seconds to the first request line */
    int64_t load_timeout;           /* seconds before the reload queue moves on */
    const char *tls_priorities;     /* GnuTLS priority string (HTTPS) */
    int64_t max_json_elements;      /* values in a request's JSON (jscan.h) */
    int64_t index_min_items;        /* recommend from an item index from this many items */
    int64_t ef_search;              /* its beam width */
    /* owned copies of strings that came from the config file */
    char *owned[16];
    int n_owned;
};

/* Fill `c` with the defaults. */
void config_defaults(struct config *c);

/* The whole sequence: defaults, file, environment, flags, validation.
 * Returns 0, 1 when --help or --version was printed (exit 0), or a negative
 * ENC_E* code with a message naming the option and its source. */
int config_load(struct config *c, int argc, char **argv, enc_err *err);

void config_free(struct config *c);

/* 1 if string option `name` still holds its built-in default (no file,
 * environment or flag set it). */
int config_is_default(const struct config *c, const char *name);

/* The default HTTP thread count: twice the cores this process may run on,
 * the fewer of its CPU affinity and the cgroup quota read from
 * cpu_max_path: cgroup v2's cpu.max ("QUOTA PERIOD" or "max PERIOD"), or a
 * path ending in cpu.cfs_quota_us (cgroup v1: QUOTA, -1 = none; the period
 * from cpu.cfs_period_us beside it); NULL or unreadable: no quota. Within
 * 2..64. */
int64_t config_auto_threads(const char *cpu_max_path);

/* --help text, generated from the table. */
void config_usage(FILE *out);

/* Markdown reference (docs/configuration.md is generated with
 * `encore-server --help-markdown`). */
void config_markdown(FILE *out);

#endif
