// Peers of a fast TCP connection learn that its process was terminated by
// SIGINT, SIGTERM or SIGHUP with their default action: Linux closes a dying
// process's sockets, so they get FIN (or RST where Linux sends one); the
// engine's user-space connections would otherwise just stop answering, and a
// peer blocked in recv() would wait for its own timeout.
#pragma once

namespace xlane::preload {

// Once per process, when its first fast TCP socket appears: for each of those
// signals still at SIG_DFL, a handler that has a helper thread close every
// fast socket as exit() would (FINs, then the hand-over of closing
// connections to the kernel), waits for it at most 3 s, and then dies of the
// signal with its default action, so the exit status is the signal's. A
// disposition the program sets later replaces the handler. Known differences:
// sigaction() queried after arming reports the handler, not SIG_DFL; other
// threads run on while the sockets close (milliseconds, up to 3 s), where
// Linux stops them at once, and may see their fast sockets go.
void arm_graceful_termination();

}  // namespace xlane::preload
