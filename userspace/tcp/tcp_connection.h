// TcpConnection: one TCP connection as a sans-I/O state machine (RFC 9293 with
// RFC 5961, 6298, 7323, 2018, 6582/6675, 9438); the caller moves the bytes.
//
// Design
// ------
// The object never touches a socket, a clock or a thread. Everything that
// happens to a connection enters through four doors and leaves through three:
//
//   in:  on_segment(segment, now)    a decoded segment (tcp_segment.h) the
//                                    caller demultiplexed to this connection
//        send / recv / shutdown /    the socket API, already reduced to byte
//        close / abort (…, now)      spans and errno-style results (IoResult)
//        on_timer(now)               when now >= next_deadline()
//        set_options / set_*         NODELAY, CORK, QUICKACK, keepalive, user
//                                    timeout, congestion control, buffer
//                                    sizes (the setsockopt surface)
//   out: pop_output()                segments to transmit, in order, each with
//                                    its IP pair, ready for encode_segment()
//        next_deadline()             the earliest timer (kNever when none)
//        take_events() / state() /   edge events (readable, writable,
//        error() / info()            established, closed) and level queries;
//                                    error() is the SO_ERROR value
//                                    (ECONNREFUSED, ETIMEDOUT, ECONNRESET)
//
// `now` is a monotonic Instant from the caller: a steady clock in production,
// a virtual clock in tests, so whole transfers under loss run deterministically
// in milliseconds of real time. A passive open starts at TcpListener, which
// answers SYNs with new connections in SYN-RECEIVED and hands them out from
// accept() once established; segments that match nothing get reset_for().
//
// Inside, the send side keeps bytes once: the send ByteRing holds unacked and
// unsent data, and a list of TxRecords (one per transmitted segment: its
// sequence range, SYN/FIN, SACKed/lost/retransmitted marks and send time) is
// the scoreboard for RTO, fast retransmit and SACK; its send times give RTT
// samples in microseconds (timestamps only when a retransmission was acked,
// per Karn and RFC 7323 §4). Loss recovery follows
// RFC 6582 (recovery point, partial-ACK retransmission, full-ACK exit) with
// RFC 6675 pipe accounting; without SACK, duplicate ACKs stand in for SACKed
// segments as Linux does. The window arithmetic lives behind
// CongestionControl (NewReno or CUBIC). The receive side keeps in-order bytes
// in a ByteRing and out-of-order data in a ReassemblyQueue; both together
// never exceed the advertised window, which never exceeds the receive buffer
// (plus less than one window-scale unit of rounding), and the right edge of
// the advertised window never moves left. Buffer sizes, timers and retry
// counts are TcpConfig fields with Linux's defaults.
//
// Not implemented yet: RACK-TLP (a lost retransmission waits for the RTO),
// F-RTO / undo of spurious retransmissions, D-SACK, ECN, urgent data (URG is
// ignored, its bytes are ordinary data), SYN cookies, reuse of a TIME-WAIT
// pair by a new SYN (RFC 6191), path MTU discovery (TcpConfig::mtu is the
// route MTU the caller looked up).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "packet/wire.h"
#include "tcp/byte_ring.h"
#include "tcp/congestion_control.h"
#include "tcp/reassembly_queue.h"
#include "tcp/rtt_estimator.h"
#include "tcp/tcp_segment.h"
#include "tcp/tcp_time.h"

namespace xlane::tcp {

// RFC 9293 §3.3.2; numbered as Linux's TCP_* states are not (info() maps).
enum class TcpState : uint8_t {
    kClosed,
    kListen,
    kSynSent,
    kSynReceived,
    kEstablished,
    kFinWait1,
    kFinWait2,
    kCloseWait,
    kClosing,
    kLastAck,
    kTimeWait,
};
[[nodiscard]] std::string_view to_string(TcpState state);
// Past the handshake (RFC 9293's synchronized states; CLOSED after one too
// counts as not).
[[nodiscard]] bool synchronized(TcpState state);

struct TcpEndpoint {
    packet::Ipv6Addr addr{};  // IPv4-mapped for IPv4
    uint16_t port = 0;        // host order
    friend bool operator==(const TcpEndpoint&, const TcpEndpoint&) = default;
};

struct FourTuple {
    TcpEndpoint local;
    TcpEndpoint remote;
    friend bool operator==(const FourTuple&, const FourTuple&) = default;
};

struct KeepaliveConfig {
    bool enabled = false;                          // SO_KEEPALIVE
    Duration idle = std::chrono::seconds(7200);    // TCP_KEEPIDLE
    Duration interval = std::chrono::seconds(75);  // TCP_KEEPINTVL
    uint32_t probes = 9;                           // TCP_KEEPCNT
};

// Defaults follow Linux's (net.ipv4.tcp_* sysctls) so the two behave alike.
struct TcpConfig {
    uint32_t mtu = 1500;  // route MTU: MSS = mtu - IP header - 20
    // TCP_MAXSEG set before the SYN (0: none): the MSS announced and the
    // largest segment sent are at most this, as Linux's user_mss.
    uint32_t user_mss = 0;
    // TCP_NOTSENT_LOWAT: send() queues new bytes only while fewer than this
    // are unsent, and the socket polls writable only below half of it
    // (Linux's tcp_stream_memory_free, with poll's wake rule).
    uint32_t notsent_lowat = UINT32_MAX;
    size_t send_buffer = 256 * 1024;
    size_t receive_buffer = 256 * 1024;  // also bounds the out-of-order queue
    // A tighter bound on out-of-order bytes (0: the receive window is the
    // bound). Segments beyond it are dropped and left to retransmission.
    size_t out_of_order_limit = 0;
    bool window_scaling = true;
    bool timestamps = true;
    bool sack = true;
    CongestionAlgorithm congestion = CongestionAlgorithm::kCubic;
    uint32_t initial_window_segments = 10;  // RFC 6928
    RttEstimator::Limits rto{};
    uint32_t syn_retries = 6;
    uint32_t synack_retries = 5;
    uint32_t retries2 = 15;  // RTOs before ETIMEDOUT on an established connection
    Duration time_wait = std::chrono::seconds(60);          // 2*MSL
    Duration fin_wait2_timeout = std::chrono::seconds(60);  // orphans only
    Duration delayed_ack = std::chrono::milliseconds(40);
    Duration cork_ceiling = std::chrono::milliseconds(200);
    uint32_t quickack_segments = 16;  // ACK every segment at the start
    uint32_t challenge_acks_per_second = 1000;
    KeepaliveConfig keepalive{};
    Duration user_timeout{0};  // TCP_USER_TIMEOUT; 0 = off
    bool nodelay = false;
    bool cork = false;  // TCP_CORK set before the connection existed
    // RFC 6528 ISN secret (also keys the timestamp offsets); 0 = a random
    // per-process key. Tests set it for reproducible sequence numbers.
    uint64_t iss_secret = 0;
    // Tests only: this ISN instead of RFC 6528's (to put the sequence-number
    // wrap where a test wants it). Never set in production: ISNs must be
    // unpredictable.
    std::optional<uint32_t> fixed_iss;
};

// The setsockopt surface of a TCP socket as Linux's getsockopt reports it:
// the preload library sets an option on the kernel shadow socket (which
// validates it as Linux does), reads every value back and hands them here,
// so the engine runs exactly what Linux would. apply_options() puts them in a
// TcpConfig (sockets not connected yet, listeners, whose connections inherit
// it); TcpConnection::set_options() applies them to a live connection.
struct SocketOptions {
    bool nodelay = false;  // TCP_NODELAY
    bool cork = false;     // TCP_CORK
    // TCP_QUICKACK as the application just set it; nullopt leaves the ACK mode
    // alone (Linux's quick-ACK state is transient: not read back, not inherited).
    std::optional<bool> quickack;
    KeepaliveConfig keepalive{};  // SO_KEEPALIVE, TCP_KEEPIDLE/KEEPINTVL/KEEPCNT
    Duration user_timeout{0};     // TCP_USER_TIMEOUT
    // TCP_CONGESTION; nullopt for an algorithm Linux has and the engine does
    // not implement (e.g. "bbr"): the connection keeps the one it runs.
    std::optional<CongestionAlgorithm> congestion = CongestionAlgorithm::kCubic;
    // SO_SNDBUF / SO_RCVBUF as read back (Linux doubles what was set, for
    // its bookkeeping overhead); nullopt when the application never set them
    // and the engine keeps its own (TcpConfig) sizes, as Linux autotunes.
    std::optional<size_t> send_buffer;
    std::optional<size_t> receive_buffer;
    uint32_t user_mss = 0;  // TCP_MAXSEG as set (0: never set)
    // TCP_NOTSENT_LOWAT in effect: the socket's own value, or when it is 0
    // the namespace's net.ipv4.tcp_notsent_lowat (UINT32_MAX by default).
    uint32_t notsent_lowat = UINT32_MAX;
};

// The engine's byte bounds from Linux's effective (doubled) buffer sizes.
// Receive: Linux advertises tcp_win_from_space(sk_rcvbuf), half of it with
// the default tcp_adv_win_scale = 1 (kernels >= 6.6 start from the same 50%
// scaling ratio), so the window bound is half the effective SO_RCVBUF, i.e.
// what the application asked for. Send: Linux charges skb truesize against
// sk_sndbuf, close to the payload for full-size segments, so the send queue
// (unacknowledged + unsent bytes) is bounded by the effective SO_SNDBUF.
[[nodiscard]] constexpr size_t receive_window_from_rcvbuf(size_t effective) {
    return effective / 2;
}
[[nodiscard]] constexpr size_t send_queue_from_sndbuf(size_t effective) {
    return effective;
}

// The TcpConfig a connection created now starts from (quickack is ignored).
void apply_options(TcpConfig& config, const SocketOptions& options);

// A segment to transmit: encode_segment(header, options, payload, src, dst).
// A data segment's bytes stay in the connection's send buffer until it is
// popped (buffered_len of them, from sequence number buffered_seq): the engine
// encodes them from there into the frame, with no copy in between; tests,
// and a segment still queued when the buffer lets its bytes go, get them
// copied into `payload`.
struct OutSegment {
    packet::Ipv6Addr src_addr{};
    packet::Ipv6Addr dst_addr{};
    SegmentHeader header;
    TcpOptions options;
    std::vector<uint8_t> payload;
    uint32_t buffered_seq = 0;
    uint32_t buffered_len = 0;

    [[nodiscard]] size_t payload_size() const { return payload.size() + buffered_len; }
};

// What Linux needs to carry on an established connection in a kernel
// socket (TCP_REPAIR, as CRIU restores one): sequence and window state,
// the negotiated options, and the data of both queues.
struct HandoverState {
    uint32_t snd_una = 0;     // first unacknowledged byte: send_queue starts here
    uint32_t snd_wl1 = 0;     // segment sequence of the last window update
    uint32_t snd_wnd = 0;     // the peer's window, in bytes
    uint32_t max_window = 0;  // the largest window the peer offered
    uint32_t rcv_nxt = 0;     // receive_queue ends just before it
    uint32_t rcv_wup = 0;     // rcv_nxt as of the last window we advertised
    uint32_t rcv_wnd = 0;     // that window, in bytes
    uint32_t peer_mss = 0;    // the MSS the peer announced
    bool window_scaling = false;
    uint8_t snd_wscale = 0, rcv_wscale = 0;
    bool sack = false;
    bool timestamps = false;
    uint32_t ts_now = 0;  // our timestamp clock now (TCP_TIMESTAMP)
    std::vector<uint8_t> send_queue;     // unacknowledged, then unsent
    std::vector<uint8_t> receive_queue;  // in order, not read yet
    // The peer's FIN arrived (and counts in rcv_nxt): repair cannot say so,
    // so the kernel, taking it as ESTABLISHED, would wait for another.
    bool peer_fin = false;
};

// Socket-call result: bytes moved, or a positive errno (EAGAIN: try later).
// recv(): bytes == 0 && error == 0 is end of stream.
struct IoResult {
    size_t bytes = 0;
    int error = 0;
};

namespace event {
inline constexpr uint32_t kReadable = 1;     // data, EOF or an error to read
inline constexpr uint32_t kWritable = 2;     // send buffer space
inline constexpr uint32_t kEstablished = 4;  // handshake completed
inline constexpr uint32_t kClosed = 8;       // reached CLOSED (see error())
}  // namespace event

// The values Linux reports in struct tcp_info, in our units (µs, bytes,
// segments as Linux counts them).
struct TcpInfo {
    TcpState state = TcpState::kClosed;
    uint8_t ca_state = 0;  // 0 open, 1 disorder, 3 recovery, 4 loss (TCP_CA_*)
    uint8_t retransmits = 0;
    uint8_t probes = 0;
    uint8_t backoff = 0;
    bool opt_timestamps = false, opt_sack = false, opt_wscale = false;
    uint8_t snd_wscale = 0, rcv_wscale = 0;
    uint32_t rto_us = 0, ato_us = 0;
    uint32_t snd_mss = 0, rcv_mss = 0, advmss = 0, pmtu = 0;
    uint32_t unacked = 0, sacked = 0, lost = 0, retrans = 0;
    uint32_t last_data_sent_ms = 0, last_data_recv_ms = 0, last_ack_recv_ms = 0;
    uint32_t rtt_us = 0, rttvar_us = 0;
    uint32_t snd_ssthresh = 0, snd_cwnd = 0;  // segments
    uint32_t rcv_space = 0, snd_wnd = 0, rcv_wnd = 0;
    uint32_t total_retrans = 0;
    uint64_t bytes_sent = 0, bytes_retrans = 0, bytes_acked = 0, bytes_received = 0;
    uint32_t segs_out = 0, segs_in = 0, data_segs_out = 0, data_segs_in = 0;
    uint32_t notsent_bytes = 0;
    // xlane additions (not in Linux's struct tcp_info).
    uint32_t zero_window_probes = 0;  // persist probes sent over the connection's life
    uint32_t keepalive_probes = 0;
    CongestionAlgorithm congestion = CongestionAlgorithm::kCubic;
};

class TcpConnection {
  public:
    // Active open: queues the SYN.
    static std::unique_ptr<TcpConnection> connect(const TcpConfig& config, const FourTuple& tuple,
                                                  Instant now);
    // Passive open from a SYN the listener accepted: queues the SYN-ACK.
    static std::unique_ptr<TcpConnection> from_syn(const TcpConfig& config, const FourTuple& tuple,
                                                   const Segment& syn, Instant now);

    TcpConnection(const TcpConnection&) = delete;
    TcpConnection& operator=(const TcpConnection&) = delete;
    ~TcpConnection();

    // ---- input
    void on_segment(const Segment& segment, Instant now);
    void on_timer(Instant now);
    // A burst of segments taken from the wire at once (one batch of the RX
    // rings): with `on`, the every-second-segment ACK (RFC 5681 §4.2) waits
    // for flush_batch_ack(), so the burst is acknowledged once, as GRO makes
    // Linux do. ACKs that must leave at once (out of order, duplicates,
    // window updates, quick ACKs) still do.
    void batch_acks(bool on) { batch_acks_ = on; }
    [[nodiscard]] bool batch_ack_pending() const { return batch_ack_pending_; }
    void flush_batch_ack(Instant now);

    // ---- application
    IoResult send(std::span<const uint8_t> bytes, Instant now);
    IoResult recv(std::span<uint8_t> out, Instant now);
    // shutdown(SHUT_WR) sends FIN after the queued data; SHUT_RD makes recv
    // report end of stream. ENOTCONN when there is nothing to shut.
    int shutdown(bool read, bool write, Instant now);
    // close(): graceful (FIN) unless unread data makes it abortive (RST, as
    // Linux and RFC 2525 do); the connection lingers as an orphan until done.
    void close(Instant now);
    // abort(): RST now (SO_LINGER with zero timeout).
    void abort(Instant now);

    void set_nodelay(bool on, Instant now);
    void set_cork(bool on, Instant now);
    void set_quickack(bool on, Instant now);
    void set_keepalive(const KeepaliveConfig& keepalive, Instant now);
    void set_user_timeout(Duration timeout) { config_.user_timeout = timeout; }
    // TCP_CONGESTION on a live connection (Linux allows it): the new
    // algorithm starts from the current cwnd and ssthresh, with fresh state of
    // its own (CUBIC begins a new epoch at the next ACK, NewReno's byte
    // counter starts at zero), as Linux's tcp_reinit_congestion_control.
    void set_congestion(CongestionAlgorithm algorithm);
    // Send queue bound in bytes (unacknowledged + unsent); shrinking it below
    // what is queued keeps the data and refuses writes until it drains.
    void set_send_buffer(size_t bytes);
    // Receive window bound in bytes. The window scale was chosen at SYN time
    // from the buffer then: a later size only moves the window within what
    // that scale can express (65535 << wscale), and an advertised right edge
    // never moves left, as with Linux.
    void set_receive_buffer(size_t bytes);
    // Every option at once; only what changed takes effect (a keepalive
    // timer restarts only when the keepalive settings change).
    void set_options(const SocketOptions& options, Instant now);

    // ---- output
    [[nodiscard]] bool has_output() const { return !output_.empty(); }
    // The next segment, its payload copied into it.
    std::optional<OutSegment> pop_output();
    // The next segment and, in `payload`, views of its payload: into the send
    // buffer (valid until the connection's next call) or into the returned
    // segment's own bytes.
    std::optional<OutSegment> pop_output(PayloadParts& payload);
    [[nodiscard]] Instant next_deadline() const;
    // Edge events since the last call (event:: bits).
    uint32_t take_events();

    // ---- queries
    [[nodiscard]] TcpState state() const { return state_; }
    [[nodiscard]] int error() const { return error_; }
    [[nodiscard]] const FourTuple& tuple() const { return tuple_; }
    [[nodiscard]] bool readable() const;
    [[nodiscard]] bool writable() const;
    // CLOSED, nothing left to transmit: the owner may drop the object.
    [[nodiscard]] bool finished() const { return state_ == TcpState::kClosed && output_.empty(); }
    [[nodiscard]] size_t readable_bytes() const { return rcvbuf_.size(); }
    // The peer's FIN arrived in order (end of stream once the bytes are read).
    [[nodiscard]] bool fin_received() const { return fin_received_; }
    // MSG_PEEK: copies in-order bytes from `offset` without consuming them.
    size_t peek(size_t offset, std::span<uint8_t> out) const { return rcvbuf_.peek(offset, out); }
    [[nodiscard]] size_t send_queue_bytes() const { return sndbuf_.size(); }
    // Queued and never sent (SIOCOUTQNSD, what TCP_NOTSENT_LOWAT bounds).
    [[nodiscard]] uint32_t unsent_bytes() const;
    [[nodiscard]] size_t out_of_order_bytes() const { return ooo_.bytes(); }
    [[nodiscard]] uint32_t effective_mss() const { return mss_; }
    [[nodiscard]] TcpInfo info(Instant now) const;
    // The connection as Linux would take it over: only ESTABLISHED with no
    // FIN either way and nothing queued out of order (nullopt otherwise).
    [[nodiscard]] std::optional<HandoverState> handover_state(Instant now) const;
    // A closed connection whose FIN the peer has not acknowledged (FIN-WAIT-1,
    // CLOSING, LAST-ACK) as the state of an ESTABLISHED one with the same
    // unacknowledged data and nothing to read: Linux takes it over, and its
    // close() then sends the FIN after that data, at the same sequence number.
    [[nodiscard]] std::optional<HandoverState> orphan_handover_state(Instant now) const;
    [[nodiscard]] const TcpConfig& config() const { return config_; }

  private:
    struct TxRecord {
        uint32_t seq = 0;
        uint32_t data_len = 0;
        bool syn = false, fin = false;
        bool sacked = false;
        bool lost = false;
        bool retransmitted = false;  // in the current recovery episode
        bool ever_retransmitted = false;
        Instant sent_at{0};
        [[nodiscard]] uint32_t seq_len() const { return data_len + (syn ? 1 : 0) + (fin ? 1 : 0); }
        [[nodiscard]] uint32_t end() const { return seq + seq_len(); }
    };

    TcpConnection(const TcpConfig& config, const FourTuple& tuple, Instant now);

    // Segment processing (RFC 9293 §3.10.7).
    void on_segment_syn_sent(const Segment& seg, Instant now);
    void on_segment_synchronized(const Segment& seg, Instant now);
    bool sequence_acceptable(const Segment& seg) const;
    bool process_ack(const Segment& seg, Instant now);  // false: drop the segment
    void process_text(const Segment& seg, Instant now);
    void process_fin(Instant now);
    // Options from the peer's SYN or SYN-ACK: only what both sides offered.
    void negotiate(const Segment& syn);
    void update_send_window(const Segment& seg);
    void process_sack(const Segment& seg, bool& new_sacks);
    void mark_sack_losses();
    [[nodiscard]] uint32_t pipe() const;
    [[nodiscard]] uint32_t sacked_records() const;
    void enter_recovery(Instant now);
    void syn_acked(const Segment& seg, Instant now);
    [[nodiscard]] uint32_t flight() const { return snd_nxt_ - snd_una_; }

    // Output.
    void transmit(Instant now, bool force_partial = false);
    void send_record(TxRecord& record, Instant now, bool retransmission);
    void send_ack(Instant now);
    void send_probe(Instant now);  // keepalive / zero-window probe (SEQ = SND.UNA - 1)
    void send_challenge_ack(Instant now);
    void send_reset(uint32_t seq, Instant now);
    OutSegment make_segment(uint32_t seq, uint8_t flags, Instant now);
    // Notes [seq, end) as received twice, for the next ACK's D-SACK block.
    void note_duplicate(uint32_t seq, uint32_t end);
    // Copies a queued segment's payload out of the send buffer into itself.
    void take_payload(OutSegment& s) const;
    uint16_t window_field();
    void ack_sent(Instant now);
    void schedule_ack(Instant now, bool immediate);

    // Timers.
    void arm_rto(Instant now);
    void on_rto(Instant now);
    void on_persist(Instant now);
    void on_keepalive(Instant now);
    void update_persist(Instant now);
    void restart_keepalive(Instant now);

    // Transitions.
    void set_state(TcpState state, Instant now);
    void enter_established(Instant now);
    void terminate(int error, Instant now);  // to CLOSED with SO_ERROR = error
    void enter_time_wait(Instant now);

    [[nodiscard]] uint32_t ts_now(Instant now) const;
    [[nodiscard]] uint32_t our_mss() const;
    [[nodiscard]] bool synchronized() const;
    [[nodiscard]] size_t receive_space() const;
    [[nodiscard]] size_t send_room() const;  // bytes send() may still queue
    // send_room() within TCP_NOTSENT_LOWAT: what may be queued unsent now.
    [[nodiscard]] size_t send_allowance() const;
    [[nodiscard]] HandoverState handover_fields(Instant now, bool with_receive_queue) const;

    TcpConfig config_;
    FourTuple tuple_;
    TcpState state_ = TcpState::kClosed;
    int error_ = 0;
    uint32_t events_ = 0;
    bool active_open_ = false;
    bool app_closed_ = false;  // close() called: orphan
    bool read_shutdown_ = false;
    bool cork_ = false;
    bool quickack_sticky_ = false;
    bool ack_pending_now_ = false;  // an ACK must leave before on_segment returns
    bool batch_acks_ = false;         // batch_acks(): in a burst from the wire
    bool batch_ack_pending_ = false;  // ... whose end owes the peer an ACK

    // Send sequence space (RFC 9293 §3.3.1).
    uint32_t iss_ = 0;
    uint32_t snd_una_ = 0;
    uint32_t snd_nxt_ = 0;
    uint32_t snd_wnd_ = 0;
    uint32_t max_snd_wnd_ = 0;
    uint32_t snd_wl1_ = 0, snd_wl2_ = 0;
    ByteRing sndbuf_;
    uint32_t sndbuf_seq_ = 0;  // sequence number of sndbuf_'s first byte
    bool fin_queued_ = false;  // shutdown(WR): FIN follows the data
    bool fin_sent_ = false;
    uint32_t fin_seq_ = 0;
    std::deque<TxRecord> records_;
    // False while no record is SACKed, lost or retransmitted: the RFC 6675
    // scoreboard walks are skipped.
    bool scoreboard_marked_ = false;

    // Receive sequence space.
    uint32_t irs_ = 0;
    uint32_t rcv_nxt_ = 0;
    uint32_t rcv_adv_ = 0;  // right edge of the window we advertised
    ByteRing rcvbuf_;
    ReassemblyQueue ooo_;
    std::optional<uint32_t> ooo_fin_seq_;
    // D-SACK (RFC 2883): data received twice, reported as the first SACK
    // block of the next ACK, once. Without it a Linux sender never learns
    // that a retransmission was spurious, so it never widens its reordering
    // window (RACK) and keeps retransmitting whatever arrives reordered.
    std::optional<SackBlock> dsack_;
    bool fin_received_ = false;

    // Negotiated options.
    bool ws_ok_ = false, ts_ok_ = false, sack_ok_ = false;
    uint8_t snd_wscale_ = 0, rcv_wscale_ = 0;
    uint32_t peer_mss_ = 536;
    uint32_t mss_ = 536;  // payload per full segment (options excluded)
    uint32_t ts_offset_ = 0;
    uint32_t ts_recent_ = 0;
    uint32_t last_ack_sent_ = 0;

    // Retransmission and congestion.
    RttEstimator rtt_;
    std::unique_ptr<CongestionControl> cc_;
    uint32_t rto_count_ = 0;  // consecutive RTOs (tcpi_retransmits)
    bool in_recovery_ = false;
    bool in_loss_ = false;  // after an RTO until snd_una passes recover_
    uint32_t recover_ = 0;
    uint32_t dupacks_ = 0;
    uint32_t reno_sacked_ = 0;  // segments assumed delivered (no SACK)
    bool syn_retransmitted_ = false;
    Instant last_progress_{0};  // last ACK that moved snd_una (user timeout)

    // Timers (kNever when idle).
    Instant rto_deadline_ = kNever;
    Instant persist_deadline_ = kNever;
    Instant delack_deadline_ = kNever;
    Instant keepalive_deadline_ = kNever;
    Instant time_wait_deadline_ = kNever;
    Instant fin_wait2_deadline_ = kNever;
    Instant cork_deadline_ = kNever;
    uint32_t persist_backoff_ = 0;
    uint32_t probes_out_ = 0;  // zero-window or keepalive probes unanswered
    Instant persist_start_{0};

    // ACK generation.
    uint32_t segments_unacked_ = 0;
    uint32_t quickack_left_ = 0;
    Instant challenge_window_start_{0};
    uint32_t challenge_acks_in_window_ = 0;

    // Counters for info().
    Instant last_data_sent_{0}, last_data_recv_{0}, last_ack_recv_{0};
    uint32_t total_retrans_ = 0;
    uint32_t zero_window_probes_ = 0, keepalive_probes_ = 0;
    uint64_t bytes_sent_ = 0, bytes_retrans_ = 0, bytes_acked_ = 0, bytes_received_ = 0;
    uint32_t segs_out_ = 0, segs_in_ = 0, data_segs_out_ = 0, data_segs_in_ = 0;

    std::deque<OutSegment> output_;
};

// RFC 9293 §3.10.7.1: the reset answering a segment that matched no
// connection (nullopt for a RST, which is never answered).
[[nodiscard]] std::optional<OutSegment> reset_for(const Segment& segment,
                                                  const packet::Ipv6Addr& src,
                                                  const packet::Ipv6Addr& dst);

// RFC 6528 initial sequence number: a 4 µs clock plus a keyed hash of the
// connection's addresses.
[[nodiscard]] uint32_t initial_sequence(const FourTuple& tuple, uint64_t secret, Instant now);

// Listening endpoint: answers SYNs with connections in SYN-RECEIVED (the
// caller routes their later segments to them) and hands out the established
// ones in order. Resets what a listener must reset (RFC 9293 §3.10.7.2).
class TcpListener {
  public:
    TcpListener(const TcpConfig& config, const TcpEndpoint& local, uint32_t backlog);

    // A segment for the listening endpoint that matched no connection;
    // returns the new connection for an acceptable SYN.
    std::shared_ptr<TcpConnection> on_segment(const Segment& segment, const packet::Ipv6Addr& src,
                                              const packet::Ipv6Addr& dst, Instant now);
    // The oldest connection that completed its handshake, or nullptr.
    std::shared_ptr<TcpConnection> accept();
    [[nodiscard]] bool acceptable() const;
    std::optional<OutSegment> pop_output();
    [[nodiscard]] const TcpEndpoint& local() const { return local_; }
    // Options for the connections of later SYNs (children inherit the
    // listener's options, as Linux clones the listening socket).
    void set_options(const SocketOptions& options) { apply_options(config_, options); }
    [[nodiscard]] const TcpConfig& config() const { return config_; }

  private:
    void purge();

    TcpConfig config_;
    TcpEndpoint local_;
    uint32_t backlog_;
    std::deque<std::shared_ptr<TcpConnection>> pending_;
    std::deque<OutSegment> output_;
};

}  // namespace xlane::tcp
