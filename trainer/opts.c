/* opts.c - option tables for encore-train subcommands (see trainer.h). */
#include "trainer.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/st.h"

const char *opt_choice(const struct opt *o)
{
    return o->choices[*(const int *)o->dst];
}

/* "a|b|c" (sep "|") or "a, b or c" (sep NULL) into out. */
static void choices_text(const struct opt *o, const char *sep, char *out, size_t len)
{
    size_t n = 0, used = 0;
    while (o->choices[n])
        n++;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        const char *before = i == 0 ? "" : sep ? sep : i + 1 == n ? " or " : ", ";
        used += (size_t)snprintf(out + used, len - used, "%s%s", before, o->choices[i]);
    }
}

void opts_usage(FILE *out, const char *cmd, const char *synopsis, const struct opt *opts)
{
    fprintf(out, "usage: encore-train %s %s\n\noptions:\n", cmd, synopsis);
    for (const struct opt *o = opts; o->name; o++) {
        char lhs[160], names[128];
        const char *arg = o->type == OPT_STR      ? " S"
                          : o->type == OPT_INT    ? " N"
                          : o->type == OPT_DOUBLE ? " X"
                                                  : "";
        if (o->type == OPT_ENUM) {
            choices_text(o, "|", names, sizeof names);
            snprintf(lhs, sizeof lhs, "--%s %s", o->name, names);
        } else
            snprintf(lhs, sizeof lhs, "--%s%s", o->name, arg);
        fprintf(out, "  %-24s %s", lhs, o->help);
        if (o->required)
            fprintf(out, " (required)");
        else if (o->type == OPT_INT)
            fprintf(out, " (default %lld)", (long long)*(int64_t *)o->dst);
        else if (o->type == OPT_DOUBLE)
            fprintf(out, " (default %g)", *(double *)o->dst);
        else if (o->type == OPT_STR && *(const char **)o->dst)
            fprintf(out, " (default %s)", *(const char **)o->dst);
        else if (o->type == OPT_ENUM)
            fprintf(out, " (default %s)", opt_choice(o));
        fprintf(out, "\n");
    }
}

json_t *opts_to_json(const struct opt *opts)
{
    json_t *h = json_object();
    int bad = !h;
    for (const struct opt *o = opts; h && o->name; o++) {
        if (o->hyper != OPT_HYPER)
            continue;
        char key[64];
        size_t k = 0;
        for (; o->name[k] && k + 1 < sizeof key; k++)
            key[k] = o->name[k] == '-' ? '_' : o->name[k];
        key[k] = '\0';
        json_t *v = NULL;
        switch (o->type) {
        case OPT_INT:
            v = json_integer((json_int_t) * (const int64_t *)o->dst);
            break;
        case OPT_DOUBLE:
            v = json_real(*(const double *)o->dst);
            break;
        case OPT_FLAG:
            v = json_boolean(*(const int *)o->dst);
            break;
        case OPT_ENUM:
            v = json_string(opt_choice(o));
            break;
        case OPT_STR: {
            const char *s = *(const char *const *)o->dst;
            v = s ? json_string(s) : json_null();
            break;
        }
        }
        bad |= json_object_set_new(h, key, v);
    }
    if (bad) {
        json_decref(h);
        return NULL;
    }
    return h;
}

int opts_parse(const char *cmd, const char *synopsis, const struct opt *opts, int argc, char **argv)
{
    size_t n = 0;
    while (opts[n].name)
        n++;
    int *seen = calloc(n ? n : 1, sizeof *seen);
    if (!seen)
        return 2;
    int rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            opts_usage(stdout, cmd, synopsis, opts);
            rc = 1;
            break;
        }
        if (strncmp(a, "--", 2) != 0) {
            fprintf(stderr, "encore-train %s: unexpected argument '%s'\n", cmd, a);
            rc = 2;
            break;
        }
        const char *name = a + 2, *val = NULL;
        const char *eq = strchr(name, '=');
        size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
        const struct opt *o = NULL;
        size_t idx = 0;
        for (idx = 0; idx < n; idx++)
            if (strlen(opts[idx].name) == nlen && strncmp(opts[idx].name, name, nlen) == 0) {
                o = &opts[idx];
                break;
            }
        if (!o) {
            fprintf(stderr, "encore-train %s: unknown option '%s' (see --help)\n", cmd, a);
            rc = 2;
            break;
        }
        seen[idx] = 1;
        if (o->type == OPT_FLAG) {
            if (eq) {
                fprintf(stderr, "encore-train %s: --%s takes no value\n", cmd, o->name);
                rc = 2;
                break;
            }
            *(int *)o->dst = 1;
            continue;
        }
        if (eq)
            val = eq + 1;
        else if (i + 1 < argc)
            val = argv[++i];
        else {
            fprintf(stderr, "encore-train %s: --%s needs a value\n", cmd, o->name);
            rc = 2;
            break;
        }
        if (o->type == OPT_STR) {
            *(const char **)o->dst = val;
            continue;
        }
        if (o->type == OPT_ENUM) {
            int k = 0;
            while (o->choices[k] && strcmp(o->choices[k], val) != 0)
                k++;
            if (!o->choices[k]) {
                char names[256];
                choices_text(o, NULL, names, sizeof names);
                fprintf(stderr, "encore-train %s: --%s: '%s' is not %s\n", cmd, o->name, val,
                        names);
                rc = 2;
                break;
            }
            *(int *)o->dst = k;
            continue;
        }
        char *end;
        errno = 0;
        double d = o->type == OPT_INT ? (double)strtoll(val, &end, 10) : strtod(val, &end);
        if (errno || end == val || *end || !isfinite(d)) {
            fprintf(stderr, "encore-train %s: --%s: '%s' is not a valid %s\n", cmd, o->name, val,
                    o->type == OPT_INT ? "integer" : "number");
            rc = 2;
            break;
        }
        if (o->min <= o->max && (d < o->min || d > o->max)) {
            fprintf(stderr, "encore-train %s: --%s: %s is outside %g..%g\n", cmd, o->name, val,
                    o->min, o->max);
            rc = 2;
            break;
        }
        if (o->type == OPT_INT)
            *(int64_t *)o->dst = strtoll(val, NULL, 10);
        else
            *(double *)o->dst = d;
    }
    for (size_t k = 0; k < n && rc == 0; k++)
        if (opts[k].required && !seen[k]) {
            fprintf(stderr, "encore-train %s: --%s is required (see --help)\n", cmd, opts[k].name);
            rc = 2;
        }
    free(seen);
    return rc;
}

int trainer_fingerprint(const char *const *paths, int n, char out[65])
{
    /* Hash the concatenation of each file's SHA-256: cheap and order-aware. */
    char *cat = calloc((size_t)n * 64 + 1, 1);
    if (!cat)
        return -1;
    for (int i = 0; i < n; i++) {
        if (!paths[i])
            continue;
        FILE *f = fopen(paths[i], "rb");
        if (!f) {
            free(cat);
            return -1;
        }
        size_t cap = 1 << 20, len = 0;
        char *buf = malloc(cap);
        size_t k;
        while (buf && (k = fread(buf + len, 1, cap - len, f)) > 0) {
            len += k;
            if (len == cap) {
                char *nb = realloc(buf, cap *= 2);
                if (!nb) {
                    free(buf);
                    buf = NULL;
                }
                buf = nb;
            }
        }
        fclose(f);
        if (!buf) {
            free(cat);
            return -1;
        }
        st_sha256_hex(buf, len, cat + 64 * i);
        free(buf);
    }
    st_sha256_hex(cat, (size_t)n * 64, out);
    free(cat);
    return 0;
}

double trainer_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}
