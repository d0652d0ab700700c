// Shared by the x86 kernel files (x86_avx2.c, x86_avx512.c, amx.c): target attributes, small inline
// helpers and the tiled-matmul template. Every function here is inlined into callers whose target includes its own.
#ifndef BLT_CKERNELS_X86_H
#define BLT_CKERNELS_X86_H
#if defined(__x86_64__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma,f16c")))
#define AVX512 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl")))
#define AVX512BF16 __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512bf16")))
#define AMX __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512bf16,amx-tile,amx-bf16")))
#define INLINE static inline __attribute__((always_inline))

/// Rows of a 16 × 16 block of 32-bit values become its columns.
INLINE AVX512 void avx512_transpose16(__m512i r[16]) {
    __m512i t[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    for (int i = 0; i < 16; i += 4) {
        r[i] = _mm512_unpacklo_epi64(t[i], t[i + 2]);
        r[i + 1] = _mm512_unpackhi_epi64(t[i], t[i + 2]);
        r[i + 2] = _mm512_unpacklo_epi64(t[i + 1], t[i + 3]);
        r[i + 3] = _mm512_unpackhi_epi64(t[i + 1], t[i + 3]);
    }
    for (int i = 0; i < 16; i += 8)
        for (int j = 0; j < 4; j++) {
            t[i + j] = _mm512_shuffle_i32x4(r[i + j], r[i + j + 4], 0x88);
            t[i + j + 4] = _mm512_shuffle_i32x4(r[i + j], r[i + j + 4], 0xdd);
        }
    for (int j = 0; j < 8; j++) {
        r[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);
        r[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xdd);
    }
}

// exp(x) as Cephes' expf: x = n·ln 2 + r, a degree-6 polynomial in r, times 2ⁿ. Inputs are
// clamped to [−87.33, 88.37]: below, 2⁻¹²⁶·e^r (≈ 1e-38) instead of underflowing; above, ≈ 3e38
// instead of infinity (silu of such a gate is then −1e-37 instead of −0).
#define BLT_EXP_POLY(FMA, ADD, SET1, r, z, y)                                                      \
    do {                                                                                              \
        y = FMA(SET1(1.9875691500e-4f), r, SET1(1.3981999507e-3f));                                   \
        y = FMA(y, r, SET1(8.3334519073e-3f));                                                        \
        y = FMA(y, r, SET1(4.1665795894e-2f));                                                        \
        y = FMA(y, r, SET1(1.6666665459e-1f));                                                        \
        y = FMA(y, r, SET1(5.0000001201e-1f));                                                        \
        y = FMA(y, z, ADD(r, SET1(1.0f)));                                                            \
    } while (0)

INLINE AVX512 __mmask16 tail16(size_t left) { return left >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << left) - 1); }

/// e^x in 16 lanes (see BLT_EXP_POLY).
INLINE AVX512 __m512 avx512_exp(__m512 x) {
    x = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(-87.33f)), _mm512_set1_ps(88.37f));
    __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
    __m512 z = _mm512_mul_ps(r, r);
    __m512 y;
    BLT_EXP_POLY(_mm512_fmadd_ps, _mm512_add_ps, _mm512_set1_ps, r, z, y);
    return _mm512_scalef_ps(y, n);
}

/// Tiles of 4 x rows × 2 weight rows (1 × 4 for a single x row, i.e. matrix-vector); partial
/// tiles repeat the last valid row and drop its results.
#define BLT_TILED_MATMUL(NAME, ATTR, TILE, DTYPE)                                                     \
    static ATTR void NAME(const void *weights, size_t k, const float *x, size_t m, float *y, size_t ldy, \
                          size_t r0, size_t r1) {                                                     \
        const uint16_t *w = (const uint16_t *)weights;                                                \
        if (m == 1) {                                                                                 \
            for (size_t r = r0; r < r1; r += 4) {                                                     \
                const void *wr[4];                                                                    \
                for (int j = 0; j < 4; j++) wr[j] = w + (r + j < r1 ? r + j : r1 - 1) * k;            \
                float out[4];                                                                         \
                TILE(DTYPE, 1, 4, &x, wr, k, out);                                                    \
                for (int j = 0; j < 4 && r + j < r1; j++) y[r + j] = out[j];                          \
            }                                                                                         \
            return;                                                                                   \
        }                                                                                             \
        for (size_t r = r0; r < r1; r += 2) {                                                         \
            const void *wr[2];                                                                        \
            for (int j = 0; j < 2; j++) wr[j] = w + (r + j < r1 ? r + j : r1 - 1) * k;                \
            for (size_t i = 0; i < m; i += 4) {                                                       \
                const float *xr[4];                                                                   \
                for (int l = 0; l < 4; l++) xr[l] = x + (i + l < m ? i + l : m - 1) * k;              \
                float out[8];                                                                         \
                TILE(DTYPE, 4, 2, xr, wr, k, out);                                                    \
                for (int l = 0; l < 4 && i + l < m; l++)                                              \
                    for (int j = 0; j < 2 && r + j < r1; j++) y[(i + l) * ldy + r + j] = out[l * 2 + j]; \
            }                                                                                         \
        }                                                                                             \
    }

#endif
#endif
