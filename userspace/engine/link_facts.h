// What the UDP engine needs to know about a network device of this namespace
// before it opens AF_XDP sockets on it: how many RX queues, which MAC address.
#pragma once

#include <cstdint>
#include <string>

#include "common/result.h"
#include "packet/wire.h"

namespace xlane::engine {

// RX queues the device has now (`ethtool -l`: rx + combined channels). Every
// one needs an AF_XDP socket, because the NIC's RSS may put a steered flow on
// any of them. Devices without ETHTOOL_GCHANNELS have one.
[[nodiscard]] Result<uint32_t> rx_queue_count(const std::string& ifname);

// The device's Ethernet address (SIOCGIFHWADDR): the source of every frame
// the engine transmits on it.
[[nodiscard]] Result<packet::MacAddr> interface_mac(const std::string& ifname);

}  // namespace xlane::engine
