/*
 * data.c - labelled text corpora for the text family: two one-example-per-
 * line files (pos / neg) or a TSV of label<TAB>text, and the k-fold file
 * format of shared/datasets/rt-polarity/folds.tsv. Lines are split on '\n'
 * only (cp1252 0x85 is not a line break); bytes are never decoded.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/text.h"
#include "core/file.h"
#include "core/strv.h"

void text_data_clear(struct text_data *d)
{
    strv_free(d->text, d->n);
    strv_free(d->label_names, d->n_labels);
    free(d->len);
    free(d->label);
    free(d->src_file);
    free(d->src_line);
    memset(d, 0, sizeof *d);
}

static int push(struct text_data *d, size_t *cap, const char *s, size_t len, int32_t label,
                int32_t file, int64_t line)
{
    if (d->n == *cap) {
        size_t nc = *cap ? *cap * 2 : 1024;
        char **t = realloc(d->text, nc * sizeof *t);
        if (t)
            d->text = t;
        size_t *l = realloc(d->len, nc * sizeof *l);
        if (l)
            d->len = l;
        int32_t *lb = realloc(d->label, nc * sizeof *lb);
        if (lb)
            d->label = lb;
        int32_t *sf = realloc(d->src_file, nc * sizeof *sf);
        if (sf)
            d->src_file = sf;
        int64_t *sl = realloc(d->src_line, nc * sizeof *sl);
        if (sl)
            d->src_line = sl;
        if (!t || !l || !lb || !sf || !sl)
            return ENC_ENOMEM;
        *cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c)
        return ENC_ENOMEM;
    memcpy(c, s, len);
    c[len] = 0;
    d->text[d->n] = c;
    d->len[d->n] = len;
    d->label[d->n] = label;
    d->src_file[d->n] = file;
    d->src_line[d->n] = line;
    d->n++;
    return 0;
}

static int has_token(const char *s, size_t n)
{
    return tok_split(s, n, NULL, 0) > 0;
}

/* Walk the lines of buf; cb gets (line, len, 1-based number). */
static int read_lines(const char *path, struct text_data *d, size_t *cap, int32_t label,
                      int32_t file, enc_err *err)
{
    char *buf;
    size_t n;
    int rc = enc_read_file(path, &buf, &n, err);
    if (rc)
        return rc;
    size_t pos = 0;
    int64_t line = 0;
    while (pos < n && rc == 0) {
        const char *s = buf + pos;
        const char *nl = memchr(s, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - s) : n - pos;
        pos += len + (nl ? 1 : 0);
        line++;
        if (len && s[len - 1] == '\r')
            len--;
        if (memchr(s, 0, len))
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: NUL byte in text", path, (long long)line);
        else if (!has_token(s, len))
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: empty example (no tokens)", path,
                          (long long)line);
        else if (push(d, cap, s, len, label, file, line))
            rc = enc_errf(err, ENC_ENOMEM, "%s: out of memory", path);
    }
    if (rc == 0 && line == 0)
        rc = enc_errf(err, ENC_EFORMAT, "%s: no examples", path);
    free(buf);
    return rc;
}

int text_data_read_pair(const char *pos, const char *neg, struct text_data *d, enc_err *err)
{
    memset(d, 0, sizeof *d);
    size_t cap = 0;
    d->n_labels = 2;
    d->label_names = calloc(2, sizeof *d->label_names);
    if (!d->label_names || !(d->label_names[0] = strdup("neg")) ||
        !(d->label_names[1] = strdup("pos"))) {
        text_data_clear(d);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    d->files[0] = pos;
    d->files[1] = neg;
    int rc = read_lines(pos, d, &cap, 1, 0, err);
    rc = rc ? rc : read_lines(neg, d, &cap, 0, 1, err);
    if (rc)
        text_data_clear(d);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int text_data_read_tsv(const char *path, struct text_data *d, enc_err *err)
{
    memset(d, 0, sizeof *d);
    d->files[0] = path;
    char *buf;
    size_t n, cap = 0;
    int rc = enc_read_file(path, &buf, &n, err);
    if (rc)
        return rc;
    /* Pass 1: examples with a provisional label (index into names[]). */
    char **names = NULL;
    size_t n_names = 0, names_cap = 0, pos = 0;
    int64_t line = 0;
    while (pos < n && rc == 0) {
        char *s = buf + pos;
        char *nl = memchr(s, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - s) : n - pos;
        pos += len + (nl ? 1 : 0);
        line++;
        if (len && s[len - 1] == '\r')
            len--;
        if (len == 0)
            continue;   /* blank lines (e.g. a final one) are skipped */
        char *tab = memchr(s, '\t', len);
        if (!tab) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: expected label<TAB>text", path,
                          (long long)line);
            break;
        }
        size_t llen = (size_t)(tab - s), tlen = len - llen - 1;
        if (llen == 0 || llen > 256) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: label must be 1..256 bytes", path,
                          (long long)line);
            break;
        }
        if (memchr(s, 0, len) || !has_token(tab + 1, tlen)) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld:%zu: empty text or NUL byte", path,
                          (long long)line, llen + 2);
            break;
        }
        size_t k;
        for (k = 0; k < n_names; k++)
            if (strlen(names[k]) == llen && memcmp(names[k], s, llen) == 0)
                break;
        if (k == n_names) {
            if (n_names == names_cap) {
                size_t nc = names_cap ? names_cap * 2 : 8;
                char **nn = realloc(names, nc * sizeof *nn);
                if (!nn) {
                    rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                    break;
                }
                names = nn;
                names_cap = nc;
            }
            if (!(names[n_names] = strndup(s, llen))) {
                rc = enc_errf(err, ENC_ENOMEM, "out of memory");
                break;
            }
            n_names++;
        }
        if (push(d, &cap, tab + 1, tlen, (int32_t)k, 0, line))
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    free(buf);
    if (rc == 0 && n_names < 2)
        rc = enc_errf(err, ENC_EFORMAT, "%s: need at least two distinct labels, found %zu", path,
                      n_names);
    if (rc) {
        for (size_t k = 0; k < n_names; k++)
            free(names[k]);
        free(names);
        text_data_clear(d);
        return rc;
    }
    /* Sort the class names and remap the labels. */
    char **sorted = malloc(n_names * sizeof *sorted);
    int32_t *map = malloc(n_names * sizeof *map);
    if (!sorted || !map) {
        free(sorted);
        free(map);
        for (size_t k = 0; k < n_names; k++)
            free(names[k]);
        free(names);
        text_data_clear(d);
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    }
    memcpy(sorted, names, n_names * sizeof *sorted);
    qsort(sorted, n_names, sizeof *sorted, cmp_str);
    for (size_t k = 0; k < n_names; k++)
        for (size_t j = 0; j < n_names; j++)
            if (sorted[j] == names[k])
                map[k] = (int32_t)j;
    for (size_t i = 0; i < d->n; i++)
        d->label[i] = map[d->label[i]];
    free(map);
    free(names);
    d->label_names = sorted;
    d->n_labels = n_names;
    return 0;
}

static const char *base_name(const char *p)
{
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

int text_folds_read(const char *path, const struct text_data *d, int32_t **fold, int *n_folds,
                    enc_err *err)
{
    *fold = NULL;
    *n_folds = 0;
    char *buf;
    size_t n;
    int rc = enc_read_file(path, &buf, &n, err);
    if (rc)
        return rc;
    /* Index examples by (file, line): lines are 1-based and dense per file. */
    int64_t max_line[2] = {0, 0};
    for (size_t i = 0; i < d->n; i++)
        if (d->src_line[i] > max_line[d->src_file[i]])
            max_line[d->src_file[i]] = d->src_line[i];
    int64_t *where[2] = {calloc((size_t)max_line[0] + 1, sizeof(int64_t)),
                         calloc((size_t)max_line[1] + 1, sizeof(int64_t))};
    int32_t *fo = malloc((d->n ? d->n : 1) * sizeof *fo);
    size_t pos = 0;
    int64_t line = 0;
    int maxf = -1;
    if (!where[0] || !where[1] || !fo) {
        rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        goto done;
    }
    for (size_t i = 0; i < d->n; i++) {
        where[d->src_file[i]][d->src_line[i]] = (int64_t)i + 1;
        fo[i] = -1;
    }
    while (pos < n && rc == 0) {
        char *s = buf + pos;
        char *nl = memchr(s, '\n', n - pos);
        size_t len = nl ? (size_t)(nl - s) : n - pos;
        pos += len + (nl ? 1 : 0);
        line++;
        if (len == 0)
            continue;
        s[len] = 0;   /* buf is ours; the '\n' (or the final NUL) is replaced */
        char *t1 = strchr(s, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
        if (!t2) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: expected <file><TAB><line><TAB><fold>",
                          path, (long long)line);
            break;
        }
        *t1 = 0;
        char *e1, *e2;
        long long ln = strtoll(t1 + 1, &e1, 10), fd = strtoll(t2 + 1, &e2, 10);
        if (e1 != t2 || ln < 1 || (*e2 && *e2 != '\r') || e2 == t2 + 1 || fd < 0 || fd > 1000) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: bad line number or fold", path,
                          (long long)line);
            break;
        }
        int file = -1;
        for (int k = 0; k < 2; k++)
            if (d->files[k] && strcmp(base_name(d->files[k]), s) == 0)
                file = k;
        if (file < 0)
            continue;   /* a file we did not read (e.g. only --data given) */
        if (ln > max_line[file] || !where[file][ln]) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: %s has no example on line %lld", path,
                          (long long)line, s, ln);
            break;
        }
        size_t ex = (size_t)where[file][ln] - 1;
        if (fo[ex] >= 0) {
            rc = enc_errf(err, ENC_EFORMAT, "%s:%lld: %s line %lld is assigned twice", path,
                          (long long)line, s, ln);
            break;
        }
        fo[ex] = (int32_t)fd;
        if (fd > maxf)
            maxf = (int)fd;
    }
    for (size_t i = 0; rc == 0 && i < d->n; i++)
        if (fo[i] < 0)
            rc = enc_errf(err, ENC_EFORMAT, "%s: %s line %lld has no fold", path,
                          base_name(d->files[d->src_file[i]]), (long long)d->src_line[i]);
    if (rc == 0 && maxf < 1)
        rc = enc_errf(err, ENC_EFORMAT, "%s: need at least two folds", path);
done:
    free(where[0]);
    free(where[1]);
    free(buf);
    if (rc) {
        free(fo);
        return rc;
    }
    *fold = fo;
    *n_folds = maxf + 1;
    return 0;
}
