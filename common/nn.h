/* nn.h -- the layers the book trains, forward and backward, on the CPU.
 *
 * These are the reference implementations: plain loops in f32 (accumulating
 * in double where a sum runs over a long row), except the matrix multiplies,
 * which go through matmul_f32.  Chapter 3 derives every backward pass here
 * and tests that its own plain versions agree with these; the CUDA kernels of
 * gpu.h have the same arguments and are tested against these.
 *
 * Layout.  Every array is contiguous and row-major.  A batch of B sequences
 * of T positions with C channels is an array [B, T, C]; "N rows" means
 * N = B*T rows of the last dimension.  Token ids and targets are int32_t.
 * Weights follow PyTorch's layout: a linear layer's weight is [OC, C] and
 * computes out = inp @ weight^T + bias.
 *
 * Backward passes ACCUMULATE.  Every gradient a backward function writes
 * (dinp, dweight, dbias, ...) is added to (+=), never overwritten: a tensor
 * used twice (a residual branch, tied embeddings) simply receives two
 * contributions.  Zero the gradients before the backward pass of a step.
 * Any gradient pointer may be NULL to skip it (a frozen weight, the input of
 * the first layer).  The one exception is cross_entropy_backward, whose
 * output is usually the largest array in the model: it accumulates too, but
 * callers may pass dlogits == logits to overwrite the logits in place
 * (saving V floats per row); the function reads each row before it writes it.
 *
 * Saved activations.  Forward passes that the backward pass needs something
 * from save it in arrays the caller provides: layer norm's mean and 1/std,
 * RMS norm's 1/rms, the softmax probabilities of attention, the log-sum-exp
 * of cross-entropy.  Those are the "activations" chapter 11 counts.
 *
 * Formulas (each is derived in chapter 3 and checked in tests/test_nn.c):
 *   layer norm   y = (x - mean) * rstd * w + b,   rstd = 1/sqrt(var + 1e-5)
 *   RMS norm     y = x * rrms * w,                rrms = 1/sqrt(mean(x^2) + 1e-5)
 *   GELU (tanh)  y = x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
 *   SwiGLU       inp row [gate | up] (2H), y = silu(gate) * up, silu(g) = g sigmoid(g)
 *   softmax      y_i = exp(x_i - max x) / sum_j exp(x_j - max x)
 *   cross-entropy loss_n = lse(logits_n) - logits_n[target_n]; target < 0: no loss, no gradient
 *   attention    causal, NH heads of size hs = C/NH; qkv row [q | k | v] (3C);
 *                att = softmax(q k^T / sqrt(hs)) over positions <= t; out = att v
 *   AdamW        m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
 *                p -= lr (mhat / (sqrt(vhat) + eps) + wd p),  mhat = m/(1-b1^t), vhat = v/(1-b2^t)
 *
 * Checked runtime errors: none beyond what the callee runtimes check (shapes
 * are the caller's business; sizes must be positive). */
#ifndef NN_H
#define NN_H

#include <stddef.h>
#include <stdint.h>

#define NN_NORM_EPS 1e-5f

/* out[b,t,:] = wte[tokens[b,t], :] + wpe[t, :]   (wpe may be NULL: no positions) */
void embedding_forward(float *out, const int32_t *tokens, const float *wte, const float *wpe,
                       int B, int T, int C);
void embedding_backward(float *dwte, float *dwpe, const float *dout, const int32_t *tokens,
                        int B, int T, int C);

/* out[N,OC] = inp[N,C] @ weight[OC,C]^T + bias[OC]   (bias may be NULL) */
void linear_forward(float *out, const float *inp, const float *weight, const float *bias,
                    int N, int C, int OC);
void linear_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                     const float *inp, const float *weight, int N, int C, int OC);

/* mean[N], rstd[N] are saved for the backward pass (either may be NULL in forward-only use). */
void layernorm_forward(float *out, float *mean, float *rstd, const float *inp,
                       const float *weight, const float *bias, int N, int C);
void layernorm_backward(float *dinp, float *dweight, float *dbias, const float *dout,
                        const float *inp, const float *weight, const float *mean,
                        const float *rstd, int N, int C);

void rmsnorm_forward(float *out, float *rrms, const float *inp, const float *weight, int N, int C);
void rmsnorm_backward(float *dinp, float *dweight, const float *dout, const float *inp,
                      const float *weight, const float *rrms, int N, int C);

void gelu_forward(float *out, const float *inp, size_t n);
void gelu_backward(float *dinp, const float *dout, const float *inp, size_t n);

/* inp[N, 2H] = [gate | up], out[N, H] */
void swiglu_forward(float *out, const float *inp, int N, int H);
void swiglu_backward(float *dinp, const float *dout, const float *inp, int N, int H);

void residual_forward(float *out, const float *a, const float *b, size_t n);
void residual_backward(float *da, float *db, const float *dout, size_t n);

/* Row softmax of inp[N, V]. */
void softmax_forward(float *out, const float *inp, int N, int V);
void softmax_backward(float *dinp, const float *dout, const float *out, int N, int V);

/* Per-row loss (0 where target < 0) into losses[N] and the row's log-sum-exp
 * into lse[N]; returns the mean loss over rows with a target (0 if none). */
float cross_entropy_forward(float *losses, float *lse, const float *logits,
                            const int32_t *targets, int N, int V);
/* dlogits[n,:] += dloss * (softmax(logits[n,:]) - onehot(target_n)) for rows
 * with a target; dloss is d(total)/d(loss_n), 1/count for a mean.  dlogits
 * may equal logits (in place; see above), in which case it is overwritten. */
void cross_entropy_backward(float *dlogits, const float *logits, const float *lse,
                            const int32_t *targets, float dloss, int N, int V);

/* qkv[B,T,3C] -> out[B,T,C]; att[B,NH,T,T] receives the probabilities
 * (zeros above the diagonal) and is what the backward pass needs. */
void attention_forward(float *out, float *att, const float *qkv, int B, int T, int C, int NH);
void attention_backward(float *dqkv, const float *dout, const float *qkv, const float *att,
                        int B, int T, int C, int NH);

typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
} AdamW;

/* One step (step counts from 1) on n parameters.  The gradient is multiplied
 * by grad_scale first (1, or a clipping coefficient). */
void adamw_update(float *param, const float *grad, float *m, float *v, size_t n,
                  const AdamW *opt, int step, float grad_scale);

/* sum of g[i]^2, in double */
double grad_norm_squared(const float *g, size_t n);
/* The factor that brings a gradient of norm `norm` to at most max_norm:
 * min(1, max_norm / (norm + 1e-6)). */
float clip_scale(double norm, float max_norm);

#endif
