// Handing an established user-space TCP connection to the Linux kernel:
// TCP_REPAIR (CAP_NET_ADMIN) turns an unconnected TCP socket into the
// kernel's side of the very same connection, without a segment on the wire,
// the way CRIU restores a checkpointed one. Used at fork(), so that parent
// and child share the connection as they would any kernel socket.
#pragma once

#include "common/result.h"
#include "engine/socket_address.h"
#include "tcp/tcp_connection.h"

namespace xlane::engine {

// `fd`: a TCP socket of `family`, unconnected (bound to `local` or not);
// afterwards connected to `remote` in ESTABLISHED with `state`'s sequence
// numbers, windows, options and queued data. On failure the socket may be
// left in any state short of connected; the caller then keeps the
// connection where it was.
[[nodiscard]] Status repair_into_kernel(int fd, int family, const Endpoint& local,
                                        const Endpoint& remote, const tcp::HandoverState& state);

// SO_REUSEADDR and SO_REUSEPORT of socket `from` onto socket `to` (best
// effort): a connection handed over through a fresh socket keeps what its
// shadow had (an accepted one, its listener's), which decides whether a
// server restarted on the port can bind it while the connection lingers.
void copy_reuse_options(int from, int to);

}  // namespace xlane::engine
