#include "net/netlink_socket.h"

#include <libmnl/libmnl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <span>
#include <string>

#include "common/high_fd.h"
#include "net/rtnl_messages.h"

namespace xlane::net {

namespace {

constexpr size_t kReceiveBufferSize = 32 * 1024;
// Notifications queue in the kernel until read; a larger queue makes an
// overrun (ENOBUFS, then a full resynchronisation) rarer during bursts.
constexpr int kSubscriptionQueueBytes = 1 << 20;
// A drain() call handles at most this many datagrams, so one burst cannot
// keep a progress thread away from its other work; the fd stays readable.
constexpr int kMaxDatagramsPerDrain = 256;

// The kernel's own words for a refusal (extended ACK), when it gave some.
std::string extended_ack_message(const nlmsghdr& msg) {
    if (!(msg.nlmsg_flags & NLM_F_ACK_TLVS)) return "";
    // NETLINK_CAP_ACK: the error carries only the header of our request.
    const size_t offset = sizeof(nlmsgerr);
    if (mnl_nlmsg_get_payload_len(&msg) < offset) return "";
    const auto* attr = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(&msg, offset));
    const auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(&msg));
    int remaining = static_cast<int>(tail - reinterpret_cast<const char*>(attr));
    for (; mnl_attr_ok(attr, remaining); attr = mnl_attr_next(attr)) {
        remaining -= static_cast<int>(MNL_ALIGN(attr->nla_len));
        if (mnl_attr_get_type(attr) == NLMSGERR_ATTR_MSG &&
            mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) == 0)
            return mnl_attr_get_str(attr);
    }
    return "";
}

// A NETLINK_ROUTE socket whose descriptor sits above the application's
// (common/high_fd.h); nullptr with errno on failure.
mnl_socket* open_route_socket(int type_flags) {
    const int fd = move_fd_high(::socket(AF_NETLINK, SOCK_RAW | type_flags, NETLINK_ROUTE));
    if (fd < 0) return nullptr;
    mnl_socket* socket = mnl_socket_fdopen(fd);
    if (socket == nullptr) {
        const int err = errno;
        ::close(fd);
        errno = err;
    }
    return socket;
}

void set_flag(mnl_socket* socket, int option) {
    int on = 1;
    // Optional refinements (shorter errors, the kernel's reason): older
    // kernels without them still work, so a refusal is not an error.
    (void)mnl_socket_setsockopt(socket, option, &on, sizeof(on));
}

}  // namespace

void NetlinkSocket::Closer::operator()(mnl_socket* socket) const {
    mnl_socket_close(socket);
}

NetlinkSocket::~NetlinkSocket() = default;

int NetlinkSocket::fd() const {
    return mnl_socket_get_fd(socket_.get());
}

Result<NetlinkSocket> NetlinkSocket::open_requests(std::chrono::milliseconds timeout) {
    NetlinkSocket nl;
    nl.socket_.reset(open_route_socket(SOCK_CLOEXEC));
    if (!nl.socket_) return errno_error("cannot open a NETLINK_ROUTE socket");
    if (mnl_socket_bind(nl.socket_.get(), 0, MNL_SOCKET_AUTOPID) < 0)
        return errno_error("cannot bind a NETLINK_ROUTE socket");
    set_flag(nl.socket_.get(), NETLINK_CAP_ACK);
    set_flag(nl.socket_.get(), NETLINK_EXT_ACK);
    const timeval tv{static_cast<time_t>(timeout.count() / 1000),
                     static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    if (::setsockopt(nl.fd(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) != 0)
        return errno_error("cannot set a receive timeout on a NETLINK_ROUTE socket");
    nl.port_id_ = mnl_socket_get_portid(nl.socket_.get());
    nl.buffer_.resize(kReceiveBufferSize);
    return nl;
}

Result<NetlinkSocket> NetlinkSocket::open_subscription(std::span<const unsigned> groups) {
    NetlinkSocket nl;
    nl.socket_.reset(open_route_socket(SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!nl.socket_) return errno_error("cannot open a NETLINK_ROUTE socket for notifications");
    if (mnl_socket_bind(nl.socket_.get(), 0, MNL_SOCKET_AUTOPID) < 0)
        return errno_error("cannot bind a NETLINK_ROUTE notification socket");
    for (unsigned group : groups) {
        int g = static_cast<int>(group);
        if (mnl_socket_setsockopt(nl.socket_.get(), NETLINK_ADD_MEMBERSHIP, &g, sizeof(g)) < 0)
            return errno_error("cannot subscribe to rtnetlink group " + std::to_string(group));
    }
    // SO_RCVBUFFORCE passes rmem_max when privileged; otherwise the capped SO_RCVBUF.
    int bytes = kSubscriptionQueueBytes;
    if (::setsockopt(nl.fd(), SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof(bytes)) != 0)
        (void)::setsockopt(nl.fd(), SOL_SOCKET, SO_RCVBUF, &bytes, sizeof(bytes));
    nl.port_id_ = mnl_socket_get_portid(nl.socket_.get());
    nl.buffer_.resize(kReceiveBufferSize);
    return nl;
}

Status NetlinkSocket::request(nlmsghdr* request, const MessageHandler& on_message) {
    const uint32_t seq = ++next_seq_;
    request->nlmsg_seq = seq;
    request->nlmsg_pid = 0;
    if (mnl_socket_sendto(socket_.get(), request, request->nlmsg_len) < 0)
        return errno_error("cannot send a request to the kernel (rtnetlink)");
    for (;;) {
        const ssize_t n = mnl_socket_recvfrom(socket_.get(), buffer_.data(), buffer_.size());
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return make_error(ETIMEDOUT, "the kernel did not answer an rtnetlink request");
            return errno_error("cannot read the kernel's rtnetlink answer");
        }
        std::span<const uint8_t> rest(buffer_.data(), static_cast<size_t>(n));
        while (const nlmsghdr* msg = next_message(rest)) {
            // Answers to an earlier request that timed out may still arrive.
            if (msg->nlmsg_seq != seq || (msg->nlmsg_pid != 0 && msg->nlmsg_pid != port_id_))
                continue;
            if (msg->nlmsg_flags & NLM_F_DUMP_INTR)
                return make_error(EAGAIN,
                                  "an rtnetlink dump was interrupted by a concurrent "
                                  "change; retry");
            switch (msg->nlmsg_type) {
                case NLMSG_DONE:
                    return {};
                case NLMSG_NOOP:
                    continue;
                case NLMSG_ERROR: {
                    if (mnl_nlmsg_get_payload_len(msg) < sizeof(nlmsgerr))
                        return make_error(EPROTO, "truncated rtnetlink error message");
                    const auto* err = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(msg));
                    if (err->error == 0) return {};  // the ACK ends a non-dump request
                    const std::string why = extended_ack_message(*msg);
                    return make_error(err->error, why.empty() ? "the kernel refused the request"
                                                              : "the kernel refused: " + why);
                }
                default:
                    on_message(*msg);
            }
        }
    }
}

Result<size_t> NetlinkSocket::drain(const MessageHandler& on_message) {
    size_t count = 0;
    for (int datagrams = 0; datagrams < kMaxDatagramsPerDrain; ++datagrams) {
        const ssize_t n = mnl_socket_recvfrom(socket_.get(), buffer_.data(), buffer_.size());
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) break;
            if (errno == EINTR) continue;
            if (errno == ENOBUFS)
                return make_error(ENOBUFS, "rtnetlink notifications were lost (queue overrun)");
            return errno_error("cannot read rtnetlink notifications");
        }
        std::span<const uint8_t> rest(buffer_.data(), static_cast<size_t>(n));
        while (const nlmsghdr* msg = next_message(rest)) {
            if (msg->nlmsg_type < NLMSG_MIN_TYPE) continue;  // no control messages here
            on_message(*msg);
            ++count;
        }
    }
    return count;
}

}  // namespace xlane::net
