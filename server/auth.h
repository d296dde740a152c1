/*
 * auth.h - optional bearer tokens for the inference and admin scopes.
 *
 * Tokens come from files (tokens_file, admin_token_file: one token per line,
 * blank lines and '#' comments ignored) and from the environment
 * (ENCORE_TOKENS: tokens separated by commas or white space;
 * ENCORE_ADMIN_TOKEN: one token). Only SHA-256 digests are kept in memory and
 * a presented token is compared against every configured digest without an
 * early exit, so neither the length nor the content of a token leaks through
 * timing.
 *
 *   scope    no token of the scope      tokens of the scope configured
 *   open     open                       open (health, readiness, metrics)
 *   infer    open                       an inference or the admin token
 *   admin    403 "admin API disabled"   the admin token only
 */
#ifndef ENCORE_AUTH_H
#define ENCORE_AUTH_H

#include "config.h"
#include "core/err.h"

struct auth;

enum auth_result {
    AUTH_OK = 0,
    AUTH_MISSING = 1,  /* no (or a non-Bearer) Authorization header: 401 */
    AUTH_WRONG = 2,    /* a token that is not valid for the scope: 403 */
    AUTH_DISABLED = 3, /* admin scope without an admin token configured: 403 */
};

/* Read the token files and environment named by `c`. A file that cannot be
 * read, an empty file, or a token with characters outside RFC 6750's
 * b64token set fails with a message naming the file and line. On success
 * *out is caller-owned (auth_free). */
int auth_load(const struct config *c, struct auth **out, enc_err *err);
void auth_free(struct auth *a); /* NULL ok */

/* Check an Authorization header value (may be NULL) for a route scope
 * (enum route_scope in server.h: 0 open, 1 infer, 2 admin). Thread-safe. */
enum auth_result auth_check(const struct auth *a, int scope, const char *authorization);

/* Counts of configured tokens (for the startup log and /metrics). */
int auth_infer_tokens(const struct auth *a);
int auth_admin_tokens(const struct auth *a);

#endif
