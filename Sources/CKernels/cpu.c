// CPU detection and the choice of kernel path (BLT_CPU, blt_select_path). Calls nothing else in this
// target; the dispatch (dispatch.c) and the AMX kernels (amx.c) ask it which path is active.
#include "internal.h"
#include <stdlib.h>
#include <pthread.h>
#if defined(__x86_64__)
#include <cpuid.h>
#include <unistd.h>
#include <sys/syscall.h>
#endif

#if defined(__x86_64__)
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
#else
int blt_amx_supported(void) { return 0; }
#endif

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
