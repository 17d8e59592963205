// Reassembler: IPv4 (RFC 791) and IPv6 (RFC 8200) fragment reassembly for the
// user-space receive path, with Linux's overlap rule (RFC 5722), a byte budget
// like net.ipv4.ipfrag_high_thresh and a timeout like ipfrag_time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

#include "packet/frame_parser.h"
#include "packet/wire.h"
#include "udp/fragment_reader.h"

namespace xlane::udp {

struct ReassemblyConfig {
    // Bytes all incomplete datagrams may hold together (see kFragmentOverhead);
    // the default is Linux's ipfrag_high_thresh / ip6frag_high_thresh.
    size_t budget_bytes = size_t{4} << 20;
    // Lifetime of an incomplete datagram from its first fragment; the defaults
    // are Linux's ipfrag_time (30 s) and ip6frag_time (60 s).
    uint64_t timeout_v4_ns = 30'000'000'000;
    uint64_t timeout_v6_ns = 60'000'000'000;
};

struct ReassemblyCounters {
    uint64_t fragments = 0;        // fragments submitted
    uint64_t reassembled = 0;      // datagrams completed (IPv6 atomic fragments included)
    uint64_t timed_out = 0;        // incomplete datagrams expired
    uint64_t dropped_overlap = 0;  // datagrams dropped because fragments overlapped
    uint64_t dropped_budget = 0;   // fragments refused because the budget was exhausted
    uint64_t dropped_invalid = 0;  // fragments refused or datagrams dropped as inconsistent
    uint64_t duplicates = 0;       // fragments ignored: wholly inside one already held
};

enum class FragmentVerdict : uint8_t {
    kQueued,          // held; the datagram is still incomplete
    kReassembled,     // ReassemblyOutcome::frame holds the whole datagram
    kDuplicate,       // ignored, the datagram is unaffected
    kDroppedOverlap,  // the fragment and its whole datagram dropped
    kDroppedBudget,   // the fragment and its whole datagram dropped
    kDroppedInvalid,  // the fragment (and, when it contradicts it, its datagram) dropped
    kNotFragment,     // the frame is not a fragment: nothing done
};

struct ReassemblyOutcome {
    FragmentVerdict verdict = FragmentVerdict::kNotFragment;
    // kReassembled: an unfragmented Ethernet frame (the first fragment's
    // Ethernet and IP headers, lengths fixed, fragment fields and IPv6
    // fragment header removed) that packet::parse_frame() reads like any
    // other, checking the UDP checksum over the whole datagram.
    std::vector<uint8_t> frame;
};

// Datagrams are keyed by (source, destination, protocol, id) for IPv4
// (RFC 791) and (source, destination, identification) for IPv6 (RFC 8200).
// A fragment wholly inside one already held is a harmless duplicate; any other
// overlap drops the whole datagram, as Linux does for both families since 4.19.
//
// Memory: each held fragment is charged its data bytes plus
// kFragmentOverhead, each datagram kDatagramOverhead. A fragment that would
// take the total above the budget is refused and its datagram dropped (it
// can no longer complete); like Linux since 4.17 nothing else is evicted,
// incomplete datagrams leave through completion or expire().
//
// Fragments are the exception on the fast path, so held fragments are copied
// into heap buffers (bounded by the budget) rather than pinning UMEM frames,
// which the RX ring needs back at once. Single-threaded, like the port it
// serves. Times are any monotonic nanosecond clock, never decreasing.
class Reassembler {
  public:
    static constexpr size_t kFragmentOverhead = 64;
    static constexpr size_t kDatagramOverhead = 256;

    explicit Reassembler(const ReassemblyConfig& config = {}) : config_(config) {}

    // A frame packet::parse_frame() reported as ParseError::kFragment.
    [[nodiscard]] ReassemblyOutcome submit(packet::Bytes frame, const packet::ParsedFrame& parsed,
                                           uint64_t now_ns);
    // Same, parsing the frame first.
    [[nodiscard]] ReassemblyOutcome submit(packet::Bytes frame, uint64_t now_ns);

    // Drops incomplete datagrams whose timeout has passed; returns how many.
    size_t expire(uint64_t now_ns);

    [[nodiscard]] size_t pending_datagrams() const { return datagrams_.size(); }
    [[nodiscard]] size_t bytes_used() const { return bytes_used_; }
    [[nodiscard]] const ReassemblyConfig& config() const { return config_; }
    [[nodiscard]] const ReassemblyCounters& counters() const { return counters_; }

  private:
    struct Key {
        packet::Ipv6Addr src{};
        packet::Ipv6Addr dst{};
        uint32_t id = 0;
        uint8_t protocol = 0;  // IPv4 only; IPv6 keys leave it 0
        uint8_t ip_version = 0;
        friend bool operator==(const Key&, const Key&) = default;
    };
    struct KeyHash {
        size_t operator()(const Key& key) const;
    };
    struct Fragment {
        size_t offset = 0;
        size_t end = 0;
        std::vector<uint8_t> bytes;
    };
    struct Datagram {
        std::vector<Fragment> fragments;  // by offset, never overlapping
        std::vector<uint8_t> header;      // from the offset-0 fragment
        size_t l3_offset = 0;             // where the IP header starts in `header`
        uint8_t protocol = 0;             // from the offset-0 fragment
        size_t total_length = 0;          // known once the last fragment arrived
        bool last_seen = false;
        size_t received = 0;  // data bytes held
        size_t charged = 0;
        uint64_t deadline_ns = 0;
        std::list<Key>::iterator expiry_position;
    };
    using Table = std::unordered_map<Key, Datagram, KeyHash>;

    ReassemblyOutcome drop(Table::iterator it, FragmentVerdict verdict);
    void erase(Table::iterator it);
    [[nodiscard]] std::vector<uint8_t> assemble(const Datagram& d, uint8_t ip_version) const;
    [[nodiscard]] std::list<Key>& expiry_list(uint8_t ip_version) {
        return ip_version == 4 ? expiry_v4_ : expiry_v6_;
    }

    ReassemblyConfig config_;
    Table datagrams_;
    // Creation order per family: with a fixed timeout per family and a clock
    // that never goes back, also deadline order, so expire() stops at the
    // first datagram still alive.
    std::list<Key> expiry_v4_;
    std::list<Key> expiry_v6_;
    size_t bytes_used_ = 0;
    ReassemblyCounters counters_;
};

}  // namespace xlane::udp
