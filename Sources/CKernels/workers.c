// The engine's persistent workers (blt_workers_run, CKernels.h). Dispatch puts its threads to sleep
// between jobs, and waking one costs tens of microseconds on a VM: more than a generation step's
// smaller products take. These workers spin a while after each job instead. Calls nothing else here.
#include "CKernels.h"
#if defined(__linux__)
#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/// The one job slot. `lock` guards every field but the counters: a worker copies the job under it
/// and registers as a user, and the caller changes the job only when no worker uses it, so a worker
/// that looks late never reads a job half written.
static struct {
    atomic_flag lock;
    atomic_int owned;            // a caller holds the workers
    _Atomic uint32_t generation; // bumped per job; sleeping workers wait on it
    atomic_int open;             // the job may still be joined
    atomic_int users;            // workers inside the current job
    atomic_int sleepers;
    atomic_size_t next, finished;
    size_t count;
    blt_task task;
    void *context;
    int started, spin_microseconds;
} pool = {.lock = ATOMIC_FLAG_INIT};

static inline void relax(void) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
}
static inline void lock(void) { while (atomic_flag_test_and_set_explicit(&pool.lock, memory_order_acquire)) relax(); }
static inline void unlock(void) { atomic_flag_clear_explicit(&pool.lock, memory_order_release); }

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void take_tasks(size_t count, blt_task task, void *context) {
    size_t i;
    while ((i = atomic_fetch_add_explicit(&pool.next, 1, memory_order_relaxed)) < count) {
        task(context, i);
        atomic_fetch_add_explicit(&pool.finished, 1, memory_order_release);
    }
}

static void *worker_main(void *unused) {
    (void)unused;
    uint32_t seen = atomic_load(&pool.generation);
    for (;;) {
        uint64_t since = 0;
        unsigned spins = 0;
        while (atomic_load_explicit(&pool.generation, memory_order_acquire) == seen) {
            relax();
            if (++spins % 256) continue;
            uint64_t t = now_ns();
            if (!since) since = t;
            if (t - since < (uint64_t)pool.spin_microseconds * 1000u) continue;
            atomic_fetch_add(&pool.sleepers, 1);
            syscall(SYS_futex, &pool.generation, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
            atomic_fetch_sub(&pool.sleepers, 1);
            since = 0;
        }
        lock();
        seen = atomic_load(&pool.generation);
        int joined = atomic_load(&pool.open);
        size_t count = pool.count;
        blt_task task = pool.task;
        void *context = pool.context;
        if (joined) atomic_fetch_add(&pool.users, 1);
        unlock();
        if (!joined) continue;
        take_tasks(count, task, context);
        atomic_fetch_sub_explicit(&pool.users, 1, memory_order_release);
    }
    return NULL;
}

int blt_workers_run(size_t count, blt_task task, void *context, int workers, int spin_microseconds) {
    int expected = 0;
    if (!atomic_compare_exchange_strong(&pool.owned, &expected, 1)) return -1;
    if (pool.started < workers) {   // only the owner starts threads
        pool.spin_microseconds = spin_microseconds;
        for (; pool.started < workers; pool.started++) {
            pthread_t thread;
            pthread_attr_t attributes;
            pthread_attr_init(&attributes);
            pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
            int failed = pthread_create(&thread, &attributes, worker_main, NULL);
            pthread_attr_destroy(&attributes);
            if (failed) break;   // fewer workers: the caller takes more tasks
        }
    }
    lock();
    pool.count = count;
    pool.task = task;
    pool.context = context;
    atomic_store(&pool.next, 0);
    atomic_store(&pool.finished, 0);
    atomic_store(&pool.open, 1);
    atomic_fetch_add_explicit(&pool.generation, 1, memory_order_release);
    unlock();
    if (atomic_load(&pool.sleepers) > 0) syscall(SYS_futex, &pool.generation, FUTEX_WAKE_PRIVATE, INT32_MAX, NULL, NULL, 0);
    take_tasks(count, task, context);
    while (atomic_load_explicit(&pool.finished, memory_order_acquire) < count) relax();
    lock();
    atomic_store(&pool.open, 0);
    unlock();
    while (atomic_load_explicit(&pool.users, memory_order_acquire) > 0) relax();
    atomic_store(&pool.owned, 0);
    return 0;
}
#else
int blt_workers_run(size_t count, blt_task task, void *context, int workers, int spin_microseconds) {
    (void)count, (void)task, (void)context, (void)workers, (void)spin_microseconds;
    return -1;   // no futex: the caller runs the tasks on Dispatch
}
#endif
