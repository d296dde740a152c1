/*
 * store_redis_conn.c - the Redis store's connections (store_redis_int.h):
 * parsing redis:// addresses, the pool, commands retried on a dead pooled
 * connection, error replies and scripts run by digest.
 */
#include <gnutls/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events/store_redis_int.h"

double rd_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int rd_parse_url(struct rd *r, const char *url, enc_err *err)
{
    const char *p = url + 8; /* after redis:// */
    const char *colon = strchr(p, ':'), *slash = strchr(p, '/');
    size_t hl = colon ? (size_t)(colon - p) : slash ? (size_t)(slash - p) : strlen(p);
    if (hl == 0 || hl >= sizeof r->host)
        return enc_errf(err, ENC_EINVAL, "events: '%s': expected redis://HOST:PORT[/DB]", url);
    memcpy(r->host, p, hl);
    r->host[hl] = '\0';
    r->port = 6379;
    r->db = 0;
    if (colon && (!slash || colon < slash)) {
        char *end;
        long port = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || port < 1 || port > 65535 || (*end && *end != '/'))
            return enc_errf(err, ENC_EINVAL, "events: '%s': bad port", url);
        r->port = (int)port;
    }
    if (slash && slash[1]) {
        char *end;
        long db = strtol(slash + 1, &end, 10);
        if (end == slash + 1 || *end || db < 0 || db > 1000)
            return enc_errf(err, ENC_EINVAL, "events: '%s': bad database number", url);
        r->db = (int)db;
    }
    return 0;
}

redisContext *rd_connect(struct rd *r, const struct timeval *timeout, enc_err *err)
{
    redisContext *c = redisConnectWithTimeout(r->host, r->port, r->timeout);
    if (!c || c->err) {
        enc_errf(err, ENC_EBUSY, "event store redis://%s:%d unavailable: %s", r->host, r->port,
                 c ? c->errstr : "out of memory");
        if (c)
            redisFree(c);
        return NULL;
    }
    redisSetTimeout(c, *timeout);
    if (r->db) {
        redisReply *rep = redisCommand(c, "SELECT %d", r->db);
        int ok = rep && rep->type == REDIS_REPLY_STATUS;
        if (rep)
            freeReplyObject(rep);
        if (!ok) {
            enc_errf(err, ENC_EBUSY, "event store redis://%s:%d: SELECT %d failed", r->host,
                     r->port, r->db);
            redisFree(c);
            return NULL;
        }
    }
    return c;
}

/* A connection from the pool (or a new one); NULL with ENC_EBUSY. */
redisContext *rd_take(struct rd *r, enc_err *err)
{
    pthread_mutex_lock(&r->lock);
    for (;;) {
        if (r->n_idle > 0) {
            redisContext *c = r->idle[--r->n_idle];
            pthread_mutex_unlock(&r->lock);
            return c;
        }
        if (rd_mono() < r->down_until) {
            pthread_mutex_unlock(&r->lock);
            enc_errf(err, ENC_EBUSY, "event store redis://%s:%d unavailable (unreachable)", r->host,
                     r->port);
            return NULL;
        }
        if (r->n_open < POOL_MAX)
            break;
        pthread_cond_wait(&r->cond, &r->lock);
    }
    r->n_open++;
    pthread_mutex_unlock(&r->lock);
    redisContext *c = rd_connect(r, &r->timeout, err);
    if (!c) {
        pthread_mutex_lock(&r->lock);
        r->n_open--;
        r->down_until = rd_mono() + 0.2;
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&r->lock);
    }
    return c;
}

/* Return a connection; a broken one is closed, and so are the idle ones:
 * when one connection breaks (Redis restarted or went away) the others
 * almost surely have too, and each would fail one more request. */
void rd_give(struct rd *r, redisContext *c)
{
    pthread_mutex_lock(&r->lock);
    if (c->err) {
        redisFree(c);
        r->n_open--;
        for (int i = 0; i < r->n_idle; i++)
            redisFree(r->idle[i]);
        r->n_open -= r->n_idle;
        r->n_idle = 0;
    } else {
        r->idle[r->n_idle++] = c;
    }
    pthread_cond_signal(&r->cond);
    pthread_mutex_unlock(&r->lock);
}

/* A read-only command on a pooled connection, retried once on a fresh one
 * when the pooled one turns out to be dead (a restarted Redis): reads are
 * safe to repeat. *cp gets the connection the reply came on (give it back);
 * NULL reply with *cp NULL: no connection could be had (err says why). */
redisReply *rd_read_cmd(struct rd *r, redisContext **cp, enc_err *err, const char *fmt, ...)
{
    redisReply *rep = NULL;
    *cp = NULL;
    for (int attempt = 0; attempt < 2; attempt++) {
        redisContext *c = rd_take(r, err);
        if (!c)
            return NULL;
        va_list ap;
        va_start(ap, fmt);
        rep = redisvCommand(c, fmt, ap);
        va_end(ap);
        if (rep || attempt == 1) {
            *cp = c;
            return rep;
        }
        rd_give(r, c); /* dead: closed, with the idle ones */
    }
    return NULL;
}

/* A reply that is an error or missing: ENC_EBUSY for a lost connection,
 * ENC_EIO for an error reply. */
int rd_reply_err(struct rd *r, redisContext *c, redisReply *rep, const char *what, enc_err *err)
{
    if (!rep)
        return enc_errf(err, ENC_EBUSY, "event store redis://%s:%d unavailable (%s): %s", r->host,
                        r->port, what, c->errstr[0] ? c->errstr : "connection lost");
    return enc_errf(err, ENC_EIO, "event store redis://%s:%d: %s: %.*s", r->host, r->port, what,
                    (int)(rep->len > 200 ? 200 : rep->len), rep->str ? rep->str : "");
}

/* Run a script by its digest, loading it on NOSCRIPT (a restarted Redis). */
redisReply *rd_run_script(redisContext *c, const char *src, char sha[41], int argc,
                          const char **argv, size_t *lens)
{
    argv[0] = "EVALSHA";
    lens[0] = 7;
    argv[1] = sha;
    lens[1] = 40;
    argv[2] = "0";
    lens[2] = 1;
    redisReply *rep = redisCommandArgv(c, argc, argv, lens);
    if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(rep);
        argv[0] = "EVAL";
        lens[0] = 4;
        argv[1] = src;
        lens[1] = strlen(src);
        rep = redisCommandArgv(c, argc, argv, lens);
    }
    return rep;
}

/* EVALSHA needs the script's SHA-1 (GnuTLS computes it). */
void rd_script_sha(const char *src, char out[41])
{
    unsigned char dig[20];
    gnutls_hash_fast(GNUTLS_DIG_SHA1, src, strlen(src), dig);
    for (int i = 0; i < 20; i++)
        snprintf(out + 2 * i, 3, "%02x", dig[i]);
}
