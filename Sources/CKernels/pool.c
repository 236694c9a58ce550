// The engine's persistent worker threads: spin on a generation counter, then park (ck_pool.h).
//
// Why C: the hand-off is a handful of C11 atomics with explicit acquire/release orders, which
// ThreadSanitizer models exactly, plus pthreads (engine-owned threads, never Swift's cooperative
// pool) and a thread-local "inside a chunk" flag for nested calls, none of which Swift's
// Synchronization module offers together without platform-availability gates.
//
// The job: `state` packs (generation << 32 | next unclaimed chunk). The caller, holding `busy`,
// writes the job's fields and then publishes a new generation with next = 1 (chunk 0 is its
// own). Every participant claims chunks by CAS on the whole word, so a thread that saw an older
// generation can never claim (or read the fields of) a newer job, and counts finished chunks in
// `done`; the caller returns when done == chunks. Idle pool threads spin on `state` for a
// bounded time (PAUSE, then sched_yield), then park on a condition variable; the caller
// signals only when `parked` says a thread it wants is parked (a Dekker pair of seq_cst
// accesses on each side, so no wake-up is lost).
#define _GNU_SOURCE  // pthread_setname_np
#include "ck_pool.h"
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/// More pool threads than this are never created; the caller and the pool threads there are
/// then take the extra chunks (any participant claims any unclaimed chunk).
#define CK_POOL_MAX_THREADS 255

static _Atomic uint64_t state;                // generation << 32 | next unclaimed chunk
static _Atomic long job_chunks;               // the current job; written only by the busy holder
static _Atomic(ck_pool_chunk_fn) job_fn;
static _Atomic(void *) job_context;
static _Atomic long job_threads;              // pool threads the job wants (ids below it take part)
static _Atomic long done;                     // chunks of the current job that have returned
static atomic_int busy;                       // the try-lock: 1 while a caller owns the pool
static _Atomic long threads;                  // pool threads created (only the busy holder adds)
/// parked[id]: pool thread id is parked on work_ready. The caller wakes them only when one
/// its job wants is parked, so threads made for an earlier, larger `workers` stay asleep
/// instead of being woken (and re-parking) on every product.
static atomic_int parked[CK_POOL_MAX_THREADS];
static atomic_int caller_parked;              // the caller is parked on all_done
static pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t all_done = PTHREAD_COND_INITIALIZER;
/// Set while this thread runs a chunk: a chunk's body that splits work again must not wait for
/// a pool it is itself part of.
static _Thread_local int in_chunk;

static inline uint32_t generation(uint64_t s) { return (uint32_t)(s >> 32); }

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static long spin_ns, pause_ns;
static pthread_once_t spin_once = PTHREAD_ONCE_INIT;

/// 50 µs covers the serial gaps between a decode step's products (norms, attention, the host
/// code between layers): on the 2-core EPYC, 50 and 100 µs gave the same step time and 10-20 µs
/// a slower one (more parks). Only the first 5 µs PAUSE: a pure PAUSE spin, with other
/// processes wanting the cores, took its core from them and from our own caller's share of the
/// machine (the step got slower than with GCD), which sched_yield gives back.
/// ADAPTER_SERVE_POOL_SPIN_US (0 parks at once) and ADAPTER_SERVE_POOL_PAUSE_US tune them.
static long microseconds_from(const char *name, long fallback) {
    const char *env = getenv(name);
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == 0 && v >= 0 && v <= 1000000) return v;
    }
    return fallback;
}

static void read_spin(void) {
    spin_ns = microseconds_from("ADAPTER_SERVE_POOL_SPIN_US", 50) * 1000;
    pause_ns = microseconds_from("ADAPTER_SERVE_POOL_PAUSE_US", 5) * 1000;
}

long ck_pool_spin_microseconds(void) {
    pthread_once(&spin_once, read_spin);
    return spin_ns / 1000;
}

long ck_pool_threads(void) { return atomic_load_explicit(&threads, memory_order_relaxed); }

static inline long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long)t.tv_sec * 1000000000L + t.tv_nsec;
}

/// A bounded wait: PAUSE while it is young (the next product usually comes within a few µs),
/// then sched_yield, which hands the core over when another thread (a compiler, another
/// engine, our own caller) is runnable on it and returns at once when none is; after spin_ns,
/// time to park.
typedef struct { long start; unsigned i; int yielding; } spinner;

static inline spinner spin_start(void) { return (spinner){now_ns(), 0, 0}; }

static inline int keep_spinning(spinner *sp) {
    if (sp->yielding) sched_yield(); else cpu_relax();
    if ((++sp->i & 63) != 0 && !sp->yielding) return 1;
    long waited = now_ns() - sp->start;
    if (waited > pause_ns) sp->yielding = 1;
    return waited <= spin_ns;
}

/// Claims and runs the unclaimed chunks of generation g until none is left (or a newer job has
/// replaced it, which means g is finished).
static void run_chunks(uint32_t g) {
    uint64_t s = atomic_load_explicit(&state, memory_order_acquire);
    for (;;) {
        if (generation(s) != g) return;
        long chunks = atomic_load_explicit(&job_chunks, memory_order_relaxed);
        ck_pool_chunk_fn fn = atomic_load_explicit(&job_fn, memory_order_relaxed);
        void *context = atomic_load_explicit(&job_context, memory_order_relaxed);
        long next = (long)(uint32_t)s;
        if (next >= chunks) return;
        // A successful CAS means job g still had chunk `next` unclaimed, so it had not finished
        // and the fields read above (after this generation was acquired) are still job g's.
        if (!atomic_compare_exchange_weak_explicit(&state, &s, s + 1, memory_order_acq_rel, memory_order_acquire))
            continue;
        in_chunk = 1;
        fn(context, next);
        in_chunk = 0;
        // seq_cst: pairs with the caller's store of caller_parked before its last look at done.
        if (atomic_fetch_add_explicit(&done, 1, memory_order_seq_cst) + 1 == chunks &&
            atomic_load_explicit(&caller_parked, memory_order_seq_cst)) {
            pthread_mutex_lock(&mutex);
            pthread_cond_signal(&all_done);
            pthread_mutex_unlock(&mutex);
        }
        s = atomic_load_explicit(&state, memory_order_acquire);
    }
}

/// Pool thread `id` waits for a generation other than `seen`: spinning first (if `spin`) for
/// the configured time, then parked. Returns the state that showed it (acquired).
static uint64_t wait_for_job(long id, uint32_t seen, int spin) {
    uint64_t s;
    if (spin) {
        spinner sp = spin_start();
        do {
            s = atomic_load_explicit(&state, memory_order_acquire);
            if (generation(s) != seen) return s;
        } while (keep_spinning(&sp));
    }
    pthread_mutex_lock(&mutex);
    atomic_store_explicit(&parked[id], 1, memory_order_seq_cst);
    while (generation(s = atomic_load_explicit(&state, memory_order_seq_cst)) == seen)
        pthread_cond_wait(&work_ready, &mutex);
    atomic_store_explicit(&parked[id], 0, memory_order_relaxed);
    pthread_mutex_unlock(&mutex);
    return s;
}

/// A pool thread: arg packs (the generation current at its creation << 16 | its id).
static void *pool_thread(void *arg) {
    uintptr_t packed = (uintptr_t)arg;
    long id = (long)(packed & 0xffff);
    uint32_t seen = (uint32_t)(packed >> 16);
    int took_part = 1;
    for (;;) {
        // A thread the last job did not want parks at once: only as many threads spin as the
        // products use, however many were created for an earlier, larger `workers`.
        seen = generation(wait_for_job(id, seen, took_part));
        took_part = id < atomic_load_explicit(&job_threads, memory_order_relaxed);
        if (took_part) run_chunks(seen);
    }
    return NULL;
}

/// Creates pool threads up to `wanted` (called by the busy holder, before publishing its job).
static void ensure_threads(long wanted, uint32_t g) {
    long have = atomic_load_explicit(&threads, memory_order_relaxed);
    if (have >= wanted) return;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 8 << 20);  // chunk bodies are engine code, as on its thread
    for (; have < wanted; have++) {
        pthread_t t;
        if (pthread_create(&t, &attr, pool_thread, (void *)(((uintptr_t)g << 16) | (uintptr_t)have)) != 0)
            break;  // fewer threads: the caller runs the chunks nobody else claims
#if defined(__linux__)
        char name[16];
        snprintf(name, sizeof name, "as-pool-%ld", have + 1);
        pthread_setname_np(t, name);
#endif
    }
    pthread_attr_destroy(&attr);
    atomic_store_explicit(&threads, have, memory_order_relaxed);
}

ck_pool_status ck_pool_run(long chunks, ck_pool_chunk_fn fn, void *context) {
    if (chunks <= 0) return CK_POOL_DONE;
    if (in_chunk) return CK_POOL_NESTED;
    if (chunks == 1) {
        in_chunk = 1;
        fn(context, 0);
        in_chunk = 0;
        return CK_POOL_DONE;
    }
    int expected = 0;
    if (!atomic_compare_exchange_strong_explicit(&busy, &expected, 1, memory_order_acquire, memory_order_relaxed))
        return CK_POOL_BUSY;
    pthread_once(&spin_once, read_spin);
    uint32_t g = generation(atomic_load_explicit(&state, memory_order_relaxed));
    long wanted = chunks - 1 < CK_POOL_MAX_THREADS ? chunks - 1 : CK_POOL_MAX_THREADS;
    ensure_threads(wanted, g);
    long have = atomic_load_explicit(&threads, memory_order_relaxed);
    long helpers = wanted < have ? wanted : have;

    atomic_store_explicit(&job_chunks, chunks, memory_order_relaxed);
    atomic_store_explicit(&job_fn, fn, memory_order_relaxed);
    atomic_store_explicit(&job_context, context, memory_order_relaxed);
    atomic_store_explicit(&job_threads, helpers, memory_order_relaxed);
    atomic_store_explicit(&done, 0, memory_order_relaxed);
    g += 1;
    // Publishes the fields above (release); seq_cst pairs with the parking threads' flags.
    atomic_store_explicit(&state, ((uint64_t)g << 32) | 1, memory_order_seq_cst);
    for (long id = 0; id < helpers; id++)
        if (atomic_load_explicit(&parked[id], memory_order_seq_cst)) {
            pthread_mutex_lock(&mutex);
            pthread_cond_broadcast(&work_ready);
            pthread_mutex_unlock(&mutex);
            break;
        }

    in_chunk = 1;
    fn(context, 0);
    in_chunk = 0;
    atomic_fetch_add_explicit(&done, 1, memory_order_seq_cst);
    run_chunks(g);

    // The last chunks are running on pool threads: spin, then park until the last one signals.
    spinner sp = spin_start();
    while (atomic_load_explicit(&done, memory_order_acquire) != chunks) {
        if (!keep_spinning(&sp)) {
            pthread_mutex_lock(&mutex);
            atomic_store_explicit(&caller_parked, 1, memory_order_seq_cst);
            while (atomic_load_explicit(&done, memory_order_seq_cst) != chunks)
                pthread_cond_wait(&all_done, &mutex);
            atomic_store_explicit(&caller_parked, 0, memory_order_relaxed);
            pthread_mutex_unlock(&mutex);
            break;
        }
    }
    atomic_store_explicit(&busy, 0, memory_order_release);
    return CK_POOL_DONE;
}
