/* fuzz_tokens.c -- token files (corpus.h tokens_read): magic, version,
 * vocabulary size, bytes per token, count.  What tokens_read accepts,
 * tokens_write writes back byte for byte (the format leaves no freedom,
 * except 4 bytes per token for a vocabulary that fits in 2). */
#include "corpus.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char err[1024] = "";
    size_t n = 0;
    uint32_t vs = 0;
    uint32_t *volatile ids = NULL;
    unsigned long dies = fuzz_dies;
    const char *path = fuzz_file(data, size);
    FUZZ_TRY(ids = tokens_read(path, &n, &vs, err, sizeof err));
    if (!ids) {
        if (fuzz_dies == dies) FUZZ_ONE_LINE(err);
        return 0;
    }
    FUZZ_ASSERT(size >= 28 && n <= (size - 28) / 2, "%zu tokens from %zu bytes", n, size);
    for (size_t i = 0; i < n; i++) FUZZ_ASSERT(ids[i] < vs, "token %zu is %u, vocabulary %u", i, ids[i], vs);
    uint32_t bpt = (uint32_t)data[16] | (uint32_t)data[17] << 8 | (uint32_t)data[18] << 16 | (uint32_t)data[19] << 24;
    if (bpt == (vs <= 65536 ? 2u : 4u)) {
        const char *out = fuzz_out_path();
        tokens_write(out, ids, n, vs);
        size_t len;
        char *back = file_read(out, &len, err, sizeof err);
        FUZZ_ASSERT(back && len == size && memcmp(back, data, size) == 0, "tokens_write does not give the same bytes back");
        free(back);
        unlink(out);
    }
    free(ids);
    return 0;
}
