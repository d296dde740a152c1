/*
 * fuzz_npy.c - libFuzzer target for `encore-train import`'s inputs, which
 * come from other tools and are untrusted: the .npy parser (mf_npy_parse),
 * factor matrices read as .npy or CSV, with and without an id column
 * (mf_matrix_parse), and id lists (mf_ids_parse). Whatever is accepted must
 * be self-consistent: rows x cols values, rows ids.
 *
 *   cmake --build build-fuzz --target fuzz_npy
 *   build-fuzz/fuzz_npy -max_total_time=60 tests/fuzz/corpus_npy   (on a scratch copy)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mf/import.h"
#include "core/strv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so reading one byte past the input is caught */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    enc_err err;
    struct mf_npy a;
    if (mf_npy_parse(buf, size, &a, &err) == 0) {
        if (a.data + a.nbytes != buf + size || a.nbytes != a.count * a.itemsize)
            abort();
    }
    for (int id_column = 0; id_column < 2; id_column++) {
        struct mf_matrix m;
        if (mf_matrix_parse(buf, size, "fuzz", id_column, &m, &err) == 0) {
            if (!m.rows || !m.cols || !m.data || (id_column && !m.ids))
                abort();
            volatile float sum = 0; /* read every value: ASan checks the bounds */
            for (size_t i = 0; i < m.rows * m.cols; i++)
                sum = sum + m.data[i];
            (void)sum;
            for (size_t i = 0; m.ids && i < m.rows; i++)
                if (!m.ids[i][0])
                    abort(); /* ids are never empty */
            mf_matrix_clear(&m);
        }
    }
    char **ids;
    size_t n;
    if (mf_ids_parse(buf, size, "fuzz", &ids, &n, &err) == 0) {
        for (size_t i = 0; i < n; i++)
            if (!ids[i][0])
                abort();
        strv_free(ids, n);
    }
    free(buf);
    return 0;
}
