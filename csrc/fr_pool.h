/* Private: the engine's own threads (pool.c).
 *
 * One process-wide pool of workers, started lazily, grown on demand, and
 * started anew in a child after fork(). A parallel region is a job: a
 * function computing chunk c of some work for c = 0..nchunks-1. The calling
 * thread (the leader) and its team's workers take chunks in turn from one
 * shared counter, so each chunk is computed exactly once, by whichever thread
 * is running: a worker that has not woken up yet, or has lost its CPU, delays
 * nothing but a chunk it already holds. Every chunk writes its own outputs and
 * reads nothing another chunk of the same job writes, so the results do not
 * depend on which thread computed what: the same bits for any thread count.
 *
 * Workers spin briefly on their own mailbox between jobs (a step of a
 * recurrence takes microseconds) and then sleep, so an idle pool costs
 * nothing and a competing process costs fastrnn about its fair share.
 */
#ifndef FR_POOL_H
#define FR_POOL_H

/* A team: the leader (the calling thread, by its slot: 0 for a thread the
 * pool did not start, else the worker's own index) and the workers
 * [first_worker, first_worker + nworkers) of the pool (indices from 1). */
typedef struct fr_team {
    int leader, first_worker, nworkers;
    int slow_jobs;  /* jobs of this call where the workers lagged far behind the leader */
} fr_team;

/* The team of a call from outside the pool asking for `num_threads` threads
 * (1 leader + workers); a team with no workers when the pool is in use by
 * another outside thread, or when fr_busy(). Release with fr_team_release. */
fr_team fr_team_acquire(int num_threads);
void fr_team_release(const fr_team *team);

/* fn(arg, chunk) computes one chunk. */
typedef void (*fr_chunk_fn)(void *arg, int chunk);

/* Run fn(arg, c) for c = 0..nchunks-1 on the team; returns when all are done.
 * With no workers (or one chunk) the leader runs them in order. Returns
 * FR_STALLED if a worker holding a chunk was found off its CPU, FR_SLOW if the
 * leader waited for the workers longer than twice its own work (sharing did
 * not pay: the workers run slower than the leader, on a busy machine), else 0. */
#define FR_SLOW 1
#define FR_STALLED 2
int fr_parallel(const fr_team *team, fr_chunk_fn fn, void *arg, int nchunks);

/* Two independent jobs at once (the directions of a bidirectional layer):
 * fn_a runs on the leader with about half the team, fn_b on the other half,
 * led by one of its workers. If that worker has not started fn_b by the time
 * fn_a is done, the leader runs fn_b itself with the second half's others. */
typedef void (*fr_team_fn)(void *arg, const fr_team *team);
void fr_parallel_pair(const fr_team *team, fr_team_fn fn_a, void *arg_a, fr_team_fn fn_b,
                      void *arg_b);

/* Busy-machine memory: nonzero for a while after fr_note_stall(), which a
 * call records when its workers stalled; meanwhile calls run on the leader
 * alone (the same results, as fast as one thread can be on a busy machine). */
int fr_busy(void);
void fr_note_stall(void);
int fr_stalls(void);  /* how many stalls were noted so far */

/* Workers started so far (for tests and `info`). */
int fr_pool_size(void);

/* fr_parallel as the kernels use it: when a worker stalled, or sharing did
 * not pay in several jobs of the call, note it (the next calls run alone for
 * a while, see pool.c) and go on with the leader alone for the rest of the call.
 * The results are the same either way. */
#define FR_SLOW_JOBS_TOLERATED 3

static inline void fr_run(fr_team *team, fr_chunk_fn fn, void *arg, int nchunks)
{
    int how = fr_parallel(team, fn, arg, nchunks);
    if (how == FR_SLOW) team->slow_jobs++;
    if (how == FR_STALLED || team->slow_jobs > FR_SLOW_JOBS_TOLERATED) {
        fr_note_stall();
        team->nworkers = 0;
    }
}

/* Whether every worker of the team is awake (spinning for its next job, or
 * working), not asleep on its condition variable. */
int fr_team_awake(const fr_team *team);

/* fr_run for a job of `work` multiply-adds (or element copies) that runs once
 * per call, not once per step: below FR_WAKE_MIN_WORK it does not wake
 * sleeping workers. A wake-up costs the leader a system call and the worker
 * tens of microseconds to arrive, more than such a job takes alone (a tiny
 * model's whole-sequence products). The results are the same either way. */
#define FR_WAKE_MIN_WORK 4194304.0

static inline void fr_run_once(fr_team *team, fr_chunk_fn fn, void *arg, int nchunks,
                               double work)
{
    if (team->nworkers > 0 && work < FR_WAKE_MIN_WORK && !fr_team_awake(team)) {
        for (int c = 0; c < nchunks; c++) fn(arg, c);
        return;
    }
    fr_run(team, fn, arg, nchunks);
}

#endif
