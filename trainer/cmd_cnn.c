/*
 * cmd_cnn.c - encore-train cnn: train a convolutional image classifier on
 * IDX (MNIST / Fashion-MNIST layout, gzip or raw) or CSV images and publish
 * it as the next version of REPO/NAME (family "cnn", see models/cnn/cnn.h).
 *
 * Progress (one line per epoch: loss, train accuracy, held-out accuracy,
 * seconds) goes to stderr; one JSON summary line to stdout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cnn/cnn.h"
#include "cnn/idx.h"
#include "trainer.h"

/* Split "a,b,c" into exactly n names (malloc'd array of pointers into a
 * malloc'd copy); returns 0 or -1 when the count differs. */
static int split_names(const char *s, int n, char ***names, char **copy)
{
    *copy = strdup(s);
    *names = calloc((size_t)n, sizeof **names);
    if (!*copy || !*names)
        return -1;
    int k = 0;
    char *p = *copy;
    for (;;) {
        char *c = strchr(p, ',');
        if (k == n)
            return -1;
        (*names)[k++] = p;
        if (!c)
            break;
        *c = 0;
        p = c + 1;
    }
    return k == n ? 0 : -1;
}

/* Parse --augment: "none" or a comma list of "flip" and "shiftN" (N 1..8).
 * Returns 0 or -1 on an unknown item. */
static int parse_augment(const char *s, int *flip, int *shift)
{
    *flip = 0;
    *shift = 0;
    if (strcmp(s, "none") == 0)
        return 0;
    if (*s == 0)
        return -1;
    while (*s) {
        size_t len = strcspn(s, ",");
        if (len == 4 && strncmp(s, "flip", 4) == 0) {
            *flip = 1;
        } else if (len == 6 && strncmp(s, "shift", 5) == 0 && s[5] >= '1' && s[5] <= '8') {
            *shift = s[5] - '0';
        } else {
            return -1;
        }
        s += len;
        if (*s == ',' && *++s == 0)
            return -1;
    }
    return 0;
}

/* The names each enum option takes, in the order of the values they map to. */
static const char *const optimizer_names[] = {"adam", "sgd", NULL};
static const char *const thread_mode_names[] = {"batch", "blas", NULL};
static const char *const init_names[] = {"he", "glorot", "uniform", NULL};
static const enum cnn_init init_schemes[] = {CNN_INIT_HE, CNN_INIT_GLOROT, CNN_INIT_UNIFORM};
static const char *const scaling_names[] = {"standardize", "unit", NULL};
static const char *const schedule_names[] = {"constant", "cosine", NULL};

#define CNN_N_OPTS 21 /* rows of parse_cli's table, the terminator included */

/* The index of `name` in a NULL-terminated list (it must be there). */
static int choice(const char *const *names, const char *name)
{
    int k = 0;
    while (strcmp(names[k], name) != 0)
        k++;
    return k;
}

/* Everything the command line says, parsed and checked. */
struct cnn_cli {
    const char *train_images, *train_labels, *test_images, *test_labels, *out, *arch;
    const char *class_names, *augment;
    int optimizer, thread_mode, init, scaling, schedule; /* indexes into the names above */
    int64_t epochs, batch, seed, threads, version;
    double lr, momentum;
    int flip, shift; /* from --augment */
};

/* Parse argv into *c and the option table `opts` (kept: it writes the model's
 * hyperparameters). Returns 0, or the exit status (0 after --help: *help). */
static int parse_cli(int argc, char **argv, struct cnn_cli *c, struct opt *opts, int *help)
{
    const struct opt table[] = {
        {"train-images", OPT_STR, &c->train_images,
         "training images: IDX (.gz or raw) or CSV "
         "(label,pixels...)",
         0, 0, 1},
        {"train-labels", OPT_STR, &c->train_labels, "training labels (IDX; not for CSV)", 0, 0, 0},
        {"test-images", OPT_STR, &c->test_images, "held-out images, scored after each epoch", 0, 0,
         0},
        {"test-labels", OPT_STR, &c->test_labels, "held-out labels (IDX; not for CSV)", 0, 0, 0},
        {"out", OPT_STR, &c->out, "model directory REPO/NAME", 0, 0, 1},
        {"arch", OPT_STR, &c->arch,
         "layers, e.g. conv32k3,relu,pool2,conv64k3,relu,pool2,dense128,"
         "relu,dense10",
         0, 0, 0, NULL, OPT_HYPER},
        {"epochs", OPT_INT, &c->epochs, "passes over the training set", 0, 10000, 0, NULL,
         OPT_HYPER},
        {"batch", OPT_INT, &c->batch, "mini-batch size", 1, 4096, 0, NULL, OPT_HYPER},
        {"lr", OPT_DOUBLE, &c->lr, "learning rate", 1e-9, 10, 0, NULL, OPT_HYPER},
        {"schedule", OPT_ENUM, &c->schedule,
         "learning rate: constant, or cosine (decays to 0 "
         "over the run)",
         0, 0, 0, schedule_names, OPT_HYPER},
        {"optimizer", OPT_ENUM, &c->optimizer, "adam, or sgd (with --momentum)", 0, 0, 0,
         optimizer_names, OPT_HYPER},
        {"momentum", OPT_DOUBLE, &c->momentum, "SGD momentum", 0, 0.9999, 0, NULL, OPT_HYPER},
        {"seed", OPT_INT, &c->seed, "random seed (initialisation, shuffling, dropout)", 0, 9e18, 0,
         NULL, OPT_HYPER},
        {"threads", OPT_INT, &c->threads, "worker threads", 1, 64, 0, NULL, OPT_HYPER},
        {"thread-mode", OPT_ENUM, &c->thread_mode,
         "batch (split each batch over pthreads) or "
         "blas (OpenBLAS threads inside each GEMM)",
         0, 0, 0, thread_mode_names, OPT_HYPER},
        {"init", OPT_ENUM, &c->init,
         "weights: he (He before ReLU, else Glorot), glorot, or "
         "uniform (+-1/sqrt(fan_in), PyTorch's default)",
         0, 0, 0, init_names, OPT_HYPER},
        {"scaling", OPT_ENUM, &c->scaling,
         "input scaling: standardize (mean 0, std 1 over the "
         "training pixels) or unit (pixels / 255)",
         0, 0, 0, scaling_names, OPT_HYPER},
        {"augment", OPT_STR, &c->augment,
         "training-image augmentation: none, or a comma list of "
         "flip (mirror left-right, p = 1/2) and shiftN (move by -N..N pixels each way, N 1..8)",
         0, 0, 0, NULL, OPT_HYPER},
        {"class-names", OPT_STR, &c->class_names, "comma-separated class names (default 0..N-1)", 0,
         0, 0},
        {"version", OPT_INT, &c->version, "version to write (0: the next free one)", 0, 1e15, 0},
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    _Static_assert(sizeof table == CNN_N_OPTS * sizeof(struct opt), "CNN_N_OPTS: table rows");
    memcpy(opts, table, sizeof table);
    *help = 0;
    int rc = opts_parse("cnn",
                        "--train-images F [--train-labels F] [--test-images F "
                        "--test-labels F] --out REPO/NAME [options]",
                        opts, argc, argv);
    if (rc) {
        *help = rc == 1;
        return rc == 1 ? 0 : rc;
    }
    if (parse_augment(c->augment, &c->flip, &c->shift)) {
        fprintf(stderr,
                "encore-train cnn: --augment must be none or a comma list of flip and "
                "shiftN (N 1..8), not '%s'\n",
                c->augment);
        return 2;
    }
    if ((c->test_images == NULL) != (c->test_labels == NULL) &&
        !(c->test_images && strstr(c->test_images, ".csv"))) {
        fprintf(stderr, "encore-train cnn: --test-images and --test-labels go together\n");
        return 2;
    }
    return 0;
}

/* The images, and the network for them (class names set). Returns 0 or the
 * exit status after printing why. */
static int load_data_and_net(const struct cnn_cli *c, struct idx_dataset *tr,
                             struct idx_dataset *te, struct cnn_net **net)
{
    enc_err err = {0};
    if (idx_load_any(c->train_images, c->train_labels, tr, &err) ||
        (c->test_images && idx_load_any(c->test_images, c->test_labels, te, &err))) {
        fprintf(stderr, "encore-train cnn: %s\n", err.msg);
        return 1;
    }
    if (c->test_images && (te->rows != tr->rows || te->cols != tr->cols)) {
        fprintf(stderr,
                "encore-train cnn: %s: images are %zu x %zu, the training images "
                "%zu x %zu\n",
                c->test_images, te->rows, te->cols, tr->rows, tr->cols);
        return 1;
    }
    fprintf(stderr, "encore-train cnn: %zu training images %zu x %zu, %d classes", tr->n, tr->rows,
            tr->cols, tr->n_classes);
    if (c->test_images)
        fprintf(stderr, "; %zu held-out images", te->n);
    fprintf(stderr, "\n");
    if (cnn_new(c->arch, (int)tr->rows, (int)tr->cols, 1, net, &err)) {
        fprintf(stderr, "encore-train cnn: --arch: %s\n", err.msg);
        return 2;
    }
    if (c->class_names) {
        char **names = NULL, *copy = NULL;
        int rc = 0;
        if (split_names(c->class_names, (*net)->n_classes, &names, &copy)) {
            fprintf(stderr,
                    "encore-train cnn: --class-names: expected %d comma-separated "
                    "names\n",
                    (*net)->n_classes);
            rc = 2;
        } else if (cnn_set_class_names(*net, (const char *const *)names)) {
            fprintf(stderr, "encore-train cnn: out of memory\n");
            rc = 1;
        }
        free(names);
        free(copy);
        if (rc)
            return rc;
    }
    cnn_init(*net, (uint64_t)c->seed, init_schemes[c->init]);
    return 0;
}

/* Publish the trained network with its hyperparameters (the option table's,
 * the arch as the network spells it) and print the JSON summary. */
static int publish(const struct cnn_cli *c, const struct opt *opts, const struct cnn_net *net,
                   const struct idx_dataset *tr, double train_s, double test_acc, double t0)
{
    const char *inputs[4] = {c->train_images, c->train_labels, c->test_images, c->test_labels};
    char fp[65];
    if (trainer_fingerprint(inputs, 4, fp)) {
        fprintf(stderr, "encore-train cnn: cannot read the inputs again to fingerprint them\n");
        return 1;
    }
    json_t *hyper = opts_to_json(opts);
    if (hyper && json_object_set_new(hyper, "arch", json_string(net->arch))) {
        json_decref(hyper);
        hyper = NULL;
    }
    enc_err err = {0};
    int64_t written = 0;
    if (!hyper || model_save(&cnn_ops, net, hyper, fp, c->out, c->version, &written, &err)) {
        fprintf(stderr, "encore-train cnn: %s\n", hyper ? err.msg : "out of memory");
        json_decref(hyper);
        return 1;
    }
    json_decref(hyper);
    json_t *res =
        json_pack("{s:s, s:I, s:s, s:I, s:I, s:f, s:f, s:f}", "model", c->out, "version",
                  (json_int_t)written, "arch", net->arch, "parameters", (json_int_t)net->n_params,
                  "train_images", (json_int_t)tr->n, "train_seconds", train_s, "seconds_per_epoch",
                  c->epochs ? train_s / (double)c->epochs : 0.0, "seconds", trainer_now() - t0);
    if (res && c->test_images)
        json_object_set_new(res, "test_accuracy", json_real(test_acc));
    if (res) {
        json_dumpf(res, stdout, JSON_COMPACT);
        printf("\n");
    }
    json_decref(res);
    return 0;
}

int cmd_cnn(int argc, char **argv)
{
    struct cnn_cli c = {.arch = CNN_DEFAULT_ARCH,
                        .augment = "none",
                        .epochs = 5,
                        .batch = 128,
                        .seed = 42,
                        .threads = 2,
                        .lr = 0.001,
                        .momentum = 0.9,
                        .optimizer = choice(optimizer_names, "adam"),
                        .thread_mode = choice(thread_mode_names, "batch"),
                        .init = choice(init_names, "uniform"),
                        .scaling = choice(scaling_names, "standardize"),
                        .schedule = choice(schedule_names, "cosine")};
    struct opt opts[CNN_N_OPTS];
    int help;
    int rc = parse_cli(argc, argv, &c, opts, &help);
    if (rc || help)
        return rc;
    double t0 = trainer_now();
    struct idx_dataset tr = {0}, te = {0};
    struct cnn_net *net = NULL;
    rc = load_data_and_net(&c, &tr, &te, &net);
    if (rc == 0) {
        fprintf(stderr,
                "encore-train cnn: arch %s, %zu parameters, %s lr %g, batch %lld, "
                "%lld epochs, %lld threads (%s), augment %s\n",
                net->arch, net->n_params, optimizer_names[c.optimizer], c.lr, (long long)c.batch,
                (long long)c.epochs, (long long)c.threads, thread_mode_names[c.thread_mode],
                c.augment);
        struct cnn_train_opts o = {
            .epochs = (int)c.epochs,
            .batch = (int)c.batch,
            .lr = c.lr,
            .cosine = !strcmp(schedule_names[c.schedule], "cosine"),
            .adam = !strcmp(optimizer_names[c.optimizer], "adam"),
            .momentum = c.momentum,
            .seed = (uint64_t)c.seed,
            .threads = (int)c.threads,
            .split_batch = !strcmp(thread_mode_names[c.thread_mode], "batch"),
            .standardize = !strcmp(scaling_names[c.scaling], "standardize"),
            .flip = c.flip,
            .shift = c.shift,
            .progress = stderr,
        };
        double test_acc = -1, t1 = trainer_now();
        enc_err err = {0};
        if (cnn_train(net, &tr, c.test_images ? &te : NULL, &o, &test_acc, &err)) {
            fprintf(stderr, "encore-train cnn: %s\n", err.msg);
            rc = 1;
        } else
            rc = publish(&c, opts, net, &tr, trainer_now() - t1, test_acc, t0);
    }
    cnn_free(net);
    idx_dataset_clear(&tr);
    idx_dataset_clear(&te);
    return rc;
}
