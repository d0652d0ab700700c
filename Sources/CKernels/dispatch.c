// The public kernel entry points (CKernels.h): each runs the active path's kernel (cpu.c), or the
// portable one (portable.c) where the path has none. Nothing in this target calls back into it.
#include "internal.h"

static const blt_kernel_table *active_table(void) {
#if defined(__x86_64__)
    switch (blt_active_path()) {
    case BLT_PATH_AVX2: return &blt_avx2_kernels;
    case BLT_PATH_AVX512: return &blt_avx512_kernels;
    case BLT_PATH_AVX512BF16: return &blt_avx512bf16_kernels;
    case BLT_PATH_AMX: return &blt_avx512bf16_kernels;   // plus blt_amx_matmul for bf16 precision
    }
#endif
    return &blt_generic_kernels;
}

static int valid_dtype(int dtype) { return dtype >= BLT_DTYPE_F32 && dtype <= BLT_DTYPE_F16; }

void blt_widen(int dtype, const void *src, float *dst, size_t count) {
    if (!valid_dtype(dtype) || count == 0) return;
    blt_widen_fn f = active_table()->widen[dtype];
    (f ? f : blt_generic_kernels.widen[dtype])(src, dst, count);
}

void blt_add_row(int dtype, const void *src, float *dst, size_t count) {
    if (!valid_dtype(dtype) || count == 0) return;
    blt_widen_fn f = active_table()->add_row[dtype];
    (f ? f : blt_generic_kernels.add_row[dtype])(src, dst, count);
}

void blt_matmul(int dtype, const void *w, size_t k, const float *x, size_t m, float *y, size_t ldy,
                size_t row_begin, size_t row_end) {
    if (!valid_dtype(dtype) || m == 0 || row_begin >= row_end) return;
    blt_matmul_fn f = active_table()->matmul[dtype];
    (f ? f : blt_generic_kernels.matmul[dtype])(w, k, x, m, y, ldy, row_begin, row_end);
}

void blt_gemm(int dtype, const void *w, size_t k, const float *x, size_t m, float *y, size_t ldy,
              size_t row_begin, size_t row_end) {
    if (!valid_dtype(dtype) || m == 0 || row_begin >= row_end) return;
    blt_gemm_weights_fn f = active_table()->gemm_weights;
    if (f && k > 0 && f(dtype, w, k, x, m, y, ldy, row_begin, row_end) == 0) return;
    // No packed kernel on this path, or no memory for its panels: the streaming kernel needs none.
    blt_matmul(dtype, w, k, x, m, y, ldy, row_begin, row_end);
}

void blt_matmul_bf16_dot(const uint16_t *w, size_t k, const uint16_t *x, size_t m, float *y, size_t ldy,
                         size_t row_begin, size_t row_end) {
    if (m == 0 || row_begin >= row_end) return;
    blt_dot_fn f = active_table()->bf16_dot;
    (f ? f : blt_generic_kernels.bf16_dot)(w, k, x, m, y, ldy, row_begin, row_end);
}

int blt_activation_product(int transpose_b, size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                           const float *b, size_t ldb, float *c, size_t ldc) {
    if (m == 0 || n == 0) return 0;
    blt_outer_fn f = active_table()->outer;
    if (!f) f = blt_generic_kernels.outer;
    if (!transpose_b) {
        f(m, n, k, alpha, a, lda, b, ldb, c, ldc);
        return 0;
    }
    // Bᵀ into a [k, n] buffer, so that the kernel reads rows of n columns.
    float *bt = blt_thread_scratch((k * n ? k * n : 1) * sizeof(float));
    if (!bt) return -1;
    void (*t)(const float *, size_t, size_t, size_t, float *) = active_table()->transpose;
    (t ? t : blt_generic_kernels.transpose)(b, ldb, n, k, bt);
    f(m, n, k, alpha, a, lda, bt, n, c, ldc);
    return 0;
}

void blt_softmax_row(float *row, size_t width, size_t from, size_t to, int uniform) {
    if (to > width) to = width;
    if (from >= to) {
        memset(row, 0, width * sizeof(float));
        return;
    }
    if (uniform) memset(row + from, 0, (to - from) * sizeof(float));
    void (*f)(float *, size_t) = active_table()->softmax;
    (f ? f : blt_generic_kernels.softmax)(row + from, to - from);
    memset(row, 0, from * sizeof(float));
    memset(row + to, 0, (width - to) * sizeof(float));
}

void blt_attend_one(int dtype, const float *q, const void *keys, const void *values, size_t stride, size_t d,
                    size_t count, int uniform, float scale, float *weights, float *out) {
    if (count == 0) {
        memset(out, 0, d * sizeof(float));
        return;
    }
    const blt_kernel_table *table = active_table();
    (table->attend_one ? table->attend_one : blt_generic_kernels.attend_one)(dtype, q, keys, values, stride, d, count,
                                                                               uniform, scale, weights, out);
}

void blt_silu_multiply(float *gate, const float *up, size_t count) {
    if (count == 0) return;
    void (*f)(float *, const float *, size_t) = active_table()->silu_multiply;
    (f ? f : blt_generic_kernels.silu_multiply)(gate, up, count);
}
