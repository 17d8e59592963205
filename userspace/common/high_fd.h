// xlane's own descriptors above the application's.
//
// The kernel hands out the lowest free number. Without this, the library's
// descriptors (about 16 when an engine starts: lock file, BPF maps, AF_XDP
// and netlink sockets, epoll, timer, eventfds, log; then one eventfd per
// fast socket) took the numbers the application's sockets get without it
// and pushed those higher: a program that sizes an fd-indexed table from its
// own connection count found sockets beyond it (wrk -t2 -c8 preloaded: 3
// connect errors in 2 s), and one that passes sockets to select() reaches
// FD_SETSIZE (1024) with half as many connections.
#pragma once

namespace xlane {

// The lowest number internal descriptors are moved to: 1024 (above
// select()'s range) when RLIMIT_NOFILE's soft limit leaves room for it, else
// the top quarter below that limit (768 of 1024).
[[nodiscard]] int high_fd_base() noexcept;

// Moves `fd` to the lowest free number at or above high_fd_base(), close-on-
// exec, closes the original and returns the new number. When no such number
// is free (or fd < 0) returns `fd` unchanged, errno preserved: a low number
// still works. Raw system calls only, so it is safe inside the interposed
// library before or while its wrappers run.
[[nodiscard]] int move_fd_high(int fd) noexcept;

}  // namespace xlane
