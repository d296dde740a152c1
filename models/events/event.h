/*
 * event.h - the event model: what a user did to an item, and the table of
 * event types with their weights.
 *
 * An event is (user, item, type, time) plus two optional strings: the
 * client's event id (a repeated id within the retention window is counted
 * once, so clients may retry) and the recommendation id the event answers
 * (for A/B attribution). Ids are non-empty UTF-8 without control characters,
 * at most EV_ID_MAX bytes.
 *
 * Types come from one configuration string, `event_weights`:
 *     "play:1,view:0.25,click:0.5,like:2,purchase:3,skip:-1,dislike:-2"
 * A positive weight is a confidence that the user likes the item (ALS's
 * c = 1 + alpha * w); a negative one says they do not: the item is excluded
 * for that user and the fold-in pulls the user's vector away from it
 * (preference 0 with confidence 1 + alpha * |w|). Weight 0 records without
 * effect on recommendations.
 */
#ifndef ENCORE_EVENTS_EVENT_H
#define ENCORE_EVENTS_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define EV_ID_MAX 256   /* bytes in a user, item, event or recommendation id */
#define EV_TYPE_MAX 32  /* bytes in a type name */
#define EV_TYPES_MAX 32 /* types in one table */

/* The default `event_weights`. */
#define EV_DEFAULT_WEIGHTS "play:1,view:0.25,click:0.5,like:2,purchase:3,skip:-1,dislike:-2"

struct ev_types {
    int n;
    char name[EV_TYPES_MAX][EV_TYPE_MAX + 1];
    float weight[EV_TYPES_MAX];
};

/* Parse "name:weight,name:weight,..." (spaces around items allowed). Names
 * are [a-z0-9_-]+, unique; weights finite within -1000..1000. 0 or
 * ENC_EINVAL with a message naming the entry. */
int ev_types_parse(const char *spec, struct ev_types *out, enc_err *err);

/* Index of a type name, or -1. */
int ev_types_find(const struct ev_types *t, const char *name, size_t len);

/* Weight of a type name; 0 (and *known = 0) for a name not in the table,
 * e.g. a type recorded under an older configuration. `known` may be NULL. */
float ev_types_weight(const struct ev_types *t, const char *name, size_t len, int *known);

/* One event. Strings are borrowed (not NUL-terminated); id and rec_id may
 * have length 0 (absent). `type` is a name of the type table. */
struct ev_event {
    const char *user, *item, *type, *id, *rec_id;
    uint16_t user_len, item_len, type_len, id_len, rec_len;
    int64_t time; /* unix seconds: when it happened (the client's) */
    int64_t recv; /* unix seconds: when the store received it (retention) */
    uint64_t seq; /* store-wide sequence number, ascending in arrival
                     order (set by the store) */
};

/* Check an id: 1..EV_ID_MAX bytes of valid UTF-8, no control characters.
 * Returns NULL if fine, else a static description of the problem. */
const char *ev_id_problem(const char *s, size_t len);

/* Parse a time: integer unix seconds (as text) or RFC 3339
 * ("2025-12-06T10:00:00Z", "...+01:00", fractions ignored). 0 or ENC_EINVAL. */
int ev_time_parse(const char *s, size_t len, int64_t *out);

/* Times accepted for an event: 1970-01-01 (replays of old logs are welcome:
 * retention counts from when the store received an event, not from its
 * time) .. now + 1 day (clock skew). */
#define EV_TIME_FUTURE_SLACK 86400LL

#endif
