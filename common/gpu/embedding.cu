/* embedding.cu -- token + position embedding.  The forward pass gathers rows;
 * the backward pass sorts the batch's tokens (CUB's radix sort, stable) and
 * sums each token's rows of the gradient in f32, in a fixed order, so its
 * result is the same bits on every run.  See gpu.h. */
#include <cub/device/device_radix_sort.cuh>

#include "internal.cuh"

template <typename T, bool VEC> __global__ void embedding_fwd_kernel(T *out, const int32_t *tokens, const T *wte,
                                                                    const T *wpe, int BT, int T_, int C) {
    constexpr int P = VEC ? Pack<T>::N : 1;
    size_t i = (blockIdx.x * (size_t)blockDim.x + threadIdx.x) * P;
    if (i >= (size_t)BT * C) return;
    int row = (int)(i / C), c = (int)(i % C);
    const T *e = wte + (size_t)tokens[row] * C + c, *p = wpe ? wpe + (size_t)(row % T_) * C + c : NULL;
    if (VEC) {
        Pack<T> a = load_pack(e), b, o;
        if (p) b = load_pack(p);
#pragma unroll
        for (int k = 0; k < Pack<T>::N; k++) o.v[k] = fromf<T>(tof(a.v[k]) + (p ? tof(b.v[k]) : 0.0f));
        store_pack(out + i, o);
    } else {
        out[i] = fromf<T>(tof(*e) + (p ? tof(*p) : 0.0f));
    }
}

extern "C" void embedding_forward_cuda(Gpu *g, DType dt, void *out, const int32_t *tokens, const void *wte,
                                       const void *wpe, int B, int T, int C) {
    size_t n = (size_t)B * T * C;
    if (n == 0) return;
    DISPATCH(dt, Ty, {
        if (C % Pack<Ty>::N == 0 && aligned16(out) && aligned16(wte) && (!wpe || aligned16(wpe)))
            embedding_fwd_kernel<Ty, true><<<blocks_for(n / Pack<Ty>::N, 256), 256, 0, g->stream>>>(
                (Ty *)out, tokens, (const Ty *)wte, (const Ty *)wpe, B * T, T, C);
        else
            embedding_fwd_kernel<Ty, false><<<blocks_for(n, 256), 256, 0, g->stream>>>(
                (Ty *)out, tokens, (const Ty *)wte, (const Ty *)wpe, B * T, T, C);
        LAUNCH_CHECK("embedding_forward");
    })
}

/* ---- The sort ------------------------------------------------------------------------------
 * A sort of BT tokens is one buffer: keys[BT] (the tokens in ascending
 * order), rows[BT] (the row of the batch each came from; equal tokens in row
 * order, since the radix sort is stable), iota[BT] (0, 1, ..., the sort's
 * input), then CUB's temporary storage; each part 256-byte aligned. */

static size_t align256(size_t x) { return (x + 255) / 256 * 256; }

static size_t cub_sort_bytes(int BT, int bits) {
    size_t bytes = 0;
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(NULL, bytes, (const uint32_t *)NULL, (uint32_t *)NULL,
                                               (const int32_t *)NULL, (int32_t *)NULL, BT, 0, bits));
    return bytes;
}

extern "C" size_t embedding_sort_bytes(int BT) {
    if (BT < 1) BT = 1;
    return 3 * align256((size_t)BT * sizeof(int32_t)) + align256(cub_sort_bytes(BT, 32));
}

__global__ void iota_kernel(int32_t *x, int n) {
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) x[i] = i;
}

static void sort_tokens(Gpu *g, void *sort, const int32_t *tokens, int BT, int bits) {
    size_t part = align256((size_t)BT * sizeof(int32_t));
    int32_t *keys = (int32_t *)sort, *rows = (int32_t *)((char *)sort + part), *iota = (int32_t *)((char *)sort + 2 * part);
    void *temp = (char *)sort + 3 * part;
    size_t temp_bytes = cub_sort_bytes(BT, bits);
    if (temp_bytes > align256(cub_sort_bytes(BT, 32))) die("embedding_sort_cuda: CUB wants more memory than was sized");
    iota_kernel<<<blocks_for(BT, 256), 256, 0, g->stream>>>(iota, BT);
    LAUNCH_CHECK("iota");
    /* tokens are ids in [0, V), so as unsigned integers they sort the same */
    CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, temp_bytes, (const uint32_t *)tokens, (uint32_t *)keys, iota, rows,
                                               BT, 0, bits, g->stream));
}

extern "C" void embedding_sort_cuda(Gpu *g, void *sort, const int32_t *tokens, int BT, int V) {
    if (BT <= 0) return;
    if (V < 1) die("embedding_sort_cuda: vocabulary size %d", V);
    int bits = 1;
    while (bits < 31 && ((uint32_t)(V - 1) >> bits) != 0) bits++;
    sort_tokens(g, sort, tokens, BT, bits);
}

/* ---- The backward pass ---------------------------------------------------------------------
 * dwte: the sorted order is cut into tiles of ETILE consecutive entries,
 * and a warp takes one tile and 32 packs of columns (lane l the pack
 * blockIdx.y * 32 + l).  It loads every row of its tile first (ETILE loads
 * in flight per lane), then walks them in order, summing in f32, and at the
 * end of each token's run (a segment) within the tile:
 *   - a segment wholly inside the tile is added into dwte by this warp, the
 *     only one that holds that token;
 *   - a segment cut by the tile's edge leaves its partial sum in
 *     partials[tile][slot]: slot 0 for the one that began in an earlier
 *     tile (it may fill the tile), slot 1 for the one that begins here and
 *     runs on;
 * then a second kernel gives each cut segment to the tile where it begins,
 * which adds its slot 1 and the following tiles' slot 0 in order.  Every sum
 * is taken in one fixed order: the result does not depend on timing.
 * dwpe: a thread per (position, pack of columns) sums the B rows of that
 * position in order. */
#define ETILE 8

template <typename T, bool VEC>
__global__ void __launch_bounds__(256) embedding_bwd_tiles(T *dwte, float *partials, const T *dout, const int32_t *keys,
                                                           const int32_t *rows, int BT, int C) {
    constexpr int P = VEC ? Pack<T>::N : 1;
    int tile = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, i0 = tile * ETILE;
    if (i0 >= BT) return;
    int i1 = min(BT, i0 + ETILE), cp = blockIdx.y * 32 + threadIdx.x % 32;
    bool active = cp < C / P;
    Pack<T> raw[ETILE];  /* the scalar path uses v[0] */
#pragma unroll
    for (int r = 0; r < ETILE; r++) {
        if (active && i0 + r < i1) {
            const T *src = dout + (size_t)rows[i0 + r] * C + (size_t)cp * P;
            if (VEC) raw[r] = load_pack(src);
            else raw[r].v[0] = *src;
        }
    }
    float acc[P];
#pragma unroll
    for (int j = 0; j < P; j++) acc[j] = 0.0f;
    int first = i0;  /* where the current segment's part in this tile begins */
#pragma unroll
    for (int r = 0; r < ETILE; r++) {
        int i = i0 + r;
        if (i >= i1) break;
#pragma unroll
        for (int j = 0; j < P; j++) acc[j] += tof(raw[r].v[j]);
        int key = keys[i];
        bool ends = i + 1 == BT || keys[i + 1] != key;
        if (!ends && i + 1 < i1) continue;
        bool starts = first == 0 || keys[first - 1] != key;
        if (active) {
            if (starts && ends) {
                T *dst = dwte + (size_t)key * C + (size_t)cp * P;
                if (VEC) {
                    Pack<T> o = load_pack(dst);
#pragma unroll
                    for (int j = 0; j < P; j++) o.v[j] = fromf<T>(tof(o.v[j]) + acc[j]);
                    store_pack(dst, o);
                } else {
                    dst[0] = fromf<T>(tof(dst[0]) + acc[0]);
                }
            } else {
                float *dst = partials + ((size_t)tile * 2 + (starts ? 1 : 0)) * C + (size_t)cp * P;
#pragma unroll
                for (int j = 0; j < P; j++) dst[j] = acc[j];
            }
        }
#pragma unroll
        for (int j = 0; j < P; j++) acc[j] = 0.0f;
        first = i + 1;
    }
}

template <typename T, bool VEC>
__global__ void embedding_bwd_fixup(T *dwte, const float *partials, const int32_t *keys, int BT, int C) {
    constexpr int P = VEC ? Pack<T>::N : 1;
    int tile = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, i0 = tile * ETILE;
    if (i0 >= BT) return;
    int i1 = min(BT, i0 + ETILE), key = keys[i1 - 1], cp = blockIdx.y * 32 + threadIdx.x % 32;
    if (i1 == BT || keys[i1] != key) return;                      /* the last segment ends in this tile */
    if (i0 > 0 && keys[i0] == key && keys[i0 - 1] == key) return; /* it began in an earlier tile */
    if (cp >= C / P) return;
    /* the segment's last tile: the keys are sorted, so a binary search finds
     * its end, and the tiles' partial sums can then all be in flight at
     * once (a token that is one in ten of a batch of 16384 spans 200 tiles) */
    int lo = i1, hi = BT;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (keys[mid] > key) hi = mid;
        else lo = mid + 1;
    }
    int last = (lo - 1) / ETILE;
    float acc[P];
    const float *src = partials + ((size_t)tile * 2 + 1) * C + (size_t)cp * P;
#pragma unroll
    for (int j = 0; j < P; j++) acc[j] = src[j];
#pragma unroll 8
    for (int u = tile + 1; u <= last; u++) {
        src = partials + (size_t)u * 2 * C + (size_t)cp * P;
#pragma unroll
        for (int j = 0; j < P; j++) acc[j] += src[j];
    }
    T *dst = dwte + (size_t)key * C + (size_t)cp * P;
#pragma unroll
    for (int j = 0; j < P; j++) dst[j] = fromf<T>(tof(dst[j]) + acc[j]);
}

template <typename T, bool VEC> __global__ void embedding_bwd_pos(T *dwpe, const T *dout, int B, int T_, int C) {
    constexpr int P = VEC ? Pack<T>::N : 1;
    int ncp = C / P;
    size_t idx = blockIdx.x * (size_t)blockDim.x + threadIdx.x;
    if (idx >= (size_t)T_ * ncp) return;
    int t = (int)(idx / ncp), cp = (int)(idx % ncp);
    float acc[P];
#pragma unroll
    for (int j = 0; j < P; j++) acc[j] = 0.0f;
#pragma unroll 4
    for (int b = 0; b < B; b++) {
        const T *src = dout + ((size_t)b * T_ + t) * C + (size_t)cp * P;
        if (VEC) {
            Pack<T> a = load_pack(src);
#pragma unroll
            for (int j = 0; j < P; j++) acc[j] += tof(a.v[j]);
        } else {
            acc[0] += tof(*src);
        }
    }
    T *dst = dwpe + (size_t)t * C + (size_t)cp * P;
#pragma unroll
    for (int j = 0; j < P; j++) dst[j] = fromf<T>(tof(dst[j]) + acc[j]);
}

static size_t partials_bytes(int BT, int C) { return (size_t)((BT + ETILE - 1) / ETILE) * 2 * C * sizeof(float); }

static void backward_sorted(Gpu *g, DType dt, void *dwte, void *dwpe, const void *dout, const void *sort,
                            float *partials, int B, int T, int C) {
    int BT = B * T;
    size_t part = align256((size_t)BT * sizeof(int32_t));
    const int32_t *keys = (const int32_t *)sort, *rows = (const int32_t *)((const char *)sort + part);
    int ntiles = (BT + ETILE - 1) / ETILE;
    DISPATCH(dt, Ty, {
        bool vec = C % Pack<Ty>::N == 0 && aligned16(dout) && (!dwte || aligned16(dwte)) && (!dwpe || aligned16(dwpe));
        int P = vec ? Pack<Ty>::N : 1, ncp = C / P;
        if (dwte) {
            dim3 grid(blocks_for(ntiles, 8), blocks_for(ncp, 32));
            if (vec) {
                embedding_bwd_tiles<Ty, true><<<grid, 256, 0, g->stream>>>((Ty *)dwte, partials, (const Ty *)dout, keys, rows, BT, C);
                LAUNCH_CHECK("embedding_backward (tiles)");
                embedding_bwd_fixup<Ty, true><<<grid, 256, 0, g->stream>>>((Ty *)dwte, partials, keys, BT, C);
            } else {
                embedding_bwd_tiles<Ty, false><<<grid, 256, 0, g->stream>>>((Ty *)dwte, partials, (const Ty *)dout, keys, rows, BT, C);
                LAUNCH_CHECK("embedding_backward (tiles)");
                embedding_bwd_fixup<Ty, false><<<grid, 256, 0, g->stream>>>((Ty *)dwte, partials, keys, BT, C);
            }
            LAUNCH_CHECK("embedding_backward (cut segments)");
        }
        if (dwpe) {
            size_t threads = (size_t)T * ncp;
            if (vec) embedding_bwd_pos<Ty, true><<<blocks_for(threads, 256), 256, 0, g->stream>>>((Ty *)dwpe, (const Ty *)dout, B, T, C);
            else embedding_bwd_pos<Ty, false><<<blocks_for(threads, 256), 256, 0, g->stream>>>((Ty *)dwpe, (const Ty *)dout, B, T, C);
            LAUNCH_CHECK("embedding_backward (positions)");
        }
    })
}

extern "C" void embedding_backward_sorted_cuda(Gpu *g, DType dt, void *dwte, void *dwpe, const void *dout,
                                               const void *sort, int B, int T, int C) {
    if ((size_t)B * T * C == 0) return;
    float *partials = dwte ? (float *)scratch(g, partials_bytes(B * T, C)) : NULL;
    backward_sorted(g, dt, dwte, dwpe, dout, sort, partials, B, T, C);
}

extern "C" void embedding_backward_cuda(Gpu *g, DType dt, void *dwte, void *dwpe, const void *dout,
                                        const int32_t *tokens, int B, int T, int C) {
    int BT = B * T;
    if ((size_t)BT * C == 0) return;
    if (!dwte) return backward_sorted(g, dt, NULL, dwpe, dout, NULL, NULL, B, T, C);
    size_t sort_bytes = align256(embedding_sort_bytes(BT));
    char *buf = (char *)scratch(g, sort_bytes + partials_bytes(BT, C));
    sort_tokens(g, buf, tokens, BT, 31);  /* the vocabulary size is not known here: every bit of an id */
    backward_sorted(g, dt, dwte, dwpe, dout, buf, (float *)(buf + sort_bytes), B, T, C);
}
