/*
 * fuzz_model_file.c - libFuzzer target for model files on disk, the way the
 * server meets them: the input is written to a file and given to model_load
 * (regular-file check, size, header cap against the file's length, read
 * into memory or mapped, checksum, then the family's loader), twice: read
 * into memory (the default below model_read_max_bytes) and mapped
 * (model_read_max_bytes 0). A model that loads is described.
 *
 * fuzz_model.c covers st_open_buffer and every family's loader on a buffer;
 * this one covers what only a file has (fstat, read vs mmap, lengths
 * against the file) and runs under a memory bound: the loader must check
 * declared sizes against the file before allocating, so a 64 KiB input may
 * not malloc more than 64 MB at once or grow RSS past 512 MB (run.sh's
 * flags below; a 400-byte CNN file once allocated ~1 GB).
 *
 *   cmake --build build-fuzz --target fuzz_model_file && tests/fuzz/run.sh 60 build-fuzz
 */
/* run.sh: -malloc_limit_mb=64 -rss_limit_mb=512 */
#define _GNU_SOURCE /* memmem (fix_checksum.h) */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/model.h"
#include "core/st.h"
#include "families.h"
#include "fix_checksum.h"

static char path[64];

/* Peak RSS in kB (getrusage: it never goes down). */
static long peak_kb(void)
{
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_maxrss : 0;
}

static void write_file(const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    if (fclose(f) != 0)
        abort();
}

static void load_both_ways(void)
{
    static const struct st_open_opts mapped = {ST_DEFAULT_MAX_HEADER, 0};
    const struct st_open_opts *ways[2] = {&st_default_opts, &mapped};
    for (int i = 0; i < 2; i++) {
        struct model_load_opts o = model_default_opts;
        o.file = ways[i];
        struct model *m = NULL;
        enc_err err = {0};
        if (model_load("fuzz", 1, path, &o, &m, &err) != 0) {
            if (!err.msg[0])
                abort(); /* a refusal must say why */
            continue;
        }
        json_decref(model_describe(m));
        model_unref(m);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 1 << 20)
        return 0;
    static long base_kb;
    if (!path[0]) { /* one scratch file per process, removed after each input */
        snprintf(path, sizeof path, "/tmp/encore-fuzz-file.%ld.safetensors", (long)getpid());
        base_kb = peak_kb();
    }
    write_file(data, size);
    load_both_ways();
    uint8_t *fixed = fix_checksum(data, size);
    if (fixed) {
        write_file(fixed, size);
        load_both_ways();
        free(fixed);
    }
    unlink(path);
    /* The same bound without libFuzzer (ctest's replay of the corpus, which
     * holds the 400-byte CNN file of issue #20): peak RSS may not grow past
     * 512 MB over what the process had at its first input. */
    if (peak_kb() - base_kb > 512L * 1024) {
        fprintf(stderr, "fuzz_model_file: peak RSS grew by %ld kB on a %zu-byte file\n",
                peak_kb() - base_kb, size);
        abort();
    }
    return 0;
}
