/* auth.c - bearer tokens, kept as SHA-256 digests, checked in constant time (see auth.h). */
#include "auth.h"

#include <ctype.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "log.h"

#define DIGEST 32
#define MAX_TOKENS 1024
#define MAX_TOKEN_LEN 4096

struct auth {
    unsigned char (*infer)[DIGEST];
    int n_infer;
    unsigned char (*admin)[DIGEST];
    int n_admin;
};

/* RFC 6750 b64token: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/", then "="s. */
static int b64token_ok(const char *t, size_t n)
{
    size_t i = 0;
    while (i < n && (isalnum((unsigned char)t[i]) || strchr("-._~+/", t[i])))
        i++;
    size_t body = i;
    while (i < n && t[i] == '=')
        i++;
    return body > 0 && i == n;
}

static int add_token(unsigned char (**arr)[DIGEST], int *n, const char *t, size_t len,
                     const char *where, enc_err *err)
{
    if (!b64token_ok(t, len) || len > MAX_TOKEN_LEN)
        return enc_errf(err, ENC_EINVAL,
                        "%s: a token must be 1..%d characters of A-Z a-z 0-9 - . _ ~ + / "
                        "(then optional '=')",
                        where, MAX_TOKEN_LEN);
    if (*n == MAX_TOKENS)
        return enc_errf(err, ENC_ERANGE, "%s: more than %d tokens", where, MAX_TOKENS);
    if (len < 16)
        slog("warn", "%s: a token shorter than 16 characters is easy to guess", where);
    unsigned char(*na)[DIGEST] = realloc(*arr, (size_t)(*n + 1) * sizeof *na);
    if (!na)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    *arr = na;
    gnutls_hash_fast(GNUTLS_DIG_SHA256, t, len, na[*n]);
    (*n)++;
    return 0;
}

/* Tokens from a file, one per line; '#' starts a comment line. */
static int load_file(const char *path, unsigned char (**arr)[DIGEST], int *n, enc_err *err)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return enc_errf(err, ENC_EIO, "%s: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) == 0 && (sb.st_mode & S_IROTH))
        slog("warn", "%s is readable by every user: chmod 600 it", path);
    char line[MAX_TOKEN_LEN + 8];
    int lineno = 0, rc = 0, before = *n;
    while (fgets(line, sizeof line, f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof line - 1 && line[len - 1] != '\n') {
            rc = enc_errf(err, ENC_EINVAL, "%s:%d: line too long", path, lineno);
            break;
        }
        char *s = line;
        while (*s == ' ' || *s == '\t')
            s++;
        len = strlen(s);
        while (len && isspace((unsigned char)s[len - 1]))
            len--;
        if (len == 0 || s[0] == '#')
            continue;
        char where[600];
        snprintf(where, sizeof where, "%s:%d", path, lineno);
        if ((rc = add_token(arr, n, s, len, where, err)) != 0)
            break;
    }
    fclose(f);
    if (!rc && *n == before)
        rc = enc_errf(err, ENC_EINVAL, "%s: no token in the file", path);
    return rc;
}

/* Tokens from an environment variable, separated by commas or white space. */
static int load_env(const char *name, int single, unsigned char (**arr)[DIGEST], int *n,
                    enc_err *err)
{
    const char *v = getenv(name);
    if (!v || !*v)
        return 0;
    int found = 0;
    while (*v) {
        size_t skip = strspn(v, ", \t\r\n");
        v += skip;
        size_t len = strcspn(v, ", \t\r\n");
        if (!len)
            break;
        int rc = add_token(arr, n, v, len, name, err);
        if (rc)
            return rc;
        found++;
        v += len;
    }
    if (single && found > 1)
        return enc_errf(err, ENC_EINVAL, "%s: expected one token, found %d", name, found);
    return 0;
}

int auth_load(const struct config *c, struct auth **out, enc_err *err)
{
    struct auth *a = calloc(1, sizeof *a);
    if (!a)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int rc = 0;
    if (c->tokens_file && *c->tokens_file)
        rc = load_file(c->tokens_file, &a->infer, &a->n_infer, err);
    if (!rc)
        rc = load_env("ENCORE_TOKENS", 0, &a->infer, &a->n_infer, err);
    if (!rc && c->admin_token_file && *c->admin_token_file)
        rc = load_file(c->admin_token_file, &a->admin, &a->n_admin, err);
    if (!rc)
        rc = load_env("ENCORE_ADMIN_TOKEN", 1, &a->admin, &a->n_admin, err);
    if (rc) {
        auth_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void auth_free(struct auth *a)
{
    if (!a)
        return;
    free(a->infer);
    free(a->admin);
    free(a);
}

/* 1 if digest d is one of arr[0..n), looking at every entry and every byte. */
static int digest_in(const unsigned char (*arr)[DIGEST], int n, const unsigned char *d)
{
    unsigned found = 0;
    for (int i = 0; i < n; i++) {
        unsigned diff = 0;
        for (int k = 0; k < DIGEST; k++)
            diff |= (unsigned)(arr[i][k] ^ d[k]);
        found |= (unsigned)(diff == 0);
    }
    return found != 0;
}

enum auth_result auth_check(const struct auth *a, int scope, const char *authorization)
{
    if (scope == 0)
        return AUTH_OK;
    if (scope == 2 && a->n_admin == 0)
        return AUTH_DISABLED;
    if (scope == 1 && a->n_infer == 0)
        return AUTH_OK; /* no inference tokens: inference is open */
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return AUTH_MISSING;
    const char *t = authorization + 7;
    while (*t == ' ')
        t++;
    size_t len = strlen(t);
    while (len && t[len - 1] == ' ')
        len--;
    if (len == 0)
        return AUTH_MISSING;
    unsigned char d[DIGEST];
    gnutls_hash_fast(GNUTLS_DIG_SHA256, t, len, d);
    int admin = digest_in((const unsigned char(*)[DIGEST])a->admin, a->n_admin, d);
    int infer = digest_in((const unsigned char(*)[DIGEST])a->infer, a->n_infer, d);
    if (scope == 2)
        return admin ? AUTH_OK : AUTH_WRONG;
    return admin | infer ? AUTH_OK : AUTH_WRONG;
}

int auth_infer_tokens(const struct auth *a)
{
    return a ? a->n_infer : 0;
}

int auth_admin_tokens(const struct auth *a)
{
    return a ? a->n_admin : 0;
}
