// A thread that spins on a non-blocking TCP receive (sockperf --nonblocked,
// busy-polling event loops) takes the socket lock in every empty call
// (tcp_recvmsg, tcp_bpf_recvmsg lock_sock() it). On the loopback path the
// peer's sk_msg redirect must take that same lock to queue its bytes
// (bpf_tcp_ingress), and when it finds it owned it sleeps until the spinner
// lets go: a scheduler wake-up per message, several microseconds on virtual
// CPUs, which made the redirect slower than the kernel's TCP for spinning
// receivers. tcp_poll() takes no lock.
//
// So once a thread's non-blocking receives on one loopback-path socket have
// come back empty twice in a row, its next receives there look with a
// zero-timeout poll() first, and fail with EAGAIN without taking the lock
// while it shows nothing to read. The result is the one the receive would
// have given: poll() reports data, EOF and pending errors (the receive then
// runs and returns them), and the look applies only when nothing could make
// the two disagree: a connected TCP socket (EAGAIN already seen), a receive
// mark of 1 (SO_RCVLOWAT), no MSG_OOB or MSG_ERRQUEUE. The mode and mark are
// this process's view: every change it makes (fcntl, ioctl, setsockopt,
// close, dup) makes its threads decide again, but an O_NONBLOCK cleared by
// another process sharing the open file description (after fork, or passed
// over a UNIX socket) is not seen, and a look may then answer EAGAIN to a
// receive that would have waited.
#pragma once

#include <sys/types.h>

namespace xlane::preload {

// Before a receive on a kernel-served fd (`flags` as recv's; 0 for read):
// true when the look found nothing to read and the call must fail with
// EAGAIN without reaching the kernel's receive (errno is set to EAGAIN).
[[nodiscard]] bool receive_found_empty_without_lock(int fd, int flags);

// After the kernel's receive on `fd` returned `ret` (errno as it left it,
// and kept): counts the empty receives in a row.
void note_kernel_receive(int fd, ssize_t ret);

// What an fd names, its O_NONBLOCK or its SO_RCVLOWAT may have changed: every
// thread decides again whether its receives may look first.
void forget_receive_looks();
// The same, before `fd` is closed or replaced, when it names a TCP socket (a
// socket no look can have been decided for needs nothing).
// Returns whether it did (then the caller forgets again once `fd` is gone).
bool forget_receive_looks_of(int fd);

}  // namespace xlane::preload
