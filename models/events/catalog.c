/* catalog.c - catalogue records (see catalog.h). */
#include "events/catalog.h"

#include <stdlib.h>
#include <string.h>

#include "events/event.h"

void cat_item_clear(struct cat_item *it)
{
    if (!it)
        return;
    free(it->title);
    for (size_t i = 0; i < it->n_tags; i++)
        free(it->tags[i]);
    free(it->tags);
    memset(it, 0, sizeof *it);
}

int cat_item_available(const struct cat_item *it, int64_t now)
{
    if (it->withdrawn)
        return 0;
    if (it->available_from && now < it->available_from)
        return 0;
    if (it->available_until && now >= it->available_until)
        return 0;
    return 1;
}

static int read_time(const json_t *v, const char *field, int64_t *out, enc_err *err)
{
    if (json_is_null(v)) {
        *out = 0;
        return 0;
    }
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) < 253402300800LL) { /* before year 10000 */
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_string(v) && ev_time_parse(json_string_value(v), json_string_length(v), out) == 0 &&
        *out >= 0)
        return 0;
    return enc_errf(err, ENC_EINVAL, "%s: must be unix seconds or an RFC 3339 time", field);
}

/* The fields both readers share; `stored` allows "updated". */
static int read_object(const json_t *o, int stored, struct cat_item *out, enc_err *err)
{
    if (!json_is_object(o))
        return enc_errf(err, ENC_EINVAL, "an item record must be a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)o, key, v) {
        if (!strcmp(key, "title")) {
            if (json_is_null(v))
                continue;
            if (!json_is_string(v) || json_string_length(v) > CAT_TITLE_MAX)
                return enc_errf(err, ENC_EINVAL, "title: must be a string of at most %d bytes",
                                CAT_TITLE_MAX);
            if (memchr(json_string_value(v), 0, json_string_length(v)))
                return enc_errf(err, ENC_EINVAL, "title: contains a NUL character");
            if (!(out->title = strdup(json_string_value(v))))
                return enc_errf(err, ENC_ENOMEM, "out of memory");
        } else if (!strcmp(key, "tags")) {
            if (json_is_null(v))
                continue;
            if (!json_is_array(v) || json_array_size(v) > CAT_TAGS_MAX)
                return enc_errf(err, ENC_EINVAL, "tags: must be an array of at most %d names",
                                CAT_TAGS_MAX);
            size_t n = json_array_size(v);
            out->has_tags = 1;
            if (n && !(out->tags = calloc(n, sizeof *out->tags)))
                return enc_errf(err, ENC_ENOMEM, "out of memory");
            for (size_t i = 0; i < n; i++) {
                const json_t *t = json_array_get(v, i);
                const char *p = json_is_string(t) ? json_string_value(t) : NULL;
                size_t len = p ? json_string_length(t) : 0;
                if (!p || len == 0 || len > CAT_TAG_MAX || ev_id_problem(p, len))
                    return enc_errf(err, ENC_EINVAL,
                                    "tags[%zu]: must be a name of 1 to %d bytes without control "
                                    "characters",
                                    i, CAT_TAG_MAX);
                if (!(out->tags[i] = strdup(p)))
                    return enc_errf(err, ENC_ENOMEM, "out of memory");
                out->n_tags++;
            }
        } else if (!strcmp(key, "available")) {
            if (!json_is_boolean(v))
                return enc_errf(err, ENC_EINVAL, "available: must be true or false");
            out->withdrawn = json_is_false(v);
        } else if (!strcmp(key, "available_from")) {
            if (read_time(v, "available_from", &out->available_from, err))
                return ENC_EINVAL;
        } else if (!strcmp(key, "available_until")) {
            if (read_time(v, "available_until", &out->available_until, err))
                return ENC_EINVAL;
        } else if (stored && !strcmp(key, "updated")) {
            if (read_time(v, "updated", &out->updated, err))
                return ENC_EINVAL;
        } else {
            return enc_errf(err, ENC_EINVAL,
                            "unknown field '%.64s' (allowed: title, tags, available, "
                            "available_from, available_until)",
                            key);
        }
    }
    if (out->available_from && out->available_until && out->available_from >= out->available_until)
        return enc_errf(err, ENC_EINVAL, "available_from must be before available_until");
    return 0;
}

int cat_item_from_request(const json_t *body, int64_t now, struct cat_item *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    int rc = read_object(body, 0, out, err);
    if (rc)
        cat_item_clear(out);
    else
        out->updated = now;
    return rc;
}

int cat_item_from_json(const char *json, size_t len, struct cat_item *out, enc_err *err)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *o = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return enc_errf(err, ENC_EFORMAT, "stored item record: %s", jerr.text);
    int rc = read_object(o, 1, out, err);
    json_decref(o);
    if (rc) {
        cat_item_clear(out);
        return rc == ENC_ENOMEM ? rc : ENC_EFORMAT;
    }
    return 0;
}

json_t *cat_item_to_object(const struct cat_item *it)
{
    json_t *o = json_object();
    if (!o)
        return NULL;
    if (it->title)
        json_object_set_new(o, "title", json_string(it->title));
    if (it->has_tags) {
        json_t *a = json_array();
        for (size_t i = 0; i < it->n_tags; i++)
            json_array_append_new(a, json_string(it->tags[i]));
        json_object_set_new(o, "tags", a);
    }
    json_object_set_new(o, "available", json_boolean(!it->withdrawn));
    if (it->available_from)
        json_object_set_new(o, "available_from", json_integer(it->available_from));
    if (it->available_until)
        json_object_set_new(o, "available_until", json_integer(it->available_until));
    json_object_set_new(o, "updated", json_integer(it->updated));
    return o;
}

char *cat_item_to_json(const struct cat_item *it, size_t *len)
{
    json_t *o = cat_item_to_object(it);
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (s && len)
        *len = strlen(s);
    return s;
}
