// UdpEngine: user-space UDP sockets served from AF_XDP rings on every
// interface where xlane is attached, each backed by a kernel socket for
// everything the fast path does not carry (fragments, other routes, misses).
#pragma once

#include <sys/uio.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "afxdp/xsk_port.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "engine/engine_stats.h"
#include "engine/interface_port.h"
#include "engine/progress_thread.h"
#include "engine/tcp_engine.h"
#include "net/neighbour_table.h"
#include "net/route_resolver.h"
#include "steering/address.h"
#include "udp/datagram_queue.h"
#include "udp/reassembler.h"
#include "udp/udp_demux.h"
#include "udp/udp_encoder.h"

namespace xlane::engine {

using SocketId = udp::UdpSocketId;

struct UdpEngineConfig {
    // Interfaces to serve; empty: every interface of this network namespace
    // that xlane is attached to (its pin directory exists).
    std::vector<std::string> interfaces;
    // Mode, ring and UMEM sizes of every AF_XDP socket (ifindex/queue ignored).
    afxdp::XskPortConfig xsk;
    // The internal thread that drives RX while no application thread calls in.
    bool progress_thread = true;
    // How often it wakes with nothing to do (reassembly timeouts, TX completions).
    std::chrono::milliseconds progress_tick{100};
    // Runs first on the progress thread (see ProgressThread::start).
    std::function<void()> on_progress_thread_start;
    // A send whose next hop has no MAC yet waits this long for the kernel's
    // ARP/ND, then the datagram is dropped (counted) and send still succeeds,
    // as the kernel's UDP does when resolution fails.
    std::chrono::milliseconds neighbour_wait{1000};
    // A send waits at most this long for TX ring or UMEM room (ENOBUFS after).
    std::chrono::milliseconds tx_ring_wait{100};
    // Test hook: faults injected into fast-path TCP segments (off by default).
    TcpFaultConfig tcp_faults;
    // Frames taken off all RX rings per poll_rx() call (later ones wait for the next).
    size_t rx_budget = 1024;
    // Called on the progress thread at most every `usage_interval` with
    // usage() (the preload library publishes it for `xlane stats`), so that
    // no sending or receiving call ever pays for it.
    std::function<void(const std::vector<PortUsageSample>&)> on_usage;
    std::chrono::milliseconds usage_interval{200};
    udp::ReassemblyConfig reassembly;
};

struct SendFlags {
    // MSG_DONTWAIT or O_NONBLOCK: EAGAIN at once when the TX ring or the
    // UMEM has no room, instead of waiting up to tx_ring_wait (then ENOBUFS).
    bool nonblocking = false;
    // More datagrams follow in the same call (sendmmsg): the TX wake-up may
    // wait for them; the last one goes without it.
    bool more = false;
};

struct ReceiveFlags {
    bool peek = false;  // MSG_PEEK
    // Move the kernel socket's datagrams into an empty queue first (one
    // system call). A caller that spins, or that sleeps on the eventfd
    // anyway, leaves that to the progress thread and makes none.
    bool drain_kernel = true;
    // The caller's non-blocking receives on this socket keep coming back
    // empty (it polls: sockperf --nonblocked, busy-polling loops). With a
    // progress thread, which drains the kernel sockets as they fill, such a
    // receive makes no system call, and an empty one renews the poller's
    // lease on the rings (RxTakers::poller_until_ns).
    bool polling_again = false;
};

// Threading contract (one rule): every public method takes the engine mutex
// for all its work on rings, queues, demux and socket table, so any thread
// may call any method. The rings are single-producer/single-consumer and
// are only ever touched under that mutex; the progress thread takes it too
// for each round of work and holds nothing while it sleeps in poll(). Route
// and neighbour lookups (their own locks, netlink round trips) and a send's
// bounded wait for a neighbour happen outside the engine mutex; a send's
// bounded wait for TX ring room happens inside it. event_fd() and
// kernel_fd() may be polled from any thread without the mutex.
//
// Readiness: each socket's eventfd is readable exactly while its receive
// queue is non-empty (written on the empty -> non-empty transition, read
// back on the non-empty -> empty one, both under the mutex; MSG_PEEK leaves
// it as it is). Datagrams that the kernel delivered to the socket's kernel
// socket (IP fragments, which xlane_steer passes to the kernel, and flows
// not steered) are moved into the same queue, by the progress thread or by
// a receive() that finds the queue empty, so the eventfd is the only
// readiness an owner needs to watch. An error the kernel socket reports
// while drained (ECONNREFUSED after an ICMP port unreachable) is kept for
// the next receive() and keeps the eventfd readable until then, as the
// kernel socket's POLLERR would have woken its owner.
class UdpEngine {
  public:
    // Opens an InterfacePort per interface (lock, stale-entry cleanup, one
    // AF_XDP socket per RX queue), netlink route and neighbour state, and
    // starts the progress thread.
    [[nodiscard]] static Result<std::unique_ptr<UdpEngine>> create(const UdpEngineConfig& config);
    // Stops the progress thread, removes every steering entry of its
    // sockets, empties its xlane_xsks slots and releases the interfaces.
    ~UdpEngine();
    UdpEngine(const UdpEngine&) = delete;
    UdpEngine& operator=(const UdpEngine&) = delete;

    // A new socket (AF_INET or AF_INET6) with its own kernel UDP socket.
    [[nodiscard]] Result<SocketId> open(int family);
    // A socket over an existing kernel UDP socket that the caller keeps
    // owning (the preload library's application fd); it must be unbound and
    // unconnected, and it must outlive close(id).
    [[nodiscard]] Result<SocketId> adopt(int kernel_fd);

    // IPV6_V6ONLY, before bind/connect.
    [[nodiscard]] Status set_v6only(SocketId id, bool v6only);
    // SO_RCVBUF as Linux applies it (doubled, capped by rmem_max); returns
    // the budget getsockopt(SO_RCVBUF) would report.
    [[nodiscard]] Result<size_t> set_rcvbuf(SocketId id, size_t bytes);

    // Binds the kernel socket (conflicts, port 0 -> ephemeral port), then
    // steers the bound 3-tuple(s) here: a dual-stack :: enters both
    // wildcards unless v6only. Returns the bound endpoint. On a steering
    // error the kernel socket stays bound and the socket is left to the kernel.
    [[nodiscard]] Result<Endpoint> bind(SocketId id, const Endpoint& local);
    // Connects the kernel socket (it picks the local address and, when
    // unbound, the port), then steers the exact 5-tuple instead of the bind:
    // as in the kernel, a connected socket receives from its peer only.
    [[nodiscard]] Result<Endpoint> connect(SocketId id, const Endpoint& remote);
    // connect(AF_UNSPEC): dissolves the kernel socket's association, removes
    // the flow and, when the socket keeps a bound port (bound explicitly),
    // steers that bind again. Returns the local endpoint, nullopt when the
    // kernel released an automatically chosen port.
    [[nodiscard]] Result<std::optional<Endpoint>> disconnect(SocketId id);
    // The first step of handing a socket back to its kernel socket: removes
    // its steering entries and stops moving the kernel socket's datagrams
    // into the queue, which keeps what it holds (receive() still serves
    // them, and nothing else). close() once the queue is empty.
    [[nodiscard]] Status release(SocketId id);

    // Sends one datagram to `destination` (or the connected peer). Routed
    // out of a served interface: encoded (fragmented as needed) onto the
    // AF_XDP TX ring; any other route: through the kernel socket. An unbound
    // socket is first bound to the wildcard, like the kernel's autobind.
    // Returns the payload length.
    // Datagrams sent back to back may wait (tens of µs, see XskPortConfig)
    // for a batched TX wake-up, which receive(), poll_rx(), close() and the
    // progress thread (within 200 µs) always make.
    [[nodiscard]] Result<size_t> send(SocketId id, std::span<const iovec> payload,
                                      const std::optional<Endpoint>& destination = std::nullopt,
                                      SendFlags flags = {});
    // The next datagram (EAGAIN when none), after draining the RX rings.
    [[nodiscard]] Result<udp::ReceivedDatagram> receive(SocketId id, std::span<const iovec> buffer,
                                                        ReceiveFlags flags = {});

    // Removes the socket's steering entries and forgets it (closing the
    // kernel socket when open() created it).
    [[nodiscard]] Status close(SocketId id);

    // Drains every RX ring (up to rx_budget frames) into socket queues and
    // refills the fill rings; returns frames processed.
    size_t poll_rx();

    // An application thread busy-polls the RX rings (through receive() or
    // poll_rx()) from rx_spin_begin() to rx_spin_end(): meanwhile the
    // progress thread does not sleep on the AF_XDP sockets (a wake-up per
    // frame would only take the spinner's CPU and the mutex). `to_sleep`:
    // the spinner now sleeps; the last one wakes the progress thread to
    // watch the rings again. A spin that ended otherwise (with data, mostly;
    // or an error, a timeout within the spin, a kernel fd ready) renews the
    // poller lease: its thread is expected back for the next message (a
    // request/response turn), and a progress thread that went back to the
    // rings meanwhile would wake for every frame of that exchange, taking
    // the spinners' CPUs and the mutex (measured: 10,000 wake-ups a second
    // in a TCP ping-pong). After the lease it looks again within
    // ProgressThread::kSpunRxRecheck. (A renewal racing with another
    // thread's end of the lease can keep it: bounded the same way.)
    void rx_spin_begin() { rx_takers_.spinners.fetch_add(1); }
    void rx_spin_end(bool to_sleep);
    // A thread that polls with non-blocking receives found nothing again
    // (ReceiveFlags::polling_again does this for UDP): the progress thread
    // leaves the rings to it for a short lease more. Takes no lock.
    void renew_poller_lease();
    // A thread goes to sleep: whatever it polled before, the lease ends now,
    // and the progress thread watches the rings again at once.
    void rx_polling_stopped();
    // Whether the progress thread leaves the rings to spinners or a poller
    // now (for tests and stats).
    [[nodiscard]] bool rx_left_to_takers() const;
    // CLOCK_MONOTONIC ns (RxTakers::now_ns) until which the poller lease
    // runs, 0 when none was taken or it was ended (for tests).
    [[nodiscard]] uint64_t poller_lease_until_ns() const {
        return rx_takers_.poller_until_ns.load(std::memory_order_relaxed);
    }

    [[nodiscard]] Result<int> event_fd(SocketId id) const;
    [[nodiscard]] Result<int> kernel_fd(SocketId id) const;
    [[nodiscard]] Result<size_t> queued(SocketId id) const;  // datagrams waiting
    // FIONREAD/SIOCINQ of a UDP socket: the next datagram's payload length,
    // 0 when none waits (the kernel socket's datagrams are moved in first).
    [[nodiscard]] Result<size_t> next_length(SocketId id);
    [[nodiscard]] Result<SocketStats> socket_stats(SocketId id) const;
    [[nodiscard]] std::vector<std::pair<std::string, PortStats>> port_stats() const;
    // Counters of every port and the ring and UMEM use of each of its
    // AF_XDP sockets (ring indexes under the mutex, one getsockopt per
    // socket outside it).
    [[nodiscard]] std::vector<PortUsageSample> usage() const;
    // The socket's drops are also added to these (null to stop); see DropCounters.
    [[nodiscard]] Status set_drop_counters(SocketId id, DropCounters counters);
    [[nodiscard]] std::vector<std::string> interfaces() const;
    // The long-lived descriptors the engine owns (AF_XDP sockets, interface
    // locks, netlink sockets, epoll), read without the mutex (they never
    // change after create()): a forked child closes its inherited copies so
    // that it holds neither the interface locks nor the AF_XDP sockets,
    // which would keep the parent's xlane_xsks slots (and its flows) alive.
    [[nodiscard]] std::vector<int> process_descriptors() const;
    // The AF_XDP sockets (one per RX queue and interface), fixed after
    // create(): a thread about to sleep for a datagram may poll them too and
    // run poll_rx() itself when they turn readable, one wake-up instead of
    // two (the progress thread's, then its own on the eventfd).
    [[nodiscard]] std::vector<int> rx_descriptors() const;
    // Stale entries removed at start, summed over interfaces.
    [[nodiscard]] StaleRemoval stale_removed() const;
    // The TCP sockets served from the same ports, mutex and progress thread.
    [[nodiscard]] TcpEngine& tcp() { return *tcp_; }

  private:
    struct Socket;
    struct TxPlan;

    explicit UdpEngine(const UdpEngineConfig& config);
    [[nodiscard]] Result<SocketId> add_socket(int kernel_fd, UniqueFd owned, int family);
    [[nodiscard]] Result<Socket*> find_locked(SocketId id) const;
    [[nodiscard]] Result<Endpoint> bind_locked(SocketId id, Socket& socket, const Endpoint& local);
    [[nodiscard]] Status steer_bind_locked(SocketId id, Socket& socket);
    void unsteer_locked(Socket& socket);
    void stop_serving_locked(Socket& socket);
    [[nodiscard]] InterfacePort* port_for_ifindex(uint32_t ifindex);

    // RX path (udp_engine_rx.cpp)
    size_t poll_rx_locked();
    // A TCP send takes in what the rings hold first (the ACKs that free its
    // send buffer), without waking the kernel for frames it left batched.
    // When frames were there (a transfer in flight) the sending thread takes
    // the poller lease: it comes back with the next send, and a progress
    // thread woken by each ACK would only queue for the mutex it holds.
    void take_rx_for_send_locked();
    size_t receive_rx_locked();
    void handle_frame(InterfacePort& port, packet::Bytes frame, uint64_t now_mono_ns,
                      uint64_t now_real_ns);
    void deliver(InterfacePort& port, packet::Bytes frame, const packet::ParsedFrame& parsed,
                 uint64_t now_real_ns);
    void push(Socket& socket, const udp::DatagramMeta& meta, packet::Bytes payload,
              bool from_kernel);
    size_t drain_kernel_locked(Socket& socket);
    // The eventfd made to say what readable() says (no system call when it does).
    void sync_event_locked(Socket& socket);
    void progress_round();
    // On the progress thread: config_.on_usage(usage()) when the interval passed.
    void report_usage_when_due();

    // TX path (udp_engine_tx.cpp)
    [[nodiscard]] Result<size_t> transmit_locked(InterfacePort& port, Socket& socket,
                                                 const TxPlan& plan, std::span<const iovec> payload,
                                                 size_t length, SendFlags flags);
    // Wakes the kernel for every TX frame a send left waiting (deferred wake-ups).
    void flush_tx_locked();
    [[nodiscard]] Result<size_t> send_via_kernel(int kernel_fd, int family,
                                                 std::span<const iovec> payload,
                                                 const std::optional<Endpoint>& destination);

    UdpEngineConfig config_;
    xlane_steer_value owner_{};
    std::unique_ptr<net::RouteResolver> routes_;
    std::unique_ptr<net::NeighbourTable> neighbours_;

    mutable std::mutex mutex_;  // the engine mutex: everything below
    std::vector<std::unique_ptr<InterfacePort>> ports_;
    std::unordered_map<SocketId, std::unique_ptr<Socket>> sockets_;
    SocketId next_id_ = 1;
    udp::UdpDemux demux_;
    udp::Reassembler reassembler_;
    UniqueFd kernel_sockets_epoll_;  // EPOLLIN of every kernel socket, data = SocketId
    uint32_t ip_id_ = 0;
    std::vector<afxdp::TxFrame> tx_frames_;  // UMEM frames a datagram is encoded into
    std::vector<udp::FrameSlot> tx_slots_;
    std::vector<uint8_t> kernel_rx_scratch_;
    size_t default_rcvbuf_ = 212992;
    size_t rmem_max_ = 212992;
    std::chrono::steady_clock::time_point next_usage_report_{};  // progress thread only

    // Destroyed before the ports it sends on (it removes its steering entries).
    std::unique_ptr<TcpEngine> tcp_;
    // Declared last: stopped (joined) before anything it uses is destroyed.
    // The socket whose receive() is polling the rings: push() leaves its
    // eventfd to that receive (sync_event_locked). Engine mutex.
    const Socket* receiving_socket_ = nullptr;
    RxTakers rx_takers_;  // see rx_spin_begin(), ReceiveFlags::polling_again; read by the progress thread
    std::unique_ptr<ProgressThread> progress_;
};

}  // namespace xlane::engine
