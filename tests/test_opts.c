/* test_opts.c - the trainer's option tables (trainer/opts.c): parsing every
 * type, OPT_ENUM's names and refusals, bounds, required options, and
 * opts_to_json writing exactly the OPT_HYPER rows with their parsed values. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "trainer.h"

static const char *const colours[] = {"red", "green", "blue", NULL};

struct vals {
    const char *name;
    int64_t n;
    double x;
    int flag, colour;
};

/* clang-format off */
#define TABLE(v)                                                                              \
    {                                                                                         \
        {"name", OPT_STR, &(v).name, "a string", 0, 0, 0, NULL, OPT_HYPER},                    \
        {"n-items", OPT_INT, &(v).n, "an integer", 1, 100, 0, NULL, OPT_HYPER},                \
        {"x", OPT_DOUBLE, &(v).x, "a number", 0, 1, 1, NULL, OPT_HYPER},                       \
        {"flag", OPT_FLAG, &(v).flag, "a flag", 0, 0, 0, NULL, OPT_HYPER},                     \
        {"colour", OPT_ENUM, &(v).colour, "a colour", 0, 0, 0, colours, OPT_HYPER},            \
        {"not-recorded", OPT_INT, &(v).n, "an input, not a hyperparameter", 0, -1, 0, NULL, 0}, \
        {NULL, 0, NULL, NULL, 0, 0, 0, NULL, 0},                                              \
    }
/* clang-format on */

/* Run opts_parse on a command line (words split on spaces); stderr into err. */
static int parse(struct vals *v, const char *line, char *err, size_t err_len)
{
    static char buf[512]; /* OPT_STR values point into it: kept until the next call */
    char *argv[32];
    int argc = 0;
    snprintf(buf, sizeof buf, "test %s", line);
    for (char *t = strtok(buf, " "); t && argc < 31; t = strtok(NULL, " "))
        argv[argc++] = t;
    argv[argc] = NULL;
    const struct opt opts[] = TABLE(*v);
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(fileno(stderr));
    dup2(fileno(tmp), fileno(stderr));
    int rc = opts_parse("test", "[options]", opts, argc, argv);
    fflush(stderr);
    dup2(saved, fileno(stderr));
    close(saved);
    rewind(tmp);
    size_t k = fread(err, 1, err_len - 1, tmp);
    err[k] = '\0';
    fclose(tmp);
    return rc;
}

START_TEST(every_type_parses)
{
    struct vals v = {.n = 5, .x = 0.5, .colour = 1};
    char err[512];
    ck_assert_int_eq(
        parse(&v, "--name abc --n-items=7 --x 0.25 --flag --colour blue", err, sizeof err), 0);
    ck_assert_str_eq(v.name, "abc");
    ck_assert_int_eq(v.n, 7);
    ck_assert_double_eq(v.x, 0.25);
    ck_assert_int_eq(v.flag, 1);
    ck_assert_int_eq(v.colour, 2);
    ck_assert_str_eq(err, "");
    /* defaults stay when an option is not given */
    struct vals d = {.n = 5, .colour = 1};
    ck_assert_int_eq(parse(&d, "--x 1", err, sizeof err), 0);
    ck_assert_int_eq(d.n, 5);
    ck_assert_int_eq(d.colour, 1);
    ck_assert_ptr_null(d.name);
}
END_TEST

START_TEST(refusals_name_the_option)
{
    struct vals v = {.n = 5};
    char err[512];
    ck_assert_int_eq(parse(&v, "--x 1 --colour purple", err, sizeof err), 2);
    ck_assert_str_eq(err, "encore-train test: --colour: 'purple' is not red, green or blue\n");
    ck_assert_int_eq(parse(&v, "--x 1 --colour", err, sizeof err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--colour needs a value"));
    ck_assert_int_eq(parse(&v, "--x 1 --n-items 101", err, sizeof err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--n-items: 101 is outside 1..100"));
    ck_assert_int_eq(parse(&v, "--x 1 --n-items 3.5", err, sizeof err), 2);
    ck_assert_ptr_nonnull(strstr(err, "not a valid integer"));
    ck_assert_int_eq(parse(&v, "--x nan", err, sizeof err), 2);
    ck_assert_ptr_nonnull(strstr(err, "not a valid number"));
    ck_assert_int_eq(parse(&v, "--x 1 --flag=1", err, sizeof err), 2);
    ck_assert_ptr_nonnull(strstr(err, "--flag takes no value"));
    ck_assert_int_eq(parse(&v, "--name a", err, sizeof err), 2); /* --x is required */
    ck_assert_ptr_nonnull(strstr(err, "--x is required"));
    ck_assert_int_eq(parse(&v, "--x 1 --nope 3", err, sizeof err), 2);
    ck_assert_ptr_nonnull(strstr(err, "unknown option '--nope'"));
    ck_assert_int_eq(parse(&v, "--x 1 stray", err, sizeof err), 2);
    ck_assert_ptr_nonnull(strstr(err, "unexpected argument 'stray'"));
}
END_TEST

START_TEST(hyperparameters_come_from_the_table)
{
    struct vals v = {.n = 5, .x = 0.5};
    char err[512];
    ck_assert_int_eq(parse(&v, "--x 0.75 --colour green --n-items 9", err, sizeof err), 0);
    const struct opt opts[] = TABLE(v);
    json_t *h = opts_to_json(opts);
    ck_assert_ptr_nonnull(h);
    char *s = json_dumps(h, JSON_COMPACT | JSON_SORT_KEYS);
    /* dashes become underscores; an enum is its name; an unset string is null;
     * rows without OPT_HYPER are not written */
    ck_assert_str_eq(s, "{\"colour\":\"green\",\"flag\":false,\"n_items\":9,\"name\":null,"
                        "\"x\":0.75}");
    free(s);
    json_decref(h);
    ck_assert_str_eq(opt_choice(&opts[4]), "green");
}
END_TEST

START_TEST(usage_lists_choices_and_defaults)
{
    struct vals v = {.n = 5, .x = 0.5, .colour = 2};
    const struct opt opts[] = TABLE(v);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    opts_usage(f, "test", "[options]", opts);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(text, "--colour red|green|blue"));
    ck_assert_ptr_nonnull(strstr(text, "a colour (default blue)"));
    ck_assert_ptr_nonnull(strstr(text, "an integer (default 5)"));
    ck_assert_ptr_nonnull(strstr(text, "a number (required)"));
    free(text);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("opts");
    TCase *tc = tcase_create("opts");
    tcase_add_test(tc, every_type_parses);
    tcase_add_test(tc, refusals_name_the_option);
    tcase_add_test(tc, hyperparameters_come_from_the_table);
    tcase_add_test(tc, usage_lists_choices_and_defaults);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
