// preload/stats_hooks.h: the calls libxlane.so's wrappers make publish IP
// TCP/UDP sockets with their path and reason and count what moves, into this
// process's real stats segment, which the reader then sees.
#include "stats_hooks.h"

#include <arpa/inet.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "stats/process_publisher.h"
#include "stats/stats_reader.h"

using namespace xlane;
using namespace xlane::preload;

namespace {

std::optional<stats::SocketSnapshot> published(int fd) {
    auto report = stats::read_segments({stats::kDefaultDirectory, ::getpid(), false});
    REQUIRE(report.ok());
    if (report->processes.empty()) return std::nullopt;
    for (const auto& socket : report->processes[0].sockets)
        if (socket.fd == fd) return socket;
    return std::nullopt;
}

}  // namespace

TEST_CASE("every preload path and reason has a stats name") {
    CHECK(stats_hooks::to_stats(SocketPath::kFast) == stats::Path::fast);
    CHECK(stats_hooks::to_stats(SocketPath::kKernel) == stats::Path::kernel);
    CHECK(stats_hooks::to_stats(SocketPath::kLoopback) == stats::Path::loopback);
    for (int r = 0; r <= 255; ++r) {
        const auto reason = static_cast<PathReason>(r);
        if (describe(reason)[0] == '\0' && reason != PathReason::kNone) continue;  // not a reason
        INFO("PathReason " << r << " (" << describe(reason) << ")");
        CHECK(std::string(stats::name(stats_hooks::to_stats(reason))) != "?");
    }
}

TEST_CASE("sockets that are not TCP or UDP over IP are not published") {
    const int udp = ::socket(AF_INET6, SOCK_DGRAM, 0);
    REQUIRE(udp >= 0);
    stats_hooks::opened(udp, classify_socket(AF_INET6, SOCK_DGRAM, 0));
    CHECK(stats::process_fd_stats().slot(udp) != nullptr);  // the control: UDP is
    stats_hooks::closed(udp);
    ::close(udp);
    int pair[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair) == 0);
    const SocketEntry entry = classify_socket(AF_UNIX, SOCK_STREAM, 0);
    stats_hooks::opened(pair[0], entry);
    CHECK(stats::process_fd_stats().slot(pair[0]) == nullptr);
    const int raw = ::socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP);  // may be refused: fine
    if (raw >= 0) {
        stats_hooks::opened(raw, classify_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP));
        CHECK(stats::process_fd_stats().slot(raw) == nullptr);
        ::close(raw);
    }
    ::close(pair[0]);
    ::close(pair[1]);
}

TEST_CASE("hooks publish UDP sockets with their path, endpoints and counters") {
    const int a = ::socket(AF_INET, SOCK_DGRAM, 0);
    const int b = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(a >= 0);
    REQUIRE(b >= 0);
    SocketEntry entry = classify_socket(AF_INET, SOCK_DGRAM, 0);
    g_sockets.record(a, entry);
    g_sockets.record(b, entry);
    stats_hooks::opened(a, entry, /*fresh=*/true);
    stats_hooks::opened(b, entry);

    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    REQUIRE(::bind(b, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    REQUIRE(::getsockname(b, reinterpret_cast<sockaddr*>(&address), &length) == 0);
    REQUIRE(::connect(a, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    entry.path = SocketPath::kKernel;
    entry.reason = PathReason::kRule;
    g_sockets.record(a, entry);
    stats_hooks::changed(a, "default: kernel any any 127.0.0.0/8");
    stats_hooks::changed(a);  // e.g. after the bind that follows the decision: text kept
    stats_hooks::changed(b);

    char buffer[100] = {};
    stats_hooks::sent(a, ::send(a, buffer, 40, 0));
    stats_hooks::sent(a, ::send(a, buffer, 0, 0));  // an empty datagram is a datagram
    stats_hooks::received(b, ::recv(b, buffer, sizeof(buffer), 0));
    stats_hooks::received(b, ::recv(b, buffer, sizeof(buffer), 0));
    errno = 0;
    const long nothing = ::recv(b, buffer, sizeof(buffer), MSG_DONTWAIT);
    REQUIRE(errno == EAGAIN);
    stats_hooks::received(b, nothing);
    CHECK(errno == EAGAIN);  // left as the call set it

    auto sender = published(a);
    auto receiver = published(b);
    REQUIRE(sender);
    REQUIRE(receiver);
    CHECK(sender->path == stats::Path::kernel);
    CHECK(sender->reason == stats::Reason::rule);
    CHECK(sender->reason_text == "default: kernel any any 127.0.0.0/8");
    CHECK(stats::to_string(sender->remote) == stats::to_string(receiver->local));
    CHECK(sender->counter(stats::Counter::tx_packets) == 2);
    CHECK(sender->counter(stats::Counter::tx_bytes) == 40);
    CHECK(receiver->reason == stats::Reason::undecided);
    CHECK(receiver->counter(stats::Counter::rx_packets) == 2);
    CHECK(receiver->counter(stats::Counter::rx_bytes) == 40);
    CHECK(receiver->counter(stats::Counter::rx_eagain) == 1);

    // A new reason without a text: the reason's description.
    entry.reason = PathReason::kUnsupportedOption;
    g_sockets.record(a, entry);
    stats_hooks::changed(a);
    CHECK(published(a)->reason_text == describe(PathReason::kUnsupportedOption));
    // Handed back at exit: not shown (the stats keep what the socket was).
    entry.reason = PathReason::kProcessExit;
    g_sockets.record(a, entry);
    stats_hooks::changed(a);
    CHECK(published(a)->reason == stats::Reason::unsupported_option);

    const int copy = ::dup(a);
    stats_hooks::duplicated(a, copy);
    stats_hooks::closed(a);
    ::close(a);
    CHECK(published(copy));
    stats_hooks::closed(copy);
    ::close(copy);
    stats_hooks::closed(b);
    ::close(b);
    CHECK_FALSE(published(copy));
    CHECK_FALSE(published(b));
    stats::process_publisher().finish();  // removes this test's segment
}

