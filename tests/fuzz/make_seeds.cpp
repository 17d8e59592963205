// Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/TARGET/):
// a few well-formed inputs of every shape each target knows, built with the
// project's own FrameBuilder, UdpEncoder and libmnl, so the fuzzer starts
// from deep inside the parsers instead of guessing headers and checksums.
// Run through `scripts/fuzz --seeds`; the output is committed.
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "config/settings.h"
#include "fuzz_input.h"
#include "packet/checksum.h"
#include "packet/frame_builder.h"
#include "packet/wire.h"
#include "udp/udp_encoder.h"

namespace {

namespace fs = std::filesystem;
namespace packet = xlane::packet;
namespace udp = xlane::udp;
using xlane::fuzz::FuzzScript;
using Frame = std::vector<uint8_t>;

// Addresses and ports the udp_rx target's sockets are bound to.
const packet::MacAddr kMacA = {0x02, 0, 0, 0, 0, 0x01};
const packet::MacAddr kMacB = {0x02, 0, 0, 0, 0, 0x02};
const packet::Ipv4Addr kRemote4 = {198, 18, 0, 1};
const packet::Ipv4Addr kLocal4 = {198, 18, 0, 2};
const packet::Ipv6Addr kRemote6 = *packet::parse_ipv6("fd00:198:18::1");
const packet::Ipv6Addr kLocal6 = *packet::parse_ipv6("fd00:198:18::2");

void write(const fs::path& dir, const std::string& name, const std::vector<uint8_t>& bytes) {
    fs::create_directories(dir);
    std::ofstream out(dir / name, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) {
        std::fprintf(stderr, "make_seeds: cannot write %s\n", (dir / name).c_str());
        std::exit(1);
    }
}

packet::FrameBuilder eth() {
    return std::move(packet::FrameBuilder().eth(kMacA, kMacB));
}

// `frame` (Ethernet, IPv6, TCP at its offsets) with the checksum field a
// sender leaves for offload: the pseudo-header sum alone (CHECKSUM_PARTIAL).
Frame with_partial_tcp_checksum(Frame frame) {
    constexpr size_t kIp6 = 14, kTcp = kIp6 + 40;
    packet::Ipv6Addr src{}, dst{};
    std::copy_n(&frame[kIp6 + 8], 16, src.begin());
    std::copy_n(&frame[kIp6 + 24], 16, dst.begin());
    const uint16_t sum = packet::checksum_fold(packet::pseudo_header_sum_v6(
        src, dst, packet::kProtoTcp, static_cast<uint32_t>(frame.size() - kTcp)));
    frame[kTcp + 16] = static_cast<uint8_t>(sum >> 8);
    frame[kTcp + 17] = static_cast<uint8_t>(sum);
    return frame;
}

void frame_parser_seeds(const fs::path& dir) {
    const std::vector<uint8_t> opts = {1, 1, 1, 0};
    write(dir, "udp4", eth().ipv4(kRemote4, kLocal4).udp(40000, 5001).payload_size(16).build());
    write(dir, "udp6", eth().ipv6(kRemote6, kLocal6).udp(40000, 5001).payload_size(16).build());
    write(dir, "tcp4",
          eth().ipv4(kRemote4, kLocal4).tcp(40000, 80, packet::tcp_flags::kSyn).build());
    write(dir, "tcp6_options",
          eth().ipv6(kRemote6, kLocal6).tcp(40000, 80).tcp_options(opts).payload_size(8).build());
    write(dir, "udp4_vlan",
          eth().vlan(10).ipv4(kRemote4, kLocal4).udp(1, 2).payload_size(4).build());
    write(dir, "udp6_qinq",
          eth()
              .vlan(20, packet::kEtherTypeQinQ)
              .vlan(10)
              .ipv6(kRemote6, kLocal6)
              .udp(1, 2)
              .payload_size(4)
              .build());
    write(dir, "udp4_ip_options",
          eth().ipv4(kRemote4, kLocal4).ipv4_options(opts).udp(1, 2).payload_size(4).build());
    write(dir, "udp4_padded",
          eth().ipv4(kRemote4, kLocal4).udp(1, 2).payload_size(1).pad_to(60).build());
    write(dir, "udp4_zero_checksum",
          eth().ipv4(kRemote4, kLocal4).udp(1, 2).udp_zero_checksum().payload_size(4).build());
    write(dir, "frag4",
          eth().ipv4(kRemote4, kLocal4).ipv4_fragment(0, true).udp(1, 2).payload_size(16).build());
    write(
        dir, "frag6",
        eth().ipv6(kRemote6, kLocal6).ipv6_fragment(0, true, 7).udp(1, 2).payload_size(16).build());
    write(dir, "ext6_hop_by_hop",
          eth().ipv6(kRemote6, kLocal6).ipv6_extension(0).udp(1, 2).payload_size(4).build());
    write(dir, "icmp4", eth().ipv4(kRemote4, kLocal4).icmp(8, 0, 1).build());
    write(dir, "arp", eth().arp(1, kMacA, kRemote4, {}, kLocal4).build());
    write(dir, "bad_l4_checksum",
          eth().ipv4(kRemote4, kLocal4).udp(1, 2).payload_size(4).corrupt_l4_checksum().build());
    write(dir, "partial_l4_checksum",
          with_partial_tcp_checksum(eth().ipv6(kRemote6, kLocal6).tcp(1, 2).payload_size(9).build()));
    write(dir, "truncated_tcp", eth().ipv4(kRemote4, kLocal4).tcp(1, 2).truncate(40).build());
}

// An encoded datagram as frames: more than one when it exceeds the MTU.
std::vector<Frame> datagram(bool ipv6, uint16_t src_port, uint16_t dst_port, size_t size,
                            uint32_t mtu, uint32_t ip_id) {
    udp::UdpFrameTemplate t;
    t.src_mac = kMacA;
    t.dst_mac = kMacB;
    t.src_addr = ipv6 ? kRemote6 : packet::ipv4_mapped(kRemote4);
    t.dst_addr = ipv6 ? kLocal6 : packet::ipv4_mapped(kLocal4);
    t.src_port = src_port;
    t.dst_port = dst_port;
    t.mtu = mtu;
    auto encoder = udp::UdpEncoder::create(t).value();
    std::vector<Frame> frames(std::max<size_t>(1, encoder.frames_needed(size)),
                              Frame(encoder.max_frame_length()));
    std::vector<udp::FrameSlot> slots;
    for (auto& f : frames) slots.push_back({f, 0});
    std::vector<uint8_t> payload(size);
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<uint8_t>(i * 7);
    const iovec iov{payload.data(), payload.size()};
    const size_t n = encoder.encode(std::span(&iov, 1), ip_id, slots).value();
    frames.resize(n);
    for (size_t i = 0; i < n; ++i) frames[i].resize(slots[i].length);
    return frames;
}

// udp_rx opcodes (see fuzz_udp_rx.cpp).
FuzzScript& frame_op(FuzzScript& s, const Frame& f) {
    return s.u8(0).u8(0).bytes(f);
}
FuzzScript& receive_op(FuzzScript& s, uint8_t socket, uint8_t iovs, uint16_t size, bool peek) {
    return s.u8(3).u8(socket).u8(iovs).u16(size).u8(peek ? 1 : 0);
}

void udp_rx_seeds(const fs::path& dir) {
    {  // one datagram to each socket: bound v4, wildcard v4, dual-stack, connected, bound v6
        FuzzScript s;
        s.u16(0xffff).u16(4096);
        frame_op(s, datagram(false, 40000, 5001, 32, 1500, 1)[0]);
        frame_op(s, eth().ipv4(kRemote4, {198, 18, 0, 9}).udp(40000, 5001).payload_size(8).build());
        frame_op(s, datagram(false, 40000, 5002, 8, 1500, 2)[0]);
        frame_op(s, datagram(false, 40000, 6000, 8, 1500, 3)[0]);
        frame_op(s, datagram(true, 40000, 5001, 8, 1500, 4)[0]);
        for (uint8_t socket = 0; socket < 5; ++socket) receive_op(s, socket, 1, 64, socket == 0);
        write(dir, "one_per_socket", s.data());
    }
    {  // an IPv4 datagram in three fragments, out of order, then read with two iovecs
        FuzzScript s;
        s.u16(0xffff).u16(16384);
        auto frames = datagram(false, 40000, 5001, 1200, 576, 77);
        for (size_t i = frames.size(); i-- > 0;) frame_op(s, frames[i]);
        receive_op(s, 0, 2, 700, false);
        write(dir, "fragments_v4", s.data());
    }
    {  // IPv6 fragments with a duplicate, then the queue's budget changes
        FuzzScript s;
        s.u16(0xffff).u16(2048);
        auto frames = datagram(true, 40000, 5001, 2000, 1280, 78);
        for (const auto& f : frames) frame_op(s, f);
        frame_op(s, frames[0]);
        s.u8(5).u8(4).u16(64);
        receive_op(s, 4, 1, 4096, false);
        write(dir, "fragments_v6", s.data());
    }
    {  // a tiny reassembly budget and an incomplete datagram that times out
        FuzzScript s;
        s.u16(1500).u16(512);
        auto frames = datagram(false, 40000, 5002, 3000, 1500, 79);
        frame_op(s, frames[0]);
        s.u8(6).u32(31'000);  // past ipfrag_time
        frame_op(s, frames[1]);
        receive_op(s, 2, 1, 16, false);
        write(dir, "budget_and_expiry", s.data());
    }
}

// tcp_rx (see fuzz_tcp_rx.cpp): seq/ack are offsets from the peer's and the
// connection's initial sequence numbers.
FuzzScript& tcp_segment_op(FuzzScript& s, int32_t seq, int32_t ack, uint8_t flags,
                           const std::vector<uint8_t>& options, size_t payload_size) {
    std::vector<uint8_t> payload(payload_size);
    for (size_t i = 0; i < payload_size; ++i) payload[i] = static_cast<uint8_t>(i * 7 + 3);
    return s.u8(0).u32(static_cast<uint32_t>(seq)).u32(static_cast<uint32_t>(ack)).u8(flags)
        .u16(65535).u8(0xff).bytes(options).bytes(payload);
}

void tcp_rx_seeds(const fs::path& dir) {
    // MSS 1460, window scale 7, SACK permitted, padded.
    const std::vector<uint8_t> syn_options = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2, 1, 1};
    constexpr uint8_t kFin = 0x01, kSyn = 0x02, kRst = 0x04, kPsh = 0x08, kAck = 0x10;
    {  // active open: SYN-ACK, data in, read, data out, peer's FIN, close
        FuzzScript s;
        s.u8(0).u8(0).u32(1000);
        tcp_segment_op(s, 0, 1, kSyn | kAck, syn_options, 0);
        tcp_segment_op(s, 1, 1, kAck | kPsh, {}, 100);
        s.u8(4).u16(200).u8(0);                // recv
        s.u8(3).u16(3000);                     // send: more than two segments
        s.u8(5).u32(300'000);                  // 300 ms: RTO fires
        tcp_segment_op(s, 101, 1 + 3000, kFin | kAck, {}, 0);
        s.u8(7).u8(1);                         // close
        s.u8(5).u32(100'000'000);              // TIME-WAIT ends
        write(dir, "active_transfer_close", s.data());
    }
    {  // passive open: ACK, data out of order with a SACK-able hole, peek, reads
        FuzzScript s;
        s.u8(1).u8(0x10).u32(5000).u16(65535).bytes(syn_options);
        tcp_segment_op(s, 1, 1, kAck, {}, 0);
        tcp_segment_op(s, 1001, 1, kAck, {}, 500);
        tcp_segment_op(s, 1, 1, kAck | kPsh, {}, 1000);
        s.u8(4).u16(64).u8(1).u16(10);         // peek 64 bytes at offset 10
        s.u8(4).u16(4096).u8(0);               // recv all
        s.u8(3).u16(1200);
        // a duplicate ACK with a SACK block, then an RST in the window
        tcp_segment_op(s, 1501, 1, kAck, {1, 1, 5, 10, 0, 0, 0x13, 0x89, 0, 0, 0x17, 0x71}, 0);
        tcp_segment_op(s, 1501, 1, kRst, {}, 0);
        s.u8(9);                               // queries
        write(dir, "passive_ooo_sack_rst", s.data());
    }
    {  // zero window from the peer, keepalive on, time passes (probes)
        FuzzScript s;
        s.u8(0).u8(0x08).u32(77);
        tcp_segment_op(s, 0, 1, kSyn | kAck, syn_options, 0);
        s.u8(8).u8(0x83).u8(2).u8(1).u8(3);    // keepalive on: idle 3 s, interval 2 s, 3 probes
        s.u8(0).u32(1).u32(1).u8(kAck).u16(0).u8(0xff).u16(0).u16(0);  // window 0
        s.u8(3).u16(2000);
        for (int i = 0; i < 6; ++i) s.u8(5).u32(2'000'000);
        write(dir, "zero_window_keepalive", s.data());
    }
}

// An rtnetlink message under construction in a kernel-like layout.
class Message {
  public:
    Message(uint16_t type, size_t fixed) {
        msg_ = mnl_nlmsg_put_header(buffer_.data());
        msg_->nlmsg_type = type;
        header_ = mnl_nlmsg_put_extra_header(msg_, fixed);
    }
    template <typename Header>
    Header* header() {
        return static_cast<Header*>(header_);
    }
    Message& attr(uint16_t type, const void* data, size_t len) {
        mnl_attr_put(msg_, type, len, data);
        return *this;
    }
    Message& u32(uint16_t type, uint32_t v) {
        mnl_attr_put_u32(msg_, type, v);
        return *this;
    }
    nlattr* nest(uint16_t type) { return mnl_attr_nest_start(msg_, type); }
    void nest_end(nlattr* n) { mnl_attr_nest_end(msg_, n); }
    [[nodiscard]] std::vector<uint8_t> bytes() const {
        return {buffer_.data(), buffer_.data() + msg_->nlmsg_len};
    }

  private:
    alignas(4) std::array<uint8_t, 512> buffer_{};
    nlmsghdr* msg_;
    void* header_;
};

void rtnl_seeds(const fs::path& dir) {
    std::vector<uint8_t> all;
    auto keep = [&](const std::string& name, const std::vector<uint8_t>& bytes) {
        write(dir, name, bytes);
        all.insert(all.end(), bytes.begin(), bytes.end());
    };
    {
        Message m(RTM_NEWROUTE, sizeof(rtmsg));
        m.header<rtmsg>()->rtm_family = AF_INET;
        m.header<rtmsg>()->rtm_type = RTN_UNICAST;
        m.u32(RTA_TABLE, 254).u32(RTA_OIF, 3);
        m.attr(RTA_GATEWAY, kRemote4.data(), 4).attr(RTA_PREFSRC, kLocal4.data(), 4);
        nlattr* metrics = m.nest(RTA_METRICS);
        m.u32(RTAX_MTU, 1300);
        m.nest_end(metrics);
        keep("route4", m.bytes());
    }
    {
        Message m(RTM_NEWROUTE, sizeof(rtmsg));
        m.header<rtmsg>()->rtm_family = AF_INET;
        std::array<uint8_t, sizeof(rtvia) + 16> via{};
        reinterpret_cast<rtvia*>(via.data())->rtvia_family = AF_INET6;
        std::copy(kRemote6.begin(), kRemote6.end(), via.begin() + sizeof(rtvia));
        m.u32(RTA_OIF, 2).attr(RTA_VIA, via.data(), via.size());
        keep("route4_via6", m.bytes());
    }
    {
        Message m(RTM_NEWNEIGH, sizeof(ndmsg));
        m.header<ndmsg>()->ndm_family = AF_INET6;
        m.header<ndmsg>()->ndm_ifindex = 3;
        m.header<ndmsg>()->ndm_state = NUD_REACHABLE;
        m.attr(NDA_DST, kRemote6.data(), 16).attr(NDA_LLADDR, kMacA.data(), 6);
        keep("neighbour6", m.bytes());
    }
    {
        Message m(RTM_NEWLINK, sizeof(ifinfomsg));
        m.header<ifinfomsg>()->ifi_index = 3;
        m.attr(IFLA_IFNAME, "xlveth0", 8).u32(IFLA_MTU, 1500);
        keep("link", m.bytes());
    }
    {
        Message m(RTM_NEWADDR, sizeof(ifaddrmsg));
        m.header<ifaddrmsg>()->ifa_family = AF_INET;
        m.header<ifaddrmsg>()->ifa_prefixlen = 24;
        m.header<ifaddrmsg>()->ifa_index = 3;
        m.attr(IFA_LOCAL, kLocal4.data(), 4).attr(IFA_ADDRESS, kLocal4.data(), 4);
        m.u32(IFA_FLAGS, IFA_F_PERMANENT);
        keep("address4", m.bytes());
    }
    {
        Message m(RTM_NEWADDR, sizeof(ifaddrmsg));
        m.header<ifaddrmsg>()->ifa_family = AF_INET6;
        m.header<ifaddrmsg>()->ifa_prefixlen = 64;
        m.header<ifaddrmsg>()->ifa_index = 3;
        m.attr(IFA_ADDRESS, kLocal6.data(), 16).u32(IFA_FLAGS, IFA_F_NODAD);
        keep("address6", m.bytes());
    }
    {
        Message m(NLMSG_DONE, sizeof(int));
        keep("done", m.bytes());
    }
    write(dir, "dump_of_all", all);
}

void config_seeds(const fs::path& dir) {
    auto text = [](uint8_t mode, uint8_t which, std::string_view body) {
        FuzzScript s;
        s.u8(mode).u8(which).text(body);
        return s.data();
    };
    write(dir, "rules_doc_example", text(0, 0, R"(# /etc/xlane.conf
kernel  udp client *:53                      # DNS lookups (also a built-in rule)
kernel  tcp client 198.18.0.9:7000           # this replica is slow anyway: kernel
offload tcp client 198.18.0.0/15:7000-7100   # the rest of the service: offload
offload tcp server 198.18.0.0/15:7000-7100   # our own listeners on those ports
offload udp any    [fd00:198:18::/64]:5000   # IPv6 market data, both directions
kernel  any any    *                         # nothing else (instead of the default offload)
)"));
    write(dir, "rules_bad_lines", text(0, 0, "offload udp\nkernel tcp server 999.1.1.1:1\nfoo\n"));
    write(dir, "rule_v6_range", text(1, 0, "offload udp server [fd00:198:18::2]:5000-5010"));
    write(dir, "rule_prefix", text(1, 0, "kernel any client 198.18.0.0/15:*"));
    // Every XLANE_* variable with its default value: text of the kind its parser takes.
    const auto specs = xlane::config::setting_specs();
    for (size_t i = 0; i < specs.size(); ++i) {
        if (specs[i].default_value.empty()) continue;
        write(dir, "setting_" + std::string(specs[i].name),
              text(2, static_cast<uint8_t>(i), specs[i].default_value));
    }
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s CORPUS_DIR  (writes CORPUS_DIR/TARGET/*)\n", argv[0]);
        return 2;
    }
    const fs::path root = argv[1];
    frame_parser_seeds(root / "frame_parser");
    udp_rx_seeds(root / "udp_rx");
    tcp_rx_seeds(root / "tcp_rx");
    rtnl_seeds(root / "rtnl");
    config_seeds(root / "config");
    return 0;
}
