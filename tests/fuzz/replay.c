/*
 * replay.c - a main() for a libFuzzer target without libFuzzer: runs the
 * target's LLVMFuzzerTestOneInput over files, once each, so that the committed
 * corpora (tests/fuzz/corpus_<target>/) are replayed by ctest in every build
 * (gcc included; under ASan/UBSan and TSan in those builds), not only in a
 * clang -DENCORE_FUZZ=ON build.
 *
 *   fuzz_model_replay DIR_OR_FILE...
 *
 * Each argument is a file or a directory whose regular files are replayed in
 * name order. A crash, an abort from the target's own checks or a sanitizer
 * report fails the test; so does an empty corpus (nothing replayed is no
 * test). Prints "replayed N inputs" on success.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target; a weak reference is NULL when it has none. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return -1;
    }
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len == cap) {
            cap = cap ? 2 * cap : 4096;
            uint8_t *n = realloc(data, cap);
            if (!n) {
                fprintf(stderr, "%s: out of memory\n", path);
                free(data);
                fclose(f);
                return -1;
            }
            data = n;
        }
        size_t k = fread(data + len, 1, cap - len, f);
        len += k;
        if (k == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        fprintf(stderr, "%s: read error\n", path);
        free(data);
        return -1;
    }
    /* An exact-size copy, so that ASan sees a read past the input's end. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        free(data);
        return -1;
    }
    memcpy(exact, data, len);
    free(data);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
    return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    long n = 0;
    for (int i = 1; i < argc; i++) {
        struct stat sb;
        if (stat(argv[i], &sb) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (!S_ISDIR(sb.st_mode)) {
            if (replay_file(argv[i]))
                return 1;
            n++;
            continue;
        }
        struct dirent **ents;
        int k = scandir(argv[i], &ents, NULL, by_name);
        if (k < 0) {
            perror(argv[i]);
            return 1;
        }
        int rc = 0;
        for (int j = 0; j < k; j++) {
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], ents[j]->d_name);
            if (!rc && stat(path, &sb) == 0 && S_ISREG(sb.st_mode)) {
                if (replay_file(path))
                    rc = 1;
                else
                    n++;
            }
            free(ents[j]);
        }
        free(ents);
        if (rc)
            return 1;
    }
    if (n == 0) {
        fprintf(stderr, "no inputs replayed: an empty corpus tests nothing\n");
        return 1;
    }
    printf("replayed %ld inputs\n", n);
    return 0;
}
