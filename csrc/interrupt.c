/* Ctrl-C during a long kernel call.
 *
 * The kernels run with the interpreter's lock released, so Python's own
 * SIGINT handler only records the signal; its KeyboardInterrupt would come
 * when the call ends, possibly minutes later. While a call is watched, this
 * handler also raises the kernels' interrupt flag (read at every step
 * boundary: the kernel returns FASTRNN_EINTR) and passes the signal on to the
 * handler installed before, so the caller can then raise KeyboardInterrupt.
 *
 * One watcher at a time, by the thread that receives Python's signals (the
 * Cython layer only watches calls made from the main thread). Async-signal
 * safe: the handler only stores to a flag and calls the previous handler.
 */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stddef.h>

#include "fastrnn.h"

static volatile int *watched_flag;
static struct sigaction previous;

static void on_sigint(int sig, siginfo_t *info, void *uctx)
{
    if (watched_flag) *watched_flag = 1;
    if (previous.sa_flags & SA_SIGINFO) {
        if (previous.sa_sigaction) previous.sa_sigaction(sig, info, uctx);
    } else if (previous.sa_handler != SIG_IGN && previous.sa_handler != SIG_DFL) {
        previous.sa_handler(sig);
    }
}

int fastrnn_sigint_watch(volatile int *flag)
{
    struct sigaction now, ours;
    if (watched_flag || sigaction(SIGINT, NULL, &now) != 0) return 0;
    /* SIGINT ignored, or left to its default action (terminate): nothing to forward */
    if (!(now.sa_flags & SA_SIGINFO) && (now.sa_handler == SIG_IGN || now.sa_handler == SIG_DFL))
        return 0;
    previous = now;
    *flag = 0;
    watched_flag = flag;
    ours.sa_sigaction = on_sigint;
    ours.sa_mask = now.sa_mask;
    ours.sa_flags = (now.sa_flags & ~SA_RESETHAND) | SA_SIGINFO;
    if (sigaction(SIGINT, &ours, NULL) != 0) {
        watched_flag = NULL;
        return 0;
    }
    return 1;
}

void fastrnn_sigint_unwatch(void)
{
    if (!watched_flag) return;
    sigaction(SIGINT, &previous, NULL);
    watched_flag = NULL;
}
