// cblas_sgemm's rate (GFLOP/s) on blt-1b's linear-layer shapes, for M rows as a forward pass has
// them: a whole packed batch, or one short document. Y[M,N] = X[M,K] · W[N,K]ᵀ, as Linear.apply
// calls it. Build: cc -O2 Converters/bench/gemm_rate.c -o gemm_rate -lopenblas
// Usage: gemm_rate M [M ...]   (threads: OPENBLAS_NUM_THREADS, default all cores)
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    // (name, N, K): global transformer (hidden 2048, MLP 5632), local encoder/decoder (1024, 2816),
    // entropy model (768, 2048).
    struct { const char *name; int n, k; } shapes[] = {
        {"global qkvo 2048x2048", 2048, 2048}, {"global gate/up 5632x2048", 5632, 2048}, {"global down 2048x5632", 2048, 5632},
        {"local qkvo 1024x1024", 1024, 1024}, {"local gate/up 2816x1024", 2816, 1024}, {"local down 1024x2816", 1024, 2816},
        {"entropy qkvo 768x768", 768, 768}, {"entropy gate/up 2048x768", 2048, 768}, {"entropy down 768x2048", 768, 2048},
    };
    for (int a = 1; a < argc; a++) {
        int m = atoi(argv[a]);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            int n = shapes[s].n, k = shapes[s].k;
            float *x = malloc(sizeof(float) * m * k), *w = malloc(sizeof(float) * n * k), *y = malloc(sizeof(float) * m * n);
            for (long i = 0; i < (long)m * k; i++) x[i] = (float)(i % 17) * 0.01f;
            for (long i = 0; i < (long)n * k; i++) w[i] = (float)(i % 13) * 0.01f;
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
