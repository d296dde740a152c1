/* test_interactions.c - interaction and item-metadata parsers (models/mf/interactions.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf/interactions.h"
#include "mf/mf.h"
#include "testutil.h"

static char *dir;

static void setup(void)
{
    dir = tu_tmpdir();
    ck_assert_ptr_nonnull(dir);
}

static void teardown(void)
{
    tu_rmrf(dir);
    free(dir);
}

static const char *path_in(const char *name)
{
    static char buf[4][4096];
    static int slot;
    char *b = buf[slot++ % 4];
    snprintf(b, 4096, "%s/%s", dir, name);
    return b;
}

static const char *write_tmp(const char *name, const char *contents)
{
    const char *p = path_in(name);
    ck_assert_int_eq(tu_write_file(p, contents, strlen(contents)), 0);
    return p;
}

static int parse(const char *text, double min_rating, enum ia_format fmt, struct ia_matrix *m,
                 enc_err *err)
{
    struct ia_options o = {fmt, min_rating, IA_HEADER_AUTO};
    return ia_parse("mem", text, strlen(text), &o, m, err);
}

/* Weight of (user id, item id) or -1 when absent. */
static double weight_of(const struct ia_matrix *m, const char *u, const char *i)
{
    for (size_t r = 0; r < m->n_users; r++) {
        if (strcmp(m->user_ids[r], u) != 0)
            continue;
        for (int64_t k = m->indptr[r]; k < m->indptr[r + 1]; k++)
            if (strcmp(m->item_ids[m->indices[k]], i) == 0)
                return m->weights[k];
    }
    return -1;
}

START_TEST(udata_detected_and_ordered)
{
    struct ia_matrix m;
    enc_err err = {0};
    const char *t = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n196\t10\t5\t1\r\n\n";
    ck_assert_int_eq(parse(t, 0, IA_FORMAT_AUTO, &m, &err), 0);
    ck_assert_int_eq(m.format, IA_FORMAT_UDATA);
    ck_assert_uint_eq(m.n_users, 2);
    ck_assert_uint_eq(m.n_items, 3);
    ck_assert_uint_eq(m.nnz, 3);
    /* digits-only ids in numeric order: rows follow ids */
    ck_assert_str_eq(m.user_ids[0], "186");
    ck_assert_str_eq(m.user_ids[1], "196");
    ck_assert_str_eq(m.item_ids[0], "10");
    ck_assert_str_eq(m.item_ids[1], "242");
    ck_assert_str_eq(m.item_ids[2], "302");
    /* rows ascend within a user; rating formats give weight 1 */
    ck_assert_int_eq(m.indptr[2] - m.indptr[1], 2);
    ck_assert_int_lt(m.indices[m.indptr[1]], m.indices[m.indptr[1] + 1]);
    ck_assert_double_eq(weight_of(&m, "196", "10"), 1.0);
    ck_assert_uint_eq(strlen(m.sha256), 64);
    ia_matrix_clear(&m);

    /* min_rating keeps ratings >= R only */
    ck_assert_int_eq(parse(t, 4, IA_FORMAT_AUTO, &m, &err), 0);
    ck_assert_uint_eq(m.nnz, 1);
    ck_assert_uint_eq(m.n_dropped, 2);
    ck_assert_str_eq(m.user_ids[0], "196");
    ck_assert_str_eq(m.item_ids[0], "10");
    ia_matrix_clear(&m);
}
END_TEST

START_TEST(ratings_csv_with_header)
{
    struct ia_matrix m;
    enc_err err = {0};
    const char *t = "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n"
                    "2,1,2.5,1\n2,50,4,2\n";
    ck_assert_int_eq(parse(t, 4.0, IA_FORMAT_AUTO, &m, &err), 0);
    ck_assert_int_eq(m.format, IA_FORMAT_RATINGS_CSV);
    ck_assert_uint_eq(m.n_users, 2);
    ck_assert_uint_eq(m.n_items, 3);
    ck_assert_uint_eq(m.nnz, 3);
    ck_assert_double_eq(weight_of(&m, "2", "1"), -1);
    ck_assert_double_eq(weight_of(&m, "2", "50"), 1);
    ia_matrix_clear(&m);
}
END_TEST

START_TEST(generic_tsv_csv_weights_and_duplicates)
{
    struct ia_matrix m;
    enc_err err = {0};
    ck_assert_int_eq(parse("u1\ti1\nu1\ti1\nu2\ti2\n", 0, IA_FORMAT_AUTO, &m, &err), 0);
    ck_assert_int_eq(m.format, IA_FORMAT_TSV);
    ck_assert_uint_eq(m.nnz, 2);
    ck_assert_uint_eq(m.n_records, 3);
    ck_assert_double_eq(weight_of(&m, "u1", "i1"), 2.0); /* duplicates summed */
    ia_matrix_clear(&m);

    const char *csv = "user,item,weight\nalice,\"Heat, The\",2.5\nalice,x,1\nbob,x,0.5\n";
    ck_assert_int_eq(parse(csv, 1.0, IA_FORMAT_AUTO, &m, &err), 0);
    ck_assert_int_eq(m.format, IA_FORMAT_CSV);
    ck_assert_uint_eq(m.n_users, 1); /* header skipped; bob's 0.5 < 1 dropped */
    ck_assert_double_eq_tol(weight_of(&m, "alice", "Heat, The"), 2.5, 1e-6);
    ck_assert_str_eq(m.item_ids[0], "Heat, The"); /* non-digit ids byte-wise */
    ck_assert_str_eq(m.item_ids[1], "x");
    ia_matrix_clear(&m);

    /* Explicit format wins over detection: a TAB file read as tsv. */
    ck_assert_int_eq(parse("1\t2\t3\t4\n", 0, IA_FORMAT_TSV, &m, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "mem:1:"));
    ck_assert_ptr_nonnull(strstr(err.msg, "found 4"));
}
END_TEST

START_TEST(id_order)
{
    ck_assert_int_lt(ia_id_cmp("2", "10"), 0);
    ck_assert_int_gt(ia_id_cmp("10", "9"), 0);
    ck_assert_int_lt(ia_id_cmp("99", "a"), 0); /* digits first */
    ck_assert_int_lt(ia_id_cmp("a", "b"), 0);
    ck_assert_int_lt(ia_id_cmp("07", "7"), 0); /* equal numbers: byte order */
    ck_assert_int_eq(ia_id_cmp("42", "42"), 0);
}
END_TEST

static void expect_error(const char *text, enum ia_format fmt, const char *where, const char *what)
{
    struct ia_matrix m;
    enc_err err = {0};
    ck_assert_int_eq(parse(text, 0, fmt, &m, &err), ENC_EFORMAT);
    ck_assert_msg(strstr(err.msg, where) != NULL, "'%s' lacks '%s'", err.msg, where);
    ck_assert_msg(strstr(err.msg, what) != NULL, "'%s' lacks '%s'", err.msg, what);
    ck_assert_ptr_null(m.user_ids);
}

START_TEST(malformed_lines_named)
{
    expect_error("1\t2\t3\t4\n1\t2\t3\n", IA_FORMAT_UDATA, "mem:2:", "expected 4");
    expect_error("1\t2\t3\t4\n1\t2\tx\t4\n", IA_FORMAT_AUTO, "mem:2:", "rating 'x'");
    expect_error("1\t2\t3\t4\n1\t2\t3\t4.5\n", IA_FORMAT_AUTO, "mem:2:", "timestamp");
    expect_error("a,b\nc,d,e\n", IA_FORMAT_AUTO, "mem:2:", "weight 'e'");
    expect_error("a,b\nc,d,-1\n", IA_FORMAT_AUTO, "mem:2:", "negative");
    expect_error("a,b\n\nc,d,1,2\n", IA_FORMAT_AUTO, "mem:3:", "expected 2 or 3");
    expect_error("a,b\n\"c,d\n", IA_FORMAT_AUTO, "mem:2:", "unterminated");
    expect_error("a\tb\n\tb\n", IA_FORMAT_AUTO, "mem:2:", "empty user id");
    expect_error("a,b\nc,d,nan\n", IA_FORMAT_CSV, "mem:2:", "weight 'nan'");
    expect_error("a,b,inf\n", IA_FORMAT_CSV, "mem:1:", "not a number");
    expect_error("a,b,1e300\n", IA_FORMAT_CSV, "mem:1:", "out of range"); /* not a float */
    expect_error("just-a-word\n", IA_FORMAT_AUTO, "mem:1:", "cannot detect");
    expect_error("", IA_FORMAT_AUTO, "mem", "empty");
    expect_error("\n\n  \n", IA_FORMAT_AUTO, "mem", "empty");
    {
        struct ia_matrix m;
        enc_err err = {0};
        ck_assert_int_eq(parse("1\t2\t1\t4\n", 3, IA_FORMAT_AUTO, &m, &err), ENC_EFORMAT);
        ck_assert_ptr_nonnull(strstr(err.msg, "min-rating"));
    }
    /* NUL inside a line */
    struct ia_matrix m;
    enc_err err = {0};
    struct ia_options o = {IA_FORMAT_TSV, 0, IA_HEADER_AUTO};
    ck_assert_int_eq(ia_parse("mem", "a\tb\nc\0\td\n", 9, &o, &m, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "mem:2: NUL"));
}
END_TEST

START_TEST(files_missing_and_empty)
{
    struct ia_matrix m;
    enc_err err = {0};
    ck_assert_int_eq(ia_read(path_in("nope.tsv"), NULL, &m, &err), ENC_EIO);
    ck_assert_ptr_nonnull(strstr(err.msg, "nope.tsv"));
    const char *p = write_tmp("empty.tsv", "");
    ck_assert_int_eq(ia_read(p, NULL, &m, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "empty.tsv"));
    p = write_tmp("ok.tsv", "x\ty\n");
    ck_assert_int_eq(ia_read(p, NULL, &m, &err), 0);
    ck_assert_uint_eq(m.nnz, 1);
    ia_matrix_clear(&m);
    struct ia_items it;
    char *ids[] = {"1"};
    ck_assert_int_eq(ia_read_items(path_in("no.item"), IA_ITEMS_AUTO, ids, 1, &it, &err), ENC_EIO);
}
END_TEST

START_TEST(latin1_ids_become_utf8)
{
    struct ia_matrix m;
    enc_err err = {0};
    ck_assert_int_eq(parse("caf\xe9\tx\ncaf\xc3\xa9\ty\n", 0, IA_FORMAT_AUTO, &m, &err), 0);
    /* the latin-1 and the UTF-8 spelling are the same user */
    ck_assert_uint_eq(m.n_users, 1);
    ck_assert_str_eq(m.user_ids[0], "caf\xc3\xa9");
    ia_matrix_clear(&m);
}
END_TEST

/* A five-genre u.item with latin-1 titles. */
static const char *uitem = "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|1|1|0\n"
                           "2|Mis\xe9rables, Les (1995)|01-Jan-1995||http://y|0|0|0|0|1\n"
                           "7|Unrated (1996)|||http://z|1|0|0|0|0\n";

START_TEST(uitem_with_ugenre)
{
    write_tmp("u.genre", "unknown|0\nAction|1\nAnimation|2\nChildren's|3\nDrama|4\n\n");
    const char *p = write_tmp("u.item", uitem);
    char *ids[] = {"1", "2", "3"}; /* item 3 has no metadata, 7 is not in the data */
    struct ia_items it;
    enc_err err = {0};
    ck_assert_int_eq(ia_read_items(p, IA_ITEMS_AUTO, ids, 3, &it, &err), 0);
    ck_assert_uint_eq(it.n_matched, 2);
    ck_assert_str_eq(it.titles[0], "Toy Story (1995)");
    ck_assert_str_eq(it.titles[1], "Mis\xc3\xa9rables, Les (1995)");
    ck_assert_str_eq(it.titles[2], "");
    ck_assert_uint_eq(it.n_tags, 5);
    ck_assert_str_eq(it.tag_names[3], "Children's");
    ck_assert_int_eq(it.tag_offsets[1] - it.tag_offsets[0], 2);
    ck_assert_int_eq(it.tag_ids[0], 2);
    ck_assert_int_eq(it.tag_ids[1], 3);
    ck_assert_int_eq(it.tag_ids[it.tag_offsets[1]], 4);
    ck_assert_int_eq(it.tag_offsets[3], it.tag_offsets[2]);
    ia_items_clear(&it);

    /* a bad flag names the line and the genre */
    p = write_tmp("u.item", "1|A|||u|0|0|0|0|0\n2|B|||u|0|2|0|0|0\n");
    ck_assert_int_eq(ia_read_items(p, IA_ITEMS_UITEM, ids, 3, &it, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "u.item:2:"));
    ck_assert_ptr_nonnull(strstr(err.msg, "Action"));
    /* wrong field count */
    p = write_tmp("u.item", "1|A|||u|0|0|0|0\n");
    ck_assert_int_eq(ia_read_items(p, IA_ITEMS_UITEM, ids, 3, &it, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "u.item:1: expected 10"));
    /* a broken u.genre is reported too */
    write_tmp("u.genre", "unknown|0\nAction|7\n");
    p = write_tmp("u.item", uitem);
    ck_assert_int_eq(ia_read_items(p, IA_ITEMS_UITEM, ids, 3, &it, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "u.genre:2:"));
}
END_TEST

START_TEST(uitem_standard_genres)
{
    /* No u.genre beside it: the standard 19 MovieLens genres. */
    const char *p =
        write_tmp("movies.item", "5|Film (1990)|||u|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|1\n");
    char *ids[] = {"5"};
    struct ia_items it;
    enc_err err = {0};
    ck_assert_int_eq(ia_read_items(p, IA_ITEMS_AUTO, ids, 1, &it, &err), 0);
    ck_assert_uint_eq(it.n_tags, 19);
    ck_assert_int_eq(it.tag_offsets[1], 1);
    ck_assert_str_eq(it.tag_names[it.tag_ids[0]], "Western");
    ia_items_clear(&it);
}
END_TEST

START_TEST(movies_csv)
{
    const char *p =
        write_tmp("movies.csv", "movieId,title,genres\n"
                                "1,Toy Story (1995),Adventure|Animation|Children\n"
                                "11,\"American President, The (1995)\",Comedy|Drama|Romance\n"
                                "12,\"Say \"\"Hi\"\" (2001)\",(no genres listed)\n"
                                "13,Am\xc3\xa9lie (2001),Comedy|Romance\n"
                                "50,Not Rated (1990),Western|Comedy\n"); /* not an item */
    char *ids[] = {"1", "11", "12", "13", "99"};
    struct ia_items it;
    enc_err err = {0};
    ck_assert_int_eq(ia_read_items(p, IA_ITEMS_AUTO, ids, 5, &it, &err), 0);
    ck_assert_uint_eq(it.n_matched, 4);
    ck_assert_str_eq(it.titles[1], "American President, The (1995)");
    ck_assert_str_eq(it.titles[2], "Say \"Hi\" (2001)");
    ck_assert_str_eq(it.titles[3], "Am\xc3\xa9lie (2001)");
    ck_assert_str_eq(it.titles[4], "");
    /* Adventure Animation Children Comedy Drama Romance: only the matrix's
     * items add tags (no Western) */
    ck_assert_uint_eq(it.n_tags, 6);
    ck_assert_str_eq(it.tag_names[5], "Romance");
    ck_assert_int_eq(it.tag_offsets[1], 3);
    ck_assert_int_eq(it.tag_offsets[3] - it.tag_offsets[2], 0);
    ck_assert_str_eq(it.tag_names[it.tag_ids[it.tag_offsets[3]]], "Comedy");
    ia_items_clear(&it);

    p = write_tmp("movies.csv", "movieId,title,genres\n1,\"Broken,Drama\n");
    ck_assert_int_eq(ia_read_items(p, IA_ITEMS_AUTO, ids, 5, &it, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "movies.csv:2: unterminated"));
    p = write_tmp("movies.csv", "movieId,title,genres\n1,A,B\n1,A,B\n");
    ck_assert_int_eq(ia_read_items(p, IA_ITEMS_AUTO, ids, 5, &it, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "movies.csv:3: duplicate"));
}
END_TEST

START_TEST(header_lines_detected)
{
    struct ia_matrix m;
    enc_err err = {0};
    /* a word above a column of numbers ("plays"), whatever the user column is called */
    ck_assert_int_eq(
        parse("listener\tartist\tplays\nu1\ta\t12\nu2\tb\t3\n", 0, IA_FORMAT_AUTO, &m, &err), 0);
    ck_assert_int_eq(m.header, 1);
    ck_assert_str_eq(m.header_text, "listener, artist, plays");
    ck_assert_int_eq(m.format, IA_FORMAT_TSV);
    ck_assert_int_eq(m.has_weights, 1);
    ck_assert_uint_eq(m.n_users, 2);
    ck_assert_double_eq(weight_of(&m, "u1", "a"), 12);
    ia_matrix_clear(&m);
    /* a known user column name over string ids, after a UTF-8 byte order mark */
    ck_assert_int_eq(
        parse("\xef\xbb\xbfuser_id,item_id\nalice,x\nbob,y\n", 0, IA_FORMAT_AUTO, &m, &err), 0);
    ck_assert_int_eq(m.header, 1);
    ck_assert_int_eq(m.has_weights, 0);
    ck_assert_str_eq(m.user_ids[0], "alice");
    ia_matrix_clear(&m);
    /* a four-column TSV with a header is still udata underneath */
    ck_assert_int_eq(
        parse("user\titem\trating\tts\n1\t2\t5\t881250949\n", 0, IA_FORMAT_AUTO, &m, &err), 0);
    ck_assert_int_eq(m.format, IA_FORMAT_UDATA);
    ck_assert_int_eq(m.header, 1);
    ia_matrix_clear(&m);
    /* no header: nothing skipped, nothing said */
    ck_assert_int_eq(parse("1\t2\t3\n4\t5\t6\n", 0, IA_FORMAT_AUTO, &m, &err), 0);
    ck_assert_int_eq(m.header, 0);
    ck_assert_uint_eq(m.n_records, 2);
    ia_matrix_clear(&m);
    /* the caller decides: "no" reads line 1 as data, "yes" skips it */
    struct ia_options no = {IA_FORMAT_AUTO, 0, IA_HEADER_NO};
    const char *t = "user\titem\nu1\ta\n";
    ck_assert_int_eq(ia_parse("mem", t, strlen(t), &no, &m, &err), 0);
    ck_assert_int_eq(m.header, 0);
    ck_assert_uint_eq(m.n_users, 2);
    ia_matrix_clear(&m);
    struct ia_options yes = {IA_FORMAT_AUTO, 0, IA_HEADER_YES};
    t = "1\t2\n3\t4\n";
    ck_assert_int_eq(ia_parse("mem", t, strlen(t), &yes, &m, &err), 0);
    ck_assert_int_eq(m.header, 1);
    ck_assert_uint_eq(m.n_records, 1);
    ia_matrix_clear(&m);
}
END_TEST

START_TEST(transpose_and_fill)
{
    struct ia_matrix m;
    enc_err err = {0};
    ck_assert_int_eq(parse("a\t1\na\t3\nb\t1\nb\t2\nc\t1\n", 0, IA_FORMAT_AUTO, &m, &err), 0);
    int64_t *tp;
    int32_t *ti;
    float *tw;
    ck_assert_int_eq(
        ia_transpose(m.n_users, m.n_items, m.indptr, m.indices, m.weights, &tp, &ti, &tw), 0);
    /* item "1" (row 0) has users a, b, c */
    ck_assert_int_eq(tp[1], 3);
    ck_assert_int_eq(ti[0], 0);
    ck_assert_int_eq(ti[2], 2);
    ck_assert_int_eq(tp[3], 5);
    free(tp);
    free(ti);
    free(tw);
    struct mf_data d;
    memset(&d, 0, sizeof d);
    ck_assert_int_eq(ia_fill_mf_data(&m, NULL, &d), 0);
    ck_assert_float_eq(d.item_popularity[0], 3);
    ck_assert_float_eq(d.item_popularity[2], 1);
    ck_assert_int_eq(d.seen_offsets[3], 5);
    ck_assert_str_eq(d.user_ids[2], "c");
    ck_assert_ptr_null(d.titles);
    mf_data_clear(&d);
    ia_matrix_clear(&m);
}
END_TEST

START_TEST(shared_movielens)
{
    const char *ds = tu_shared_datasets();
    if (!ds)
        tu_skip("no shared datasets directory");
    char p[4096], q[4096];
    struct ia_matrix m;
    struct ia_options o = {IA_FORMAT_AUTO, 4, IA_HEADER_AUTO};
    enc_err err = {0};
    snprintf(p, sizeof p, "%s/ml-100k/u.data", ds);
    ck_assert_msg(ia_read(p, &o, &m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.format, IA_FORMAT_UDATA);
    ck_assert_uint_eq(m.n_records, 55375); /* ratings >= 4, per the datasets README */
    ck_assert_uint_eq(m.n_users, 942);
    struct ia_items it;
    snprintf(q, sizeof q, "%s/ml-100k/u.item", ds);
    ck_assert_msg(ia_read_items(q, IA_ITEMS_AUTO, m.item_ids, m.n_items, &it, &err) == 0, "%s",
                  err.msg);
    ck_assert_uint_eq(it.n_matched, m.n_items);
    ck_assert_uint_eq(it.n_tags, 19);
    ia_items_clear(&it);
    ia_matrix_clear(&m);

    snprintf(p, sizeof p, "%s/ml-latest-small/ratings.csv", ds);
    o.min_rating = 0;
    ck_assert_msg(ia_read(p, &o, &m, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(m.format, IA_FORMAT_RATINGS_CSV);
    ck_assert_uint_eq(m.n_records, 100836);
    ck_assert_uint_eq(m.n_users, 610);
    ck_assert_uint_eq(m.n_items, 9724);
    snprintf(q, sizeof q, "%s/ml-latest-small/movies.csv", ds);
    ck_assert_msg(ia_read_items(q, IA_ITEMS_AUTO, m.item_ids, m.n_items, &it, &err) == 0, "%s",
                  err.msg);
    ck_assert_uint_eq(it.n_matched, 9724);
    ck_assert_uint_eq(it.n_tags, 19); /* 20 labels minus "(no genres listed)" */
    ia_items_clear(&it);
    ia_matrix_clear(&m);
}
END_TEST

/* The in-memory builder: id order, summed pairs, non-positive sums dropped
 * with the users and items they leave empty. */
START_TEST(builder_sums_and_drops)
{
    struct ia_builder *b;
    ck_assert_int_eq(ia_builder_new(&b), 0);
    ck_assert_int_eq(ia_builder_add(b, "10", 2, "b", 1, 1.0f), 0);
    ck_assert_int_eq(ia_builder_add(b, "2", 1, "a", 1, 1.0f), 0);
    ck_assert_int_eq(ia_builder_add(b, "2", 1, "a", 1, 2.0f), 0); /* summed: 3 */
    ck_assert_int_eq(ia_builder_add(b, "2", 1, "c", 1, 1.0f), 0);
    ck_assert_int_eq(ia_builder_add(b, "2", 1, "c", 1, -2.0f), 0); /* cancelled */
    ck_assert_int_eq(ia_builder_add(b, "7", 1, "c", 1, -1.0f), 0); /* user 7: nothing left */
    ck_assert_int_eq(ia_builder_add(b, "", 0, "c", 1, 1.0f), ENC_EINVAL);
    struct ia_matrix m;
    ck_assert_int_eq(ia_builder_finish(b, &m), 0);
    ia_builder_free(b);
    ck_assert_uint_eq(m.n_users, 2);
    ck_assert_str_eq(m.user_ids[0], "2"); /* numeric order */
    ck_assert_str_eq(m.user_ids[1], "10");
    ck_assert_uint_eq(m.n_items, 2); /* "c" is gone */
    ck_assert_str_eq(m.item_ids[0], "a");
    ck_assert_str_eq(m.item_ids[1], "b");
    ck_assert_uint_eq(m.nnz, 2);
    ck_assert_int_eq(m.indptr[1], 1);
    ck_assert_int_eq(m.indices[0], 0);
    ck_assert(m.weights[0] == 3.0f);
    ck_assert_int_eq(m.indices[1], 1);
    ia_matrix_clear(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("interactions");
    TCase *tc = tcase_create("interactions");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, udata_detected_and_ordered);
    tcase_add_test(tc, ratings_csv_with_header);
    tcase_add_test(tc, generic_tsv_csv_weights_and_duplicates);
    tcase_add_test(tc, id_order);
    tcase_add_test(tc, malformed_lines_named);
    tcase_add_test(tc, files_missing_and_empty);
    tcase_add_test(tc, latin1_ids_become_utf8);
    tcase_add_test(tc, uitem_with_ugenre);
    tcase_add_test(tc, uitem_standard_genres);
    tcase_add_test(tc, movies_csv);
    tcase_add_test(tc, header_lines_detected);
    tcase_add_test(tc, transpose_and_fill);
    tcase_add_test(tc, builder_sums_and_drops);
    suite_add_tcase(s, tc);
    tcase_add_test(tu_optional_tcase(s, "datasets"), shared_movielens);
    return tu_run(s);
}
