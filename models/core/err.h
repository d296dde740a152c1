/*
 * err.h - the one error convention used everywhere in Encore.
 *
 * Functions return 0 on success or a negative ENC_E* code. Callers that want
 * a human message pass an `enc_err` they own; it may be NULL. The X-macro
 * table below is the single place that maps a code to its name and to the
 * HTTP status the server answers with, so the HTTP layer maps errors in one
 * place (as libuv's error map does).
 */
#ifndef ENCORE_ERR_H
#define ENCORE_ERR_H

#include <stddef.h>

/* clang-format off */
/*    code          value  name              http */
#define ENC_ERRORS(X)                                   \
    X(ENC_OK,           0, "ok",                 200)   \
    X(ENC_EINVAL,      -1, "invalid argument",   400)   \
    X(ENC_ENOMEM,      -2, "out of memory",      500)   \
    X(ENC_EIO,         -3, "i/o error",          500)   \
    X(ENC_EFORMAT,     -4, "malformed data",     400)   \
    X(ENC_ENOTFOUND,   -5, "not found",          404)   \
    X(ENC_ERANGE,      -6, "out of range",       400)   \
    X(ENC_EUNSUPPORTED,-7, "unsupported",        400)   \
    X(ENC_ETOOLARGE,   -8, "too large",          413)   \
    X(ENC_EBUSY,       -9, "busy",               503)   \
    X(ENC_EMETHOD,    -10, "method not allowed", 405)   \
    X(ENC_EMEDIA,     -11, "unsupported media",  415)   \
    X(ENC_EAUTH,      -12, "unauthorized",       401)   \
    X(ENC_EFORBIDDEN, -13, "forbidden",          403)   \
    X(ENC_ECHECKSUM,  -14, "checksum mismatch",  500)   \
    X(ENC_EINTERNAL,  -15, "internal error",     500)
/* clang-format on */

enum enc_code {
#define ENC__ENUM(code, value, name, http) code = value,
    ENC_ERRORS(ENC__ENUM)
#undef ENC__ENUM
};

#define ENC_ERR_MSG_MAX 512

/* Caller-owned error detail. `msg` is always NUL-terminated. */
typedef struct enc_err {
    int code;
    char msg[ENC_ERR_MSG_MAX];
} enc_err;

/* Record `code` and a printf-style message in `err` (if non-NULL).
 * Returns `code`, so callers can write `return enc_errf(err, ENC_EINVAL, ...)`. */
int enc_errf(enc_err *err, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Prefix the existing message with "prefix: " (e.g. a file name). Returns err->code. */
int enc_err_prefix(enc_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Static name of a code ("invalid argument"); "unknown error" for others. */
const char *enc_strerror(int code);

/* HTTP status for a code (500 for unknown codes). */
int enc_http_status(int code);

#endif
