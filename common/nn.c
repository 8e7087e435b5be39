/* nn.c -- see nn.h.  Plain loops, written to be read beside chapter 3. */
#include "nn.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "matmul.h"
#include "util.h"

/* ---- Embedding ---------------------------------------------------------------- */

void embedding_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                       int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            float *o = out + ((size_t)b * T + t) * C;
            const float *e = wte + (size_t)tokens[b * T + t] * C;
            const float *p = wpe ? wpe + (size_t)t * C : NULL;
            for (int c = 0; c < C; c++) o[c] = e[c] + (p ? p[c] : 0.0f);
        }
}

void embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                        int B, int T, int C) {
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *d = dout + ((size_t)b * T + t) * C;
            if (dwte) {
                float *e = dwte + (size_t)tokens[b * T + t] * C;
                for (int c = 0; c < C; c++) e[c] += d[c];
            }
            if (dwpe) {
                float *p = dwpe + (size_t)t * C;
                for (int c = 0; c < C; c++) p[c] += d[c];
            }
        }
}

/* ---- Linear ------------------------------------------------------------------- */

void linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int C, int OC) {
    matmul_f32(false, true, N, OC, C, 1.0f, inp, C, weight, C, 0.0f, out, OC);
    if (bias)
        for (int n = 0; n < N; n++)
            for (int o = 0; o < OC; o++) out[(size_t)n * OC + o] += bias[o];
}

void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int C, int OC) {
    if (dinp)     /* dinp[N,C] += dout[N,OC] @ weight[OC,C] */
        matmul_f32(false, false, N, C, OC, 1.0f, dout, OC, weight, C, 1.0f, dinp, C);
    if (dweight)  /* dweight[OC,C] += dout^T @ inp */
        matmul_f32(true, false, OC, C, N, 1.0f, dout, OC, inp, C, 1.0f, dweight, C);
    if (dbias)
        for (int o = 0; o < OC; o++) {
            double s = 0;
            for (int n = 0; n < N; n++) s += dout[(size_t)n * OC + o];
            dbias[o] += (float)s;
        }
}

/* ---- Layer norm and RMS norm ---------------------------------------------------- */

void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        double s = 0, ss = 0;
        for (int c = 0; c < C; c++) s += x[c];
        double mu = s / C;
        for (int c = 0; c < C; c++) ss += (x[c] - mu) * (x[c] - mu);
        float r = (float)(1.0 / sqrt(ss / C + NN_NORM_EPS));
        float m = (float)mu;
        float *y = out + (size_t)n * C;
        for (int c = 0; c < C; c++) y[c] = (x[c] - m) * r * weight[c] + (bias ? bias[c] : 0.0f);
        if (mean) mean[n] = m;
        if (rstd) rstd[n] = r;
    }
}

void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        float m = mean[n], r = rstd[n];
        /* xhat = (x - m) r;  g = dy * w;  dx = r (g - mean(g) - xhat mean(g xhat)) */
        double sg = 0, sgx = 0;
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - m) * r, g = dy[c] * weight[c];
            sg += g;
            sgx += g * xhat;
            if (dweight) dweight[c] += dy[c] * xhat;
            if (dbias) dbias[c] += dy[c];
        }
        if (!dinp) continue;
        float mg = (float)(sg / C), mgx = (float)(sgx / C);
        float *dx = dinp + (size_t)n * C;
        for (int c = 0; c < C; c++) {
            float xhat = (x[c] - m) * r;
            dx[c] += r * (dy[c] * weight[c] - mg - xhat * mgx);
        }
    }
}

void rmsnorm_forward(float *out, float *rrms, const float *inp, const float *weight, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C;
        double ss = 0;
        for (int c = 0; c < C; c++) ss += (double)x[c] * x[c];
        float r = (float)(1.0 / sqrt(ss / C + NN_NORM_EPS));
        float *y = out + (size_t)n * C;
        for (int c = 0; c < C; c++) y[c] = x[c] * r * weight[c];
        if (rrms) rrms[n] = r;
    }
}

void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                      const float *weight, const float *rrms, int N, int C) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * C, *dy = dout + (size_t)n * C;
        float r = rrms[n];
        /* xhat = x r;  g = dy * w;  dx = r (g - xhat mean(g xhat)) */
        double sgx = 0;
        for (int c = 0; c < C; c++) {
            float xhat = x[c] * r;
            sgx += dy[c] * weight[c] * xhat;
            if (dweight) dweight[c] += dy[c] * xhat;
        }
        if (!dinp) continue;
        float mgx = (float)(sgx / C);
        float *dx = dinp + (size_t)n * C;
        for (int c = 0; c < C; c++) dx[c] += r * (dy[c] * weight[c] - x[c] * r * mgx);
    }
}

/* ---- Pointwise ---------------------------------------------------------------- */

#define GELU_K 0.7978845608028654f   /* sqrt(2/pi) */

void gelu_forward(float *out, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + tanhf(GELU_K * (x + 0.044715f * x * x * x)));
    }
}

void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        float u = GELU_K * (x + 0.044715f * x * x * x);
        float th = tanhf(u);
        float du = GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        float d = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du;
        dinp[i] += d * dout[i];
    }
}

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

void swiglu_forward(float *out, const float *inp, int N, int H) {
    for (int n = 0; n < N; n++) {
        const float *g = inp + (size_t)n * 2 * H, *u = g + H;
        float *y = out + (size_t)n * H;
        for (int h = 0; h < H; h++) y[h] = g[h] * sigmoidf(g[h]) * u[h];
    }
}

void swiglu_backward(float *dinp, const float *dout, const float *inp, int N, int H) {
    for (int n = 0; n < N; n++) {
        const float *g = inp + (size_t)n * 2 * H, *u = g + H, *dy = dout + (size_t)n * H;
        float *dg = dinp + (size_t)n * 2 * H, *du = dg + H;
        for (int h = 0; h < H; h++) {
            float s = sigmoidf(g[h]);
            float silu = g[h] * s;
            dg[h] += dy[h] * u[h] * s * (1.0f + g[h] * (1.0f - s));
            du[h] += dy[h] * silu;
        }
    }
}

void residual_forward(float *out, const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

void residual_backward(float *da, float *db, const float *dout, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (da) da[i] += dout[i];
        if (db) db[i] += dout[i];
    }
}

/* ---- Softmax and cross-entropy ------------------------------------------------ */

void softmax_forward(float *out, const float *inp, int N, int V) {
    for (int n = 0; n < N; n++) {
        const float *x = inp + (size_t)n * V;
        float *y = out + (size_t)n * V;
        float mx = -INFINITY;
        for (int i = 0; i < V; i++) mx = fmaxf(mx, x[i]);
        double s = 0;
        for (int i = 0; i < V; i++) s += (y[i] = expf(x[i] - mx));
        float inv = (float)(1.0 / s);
        for (int i = 0; i < V; i++) y[i] *= inv;
    }
}

void softmax_backward(float *dinp, const float *dout, const float *out, int N, int V) {
    for (int n = 0; n < N; n++) {
        const float *y = out + (size_t)n * V, *dy = dout + (size_t)n * V;
        double dot = 0;
        for (int i = 0; i < V; i++) dot += (double)dy[i] * y[i];
        float *dx = dinp + (size_t)n * V;
        for (int i = 0; i < V; i++) dx[i] += y[i] * (dy[i] - (float)dot);
    }
}

float cross_entropy_forward(float *losses, float *lse, const float *logits,
                            const int32_t *targets, int N, int V) {
    double total = 0;
    int count = 0;
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float mx = -INFINITY;
        for (int i = 0; i < V; i++) mx = fmaxf(mx, x[i]);
        double s = 0;
        for (int i = 0; i < V; i++) s += exp((double)(x[i] - mx));
        float l = mx + (float)log(s);
        if (lse) lse[n] = l;
        float loss = targets[n] >= 0 ? l - x[targets[n]] : 0.0f;
        if (losses) losses[n] = loss;
        if (targets[n] >= 0) { total += loss; count++; }
    }
    return count ? (float)(total / count) : 0.0f;
}

void cross_entropy_backward(float *dlogits, const float *logits, const float *lse,
                            const int32_t *targets, float dloss, int N, int V) {
    bool inplace = dlogits == logits;
    for (int n = 0; n < N; n++) {
        const float *x = logits + (size_t)n * V;
        float *dx = dlogits + (size_t)n * V;
        int tgt = targets[n];
        float l = lse[n];
        for (int i = 0; i < V; i++) {
            float g = tgt < 0 ? 0.0f : dloss * (expf(x[i] - l) - (i == tgt ? 1.0f : 0.0f));
            dx[i] = inplace ? g : dx[i] + g;
        }
    }
}

/* ---- Causal self-attention ------------------------------------------------------ */

void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH) {
    int hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float *q = qkv + ((size_t)b * T + t) * 3 * C + h * hs;
                float *a = att + (((size_t)b * NH + h) * T + t) * T;
                float mx = -INFINITY;
                for (int u = 0; u <= t; u++) {
                    const float *k = qkv + ((size_t)b * T + u) * 3 * C + C + h * hs;
                    float s = 0;
                    for (int i = 0; i < hs; i++) s += q[i] * k[i];
                    a[u] = s * scale;
                    mx = fmaxf(mx, a[u]);
                }
                double sum = 0;
                for (int u = 0; u <= t; u++) sum += (a[u] = expf(a[u] - mx));
                float inv = (float)(1.0 / sum);
                for (int u = 0; u <= t; u++) a[u] *= inv;
                for (int u = t + 1; u < T; u++) a[u] = 0.0f;
                float *o = out + ((size_t)b * T + t) * C + h * hs;
                for (int i = 0; i < hs; i++) o[i] = 0.0f;
                for (int u = 0; u <= t; u++) {
                    const float *v = qkv + ((size_t)b * T + u) * 3 * C + 2 * C + h * hs;
                    for (int i = 0; i < hs; i++) o[i] += a[u] * v[i];
                }
            }
}

void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        int B, int T, int C, int NH) {
    int hs = C / NH;
    float scale = 1.0f / sqrtf((float)hs);
    float *da = xmalloc((size_t)T * sizeof(float));
    for (int b = 0; b < B; b++)
        for (int h = 0; h < NH; h++)
            for (int t = 0; t < T; t++) {
                const float *a = att + (((size_t)b * NH + h) * T + t) * T;
                const float *dy = dout + ((size_t)b * T + t) * C + h * hs;
                const float *q = qkv + ((size_t)b * T + t) * 3 * C + h * hs;
                float *dq = dqkv + ((size_t)b * T + t) * 3 * C + h * hs;
                /* out = a v:  da[u] = dy . v_u,  dv_u += a[u] dy */
                double dot = 0;
                for (int u = 0; u <= t; u++) {
                    const float *v = qkv + ((size_t)b * T + u) * 3 * C + 2 * C + h * hs;
                    float *dv = dqkv + ((size_t)b * T + u) * 3 * C + 2 * C + h * hs;
                    float s = 0;
                    for (int i = 0; i < hs; i++) { s += dy[i] * v[i]; dv[i] += a[u] * dy[i]; }
                    da[u] = s;
                    dot += (double)s * a[u];
                }
                /* through the softmax, then s = scale q . k_u */
                for (int u = 0; u <= t; u++) {
                    float ds = a[u] * (da[u] - (float)dot) * scale;
                    const float *k = qkv + ((size_t)b * T + u) * 3 * C + C + h * hs;
                    float *dk = dqkv + ((size_t)b * T + u) * 3 * C + C + h * hs;
                    for (int i = 0; i < hs; i++) { dq[i] += ds * k[i]; dk[i] += ds * q[i]; }
                }
            }
    free(da);
}

/* ---- AdamW and the gradient norm ------------------------------------------------ */

void adamw_update(float *param, const float *grad, float *m, float *v, size_t n,
                  const AdamW *opt, int step, float grad_scale) {
    float c1 = 1.0f - powf(opt->beta1, (float)step), c2 = 1.0f - powf(opt->beta2, (float)step);
    for (size_t i = 0; i < n; i++) {
        float g = grad[i] * grad_scale;
        m[i] = opt->beta1 * m[i] + (1.0f - opt->beta1) * g;
        v[i] = opt->beta2 * v[i] + (1.0f - opt->beta2) * g * g;
        float mhat = m[i] / c1, vhat = v[i] / c2;
        param[i] -= opt->lr * (mhat / (sqrtf(vhat) + opt->eps) + opt->weight_decay * param[i]);
    }
}

double grad_norm_squared(const float *g, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)g[i] * g[i];
    return s;
}

float clip_scale(double norm, float max_norm) {
    double s = max_norm / (norm + 1e-6);
    return s < 1.0 ? (float)s : 1.0f;
}
