/* test_items.c - item metadata files of every kind (models/mf/items.c):
 * CSV / TSV with named columns, numbered columns, latin-1 files, tags with
 * '|' or ',', and the messages when nothing fits. (u.item and movies.csv
 * proper are in test_interactions.c.) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mf/interactions.h"
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

static const char *write_tmp(const char *name, const char *contents)
{
    static char buf[4][4096];
    static int slot;
    char *b = buf[slot++ % 4];
    snprintf(b, 4096, "%s/%s", dir, name);
    ck_assert_int_eq(tu_write_file(b, contents, strlen(contents)), 0);
    return b;
}

static int read_spec(const char *path, enum ia_items_format fmt, int id, int title, int tags,
                     char **ids, size_t n, struct ia_items *it, enc_err *err)
{
    struct ia_items_spec spec = {fmt, id, title, tags};
    return ia_read_items_spec(path, &spec, ids, n, it, err);
}

START_TEST(artists_tsv_with_a_header)
{
    /* A music service's artist file: id, name and two URLs, no tags. */
    const char *p = write_tmp("artists.tsv", "id\tname\turl\tpictureURL\n"
                                             "1\tMALICE MIZER\thttp://a/1\thttp://p/1.jpg\n"
                                             "2\tDiary of Dreams\thttp://a/2\thttp://p/2.jpg\n"
                                             "3\tBj\xc3\xb6rk\thttp://a/3\thttp://p/3.jpg\n");
    char *ids[] = {"2", "3", "9"};
    struct ia_items it;
    enc_err err = {0};
    ck_assert_msg(ia_read_items(p, IA_ITEMS_AUTO, ids, 3, &it, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(it.format, IA_ITEMS_TSV);
    ck_assert_int_eq(it.header, 1);
    ck_assert_int_eq(it.latin1, 0);
    ck_assert_int_eq(it.id_col, 1);
    ck_assert_int_eq(it.title_col, 2);
    ck_assert_int_eq(it.tags_col, 0);
    ck_assert_uint_eq(it.n_records, 3);
    ck_assert_uint_eq(it.n_matched, 2);
    ck_assert_str_eq(it.titles[0], "Diary of Dreams");
    ck_assert_str_eq(it.titles[1], "Bj\xc3\xb6rk");
    ck_assert_str_eq(it.titles[2], "");
    ck_assert_uint_eq(it.n_tags, 0);
    char how[256];
    ia_items_describe(&it, how, sizeof how);
    ck_assert_str_eq(how, "tsv with a header, UTF-8: id = column 1 (id), title = column 2 "
                          "(name), tags = none");
    ia_items_clear(&it);
}
END_TEST

START_TEST(csv_named_columns_any_order_and_tags)
{
    /* title before id, tags separated by ',' inside a quoted field or by '|' */
    const char *p = write_tmp("books.csv", "Book Title,category,Item_ID,year\n"
                                           "\"Dune, the novel\",\"sci-fi, classic\",b1,1965\n"
                                           "Emma,romance|classic,b2,1815\n"
                                           "Nothing,,b3,2000\n");
    char *ids[] = {"b1", "b2", "b3"};
    struct ia_items it;
    enc_err err = {0};
    ck_assert_msg(ia_read_items(p, IA_ITEMS_AUTO, ids, 3, &it, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(it.format, IA_ITEMS_CSV);
    ck_assert_int_eq(it.id_col, 3);
    ck_assert_int_eq(it.title_col, 1);
    ck_assert_int_eq(it.tags_col, 2);
    ck_assert_str_eq(it.titles[0], "Dune, the novel");
    ck_assert_uint_eq(it.n_tags, 3); /* sci-fi, classic, romance */
    ck_assert_int_eq(it.tag_offsets[1] - it.tag_offsets[0], 2);
    ck_assert_int_eq(it.tag_offsets[2] - it.tag_offsets[1], 2);
    ck_assert_int_eq(it.tag_offsets[3] - it.tag_offsets[2], 0);
    ck_assert_str_eq(it.tag_names[it.tag_ids[it.tag_offsets[1] + 1]], "romance");
    ia_items_clear(&it);
}
END_TEST

START_TEST(numbered_columns_latin1)
{
    /* No header; latin-1 bytes (0xE9 e-acute): the whole file is decoded. */
    const char *p = write_tmp("films.tsv", "x\t10\tCaf\xe9 Society\tDrama|Comedy\n"
                                           "y\t11\tLes Mis\xe9rables\tDrama\n");
    char *ids[] = {"10", "11"};
    struct ia_items it;
    enc_err err = {0};
    ck_assert_msg(read_spec(p, IA_ITEMS_TSV, 2, 3, 4, ids, 2, &it, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(it.latin1, 1);
    ck_assert_int_eq(it.header, 0);
    ck_assert_str_eq(it.titles[0], "Caf\xc3\xa9 Society");
    ck_assert_str_eq(it.titles[1], "Les Mis\xc3\xa9rables");
    ck_assert_uint_eq(it.n_tags, 2);
    char how[256];
    ia_items_describe(&it, how, sizeof how);
    ck_assert_ptr_nonnull(strstr(how, "latin-1 (converted to UTF-8)"));
    ck_assert_ptr_nonnull(strstr(how, "without a header"));
    ia_items_clear(&it);

    /* numbered columns over a file with a header: the header is skipped */
    p = write_tmp("h.tsv", "code\tlabel\n10\tTen\n11\tEleven\n");
    ck_assert_msg(read_spec(p, IA_ITEMS_AUTO, 1, 2, 0, ids, 2, &it, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(it.header, 1);
    ck_assert_str_eq(it.titles[1], "Eleven");
    ia_items_clear(&it);

    /* a column the file lacks, and half a specification */
    ck_assert_int_eq(read_spec(p, IA_ITEMS_TSV, 1, 5, 0, ids, 2, &it, &err), ENC_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "column 5"));
    ck_assert_int_eq(read_spec(p, IA_ITEMS_TSV, 1, 0, 0, ids, 2, &it, &err), ENC_EINVAL);
    ck_assert_ptr_nonnull(strstr(err.msg, "--title-col"));
}
END_TEST

START_TEST(detection_failures_say_what_was_tried)
{
    char *ids[] = {"1"};
    struct ia_items it;
    enc_err err = {0};
    /* columns without names and no numbers given */
    const char *p = write_tmp("anon.tsv", "1\tA\tx\n2\tB\ty\n");
    ck_assert_int_eq(ia_read_items(p, IA_ITEMS_AUTO, ids, 1, &it, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "anon.tsv:1: cannot detect the item format"));
    ck_assert_ptr_nonnull(strstr(err.msg, "tried uitem"));
    ck_assert_ptr_nonnull(strstr(err.msg, "--item-id-col"));
    /* one word per line: no separator at all */
    p = write_tmp("words.txt", "alpha\nbeta\n");
    ck_assert_int_eq(ia_read_items(p, IA_ITEMS_AUTO, ids, 1, &it, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "no separator"));
    /* csv asked for, no header names */
    p = write_tmp("anon.csv", "1,A\n2,B\n");
    ck_assert_int_eq(ia_read_items(p, IA_ITEMS_CSV, ids, 1, &it, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "no header naming an id column"));
    /* a short line names its line */
    p = write_tmp("short.csv", "id,title,genres\n1,A,x\n2\n");
    ck_assert_int_eq(ia_read_items(p, IA_ITEMS_AUTO, ids, 1, &it, &err), ENC_EFORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "short.csv:3:"));
}
END_TEST

START_TEST(uitem_latin1_said)
{
    const char *p = write_tmp("u.item", "1|Mis\xe9rables (1995)|||u|0|1\n");
    write_tmp("u.genre", "a|0\nb|1\n");
    char *ids[] = {"1"};
    struct ia_items it;
    enc_err err = {0};
    ck_assert_msg(ia_read_items(p, IA_ITEMS_AUTO, ids, 1, &it, &err) == 0, "%s", err.msg);
    ck_assert_int_eq(it.format, IA_ITEMS_UITEM);
    ck_assert_int_eq(it.latin1, 1);
    ck_assert_str_eq(it.titles[0], "Mis\xc3\xa9rables (1995)");
    char how[256];
    ia_items_describe(&it, how, sizeof how);
    ck_assert_str_eq(how, "uitem (MovieLens u.item), latin-1 (converted to UTF-8), 2 genres");
    ia_items_clear(&it);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("items");
    TCase *tc = tcase_create("items");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, artists_tsv_with_a_header);
    tcase_add_test(tc, csv_named_columns_any_order_and_tags);
    tcase_add_test(tc, numbered_columns_latin1);
    tcase_add_test(tc, detection_failures_say_what_was_tried);
    tcase_add_test(tc, uitem_latin1_said);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
