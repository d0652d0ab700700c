// glibc's allocator kept from returning freed blocks to the kernel (blt_keep_freed_memory,
// CKernels.h). A process-wide setting the `blt` CLI makes at start-up; calls nothing else here.
#include "CKernels.h"
#include <limits.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

void blt_keep_freed_memory(void) {
#if defined(__GLIBC__)
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
#endif
}
