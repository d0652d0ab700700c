// How to split one product across two cores, on blt-1b's linear-layer shapes: OpenBLAS's own two
// threads, or two single-threaded sgemm calls on halves of the output columns (N) or of the rows (M),
// as the engine's `splitProduct` does. Y[M,N] = X[M,K] · W[N,K]ᵀ; GFLOP/s, best of 6.
// Build: cc -O2 Converters/bench/product_split.c -o product_split -lopenblas -lpthread
// Usage: product_split M [M ...]
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

extern void openblas_set_num_threads(int);

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

typedef struct { int m, n, k, first, end, by_rows; const float *x, *w; float *y; } half;

static void *run(void *p) {
    const half *h = p;
    int count = h->end - h->first;
    if (h->by_rows)
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, count, h->n, h->k, 1, h->x + (long)h->first * h->k, h->k,
                    h->w, h->k, 0, h->y + (long)h->first * h->n, h->n);
    else
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, h->m, count, h->k, 1, h->x, h->k,
                    h->w + (long)h->first * h->k, h->k, 0, h->y + h->first, h->n);
    return NULL;
}

static double split(int m, int n, int k, int by_rows, const float *x, const float *w, float *y) {
    int total = by_rows ? m : n;
    half halves[2] = {{m, n, k, 0, total / 2, by_rows, x, w, y}, {m, n, k, total / 2, total, by_rows, x, w, y}};
    double start = now();
    pthread_t thread;
    pthread_create(&thread, NULL, run, &halves[1]);
    run(&halves[0]);
    pthread_join(thread, NULL);
    return now() - start;
}

int main(int argc, char **argv) {
    // (N, K): global transformer (hidden 2048, MLP 5632), local encoder/decoder (1024, 2816),
    // entropy model (768, 2048).
    struct { int n, k; } shapes[] = {{2048, 2048}, {5632, 2048}, {2048, 5632}, {1024, 1024}, {2816, 1024},
                                     {1024, 2816}, {768, 768}, {2048, 768}, {768, 2048}};
    for (int a = 1; a < argc; a++) {
        int m = atoi(argv[a]);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int n = shapes[s].n, k = shapes[s].k;
            float *x = malloc(sizeof(float) * m * k), *w = malloc(sizeof(float) * n * k), *y = malloc(sizeof(float) * m * n);
            for (long i = 0; i < (long)m * k; i++) x[i] = (float)(i % 17) * 0.01f;
            for (long i = 0; i < (long)n * k; i++) w[i] = (float)(i % 13) * 0.01f;
            double threaded = 1e9, columns = 1e9, rows = 1e9;
            for (int r = 0; r < 6; r++) {
                openblas_set_num_threads(2);
                double start = now();
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, x, k, w, k, 0, y, n);
                double t = now() - start;
                if (t < threaded) threaded = t;
                openblas_set_num_threads(1);
                if ((t = split(m, n, k, 0, x, w, y)) < columns) columns = t;
                if ((t = split(m, n, k, 1, x, w, y)) < rows) rows = t;
            }
            double flops = 2.0 * m * n * k / 1e9;
            printf("M=%d N=%d K=%d  OpenBLAS 2 threads %.1f  column halves %.1f  row halves %.1f GFLOP/s\n", m, n, k,
                   flops / threaded, flops / columns, flops / rows);
            free(x), free(w), free(y);
        }
    }
}
