/* emu.cpp -- the run time of the CUDA emulator (emu.h): blocks run one after
 * another on the calling OS thread; a block's threads are coroutines, each
 * with its own stack, switched only where a CUDA thread would wait for
 * others (a barrier, a warp-collective operation), in a fixed order, so a
 * run is deterministic.  Everything that the hardware would do for the
 * warp at once (ldmatrix, stmatrix, mma, shuffles) is computed when the last
 * of its 32 lanes arrives, from every lane's operands, following the PTX
 * ISA's fragment layouts.  Shared memory starts every block filled with
 * 0xff bytes (a NaN in bf16, f16 and f32), so that reading what no thread
 * wrote shows in the results; a cp.async is carried out only when its
 * thread waits for its group (cp.async.wait_group), so that reading a tile
 * before waiting for it, or before the barrier after the other threads'
 * waits, reads the old contents. */
#include "emu.h"

#include <stdarg.h>
#include <sys/mman.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <vector>

/* ---- Coroutines ----------------------------------------------------------------- */

#if defined(__x86_64__)
/* switch stacks: save the callee-saved registers on this stack, store its
 * pointer in *from, continue on `to` (a stack saved the same way) */
extern "C" void emu_ctx_switch(void **from, void *to);
asm(".text\n"
    ".globl emu_ctx_switch\n"
    ".type emu_ctx_switch,@function\n"
    "emu_ctx_switch:\n"
    "    pushq %rbp\n    pushq %rbx\n    pushq %r12\n    pushq %r13\n    pushq %r14\n    pushq %r15\n"
    "    movq %rsp, (%rdi)\n"
    "    movq %rsi, %rsp\n"
    "    popq %r15\n    popq %r14\n    popq %r13\n    popq %r12\n    popq %rbx\n    popq %rbp\n"
    "    ret\n"
    ".size emu_ctx_switch, .-emu_ctx_switch\n");
#else
#include <ucontext.h>
#endif

/* AddressSanitizer must be told when the stack changes (the coroutines'
 * stacks are its "fibers"), or it takes one stack's frames for another's */
#if defined(__SANITIZE_ADDRESS__)
#define EMU_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EMU_ASAN 1
#endif
#endif
#ifdef EMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
static const void *sched_bottom;
static size_t sched_size;
#endif

enum State { RUNNABLE, AT_BARRIER, AT_WARP, AT_WARPGROUP, AT_MBARRIER, AT_NAMED_BARRIER, DONE };

/* a copy of cp_size bytes into shared address dst: bytes [skip, src_size) from src[0 ..], the rest zeros
 * (cp.async: skip 0; a chunk of a bulk tensor copy, tma: written by the async proxy) */
struct Copy { uint32_t dst; const unsigned char *src; int cp_size, src_size; int tid; int skip = 0; bool tma = false; };
static std::vector<int> chunk_pending;      /* per 16-byte chunk of shared memory: cp.async or bulk tensor copies
                                               into it issued and not yet landed (the deferred schedule) */
static std::vector<int> chunk_wg_reads;     /* per 16-byte chunk: wgmma.mma_async in flight that read it */
static std::vector<int> chunk_bulk_reads;   /* per 16-byte chunk: bulk reductions that read it, their group
                                               not yet completed by the issuing thread's wait_group */
/* a bulk tensor reduction, done at its issue: the chunks it read, held until its group is waited for */
struct BulkOp { std::vector<uint32_t> chunks; };
static std::vector<int> chunk_writer;       /* per 16-byte chunk of shared memory: the thread + 1 whose
                                               generic write is not yet fenced, MB_LANDED, or 0 */
enum { MB_LANDED = -1 };                    /* chunk_writer: written by a copy that an mbarrier phase landed */
typedef std::pair<uint32_t, int> ChunkBy;   /* a 16-byte chunk and its chunk_writer when written */

struct Thread {
    EmuCoords coords;
    int tid, warp, lane;
    State state;
    unsigned char *stack;
#if defined(__x86_64__)
    void *sp;
#else
    ucontext_t ctx;
#endif
    std::vector<Copy> open;                   /* issued, not yet committed */
    std::vector<std::vector<Copy>> groups;    /* committed, oldest first, not yet done */
    std::vector<uint32_t> unfenced;           /* 16-byte chunks of shared memory this thread wrote
                                                 (generic proxy) since its last fence.proxy.async */
    uint32_t mbar_addr;                       /* AT_MBARRIER: the mbarrier and the parity it waits for */
    int mbar_parity;
    int named_bar;                            /* AT_NAMED_BARRIER: the barrier's id */
    std::vector<ChunkBy> eager_landed;        /* eager schedule: chunks its copies wrote since its last
                                                 cp.async.mbarrier.arrive or wait_group */
    std::vector<ChunkBy> observed;            /* chunks written by copies of mbarrier phases this thread
                                                 has seen complete (try_wait), until its fence.proxy.async */
    std::vector<BulkOp> bulk_open;            /* bulk reductions issued, not yet committed */
    std::vector<std::vector<BulkOp>> bulk_groups;   /* committed bulk groups, oldest first, not yet waited for */
};

/* what the lanes of a warp bring to a collective operation, and get back */
enum Op { OP_NONE, OP_SHFL, OP_LDMATRIX, OP_STMATRIX, OP_MMA, OP_SYNCWARP };
static const char *op_name[] = {"none", "a shuffle", "ldmatrix", "stmatrix", "mma", "__syncwarp"};
struct Lane {
    uint32_t u[8];       /* shuffle: value, kind, arg, width, mask; ldmatrix/stmatrix: addr, regs; mma: a, b */
    float f[4];          /* mma: c */
    uint32_t out[4];     /* ldmatrix: the registers; shuffle: the value */
    float fout[4];       /* mma: d */
};
struct Warp {
    int size, live, arrived;
    Op op;
    int num, trans, ab;  /* the operation's modifiers, which every lane must agree on */
    Lane lane[32];
};

/* FLASHEMU_CP_ASYNC=eager: a cp.async lands at once, as it is issued (the
 * other extreme from landing at the wait: an overwrite of a tile that other
 * warps still read then shows); FLASHEMU_ORDER=reverse: the threads of a
 * block run last to first (another interleaving between barriers);
 * FLASHEMU_ORDER=first (reverse_order 2): the lowest-numbered thread that
 * can go on always goes on, so the first warps, and the first warpgroup,
 * run as far ahead of the others as the kernel's barriers let them (a
 * missing barrier between warpgroups then shows: one reads what the other
 * has not yet copied, or overwrites what it still reads). */
static int eager = -1, reverse_order;

extern "C" void flashemu_mode(int eager_copies, int reverse) { eager = eager_copies, reverse_order = reverse; }

static const size_t STACK = 256 * 1024;
static std::vector<Thread> threads;
static std::vector<Warp> warps;
static Thread *cur;
static int live_threads, at_barrier;
static unsigned char *smem;
static size_t smem_size;
static const char *kernel_name;
static const std::function<void()> *kernel_body;
#if defined(__x86_64__)
static void *sched_sp;
#else
static ucontext_t sched_ctx;
#endif
EmuCoords *emu_coords;

[[noreturn]] __attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    die("flashemu: kernel %s, block (%u, %u, %u), thread %d: %s", kernel_name ? kernel_name : "?",
        cur ? cur->coords.block.x : 0, cur ? cur->coords.block.y : 0, cur ? cur->coords.block.z : 0,
        cur ? cur->tid : -1, msg);
}

static void named_bars_check(void);
static void bulk_check(void);

static void yield_to_scheduler(void) {
#ifdef EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(cur->state == DONE ? nullptr : &fake, sched_bottom, sched_size);
#endif
#if defined(__x86_64__)
    emu_ctx_switch(&cur->sp, sched_sp);
#else
    swapcontext(&cur->ctx, &sched_ctx);
#endif
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

static void complete_groups(Thread *t, size_t keep);
static void wg_reset(size_t nthreads, size_t smem_bytes);
static void wg_exit_check(void);
static const char *wg_waiting_at(void);
static void mark_written(Thread *t, uint32_t addr, size_t bytes);
static void mbar_reset(void);
static const char *mbar_waiting_at(const Thread &t);

static void thread_main(void) {
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(nullptr, &sched_bottom, &sched_size);
#endif
    (*kernel_body)();
    complete_groups(cur, 0);            /* the hardware finishes what was issued */
    wg_exit_check();
    cur->state = DONE;
    live_threads--;
    Warp &w = warps[cur->warp];
    w.live--;
    if (w.arrived > 0) fail("exited while lanes of its warp wait at %s", op_name[w.op]);
    if (live_threads > 0 && at_barrier == live_threads) {   /* the others wait at a barrier: let them go */
        for (Thread &t : threads)
            if (t.state == AT_BARRIER) t.state = RUNNABLE;
        at_barrier = 0;
    }
    yield_to_scheduler();
    abort();                            /* never resumed */
}

#if defined(__x86_64__)
extern "C" void emu_thread_entry(void);
extern "C" void emu_thread_entry(void) { thread_main(); }
#else
static void thread_entry_uc(void) { thread_main(); }
#endif

static void start(Thread &t) {
#ifdef EMU_ASAN
    __asan_unpoison_memory_region(t.stack, STACK);   /* the frames of its last run never returned */
#endif
#if defined(__x86_64__)
    uintptr_t top = ((uintptr_t)(t.stack + STACK)) & ~(uintptr_t)15;
    void **sp = (void **)top;
    *--sp = nullptr;                          /* the entry's return address: it never returns */
    *--sp = (void *)emu_thread_entry;         /* where ret goes; 16-aligned slot */
    for (int i = 0; i < 6; i++) *--sp = nullptr;   /* rbp rbx r12 r13 r14 r15 */
    t.sp = sp;
#else
    getcontext(&t.ctx);
    t.ctx.uc_stack.ss_sp = t.stack;
    t.ctx.uc_stack.ss_size = STACK;
    t.ctx.uc_link = nullptr;
    makecontext(&t.ctx, thread_entry_uc, 0);
#endif
}

static void resume(Thread &t) {
    cur = &t;
    emu_coords = &t.coords;
#ifdef EMU_ASAN
    void *fake = nullptr;
    __sanitizer_start_switch_fiber(&fake, t.stack, STACK);
#endif
#if defined(__x86_64__)
    emu_ctx_switch(&sched_sp, t.sp);
#else
    swapcontext(&sched_ctx, &t.ctx);
#endif
#ifdef EMU_ASAN
    __sanitizer_finish_switch_fiber(fake, nullptr, nullptr);
#endif
}

static std::vector<unsigned char *> stacks;

void emu_run_grid(dim3 grid, dim3 block, size_t smem_bytes, const std::function<void()> &body, const char *name) {
    size_t nthreads = (size_t)block.x * block.y * block.z;
    kernel_name = name;
    if (eager < 0) {
        const char *e = getenv("FLASHEMU_CP_ASYNC"), *o = getenv("FLASHEMU_ORDER");
        eager = e && strcmp(e, "eager") == 0;
        reverse_order = o && strcmp(o, "reverse") == 0 ? 1 : o && strcmp(o, "first") == 0 ? 2 : 0;
    }
    if (nthreads == 0 || nthreads > 1024) fail("a block of %zu threads (1 to 1024)", nthreads);
    if (grid.x == 0 || grid.y == 0 || grid.z == 0) fail("an empty grid");
    if (grid.y > 65535 || grid.z > 65535) fail("grid.y or grid.z over 65535");
    if (smem_bytes > EMU_MAX_DYNAMIC_SMEM) fail("%zu bytes of dynamic shared memory: more than an H200 has", smem_bytes);
    while (stacks.size() < nthreads) {        /* mapped, with a guard page below: an overflow stops the program */
        void *p = mmap(nullptr, STACK + 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED || mprotect(p, 4096, PROT_NONE) != 0) die("flashemu: cannot map a thread's stack");
        stacks.push_back((unsigned char *)p + 4096);
    }
    std::vector<unsigned char> shared(smem_bytes + 16);
    smem = (unsigned char *)(((uintptr_t)shared.data() + 15) & ~(uintptr_t)15);
    smem_size = smem_bytes;
    kernel_body = &body;
    threads.assign(nthreads, Thread());
    warps.assign((nthreads + 31) / 32, Warp());
    for (unsigned bz = 0; bz < grid.z; bz++)
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                memset(smem, 0xff, smem_bytes);
                for (size_t i = 0; i < warps.size(); i++) {
                    Warp &w = warps[i];
                    w.size = w.live = (int)(nthreads - i * 32 < 32 ? nthreads - i * 32 : 32);
                    w.arrived = 0, w.op = OP_NONE;
                }
                for (size_t i = 0; i < nthreads; i++) {
                    Thread &t = threads[i];
                    unsigned tx = (unsigned)(i % block.x), ty = (unsigned)(i / block.x % block.y),
                             tz = (unsigned)(i / block.x / block.y);
                    t.coords = EmuCoords{uint3{tx, ty, tz}, uint3{bx, by, bz}, block, grid};
                    t.tid = (int)i, t.warp = (int)(i / 32), t.lane = (int)(i % 32);
                    t.state = RUNNABLE;
                    t.stack = stacks[i];
                    t.open.clear(), t.groups.clear(), t.unfenced.clear(), t.eager_landed.clear(), t.observed.clear();
                    t.bulk_open.clear(), t.bulk_groups.clear();
                    start(t);
                }
                wg_reset(nthreads, smem_bytes);
                mbar_reset();                /* the last block's mbarriers and named barriers are forgotten */
                live_threads = (int)nthreads, at_barrier = 0;
                for (;;) {                   /* round robin until every thread is done */
                    bool ran = false;
                    for (size_t i = 0; i < nthreads; i++) {
                        Thread &t = threads[reverse_order == 1 ? nthreads - 1 - i : i];
                        if (t.state == RUNNABLE) {
                            resume(t), ran = true;
                            if (reverse_order == 2) break;   /* then from the first thread again */
                        }
                    }
                    if (live_threads == 0) break;
                    if (!ran) {
                        cur = nullptr;
                        for (Thread &t : threads)
                            if (t.state != DONE) { cur = &t; break; }
                        fail("deadlock: no thread can go on (this one waits at %s)",
                             cur->state == AT_BARRIER     ? "__syncthreads"
                             : cur->state == AT_WARPGROUP ? wg_waiting_at()
                             : cur->state == AT_MBARRIER || cur->state == AT_NAMED_BARRIER ? mbar_waiting_at(*cur)
                                                          : op_name[warps[cur->warp].op]);
                    }
                }
                cur = &threads[0];
                named_bars_check();
                bulk_check();
            }
    cur = nullptr;
    emu_coords = nullptr;
    kernel_name = nullptr;
}

/* ---- Barriers -------------------------------------------------------------------- */

void __syncthreads(void) {
    cur->state = AT_BARRIER;
    if (++at_barrier == live_threads) {
        for (Thread &t : threads)
            if (t.state == AT_BARRIER) t.state = RUNNABLE;
        at_barrier = 0;
    }
    yield_to_scheduler();
}

/* ---- Warp-collective operations ----------------------------------------------------- */

static void compute(Warp &w);

/* this lane has put its operands in w.lane[lane]: wait for the rest of the
 * warp; the last to arrive computes the operation for all */
static Lane &arrive(Op op, int num = 0, int trans = 0, int ab = 0) {
    Warp &w = warps[cur->warp];
    if (w.live < 32) fail("%s with lanes of the warp exited or missing (the mask needs all 32)", op_name[op]);
    if (w.arrived == 0) w.op = op, w.num = num, w.trans = trans, w.ab = ab;
    else if (w.op != op || w.num != num || w.trans != trans || w.ab != ab)
        fail("lanes of one warp at different collective operations (%s and another)", op_name[op]);
    cur->state = AT_WARP;
    if (++w.arrived == w.size) {
        compute(w);
        w.arrived = 0;
        for (int l = 0; l < w.size; l++) threads[cur->warp * 32 + l].state = RUNNABLE;
    }
    yield_to_scheduler();
    return w.lane[cur->lane];
}

void __syncwarp(unsigned mask) {
    if (mask != 0xffffffffu) fail("__syncwarp with a partial mask is not emulated");
    arrive(OP_SYNCWARP);
}

uint32_t emu_shfl(EmuShfl kind, unsigned mask, uint32_t v, int arg, int width) {
    if (mask != 0xffffffffu) fail("a shuffle with a partial mask is not emulated");
    if (width < 1 || width > 32 || (width & (width - 1))) fail("a shuffle of width %d", width);
    Lane &l = warps[cur->warp].lane[cur->lane];
    l.u[0] = v, l.u[1] = (uint32_t)kind, l.u[2] = (uint32_t)arg, l.u[3] = (uint32_t)width;
    return arrive(OP_SHFL).out[0];
}

static unsigned char *shared_at(uint32_t addr, size_t bytes, size_t align, const char *what) {
    if ((size_t)addr + bytes > smem_size)
        fail("%s at shared address %d, past the end of dynamic shared memory (%d bytes)", what, (int)addr, (int)smem_size);
    if (addr % align) fail("%s at shared address %d: not %d-byte aligned", what, (int)addr, (int)align);
    return smem + addr;
}

unsigned char *emu_dynamic_smem(void) { return smem; }

size_t __cvta_generic_to_shared(const void *p) {
    const unsigned char *c = (const unsigned char *)p;
    if (c < smem || c > smem + smem_size) fail("cvta to shared of an address outside the dynamic shared memory");
    return (size_t)(c - smem);
}

/* PTX ISA, 9.7.14.5.15 (ldmatrix): in an .x4, lanes 8i..8i+7 give the
 * addresses of rows 0..7 of matrix i (.x1: lanes 0-7, .x2: 0-15), each row 8
 * 16-bit elements (16 bytes).  Register i of lane l receives two elements of
 * matrix i: row l/4, columns 2(l%4) and 2(l%4)+1 (the lower in the low half);
 * with .trans, the matrix is transposed on the way: row 2(l%4) and 2(l%4)+1,
 * column l/4. */
void emu_ldmatrix(int num, bool trans, uint32_t addr, uint32_t *r0, uint32_t *r1, uint32_t *r2, uint32_t *r3) {
    if (num != 1 && num != 2 && num != 4) fail("ldmatrix .x%d", num);
    warps[cur->warp].lane[cur->lane].u[0] = addr;
    Lane &l = arrive(OP_LDMATRIX, num, trans);
    uint32_t *r[4] = {r0, r1, r2, r3};
    for (int i = 0; i < num; i++) *r[i] = l.out[i];
}

static uint16_t half_at(const Warp &w, int m, int row, int col, const char *what) {
    uint32_t a = w.lane[m * 8 + row].u[0];
    uint16_t v;
    memcpy(&v, shared_at(a, 16, 16, what) + 2 * col, 2);
    return v;
}

static void compute_ldmatrix(Warp &w) {
    for (int l = 0; l < 32; l++)
        for (int m = 0; m < w.num; m++) {
            int r = l / 4, c = 2 * (l % 4);
            uint16_t lo = w.trans ? half_at(w, m, c, r, "ldmatrix") : half_at(w, m, r, c, "ldmatrix");
            uint16_t hi = w.trans ? half_at(w, m, c + 1, r, "ldmatrix") : half_at(w, m, r, c + 1, "ldmatrix");
            w.lane[l].out[m] = (uint32_t)lo | (uint32_t)hi << 16;
        }
}

/* PTX ISA, 9.7.14.5.16 (stmatrix): the inverse of ldmatrix, the same layouts. */
void emu_stmatrix(int num, bool trans, uint32_t addr, uint32_t r0, uint32_t r1, uint32_t r2, uint32_t r3) {
    if (num != 1 && num != 2 && num != 4) fail("stmatrix .x%d", num);
    Lane &l = warps[cur->warp].lane[cur->lane];
    l.u[0] = addr, l.u[1] = r0, l.u[2] = r1, l.u[3] = r2, l.u[4] = r3;
    arrive(OP_STMATRIX, num, trans);
}

static void compute_stmatrix(Warp &w) {
    for (int l = 0; l < 32; l++)
        for (int m = 0; m < w.num; m++) {
            int r = l / 4, c = 2 * (l % 4);
            uint32_t v = w.lane[l].u[1 + m];
            uint16_t lo = (uint16_t)v, hi = (uint16_t)(v >> 16);
            for (int e = 0; e < 2; e++) {
                int row = w.trans ? c + e : r, col = w.trans ? r : c + e;
                unsigned char *p = shared_at(w.lane[m * 8 + row].u[0], 16, 16, "stmatrix") + 2 * col;
                memcpy(p, e ? &hi : &lo, 2);
                mark_written(&threads[(size_t)(&w - warps.data()) * 32 + l], (uint32_t)(p - smem), 2);
            }
        }
}

/* PTX ISA, 9.7.14.5.8 (matrix fragments for mma.m16n8k16, 16-bit A and B,
 * f32 C and D), with g = lane/4 (groupID) and t = lane%4 (threadID_in_group):
 *   A (16x16, row): a0 = (g, 2t..2t+1), a1 = (g+8, 2t..2t+1), a2 = (g, 2t+8..2t+9),
 *                   a3 = (g+8, 2t+8..2t+9), each register two elements, the lower
 *                   column in the low half;
 *   B (16x8, col):  b0 = (rows 2t..2t+1, column g), b1 = (rows 2t+8..2t+9, column g);
 *   C, D (16x8):    c0, c1 = (g, 2t), (g, 2t+1); c2, c3 = (g+8, 2t), (g+8, 2t+1).
 * The products of two bf16 or two f16 values are exact in f32; the sums are
 * taken in f32 in k order here (the hardware's order and rounding inside one
 * mma are its own, within f32's precision). */
void emu_mma_m16n8k16(EmuAB ab, float *d0, float *d1, float *d2, float *d3, uint32_t a0, uint32_t a1, uint32_t a2,
                      uint32_t a3, uint32_t b0, uint32_t b1, float c0, float c1, float c2, float c3) {
    Lane &l = warps[cur->warp].lane[cur->lane];
    l.u[0] = a0, l.u[1] = a1, l.u[2] = a2, l.u[3] = a3, l.u[4] = b0, l.u[5] = b1;
    l.f[0] = c0, l.f[1] = c1, l.f[2] = c2, l.f[3] = c3;
    Lane &r = arrive(OP_MMA, 0, 0, ab);
    *d0 = r.fout[0], *d1 = r.fout[1], *d2 = r.fout[2], *d3 = r.fout[3];
}

static float elem(int ab, uint32_t reg, int hi) {
    uint16_t h = (uint16_t)(hi ? reg >> 16 : reg);
    return ab == EMU_BF16 ? bf16_to_f32(h) : f16_to_f32(h);
}

static void compute_mma(Warp &w) {
    float A[16][16], B[16][8], C[16][8];
    for (int l = 0; l < 32; l++) {
        int g = l / 4, t = l % 4;
        const Lane &x = w.lane[l];
        for (int e = 0; e < 2; e++) {
            A[g][2 * t + e] = elem(w.ab, x.u[0], e);
            A[g + 8][2 * t + e] = elem(w.ab, x.u[1], e);
            A[g][2 * t + 8 + e] = elem(w.ab, x.u[2], e);
            A[g + 8][2 * t + 8 + e] = elem(w.ab, x.u[3], e);
            B[2 * t + e][g] = elem(w.ab, x.u[4], e);
            B[2 * t + 8 + e][g] = elem(w.ab, x.u[5], e);
            C[g][2 * t + e] = x.f[e];
            C[g + 8][2 * t + e] = x.f[2 + e];
        }
    }
    for (int l = 0; l < 32; l++) {
        int g = l / 4, t = l % 4;
        for (int i = 0; i < 4; i++) {
            int row = g + i / 2 * 8, col = 2 * t + i % 2;
            float s = C[row][col];
            for (int k = 0; k < 16; k++) s += A[row][k] * B[k][col];
            w.lane[l].fout[i] = s;
        }
    }
}

static void compute_shfl(Warp &w) {
    for (int l = 0; l < 32; l++) {
        const Lane &x = w.lane[l];
        int kind = (int)x.u[1], arg = (int)x.u[2], width = (int)x.u[3], base = l / width * width, src = l;
        switch (kind) {
        case EMU_SHFL_IDX: src = base + ((arg % width) + width) % width; break;
        case EMU_SHFL_UP: src = l - arg >= base ? l - arg : l; break;
        case EMU_SHFL_DOWN: src = l + arg < base + width ? l + arg : l; break;
        case EMU_SHFL_XOR: src = l ^ arg; if (src >= base + width || src < base) src = l; break;
        }
        w.lane[l].out[0] = w.lane[src].u[0];
    }
}

static void compute(Warp &w) {
    switch (w.op) {
    case OP_LDMATRIX: compute_ldmatrix(w); break;
    case OP_STMATRIX: compute_stmatrix(w); break;
    case OP_MMA: compute_mma(w); break;
    case OP_SHFL: compute_shfl(w); break;
    default: break;
    }
}

/* ---- cp.async (PTX ISA 9.7.9.25.3): issued, committed into groups, done at a wait ---- */

static void copy_bytes(const Copy &c) {
    unsigned char *d = smem + c.dst;
    memset(d, 0, (size_t)c.cp_size);
    if (c.src_size > c.skip) memcpy(d + c.skip, c.src, (size_t)(c.src_size - c.skip));
}

void emu_cp_async(uint32_t dst, const void *src, int cp_size, int src_size) {
    if (cp_size != 4 && cp_size != 8 && cp_size != 16) fail("cp.async of %d bytes", cp_size);
    if (src_size < 0 || src_size > cp_size) fail("cp.async with src-size %d", src_size);
    shared_at(dst, (size_t)cp_size, (size_t)cp_size, "cp.async");
    if ((uintptr_t)src % (uintptr_t)cp_size) fail("cp.async from a global address not %d-byte aligned", cp_size);
    if (chunk_wg_reads[dst / 16])
        fail("cp.async into shared address %u, which a wgmma.mma_async in flight (not yet waited for) reads", dst);
    Copy c{dst, (const unsigned char *)src, cp_size, src_size, cur->tid};
    if (eager) {
        copy_bytes(c);
        mark_written(cur, c.dst, (size_t)c.cp_size);
        cur->eager_landed.push_back(ChunkBy(c.dst / 16, cur->tid + 1));
    } else {
        cur->open.push_back(c);
        chunk_pending[c.dst / 16]++;
    }
}

void emu_cp_async_commit(void) {
    cur->groups.push_back(cur->open);      /* an empty group is a group too */
    cur->open.clear();
}

static void land(const Copy &c) {
    copy_bytes(c);
    mark_written(&threads[(size_t)c.tid], c.dst, (size_t)c.cp_size);
    chunk_pending[c.dst / 16]--;
}

static void complete_groups(Thread *t, size_t keep) {
    while (t->groups.size() > keep) {
        for (const Copy &c : t->groups.front()) land(c);
        t->groups.erase(t->groups.begin());
    }
}

void emu_cp_async_wait(int n) {
    if (n < 0) fail("cp.async.wait_group %d", n);
    cur->eager_landed.clear();
    complete_groups(cur, (size_t)n);
}

/* ---- mbarrier (PTX ISA, "Parallel Synchronization and Communication Instructions: mbarrier") ----
 *
 * An mbarrier is an 8-byte object in shared memory (8-byte aligned) with a
 * phase (its parity starts 0), an expected arrival count set by
 * mbarrier.init (1 to 2^20 - 1) and a pending count.  An arrive counts one
 * arrival down; the arrival that brings it to 0 completes the current
 * phase: the phase bit flips and the pending count is reset to the
 * expected one.  try_wait.parity P is true iff the phase of parity P has
 * completed, i.e. the current phase bit differs from P.  The emulator keeps
 * each barrier's state in a map from its shared address, made by
 * mbarrier.init (shared memory starts as 0xff bytes, so an arrive on, or a
 * wait for, an address that no init made a barrier stops it), forgotten
 * when the block ends.  What it stops: a misaligned or out-of-range
 * address, an arrive or wait on an uninitialized barrier, an init of a
 * barrier whose phase has arrivals in (a re-init while in use), a count out
 * of range.
 *
 * cp.async.mbarrier.arrive.noinc: an arrival that happens when every
 * cp.async the thread issued before it has completed (.noinc: the init's
 * count includes it).  Since a cp.async lands lazily here, the thread's
 * copies not yet landed (committed or not) are taken out of its groups and
 * attached to the barrier's current phase; the arrival counts at once, and
 * the attached copies land when the phase completes, before any thread can
 * see it complete.  A later cp.async.wait_group does not land them (their
 * groups stay, empty, so the group counts are unchanged); until they land
 * they count as in flight for wgmma's check of its operands.  For the
 * async proxy, the chunks a phase's copies wrote (landed at its completion,
 * or eagerly before the arrive) are made visible to wgmma by a
 * fence.proxy.async of a thread that has seen the phase complete (a
 * try_wait that returned true), after it: the consumer's wait-then-fence.
 *
 * A try_wait that finds the phase not complete blocks the thread (it
 * yields, as at a barrier) until the barrier's phase changes, then answers
 * again: the time limit of try_wait is the implementation's, unbounded
 * here, so a loop `while (!try_wait) {}` waits as on hardware; a thread that
 * would poll and do other work in between is not modelled (it waits at the
 * first poll).  Every live thread blocked (at a barrier, a collective, or
 * on an mbarrier phase that no runnable thread can complete) is the
 * scheduler's deadlock. */

struct MBar {
    uint32_t expected, pending;
    int phase;
    long long tx;                 /* the current phase's tx-count: expected bytes less the bytes of its copies */
    std::vector<Copy> attached;   /* cp.async copies whose arrival is in this phase, and the chunks of bulk tensor
                                     copies whose bytes it counts, landed when it completes */
    std::vector<ChunkBy> chunks;  /* what this phase's copies wrote (landed at the completion, or eagerly) */
    std::vector<ChunkBy> landed[2];   /* ... of the last completed phase of each parity */
};
static std::unordered_map<uint32_t, MBar> mbars;

/* named barriers (bar.sync / bar.arrive with an id): threads in, threads expected */
struct NamedBar { int arrived, count; };
static NamedBar named_bars[16];

/* at a block's end: every arrival at a named barrier waited for, none left half met */
static void named_bars_check(void) {
    for (int id = 1; id < 16; id++)
        if (named_bars[id].arrived)
            fail("the block ended with %d of %d threads in at named barrier %d (an arrival no thread waited for)",
                 named_bars[id].arrived, named_bars[id].count, id);
}

static void mbar_reset(void) {
    mbars.clear();
    for (NamedBar &b : named_bars) b.arrived = 0, b.count = 0;
}

static MBar &mbar_at(uint32_t addr, const char *what) {
    shared_at(addr, 8, 8, what);
    auto it = mbars.find(addr);
    if (it == mbars.end())
        fail("%s on shared address %u, where no mbarrier.init made an mbarrier (uninitialized)", what, addr);
    return it->second;
}

/* the phase completes when its pending arrivals and its tx-count are both 0 */
static void mbar_complete_if_done(MBar &b, uint32_t addr) {
    if (b.pending > 0 || b.tx != 0) return;
    for (const Copy &c : b.attached) {          /* before anyone can see the phase complete */
        copy_bytes(c);
        chunk_pending[c.dst / 16]--;
        if (c.tma) {                           /* written by the async proxy: no fence needed for wgmma */
            chunk_writer[c.dst / 16] = 0;
            continue;
        }
        chunk_writer[c.dst / 16] = MB_LANDED;  /* for the async proxy: fenced by a thread that waited */
        b.chunks.push_back(ChunkBy(c.dst / 16, MB_LANDED));
    }
    b.attached.clear();
    b.landed[b.phase] = std::move(b.chunks);
    b.chunks.clear();
    b.phase ^= 1;
    b.pending = b.expected;
    for (Thread &t : threads)
        if (t.state == AT_MBARRIER && t.mbar_addr == addr) t.state = RUNNABLE;
}

static void mbar_arrive_on(MBar &b, uint32_t addr, const char *what) {
    if (b.pending == 0)           /* all arrivals in, the phase waits for its tx-count to reach 0 */
        fail("%s on the mbarrier at shared address %u: more arrivals than its phase expects (%u of %u in, "
             "tx-count %lld)", what, addr, b.expected, b.expected, b.tx);
    b.pending--;
    mbar_complete_if_done(b, addr);
}

/* the tx-count's range, -(2^20 - 1) to 2^20 - 1 (PTX ISA, "mbarrier", its tx-count; as the brief for this
 * code states it, the ISA's sentence not re-read here) */
static void mbar_add_tx(MBar &b, uint32_t addr, long long bytes, const char *what) {
    b.tx += bytes;
    if (b.tx > (1 << 20) - 1 || b.tx < -((1 << 20) - 1))
        fail("%s: the tx-count of the mbarrier at shared address %u is %lld, outside -(2^20 - 1) to 2^20 - 1", what,
             addr, b.tx);
}

void emu_mbar_init(uint32_t addr, int count) {
    shared_at(addr, 8, 8, "mbarrier.init");
    if (count < 1 || count > (1 << 20) - 1) fail("mbarrier.init with count %d (1 to 2^20 - 1)", count);
    auto it = mbars.find(addr);
    if (it != mbars.end() && (it->second.pending != it->second.expected || !it->second.attached.empty() || it->second.tx != 0))
        fail("mbarrier.init of the mbarrier at shared address %u while it is in use (%u of %u arrivals of its phase in, "
             "tx-count %lld)", addr, it->second.expected - it->second.pending, it->second.expected, it->second.tx);
    MBar &b = mbars[addr];
    b.expected = b.pending = (uint32_t)count;
    b.phase = 0, b.tx = 0;
    b.attached.clear(), b.chunks.clear(), b.landed[0].clear(), b.landed[1].clear();
}

void emu_mbar_arrive(uint32_t addr) {
    MBar &b = mbar_at(addr, "mbarrier.arrive");
    mbar_arrive_on(b, addr, "mbarrier.arrive");
}

void emu_cp_async_mbar_arrive(uint32_t addr) {
    MBar &b = mbar_at(addr, "cp.async.mbarrier.arrive.noinc");
    for (std::vector<Copy> &g : cur->groups) {
        b.attached.insert(b.attached.end(), g.begin(), g.end());
        g.clear();
    }
    b.attached.insert(b.attached.end(), cur->open.begin(), cur->open.end());
    cur->open.clear();
    b.chunks.insert(b.chunks.end(), cur->eager_landed.begin(), cur->eager_landed.end());   /* landed already */
    cur->eager_landed.clear();
    mbar_arrive_on(b, addr, "cp.async.mbarrier.arrive.noinc");
}

bool emu_mbar_try_wait(uint32_t addr, int parity) {
    parity &= 1;                                  /* the phase's parity: the operand's low bit */
    if (mbar_at(addr, "mbarrier.try_wait.parity").phase == parity) {
        cur->state = AT_MBARRIER;
        cur->mbar_addr = addr, cur->mbar_parity = parity;
        yield_to_scheduler();                     /* until the barrier's phase changes */
    }
    MBar &b = mbar_at(addr, "mbarrier.try_wait.parity");
    if (b.phase == parity) return false;
    cur->observed.insert(cur->observed.end(), b.landed[parity].begin(), b.landed[parity].end());
    return true;
}

/* ---- The tx-count and the bulk tensor copy (TMA) -----------------------------------------
 *
 * PTX ISA, "mbarrier" (its "tx-count" and "Phase Completion"): a phase
 * completes when its pending arrivals and its tx-count are both 0;
 * mbarrier.expect_tx adds bytes to the current phase's tx-count,
 * mbarrier.arrive.expect_tx adds them and then arrives; the completion of a
 * cp.async.bulk.tensor with .mbarrier::complete_tx::bytes takes the bytes it
 * wrote (the whole box, out-of-bounds elements included, which are zeros)
 * off.  Here the copy's bytes are taken off at its issue, and its 16-byte
 * chunks are attached to the barrier's current phase, landing when the
 * phase completes (before anyone can see it complete), like the copies of
 * cp.async.mbarrier.arrive.noinc; a copy issued before its expect_tx makes
 * the count negative for a while, which is allowed.  Until they land, the
 * chunks count as in flight for wgmma's operand check.  The copy is the
 * async proxy's: its chunks need no fence.proxy.async before a wgmma reads
 * them.  In the eager schedule a copy lands at its issue. */

void emu_mbar_expect_tx(uint32_t addr, int bytes) {
    MBar &b = mbar_at(addr, "mbarrier.expect_tx");
    mbar_add_tx(b, addr, bytes, "mbarrier.expect_tx");
    mbar_complete_if_done(b, addr);
}

void emu_mbar_arrive_expect_tx(uint32_t addr, int bytes) {
    MBar &b = mbar_at(addr, "mbarrier.arrive.expect_tx");
    mbar_add_tx(b, addr, bytes, "mbarrier.arrive.expect_tx");
    mbar_arrive_on(b, addr, "mbarrier.arrive.expect_tx");
}

/* what the emulator's cuTensorMapEncodeTiled keeps in the 128 bytes of a CUtensorMap */
struct TmapImpl {
    uint32_t magic;
    uint8_t rank, esize, swizzle, dtype;
    const unsigned char *base;
    uint64_t dim[5];
    uint64_t stride[4];           /* bytes, of dimensions 1 to rank - 1 */
    uint16_t box[5];
};
static_assert(sizeof(TmapImpl) <= sizeof(CUtensorMap), "the tensor map's contents fit its 128 bytes");
enum { TMAP_MAGIC = 0x7e45a9d1 };

/* the swizzle modes' span in bytes (CU_TENSOR_MAP_SWIZZLE_32B, 64B, 128B: 1, 2, 3) */
static int swizzle_span(int mode) { return mode == 0 ? 16 : 16 << mode; }

/* 16-byte chunk at shared address a under a swizzle mode: bits [4, 4 + mode) XOR bits [7, 7 + mode)
 * (CUTLASS Swizzle<mode, 4, 3>) */
static uint32_t swizzle_addr(uint32_t a, int mode) {
    return mode == 0 ? a : a ^ ((a >> 7) & ((1u << mode) - 1)) << 4;
}

/* The emulator's tensor map at tmap, checked for an instruction `what` of the given rank */
static TmapImpl tmap_of(const void *tmap, int rank, const char *what) {
    if (!tmap || (uintptr_t)tmap % 64) fail("%s with a tensor map at %p: not 64-byte aligned", what, tmap);
    TmapImpl m;
    memcpy(&m, tmap, sizeof m);
    if (m.magic != TMAP_MAGIC)
        fail("%s with a tensor map at %p that cuTensorMapEncodeTiled (the emulator's) did not make", what, tmap);
    if (m.rank != rank) fail("%s.%dd with a tensor map of rank %d", what, rank, (int)m.rank);
    return m;
}

/* Row r of the box at coordinates c (dimensions 1 to rank - 1, the first fastest): its address in the tensor, and
 * whether it lies inside the tensor (outside, the address is not to be used) */
static unsigned char *box_row(const TmapImpl &m, const int32_t *c, int rank, size_t r, bool *inside) {
    unsigned char *row = (unsigned char *)m.base;
    *inside = true;
    for (int k = 1; k < rank; k++) {
        long long g = (long long)c[k] + (long long)(r % m.box[k]);
        r /= m.box[k];
        if (g < 0 || g >= (long long)m.dim[k]) *inside = false;
        else row += (size_t)g * m.stride[k - 1];
    }
    return row;
}

void emu_tma_load(int rank, uint32_t dst, const void *tmap, const int32_t *c, uint32_t bar) {
    const char *what = "cp.async.bulk.tensor";
    TmapImpl m = tmap_of(tmap, rank, what);
    MBar &b = mbar_at(bar, what);
    int rowbytes = m.box[0] * m.esize, span = swizzle_span(m.swizzle);
    size_t rows = 1;
    for (int k = 1; k < rank; k++) rows *= m.box[k];
    size_t bytes = rows * (size_t)rowbytes;
    shared_at(dst, bytes, m.swizzle ? (size_t)span * 8 : 128, what);
    if (m.swizzle && rowbytes != span)
        fail("%s with the %d-byte swizzle and a box's inner dimension of %d bytes: only a box row of exactly the "
             "swizzle's span is emulated", what, span, rowbytes);
    /* an H100 stops a box whose first element of the inner dimension is not on a 16-byte boundary of its row
     * ("an illegal instruction", found with a map of lse at coordinate 77 of a row of floats) */
    if ((long long)c[0] * m.esize % 16)
        fail("%s at inner coordinate %d (%d-byte elements): the box's start is not on a 16-byte boundary", what, c[0],
             m.esize);
    std::vector<Copy> chunks;
    for (size_t r = 0; r < rows; r++) {
        bool inside;
        const unsigned char *row = box_row(m, c, rank, r, &inside);
        for (int q = 0; q < rowbytes / 16; q++) {
            int n = 16 / m.esize;                             /* elements in a chunk */
            long long g0 = (long long)c[0] + (long long)q * n;
            long long lo = g0 < 0 ? -g0 : 0, hi = (long long)m.dim[0] - g0;
            if (hi > n) hi = n;
            uint32_t a = swizzle_addr(dst + (uint32_t)(r * (size_t)rowbytes) + 16u * (uint32_t)q, m.swizzle);
            if (chunk_wg_reads[a / 16])
                fail("%s into shared address %u, which a wgmma.mma_async in flight (not yet waited for) reads", what, a);
            if (chunk_bulk_reads[a / 16])
                fail("%s into shared address %u, which a bulk reduction not yet waited for reads", what, a);
            Copy cc{a, row, 16, 0, cur->tid};
            cc.tma = true;
            if (inside && hi > lo) {
                cc.skip = (int)lo * m.esize, cc.src_size = (int)hi * m.esize;
                cc.src = row + (size_t)(g0 + lo) * m.esize;
            }
            chunks.push_back(cc);
        }
    }
    mbar_add_tx(b, bar, -(long long)bytes, what);
    for (const Copy &cc : chunks) {
        if (eager) {
            copy_bytes(cc);
            chunk_writer[cc.dst / 16] = 0;
        } else {
            b.attached.push_back(cc);
            chunk_pending[cc.dst / 16]++;
        }
    }
    mbar_complete_if_done(b, bar);
}

/* The bulk tensor reduction (emu.h): read at its issue, added at once; its chunks held against stores until
 * the issuing thread's wait_group completes its group. */
void emu_tma_reduce_add(int rank, const void *tmap, const int32_t *c, uint32_t src) {
    const char *what = "cp.reduce.async.bulk.tensor";
    TmapImpl m = tmap_of(tmap, rank, what);
    if (m.dtype != CU_TENSOR_MAP_DATA_TYPE_FLOAT32)
        fail("%s .add into a tensor of data type %d: only f32 is emulated", what, (int)m.dtype);
    int rowbytes = m.box[0] * m.esize, span = swizzle_span(m.swizzle);
    size_t rows = 1;
    for (int k = 1; k < rank; k++) rows *= m.box[k];
    shared_at(src, rows * (size_t)rowbytes, m.swizzle ? (size_t)span * 8 : 128, what);
    if (m.swizzle && rowbytes != span)
        fail("%s with the %d-byte swizzle and a box's inner dimension of %d bytes: only a box row of exactly the "
             "swizzle's span is emulated", what, span, rowbytes);
    BulkOp op;
    for (size_t r = 0; r < rows; r++) {
        bool inside;
        unsigned char *row = box_row(m, c, rank, r, &inside);
        for (int q = 0; q < rowbytes / 16; q++) {
            uint32_t a = swizzle_addr(src + (uint32_t)(r * (size_t)rowbytes) + 16u * (uint32_t)q, m.swizzle);
            if (chunk_writer[a / 16] == MB_LANDED)
                fail("%s reads shared address %u, written by a cp.async that an mbarrier phase landed, with no "
                     "fence.proxy.async after it by a thread that waited for the phase", what, a);
            if (chunk_writer[a / 16])
                fail("%s reads shared address %u, written by thread %d (generic proxy) with no fence.proxy.async after "
                     "the write", what, a, chunk_writer[a / 16] - 1);
            if (chunk_pending[a / 16])
                fail("%s reads shared address %u, which a copy in flight writes", what, a);
            op.chunks.push_back(a / 16);
            chunk_bulk_reads[a / 16]++;
            long long g0 = (long long)c[0] + (long long)q * 4;   /* four floats a chunk */
            for (int e = 0; e < 4 && inside; e++)
                if (g0 + e >= 0 && g0 + e < (long long)m.dim[0]) {
                    float x, y;
                    memcpy(&x, smem + a + 4 * e, 4);
                    memcpy(&y, row + (size_t)(g0 + e) * 4, 4);
                    y += x;
                    memcpy(row + (size_t)(g0 + e) * 4, &y, 4);
                }
        }
    }
    cur->bulk_open.push_back(std::move(op));
}

void emu_bulk_commit(void) {
    cur->bulk_groups.push_back(std::move(cur->bulk_open));   /* an empty group is a group too */
    cur->bulk_open.clear();
}

void emu_bulk_wait(int n, bool read) {
    (void)read;   /* the additions are made at the issue: .read and the full wait complete a group alike */
    if (n < 0 || n > 63) fail("cp.async.bulk.wait_group %d", n);
    while (cur->bulk_groups.size() > (size_t)n) {
        for (const BulkOp &op : cur->bulk_groups.front())
            for (uint32_t ch : op.chunks) chunk_bulk_reads[ch]--;
        cur->bulk_groups.erase(cur->bulk_groups.begin());
    }
}

/* at a block's end: every bulk reduction's group waited for by its thread */
static void bulk_check(void) {
    for (const Thread &t : threads)
        if (!t.bulk_open.empty() || !t.bulk_groups.empty())
            fail("the block ended with thread %d's bulk reductions not waited for (cp.async.bulk.wait_group): its "
                 "shared memory is given back while they may still read it", t.tid);
}

void emu_st_shared(uint32_t addr, const void *v, int bytes) {
    if (bytes != 4 && bytes != 8 && bytes != 16) fail("st.shared of %d bytes", bytes);
    unsigned char *p = shared_at(addr, (size_t)bytes, (size_t)bytes, "st.shared");
    if (chunk_wg_reads[addr / 16])
        fail("st.shared to shared address %u, which a wgmma.mma_async in flight (not yet waited for) reads", addr);
    if (chunk_pending[addr / 16]) fail("st.shared to shared address %u, which a copy in flight writes", addr);
    mark_written(cur, addr, (size_t)bytes);
    memcpy(p, v, (size_t)bytes);
}

/* cuTensorMapEncodeTiled, as the driver API's documentation states its
 * checks: a tensor map 64-byte aligned; rank 1 to 5; the global address
 * 16-byte aligned; each global dimension 1 to 2^32; the rank - 1 global
 * strides (bytes, dimensions 1 on) multiples of 16 and below 2^40; each box
 * dimension 1 to 256, the inner one a multiple of 16 bytes, and with a
 * swizzle at most its span (32, 64 or 128 bytes); element strides 1 to 8
 * (cuda.h, cuTensorMapEncodeTiled's comment).  Else CUDA_ERROR_INVALID_VALUE;
 * so also the packed 4- and 6-bit types and the Blackwell swizzle modes
 * (enum values emu.h does not name).  Valid but not emulated (the program
 * stops): element strides other than 1 (dimensions 1 on; the first is
 * ignored), interleaved layouts, the NaN out-of-bounds fill.  Not checked:
 * that the strides grow with the dimensions. */
CUresult emu_tensor_map_encode_tiled(CUtensorMap *tensorMap, CUtensorMapDataType tensorDataType,
                                     cuuint32_t tensorRank, void *globalAddress, const cuuint64_t *globalDim,
                                     const cuuint64_t *globalStrides, const cuuint32_t *boxDim,
                                     const cuuint32_t *elementStrides, CUtensorMapInterleave interleave,
                                     CUtensorMapSwizzle swizzle, CUtensorMapL2promotion l2Promotion,
                                     CUtensorMapFloatOOBfill oobFill) {
    static const int esizes[] = {1, 2, 4, 4, 8, 8, 2, 4, 8, 2, 4, 4, 4};
    if (!tensorMap || (uintptr_t)tensorMap % 64 || (unsigned)tensorDataType > 12 || tensorRank < 1 || tensorRank > 5 ||
        !globalAddress || (uintptr_t)globalAddress % 16 || !globalDim || !boxDim || !elementStrides ||
        (tensorRank > 1 && !globalStrides) || (unsigned)interleave > 2 || (unsigned)l2Promotion > 3 ||
        (unsigned)oobFill > 1 || (unsigned)swizzle > 3)
        return CUDA_ERROR_INVALID_VALUE;
    int esize = esizes[tensorDataType];
    for (cuuint32_t i = 0; i < tensorRank; i++) {
        if (globalDim[i] == 0 || globalDim[i] > (1ull << 32)) return CUDA_ERROR_INVALID_VALUE;
        if (i + 1 < tensorRank && (globalStrides[i] % 16 || globalStrides[i] >= (1ull << 40))) return CUDA_ERROR_INVALID_VALUE;
        if (boxDim[i] == 0 || boxDim[i] > 256) return CUDA_ERROR_INVALID_VALUE;
        if (elementStrides[i] == 0 || elementStrides[i] > 8) return CUDA_ERROR_INVALID_VALUE;
    }
    if (boxDim[0] * (cuuint32_t)esize % 16) return CUDA_ERROR_INVALID_VALUE;
    if (swizzle != CU_TENSOR_MAP_SWIZZLE_NONE && boxDim[0] * (cuuint32_t)esize > (cuuint32_t)swizzle_span(swizzle))
        return CUDA_ERROR_INVALID_VALUE;
    for (cuuint32_t i = 1; i < tensorRank; i++)   /* elementStrides[0] is ignored without interleave (cuda.h) */
        if (elementStrides[i] != 1) die("flashemu: cuTensorMapEncodeTiled with an element stride of %u: not emulated (1 only)", elementStrides[i]);
    if (interleave != CU_TENSOR_MAP_INTERLEAVE_NONE) die("flashemu: cuTensorMapEncodeTiled with an interleaved layout: not emulated");
    if (oobFill != CU_TENSOR_MAP_FLOAT_OOB_FILL_NONE) die("flashemu: cuTensorMapEncodeTiled with the NaN out-of-bounds fill: not emulated");
    TmapImpl m;
    memset(&m, 0, sizeof m);
    m.magic = TMAP_MAGIC, m.rank = (uint8_t)tensorRank, m.esize = (uint8_t)esize, m.swizzle = (uint8_t)swizzle;
    m.dtype = (uint8_t)tensorDataType, m.base = (const unsigned char *)globalAddress;
    for (cuuint32_t i = 0; i < tensorRank; i++) {
        m.dim[i] = globalDim[i], m.box[i] = (uint16_t)boxDim[i];
        if (i + 1 < tensorRank) m.stride[i] = globalStrides[i];
    }
    memset(tensorMap, 0, sizeof *tensorMap);
    memcpy(tensorMap, &m, sizeof m);
    return CUDA_SUCCESS;
}

/* bar.sync / bar.arrive (PTX ISA, "bar, barrier"): barrier id 0 to 15, a
 * thread count that is a multiple of 32 (-1: the whole block).  Arrivals
 * are counted per thread here (the hardware counts warps: a warp's lanes
 * arrive together), and the barrier completes when `count` threads are in;
 * bar.sync waits for that, bar.arrive does not.  Every arrival of one phase
 * must give the same count.  bar.sync 0 for the whole block is
 * __syncthreads; id 0 with another count is not emulated (it would share
 * __syncthreads's barrier). */
static void named_arrive(int id, int count, bool wait) {
    const char *what = wait ? "bar.sync" : "bar.arrive";
    if (id < 0 || id > 15) fail("%s with barrier id %d (0 to 15)", what, id);
    if (count == -1) count = (int)threads.size();
    if (count <= 0 || count % 32 || (size_t)count > (threads.size() + 31) / 32 * 32)
        fail("%s %d with thread count %d (a multiple of 32, at most the block's)", what, id, count);
    if (id == 0) {
        if (!wait || (size_t)count != threads.size())
            fail("%s 0 with a thread count of %d: barrier 0 is __syncthreads's, only bar.sync 0 of the whole block "
                 "is emulated", what, count);
        __syncthreads();
        return;
    }
    NamedBar &b = named_bars[id];
    if (b.arrived == 0) b.count = count;
    else if (b.count != count) fail("%s %d with thread count %d while its phase began with %d", what, id, count, b.count);
    if (wait) cur->state = AT_NAMED_BARRIER, cur->named_bar = id;
    if (++b.arrived == b.count) {
        b.arrived = 0;
        for (Thread &t : threads)
            if (t.state == AT_NAMED_BARRIER && t.named_bar == id) t.state = RUNNABLE;
    }
    if (wait) yield_to_scheduler();
}

void emu_bar_sync(int id, int count) { named_arrive(id, count, true); }
void emu_bar_arrive(int id, int count) { named_arrive(id, count, false); }
void emu_setmaxnreg(bool inc, int n) {
    if (n < 24 || n > 256 || n % 8) fail("setmaxnreg.%s %d: the count must be 24 to 256, a multiple of 8", inc ? "inc" : "dec", n);
}

static const char *mbar_waiting_at(const Thread &t) {
    static char buf[200];
    if (t.state == AT_NAMED_BARRIER)
        snprintf(buf, sizeof buf, "bar.sync %d (%d of %d threads in)", t.named_bar, named_bars[t.named_bar].arrived,
                 named_bars[t.named_bar].count);
    else {
        const MBar &b = mbars[t.mbar_addr];
        snprintf(buf, sizeof buf, "mbarrier.try_wait.parity %d on shared address %u (%u of %u arrivals of its phase in, "
                 "tx-count %lld)", t.mbar_parity, t.mbar_addr, b.expected - b.pending, b.expected, b.tx);
    }
    return buf;
}

[[noreturn]] void emu_misaligned(const char *what, const void *p) {
    fail("%s at %p: misaligned", what, p);
}

[[noreturn]] void emu_unsupported(const char *ptx) { fail("inline PTX the emulator does not know: %s", ptx); }

/* ---- wgmma: the warpgroup's asynchronous matrix product (PTX ISA 9.7.15) --------------------
 *
 * A warpgroup is four consecutive warps, threads 128i to 128i + 127 of the
 * block (9.7.15.1); wgmma.mma_async, wgmma.fence, wgmma.commit_group and
 * wgmma.wait_group are each met by all 128 threads here (the instruction is
 * .sync.aligned for the warpgroup).  What the emulator makes visible:
 *
 *  - the asynchrony: at its issue an operation takes its C (the accumulator
 *    registers' values, or the result of an earlier operation in flight on
 *    the same registers: same-shape operations on one accumulator are
 *    ordered, 9.7.15.7.1) and writes NaN into its accumulator registers; it
 *    is computed, and its D written, at the wait_group that completes it
 *    (an operation still in flight on the same registers leaves them NaN);
 *  - the shared memory it reads: read at the issue and again at the wait,
 *    and the two must be equal bit for bit (the operation is complete only
 *    at its wait, so the operands may be read at any time until then), else
 *    the emulator stops; the data must have been made visible to the async
 *    proxy (9.7.15.4): a 16-byte chunk written by a thread's cp.async or
 *    stmatrix (the generic proxy) and not followed by that thread's
 *    fence.proxy.async stops the emulator when a wgmma reads it;
 *  - wgmma.fence (9.7.15.7.1): an operation issued with no wgmma.fence of
 *    its warpgroup since the warpgroup's last wait_group (or its start)
 *    stops the emulator (stricter than the ISA, which asks for the fence
 *    only where registers were touched in between; every such program
 *    touches them, and this kernel file fences each batch);
 *  - the shared memory matrix descriptor decoded as 9.7.15.5.1.2.2 defines
 *    it, the no-swizzle layout only (another mode stops the emulator);
 *  - a thread that exits with operations of its warpgroup in flight stops it.
 *
 * The register fragment of A (.f16x2 registers a0..a3 of thread t of the
 * warpgroup, warp w = t / 32, lane l, g = l / 4, q = l % 4) and the
 * accumulator registers d_i are CUTLASS's ALayout_64x16 and CLayout_64xN
 * (include/cute/atom/mma_traits_sm90_gmma.hpp), as README.md states:
 *   a_i holds A[16w + g + 8 (i % 2)][2q + 8 (i / 2) + h], h the half;
 *   d_i holds D[16w + g + 8 ((i / 2) % 2)][8 (i / 4) + 2q + i % 2]. */

void emu_wgmma_a_frag(int t, int i, int h, int *row, int *col) {
    int w = t / 32, l = t % 32;
    *row = 16 * w + l / 4 + 8 * (i % 2), *col = 2 * (l % 4) + 8 * (i / 2) + h;
}
void emu_wgmma_d_frag(int t, int i, int *row, int *col) {
    int w = t / 32, l = t % 32;
    *row = 16 * w + l / 4 + 8 * (i / 2 % 2), *col = 8 * (i / 4) + 2 * (l % 4) + i % 2;
}

/* Element (r, k) of an operand through a descriptor: r the row of A (M) or
 * the column of B (N), k the K index; K-major (trans 0) or MN-major (trans 1).
 * Returns the shared address of its 16-byte chunk row and the byte in it. */
struct Desc { uint32_t start, lbo, sbo; int base, mode; };
static Desc decode_desc(uint64_t d) {
    Desc x;
    x.start = (uint32_t)(d & 0x3fff) * 16;
    x.lbo = (uint32_t)(d >> 16 & 0x3fff) * 16;
    x.sbo = (uint32_t)(d >> 32 & 0x3fff) * 16;
    x.base = (int)(d >> 49 & 7);
    x.mode = (int)(d >> 62);
    if (d & (3ull << 14 | 3ull << 30 | 7ull << 46 | 0x3ffull << 52))
        fail("a wgmma descriptor 0x%016llx with bits set where the ISA has none", (unsigned long long)d);
    if (x.mode == 2 || x.mode == 3)
        fail("a wgmma descriptor with swizzle mode %d (%d B): only modes 0 (none) and 1 (128 B) are emulated", x.mode,
             x.mode == 2 ? 64 : 32);
    if (x.mode == 1 && x.base != 0)
        fail("a wgmma descriptor with the 128-byte swizzle and base offset %d: only 0 is emulated (atoms 1024-byte "
             "aligned)", x.base);
    return x;
}
/* no swizzle: core matrices of 8 rows of 16 bytes, each contiguous (128 bytes);
 * K-major: a core row is 8 K values of one M/N index; MN-major: 8 M/N values
 * of one K index; LBO steps between core matrices along K, SBO along M/N */
static uint32_t desc_elem_addr(const Desc &x, bool mn_major, int r, int k) {
    if (x.mode == 1) {
        /* the 128-byte swizzle (CUTLASS make_gmma_desc, LayoutType::B128, in bf16/f16 elements; PTX ISA
         * "Shared Memory Matrix Layout", atoms of 8 x 128 bytes): K-major ((8,m),(8,2)):((64,SBO),(1,8)), rows of
         * 128 bytes, K's 32 bytes within a row, LBO unused; MN-major ((8,8,m),(8,k)):((1,8,LBO),(64,SBO)): 64
         * M/N values in a 128-byte row, a row per K index, SBO between groups of 8 K rows, LBO between groups of
         * 64 M/N values.  Then each 16-byte chunk's address bits 4-6 XOR bits 7-9 (Swizzle<3,4,3>) of the
         * absolute address, which is how a start address advanced along K within an atom works. */
        uint32_t a = !mn_major ? x.start + (uint32_t)(r / 8) * x.sbo + (uint32_t)(r % 8) * 128 + (uint32_t)k * 2
                               : x.start + (uint32_t)(r / 64) * x.lbo + (uint32_t)(r % 64) * 2 + (uint32_t)(k % 8) * 128 +
                                     (uint32_t)(k / 8) * x.sbo;
        return a ^ ((a >> 7) & 7) << 4;
    }
    if (!mn_major) return x.start + (uint32_t)(r / 8) * x.sbo + (uint32_t)(k / 8) * x.lbo + (uint32_t)(r % 8) * 16 + (uint32_t)(k % 8) * 2;
    return x.start + (uint32_t)(r / 8) * x.sbo + (uint32_t)(k / 8) * x.lbo + (uint32_t)(k % 8) * 16 + (uint32_t)(r % 8) * 2;
}

static void mark_written(Thread *t, uint32_t addr, size_t bytes) {
    for (uint32_t c = addr / 16; c < (addr + bytes + 15) / 16; c++) {
        if (chunk_bulk_reads[c])
            fail("thread %d writes shared address %u, which a bulk reduction reads whose group its issuing thread has "
                 "not waited for (cp.async.bulk.wait_group.read)", t->tid, c * 16);
        if (chunk_writer[c] != t->tid + 1) t->unfenced.push_back(c);
        chunk_writer[c] = t->tid + 1;
    }
}

/* the rows x 16 operand read through a descriptor, 16-bit values as read now */
static void read_operand(uint64_t d, bool mn_major, int rows, std::vector<uint16_t> &out, bool check_fence,
                         std::vector<uint32_t> *chunks = nullptr) {
    Desc x = decode_desc(d);
    if (x.mode == 1) {   /* what the emulated layout assumes: the atoms 1024-byte aligned (base offset 0) */
        bool ok = !mn_major ? x.start % 1024 <= 96 && x.sbo % 1024 == 0
                            : x.start % 1024 == 0 && x.sbo % 1024 == 0 && (rows <= 64 || x.lbo % 1024 == 0);
        if (!ok)
            fail("a wgmma %s descriptor with the 128-byte swizzle, start address %u, LBO %u, SBO %u: only atoms "
                 "1024-byte aligned are emulated (%s)", mn_major ? "MN-major" : "K-major", x.start, x.lbo, x.sbo,
                 !mn_major ? "start within 96 bytes of a 1024-byte boundary, SBO a multiple of 1024"
                           : "start, SBO and LBO multiples of 1024");
    }
    out.assign((size_t)rows * 16, 0);
    for (int r = 0; r < rows; r++)
        for (int k = 0; k < 16; k++) {
            uint32_t a = desc_elem_addr(x, mn_major, r, k);
            shared_at(a & ~15u, 16, 16, "a wgmma operand");
            if (check_fence && chunk_writer[a / 16] == MB_LANDED)
                fail("wgmma reads shared address %u, written by a cp.async that an mbarrier phase landed, with no "
                     "fence.proxy.async after it by a thread that waited for the phase", a);
            if (check_fence && chunk_writer[a / 16])
                fail("wgmma reads shared address %u, written by thread %d (generic proxy) with no fence.proxy.async "
                     "after the write",
                     a, chunk_writer[a / 16] - 1);
            if (check_fence && chunk_pending[a / 16])
                fail("wgmma reads shared address %u, which a copy in flight writes (a cp.async not yet waited for, or "
                     "one whose mbarrier phase has not completed)", a);
            memcpy(&out[(size_t)r * 16 + k], smem + a, 2);
            if (chunks && (chunks->empty() || chunks->back() != a / 16)) chunks->push_back(a / 16);
        }
}

struct WgOp {
    EmuAB ab;
    int n, scale_d, scale_a, scale_b, trans_a, trans_b;
    bool a_reg;
    uint64_t da, db;
    std::vector<uint16_t> A, B;   /* A[64][16] (m, k), B[n][16] (n, k), as read at the issue */
    std::vector<float *> d;       /* 128 threads x n/2 registers */
    std::vector<float> c;         /* C, where not chained */
    std::vector<char> chained;    /* C is the result of an earlier operation in flight */
    std::vector<uint32_t> chunks;         /* the 16-byte chunks of shared memory it reads */
    std::vector<const uint32_t *> a_at;   /* A in registers: where each thread's four are, */
    std::vector<uint32_t> a_val;          /* and what they held at the issue */
};
struct WgStage { float **d; const uint32_t *a; const uint32_t *const *a_at; uint64_t da, db; int scale_d; };
struct WarpGroup {
    int arrived, op, n, ab, a_reg, sa, sb, ta, tb, arg;
    bool fenced;
    WgStage stage[128];
    std::vector<WgOp> open;
    std::vector<std::vector<WgOp>> groups;
    std::unordered_map<float *, int> inflight;   /* register -> operations in flight writing it */
    std::unordered_map<float *, float> last;     /* register -> the last result computed for it */
};
static std::vector<WarpGroup> wgroups;
enum WgKind { WG_FENCE = 1, WG_MMA, WG_COMMIT, WG_WAIT };
static const char *wg_name[] = {"", "wgmma.fence", "wgmma.mma_async", "wgmma.commit_group", "wgmma.wait_group"};

template <typename V> static V *find_reg(std::unordered_map<float *, V> &m, float *p) {
    auto it = m.find(p);
    return it == m.end() ? nullptr : &it->second;
}

static void wg_compute(WarpGroup &g);

static WarpGroup &wg_arrive(int kind, int n = 0, int ab = 0, int a_reg = 0, int sa = 0, int sb = 0, int ta = 0, int tb = 0,
                            int arg = 0) {
    if (threads.size() % 128) fail("%s in a block of %zu threads (not whole warpgroups of 128)", wg_name[kind], threads.size());
    WarpGroup &g = wgroups[cur->tid / 128];
    for (int w = 0; w < 4; w++)
        if (warps[cur->tid / 128 * 4 + w].live < 32) fail("%s with threads of the warpgroup exited", wg_name[kind]);
    int key[] = {kind, n, ab, a_reg, sa, sb, ta, tb, arg}, *mine[] = {&g.op, &g.n, &g.ab, &g.a_reg, &g.sa, &g.sb, &g.ta, &g.tb, &g.arg};
    for (int i = 0; i < 9; i++) {
        if (g.arrived == 0) *mine[i] = key[i];
        else if (*mine[i] != key[i])
            fail("threads of one warpgroup at different wgmma operations or with different modifiers (%s)", wg_name[kind]);
    }
    cur->state = AT_WARPGROUP;
    if (++g.arrived == 128) {
        wg_compute(g);
        g.arrived = 0;
        for (int t = 0; t < 128; t++) threads[cur->tid / 128 * 128 + t].state = RUNNABLE;
    }
    yield_to_scheduler();
    return g;
}

void emu_wgmma_fence(void) { wg_arrive(WG_FENCE); }
void emu_wgmma_commit(void) { wg_arrive(WG_COMMIT); }
void emu_wgmma_wait(int n) {
    if (n < 0 || n > 7) fail("wgmma.wait_group %d (0 to 7)", n);
    wg_arrive(WG_WAIT, 0, 0, 0, 0, 0, 0, 0, n);
}

void emu_wgmma_mma(EmuAB ab, int n, float **d, const uint32_t *a, const uint32_t *const *a_at, uint64_t da,
                   uint64_t db, int scale_d, int scale_a, int scale_b, int trans_a, int trans_b) {
    if (n < 8 || n > 256 || n % 8) fail("wgmma.mma_async .m64n%dk16", n);
    if ((scale_a != 1 && scale_a != -1) || (scale_b != 1 && scale_b != -1)) fail("wgmma imm-scale-a/b not 1 or -1");
    if ((trans_a != 0 && trans_a != 1) || (trans_b != 0 && trans_b != 1)) fail("wgmma imm-trans-a/b not 0 or 1");
    if (a && trans_a) fail("wgmma with A in registers takes no imm-trans-a");
    WarpGroup &g = wgroups[cur->tid / 128];
    g.stage[cur->tid % 128] = WgStage{d, a, a_at, da, db, scale_d ? 1 : 0};
    wg_arrive(WG_MMA, n, ab, a != nullptr, scale_a, scale_b, trans_a, trans_b);
}

float emu_ex2_approx_ftz(float x) {
    if (std::fpclassify(x) == FP_SUBNORMAL) x = 0.0f;
    float y = exp2f(x);
    return std::fpclassify(y) == FP_SUBNORMAL ? 0.0f : y;
}

void emu_fence_proxy_async(void) {
    for (uint32_t c : cur->unfenced)
        if (chunk_writer[c] == cur->tid + 1) chunk_writer[c] = 0;
    cur->unfenced.clear();
    for (const ChunkBy &c : cur->observed)      /* copies of mbarrier phases it waited for */
        if (chunk_writer[c.first] == c.second) chunk_writer[c.first] = 0;
    cur->observed.clear();
}

static float val16(int ab, uint16_t h) { return ab == EMU_BF16 ? bf16_to_f32(h) : f16_to_f32(h); }

static void wg_issue(WarpGroup &g) {
    if (!g.fenced) fail("wgmma.mma_async with no wgmma.fence since the warpgroup's last wgmma.wait_group");
    WgOp op;
    op.ab = (EmuAB)g.ab, op.n = g.n, op.scale_a = g.sa, op.scale_b = g.sb, op.trans_a = g.ta, op.trans_b = g.tb;
    op.a_reg = g.a_reg, op.da = g.stage[0].da, op.db = g.stage[0].db, op.scale_d = g.stage[0].scale_d;
    for (int t = 1; t < 128; t++)
        if (g.stage[t].db != op.db || (!op.a_reg && g.stage[t].da != op.da) || g.stage[t].scale_d != op.scale_d)
            fail("wgmma.mma_async: the threads of the warpgroup give different descriptors or scale-d");
    if (op.a_reg) {
        op.A.assign(64 * 16, 0);
        for (int t = 0; t < 128; t++)
            for (int i = 0; i < 4; i++)
                for (int h = 0; h < 2; h++) {
                    int r, c;
                    emu_wgmma_a_frag(t, i, h, &r, &c);
                    op.A[(size_t)r * 16 + c] = (uint16_t)(g.stage[t].a[i] >> (16 * h));
                }
        for (int t = 0; t < 128; t++)
            for (int i = 0; i < 4; i++) {
                op.a_at.push_back(g.stage[t].a_at ? g.stage[t].a_at[i] : nullptr);
                op.a_val.push_back(g.stage[t].a[i]);
            }
    } else {
        read_operand(op.da, op.trans_a, 64, op.A, true, &op.chunks);
    }
    read_operand(op.db, op.trans_b, op.n, op.B, true, &op.chunks);
    std::sort(op.chunks.begin(), op.chunks.end());
    op.chunks.erase(std::unique(op.chunks.begin(), op.chunks.end()), op.chunks.end());
    for (uint32_t c : op.chunks) chunk_wg_reads[c]++;
    int nd = op.n / 2;
    op.d.resize((size_t)128 * nd), op.c.resize((size_t)128 * nd), op.chained.resize((size_t)128 * nd);
    for (int t = 0; t < 128; t++)
        for (int i = 0; i < nd; i++) {
            float *p = g.stage[t].d[i];
            size_t k = (size_t)t * nd + i;
            op.d[k] = p;
            int *busy = find_reg(g.inflight, p);
            op.chained[k] = busy && *busy > 0;
            op.c[k] = op.chained[k] ? NAN : *p;
            if (busy) ++*busy;
            else g.inflight[p] = 1;
            *p = NAN;                    /* read before the wait: NaN */
        }
    g.open.push_back(std::move(op));
}

static void wg_execute(WarpGroup &g, WgOp &op) {
    std::vector<uint16_t> A = op.A, B;
    if (!op.a_reg) read_operand(op.da, op.trans_a, 64, A, false);
    read_operand(op.db, op.trans_b, op.n, B, false);
    if (A != op.A || B != op.B)
        fail("shared memory read by a wgmma.mma_async changed between its issue and its wgmma.wait_group");
    for (size_t i = 0; i < op.a_at.size(); i++)
        if (op.a_at[i] && *op.a_at[i] != op.a_val[i])
            fail("register a%zu of thread %zu of the warpgroup, A of a wgmma.mma_async, written between the issue "
                 "and its wgmma.wait_group", i % 4, i / 4);
    for (uint32_t c : op.chunks) chunk_wg_reads[c]--;
    int nd = op.n / 2;
    for (int t = 0; t < 128; t++)
        for (int i = 0; i < nd; i++) {
            int r, c;
            emu_wgmma_d_frag(t, i, &r, &c);
            size_t k = (size_t)t * nd + i;
            float *p = op.d[k];
            float s = !op.scale_d ? 0.0f : op.chained[k] ? *find_reg(g.last, p) : op.c[k];
            for (int kk = 0; kk < 16; kk++)
                s += (float)op.scale_a * val16(op.ab, A[(size_t)r * 16 + kk]) * ((float)op.scale_b * val16(op.ab, B[(size_t)c * 16 + kk]));
            g.last[p] = s;
            int *busy = find_reg(g.inflight, p);
            if (--*busy == 0) *p = s;    /* the last operation in flight on it: the register holds D */
        }
}

static void wg_compute(WarpGroup &g) {
    switch (g.op) {
    case WG_FENCE: g.fenced = true; break;
    case WG_MMA: wg_issue(g); break;
    case WG_COMMIT:
        g.groups.push_back(std::move(g.open));   /* an empty group is a group too */
        g.open.clear();
        break;
    case WG_WAIT:
        while (g.groups.size() > (size_t)g.arg) {
            for (WgOp &op : g.groups.front()) wg_execute(g, op);
            g.groups.erase(g.groups.begin());
        }
        g.fenced = false;
        break;
    }
}

static void wg_reset(size_t nthreads, size_t smem_bytes) {
    wgroups.assign((nthreads + 127) / 128, WarpGroup());
    for (WarpGroup &g : wgroups) g.arrived = 0, g.fenced = false;
    chunk_writer.assign(smem_bytes / 16 + 2, 0);
    chunk_pending.assign(smem_bytes / 16 + 2, 0);
    chunk_wg_reads.assign(smem_bytes / 16 + 2, 0);
    chunk_bulk_reads.assign(smem_bytes / 16 + 2, 0);
}

static void wg_exit_check(void) {
    if (threads.size() % 128) return;
    WarpGroup &g = wgroups[cur->tid / 128];
    if (g.arrived > 0) fail("exited while threads of its warpgroup wait at %s", wg_name[g.op]);
    if (!g.open.empty() || !g.groups.empty()) fail("exited with wgmma.mma_async operations not waited for");
}

static const char *wg_waiting_at(void) { return wg_name[wgroups[cur->tid / 128].op]; }

/* ---- A harness for the unit test of wgmma (tests/test_flash_emu.c) -------------------------
 *
 * One block of 128 threads (one warpgroup) and smem_bytes of shared memory,
 * which starts as the caller's image; each thread gives a_regs[t][0..3] as
 * its A registers when a_in_regs, and its n/2 accumulator registers start
 * as c[t * n/2 + i]; it fences, issues one .m64nNk16 (scale-d 1), commits,
 * waits, and writes its registers to d[t * n/2 + i].  How, by `how`:
 *   0  as above;
 *   1  the registers are read before the wait as well, into early[];
 *   2  thread 0 changes byte `poke` of shared memory between the issue and the wait;
 *   3  no wgmma.fence before the issue;
 *   4  thread 0 copies the first 16 bytes of the image with cp.async into
 *      shared address `poke` (and waits for it) before the issue, without
 *      fence.proxy.async; 5: the same with the fence;
 *   6  thread 0 changes its A register a0 between the issue and the wait;
 *   7  thread 0 requests that cp.async before the issue and waits for it
 *      only after the product's wait (then fences);
 *   8  thread 0 requests that cp.async between the issue and the wait, and
 *      waits for it after the product's wait;
 *   9  before the issue, thread 0 initializes an mbarrier (count 2) in the
 *      last 8 bytes of shared memory, requests that cp.async, makes a
 *      cp.async.mbarrier.arrive.noinc on the barrier (the phase does not
 *      complete: the copy is attached to it, still in flight), waits for its
 *      groups and fences; 10: the same with count 1 (the phase completes at
 *      the arrive, and the copy lands), and a try_wait.parity 0 that sees
 *      the phase complete before the fence; 11: count 1, with no try_wait
 *      (a fence by a thread that has not seen the phase complete).
 * A stop of the emulator (2, 3, 4, 6, 7, 8, 9 and 11 where the copy lands in an operand)
 * ends the process, as everywhere. */
extern "C" void flashemu_wgmma_run(int ab, int n, int a_in_regs, int trans_a, int trans_b, uint64_t da, uint64_t db,
                                   const void *image, size_t smem_bytes, const uint32_t (*a_regs)[4], const float *c,
                                   float *d, float *early, int how, int poke) {
    std::function<void()> body = [&] {
        int t = (int)threadIdx.x, nd = n / 2;
        if (t == 0) memcpy(emu_dynamic_smem(), image, smem_bytes);
        __syncthreads();
        if (how >= 4 && how <= 8 && t == 0) {
            emu_cp_async((uint32_t)poke, image, 16, 16);
            emu_cp_async_commit();
            emu_cp_async_wait(0);
            if (how == 5) emu_fence_proxy_async();
        }
        if (how >= 9 && how <= 11 && t == 0) {
            emu_mbar_init((uint32_t)smem_bytes - 8, how == 9 ? 2 : 1);
            emu_cp_async((uint32_t)poke, image, 16, 16);
            emu_cp_async_mbar_arrive((uint32_t)smem_bytes - 8);
            emu_cp_async_commit();
            emu_cp_async_wait(0);
            if (how == 10 && !emu_mbar_try_wait((uint32_t)smem_bytes - 8, 0)) die("the phase did not complete");
            emu_fence_proxy_async();
        }
        __syncthreads();
        std::vector<float> r(c + (size_t)t * nd, c + (size_t)(t + 1) * nd);
        std::vector<float *> p(nd);
        for (int i = 0; i < nd; i++) p[i] = &r[i];
        uint32_t ar[4] = {0, 0, 0, 0};
        const uint32_t *ar_at[4] = {&ar[0], &ar[1], &ar[2], &ar[3]};
        if (a_in_regs) memcpy(ar, a_regs[t], sizeof ar);
        if (how == 7 && t == 0) emu_cp_async((uint32_t)poke, image, 16, 16), emu_cp_async_commit();
        if (how != 3) emu_wgmma_fence();
        emu_wgmma_mma((EmuAB)ab, n, p.data(), a_in_regs ? ar : nullptr, a_in_regs ? ar_at : nullptr, da, db, 1, 1, 1,
                      trans_a, trans_b);
        emu_wgmma_commit();
        if (how == 1)
            for (int i = 0; i < nd; i++) early[(size_t)t * nd + i] = r[i];
        if (how == 2 && t == 0) emu_dynamic_smem()[poke] ^= 0x40;
        if (how == 6 && t == 0) ar[0] ^= 1;
        if (how == 8 && t == 0) emu_cp_async((uint32_t)poke, image, 16, 16), emu_cp_async_commit();
        emu_wgmma_wait(0);
        if ((how == 7 || how == 8) && t == 0) emu_cp_async_wait(0), emu_fence_proxy_async();
        for (int i = 0; i < nd; i++) d[(size_t)t * nd + i] = r[i];
    };
    emu_run_grid(dim3(1), dim3(128), smem_bytes, body, "wgmma unit test");
}

/* ---- A harness for the unit test of stmatrix (tests/test_flash_emu.c) -----------------------
 *
 * One warp and smem_bytes of shared memory, which starts as the caller's
 * image: lane l executes stmatrix .x4 (with .trans if `trans`) of its
 * registers regs[l][0..3] at shared address addr[l]; the shared memory
 * after it is copied to image_out. */
extern "C" void flashemu_stmatrix_run(int trans, const uint32_t *addr, const uint32_t (*regs)[4], const void *image,
                                      void *image_out, size_t smem_bytes) {
    std::function<void()> body = [&] {
        int l = (int)threadIdx.x;
        if (l == 0) memcpy(emu_dynamic_smem(), image, smem_bytes);
        __syncthreads();
        emu_stmatrix(4, trans != 0, addr[l], regs[l][0], regs[l][1], regs[l][2], regs[l][3]);
        __syncthreads();
        if (l == 0) memcpy(image_out, emu_dynamic_smem(), smem_bytes);
    };
    emu_run_grid(dim3(1), dim3(32), smem_bytes, body, "stmatrix unit test");
}
