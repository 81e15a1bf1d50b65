/* The engine's own threads: see fr_pool.h for what they promise.
 *
 * Protocol. Each leader slot owns one job record. To start a job the leader
 * writes its function and argument, publishes the claim word
 * (generation, nchunks, next = 0) with release order, and bumps the mailbox
 * sequence number of each team worker (waking it if it sleeps). Every thread
 * takes chunks by compare-and-swap on the claim word: a chunk is taken only
 * while the word still carries the generation and count read with it, so a
 * worker that arrives late (after the job is done and the record reused)
 * takes nothing it should not. The job's function and argument are read only
 * after a successful claim, when the leader cannot be rewriting them: it
 * waits for every claimed chunk to be done before it starts the next job.
 *
 * Only C99 + POSIX threads + GCC/Clang __atomic builtins.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "fr_pool.h"

#define MAX_WORKERS 255
#define SPIN_NS 100000L        /* a worker spins this long for its next job, then sleeps */
#define YIELD_AFTER_NS 20000L  /* a leader waiting this long for a chunk yields its CPU */
#define STALL_NS 500000L       /* after waiting this long for a chunk, check whether the
                                  worker holding it is off its CPU */
/* After a stall, calls run single-threaded for a while: BUSY_MIN_NS after a
 * lone stall (another process took the worker's CPU for a moment: a daemon, a
 * neighbour on the host), twice the last period when the stall follows the
 * end of the last one within BUSY_MAX_NS (the machine stays busy), up to
 * BUSY_MAX_NS. A lone stall so costs a few ms of one thread instead of a
 * quarter second, and a busy machine still runs alone nearly all the time. */
#define BUSY_MIN_NS 8000000L
#define BUSY_MAX_NS 256000000L

#define LOAD(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* claim word: generation (24 bits) | nchunks (20 bits) | next chunk (20 bits) */
#define CLAIM(gen, n, next) (((uint64_t)(gen) << 40) | ((uint64_t)(n) << 20) | (uint64_t)(next))
#define CLAIM_GEN(w) ((uint32_t)((w) >> 40))
#define CLAIM_N(w) ((int)(((w) >> 20) & 0xFFFFF))
#define CLAIM_NEXT(w) ((int)((w) & 0xFFFFF))
#define MAX_CHUNKS 0xFFFFF

typedef struct {
    uint64_t claim;        /* atomic */
    int done;              /* atomic: chunks finished */
    fr_chunk_fn fn;
    void *arg;
    char pad[64];
} job_t;

typedef struct {
    unsigned seq;          /* atomic: bumped once per job published to this worker */
    job_t *job;            /* the job of the latest seq */
    int sleeping;          /* atomic */
    int in_chunk;          /* atomic: 1 while computing a chunk */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char pad[64];
} mailbox_t;

static job_t jobs[MAX_WORKERS + 1] __attribute__((aligned(64)));          /* by leader slot */
static job_t pair_jobs[MAX_WORKERS + 1] __attribute__((aligned(64)));     /* fr_parallel_pair's */
static mailbox_t boxes[MAX_WORKERS + 1] __attribute__((aligned(64)));     /* by worker, from 1 */
static int started;                   /* workers running (atomic) */
static int outside_owner;             /* atomic: 1 while an outside thread leads the pool */
static int64_t busy_until;            /* atomic */
static int64_t busy_period;           /* atomic: the last single-threaded period, ns */
static int stalls;                    /* atomic: fr_note_stall calls so far */
static pthread_mutex_t start_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static __thread int my_slot;          /* 0 outside the pool, else the worker's index */

/* Take and run chunks of `job` until none are left; returns how many this thread ran.
 * A worker marks itself in_chunk meanwhile (for stalled()). */
static int work(job_t *job, int *in_chunk)
{
    int ran = 0;
    for (;;) {
        uint64_t w = LOAD(&job->claim);
        int next = CLAIM_NEXT(w);
        if (next >= CLAIM_N(w)) return ran;
        if (in_chunk) __atomic_store_n(in_chunk, 1, __ATOMIC_RELAXED);
        if (!__atomic_compare_exchange_n(&job->claim, &w, w + 1, 0, __ATOMIC_ACQ_REL,
                                         __ATOMIC_ACQUIRE)) {
            if (in_chunk) __atomic_store_n(in_chunk, 0, __ATOMIC_RELAXED);
            continue;
        }
        job->fn(job->arg, next);
        if (in_chunk) __atomic_store_n(in_chunk, 0, __ATOMIC_RELAXED);
        __atomic_add_fetch(&job->done, 1, __ATOMIC_RELEASE);
        ran++;
    }
}

static void *worker_main(void *p)
{
    const int me = (int)(intptr_t)p;
    mailbox_t *box = &boxes[me];
    unsigned last = 0;
    my_slot = me;
    for (;;) {
        unsigned seq = LOAD(&box->seq);
        if (seq == last) {
            int64_t until = now_ns() + SPIN_NS;
            int spins = 0;
            while ((seq = LOAD(&box->seq)) == last) {
                cpu_relax();
                if (++spins % 64 == 0 && now_ns() > until) break;
            }
        }
        if (seq == last) {  /* sleep until the next job (see publish() for the handshake) */
            pthread_mutex_lock(&box->mu);
            __atomic_store_n(&box->sleeping, 1, __ATOMIC_SEQ_CST);
            while ((seq = __atomic_load_n(&box->seq, __ATOMIC_SEQ_CST)) == last)
                pthread_cond_wait(&box->cv, &box->mu);
            __atomic_store_n(&box->sleeping, 0, __ATOMIC_SEQ_CST);
            pthread_mutex_unlock(&box->mu);
        }
        last = seq;
        work(LOAD(&box->job), &box->in_chunk);
    }
    return NULL;
}

static void publish(int worker, job_t *job)
{
    mailbox_t *box = &boxes[worker];
    STORE(&box->job, job);
    __atomic_add_fetch(&box->seq, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&box->sleeping, __ATOMIC_SEQ_CST)) {
        pthread_mutex_lock(&box->mu);
        pthread_cond_signal(&box->cv);
        pthread_mutex_unlock(&box->mu);
    }
}

/* In a child after fork() no worker exists: start afresh, leaving the old
 * mutexes alone (another thread may have held one at the fork). */
static void after_fork_in_child(void)
{
    for (int w = 0; w <= MAX_WORKERS; w++) {
        boxes[w].seq = 0;
        boxes[w].job = NULL;
        boxes[w].sleeping = 0;
        boxes[w].in_chunk = 0;
        pthread_mutex_init(&boxes[w].mu, NULL);
        pthread_cond_init(&boxes[w].cv, NULL);
        memset(&jobs[w], 0, sizeof jobs[w]);
        memset(&pair_jobs[w], 0, sizeof pair_jobs[w]);
    }
    started = 0;
    outside_owner = 0;
    busy_until = 0;
    busy_period = 0;
    stalls = 0;
    pthread_mutex_init(&start_mu, NULL);
}

static void init_once(void)
{
    for (int w = 0; w <= MAX_WORKERS; w++) {
        pthread_mutex_init(&boxes[w].mu, NULL);
        pthread_cond_init(&boxes[w].cv, NULL);
    }
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

/* Make sure workers 1..n exist; returns how many do. */
static int reserve(int n)
{
    if (n > MAX_WORKERS) n = MAX_WORKERS;
    if (LOAD(&started) >= n) return n;
    pthread_once(&once, init_once);
    pthread_mutex_lock(&start_mu);
    int have = started;
    while (have < n) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        pthread_attr_setstacksize(&attr, 1 << 20);
        int failed = pthread_create(&t, &attr, worker_main, (void *)(intptr_t)(have + 1));
        pthread_attr_destroy(&attr);
        if (failed) break;
        boxes[have + 1].thread = t;
        have++;
        STORE(&started, have);
    }
    pthread_mutex_unlock(&start_mu);
    return have;
}

int fr_pool_size(void) { return LOAD(&started); }

int fr_team_awake(const fr_team *team)
{
    for (int i = 0; i < team->nworkers; i++)
        if (LOAD(&boxes[team->first_worker + i].sleeping)) return 0;
    return 1;
}

int fr_busy(void) { return now_ns() < LOAD(&busy_until); }

void fr_note_stall(void)
{
    /* racing callers may each double or reset: the period is only a heuristic */
    int64_t now = now_ns(), period = LOAD(&busy_period);
    if (period == 0 || now - LOAD(&busy_until) > BUSY_MAX_NS)
        period = BUSY_MIN_NS;
    else if (period < BUSY_MAX_NS)
        period *= 2;
    STORE(&busy_period, period);
    STORE(&busy_until, now + period);
    __atomic_add_fetch(&stalls, 1, __ATOMIC_RELAXED);
}

int fr_stalls(void) { return LOAD(&stalls); }

fr_team fr_team_acquire(int num_threads)
{
    fr_team team = {my_slot, 1, 0, 0};
    if (num_threads <= 1 || my_slot != 0 || fr_busy()) return team;
    int expected = 0;
    if (!__atomic_compare_exchange_n(&outside_owner, &expected, 1, 0, __ATOMIC_ACQUIRE,
                                     __ATOMIC_RELAXED))
        return team;  /* another outside thread leads the pool: run alone */
    team.nworkers = reserve(num_threads - 1);
    if (team.nworkers == 0) STORE(&outside_owner, 0);
    return team;
}

void fr_team_release(const fr_team *team)
{
    if (team->leader == 0 && team->nworkers > 0) STORE(&outside_owner, 0);
}

/* Start `job` with fn/arg over nchunks chunks, the first `taken` of them
 * already claimed by the leader. */
static void start_job(job_t *job, fr_chunk_fn fn, void *arg, int nchunks, int taken)
{
    uint32_t gen = (CLAIM_GEN(LOAD(&job->claim)) + 1) & 0xFFFFFF;
    job->fn = fn;
    job->arg = arg;
    __atomic_store_n(&job->done, 0, __ATOMIC_RELAXED);
    STORE(&job->claim, CLAIM(gen, nchunks, taken));
}

/* CPU time a worker has run, in ns (-1 if unknown). */
static int64_t worker_cpu_ns(int worker)
{
    clockid_t clock;
    struct timespec ts;
    if (pthread_getcpuclockid(boxes[worker].thread, &clock) != 0 ||
        clock_gettime(clock, &ts) != 0)
        return -1;
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether a worker of the team that is inside a chunk has been off its CPU:
 * over a window of `window_ns`, it ran for less than half of it. A worker that
 * is merely slow (page faults, a large chunk) keeps running and is not one. */
static int stalled(const fr_team *team, int64_t window_ns)
{
    int64_t before[MAX_WORKERS + 1];
    for (int i = 0; i < team->nworkers; i++) before[i] = worker_cpu_ns(team->first_worker + i);
    int64_t start = now_ns();
    while (now_ns() - start < window_ns) sched_yield();
    int64_t wall = now_ns() - start;
    for (int i = 0; i < team->nworkers; i++) {
        int w = team->first_worker + i;
        if (!LOAD(&boxes[w].in_chunk) || before[i] < 0) continue;
        int64_t ran = worker_cpu_ns(w) - before[i];
        if (ran >= 0 && ran < wall / 2) return 1;
    }
    return 0;
}

/* Wait until all `nchunks` of `job` are done, yielding the CPU if it takes
 * long; returns FR_STALLED if a worker holding a chunk was found off its CPU,
 * FR_SLOW if the wait took longer than twice `work_ns` (the leader's own
 * share) plus 10 us, else 0. */
static int finish_job(job_t *job, int nchunks, const fr_team *team, int64_t work_ns)
{
    if (LOAD(&job->done) == nchunks) return 0;
    int64_t start = now_ns();
    int spins = 0, stall = 0, checked = 0;
    while (LOAD(&job->done) < nchunks) {
        cpu_relax();
        if (++spins % 64 == 0) {
            int64_t waited = now_ns() - start;
            if (waited > YIELD_AFTER_NS) sched_yield();
            if (!checked && waited > STALL_NS && team) {
                checked = 1;  /* once per job: the check itself takes STALL_NS */
                stall = stalled(team, STALL_NS);
            }
        }
    }
    if (stall) return FR_STALLED;
    return now_ns() - start > 2 * work_ns + 10000 ? FR_SLOW : 0;
}

int fr_parallel(const fr_team *team, fr_chunk_fn fn, void *arg, int nchunks)
{
    if (team->nworkers <= 0 || nchunks <= 1 || nchunks > MAX_CHUNKS) {
        for (int c = 0; c < nchunks; c++) fn(arg, c);
        return 0;
    }
    job_t *job = &jobs[team->leader];
    start_job(job, fn, arg, nchunks, 0);
    int helpers = team->nworkers < nchunks - 1 ? team->nworkers : nchunks - 1;
    for (int w = 0; w < helpers; w++) publish(team->first_worker + w, job);
    int64_t start = now_ns();
    work(job, NULL);
    return finish_job(job, nchunks, team, now_ns() - start);
}

typedef struct {
    fr_team_fn fn_a, fn_b;
    void *arg_a, *arg_b;
    fr_team team_b;        /* the second half, led by its first worker */
} pair_t;

/* chunk 1 of a pair job: fn_b, led by whoever runs it (the second half's
 * designated leader, or the first half's leader once fn_a is done) with the
 * second half's other workers */
static void pair_chunk(void *p, int chunk)
{
    pair_t *pair = p;
    if (chunk == 0) return;  /* chunk 0 is fn_a: the leader's own, see fr_parallel_pair */
    fr_team team = {my_slot, pair->team_b.first_worker + 1, pair->team_b.nworkers - 1, 0};
    pair->fn_b(pair->arg_b, &team);
}

void fr_parallel_pair(const fr_team *team, fr_team_fn fn_a, void *arg_a, fr_team_fn fn_b,
                      void *arg_b)
{
    if (team->nworkers <= 0) {
        fn_a(arg_a, team);
        fn_b(arg_b, team);
        return;
    }
    int total = team->nworkers + 1, half = (total + 1) / 2;  /* threads for fn_a */
    fr_team team_a = {team->leader, team->first_worker, half - 1, 0};
    pair_t pair = {fn_a, fn_b, arg_a, arg_b,
                   {0, team->first_worker + half - 1, total - half, 0}};
    /* one job of 2 chunks: chunk 0 (fn_a) taken by this leader at once,
     * chunk 1 (fn_b) by the second half's first worker, or by this leader
     * if that worker has not started it by the time fn_a is done */
    job_t *job = &pair_jobs[team->leader];
    start_job(job, pair_chunk, &pair, 2, 1);
    publish(pair.team_b.first_worker, job);
    fn_a(arg_a, &team_a);
    __atomic_add_fetch(&job->done, 1, __ATOMIC_RELEASE);
    work(job, NULL);
    finish_job(job, 2, NULL, INT64_MAX / 4);
}
