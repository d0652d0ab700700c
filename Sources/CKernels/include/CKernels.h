// Instruction-set-specific kernels of ByteLatent: widening bf16/f16 weights to fp32, products
// that read bf16/f16 weights directly, and bf16 dot products (AVX-512-BF16). Every function has a
// portable C version; AVX2 and AVX-512 versions are compiled per function with
// __attribute__((target(...))) and picked at run time from the CPU's features, so the package
// needs no compiler flags. BLT_CPU=generic|avx2|avx512|avx512bf16|amx forces a path; one this CPU
// cannot run, or an unknown word, is recorded (blt_path_request) for the engine to refuse.
#ifndef BLT_CKERNELS_H
#define BLT_CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Kernel paths, from the most portable to the most specific.
typedef enum {
    BLT_PATH_GENERIC = 0,     // plain C, any CPU
    BLT_PATH_AVX2 = 1,        // AVX2 + FMA + F16C (x86-64-v3)
    BLT_PATH_AVX512 = 2,      // AVX-512 F/BW/VL (+ FMA, F16C)
    BLT_PATH_AVX512BF16 = 3,  // AVX-512 above + AVX512_BF16 (vdpbf16ps)
    BLT_PATH_AMX = 4,         // AVX512_BF16 above + AMX-BF16 tiles (tdpbf16ps), granted by the OS
} blt_path;

/// Storage dtypes of weights the kernels read.
typedef enum { BLT_DTYPE_F32 = 0, BLT_DTYPE_BF16 = 1, BLT_DTYPE_F16 = 2 } blt_dtype;

/// Whether this CPU (and OS) can run `path`.
int blt_path_supported(int path);
/// The best path this CPU supports.
int blt_best_path(void);
/// What became of a BLT_CPU value.
typedef enum {
    BLT_REQUEST_UNSET = 0,        // unset or empty: the best path this CPU runs
    BLT_REQUEST_HONOURED = 1,     // names a path this CPU runs: that path
    BLT_REQUEST_UNSUPPORTED = 2,  // names a path this CPU cannot run: not honoured (the best path runs)
    BLT_REQUEST_UNKNOWN = 3,      // names no path: not honoured (the best path runs)
} blt_request;

/// How BLT_CPU=`value` (NULL when unset) resolves on this CPU: the one place that decides. *path
/// receives the path that runs.
int blt_resolve_request(const char *value, int *path);
/// What became of BLT_CPU, read once at first use; *value (when `value` is not NULL) receives
/// BLT_CPU's value, NULL when it was unset or empty.
int blt_path_request(const char **value);
/// The path in use: the one BLT_CPU resolved to (blt_resolve_request), or blt_select_path's.
int blt_active_path(void);
/// Selects `path` for the calls that follow (tests run every supported path). Returns 0 and
/// changes nothing when the CPU cannot run it.
int blt_select_path(int path);
/// "generic", "avx2", "avx512", "avx512bf16" or "amx".
const char *blt_path_name(int path);

/// dst[i] = float(src[i]) for i < count. `dtype` is BF16 or F16 (F32 copies).
void blt_widen(int dtype, const void *src, float *dst, size_t count);
/// dst[i] += float(src[i]) for i < count (embedding rows).
void blt_add_row(int dtype, const void *src, float *dst, size_t count);

/// Rows [row_begin, row_end) of y = x · Wᵀ, fp32 accumulation: W is [*, k] in `dtype` (BF16 or
/// F16), row-major, read directly; x is [m, k] fp32; y[i * ldy + r] receives output r of x row i.
/// Streams W once per call: for one row (generation) or a few rows of x.
void blt_matmul(int dtype, const void *w, size_t k, const float *x, size_t m, float *y, size_t ldy,
                size_t row_begin, size_t row_end);

/// The same product for many rows of x (prefill, evaluation): weights widened to fp32 into
/// packed panels, then register tiles of outer products (AVX2, AVX-512); the portable path runs
/// blt_matmul. Each output sums k in an order that depends on neither m nor the row range, so a
/// row of x gets the same result in any batch. `dtype` may be F32, BF16 or F16.
void blt_gemm(int dtype, const void *w, size_t k, const float *x, size_t m, float *y, size_t ldy,
              size_t row_begin, size_t row_end);

/// x rounded to bf16 (round to nearest even; NaN → 0xFFFF like torch on x86).
void blt_round_to_bf16(const float *x, uint16_t *dst, size_t count);
/// x rounded to bf16 and kept as fp32 in dst (which may be x): the values blt_round_to_bf16 then
/// widening give, in one pass.
void blt_round_floats_to_bf16(const float *x, float *dst, size_t count);
/// Rows [row_begin, row_end) of y = x · Wᵀ with bf16 W and bf16 x ([m, k], from
/// blt_round_to_bf16), products of bf16 pairs accumulated in fp32: `vdpbf16ps` on the
/// AVX512BF16 path, the same products widened to fp32 elsewhere.
void blt_matmul_bf16_dot(const uint16_t *w, size_t k, const uint16_t *x, size_t m, float *y, size_t ldy,
                         size_t row_begin, size_t row_end);

/// Products of two fp32 activations (attention's scores and weighted values), on the calling
/// thread: C[m, n] = alpha · A[m, k] · B, where B is [n, k] (`transpose_b`, stride ldb) or [k, n].
/// Register tiles of rows of A times 32 (AVX-512) / 16 (AVX2) columns of C, each output summed
/// over k in order, then scaled by alpha. Returns -1 (doing nothing) when a buffer cannot be had.
int blt_activation_product(int transpose_b, size_t m, size_t n, size_t k, float alpha, const float *a, size_t lda,
                           const float *b, size_t ldb, float *c, size_t ldc);

/// One row of attention weights in place: softmax over row[from, to) (all equal when `uniform`,
/// i.e. a fully masked query), zero elsewhere in row[0, width); all zero when from ≥ to.
/// exp is a vectorised polynomial on the AVX2/AVX-512 paths (within 2 ulp of expf).
void blt_softmax_row(float *row, size_t width, size_t from, size_t to, int uniform);

/// One query of one head (generation's attention): out[0 ..< d] = softmax(scale · q · kᵀ) · v over
/// `count` keys and values (rows of d values in blt_dtype `dtype`, `stride` values apart: fp32, or
/// bf16 from a bf16 KV cache), weighted uniformly when `uniform` (a fully masked query); zeros when
/// count is 0. Scores and sums in fp32 on the calling thread; `weights` holds `count` floats (the
/// softmax weights when it returns).
void blt_attend_one(int dtype, const float *q, const void *keys, const void *values, size_t stride, size_t d,
                    size_t count, int uniform, float scale, float *weights, float *out);

/// SwiGLU's gate in place: gate[i] = silu(gate[i]) · up[i], silu(g) = g / (1 + e^-g); the
/// vectorised exp on the AVX2/AVX-512 paths.
void blt_silu_multiply(float *gate, const float *up, size_t count);

/// bf16 products on AMX tiles (the `amx` path only; k a multiple of 32). x is packed once per
/// product: blt_amx_packed_count(m, k) uint16 values, filled by blt_amx_pack (x rounded to bf16 as
/// blt_round_to_bf16 does); then blt_amx_matmul computes rows [row_begin, row_end) of y = x · Wᵀ
/// (bf16 W [*, k]), products of bf16 pairs summed in fp32 — callers split the rows across cores.
/// Both return 0, or -1 (doing nothing) when the amx path is not active or k does not fit.
size_t blt_amx_packed_count(size_t m, size_t k);
int blt_amx_pack(const float *x, size_t m, size_t k, uint16_t *packed);
int blt_amx_matmul(const uint16_t *w, size_t k, const uint16_t *packed, size_t m, float *y, size_t ldy,
                   size_t row_begin, size_t row_end);

/// bf16 attention on AMX tiles (bf16 precision on the `amx` path only; head dimension d a multiple
/// of 32), as torch's bf16 attention rounds: q, k, v and the softmax weights in bf16, sums in fp32.
/// One key/value head's keys and values ([count, d] rows of stride ldk / ldv) are packed once per
/// call, blt_amx_packed_keys_count(count, d) uint16 values each (count padded to 32 keys with
/// zeros). blt_amx_attend then computes `rows` queries of one head: q holds them in bf16 with
/// stride ldq and must stay readable for 32 rows past the last (rows are taken 32 at a time);
/// query r sees keys [from[r], to[r]) (uniformly when uniform[r], none when from[r] ≥ to[r],
/// giving zeros), scores scaled by `scale`; out[r · ldo + 0 ..< d] receives the result. All return 0,
/// or -1 (doing nothing) when the amx path is not active, d does not fit, or memory is short.
size_t blt_amx_packed_keys_count(size_t count, size_t d);
int blt_amx_pack_keys(const float *keys, size_t ldk, size_t count, size_t d, uint16_t *packed);
int blt_amx_pack_values(const float *values, size_t ldv, size_t count, size_t d, uint16_t *packed);
int blt_amx_attend(const uint16_t *q, size_t ldq, size_t rows, size_t d, const uint16_t *keys, const uint16_t *values,
                   const size_t *from, const size_t *to, const uint8_t *uniform, float scale, float *out, size_t ldo);

/// The engine's persistent workers (workers.c): `workers` threads started at the first call that
/// run task(context, i) for i in 0 ..< count together with the caller, which returns when all are
/// done. Between jobs the workers spin for `spin_microseconds`, then sleep until the next job, so a
/// job that follows soon (the products of a generation step) starts without waking a thread. One
/// caller at a time: returns -1 at once, running nothing, while another job holds the workers (a
/// nested call, or another context's): run the tasks some other way then. Returns 0 when done.
typedef void (*blt_task)(void *context, size_t index);
int blt_workers_run(size_t count, blt_task task, void *context, int workers, int spin_microseconds);

#ifdef __cplusplus
}
#endif
#endif
