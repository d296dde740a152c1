/*
 * experiment.h - A/B experiments (issue #16): the configured experiments,
 * who is assigned to which variant, the recommendation ids, and the
 * statistics of the report. No HTTP here (h_experiments.c serves it).
 *
 * Configuration: the "experiments" object of the config file, read at
 * startup and again on SIGHUP (a bad section is refused with a message and
 * the running experiments stay):
 *
 *   "experiments": {"home": {"salt": "2026-12", "control": "als",
 *     "variants": [{"name": "als", "model": "movielens", "weight": 50},
 *                  {"name": "bpr", "model": "movielens-bpr", "weight": 50,
 *                   "params": {"diversity": 0.3}}]}}
 *
 * Assignment: u = the first 8 bytes of SHA-256(salt \0 experiment \0 user)
 * read big-endian, divided by 2^64; the user gets the first variant whose
 * cumulative weight share exceeds u. Nothing is stored: every replica
 * computes the same variant, and a new salt reshuffles everyone.
 *
 * A recommendation id names what was answered, so that any replica can
 * attribute an event to it without a lookup (the choice, measured, is in
 * docs/experiments.md):
 *
 *   <experiment>.<variant>.<base64url(payload)>           at most 256 bytes
 *   payload: u8 format (1) | u32 unix time | u32 model version | u64 nonce |
 *            u8 n | n x 3-byte fingerprints of the item ids (big-endian)
 *
 * A fingerprint is 24 bits of a hash of an item id; an event's item is a
 * hit when its fingerprint is in the list (a chance match has probability
 * n / 2^24, 6e-7 at k = 10). Ids are not signed: like events, they are
 * trusted to come from the platform's own clients.
 */
#ifndef ENCORE_EXPERIMENT_H
#define ENCORE_EXPERIMENT_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"
#include "core/repo.h"

#define EXP_NAME_MAX 32 /* bytes of an experiment or variant name: [a-z0-9_-] */
#define EXP_SALT_MAX 128
#define EXP_VARIANTS_MAX 16
#define EXP_MAX 64     /* experiments in one configuration */
#define EXP_K_MAX 40   /* items one recommendation id can name */
#define EXP_ID_MAX 256 /* bytes of a recommendation id (EV_ID_MAX) */

struct exp_variant {
    char name[EXP_NAME_MAX + 1];
    char model[REPO_NAME_MAX + 1];
    double weight;  /* > 0 */
    double upto;    /* cumulative share up to and including this one, (0, 1] */
    json_t *params; /* request defaults (owned reference), or NULL */
};

struct experiment {
    char name[EXP_NAME_MAX + 1];
    char salt[EXP_SALT_MAX + 1];
    int n;       /* variants */
    int control; /* index of the control variant (default the first) */
    struct exp_variant v[EXP_VARIANTS_MAX];
};

/* A whole configuration: immutable once built, shared by reference. */
struct exp_set {
    int refs; /* atomic */
    size_t n;
    struct experiment *e;
};

/* Build a set from the "experiments" object (NULL: an empty set). Errors
 * name the experiment, variant and field. Caller drops it with exp_set_unref. */
int exp_set_parse(const json_t *obj, struct exp_set **out, enc_err *err);
/* Read the "experiments" object of a JSON config file (an empty set when
 * the file has none). */
int exp_set_load_file(const char *path, struct exp_set **out, enc_err *err);
void exp_set_ref(struct exp_set *s);
void exp_set_unref(struct exp_set *s); /* NULL ok */
/* The experiment named so (len bytes), borrowed from s, or NULL. */
const struct experiment *exp_find(const struct exp_set *s, const char *name, size_t len);
int exp_variant_index(const struct experiment *e, const char *name, size_t len);

/* The user's point in [0, 1) and the variant it falls in. */
double exp_point(const char *salt, const char *experiment, const char *user, size_t user_len);
int exp_assign(const struct experiment *e, const char *user, size_t user_len);

/* ---- recommendation ids ---- */

/* 24 bits of the item id's hash. */
uint32_t exp_fingerprint(const char *id, size_t len);

struct exp_rec {
    char experiment[EXP_NAME_MAX + 1];
    char variant[EXP_NAME_MAX + 1];
    int64_t time;
    uint32_t model_version;
    uint64_t nonce;
    int n;
    uint32_t fp[EXP_K_MAX];
};

/* Write the id of `rec` into out (EXP_ID_MAX + 1 bytes, NUL-terminated).
 * Returns its length, or ENC_EINVAL when it would not fit (n > EXP_K_MAX). */
int exp_rec_encode(const struct exp_rec *rec, char *out);
/* Decode an id. 0, or ENC_EINVAL (not one of ours, or damaged). */
int exp_rec_decode(const char *id, size_t len, struct exp_rec *out);
/* 1 if an item of that id was in the recommendation. */
int exp_rec_has(const struct exp_rec *rec, const char *item, size_t len);
/* A fresh nonce: a random 64-bit value unique to this process and call. */
uint64_t exp_nonce(void);

/* ---- statistics ---- */

/* Two proportions x1/n1 (variant) and x0/n0 (control): the difference
 * p1 - p0, its 95% confidence interval (Wald: p1 - p0 +- 1.96 * the
 * unpooled standard error) and the two-sided p-value of the pooled
 * z-test. 0, or ENC_EINVAL when n0 or n1 is 0. */
struct exp_diff {
    double p0, p1, diff, lo, hi, z, p_value;
};
int exp_two_prop(uint64_t x1, uint64_t n1, uint64_t x0, uint64_t n0, struct exp_diff *out);

/* ---- the server's side (h_experiments.c) ---- */

struct http_req;
struct live;
struct ev_types;
struct ev_event;
struct evstore_result;
struct exp_attribution;

/* (Re)read the experiments of the config file (NULL or "": none) and swap
 * them in; on error the running ones stay. */
int experiments_reload(const char *config_file, enc_err *err);
void experiments_free(void);
size_t experiments_count(void);
/* This process's counters, Prometheus text. */
#include "core/buf.h"
void experiments_metrics(const struct ev_types *types, buf *out);
/* Before an append: the counts the events with recommendation ids of
 * configured experiments will add (in request memory), or NULL. After it:
 * add them (when the append succeeded). */
struct exp_attribution *experiments_attribute(struct http_req *r, const struct ev_types *types,
                                              const struct ev_event *ev, size_t n);
void experiments_attributed(struct live *l, const struct exp_attribution *a,
                            const struct evstore_result *res, int64_t now);

#endif
