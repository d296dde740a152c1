/*
 * store_redis.c - the event store in a Redis server shared by every replica
 * (hiredis, synchronous, a small pool of connections: store_redis_conn.c).
 * Appends go through a writer thread (the caller never waits for Redis),
 * which pipelines the scripts of every request queued meanwhile.
 *
 * Keys (P = "encore:"):
 *   P u:USER      list, newest first: "SEQ\tRECV\tITEM\t" + record (store_int.h);
 *                 at most user_cap entries; expires retention after its last write
 *   P i:ITEM      list, the same strings for the item's events (newest 1,000)
 *   P id:ID       client event ids (SET NX EX retention): dedup
 *   P users       set of users with a list        P nevents  events kept
 *   P items_ev    set of items that have had events
 *   P seq         last sequence number            P meta     hash: id
 *   P tomb        hash user -> erasure time       P items    hash item -> JSON
 *   P rec:RID     hash type -> count (expires retention after its last update)
 *   P chg         stream of changes ("u" USER / "i" ITEM pairs), ~100,000 long
 *
 * Ids never contain control characters (ev_id_problem), so TAB separates the
 * prefix fields and the Lua scripts can read a stored string's item and
 * receive time without decoding the record.
 *
 * Every append and erasure is one Lua script, which Redis runs atomically:
 * other clients see all of a request or none of it. With `appendfsync
 * always` Redis writes and fsyncs the AOF before it answers (batching the
 * clients of one event-loop turn: group commit), so an acknowledged event
 * survives a crash of Redis or its machine; see docs/events.md.
 *
 * Changes reach other replicas through P chg: a watcher thread per store
 * follows it with XREAD BLOCK and calls the evstore_watch callback. After a
 * lost connection it announces EV_CHANGE_RESYNC (changes may have been
 * missed) and follows the stream from its current end; so does a replica
 * that fell so far behind that entries it had not read were trimmed away
 * (the stream keeps ~100,000; stream_gap).
 *
 * While Redis is unreachable every call fails fast with ENC_EBUSY: a failed
 * connect is not retried for 200 ms, so requests do not each wait a timeout.
 */
#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "events/store_int.h"
#include "events/store_redis_int.h"

#define P "encore:"
#define ITEM_CAP 1000
#define CHG_MAXLEN "100000"

/* ---- the scripts ------------------------------------------------------ */
/* clang-format off */

/* Shared: parse a stored string's receive time and item. */
#define LUA_PARSE                                                                  \
    "local P = '" P "'\n"                                                          \
    "local function parse(v)\n"                                                    \
    "  local s, r, it = string.match(v, '^(%d+)\\t(%d+)\\t([^\\t]*)\\t')\n"       \
    "  return tonumber(r), it\n"                                                   \
    "end\n"                                                                        \
    "local function drop(v)\n"                                                     \
    "  local r, it = parse(v)\n"                                                   \
    "  if it then redis.call('LREM', P .. 'i:' .. it, 1, v) end\n"                 \
    "end\n"

/* ARGV: now, retention seconds, user cap, item cap, n, then per event
 * user, item, id, rec_id, type, record. Returns {accepted, duplicates}.
 * The events are grouped by user, by item and by recommendation, so a key
 * gets one LPUSH (of all its events, oldest first), one EXPIRE and, past
 * its cap, one trim per request, and the sets one SADD each: every write is also an AOF
 * entry, and per event the script did ten. Items go first: a user's cap
 * below removes its dropped events from their items' lists (drop). */
static const char append_lua[] = LUA_PARSE
    "local now, ret = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local ucap, icap, n = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])\n"
    "local dup, nd, seen = {}, 0, {}\n"
    "for i = 0, n - 1 do\n"
    "  local id = ARGV[6 + i * 6 + 2]\n"
    "  if id ~= '' then\n"
    "    if seen[id] or redis.call('EXISTS', P .. 'id:' .. id) == 1 then\n"
    "      dup[i] = true; nd = nd + 1\n"
    "    else seen[id] = true end\n"
    "  end\n"
    "end\n"
    "local acc = n - nd\n"
    "if acc == 0 then return {0, nd} end\n"
    "local seq = redis.call('INCRBY', P .. 'seq', acc) - acc\n"
    "local cutoff, removed, chg = now - ret, 0, {}\n"
    "local us, ul, is, il, rs, rl = {}, {}, {}, {}, {}, {}\n"
    "local function add(order, lists, k, v)\n"
    "  local t = lists[k]\n"
    "  if not t then t = {}; lists[k] = t; order[#order + 1] = k end\n"
    "  t[#t + 1] = v\n"
    "end\n"
    "for i = 0, n - 1 do\n"
    "  if not dup[i] then\n"
    "    local b = 6 + i * 6\n"
    "    local user, item, id, rec, typ = ARGV[b], ARGV[b + 1], ARGV[b + 2], ARGV[b + 3], ARGV[b + 4]\n"
    "    seq = seq + 1\n"
    "    local v = seq .. '\\t' .. now .. '\\t' .. item .. '\\t' .. ARGV[b + 5]\n"
    "    if id ~= '' then redis.call('SET', P .. 'id:' .. id, seq, 'EX', ret) end\n"
    "    add(us, ul, user, v)\n"
    "    add(is, il, item, v)\n"
    "    if rec ~= '' then add(rs, rl, rec, typ) end\n"
    "  end\n"
    "end\n"
    /* variadic calls in chunks: unpack has a limit */
    "local function each(cmd, k, t)\n"
    "  local r = 0\n"
    "  for j = 1, #t, 1000 do r = redis.call(cmd, k, unpack(t, j, math.min(j + 999, #t))) end\n"
    "  return r\n"
    "end\n"
    "for _, item in ipairs(is) do\n"
    "  local ik = P .. 'i:' .. item\n"
    "  if each('LPUSH', ik, il[item]) > icap then redis.call('LTRIM', ik, 0, icap - 1) end\n"
    "  redis.call('EXPIRE', ik, ret)\n"
    "  chg[#chg + 1] = 'i'; chg[#chg + 1] = item\n"
    "end\n"
    "each('SADD', P .. 'items_ev', is)\n"
    "for _, user in ipairs(us) do\n"
    "  local uk = P .. 'u:' .. user\n"
    "  local len = each('LPUSH', uk, ul[user])\n"
    "  redis.call('EXPIRE', uk, ret)\n"
    "  while len > ucap do\n"
    "    drop(redis.call('RPOP', uk)); len = len - 1; removed = removed + 1\n"
    "  end\n"
    "  while len > 1 do\n"
    "    local old = redis.call('LINDEX', uk, -1)\n"
    "    local r = parse(old)\n"
    "    if not r or r >= cutoff then break end\n"
    "    redis.call('RPOP', uk); drop(old); len = len - 1; removed = removed + 1\n"
    "  end\n"
    "  chg[#chg + 1] = 'u'; chg[#chg + 1] = user\n"
    "end\n"
    "each('SADD', P .. 'users', us)\n"
    "for _, rec in ipairs(rs) do\n"
    "  local rk, cnt, types = P .. 'rec:' .. rec, {}, {}\n"
    "  for _, typ in ipairs(rl[rec]) do\n"
    "    if not cnt[typ] then cnt[typ] = 0; types[#types + 1] = typ end\n"
    "    cnt[typ] = cnt[typ] + 1\n"
    "  end\n"
    "  for _, typ in ipairs(types) do redis.call('HINCRBY', rk, typ, cnt[typ]) end\n"
    "  redis.call('EXPIRE', rk, ret)\n"
    "end\n"
    "redis.call('INCRBY', P .. 'nevents', acc - removed)\n"
    "redis.call('XADD', P .. 'chg', 'MAXLEN', '~', " CHG_MAXLEN ", '*', unpack(chg))\n"
    "return {acc, nd}\n";

/* ARGV: user, now. Returns the number of events removed. */
static const char erase_lua[] = LUA_PARSE
    "local user, now = ARGV[1], ARGV[2]\n"
    "local uk = P .. 'u:' .. user\n"
    "local all = redis.call('LRANGE', uk, 0, -1)\n"
    "local chg, cseen = {'u', user}, {}\n"
    "for _, v in ipairs(all) do\n"
    "  local r, it = parse(v)\n"
    "  if it then\n"
    "    redis.call('LREM', P .. 'i:' .. it, 0, v)\n"
    "    if not cseen[it] then cseen[it] = true; chg[#chg + 1] = 'i'; chg[#chg + 1] = it end\n"
    "  end\n"
    "end\n"
    "redis.call('DEL', uk)\n"
    "redis.call('SREM', P .. 'users', user)\n"
    "redis.call('HSET', P .. 'tomb', user, now)\n"
    "if #all > 0 then redis.call('DECRBY', P .. 'nevents', #all) end\n"
    "redis.call('XADD', P .. 'chg', 'MAXLEN', '~', " CHG_MAXLEN ", '*', unpack(chg))\n"
    "return #all\n";

/* ARGV: user, cutoff. Drops the user's events received before cutoff.
 * Returns the number removed. */
static const char trim_lua[] = LUA_PARSE
    "local user, cutoff = ARGV[1], tonumber(ARGV[2])\n"
    "local uk = P .. 'u:' .. user\n"
    "local removed = 0\n"
    "while true do\n"
    "  local old = redis.call('LINDEX', uk, -1)\n"
    "  if not old then break end\n"
    "  local r = parse(old)\n"
    "  if r and r >= cutoff then break end\n"
    "  redis.call('RPOP', uk); drop(old); removed = removed + 1\n"
    "end\n"
    "if redis.call('EXISTS', uk) == 0 then redis.call('SREM', P .. 'users', user) end\n"
    "if removed > 0 then\n"
    "  redis.call('DECRBY', P .. 'nevents', removed)\n"
    "  redis.call('XADD', P .. 'chg', 'MAXLEN', '~', " CHG_MAXLEN ", '*', 'u', user)\n"
    "end\n"
    "return removed\n";
/* clang-format on */

/* ARGV: retention seconds, n, then per count key, field, member. A counter
 * set is a hash (x:KEY); a counter of distinct members keeps them in a set
 * (xm:KEY\0FIELD) and counts a member the first time SADD adds it. */
static const char count_lua[] =
    "local ret, n = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "for i = 0, n - 1 do\n"
    "  local key, field, member = ARGV[3 + i * 3], ARGV[4 + i * 3], ARGV[5 + i * 3]\n"
    "  local add = 1\n"
    "  if member ~= '' then\n"
    "    local mk = '" P "xm:' .. key .. '\\0' .. field\n"
    "    add = redis.call('SADD', mk, member)\n"
    "    redis.call('EXPIRE', mk, ret)\n"
    "  end\n"
    "  if add == 1 then redis.call('HINCRBY', '" P "x:' .. key, field, 1) end\n"
    "  redis.call('EXPIRE', '" P "x:' .. key, ret)\n"
    "end\n"
    "return n\n";

/* ---- open / close, the watcher ---------------------------------------- */

static void *watcher_main(void *arg);
static void *writer_main(void *arg);

static int rd_open(struct evstore *s, enc_err *err)
{
    struct rd *r = calloc(1, sizeof *r);
    if (!r)
        return enc_errf(err, ENC_ENOMEM, "out of memory");
    int rc = rd_parse_url(r, s->location, err);
    if (rc) {
        free(r);
        return rc;
    }
    r->timeout.tv_sec = s->opt.timeout_ms / 1000;
    r->timeout.tv_usec = (s->opt.timeout_ms % 1000) * 1000;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->cond, NULL);
    rd_script_sha(append_lua, r->append_sha);
    rd_script_sha(erase_lua, r->erase_sha);
    rd_script_sha(trim_lua, r->trim_sha);
    rd_script_sha(count_lua, r->count_sha);
    pthread_mutex_init(&r->qlock, NULL);
    pthread_cond_init(&r->qcond, NULL);
    s->impl = r;
    if (!s->opt.read_only) {
        if (pthread_create(&r->writer, NULL, writer_main, s) != 0) {
            pthread_mutex_destroy(&r->lock);
            pthread_cond_destroy(&r->cond);
            pthread_mutex_destroy(&r->qlock);
            pthread_cond_destroy(&r->qcond);
            free(r);
            s->impl = NULL;
            return enc_errf(err, ENC_EIO, "event store %s: cannot start the writer thread",
                            s->location);
        }
        r->have_writer = 1;
        if (pthread_create(&r->watcher, NULL, watcher_main, s) == 0)
            r->have_watcher = 1;
    }
    return 0;
}

static void rd_close(struct evstore *s)
{
    struct rd *r = s->impl;
    if (!r)
        return;
    if (r->have_writer) {
        pthread_mutex_lock(&r->qlock);
        r->wstop = 1;
        pthread_cond_signal(&r->qcond);
        pthread_mutex_unlock(&r->qlock);
        pthread_join(r->writer, NULL); /* it answers what was queued first */
    }
    if (r->have_watcher) {
        __atomic_store_n(&r->stop, 1, __ATOMIC_RELAXED);
        pthread_join(r->watcher, NULL);
    }
    for (int i = 0; i < r->n_idle; i++)
        redisFree(r->idle[i]);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    pthread_mutex_destroy(&r->qlock);
    pthread_cond_destroy(&r->qcond);
    free(r);
}

/* Announce the pairs ("u"|"i", id) of one stream entry. */
static void announce_entry(struct evstore *s, const redisReply *fields)
{
    if (!fields || fields->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i + 1 < fields->elements; i += 2) {
        const redisReply *k = fields->element[i], *v = fields->element[i + 1];
        if (k->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING || k->len != 1)
            continue;
        evstore__changed(s, k->str[0] == 'u' ? EV_CHANGE_USER : EV_CHANGE_ITEM, v->str, v->len);
    }
}

/* Compare two stream ids "MS-SEQ" (-1, 0, 1). */
static int id_cmp(const char *a, const char *b)
{
    unsigned long long am = 0, as = 0, bm = 0, bs = 0;
    sscanf(a, "%llu-%llu", &am, &as);
    sscanf(b, "%llu-%llu", &bm, &bs);
    return am != bm ? (am < bm ? -1 : 1) : as != bs ? (as < bs ? -1 : 1) : 0;
}

/* 1 if entries after `last` may have been trimmed away before this replica
 * read them: the stream's oldest entry is newer than `last` (trimming drops
 * the oldest first, so while `last` is still there nothing after it is
 * gone). 0 otherwise, or when it cannot tell (then the next batch asks). */
static int stream_gap(redisContext *c, const char *last)
{
    if (!strcmp(last, "0-0"))
        return 0; /* the stream was empty when followed: everything is still there */
    redisReply *rep = redisCommand(c, "XRANGE " P "chg - + COUNT 1");
    int gap = rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
              rep->element[0]->type == REDIS_REPLY_ARRAY && rep->element[0]->elements == 2 &&
              rep->element[0]->element[0]->type == REDIS_REPLY_STRING &&
              id_cmp(rep->element[0]->element[0]->str, last) > 0;
    if (rep)
        freeReplyObject(rep);
    return gap;
}

static void *watcher_main(void *arg)
{
    struct evstore *s = arg;
    struct rd *r = s->impl;
    redisContext *c = NULL;
    char last[64] = "$";
    struct timeval tv = r->timeout;
    tv.tv_sec += 1; /* the BLOCK time on top of the command timeout */
    while (!__atomic_load_n(&r->stop, __ATOMIC_RELAXED)) {
        if (!c) {
            if (!(c = rd_connect(r, &tv, NULL))) {
                struct timespec ts = {0, 200 * 1000 * 1000};
                nanosleep(&ts, NULL);
                continue;
            }
            /* from the stream's current end; what came before is unknown */
            redisReply *rep = redisCommand(c, "XREVRANGE " P "chg + - COUNT 1");
            if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
                rep->element[0]->elements == 2 && rep->element[0]->element[0]->len < sizeof last)
                snprintf(last, sizeof last, "%s", rep->element[0]->element[0]->str);
            else
                snprintf(last, sizeof last, "0-0");
            if (rep)
                freeReplyObject(rep);
            if (c->err) {
                redisFree(c);
                c = NULL;
                continue;
            }
            evstore__changed(s, EV_CHANGE_RESYNC, NULL, 0);
        }
        redisReply *rep = redisCommand(c, "XREAD COUNT 1000 BLOCK 250 STREAMS " P "chg %s", last);
        if (!rep || c->err) {
            if (rep)
                freeReplyObject(rep);
            redisFree(c);
            c = NULL;
            continue;
        }
        /* [[stream, [[id, [f, v, ...]], ...]]] or nil on timeout */
        if (rep->type == REDIS_REPLY_ARRAY && rep->elements == 1 &&
            rep->element[0]->elements == 2) {
            const redisReply *entries = rep->element[0]->element[1];
            char before[64];
            memcpy(before, last, sizeof before);
            for (size_t i = 0; i < entries->elements; i++) {
                const redisReply *e = entries->element[i];
                if (e->type != REDIS_REPLY_ARRAY || e->elements != 2)
                    continue;
                announce_entry(s, e->element[1]);
                if (e->element[0]->len < sizeof last)
                    snprintf(last, sizeof last, "%s", e->element[0]->str);
            }
            /* fell more than the stream's length behind: some changes were
             * never seen, so forget everything as after a lost connection */
            if (entries->elements && stream_gap(c, before))
                evstore__changed(s, EV_CHANGE_RESYNC, NULL, 0);
        }
        freeReplyObject(rep);
    }
    if (c)
        redisFree(c);
    return NULL;
}

/* ---- appends ---------------------------------------------------------- */

static void rd_counts(struct evstore *s, struct evbatch *b)
{
    struct rd *r = s->impl;
    size_t argc = 3 + 2 + 3 * b->n_counts;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    char nums[2][32];
    redisContext *c = NULL;
    if (!argv || !lens) {
        b->res.code = enc_errf(&b->res.err, ENC_ENOMEM, "out of memory");
        goto out;
    }
    snprintf(nums[0], 32, "%lld", (long long)s->opt.retention_days * 86400);
    snprintf(nums[1], 32, "%zu", b->n_counts);
    for (int i = 0; i < 2; i++) {
        argv[3 + i] = nums[i];
        lens[3 + i] = strlen(nums[i]);
    }
    for (size_t i = 0; i < b->n_counts; i++) {
        const struct evstore_count *k = &b->counts[i];
        argv[5 + 3 * i] = k->key, lens[5 + 3 * i] = k->key_len;
        argv[6 + 3 * i] = k->field, lens[6 + 3 * i] = k->field_len;
        argv[7 + 3 * i] = k->member, lens[7 + 3 * i] = k->member_len;
    }
    if (!(c = rd_take(r, &b->res.err))) {
        b->res.code = ENC_EBUSY;
        goto out;
    }
    redisReply *rep = rd_run_script(c, count_lua, r->count_sha, (int)argc, argv, lens);
    if (!rep || rep->type != REDIS_REPLY_INTEGER)
        b->res.code = rd_reply_err(r, c, rep, "count", &b->res.err);
    if (rep)
        freeReplyObject(rep);
out:
    if (c)
        rd_give(r, c);
    free(argv);
    free(lens);
    evbatch_finish(b);
}

/* The append script's arguments for b (argv[0..2] are rd_run_script's).
 * 0 or ENC_ENOMEM; the caller frees *argv and *lens. */
static int append_args(struct evstore *s, struct evbatch *b, char nums[5][32], const char ***argvp,
                       size_t **lensp, size_t *argcp)
{
    size_t argc = 3 + 5 + 6 * b->n;
    const char **argv = malloc(argc * sizeof *argv);
    size_t *lens = malloc(argc * sizeof *lens);
    *argvp = argv;
    *lensp = lens;
    *argcp = argc;
    if (!argv || !lens)
        return ENC_ENOMEM;
    snprintf(nums[0], 32, "%lld", (long long)b->now);
    snprintf(nums[1], 32, "%lld", (long long)s->opt.retention_days * 86400);
    snprintf(nums[2], 32, "%lld", (long long)s->opt.user_cap);
    snprintf(nums[3], 32, "%d", ITEM_CAP);
    snprintf(nums[4], 32, "%zu", b->n);
    for (int i = 0; i < 5; i++) {
        argv[3 + i] = nums[i];
        lens[3 + i] = strlen(nums[i]);
    }
    for (size_t i = 0; i < b->n; i++) {
        const struct ev_event *e = &b->ev[i];
        const char **a = argv + 8 + 6 * i;
        size_t *l = lens + 8 + 6 * i;
        a[0] = e->user, l[0] = e->user_len;
        a[1] = e->item, l[1] = e->item_len;
        a[2] = e->id_len ? e->id : "", l[2] = e->id_len;
        a[3] = e->rec_len ? e->rec_id : "", l[3] = e->rec_len;
        a[4] = e->type, l[4] = e->type_len;
        a[5] = (const char *)b->rec[i], l[5] = b->rec_len[i];
    }
    argv[0] = "EVALSHA", lens[0] = 7;
    argv[2] = "0", lens[2] = 1;
    return 0;
}

/* The script's reply into b->res (NOSCRIPT: run again, loading it). */
static void append_reply(struct evstore *s, redisContext *c, struct evbatch *b, redisReply *rep,
                         const char **argv, size_t *lens, size_t argc)
{
    struct rd *r = s->impl;
    if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(rep); /* nothing ran: a restarted Redis lost its scripts */
        rep = rd_run_script(c, append_lua, r->append_sha, (int)argc, argv, lens);
    }
    if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2) {
        b->res.code = rd_reply_err(r, c, rep, "append", &b->res.err);
    } else {
        b->res.accepted = (size_t)rep->element[0]->integer;
        b->res.duplicates = (size_t)rep->element[1]->integer;
    }
    if (rep)
        freeReplyObject(rep);
}

/* Answer b; on success this replica sees its own write at once. */
static void append_done(struct evstore *s, struct evbatch *b)
{
    if (b->res.code == 0)
        for (size_t i = 0; i < b->n; i++) {
            evstore__changed(s, EV_CHANGE_USER, b->ev[i].user, b->ev[i].user_len);
            evstore__changed(s, EV_CHANGE_ITEM, b->ev[i].item, b->ev[i].item_len);
        }
    evbatch_finish(b);
}

/* The writer's group: every queued request's script in one pipeline on one
 * connection (each request stays one atomic script; Redis runs them in one
 * turn of its event loop and, with appendfsync always, fsyncs the AOF once
 * before it answers them), each answered when its reply has come; then the
 * counter batches; then the flushes (empty batches), which only wait for
 * what came before them. */
static void append_group(struct evstore *s, struct evbatch *list)
{
    struct rd *r = s->impl;
    size_t n = 0;
    for (struct evbatch *b = list; b; b = b->next)
        n += b->n > 0;
    struct evbatch **ev = calloc(n ? n : 1, sizeof *ev);
    const char ***argv = calloc(n ? n : 1, sizeof *argv);
    size_t **lens = calloc(n ? n : 1, sizeof *lens), *argc = calloc(n ? n : 1, sizeof *argc);
    char(*nums)[5][32] = calloc(n ? n : 1, sizeof *nums);
    int oom = !ev || !argv || !lens || !argc || !nums;
    size_t k = 0;
    struct evbatch *rest = NULL, **rest_end = &rest, *flushes = NULL, **flush_end = &flushes;
    for (struct evbatch *b = list, *next; b; b = next) {
        next = b->next;
        b->next = NULL;
        if (b->n > 0 && !oom) {
            ev[k++] = b;
        } else if (b->n > 0 || b->n_counts) {
            *rest_end = b;
            rest_end = &b->next;
        } else {
            *flush_end = b;
            flush_end = &b->next;
        }
    }
    redisContext *c = NULL;
    enc_err cerr = {0};
    if (k && !(c = rd_take(r, &cerr)))
        for (size_t i = 0; i < k; i++) {
            ev[i]->res.code = ENC_EBUSY;
            ev[i]->res.err = cerr;
        }
    size_t sent = 0;
    for (size_t i = 0; c && i < k; i++) {
        if (append_args(s, ev[i], nums[i], &argv[i], &lens[i], &argc[i]) != 0) {
            ev[i]->res.code = enc_errf(&ev[i]->res.err, ENC_ENOMEM, "out of memory");
            continue;
        }
        argv[i][1] = r->append_sha, lens[i][1] = 40;
        if (redisAppendCommandArgv(c, (int)argc[i], argv[i], lens[i]) != REDIS_OK) {
            ev[i]->res.code = enc_errf(&ev[i]->res.err, ENC_ENOMEM, "out of memory");
            free(argv[i]);
            argv[i] = NULL;
            continue;
        }
        sent++;
    }
    /* every reply of the pipeline first: a NOSCRIPT one is run again after */
    void **reps = sent ? calloc(k, sizeof *reps) : NULL;
    for (size_t i = 0; reps && i < k; i++)
        if (argv[i] && !ev[i]->res.code && redisGetReply(c, &reps[i]) != REDIS_OK)
            reps[i] = NULL;
    for (size_t i = 0; c && i < k; i++)
        if (argv[i] && !ev[i]->res.code) {
            if (!reps) /* out of memory: the connection is out of step, drop it */
                c->err = REDIS_ERR_OOM;
            append_reply(s, c, ev[i], reps ? reps[i] : NULL, argv[i], lens[i], argc[i]);
        }
    free(reps);
    if (c)
        rd_give(r, c);
    for (size_t i = 0; i < k; i++) {
        free(argv[i]);
        free(lens[i]);
        append_done(s, ev[i]);
    }
    free(ev);
    free(argv);
    free(lens);
    free(argc);
    free(nums);
    for (struct evbatch *b = rest, *next; b; b = next) { /* counters; events only without memory */
        next = b->next;
        if (b->n_counts) {
            rd_counts(s, b);
        } else {
            b->res.code = enc_errf(&b->res.err, ENC_ENOMEM, "out of memory");
            evbatch_finish(b);
        }
    }
    for (struct evbatch *b = flushes, *next; b; b = next) {
        next = b->next;
        evbatch_finish(b);
    }
}

static void *writer_main(void *arg)
{
    struct evstore *s = arg;
    struct rd *r = s->impl;
    pthread_mutex_lock(&r->qlock);
    for (;;) {
        while (!r->qhead && !r->wstop)
            pthread_cond_wait(&r->qcond, &r->qlock);
        if (!r->qhead)
            break;
        struct evbatch *group = r->qhead;
        r->qhead = r->qtail = NULL;
        pthread_mutex_unlock(&r->qlock);
        append_group(s, group);
        pthread_mutex_lock(&r->qlock);
    }
    pthread_mutex_unlock(&r->qlock);
    return NULL;
}

/* Queue b for the writer thread: the caller (an HTTP thread) never waits
 * for Redis. */
static void rd_append(struct evstore *s, struct evbatch *b)
{
    struct rd *r = s->impl;
    if (!r->have_writer) {
        b->res.code = enc_errf(&b->res.err, ENC_EUNSUPPORTED, "event store opened read-only");
        evbatch_finish(b);
        return;
    }
    b->next = NULL;
    pthread_mutex_lock(&r->qlock);
    if (r->qtail)
        r->qtail->next = b;
    else
        r->qhead = b;
    r->qtail = b;
    pthread_cond_signal(&r->qcond);
    pthread_mutex_unlock(&r->qlock);
}

/* ---- reads ------------------------------------------------------------ */

/* Decode a stored "SEQ\tRECV\tITEM\t" + record string. */
static int decode_stored(const char *s, size_t len, struct ev_event *e)
{
    uint64_t seq = 0;
    size_t i = 0;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        seq = seq * 10 + (uint64_t)(s[i++] - '0');
    int tabs = 0;
    while (i < len && tabs < 3)
        if (s[i++] == '\t')
            tabs++;
    if (tabs != 3 || evrec_decode((const unsigned char *)s + i, len - i, e) != 0)
        return ENC_EFORMAT;
    e->seq = seq;
    return 0;
}

static int visit_list(struct evstore *s, const char *kind, const char *id, size_t len, size_t limit,
                      evstore_event_fn fn, void *arg, enc_err *err)
{
    struct rd *r = s->impl;
    if (len == 0 || len > EV_ID_MAX)
        return 0;
    redisContext *c;
    char key[EV_ID_MAX + 16];
    int kl = snprintf(key, sizeof key, P "%s:", kind);
    memcpy(key + kl, id, len);
    redisReply *rep = rd_read_cmd(r, &c, err, "LRANGE %b 0 %lld", key, (size_t)kl + len,
                                  limit ? (long long)limit - 1 : -1LL);
    if (!c)
        return ENC_EBUSY;
    int rc = 0;
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        rc = rd_reply_err(r, c, rep, "read", err);
    } else {
        for (size_t i = 0; i < rep->elements; i++) {
            struct ev_event e;
            const redisReply *x = rep->element[i];
            if (x->type == REDIS_REPLY_STRING && decode_stored(x->str, x->len, &e) == 0 &&
                fn(arg, &e))
                break;
        }
    }
    if (rep)
        freeReplyObject(rep);
    rd_give(r, c);
    return rc;
}

static int rd_user_events(struct evstore *s, const char *user, size_t len, size_t limit,
                          evstore_event_fn fn, void *arg, enc_err *err)
{
    return visit_list(s, "u", user, len, limit, fn, arg, err);
}

static int rd_item_events(struct evstore *s, const char *item, size_t len, size_t limit,
                          evstore_event_fn fn, void *arg, enc_err *err)
{
    return visit_list(s, "i", item, len, limit, fn, arg, err);
}

/* SSCAN / HSCAN over a key: fn per element (set) or per field/value pair. */
typedef int (*scan_fn)(void *arg, const redisReply *a, const redisReply *b);
static int scan_key(struct evstore *s, const char *cmd, const char *key, int pairs, scan_fn fn,
                    void *arg, enc_err *err)
{
    struct rd *r = s->impl;
    redisContext *c = rd_take(r, err);
    if (!c)
        return ENC_EBUSY;
    char cursor[32] = "0";
    int rc = 0, stop = 0;
    do {
        redisReply *rep = redisCommand(c, "%s %s %s COUNT 500", cmd, key, cursor);
        if (!rep || rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
            rep->element[1]->type != REDIS_REPLY_ARRAY) {
            rc = rd_reply_err(r, c, rep, "scan", err);
            if (rep)
                freeReplyObject(rep);
            break;
        }
        snprintf(cursor, sizeof cursor, "%s", rep->element[0]->str);
        const redisReply *els = rep->element[1];
        size_t step = pairs ? 2 : 1;
        for (size_t i = 0; !stop && i + step <= els->elements; i += step)
            stop = fn(arg, els->element[i], pairs ? els->element[i + 1] : NULL);
        freeReplyObject(rep);
    } while (!stop && strcmp(cursor, "0") != 0);
    rd_give(r, c);
    return rc;
}

struct scan_users {
    struct evstore *s;
    evstore_event_fn fn;
    void *arg;
    int stop, rc;
    enc_err *err;
};

static int scan_one_user(void *arg, const redisReply *a, const redisReply *b)
{
    struct scan_users *u = arg;
    /* the user's whole list; fn's return stops everything */
    int stopped = 0;
    struct ev_event e;
    struct rd *r = u->s->impl;
    redisContext *c = rd_take(r, u->err);
    if (!c) {
        u->rc = ENC_EBUSY;
        return 1;
    }
    char key[EV_ID_MAX + 16];
    int kl = snprintf(key, sizeof key, P "u:");
    if (a->len > EV_ID_MAX) {
        rd_give(r, c);
        return 0;
    }
    memcpy(key + kl, a->str, a->len);
    redisReply *rep = redisCommand(c, "LRANGE %b 0 -1", key, (size_t)kl + a->len);
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        u->rc = rd_reply_err(r, c, rep, "scan", u->err);
        stopped = 1;
    } else {
        for (size_t i = 0; i < rep->elements && !stopped; i++) {
            const redisReply *x = rep->element[i];
            if (x->type == REDIS_REPLY_STRING && decode_stored(x->str, x->len, &e) == 0 &&
                u->fn(u->arg, &e))
                stopped = 1;
        }
    }
    if (rep)
        freeReplyObject(rep);
    rd_give(r, c);
    return stopped;
}

struct id_scan {
    evstore_id_fn fn;
    void *arg;
};

static int id_member(void *arg, const redisReply *a, const redisReply *b)
{
    struct id_scan *t = arg;
    return t->fn(t->arg, a->str, a->len);
}

static int rd_event_items(struct evstore *s, evstore_id_fn fn, void *arg, enc_err *err)
{
    struct id_scan t = {fn, arg};
    return scan_key(s, "SSCAN", P "items_ev", 0, id_member, &t, err);
}

static int rd_users(struct evstore *s, evstore_id_fn fn, void *arg, enc_err *err)
{
    struct id_scan t = {fn, arg};
    return scan_key(s, "SSCAN", P "users", 0, id_member, &t, err);
}

static int rd_scan(struct evstore *s, evstore_event_fn fn, void *arg, enc_err *err)
{
    struct scan_users u = {s, fn, arg, 0, 0, err};
    int rc = scan_key(s, "SSCAN", P "users", 0, scan_one_user, &u, err);
    return rc ? rc : u.rc;
}

/* ---- erasure ---------------------------------------------------------- */

static int rd_erase_user(struct evstore *s, const char *user, size_t len, int64_t now,
                         size_t *removed, enc_err *err)
{
    struct rd *r = s->impl;
    redisContext *c = rd_take(r, err);
    if (!c)
        return ENC_EBUSY;
    char t[32];
    snprintf(t, sizeof t, "%lld", (long long)now);
    const char *argv[5] = {NULL, NULL, NULL, user, t};
    size_t lens[5] = {0, 0, 0, len, strlen(t)};
    redisReply *rep = rd_run_script(c, erase_lua, r->erase_sha, 5, argv, lens);
    int rc = 0;
    if (!rep || rep->type != REDIS_REPLY_INTEGER)
        rc = rd_reply_err(r, c, rep, "erase", err);
    else
        *removed = (size_t)rep->integer;
    if (rep)
        freeReplyObject(rep);
    rd_give(r, c);
    if (rc == 0)
        evstore__changed(s, EV_CHANGE_USER, user, len);
    return rc;
}

static int rd_erased_at(struct evstore *s, const char *user, size_t len, int64_t *when,
                        enc_err *err)
{
    struct rd *r = s->impl;
    redisContext *c;
    redisReply *rep = rd_read_cmd(r, &c, err, "HGET " P "tomb %b", user, len);
    if (!c)
        return ENC_EBUSY;
    int rc = 0;
    if (!rep || (rep->type != REDIS_REPLY_NIL && rep->type != REDIS_REPLY_STRING))
        rc = rd_reply_err(r, c, rep, "read", err);
    else if (rep->type == REDIS_REPLY_STRING) {
        *when = strtoll(rep->str, NULL, 10);
        rc = 1;
    }
    if (rep)
        freeReplyObject(rep);
    rd_give(r, c);
    return rc;
}

struct tomb_scan {
    evstore_tomb_fn fn;
    void *arg;
};

static int tomb_pair(void *arg, const redisReply *a, const redisReply *b)
{
    struct tomb_scan *t = arg;
    return t->fn(t->arg, a->str, a->len, b->str ? strtoll(b->str, NULL, 10) : 0);
}

static int rd_tombstones(struct evstore *s, evstore_tomb_fn fn, void *arg, enc_err *err)
{
    struct tomb_scan t = {fn, arg};
    return scan_key(s, "HSCAN", P "tomb", 1, tomb_pair, &t, err);
}

/* ---- catalogue -------------------------------------------------------- */

static int rd_item_put(struct evstore *s, const char *item, size_t len, const char *json,
                       size_t json_len, enc_err *err)
{
    struct rd *r = s->impl;
    redisContext *c = rd_take(r, err);
    if (!c)
        return ENC_EBUSY;
    /* the record and its announcement in one transaction */
    redisAppendCommand(c, "MULTI");
    redisAppendCommand(c, "HSET " P "items %b %b", item, len, json, json_len);
    redisAppendCommand(c, "XADD " P "chg MAXLEN ~ " CHG_MAXLEN " * i %b", item, len);
    redisAppendCommand(c, "EXEC");
    int rc = 0;
    for (int i = 0; i < 4; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK || !rep || rep->type == REDIS_REPLY_ERROR ||
            (i == 3 && rep->type != REDIS_REPLY_ARRAY)) {
            if (!rc)
                rc = rd_reply_err(r, c, rep, "catalogue", err);
        }
        if (rep)
            freeReplyObject(rep);
        if (c->err)
            break;
    }
    rd_give(r, c);
    if (rc == 0)
        evstore__changed(s, EV_CHANGE_ITEM, item, len);
    return rc;
}

static int rd_item_get(struct evstore *s, const char *item, size_t len, char **json, enc_err *err)
{
    struct rd *r = s->impl;
    redisContext *c;
    redisReply *rep = rd_read_cmd(r, &c, err, "HGET " P "items %b", item, len);
    if (!c)
        return ENC_EBUSY;
    int rc = 0;
    if (!rep || (rep->type != REDIS_REPLY_NIL && rep->type != REDIS_REPLY_STRING)) {
        rc = rd_reply_err(r, c, rep, "read", err);
    } else if (rep->type == REDIS_REPLY_STRING) {
        if (!(*json = malloc(rep->len + 1))) {
            rc = enc_errf(err, ENC_ENOMEM, "out of memory");
        } else {
            memcpy(*json, rep->str, rep->len);
            (*json)[rep->len] = '\0';
            rc = 1;
        }
    }
    if (rep)
        freeReplyObject(rep);
    rd_give(r, c);
    return rc;
}

struct item_scan {
    evstore_item_fn fn;
    void *arg;
};

static int item_pair(void *arg, const redisReply *a, const redisReply *b)
{
    struct item_scan *t = arg;
    return t->fn(t->arg, a->str, a->len, b->str, b->len);
}

static int rd_items_scan(struct evstore *s, evstore_item_fn fn, void *arg, enc_err *err)
{
    struct item_scan t = {fn, arg};
    return scan_key(s, "HSCAN", P "items", 1, item_pair, &t, err);
}

/* ---- attribution ------------------------------------------------------ */

/* Each field of the hash HASH (a full key: P and its kind) + KEY, with its
 * count, to fn until it returns nonzero. */
static int hash_counts(struct evstore *s, const char *hash, const char *key, size_t len,
                       evstore_count_fn fn, void *arg, enc_err *err)
{
    struct rd *r = s->impl;
    redisContext *c;
    redisReply *rep = rd_read_cmd(r, &c, err, "HGETALL %s%b", hash, key, len);
    if (!c)
        return ENC_EBUSY;
    int rc = 0;
    if (!rep || rep->type != REDIS_REPLY_ARRAY) {
        rc = rd_reply_err(r, c, rep, "read", err);
    } else {
        for (size_t i = 0; i + 1 < rep->elements; i += 2)
            if (fn(arg, rep->element[i]->str, rep->element[i]->len,
                   strtoull(rep->element[i + 1]->str, NULL, 10)))
                break;
    }
    if (rep)
        freeReplyObject(rep);
    rd_give(r, c);
    return rc;
}

static int rd_rec_counts(struct evstore *s, const char *rec, size_t len, evstore_count_fn fn,
                         void *arg, enc_err *err)
{
    if (len == 0 || len > EV_ID_MAX)
        return 0;
    return hash_counts(s, P "rec:", rec, len, fn, arg, err);
}

static int rd_counters(struct evstore *s, const char *key, size_t len, evstore_count_fn fn,
                       void *arg, enc_err *err)
{
    return hash_counts(s, P "x:", key, len, fn, arg, err);
}

/* ---- upkeep and state ------------------------------------------------- */

struct trim_ctx {
    struct evstore *s;
    int64_t cutoff;
    size_t removed;
    int rc;
    enc_err *err;
};

static int trim_user(void *arg, const redisReply *a, const redisReply *b)
{
    struct trim_ctx *t = arg;
    struct rd *r = t->s->impl;
    redisContext *c = rd_take(r, t->err);
    if (!c) {
        t->rc = ENC_EBUSY;
        return 1;
    }
    char cut[32];
    snprintf(cut, sizeof cut, "%lld", (long long)t->cutoff);
    const char *argv[5] = {NULL, NULL, NULL, a->str, cut};
    size_t lens[5] = {0, 0, 0, a->len, strlen(cut)};
    redisReply *rep = rd_run_script(c, trim_lua, r->trim_sha, 5, argv, lens);
    int stop = 0;
    if (!rep || rep->type != REDIS_REPLY_INTEGER) {
        t->rc = rd_reply_err(r, c, rep, "compact", t->err);
        stop = 1;
    } else {
        t->removed += (size_t)rep->integer;
    }
    if (rep)
        freeReplyObject(rep);
    rd_give(r, c);
    return stop;
}

/* Event ids and recommendation counts expire by themselves (EX / EXPIRE);
 * a user's list expires retention after its last write; this trims the
 * older events of users who keep writing. */
static int rd_compact(struct evstore *s, int64_t now, size_t *removed, enc_err *err)
{
    if (s->opt.read_only)
        return enc_errf(err, ENC_EUNSUPPORTED, "event store opened read-only");
    struct trim_ctx t = {s, now - s->opt.retention_days * 86400, 0, 0, err};
    int rc = scan_key(s, "SSCAN", P "users", 0, trim_user, &t, err);
    *removed = t.removed;
    return rc ? rc : t.rc;
}

static int64_t reply_int(const redisReply *x)
{
    if (!x)
        return 0;
    if (x->type == REDIS_REPLY_INTEGER)
        return x->integer;
    if (x->type == REDIS_REPLY_STRING)
        return strtoll(x->str, NULL, 10);
    return 0;
}

static int rd_stats(struct evstore *s, struct evstore_stats *out, enc_err *err)
{
    struct rd *r = s->impl;
    redisContext *c = rd_take(r, err);
    if (!c)
        return ENC_EBUSY;
    static const char *cmds[] = {"SCARD " P "users", "GET " P "nevents", "HLEN " P "items",
                                 "HLEN " P "tomb",   "GET " P "seq",     "INFO memory"};
    int n = (int)(sizeof cmds / sizeof *cmds), rc = 0;
    for (int i = 0; i < n; i++)
        redisAppendCommand(c, cmds[i]);
    for (int i = 0; i < n; i++) {
        redisReply *rep = NULL;
        if (redisGetReply(c, (void **)&rep) != REDIS_OK || !rep || rep->type == REDIS_REPLY_ERROR) {
            if (!rc)
                rc = rd_reply_err(r, c, rep, "stats", err);
            if (rep)
                freeReplyObject(rep);
            if (c->err)
                break;
            continue;
        }
        switch (i) {
        case 0:
            out->users = reply_int(rep);
            break;
        case 1:
            out->events = reply_int(rep);
            break;
        case 2:
            out->items = reply_int(rep);
            break;
        case 3:
            out->tombstones = reply_int(rep);
            break;
        case 4:
            out->last_seq = (uint64_t)reply_int(rep);
            break;
        default: {
            const char *m = rep->str ? strstr(rep->str, "used_memory:") : NULL;
            out->bytes = m ? strtoll(m + 12, NULL, 10) : 0;
        }
        }
        freeReplyObject(rep);
    }
    out->event_ids = -1; /* not counted: ids are keys of their own that expire */
    rd_give(r, c);
    return rc;
}

static int rd_id(struct evstore *s, char id[33], enc_err *err)
{
    struct rd *r = s->impl;
    redisContext *c = rd_take(r, err);
    if (!c)
        return ENC_EBUSY;
    char fresh[33];
    evstore__random_id(fresh);
    redisAppendCommand(c, "HSETNX " P "meta id %s", fresh);
    redisAppendCommand(c, "HGET " P "meta id");
    redisReply *a = NULL, *b = NULL;
    int rc = 0;
    if (redisGetReply(c, (void **)&a) != REDIS_OK || redisGetReply(c, (void **)&b) != REDIS_OK ||
        !b || b->type != REDIS_REPLY_STRING || b->len != 32)
        rc = rd_reply_err(r, c, b, "id", err);
    else
        memcpy(id, b->str, 33);
    if (a)
        freeReplyObject(a);
    if (b)
        freeReplyObject(b);
    rd_give(r, c);
    return rc;
}

static int rd_ping(struct evstore *s, enc_err *err)
{
    struct rd *r = s->impl;
    redisContext *c;
    redisReply *rep = rd_read_cmd(r, &c, err, "PING");
    if (!c)
        return ENC_EBUSY;
    int rc = rep && rep->type == REDIS_REPLY_STATUS ? 0 : rd_reply_err(r, c, rep, "ping", err);
    if (rep)
        freeReplyObject(rep);
    rd_give(r, c);
    return rc;
}

const struct evstore_vt evstore_redis_vt = {
    .kind = "redis",
    .open = rd_open,
    .close = rd_close,
    .append = rd_append,
    .user_events = rd_user_events,
    .item_events = rd_item_events,
    .scan = rd_scan,
    .event_items = rd_event_items,
    .users = rd_users,
    .erase_user = rd_erase_user,
    .erased_at = rd_erased_at,
    .tombstones = rd_tombstones,
    .item_put = rd_item_put,
    .item_get = rd_item_get,
    .items_scan = rd_items_scan,
    .rec_counts = rd_rec_counts,
    .counters = rd_counters,
    .compact = rd_compact,
    .stats = rd_stats,
    .id = rd_id,
    .ping = rd_ping,
};
