// Interposed sigaction and the signal() family. The graceful-termination
// handler (termination.h) stands in for SIG_DFL on SIGINT, SIGTERM and SIGHUP
// once a fast TCP socket exists; to the program it must be SIG_DFL: a query
// reports SIG_DFL, and setting SIG_DFL keeps the handler (which ends in the
// default action anyway). Everything else passes through unchanged.
//
// These run in signal handlers and forked children, so they only call
// async-signal-safe functions: glibc's own __sigaction and __sysv_signal,
// and signal() through the original table (whose dlsym re-entry falls back
// to __sigaction).
#include <signal.h>

#include "interpose.h"
#include "libc_table.h"
#include "termination.h"

namespace libc = xlane::preload::libc;
using xlane::preload::keep_graceful_for_default;
using xlane::preload::report_graceful_as_default;

namespace {

// After a signal()-style call set SIG_DFL: puts the handler back where it
// stands in for SIG_DFL (a signal arriving in between gets the plain
// default action, as it would without the library).
void restore_graceful_after_default(int sig, __sighandler_t requested) {
    struct sigaction asked {};
    asked.sa_handler = requested;
    struct sigaction graceful {};
    if (keep_graceful_for_default(sig, asked, &graceful))
        (void)::__sigaction(sig, &graceful, nullptr);
}

}  // namespace

XLANE_INTERPOSE int sigaction(int sig, const struct sigaction* act,
                              struct sigaction* oldact) __THROW {
    struct sigaction graceful {};
    if (act != nullptr && keep_graceful_for_default(sig, *act, &graceful)) act = &graceful;
    const int ret = ::__sigaction(sig, act, oldact);
    if (ret == 0 && oldact != nullptr) report_graceful_as_default(oldact);
    return ret;
}

XLANE_INTERPOSE __sighandler_t signal(int sig, __sighandler_t handler) __THROW {
    const __sighandler_t old = libc::signal(sig, handler);
    if (old != SIG_ERR) restore_graceful_after_default(sig, handler);
    return report_graceful_as_default(old);
}

XLANE_INTERPOSE __sighandler_t bsd_signal(int sig, __sighandler_t handler) __THROW {
    const __sighandler_t old = libc::bsd_signal(sig, handler);
    if (old != SIG_ERR) restore_graceful_after_default(sig, handler);
    return report_graceful_as_default(old);
}

XLANE_INTERPOSE __sighandler_t sysv_signal(int sig, __sighandler_t handler) __THROW {
    const __sighandler_t old = ::__sysv_signal(sig, handler);
    if (old != SIG_ERR) restore_graceful_after_default(sig, handler);
    return report_graceful_as_default(old);
}
