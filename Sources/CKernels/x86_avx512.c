// AVX-512 (16 lanes, masked tails) and AVX512-BF16 kernels of the avx512 and avx512bf16 paths.
// Each function carries its own target attribute, so this file builds without -m flags and the
// code runs only where blt_active_path() found the instructions. Calls the per-thread scratch
// (scratch.c) and the portable kernels (portable.c) only.
#include "internal.h"

#if defined(__x86_64__)
#include "x86.h"
#include <math.h>

// ---------------------------------------------------------------- AVX-512 (16 lanes, masked tails)

INLINE AVX512 __m512 avx512_widen16(int dtype, __m256i bits) {
    return dtype == BLT_DTYPE_BF16 ? _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(bits), 16))
                                   : _mm512_cvtph_ps(bits);
}
INLINE AVX512 __m512 avx512_load_w(int dtype, const uint16_t *p, __mmask16 mask) {
    return avx512_widen16(dtype, _mm256_maskz_loadu_epi16(mask, p));
}

INLINE AVX512 void avx512_tile(int dtype, int MR, int NR, const float *const *xr, const void *const *wr, size_t k,
                               float *out) {
    __m512 acc[4][4];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = _mm512_setzero_ps();
    size_t c = 0;
    for (; c + 16 <= k; c += 16) {
        __m512 wv[4];
        for (int j = 0; j < NR; j++) wv[j] = avx512_widen16(dtype, _mm256_loadu_si256((const __m256i *)((const uint16_t *)wr[j] + c)));
        for (int i = 0; i < MR; i++) {
            __m512 xv = _mm512_loadu_ps(xr[i] + c);
            for (int j = 0; j < NR; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    if (c < k) {
        __mmask16 mask = tail16(k - c);
        __m512 wv[4];
        for (int j = 0; j < NR; j++) wv[j] = avx512_load_w(dtype, (const uint16_t *)wr[j] + c, mask);
        for (int i = 0; i < MR; i++) {
            __m512 xv = _mm512_maskz_loadu_ps(mask, xr[i] + c);
            for (int j = 0; j < NR; j++) acc[i][j] = _mm512_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) out[i * NR + j] = _mm512_reduce_add_ps(acc[i][j]);
}

BLT_TILED_MATMUL(avx512_matmul_bf16, AVX512, avx512_tile, BLT_DTYPE_BF16)
BLT_TILED_MATMUL(avx512_matmul_f16, AVX512, avx512_tile, BLT_DTYPE_F16)

#define BLT_AVX512_ROW_LOOP(NAME, DTYPE, BODY)                                                        \
    static AVX512 void NAME(const void *src, float *dst, size_t n) {                                  \
        const uint16_t *s = (const uint16_t *)src;                                                    \
        for (size_t i = 0; i < n; i += 16) {                                                          \
            __mmask16 mask = tail16(n - i);                                                           \
            __m512 v = avx512_load_w(DTYPE, s + i, mask);                                             \
            BODY;                                                                                     \
        }                                                                                             \
    }
BLT_AVX512_ROW_LOOP(avx512_widen_bf16, BLT_DTYPE_BF16, _mm512_mask_storeu_ps(dst + i, mask, v))
BLT_AVX512_ROW_LOOP(avx512_widen_f16, BLT_DTYPE_F16, _mm512_mask_storeu_ps(dst + i, mask, v))
BLT_AVX512_ROW_LOOP(avx512_add_bf16, BLT_DTYPE_BF16,
                    _mm512_mask_storeu_ps(dst + i, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dst + i), v)))
BLT_AVX512_ROW_LOOP(avx512_add_f16, BLT_DTYPE_F16,
                    _mm512_mask_storeu_ps(dst + i, mask, _mm512_add_ps(_mm512_maskz_loadu_ps(mask, dst + i), v)))

/// MR rows of A × 32 columns of B (masked at the edge): 2·MR accumulators, one broadcast of A
/// per row and two loads of B per step of k. Each output is one chain of FMAs over k in order,
/// started from 0 or (`accumulate`) from what C holds, then scaled by alpha: a row's results do
/// not depend on which other rows share the call.
INLINE AVX512 void avx512_outer_tile(int MR, size_t k, float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                                     float *c, size_t ldc, __mmask16 m0, __mmask16 m1, int accumulate) {
    __m512 acc[8][2];
    for (int r = 0; r < MR; r++) {
        acc[r][0] = accumulate ? _mm512_maskz_loadu_ps(m0, c + r * ldc) : _mm512_setzero_ps();
        acc[r][1] = accumulate ? _mm512_maskz_loadu_ps(m1, c + r * ldc + 16) : _mm512_setzero_ps();
    }
    for (size_t p = 0; p < k; p++) {
        __m512 b0 = _mm512_maskz_loadu_ps(m0, b + p * ldb), b1 = _mm512_maskz_loadu_ps(m1, b + p * ldb + 16);
        for (int r = 0; r < MR; r++) {
            __m512 av = _mm512_set1_ps(a[r * lda + p]);
            acc[r][0] = _mm512_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(av, b1, acc[r][1]);
        }
    }
    if (alpha != 1) {
        __m512 scale = _mm512_set1_ps(alpha);
        for (int r = 0; r < MR; r++) {
            acc[r][0] = _mm512_mul_ps(acc[r][0], scale);
            acc[r][1] = _mm512_mul_ps(acc[r][1], scale);
        }
    }
    for (int r = 0; r < MR; r++) {
        _mm512_mask_storeu_ps(c + r * ldc, m0, acc[r][0]);
        _mm512_mask_storeu_ps(c + r * ldc + 16, m1, acc[r][1]);
    }
}

/// Every row of A against columns [j, j + 32) of B, 8 rows at a time.
static AVX512 void avx512_outer_columns(size_t m, size_t k, float alpha, const float *a, size_t lda, const float *b, size_t ldb,
                                        float *c, size_t ldc, size_t columns, int accumulate) {
    __mmask16 m0 = tail16(columns), m1 = columns > 16 ? tail16(columns - 16) : 0;
    size_t i = 0;
    for (; i + 8 <= m; i += 8) avx512_outer_tile(8, k, alpha, a + i * lda, lda, b, ldb, c + i * ldc, ldc, m0, m1, accumulate);
    const float *ai = a + i * lda;
    float *ci = c + i * ldc;
    switch (m - i) {   // constant row counts, so the tile's loops unroll
    case 7: avx512_outer_tile(7, k, alpha, ai, lda, b, ldb, ci, ldc, m0, m1, accumulate); break;
    case 6: avx512_outer_tile(6, k, alpha, ai, lda, b, ldb, ci, ldc, m0, m1, accumulate); break;
    case 5: avx512_outer_tile(5, k, alpha, ai, lda, b, ldb, ci, ldc, m0, m1, accumulate); break;
    case 4: avx512_outer_tile(4, k, alpha, ai, lda, b, ldb, ci, ldc, m0, m1, accumulate); break;
    case 3: avx512_outer_tile(3, k, alpha, ai, lda, b, ldb, ci, ldc, m0, m1, accumulate); break;
    case 2: avx512_outer_tile(2, k, alpha, ai, lda, b, ldb, ci, ldc, m0, m1, accumulate); break;
    case 1: avx512_outer_tile(1, k, alpha, ai, lda, b, ldb, ci, ldc, m0, m1, accumulate); break;
    }
}

static AVX512 void avx512_outer(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                                const float *b, size_t ldb, float *c, size_t ldc) {
    for (size_t j = 0; j < n; j += 32)
        avx512_outer_columns(m, k, alpha, a, lda, b + j, ldb, c + j, ldc, n - j < 32 ? n - j : 32, 0);
}

/// Weight rows [n, n + 32) ∩ [.., end), columns [k0, k0 + kc), widened to fp32 and transposed:
/// panel[p · 32 + j] = W[n + j][k0 + p] (zero past `end`), so that the tile reads rows of 32 columns.
static AVX512 void avx512_pack_transposed(int dtype, const void *w, size_t k, size_t n, size_t end, size_t k0, size_t kc,
                                          float *panel) {
    for (int half = 0; half < 2; half++)
        for (size_t p0 = 0; p0 < kc; p0 += 16) {
            __mmask16 mask = tail16(kc - p0);
            __m512i r[16];
            for (int i = 0; i < 16; i++) {
                size_t row = n + half * 16 + i;
                if (row >= end) { r[i] = _mm512_setzero_si512(); continue; }
                size_t at = row * k + k0 + p0;
                r[i] = _mm512_castps_si512(dtype == BLT_DTYPE_F32 ? _mm512_maskz_loadu_ps(mask, (const float *)w + at)
                                                                 : avx512_load_w(dtype, (const uint16_t *)w + at, mask));
            }
            avx512_transpose16(r);
            for (size_t p = p0; p < p0 + 16 && p < kc; p++)
                _mm512_store_si512(panel + p * 32 + half * 16, r[p - p0]);
        }
}

/// Many rows of x times weight rows [r0, r1): for every 32 weight rows and 256 columns, the
/// widened, transposed panel (32 KB, in L1) meets 512 rows of x (512 KB, in L2) through the
/// outer-product tile; longer x is taken 512 rows at a time, so that it is not streamed from L3
/// once per panel. Outputs are summed over k in order whatever m is (see avx512_outer_tile).
static AVX512 int avx512_gemm_weights(int dtype, const void *w, size_t k, const float *x, size_t m, float *y, size_t ldy,
                                      size_t r0, size_t r1) {
    enum { KC = 256, MC = 512 };
    float *panel = blt_thread_scratch(KC * 32 * sizeof(float));
    if (!panel) return -1;
    for (size_t i = 0; i < m; i += MC) {
        size_t rows = m - i < MC ? m - i : MC;
        for (size_t n = r0; n < r1; n += 32) {
            size_t columns = r1 - n < 32 ? r1 - n : 32;
            for (size_t k0 = 0; k0 < k; k0 += KC) {
                size_t kc = k - k0 < KC ? k - k0 : KC;
                avx512_pack_transposed(dtype, w, k, n, r1, k0, kc, panel);
                avx512_outer_columns(rows, kc, 1, x + i * k + k0, k, panel, 32, y + i * ldy + n, ldy, columns, k0 > 0);
            }
        }
    }
    return 0;
}

static AVX512 void avx512_softmax(float *x, size_t n) {
    __m512 m = _mm512_set1_ps(x[0]);
    for (size_t j = 0; j < n; j += 16) m = _mm512_max_ps(m, _mm512_maskz_loadu_ps(tail16(n - j), x + j));
    __m512 shift = _mm512_set1_ps(_mm512_reduce_max_ps(m)), sum = _mm512_setzero_ps();
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 mask = tail16(n - j);
        __m512 e = _mm512_maskz_mov_ps(mask, avx512_exp(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, x + j), shift)));
        _mm512_mask_storeu_ps(x + j, mask, e);
        sum = _mm512_add_ps(sum, e);
    }
    __m512 inverse = _mm512_set1_ps(1 / _mm512_reduce_add_ps(sum));
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 mask = tail16(n - j);
        _mm512_mask_storeu_ps(x + j, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x + j), inverse));
    }
}

static AVX512 void avx512_transpose(const float *b, size_t ldb, size_t n, size_t k, float *bt) {
    for (size_t j0 = 0; j0 < n; j0 += 16) {
        __mmask16 columns = tail16(n - j0);
        for (size_t p0 = 0; p0 < k; p0 += 16) {
            __mmask16 mask = tail16(k - p0);
            __m512i r[16];
            for (size_t i = 0; i < 16; i++)
                r[i] = j0 + i < n ? _mm512_maskz_loadu_epi32(mask, b + (j0 + i) * ldb + p0) : _mm512_setzero_si512();
            avx512_transpose16(r);
            for (size_t p = p0; p < p0 + 16 && p < k; p++) _mm512_mask_storeu_epi32(bt + p * n + j0, columns, r[p - p0]);
        }
    }
}

static AVX512 void avx512_silu_multiply(float *gate, const float *up, size_t n) {
    for (size_t i = 0; i < n; i += 16) {
        __mmask16 mask = tail16(n - i);
        __m512 g = _mm512_maskz_loadu_ps(mask, gate + i);
        __m512 e = avx512_exp(_mm512_sub_ps(_mm512_setzero_ps(), g));
        __m512 y = _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1), e)), _mm512_maskz_loadu_ps(mask, up + i));
        _mm512_mask_storeu_ps(gate + i, mask, y);
    }
}

const blt_kernel_table blt_avx512_kernels = {
    .widen = {NULL, avx512_widen_bf16, avx512_widen_f16},
    .add_row = {NULL, avx512_add_bf16, avx512_add_f16},
    .matmul = {NULL, avx512_matmul_bf16, avx512_matmul_f16},
    .gemm_weights = avx512_gemm_weights,
    .bf16_dot = NULL,
    .outer = avx512_outer,
    .softmax = avx512_softmax,
    .silu_multiply = avx512_silu_multiply,
    .attend_one = blt_avx2_attend_one,
    .transpose = avx512_transpose,
};

// ---------------------------------------------------------------- AVX-512-BF16 (vdpbf16ps)

INLINE AVX512BF16 void bf16_dot_tile(int MR, int NR, const uint16_t *const *xr, const uint16_t *const *wr, size_t k,
                                     float *out) {
    __m512 acc[4][4];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = _mm512_setzero_ps();
    for (size_t c = 0; c < k; c += 32) {
        __mmask32 mask = k - c >= 32 ? (__mmask32)0xFFFFFFFFu : (__mmask32)((1u << (k - c)) - 1);
        __m512bh wv[4];
        for (int j = 0; j < NR; j++) wv[j] = (__m512bh)_mm512_maskz_loadu_epi16(mask, wr[j] + c);
        for (int i = 0; i < MR; i++) {
            __m512bh xv = (__m512bh)_mm512_maskz_loadu_epi16(mask, xr[i] + c);
            for (int j = 0; j < NR; j++) acc[i][j] = _mm512_dpbf16_ps(acc[i][j], xv, wv[j]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) out[i * NR + j] = _mm512_reduce_add_ps(acc[i][j]);
}

/// Blocked for many x rows: a panel of 32 weight rows stays in L2 while every block of 4 x rows
/// (in L1) passes over it.
static AVX512BF16 void avx512bf16_dot(const uint16_t *w, size_t k, const uint16_t *x, size_t m, float *y, size_t ldy,
                                      size_t r0, size_t r1) {
    if (m == 1) {
        for (size_t r = r0; r < r1; r += 4) {
            const uint16_t *wr[4];
            for (int j = 0; j < 4; j++) wr[j] = w + (r + j < r1 ? r + j : r1 - 1) * k;
            float out[4];
            bf16_dot_tile(1, 4, &x, wr, k, out);
            for (int j = 0; j < 4 && r + j < r1; j++) y[r + j] = out[j];
        }
        return;
    }
    for (size_t panel = r0; panel < r1; panel += 32) {
        size_t panel_end = panel + 32 < r1 ? panel + 32 : r1;
        for (size_t i = 0; i < m; i += 4) {
            const uint16_t *xr[4];
            for (int l = 0; l < 4; l++) xr[l] = x + (i + l < m ? i + l : m - 1) * k;
            for (size_t r = panel; r < panel_end; r += 4) {
                const uint16_t *wr[4];
                for (int j = 0; j < 4; j++) wr[j] = w + (r + j < panel_end ? r + j : panel_end - 1) * k;
                float out[16];
                bf16_dot_tile(4, 4, xr, wr, k, out);
                for (int l = 0; l < 4 && i + l < m; l++)
                    for (int j = 0; j < 4 && r + j < panel_end; j++) y[(i + l) * ldy + r + j] = out[l * 4 + j];
            }
        }
    }
}

const blt_kernel_table blt_avx512bf16_kernels = {
    .widen = {NULL, avx512_widen_bf16, avx512_widen_f16},
    .add_row = {NULL, avx512_add_bf16, avx512_add_f16},
    .matmul = {NULL, avx512_matmul_bf16, avx512_matmul_f16},
    .gemm_weights = avx512_gemm_weights,
    .bf16_dot = avx512bf16_dot,
    .outer = avx512_outer,
    .softmax = avx512_softmax,
    .silu_multiply = avx512_silu_multiply,
    .attend_one = blt_avx2_attend_one,
    .transpose = avx512_transpose,
};
#endif
