/*
 * store_redis_int.h - the Redis store's connections (store_redis_conn.c),
 * private to store_redis.c: the server's address, a pool of at most
 * POOL_MAX hiredis connections that fails fast for 200 ms after a failed
 * connect, commands and scripts on them, and their errors.
 */
#ifndef ENCORE_EVENTS_STORE_REDIS_INT_H
#define ENCORE_EVENTS_STORE_REDIS_INT_H

#include <hiredis/hiredis.h>
#include <pthread.h>

#include "core/err.h"

#define POOL_MAX 16

struct rd {
    char host[256];
    int port, db;
    struct timeval timeout;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    redisContext *idle[POOL_MAX];
    int n_idle, n_open;
    double down_until; /* monotonic: fail fast until then */
    char append_sha[41], erase_sha[41], trim_sha[41], count_sha[41];
    /* the change-feed watcher */
    pthread_t watcher;
    int have_watcher, stop;
    /* the writer thread and its queue (store_redis.c: appends off the caller's thread) */
    pthread_t writer;
    int have_writer, wstop;
    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    struct evbatch *qhead, *qtail;
};

/* Monotonic seconds. */
double rd_mono(void);

/* r's host, port and database from "redis://HOST[:PORT][/DB]". 0 or ENC_EINVAL. */
int rd_parse_url(struct rd *r, const char *url, enc_err *err);

/* A new connection (with `timeout` for its commands), or NULL with ENC_EBUSY. */
redisContext *rd_connect(struct rd *r, const struct timeval *timeout, enc_err *err);

/* A connection from the pool (or a new one); NULL with ENC_EBUSY. */
redisContext *rd_take(struct rd *r, enc_err *err);

/* Return a connection; a broken one is closed, and so are the idle ones. */
void rd_give(struct rd *r, redisContext *c);

/* A read-only command, retried once on a fresh connection when the pooled
 * one is dead. *cp gets the connection the reply came on (rd_give it back);
 * NULL reply with *cp NULL: no connection could be had (err says why). */
redisReply *rd_read_cmd(struct rd *r, redisContext **cp, enc_err *err, const char *fmt, ...);

/* A reply that is an error or missing: ENC_EBUSY for a lost connection,
 * ENC_EIO for an error reply. Returns the code. */
int rd_reply_err(struct rd *r, redisContext *c, redisReply *rep, const char *what, enc_err *err);

/* Run a script by its digest, loading it on NOSCRIPT (a restarted Redis);
 * argv[0..2] / lens[0..2] are filled here, the script's arguments follow. */
redisReply *rd_run_script(redisContext *c, const char *src, char sha[41], int argc,
                          const char **argv, size_t *lens);

/* The SHA-1 of a script's source, as EVALSHA wants it (40 hex digits). */
void rd_script_sha(const char *src, char out[41]);

#endif
