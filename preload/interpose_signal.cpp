// Interposed sigaction and the signal() family. The graceful-termination
// handler (termination.h) stands in for SIG_DFL on SIGINT, SIGTERM and SIGHUP
// once a fast TCP socket exists; to the program it must be SIG_DFL: a query
// reports SIG_DFL, and setting SIG_DFL keeps the handler (which ends in the
// default action anyway). Everything else passes through unchanged.
//
// They reach the next sigaction and signal (glibc's, or a sanitizer's
// interceptors) through the original table; the library resolves sigaction
// when it arms the handler, before any signal handler could need it.
#include <signal.h>

#include <cerrno>

#include "interpose.h"
#include "libc_table.h"
#include "termination.h"

namespace libc = xlane::preload::libc;
using xlane::preload::keep_graceful_for_default;
using xlane::preload::report_graceful_as_default;

namespace {

// signal() and bsd_signal(): the next signal() (glibc's keeps
// siginterrupt()'s choices), unless SIG_DFL is asked where the handler stands
// in for it: then the handler stays, in one sigaction call (two would leave a
// window for the signal, or for another thread's disposition to be
// overwritten).
__sighandler_t bsd_signal_keeping_graceful(int sig, __sighandler_t handler) {
    struct sigaction asked {};
    asked.sa_handler = handler;
    struct sigaction graceful {};
    if (!keep_graceful_for_default(sig, asked, &graceful))
        return report_graceful_as_default(libc::signal(sig, handler));
    struct sigaction old {};
    if (libc::sigaction(sig, &graceful, &old) < 0) return SIG_ERR;
    return report_graceful_as_default(old.sa_handler);
}

// glibc's __sysv_signal: the handler runs once (SA_RESETHAND), the signal is
// not blocked meanwhile (SA_NODEFER), calls are not restarted. Written out
// on sigaction because __sysv_signal itself is shadowed here.
__sighandler_t sysv_signal_keeping_graceful(int sig, __sighandler_t handler) {
    if (handler == SIG_ERR || sig < 1 || sig >= NSIG) {
        errno = EINVAL;
        return SIG_ERR;
    }
    struct sigaction action {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESETHAND | SA_NODEFER;
    struct sigaction graceful {};
    if (keep_graceful_for_default(sig, action, &graceful)) action = graceful;
    struct sigaction old {};
    if (libc::sigaction(sig, &action, &old) < 0) return SIG_ERR;
    return report_graceful_as_default(old.sa_handler);
}

}  // namespace

XLANE_INTERPOSE int sigaction(int sig, const struct sigaction* act,
                              struct sigaction* oldact) __THROW {
    struct sigaction graceful {};
    if (act != nullptr && keep_graceful_for_default(sig, *act, &graceful)) act = &graceful;
    const int ret = libc::sigaction(sig, act, oldact);
    if (ret == 0 && oldact != nullptr) report_graceful_as_default(oldact);
    return ret;
}

XLANE_INTERPOSE __sighandler_t signal(int sig, __sighandler_t handler) __THROW {
    return bsd_signal_keeping_graceful(sig, handler);
}

XLANE_INTERPOSE __sighandler_t bsd_signal(int sig, __sighandler_t handler) __THROW {
    return bsd_signal_keeping_graceful(sig, handler);
}

// Programs built without _DEFAULT_SOURCE (-std=c11, _POSIX_C_SOURCE) call
// signal() as __sysv_signal (glibc's <signal.h>).
XLANE_INTERPOSE __sighandler_t sysv_signal(int sig, __sighandler_t handler) __THROW {
    return sysv_signal_keeping_graceful(sig, handler);
}

XLANE_INTERPOSE __sighandler_t __sysv_signal(int sig, __sighandler_t handler) __THROW {
    return sysv_signal_keeping_graceful(sig, handler);
}
