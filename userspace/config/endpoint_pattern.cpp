#include "config/endpoint_pattern.h"

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>

namespace xlane::config {

namespace {

constexpr unsigned kMappedV4Offset = 96;  // ::ffff:0:0/96 holds every IPv4 address

// Whole decimal number within [0, max], nothing else (no sign, no spaces).
Result<unsigned> parse_number(std::string_view text, unsigned max, std::string_view what) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value > max)
        return make_error(0, "'" + std::string(text) + "' is not " + std::string(what) + " (0-" +
                                 std::to_string(max) + ")");
    return value;
}

bool bit_set(const xlane_addr& addr, unsigned bit) {
    return (addr.bytes[bit / 8] >> (7 - bit % 8)) & 1;
}

bool has_host_bits(const xlane_addr& addr, unsigned length) {
    for (unsigned bit = length; bit < 128; ++bit)
        if (bit_set(addr, bit)) return true;
    return false;
}

bool same_prefix(const xlane_addr& a, const xlane_addr& b, unsigned length) {
    const unsigned whole = length / 8;
    for (unsigned i = 0; i < whole; ++i)
        if (a.bytes[i] != b.bytes[i]) return false;
    if (length % 8 == 0) return true;
    const uint8_t mask = static_cast<uint8_t>(0xff00 >> (length % 8));
    return (a.bytes[whole] & mask) == (b.bytes[whole] & mask);
}

std::string v6_text(const xlane_addr& addr) {
    char buf[INET6_ADDRSTRLEN] = {};
    ::inet_ntop(AF_INET6, addr.bytes, buf, sizeof(buf));
    return buf;
}

}  // namespace

Result<AddressPrefix> AddressPrefix::parse(std::string_view text) {
    if (text == "*") return AddressPrefix{};
    const auto slash = text.find('/');
    const std::string_view address_text = text.substr(0, slash);
    auto address = IpAddress::parse(address_text);
    if (!address)
        return make_error(0, "'" + std::string(address_text) +
                                 "' is not an IPv4 or IPv6 address (or `*` for any)");
    // An IPv4 literal (not "::ffff:a.b.c.d") counts its prefix in IPv4 bits.
    const bool written_v4 = address_text.find(':') == std::string_view::npos;
    const unsigned family_bits = written_v4 ? 32 : 128;
    unsigned length = family_bits;
    if (slash != std::string_view::npos) {
        auto parsed = parse_number(text.substr(slash + 1), family_bits,
                                   written_v4 ? "an IPv4 prefix length" : "an IPv6 prefix length");
        if (!parsed) return parsed.error();
        length = parsed.value();
    }
    AddressPrefix prefix;
    prefix.star_ = false;
    prefix.base_ = address.value();
    prefix.mapped_length_ = static_cast<uint8_t>(written_v4 ? kMappedV4Offset + length : length);
    if (has_host_bits(prefix.base_.raw(), prefix.mapped_length_)) {
        xlane_addr cleared = prefix.base_.raw();
        for (unsigned bit = prefix.mapped_length_; bit < 128; ++bit)
            cleared.bytes[bit / 8] &= static_cast<uint8_t>(~(0x80 >> (bit % 8)));
        AddressPrefix suggestion = prefix;
        suggestion.base_ = IpAddress(cleared);
        return make_error(0, "'" + std::string(text) +
                                 "' has bits set after the prefix length (did you mean " +
                                 suggestion.to_string() + "?)");
    }
    return prefix;
}

bool AddressPrefix::contains(const IpAddress& address) const {
    return same_prefix(base_.raw(), address.raw(), mapped_length_);
}

std::string AddressPrefix::to_string() const {
    if (star_) return "*";
    if (base_.is_v4() && mapped_length_ >= kMappedV4Offset)
        return base_.to_string() + "/" + std::to_string(mapped_length_ - kMappedV4Offset);
    return v6_text(base_.raw()) + "/" + std::to_string(mapped_length_);
}

Result<PortRange> PortRange::parse(std::string_view text) {
    if (text == "*") return PortRange{};
    const auto dash = text.find('-');
    auto first = parse_number(text.substr(0, dash), 65535, "a port");
    if (!first) return first.error();
    auto last = first;
    if (dash != std::string_view::npos) {
        last = parse_number(text.substr(dash + 1), 65535, "a port");
        if (!last) return last.error();
        if (last.value() < first.value())
            return make_error(
                0, "port range '" + std::string(text) + "' ends before it starts (write LOW-HIGH)");
    }
    return PortRange{static_cast<uint16_t>(first.value()), static_cast<uint16_t>(last.value())};
}

std::string PortRange::to_string() const {
    if (is_any()) return "*";
    if (first == last) return std::to_string(first);
    return std::to_string(first) + "-" + std::to_string(last);
}

Result<EndpointPattern> EndpointPattern::parse(std::string_view text) {
    std::string_view address_text = text;
    std::string_view ports_text = "*";
    if (text.starts_with('[')) {
        const auto close = text.find(']');
        if (close == std::string_view::npos)
            return make_error(0, "'" + std::string(text) + "' opens '[' without closing ']'");
        address_text = text.substr(1, close - 1);
        const std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':' || rest.size() == 1)
                return make_error(
                    0, "expected ':PORTS' after '[ADDRESS]' in '" + std::string(text) + "'");
            ports_text = rest.substr(1);
        }
        if (address_text.find(':') == std::string_view::npos && address_text != "*")
            return make_error(
                0, "'[" + std::string(address_text) + "]': brackets are for IPv6 addresses only");
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        const auto colon = text.find(':');
        address_text = text.substr(0, colon);
        ports_text = text.substr(colon + 1);
        if (address_text.empty() || ports_text.empty())
            return make_error(0, "'" + std::string(text) +
                                     "' is not ADDRESS:PORTS (e.g. *:53, 198.18.0.0/15:7000)");
    }
    // Two or more colons without brackets: a bare IPv6 address or prefix, any port.
    auto address = AddressPrefix::parse(address_text);
    if (!address) return address.error();
    auto ports = PortRange::parse(ports_text);
    if (!ports) return ports.error();
    return EndpointPattern{address.value(), ports.value()};
}

bool EndpointPattern::matches(const Endpoint& endpoint) const {
    return ports.contains(endpoint.port) && address.contains(endpoint.addr);
}

std::string EndpointPattern::to_string() const {
    const std::string address_text = address.to_string();
    if (ports.is_any()) return address_text;
    const bool needs_brackets = address_text.find(':') != std::string::npos;
    return (needs_brackets ? "[" + address_text + "]" : address_text) + ":" + ports.to_string();
}

}  // namespace xlane::config
