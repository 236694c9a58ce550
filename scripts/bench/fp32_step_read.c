// Is the fp32 decode step bound by the kernel or by the machine? (issue 13, fp32 batch 1.)
// Times one decoder step's fp32 weight products at one activation row with the shipped
// AVX-512 kernel (linked from Sources/CKernels), against a plain read loop (four 64-byte
// accumulators, nothing else) over the same matrices on the same 2 threads, interleaved.
// Shapes: "fused" = the model's products (12 layers of q|k|v, o, cross q, cross o, wi_0|wi_1,
// wo, then lm_head: 495 MB), "big5" = the same bytes as five lm_heads. A third argument of 1
// backs the matrices with 2 MiB pages (madvise), to see whether TLB misses matter.
// Build and run (from the repository root; needs AVX-512):
//   clang -O3 -pthread -I Sources/CKernels/include scripts/bench/fp32_step_read.c \
//     Sources/CKernels/isa_avx512.c -lm -o /tmp/fp32_step_read && /tmp/fp32_step_read fused 0 10
#define _GNU_SOURCE
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

void ck_avx512_skinny_f32(const float *x, long m, long k, const uint32_t *w, int paneled, const float *s, long j0,
                          long j1, float *y, long ldy);

typedef struct { const float *w; long n, k; } matrix;
static matrix mats[128];
static int count;
static float x[2048], y[32128];
static _Atomic long generation, finished;
static _Atomic int plain_read;   // the current job: 1 = read loop, 0 = kernel
static _Atomic int current;      // the current matrix

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/// Half `half` (0 or 1) of matrix `i`'s rows, by the kernel or by the read loop.
static void run_half(int i, int half) {
    const matrix m = mats[i];
    const long per = (m.n / 2 + 3) / 4 * 4, j0 = half * per, j1 = half ? m.n : per;
    if (!atomic_load(&plain_read)) {
        ck_avx512_skinny_f32(x, 1, m.k, (const uint32_t *)m.w, 0, NULL, j0, j1, y, m.n);
        return;
    }
    typedef float v16 __attribute__((vector_size(64), aligned(64)));
    const v16 *p = (const v16 *)(m.w + j0 * m.k), *end = (const v16 *)(m.w + j1 * m.k);
    v16 a = {0}, b = {0}, c = {0}, d = {0};
    for (; p + 4 <= end; p += 4) { a += p[0]; b += p[1]; c += p[2]; d += p[3]; }
    a += b + c + d;
    y[j0] = a[0] + a[15];
}

static void *helper(void *unused) {
    (void)unused;
    long seen = 0;
    for (;;) {
        long g;
        while ((g = atomic_load(&generation)) == seen) __builtin_ia32_pause();
        if (g < 0) return NULL;
        seen = g;
        run_half(atomic_load(&current), 1);
        atomic_fetch_add(&finished, 1);
    }
}

static double step(int read) {
    atomic_store(&plain_read, read);
    const double t0 = now();
    for (int i = 0; i < count; i++) {
        atomic_store(&current, i);
        atomic_store(&finished, 0);
        atomic_fetch_add(&generation, 1);
        run_half(i, 0);
        while (atomic_load(&finished) < 1) __builtin_ia32_pause();
    }
    return now() - t0;
}

static void add(long n, long k, int huge) {
    const long bytes = n * k * 4, two = 2L << 20;
    float *p;
    if (huge) {
        char *raw = mmap(NULL, bytes + two, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        p = (float *)(((uintptr_t)raw + two - 1) & ~(uintptr_t)(two - 1));
        madvise(p, bytes, MADV_HUGEPAGE);
    } else {
        p = aligned_alloc(64, bytes);
    }
    for (long i = 0; i < n * k; i++) p[i] = sinf((float)i * 0.37f) * 0.05f;
    mats[count++] = (matrix){p, n, k};
}

static int by_value(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    const char *shape = argc > 1 ? argv[1] : "fused";
    const int huge = argc > 2 ? atoi(argv[2]) : 0, rounds = argc > 3 ? atoi(argv[3]) : 10;
    for (int i = 0; i < 2048; i++) x[i] = cosf(i * 0.11f);
    if (!strcmp(shape, "big5")) {
        for (int i = 0; i < 5; i++) add(32128, 768, huge);
    } else {
        const long layer[6][2] = {{2304, 768}, {768, 768}, {768, 768}, {768, 768}, {4096, 768}, {768, 2048}};
        for (int l = 0; l < 12; l++)
            for (int s = 0; s < 6; s++) add(layer[s][0], layer[s][1], huge);
        add(32128, 768, huge);
    }
    double bytes = 0;
    for (int i = 0; i < count; i++) bytes += 4.0 * mats[i].n * mats[i].k;
    pthread_t t;
    pthread_create(&t, NULL, helper, NULL);
    double kernel[256], read[256];
    step(0), step(1);   // warm-up
    for (int r = 0; r < rounds * 3; r++) { kernel[r] = step(0); read[r] = step(1); }
    qsort(kernel, rounds * 3, sizeof(double), by_value);
    qsort(read, rounds * 3, sizeof(double), by_value);
    const double k = kernel[rounds * 3 / 2], rd = read[rounds * 3 / 2];
    printf("%s, %d matrices, %.0f MB%s: fp32 kernel %.2f ms (%.1f GB/s), plain read %.2f ms (%.1f GB/s), kernel/read %.2f\n",
           shape, count, bytes / 1e6, huge ? ", 2 MiB pages" : "", k * 1e3, bytes / k / 1e9, rd * 1e3, bytes / rd / 1e9, k / rd);
    atomic_store(&generation, -1);
    pthread_join(t, NULL);
    return 0;
}
