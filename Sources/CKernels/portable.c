// The portable kernels (any CPU, any architecture): every path's fallback, and the generic path.
// Calls nothing else in this target.
#include "internal.h"
#include <math.h>

static void widen_f32(const void *src, float *dst, size_t n) { memcpy(dst, src, n * sizeof(float)); }
static void widen_bf16(const void *src, float *dst, size_t n) {
    const uint16_t *s = (const uint16_t *)src;
    for (size_t i = 0; i < n; i++) dst[i] = blt_bf16_to_f32(s[i]);
}
static void widen_f16(const void *src, float *dst, size_t n) {
    const uint16_t *s = (const uint16_t *)src;
    for (size_t i = 0; i < n; i++) dst[i] = blt_f16_to_f32(s[i]);
}
static void add_f32(const void *src, float *dst, size_t n) {
    const float *s = (const float *)src;
    for (size_t i = 0; i < n; i++) dst[i] += s[i];
}
static void add_bf16(const void *src, float *dst, size_t n) {
    const uint16_t *s = (const uint16_t *)src;
    for (size_t i = 0; i < n; i++) dst[i] += blt_bf16_to_f32(s[i]);
}
static void add_f16(const void *src, float *dst, size_t n) {
    const uint16_t *s = (const uint16_t *)src;
    for (size_t i = 0; i < n; i++) dst[i] += blt_f16_to_f32(s[i]);
}

// Eight partial sums per dot product, so the compiler can vectorise at the baseline ISA.
#define BLT_GENERIC_MATMUL(NAME, TYPE, CONVERT)                                                       \
    static void NAME(const void *weights, size_t k, const float *x, size_t m, float *y, size_t ldy,   \
                     size_t r0, size_t r1) {                                                          \
        const TYPE *w = (const TYPE *)weights;                                                        \
        for (size_t r = r0; r < r1; r++) {                                                            \
            const TYPE *row = w + r * k;                                                              \
            for (size_t i = 0; i < m; i++) {                                                          \
                const float *xi = x + i * k;                                                          \
                float part[8] = {0, 0, 0, 0, 0, 0, 0, 0};                                             \
                size_t c = 0;                                                                         \
                for (; c + 8 <= k; c += 8)                                                            \
                    for (int l = 0; l < 8; l++) part[l] += CONVERT(row[c + l]) * xi[c + l];           \
                float sum = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7])); \
                for (; c < k; c++) sum += CONVERT(row[c]) * xi[c];                                    \
                y[i * ldy + r] = sum;                                                                 \
            }                                                                                         \
        }                                                                                             \
    }
#define BLT_IDENTITY(v) (v)
BLT_GENERIC_MATMUL(matmul_f32, float, BLT_IDENTITY)
BLT_GENERIC_MATMUL(matmul_bf16, uint16_t, blt_bf16_to_f32)
BLT_GENERIC_MATMUL(matmul_f16, uint16_t, blt_f16_to_f32)

/// bf16 × bf16 products accumulated in fp32 (what vdpbf16ps computes, up to summation order).
static void dot_bf16(const uint16_t *w, size_t k, const uint16_t *x, size_t m, float *y, size_t ldy,
                     size_t r0, size_t r1) {
    for (size_t r = r0; r < r1; r++) {
        const uint16_t *row = w + r * k;
        for (size_t i = 0; i < m; i++) {
            const uint16_t *xi = x + i * k;
            float sum = 0;
            for (size_t c = 0; c < k; c++) sum += blt_bf16_to_f32(row[c]) * blt_bf16_to_f32(xi[c]);
            y[i * ldy + r] = sum;
        }
    }
}

/// Each output summed over k in order (as the vector kernels do), then scaled.
static void outer_generic(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                          const float *b, size_t ldb, float *c, size_t ldc) {
    for (size_t i = 0; i < m; i++) {
        float *ci = c + i * ldc;
        for (size_t j = 0; j < n; j++) ci[j] = 0;
        for (size_t p = 0; p < k; p++) {
            float aip = a[i * lda + p];
            const float *bp = b + p * ldb;
            for (size_t j = 0; j < n; j++) ci[j] += aip * bp[j];
        }
        for (size_t j = 0; j < n; j++) ci[j] *= alpha;
    }
}
void blt_outer_generic(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                       const float *b, size_t ldb, float *c, size_t ldc) {
    outer_generic(m, n, k, alpha, a, lda, b, ldb, c, ldc);
}

static void softmax_generic(float *x, size_t n) {
    float maximum = x[0];
    for (size_t j = 1; j < n; j++) maximum = x[j] > maximum ? x[j] : maximum;
    float total = 0;
    for (size_t j = 0; j < n; j++) {
        x[j] = expf(x[j] - maximum);
        total += x[j];
    }
    float inverse = 1 / total;
    for (size_t j = 0; j < n; j++) x[j] *= inverse;
}

static void transpose_generic(const float *b, size_t ldb, size_t n, size_t k, float *bt) {
    for (size_t j0 = 0; j0 < n; j0 += 16)   // in 16 × 16 blocks, which stay in L1
        for (size_t p0 = 0; p0 < k; p0 += 16)
            for (size_t j = j0; j < j0 + 16 && j < n; j++)
                for (size_t p = p0; p < p0 + 16 && p < k; p++) bt[p * n + j] = b[j * ldb + p];
}

static void silu_multiply_generic(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i++) gate[i] = gate[i] / (1 + expf(-gate[i])) * up[i];
}

static void attend_one_generic(int dtype, const float *q, const void *keys, const void *values, size_t stride, size_t d,
                               size_t count, int uniform, float scale, float *weights, float *out) {
    size_t row = stride * blt_dtype_size(dtype);
    for (size_t j = 0; j < count; j++) {
        float s = 0;
        if (!uniform)
            for (size_t c = 0; c < d; c++) s += q[c] * blt_element(dtype, (const char *)keys + j * row, c);
        weights[j] = s * scale;
    }
    softmax_generic(weights, count);
    for (size_t c = 0; c < d; c++) out[c] = 0;
    for (size_t j = 0; j < count; j++)
        for (size_t c = 0; c < d; c++) out[c] += weights[j] * blt_element(dtype, (const char *)values + j * row, c);
}

const blt_kernel_table blt_generic_kernels = {
    .widen = {widen_f32, widen_bf16, widen_f16},
    .add_row = {add_f32, add_bf16, add_f16},
    .matmul = {matmul_f32, matmul_bf16, matmul_f16},
    .bf16_dot = dot_bf16,
    .outer = outer_generic,
    .softmax = softmax_generic,
    .silu_multiply = silu_multiply_generic,
    .attend_one = attend_one_generic,
    .transpose = transpose_generic,
};

void blt_round_to_bf16(const float *x, uint16_t *dst, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint32_t b;
        memcpy(&b, &x[i], 4);
        if ((b & 0x7FFFFFFFu) > 0x7F800000u) { dst[i] = 0xFFFF; continue; }
        dst[i] = (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
    }
}

void blt_round_floats_to_bf16(const float *x, float *dst, size_t count) {
    for (size_t i = 0; i < count; i++) {   // branch-free, so it vectorises
        uint32_t b;
        memcpy(&b, &x[i], 4);
        uint32_t rounded = (b + 0x7FFFu + ((b >> 16) & 1u)) & 0xFFFF0000u;
        rounded = (b & 0x7FFFFFFFu) > 0x7F800000u ? 0xFFFF0000u : rounded;
        memcpy(&dst[i], &rounded, 4);
    }
}
