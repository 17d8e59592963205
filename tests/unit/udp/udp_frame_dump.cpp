// Prints UdpEncoder frames as JSON lines for scapy_crosscheck.py: an
// independent implementation checks our checksums and fragmentation.
#include <sys/uio.h>

#include <cstdio>
#include <string>
#include <vector>

#include "packet/wire.h"
#include "udp/udp_encoder.h"

using namespace xlane;
using namespace xlane::udp;

namespace {

std::string hex(packet::Bytes bytes) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (uint8_t b : bytes) {
        out += digits[b >> 4];
        out += digits[b & 15];
    }
    return out;
}

bool dump(const char* name, bool ipv6, uint32_t mtu, size_t size, uint32_t seed) {
    UdpFrameTemplate t;
    t.src_mac = {0x02, 0, 0, 0, 0, 0x01};
    t.dst_mac = {0x02, 0, 0, 0, 0, 0x02};
    t.src_addr =
        ipv6 ? *packet::parse_ipv6("fd00:198:18::1") : packet::ipv4_mapped({198, 18, 0, 1});
    t.dst_addr =
        ipv6 ? *packet::parse_ipv6("fd00:198:18::2") : packet::ipv4_mapped({198, 18, 0, 2});
    t.src_port = 40000 + static_cast<uint16_t>(seed);
    t.dst_port = 5001;
    t.ttl = 17;
    t.tos = 0x28;
    t.mtu = mtu;
    auto encoder = UdpEncoder::create(t);
    if (!encoder) return false;
    std::vector<uint8_t> payload(size);
    for (size_t i = 0; i < size; ++i) payload[i] = static_cast<uint8_t>(i * seed + (i >> 8));
    std::vector<std::vector<uint8_t>> buffers(encoder->frames_needed(size),
                                              std::vector<uint8_t>(encoder->max_frame_length()));
    std::vector<FrameSlot> slots;
    for (auto& b : buffers) slots.push_back({b, 0});
    const iovec iov{payload.data(), payload.size()};
    uint32_t id = 0x10000 + seed;
    auto n = encoder->encode(std::span(&iov, 1), id, slots);
    if (!n) {
        std::fprintf(stderr, "%s: %s\n", name, n.error().describe().c_str());
        return false;
    }
    std::printf("{\"name\": \"%s\", \"payload\": \"%s\", \"frames\": [", name,
                hex(payload).c_str());
    for (size_t i = 0; i < *n; ++i)
        std::printf("%s\"%s\"", i ? ", " : "",
                    hex(packet::Bytes(buffers[i].data(), slots[i].length)).c_str());
    std::printf("]}\n");
    return true;
}

}  // namespace

int main() {
    bool ok = true;
    ok &= dump("v4-empty", false, 1500, 0, 1);
    ok &= dump("v4-odd", false, 1500, 333, 2);
    ok &= dump("v4-full", false, 1500, 1472, 3);
    ok &= dump("v4-frag-576", false, 576, 4001, 4);
    ok &= dump("v4-frag-max", false, 1500, 65507, 5);
    ok &= dump("v6-empty", true, 1500, 0, 6);
    ok &= dump("v6-odd", true, 1500, 777, 7);
    ok &= dump("v6-frag-1280", true, 1280, 5003, 8);
    ok &= dump("v6-frag-max", true, 1500, 65527, 9);
    return ok ? 0 : 1;
}
