// stats_probe: a stand-in for a preloaded program, for the `xlane sockets` and
// `xlane stats` tests. It publishes two sockets through the process-wide
// publisher libxlane.so uses (one on the fast path, one sent to the kernel by
// a rule), counts traffic on them every 10 ms, prints "ready" and runs until
// SIGTERM (a normal exit: XLANE_STATS_FILE summary, segment removed) or
// SIGKILL (the segment stays behind for the next reader to remove).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "stats/process_publisher.h"

namespace {

std::atomic<bool> g_stop{false};

void on_term(int) {
    g_stop = true;
}

xlane::stats::StatsEndpoint endpoint(const char* address, uint16_t port) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    inet_pton(AF_INET, address, &in.sin_addr);
    return xlane::stats::endpoint_from_sockaddr(&in, sizeof(in));
}

}  // namespace

int main() {
    using namespace xlane::stats;
    struct sigaction action {};
    action.sa_handler = on_term;
    sigaction(SIGTERM, &action, nullptr);

    StatsPublisher& publisher = process_publisher();
    SocketInfo fast;
    fast.fd = 3;
    fast.family = AF_INET;
    fast.protocol = IPPROTO_UDP;
    fast.path = Path::fast;
    fast.local = endpoint("198.18.0.2", 11111);
    SocketInfo kernel;
    kernel.fd = 4;
    kernel.family = AF_INET;
    kernel.protocol = IPPROTO_TCP;
    kernel.path = Path::kernel;
    kernel.reason = Reason::rule;
    kernel.reason_text = "XLANE_CONFIG:1: kernel tcp client 198.18.0.1/32:7000";
    kernel.local = endpoint("198.18.0.2", 40000);
    kernel.remote = endpoint("198.18.0.1", 7000);
    SocketSlot* a = publisher.publish(fast);
    SocketSlot* b = publisher.publish(kernel);
    if (a == nullptr || b == nullptr) {
        std::fprintf(stderr, "stats_probe: cannot publish (errno %d)\n", publisher.last_error());
        return 1;
    }
    std::printf("ready %s\n", publisher.segment_path());
    std::fflush(stdout);
    while (!g_stop) {
        count(a, Counter::rx_packets);
        count(a, Counter::rx_bytes, 64);
        count(a, Counter::tx_packets);
        count(a, Counter::tx_bytes, 64);
        count(b, Counter::tx_packets);
        count(b, Counter::rx_eagain);
        usleep(10000);
    }
    return 0;  // exit(): the atexit handler summarises and removes the segment
}
