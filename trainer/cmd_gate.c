/*
 * cmd_gate.c - encore-train gate: a quality gate before publishing.
 *
 *   encore-train gate --model CANDIDATE --train FILE --test FILE [--k 10]
 *                     [--min-ndcg X] [--baseline LIVE] [--tolerance T]
 *
 * Runs `encore-train eval` (this same binary, so the measure is exactly the
 * serving path's) on the candidate and, with --baseline, on the live model
 * (a directory or s3://.../NAME; missing = nothing to compare with), and
 * exits 0 when the candidate's NDCG@k is >= --min-ndcg or >= the live
 * version's minus --tolerance, else 1. In the CronJob it is the step
 * between training (into a scratch directory) and `encore-train publish`.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/repo.h"
#include "trainer.h"

/* NDCG@k of `model` from `encore-train eval` as a child process. */
static int ndcg_of(const char *model, const char *train, const char *test, int64_t k, double *out)
{
    int fd[2];
    if (pipe(fd) != 0)
        return -1;
    char kbuf[32];
    snprintf(kbuf, sizeof kbuf, "%lld", (long long)k);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        dup2(fd[1], 1);
        close(fd[0]);
        close(fd[1]);
        execl("/proc/self/exe", "encore-train", "eval", "--model", model, "--train", train,
              "--test", test, "--k", kbuf, (char *)NULL);
        _exit(127);
    }
    close(fd[1]);
    char buf[1 << 16];
    size_t n = 0;
    ssize_t r;
    while (n < sizeof buf - 1 && (r = read(fd[0], buf + n, sizeof buf - 1 - n)) > 0)
        n += (size_t)r;
    buf[n] = '\0';
    close(fd[0]);
    int status;
    waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return -1;
    json_t *j = json_loads(buf, 0, NULL);
    json_t *v = json_object_get(json_object_get(j, "model"), "ndcg");
    int ok = json_is_number(v);
    if (ok)
        *out = json_number_value(v);
    json_decref(j);
    return ok ? 0 : -1;
}

int cmd_gate(int argc, char **argv)
{
    const char *model = NULL, *train = NULL, *test = NULL, *baseline = NULL;
    int64_t k = 10;
    double min_ndcg = -1, tolerance = 0;
    struct opt opts[] = {
        {"model", OPT_STR, &model, "candidate model (version or model directory)", 0, 0, 1},
        {"train", OPT_STR, &train, "training interactions (for seen items)", 0, 0, 1},
        {"test", OPT_STR, &test, "held-out interactions", 0, 0, 1},
        {"k", OPT_INT, &k, "cut-off", 1, 1000, 0},
        {"min-ndcg", OPT_DOUBLE, &min_ndcg, "pass when NDCG@k >= this (-1: not used)", -1, 1, 0},
        {"baseline", OPT_STR, &baseline, "live model to beat (directory or s3://.../NAME)", 0, 0,
         0},
        {"tolerance", OPT_DOUBLE, &tolerance, "pass when NDCG@k >= the live one's minus this", 0, 1,
         0},
        {NULL},
    };
    int rc = opts_parse("gate",
                        "--model DIR --train FILE --test FILE [--min-ndcg X] "
                        "[--baseline DIR]",
                        opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    if (min_ndcg < 0 && !baseline) {
        fprintf(stderr, "encore-train gate: give --min-ndcg, --baseline or both\n");
        return 2;
    }
    double cand;
    if (ndcg_of(model, train, test, k, &cand)) {
        fprintf(stderr, "encore-train gate: evaluating %s failed (see above)\n", model);
        return 1;
    }
    int have_base = 0;
    double base = 0;
    if (baseline && strcmp(baseline, "none") != 0) {
        char *path = NULL;
        enc_err err = {0};
        if (repo_resolve(baseline, &path, NULL, NULL, &err) == 0) {
            free(path);
            if (ndcg_of(baseline, train, test, k, &base)) {
                fprintf(stderr, "encore-train gate: evaluating the baseline %s failed\n", baseline);
                return 1;
            }
            have_base = 1;
        } else
            fprintf(stderr, "encore-train gate: no baseline (%s)\n", err.msg);
    }
    int by_min = min_ndcg >= 0 && cand >= min_ndcg;
    int by_base = baseline && (!have_base || cand >= base - tolerance);
    int pass = by_min || by_base;
    printf("{\"pass\":%s,\"ndcg\":%.6f,\"k\":%lld,\"min_ndcg\":%g,\"baseline_ndcg\":",
           pass ? "true" : "false", cand, (long long)k, min_ndcg);
    if (have_base)
        printf("%.6f}\n", base);
    else
        printf("null}\n");
    fprintf(stderr, "encore-train gate: NDCG@%lld %.4f%s%s: %s\n", (long long)k, cand,
            have_base ? ", live " : "", have_base ? "version measured" : "",
            pass ? "pass" : "FAIL (not publishing)");
    return pass ? 0 : 1;
}
