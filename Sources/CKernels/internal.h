// Shared by the kernel files: the per-path kernel table, the portable fallbacks and the scratch buffer.
// File calls go one way: dispatch.c → cpu.c, portable.c, scratch.c and the x86 tables; x86_*.c →
// portable.c, scratch.c; amx.c → cpu.c, scratch.c; cpu.c, portable.c, scratch.c and workers.c
// call nothing else here.
#ifndef BLT_CKERNELS_INTERNAL_H
#define BLT_CKERNELS_INTERNAL_H
#include "CKernels.h"
#include <string.h>

typedef void (*blt_widen_fn)(const void *src, float *dst, size_t count);
typedef void (*blt_matmul_fn)(const void *w, size_t k, const float *x, size_t m, float *y, size_t ldy,
                              size_t row_begin, size_t row_end);
/// C[m, n] = alpha · A[m, k] · B[k, n] (B row-major with stride ldb).
typedef void (*blt_outer_fn)(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                             const float *b, size_t ldb, float *c, size_t ldc);
typedef void (*blt_dot_fn)(const uint16_t *w, size_t k, const uint16_t *x, size_t m, float *y, size_t ldy,
                           size_t row_begin, size_t row_end);

typedef int (*blt_gemm_weights_fn)(int dtype, const void *w, size_t k, const float *x, size_t m, float *y, size_t ldy,
                                   size_t row_begin, size_t row_end);

/// One path's kernels, indexed by blt_dtype (ggml-style per-type traits). A NULL entry falls back
/// to the portable kernel.
typedef struct {
    blt_widen_fn widen[3];
    blt_widen_fn add_row[3];
    blt_matmul_fn matmul[3];
    /// blt_gemm in one kernel that packs its own panels (0, or -1 without memory for them).
    blt_gemm_weights_fn gemm_weights;
    blt_dot_fn bf16_dot;
    blt_outer_fn outer;   // activation products, see blt_activation_product
    void (*softmax)(float *x, size_t n);   // softmax of x[0, n) in place, n ≥ 1
    void (*silu_multiply)(float *gate, const float *up, size_t n);
    /// weights[j] = scale · q · key j (0 when uniform), softmax, out = Σ weights[j] · value j; count ≥ 1;
    /// keys and values stored in blt_dtype `dtype`.
    void (*attend_one)(int dtype, const float *q, const void *keys, const void *values, size_t stride, size_t d,
                       size_t count, int uniform, float scale, float *weights, float *out);
    /// bt[p · n + j] = b[j · ldb + p] for j < n, p < k (Bᵀ for activation products).
    void (*transpose)(const float *b, size_t ldb, size_t n, size_t k, float *bt);
} blt_kernel_table;

extern const blt_kernel_table blt_generic_kernels;
#if defined(__x86_64__)
extern const blt_kernel_table blt_avx2_kernels;
extern const blt_kernel_table blt_avx512_kernels;
extern const blt_kernel_table blt_avx512bf16_kernels;
#endif
/// A 64-byte aligned buffer of at least `bytes`, owned by the calling thread and kept for its later
/// calls (products run on long-lived Dispatch threads, and a fresh multi-MB buffer per product costs
/// an mmap and its page faults); freed when the thread ends. NULL when memory is short. Callers
/// must not hold it across a call of another function that uses it.
void *blt_thread_scratch(size_t bytes);
/// The portable activation product (tails of the vector kernels).
void blt_outer_generic(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                       const float *b, size_t ldb, float *c, size_t ldc);
/// The AVX2 path's one-query attention, which the AVX-512 paths share (it reads the caches at the
/// rate of memory, not of arithmetic).
void blt_avx2_attend_one(int dtype, const float *q, const void *keys, const void *values, size_t stride, size_t d,
                         size_t count, int uniform, float scale, float *weights, float *out);
/// Whether the CPU has AMX-BF16 tiles and the OS granted this process their state (amx.c).
int blt_amx_supported(void);

static inline float blt_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/// IEEE binary16 → binary32, exact for every input (subnormals, ±inf, NaN payloads kept).
static inline float blt_f16_to_f32(uint16_t h) {
    uint32_t x = h, sign = (x & 0x8000u) << 16, em = x & 0x7FFFu;
    uint32_t bits = (em << 13) + 0x38000000u;
    if (em >= 0x7C00u) bits = (em << 13) | 0x7F800000u;
    if (em < 0x0400u) {
        float f = (float)(int32_t)em * 0x1p-24f;
        memcpy(&bits, &f, 4);
    }
    bits |= sign;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/// Bytes per element of blt_dtype `dtype`.
static inline size_t blt_dtype_size(int dtype) { return dtype == BLT_DTYPE_F32 ? 4 : 2; }

/// Element `c` of a row stored in blt_dtype `dtype`, as fp32.
static inline float blt_element(int dtype, const void *row, size_t c) {
    if (dtype == BLT_DTYPE_F32) return ((const float *)row)[c];
    uint16_t h = ((const uint16_t *)row)[c];
    return dtype == BLT_DTYPE_BF16 ? blt_bf16_to_f32(h) : blt_f16_to_f32(h);
}
#endif
