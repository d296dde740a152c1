/*
 * experiment.c - experiments: configuration, assignment, recommendation ids
 * and the two-proportion statistics (see experiment.h).
 */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include <nettle/sha2.h>

#include "core/rng.h"
#include "experiment.h"

/* Request fields a variant's params may set (h_reco.c's recommend body,
 * less the user's own: user, history). */
static const char *const param_keys[] = {"k",      "exclude_seen", "exclude",     "candidates",
                                         "filter", "diversity",    "max_per_tag", "explain"};

static int name_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > EXP_NAME_MAX)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return 0;
    return 1;
}

static void set_free(struct exp_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n; i++)
        for (int j = 0; j < s->e[i].n; j++)
            json_decref(s->e[i].v[j].params);
    free(s->e);
    free(s);
}

void exp_set_ref(struct exp_set *s)
{
    __atomic_add_fetch(&s->refs, 1, __ATOMIC_RELAXED);
}

void exp_set_unref(struct exp_set *s)
{
    if (s && __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0)
        set_free(s);
}

static int parse_variant(const char *ex, size_t i, json_t *o, struct exp_variant *v, enc_err *err)
{
    if (!json_is_object(o))
        return enc_errf(err, ENC_EINVAL, "experiments.%s.variants[%zu]: must be an object", ex, i);
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val) {
        if (!strcmp(key, "name")) {
            if (!json_is_string(val) || !name_ok(json_string_value(val)))
                return enc_errf(err, ENC_EINVAL,
                                "experiments.%s.variants[%zu].name: must be 1-%d characters of "
                                "a-z, 0-9, _ and -",
                                ex, i, EXP_NAME_MAX);
            strcpy(v->name, json_string_value(val));
        } else if (!strcmp(key, "model")) {
            if (!json_is_string(val) || json_string_length(val) == 0 ||
                json_string_length(val) > REPO_NAME_MAX || strchr(json_string_value(val), '/'))
                return enc_errf(err, ENC_EINVAL,
                                "experiments.%s.variants[%zu].model: must be a model name", ex, i);
            strcpy(v->model, json_string_value(val));
        } else if (!strcmp(key, "weight")) {
            double w = json_is_number(val) ? json_number_value(val) : -1;
            if (!(w > 0 && w <= 1e6))
                return enc_errf(err, ENC_EINVAL,
                                "experiments.%s.variants[%zu].weight: must be a number > 0", ex, i);
            v->weight = w;
        } else if (!strcmp(key, "params")) {
            if (!json_is_object(val))
                return enc_errf(err, ENC_EINVAL,
                                "experiments.%s.variants[%zu].params: must be an object", ex, i);
            const char *pk;
            json_t *pv;
            json_object_foreach(val, pk, pv) {
                size_t j = 0, n = sizeof param_keys / sizeof *param_keys;
                while (j < n && strcmp(pk, param_keys[j]))
                    j++;
                if (j == n)
                    return enc_errf(err, ENC_EINVAL,
                                    "experiments.%s.variants[%zu].params: unknown field '%s' "
                                    "(allowed: k, exclude_seen, exclude, candidates, filter, "
                                    "diversity, max_per_tag, explain)",
                                    ex, i, pk);
                if (!strcmp(pk, "k") && !(json_is_integer(pv) && json_integer_value(pv) >= 1 &&
                                          json_integer_value(pv) <= EXP_K_MAX))
                    return enc_errf(err, ENC_EINVAL,
                                    "experiments.%s.variants[%zu].params.k: must be an integer "
                                    "from 1 to %d",
                                    ex, i, EXP_K_MAX);
            }
            v->params = json_incref(val);
        } else {
            return enc_errf(err, ENC_EINVAL,
                            "experiments.%s.variants[%zu]: unknown field '%s' (allowed: name, "
                            "model, weight, params)",
                            ex, i, key);
        }
    }
    if (!v->name[0] || !v->model[0] || v->weight <= 0)
        return enc_errf(err, ENC_EINVAL,
                        "experiments.%s.variants[%zu]: needs name, model and weight", ex, i);
    return 0;
}

static int parse_one(const char *name, json_t *o, struct experiment *e, enc_err *err)
{
    if (!name_ok(name))
        return enc_errf(err, ENC_EINVAL,
                        "experiments: name '%.40s' must be 1-%d characters of a-z, 0-9, _ and -",
                        name, EXP_NAME_MAX);
    strcpy(e->name, name);
    if (!json_is_object(o))
        return enc_errf(err, ENC_EINVAL, "experiments.%s: must be an object", name);
    const char *control = NULL, *key;
    json_t *val, *variants = NULL;
    int have_salt = 0;
    json_object_foreach(o, key, val) {
        if (!strcmp(key, "salt")) {
            if (!json_is_string(val) || json_string_length(val) == 0 ||
                json_string_length(val) > EXP_SALT_MAX ||
                strlen(json_string_value(val)) != json_string_length(val))
                return enc_errf(err, ENC_EINVAL,
                                "experiments.%s.salt: must be a string of 1-%d bytes", name,
                                EXP_SALT_MAX);
            strcpy(e->salt, json_string_value(val));
            have_salt = 1;
        } else if (!strcmp(key, "control")) {
            if (!json_is_string(val))
                return enc_errf(err, ENC_EINVAL, "experiments.%s.control: must be a variant name",
                                name);
            control = json_string_value(val);
        } else if (!strcmp(key, "variants")) {
            variants = val;
        } else {
            return enc_errf(err, ENC_EINVAL,
                            "experiments.%s: unknown field '%s' (allowed: salt, control, variants)",
                            name, key);
        }
    }
    if (!have_salt)
        return enc_errf(err, ENC_EINVAL, "experiments.%s.salt: required", name);
    if (!json_is_array(variants) || json_array_size(variants) < 1 ||
        json_array_size(variants) > EXP_VARIANTS_MAX)
        return enc_errf(err, ENC_EINVAL,
                        "experiments.%s.variants: must be an array of 1-%d variants", name,
                        EXP_VARIANTS_MAX);
    e->n = (int)json_array_size(variants);
    double total = 0;
    for (int i = 0; i < e->n; i++) {
        int rc = parse_variant(name, (size_t)i, json_array_get(variants, (size_t)i), &e->v[i], err);
        if (rc)
            return rc;
        for (int j = 0; j < i; j++)
            if (!strcmp(e->v[j].name, e->v[i].name))
                return enc_errf(err, ENC_EINVAL, "experiments.%s.variants[%d]: name '%s' repeats",
                                name, i, e->v[i].name);
        total += e->v[i].weight;
    }
    double acc = 0;
    for (int i = 0; i < e->n; i++) {
        acc += e->v[i].weight;
        e->v[i].upto = i == e->n - 1 ? 1.0 : acc / total;
    }
    e->control = 0;
    if (control && (e->control = exp_variant_index(e, control, strlen(control))) < 0)
        return enc_errf(err, ENC_EINVAL, "experiments.%s.control: no variant is named '%.40s'",
                        name, control);
    return 0;
}

int exp_set_parse(const json_t *obj, struct exp_set **out, enc_err *err)
{
    *out = NULL;
    if (obj && !json_is_object(obj))
        return enc_errf(err, ENC_EINVAL, "experiments: must be an object");
    size_t n = obj ? json_object_size(obj) : 0;
    if (n > EXP_MAX)
        return enc_errf(err, ENC_EINVAL, "experiments: at most %d", EXP_MAX);
    struct exp_set *s = calloc(1, sizeof *s);
    if (!s || !(s->e = calloc(n ? n : 1, sizeof *s->e))) {
        free(s);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    s->refs = 1;
    const char *key;
    json_t *val;
    int rc = 0;
    json_object_foreach((json_t *)obj, key, val) {
        if ((rc = parse_one(key, val, &s->e[s->n], err)) != 0) {
            s->n++; /* its params references are released too */
            break;
        }
        s->n++;
    }
    if (rc) {
        set_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

int exp_set_load_file(const char *path, struct exp_set **out, enc_err *err)
{
    *out = NULL;
    if (!path || !*path)
        return exp_set_parse(NULL, out, err);
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
        return enc_errf(err, ENC_EINVAL, "config file %s:%d:%d: %s", path, jerr.line, jerr.column,
                        jerr.text);
    enc_err inner = {0};
    int rc = exp_set_parse(json_is_object(root) ? json_object_get(root, "experiments") : NULL, out,
                           &inner);
    if (rc)
        enc_errf(err, rc, "config file %s: %s", path, inner.msg);
    json_decref(root);
    return rc;
}

const struct experiment *exp_find(const struct exp_set *s, const char *name, size_t len)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (strlen(s->e[i].name) == len && !memcmp(s->e[i].name, name, len))
            return &s->e[i];
    return NULL;
}

int exp_variant_index(const struct experiment *e, const char *name, size_t len)
{
    for (int i = 0; i < e->n; i++)
        if (strlen(e->v[i].name) == len && !memcmp(e->v[i].name, name, len))
            return i;
    return -1;
}

double exp_point(const char *salt, const char *experiment, const char *user, size_t user_len)
{
    struct sha256_ctx c;
    uint8_t d[SHA256_DIGEST_SIZE];
    sha256_init(&c);
    sha256_update(&c, strlen(salt) + 1, (const uint8_t *)salt); /* with its NUL */
    sha256_update(&c, strlen(experiment) + 1, (const uint8_t *)experiment);
    sha256_update(&c, user_len, (const uint8_t *)user);
    sha256_digest(&c, sizeof d, d);
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = x << 8 | d[i];
    return (double)(x >> 11) * 0x1p-53; /* 53 bits: exact in a double, < 1 */
}

int exp_assign(const struct experiment *e, const char *user, size_t user_len)
{
    double u = exp_point(e->salt, e->name, user, user_len);
    for (int i = 0; i < e->n - 1; i++)
        if (u < e->v[i].upto)
            return i;
    return e->n - 1;
}

/* ---- recommendation ids ---- */

uint32_t exp_fingerprint(const char *id, size_t len)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then splitmix64's mix */
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)id[i]) * 0x100000001b3ull;
    return (uint32_t)(rng_hash(h) >> 40);
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) |
                     (i + 2 < n ? in[i + 2] : 0);
        out[o++] = b64[v >> 18 & 63];
        out[o++] = b64[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = b64[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = b64[v & 63];
    }
    return o;
}

static int b64_val(char c)
{
    const char *p = c ? strchr(b64, c) : NULL;
    return p ? (int)(p - b64) : -1;
}

/* Decode unpadded base64url; -1 when malformed or longer than `cap`. */
static long b64_decode(const char *in, size_t n, unsigned char *out, size_t cap)
{
    if (n % 4 == 1)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        uint32_t v = 0;
        size_t m = n - i < 4 ? n - i : 4;
        for (size_t j = 0; j < 4; j++) {
            int x = j < m ? b64_val(in[i + j]) : 0;
            if (x < 0)
                return -1;
            v = v << 6 | (uint32_t)x;
        }
        for (size_t j = 0; j + 1 < m; j++) {
            if (o == cap)
                return -1;
            out[o++] = (unsigned char)(v >> (16 - 8 * j));
        }
    }
    return (long)o;
}

#define REC_HEAD 18 /* format, time, version, nonce, n */

int exp_rec_encode(const struct exp_rec *rec, char *out)
{
    if (rec->n < 0 || rec->n > EXP_K_MAX)
        return ENC_EINVAL;
    unsigned char p[REC_HEAD + 3 * EXP_K_MAX];
    uint32_t t = (uint32_t)rec->time;
    p[0] = 1;
    for (int i = 0; i < 4; i++) {
        p[1 + i] = (unsigned char)(t >> (24 - 8 * i));
        p[5 + i] = (unsigned char)(rec->model_version >> (24 - 8 * i));
    }
    for (int i = 0; i < 8; i++)
        p[9 + i] = (unsigned char)(rec->nonce >> (56 - 8 * i));
    p[17] = (unsigned char)rec->n;
    for (int i = 0; i < rec->n; i++)
        for (int j = 0; j < 3; j++)
            p[REC_HEAD + 3 * i + j] = (unsigned char)(rec->fp[i] >> (16 - 8 * j));
    size_t len = (size_t)snprintf(out, EXP_ID_MAX + 1, "%s.%s.", rec->experiment, rec->variant);
    size_t plen = REC_HEAD + 3 * (size_t)rec->n;
    if (len + (plen * 4 + 2) / 3 > EXP_ID_MAX)
        return ENC_EINVAL;
    len += b64_encode(p, plen, out + len);
    out[len] = '\0';
    return (int)len;
}

/* A name part of an id: [a-z0-9_-]{1,EXP_NAME_MAX} up to '.'. */
static const char *name_part(const char *s, const char *end, char *out)
{
    size_t n = 0;
    while (s + n < end && s[n] != '.') {
        char c = s[n];
        if (n == EXP_NAME_MAX ||
            !((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
            return NULL;
        out[n] = c;
        n++;
    }
    if (n == 0 || s + n == end)
        return NULL;
    out[n] = '\0';
    return s + n + 1;
}

int exp_rec_decode(const char *id, size_t len, struct exp_rec *out)
{
    memset(out, 0, sizeof *out);
    const char *end = id + len, *p;
    if (len > EXP_ID_MAX || !(p = name_part(id, end, out->experiment)) ||
        !(p = name_part(p, end, out->variant)))
        return ENC_EINVAL;
    unsigned char b[REC_HEAD + 3 * EXP_K_MAX];
    long n = b64_decode(p, (size_t)(end - p), b, sizeof b);
    if (n < REC_HEAD || b[0] != 1 || b[17] > EXP_K_MAX || n != REC_HEAD + 3 * (long)b[17])
        return ENC_EINVAL;
    uint32_t t = 0, v = 0;
    for (int i = 0; i < 4; i++) {
        t = t << 8 | b[1 + i];
        v = v << 8 | b[5 + i];
    }
    for (int i = 0; i < 8; i++)
        out->nonce = out->nonce << 8 | b[9 + i];
    out->time = t;
    out->model_version = v;
    out->n = b[17];
    for (int i = 0; i < out->n; i++)
        out->fp[i] = (uint32_t)b[REC_HEAD + 3 * i] << 16 | (uint32_t)b[REC_HEAD + 3 * i + 1] << 8 |
                     b[REC_HEAD + 3 * i + 2];
    return 0;
}

int exp_rec_has(const struct exp_rec *rec, const char *item, size_t len)
{
    uint32_t f = exp_fingerprint(item, len);
    for (int i = 0; i < rec->n; i++)
        if (rec->fp[i] == f)
            return 1;
    return 0;
}

static uint64_t nonce_base;
static pthread_once_t nonce_once = PTHREAD_ONCE_INIT;
static uint64_t nonce_count; /* atomic */

static void nonce_init(void)
{
    if (getrandom(&nonce_base, sizeof nonce_base, 0) != (ssize_t)sizeof nonce_base) {
        struct timespec ts; /* no entropy source: time and address */
        clock_gettime(CLOCK_REALTIME, &ts);
        nonce_base = rng_hash((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^
                     (uint64_t)(uintptr_t)&ts;
    }
}

uint64_t exp_nonce(void)
{
    pthread_once(&nonce_once, nonce_init);
    /* a bijection of a counter: unique within the process, random-looking
     * across processes (each starts from its own random base) */
    return rng_hash(nonce_base + __atomic_add_fetch(&nonce_count, 1, __ATOMIC_RELAXED) * RNG_GAMMA);
}

/* ---- statistics ---- */

int exp_two_prop(uint64_t x1, uint64_t n1, uint64_t x0, uint64_t n0, struct exp_diff *out)
{
    memset(out, 0, sizeof *out);
    if (n0 == 0 || n1 == 0 || x0 > n0 || x1 > n1)
        return ENC_EINVAL;
    double p0 = (double)x0 / (double)n0, p1 = (double)x1 / (double)n1;
    out->p0 = p0;
    out->p1 = p1;
    out->diff = p1 - p0;
    double se = sqrt(p1 * (1 - p1) / (double)n1 + p0 * (1 - p0) / (double)n0);
    out->lo = out->diff - 1.959963984540054 * se;
    out->hi = out->diff + 1.959963984540054 * se;
    double pp = (double)(x0 + x1) / (double)(n0 + n1);
    double sp = sqrt(pp * (1 - pp) * (1.0 / (double)n0 + 1.0 / (double)n1));
    if (sp > 0) {
        out->z = out->diff / sp;
        out->p_value = erfc(fabs(out->z) / sqrt(2.0));
    } else {
        out->z = 0;
        out->p_value = 1;
    }
    return 0;
}
