// RouteResolver and NeighbourTable against the kernel of a private namespace
// A joined to B by a veth: answers match `ip route get`, neighbours get
// resolved on demand, and changes (MTU, routes, neighbours) are seen after
// poll_changes() without reopening. Nothing is sent outside 198.18.0.0/15
// and fd00:198:18::/64 (only ARP/ND on the veth; resolving sends nothing).
#include <poll.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "net/neighbour_table.h"
#include "net/route_resolver.h"
#include "packet/wire.h"
#include "veth_hosts.h"

using namespace xlane;
using namespace xlane::net;
using xlane::test::VethHosts;
using namespace std::chrono_literals;

namespace {

// Long enough for ARP/ND on an idle veth many times over; a bound, not a speed claim.
constexpr auto kResolveTimeout = 5000ms;

std::unique_ptr<VethHosts> make_hosts() {
    auto hosts = VethHosts::create();
    INFO((hosts ? "" : hosts.error().describe()));
    REQUIRE(hosts.ok());
    return std::move(hosts).value();
}

IpAddress ip(const char* text) {
    auto parsed = IpAddress::parse(text);
    REQUIRE(parsed.ok());
    return parsed.value();
}

std::string mac_text(const packet::MacAddr& mac) {
    char text[18];
    std::snprintf(text, sizeof(text), "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2],
                  mac[3], mac[4], mac[5]);
    return text;
}

void run_a(const VethHosts& hosts, const std::string& command) {
    auto done = hosts.run_in_a(command);
    INFO(command << ": " << (done ? "" : done.error().describe()));
    REQUIRE(done.ok());
}

NextHop resolve_ok(RouteResolver& resolver, const char* destination) {
    auto hop = resolver.resolve(ip(destination));
    INFO(destination << ": " << (hop ? "" : hop.error().describe()));
    REQUIRE(hop.ok());
    return hop.value();
}

// Waits (bounded) until `fd` is readable: the kernel has queued a change.
bool readable_within(int fd, std::chrono::milliseconds timeout) {
    pollfd pfd{fd, POLLIN, 0};
    return ::poll(&pfd, 1, static_cast<int>(timeout.count())) == 1;
}

std::unique_ptr<RouteResolver> open_resolver() {
    auto resolver = RouteResolver::open();
    INFO((resolver ? "" : resolver.error().describe()));
    REQUIRE(resolver.ok());
    return std::move(resolver).value();
}

std::unique_ptr<NeighbourTable> open_neighbours() {
    auto table = NeighbourTable::open();
    INFO((table ? "" : table.error().describe()));
    REQUIRE(table.ok());
    return std::move(table).value();
}

}  // namespace

TEST_CASE("on-link IPv4 and IPv6 destinations resolve as the kernel routes them") {
    auto hosts = make_hosts();
    auto resolver = open_resolver();

    const NextHop v4 = resolve_ok(*resolver, VethHosts::kAddressB);
    CHECK(v4.kind == RouteKind::kUnicast);
    CHECK(v4.ifindex == hosts->ifindex_a());
    CHECK(v4.source == ip(VethHosts::kAddressA));
    CHECK(v4.next_hop == ip(VethHosts::kAddressB));
    CHECK_FALSE(v4.via_gateway);
    CHECK(v4.mtu == 1500);

    const NextHop v6 = resolve_ok(*resolver, VethHosts::kAddress6B);
    CHECK(v6.kind == RouteKind::kUnicast);
    CHECK(v6.ifindex == hosts->ifindex_a());
    CHECK(v6.source == ip(VethHosts::kAddress6A));
    CHECK(v6.next_hop == ip(VethHosts::kAddress6B));
    CHECK_FALSE(v6.via_gateway);
    CHECK(v6.mtu == 1500);
    CHECK(resolver->cached_routes() == 2);

    // The host's own address is local: the kernel path's, not the XSK's.
    CHECK(resolve_ok(*resolver, VethHosts::kAddressA).kind == RouteKind::kLocal);
}

TEST_CASE("an MTU change is seen after poll_changes() without reopening") {
    auto hosts = make_hosts();
    auto resolver = open_resolver();
    REQUIRE(resolve_ok(*resolver, VethHosts::kAddressB).mtu == 1500);
    REQUIRE(resolve_ok(*resolver, VethHosts::kAddress6B).mtu == 1500);

    run_a(*hosts, "ip link set dev " + hosts->interface_a() + " mtu 1400");
    REQUIRE(readable_within(resolver->fd(), 2000ms));
    auto changes = resolver->poll_changes();
    REQUIRE(changes.ok());
    CHECK(changes.value() > 0);
    CHECK(resolver->cached_routes() == 0);
    CHECK(resolve_ok(*resolver, VethHosts::kAddressB).mtu == 1400);
    CHECK(resolve_ok(*resolver, VethHosts::kAddress6B).mtu == 1400);
}

TEST_CASE("a route through a gateway is seen when added, and its removal is a clear error") {
    auto hosts = make_hosts();
    auto resolver = open_resolver();
    const char* kBehindGateway = "198.19.5.1";  // never sent to: only looked up

    auto before = resolver->resolve(ip(kBehindGateway));
    REQUIRE_FALSE(before.ok());
    CHECK(before.error().errnum == ENETUNREACH);

    run_a(*hosts, "ip route add 198.19.5.0/24 via 198.18.0.2");
    // IPv6 behind a gateway, inside the test /64: a more specific route.
    run_a(*hosts, "ip -6 route add fd00:198:18::5:0/112 via fd00:198:18::2");
    // A route MTU wins over the device's.
    run_a(*hosts, "ip route add 198.19.6.0/24 via 198.18.0.2 mtu 1300");
    REQUIRE(resolver->poll_changes().ok());

    const NextHop v4 = resolve_ok(*resolver, kBehindGateway);
    CHECK(v4.kind == RouteKind::kUnicast);
    CHECK(v4.ifindex == hosts->ifindex_a());
    CHECK(v4.via_gateway);
    CHECK(v4.next_hop == ip(VethHosts::kAddressB));
    CHECK(v4.source == ip(VethHosts::kAddressA));
    CHECK(v4.mtu == 1500);

    const NextHop v6 = resolve_ok(*resolver, "fd00:198:18::5:7");
    CHECK(v6.via_gateway);
    CHECK(v6.next_hop == ip(VethHosts::kAddress6B));
    CHECK(v6.source == ip(VethHosts::kAddress6A));
    CHECK(v6.ifindex == hosts->ifindex_a());

    CHECK(resolve_ok(*resolver, "198.19.6.9").mtu == 1300);

    run_a(*hosts, "ip route del 198.19.5.0/24");
    REQUIRE(resolver->poll_changes().ok());
    auto after = resolver->resolve(ip(kBehindGateway));
    REQUIRE_FALSE(after.ok());
    CHECK(after.error().errnum == ENETUNREACH);
    CHECK_THAT(after.error().message, Catch::Contains("no route to 198.19.5.1"));
}

TEST_CASE("a missing neighbour is resolved on demand and matches B's MAC") {
    auto hosts = make_hosts();
    auto mac_b = hosts->mac_of_b();
    REQUIRE(mac_b.ok());
    const unsigned ifindex = hosts->ifindex_a();

    for (const char* peer : {VethHosts::kAddressB, VethHosts::kAddress6B}) {
        SECTION(std::string("peer ") + peer) {
            run_a(*hosts, "ip neigh flush dev " + hosts->interface_a());
            auto listed = hosts->run_in_a("ip neigh show " + std::string(peer) + " dev " +
                                          hosts->interface_a());
            REQUIRE(listed.ok());
            REQUIRE(listed.value().empty());  // really absent before the lookup

            auto table = open_neighbours();
            auto first = table->lookup(ifindex, ip(peer));
            INFO((first ? "" : first.error().describe()));
            REQUIRE(first.ok());
            CHECK(first->state == NeighbourState::kPending);

            auto mac = table->wait_resolved(ifindex, ip(peer), kResolveTimeout);
            INFO((mac ? "" : mac.error().describe()));
            REQUIRE(mac.ok());
            CHECK(mac_text(mac.value()) == mac_b.value());

            // A fresh table finds it in its initial read of the kernel's table.
            auto reopened = open_neighbours();
            auto again = reopened->lookup(ifindex, ip(peer));
            REQUIRE(again.ok());
            CHECK(again->state == NeighbourState::kResolved);
            CHECK(mac_text(again->mac) == mac_b.value());
        }
    }
}

TEST_CASE("neighbour changes are followed through poll_changes()") {
    auto hosts = make_hosts();
    const unsigned ifindex = hosts->ifindex_a();
    auto table = open_neighbours();
    const IpAddress peer = ip(VethHosts::kAddressB);
    REQUIRE(table->wait_resolved(ifindex, peer, kResolveTimeout).ok());

    // STALE: still used, and the kernel is asked to confirm it (STALE -> DELAY),
    // since frames sent on an XSK confirm nothing to the kernel.
    auto mac_b = hosts->mac_of_b();
    REQUIRE(mac_b.ok());
    run_a(*hosts, "ip neigh replace 198.18.0.2 lladdr " + mac_b.value() + " nud stale dev " +
                      hosts->interface_a());
    REQUIRE(readable_within(table->fd(), 2000ms));
    REQUIRE(table->poll_changes().ok());
    auto stale = table->lookup(ifindex, peer);
    REQUIRE(stale.ok());
    CHECK(stale->state == NeighbourState::kResolved);
    auto shown = hosts->run_in_a("ip neigh show 198.18.0.2 dev " + hosts->interface_a());
    REQUIRE(shown.ok());
    CHECK_THAT(shown.value(), !Catch::Contains("STALE"));

    // An administrator pins another MAC: the next lookup returns it.
    run_a(*hosts, "ip neigh replace 198.18.0.2 lladdr 02:00:5e:00:53:01 nud permanent dev " +
                      hosts->interface_a());
    REQUIRE(readable_within(table->fd(), 2000ms));
    REQUIRE(table->poll_changes().ok());
    auto replaced = table->lookup(ifindex, peer);
    REQUIRE(replaced.ok());
    REQUIRE(replaced->state == NeighbourState::kResolved);
    CHECK(mac_text(replaced->mac) == "02:00:5e:00:53:01");

    // Deleted: the table forgets it and resolution starts again, finding B's real MAC.
    run_a(*hosts, "ip neigh del 198.18.0.2 dev " + hosts->interface_a());
    REQUIRE(readable_within(table->fd(), 2000ms));
    REQUIRE(table->poll_changes().ok());
    auto mac = table->wait_resolved(ifindex, peer, kResolveTimeout);
    REQUIRE(mac.ok());
    CHECK(mac_text(mac.value()) == mac_b.value());
}

TEST_CASE("a neighbour that never answers is reported unreachable within the bound") {
    auto hosts = make_hosts();
    // Fewer, faster probes so the kernel gives up well within the wait.
    run_a(*hosts, "sysctl -qw net.ipv4.neigh." + hosts->interface_a() +
                      ".retrans_time_ms=100 net.ipv4.neigh." + hosts->interface_a() +
                      ".mcast_solicit=2");
    auto table = open_neighbours();
    const IpAddress absent = ip("198.18.0.77");  // on the veth's subnet, no host has it
    auto mac = table->wait_resolved(hosts->ifindex_a(), absent, kResolveTimeout);
    REQUIRE_FALSE(mac.ok());
    CHECK(mac.error().errnum == EHOSTUNREACH);
    CHECK_THAT(mac.error().message, Catch::Contains("198.18.0.77"));
    auto later = table->lookup(hosts->ifindex_a(), absent);
    REQUIRE(later.ok());
    CHECK(later->state == NeighbourState::kFailed);
}

TEST_CASE("a lookup on an interface that does not exist is an error, not a pending entry") {
    auto hosts = make_hosts();
    auto table = open_neighbours();
    auto missing = table->lookup(999999, ip(VethHosts::kAddressB));
    REQUIRE_FALSE(missing.ok());
    CHECK(missing.error().errnum == ENODEV);
}

TEST_CASE("a route out of an interface with no address to send from is a clear error") {
    auto hosts = make_hosts();
    auto resolver = open_resolver();
    // The kernel then answers without a preferred source, and the interface
    // has no IPv4 address to fall back on.
    run_a(*hosts, "ip -4 addr flush dev " + hosts->interface_a() +
                      " && ip route add 198.19.7.0/24 dev " + hosts->interface_a());
    REQUIRE(resolver->poll_changes().ok());
    auto hop = resolver->resolve(ip("198.19.7.1"));
    REQUIRE_FALSE(hop.ok());
    CHECK(hop.error().errnum == EADDRNOTAVAIL);
    CHECK_THAT(hop.error().message, Catch::Contains("no usable IPv4 address"));
    // IPv6 on the same interface is unaffected.
    CHECK(resolve_ok(*resolver, VethHosts::kAddress6B).source == ip(VethHosts::kAddress6A));
}

TEST_CASE("application threads resolve while a progress thread applies changes") {
    auto hosts = make_hosts();
    auto resolver = open_resolver();
    auto table = open_neighbours();
    const IpAddress peer = ip(VethHosts::kAddressB);
    REQUIRE(table->wait_resolved(hosts->ifindex_a(), peer, kResolveTimeout).ok());

    std::atomic<bool> stop{false};
    std::atomic<int> bad_answers{0};
    std::atomic<int> answers{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < 2; ++i) {
        threads.emplace_back([&] {
            while (!stop.load()) {
                auto hop = resolver->resolve(peer);
                auto neighbour = table->lookup(hosts->ifindex_a(), peer);
                // Either MTU is right, depending on when the change lands; nothing else is.
                if (!hop || (hop->mtu != 1500 && hop->mtu != 1400) || !neighbour ||
                    neighbour->state != NeighbourState::kResolved)
                    ++bad_answers;
                ++answers;
            }
        });
    }
    std::thread progress([&] {
        while (!stop.load()) {
            pollfd fds[2] = {{resolver->fd(), POLLIN, 0}, {table->fd(), POLLIN, 0}};
            (void)::poll(fds, 2, 10);
            if (!resolver->poll_changes() || !table->poll_changes()) ++bad_answers;
        }
    });
    // The change lands while the application threads are busy (bounded wait for them to start).
    const auto started_by = std::chrono::steady_clock::now() + 2000ms;
    while (answers.load() < 100 && std::chrono::steady_clock::now() < started_by)
        std::this_thread::sleep_for(1ms);
    const int answers_before_change = answers.load();
    auto changed = hosts->run_in_a("ip link set dev " + hosts->interface_a() + " mtu 1400");
    // Bounded: at most 2 s for the progress thread to apply the change.
    const auto deadline = std::chrono::steady_clock::now() + 2000ms;
    bool seen = false;
    while (!seen && std::chrono::steady_clock::now() < deadline) {
        auto hop = resolver->resolve(peer);
        seen = hop && hop->mtu == 1400;
        if (!seen) std::this_thread::sleep_for(5ms);
    }
    stop = true;
    for (auto& thread : threads) thread.join();
    progress.join();
    REQUIRE(changed.ok());
    CHECK(seen);
    CHECK(answers_before_change >= 100);
    CHECK(bad_answers.load() == 0);
}
