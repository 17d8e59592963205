// Peers of a fast TCP connection learn that its process was terminated by
// SIGINT, SIGTERM or SIGHUP with their default action: Linux closes a dying
// process's sockets, so they get FIN (or RST where Linux sends one); the
// engine's user-space connections would otherwise just stop answering, and a
// peer blocked in recv() would wait for its own timeout.
#pragma once

#include <signal.h>

namespace xlane::preload {

// Once per process, when its first fast TCP socket appears: for each of those
// signals still at SIG_DFL, a handler that has a helper thread close every
// fast socket as exit() would (FINs, then the hand-over of closing
// connections to the kernel), waits for it at most 3 s, and then dies of the
// signal with its default action, so the exit status is the signal's.
// To the program the handler is SIG_DFL (interpose_signal.cpp): queries
// report SIG_DFL, setting SIG_DFL keeps it, and any other disposition the
// program sets replaces it. Known differences: other threads run on while
// the sockets close (milliseconds, up to 3 s), where Linux stops them at
// once, and may see their fast sockets go; sigset() and ssignal(), the
// rt_sigaction system call made directly, and a ThreadSanitizer build (see
// preload/CMakeLists.txt) still see the handler.
void arm_graceful_termination();

// _exit() or _Exit() in the process that armed the handler: the same
// closing as a terminating signal's (FINs, the hand-over to the kernel),
// waited for at most 3 s, since Linux closes the sockets of a process that
// ends this way too. Nothing in a vfork or forked child, or from inside the
// engine (a signal handler that interrupted it). Async-signal-safe. Returns
// false when the closing did not finish in time: the engine may then be
// stuck (the helper blocked on a lock the interrupted thread holds), and the
// caller must not wait for its mutex.
[[nodiscard]] bool close_fast_sockets_before_image_ends();

// The program asks for `requested` on `sig`: when that is SIG_DFL for a signal
// whose handler this process armed, fills `graceful` with the handler's own
// disposition (to install instead) and returns true.
[[nodiscard]] bool keep_graceful_for_default(int sig, const struct sigaction& requested,
                                             struct sigaction* graceful);
// A disposition read back from the kernel, as the program must see it: the
// handler becomes SIG_DFL with no flags and an empty mask.
void report_graceful_as_default(struct sigaction* action);
[[nodiscard]] __sighandler_t report_graceful_as_default(__sighandler_t handler);

}  // namespace xlane::preload
