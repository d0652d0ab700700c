// AMX-BF16 tile products (Intel Sapphire Rapids and later): the `amx` path, used by bf16
// precision. A tile multiply (tdpbf16ps) does 16 × 16 × 32 bf16 products with fp32 sums, 8–16×
// the work of a vdpbf16ps, so this is what matches oneDNN (and torch's bf16 matmul) on such CPUs.
//
// y = x · Wᵀ is computed as 32 × 32 blocks of y in four fp32 tiles: two tiles of x rows (A) times
// two tiles of W rows (B). x is packed once per product (blt_amx_pack: rounded to bf16, 32-row
// blocks, each 32 columns two contiguous 1 KB tiles); W is read from the mapped checkpoint and
// packed up to 256 rows at a time into B's pair-interleaved layout (a 16 × 16 transpose of bf16
// pairs), which stays in L2 while every block of x passes over it.
#include "internal.h"

#if defined(__x86_64__)
#include "x86.h"
#include <stdlib.h>

typedef struct {
    uint8_t palette, start_row, reserved[14];
    uint16_t bytes_per_row[16];
    uint8_t rows[16];
} tile_config;

/// 16 floats rounded to bf16 exactly as blt_round_to_bf16 (nearest even, NaN → 0xFFFF).
INLINE AMX __m256i round16(__m512 v) {
    __m512i b = _mm512_castps_si512(v);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(b, 16), _mm512_set1_epi32(1));
    __m512i rounded = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(b, _mm512_set1_epi32(0x7FFF)), odd), 16);
    __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(b, _mm512_set1_epi32(0x7FFFFFFF)), _mm512_set1_epi32(0x7F800000));
    rounded = _mm512_mask_mov_epi32(rounded, nan, _mm512_set1_epi32(0xFFFF));
    return _mm512_cvtepi32_epi16(rounded);
}

/// 32 floats rounded to bf16: one 64-byte row of 16 bf16 pairs.
INLINE AMX __m512i round32(const float *src) {
    __m256i a = round16(_mm512_loadu_ps(src)), b = round16(_mm512_loadu_ps(src + 16));
    return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

/// 16 rows of 32 bf16 values (r[i]: row i as 16 pairs) as one B tile: tile row p holds pair p of
/// every row. The layout of every right operand made of rows (weights, keys).
INLINE AMX void store_b_tile(__m512i r[16], uint16_t *tile) {
    avx512_transpose16(r);
    for (int p = 0; p < 16; p++) _mm512_storeu_si512(tile + p * 32, r[p]);
}

static AMX void amx_pack(const float *x, size_t m, size_t k, uint16_t *packed) {
    size_t blocks = (m + 31) / 32, column_blocks = k / 32;
    for (size_t b = 0; b < blocks; b++)
        for (size_t l = 0; l < 32; l++) {
            size_t row = b * 32 + l;
            for (size_t kb = 0; kb < column_blocks; kb++) {
                uint16_t *dst = packed + ((b * column_blocks + kb) * 32 + l) * 32;
                if (row >= m) {
                    _mm512_storeu_si512(dst, _mm512_setzero_si512());
                    continue;
                }
                _mm512_storeu_si512(dst, round32(x + row * k + kb * 32));
            }
        }
}

/// Weight rows [n, n + 32) (rows ≥ end read as zero) as B tiles: for every 32 columns two 1 KB
/// tiles (rows n…n+15, n+16…n+31) whose row p holds the bf16 pair (2p, 2p+1) of each weight row.
static AMX void pack_weights(const uint16_t *w, size_t k, size_t n, size_t end, uint16_t *panel) {
    for (size_t kb = 0; kb < k / 32; kb++)
        for (int half = 0; half < 2; half++) {
            __m512i r[16];
            for (int i = 0; i < 16; i++) {
                size_t row = n + half * 16 + i;
                r[i] = row < end ? _mm512_loadu_si512(w + row * k + kb * 32) : _mm512_setzero_si512();
            }
            store_b_tile(r, panel + (kb * 2 + half) * 512);
        }
}

/// Every tile 16 rows of 64 bytes: in products, tiles 0–3 hold sums, 4–5 the left operand, 6–7 the right.
static AMX void load_tile_config(void) {
    tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 8; t++) {
        config.bytes_per_row[t] = 64;
        config.rows[t] = 16;
    }
    _tile_loadconfig(&config);
}

/// The sums of one 32 × 32 block, left in tiles 0–3 (0: A rows 0–15 by B columns 0–15, 1: by
/// columns 16–31, 2 and 3: A rows 16–31), over `steps` steps of 32 products each: step s takes the
/// A rows at a + s · a_step (16-bit values; rows a_stride bytes apart, rows 16–31 sixteen rows on)
/// and the two B tiles at b + s · b_step and b + s · b_step + b_second. Each load comes just before
/// its first use, so that loads overlap the products. Every product of the engine on AMX is this.
INLINE AMX void tile_block(const uint16_t *a, size_t a_stride, size_t a_step, const uint16_t *b, size_t b_step,
                           size_t b_second, size_t steps) {
    const uint16_t *a_lower = (const uint16_t *)((const char *)a + 16 * a_stride);
    _tile_zero(0);
    _tile_zero(1);
    _tile_zero(2);
    _tile_zero(3);
    for (size_t s = 0; s < steps; s++) {
        _tile_loadd(4, a + s * a_step, a_stride);
        _tile_loadd(6, b + s * b_step, 64);
        _tile_dpbf16ps(0, 4, 6);
        _tile_loadd(7, b + s * b_step + b_second, 64);
        _tile_dpbf16ps(1, 4, 7);
        _tile_loadd(5, a_lower + s * a_step, a_stride);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
    }
}

/// Tiles 0–3 (a 32 × 32 block) into rows [0, rows) and columns [0, columns) of c, rows ldc floats
/// apart: whole blocks directly, blocks at an edge through a buffer so nothing outside is written.
INLINE AMX void store_block(float *c, size_t ldc, size_t rows, size_t columns) {
    if (rows == 32 && columns == 32) {
        _tile_stored(0, c, ldc * 4);
        _tile_stored(1, c + 16, ldc * 4);
        _tile_stored(2, c + 16 * ldc, ldc * 4);
        _tile_stored(3, c + 16 * ldc + 16, ldc * 4);
        return;
    }
    float edge[32][32] __attribute__((aligned(64)));
    _tile_stored(0, &edge[0][0], 128);
    _tile_stored(1, &edge[0][16], 128);
    _tile_stored(2, &edge[16][0], 128);
    _tile_stored(3, &edge[16][16], 128);
    for (size_t l = 0; l < rows; l++) memcpy(c + l * ldc, edge[l], columns * sizeof(float));
}

/// Weight rows packed per pass: as many 32-row panels as fit in 1 MB (at most 8), so that each
/// 32-row block of x, fetched from L3 once per pass, then serves every panel from L2. One core,
/// blt-1b's shapes: 1.2–1.5× the rate of one panel per pass; 8 panels gain another 10–20 % over 4
/// where k ≤ 1024; a 2 MB budget loses at k = 2816 and 5632 (x no longer stays in L2).
static size_t panels_per_pass(size_t k) {
    size_t panels = (1u << 20) / (k * 64);
    return panels < 1 ? 1 : panels > 8 ? 8 : panels;
}

static AMX int amx_matmul(const uint16_t *w, size_t k, const uint16_t *packed, size_t m, float *y, size_t ldy,
                          size_t r0, size_t r1) {
    const size_t panels = panels_per_pass(k), panel_size = k * 32;   // bf16 values per 32-row panel
    uint16_t *pass = blt_thread_scratch(panels * panel_size * sizeof(uint16_t));
    if (!pass) return -1;
    load_tile_config();
    const size_t column_blocks = k / 32;
    for (size_t first = r0; first < r1; first += panels * 32) {
        size_t last = r1 - first < panels * 32 ? r1 : first + panels * 32;
        for (size_t n = first; n < last; n += 32) pack_weights(w, k, n, r1, pass + (n - first) / 32 * panel_size);
        for (size_t i = 0; i < m; i += 32) {
            const uint16_t *a = packed + (i / 32) * column_blocks * 1024;
            for (size_t n = first; n < last; n += 32) {
                tile_block(a, 64, 1024, pass + (n - first) / 32 * panel_size, 1024, 512, column_blocks);
                store_block(y + i * ldy + n, ldy, m - i < 32 ? m - i : 32, r1 - n < 32 ? r1 - n : 32);
            }
        }
    }
    _tile_release();
    return 0;
}

// ---- bf16 attention (bf16 precision on the amx path), as torch's bf16 attention does it: q, k, v
// and the softmax weights rounded to bf16, products summed in fp32, softmax in fp32 ----

static AMX void amx_pack_keys(const float *keys, size_t ldk, size_t count, size_t d, uint16_t *packed) {
    size_t padded = (count + 31) / 32 * 32, dim_blocks = d / 32;
    for (size_t key = 0; key < padded; key += 16)
        for (size_t db = 0; db < dim_blocks; db++) {
            __m512i r[16];
            for (int i = 0; i < 16; i++)
                r[i] = key + i < count ? round32(keys + (key + i) * ldk + db * 32) : _mm512_setzero_si512();
            store_b_tile(r, packed + ((key / 16) * dim_blocks + db) * 512);
        }
}

static AMX void amx_pack_values(const float *values, size_t ldv, size_t count, size_t d, uint16_t *packed) {
    size_t padded = (count + 31) / 32 * 32, dim_blocks = d / 16;
    for (size_t key = 0; key < padded; key += 32)
        for (size_t db = 0; db < dim_blocks; db++) {
            uint16_t *tile = packed + ((key / 32) * dim_blocks + db) * 512;
            for (size_t p = 0; p < 16; p++) {   // row p: keys 2p and 2p + 1, interleaved per dimension
                size_t even = key + 2 * p, odd = even + 1;
                __m512i a = even < count ? _mm512_cvtepu16_epi32(round16(_mm512_loadu_ps(values + even * ldv + db * 16))) : _mm512_setzero_si512();
                __m512i b = odd < count ? _mm512_cvtepu16_epi32(round16(_mm512_loadu_ps(values + odd * ldv + db * 16))) : _mm512_setzero_si512();
                _mm512_storeu_si512(tile + p * 32, _mm512_or_si512(a, _mm512_slli_epi32(b, 16)));
            }
        }
}

/// One row of attention weights, rounded to bf16 into w[0, width): softmax of row[a, b) · scale
/// (all equal when `uniform`), zero outside [a, b); row[a, b) is overwritten. The same steps and
/// sums as scaling the row, blt_softmax_row on the avx512 path and then rounding, in one pass less.
static AMX void softmax_to_bf16(float *row, size_t width, size_t a, size_t b, int uniform, float scale, uint16_t *w) {
    memset(w, 0, a * sizeof(uint16_t));
    memset(w + b, 0, (width - b) * sizeof(uint16_t));
    const size_t n = b - a;
    float *x = row + a;
    __m512 shift = _mm512_setzero_ps(), sum = _mm512_setzero_ps(), scales = _mm512_set1_ps(scale);
    if (!uniform) {
        __m512 m = _mm512_set1_ps(x[0] * scale);
        for (size_t j = 0; j < n; j += 16) m = _mm512_max_ps(m, _mm512_mul_ps(_mm512_maskz_loadu_ps(tail16(n - j), x + j), scales));
        shift = _mm512_set1_ps(_mm512_reduce_max_ps(m));
    }
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 mask = tail16(n - j);
        __m512 s = uniform ? _mm512_setzero_ps() : _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x + j), scales);
        __m512 e = _mm512_maskz_mov_ps(mask, avx512_exp(_mm512_sub_ps(s, shift)));
        _mm512_mask_storeu_ps(x + j, mask, e);
        sum = _mm512_add_ps(sum, e);
    }
    __m512 inverse = _mm512_set1_ps(1 / _mm512_reduce_add_ps(sum));
    for (size_t j = 0; j < n; j += 16) {
        __mmask16 mask = tail16(n - j);
        __m256i rounded = round16(_mm512_mul_ps(_mm512_maskz_loadu_ps(mask, x + j), inverse));
        _mm256_mask_storeu_epi16(w + a + j, mask, rounded);
    }
}

static AMX int amx_attend(const uint16_t *q, size_t ldq, size_t rows, size_t d, const uint16_t *keys,
                          const uint16_t *values, const size_t *from, const size_t *to, const uint8_t *uniform,
                          float scale, float *out, size_t ldo) {
    size_t lower = SIZE_MAX, upper = 0;
    for (size_t r = 0; r < rows; r++)
        if (from[r] < to[r]) {
            lower = from[r] < lower ? from[r] : lower;
            upper = to[r] > upper ? to[r] : upper;
        }
    if (lower >= upper) {
        for (size_t r = 0; r < rows; r++) memset(out + r * ldo, 0, d * sizeof(float));
        return 0;
    }
    // Whole 32-key blocks: keys outside a row's range get weight 0, the packing's padding is 0.
    const size_t first = lower / 32 * 32, width = (upper + 31) / 32 * 32 - first, padded_rows = (rows + 31) / 32 * 32;
    float *scores = blt_thread_scratch(padded_rows * width * (sizeof(float) + sizeof(uint16_t)));
    if (!scores) return -1;
    uint16_t *weights = (uint16_t *)(scores + padded_rows * width);
    load_tile_config();
    const size_t dim_blocks = d / 32;
    for (size_t i = 0; i < padded_rows; i += 32)   // scores = q · kᵀ, 32 × 32 blocks
        for (size_t j = 0; j < width; j += 32) {
            tile_block(q + i * ldq, ldq * 2, 32, keys + ((first + j) / 16) * dim_blocks * 512, 512, dim_blocks * 512, dim_blocks);
            store_block(scores + i * width + j, width, 32, 32);
        }
    for (size_t r = 0; r < padded_rows; r++) {
        uint16_t *w = weights + r * width;
        if (r >= rows || from[r] >= to[r]) memset(w, 0, width * sizeof(uint16_t));
        else softmax_to_bf16(scores + r * width, width, from[r] - first, to[r] - first, uniform[r], scale, w);
    }
    const size_t value_blocks = d / 16;
    for (size_t i = 0; i < padded_rows; i += 32)   // out = weights · v, 32 × 32 blocks
        for (size_t c = 0; c < d; c += 32) {
            tile_block(weights + i * width, width * 2, 32, values + ((first / 32) * value_blocks + c / 16) * 512,
                       value_blocks * 512, 512, width / 32);
            store_block(out + i * ldo + c, ldo, rows - i < 32 ? rows - i : 32, 32);
        }
    _tile_release();
    return 0;
}

/// Whether the amx path is active and a product over k (or a head of dimension k) fits its tiles.
static int amx_fits(size_t k) { return blt_active_path() == BLT_PATH_AMX && k % 32 == 0 && k > 0; }
#endif

size_t blt_amx_packed_count(size_t m, size_t k) { return (m + 31) / 32 * 32 * k; }

int blt_amx_pack(const float *x, size_t m, size_t k, uint16_t *packed) {
#if defined(__x86_64__)
    if (amx_fits(k)) {
        amx_pack(x, m, k, packed);
        return 0;
    }
#endif
    (void)x; (void)m; (void)k; (void)packed;
    return -1;
}

int blt_amx_matmul(const uint16_t *w, size_t k, const uint16_t *packed, size_t m, float *y, size_t ldy,
                   size_t row_begin, size_t row_end) {
    if (m == 0 || row_begin >= row_end) return 0;
#if defined(__x86_64__)
    if (amx_fits(k)) return amx_matmul(w, k, packed, m, y, ldy, row_begin, row_end);
#endif
    (void)w; (void)packed; (void)y; (void)ldy;
    return -1;
}

size_t blt_amx_packed_keys_count(size_t count, size_t d) { return (count + 31) / 32 * 32 * d; }

int blt_amx_pack_keys(const float *keys, size_t ldk, size_t count, size_t d, uint16_t *packed) {
#if defined(__x86_64__)
    if (amx_fits(d)) {
        amx_pack_keys(keys, ldk, count, d, packed);
        return 0;
    }
#endif
    (void)keys; (void)ldk; (void)count; (void)packed;
    return -1;
}

int blt_amx_pack_values(const float *values, size_t ldv, size_t count, size_t d, uint16_t *packed) {
#if defined(__x86_64__)
    if (amx_fits(d)) {
        amx_pack_values(values, ldv, count, d, packed);
        return 0;
    }
#endif
    (void)values; (void)ldv; (void)count; (void)packed;
    return -1;
}

int blt_amx_attend(const uint16_t *q, size_t ldq, size_t rows, size_t d, const uint16_t *keys, const uint16_t *values,
                   const size_t *from, const size_t *to, const uint8_t *uniform, float scale, float *out, size_t ldo) {
    if (rows == 0) return 0;
#if defined(__x86_64__)
    if (amx_fits(d)) return amx_attend(q, ldq, rows, d, keys, values, from, to, uniform, scale, out, ldo);
#endif
    (void)q; (void)ldq; (void)keys; (void)values; (void)from; (void)to; (void)uniform; (void)scale; (void)out; (void)ldo;
    return -1;
}
