// TcpInfo in the kernel's struct tcp_info layout (<linux/tcp.h>), so that
// getsockopt(TCP_INFO) on an xlane socket returns what Linux would.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "tcp/tcp_connection.h"

namespace xlane::tcp {

// Linux's TCP_* state number (TCP_ESTABLISHED = 1 ... TCP_CLOSING = 11).
[[nodiscard]] uint8_t linux_tcp_state(TcpState state);

// Writes the kernel-layout struct tcp_info, cut to `out.size()` bytes as the
// kernel cuts it to the caller's optlen; returns the bytes written.
size_t fill_linux_tcp_info(const TcpInfo& info, std::span<uint8_t> out);

}  // namespace xlane::tcp
