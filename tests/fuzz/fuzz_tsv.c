/* fuzz_tsv.c -- reading the data files behind the figures (tsv.h tsv_load):
 * comments, metadata, column names, rows of the wrong width, escapes. */
#include "fuzz.h"
#include "tsv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[1024] = "";
    TsvTable *volatile t = NULL;
    unsigned long dies = fuzz_dies;
    const char *path = fuzz_file(data, size);
    FUZZ_TRY(t = tsv_load(path, err, sizeof err));
    if (!t) {
        if (fuzz_dies == dies) FUZZ_ONE_LINE(err);
        return 0;
    }
    size_t rows = tsv_rows(t), cols = tsv_cols(t);
    FUZZ_ASSERT(cols >= 1, "a table has at least one column");
    for (size_t c = 0; c < cols; c++) {
        const char *name = tsv_colname(t, (int)c);
        FUZZ_ASSERT(tsv_col(t, name) >= 0 && tsv_col(t, name) <= (int)c, "column %zu is found by its name", c);
    }
    volatile double sum = 0;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) (void)tsv_cell(t, r, (int)c), sum += tsv_num(t, r, (int)c);
    (void)tsv_meta(t, "name"), (void)tsv_meta(t, "command"), (void)tsv_meta(t, "description");
    tsv_free(t);
    return 0;
}
