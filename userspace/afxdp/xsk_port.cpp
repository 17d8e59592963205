// XskPort: socket creation through libxdp with its program load inhibited,
// and the RX/TX ring service loops.
#include "afxdp/xsk_port.h"

#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <tuple>

namespace xlane::afxdp {
namespace {

// Socket options from <linux/socket.h> that older libc headers may lack.
#ifndef SO_PREFER_BUSY_POLL
#define SO_PREFER_BUSY_POLL 69
#endif
#ifndef SO_BUSY_POLL_BUDGET
#define SO_BUSY_POLL_BUDGET 70
#endif

Status set_int_option(int fd, int option, int value, const char* name) {
    if (::setsockopt(fd, SOL_SOCKET, option, &value, sizeof(value)) != 0)
        return errno_error(std::string("cannot set ") + name + " on the AF_XDP socket");
    return {};
}

// From Linux 6.6's <linux/if_xdp.h>, which older headers lack.
#ifndef XDP_USE_SG
#define XDP_USE_SG (1 << 4)
#endif
#ifndef XDP_PKT_CONTD
#define XDP_PKT_CONTD (1 << 0)
#endif

// The most descriptors one frame takes: its linear part and MAX_SKB_FRAGS
// (17) fragments.
constexpr uint32_t kMaxChainDescriptors = 18;

}  // namespace

Result<std::unique_ptr<XskPort>> XskPort::open(const XskPortConfig& config) {
    char ifname[IF_NAMESIZE] = {};
    if (::if_indextoname(config.ifindex, ifname) == nullptr)
        return errno_error("no interface with index " + std::to_string(config.ifindex));

    std::unique_ptr<XskPort> port(new XskPort(config));
    xsk_socket_config socket_config{};
    socket_config.rx_size = config.rx_size;
    socket_config.tx_size = config.tx_size;
    // xlane attaches its own steering program; libxdp must not load its
    // default redirect-everything program over it.
    socket_config.libxdp_flags = XSK_LIBXDP_FLAGS__INHIBIT_PROG_LOAD;
    socket_config.xdp_flags = 0;
    socket_config.bind_flags = config.mode == XskMode::kZeroCopy ? XDP_ZEROCOPY : XDP_COPY;
    if (config.need_wakeup) socket_config.bind_flags |= XDP_USE_NEED_WAKEUP;

    const std::string where = std::string(ifname) + " queue " + std::to_string(config.queue);
    // A UMEM and a socket on it. A failed bind leaves the UMEM's socket
    // with its rings set up, so a second try starts from a new UMEM.
    auto create = [&]() -> Result<int> {
        port->umem_.reset();
        auto umem = Umem::create(config.umem);
        if (!umem) return umem.error();
        port->umem_ = std::move(umem).value();
        return xsk_socket__create(&port->socket_, ifname, config.queue, port->umem_->handle(),
                                  &port->rx_, &port->tx_, &socket_config);
    };
    if (config.multi_buffer) socket_config.bind_flags |= XDP_USE_SG;
    auto created = create();
    // Kernels before 6.6 know no XDP_USE_SG (EINVAL); a zero-copy driver
    // without multi-buffer support refuses it (EOPNOTSUPP).
    if (created && config.multi_buffer &&
        (created.value() == -EINVAL || created.value() == -EOPNOTSUPP)) {
        port->socket_ = nullptr;
        socket_config.bind_flags &= ~XDP_USE_SG;
        created = create();
    }
    if (!created) return created.error();
    const int err = created.value();
    port->multi_buffer_ = err == 0 && (socket_config.bind_flags & XDP_USE_SG) != 0;
    if (err != 0) {
        port->socket_ = nullptr;
        const char* hint = config.mode == XskMode::kZeroCopy
                               ? " (zero-copy needs driver support; try copy mode)"
                               : " (does the queue exist? is another socket bound to it?)";
        return make_error(err, "cannot bind an AF_XDP socket to " + where + hint);
    }
    // libxdp makes the socket without SOCK_CLOEXEC (it reuses the UMEM's for
    // the first one): an exec'd program must not inherit an AF_XDP socket,
    // which would keep this process's xlane_xsks slot alive.
    (void)::fcntl(port->fd(), F_SETFD, FD_CLOEXEC);
    if (config.busy_poll_usecs > 0) {
        const int fd = port->fd();
        for (auto [option, value, name] :
             {std::tuple{SO_PREFER_BUSY_POLL, 1, "SO_PREFER_BUSY_POLL"},
              std::tuple{SO_BUSY_POLL, static_cast<int>(config.busy_poll_usecs), "SO_BUSY_POLL"},
              std::tuple{SO_BUSY_POLL_BUDGET, static_cast<int>(config.busy_poll_budget),
                         "SO_BUSY_POLL_BUDGET"}}) {
            if (auto status = set_int_option(fd, option, value, name); !status)
                return status.error();
        }
    }
    port->refill();
    return port;
}

XskPort::~XskPort() {
    if (socket_ != nullptr) xsk_socket__delete(socket_);
}

int XskPort::fd() const {
    return xsk_socket__fd(socket_);
}

uint32_t XskPort::refill() {
    const uint32_t added = umem_->refill();
    // In copy mode and with need_wakeup, the kernel only looks at the fill
    // ring again after a syscall once it has run dry.
    if (xsk_ring_prod__needs_wakeup(umem_->fill_ring()))
        (void)::recvfrom(fd(), nullptr, 0, MSG_DONTWAIT, nullptr, nullptr);
    return added;
}

size_t XskPort::receive(std::span<RxFrame> out) {
    joined_used_ = 0;
    uint32_t index = 0;
    uint32_t got = xsk_ring_cons__peek(&rx_, static_cast<uint32_t>(out.size()), &index);
    auto continues = [&](uint32_t i) {
        return (xsk_ring_cons__rx_desc(&rx_, index + i)->options & XDP_PKT_CONTD) != 0;
    };
    // A chain cut by the end of the peek: the kernel publishes all of a
    // frame's descriptors at once, so the rest is on the ring already.
    // Only that chain's end is taken (out has no room for more frames); a
    // chain that still has none is left on the ring.
    if (got > 0 && continues(got - 1)) {
        uint32_t more_index = 0;
        const uint32_t peeked = got + xsk_ring_cons__peek(&rx_, kMaxChainDescriptors, &more_index);
        uint32_t end = got;
        while (end < peeked && continues(end)) ++end;
        if (end < peeked) {
            got = end + 1;
        } else {
            while (got > 0 && continues(got - 1)) --got;
        }
        xsk_ring_cons__cancel(&rx_, peeked - got);
    }
    size_t frames = 0;
    for (uint32_t i = 0; i < got; ++frames) {
        uint32_t last = i;
        while (continues(last)) ++last;
        if (last == i) {
            const xdp_desc* desc = xsk_ring_cons__rx_desc(&rx_, index + i);
            out[frames] = RxFrame{desc->addr, umem_->frame(desc->addr, desc->len)};
        } else {
            out[frames] = join_chain(index + i, last - i + 1);
        }
        i = last + 1;
    }
    xsk_ring_cons__release(&rx_, got);
    refill();
    return frames;
}

RxFrame XskPort::join_chain(uint32_t first, uint32_t count) {
    if (joined_used_ == joined_.size()) joined_.emplace_back();
    std::vector<uint8_t>& buffer = joined_[joined_used_++];
    buffer.clear();
    for (uint32_t i = 0; i < count; ++i) {
        const xdp_desc* desc = xsk_ring_cons__rx_desc(&rx_, first + i);
        const std::span<const uint8_t> piece = umem_->frame(desc->addr, desc->len);
        buffer.insert(buffer.end(), piece.begin(), piece.end());
        umem_->free_frame(desc->addr);
    }
    ++joined_frames_;
    return RxFrame{kJoinedFrame, std::span<uint8_t>(buffer)};
}

size_t XskPort::send(std::span<const std::span<const uint8_t>> frames) {
    complete();
    size_t wanted =
        std::min<size_t>({frames.size(), umem_->free_frames(), xsk_prod_nb_free(&tx_, UINT32_MAX)});
    // Stop at the first frame too large for a UMEM frame: the caller sees a
    // short count and the order of what was queued is preserved.
    for (size_t i = 0; i < wanted; ++i) {
        if (frames[i].size() > umem_->config().frame_size) {
            wanted = i;
            break;
        }
    }
    uint32_t index = 0;
    const uint32_t queued = xsk_ring_prod__reserve(&tx_, static_cast<uint32_t>(wanted), &index);
    for (uint32_t i = 0; i < queued; ++i) {
        const auto& frame = frames[i];
        const uint64_t addr = *umem_->alloc_frame();  // free_frames() checked above
        std::copy(frame.begin(), frame.end(), umem_->data(addr));
        xdp_desc* desc = xsk_ring_prod__tx_desc(&tx_, index + i);
        desc->addr = addr;
        desc->len = static_cast<uint32_t>(frame.size());
        desc->options = 0;
    }
    xsk_ring_prod__submit(&tx_, queued);
    tx_in_flight_ += queued;
    if (queued > 0) flush_tx();
    return queued;
}

bool XskPort::take_tx_frames(std::span<TxFrame> out) {
    complete();
    const uint32_t wanted = static_cast<uint32_t>(out.size());
    if (out.size() > umem_->free_frames() || xsk_prod_nb_free(&tx_, wanted) < wanted) return false;
    const uint32_t frame_size = umem_->config().frame_size;
    for (TxFrame& frame : out) {
        const uint64_t addr = *umem_->alloc_frame();  // free_frames() checked above
        frame = TxFrame{addr, umem_->frame(addr, frame_size), 0};
    }
    return true;
}

void XskPort::return_tx_frames(std::span<const TxFrame> frames) {
    for (const TxFrame& frame : frames) umem_->free_frame(frame.addr);
}

bool XskPort::queue_tx(std::span<const TxFrame> frames, uint64_t now_ns, TxWakeup wakeup) {
    const uint32_t count = static_cast<uint32_t>(frames.size());
    uint32_t index = 0;
    // take_tx_frames() saw this much room, and only this thread produces.
    const uint32_t reserved = xsk_ring_prod__reserve(&tx_, count, &index);
    for (uint32_t i = 0; i < reserved; ++i) {
        xdp_desc* desc = xsk_ring_prod__tx_desc(&tx_, index + i);
        desc->addr = frames[i].addr;
        desc->len = frames[i].length;
        desc->options = 0;
    }
    xsk_ring_prod__submit(&tx_, reserved);
    for (uint32_t i = reserved; i < count; ++i) umem_->free_frame(frames[i].addr);
    tx_in_flight_ += reserved;
    if (tx_unkicked_ == 0) tx_deferred_since_ns_ = now_ns;
    tx_unkicked_ += reserved;
    const uint64_t window = config_.tx_defer_window_ns;
    const bool back_to_back = now_ns - tx_last_queue_ns_ < window;
    tx_last_queue_ns_ = now_ns;
    const bool batch_full = tx_unkicked_ >= config_.tx_kick_batch;
    const bool waited_enough = now_ns - tx_deferred_since_ns_ >= window;
    bool wake = true;
    if (wakeup == TxWakeup::kLater) wake = batch_full;
    if (wakeup == TxWakeup::kWhenIdle) wake = !back_to_back || batch_full || waited_enough;
    if (wake) flush_tx();
    return tx_waiting() > 0;
}

void XskPort::flush_tx() {
    // In copy mode one wake-up transmits at most the kernel's TX budget (32
    // frames): wake it until it has taken everything, or takes nothing more
    // (link down, completion ring full: the next flush tries again).
    const uint32_t max_wakeups = config_.tx_size / 16 + 2;
    for (uint32_t round = 0; round < max_wakeups; ++round) {
        const uint32_t waiting = tx_waiting();
        if (waiting == 0) break;
        if (config_.need_wakeup && !xsk_ring_prod__needs_wakeup(&tx_)) break;  // driver at work
        if (!kick_tx()) break;
        complete();
        if (tx_waiting() == waiting) break;
    }
    tx_unkicked_ = 0;
}

uint32_t XskPort::tx_waiting() const {
    return tx_.cached_prod - __atomic_load_n(tx_.consumer, __ATOMIC_ACQUIRE);
}

uint32_t XskPort::complete() {
    const uint32_t done = umem_->reap_completions();
    tx_in_flight_ -= std::min(done, tx_in_flight_);
    return done;
}

Status XskPort::kick_tx() {
    // Copy mode always needs the syscall to transmit; with need_wakeup the
    // kernel tells us, without it we must always kick.
    if (config_.need_wakeup && !xsk_ring_prod__needs_wakeup(&tx_)) return {};
    if (::sendto(fd(), nullptr, 0, MSG_DONTWAIT, nullptr, 0) < 0 && errno != EAGAIN &&
        errno != EBUSY && errno != ENOBUFS && errno != ENETDOWN)
        return errno_error("AF_XDP TX wakeup failed");
    return {};
}

Result<bool> XskPort::wait_readable(int timeout_ms) {
    pollfd pfd{fd(), POLLIN, 0};
    for (;;) {
        const int ready = ::poll(&pfd, 1, timeout_ms);
        if (ready < 0 && errno == EINTR) continue;
        if (ready < 0) return errno_error("poll on the AF_XDP socket failed");
        return ready > 0;
    }
}

}  // namespace xlane::afxdp
