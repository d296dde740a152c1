/*
 * cmd_split.c - encore-train split: a held-out slice for the quality gate.
 *
 *   encore-train split --interactions FILE --train OUT --test OUT
 *                      [--fraction 0.1] [--seed 1]
 *
 * Each interaction line goes to the test file with probability `fraction`
 * (a hash of the seed and the line, so the same input splits the same way),
 * except a user's first line, which always stays in training so that every
 * test user is known to the model. A header line (one naming "user") is
 * copied to both files. Lines are kept byte for byte: any format that
 * `encore-train als --interactions` reads splits.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trainer.h"

static uint64_t fnv(uint64_t h, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

int cmd_split(int argc, char **argv)
{
    const char *in = NULL, *train = NULL, *test = NULL;
    double fraction = 0.1;
    int64_t seed = 1;
    struct opt opts[] = {
        {"interactions", OPT_STR, &in, "interactions file (any format als reads)", 0, 0, 1},
        {"train", OPT_STR, &train, "training lines out", 0, 0, 1},
        {"test", OPT_STR, &test, "held-out lines out", 0, 0, 1},
        {"fraction", OPT_DOUBLE, &fraction, "share of each user's later lines held out", 0.001, 0.9,
         0},
        {"seed", OPT_INT, &seed, "hash seed", 0, 1e15, 0},
        {NULL},
    };
    int rc = opts_parse("split", "--interactions FILE --train OUT --test OUT [--fraction X]", opts,
                        argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    FILE *f = fopen(in, "r"), *a = fopen(train, "w"), *b = fopen(test, "w");
    if (!f || !a || !b) {
        fprintf(stderr, "encore-train split: cannot open %s\n", !f ? in : !a ? train : test);
        if (f)
            fclose(f);
        if (a)
            fclose(a);
        if (b)
            fclose(b);
        return 1;
    }
    /* users seen so far: an open-addressing set of 64-bit hashes */
    size_t cap = 1 << 16, used = 0;
    uint64_t *seen = calloc(cap, sizeof *seen);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    long n = 0, held = 0;
    while (seen && (len = getline(&line, &lcap, f)) > 0) {
        n++;
        size_t ul = strcspn(line, "\t,:\r\n ");
        if (n == 1 && (strstr(line, "user") || strstr(line, "User"))) {
            fputs(line, a);
            fputs(line, b);
            continue;
        }
        uint64_t u = fnv(1469598103934665603ull, line, ul) | 1;
        size_t i = (size_t)(u % cap);
        while (seen[i] && seen[i] != u)
            i = (i + 1) % cap;
        int first = !seen[i];
        if (first) {
            seen[i] = u;
            if (++used * 2 > cap) { /* grow */
                size_t ncap = cap * 2;
                uint64_t *ns = calloc(ncap, sizeof *ns);
                if (!ns) {
                    free(seen);
                    seen = NULL;
                    break;
                }
                for (size_t k = 0; k < cap; k++)
                    if (seen[k]) {
                        size_t j = (size_t)(seen[k] % ncap);
                        while (ns[j])
                            j = (j + 1) % ncap;
                        ns[j] = seen[k];
                    }
                free(seen);
                seen = ns;
                cap = ncap;
            }
        }
        uint64_t h =
            fnv(fnv(1469598103934665603ull, (const char *)&seed, sizeof seed), line, (size_t)len);
        int to_test = !first && (double)(h % 1000000) < fraction * 1e6;
        fputs(line, to_test ? b : a);
        held += to_test;
    }
    free(line);
    fclose(f);
    int bad = fclose(a) != 0;
    bad |= fclose(b) != 0;
    if (!seen || bad) {
        fprintf(stderr, "encore-train split: %s\n", !seen ? "out of memory" : "write error");
        free(seen);
        return 1;
    }
    free(seen);
    fprintf(stderr, "encore-train split: %s: %ld lines, %ld held out in %s\n", in, n, held, test);
    return 0;
}
