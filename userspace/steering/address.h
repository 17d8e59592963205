// Addresses and endpoints as the steering maps store them: 16 bytes, IPv4
// IPv4-mapped (::ffff:a.b.c.d, see abi.h), with parsing and printing.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"
#include "xlane/abi.h"

namespace xlane {

class IpAddress {
  public:
    IpAddress() = default;  // "::", the IPv6 wildcard
    explicit IpAddress(const xlane_addr& raw) : raw_(raw) {}
    [[nodiscard]] static IpAddress from_v4(in_addr addr);
    [[nodiscard]] static IpAddress from_v6(const in6_addr& addr);
    [[nodiscard]] static IpAddress any_v4();  // ::ffff:0.0.0.0 (XLANE_ADDR_ANY4)
    [[nodiscard]] static IpAddress any_v6();  // ::             (XLANE_ADDR_ANY6)
    // "198.18.0.2", "fd00:198:18::2", "0.0.0.0" or "::".
    [[nodiscard]] static Result<IpAddress> parse(std::string_view text);

    [[nodiscard]] bool is_v4() const;  // IPv4-mapped
    [[nodiscard]] bool is_any() const;
    [[nodiscard]] std::string to_string() const;  // dotted quad for IPv4
    [[nodiscard]] const xlane_addr& raw() const { return raw_; }

    friend bool operator==(const IpAddress& a, const IpAddress& b);

  private:
    xlane_addr raw_{};
};

struct Endpoint {
    IpAddress addr;
    uint16_t port = 0;  // host order

    // "198.18.0.2:5000", "[fd00:198:18::2]:5000"
    [[nodiscard]] std::string to_string() const;
    // Parses that form back.
    [[nodiscard]] static Result<Endpoint> parse(std::string_view text);
    // From a sockaddr_in or sockaddr_in6 (v4-mapped IPv6 stays IPv4-mapped).
    [[nodiscard]] static Result<Endpoint> from_sockaddr(const sockaddr* sa, socklen_t len);
};

}  // namespace xlane
