// libFuzzer target: packet::parse_frame() on arbitrary bytes, the first
// thing every received frame meets. Beyond "no crash, no out-of-bounds read"
// (ASan/UBSan) it checks what callers rely on: offsets of an accepted frame
// lie inside it, and checksum verification only ever adds a checksum error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "fuzz_input.h"
#include "packet/frame_parser.h"
#include "packet/wire.h"

namespace {

using xlane::packet::Bytes;
using xlane::packet::ParsedFrame;
using xlane::packet::ParseError;

void check_accepted(const ParsedFrame& p, size_t size) {
    XLANE_FUZZ_REQUIRE(p.ip_version == 4 || p.ip_version == 6);
    XLANE_FUZZ_REQUIRE(p.protocol == xlane::packet::kProtoUdp ||
                       p.protocol == xlane::packet::kProtoTcp);
    XLANE_FUZZ_REQUIRE(p.vlan_count <= 2);
    XLANE_FUZZ_REQUIRE(p.l3_offset >= xlane::packet::kEthHeaderLen);
    XLANE_FUZZ_REQUIRE(p.l3_offset < p.l4_offset);
    XLANE_FUZZ_REQUIRE(p.l4_offset < p.payload_offset);
    XLANE_FUZZ_REQUIRE(p.payload_offset <= size);
    XLANE_FUZZ_REQUIRE(p.payload_length <= size - p.payload_offset);
    if (p.is_ipv4()) {
        // IPv4 addresses are IPv4-mapped (::ffff:a.b.c.d).
        XLANE_FUZZ_REQUIRE(p.src_addr[10] == 0xff && p.src_addr[11] == 0xff);
        XLANE_FUZZ_REQUIRE(p.dst_addr[10] == 0xff && p.dst_addr[11] == 0xff);
    }
    const xlane_flow_key key = xlane::packet::flow_key_of(p);
    (void)key;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const Bytes frame(data, size);
    const ParsedFrame lax = xlane::packet::parse_frame(frame, {.verify_checksums = false});
    const ParsedFrame strict = xlane::packet::parse_frame(frame, {.verify_checksums = true});
    const ParsedFrame partial =
        xlane::packet::parse_frame(frame, {.accept_partial_checksums = true});

    // Every error has a name and an XDP reason.
    XLANE_FUZZ_REQUIRE(!xlane::packet::to_string(lax.error).empty());
    XLANE_FUZZ_REQUIRE(!xlane::packet::to_string(strict.error).empty());
    (void)xlane::packet::xdp_reason_for(strict.error);

    // Checksums are checked last: the strict parse agrees with the lax one,
    // except that an accepted frame may be refused for a bad checksum.
    if (strict.error != lax.error) {
        XLANE_FUZZ_REQUIRE(lax.ok());
        XLANE_FUZZ_REQUIRE(strict.error == ParseError::kBadIpv4Checksum ||
                           strict.error == ParseError::kBadL4Checksum);
    }
    // Accepting the partial form only turns a bad L4 checksum into a pass,
    // and says so; a frame whose sum is right is never called partial.
    if (partial.error != strict.error) {
        XLANE_FUZZ_REQUIRE(strict.error == ParseError::kBadL4Checksum && partial.ok());
        XLANE_FUZZ_REQUIRE(partial.partial_checksum);
    }
    XLANE_FUZZ_REQUIRE(!strict.partial_checksum);
    if (strict.ok()) XLANE_FUZZ_REQUIRE(!partial.partial_checksum);
    if (lax.ok()) check_accepted(lax, size);
    if (strict.ok()) check_accepted(strict, size);
    if (partial.ok()) check_accepted(partial, size);
    return 0;
}
