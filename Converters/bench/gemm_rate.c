// cblas_sgemm's rate (GFLOP/s) on blt-1b's linear-layer shapes, for M rows as a forward pass has
// them: a whole packed batch, or one short document. Y[M,N] = X[M,K] · W[N,K]ᵀ, as Linear.apply
// calls it. Build: cc -O2 Converters/bench/gemm_rate.c -o gemm_rate -lopenblas -lpthread
// Usage: gemm_rate M [M ...]   (threads: OPENBLAS_NUM_THREADS, default all cores)
//        gemm_rate --split M [M ...]   how to split one product over two cores: OpenBLAS's own two
//        threads, or two one-thread sgemm calls on halves of the columns (N) or of the rows (M), as
//        the engine's `splitProduct` does (best of 6)
#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

extern void openblas_set_num_threads(int);

typedef struct { int m, n, k, first, end, by_rows; const float *x, *w; float *y; } half;

static void *run_half(void *p) {
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

/// Seconds of one product split in two halves, one per thread (one-thread OpenBLAS in each).
static double in_halves(int m, int n, int k, int by_rows, const float *x, const float *w, float *y) {
    int total = by_rows ? m : n;
    half halves[2] = {{m, n, k, 0, total / 2, by_rows, x, w, y}, {m, n, k, total / 2, total, by_rows, x, w, y}};
    double start = now();
    pthread_t thread;
    pthread_create(&thread, NULL, run_half, &halves[1]);
    run_half(&halves[0]);
    pthread_join(thread, NULL);
    return now() - start;
}

static void print_splits(int m, const char *name, int n, int k, const float *x, const float *w, float *y) {
    double threaded = 1e9, columns = 1e9, rows = 1e9, t;
    for (int r = 0; r < 6; r++) {
        openblas_set_num_threads(2);
        double start = now();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, x, k, w, k, 0, y, n);
        if ((t = now() - start) < threaded) threaded = t;
        openblas_set_num_threads(1);
        if ((t = in_halves(m, n, k, 0, x, w, y)) < columns) columns = t;
        if ((t = in_halves(m, n, k, 1, x, w, y)) < rows) rows = t;
    }
    double flops = 2.0 * m * n * k * 1e-9;
    printf("M=%-5d %-26s OpenBLAS 2 threads %6.1f  column halves %6.1f  row halves %6.1f GFLOP/s\n", m, name,
           flops / threaded, flops / columns, flops / rows);
}

int main(int argc, char **argv) {
    int split = argc > 1 && strcmp(argv[1], "--split") == 0;
    // (name, N, K): global transformer (hidden 2048, MLP 5632), local encoder/decoder (1024, 2816),
    // entropy model (768, 2048).
    struct { const char *name; int n, k; } shapes[] = {
        {"global qkvo 2048x2048", 2048, 2048}, {"global gate/up 5632x2048", 5632, 2048}, {"global down 2048x5632", 2048, 5632},
        {"local qkvo 1024x1024", 1024, 1024}, {"local gate/up 2816x1024", 2816, 1024}, {"local down 1024x2816", 1024, 2816},
        {"entropy qkvo 768x768", 768, 768}, {"entropy gate/up 2048x768", 2048, 768}, {"entropy down 768x2048", 768, 2048},
    };
    for (int a = 1 + split; a < argc; a++) {
        int m = atoi(argv[a]);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int n = shapes[s].n, k = shapes[s].k;
            float *x = malloc(sizeof(float) * m * k), *w = malloc(sizeof(float) * n * k), *y = malloc(sizeof(float) * m * n);
            for (long i = 0; i < (long)m * k; i++) x[i] = (float)(i % 17) * 0.01f;
            for (long i = 0; i < (long)n * k; i++) w[i] = (float)(i % 13) * 0.01f;
            if (split) {
                print_splits(m, shapes[s].name, n, k, x, w, y);
                free(x); free(w); free(y);
                continue;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, x, k, w, k, 0, y, n);   // warm up
            int reps = 0;
            double start = now(), elapsed;
            do {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, m, n, k, 1, x, k, w, k, 0, y, n);
                reps++;
            } while ((elapsed = now() - start) < 0.5);
            printf("M=%-5d %-26s %7.1f GFLOP/s\n", m, shapes[s].name, 2.0 * m * n * k * reps / elapsed * 1e-9);
            free(x); free(w); free(y);
        }
    }
    return 0;
}
