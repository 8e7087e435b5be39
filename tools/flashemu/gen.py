#!/usr/bin/env python3
"""tools/flashemu/gen.py: turn a CUDA kernel file (flash.cu) into host C++
that runs its kernels, unchanged, on the CPU under the emulator of
tools/flashemu/emu.h and emu.cpp.

    gen.py FLASH_CU INTERNAL_CUH OUT_CPP --prefix NAME [--mutate M]
    gen.py --list-mutations

What is rewritten (and nothing else: every line of the kernels, helpers
and launch code stays as written):
  - #include "internal.cuh" becomes the text of internal.cuh, less its CUDA
    includes and its extern "C" include of gpu.h and util.h (emu.h has
    them); the file's own #include <cuda.h> and <cudaTypedefs.h> (the
    driver API's tensor maps, which emu.h declares) are removed; the whole file goes into namespace NAME, so that several
    generated files (a kernel file and its mutants) link into one program;
  - each inline-PTX statement asm(...) becomes a call of the emulator's
    function for its instruction (cp.async, its commit and wait, ldmatrix,
    stmatrix, mma.sync m16n8k16 with bf16 or f16 inputs and f32
    accumulators, wgmma.fence / commit_group / wait_group / mma_async
    m64nNk16 with f32 accumulators, fence.proxy.async; a scope { } with a
    .reg .pred set by setp.ne.b32 for wgmma's scale-d; setmaxnreg.inc/.dec
    (registers are not modelled: its count is checked, 24 to 256 in steps
    of 8, and nothing else happens); mbarrier.init,
    mbarrier.arrive with the state discarded (_), cp.async.mbarrier.arrive
    .noinc, all .shared(::cta).b64, and mbarrier.try_wait.parity into a
    .reg .pred read by selp.{u32,s32,b32}; mbarrier.arrive.expect_tx (state
    discarded) and mbarrier.expect_tx, and cp.async.bulk.tensor.{2,3,4,5}d
    .shared::cluster(or ::cta).global.tile.mbarrier::complete_tx::bytes
    [dst], [map, {coordinates}], [mbarrier] (TMA);
    cp.reduce.async.bulk.tensor.{1..5}d.global.shared::cta.add.tile
    .bulk_group [map, {coordinates}], [src], cp.async.bulk.commit_group and
    cp.async.bulk.wait_group(.read) (the TMA reduction); st.shared(.v2,.v4)
    .f32/.b32/.u32 (a store the emulator tracks); bar.sync / bar.arrive
    with a barrier id and a thread count), its operands
    passed as the constraints say: outputs by
    address, inputs by value; an instruction the emulator does not know
    becomes a call that stops the program with its text;
  - extern __shared__ T name[] becomes a pointer to the launch's dynamic
    shared memory; a static __shared__ array becomes a static array (a
    block's threads run on one OS thread, and blocks one at a time);
  - kern<<<grid, block, smem, stream>>>(args) becomes
    emu_launch("kern", kern, grid, block, smem, args);
  - each extern "C" function X is renamed NAME_X, and NAME_gpu() gives the
    Gpu the entry points take.
--mutate M first applies one of the known mutations (a wrong fragment
index, a missing mask, ...; --list-mutations), each a text replacement of
the first place its text occurs (the earliest version's, where a later
version repeats a line); if the text does not occur, the generated file's
NAME_mutation_applied is 0 and the entry points stop the program.
NAME_versions is the highest version the file's flash_check accepts
(3 if it cannot tell), NAME_versions_missing a bit mask of the versions
below it that it refuses (`|| version == N` on the same line).
"""
import os
import re
import sys

# name: (what it breaks, the text, its replacement)
MUTATIONS = {
    "v1-mask": ("version 1 forward: the causal limit on the keys of a row is dropped",
                "        if (causal) jn = min(jn, i - j0 + 1);\n        for (int jj = 0; i < Tn && jj < jn; jj++) {\n            float s = 0;\n",
                "        for (int jj = 0; i < Tn && jj < jn; jj++) {\n            float s = 0;\n"),
    "lse-off": ("versions 2-3 forward: the log-sum-exp written 0.4% of a sum off (log of 1.004 l), the output "
                "untouched: only L's own bound catches it",
                "if (tig == 0) lse[(size_t)bh * Tn + row] = (m[mt][r] + log2f(lr)) / LOG2E;",
                "if (tig == 0) lse[(size_t)bh * Tn + row] = (m[mt][r] + log2f(lr * 1.004f)) / LOG2E;"),
    "mask": ("versions 2-3 forward: the causal mask of the scores is dropped (the sequence-end mask kept)",
             "if (edge && (col >= Tn || (causal && col > row)))",
             "if (edge && col >= Tn)"),
    "edge": ("versions 2-3 forward: a key tile that runs past the sequence's end is not taken for an edge tile",
             "bool edge = (j + 1) * BC > Tn ||",
             "bool edge = j * BC > Tn ||"),
    "ldsm-order": ("versions 2-3 forward: the key fragments of S = Q K^T read with the wrong ldmatrix address order",
                   "ldsm_x4(kf, quarters_across(Kj, LD, np * 16, kk * 16));",
                   "ldsm_x4(kf, quarters_down(Kj, LD, np * 16, kk * 16));"),
    "no-trans": ("versions 2-3 forward: the value fragments of O += P V read without .trans",
                 "ldsm_x4_t(vf, quarters_down(Vj, LD, kk * 16, dp * 16));",
                 "ldsm_x4(vf, quarters_down(Vj, LD, kk * 16, dp * 16));"),
    "wait": ("versions 2-3 forward: the key tile is read before its cp.async group is waited for",
             "            cp_async_commit();\n            cp_async_wait<1>();",
             "            cp_async_commit();\n            cp_async_wait<2>();"),
    "frag-index": ("version 2 backward: dS^T's fragment registers stored to shared memory in the wrong order",
                   "sa[2 * half + r];",
                   "sa[2 * r + half];"),
    "barrier": ("version 2 backward: no barrier between loading a query tile and reading it",
                "        cp_async_wait<0>();\n        __syncthreads();\n\n        float st[",
                "        cp_async_wait<0>();\n\n        float st["),
    "wg-wait": ("version 5 forward: the scores read before their wgmma.wait_group",
                "        wg_wait<0>();\n        wg_hold(s[0][0], BC / 2);",
                "        wg_hold(s[0][0], BC / 2);"),
    "wg-desc": ("version 5 forward: K's descriptor with the wrong stride byte offset (8 d bytes for 16 d)",
                "wg_desc(Kj + kk * 128, 128, 16 * D)",
                "wg_desc(Kj + kk * 128, 128, 8 * D)"),
    "wg-overwrite": ("version 5 forward: the next key tile requested into the stage the scores read",
                     "load_tile_core<T, D, BC, THREADS>(Ks + (j + 1) % 2 * BC * D",
                     "load_tile_core<T, D, BC, THREADS>(Ks + j % 2 * BC * D"),
    "wg-proxy": ("version 5 forward: no fence.proxy.async between the tile's cp.async and the wgmma reading it",
                 "        fence_proxy_async();\n",
                 ""),
    "wg-fence": ("version 5 forward: no wgmma.fence before the products of P V",
                 "        wg_fence();\n        for (int kk = 0; kk < BC / 16; kk++)\n            for (int dn",
                 "        for (int kk = 0; kk < BC / 16; kk++)\n            for (int dn"),
    "wg-afrag": ("version 5 forward: P's second A register packed from the wrong columns",
                 "a[kk][1] = pack2<T>(s[0][2 * kk][2], s[0][2 * kk][3]);",
                 "a[kk][1] = pack2<T>(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);"),
    "wg-trans": ("version 5 forward: V read K-major (imm-trans-b 0) in the bf16 product P V",
                 "{%32, %33, %34, %35}, %36, p, 1, 1, 1;",
                 "{%32, %33, %34, %35}, %36, p, 1, 1, 0;"),
    "v7-stsm": ("version 7 backward: dS^T stored by stmatrix with the two 8-key halves of a warp's rows taken as query halves",
                "8 * (j % 2) + lane % 8",
                "8 * (j / 2) + lane % 8"),
    "v7-proxy": ("version 7 backward: no fence.proxy.async between dS^T's stmatrix and the products of dQ that read it",
                 "            fence_proxy_async();                               /* dS^T visible to the products of dQ */\n",
                 ""),
    "v7-trans-a": ("version 7 backward: dS read K-major (imm-trans-a 0) in the bf16 product dQ = dS K of d 64 (N 32)",
                   "%16, %17, p, 1, 1, 1, 1;",
                   "%16, %17, p, 1, 1, 0, 1;"),
    "v7-lbo": ("version 7 backward: dS's descriptor with the wrong leading byte offset (8 BR bytes for 16 BR)",
               "wg_desc(dSs + kk * 16 * BR, 16 * BR, 128)",
               "wg_desc(dSs + kk * 16 * BR, 8 * BR, 128)"),
    "v7-zero": ("version 7 backward: a warpgroup that skips its products leaves its rows of dS^T as they were",
                "for (int kq = 0; kq < BR / 16; kq++) store_ds(kq, zero);",
                "for (int kq = 0; kq < BR / 16 && false; kq++) store_ds(kq, zero);"),
    "v7-stage": ("version 7 backward: the next query tile requested into the stage being read",
                 "                load_query_tile(q0 + BR, s ^ 1);\n                cp_async_commit();",
                 "                load_query_tile(q0 + BR, s);\n                cp_async_commit();"),
    "v7-fence": ("version 7 backward: no wgmma.fence before the products of dQ",
                 "            wg_hold(dqa[0], DN / 2);\n            wg_fence();\n",
                 "            wg_hold(dqa[0], DN / 2);\n"),
    "v7-wait": ("version 7 backward: S^T and dP^T read before their wgmma.wait_group",
                "            wg_wait<0>();\n            wg_hold(st[0], BR / 2);",
                "            wg_hold(st[0], BR / 2);"),
    "v7-dqcol": ("version 7 backward: K's columns for a warpgroup's half of dQ found 8 times too near",
                 "wg * DN * 8, 16 * D, 128)",
                 "wg * DN, 16 * D, 128)"),
    "v6-wait-pv": ("version 6 forward: wait_group 1 (should be 0) before rescaling O: P V of the previous tile still in flight",
                   ('        wg_wait<0>();\n'
                       '        wg_hold(acc[0][0], D / 2);\n'
                       '        for (int dt = 0; dt < D / 8; dt++)\n'
                       '            for (int r = 0; r < 2; r++) acc[0][dt][2 * r] *= alpha[r], acc[0][dt][2 * r + 1] *= alpha[r];\n'),
                   ('        wg_wait<1>();\n'
                       '        wg_hold(acc[0][0], D / 2);\n'
                       '        for (int dt = 0; dt < D / 8; dt++)\n'
                       '            for (int r = 0; r < 2; r++) acc[0][dt][2 * r] *= alpha[r], acc[0][dt][2 * r + 1] *= alpha[r];\n')),
    "v6-wait-s": ("version 6 forward: the scores of the next tile not waited for (no wait_group 1)",
                  "        wg_wait<1>();\n        wg_hold(s[0][0], BC / 2);\n    }",
                  "        wg_hold(s[0][0], BC / 2);\n    }"),
    "v6-barrier": ("version 6 forward: no barrier between the warpgroups' use of a stage and its next copy",
                   "        cp_async_wait<0>();\n        fence_proxy_async();\n        __syncthreads();\n        if (j + 2 < nkv) {",
                   "        cp_async_wait<0>();\n        fence_proxy_async();\n        if (j + 2 < nkv) {"),
    "v6-two-stages": ("version 6 forward: two stages of key and value tiles (tile j + 2 overwrites V_j)",
                      "#define V6_STAGES 3",
                      "#define V6_STAGES 2"),
    "v6-stage": ("version 6 forward: key tile j + 2 requested into the stage of tile j + 1, whose scores are next",
                 "load_tile_core<T, D, BC, THREADS>(Ks + (j + 2) % NS * BC * D",
                 "load_tile_core<T, D, BC, THREADS>(Ks + (j + 1) % NS * BC * D"),
    "v6-pack-early": ("version 6 forward: P packed into A's registers before the previous P V is waited for",
                      ('        wg_wait<0>();\n'
                       '        wg_hold(acc[0][0], D / 2);\n'
                       '        for (int dt = 0; dt < D / 8; dt++)\n'
                       '            for (int r = 0; r < 2; r++) acc[0][dt][2 * r] *= alpha[r], acc[0][dt][2 * r + 1] *= alpha[r];\n'
                       '\n'
                       '        for (int kk = 0; kk < BC / 16; kk++) {\n'
                       '            a[kk][0] = pack2<T>(s[0][2 * kk][0], s[0][2 * kk][1]);\n'
                       '            a[kk][1] = pack2<T>(s[0][2 * kk][2], s[0][2 * kk][3]);\n'
                       '            a[kk][2] = pack2<T>(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);\n'
                       '            a[kk][3] = pack2<T>(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);\n'
                       '        }\n'),
                      ('        for (int kk = 0; kk < BC / 16; kk++) {\n'
                       '            a[kk][0] = pack2<T>(s[0][2 * kk][0], s[0][2 * kk][1]);\n'
                       '            a[kk][1] = pack2<T>(s[0][2 * kk][2], s[0][2 * kk][3]);\n'
                       '            a[kk][2] = pack2<T>(s[0][2 * kk + 1][0], s[0][2 * kk + 1][1]);\n'
                       '            a[kk][3] = pack2<T>(s[0][2 * kk + 1][2], s[0][2 * kk + 1][3]);\n'
                       '        }\n'
                       '\n'
                       '        wg_wait<0>();\n'
                       '        wg_hold(acc[0][0], D / 2);\n'
                       '        for (int dt = 0; dt < D / 8; dt++)\n'
                       '            for (int r = 0; r < 2; r++) acc[0][dt][2 * r] *= alpha[r], acc[0][dt][2 * r + 1] *= alpha[r];\n')),
    "v6-last-stage": ("version 6 forward: the last tile's product reads the wrong value stage",
                      "const T *Vj = Vs + (n0 + nkv - 1) % NS * BC * D;",
                      "const T *Vj = Vs + (n0 + nkv) % NS * BC * D;"),
    "v9-kfull": ("version 9 forward: the scores of the next tile computed without waiting for its key tile to land",
                 "            mbar_wait(kfull + (n0 + j + 1) % NS, (n0 + j + 1) / NS % 2);\n", ""),
    "v9-vfree": ("version 9 forward: the producer refills a stage without waiting for the consumers to free it",
                 "    if (j >= NS) mbar_wait(vfree + st, (j / NS - 1) % 2);\n", ""),
    "v9-parity": ("version 9 forward: the wait for a value tile always asks for phase parity 0",
                  "mbar_wait(vfull + (n0 + j) % NS, (n0 + j) / NS % 2);", "mbar_wait(vfull + (n0 + j) % NS, 0);"),
    "v9-free-early": ("version 9 forward: a stage freed before the product that reads its value tile is issued",
                      "if (j > 0 && lane == 0) mbar_arrive(vfree + (n0 + j - 1) % NS);",
                      "if (lane == 0) mbar_arrive(vfree + (n0 + j) % NS);"),
    "v9-last-wait": ("version 9 forward: the last value tile read without waiting for it to land",
                     "        mbar_wait(vfull + (n0 + nkv - 1) % NS, (n0 + nkv - 1) / NS % 2);\n", ""),
    "v9-fence": ("version 9 forward: no fence.proxy.async after the waits for the next key tile and this value tile",
                 "            mbar_wait(vfull + (n0 + j) % NS, (n0 + j) / NS % 2);\n            fence_proxy_async();\n",
                 "            mbar_wait(vfull + (n0 + j) % NS, (n0 + j) / NS % 2);\n"),
    "v9-free-count": ("version 9 forward: a stage's vfree expects one warpgroup's arrivals (4), not every consumer warp's",
                      "mbar_init(vfree + st, 4 * NWG)", "mbar_init(vfree + st, 4)"),
    "v13-mask": ("version 13 backward: the causal edge test compares the tiles' ends, so a key block reaching past "
                 "the query tile's first query but not its last goes unmasked",
                 "(causal && k0 + BC - 1 > q0))", "(causal && k0 + BC > q0 + BR))"),
    "v14-swizzle": ("version 14 backward: the query and dO tiles' pieces stored in row order, the descriptors saying swizzled",
                    "r * 64 + (c ^ r % 8) * 8", "r * 64 + c * 8"),
    "v14-block": ("version 14 backward: the query tile's second block of 64 columns looked for D, not BR, rows on",
                  "(SWQ) return wg_desc(t + kk % 4 * 16 + kk / 4 * 64 * BR, 16, 1024, true)",
                  "(SWQ) return wg_desc(t + kk % 4 * 16 + kk / 4 * 64 * D, 16, 1024, true)"),
    "v14-turn": ("version 14 forward: the last warpgroup does not give warpgroup 0 its first turn, so all wait",
                 "    if (PP && wg == NWG - 1) bar_arrive(V14_TURN, 256);", "    if (false) bar_arrive(V14_TURN, 256);"),
    "v14-last-turn": ("version 14 forward: warpgroup 0 does not wait for warpgroup 1's last arrival, which is left "
                      "half met at the block's end",
                      "if (PP && !PERSIST && wg == 0) bar_sync(V14_TURN, 256);", "if (false) bar_sync(V14_TURN, 256);"),
    "dq-atomic": ("version 2 backward: the second element of each dQ pair added from the first's register",
                  "atomicAdd(dst + dt * 8 + 1, dqa[dt][2 * r + 1]);",
                  "atomicAdd(dst + dt * 8 + 1, dqa[dt][2 * r]);"),
    "v17-wait": ("version 17 backward: the wait at a query tile's top leaves two groups in flight, not one, so the "
                 "tile (at the first, the keys and values too) is read before its copies land",
                 "cp_async_wait<1>();                        /* every group but the newest: this tile's is in */",
                 "cp_async_wait<2>();                        /* every group but the newest: this tile's is in */"),
    "v17-stage": ("version 17 backward: the tile two ahead requested into the next tile's stage, not the one just freed",
                  "load_query_tile(q0 + 2 * BR, (s + 2) % 3);", "load_query_tile(q0 + 2 * BR, (s + 1) % 3);"),
    "v17-stride": ("version 17 backward: the epilogue reads the old dK and dV rows at a stride of D elements, not the "
                   "padded D + 8 they were copied at",
                   "int y0 = (key0 - k0 + r * 8) * LD + tig * 2;", "int y0 = (key0 - k0 + r * 8) * D + tig * 2;"),
    "v18-order": ("version 18 backward: the key block read from the head's index (blockIdx.y), so blocks of a head "
                  "take one another's keys",
                  "kb = HM ? blockIdx.x : blockIdx.y;", "kb = HM ? blockIdx.y : blockIdx.y;"),
    "v19-fence": ("version 19 backward: no fence.proxy.async between the stores of dQ and the reduction that reads them",
                  "fence_proxy_async();                               /* the stores visible to the TMA unit */", ""),
    "v19-wait": ("version 19 backward: no wait for the last tile's reduction to read the staging tile before it is "
                 "written again",
                 "if (threadIdx.x % 128 == 0) bulk_wait_read<0>();   /* the last tile's reduction has read them */", ""),
    "v19-bar": ("version 19 backward: no barrier between the warpgroup's stores of dQ and the reduction its first "
                "thread issues",
                "/* the stores visible to the TMA unit */\n            bar_sync(V19_DQ + wg, 128);",
                "/* the stores visible to the TMA unit */\n"),
    "v19-swz": ("version 19 backward: dQ stored unswizzled into a tile the reduction reads swizzled",
                "((col % 32 / 4) ^ row % 8) * 4", "(col % 32 / 4) * 4"),
    "v20-order": ("version 20 backward: one head too many counted from the grid, so the last group is taken as full "
                  "and its blocks go to heads past the end",
                  "int L = blockIdx.x, nkb = (Tn + BC - 1) / BC, BNH = gridDim.x / nkb;",
                  "int L = blockIdx.x, nkb = (Tn + BC - 1) / BC, BNH = gridDim.x / nkb + 1;"),
    "v21-qfree": ("version 21 forward: the producer asks for the next tile's queries without waiting for the consumers "
                  "to have read the last tile's",
                  "if (i > 0) mbar_wait(qfree, (i - 1) % 2);", ""),
    "v21-last-stage": ("version 21 forward: the consumers never free a tile's last stage, so the producer waits for "
                       "ever once the ring comes round to it",
                       "if (PERSIST && lane == 0) mbar_arrive(vfree + (n0 + nkv - 1) % NS);", ""),
    "v21-snake": ("version 21 forward: the reversed rounds off by one, so block p takes place G - p: place 0 of a "
                  "reversed round is done by no block (and block 0 takes the next round's first tile early)",
                  "(int)gridDim.x - 1 - (int)blockIdx.x", "(int)gridDim.x - (int)blockIdx.x"),
    "v22-order": ("version 22 forward: a tile's head found by the old count (heads fastest) while its query block is "
                  "found head by head, so some tiles are done twice and others never",
                  "bh = V >= 22 ? t / nqb : t % BNH,", "bh = t % BNH,"),
    "v23-clear": ("version 23 backward: the buffer of dQ cleared in its first four columns of each thread's eight, the "
                  "rest left as the scratch was",
                  "z[0] = make_float4(0, 0, 0, 0), z[1] = make_float4(0, 0, 0, 0);", "z[0] = make_float4(0, 0, 0, 0);"),
    "v23-shuffle": ("version 23 backward: D_i's shuffles start at a quarter of the row's threads, so each row's sum "
                    "misses half its partial sums",
                    "for (int m = L / 2; m > 0; m /= 2)", "for (int m = L / 4; m > 0; m /= 2)"),
    "v23-finish": ("version 23 backward: the finish reads the buffer's first four columns twice and its last four never",
                   "float4 a0 = a[0], a1 = a[1];", "float4 a0 = a[0], a1 = a[0];"),
    "v24-parity": ("version 24 backward: the next item's keys, values and old rows asked for into this item's buffer, "
                   "which this item still reads",
                   "request(slot[cpar ^ rw], cpar ^ rw, rq);", "request(slot[cpar ^ rw], cpar, rq);"),
    "v24-wait": ("version 24 backward: a tile whose group is the newest asked for waits for all groups but the newest",
                 "else cp_async_wait<0>();                           /* tile c is the newest",
                 "else cp_async_wait<1>();                           /* tile c is the newest"),
    "v24-counter": ("version 24 backward: the counter of items not cleared, so the items taken after the first ones "
                    "start where the scratch's bytes say",
                    "if (x == 0) *next_item = 0;", "if (x == 0) {}"),
    "v24-first": ("version 24 backward: an item's keys and values asked for with query tile 0, which a causal item past "
                  "the first key block never asks for",
                  "if (qt == it.q_first) {", "if (qt == 0) {"),
    "v25-keys": ("version 25 backward: warpgroup 1's dQ taken from warpgroup 0's rows of dS^T",
                 "wgmma_ss_t<T, DN>(dqa[0], wg_desc(dSs + (4 * wg + kk) * 16 * BR, 16 * BR, 128),",
                 "wgmma_ss_t<T, DN>(dqa[0], wg_desc(dSs + kk * 16 * BR, 16 * BR, 128),"),
    "v26-free": ("version 26 backward: the producer copies into a stage without waiting for the warps to free it",
                 "if (n >= NQ) mbar_wait(qfree + st, (n / NQ - 1) % 2);",
                 "if (n >= NQ) {}"),
    "v26-parity": ("version 26 backward: every wait for a query tile asks for phase parity 0",
                   "mbar_wait(qfull + s, (q0 - q_first) / BR / NQ % 2);", "mbar_wait(qfull + s, 0);"),
    "v26-keys": ("version 26 backward: the keys, values and old rows read without waiting for their cp.async group",
                 "if (q0 == q_first) {                                   /* keys, values and old rows",
                 "if (false) {                                           /* keys, values and old rows"),
    "v26-bytes": ("version 26 backward: a stage's barrier expects the bytes of Q and dO alone, not lse and D's",
                  "mbar_arrive_expect_tx(qfull + st, 2 * BR * D * sizeof(T) + 2 * BR * sizeof(float));",
                  "mbar_arrive_expect_tx(qfull + st, 2 * BR * D * sizeof(T));"),
    "v26-ok": ("version 26 backward: the launch takes version 26's kernel for any T, not only a multiple of 4 (its "
               "lse and D boxes then start off a 16-byte boundary)",
               "return (uintptr_t)lse % 16 == 0 && (uintptr_t)dd % 16 == 0 && Tn % 4 == 0;",
               "return (uintptr_t)lse % 16 == 0 && (uintptr_t)dd % 16 == 0;"),
    "v27-skip": ("version 27 backward: a warpgroup that skips a tile takes one turn, not two",
                 "for (int t = 0; t < 2; t++) bar_sync(V14_TURN + wg, 256), bar_arrive(V14_TURN + 1 - wg, 256);",
                 "for (int t = 0; t < 1; t++) bar_sync(V14_TURN + wg, 256), bar_arrive(V14_TURN + 1 - wg, 256);"),
    "v27-last": ("version 27 backward: warpgroup 0 does not wait for warpgroup 1's last turn, left half met at the "
                 "block's end",
                 "if (PP && wg == 0) bar_sync(V14_TURN, 256);", "if (false) bar_sync(V14_TURN, 256);"),
}


def fail(msg):
    sys.exit("gen.py: " + msg)


def skip_string(s, i):
    """index just past the string or character literal starting at s[i]"""
    q = s[i]
    i += 1
    while s[i] != q:
        i += 2 if s[i] == "\\" else 1
    return i + 1


def match_close(s, i, open_="(", close=")"):
    """index of the bracket closing the one at s[i] (strings skipped)"""
    depth = 0
    while i < len(s):
        c = s[i]
        if c in "\"'":
            i = skip_string(s, i)
            continue
        if c == open_:
            depth += 1
        elif c == close:
            depth -= 1
            if depth == 0:
                return i
        i += 1
    fail("unbalanced %s at %r" % (open_, s[:80]))


def split_top(s, sep):
    """split at sep outside brackets and strings"""
    parts, depth, i, start = [], 0, 0, 0
    while i < len(s):
        c = s[i]
        if c in "\"'":
            i = skip_string(s, i)
            continue
        if c in "([{":
            depth += 1
        elif c in ")]}":
            depth -= 1
        elif c == sep and depth == 0:
            parts.append(s[start:i])
            start = i + 1
        i += 1
    parts.append(s[start:])
    return parts


def c_strings(s):
    """the text of adjacent C string literals"""
    out = ""
    for lit in re.findall(r'"((?:[^"\\]|\\.)*)"', s, re.S):
        out += lit.encode().decode("unicode_escape")
    return out


# ---- inline PTX ------------------------------------------------------------------

def translate_asm(body):
    """asm( body ) -> C++ statement calling the emulator"""
    sections = split_top(body, ":")
    ptx = c_strings(sections[0])
    operands = []                       # (constraint, expression)
    for sec in sections[1:3]:
        for op in split_top(sec, ","):
            op = op.strip()
            if not op:
                continue
            m = re.match(r'(?:\[\w+\]\s*)?"([^"]*)"\s*\((.*)\)\s*$', op, re.S)
            if not m:
                fail("cannot read the asm operand %r" % op)
            operands.append((m.group(1), m.group(2).strip()))

    def val(tok):
        tok = tok.strip()
        m = re.fullmatch(r"%(\d+)", tok)
        if m:
            n = int(m.group(1))
            if n >= len(operands):
                fail("asm operand %%%d of %d" % (n, len(operands)))
            return "(%s)" % operands[n][1]
        if re.fullmatch(r"-?\d+", tok):
            return tok
        fail("cannot read the PTX operand %r in %r" % (tok, ptx))

    def ref(tok):
        m = re.fullmatch(r"%(\d+)", tok.strip())
        if not m or "=" not in operands[int(m.group(1))][0] and "+" not in operands[int(m.group(1))][0]:
            fail("the PTX destination %r of %r is not an output operand" % (tok, ptx))
        return "&(%s)" % operands[int(m.group(1))][1]

    def vec(tok):
        tok = tok.strip()
        if not (tok.startswith("{") and tok.endswith("}")):
            fail("expected a vector operand {...} in %r" % ptx)
        return [t for t in split_top(tok[1:-1], ",")]

    def tensor_operand(tok, mn, ins):   # [tensor map, {c0, c1, ...}]: rank (the mnemonic's .Nd), map, coordinates
        rank = int(re.search(r"\.(\d)d\.", mn).group(1))
        tok = tok.strip()
        parts = split_top(tok[1:-1], ",") if tok.startswith("[") and tok.endswith("]") else []
        if len(parts) != 2:
            fail("expected [tensor map, {coordinates}] in %r" % ins)
        coords = vec(parts[1])
        if len(coords) != rank:
            fail("%s with %d coordinates in %r" % (mn, len(coords), ins))
        return rank, parts[0], coords

    def addr(tok):
        tok = tok.strip()
        if not (tok.startswith("[") and tok.endswith("]")):
            fail("expected an address operand [...] in %r" % ptx)
        return val(tok[1:-1])

    calls, preds = [], {}
    for ins in ptx.split(";"):
        ins = re.sub(r"^\s*\{\s*\n", "", ins)      # a scope { ... } around the instructions
        ins = " ".join(ins.split())
        if not ins or ins == "}":
            continue
        mn, _, rest = ins.partition(" ")
        ops = [o.strip() for o in split_top(rest, ",")] if rest else []
        if re.fullmatch(r"cp\.async\.c[ag](\.shared(::cta)?\.global)(\.L2::\d+B)?", mn):
            src_size = val(ops[3]) if len(ops) > 3 else val(ops[2])
            calls.append("emu_cp_async((uint32_t)%s, (const void *)%s, %s, (int)%s)"
                         % (addr(ops[0]), addr(ops[1]), val(ops[2]), src_size))
        elif mn == "cp.async.commit_group":
            calls.append("emu_cp_async_commit()")
        elif mn == "cp.async.wait_group":
            calls.append("emu_cp_async_wait((int)%s)" % val(ops[0]))
        elif mn == "cp.async.wait_all":
            calls.append("emu_cp_async_commit()")
            calls.append("emu_cp_async_wait(0)")
        elif re.fullmatch(r"(ld|st)matrix\.sync\.aligned\.m8n8\.x[124](\.trans)?\.shared(::cta)?\.b16", mn):
            # ldmatrix {regs}, [addr] writes its registers; stmatrix [addr], {regs} reads them
            load = mn.startswith("ld")
            num = int(re.search(r"\.x(\d)", mn).group(1))
            regs_op, addr_op = (ops[0], ops[1]) if load else (ops[1], ops[0])
            regs = [ref(r) if load else "(uint32_t)" + val(r) for r in vec(regs_op)]
            if len(regs) != num:
                fail("%s .x%d with %d registers" % (mn.split(".")[0], num, len(regs)))
            regs += ["nullptr" if load else "0"] * (4 - num)
            calls.append("emu_%s(%d, %s, (uint32_t)%s, %s)" % ("ldmatrix" if load else "stmatrix", num,
                         "true" if ".trans" in mn else "false", addr(addr_op), ", ".join(regs)))
        elif re.fullmatch(r"mma\.sync\.aligned\.m16n8k16\.row\.col\.f32\.(bf16|f16)\.(bf16|f16)\.f32", mn):
            ab = re.search(r"\.f32\.(bf16|f16)\.", mn).group(1)
            if not mn.endswith(".%s.%s.f32" % (ab, ab)):
                fail("mma with A and B of different types: %s" % mn)
            d, a, b, c = (vec(o) for o in ops)
            if (len(d), len(a), len(b), len(c)) != (4, 4, 2, 4):
                fail("mma.m16n8k16 operands of the wrong lengths in %r" % ins)
            calls.append("emu_mma_m16n8k16(%s, %s, %s, %s, %s)"
                         % ("EMU_BF16" if ab == "bf16" else "EMU_F16", ", ".join(ref(x) for x in d),
                            ", ".join("(uint32_t)" + val(x) for x in a), ", ".join("(uint32_t)" + val(x) for x in b),
                            ", ".join("(float)" + val(x) for x in c)))
        elif re.fullmatch(r"\.reg \.pred \w+", ins):
            preds[ins.split()[-1]] = None
        elif mn == "setp.ne.b32" and len(ops) == 3 and ops[0] in preds and ops[2] == "0":
            preds[ops[0]] = "(%s != 0)" % val(ops[1])
        elif mn in ("wgmma.fence.sync.aligned", "wgmma.commit_group.sync.aligned"):
            calls.append("emu_wgmma_%s()" % ("fence" if "fence" in mn else "commit"))
        elif mn == "wgmma.wait_group.sync.aligned":
            calls.append("emu_wgmma_wait((int)%s)" % val(ops[0]))
        elif re.fullmatch(r"mbarrier\.init\.shared(::cta)?\.b64", mn) and len(ops) == 2:
            calls.append("emu_mbar_init((uint32_t)%s, (int)%s)" % (addr(ops[0]), val(ops[1])))
        elif re.fullmatch(r"mbarrier\.arrive\.shared(::cta)?\.b64", mn) and len(ops) == 2 and ops[0] == "_":
            calls.append("emu_mbar_arrive((uint32_t)%s)" % addr(ops[1]))
        elif re.fullmatch(r"mbarrier\.arrive\.expect_tx\.shared(::cta)?\.b64", mn) and len(ops) == 3 and ops[0] == "_":
            calls.append("emu_mbar_arrive_expect_tx((uint32_t)%s, (int)%s)" % (addr(ops[1]), val(ops[2])))
        elif re.fullmatch(r"mbarrier\.expect_tx\.shared(::cta)?\.b64", mn) and len(ops) == 2:
            calls.append("emu_mbar_expect_tx((uint32_t)%s, (int)%s)" % (addr(ops[0]), val(ops[1])))
        elif re.fullmatch(r"cp\.async\.bulk\.tensor\.[2-5]d\.shared::(cluster|cta)\.global\.tile"
                          r"\.mbarrier::complete_tx::bytes", mn) and len(ops) == 3:
            # [dst], [tensor map, {c0, c1, ...}], [mbarrier]
            rank, tmap, coords = tensor_operand(ops[1], mn, ins)
            calls.append("{ const int32_t emu_tc[] = {%s}; emu_tma_load(%d, (uint32_t)%s, (const void *)(uintptr_t)%s, "
                         "emu_tc, (uint32_t)%s); }" % (", ".join("(int32_t)" + val(x) for x in coords), rank,
                                                       addr(ops[0]), val(tmap), addr(ops[2])))
        elif re.fullmatch(r"cp\.reduce\.async\.bulk\.tensor\.[1-5]d\.global\.shared::cta\.add\.tile\.bulk_group", mn) \
                and len(ops) == 2:
            # [tensor map, {c0, c1, ...}], [src]: the box at src added into the tensor (version 19's dQ)
            rank, tmap, coords = tensor_operand(ops[0], mn, ins)
            calls.append("{ const int32_t emu_tc[] = {%s}; emu_tma_reduce_add(%d, (const void *)(uintptr_t)%s, emu_tc, "
                         "(uint32_t)%s); }" % (", ".join("(int32_t)" + val(x) for x in coords), rank, val(tmap),
                                               addr(ops[1])))
        elif mn == "cp.async.bulk.commit_group" and not ops:
            calls.append("emu_bulk_commit()")
        elif mn in ("cp.async.bulk.wait_group", "cp.async.bulk.wait_group.read") and len(ops) == 1:
            calls.append("emu_bulk_wait((int)%s, %s)" % (val(ops[0]), "true" if mn.endswith(".read") else "false"))
        elif re.fullmatch(r"st\.shared(::cta)?(\.v[24])?\.(f32|b32|u32)", mn) and len(ops) == 2:
            # st.shared [addr], value or {values}: a store of the generic proxy that the emulator tracks
            vals = vec(ops[1]) if ops[1].startswith("{") else [ops[1]]
            want = int(mn.split(".v")[1][0]) if ".v" in mn else 1
            if len(vals) != want:
                fail("%s with %d values in %r" % (mn, len(vals), ins))
            ty = "float" if mn.endswith("f32") else "uint32_t"
            calls.append("{ const %s emu_sv[] = {%s}; emu_st_shared((uint32_t)%s, emu_sv, %d); }"
                         % (ty, ", ".join("(%s)%s" % (ty, val(x)) for x in vals), addr(ops[0]), 4 * want))
        elif re.fullmatch(r"cp\.async\.mbarrier\.arrive\.noinc\.shared(::cta)?\.b64", mn) and len(ops) == 1:
            calls.append("emu_cp_async_mbar_arrive((uint32_t)%s)" % addr(ops[0]))
        elif re.fullmatch(r"mbarrier\.try_wait\.parity\.shared(::cta)?\.b64", mn) and len(ops) == 3 and ops[0] in preds:
            # the predicate becomes a local of the do { } while (0) that the asm statement turns into
            preds[ops[0]] = "emu_pred_" + ops[0]
            calls.append("bool emu_pred_%s = emu_mbar_try_wait((uint32_t)%s, (int)%s)" % (ops[0], addr(ops[1]), val(ops[2])))
        elif re.fullmatch(r"selp\.(u32|s32|b32)", mn) and len(ops) == 4 and preds.get(ops[3]):
            calls.append("*%s = (%s)(%s ? %s : %s)" % (ref(ops[0]), "int32_t" if mn.endswith("s32") else "uint32_t",
                                                       preds[ops[3]], val(ops[1]), val(ops[2])))
        elif mn in ("bar.sync", "barrier.sync", "bar.arrive", "barrier.arrive") and len(ops) in (1, 2) \
                and not (mn.endswith("arrive") and len(ops) == 1):
            calls.append("emu_bar_%s((int)%s, %s)" % (mn.split(".")[1], val(ops[0]),
                                                      "(int)" + val(ops[1]) if len(ops) == 2 else "-1"))
        elif re.fullmatch(r"setmaxnreg\.(inc|dec)\.sync\.aligned\.u32", mn) and len(ops) == 1:
            calls.append("emu_setmaxnreg(%s, (int)%s)" % ("true" if ".inc." in mn else "false", val(ops[0])))
        elif mn == "ex2.approx.ftz.f32" and len(ops) == 2:
            calls.append("*%s = emu_ex2_approx_ftz(%s)" % (ref(ops[0]), val(ops[1])))
        elif mn in ("fence.proxy.async", "fence.proxy.async.shared::cta"):
            calls.append("emu_fence_proxy_async()")
        elif re.fullmatch(r"wgmma\.mma_async\.sync\.aligned\.m64n\d+k16\.f32\.(bf16|f16)\.(bf16|f16)", mn):
            n = int(re.search(r"\.m64n(\d+)k16", mn).group(1))
            ab = mn.split(".")[-1]
            if not mn.endswith(".%s.%s" % (ab, ab)):
                fail("wgmma with A and B of different types: %s" % mn)
            d = vec(ops[0])
            if len(d) != n // 2:
                fail("wgmma .m64n%dk16 with %d accumulator registers (N/2 = %d) in %r" % (n, len(d), n // 2, ins))
            a_reg = ops[1].startswith("{")
            rest = ops[3:]
            if len(rest) != (4 if a_reg else 5):
                fail("wgmma with the wrong number of scale and transpose operands in %r" % ins)
            sd = rest[0]
            scale_d = (preds[sd] if preds.get(sd) else fail("the predicate %s of %r is not set" % (sd, ins))) \
                if sd in preds else val(sd)
            trans = ["0", rest[3]] if a_reg else rest[3:5]
            pre = "float *emu_wd[] = {%s}; " % ", ".join(ref(x) for x in d)
            if a_reg:
                a = vec(ops[1])
                if len(a) != 4:
                    fail("wgmma with A in %d registers (4) in %r" % (len(a), ins))
                pre += "const uint32_t emu_wa[] = {%s}; " % ", ".join("(uint32_t)" + val(x) for x in a)
                pre += "const uint32_t *emu_wa_at[] = {%s}; " % ", ".join(
                    "(const uint32_t *)emu_lvalue_at(%s)" % val(x) for x in a)
            calls.append("{ %semu_wgmma_mma(%s, %d, emu_wd, %s, %s, %s, (uint64_t)%s, (int)%s, %s, %s, %s, %s); }"
                         % (pre, "EMU_BF16" if ab == "bf16" else "EMU_F16", n, "emu_wa" if a_reg else "nullptr",
                            "emu_wa_at" if a_reg else "nullptr",
                            "0" if a_reg else "(uint64_t)" + val(ops[1]), val(ops[2]), scale_d, val(rest[1]),
                            val(rest[2]), val(trans[0]), val(trans[1])))
        else:
            calls.append("emu_unsupported(%s)" % c_str(ins))
    return "do { %s; } while (0)" % "; ".join(calls) if calls else "do { } while (0)"


def c_str(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def rewrite_asm(src):
    out, i = [], 0
    for m in re.finditer(r"\basm\s*(?:volatile\s*|__volatile__\s*)?\(", src):
        if m.start() < i:
            continue
        open_ = m.end() - 1
        close = match_close(src, open_)
        out.append(src[i:m.start()])
        out.append(translate_asm(src[open_ + 1:close]) + "\n" * src.count("\n", m.start(), close))
        i = close + 1
    out.append(src[i:])
    return "".join(out)


# ---- launches and shared memory ----------------------------------------------------

def rewrite_launches(src):
    while True:
        k = src.find("<<<")
        if k < 0:
            return src
        j = k
        while src[j - 1].isspace():
            j -= 1
        if src[j - 1] == ">":                      # kern<T, 64>: back to the matching <
            depth, j = 0, j - 1
            while True:
                if src[j] == ">":
                    depth += 1
                elif src[j] == "<":
                    depth -= 1
                    if depth == 0:
                        break
                j -= 1
        while src[j - 1].isalnum() or src[j - 1] in "_:":
            j -= 1
        callee = src[j:k].strip()
        e = src.find(">>>", k)
        config = [c.strip() for c in split_top(src[k + 3:e], ",")]
        if not 2 <= len(config) <= 4:
            fail("a launch with %d configuration arguments: %s" % (len(config), src[j:e + 3]))
        config += ["0"] * (4 - len(config))
        p = e + 3
        while src[p].isspace():
            p += 1
        if src[p] != "(":
            fail("a launch without arguments: %s" % src[j:p + 1])
        q = match_close(src, p)
        args = src[p + 1:q].strip()
        call = "emu_launch(%s, %s, %s, %s, %s, %s%s)" % (c_str(" ".join(callee.split())), callee, config[0], config[1],
                                                        config[2], config[3], ", " + args if args else "")
        src = src[:j] + call + "\n" * src.count("\n", j, q) + src[q + 1:]


def rewrite_shared(src):
    src = re.sub(r"extern\s+__shared__\s+(?:__align__\s*\(\s*\d+\s*\)\s+)?([\w ]+?)\s*(?:__align__\s*\(\s*\d+\s*\)\s*)?"
                 r"(\w+)\s*\[\s*\]\s*;",
                 lambda m: "%s *%s = (%s *)emu_dynamic_smem();" % (m.group(1), m.group(2), m.group(1)), src)
    return re.sub(r"\b__shared__\b", "static", src)


def rewrite(src):
    return rewrite_launches(rewrite_shared(rewrite_asm(src)))


def internal_text(path):
    src = open(path).read()
    src = re.sub(r"^#include <(cublasLt|cublas_v2|cuda_bf16|cuda_fp16|cuda_runtime|cuda|cudaTypedefs)\.h>\n", "", src,
                 flags=re.M)
    src = re.sub(r'#define _Noreturn.*?\nextern "C" \{.*?\}\n#undef _Noreturn\n', "", src, flags=re.S)
    if "extern \"C\"" in src:
        fail("%s: its extern \"C\" include block has changed; update gen.py's internal_text" % path)
    return src


def main(argv):
    if argv[1:] == ["--list-mutations"]:
        for k, (what, _, _) in MUTATIONS.items():
            print("%-11s %s" % (k, what))
        return
    args, prefix, mutate = [], None, None
    it = iter(argv[1:])
    for a in it:
        if a == "--prefix":
            prefix = next(it)
        elif a == "--mutate":
            mutate = next(it)
        else:
            args.append(a)
    if len(args) != 3 or not prefix:
        fail("usage: gen.py FLASH_CU INTERNAL_CUH OUT_CPP --prefix NAME [--mutate M]")
    flash, internal, out = args
    src = open(flash).read()
    applied = 1
    if mutate:
        if mutate not in MUTATIONS:
            fail("no mutation %r (--list-mutations)" % mutate)
        _, old, new = MUTATIONS[mutate]
        if old in src:                 # the first occurrence (version 2's, where a later version repeats it)
            src = src.replace(old, new, 1)
        else:
            applied = 0
            print("gen.py: mutation %s does not match %s: not applied" % (mutate, flash), file=sys.stderr)
    mv = re.search(r"version\s*<\s*1\s*\|\|\s*version\s*>\s*(\d+)([^\n]*)", src)
    versions = int(mv.group(1)) if mv else 3
    missing = 0                        # versions below that flash_check refuses too (version == N on its line)
    for n in re.findall(r"\|\|\s*version\s*==\s*(\d+)", mv.group(2) if mv else ""):
        missing |= 1 << int(n)
    # the driver API's headers (TMA's tensor maps): emu.h has what is needed of them
    src = re.sub(r"^#include <(cuda|cudaTypedefs)\.h>\n", "\n", src, flags=re.M)
    inc = '#include "internal.cuh"\n'
    if src.count(inc) != 1:
        fail('%s does not include "internal.cuh" once' % flash)
    line = src[:src.index(inc)].count("\n") + 2
    src = src.replace(inc, '#line 1 "%s"\n%s#line %d "%s"\n' % (internal, internal_text(internal), line, flash))
    entries = sorted(set(re.findall(r'extern "C"[^(;{]*?\b(\w+)\s*\(', src)))
    for e in entries:
        src = re.sub(r"\b%s\b" % e, "%s_%s" % (prefix, e), src)
    src = rewrite(src)
    guard = "" if applied else "    die(\"flashemu: mutation %s does not apply to %s\");\n" % (mutate, os.path.basename(flash))
    if not applied:                    # the entry points stop at once
        src = re.sub(r'(extern "C"[^;{]*?\)\s*\{\n)', lambda m: m.group(1) + guard, src)
    with open(out + ".tmp", "w") as f:
        f.write("/* generated by tools/flashemu/gen.py from %s (%s)%s: do not edit */\n"
                % (flash, internal, " with mutation " + mutate if mutate else ""))
        f.write('#include "emu.h"\n\nnamespace %s {\n#line 1 "%s"\n' % (prefix, flash))
        f.write(src)
        f.write("\n}  // namespace %s\n\n" % prefix)
        f.write('extern "C" const int %s_mutation_applied = %d;\n' % (prefix, applied))
        f.write('extern "C" const int %s_versions = %d;\n' % (prefix, versions))
        f.write('extern "C" const int %s_versions_missing = %d;\n' % (prefix, missing))
        f.write('extern "C" void *%s_gpu(void) {\n    static %s::Gpu g{};\n    g.info.major = 9, g.info.minor = 0;   '
                '/* an H200 */\n    g.info.sms = 2, g.info.l2 = 1 << 20;   /* version 20 takes groups of 2 on 3 heads of 260; version 21 launches 2 blocks */\n    return &g;\n}\n' % (prefix, prefix))
    os.replace(out + ".tmp", out)


if __name__ == "__main__":
    main(sys.argv)
