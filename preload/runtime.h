// The fast path's process-wide state, all created at first need: the
// settings and rules (read once), the UDP engine (created once, at the
// first socket the rules offload), and what fork() and exit() do to them.
#pragma once

#include <string>

#include "config/rule_set.h"
#include "config/settings.h"
#include "engine/udp_engine.h"
#include "socket_table.h"

namespace xlane::preload {

// XLANE_* settings and the rules file, loaded (and problems logged) at the
// first call, from any thread. Never fails: an unusable rules file becomes
// RuleSet::kernel_only naming the error.
[[nodiscard]] const config::Settings& settings();
[[nodiscard]] const config::RuleSet& rules();
// True once the settings are loaded (settings() then returns at once, lock-free).
[[nodiscard]] bool settings_loaded();

// The engine, or why there is none. Created at the first call (later calls
// after a failure try again at most every few seconds, so attaching xlane
// while a program runs takes effect for its new sockets).
struct EngineOrReason {
    engine::UdpEngine* engine = nullptr;
    PathReason reason = PathReason::kNone;
    std::string detail;  // the error, for the log
};
[[nodiscard]] EngineOrReason engine_for_new_socket();
// The engine if it exists; never creates it.
[[nodiscard]] engine::UdpEngine* current_engine();

// The engine's AF_XDP sockets (fixed once it exists; empty before): a
// receive about to sleep polls them with the socket's eventfd.
struct RxFds {
    const int* fds = nullptr;
    size_t count = 0;
};
[[nodiscard]] RxFds engine_rx_fds();

// Before the process image ends without exit handlers (_exit, _Exit, exec*):
// wakes the kernel for TX frames a batched send left on an AF_XDP TX ring,
// which would otherwise go with the sockets. Only in the process that owns
// the engine (a vfork child shares its memory but not its sockets' fate);
// never allocates; a signal handler that interrupted the engine's own code
// on this thread skips it rather than deadlock.
void flush_before_image_ends();

// Called once a socket is fast: the first one arms the exit handler.
void note_fast_socket();

// Logs one line per decision (info) and per fallback caused by a failure (warn).
void log_decision(int fd, const char* what, const std::string& text);
void log_fallback(int fd, const std::string& text);

}  // namespace xlane::preload
