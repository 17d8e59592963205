// Marks the functions libxlane.so exports in place of libc's. Everything else
// in the library is hidden (-fvisibility=hidden), and exports.map lists exactly
// these names, so the version script and this attribute must agree.
#pragma once

// Entry points are never noexcept unless glibc's own declaration is: glibc
// cancels threads by unwinding through cancellation points (read, recv, accept,
// poll, ...), and a noexcept frame there would turn pthread_cancel() into
// std::terminate(). The library is built with -fno-exceptions, so nothing of
// ours can throw across the extern "C" boundary.
#define XLANE_INTERPOSE extern "C" __attribute__((visibility("default")))

// Not interposed, on purpose:
// - vfork: the child borrows the parent's stack until it execs or exits; a
//   wrapper's frame would be returned from by the child and then reused by the
//   parent, so vfork can only ever be libc's own.
// - fork: the socket table is process memory and is inherited exactly as the
//   fds are, which is right for kernel-path sockets; what a child must do about
//   the parent's fast path is a pthread_atfork child handler (runtime.cpp).
// - fexecve, execveat: rare; the other exec functions and _exit are
//   interposed (interpose_exec.cpp) only to send batched TX frames first,
//   with no dlsym and no allocation, since they run in vfork children too.
// - __fdelt_chk: FD_SET's bounds check; it never touches an fd.
