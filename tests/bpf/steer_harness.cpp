// SteerHarness: map updates and BPF_PROG_TEST_RUN with an xdp_md context.
#include "steer_harness.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/if_ether.h>

#include <vector>

#include "bpf/xdp_steer_object.h"

namespace xlane::test {
namespace {

// bpf_test_init() refuses data_size_in < ETH_HLEN. Shorter frames are run
// behind this much XDP metadata (xdp_md.data = offset of the frame, a
// multiple of 4 up to 32), so the program still sees exactly `frame`.
constexpr uint32_t kShortFrameMetadata = 16;

}  // namespace

struct SteerHarness::Loaded {
    XdpSteerSkeleton skel;
};

SteerHarness::SteerHarness(std::unique_ptr<Loaded> loaded) : loaded_(std::move(loaded)) {}
SteerHarness::SteerHarness(SteerHarness&&) noexcept = default;
SteerHarness::~SteerHarness() = default;

Result<SteerHarness> SteerHarness::load() {
    auto skel = XdpSteerSkeleton::open_and_load("xdp_steer");
    if (!skel) return skel.error();
    return SteerHarness(std::make_unique<Loaded>(Loaded{std::move(skel).value()}));
}

int SteerHarness::program_fd() const {
    return bpf_program__fd(loaded_->skel->progs.xlane_steer);
}

Status SteerHarness::install(const SteeringModel& model) {
    const xlane_steer_value value{static_cast<uint32_t>(::getpid()), XLANE_STEER_TEST_ENTRY, 0};
    for (const auto& key : model.flows)
        if (bpf_map_update_elem(bpf_map__fd(loaded_->skel->maps.xlane_flows), &key, &value, 0) != 0)
            return make_error(errno, "cannot insert into xlane_flows");
    for (const auto& key : model.binds)
        if (bpf_map_update_elem(bpf_map__fd(loaded_->skel->maps.xlane_binds), &key, &value, 0) != 0)
            return make_error(errno, "cannot insert into xlane_binds");
    return {};
}

Status SteerHarness::set_xsk(uint32_t queue, int xsk_fd) {
    const uint32_t fd = static_cast<uint32_t>(xsk_fd);
    if (bpf_map_update_elem(bpf_map__fd(loaded_->skel->maps.xlane_xsks), &queue, &fd, 0) != 0)
        return errno_error("cannot put the AF_XDP socket into xlane_xsks");
    return {};
}

Status SteerHarness::clear_xsk(uint32_t queue) {
    if (bpf_map_delete_elem(bpf_map__fd(loaded_->skel->maps.xlane_xsks), &queue) != 0 &&
        errno != ENOENT)
        return errno_error("cannot clear xlane_xsks slot");
    return {};
}

Result<ReasonCounters> SteerHarness::read_stats() const {
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return make_error(cpus, "cannot count possible CPUs");
    ReasonCounters total{};
    std::vector<xlane_counter> per_cpu(static_cast<size_t>(cpus));
    for (uint32_t reason = 0; reason < XLANE_REASON_COUNT; ++reason) {
        if (bpf_map_lookup_elem(bpf_map__fd(loaded_->skel->maps.xlane_stats), &reason,
                                per_cpu.data()))
            return errno_error("cannot read xlane_stats");
        for (const auto& c : per_cpu) {
            total[reason].packets += c.packets;
            total[reason].bytes += c.bytes;
        }
    }
    return total;
}

Result<RunOutcome> SteerHarness::run(packet::Bytes frame, RunContext context) {
    auto before = read_stats();
    if (!before) return before.error();

    const uint32_t meta = frame.size() < ETH_HLEN ? kShortFrameMetadata : 0;
    std::vector<uint8_t> data(meta, 0);
    data.insert(data.end(), frame.begin(), frame.end());
    xdp_md ctx{};
    ctx.data = meta;
    ctx.data_end = static_cast<uint32_t>(data.size());
    ctx.ingress_ifindex = context.ingress_ifindex;
    ctx.rx_queue_index = context.rx_queue_index;

    bpf_test_run_opts opts{};
    opts.sz = sizeof(opts);
    opts.data_in = data.data();
    opts.data_size_in = static_cast<uint32_t>(data.size());
    opts.ctx_in = &ctx;
    opts.ctx_size_in = sizeof(ctx);
    opts.repeat = 1;
    if (bpf_prog_test_run_opts(bpf_program__fd(loaded_->skel->progs.xlane_steer), &opts) != 0)
        return make_error(errno, "BPF_PROG_TEST_RUN of xlane_steer failed (frame of " +
                                     std::to_string(frame.size()) + " bytes, " +
                                     std::to_string(meta) + " bytes of metadata)");

    auto after = read_stats();
    if (!after) return after.error();
    RunOutcome outcome;
    outcome.action = opts.retval;
    for (size_t i = 0; i < XLANE_REASON_COUNT; ++i) {
        outcome.delta[i].packets = (*after)[i].packets - (*before)[i].packets;
        outcome.delta[i].bytes = (*after)[i].bytes - (*before)[i].bytes;
    }
    return outcome;
}

}  // namespace xlane::test
