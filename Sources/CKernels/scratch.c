// The per-thread scratch buffer (blt_thread_scratch, internal.h) of the kernels that pack or widen
// panels. Calls nothing else in this target.
#include "internal.h"
#include <stdlib.h>
#include <pthread.h>

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
