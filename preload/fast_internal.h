// Helpers shared by the fast-path files (fast_udp.cpp, fast_io.cpp,
// fast_path.cpp): calls into the engine with the engine mark set and every
// exception turned into an Error, and the hand-back of a socket to the kernel.
#pragma once

#include <cxxabi.h>

#include <exception>
#include <new>
#include <string>

#include "common/result.h"
#include "config/rule_set.h"
#include "engine/udp_engine.h"
#include "fast_socket.h"
#include "readiness_support.h"
#include "socket_table.h"

namespace xlane::preload::fast {

// Runs `body` (which returns a Result) inside the engine mark; an exception
// becomes an Error (ENOMEM for bad_alloc). Thread cancellation's forced
// unwind passes through, as it must.
template <typename Body>
auto guarded(Body&& body) -> decltype(body()) {
    InsideEngine mark;
    try {
        return body();
    } catch (abi::__forced_unwind&) {
        throw;
    } catch (const std::bad_alloc&) {
        return make_error(ENOMEM, "out of memory in the fast path");
    } catch (const std::exception& e) {
        return make_error(EIO, std::string("fast path: ") + e.what());
    } catch (...) {
        return make_error(EIO, "fast path: unexpected exception");
    }
}

// The last line of defence at each entry from an interposed call: an
// exception (bad_alloc building a log line, say) must not reach the
// extern "C" frame; the call then goes to libc (`fallback`). Thread
// cancellation's forced unwind passes through.
template <typename Body, typename Fallback>
auto shielded(Body&& body, Fallback fallback) -> decltype(body()) {
    try {
        return body();
    } catch (abi::__forced_unwind&) {
        throw;
    } catch (...) {
        return fallback;
    }
}

template <typename Body>
void shielded_void(Body&& body) {
    try {
        body();
    } catch (abi::__forced_unwind&) {
        throw;
    } catch (...) {
    }
}

// Whether the application's [src, src + len) can be read, found the way the
// kernel finds it (no SIGSEGV: EFAULT is the kernel's answer to a bad
// pointer), copying it into `dst` when given. Used where the fast path reads
// memory before any system call has checked it (a socket's decision: its
// first bind, connect or send). Where the check itself is refused (a seccomp
// filter without process_vm_readv), the memory is taken as readable.
[[nodiscard]] bool user_readable(const void* src, size_t len, void* dst = nullptr);

// `text` (the rule, the error) is what `xlane sockets` shows after the reason.
void set_path(int fd, SocketPath path, PathReason reason, const char* text = nullptr);
// A socket the rules offloaded stays with the kernel because something
// failed: its entry says why, the decision is logged (info) and so is the
// failure (warn).
void fall_back(int fd, const std::string& what, PathReason reason, const std::string& text);
// The first steps of every socket's decision (UDP and TCP): the rules, then
// the engine (created at the first offloaded socket). nullptr when the
// socket stays on the kernel path, its entry and the log saying why;
// otherwise *rule is the offloading rule, for the entry and the log.
[[nodiscard]] engine::UdpEngine* engine_for_decision(int fd, const config::SocketQuery& query,
                                                     const std::string& what, std::string* rule);

// The engine of an existing FastSocket (it exists once any socket is fast).
[[nodiscard]] engine::UdpEngine* engine_of(const FastSocket& socket);

// Closes the engine socket once (steering entries removed).
void close_engine_socket(FastSocket& socket);
// One fd no longer names `socket`: the last one closes the engine socket.
void drop_fd_ref(FastSocket* socket);

// Every fd naming `socket` goes back to the kernel path with `reason` (the
// engine socket is closed): for an option the fast path cannot honour once
// its queue is empty, at exit, after a failed steering. Logs `why` (warn when
// `failure`, info otherwise; nothing when empty).
void hand_back(FastSocket* socket, PathReason reason, const std::string& why, bool failure);

// Starts handing `socket` back: steering removed now, datagrams already
// queued in user space are still served first; the receive path finishes
// the hand-back when the queue is empty.
void start_release(const FastRef& socket, const std::string& why);

using xlane::preload::signal_handlers_restart;  // readiness_support.h

}  // namespace xlane::preload::fast
