/* The Linux baseline for `cargo xtask bench`: the same method as Moroso's apps/src/bin/bench.rs
 * (each sample measured alone with rdtsc, which counts retired instructions under QEMU's
 * -icount shift=0; the median reported), for the operations Linux has that compare:
 * a null system call, a pipe round trip between two processes, a futex round trip between
 * two threads, and sched_yield between two threads. Built static, run from an initramfs.
 * Output: "linux-bench NAME median=N min=N max=N samples=N".
 */
#define _GNU_SOURCE
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <x86intrin.h>

static uint64_t overhead;

static int cmp(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t report(const char *name, uint64_t *v, int n) {
    qsort(v, n, sizeof *v, cmp);
    printf("linux-bench %s median=%llu min=%llu max=%llu samples=%d\n", name,
           (unsigned long long)v[n / 2], (unsigned long long)v[0], (unsigned long long)v[n - 1], n);
    fflush(stdout);
    return v[n / 2];
}

#define SAMPLES 1001
static uint64_t s[SAMPLES];

#define MEASURE(name, body)                                                                  \
    do {                                                                                     \
        for (int i = 0; i < SAMPLES; i++) {                                                  \
            uint64_t t0 = __rdtsc();                                                         \
            body;                                                                            \
            uint64_t t1 = __rdtsc();                                                         \
            s[i] = t1 - t0 > overhead ? t1 - t0 - overhead : 0;                              \
        }                                                                                    \
        report(name, s, SAMPLES);                                                            \
    } while (0)

static long raw_getppid(void) {
    long r;
    __asm__ volatile("syscall" : "=a"(r) : "a"(SYS_getppid) : "rcx", "r11", "memory");
    return r;
}

static int futex_word_a, futex_word_b;

static void futex_wait(int *w, int v) { syscall(SYS_futex, w, FUTEX_WAIT_PRIVATE, v, NULL, NULL, 0); }
static void futex_wake(int *w) { syscall(SYS_futex, w, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0); }

/* The futex partner: waits for a, answers on b, forever. */
static void *futex_partner(void *arg) {
    (void)arg;
    for (;;) {
        while (__atomic_load_n(&futex_word_a, __ATOMIC_ACQUIRE) == 0) futex_wait(&futex_word_a, 0);
        __atomic_store_n(&futex_word_a, 0, __ATOMIC_RELEASE);
        __atomic_store_n(&futex_word_b, 1, __ATOMIC_RELEASE);
        futex_wake(&futex_word_b);
    }
    return NULL;
}

static void *yield_partner(void *arg) {
    (void)arg;
    for (;;) sched_yield();
    return NULL;
}

int main(void) {
    /* Everything on one CPU, as Moroso runs. */
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    sched_setaffinity(0, sizeof one, &one);

    overhead = 0;
    MEASURE("empty_measurement", {});
    overhead = s[SAMPLES / 2];

    MEASURE("null_syscall", raw_getppid());

    /* Pipe round trip: 8 bytes to a child and back. */
    int to_child[2], to_parent[2];
    if (pipe(to_child) || pipe(to_parent)) return 1;
    pid_t child = fork();
    if (child == 0) {
        close(to_child[1]); /* or the read below never sees end-of-file */
        close(to_parent[0]);
        char buf[8];
        for (;;) {
            if (read(to_child[0], buf, 8) != 8) _exit(0);
            if (write(to_parent[1], buf, 8) != 8) _exit(1);
        }
    }
    close(to_child[0]);
    close(to_parent[1]);
    char msg[8] = "1234567";
    MEASURE("pipe_round_trip_8b", {
        if (write(to_child[1], msg, 8) != 8 || read(to_parent[0], msg, 8) != 8) return 2;
    });
    close(to_child[1]);
    waitpid(child, NULL, 0);

    /* Futex round trip between two threads. */
    pthread_t t;
    pthread_create(&t, NULL, futex_partner, NULL);
    MEASURE("futex_round_trip", {
        __atomic_store_n(&futex_word_a, 1, __ATOMIC_RELEASE);
        futex_wake(&futex_word_a);
        while (__atomic_load_n(&futex_word_b, __ATOMIC_ACQUIRE) == 0) futex_wait(&futex_word_b, 0);
        __atomic_store_n(&futex_word_b, 0, __ATOMIC_RELEASE);
    });

    pthread_t y;
    pthread_create(&y, NULL, yield_partner, NULL);
    MEASURE("yield_there_and_back", sched_yield());

    printf("linux-bench done\n");
    fflush(stdout);
    return 0;
}
