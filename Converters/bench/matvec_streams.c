// How to read a bf16 weight matrix for one-row products (generation) on two cores: GB/s of
// weights for each way of walking the rows, beside a plain read of the same bytes. Each product is
// split across two threads in guided chunks (as the engine's parallelChunks cuts them), with a
// barrier between products, over a step's worth of matrices (far more than the caches).
//
//   gcc -O2 -o /tmp/matvec_streams Converters/bench/matvec_streams.c -lpthread
//   /tmp/matvec_streams [local|global] [rounds]
//
// local: blt-1b's entropy model, local encoder and local decoder (rows of 1.5-5.6 KB), 493 MB;
// global: six layers of blt-7b's global transformer (rows of 8-22 KB), 2.4 GB. Ways (medians of
// the rounds, each round every way once, best of 5 passes):
//   read-1      a plain read, one sequential stream per chunk
//   read-4      a plain read, the chunk cut into four runs read in step (four streams)
//   adjacent-4  four adjacent rows in step (the kernel before 2026-12-07: four short streams)
//   one-row     one row at a time (one stream)
//   runs-4      four equal runs of rows, one row of each in step (avx2_matvec: four long streams)
#define _GNU_SOURCE
#include <immintrin.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#define AVX2 __attribute__((target("avx2,fma")))
enum { WAYS = 5, MAX_MATRICES = 256 };
static const char *names[WAYS] = {"read-1", "read-4", "adjacent-4", "one-row", "runs-4"};
static struct { size_t rows, k; const uint16_t *w; } matrices[MAX_MATRICES];
static int count, way, passes = 5;
static float *x, *y;
static size_t bytes;

static inline AVX2 float sum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}
static inline AVX2 __m256 bf16x8(const uint16_t *p) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p)), 16));
}
static AVX2 float dot(const uint16_t *w, size_t k) {   // four accumulators (the 2026-12-07 one-row kernel)
    __m256 a = _mm256_setzero_ps(), b = a, c2 = a, d = a;
    for (size_t c = 0; c < k; c += 32) {
        a = _mm256_fmadd_ps(_mm256_loadu_ps(x + c), bf16x8(w + c), a);
        b = _mm256_fmadd_ps(_mm256_loadu_ps(x + c + 8), bf16x8(w + c + 8), b);
        c2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + c + 16), bf16x8(w + c + 16), c2);
        d = _mm256_fmadd_ps(_mm256_loadu_ps(x + c + 24), bf16x8(w + c + 24), d);
    }
    return sum8(_mm256_add_ps(_mm256_add_ps(a, b), _mm256_add_ps(c2, d)));
}
/// Rows r[0..3] in step (accumulators in registers, as in avx2_matvec).
static AVX2 void four(const uint16_t *w, size_t k, const size_t r[4]) {
    const uint16_t *p0 = w + r[0] * k, *p1 = w + r[1] * k, *p2 = w + r[2] * k, *p3 = w + r[3] * k;
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t c = 0; c < k; c += 8) {
        __m256 xv = _mm256_loadu_ps(x + c);
        a0 = _mm256_fmadd_ps(xv, bf16x8(p0 + c), a0);
        a1 = _mm256_fmadd_ps(xv, bf16x8(p1 + c), a1);
        a2 = _mm256_fmadd_ps(xv, bf16x8(p2 + c), a2);
        a3 = _mm256_fmadd_ps(xv, bf16x8(p3 + c), a3);
    }
    y[r[0]] = sum8(a0), y[r[1]] = sum8(a1), y[r[2]] = sum8(a2), y[r[3]] = sum8(a3);
}
static AVX2 void chunk(int m, size_t r0, size_t r1) {
    const uint16_t *w = matrices[m].w;
    size_t k = matrices[m].k, run = (r1 - r0) / 4;
    if (way <= 1) {   // plain reads
        const __m256i *p = (const __m256i *)(w + r0 * k);
        size_t vectors = (r1 - r0) * k / 16, part = way == 0 ? vectors : vectors / 4;
        __m256i a = _mm256_setzero_si256(), b = a, c = a, d = a;
        if (way == 0)
            for (size_t i = 0; i < vectors; i++) a = _mm256_or_si256(a, _mm256_loadu_si256(p + i));
        else
            for (size_t i = 0; i < part; i++) {
                a = _mm256_or_si256(a, _mm256_loadu_si256(p + i));
                b = _mm256_or_si256(b, _mm256_loadu_si256(p + part + i));
                c = _mm256_or_si256(c, _mm256_loadu_si256(p + 2 * part + i));
                d = _mm256_or_si256(d, _mm256_loadu_si256(p + 3 * part + i));
            }
        y[r0] = (float)_mm256_extract_epi32(_mm256_or_si256(_mm256_or_si256(a, b), _mm256_or_si256(c, d)), 1);
        return;
    }
    size_t r = r0;
    if (way == 2)
        for (; r + 4 <= r1; r += 4) four(w, k, (size_t[4]){r, r + 1, r + 2, r + 3});
    if (way == 4) {
        for (size_t j = 0; j < run; j++) four(w, k, (size_t[4]){r0 + j, r0 + run + j, r0 + 2 * run + j, r0 + 3 * run + j});
        r = r0 + 4 * run;
    }
    for (; r < r1; r++) y[r] = dot(w + r * k, k);
}

// Guided chunks: each 1/4 of what is left, at least 32 KB of weights, handed out in order.
static atomic_size_t next_row[MAX_MATRICES], started;
static atomic_int finished;
static void product(int m) {
    size_t rows = matrices[m].rows, minimum = 16384 / matrices[m].k < 16 ? 16 : 16384 / matrices[m].k;
    for (;;) {
        size_t from = atomic_load(&next_row[m]), size;
        do {
            if (from >= rows) return;
            size = (rows - from) / 4 > minimum ? (rows - from) / 4 : minimum;
            if (size > rows - from) size = rows - from;
        } while (!atomic_compare_exchange_weak(&next_row[m], &from, from + size));
        chunk(m, from, from + size);
    }
}
static void *second_thread(void *unused) {
    (void)unused;
    for (size_t job = 1;; job++) {
        size_t s;
        while ((s = atomic_load(&started)) < job) _mm_pause();
        if (s == (size_t)-1) return NULL;
        product((int)((job - 1) % (size_t)count));
        atomic_fetch_add(&finished, 1);
    }
}
static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}
static void add(size_t rows, size_t k, int copies) {
    for (int i = 0; i < copies && count < MAX_MATRICES; i++, count++) {
        matrices[count].rows = rows, matrices[count].k = k;
        bytes += rows * k * 2;
    }
}
int main(int argc, char **argv) {
    int global = argc > 1 && strcmp(argv[1], "global") == 0, rounds = argc > 2 ? atoi(argv[2]) : 3;
    if (global)
        for (int l = 0; l < 6; l++) add(4096, 4096, 4), add(11008, 4096, 2), add(4096, 11008, 1);
    else {
        for (int l = 0; l < 14; l++) add(768, 768, 4), add(2048, 768, 2), add(768, 2048, 1);
        for (int l = 0; l < 10; l++) add(1024, 1024, l < 9 ? 6 : 4), add(2816, 1024, 2), add(1024, 2816, 1);
    }
    uint16_t *w = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (w == MAP_FAILED) return perror("mmap"), 1;
    for (size_t i = 0; i < bytes / 2; i++) w[i] = 0x3f80 ^ ((i * 2654435761u >> 20) & 0x7f);
    size_t offset = 0;
    for (int m = 0; m < count; m++) matrices[m].w = w + offset, offset += matrices[m].rows * matrices[m].k;
    x = aligned_alloc(64, 16384 * 4), y = aligned_alloc(64, 16384 * 4);
    for (int i = 0; i < 16384; i++) x[i] = 1.0f / (i + 1);
    pthread_t thread;
    pthread_create(&thread, NULL, second_thread, NULL);
    double rates[WAYS][64];
    size_t job = 0;
    for (int round = 0; round < rounds && round < 64; round++)
        for (way = 0; way < WAYS; way++) {
            double best = 1e30;
            for (int p = 0; p < passes; p++) {
                double t0 = now();
                for (int m = 0; m < count; m++) {
                    atomic_store(&next_row[m], 0);
                    atomic_store(&started, ++job);
                    product(m);
                    while (atomic_load(&finished) < (int)job) _mm_pause();
                }
                double t = now() - t0;
                best = t < best ? t : best;
            }
            rates[way][round] = bytes / best / 1e9;
        }
    atomic_store(&started, (size_t)-1);
    pthread_join(thread, NULL);
    printf("%s: %d products, %.0f MB per pass, 2 threads, GB/s of weights (median of %d rounds: each round)\n",
           global ? "global (blt-7b)" : "local (blt-1b)", count, bytes / 1e6, rounds);
    for (int v = 0; v < WAYS; v++) {
        double sorted[64];
        memcpy(sorted, rates[v], sizeof(double) * rounds);
        for (int i = 0; i < rounds; i++)
            for (int j = i + 1; j < rounds; j++)
                if (sorted[j] < sorted[i]) { double t = sorted[i]; sorted[i] = sorted[j]; sorted[j] = t; }
        printf("%-11s %5.1f  (", names[v], sorted[rounds / 2]);
        for (int i = 0; i < rounds; i++) printf("%s%.1f", i ? " " : "", rates[v][i]);
        printf(")\n");
    }
    return 0;
}
