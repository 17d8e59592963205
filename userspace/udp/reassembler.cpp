// Reassembler: fragments are kept sorted and disjoint, so completeness is a
// byte count (no overlaps means data held == total length covers every byte)
// and the overlap test looks at one neighbour.
#include "udp/reassembler.h"

#include <algorithm>
#include <cstring>

#include "packet/checksum.h"

namespace xlane::udp {
namespace {

using packet::load_be16;
using packet::store_be16;

constexpr size_t kMaxIpPacket = 65535;

// Largest fragment end (offset + length) a datagram may reach: the IPv4 total
// length includes at least a 20-byte header, the IPv6 payload length does not
// include the fixed header.
size_t max_end(uint8_t ip_version) {
    return ip_version == 4 ? kMaxIpPacket - packet::kIpv4HeaderLen : kMaxIpPacket;
}

}  // namespace

size_t Reassembler::KeyHash::operator()(const Key& key) const {
    // FNV-1a: the fields are few and fixed, and the table is bounded by the budget.
    uint64_t h = 1469598103934665603ull;
    auto mix = [&h](const uint8_t* p, size_t n) {
        for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
    };
    mix(key.src.data(), key.src.size());
    mix(key.dst.data(), key.dst.size());
    const uint8_t tail[6] = {static_cast<uint8_t>(key.id),
                             static_cast<uint8_t>(key.id >> 8),
                             static_cast<uint8_t>(key.id >> 16),
                             static_cast<uint8_t>(key.id >> 24),
                             key.protocol,
                             key.ip_version};
    mix(tail, sizeof(tail));
    return static_cast<size_t>(h);
}

ReassemblyOutcome Reassembler::submit(packet::Bytes frame, uint64_t now_ns) {
    return submit(frame, packet::parse_frame(frame, {.verify_checksums = false}), now_ns);
}

ReassemblyOutcome Reassembler::submit(packet::Bytes frame, const packet::ParsedFrame& parsed,
                                      uint64_t now_ns) {
    const FragmentReadResult read = read_fragment(frame, parsed);
    if (!read.fragment) {
        if (read.error == FragmentReadError::kNotFragment) return {};
        ++counters_.fragments;
        ++counters_.dropped_invalid;
        return {FragmentVerdict::kDroppedInvalid, {}};
    }
    ++counters_.fragments;
    const FragmentInfo& f = *read.fragment;
    const size_t end = f.offset + f.data.size();

    // A fragment header inside a fragmented datagram: reassembled, it would be
    // a fragment again. No sender makes one (RFC 8200 §4.5 allows one
    // fragment header per packet); refused, so every reassembled frame is whole.
    if (f.ip_version == 6 && f.protocol == packet::kProtoIpv6Fragment) {
        ++counters_.dropped_invalid;
        return {FragmentVerdict::kDroppedInvalid, {}};
    }
    // RFC 8200 §4.5 / RFC 6946: a fragment header with offset 0 and M clear
    // ("atomic fragment") is a whole datagram, reassembled on its own.
    if (f.ip_version == 6 && f.offset == 0 && !f.more) {
        Datagram whole;
        whole.header.assign(frame.begin(), frame.begin() + static_cast<ptrdiff_t>(f.header_length));
        whole.l3_offset = parsed.l3_offset;
        whole.protocol = f.protocol;
        whole.total_length = f.data.size();
        whole.fragments.push_back({0, end, std::vector<uint8_t>(f.data.begin(), f.data.end())});
        ++counters_.reassembled;
        return {FragmentVerdict::kReassembled, assemble(whole, 6)};
    }
    // Only the last fragment may end off an 8-byte boundary; empty fragments
    // and ends past the largest IP packet are refused outright.
    if (f.data.empty() || (f.more && f.data.size() % 8 != 0) || end > max_end(f.ip_version)) {
        ++counters_.dropped_invalid;
        return {FragmentVerdict::kDroppedInvalid, {}};
    }

    const Key key{f.src_addr, f.dst_addr, f.id,
                  static_cast<uint8_t>(f.ip_version == 4 ? f.protocol : 0), f.ip_version};
    auto it = datagrams_.find(key);
    if (it != datagrams_.end() && now_ns >= it->second.deadline_ns) {
        // Stale: expire() has not run yet, but this fragment starts afresh.
        erase(it);
        ++counters_.timed_out;
        it = datagrams_.end();
    }

    const bool is_new = it == datagrams_.end();
    auto position = std::vector<Fragment>::iterator{};
    if (!is_new) {
        Datagram& d = it->second;
        // A fragment that contradicts the known end makes the datagram
        // unreconstructable (Linux discards the whole queue too).
        const size_t highest = d.fragments.empty() ? 0 : d.fragments.back().end;
        const bool contradicts = f.more ? (d.last_seen && end > d.total_length)
                                        : ((d.last_seen && end != d.total_length) || end < highest);
        if (contradicts) return drop(it, FragmentVerdict::kDroppedInvalid);
        // First held fragment ending after our start: the only one that can
        // tell duplicate from overlap (they are sorted and disjoint).
        position = std::partition_point(d.fragments.begin(), d.fragments.end(),
                                        [&](const Fragment& h) { return h.end <= f.offset; });
        if (position != d.fragments.end() && position->offset < end) {
            if (position->offset <= f.offset && end <= position->end) {
                ++counters_.duplicates;
                return {FragmentVerdict::kDuplicate, {}};
            }
            return drop(it, FragmentVerdict::kDroppedOverlap);
        }
    }

    const size_t charge = f.data.size() + kFragmentOverhead + (is_new ? kDatagramOverhead : 0);
    if (bytes_used_ + charge > config_.budget_bytes) {
        if (is_new) {
            ++counters_.dropped_budget;
            return {FragmentVerdict::kDroppedBudget, {}};
        }
        return drop(it, FragmentVerdict::kDroppedBudget);
    }
    if (is_new) {
        it = datagrams_.emplace(key, Datagram{}).first;
        Datagram& d = it->second;
        d.deadline_ns =
            now_ns + (f.ip_version == 4 ? config_.timeout_v4_ns : config_.timeout_v6_ns);
        auto& expiry = expiry_list(f.ip_version);
        d.expiry_position = expiry.insert(expiry.end(), key);
        position = d.fragments.end();
    }

    Datagram& d = it->second;
    d.fragments.insert(position,
                       Fragment{f.offset, end, std::vector<uint8_t>(f.data.begin(), f.data.end())});
    d.received += f.data.size();
    d.charged += charge;
    bytes_used_ += charge;
    if (f.offset == 0) {
        d.header.assign(frame.begin(), frame.begin() + static_cast<ptrdiff_t>(f.header_length));
        d.l3_offset = parsed.l3_offset;
        d.protocol = f.protocol;
    }
    if (!f.more) {
        d.last_seen = true;
        d.total_length = end;
    }
    if (!d.last_seen || d.received != d.total_length) return {FragmentVerdict::kQueued, {}};

    // Complete. IPv4's limit includes the first fragment's header and options.
    if (f.ip_version == 4 && d.header.size() - d.l3_offset + d.total_length > kMaxIpPacket)
        return drop(it, FragmentVerdict::kDroppedInvalid);
    ReassemblyOutcome done{FragmentVerdict::kReassembled, assemble(d, f.ip_version)};
    erase(it);
    ++counters_.reassembled;
    return done;
}

size_t Reassembler::expire(uint64_t now_ns) {
    size_t expired = 0;
    for (std::list<Key>* expiry : {&expiry_v4_, &expiry_v6_}) {
        while (!expiry->empty()) {
            auto it = datagrams_.find(expiry->front());
            if (it->second.deadline_ns > now_ns) break;
            erase(it);
            ++expired;
        }
    }
    counters_.timed_out += expired;
    return expired;
}

ReassemblyOutcome Reassembler::drop(Table::iterator it, FragmentVerdict verdict) {
    switch (verdict) {
        case FragmentVerdict::kDroppedOverlap:
            ++counters_.dropped_overlap;
            break;
        case FragmentVerdict::kDroppedBudget:
            ++counters_.dropped_budget;
            break;
        default:
            ++counters_.dropped_invalid;
            break;
    }
    erase(it);
    return {verdict, {}};
}

void Reassembler::erase(Table::iterator it) {
    bytes_used_ -= it->second.charged;
    const uint8_t ip_version = it->first.ip_version;
    expiry_list(ip_version).erase(it->second.expiry_position);
    datagrams_.erase(it);
}

std::vector<uint8_t> Reassembler::assemble(const Datagram& d, uint8_t ip_version) const {
    std::vector<uint8_t> out(d.header.size() + d.total_length);
    std::memcpy(out.data(), d.header.data(), d.header.size());
    for (const Fragment& fragment : d.fragments) {
        // An empty fragment (IPv6 allows one) has no bytes, and maybe no
        // buffer: memcpy from a null pointer is undefined even for 0 bytes.
        if (fragment.bytes.empty()) continue;
        std::memcpy(out.data() + d.header.size() + fragment.offset, fragment.bytes.data(),
                    fragment.bytes.size());
    }
    uint8_t* ip = out.data() + d.l3_offset;
    const size_t ip_header_len = d.header.size() - d.l3_offset;
    if (ip_version == 4) {
        store_be16(ip + 2, static_cast<uint16_t>(ip_header_len + d.total_length));
        // Keep DF (always clear on real fragments); MF and the offset go.
        store_be16(ip + 6, load_be16(ip + 6) & 0x4000);
        store_be16(ip + 10, 0);
        store_be16(ip + 10, packet::internet_checksum(packet::Bytes(ip, ip_header_len)));
    } else {
        store_be16(ip + 4, static_cast<uint16_t>(d.total_length));
        ip[6] = d.protocol;  // the fragment header is not copied: its next header takes its place
    }
    return out;
}

}  // namespace xlane::udp
