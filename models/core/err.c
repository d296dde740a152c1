/* err.c - error codes, messages and their HTTP statuses (see err.h). */
#include "core/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int enc_errf(enc_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        err->code = code;
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return code;
}

int enc_err_prefix(enc_err *err, const char *fmt, ...)
{
    if (!err)
        return 0;
    char prefix[256], old[ENC_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(old, err->msg, sizeof old);
    /* Truncation is fine here: the message stays NUL-terminated. */
    size_t n = strlen(prefix);
    if (n > sizeof err->msg - 3)
        n = sizeof err->msg - 3;
    memcpy(err->msg, prefix, n);
    memcpy(err->msg + n, ": ", 2);
    size_t rest = sizeof err->msg - n - 3;
    size_t olen = strnlen(old, rest);
    memcpy(err->msg + n + 2, old, olen);
    err->msg[n + 2 + olen] = '\0';
    return err->code;
}

const char *enc_strerror(int code)
{
    switch (code) {
#define ENC__NAME(c, value, name, http)                                                            \
    case value:                                                                                    \
        return name;
        ENC_ERRORS(ENC__NAME)
#undef ENC__NAME
    }
    return "unknown error";
}

int enc_http_status(int code)
{
    switch (code) {
#define ENC__HTTP(c, value, name, http)                                                            \
    case value:                                                                                    \
        return http;
        ENC_ERRORS(ENC__HTTP)
#undef ENC__HTTP
    }
    return 500;
}
