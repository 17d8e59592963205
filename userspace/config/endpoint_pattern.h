// The ADDRESS[/PREFIX][:PORTS] part of a rule (docs/configuration.md): an
// address prefix and a port range, parsed from text and matched against endpoints.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "steering/address.h"

namespace xlane::config {

// A CIDR prefix over the 16-byte form IpAddress uses. An IPv4 prefix a.b.c.d/n
// is the IPv4-mapped prefix ::ffff:a.b.c.d/(96+n), so it matches IPv4 sockets
// and IPv4-mapped addresses on IPv6 sockets alike, and never native IPv6.
class AddressPrefix {
  public:
    AddressPrefix() = default;  // `*`: every address of both families
    // "*", "198.18.0.0/15", "198.18.0.1" (= /32), "fd00:198:18::/64", "::1" (= /128).
    // Host bits set beyond the prefix are an error (a typo more often than not).
    [[nodiscard]] static Result<AddressPrefix> parse(std::string_view text);

    [[nodiscard]] bool contains(const IpAddress& address) const;
    // `*` and ::/0 (IPv4 addresses are IPv4-mapped, so ::/0 covers them too).
    [[nodiscard]] bool matches_everything() const { return mapped_length_ == 0; }
    // "*", "198.18.0.0/15" (IPv4-mapped prefixes print as IPv4), "::1/128".
    [[nodiscard]] std::string to_string() const;

  private:
    IpAddress base_;             // host bits cleared
    uint8_t mapped_length_ = 0;  // prefix length in the 128-bit (IPv4-mapped) space
    bool star_ = true;           // written as `*`
};

// An inclusive port range; `*` is 0-65535.
struct PortRange {
    uint16_t first = 0;
    uint16_t last = 65535;

    // "*", "53", "5000-5100".
    [[nodiscard]] static Result<PortRange> parse(std::string_view text);
    [[nodiscard]] bool contains(uint16_t port) const { return first <= port && port <= last; }
    [[nodiscard]] bool is_any() const { return first == 0 && last == 65535; }
    [[nodiscard]] std::string to_string() const;
};

// ADDRESS[:PORTS] as a rule writes it:
//   *            *:53            198.18.0.0/15:7000-7100     198.18.0.2
//   [fd00:198:18::/64]:7000      fd00:198:18::/64 (an IPv6 prefix without a port)
struct EndpointPattern {
    AddressPrefix address;
    PortRange ports;

    [[nodiscard]] static Result<EndpointPattern> parse(std::string_view text);
    [[nodiscard]] bool matches(const Endpoint& endpoint) const;
    [[nodiscard]] std::string to_string() const;
};

}  // namespace xlane::config
