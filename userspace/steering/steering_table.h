// SteeringTable: the steering entries of one XDP attachment (binds by
// 3-tuple, flows by 5-tuple, the XSK of each RX queue) read and written
// through the pinned maps, with typed keys and the owner of each entry.
#pragma once

#include <netinet/in.h>
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "steering/address.h"
#include "xdp/pinned_maps.h"
#include "xlane/abi.h"

namespace xlane {

enum class L4Proto : uint8_t { udp = IPPROTO_UDP, tcp = IPPROTO_TCP };

[[nodiscard]] std::string_view to_string(L4Proto proto);
[[nodiscard]] Result<L4Proto> parse_l4_proto(std::string_view text);

// A bound or listening socket: (proto, local address or wildcard, port).
struct BindKey {
    L4Proto proto = L4Proto::udp;
    Endpoint local;

    [[nodiscard]] xlane_bind_key to_abi() const;
    [[nodiscard]] static Result<BindKey> from_abi(const xlane_bind_key& key);
};

// A connected socket, seen from this host: local = where packets arrive.
struct FlowKey {
    L4Proto proto = L4Proto::udp;
    Endpoint local;
    Endpoint remote;

    [[nodiscard]] xlane_flow_key to_abi() const;
    [[nodiscard]] static Result<FlowKey> from_abi(const xlane_flow_key& key);
};

// The process that entered a steering entry: pid + start time (field 22 of
// /proc/PID/stat), so a recycled pid is not mistaken for the owner.
struct SteerOwner {
    [[nodiscard]] static Result<xlane_steer_value> current_process(uint32_t flags = 0);
    // Clock ticks since boot when `pid` started, or an error when it does not exist.
    [[nodiscard]] static Result<uint64_t> start_time(pid_t pid);
    // The owner process still runs (same pid, same start time).
    [[nodiscard]] static bool alive(const xlane_steer_value& owner);
};

struct BindEntry {
    BindKey key;
    xlane_steer_value owner{};
};

struct FlowEntry {
    FlowKey key;
    xlane_steer_value owner{};
};

class SteeringTable {
  public:
    // Opens the maps pinned in an attachment directory.
    [[nodiscard]] static Result<SteeringTable> open(const std::string& pin_dir);
    // The attachment of `ifname` in the current network namespace.
    [[nodiscard]] static Result<SteeringTable> open_interface(const std::string& ifname);

    // Fails with EEXIST (and names the owner) when the key is already steered.
    [[nodiscard]] Status add_bind(const BindKey& key, const xlane_steer_value& owner);
    [[nodiscard]] Status remove_bind(const BindKey& key);
    [[nodiscard]] Status add_flow(const FlowKey& key, const xlane_steer_value& owner);
    [[nodiscard]] Status remove_flow(const FlowKey& key);

    [[nodiscard]] Result<std::vector<BindEntry>> binds() const;
    [[nodiscard]] Result<std::vector<FlowEntry>> flows() const;

    // Puts an AF_XDP socket into the slot of RX queue `queue`; the kernel
    // empties the slot by itself when the socket closes.
    [[nodiscard]] Status set_xsk(uint32_t queue, int xsk_fd);
    [[nodiscard]] Status clear_xsk(uint32_t queue);

    [[nodiscard]] const PinnedXdpMaps& maps() const { return maps_; }

  private:
    explicit SteeringTable(PinnedXdpMaps maps) : maps_(std::move(maps)) {}
    PinnedXdpMaps maps_;
};

}  // namespace xlane
