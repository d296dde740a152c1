/*
 * fuzz_interactions.c - libFuzzer target for the training-data parsers
 * (models/mf/interactions.h): ia_parse() in every format, and the item
 * metadata parsers on the same bytes written to a scratch file. Training
 * files come from outside, so a malformed one must end in an error message,
 * never a crash. The first byte picks the interaction format.
 *
 *   cmake --build build-fuzz --target fuzz_interactions
 *   build-fuzz/fuzz_interactions -max_total_time=60 tests/fuzz/corpus_interactions
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mf/interactions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    struct ia_options o = {(enum ia_format)(data[0] % 5), (data[0] & 0x80) ? 4.0 : 0.0,
                           (enum ia_header)((data[0] >> 3) % 3)};
    struct ia_matrix m;
    enc_err err = {0};
    if (ia_parse("fuzz", (const char *)data + 1, size - 1, &o, &m, &err) == 0) {
        /* the result must be a consistent CSR */
        if (m.indptr[0] != 0 || (size_t)m.indptr[m.n_users] != m.nnz)
            abort();
        for (size_t k = 0; k < m.nnz; k++)
            if (m.indices[k] < 0 || (size_t)m.indices[k] >= m.n_items || !(m.weights[k] > 0))
                abort();
        /* and the same bytes as item metadata for its items */
        char path[64];
        snprintf(path, sizeof path, "/tmp/fuzz-items-%d", (int)getpid());
        FILE *f = fopen(path, "wb");
        if (f) {
            fwrite(data + 1, 1, size - 1, f);
            fclose(f);
            struct ia_items it;
            for (int fmt = 0; fmt < 5; fmt++)
                if (ia_read_items(path, (enum ia_items_format)fmt, m.item_ids, m.n_items, &it,
                                  &err) == 0)
                    ia_items_clear(&it);
            remove(path);
        }
        ia_matrix_clear(&m);
    }
    return 0;
}
