// NetlinkSocket: one owned NETLINK_ROUTE socket (libmnl), either for
// request/answer exchanges with the kernel or for change notifications read without blocking.
#pragma once

#include <linux/netlink.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "common/result.h"

struct mnl_socket;

namespace xlane::net {

// Called for each data message of an answer or each notification. Must not
// throw: it runs inside libmnl's C callback loop.
using MessageHandler = std::function<void(const nlmsghdr&)>;

// Single owner, not thread-safe: the owning object serialises its use.
class NetlinkSocket {
  public:
    // A blocking socket for request()s; an answer that takes longer than
    // `timeout` is reported as ETIMEDOUT rather than waited for forever.
    [[nodiscard]] static Result<NetlinkSocket> open_requests(std::chrono::milliseconds timeout);
    // A nonblocking socket joined to `groups` (RTNLGRP_* numbers) for drain().
    [[nodiscard]] static Result<NetlinkSocket> open_subscription(std::span<const unsigned> groups);

    NetlinkSocket(NetlinkSocket&&) noexcept = default;
    NetlinkSocket& operator=(NetlinkSocket&&) noexcept = default;
    NetlinkSocket(const NetlinkSocket&) = delete;
    NetlinkSocket& operator=(const NetlinkSocket&) = delete;
    ~NetlinkSocket();

    [[nodiscard]] int fd() const;

    // Sends `request` (its sequence number is set here; ask for NLM_F_ACK or
    // NLM_F_DUMP so the answer has an end) and passes every answer message to
    // `on_message`. A kernel refusal comes back with the kernel's errno.
    [[nodiscard]] Status request(nlmsghdr* request, const MessageHandler& on_message);

    // Passes every queued notification to `on_message` without blocking and
    // returns how many there were. ENOBUFS means the kernel dropped
    // notifications because this socket was not read fast enough: the caller
    // must resynchronise (the socket itself stays usable).
    [[nodiscard]] Result<size_t> drain(const MessageHandler& on_message);

  private:
    struct Closer {
        void operator()(mnl_socket* socket) const;
    };
    NetlinkSocket() = default;

    std::unique_ptr<mnl_socket, Closer> socket_;
    unsigned port_id_ = 0;
    uint32_t next_seq_ = 0;
    // Dumps arrive in datagrams of up to 32 KiB; a smaller buffer truncates them.
    std::vector<uint8_t> buffer_;
};

}  // namespace xlane::net
