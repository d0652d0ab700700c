// AMX-BF16 tile products (Intel Sapphire Rapids and later): the `amx` path, used by bf16
// precision. A tile multiply (tdpbf16ps) does 16 × 16 × 32 bf16 products with fp32 sums, 8–16×
// the work of a vdpbf16ps, so this is what matches oneDNN (and torch's bf16 matmul) on such CPUs.
//
// y = x · Wᵀ is computed as 32 × 32 blocks of y in four fp32 tiles: two tiles of x rows (A) times
// two tiles of W rows (B). x is packed once per product (blt_amx_pack: rounded to bf16, 32-row
// blocks, each 32 columns two contiguous 1 KB tiles); W is read from the mapped checkpoint and
// packed up to 128 rows at a time into B's pair-interleaved layout (a 16 × 16 transpose of bf16
// pairs), which stays in L2 while every block of x passes over it.
#include "internal.h"

#if defined(__x86_64__)
#include "x86.h"
#include <stdlib.h>
#include <cpuid.h>
#include <unistd.h>
#include <sys/syscall.h>

int blt_amx_supported(void) {
    static int supported = -1;   // a race only computes the same answer twice
    if (supported >= 0) return supported;
    unsigned a, b, c, d;
    int cpu = __get_cpuid_count(7, 0, &a, &b, &c, &d) && ((d >> 22) & 1) && ((d >> 24) & 1);   // AMX-BF16, AMX-TILE
    // Linux hands out the 8 KB tile state only to processes that ask (ARCH_REQ_XCOMP_PERM for
    // XFEATURE_XTILEDATA); without it the first tile instruction is fatal.
    supported = cpu && syscall(SYS_arch_prctl, 0x1023, 18) == 0;
    return supported;
}

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
                const float *src = x + row * k + kb * 32;
                _mm256_storeu_si256((__m256i *)dst, round16(_mm512_loadu_ps(src)));
                _mm256_storeu_si256((__m256i *)(dst + 16), round16(_mm512_loadu_ps(src + 16)));
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
            avx512_transpose16(r);
            uint16_t *tile = panel + (kb * 2 + half) * 512;
            for (int p = 0; p < 16; p++) _mm512_store_si512(tile + p * 32, r[p]);
        }
}

/// Weight rows packed per pass: as many 32-row panels as fit in 1 MB (at most 4), so that each
/// 32-row block of x, fetched from L3 once per pass, then serves every panel from L2 (blocks of x
/// were streamed from L3 once per 32 weight rows before: 1.2–1.5× slower on blt-1b's shapes).
static size_t panels_per_pass(size_t k) {
    size_t panels = (1u << 20) / (k * 64);
    return panels < 1 ? 1 : panels > 4 ? 4 : panels;
}

static AMX int amx_matmul(const uint16_t *w, size_t k, const uint16_t *packed, size_t m, float *y, size_t ldy,
                          size_t r0, size_t r1) {
    const size_t panels = panels_per_pass(k), panel_size = k * 32;   // bf16 values per 32-row panel
    uint16_t *pass = blt_thread_scratch(panels * panel_size * sizeof(uint16_t));
    if (!pass) return -1;
    tile_config config;
    memset(&config, 0, sizeof config);
    config.palette = 1;
    for (int t = 0; t < 8; t++) {   // 0–3: y, 4–5: x, 6–7: W; all 16 rows of 64 bytes
        config.bytes_per_row[t] = 64;
        config.rows[t] = 16;
    }
    _tile_loadconfig(&config);
    float edge[32][32] __attribute__((aligned(64)));
    const size_t column_blocks = k / 32;
    for (size_t first = r0; first < r1; first += panels * 32) {
        size_t last = r1 - first < panels * 32 ? r1 : first + panels * 32;
        for (size_t n = first; n < last; n += 32) pack_weights(w, k, n, r1, pass + (n - first) / 32 * panel_size);
        for (size_t i = 0; i < m; i += 32) {
            const uint16_t *a = packed + (i / 32) * column_blocks * 1024;
            size_t m_count = m - i < 32 ? m - i : 32;
            for (size_t n = first; n < last; n += 32) {
                const uint16_t *panel = pass + (n - first) / 32 * panel_size;
                _tile_zero(0);
                _tile_zero(1);
                _tile_zero(2);
                _tile_zero(3);
                // Each load just before its first use, so that loads overlap the products.
                for (size_t kb = 0; kb < column_blocks; kb++) {
                    _tile_loadd(4, a + kb * 1024, 64);
                    _tile_loadd(6, panel + kb * 1024, 64);
                    _tile_dpbf16ps(0, 4, 6);
                    _tile_loadd(7, panel + kb * 1024 + 512, 64);
                    _tile_dpbf16ps(1, 4, 7);
                    _tile_loadd(5, a + kb * 1024 + 512, 64);
                    _tile_dpbf16ps(2, 5, 6);
                    _tile_dpbf16ps(3, 5, 7);
                }
                size_t n_count = r1 - n < 32 ? r1 - n : 32;
                if (m_count == 32 && n_count == 32) {
                    float *c = y + i * ldy + n;
                    _tile_stored(0, c, ldy * 4);
                    _tile_stored(1, c + 16, ldy * 4);
                    _tile_stored(2, c + 16 * ldy, ldy * 4);
                    _tile_stored(3, c + 16 * ldy + 16, ldy * 4);
                } else {   // a block at the edge of y: through a buffer, keeping what lies inside
                    _tile_stored(0, &edge[0][0], 128);
                    _tile_stored(1, &edge[0][16], 128);
                    _tile_stored(2, &edge[16][0], 128);
                    _tile_stored(3, &edge[16][16], 128);
                    for (size_t l = 0; l < m_count; l++) memcpy(y + (i + l) * ldy + n, edge[l], n_count * 4);
                }
            }
        }
    }
    _tile_release();
    return 0;
}
#else
int blt_amx_supported(void) { return 0; }
#endif

size_t blt_amx_packed_count(size_t m, size_t k) { return (m + 31) / 32 * 32 * k; }

int blt_amx_pack(const float *x, size_t m, size_t k, uint16_t *packed) {
#if defined(__x86_64__)
    if (blt_active_path() == BLT_PATH_AMX && k % 32 == 0) {
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
    if (blt_active_path() == BLT_PATH_AMX && k % 32 == 0 && k > 0) return amx_matmul(w, k, packed, m, y, ldy, row_begin, row_end);
#endif
    (void)w; (void)packed; (void)y; (void)ldy;
    return -1;
}
