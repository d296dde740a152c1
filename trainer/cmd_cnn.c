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
        } else if (len == 6 && strncmp(s, "shift", 5) == 0 && s[5] >= '1' &&
                   s[5] <= '8') {
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

int cmd_cnn(int argc, char **argv)
{
    const char *train_images = NULL, *train_labels = NULL, *test_images = NULL,
               *test_labels = NULL, *out = NULL, *arch = CNN_DEFAULT_ARCH, *optimizer = "adam",
               *thread_mode = "batch", *class_names = NULL, *init = "uniform",
               *scaling = "standardize", *schedule = "cosine", *augment = "none";
    int64_t epochs = 5, batch = 128, seed = 42, threads = 2, version = 0;
    double lr = 0.001, momentum = 0.9;
    const struct opt opts[] = {
        {"train-images", OPT_STR, &train_images, "training images: IDX (.gz or raw) or CSV "
         "(label,pixels...)", 0, 0, 1},
        {"train-labels", OPT_STR, &train_labels, "training labels (IDX; not for CSV)", 0, 0, 0},
        {"test-images", OPT_STR, &test_images, "held-out images, scored after each epoch", 0, 0, 0},
        {"test-labels", OPT_STR, &test_labels, "held-out labels (IDX; not for CSV)", 0, 0, 0},
        {"out", OPT_STR, &out, "model directory REPO/NAME", 0, 0, 1},
        {"arch", OPT_STR, &arch, "layers, e.g. conv32k3,relu,pool2,conv64k3,relu,pool2,dense128,"
         "relu,dense10", 0, 0, 0},
        {"epochs", OPT_INT, &epochs, "passes over the training set", 0, 10000, 0},
        {"batch", OPT_INT, &batch, "mini-batch size", 1, 4096, 0},
        {"lr", OPT_DOUBLE, &lr, "learning rate", 1e-9, 10, 0},
        {"schedule", OPT_STR, &schedule, "learning rate: constant, or cosine (decays to 0 over "
         "the run)", 0, 0, 0},
        {"optimizer", OPT_STR, &optimizer, "adam or sgd (with --momentum)", 0, 0, 0},
        {"momentum", OPT_DOUBLE, &momentum, "SGD momentum", 0, 0.9999, 0},
        {"seed", OPT_INT, &seed, "random seed (initialisation, shuffling, dropout)", 0, 9e18, 0},
        {"threads", OPT_INT, &threads, "worker threads", 1, 64, 0},
        {"thread-mode", OPT_STR, &thread_mode, "batch (split each batch over pthreads) or blas "
         "(OpenBLAS threads inside each GEMM)", 0, 0, 0},
        {"init", OPT_STR, &init, "weights: he (He before ReLU, else Glorot), glorot, or uniform "
         "(+-1/sqrt(fan_in), PyTorch's default)", 0, 0, 0},
        {"scaling", OPT_STR, &scaling, "input scaling: standardize (mean 0, std 1 over the training "
         "pixels) or unit (pixels / 255)", 0, 0, 0},
        {"augment", OPT_STR, &augment, "training-image augmentation: none, or a comma list of "
         "flip (mirror left-right, p = 1/2) and shiftN (move by -N..N pixels each way, N 1..8)",
         0, 0, 0},
        {"class-names", OPT_STR, &class_names, "comma-separated class names (default 0..N-1)", 0, 0,
         0},
        {"version", OPT_INT, &version, "version to write (0: the next free one)", 0, 1e15, 0},
        {NULL, 0, NULL, NULL, 0, 0, 0},
    };
    int rc = opts_parse("cnn", "--train-images F [--train-labels F] [--test-images F "
                               "--test-labels F] --out REPO/NAME [options]",
                        opts, argc, argv);
    if (rc)
        return rc == 1 ? 0 : rc;
    int adam = strcmp(optimizer, "adam") == 0;
    if (!adam && strcmp(optimizer, "sgd") != 0) {
        fprintf(stderr, "encore-train cnn: --optimizer must be adam or sgd, not '%s'\n", optimizer);
        return 2;
    }
    int split = strcmp(thread_mode, "batch") == 0;
    if (!split && strcmp(thread_mode, "blas") != 0) {
        fprintf(stderr, "encore-train cnn: --thread-mode must be batch or blas, not '%s'\n",
                thread_mode);
        return 2;
    }
    enum cnn_init scheme = strcmp(init, "he") == 0       ? CNN_INIT_HE
                           : strcmp(init, "glorot") == 0 ? CNN_INIT_GLOROT
                           : strcmp(init, "uniform") == 0 ? CNN_INIT_UNIFORM
                                                          : (enum cnn_init)-1;
    if ((int)scheme < 0) {
        fprintf(stderr, "encore-train cnn: --init must be he, glorot or uniform, not '%s'\n", init);
        return 2;
    }
    int cosine = strcmp(schedule, "cosine") == 0;
    if (!cosine && strcmp(schedule, "constant") != 0) {
        fprintf(stderr, "encore-train cnn: --schedule must be constant or cosine, not '%s'\n",
                schedule);
        return 2;
    }
    int standardize = strcmp(scaling, "standardize") == 0;
    if (!standardize && strcmp(scaling, "unit") != 0) {
        fprintf(stderr, "encore-train cnn: --scaling must be standardize or unit, not '%s'\n",
                scaling);
        return 2;
    }
    int flip = 0, shift = 0;
    if (parse_augment(augment, &flip, &shift)) {
        fprintf(stderr, "encore-train cnn: --augment must be none or a comma list of flip and "
                        "shiftN (N 1..8), not '%s'\n", augment);
        return 2;
    }
    if ((test_images == NULL) != (test_labels == NULL) && !(test_images && strstr(test_images,
                                                                                  ".csv"))) {
        fprintf(stderr, "encore-train cnn: --test-images and --test-labels go together\n");
        return 2;
    }

    double t0 = trainer_now();
    enc_err err = {0};
    struct idx_dataset tr = {0}, te = {0};
    struct cnn_net *net = NULL;
    char **names = NULL, *names_copy = NULL;
    json_t *hyper = NULL;
    rc = 1;
    if (idx_load_any(train_images, train_labels, &tr, &err) ||
        (test_images && idx_load_any(test_images, test_labels, &te, &err))) {
        fprintf(stderr, "encore-train cnn: %s\n", err.msg);
        goto done;
    }
    if (test_images && (te.rows != tr.rows || te.cols != tr.cols)) {
        fprintf(stderr, "encore-train cnn: %s: images are %zu x %zu, the training images %zu x %zu\n",
                test_images, te.rows, te.cols, tr.rows, tr.cols);
        goto done;
    }
    fprintf(stderr, "encore-train cnn: %zu training images %zu x %zu, %d classes", tr.n, tr.rows,
            tr.cols, tr.n_classes);
    if (test_images)
        fprintf(stderr, "; %zu held-out images", te.n);
    fprintf(stderr, "\n");
    if (cnn_new(arch, (int)tr.rows, (int)tr.cols, 1, &net, &err)) {
        fprintf(stderr, "encore-train cnn: --arch: %s\n", err.msg);
        rc = 2;
        goto done;
    }
    if (class_names) {
        if (split_names(class_names, net->n_classes, &names, &names_copy)) {
            fprintf(stderr, "encore-train cnn: --class-names: expected %d comma-separated names\n",
                    net->n_classes);
            rc = 2;
            goto done;
        }
        if (cnn_set_class_names(net, (const char *const *)names)) {
            fprintf(stderr, "encore-train cnn: out of memory\n");
            goto done;
        }
    }
    cnn_init(net, (uint64_t)seed, scheme);
    fprintf(stderr, "encore-train cnn: arch %s, %zu parameters, %s lr %g, batch %lld, %lld epochs, "
                    "%lld threads (%s), augment %s\n",
            net->arch, net->n_params, optimizer, lr, (long long)batch, (long long)epochs,
            (long long)threads, thread_mode, augment);
    struct cnn_train_opts o = {
        .epochs = (int)epochs, .batch = (int)batch, .lr = lr, .cosine = cosine, .adam = adam,
        .momentum = momentum, .seed = (uint64_t)seed, .threads = (int)threads,
        .split_batch = split, .standardize = standardize, .flip = flip, .shift = shift,
        .progress = stderr,
    };
    double test_acc = -1;
    double t1 = trainer_now();
    if (cnn_train(net, &tr, test_images ? &te : NULL, &o, &test_acc, &err)) {
        fprintf(stderr, "encore-train cnn: %s\n", err.msg);
        goto done;
    }
    double train_s = trainer_now() - t1;
    const char *inputs[4] = {train_images, train_labels, test_images, test_labels};
    char fp[65];
    if (trainer_fingerprint(inputs, 4, fp)) {
        fprintf(stderr, "encore-train cnn: cannot read the inputs again to fingerprint them\n");
        goto done;
    }
    hyper = json_pack("{s:s, s:I, s:I, s:f, s:s, s:s, s:f, s:I, s:I, s:s, s:s, s:s, s:s}", "arch",
                      net->arch, "epochs", (json_int_t)epochs, "batch", (json_int_t)batch, "lr",
                      lr, "schedule", schedule, "optimizer", optimizer, "momentum", momentum, "seed", (json_int_t)seed,
                      "threads", (json_int_t)threads, "thread_mode", thread_mode, "init", init,
                      "scaling", scaling, "augment", augment);
    int64_t written = 0;
    if (!hyper || model_save(&cnn_ops, net, hyper, fp, out, version, &written, &err)) {
        fprintf(stderr, "encore-train cnn: %s\n", hyper ? err.msg : "out of memory");
        goto done;
    }
    json_t *res = json_pack("{s:s, s:I, s:s, s:I, s:I, s:f, s:f, s:f}", "model", out, "version",
                            (json_int_t)written, "arch", net->arch, "parameters",
                            (json_int_t)net->n_params, "train_images", (json_int_t)tr.n,
                            "train_seconds", train_s, "seconds_per_epoch",
                            epochs ? train_s / (double)epochs : 0.0, "seconds",
                            trainer_now() - t0);
    if (res && test_images)
        json_object_set_new(res, "test_accuracy", json_real(test_acc));
    if (res) {
        json_dumpf(res, stdout, JSON_COMPACT);
        printf("\n");
    }
    json_decref(res);
    rc = 0;
done:
    json_decref(hyper);
    free(names);
    free(names_copy);
    cnn_free(net);
    idx_dataset_clear(&tr);
    idx_dataset_clear(&te);
    return rc;
}
