// The preload library's socket table and path decision: each socket's path
// with an honest reason; fd bookkeeping through dup,
// close and close_range.
#include "socket_table.h"

#include <netinet/in.h>
#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <memory>
#include <set>
#include <tuple>
#include <string>
#include <utility>

using xlane::preload::classify_socket;
using xlane::preload::describe;
using xlane::preload::PathReason;
using xlane::preload::SocketPath;
using xlane::preload::SocketTable;

namespace {

// 8 MiB: on the heap, not the test's stack.
std::unique_ptr<SocketTable> make_table() {
    return std::make_unique<SocketTable>();
}

}  // namespace

TEST_CASE("TCP waits for its fast path; UDP is decided at its first bind, connect or send") {
    for (int family : {AF_INET, AF_INET6}) {
        const std::tuple<int, int, PathReason> kinds[] = {
            {SOCK_STREAM, 0, PathReason::kTcpUndecided},
            {SOCK_STREAM, IPPROTO_TCP, PathReason::kTcpUndecided},
            {SOCK_DGRAM, 0, PathReason::kUndecided},
            {SOCK_DGRAM, IPPROTO_UDP, PathReason::kUndecided}};
        for (auto [type, protocol, reason] : kinds) {
            const auto entry =
                classify_socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
            CHECK(entry.path == SocketPath::kKernel);
            CHECK(entry.reason == reason);
            CHECK(entry.type == type);  // creation flags are not part of the type
            CHECK(entry.family == family);
        }
    }
    CHECK(std::string(describe(PathReason::kTcpUndecided)) ==
          "TCP socket: decided at its connect or listen (the kernel path with XLANE_TCP=0, or =auto without CAP_NET_ADMIN)");
    CHECK(std::string(describe(PathReason::kNotAttached)) == "xlane not attached");
}

TEST_CASE("Every path reason has its own words, and the numbers never move") {
    // Published numbers (append-only): a renumbering fails here.
    CHECK(static_cast<int>(PathReason::kUndecided) == 4);
    CHECK(static_cast<int>(PathReason::kProcessExit) == 11);
    std::set<std::string> seen;
    for (int r = 0; r <= static_cast<int>(PathReason::kProcessExit); ++r) {
        const std::string text = describe(static_cast<PathReason>(r));
        CHECK(text != "unknown reason");
        CHECK(seen.insert(text).second);
    }
}

TEST_CASE("Sockets xlane will never accelerate say why") {
    CHECK(classify_socket(AF_UNIX, SOCK_STREAM, 0).reason == PathReason::kNotIpSocket);
    CHECK(classify_socket(AF_NETLINK, SOCK_RAW, 0).reason == PathReason::kNotIpSocket);
    CHECK(classify_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP).reason == PathReason::kNotTcpOrUdp);
    CHECK(classify_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP).reason == PathReason::kNotTcpOrUdp);
    CHECK(classify_socket(AF_INET6, SOCK_STREAM, 262 /* IPPROTO_MPTCP */).reason ==
          PathReason::kNotTcpOrUdp);
    CHECK(classify_socket(AF_INET, SOCK_SEQPACKET, IPPROTO_SCTP).reason ==
          PathReason::kNotTcpOrUdp);
    CHECK(std::string(describe(PathReason::kNotIpSocket)) == "not an IP socket");
}

TEST_CASE("The table finds what was recorded, field for field") {
    auto table = make_table();
    CHECK_FALSE(table->find(5).has_value());
    REQUIRE(table->record(5, classify_socket(AF_INET6, SOCK_STREAM, 262)));
    const auto entry = table->find(5);
    REQUIRE(entry.has_value());
    CHECK(entry->family == AF_INET6);
    CHECK(entry->type == SOCK_STREAM);
    CHECK(entry->protocol == 262);  // needs more than 8 bits
    CHECK(entry->path == SocketPath::kKernel);
    CHECK(entry->reason == PathReason::kNotTcpOrUdp);
}

TEST_CASE("fds outside the table are refused, not written past its end") {
    auto table = make_table();
    CHECK_FALSE(table->record(-1, classify_socket(AF_INET, SOCK_DGRAM, 0)));
    CHECK_FALSE(table->record(SocketTable::kCapacity, classify_socket(AF_INET, SOCK_DGRAM, 0)));
    CHECK(table->record(SocketTable::kCapacity - 1, classify_socket(AF_INET, SOCK_DGRAM, 0)));
    CHECK_FALSE(table->find(SocketTable::kCapacity).has_value());
    CHECK(table->find(SocketTable::kCapacity - 1).has_value());
    table->forget(SocketTable::kCapacity);  // must not crash
}

TEST_CASE("dup copies the entry; dup2 of an unknown fd onto a socket forgets the socket") {
    auto table = make_table();
    table->record(3, classify_socket(AF_INET, SOCK_STREAM, 0));
    table->copy(3, 7);
    REQUIRE(table->find(7).has_value());
    CHECK(table->find(7)->reason == PathReason::kTcpUndecided);
    table->copy(4, 7);  // fd 4 is a file the library never saw
    CHECK_FALSE(table->find(7).has_value());
    CHECK(table->find(3).has_value());
    table->copy(3, 3);  // dup2(fd, fd) changes nothing
    CHECK(table->find(3).has_value());
}

TEST_CASE("close forgets one fd; close_range forgets a range and stops at the highest fd") {
    auto table = make_table();
    for (int fd : {3, 4, 10, 11}) table->record(fd, classify_socket(AF_INET, SOCK_DGRAM, 0));
    table->forget(4);
    CHECK_FALSE(table->find(4).has_value());
    CHECK(table->find(3).has_value());
    table->forget_range(5, 10);
    CHECK_FALSE(table->find(10).has_value());
    CHECK(table->find(11).has_value());
    CHECK(table->find(3).has_value());
    table->forget_range(3, ~0U);  // closefrom(3): bounded by the highest recorded fd
    CHECK_FALSE(table->find(3).has_value());
    CHECK_FALSE(table->find(11).has_value());
}
