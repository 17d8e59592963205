// TcpEngine: user-space TCP sockets (the sans-I/O TcpConnection of tcp/)
// served from the same AF_XDP ports as the UDP engine, which owns it: one
// process owns an interface's ports, so UDP and TCP share them, the engine
// mutex, the RX dispatch and the progress thread (which also runs the TCP
// timers from a timerfd).
//
// Every socket keeps a kernel "shadow" TCP socket: its fd is the socket's
// identity for the preload library, binding it reserves the port, and
// while xlane_steer steers the socket's bind or 5-tuple here the kernel
// never sees those segments. When the process dies the shadow socket dies
// with it, the AF_XDP slots empty, and the kernel answers the peer with RST.
#pragma once

#include <sys/uio.h>

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "config/settings.h"
#include "engine/interface_port.h"
#include "net/neighbour_table.h"
#include "net/route_resolver.h"
#include "packet/frame_parser.h"
#include "steering/address.h"
#include "tcp/fault_injector.h"
#include "tcp/tcp_connection.h"
#include "tcp/tcp_frame.h"

namespace xlane::engine {

using TcpSocketId = uint32_t;

// What the owning UdpEngine lends: all of it outlives the TcpEngine.
struct TcpEngineHost {
    std::mutex* mutex = nullptr;                            // the engine mutex
    std::span<const std::unique_ptr<InterfacePort>> ports;  // fixed after create
    xlane_steer_value owner{};                              // steering entries' owner
    net::RouteResolver* routes = nullptr;                   // own lock
    net::NeighbourTable* neighbours = nullptr;              // own lock
    std::function<void()> poll_rx_locked;                   // drains every RX ring
    std::function<void()> take_rx_for_send_locked;          // the same, before a send
    std::chrono::milliseconds neighbour_wait{1000};
};

// Test hook: faults applied to received and sent segments (off by default;
// the preload library passes XLANE_TCP_FAULTS, see config::TcpFaults).
struct TcpFaultConfig {
    bool enabled = false;
    tcp::FaultRates rates;
    uint64_t seed = 1;
    [[nodiscard]] static TcpFaultConfig from(const config::TcpFaults& faults);
};

// Threading contract: as UdpEngine's (every public method takes the engine
// mutex; *_locked methods are called by the UdpEngine with it held).
//
// Readiness: each socket's eventfd is readable exactly while its poll mask
// (poll_mask(): POLLIN, POLLOUT, POLLERR, POLLHUP, POLLRDHUP as Linux's
// tcp_poll would say) intersects the interest its watchers hold, all of them
// together (hold_interest(): reading, writing or both; POLLERR and POLLHUP
// always count). Every waiter (an epoll registration, a poll call, a
// blocking send or receive) holds its interest while it watches and releases
// it after, so that one waiter's interest never hides another's events. It
// polls the eventfd, then asks poll_mask() what holds. A new event while the
// eventfd is readable writes it again only for sockets that edge-triggered
// epoll watches (watch_edges()).
class TcpEngine {
  public:
    TcpEngine(TcpEngineHost host, TcpFaultConfig faults);
    ~TcpEngine();  // removes every steering entry it made; connections die silently
    TcpEngine(const TcpEngine&) = delete;
    TcpEngine& operator=(const TcpEngine&) = delete;
    [[nodiscard]] Status init();  // timerfd, interface MTUs

    // A socket with its own kernel TCP socket, or over the caller's
    // (unbound, unconnected) kernel TCP socket, which must outlive close().
    [[nodiscard]] Result<TcpSocketId> open(int family);
    [[nodiscard]] Result<TcpSocketId> adopt(int kernel_fd);

    // Binds the kernel socket (port reservation, conflicts as the kernel says).
    [[nodiscard]] Result<Endpoint> bind(TcpSocketId id, const Endpoint& local);
    // Steers the bound 3-tuple(s) here and starts answering SYNs.
    [[nodiscard]] Status listen(TcpSocketId id, int backlog);
    // Stops steering new connections of a listener to the engine: from now
    // on they reach its kernel shadow (which listens too), where every
    // process holding the fd can accept them (before fork()). Connections
    // the engine already has stay in its queue for accept().
    [[nodiscard]] Status hand_listener_to_kernel(TcpSocketId id);
    // Hands an established connection to the kernel (before fork(), so that
    // parent and child share it as they share any kernel socket):
    // `kernel_fd`, a fresh TCP socket, becomes Linux's side of it through
    // TCP_REPAIR (CAP_NET_ADMIN), its frames go to the kernel from now on, and
    // the engine forgets it without a segment on the wire. Returns the
    // socket's eventfd, which the caller closes once no epoll set watches it.
    // Fails (the connection stays here, `kernel_fd` is left in repair mode,
    // where closing it is silent) unless ESTABLISHED with no FIN either way.
    [[nodiscard]] Result<UniqueFd> hand_connection_to_kernel(TcpSocketId id, int kernel_fd);
    // At process exit: every closed connection still owing its peer data or
    // a FIN (FIN-WAIT-1, CLOSING, LAST-ACK) becomes a kernel socket through
    // TCP_REPAIR (CAP_NET_ADMIN) that is closed at once, so that Linux
    // finishes it as an orphan of its own (retransmissions, FIN, FIN-WAIT-2)
    // after the process is gone, as it would have for a kernel socket.
    // The others stay (finish_closing()).
    struct OrphanHandover {
        size_t handed = 0;
        size_t kept = 0;
        std::string first_error;  // why the first kept one could not go
    };
    OrphanHandover hand_orphans_to_kernel();
    // Starts the handshake (non-blocking: completion shows as POLLOUT, the
    // outcome in take_error()). EHOSTUNREACH/ENETUNREACH when the route does
    // not leave through a served interface (the caller keeps the kernel path).
    [[nodiscard]] Result<Endpoint> connect(TcpSocketId id, const Endpoint& remote);
    // An established connection from the listener's queue (EAGAIN when none),
    // as a new socket over `kernel_fd` (the caller's fresh TCP socket), or
    // over one of its own when kernel_fd < 0.
    [[nodiscard]] Result<TcpSocketId> accept(TcpSocketId id, int kernel_fd = -1);

    // Bytes queued (EAGAIN when the send buffer is full, EPIPE, ECONNRESET...).
    [[nodiscard]] Result<size_t> send(TcpSocketId id, std::span<const iovec> data);
    // Bytes read; 0 at end of stream; EAGAIN when nothing waits. `peek`
    // leaves them in place.
    [[nodiscard]] Result<size_t> receive(TcpSocketId id, std::span<const iovec> buffer,
                                         bool peek = false);
    [[nodiscard]] Status shutdown(TcpSocketId id, int how);
    // Graceful close (FIN after the queued data; RST with unread data) or,
    // with `abort`, RST now (SO_LINGER 0). The connection lives on in the
    // engine until its closing handshake and TIME-WAIT are over.
    [[nodiscard]] Status close(TcpSocketId id, bool abort = false);
    // SO_LINGER with a timeout: the caller takes the connection's tuple
    // before close() and then waits, the progress thread driving the
    // retransmissions, until close_acknowledged() (Linux's close waits in
    // sk_stream_wait_close for the same states to pass).
    [[nodiscard]] Result<tcp::FourTuple> connection_tuple(TcpSocketId id) const;
    // Closed and done with its data and FIN, or never to finish them: no
    // connection under `tuple`, or one past FIN-WAIT-1, CLOSING and LAST-ACK.
    [[nodiscard]] bool close_acknowledged(const tcp::FourTuple& tuple) const;

    [[nodiscard]] Result<uint32_t> poll_mask(TcpSocketId id);
    // `events` (poll bits) held until release_interest() with the same bits.
    [[nodiscard]] Status hold_interest(TcpSocketId id, uint32_t events) {
        return change_interest(id, events, true);
    }
    [[nodiscard]] Status release_interest(TcpSocketId id, uint32_t events) {
        return change_interest(id, events, false);
    }
    // From now on every new event (data, ACKed space, FIN...) re-signals the
    // eventfd even while it is readable, as EPOLLET watchers of it need.
    [[nodiscard]] Status watch_edges(TcpSocketId id);
    // SO_ERROR: the pending error, cleared by reading it.
    [[nodiscard]] Result<int> take_error(TcpSocketId id);
    [[nodiscard]] Result<int> event_fd(TcpSocketId id) const;
    [[nodiscard]] Result<int> kernel_fd(TcpSocketId id) const;
    [[nodiscard]] Result<Endpoint> local_address(TcpSocketId id) const;
    [[nodiscard]] Result<Endpoint> peer_address(TcpSocketId id) const;
    [[nodiscard]] Result<tcp::TcpInfo> info(TcpSocketId id) const;
    [[nodiscard]] Result<size_t> readable_bytes(TcpSocketId id) const;  // FIONREAD
    [[nodiscard]] Result<size_t> send_queue_bytes(TcpSocketId id) const;  // SIOCOUTQ
    [[nodiscard]] Result<size_t> unsent_bytes(TcpSocketId id) const;      // SIOCOUTQNSD
    [[nodiscard]] Status set_nodelay(TcpSocketId id, bool on);
    [[nodiscard]] Status set_keepalive(TcpSocketId id, const tcp::KeepaliveConfig& keepalive);
    // The setsockopt surface (tcp_connection.h SocketOptions, values as
    // Linux's getsockopt reads them from the shadow socket): kept for a
    // connection made later (connect, or a listener's connections, which
    // inherit it) and applied at once to a live connection.
    [[nodiscard]] Status set_options(TcpSocketId id, const tcp::SocketOptions& options);
    // Connections the engine still carries (orphans in FIN-WAIT/TIME-WAIT included).
    [[nodiscard]] size_t connection_count() const;
    // At process exit: waits (at most `limit`, the progress thread driving
    // retransmissions) until every closed connection has its data and FIN
    // acknowledged, so that data written just before exit is not lost.
    // Returns the connections still unfinished.
    size_t finish_closing(std::chrono::milliseconds limit);
    [[nodiscard]] uint64_t segments_dropped_tx() const;

    // ---- for the owning UdpEngine (engine mutex held)
    [[nodiscard]] int timer_fd() const { return timer_.get(); }
    void on_frame_locked(InterfacePort& port, packet::Bytes frame,
                         const packet::ParsedFrame& parsed);
    // Around one batch of frames from the RX rings: each connection
    // acknowledges the batch's segments once, at its end
    // (TcpConnection::batch_acks).
    void begin_rx_batch_locked() { in_rx_batch_ = true; }
    void end_rx_batch_locked();
    void progress_locked();

  private:
    struct Socket;
    struct Flow;
    struct TupleHash {
        size_t operator()(const tcp::FourTuple& tuple) const;
    };
    // The engine mutex for one application call: the segments the call put
    // on the TX rings (queued without a wake-up, see put_on_wire_locked) go
    // out with one wake-up per burst before the mutex is released.
    class OperationLock {
      public:
        explicit OperationLock(TcpEngine& engine) : engine_(engine), lock_(*engine.host_.mutex) {}
        ~OperationLock() { engine_.flush_tx_locked(); }
        OperationLock(const OperationLock&) = delete;
        OperationLock& operator=(const OperationLock&) = delete;

      private:
        TcpEngine& engine_;
        std::lock_guard<std::mutex> lock_;
    };

    [[nodiscard]] Status change_interest(TcpSocketId id, uint32_t events, bool held);
    [[nodiscard]] static tcp::Instant now();  // the steady clock, as the TCP core counts
    [[nodiscard]] Result<TcpSocketId> add_socket(int family, int kernel_fd, UniqueFd owned);
    [[nodiscard]] Result<Socket*> find_locked(TcpSocketId id) const;
    [[nodiscard]] Flow* flow_of_locked(const Socket& socket);
    [[nodiscard]] const Flow* flow_of_locked(const Socket& socket) const;
    [[nodiscard]] InterfacePort* port_for_ifindex(uint32_t ifindex) const;
    // The listening socket a segment to addr:port belongs to (0: none).
    [[nodiscard]] TcpSocketId listener_for_locked(const packet::Ipv6Addr& addr,
                                                  uint16_t port) const;
    void unsteer_binds_locked(Socket& socket);
    // A connection now Linux's: its frames go to the kernel from now on.
    void forget_handed_over_locked(Flow& flow);
    void forget_flow_locked(Flow& flow);

    // I/O (tcp_engine_io.cpp)
    void receive_segment_locked(InterfacePort& port, const packet::MacAddr& peer_mac,
                                const tcp::Segment& segment, const packet::Ipv6Addr& src,
                                const packet::Ipv6Addr& dst, tcp::Instant now);
    // Sends what the connection queued, updates its owner's readiness, arms the timer.
    void service_locked(Flow& flow, tcp::Instant now);
    // `t`: the caller's clock reading (one per burst, not one per segment).
    void transmit_locked(InterfacePort& port, const tcp::FrameAddressing& addressing,
                         const tcp::OutSegment& segment, tcp::Instant t);
    // `payload`: the segment's payload, as TcpConnection::pop_output gave it.
    void transmit_locked(InterfacePort& port, const tcp::FrameAddressing& addressing,
                         const tcp::OutSegment& segment, tcp::PayloadParts payload,
                         tcp::Instant t);
    // Queues one frame on the port's TX ring; the wake-up waits for a batch
    // (tx_kick_batch frames) or for flush_tx_locked() at the end of the call.
    void put_on_wire_locked(InterfacePort& port, std::span<const uint8_t> frame, tcp::Instant t);
    // A UMEM frame of at least `size` bytes on the TX ring of `port`
    // (completions reaped, bounded waits for room); false, counted as a
    // dropped segment that TCP retransmits, when none could be had.
    [[nodiscard]] bool take_tx_frame_locked(InterfacePort& port, size_t size,
                                            afxdp::TxFrame& frame);
    void queue_tx_frame_locked(InterfacePort& port, const afxdp::TxFrame& frame, tcp::Instant t);
    // Wakes the kernel for every frame queued on the TX rings.
    void flush_tx_locked();
    void release_held_locked(tcp::Instant now);
    // `edge`: something new happened (data, space, state): an eventfd that
    // is already readable is written again, so edge-triggered waiters wake.
    void update_readiness_locked(Socket& socket, bool edge = false);
    [[nodiscard]] uint32_t mask_locked(const Socket& socket) const;
    void arm_timer_locked(tcp::Instant deadline);
    void reap_locked();

    TcpEngineHost host_;
    TcpFaultConfig fault_config_;
    std::unique_ptr<tcp::FaultInjector> rx_faults_, tx_faults_;
    UniqueFd timer_;  // timerfd (CLOCK_MONOTONIC): the earliest connection deadline
    tcp::Instant armed_ = tcp::kNever;
    std::vector<uint32_t> port_mtu_;  // by index of host_.ports
    uint64_t iss_secret_ = 0;

    // Under the engine mutex:
    std::unordered_map<TcpSocketId, std::unique_ptr<Socket>> sockets_;
    TcpSocketId next_id_ = 1;
    std::unordered_map<tcp::FourTuple, std::unique_ptr<Flow>, TupleHash> flows_;
    std::map<std::pair<packet::Ipv6Addr, uint16_t>, TcpSocketId> listeners_;
    uint16_t ip_id_ = 0;
    std::vector<uint8_t> tx_scratch_;
    uint64_t tx_dropped_ = 0;
    // Fault injection: frames held back (reordered / delayed), by due time.
    struct HeldFrame {
        bool inbound;  // received (re-injected) or to transmit
        InterfacePort* port;
        std::vector<uint8_t> bytes;
    };
    std::multimap<tcp::Instant, HeldFrame> held_;
    // Between begin_rx_batch_locked() and end_rx_batch_locked(): the
    // connections that owe their peer the batch's ACK.
    bool in_rx_batch_ = false;
    std::vector<tcp::FourTuple> batch_acks_owed_;
    // Connections handed to the kernel: frames of theirs still on the RX
    // rings are dropped without the RST a connection nobody knows would get.
    std::unordered_set<tcp::FourTuple, TupleHash> handed_over_;
};

}  // namespace xlane::engine
