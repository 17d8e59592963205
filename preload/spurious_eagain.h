// A blocking TCP receive on a socket that the loopback path (sockmap) serves
// can fail with EAGAIN although the socket is blocking and has no receive
// timeout: tcp_bpf_recvmsg() treats any wake-up of its wait (for example a
// writer thread of the same socket waiting for memory) as "no data" (seen on
// 6.18; tests/integration/loopback_path.sh, case "duplex-blocking"). Such a
// socket can never legitimately return EAGAIN, so the wrappers call again.
#pragma once

namespace xlane::preload {

// True when a receive that just failed with EAGAIN on `fd` with `flags`
// must be retried: a TCP socket of this process, blocking, no SO_RCVTIMEO,
// no MSG_DONTWAIT. Costs a few system calls, and only on that error path.
[[nodiscard]] bool spurious_eagain(int fd, int flags);

// Calls `receive()` (which returns ssize_t and sets errno) again for as long
// as it fails with a spurious EAGAIN.
template <typename Receive>
auto retry_spurious_eagain(int fd, int flags, Receive receive) {
    for (;;) {
        auto ret = receive();
        if (ret >= 0 || !spurious_eagain(fd, flags)) return ret;
    }
}

}  // namespace xlane::preload
