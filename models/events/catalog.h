/*
 * catalog.h - catalogue records: what PUT /v1/items/{id} says about an item,
 * stored in the event store (evstore_item_put) as JSON text:
 *
 *   {"title": "...", "tags": ["..."], "available": true,
 *    "available_from": T, "available_until": T, "updated": T}
 *
 * Every field but "updated" is optional. A title or a tag list given here
 * overrides the model's; an item that is not in the model becomes known by
 * it (a new title). An item is available at time t unless it was withdrawn
 * ("available": false, or DELETE /v1/items/{id}), t < available_from, or
 * t >= available_until. Times are unix seconds (RFC 3339 accepted on input).
 */
#ifndef ENCORE_EVENTS_CATALOG_H
#define ENCORE_EVENTS_CATALOG_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define CAT_TITLE_MAX 1024 /* bytes */
#define CAT_TAGS_MAX 64    /* tags per item */
#define CAT_TAG_MAX 64     /* bytes per tag */

struct cat_item {
    char *title; /* NULL: no override */
    char **tags; /* n_tags owned strings */
    size_t n_tags;
    int has_tags; /* the record sets the tags (maybe to none) */
    int withdrawn;
    int64_t available_from;  /* 0: no lower bound */
    int64_t available_until; /* 0: no upper bound */
    int64_t updated;
};

/* Read a PUT body (a JSON object) into *out (zeroed first), stamped `now`.
 * ENC_EINVAL with a message naming the field ("tags[2]: ...") on bad input;
 * unknown fields are refused. */
int cat_item_from_request(const json_t *body, int64_t now, struct cat_item *out, enc_err *err);

/* Read a stored record (as cat_item_to_json wrote it). ENC_EFORMAT if it is
 * not one. */
int cat_item_from_json(const char *json, size_t len, struct cat_item *out, enc_err *err);

/* The stored form: a new JSON object (caller json_decref's). */
json_t *cat_item_to_object(const struct cat_item *it);
/* The same as compact text (caller frees); NULL on ENOMEM. */
char *cat_item_to_json(const struct cat_item *it, size_t *len);

/* 1 if the item may be recommended at `now`. */
int cat_item_available(const struct cat_item *it, int64_t now);

/* Free the members; the struct is zeroed. NULL is fine. */
void cat_item_clear(struct cat_item *it);

#endif
