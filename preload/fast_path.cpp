// The fast path's side of the readiness contract (fast_path.h) with the
// poll/select/epoll multiplexers.
#include "fast_path.h"

#include "fast_internal.h"
#include "fast_tcp.h"
#include "fast_udp.h"
#include "runtime.h"
#include "stats_hooks.h"

namespace xlane::preload {

bool fast_socket_event_fd(int fd, int* event_fd) {
    if (inside_engine() || !fast::serves(fd)) return false;
    FastRef socket = g_fast_sockets.find(fd);
    if (!socket || socket->closed) return false;
    *event_fd = socket->event_fd;
    return true;
}

size_t fast_socket_queued(int fd) {
    if (inside_engine() || !fast::serves(fd)) return 0;
    FastRef socket = g_fast_sockets.find(fd);
    if (!socket || socket->closed) return 0;
    engine::UdpEngine* engine = current_engine();
    if (engine == nullptr) return 0;
    auto queued = fast::guarded([&] { return engine->queued(socket->id); });
    return queued ? queued.value() : 0;
}

bool fast_stream_event_fd(int fd, short events, bool edge_triggered, int* event_fd,
                          bool* listening, uint32_t* hold) {
    return fast::tcp::hold_interest(fd, events, edge_triggered, event_fd, listening, hold);
}

void fast_stream_release(uint32_t hold, short events) {
    fast::tcp::release_interest(hold, events);
}

short fast_stream_mask(int fd) {
    return fast::tcp::poll_mask(fd);
}

bool fast_stream_socket(int fd) {
    return fast::tcp::serves(fd);
}

void fast_path_poll_once() {
    if (inside_engine()) return;
    engine::UdpEngine* engine = current_engine();
    if (engine == nullptr) return;
    (void)fast::guarded([&]() -> Result<size_t> { return engine->poll_rx(); });
}

void fast_socket_polled(int fd, bool hit) {
    stats_hooks::polled(fd, hit);
}

void* fast_path_rx_spin_begin() {
    engine::UdpEngine* engine = current_engine();
    if (engine != nullptr) engine->rx_spin_begin();
    return engine;
}

void fast_path_rx_polled_empty() {
    engine::UdpEngine* engine = current_engine();
    if (engine != nullptr) engine->renew_poller_lease();
}

void fast_path_rx_polling_stopped() {
    engine::UdpEngine* engine = current_engine();
    if (engine != nullptr) engine->rx_polling_stopped();
}

void fast_path_rx_spin_end(void* token, bool to_sleep) {
    static_cast<engine::UdpEngine*>(token)->rx_spin_end(to_sleep);
}

unsigned fast_path_spin_us() {
    // The settings exist once the engine does.
    if (current_engine() == nullptr) return 0;
    return settings().spin_us;
}

unsigned fast_path_poll_os_ratio() {
    if (current_engine() == nullptr) return 0;
    return settings().poll_os_ratio;
}

unsigned kernel_spin_us() {
    if (!settings_loaded()) return 0;
    const config::Settings& loaded = settings();
    return loaded.spin_kernel ? loaded.spin_us : 0;
}

}  // namespace xlane::preload
