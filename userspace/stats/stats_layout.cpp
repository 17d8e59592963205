#include "stats/stats_layout.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>
#include <cstring>

namespace xlane::stats {

const char* name(Path path) noexcept {
    switch (path) {
        case Path::unknown: return "unknown";
        case Path::kernel: return "kernel";
        case Path::loopback: return "loopback";
        case Path::fast: return "fast";
    }
    return "?";
}

const char* name(Reason reason) noexcept {
    switch (reason) {
        case Reason::none: return "none";
        case Reason::rule: return "rule";
        case Reason::no_attachment: return "no-xlane-on-interface";
        case Reason::owned_elsewhere: return "owned-by-another-process";
        case Reason::resource_exhausted: return "resource-exhausted";
        case Reason::unsupported_option: return "unsupported-option";
        case Reason::not_ip: return "not-ip";
        case Reason::not_tcp_udp: return "not-tcp-or-udp";
        case Reason::tcp_undecided: return "tcp-undecided";
        case Reason::config_error: return "config-error";
        case Reason::error: return "error";
        case Reason::undecided: return "undecided";
        case Reason::forked: return "forked";
        case Reason::process_exit: return "process-exit";
    }
    return "?";
}

const char* name(Counter counter) noexcept {
    switch (counter) {
        case Counter::rx_packets: return "rx_packets";
        case Counter::rx_bytes: return "rx_bytes";
        case Counter::tx_packets: return "tx_packets";
        case Counter::tx_bytes: return "tx_bytes";
        case Counter::rx_drops: return "rx_drops";
        case Counter::tx_drops: return "tx_drops";
        case Counter::rx_eagain: return "rx_eagain";
        case Counter::tx_eagain: return "tx_eagain";
        case Counter::poll_hits: return "poll_hits";
        case Counter::poll_misses: return "poll_misses";
        case Counter::count_: break;
    }
    return "?";
}

const char* protocol_name(uint8_t protocol, char (&buffer)[8]) noexcept {
    if (protocol == IPPROTO_UDP) return "udp";
    if (protocol == IPPROTO_TCP) return "tcp";
    std::snprintf(buffer, sizeof(buffer), "%u", protocol);
    return buffer;
}

StatsEndpoint endpoint_from_sockaddr(const void* sockaddr, unsigned length) noexcept {
    StatsEndpoint out{};
    if (sockaddr == nullptr || length < sizeof(sa_family_t)) return out;
    sa_family_t family;
    std::memcpy(&family, sockaddr, sizeof(family));
    if (family == AF_INET && length >= sizeof(sockaddr_in)) {
        sockaddr_in in;
        std::memcpy(&in, sockaddr, sizeof(in));
        out.addr.bytes[10] = 0xff;
        out.addr.bytes[11] = 0xff;
        std::memcpy(&out.addr.bytes[12], &in.sin_addr, 4);
        out.port = ntohs(in.sin_port);
        out.set = 1;
    } else if (family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
        sockaddr_in6 in6;
        std::memcpy(&in6, sockaddr, sizeof(in6));
        std::memcpy(out.addr.bytes, &in6.sin6_addr, 16);
        out.port = ntohs(in6.sin6_port);
        out.set = 1;
    }
    return out;
}

const char* format_endpoint(const StatsEndpoint& endpoint, char* buffer, size_t size) noexcept {
    if (size == 0) return buffer;
    if (!endpoint.set) {
        std::snprintf(buffer, size, "*");
        return buffer;
    }
    static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    char address[INET6_ADDRSTRLEN] = "?";
    if (std::memcmp(endpoint.addr.bytes, kMappedPrefix, sizeof(kMappedPrefix)) == 0) {
        inet_ntop(AF_INET, &endpoint.addr.bytes[12], address, sizeof(address));
        std::snprintf(buffer, size, "%s:%u", address, endpoint.port);
    } else {
        inet_ntop(AF_INET6, endpoint.addr.bytes, address, sizeof(address));
        std::snprintf(buffer, size, "[%s]:%u", address, endpoint.port);
    }
    return buffer;
}

}  // namespace xlane::stats
