#include "xdp/xdp_counters.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <vector>

namespace xlane {

namespace {

// Indexed by enum xlane_xdp_reason; the abi.h static_assert on
// XLANE_REASON_COUNT (abi_layout.cpp) flags a reason added without a name.
constexpr std::array<std::string_view, XLANE_REASON_COUNT> kReasonNames = {
    "redirect_flow",     // XLANE_REASON_REDIRECT_FLOW
    "redirect_bind",     // XLANE_REASON_REDIRECT_BIND
    "pass_no_xsk",       // XLANE_REASON_PASS_NO_XSK
    "pass_no_match",     // XLANE_REASON_PASS_NO_MATCH
    "pass_not_ip",       // XLANE_REASON_PASS_NOT_IP
    "pass_not_l4",       // XLANE_REASON_PASS_NOT_L4
    "pass_fragment",     // XLANE_REASON_PASS_FRAGMENT
    "pass_ipv6_exthdr",  // XLANE_REASON_PASS_IPV6_EXTHDR
    "pass_malformed",    // XLANE_REASON_PASS_MALFORMED
};
static_assert(XLANE_REASON_REDIRECT_FLOW == 0 && XLANE_REASON_PASS_MALFORMED == 8,
              "kReasonNames follows enum xlane_xdp_reason");

}  // namespace

std::string_view reason_name(uint32_t reason) {
    return reason < kReasonNames.size() ? kReasonNames[reason] : std::string_view{};
}

Result<XdpCounters> read_xdp_counters(int stats_map_fd) {
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return make_error(cpus, "cannot count the possible CPUs");
    std::vector<xlane_counter> per_cpu(static_cast<size_t>(cpus));
    XdpCounters counters{};
    for (uint32_t reason = 0; reason < XLANE_REASON_COUNT; ++reason) {
        ReasonCounter& out = counters[reason];
        out.reason = kReasonNames[reason];
        out.redirect = xlane_reason_is_redirect(reason) != 0;
        if (int err = bpf_map_lookup_elem(stats_map_fd, &reason, per_cpu.data()); err != 0)
            return make_error(err, "cannot read xlane_stats[" + std::string(out.reason) + "]");
        for (const auto& c : per_cpu) {
            out.packets += c.packets;
            out.bytes += c.bytes;
        }
    }
    return counters;
}

}  // namespace xlane
