#ifndef CK_POOL_H
#define CK_POOL_H
/// The engine's persistent worker threads (Numerics' WorkerPool runs its products on them).
///
/// A decode step runs ~100+ small products back to back; waking GCD workers for each one cost
/// ~13-15% of the CPU in the kernel scheduler. These threads instead spin briefly (bounded) on
/// an atomic generation counter after each job, so the next product starts in well under a
/// microsecond, and only then park on a condition variable, so an idle engine burns no core.
///
/// One process-wide pool, used by one caller at a time (a try-lock): a second caller, or a
/// chunk's body that itself splits work (nested), is told so and runs its work another way.

/// Runs chunk `index` of a job; `context` is the caller's, passed through untouched.
typedef void (*ck_pool_chunk_fn)(void *context, long index);

/// What ck_pool_run did.
typedef enum {
    CK_POOL_DONE = 0,    // every chunk ran; the caller ran chunk 0 itself
    CK_POOL_BUSY = 1,    // another thread's job holds the pool: nothing ran
    CK_POOL_NESTED = 2,  // called from inside a chunk of a pool job: nothing ran
} ck_pool_status;

/// Runs fn(context, i) for every i in [0, chunks), chunk 0 on the calling thread and the others
/// on up to chunks - 1 pool threads (created on first need, kept for the process's life); any
/// participant, the caller included, takes the chunks still unclaimed, so a preempted thread
/// delays nothing. Returns only when every chunk has returned, and everything the chunks wrote
/// is visible to the caller. chunks <= 1 runs on the caller (no pool needed).
ck_pool_status ck_pool_run(long chunks, ck_pool_chunk_fn fn, void *context);

/// How long (microseconds) an idle pool thread, and a caller waiting for the last chunk, spin
/// before parking: 50 µs, or ADAPTER_SERVE_POOL_SPIN_US when set (read once). The first 5 µs
/// (ADAPTER_SERVE_POOL_PAUSE_US) spin with PAUSE, the rest with sched_yield.
long ck_pool_spin_microseconds(void);

/// Pool threads created so far (for tests and the benchmark's report).
long ck_pool_threads(void);

#endif
