/* test_flash_emu.c -- chapter 12's CUDA kernels (flash.cu) run on the CPU,
 * without a GPU, under the emulator of tools/flashemu/: the tangled
 * build/12-memopt/flash.cu.in, every line of it as the chapter has it, is
 * rewritten by tools/flashemu/gen.py into host C++ (inline PTX into calls of
 * the emulator, launches into a loop over blocks whose threads are
 * coroutines) and linked here, so that the kernels' logic (fragment
 * layouts, indexing, masks, tile edges, the cp.async pipeline, barriers)
 * is checked where CI has no GPU.  Timing, bank conflicts and races are
 * not (tools/flashemu/README.md).
 *
 *   every combination of dtype (bf16, fp16), version (1: a thread per row;
 *   2: tensor cores; 3: two row tiles per warp; 4: its wider backward pass;
 *   5: the forward pass on wgmma; and any later version the file's
 *   flash_check accepts), head size (64, 128) and
 *   mask (causal or not), on T = 1, 17, 80 and 130 (B = 1 or 2, 2 heads;
 *   no T a multiple of a tile but 1) and on B = 2, 3 heads, T = 80 in the
 *   runtime's packed qkv layout (FlashLayout strides: q, k, v and dq, dk,
 *   dv side by side in [B][T][3C]), and for versions 5 on at B = 1, 1 head,
 *   T = 300 (five key tiles: every stage reused), and for versions 8 on at
  *   T = 520 (five tiles of 128 keys), and for versions 13 on at T = 900 (eight),
 *   each backward kernel under the version that owns it only (backward_owner:
 *   versions 3, 5 and 6, 8 to 12, 15 and 16 launch an earlier version's, and are
 *   checked forward only; version 16 at d 128 launches version 15's kernels, and is
 *   not run: forward_owner; version 17 at d 64 launches version 15's forward kernel
 *   and its own backward kernel, run twice so that the second adds into values not
 *   zero (adds_from_copy), and at d 128 versions 15 and 14's, and is not run;
 *   version 18 has its own backward kernels at both head sizes, run once: at d 64
 *   it differs from version 17's only in the block's coordinates, so the twice-run
 *   check of the old rows is version 17's, for CI's time),
 *   fresh random inputs each: forward
 *   (o, lse) and backward (dq, dk, dv) against the chapter's CPU reference
 *   (attention_reference and attention_reference_backward, in double),
 *   within test_ch12_gpu's bounds (bf16 2e-2 forward, 4e-2 backward; fp16
 *   4e-3, 8e-3; chapter 12's reference_errors), and every result finite
 *   (rel_err counts a NaN as infinite too; the count is kept to report); no kernel writes
 *   outside its buffers (guard bytes on both sides of each one); all of it
 *   three times: once with each cp.async landing at its wait and the threads
 *   run first to last between barriers, once with each landing as it is
 *   issued and the threads run last to first, and once landing at the wait
 *   with the lowest-numbered thread that can go on always going on (the
 *   first warpgroup as far ahead of the second as the barriers allow):
 *   three schedules a correct kernel must not care about (under ASan the
 *   first schedule without the shapes of T = 520 and 900, and the other two
 *   on T = 130 in bf16: the kernels' addresses do not depend on the schedule,
 *   the emulator's code for each schedule is sanitized all the same); each
 *   schedule's cases of one dtype, and each mutant, are a job, run in a
 *   child process, as many at once as the process has cores, at most 8 (run_jobs);
 *   a mutant is run in the first
 *   schedule and, if every case passes there, in the third, on every
 *   version, or, a mutant vN-... of version N's kernel (N >= 5), on versions
 *   N and up;
 *   first, the emulated wgmma on its own against a plain product, with the
 *   layouts written here apart from the emulator's (test_wgmma_unit);
 *   the emulator can fail: each mutation of gen.py (a dropped mask, a wrong
 *   fragment index, a wrong ldmatrix order, a missing .trans, a missing
 *   wait or barrier, and version 5's: a missing wgmma wait_group, fence or
 *   proxy fence, a wrong descriptor stride, a key tile overwritten while a
 *   product reads it, ...; version 6's: a wait_group 1 that should be 0, a
 *   missing wait_group 1 or barrier, two stages for three, a wrong stage,
 *   P packed while the product reading it is in flight; version 13's: its causal edge test
 *   missing a key block that crosses the diagonal; version 14's: a query tile
 *   stored unswizzled, its second block of columns looked for in the wrong place,
 *   the forward pass's first turn never given, or its last arrival never waited for;
 *   version 17's: its wait for a query tile one group too shallow, a tile requested
 *   into the next tile's stage, the old dK and dV rows read at an unpadded stride) applied to a copy of the same flash.cu is caught:
 *   some case of its kernels is over its bound, or the emulator stops it
 *   (each mutant runs in a child process, so a stop is a catch).
 * FLASH_EMU_ONLY=NAME runs only the cases of variant NAME ("orig", "wgmma"
 * for the wgmma and stmatrix unit tests, "mbar" for the mbarrier one, "tma" for the bulk tensor copy's, or a mutation) and prints each case (FLASH_EMU_VERBOSE=1 prints them all);
 * FLASH_EMU_VERSIONS=N checks versions 1 to N, =M-N versions M to N (all
 * that the file's flash_check accepts); FLASH_EMU_SHAPES=B:H:T,...
 * replaces the shapes; FLASH_EMU_JOBS=N runs N jobs at once (by default
 * the cores this process may use, at most 8, or 1 when the cases print, so
 * that their lines come in order).  tools/flashemu/run.sh
 * builds this suite against another copy of flash.cu. */
#include <errno.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include "memopt.c"

#include "check.h"

void flashemu_mode(int eager_copies, int reverse);   /* tools/flashemu/emu.cpp */

typedef void (*FwdFn)(Gpu *, DType, int, void *, float *, const void *, const void *, const void *, int, int, int, int,
                      bool, FlashLayout, FlashLayout);
typedef void (*BwdFn)(Gpu *, DType, int, void *, void *, void *, const void *, const void *, const void *,
                      const void *, const void *, const float *, void *, int, int, int, int, bool, FlashLayout,
                      FlashLayout);
typedef size_t (*ScrFn)(int, int, int, int);
typedef struct {
    const char *name;
    FwdFn fwd;
    BwdFn bwd;
    ScrFn scratch;
    void *(*gpu)(void);
    const int *applied;
    const int *versions;   /* the versions the file has, 1 to this (gen.py reads flash_check) */
    const int *missing;    /* ...less these (bit v: version v), which flash_check refuses */
} Variant;

#define VARIANT(P, NAME)                                                                                             \
    void P##_flash_forward_cuda(Gpu *, DType, int, void *, float *, const void *, const void *, const void *, int,  \
                                int, int, int, bool, FlashLayout, FlashLayout);                                     \
    void P##_flash_backward_cuda(Gpu *, DType, int, void *, void *, void *, const void *, const void *,             \
                                 const void *, const void *, const void *, const float *, void *, int, int, int, int, \
                                 bool, FlashLayout, FlashLayout);                                                   \
    size_t P##_flash_backward_scratch_bytes(int, int, int, int);                                                    \
    void *P##_gpu(void);                                                                                            \
    extern const int P##_mutation_applied, P##_versions, P##_versions_missing;                                     \
    static const Variant variant_##P = {NAME, P##_flash_forward_cuda, P##_flash_backward_cuda,                       \
                                        P##_flash_backward_scratch_bytes, P##_gpu, &P##_mutation_applied,            \
                                        &P##_versions, &P##_versions_missing};

/* the kernel file as the chapter has it, and its mutants (tools/flashemu/gen.py --list-mutations);
 * FLASH_EMU_NO_MUTANTS: the kernel file only (tools/flashemu/run.sh, for another copy of flash.cu) */
VARIANT(emu_orig, "orig")
#ifndef FLASH_EMU_NO_MUTANTS
VARIANT(emu_mut_v1_mask, "v1-mask")
VARIANT(emu_mut_mask, "mask")
VARIANT(emu_mut_edge, "edge")
VARIANT(emu_mut_ldsm_order, "ldsm-order")
VARIANT(emu_mut_no_trans, "no-trans")
VARIANT(emu_mut_wait, "wait")
VARIANT(emu_mut_frag_index, "frag-index")
VARIANT(emu_mut_barrier, "barrier")
VARIANT(emu_mut_dq_atomic, "dq-atomic")
VARIANT(emu_mut_wg_wait, "wg-wait")
VARIANT(emu_mut_wg_desc, "wg-desc")
VARIANT(emu_mut_wg_overwrite, "wg-overwrite")
VARIANT(emu_mut_wg_proxy, "wg-proxy")
VARIANT(emu_mut_wg_fence, "wg-fence")
VARIANT(emu_mut_wg_afrag, "wg-afrag")
VARIANT(emu_mut_wg_trans, "wg-trans")
VARIANT(emu_mut_v7_stsm, "v7-stsm")
VARIANT(emu_mut_v7_proxy, "v7-proxy")
VARIANT(emu_mut_v7_trans_a, "v7-trans-a")
VARIANT(emu_mut_v7_lbo, "v7-lbo")
VARIANT(emu_mut_v7_zero, "v7-zero")
VARIANT(emu_mut_v7_stage, "v7-stage")
VARIANT(emu_mut_v7_fence, "v7-fence")
VARIANT(emu_mut_v7_wait, "v7-wait")
VARIANT(emu_mut_v7_dqcol, "v7-dqcol")
VARIANT(emu_mut_v6_wait_pv, "v6-wait-pv")
VARIANT(emu_mut_v6_wait_s, "v6-wait-s")
VARIANT(emu_mut_v6_barrier, "v6-barrier")
VARIANT(emu_mut_v6_two_stages, "v6-two-stages")
VARIANT(emu_mut_v6_stage, "v6-stage")
VARIANT(emu_mut_v6_pack_early, "v6-pack-early")
VARIANT(emu_mut_v6_last_stage, "v6-last-stage")
VARIANT(emu_mut_v9_kfull, "v9-kfull")
VARIANT(emu_mut_v9_vfree, "v9-vfree")
VARIANT(emu_mut_v9_parity, "v9-parity")
VARIANT(emu_mut_v9_free_early, "v9-free-early")
VARIANT(emu_mut_v9_last_wait, "v9-last-wait")
VARIANT(emu_mut_v9_fence, "v9-fence")
VARIANT(emu_mut_v9_free_count, "v9-free-count")
VARIANT(emu_mut_v13_mask, "v13-mask")
VARIANT(emu_mut_v14_swizzle, "v14-swizzle")
VARIANT(emu_mut_v14_block, "v14-block")
VARIANT(emu_mut_v14_turn, "v14-turn")
VARIANT(emu_mut_v14_last_turn, "v14-last-turn")
VARIANT(emu_mut_v17_wait, "v17-wait")
VARIANT(emu_mut_v17_stage, "v17-stage")
VARIANT(emu_mut_v17_stride, "v17-stride")
VARIANT(emu_mut_v18_order, "v18-order")
VARIANT(emu_mut_v19_fence, "v19-fence")
VARIANT(emu_mut_v19_wait, "v19-wait")
VARIANT(emu_mut_v19_bar, "v19-bar")
VARIANT(emu_mut_v19_swz, "v19-swz")
VARIANT(emu_mut_v20_order, "v20-order")
VARIANT(emu_mut_v21_qfree, "v21-qfree")
VARIANT(emu_mut_v21_last_stage, "v21-last-stage")
VARIANT(emu_mut_v21_snake, "v21-snake")
VARIANT(emu_mut_v22_order, "v22-order")
VARIANT(emu_mut_v23_clear, "v23-clear")
VARIANT(emu_mut_v23_shuffle, "v23-shuffle")
VARIANT(emu_mut_v23_finish, "v23-finish")
VARIANT(emu_mut_v24_parity, "v24-parity")
VARIANT(emu_mut_v24_wait, "v24-wait")
VARIANT(emu_mut_v24_counter, "v24-counter")
VARIANT(emu_mut_v24_first, "v24-first")
VARIANT(emu_mut_v25_keys, "v25-keys")
VARIANT(emu_mut_v26_free, "v26-free")
VARIANT(emu_mut_v26_parity, "v26-parity")
VARIANT(emu_mut_v26_keys, "v26-keys")
VARIANT(emu_mut_v26_bytes, "v26-bytes")
VARIANT(emu_mut_v27_skip, "v27-skip")
VARIANT(emu_mut_v27_last, "v27-last")
VARIANT(emu_mut_lse_off, "lse-off")
VARIANT(emu_mut_v26_ok, "v26-ok")
static const Variant *mutants[] = {&variant_emu_mut_v1_mask,    &variant_emu_mut_mask,      &variant_emu_mut_edge,
                                   &variant_emu_mut_ldsm_order, &variant_emu_mut_no_trans,   &variant_emu_mut_wait,
                                   &variant_emu_mut_frag_index, &variant_emu_mut_barrier,   &variant_emu_mut_dq_atomic,
                                   &variant_emu_mut_wg_wait,    &variant_emu_mut_wg_desc,    &variant_emu_mut_wg_overwrite,
                                   &variant_emu_mut_wg_proxy,   &variant_emu_mut_wg_fence,   &variant_emu_mut_wg_afrag,
                                   &variant_emu_mut_wg_trans, &variant_emu_mut_v7_stsm, &variant_emu_mut_v7_proxy,
                                   &variant_emu_mut_v7_trans_a, &variant_emu_mut_v7_lbo, &variant_emu_mut_v7_zero,
                                   &variant_emu_mut_v7_stage, &variant_emu_mut_v7_fence, &variant_emu_mut_v7_wait,
                                   &variant_emu_mut_v7_dqcol,
                                   &variant_emu_mut_v6_wait_pv, &variant_emu_mut_v6_wait_s,
                                   &variant_emu_mut_v6_barrier, &variant_emu_mut_v6_two_stages, &variant_emu_mut_v6_stage,
                                   &variant_emu_mut_v6_pack_early, &variant_emu_mut_v6_last_stage,
                                   &variant_emu_mut_v9_kfull, &variant_emu_mut_v9_vfree, &variant_emu_mut_v9_parity,
                                   &variant_emu_mut_v9_free_early, &variant_emu_mut_v9_last_wait,
                                   &variant_emu_mut_v9_fence, &variant_emu_mut_v9_free_count,
                                   &variant_emu_mut_v13_mask, &variant_emu_mut_v14_swizzle,
                                   &variant_emu_mut_v14_block, &variant_emu_mut_v14_turn,
                                   &variant_emu_mut_v14_last_turn, &variant_emu_mut_v17_wait,
                                   &variant_emu_mut_v17_stage, &variant_emu_mut_v17_stride,
                                   &variant_emu_mut_v18_order, &variant_emu_mut_v19_fence,
                                   &variant_emu_mut_v19_wait, &variant_emu_mut_v19_bar, &variant_emu_mut_v19_swz,
                                   &variant_emu_mut_v20_order, &variant_emu_mut_v21_qfree,
                                   &variant_emu_mut_v21_last_stage, &variant_emu_mut_v21_snake,
                                   &variant_emu_mut_v22_order, &variant_emu_mut_v23_clear,
                                   &variant_emu_mut_v23_shuffle, &variant_emu_mut_v23_finish,
                                   &variant_emu_mut_v24_parity, &variant_emu_mut_v24_wait,
                                   &variant_emu_mut_v24_counter, &variant_emu_mut_v24_first,
                                   &variant_emu_mut_v25_keys, &variant_emu_mut_v26_free,
                                   &variant_emu_mut_v26_parity, &variant_emu_mut_v26_keys, &variant_emu_mut_v26_bytes,
                                   &variant_emu_mut_v27_skip, &variant_emu_mut_v27_last,
                                   &variant_emu_mut_lse_off, &variant_emu_mut_v26_ok};
#else
static const Variant *mutants[1];
#endif

/* ---- The emulator's wgmma on its own ------------------------------------------------------
 *
 * Before the kernels: the emulated wgmma.mma_async, run on one warpgroup by
 * flashemu_wgmma_run (tools/flashemu/emu.cpp), against a plain matrix
 * product, with the layouts written here apart from the emulator's, from
 * the PTX ISA and CUTLASS (tools/flashemu/README.md gives each source):
 *   the descriptor ("Matrix Descriptor Format"): start address / 16 in bits
 *   0-13, LBO / 16 in bits 16-29, SBO / 16 in bits 32-45, swizzle mode in
 *   62-63 (0: none);
 *   no swizzle ("Shared Memory Matrix Layout"; CUTLASS make_gmma_desc's
 *   INTERLEAVE layouts): core matrices of 8 rows of 16 bytes, contiguous;
 *   K-major, a row is 8 K values of one M (or N) index; MN-major, 8 M (or
 *   N) values of one K index; LBO from a core matrix to the next along K,
 *   SBO to the next along M or N;
 *   the fragments ("Register Fragments" for wgmma .m64nNk16; CUTLASS
 *   ALayout_64x16 and CLayout_64xN): thread t of the warpgroup, warp w =
 *   t / 32, lane l: accumulator d_i is D[16w + l/4 + 8 ((i/2) mod 2)]
 *   [8 (i/4) + 2 (l mod 4) + i mod 2]; A register a_i, half h, is
 *   A[16w + l/4 + 8 (i mod 2)][2 (l mod 4) + 8 (i/2) + h].
 * Small integers, so that every sum is exact in f32 and the comparison is
 * exact.  Then what makes a wrong kernel show: accumulators read before
 * the wait are NaN; shared memory changed between the issue and the wait,
 * a product issued with no wgmma.fence, a cp.async-written operand
 * read with no fence.proxy.async, a register of A written between the
 * issue and the wait, an operand read while a cp.async into it is in
 * flight, and a cp.async into an operand issued while the product is in
 * flight each stop the emulator (in a child). */
void flashemu_wgmma_run(int ab, int n, int a_in_regs, int trans_a, int trans_b, uint64_t da, uint64_t db,
                        const void *image, size_t smem_bytes, const uint32_t (*a_regs)[4], const float *c, float *d,
                        float *early, int how, int poke);

static uint64_t wg_desc_of(uint32_t start, uint32_t lbo, uint32_t sbo) {
    return (uint64_t)(start / 16) | (uint64_t)(lbo / 16) << 16 | (uint64_t)(sbo / 16) << 32;
}
static size_t wg_byte_of(bool mn_major, uint32_t start, uint32_t lbo, uint32_t sbo, int mn, int k) {
    size_t core = start + (size_t)(mn / 8) * sbo + (size_t)(k / 8) * lbo;
    return mn_major ? core + (size_t)(k % 8) * 16 + (size_t)(mn % 8) * 2 : core + (size_t)(mn % 8) * 16 + (size_t)(k % 8) * 2;
}

typedef struct {
    int n, ab, a_in_regs, trans_a, trans_b;
    uint32_t a_at, a_lbo, a_sbo, b_at, b_lbo, b_sbo;
    int swap_b;      /* B's descriptor with its LBO and SBO exchanged (the data laid out right) */
} WgCase;

enum { WG_SMEM = 24576 };

/* runs one product; returns how many of the 128 x n/2 registers differ from
 * the plain product (exact), and with `early`, how many read before the wait
 * were not NaN */
static int wg_run(const WgCase *w, Rng *rng, int how, int *not_nan, int poke) {
    int n = w->n, nd = n / 2;
    static float A[64][16], B[16][256], C[64][256];
    static unsigned char image[WG_SMEM];
    static uint32_t regs[128][4];
    static float c[128 * 128], d[128 * 128], early[128 * 128];
    memset(image, 0xff, sizeof image);                  /* NaN where nothing is put */
    for (int i = 0; i < 64; i++)
        for (int k = 0; k < 16; k++) A[i][k] = (float)((int)rng_below(rng, 9) - 4);
    for (int k = 0; k < 16; k++)
        for (int j = 0; j < n; j++) B[k][j] = (float)((int)rng_below(rng, 9) - 4);
    for (int i = 0; i < 64; i++)
        for (int j = 0; j < n; j++) C[i][j] = (float)((int)rng_below(rng, 33) - 16);
    uint16_t (*cv)(float) = w->ab == 0 ? f32_to_bf16 : f32_to_f16;
    for (int i = 0; i < 64; i++)
        for (int k = 0; k < 16; k++) {
            uint16_t h = cv(A[i][k]);
            memcpy(image + wg_byte_of(w->trans_a, w->a_at, w->a_lbo, w->a_sbo, i, k), &h, 2);
        }
    for (int k = 0; k < 16; k++)
        for (int j = 0; j < n; j++) {
            uint16_t h = cv(B[k][j]);
            memcpy(image + wg_byte_of(w->trans_b, w->b_at, w->b_lbo, w->b_sbo, j, k), &h, 2);
        }
    for (int t = 0; t < 128; t++) {
        int wp = t / 32, l = t % 32;
        for (int i = 0; i < 4; i++) {
            int row = 16 * wp + l / 4 + 8 * (i % 2), col = 2 * (l % 4) + 8 * (i / 2);
            regs[t][i] = (uint32_t)cv(A[row][col]) | (uint32_t)cv(A[row][col + 1]) << 16;
        }
        for (int i = 0; i < nd; i++) c[t * nd + i] = C[16 * wp + l / 4 + 8 * (i / 2 % 2)][8 * (i / 4) + 2 * (l % 4) + i % 2];
    }
    flashemu_wgmma_run(w->ab, n, w->a_in_regs, w->trans_a, w->trans_b, wg_desc_of(w->a_at, w->a_lbo, w->a_sbo),
                       w->swap_b ? wg_desc_of(w->b_at, w->b_sbo, w->b_lbo) : wg_desc_of(w->b_at, w->b_lbo, w->b_sbo), image, WG_SMEM, regs, c, d, early, how, poke);
    int bad = 0;
    if (not_nan) *not_nan = 0;
    for (int t = 0; t < 128; t++) {
        int wp = t / 32, l = t % 32;
        for (int i = 0; i < nd; i++) {
            int row = 16 * wp + l / 4 + 8 * (i / 2 % 2), col = 8 * (i / 4) + 2 * (l % 4) + i % 2;
            float want = C[row][col];
            for (int k = 0; k < 16; k++) want += A[row][k] * B[k][col];
            bad += d[t * nd + i] != want;
            if (not_nan) *not_nan += !isnan(early[t * nd + i]);
        }
    }
    return bad;
}

/* a product the emulator must stop, in a child process: true if it did */
static bool wg_stops(const WgCase *w, int how, int poke) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        FILE *f = freopen("/dev/null", "w", stderr);
        (void)f;
        Rng rng;
        rng_seed(&rng, 5);
        wg_run(w, &rng, how, NULL, poke);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) die("waitpid: %s", strerror(errno));
    return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_wgmma_unit(Check *t) {
    Rng rng;
    rng_seed(&rng, 29);
    int ns[] = {8, 32, 64, 128, 256};   /* 32: version 7's dQ at d 64 */
    for (int ni = 0; ni < 5; ni++)
        for (int ab = 0; ab < 2; ab++)
            for (int form = 0; form < 3; form++)       /* A: smem K-major, smem M-major, registers */
                for (int tb = 0; tb < 2; tb++) {
                    int n = ns[ni];
                    /* A: its core matrices down K first (LBO 128, SBO 256); B: along N first with a
                     * gap of 16 bytes after each core matrix (SBO 144, LBO 144 n / 8) */
                    WgCase w = {n, ab, form == 2, form == 1, tb, 64, 128, 256, 4096, 144u * (uint32_t)n / 8, 144, 0};
                    int bad = wg_run(&w, &rng, 0, NULL, 0);
                    check_true(t, bad == 0, "wgmma m64n%dk16 %s, A %s, B %s-major: %d of %d registers differ from the "
                               "plain product", n, ab ? "f16" : "bf16",
                               form == 2 ? "in registers" : form ? "M-major" : "K-major", tb ? "N" : "K", bad, 64 * n);
                }
    WgCase w = {64, 0, 0, 0, 1, 64, 128, 256, 4096, 144 * 8, 144, 0};
    WgCase swapped = w;                      /* LBO and SBO exchanged: the layout rule must matter */
    int notnan, bad = wg_run(&w, &rng, 1, &notnan, 0);
    check_true(t, bad == 0 && notnan == 0, "wgmma: accumulators read before the wait are NaN (%d not), right after it",
               notnan);
    swapped.swap_b = 1;
    bad = wg_run(&swapped, &rng, 0, NULL, 0);
    check_true(t, bad > 0, "wgmma: B's descriptor with LBO and SBO exchanged gives a different product (%d registers)",
               bad);
    check_true(t, wg_stops(&w, 2, 4096 + 3), "wgmma: shared memory changed between the issue and the wait stops it");
    check_true(t, wg_stops(&w, 3, 0), "wgmma: a product with no wgmma.fence before it stops it");
    check_true(t, wg_stops(&w, 4, 4096), "wgmma: an operand written by cp.async with no fence.proxy.async stops it");
    check_true(t, !wg_stops(&w, 5, 4096), "wgmma: ... and with the fence it runs");
    WgCase wr = w;                           /* A in registers */
    wr.a_in_regs = 1;
    check_true(t, wg_stops(&wr, 6, 0), "wgmma: a register of A written between the issue and the wait stops it");
    check_true(t, !wg_stops(&wr, 0, 0), "wgmma: ... and left alone, it runs");
    check_true(t, wg_stops(&w, 7, 4096), "wgmma: an operand that a cp.async still in flight writes stops it");
    check_true(t, !wg_stops(&w, 7, 20480), "wgmma: ... and a cp.async in flight elsewhere does not");
    check_true(t, wg_stops(&w, 8, 4096), "wgmma: a cp.async into an operand while the product is in flight stops it");
    check_true(t, !wg_stops(&w, 8, 20480), "wgmma: ... and one elsewhere does not");
    check_true(t, wg_stops(&w, 9, 4096), "wgmma: an operand that a cp.async attached to an incomplete mbarrier "
               "phase writes stops it");
    check_true(t, !wg_stops(&w, 10, 4096), "wgmma: ... and once the phase has completed, seen by a try_wait and "
               "followed by fence.proxy.async, it runs");
    check_true(t, wg_stops(&w, 11, 4096), "wgmma: ... but a fence.proxy.async by a thread that did not wait for the "
               "phase leaves the landed copy unfenced (it stops)");
    check_true(t, !wg_stops(&w, 0, 0), "wgmma: a correct product does not stop (the child's check is not vacuous)");
}

/* ---- The emulator's stmatrix on its own ----------------------------------------------------
 *
 * Version 7 stores dS^T with stmatrix .x4, which no earlier kernel used.
 * The layout, written here from the PTX ISA (section "stmatrix": the
 * fragments are ldmatrix's, section "ldmatrix"): lanes 8m..8m+7 give the
 * addresses of rows 0..7 of matrix m; register m of lane l holds row l/4,
 * columns 2 (l mod 4) and 2 (l mod 4) + 1 of matrix m, the lower column in
 * the low 16 bits; with .trans, row and column exchanged.  Each value is
 * distinct, the rows are 32 bytes apart (16 bytes of gap, which must stay
 * as they were), and the matrices in reverse order of their lanes. */
void flashemu_stmatrix_run(int trans, const uint32_t *addr, const uint32_t (*regs)[4], const void *image,
                           void *image_out, size_t smem_bytes);

static int stmatrix_case(int trans) {
    enum { BYTES = 32 * 32 };
    uint32_t addr[32], regs[32][4];
    uint16_t image[BYTES / 2], out[BYTES / 2], want[BYTES / 2];
    for (int i = 0; i < BYTES / 2; i++) image[i] = want[i] = (uint16_t)(0xa000 + i);
    for (int l = 0; l < 32; l++) addr[l] = (uint32_t)((3 - l / 8) * 8 + l % 8) * 32;   /* matrix l/8, row l%8 */
    for (int l = 0; l < 32; l++)
        for (int m = 0; m < 4; m++) {
            uint16_t lo = (uint16_t)(m * 64 + l * 2), hi = (uint16_t)(lo + 1);
            regs[l][m] = (uint32_t)lo | (uint32_t)hi << 16;
            for (int h = 0; h < 2; h++) {
                int r = l / 4, c = 2 * (l % 4) + h;
                if (trans) { int x = r; r = c, c = x; }
                want[(addr[8 * m + r] + 2 * c) / 2] = h ? hi : lo;
            }
        }
    flashemu_stmatrix_run(trans, addr, (const uint32_t(*)[4])regs, image, out, BYTES);
    int bad = 0;
    for (int i = 0; i < BYTES / 2; i++) bad += out[i] != want[i];
    return bad;
}

static void test_stmatrix_unit(Check *t) {
    for (int trans = 0; trans < 2; trans++) {
        int bad = stmatrix_case(trans);
        check_true(t, bad == 0, "stmatrix .x4%s: %d of 512 shared memory halves differ from the ISA's layout",
                   trans ? ".trans" : "", bad);
    }
}

/* ---- The emulator's mbarrier and named barriers on their own ---------------------------------
 *
 * tools/flashemu/mbar_test.cu, rewritten by gen.py like flash.cu (so the
 * asm literals of the warp-specialized kernel's helpers are translated as
 * well as emulated): a producer warp copies 7 tiles of 512 bytes by
 * cp.async through two stages, arriving on each stage's full barrier with
 * cp.async.mbarrier.arrive.noinc; two consumer warps wait for it, copy the
 * tile out and arrive on the stage's empty barrier (each barrier through 3
 * or 4 phases); then a bar.arrive / bar.sync 1 hands a byte from the
 * producer to the consumers.  The semantics checked (PTX ISA, section
 * "mbarrier"): a phase completes at its count's last arrival, try_wait.parity
 * P is true once the phase of parity P has completed, a cp.async tracked by
 * the barrier lands by the time its phase completes.  Right in the three
 * schedules with the producer first or last; a consumer reading a stage
 * before its wait sees the 0xff fill; the copy a noinc arrive took over is
 * not landed by a later cp.async.wait_group (it belongs to the phase); a
 * bar.sync counting too few threads passes before the producer's store (in
 * the schedule that runs the first threads ahead); and a missing arrive
 * (mbarrier or bar.arrive), an uninitialized or misaligned barrier and a
 * re-init of a barrier in use each stop the emulator with one line. */
#include "expect_die.h"

void emu_mbart_mbar_test_run(const unsigned char *src, unsigned char *out, int tiles, int producer_warp, int how,
                             unsigned char *probe);
enum { MBT_TILES = 7, MBT_BYTES = MBT_TILES * 512 };
static unsigned char mbt_src[MBT_BYTES], mbt_out[MBT_BYTES], mbt_probe[2];

static int mbt_run(int how, int producer_warp) {   /* the bytes of out that differ from src */
    for (int i = 0; i < MBT_BYTES; i++) mbt_src[i] = (unsigned char)((i * 7 + 1) % 251), mbt_out[i] = 0;
    mbt_probe[0] = mbt_probe[1] = 0;
    emu_mbart_mbar_test_run(mbt_src, mbt_out, MBT_TILES, producer_warp, how, mbt_probe);
    int bad = 0;
    for (int i = 0; i < MBT_BYTES; i++) bad += mbt_out[i] != mbt_src[i];
    return bad;
}

static void mbt_die(void *how) { mbt_run(*(int *)how, 2); }

/* The asm literal of each `asm volatile("...")` in text that mentions
 * `word`, into out (at most n); returns how many. */
static int asm_literals(const char *text, const char *word, char out[][160], int n) {
    int k = 0;
    for (const char *p = strstr(text, "asm volatile(\""); p && k < n; p = strstr(p + 1, "asm volatile(\"")) {
        const char *a = p + strlen("asm volatile(\""), *e = strchr(a, '"');
        if (!e || e - a >= 160) continue;
        char lit[160];
        memcpy(lit, a, (size_t)(e - a));
        lit[e - a] = 0;
        if (strstr(lit, word)) strcpy(out[k++], lit);
    }
    return k;
}

/* mbar_test.cu and tma_test.cu carry their own copies of the kernel's
 * mbarrier and TMA helpers (gen.py translates them apart from flash.cu):
 * every such asm literal of flash.cu is one of theirs, so that each helper
 * the kernels use is unit-tested, and each of mbar_test.cu's is flash.cu's. */
static void test_mbar_helpers_match(Check *t) {
    char err[256], a[16][160], b[16][160], c[16][160];
    char *pa = xasprintf("%s/common/gpu/flash.cu", book_root()), *pb = xasprintf("%s/tools/flashemu/mbar_test.cu", book_root());
    char *pc = xasprintf("%s/tools/flashemu/tma_test.cu", book_root());
    char *fa = file_read(pa, NULL, err, sizeof err), *fb = fa ? file_read(pb, NULL, err, sizeof err) : NULL;
    char *fc = fb ? file_read(pc, NULL, err, sizeof err) : NULL;
    if (!fa || !fb || !fc) {
        check_true(t, false, "mbarrier helpers: %s", err);
    } else {
        int na = asm_literals(fa, "mbarrier", a, 16), nb = asm_literals(fb, "mbarrier", b, 16);
        int nc = asm_literals(fc, "mbarrier", c, 16), missing = 0;
        const char *first = "";
        for (int i = 0; i < na; i++) {
            bool found = false;
            for (int j = 0; j < nb; j++) found |= strcmp(a[i], b[j]) == 0;
            for (int j = 0; j < nc; j++) found |= strcmp(a[i], c[j]) == 0;
            if (!found && !missing++) first = a[i];
        }
        for (int j = 0; j < nb; j++) {
            bool found = false;
            for (int i = 0; i < na; i++) found |= strcmp(a[i], b[j]) == 0;
            if (!found && !missing++) first = b[j];
        }
        check_true(t, na > 0 && missing == 0, "mbarrier and TMA helpers: each of flash.cu's %d asm literals is mbar_test.cu's "
                   "or tma_test.cu's, and each of mbar_test.cu's %d is flash.cu's (%d not%s%s)", na, nb, missing,
                   missing ? ", e.g. " : "", first);
    }
    free(fa), free(fb), free(fc), free(pa), free(pb), free(pc);
}

static void test_mbar_unit(Check *t) {
    test_mbar_helpers_match(t);
    static const int modes[3][2] = {{0, 0}, {1, 1}, {0, 2}};
    static const char *mode_name[3] = {"deferred, round robin", "eager, reverse", "deferred, first ahead"};
    for (int m = 0; m < 3; m++)
        for (int pw = 0; pw <= 2; pw += 2) {
            flashemu_mode(modes[m][0], modes[m][1]);
            int bad = mbt_run(0, pw);
            check_true(t, bad == 0 && mbt_probe[1] == 0x5a,
                       "mbarrier pipeline (%s, producer warp %d): %d of %d bytes wrong, the byte after bar.sync 0x%02x "
                       "(0x5a)", mode_name[m], pw, bad, MBT_BYTES, mbt_probe[1]);
        }
    flashemu_mode(0, 0);
    int bad = mbt_run(1, 2), ff = 0;
    for (int i = 0; i < 512; i++) ff += mbt_out[i] == 0xff;
    check_true(t, bad > 0 && ff == 512, "mbarrier: a consumer reading before its wait sees the 0xff fill (%d of 512 bytes "
               "of tile 0, %d bytes wrong)", ff, bad);
    bad = mbt_run(6, 2);
    check_true(t, bad == 0 && mbt_probe[0] == 0xff, "mbarrier: a copy taken over by cp.async.mbarrier.arrive.noinc is "
               "not landed by cp.async.wait_all (read 0x%02x), but by its phase (%d bytes wrong)", mbt_probe[0], bad);
    flashemu_mode(0, 2);
    bad = mbt_run(7, 2);
    check_true(t, mbt_probe[1] == 0xff, "bar.sync counting only the consumers passes before the producer's store "
               "(read 0x%02x)", mbt_probe[1]);
    flashemu_mode(0, 0);
    static int hows[] = {2, 8, 3, 4, 5};
    expect_die(t, mbt_die, &hows[0], "kernel mbar_pipeline, block (0, 0, 0), thread 0: deadlock: no thread can go on "
               "(this one waits at mbarrier.try_wait.parity 1 on shared address 1032 (31 of 32 arrivals",
               "mbarrier: an arrive missing");
    expect_die(t, mbt_die, &hows[1], "thread 0: deadlock: no thread can go on (this one waits at bar.sync 1 (64 of 96",
               "bar.sync: the producer's bar.arrive missing");
    expect_die(t, mbt_die, &hows[2], "thread 0: mbarrier.arrive on shared address 1048, where no mbarrier.init made an "
               "mbarrier (uninitialized)",
               "mbarrier: an arrive on an uninitialized barrier");
    expect_die(t, mbt_die, &hows[3], "thread 0: mbarrier.init at shared address 1028: not 8-byte aligned",
               "mbarrier: a misaligned barrier");
    expect_die(t, mbt_die, &hows[4], "thread 0: mbarrier.init of the mbarrier at shared address 1040 while it is in use "
               "(1 of 64 arrivals", "mbarrier: a re-init of a barrier in use");
    flashemu_mode(-1, 0);                  /* the schedule from the environment again, as at the start */
}

/* ---- The emulator's bulk tensor copy (TMA) and the mbarrier's tx-count on their own ------------
 *
 * tools/flashemu/tma_test.cu, rewritten by gen.py like flash.cu (its asm
 * literals are those a TMA kernel uses, its host code encodes the tensor map
 * through cudaGetDriverEntryPointByVersion): one thread makes
 * mbarrier.arrive.expect_tx with a box's bytes and copies the box of a 4-D
 * bf16 tensor [B][T][H][D] (dimensions D, T, H, B; D contiguous) into shared
 * memory with cp.async.bulk.tensor.4d (the block's last thread, so that the
 * others reach their wait before the copy in the round-robin order); 64 threads wait for the phase and copy
 * shared memory out.  The layout is written here apart from the emulator
 * (PTX ISA, "cp.async.bulk.tensor" and "Tensor Memory Accelerator": the box
 * packed in shared memory, its first dimension fastest; elements outside the
 * tensor zero; the 128-byte swizzle as CUTLASS's Swizzle<3,4,3>: byte offset
 * o's bits 4-6 XOR its bits 7-9; 64-byte Swizzle<2,4,3>, 32-byte <1,4,3>).  Checked: the boxes {8, 64} and {64, 64}
 * (and {64, 64}, {32, 64}, {16, 64} with the 128-, 64- and 32-byte swizzles) hanging past T's end or before its start, in the
 * three schedules; the copy issued before the expect_tx, and expect_tx apart
 * from the arrive; a read before the wait sees the 0xff fill; a second copy
 * whose bytes the phase does not expect has not landed when the phase
 * completes; too many bytes expected is a deadlock; an uninitialized
 * barrier, a misaligned or too-long destination, a map the encode function
 * did not make, a tx-count out of range and a swizzled box row shorter than
 * the swizzle's span each stop the emulator with one line, as does a box whose
 * first element is off a 16-byte boundary of its row; the encode
 * function refuses a misaligned address, a stride not a multiple of 16, a
 * box dimension 0 or 257 and an inner box of 256 bytes with the 128-byte
 * swizzle, and stops on an element stride of 2 (not emulated). */
void emu_tmat_tma_test_box(const void *base, int B, int T, int H, int D, int box0, int box1, int swizzle, int c0,
                           int c1, int c2, int c3, int how, unsigned char *out);
int emu_tmat_tma_test_encode(void *map, void *base, int rank, const uint64_t *dims, const uint64_t *strides,
                             const uint32_t *box, const uint32_t *estrides, int swizzle);
enum { TMT_B = 2, TMT_T = 100, TMT_H = 3, TMT_D = 64, TMT_AREA = 8192 };
enum { TMT_OK, TMT_COPY_FIRST, TMT_SEPARATE, TMT_READ_EARLY, TMT_TX_MORE, TMT_TX_FEWER, TMT_UNINIT, TMT_MISALIGNED,
       TMT_PAST_END, TMT_BAD_MAP, TMT_TX_RANGE };
static uint16_t tmt_x[TMT_B][TMT_T][TMT_H][TMT_D];
static unsigned char tmt_out[2 * TMT_AREA], tmt_want[TMT_AREA];
typedef struct { int box0, box1, swizzle, c[4], how; } TmtCase;

/* the expected box bytes (box0 box1 2 of them) in tmt_want */
static void tmt_expect(const TmtCase *k) {
    for (int i1 = 0; i1 < k->box1; i1++)
        for (int i0 = 0; i0 < k->box0; i0++) {
            int g0 = k->c[0] + i0, g1 = k->c[1] + i1, g2 = k->c[2], g3 = k->c[3];
            bool in = g0 >= 0 && g0 < TMT_D && g1 >= 0 && g1 < TMT_T && g2 >= 0 && g2 < TMT_H && g3 >= 0 && g3 < TMT_B;
            uint16_t v = in ? tmt_x[g3][g1][g2][g0] : 0;
            unsigned off = (unsigned)(i1 * k->box0 + i0) * 2;
            if (k->swizzle) off ^= ((off >> 7) & ((1u << k->swizzle) - 1)) << 4;   /* 32B: 1 bit, 64B: 2, 128B: 3 */
            memcpy(tmt_want + off, &v, 2);
        }
}

/* runs the case; returns how many bytes of the box area differ from the expected */
static int tmt_run(const TmtCase *k) {
    for (int i = 0; i < TMT_B * TMT_T * TMT_H * TMT_D; i++) (&tmt_x[0][0][0][0])[i] = (uint16_t)(0x3c00 + i % 20011);
    memset(tmt_out, 0, sizeof tmt_out);
    emu_tmat_tma_test_box(tmt_x, TMT_B, TMT_T, TMT_H, TMT_D, k->box0, k->box1, k->swizzle, k->c[0], k->c[1], k->c[2],
                          k->c[3], k->how, tmt_out);
    tmt_expect(k);
    int bad = 0, bytes = k->box0 * k->box1 * 2;
    for (int i = 0; i < bytes; i++) bad += tmt_out[i] != tmt_want[i];
    return bad;
}

static int tmt_count(int from, int to, unsigned char v) {
    int n = 0;
    for (int i = from; i < to; i++) n += tmt_out[i] == v;
    return n;
}

static void tmt_die(void *k) { tmt_run((const TmtCase *)k); }

/* The bulk tensor reduction (tma_test.cu's tma_reduce, version 19's dQ): a box of 32 x 64 floats, value 1 + its
 * index (each st.shared.v2 stores elements i and i + 1 as i + 1 and i + 2), added by one thread
 * into a 3-D f32 tensor [2][100][64] (D contiguous) filled with 0.5 times each element's index; the expected
 * tensor computed here, apart from the emulator (PTX ISA, "cp.reduce.async.bulk.tensor": each element of the
 * box added into the tensor's element at the box's coordinates plus its own, elements outside the tensor
 * skipped; the box in shared memory laid out as a load's, the 128-byte swizzle or none). */
void emu_tmat_tma_test_reduce(float *base, int N, int T, int D, int c0, int c1, int c2, int swizzle, int how);
enum { TRD_N = 2, TRD_T = 100, TRD_D = 64 };
enum { TRD_OK, TRD_NO_FENCE, TRD_STORE_EARLY, TRD_NO_WAIT, TRD_STORE_AFTER };
typedef struct { int c[3], swizzle, how; } TrdCase;
static float trd_x[TRD_N][TRD_T][TRD_D];

static int trd_run(const TrdCase *k) {   /* elements of the tensor that differ from the expected */
    for (int i = 0; i < TRD_N * TRD_T * TRD_D; i++) (&trd_x[0][0][0])[i] = 0.5f * (float)i;
    emu_tmat_tma_test_reduce(&trd_x[0][0][0], TRD_N, TRD_T, TRD_D, k->c[0], k->c[1], k->c[2], k->swizzle, k->how);
    int bad = 0;
    for (int n = 0; n < TRD_N; n++)
        for (int r = 0; r < TRD_T; r++)
            for (int d = 0; d < TRD_D; d++) {
                int i0 = d - k->c[0], i1 = r - k->c[1];
                bool in = n == k->c[2] && i0 >= 0 && i0 < 32 && i1 >= 0 && i1 < 64;
                int i = i1 * 32 + i0;
                float want = 0.5f * (float)((n * TRD_T + r) * TRD_D + d) + (in ? (float)(i + 1) : 0.0f);
                bad += trd_x[n][r][d] != want;
            }
    return bad;
}
static void trd_die(void *k) { trd_run((const TrdCase *)k); }

static void test_tma_reduce(Check *t) {
    static const TrdCase cases[] = {
        {{0, 0, 1}, 1, TRD_OK},     /* inside */
        {{32, 40, 0}, 1, TRD_OK},   /* rows 100 to 103 past T: skipped */
        {{-8, 3, 1}, 1, TRD_OK},    /* the first 8 columns before D's start (two chunks) */
        {{16, 70, 1}, 0, TRD_OK},   /* no swizzle; rows 100 to 133 past T */
        {{0, 0, 0}, 1, TRD_STORE_AFTER},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const TrdCase *k = &cases[i];
        int bad = trd_run(k);
        check_true(t, bad == 0, "TMA reduction: box {32, 64} at (%d, %d, %d)%s%s: %d of %d elements of the tensor "
                   "differ from the expected", k->c[0], k->c[1], k->c[2], k->swizzle ? ", 128-byte swizzle" : "",
                   k->how == TRD_STORE_AFTER ? ", a store after wait_group.read" : "", bad, TRD_N * TRD_T * TRD_D);
    }
    static const TrdCase dies[] = {{{0, 0, 0}, 1, TRD_NO_FENCE}, {{0, 0, 0}, 1, TRD_STORE_EARLY},
                                   {{0, 0, 0}, 1, TRD_NO_WAIT}};
    expect_die(t, trd_die, (void *)&dies[0], "cp.reduce.async.bulk.tensor reads shared address 0, written by thread 0 "
               "(generic proxy) with no fence.proxy.async after the write", "TMA reduction: no fence after the stores");
    expect_die(t, trd_die, (void *)&dies[1], "thread 0 writes shared address 0, which a bulk reduction reads whose group "
               "its issuing thread has not waited for", "TMA reduction: a store into its box before the wait");
    expect_die(t, trd_die, (void *)&dies[2], "the block ended with thread 0's bulk reductions not waited for",
               "TMA reduction: a block that ends with it not waited for");
}

static void test_tma_encode(Check *t) {
    static _Alignas(128) unsigned char map[128];
    uint64_t dims[4] = {TMT_D, TMT_T, TMT_H, TMT_B}, strides[3] = {TMT_H * TMT_D * 2, TMT_D * 2, TMT_T * TMT_H * TMT_D * 2};
    uint32_t box[4] = {64, 64, 1, 1}, es[4] = {1, 1, 1, 1};
    unsigned char *base = (unsigned char *)tmt_x;
    check_true(t, emu_tmat_tma_test_encode(map, base, 4, dims, strides, box, es, 3) == 0,
               "cuTensorMapEncodeTiled: a valid map (box {64, 64, 1, 1}, 128-byte swizzle) is accepted");
    check_true(t, emu_tmat_tma_test_encode(map, base + 8, 4, dims, strides, box, es, 0) == 1,
               "cuTensorMapEncodeTiled: a global address not 16-byte aligned: CUDA_ERROR_INVALID_VALUE");
    uint64_t bad_strides[3] = {TMT_H * TMT_D * 2 + 8, TMT_D * 2, TMT_T * TMT_H * TMT_D * 2};
    check_true(t, emu_tmat_tma_test_encode(map, base, 4, dims, bad_strides, box, es, 0) == 1,
               "cuTensorMapEncodeTiled: a stride not a multiple of 16: CUDA_ERROR_INVALID_VALUE");
    uint32_t box0[4] = {64, 0, 1, 1}, box257[4] = {64, 257, 1, 1}, wide[4] = {128, 8, 1, 1};
    check_true(t, emu_tmat_tma_test_encode(map, base, 4, dims, strides, box0, es, 0) == 1,
               "cuTensorMapEncodeTiled: a box dimension 0: CUDA_ERROR_INVALID_VALUE");
    check_true(t, emu_tmat_tma_test_encode(map, base, 4, dims, strides, box257, es, 0) == 1,
               "cuTensorMapEncodeTiled: a box dimension 257: CUDA_ERROR_INVALID_VALUE");
    check_true(t, emu_tmat_tma_test_encode(map, base, 4, dims, strides, wide, es, 3) == 1,
               "cuTensorMapEncodeTiled: an inner box of 256 bytes with the 128-byte swizzle: CUDA_ERROR_INVALID_VALUE");
    check_true(t, emu_tmat_tma_test_encode(map, base, 4, dims, strides, wide, es, 0) == 0,
               "cuTensorMapEncodeTiled: ... and without the swizzle it is accepted");
}

static void tmt_es2(void *unused) {
    (void)unused;
    static _Alignas(128) unsigned char map[128];
    uint64_t dims[2] = {TMT_D, TMT_T * TMT_H * TMT_B}, strides[1] = {TMT_D * 2};
    uint32_t box[2] = {64, 8}, es[2] = {1, 2};
    emu_tmat_tma_test_encode(map, tmt_x, 2, dims, strides, box, es, 0);
}

/* wgmma reading TMA's 128-byte-swizzled tiles (tma_test.cu's tma_wgmma): D = A B^T, A 64 x 64, B 128 x 64
 * (small integers, so every sum is exact in f32), against the plain product; the accumulator fragment as
 * test_wgmma_unit has it (thread t of warp w, lane l: d_i is D[16w + l/4 + 8((i/2) mod 2)][8(i/4) + 2(l mod 4)
 * + i mod 2]). */
void emu_tmat_tma_test_wgmma(int form, const void *a, const void *b, int how, float *out);
static int twg_run(int form, int how) {   /* registers that differ from the plain product */
    static float A[64][64], B[128][64], d[128 * 64];
    static uint16_t ag[64 * 64], bg[128 * 64];
    for (int m = 0; m < 64; m++)
        for (int k = 0; k < 64; k++) A[m][k] = (float)((m * 7 + k * 3) % 9 - 4);
    for (int n = 0; n < 128; n++)
        for (int k = 0; k < 64; k++) B[n][k] = (float)((n * 5 + k * 11) % 7 - 3);
    for (int m = 0; m < 64; m++)
        for (int k = 0; k < 64; k++) ag[form == 1 ? k * 64 + m : m * 64 + k] = f32_to_bf16(A[m][k]);
    for (int n = 0; n < 128; n++)
        for (int k = 0; k < 64; k++) bg[form == 0 ? n * 64 + k : k * 128 + n] = f32_to_bf16(B[n][k]);
    emu_tmat_tma_test_wgmma(form, ag, bg, how, d);
    int bad = 0;
    for (int t = 0; t < 128; t++) {
        int wp = t / 32, l = t % 32;
        for (int i = 0; i < 64; i++) {
            int row = 16 * wp + l / 4 + 8 * (i / 2 % 2), col = 8 * (i / 4) + 2 * (l % 4) + i % 2;
            float want = 0;
            for (int k = 0; k < 64; k++) want += A[row][k] * B[col][k];
            bad += d[t * 64 + i] != want;
        }
    }
    return bad;
}

static void twg_die(void *how) { twg_run(0, *(int *)how); }

static void test_tma_wgmma(Check *t) {
    static const int modes[3][2] = {{0, 0}, {1, 1}, {0, 2}};
    static const char *form_name[3] = {"A and B K-major", "A M-major, B N-major", "A K-major, B N-major"};
    for (int m = 0; m < 3; m++) {
        flashemu_mode(modes[m][0], modes[m][1]);
        for (int form = 0; form < 3; form++) {
            int bad = twg_run(form, 0);
            check_true(t, bad == 0, "TMA + wgmma m64n128k16 (schedule %d), 128-byte swizzle, %s: %d of %d registers "
                       "differ from the plain product", m, form_name[form], bad, 128 * 64);
        }
    }
    flashemu_mode(0, 0);
    int bad = twg_run(0, 2);
    check_true(t, bad > 0, "TMA + wgmma: the swizzled tiles read through descriptors without the swizzle mode give a "
               "different product (%d registers)", bad);
    bad = twg_run(2, 3);
    check_true(t, bad > 0, "TMA + wgmma: B N-major with LBO 0 (its second 64 N values from the first) gives a "
               "different product (%d registers)", bad);
    static int incomplete = 1;
    expect_die(t, twg_die, &incomplete, "wgmma reads shared address 0, "
               "which a copy in flight writes (a cp.async not yet waited for, or one whose mbarrier phase has not "
               "completed)", "TMA + wgmma: a product reading a box whose mbarrier phase is incomplete stops");
    static int off_atom = 4;
    expect_die(t, twg_die, &off_atom, "a wgmma K-major descriptor with the 128-byte swizzle, start address "
               "128, LBO 16, SBO 1024: only atoms 1024-byte aligned are emulated",
               "TMA + wgmma: a swizzled descriptor whose start is not in an atom's first row stops (not emulated)");
    flashemu_mode(-1, 0);
}

static void test_tma_unit(Check *t) {
    static const int modes[3][2] = {{0, 0}, {1, 1}, {0, 2}};
    static const char *mode_name[3] = {"deferred, round robin", "eager, reverse", "deferred, first ahead"};
    static const TmtCase cases[] = {
        {8, 64, 0, {8, 50, 2, 1}, TMT_OK},     /* rows 100 to 113 past T: zeros */
        {64, 64, 0, {0, 64, 1, 1}, TMT_OK},    /* rows 100 to 127 past T */
        {64, 64, 3, {0, 64, 1, 0}, TMT_OK},    /* the same, 128-byte swizzle */
        {64, 64, 3, {0, -10, 2, 1}, TMT_OK},   /* rows -10 to -1 before T's start */
        {64, 8, 3, {-8, 3, 0, 1}, TMT_OK},     /* the first 8 elements of each row before D's start (one chunk) */
        {64, 8, 0, {24, 3, 0, 1}, TMT_OK},     /* the last 24 past D's end */
        {32, 64, 2, {16, 60, 1, 1}, TMT_OK},   /* the 64-byte swizzle (Swizzle<2,4,3>), rows 100 to 123 past T */
        {16, 64, 1, {40, 7, 2, 0}, TMT_OK},    /* the 32-byte swizzle (Swizzle<1,4,3>) */
    };
    for (int m = 0; m < 3; m++) {
        flashemu_mode(modes[m][0], modes[m][1]);
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            const TmtCase *k = &cases[i];
            int bad = tmt_run(k), untouched = tmt_count(TMT_AREA, 2 * TMT_AREA, 0xff);
            static const char *swz[] = {"", " 32-byte swizzle", " 64-byte swizzle", " 128-byte swizzle"};
            check_true(t, bad == 0 && untouched == TMT_AREA, "TMA (%s): box {%d, %d}%s at (%d, %d, %d, %d): %d of %d "
                       "bytes differ from the expected layout, %d of the other area's %d bytes not 0xff", mode_name[m],
                       k->box0, k->box1, swz[k->swizzle], k->c[0], k->c[1], k->c[2], k->c[3], bad,
                       k->box0 * k->box1 * 2, TMT_AREA - untouched, TMT_AREA);
        }
        TmtCase first = {64, 64, 3, {0, 40, 1, 1}, TMT_COPY_FIRST}, sep = first;
        sep.how = TMT_SEPARATE;
        int bad = tmt_run(&first);
        check_true(t, bad == 0, "TMA (%s): the copy issued before its arrive.expect_tx (tx-count negative a while): %d "
                   "bytes wrong", mode_name[m], bad);
        bad = tmt_run(&sep);
        check_true(t, bad == 0, "TMA (%s): mbarrier.expect_tx, the copy, then mbarrier.arrive: %d bytes wrong",
                   mode_name[m], bad);
    }
    flashemu_mode(0, 0);
    TmtCase early = {64, 64, 0, {0, 0, 0, 0}, TMT_READ_EARLY}, fewer = early;
    tmt_run(&early);
    int ff = tmt_count(0, TMT_AREA, 0xff);
    check_true(t, ff == TMT_AREA, "TMA: a read of the box before the wait sees the 0xff fill (%d of %d bytes)", ff,
               TMT_AREA);
    fewer.how = TMT_TX_FEWER;
    int bad = tmt_run(&fewer);
    ff = tmt_count(TMT_AREA, 2 * TMT_AREA, 0xff);
    check_true(t, bad == 0 && ff == TMT_AREA, "TMA: two copies, one's bytes expected: the phase completes with the first "
               "(%d bytes wrong), the second has not landed (%d of %d bytes still 0xff)", bad, ff, TMT_AREA);
    static const TmtCase dies[] = {
        {64, 64, 0, {0, 0, 0, 0}, TMT_TX_MORE}, {64, 64, 0, {0, 0, 0, 0}, TMT_UNINIT},
        {64, 64, 0, {0, 0, 0, 0}, TMT_MISALIGNED}, {64, 64, 0, {0, 0, 0, 0}, TMT_PAST_END},
        {64, 64, 0, {0, 0, 0, 0}, TMT_BAD_MAP}, {64, 64, 0, {0, 0, 0, 0}, TMT_TX_RANGE},
        {8, 64, 3, {0, 0, 0, 0}, TMT_OK}, {64, 64, 3, {0, 0, 0, 0}, TMT_MISALIGNED},
        {64, 8, 0, {-3, 3, 0, 1}, TMT_OK}, {64, 8, 0, {5, 3, 0, 1}, TMT_OK},
    };
    expect_die(t, tmt_die, (void *)&dies[0], "kernel tma_box, block (0, 0, 0), thread 0: deadlock: no thread can go on "
               "(this one waits at mbarrier.try_wait.parity 0 on shared address 16640 (1 of 1 arrivals of its phase in, "
               "tx-count 16)", "TMA: 16 bytes more expected than copied: a deadlock");
    expect_die(t, tmt_die, (void *)&dies[1], "thread 0: mbarrier.try_wait.parity on shared address 16640, where no "
               "mbarrier.init made an mbarrier (uninitialized)", "TMA: an uninitialized barrier");
    expect_die(t, tmt_die, (void *)&dies[2], "thread 63: cp.async.bulk.tensor at shared address 16: not 128-byte aligned",
               "TMA: a destination not 128-byte aligned");
    expect_die(t, tmt_die, (void *)&dies[3], "thread 63: cp.async.bulk.tensor at shared address 8576, past the end of "
               "dynamic shared memory (16648 bytes)", "TMA: a box past the end of shared memory");
    expect_die(t, tmt_die, (void *)&dies[4], "that cuTensorMapEncodeTiled (the emulator's) did not make",
               "TMA: a tensor map the encode function did not make");
    expect_die(t, tmt_die, (void *)&dies[5], "thread 63: mbarrier.expect_tx: the tx-count of the mbarrier at shared address "
               "16640 is 1048576, outside -(2^20 - 1) to 2^20 - 1", "TMA: a tx-count out of range");
    expect_die(t, tmt_die, (void *)&dies[6], "cp.async.bulk.tensor with the 128-byte swizzle and a box's inner dimension "
               "of 16 bytes: only a box row of exactly the swizzle's span is emulated",
               "TMA: a swizzled box row shorter than the span (not emulated)");
    expect_die(t, tmt_die, (void *)&dies[7], "thread 63: cp.async.bulk.tensor at shared address 16: not 1024-byte aligned",
               "TMA: a 128-byte swizzled box not 1024-byte aligned");
    /* the box's first element off a 16-byte boundary of its row: an H100 stopped version 26's first tree with
     * "an illegal instruction" at a map of lse whose box began at float 77; the emulator stops too */
    expect_die(t, tmt_die, (void *)&dies[8], "thread 63: cp.async.bulk.tensor at inner coordinate -3 (2-byte elements): "
               "the box's start is not on a 16-byte boundary", "TMA: a box starting 3 elements before the row (6 bytes) stops");
    expect_die(t, tmt_die, (void *)&dies[9], "thread 63: cp.async.bulk.tensor at inner coordinate 5 (2-byte elements): "
               "the box's start is not on a 16-byte boundary", "TMA: a box starting at element 5 (10 bytes) stops");
    test_tma_encode(t);
    expect_die(t, tmt_es2, NULL, "cuTensorMapEncodeTiled with an element stride of 2: not emulated",
               "TMA: an element stride of 2 stops (not emulated)");
    test_tma_wgmma(t);
    test_tma_reduce(t);
    flashemu_mode(-1, 0);
}

/* ---- The entry points' check of 16-byte rows ----------------------------------------- */

/* versions 2 to 27 read every tensor in 16-byte pieces: a q two elements into its buffer, or a row stride not a
 * multiple of 8, stops the call with a line naming the tensor (before any kernel runs) */
static _Alignas(16) uint16_t rows_buf[2 * 64 * 136 + 64];
static float rows_lse[64];
static void rows_forward(void *how) {
    int h = *(int *)how;
    uint16_t *q = rows_buf + (h == 0 ? 2 : 0);
    FlashLayout in = {64 * 64, 64 * 64, h == 1 ? 68 : 64}, out = {64 * 64, 64 * 64, 64};
    emu_orig_flash_forward_cuda(emu_orig_gpu(), DT_BF16, 7, rows_buf + 2 * 64 * 64, rows_lse, q, rows_buf, rows_buf, 1,
                                1, 16, 64, true, in, out);
}
static void test_entry_rows(Check *t) {
    static int offset = 0, stride = 1;
    expect_die(t, rows_forward, &offset, "flash_forward_cuda: versions 2 to 27 read q in 16-byte pieces",
               "entry point: q two elements into its buffer stops the call, naming q");
    expect_die(t, rows_forward, &stride, "(4096, 4096, 68) multiples of 8 elements",
               "entry point: a row stride of 68 elements stops the call");
}

/* ---- Buffers with guards ------------------------------------------------------------- */

enum { GUARD = 256 };   /* bytes before and after each buffer */

/* Under AddressSanitizer the guards are poisoned too, so that a kernel
 * reading them (a row past the end) stops the program. */
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

static void *guarded(size_t bytes) {
    unsigned char *p = xmalloc(bytes + 2 * GUARD);
    memset(p, 0xa5, GUARD), memset(p + GUARD + bytes, 0xa5, GUARD);
    POISON(p, GUARD), POISON(p + GUARD + bytes, GUARD);
    return p + GUARD;
}
static bool guards_intact(void *b, size_t bytes) {
    unsigned char *p = (unsigned char *)b - GUARD;
    UNPOISON(p, GUARD), UNPOISON(p + GUARD + bytes, GUARD);
    for (size_t i = 0; i < GUARD; i++)
        if (p[i] != 0xa5 || p[GUARD + bytes + i] != 0xa5) return false;
    return true;
}
static void guarded_free(void *b, size_t bytes) {
    unsigned char *p = (unsigned char *)b - GUARD;
    UNPOISON(p, GUARD), UNPOISON(p + GUARD + bytes, GUARD);
    free(p);
}

static void to16(DType dt, uint16_t *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = dt == DT_BF16 ? f32_to_bf16(src[i]) : f32_to_f16(src[i]);
}
static void from16(DType dt, float *dst, const uint16_t *src, size_t n) {
    for (size_t i = 0; i < n; i++) dst[i] = dt == DT_BF16 ? bf16_to_f32(src[i]) : f16_to_f32(src[i]);
}

/* ---- One case: check_case of chapter 12, with the emulated kernels ---------------------- */

typedef struct {
    Errors e;
    bool guards;
    size_t nonfinite;   /* NaN or inf in o, lse, dq, dk, dv (also an error of rel_err's: counted apart, to report) */
} EmuResult;

/* Where element (b, h, t, i) of tensor `which` (0 q, 1 k, 2 v, 3 dout, 4 o,
 * 5 dq, 6 dk, 7 dv) lies: its buffer and offset.  Each tensor its own
 * [B][H][T][d] buffer, or with `packed` the runtime's layout: q, k, v in
 * one [B][T][3C] buffer (k at +C, v at +2C), dq, dk, dv likewise in
 * another, o and dout [B][T][C] (gpu.h's FlashLayout in and out). */
typedef struct { bool packed; int B, H, T, d; FlashLayout in, out; } Lay;
static int lay_buffer(const Lay *L, int which) {
    if (!L->packed) return which;
    return which < 3 ? 0 : which == 3 ? 3 : which == 4 ? 4 : 5;
}
static size_t lay_at(const Lay *L, int which, int b, int h, int t, int i) {
    bool is_in = which < 3 || which >= 5;
    FlashLayout f = is_in ? L->in : L->out;
    size_t base = L->packed && is_in ? (size_t)((which < 3 ? which : which - 5) * L->H * L->d) : 0;
    return base + (size_t)b * f.b + (size_t)h * f.h + (size_t)t * f.t + (size_t)i;
}

/* The version whose backward kernel `version` launches at head size d (flash.cu's flash_backward_typed:
 * the same instantiation): a version that shares an earlier one's is checked forward only, its backward
 * pass having been checked, on the same shapes, under the version that owns it (CI's time).  Version 17
 * has a backward kernel of its own at d 64 alone, version 14's at d 128; version 18 its own at both
 * (version 17's, or at d 128 version 14's, with the blocks numbered key block first), and version 19 its
 * own at both (the same two, with dQ added by bulk reductions), and version 20 its own (version 19's, the blocks
 * in groups of heads); versions 21 and 22 launch version 20's, and version 23 its own (version 20's main
 * kernel between two kernels of its own), version 24 its own at d 64 (persistent) and version 23's at d 128. */
static int backward_owner(int version, int d) {
    if (version >= 27) return d == 64 ? 27 : 23;
    if (version >= 26) return d == 64 ? 26 : 23;
    if (version >= 25) return d == 64 ? 25 : 23;
    if (version >= 24) return d == 64 ? 24 : 23;
    if (version >= 23) return version;
    if (version >= 21) return 20;
    if (version >= 18) return version;
    if (version == 17) return d == 64 ? 17 : 14;
    return version <= 1 ? 1 : version <= 3 ? 2 : version <= 6 ? 4 : version <= 12 ? 7 : version <= 14 ? version : 14;
}

/* The version whose forward kernel `version` launches at head size d (flash_forward_typed): version 16
 * changes d 64 alone, versions 17 to 20 launch version 15's (at both head sizes), and versions 21 and 22 their
 * own (version 15's made persistent: the emulator's two SMs take the tiles of every case in two blocks), and version 23 version 22's.  A case whose forward
 * and backward kernels are both another version's is that version's case, and is not run again. */
static int forward_owner(int version, int d) {
    if (version >= 23) return 22;
    if (version >= 21) return version;
    if (version >= 17) return 15;
    return version == 16 && d == 128 ? 15 : version;
}

/* Whether the backward kernel reads the old dk and dv through a copy made at its start, checked
 * (version 17 at d 64; version 18's kernel there reads them by the same lines): emu_case then runs the backward pass twice, so that the second run adds into values that are
 * not zero, and halves what it finds (2 g rounded once more, against g) */
static bool adds_from_copy(int version, int d) { return version == 17 && d == 64; }

static EmuResult emu_case(const Variant *var, DType dt, int version, int B, int H, int T, int d, bool causal, bool packed,
                          Rng *rng) {
    size_t nh = (size_t)T * d, n = (size_t)B * H * nh, nl = (size_t)B * H * T;
    float *x[9];                                        /* q k v dout, then o lse dq dk dv from the kernels */
    for (int i = 0; i < 9; i++) x[i] = xcalloc(n, sizeof(float));
    for (int i = 0; i < 4; i++) fill_normal(x[i], n, rng), round_to(dt, x[i], n);
    Lay L = {packed, B, H, T, d, layout_bhtd(H, T, d), layout_bhtd(H, T, d)};
    if (packed) {
        int C = H * d;
        L.in = (FlashLayout){(long long)T * 3 * C, d, 3 * C}, L.out = (FlashLayout){(long long)T * C, d, C};
    }
    size_t bytes[8], sbytes = var->scratch(B, H, T, d);
    uint16_t *buf[8] = {0};                             /* by lay_buffer: q k v dout o dq dk dv, or qkv - - dout o dqkv */
    for (int i = 0; i < 8; i++) bytes[i] = packed && (i == 0 || i == 5) ? 3 * n * 2 : n * 2;
    for (int i = 0; i < 8; i++)
        if (lay_buffer(&L, i) == i) buf[i] = guarded(bytes[i]), memset(buf[i], 0, bytes[i]);
    for (int w = 0; w < 4; w++)                          /* q k v dout into their places */
        for (int b = 0; b < B; b++)
            for (int h = 0; h < H; h++)
                for (int t = 0; t < T; t++)
                    to16(dt, buf[lay_buffer(&L, w)] + lay_at(&L, w, b, h, t, 0), x[w] + (((size_t)b * H + h) * T + t) * d,
                         (size_t)d);
    float *lse = guarded(nl * sizeof(float));
    void *scr = guarded(sbytes);
    memset(scr, 0xff, sbytes);                          /* the kernels must not count on zeroed scratch */
    Gpu *g = var->gpu();
    uint16_t *p[8];
    for (int w = 0; w < 8; w++) p[w] = buf[lay_buffer(&L, w)] + lay_at(&L, w, 0, 0, 0, 0);
    var->fwd(g, dt, version, p[4], lse, p[0], p[1], p[2], B, H, T, d, causal, L.in, L.out);
    bool bwd = backward_owner(version, d) == version, twice = bwd && adds_from_copy(version, d);
    for (int run = 0; run < (twice ? 2 : 1) && bwd; run++)
        var->bwd(g, dt, version, p[5], p[6], p[7], p[3], p[0], p[1], p[2], p[4], lse, scr, B, H, T, d, causal, L.in, L.out);
    EmuResult r = {.guards = guards_intact(lse, nl * sizeof(float)) && guards_intact(scr, sbytes)};
    for (int i = 0; i < 8; i++)
        if (buf[i]) r.guards &= guards_intact(buf[i], bytes[i]);
    int from[5] = {4, -1, 5, 6, 7};                     /* x[4 + k] from tensor from[k] (lse apart) */
    for (int k = 0; k < 5; k++)
        for (int b = 0; k != 1 && b < B; b++)
            for (int h = 0; h < H; h++)
                for (int t = 0; t < T; t++)
                    from16(dt, x[4 + k] + (((size_t)b * H + h) * T + t) * d,
                           buf[lay_buffer(&L, from[k])] + lay_at(&L, from[k], b, h, t, 0), (size_t)d);
    memcpy(x[5], lse, nl * sizeof(float));
    for (int i = 6; i < 9 && twice; i++)
        for (size_t j = 0; j < n; j++) x[i][j] *= 0.5f;
    for (int i = 0; i < 8; i++)
        if (buf[i]) guarded_free(buf[i], bytes[i]);
    guarded_free(lse, nl * sizeof(float)), guarded_free(scr, sbytes);
    for (int i = 4; i < 9; i++)
        for (size_t j = 0; j < (i == 5 ? nl : n); j++) r.nonfinite += !isfinite(x[i][j]);
    r.e = reference_errors(x, B, H, T, d, causal);   /* as chapter 12's check_case holds every head */
    if (!bwd) r.e.dq = r.e.dk = r.e.dv = 0;           /* not run: checked under backward_owner(version, d) */
    for (int i = 0; i < 9; i++) free(x[i]);
    return r;
}

/* NaN counts as over the bound */
static bool within(const EmuResult *r, DType dt) {
    double bf = bound_forward(dt), bb = bound_backward(dt);
    return r->guards && r->nonfinite == 0 && r->e.o <= bf && r->e.lse <= bound_lse() && r->e.dq <= bb && r->e.dk <= bb && r->e.dv <= bb;
}

/* ---- The cases ------------------------------------------------------------------------ */

enum { MAXSHAPES = 16 };
/* B, H, T, and 1 for the runtime's packed qkv layout */
/* B, H, T, packed, the first version run on it: T = 300 (five key tiles)
 * for the wgmma versions alone, so that version 6's three stages are each
 * used twice or more and the tile after a reused stage is read; T = 520
 * (five key tiles of 128) for versions 8 and 9, so that their stages are
 * reused too, and version 9's barriers complete phases of both parities;
 * T = 900 (eight tiles of 128) for version 10 (version 9's consumers and
 * barriers, loaded by TMA), so that a stage's barriers complete phases of
 * parity 0, 1 and 0 again (version 9 passed it in session 13; left out for
 * CI's time); three heads of T = 260 (three key blocks) for version 20, whose
 * launch takes groups of two heads there at d 64, the last of one (the
 * emulator's GPU has two SMs and 1 MiB of L2: gen.py) */
static int shapes[MAXSHAPES][5] = {{1, 2, 1, 0, 1}, {2, 2, 17, 0, 1}, {1, 2, 80, 0, 1}, {1, 2, 130, 0, 1}, {2, 3, 80, 1, 1},
                                   {1, 1, 300, 0, 5}, {1, 1, 520, 0, 8}, {1, 1, 900, 0, 13}, {1, 3, 260, 0, 20}};
static int NSHAPES = 9;

/* FLASH_EMU_SHAPES="B:H:T,B:H:T,..." in place of the nine above (none packed, every version) */
static void parse_shapes(const char *s) {
    NSHAPES = 0;
    for (const char *p = s; *p;) {
        int b, h, t, used;
        if (NSHAPES == MAXSHAPES || sscanf(p, "%d:%d:%d%n", &b, &h, &t, &used) != 3 || b < 1 || h < 1 || t < 1)
            die("FLASH_EMU_SHAPES=%s: B:H:T,... (at most %d, each positive)", s, MAXSHAPES);
        shapes[NSHAPES][0] = b, shapes[NSHAPES][1] = h, shapes[NSHAPES][2] = t, shapes[NSHAPES][3] = 0, shapes[NSHAPES][4] = 1, NSHAPES++;
        p += used;
        if (*p == ',') p++;
    }
}

/* Run every case of one variant; with `t`, each is a check; without, stop at
 * the first case over its bound and return how many cases passed before it
 * (-1: none failed). */
static int versions = 0, first_version = 1;   /* 0: all the file has; FLASH_EMU_VERSIONS=N or M-N */
static unsigned shape_mask = ~0u;           /* the shapes run_cases runs (run_job narrows it) */

/* backward_owner's claim, checked: on one small case (bf16, B 1, H 2, T 80,
 * d 64, causal), from the same forward outputs, each version that does not
 * own its backward kernel writes the same dq, dk and dv bytes as its owner;
 * at d 128 the same for the versions whose owner there is not their owner at
 * d 64 (version 17, whose d 128 kernel is version 14's). */
static void test_backward_owners(Check *t, const Variant *var) {
    int B = 1, H = 2, T = 80, last = versions ? versions : *var->versions, pairs = 0, same = 0, first_bad = 0;
    size_t n = (size_t)B * H * T * 128, nl = (size_t)B * H * T, sb = var->scratch(B, H, T, 128);   /* room for d 128 */
    Rng rng;
    rng_seed(&rng, 5);
    float *f = xcalloc(n, sizeof(float)), *lse = xcalloc(nl, sizeof(float));
    uint16_t *in[4], *o = xcalloc(n, 2), *g[2][3];
    for (int i = 0; i < 4; i++) {
        in[i] = xcalloc(n, 2);
        fill_normal(f, n, &rng), round_to(DT_BF16, f, n), to16(DT_BF16, in[i], f, n);
    }
    void *scr = xcalloc(1, sb);
    Gpu *gp = var->gpu();
    for (int d = 64; d <= 128; d *= 2)
        for (int v = first_version; v <= last; v++) {
            int w = backward_owner(v, d);
            if (w == v || (*var->missing >> v & 1) || (*var->missing >> w & 1)) continue;
            if (d == 128 && w == backward_owner(v, 64)) continue;   /* d 64 checked the claim */
            FlashLayout L = layout_bhtd(H, T, d);
            var->fwd(gp, DT_BF16, w, o, lse, in[0], in[1], in[2], B, H, T, d, true, L, L);
            for (int k = 0; k < 2; k++) {
                for (int i = 0; i < 3; i++) g[k][i] = xcalloc(n, 2);
                memset(scr, 0xff, sb);
                var->bwd(gp, DT_BF16, k ? w : v, g[k][0], g[k][1], g[k][2], in[3], in[0], in[1], in[2], o, lse, scr, B, H,
                         T, d, true, L, L);
            }
            bool eq = true;
            for (int i = 0; i < 3; i++)   /* the first B H T d elements: this d's */
                eq &= memcmp(g[0][i], g[1][i], n / 128 * d * 2) == 0, free(g[0][i]), free(g[1][i]);
            pairs++, same += eq;
            if (!eq && !first_bad) first_bad = v;
        }
    check_true(t, pairs == 0 || same == pairs, "backward kernels: each of %d versions that launch an earlier version's "
               "writes its owner's dq, dk and dv bytes (%d the same; first differing: version %d, 0 for none)", pairs, same,
               first_bad);
    for (int i = 0; i < 4; i++) free(in[i]);
    free(f), free(lse), free(o), free(scr);
}

static int run_cases(Check *t, const Variant *var, bool verbose, uint64_t seed, int dtypes) {
    DType dts[2] = {DT_BF16, DT_F16};
    Rng rng;
    rng_seed(&rng, seed);
    int n = 0;
    for (int s = 0; s < NSHAPES; s++)
        for (int di = 0; di < 2; di++) if (dtypes >> di & 1 && (shape_mask >> s & 1))
            for (int version = first_version > shapes[s][4] ? first_version : shapes[s][4];
                 version <= (versions ? versions : *var->versions); version++)
                for (int d = 64; d <= 128 && !(*var->missing >> version & 1); d *= 2)
                    for (int causal = 0; causal < 2; causal++, n++) {
                        if (forward_owner(version, d) != version && backward_owner(version, d) != version) continue;
                        int B = shapes[s][0], H = shapes[s][1], T = shapes[s][2];
                        bool packed = shapes[s][3];
                        EmuResult r = emu_case(var, dts[di], version, B, H, T, d, causal, packed, &rng);
                        bool ok = within(&r, dts[di]);
                        char line[340], own[48] = "";
                        if (backward_owner(version, d) != version)
                            snprintf(own, sizeof own, " (backward: version %d's, checked there)", backward_owner(version, d));
                        snprintf(line, sizeof line,
                                 "%s: %s v%d d%d %s B%d H%d T%d%s: o %.2e lse %.2e dq %.2e dk %.2e dv %.2e%s%s%s (bounds %g, %g)",
                                 var->name, dtype_name(dts[di]), version, d, causal ? "causal" : "full", B, H, T,
                                 packed ? " packed qkv" : "",
                                 r.e.o, r.e.lse, r.e.dq, r.e.dk, r.e.dv, own, r.guards ? "" : ", WROTE OUTSIDE A BUFFER",
                                 r.nonfinite ? ", NaN OR INF IN THE RESULTS" : "",
                                 bound_forward(dts[di]), bound_backward(dts[di]));
                        if (verbose) printf("  %s %s\n", ok ? "ok  " : "FAIL", line), fflush(stdout);
                        if (t) check_true(t, ok, "emulated %s", line);
                        else if (!ok) return n;
                    }
    return -1;
}

/* A mutant, in a child process (a mutant named vN-..., N >= 5, of version
 * N's kernel, on versions N and up: the kernels before it do not run the
 * mutated lines; first on version N alone in both schedules, where its lines
 * surely run, so that a mutant that only the second schedule shows is not
 * first run on every later version in the first, CI's time): exit 0 if some
 * case is over its bound,
 * ALL_PASSED if every case passed; a stop of the emulator (die, which
 * exits 1, or a signal) is a catch too. */
enum { ALL_PASSED = 10 };
static void test_mutant(Check *t, const Variant *var, bool verbose) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) die("fork: %s", strerror(errno));
    if (pid == 0) {
        if (!*var->applied) _exit(3);
        if (!verbose) {                     /* the emulator's one-line stop goes nowhere */
            FILE *f = freopen("/dev/null", "w", stderr);
            (void)f;
        }
        int vn, n = -1;                     /* a mutant of version N's kernel ("vN-...", N >= 5) runs versions N on */
        bool versioned = sscanf(var->name, "v%d-", &vn) == 1 && vn >= 5;
        if (versioned && vn > first_version) first_version = vn;
        if (versioned && (versions == 0 || versions > first_version)) {
            int all = versions;             /* first version N alone, in both schedules: where its lines run */
            versions = first_version;
            n = run_cases(NULL, var, verbose, 97, 3);
            if (n < 0) {
                flashemu_mode(0, 2);
                n = run_cases(NULL, var, verbose, 96, 3);
                flashemu_mode(-1, 0);       /* the first schedule again, as the environment sets it */
            }
            versions = all;
        }
        if (n < 0) n = run_cases(NULL, var, verbose, 99, 3);
        if (n < 0) {                        /* not seen: the schedule that runs the first threads ahead */
            flashemu_mode(0, 2);
            n = run_cases(NULL, var, verbose, 98, 3);
        }
        if (n >= 0 && verbose) printf("  mutant %s: caught at case %d\n", var->name, n);
        fflush(stdout);
        _exit(n >= 0 ? 0 : ALL_PASSED);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) die("waitpid: %s", strerror(errno));
    bool exited = WIFEXITED(status);
    int code = exited ? WEXITSTATUS(status) : -1;
    if (exited && code == 3)
        check_true(t, false, "mutation %s no longer matches flash.cu (update tools/flashemu/gen.py's MUTATIONS)",
                   var->name);
    else
        check_true(t, !(exited && code == ALL_PASSED), "mutation %s is caught (%s)", var->name,
                   !exited ? "the emulator stopped it: a signal"
                   : code == 0 ? "a case over its bound"
                   : code == ALL_PASSED ? "NOT CAUGHT: every case within its bounds"
                               : "the emulator stopped it");
}

/* ---- Jobs side by side --------------------------------------------------------------------
 *
 * The cases of the chapter's kernels, one job for each schedule and dtype,
 * and each mutant, a job of its own, run in child processes, as many at a
 * time as this process may use cores (at most 8; FLASH_EMU_JOBS=N sets it; one
 * at a time when the cases print, FLASH_EMU_ONLY or FLASH_EMU_VERBOSE):
 * each child keeps its own Check and sends its two counts back through a
 * pipe; a child that dies without sending them counts as a failure.  CI's
 * machine has two cores, and the emulator is one thread. */
typedef struct {
    int kind;                               /* 0..2: the kernels' cases in schedule `kind`; 3: a mutant */
    int arg;                                /* the dtype (1 bf16, 2 fp16), or the mutant's index */
} Job;

static bool verbose_cases;

static void run_job(Check *t, Job j) {
    if (j.kind == 3) {
        test_mutant(t, mutants[j.arg], verbose_cases);
        return;
    }
    static const char *names[3] = {"orig", "orig (cp.async landing at once, threads last to first)",
                                   "orig (cp.async landing at the wait, the first threads ahead)"};
    static const int modes[3][2] = {{0, 0}, {1, 1}, {0, 2}};
    Variant v = variant_emu_orig;
    v.name = names[j.kind];
    if (j.kind > 0) flashemu_mode(modes[j.kind][0], modes[j.kind][1]);
    if (j.kind == 0 && j.arg == 1) test_backward_owners(t, &variant_emu_orig);   /* once, in the first job */
#ifdef __SANITIZE_ADDRESS__
    if (!getenv("FLASH_EMU_SHAPES"))        /* see main */
        shape_mask = j.kind > 0 ? 1u << 3 : j.arg == 1 ? 0xfu : 0x30u;
#endif
    run_cases(t, &v, verbose_cases, 12 + (uint64_t)j.kind * 2 + (uint64_t)(j.arg - 1), j.arg);
    shape_mask = ~0u;
    if (j.kind > 0) flashemu_mode(0, 0);
}

static void run_jobs(Check *t, const Job *jobs, int n, int width) {
    if (width <= 1) {                       /* in order, in this process */
        for (int i = 0; i < n; i++) run_job(t, jobs[i]);
        return;
    }
    pid_t *pid = xcalloc((size_t)n, sizeof *pid);
    int *fd = xcalloc((size_t)n, sizeof *fd), started = 0, running = 0;
    for (int done = 0; done < n; done++) {
        for (; running < width && started < n; started++, running++) {
            int p[2];
            if (pipe(p) != 0) die("pipe: %s", strerror(errno));
            fflush(stdout), fflush(stderr);
            pid[started] = fork();
            if (pid[started] < 0) die("fork: %s", strerror(errno));
            if (pid[started] == 0) {
                close(p[0]);
                Check c;
                check_init(&c, t->suite);
                run_job(&c, jobs[started]);
                int counts[2] = {c.passed, c.failed};
                fflush(stdout), fflush(stderr);
                /* exit, not _exit: under ASan, LeakSanitizer checks the child at exit, and a leak is a nonzero status */
                exit(write(p[1], counts, sizeof counts) == (ssize_t)sizeof counts ? 0 : 1);
            }
            close(p[1]);
            fd[started] = p[0];
        }
        int status, k = 0;
        pid_t w = waitpid(-1, &status, 0);
        if (w < 0) die("waitpid: %s", strerror(errno));
        while (k < started && pid[k] != w) k++;
        if (k == started) {                 /* not one of ours */
            done--;
            continue;
        }
        int counts[2];
        bool got = read(fd[k], counts, sizeof counts) == (ssize_t)sizeof counts && WIFEXITED(status) &&
                   WEXITSTATUS(status) == 0;
        close(fd[k]);
        pid[k] = -1;                        /* reaped: its number may be given to a later child */
        if (got) t->passed += counts[0], t->failed += counts[1];
        else check_true(t, false, "job %d (kind %d, %d) ended without its counts (%s %d)", k, jobs[k].kind, jobs[k].arg,
                        WIFSIGNALED(status) ? "signal" : "exit status",
                        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
        running--;
    }
    free(pid), free(fd);
}

int main(void) {
    Check t;
    check_init(&t, "flash_emu");
    const char *only = getenv("FLASH_EMU_ONLY");
    bool verbose = only != NULL || getenv("FLASH_EMU_VERBOSE");
    verbose_cases = verbose;
    const char *vs = getenv("FLASH_EMU_VERSIONS");
    if (vs && sscanf(vs, "%d-%d", &first_version, &versions) != 2) first_version = 1, versions = atoi(vs);
    if (getenv("FLASH_EMU_SHAPES")) parse_shapes(getenv("FLASH_EMU_SHAPES"));
#ifdef __SANITIZE_ADDRESS__
    else NSHAPES = 6;                       /* under ASan, T = 520 and 900 left out: the plain run has them */
#endif
    if (vs && (versions < first_version || first_version < 1)) die("FLASH_EMU_VERSIONS=%s: a positive number", getenv("FLASH_EMU_VERSIONS"));
    cpu_set_t cpus;                         /* the cores this process may run on (a container's, not the host's) */
    long cores = sched_getaffinity(0, sizeof cpus, &cpus) == 0 ? CPU_COUNT(&cpus) : sysconf(_SC_NPROCESSORS_ONLN);
    int width = getenv("FLASH_EMU_JOBS") ? atoi(getenv("FLASH_EMU_JOBS")) : verbose ? 1 : cores < 1 ? 1 : cores > 8 ? 8 : (int)cores;
    if (width < 1) die("FLASH_EMU_JOBS=%s: a positive number", getenv("FLASH_EMU_JOBS"));
    if (!only || strcmp(only, "wgmma") == 0) test_wgmma_unit(&t), test_stmatrix_unit(&t);
    if (!only || strcmp(only, "mbar") == 0) test_mbar_unit(&t);
    if (!only || strcmp(only, "tma") == 0) test_tma_unit(&t), test_entry_rows(&t);
    Job jobs[6 + sizeof mutants / sizeof mutants[0]];
    int n = 0;
    if (!only || strcmp(only, "orig") == 0) {
        /* the other two schedules, unless the environment fixes one (tools/flashemu/run.sh), in bf16
         * alone: the schedule decides when a copy lands and which thread runs first, the dtype how
         * a number is rounded, and neither changes what the other tests.  Under ASan the first
         * schedule runs bf16 on the first four shapes and fp16 on the next two (the dtypes are two
         * bytes alike, so they touch the same addresses; two jobs of about equal time for two
         * cores), and the other two schedules T = 130 alone: the addresses the kernels touch do
         * not depend on the order their threads run in or on when a copy lands (they index by
         * block, thread and tile, never by a loaded value), but the emulator's own code for the
         * other two schedules (copies landing at once, threads in another order) should run
         * sanitized too */
        int schedules = getenv("FLASHEMU_CP_ASYNC") || getenv("FLASHEMU_ORDER") ? 1 : 3;
        for (int k = 0; k < schedules; k++)
            for (int dt = 1; dt <= (k == 0 ? 2 : 1); dt++) jobs[n++] = (Job){k, dt};
    }
    for (size_t i = 0; i < sizeof mutants / sizeof mutants[0] && mutants[i]; i++)
        if (!only || strcmp(only, mutants[i]->name) == 0) jobs[n++] = (Job){3, (int)i};
    run_jobs(&t, jobs, n, width);
    return check_summary(&t);
}
