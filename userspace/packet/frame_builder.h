// FrameBuilder: chained construction of Ethernet frames for tests and the TX
// path, with correct lengths and checksums by default and knobs to break them.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "packet/wire.h"

namespace xlane::packet {

// Layers are serialised in call order; each setter after a layer call edits
// that layer (`.ipv4(a, b).ttl(1).ipv4_options(opts)`). Type and length
// fields left unset are derived at build(): ethertype from the next layer,
// IP protocol from the next layer, lengths from what follows, checksums over
// the result. Example:
//   FrameBuilder().eth(src, dst).vlan(10).ipv4(a, b).udp(1000, 2000)
//       .payload(bytes).build();
class FrameBuilder {
  public:
    // ---- layer 2
    FrameBuilder& eth(const MacAddr& src, const MacAddr& dst);
    // 802.1Q tag (tpid 0x8100); pass kEtherTypeQinQ as tpid for an S-tag.
    FrameBuilder& vlan(uint16_t id, uint16_t tpid = kEtherTypeVlan, uint8_t priority = 0);
    // Ethertype of the last Ethernet header or VLAN tag (default: derived).
    FrameBuilder& ethertype(uint16_t type);
    FrameBuilder& arp(uint16_t op, const MacAddr& sender_mac, const Ipv4Addr& sender_ip,
                      const MacAddr& target_mac, const Ipv4Addr& target_ip);

    // ---- layer 3
    FrameBuilder& ipv4(const Ipv4Addr& src, const Ipv4Addr& dst);
    // Options (padded with end-of-options to a multiple of 4 bytes).
    FrameBuilder& ipv4_options(Bytes options);
    // Fragment: offset in 8-byte units, MF flag.
    FrameBuilder& ipv4_fragment(uint16_t offset_units, bool more_fragments);
    FrameBuilder& ipv4_dont_fragment();
    FrameBuilder& ipv4_id(uint16_t id);
    FrameBuilder& ipv6(const Ipv6Addr& src, const Ipv6Addr& dst);
    // Generic extension header (hop-by-hop 0, routing 43, destination options
    // 60, ...) of `length` bytes (multiple of 8, >= 8), zero-filled options.
    FrameBuilder& ipv6_extension(uint8_t type, uint16_t length = 8);
    FrameBuilder& ipv6_fragment(uint16_t offset_units, bool more_fragments,
                                uint32_t identification = 1);
    // For the last IPv4/IPv6 header: TTL / hop limit, and the protocol /
    // next-header number (default: derived from the next layer).
    FrameBuilder& ttl(uint8_t ttl);
    FrameBuilder& ip_protocol(uint8_t protocol);

    // ---- layer 4
    FrameBuilder& udp(uint16_t src_port, uint16_t dst_port);
    FrameBuilder& tcp(uint16_t src_port, uint16_t dst_port, uint8_t flags = tcp_flags::kAck,
                      uint32_t seq = 0, uint32_t ack = 0);
    FrameBuilder& tcp_window(uint16_t window);
    // TCP options (padded with end-of-options to a multiple of 4 bytes).
    FrameBuilder& tcp_options(Bytes options);
    // ICMP after IPv4, ICMPv6 after IPv6 (echo id/sequence in `rest`).
    FrameBuilder& icmp(uint8_t type, uint8_t code, uint32_t rest = 0);

    FrameBuilder& payload(Bytes bytes);
    // `size` bytes of a counting pattern.
    FrameBuilder& payload_size(size_t size);

    // ---- knobs that break the frame on purpose (tests)
    FrameBuilder& ip_version(uint8_t version);           // last IP header
    FrameBuilder& ipv4_ihl(uint8_t ihl);                 // header length in words
    FrameBuilder& ipv4_total_length(uint16_t length);    // instead of the derived one
    FrameBuilder& ipv6_payload_length(uint16_t length);  // instead of the derived one
    FrameBuilder& udp_length(uint16_t length);           // instead of the derived one
    FrameBuilder& tcp_data_offset(uint8_t words);        // instead of the derived one
    FrameBuilder& udp_zero_checksum();                   // "no checksum" (legal on IPv4 only)
    FrameBuilder& corrupt_ip_checksum();
    FrameBuilder& corrupt_l4_checksum();
    // Zero padding up to `size` bytes (like Ethernet's 60-byte minimum),
    // applied after lengths are derived, so IP lengths exclude it.
    FrameBuilder& pad_to(size_t size);
    // Cut the finished frame to `size` bytes.
    FrameBuilder& truncate(size_t size);

    [[nodiscard]] std::vector<uint8_t> build() const;

  private:
    struct Eth {
        MacAddr src, dst;
        std::optional<uint16_t> type;
    };
    struct Vlan {
        uint16_t tpid, id;
        uint8_t priority;
        std::optional<uint16_t> type;
    };
    struct Arp {
        uint16_t op;
        MacAddr sha, tha;
        Ipv4Addr spa, tpa;
    };
    struct Ipv4 {
        Ipv4Addr src, dst;
        std::vector<uint8_t> options;
        uint16_t frag_off = 0;  // flags + offset, host order
        uint16_t id = 0x1234;
        uint8_t ttl = 64;
        std::optional<uint8_t> protocol, version, ihl;
        std::optional<uint16_t> total_length;
        bool corrupt_checksum = false;
    };
    struct Ipv6 {
        Ipv6Addr src, dst;
        uint8_t hop_limit = 64;
        std::optional<uint8_t> next_header, version;
        std::optional<uint16_t> payload_length;
    };
    struct Ipv6Ext {
        uint8_t type;
        uint16_t length;
        uint16_t frag_off = 0;  // fragment header only: offset << 3 | M
        uint32_t identification = 0;
        std::optional<uint8_t> next_header;
    };
    struct Udp {
        uint16_t sport, dport;
        std::optional<uint16_t> length;
        bool zero_checksum = false, corrupt_checksum = false;
    };
    struct Tcp {
        uint16_t sport, dport;
        uint8_t flags;
        uint32_t seq, ack;
        uint16_t window = 65535;
        std::vector<uint8_t> options;
        std::optional<uint8_t> data_offset;
        bool corrupt_checksum = false;
    };
    struct Icmp {
        uint8_t type, code;
        uint32_t rest;
        bool corrupt_checksum = false;
    };
    struct Payload {
        std::vector<uint8_t> bytes;
    };
    // Layers are added with emplace_back(std::in_place_type<T>, ...): pushing
    // a temporary variant makes GCC 12 (notably with -fsanitize=thread) warn
    // -Wmaybe-uninitialized over every alternative of the variant's move.
    using Layer = std::variant<Eth, Vlan, Arp, Ipv4, Ipv6, Ipv6Ext, Udp, Tcp, Icmp, Payload>;

    template <typename T>
    T& last();
    // The last layer that is an IPv4 or IPv6 header (nullptr when none).
    Layer* last_ip();

    std::vector<Layer> layers_;
    std::optional<size_t> pad_to_, truncate_;
};

}  // namespace xlane::packet
