// Path selection and the portable kernels (any CPU, any architecture).
#include "internal.h"
#include <stdlib.h>
#include <stdio.h>
#include <pthread.h>
#include <math.h>
#include <limits.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

// ---- per-thread scratch ----

typedef struct { void *pointer; size_t size; } scratch_buffer;
static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *value) {
    scratch_buffer *buffer = value;
    free(buffer->pointer);
    free(buffer);
}
static void scratch_key_create(void) { pthread_key_create(&scratch_key, scratch_free); }

void *blt_thread_scratch(size_t bytes) {
    pthread_once(&scratch_once, scratch_key_create);
    scratch_buffer *buffer = pthread_getspecific(scratch_key);
    if (!buffer) {
        buffer = calloc(1, sizeof *buffer);
        if (!buffer || pthread_setspecific(scratch_key, buffer) != 0) { free(buffer); return NULL; }
    }
    if (buffer->size < bytes) {
        size_t size = (bytes + 63) / 64 * 64;
        void *pointer = aligned_alloc(64, size);
        if (!pointer) return NULL;
        free(buffer->pointer);
        buffer->pointer = pointer;
        buffer->size = size;
    }
    return buffer->pointer;
}

// ---- portable kernels ----

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

const blt_kernel_table blt_generic_kernels = {
    .widen = {widen_f32, widen_bf16, widen_f16},
    .add_row = {add_f32, add_bf16, add_f16},
    .matmul = {matmul_f32, matmul_bf16, matmul_f16},
    .gemm = matmul_f32,
    .bf16_dot = dot_bf16,
    .outer = outer_generic,
    .softmax = softmax_generic,
    .silu_multiply = silu_multiply_generic,
};

// ---- path selection ----

static int cpu_supports(int path) {
    if (path == BLT_PATH_GENERIC) return 1;
#if defined(__x86_64__) && (defined(__clang__) || defined(__GNUC__))
    __builtin_cpu_init();
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    int avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                 __builtin_cpu_supports("avx512vl");
    switch (path) {
    case BLT_PATH_AVX2: return avx2;
    case BLT_PATH_AVX512: return avx512;
    case BLT_PATH_AVX512BF16: return avx512 && __builtin_cpu_supports("avx512bf16");
    case BLT_PATH_AMX: return avx512 && __builtin_cpu_supports("avx512bf16") && blt_amx_supported();
    }
#endif
    return 0;
}

int blt_path_supported(int path) { return path >= BLT_PATH_GENERIC && path <= BLT_PATH_AMX && cpu_supports(path); }

int blt_best_path(void) {
    for (int p = BLT_PATH_AMX; p > BLT_PATH_GENERIC; p--)
        if (cpu_supports(p)) return p;
    return BLT_PATH_GENERIC;
}

const char *blt_path_name(int path) {
    switch (path) {
    case BLT_PATH_GENERIC: return "generic";
    case BLT_PATH_AVX2: return "avx2";
    case BLT_PATH_AVX512: return "avx512";
    case BLT_PATH_AVX512BF16: return "avx512bf16";
    case BLT_PATH_AMX: return "amx";
    }
    return "unknown";
}

int blt_resolve_request(const char *value, int *path) {
    *path = blt_best_path();
    if (!value || !*value) return BLT_REQUEST_UNSET;
    for (int p = BLT_PATH_GENERIC; p <= BLT_PATH_AMX; p++) {
        if (strcmp(value, blt_path_name(p)) != 0) continue;
        if (!cpu_supports(p)) return BLT_REQUEST_UNSUPPORTED;
        *path = p;
        return BLT_REQUEST_HONOURED;
    }
    return BLT_REQUEST_UNKNOWN;
}

// BLT_CPU is read once, at first use.
static pthread_once_t request_once = PTHREAD_ONCE_INIT;
static int request = BLT_REQUEST_UNSET;
static char *request_value = NULL;          // BLT_CPU's value when set
static int resolved_path = BLT_PATH_GENERIC;
static int selected_path = -1;              // blt_select_path's choice, else -1

static void read_request(void) {
    const char *value = getenv("BLT_CPU");
    request = blt_resolve_request(value, &resolved_path);
    if (request != BLT_REQUEST_UNSET) request_value = strdup(value);
}

int blt_active_path(void) {
    int selected = __atomic_load_n(&selected_path, __ATOMIC_ACQUIRE);
    if (selected >= 0) return selected;
    pthread_once(&request_once, read_request);
    return resolved_path;
}

int blt_path_request(const char **value) {
    pthread_once(&request_once, read_request);
    if (value) *value = request_value;
    return request;
}

int blt_select_path(int path) {
    if (!blt_path_supported(path)) return 0;
    __atomic_store_n(&selected_path, path, __ATOMIC_RELEASE);
    return 1;
}

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
    const blt_kernel_table *table = active_table();
    if (table->gemm_weights && k > 0 && table->gemm_weights(dtype, w, k, x, m, y, ldy, row_begin, row_end) == 0) return;
    if (!table->gemm || k == 0) {
        blt_matmul(dtype, w, k, x, m, y, ldy, row_begin, row_end);
        return;
    }
    enum { PANEL = 64 };
    float *panel = blt_thread_scratch(PANEL * k * sizeof(float));
    if (!panel) {   // out of memory for 64 rows: the streaming kernel needs no buffer
        blt_matmul(dtype, w, k, x, m, y, ldy, row_begin, row_end);
        return;
    }
    size_t element = dtype == BLT_DTYPE_F32 ? 4 : 2;
    for (size_t first = row_begin; first < row_end; first += PANEL) {
        size_t rows = row_end - first < PANEL ? row_end - first : PANEL;
        blt_widen(dtype, (const char *)w + first * k * element, panel, rows * k);
        // The panel's row r is weight row first + r: y column offset `first`.
        table->gemm(panel, k, x, m, y + first, ldy, 0, rows);
    }
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
    if (!f) f = outer_generic;
    if (!transpose_b) {
        f(m, n, k, alpha, a, lda, b, ldb, c, ldc);
        return 0;
    }
    // Bᵀ into a [k, n] buffer, so that the kernel reads rows of n columns.
    float *bt = blt_thread_scratch((k * n ? k * n : 1) * sizeof(float));
    if (!bt) return -1;
    void (*t)(const float *, size_t, size_t, size_t, float *) = active_table()->transpose;
    (t ? t : transpose_generic)(b, ldb, n, k, bt);
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
    (f ? f : softmax_generic)(row + from, to - from);
    memset(row, 0, from * sizeof(float));
    memset(row + to, 0, (width - to) * sizeof(float));
}

void blt_silu_multiply(float *gate, const float *up, size_t count) {
    if (count == 0) return;
    void (*f)(float *, const float *, size_t) = active_table()->silu_multiply;
    (f ? f : silu_multiply_generic)(gate, up, count);
}

void blt_round_to_bf16(const float *x, uint16_t *dst, size_t count) {
    for (size_t i = 0; i < count; i++) {
        uint32_t b;
        memcpy(&b, &x[i], 4);
        if ((b & 0x7FFFFFFFu) > 0x7F800000u) { dst[i] = 0xFFFF; continue; }
        dst[i] = (uint16_t)((b + 0x7FFFu + ((b >> 16) & 1u)) >> 16);
    }
}

void blt_keep_freed_memory(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}
