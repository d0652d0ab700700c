// AVX2 kernels (8 lanes) of the avx2 path. Each function carries its own target attribute, so this
// file builds without -m flags and the code runs only where blt_active_path() found the
// instructions. Calls the per-thread scratch (scratch.c) and the portable kernels (portable.c) only.
#include "internal.h"

#if defined(__x86_64__)
#include "x86.h"
#include <math.h>

// ---------------------------------------------------------------- AVX2 (8 lanes)

INLINE AVX2 __m256 avx2_load_bf16(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
INLINE AVX2 __m256 avx2_load_f16(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }
/// 8 weights from element `c` of a row stored in `dtype` (a constant after inlining).
INLINE AVX2 __m256 avx2_load_w(int dtype, const void *row, size_t c) {
    if (dtype == BLT_DTYPE_F32) return _mm256_loadu_ps((const float *)row + c);
    const uint16_t *p = (const uint16_t *)row + c;
    return dtype == BLT_DTYPE_BF16 ? avx2_load_bf16(p) : avx2_load_f16(p);
}
INLINE AVX2 float avx2_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/// out[i·NR + j] = x row i · w row j, for MR rows of x and NR rows of w (constants after inlining,
/// so the accumulators live in registers).
INLINE AVX2 void avx2_tile(int dtype, int MR, int NR, const float *const *xr, const void *const *wr, size_t k,
                           float *out) {
    __m256 acc[4][4];
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) acc[i][j] = _mm256_setzero_ps();
    size_t c = 0;
    for (; c + 8 <= k; c += 8) {
        __m256 wv[4];
        for (int j = 0; j < NR; j++) wv[j] = avx2_load_w(dtype, wr[j], c);
        for (int i = 0; i < MR; i++) {
            __m256 xv = _mm256_loadu_ps(xr[i] + c);
            for (int j = 0; j < NR; j++) acc[i][j] = _mm256_fmadd_ps(xv, wv[j], acc[i][j]);
        }
    }
    for (int i = 0; i < MR; i++)
        for (int j = 0; j < NR; j++) {
            float s = avx2_sum(acc[i][j]);
            for (size_t t = c; t < k; t++) s += xr[i][t] * blt_element(dtype, wr[j], t);
            out[i * NR + j] = s;
        }
}


/// y[r] = x · w row r for one x row. The slice [r0, r1) is cut into four equal runs of rows and
/// one row of each is multiplied in step: four long sequential streams, which the hardware
/// prefetchers follow at the memory's pace. (Four adjacent rows are four streams of one row each,
/// too short for the prefetchers when rows are a few KB; one row at a time is a single stream,
/// which keeps too few reads in flight.) The up to three rows left over go through the tile.
INLINE AVX2 void avx2_matvec(int dtype, const void *weights, size_t k, const float *x, float *y, size_t r0, size_t r1) {
    size_t element = blt_dtype_size(dtype), run = (r1 - r0) / 4;
    const char *w = (const char *)weights;
    for (size_t j = 0; j < run; j++) {
        size_t r[4] = {r0 + j, r0 + run + j, r0 + 2 * run + j, r0 + 3 * run + j};
        const void *row[4];
        for (int i = 0; i < 4; i++) row[i] = w + r[i] * k * element;
        __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
        size_t c = 0;
        for (; c + 8 <= k; c += 8) {
            __m256 xv = _mm256_loadu_ps(x + c);
            a0 = _mm256_fmadd_ps(xv, avx2_load_w(dtype, row[0], c), a0);
            a1 = _mm256_fmadd_ps(xv, avx2_load_w(dtype, row[1], c), a1);
            a2 = _mm256_fmadd_ps(xv, avx2_load_w(dtype, row[2], c), a2);
            a3 = _mm256_fmadd_ps(xv, avx2_load_w(dtype, row[3], c), a3);
        }
        float s[4] = {avx2_sum(a0), avx2_sum(a1), avx2_sum(a2), avx2_sum(a3)};
        for (int i = 0; i < 4; i++) {
            for (size_t t = c; t < k; t++) s[i] += x[t] * blt_element(dtype, row[i], t);
            y[r[i]] = s[i];
        }
    }
    for (size_t i = r0 + 4 * run; i < r1; i++) {
        const void *row = w + i * k * element;
        avx2_tile(dtype, 1, 1, &x, &row, k, y + i);
    }
}

BLT_TILED_MATMUL(avx2_tiles_bf16, AVX2, avx2_tile, BLT_DTYPE_BF16)
BLT_TILED_MATMUL(avx2_tiles_f16, AVX2, avx2_tile, BLT_DTYPE_F16)

static AVX2 void avx2_matmul_bf16(const void *w, size_t k, const float *x, size_t m, float *y, size_t ldy, size_t r0, size_t r1) {
    if (m == 1) avx2_matvec(BLT_DTYPE_BF16, w, k, x, y, r0, r1);
    else avx2_tiles_bf16(w, k, x, m, y, ldy, r0, r1);
}
static AVX2 void avx2_matmul_f16(const void *w, size_t k, const float *x, size_t m, float *y, size_t ldy, size_t r0, size_t r1) {
    if (m == 1) avx2_matvec(BLT_DTYPE_F16, w, k, x, y, r0, r1);
    else avx2_tiles_f16(w, k, x, m, y, ldy, r0, r1);
}

// Many rows of x times weight rows [r0, r1), BLIS-style: for each 256 columns of k, the slice's
// weights are widened and packed into 16-row micro-panels (kc × 16 floats, walked in L1) and x
// into 6-row micro-panels, 168 rows at a time (kept in L2: packing also removes the cache-set
// conflicts of rows a power of two apart); a 6 × 16 tile of outputs (12 accumulators) takes one
// micro-panel of each. Each output sums its 256-column blocks in order, whatever m, r0 and r1
// are, so a row's result does not depend on the batch or on how the rows were split.
enum { GEMM_MR = 6, GEMM_NR = 16, GEMM_KC = 256, GEMM_MC = 168, GEMM_NC = 4080 };

/// 8 × 8 transpose: r[i] (8 values of row i) becomes r[j] (value j of each row).
INLINE AVX2 void avx2_transpose8(__m256 r[8]) {
    __m256 t0 = _mm256_unpacklo_ps(r[0], r[1]), t1 = _mm256_unpackhi_ps(r[0], r[1]);
    __m256 t2 = _mm256_unpacklo_ps(r[2], r[3]), t3 = _mm256_unpackhi_ps(r[2], r[3]);
    __m256 t4 = _mm256_unpacklo_ps(r[4], r[5]), t5 = _mm256_unpackhi_ps(r[4], r[5]);
    __m256 t6 = _mm256_unpacklo_ps(r[6], r[7]), t7 = _mm256_unpackhi_ps(r[6], r[7]);
    __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
    __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
    __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
    __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
    r[0] = _mm256_permute2f128_ps(s0, s4, 0x20); r[1] = _mm256_permute2f128_ps(s1, s5, 0x20);
    r[2] = _mm256_permute2f128_ps(s2, s6, 0x20); r[3] = _mm256_permute2f128_ps(s3, s7, 0x20);
    r[4] = _mm256_permute2f128_ps(s0, s4, 0x31); r[5] = _mm256_permute2f128_ps(s1, s5, 0x31);
    r[6] = _mm256_permute2f128_ps(s2, s6, 0x31); r[7] = _mm256_permute2f128_ps(s3, s7, 0x31);
}

/// Weight rows [n, n + nc), columns [k0, k0 + kc), widened: panel[g · kc · 16 + p · 16 + j] =
/// W[n + g·16 + j][k0 + p], zero for rows past n + nc.
INLINE AVX2 void avx2_pack_weights(int dtype, const void *w, size_t k, size_t n, size_t nc, size_t k0, size_t kc,
                                   float *panel) {
    size_t element = blt_dtype_size(dtype);
    for (size_t g = 0; g < nc; g += GEMM_NR) {
        float *out = panel + g * kc;
        size_t rows = nc - g < GEMM_NR ? nc - g : GEMM_NR, p = 0;
        if (rows == GEMM_NR)
            for (; p + 8 <= kc; p += 8)
                for (size_t half = 0; half < 2; half++) {
                    __m256 r[8];
                    for (size_t i = 0; i < 8; i++)
                        r[i] = avx2_load_w(dtype, (const char *)w + (n + g + half * 8 + i) * k * element, k0 + p);
                    avx2_transpose8(r);
                    for (size_t i = 0; i < 8; i++) _mm256_store_ps(out + (p + i) * GEMM_NR + half * 8, r[i]);
                }
        for (; p < kc; p++)
            for (size_t j = 0; j < GEMM_NR; j++)
                out[p * GEMM_NR + j] = j < rows ? blt_element(dtype, (const char *)w + (n + g + j) * k * element, k0 + p) : 0;
    }
}

/// Rows [i, i + mc) of x, columns [k0, k0 + kc): panel[g · kc · 6 + p · 6 + r] = x[i + g·6 + r][k0 + p],
/// zero for rows past i + mc. Full micro-panels go 8 columns at a time through an 8 × 8 transpose
/// (two zero rows); each column's store spills 2 floats into the next column, which the next store
/// overwrites, or into the panel's slack of GEMM_MR × kc floats after the last micro-panel.
INLINE AVX2 void avx2_pack_rows(const float *x, size_t k, size_t i, size_t mc, size_t k0, size_t kc, float *panel) {
    for (size_t g = 0; g < mc; g += GEMM_MR) {
        float *out = panel + g * kc;
        size_t rows = mc - g < GEMM_MR ? mc - g : GEMM_MR, p = 0;
        if (rows == GEMM_MR)
            for (; p + 8 <= kc; p += 8) {
                __m256 r[8];
                for (size_t j = 0; j < GEMM_MR; j++) r[j] = _mm256_loadu_ps(x + (i + g + j) * k + k0 + p);
                r[6] = r[7] = _mm256_setzero_ps();
                avx2_transpose8(r);
                for (size_t j = 0; j < 8; j++) _mm256_storeu_ps(out + (p + j) * GEMM_MR, r[j]);
            }
        for (; p < kc; p++)
            for (size_t r = 0; r < GEMM_MR; r++) out[p * GEMM_MR + r] = r < rows ? x[(i + g + r) * k + k0 + p] : 0;
    }
}

/// One column of the x micro-panel times one row of the weight micro-panel, into the 6 × 16 tile.
INLINE AVX2 void avx2_gemm_step(const float *a, const float *b, __m256 c[GEMM_MR][2]) {
    __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    for (int i = 0; i < GEMM_MR; i++) {
        __m256 ai = _mm256_broadcast_ss(a + i);
        c[i][0] = _mm256_fmadd_ps(ai, b0, c[i][0]);
        c[i][1] = _mm256_fmadd_ps(ai, b1, c[i][1]);
    }
}

/// y[6 × 16 tile] (+)= a-panel · b-panel over kc: rows × columns of the tile are stored.
INLINE AVX2 void avx2_gemm_tile(size_t kc, const float *a, const float *b, float *y, size_t ldy, int accumulate,
                                size_t rows, size_t columns) {
    __m256 c[GEMM_MR][2];
    for (int i = 0; i < GEMM_MR; i++) c[i][0] = c[i][1] = _mm256_setzero_ps();
    for (size_t i = 0; i < rows; i++) {   // the tile's own outputs only: no address past y
        _mm_prefetch((const char *)(y + i * ldy), _MM_HINT_T0);
        _mm_prefetch((const char *)(y + i * ldy + columns - 1), _MM_HINT_T0);
    }
    size_t p = 0;
    // Four steps per iteration, and the x micro-panel fetched ahead (it comes from L2).
    for (; p + 4 <= kc; p += 4) {
        _mm_prefetch((const char *)(a + p * GEMM_MR + 96), _MM_HINT_T0);
        for (size_t q = p; q < p + 4; q++) avx2_gemm_step(a + q * GEMM_MR, b + q * GEMM_NR, c);
    }
    for (; p < kc; p++) avx2_gemm_step(a + p * GEMM_MR, b + p * GEMM_NR, c);
    if (rows == GEMM_MR && columns == GEMM_NR) {
        for (int i = 0; i < GEMM_MR; i++)
            for (int h = 0; h < 2; h++) {
                float *out = y + i * ldy + h * 8;
                _mm256_storeu_ps(out, accumulate ? _mm256_add_ps(_mm256_loadu_ps(out), c[i][h]) : c[i][h]);
            }
        return;
    }
    float tile[GEMM_MR][GEMM_NR];
    for (int i = 0; i < GEMM_MR; i++) { _mm256_storeu_ps(tile[i], c[i][0]); _mm256_storeu_ps(tile[i] + 8, c[i][1]); }
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < columns; j++) y[i * ldy + j] = accumulate ? y[i * ldy + j] + tile[i][j] : tile[i][j];
}

static AVX2 int avx2_gemm_weights(int dtype, const void *w, size_t k, const float *x, size_t m, float *y, size_t ldy,
                                  size_t r0, size_t r1) {
    size_t slice = r1 - r0 < GEMM_NC ? r1 - r0 : GEMM_NC;
    size_t weight_panel = (slice + GEMM_NR - 1) / GEMM_NR * GEMM_NR * GEMM_KC;
    float *panel = blt_thread_scratch((weight_panel + (GEMM_MC + GEMM_MR) * GEMM_KC) * sizeof(float));
    if (!panel) return -1;
    float *rows_panel = panel + weight_panel;
    for (size_t n = r0; n < r1; n += GEMM_NC) {
        size_t nc = r1 - n < GEMM_NC ? r1 - n : GEMM_NC;
        for (size_t k0 = 0; k0 < k; k0 += GEMM_KC) {
            size_t kc = k - k0 < GEMM_KC ? k - k0 : GEMM_KC;
            avx2_pack_weights(dtype, w, k, n, nc, k0, kc, panel);
            for (size_t i = 0; i < m; i += GEMM_MC) {
                size_t mc = m - i < GEMM_MC ? m - i : GEMM_MC;
                avx2_pack_rows(x, k, i, mc, k0, kc, rows_panel);
                for (size_t j = 0; j < nc; j += GEMM_NR)
                    for (size_t g = 0; g < mc; g += GEMM_MR)
                        avx2_gemm_tile(kc, rows_panel + g * kc, panel + j * kc, y + (i + g) * ldy + n + j, ldy, k0 > 0,
                                       mc - g < GEMM_MR ? mc - g : GEMM_MR, nc - j < GEMM_NR ? nc - j : GEMM_NR);
            }
        }
    }
    return 0;
}

static AVX2 void avx2_widen_bf16(const void *src, float *dst, size_t n) {
    const uint16_t *s = (const uint16_t *)src;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, avx2_load_bf16(s + i));
    for (; i < n; i++) dst[i] = blt_bf16_to_f32(s[i]);
}
static AVX2 void avx2_widen_f16(const void *src, float *dst, size_t n) {
    const uint16_t *s = (const uint16_t *)src;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, avx2_load_f16(s + i));
    for (; i < n; i++) dst[i] = blt_f16_to_f32(s[i]);
}
static AVX2 void avx2_add_bf16(const void *src, float *dst, size_t n) {
    const uint16_t *s = (const uint16_t *)src;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), avx2_load_bf16(s + i)));
    for (; i < n; i++) dst[i] += blt_bf16_to_f32(s[i]);
}
static AVX2 void avx2_add_f16(const void *src, float *dst, size_t n) {
    const uint16_t *s = (const uint16_t *)src;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_add_ps(_mm256_loadu_ps(dst + i), avx2_load_f16(s + i)));
    for (; i < n; i++) dst[i] += blt_f16_to_f32(s[i]);
}

/// Activation products: 4 rows of A × 16 columns of B per tile (8 accumulators), B rows streamed.
static AVX2 void avx2_outer(size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                            const float *b, size_t ldb, float *c, size_t ldc) {
    size_t full = n / 16 * 16;
    __m256 scale = _mm256_set1_ps(alpha);
    for (size_t j = 0; j < full; j += 16)
        for (size_t i = 0; i < m; i += 4) {
            int rows = m - i < 4 ? (int)(m - i) : 4;
            __m256 acc[4][2];
            for (int r = 0; r < 4; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();
            for (size_t p = 0; p < k; p++) {
                __m256 b0 = _mm256_loadu_ps(b + p * ldb + j), b1 = _mm256_loadu_ps(b + p * ldb + j + 8);
                for (int r = 0; r < 4; r++) {
                    if (r >= rows) break;
                    __m256 av = _mm256_broadcast_ss(a + (i + r) * lda + p);
                    acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
                    acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
                }
            }
            for (int r = 0; r < rows; r++) {
                _mm256_storeu_ps(c + (i + r) * ldc + j, _mm256_mul_ps(acc[r][0], scale));
                _mm256_storeu_ps(c + (i + r) * ldc + j + 8, _mm256_mul_ps(acc[r][1], scale));
            }
        }
    if (full < n) blt_outer_generic(m, n - full, k, alpha, a, lda, b + full, ldb, c + full, ldc);
}

/// e^x in 8 lanes (BLT_EXP_POLY, x86.h; the 16-lane twin avx512_exp is there too).
INLINE AVX2 __m256 avx2_exp(__m256 x) {
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.33f)), _mm256_set1_ps(88.37f));
    __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693359375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-2.12194440e-4f), r);
    __m256 z = _mm256_mul_ps(r, r);
    __m256 y;
    BLT_EXP_POLY(_mm256_fmadd_ps, _mm256_add_ps, _mm256_set1_ps, r, z, y);
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

static AVX2 void avx2_softmax(float *x, size_t n) {
    size_t full = n / 8 * 8, j;
    float maximum = x[0];
    __m256 m = _mm256_set1_ps(x[0]);
    for (j = 0; j < full; j += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(x + j));
    float lanes[8];
    _mm256_storeu_ps(lanes, m);
    for (int l = 0; l < 8; l++) maximum = lanes[l] > maximum ? lanes[l] : maximum;
    for (; j < n; j++) maximum = x[j] > maximum ? x[j] : maximum;
    __m256 shift = _mm256_set1_ps(maximum), sum = _mm256_setzero_ps();
    for (j = 0; j < full; j += 8) {
        __m256 e = avx2_exp(_mm256_sub_ps(_mm256_loadu_ps(x + j), shift));
        _mm256_storeu_ps(x + j, e);
        sum = _mm256_add_ps(sum, e);
    }
    float total = avx2_sum(sum);
    for (; j < n; j++) {
        x[j] = expf(x[j] - maximum);
        total += x[j];
    }
    __m256 inverse = _mm256_set1_ps(1 / total);
    for (j = 0; j < full; j += 8) _mm256_storeu_ps(x + j, _mm256_mul_ps(_mm256_loadu_ps(x + j), inverse));
    for (; j < n; j++) x[j] *= 1 / total;
}

static AVX2 void avx2_silu_multiply(float *gate, const float *up, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 g = _mm256_loadu_ps(gate + i);
        __m256 e = avx2_exp(_mm256_sub_ps(_mm256_setzero_ps(), g));
        _mm256_storeu_ps(gate + i, _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1), e)), _mm256_loadu_ps(up + i)));
    }
    for (; i < n; i++) gate[i] = gate[i] / (1 + expf(-gate[i])) * up[i];
}

/// One query over keys and values stored in `dtype` (a constant after inlining).
INLINE AVX2 void avx2_attend_one(int dtype, const float *q, const void *keys, const void *values, size_t stride,
                                 size_t d, size_t count, int uniform, float scale, float *weights, float *out) {
    size_t row = stride * blt_dtype_size(dtype);
    for (size_t j = 0; j < count; j++) {
        float s = 0;
        const void *key = (const char *)keys + j * row;
        if (!uniform) avx2_tile(dtype, 1, 1, &q, &key, d, &s);
        weights[j] = s * scale;
    }
    avx2_softmax(weights, count);
    // 32 output columns at a time in registers, every key's value row read once per block.
    size_t c = 0;
    for (; c + 32 <= d; c += 32) {
        __m256 o0 = _mm256_setzero_ps(), o1 = o0, o2 = o0, o3 = o0;
        for (size_t j = 0; j < count; j++) {
            const void *v = (const char *)values + j * row;
            __m256 p = _mm256_broadcast_ss(weights + j);
            o0 = _mm256_fmadd_ps(p, avx2_load_w(dtype, v, c), o0);
            o1 = _mm256_fmadd_ps(p, avx2_load_w(dtype, v, c + 8), o1);
            o2 = _mm256_fmadd_ps(p, avx2_load_w(dtype, v, c + 16), o2);
            o3 = _mm256_fmadd_ps(p, avx2_load_w(dtype, v, c + 24), o3);
        }
        _mm256_storeu_ps(out + c, o0); _mm256_storeu_ps(out + c + 8, o1);
        _mm256_storeu_ps(out + c + 16, o2); _mm256_storeu_ps(out + c + 24, o3);
    }
    for (; c < d; c++) {
        float s = 0;
        for (size_t j = 0; j < count; j++) s += weights[j] * blt_element(dtype, (const char *)values + j * row, c);
        out[c] = s;
    }
}

void AVX2 blt_avx2_attend_one(int dtype, const float *q, const void *keys, const void *values, size_t stride, size_t d,
                              size_t count, int uniform, float scale, float *weights, float *out) {
    switch (dtype) {
    case BLT_DTYPE_BF16: avx2_attend_one(BLT_DTYPE_BF16, q, keys, values, stride, d, count, uniform, scale, weights, out); break;
    case BLT_DTYPE_F16: avx2_attend_one(BLT_DTYPE_F16, q, keys, values, stride, d, count, uniform, scale, weights, out); break;
    default: avx2_attend_one(BLT_DTYPE_F32, q, keys, values, stride, d, count, uniform, scale, weights, out);
    }
}

const blt_kernel_table blt_avx2_kernels = {
    .widen = {NULL, avx2_widen_bf16, avx2_widen_f16},
    .add_row = {NULL, avx2_add_bf16, avx2_add_f16},
    .matmul = {NULL, avx2_matmul_bf16, avx2_matmul_f16},
    .gemm_weights = avx2_gemm_weights,
    .bf16_dot = NULL,
    .outer = avx2_outer,
    .softmax = avx2_softmax,
    .silu_multiply = avx2_silu_multiply,
    .attend_one = blt_avx2_attend_one,
};
#endif
