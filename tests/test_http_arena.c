/*
 * test_http_arena.c - request-lifetime memory (server/http.c): http_alloc's
 * alignment and blocks, http_defer's calls (last registered first, before
 * the memory they may live in goes), the parsed body owned by the request,
 * and http_req_release leaving nothing behind (ASan's leak check in the
 * sanitizer build).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "testutil.h"

static struct server srv;

static void init(struct http_req *r)
{
    memset(r, 0, sizeof *r);
    r->srv = &srv;
    buf_init(&r->body);
    buf_init(&r->out);
}

static int order[8], n_order;

static void record(void *arg)
{
    order[n_order++] = *(int *)arg;
}

START_TEST(alloc_alignment_and_blocks)
{
    struct http_req r;
    init(&r);
    char *prev = NULL;
    for (size_t i = 1; i < 200; i += 7) { /* small pieces: aligned, disjoint, writable */
        char *p = http_alloc(&r, i);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq((uintptr_t)p % _Alignof(max_align_t), 0);
        memset(p, 0xab, i);
        ck_assert(p != prev);
        prev = p;
    }
    char *big = http_alloc(&r, 100000); /* bigger than a block: its own */
    ck_assert_ptr_nonnull(big);
    memset(big, 1, 100000);
    ck_assert_ptr_nonnull(http_alloc(&r, 0));
    ck_assert_ptr_null(http_alloc(&r, SIZE_MAX - 3)); /* refused, not wrapped */
    http_req_release(&r);
    ck_assert_ptr_null(r.mem);
    http_req_release(&r); /* twice is harmless */
}
END_TEST

START_TEST(deferred_calls_run_last_first)
{
    struct http_req r;
    init(&r);
    n_order = 0;
    int *a = http_alloc(&r, sizeof *a), *b = http_alloc(&r, sizeof *b), c = 3;
    *a = 1;
    *b = 2;
    ck_assert_int_eq(http_defer(&r, record, a), 0); /* args in the arena itself */
    ck_assert_int_eq(http_defer(&r, record, b), 0);
    ck_assert_int_eq(http_defer(&r, record, &c), 0);
    ck_assert_int_eq(n_order, 0);
    http_req_release(&r);
    ck_assert_int_eq(n_order, 3);
    ck_assert_int_eq(order[0], 3);
    ck_assert_int_eq(order[1], 2);
    ck_assert_int_eq(order[2], 1);
    ck_assert_ptr_null(r.deferred);
    http_req_release(&r);
    ck_assert_int_eq(n_order, 3); /* each call runs once */
}
END_TEST

START_TEST(body_json_is_the_requests)
{
    srv.cfg.max_json_depth = 4;
    srv.cfg.max_json_elements = 8;
    struct http_req r;
    init(&r);
    buf_puts(&r.body, "{\"user\": \"1\", \"k\": 3}");
    json_t *j = http_body_json(&r);
    ck_assert_ptr_nonnull(j);
    ck_assert_ptr_eq(http_body_json(&r), j); /* parsed once */
    ck_assert_int_eq(json_integer_value(json_object_get(j, "k")), 3);
    http_req_release(&r);
    ck_assert_ptr_null(r.json);
    init(&r);
    buf_puts(&r.body, "[[[[[1]]]]]");
    ck_assert_ptr_null(http_body_json(&r));
    ck_assert_int_eq(r.status, 400);
    http_req_release(&r);
    init(&r); /* 1 + '[' + 7 ',' = 9 values: over max_json_elements */
    buf_puts(&r.body, "[1,2,3,4,5,6,7,8]");
    ck_assert_ptr_null(http_body_json(&r));
    ck_assert_int_eq(r.status, 400);
    http_req_release(&r);
    init(&r);
    buf_puts(&r.body, "[1]");
    ck_assert_ptr_null(http_body_json(&r));
    ck_assert(strstr(r.out.data, "must be a JSON object"));
    http_req_release(&r);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("http_arena");
    TCase *tc = tcase_create("arena");
    tcase_add_test(tc, alloc_alignment_and_blocks);
    tcase_add_test(tc, deferred_calls_run_last_first);
    tcase_add_test(tc, body_json_is_the_requests);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
