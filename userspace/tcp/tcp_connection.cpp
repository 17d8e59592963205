// TcpConnection: segment arrival (RFC 9293 §3.10.7 in its order: PAWS,
// sequence check, RST, SYN, ACK, text, FIN), output (retransmissions first,
// then new data under Nagle/CORK/SWS rules), and the timers.
#include "tcp/tcp_connection.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "tcp/seq.h"
#include "tcp/siphash.h"

namespace xlane::tcp {
namespace {

using std::chrono::duration_cast;
using std::chrono::microseconds;
using std::chrono::milliseconds;

constexpr uint32_t kDupThresh = 3;  // RFC 5681 / RFC 6675 DupThresh
constexpr uint32_t kTcpHeader = 20;
constexpr uint32_t kTimestampOptionBytes = 12;  // NOP NOP TS
constexpr uint32_t kMinMss = 88;                // Linux TCP_MIN_MSS
// TCP_MSS_DEFAULT: Linux's mss_clamp until a SYN-ACK brings the peer's MSS.
constexpr uint32_t kLinuxMssClamp = 536;

uint32_t ip_header_len(const packet::Ipv6Addr& addr) {
    return is_ipv4_mapped(addr) ? 20 : 40;
}

// splitmix64 finaliser: spreads every input bit over the output.
uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// The RFC 6528 secret: the configured one (tests, for reproducible runs), or
// one random key per process drawn once from the kernel's generator.
SipKey iss_key(uint64_t secret) {
    if (secret != 0) return {secret, mix64(secret)};
    static const SipKey process_key = [] {
        std::random_device random;  // getrandom(2) on Linux
        SipKey key{};
        for (auto& word : key) word = (uint64_t{random()} << 32) | random();
        return key;
    }();
    return process_key;
}

uint64_t hash_tuple(const FourTuple& tuple, uint64_t secret) {
    uint8_t bytes[36];
    std::memcpy(bytes, tuple.local.addr.data(), 16);
    std::memcpy(bytes + 16, tuple.remote.addr.data(), 16);
    packet::store_be16(bytes + 32, tuple.local.port);
    packet::store_be16(bytes + 34, tuple.remote.port);
    return siphash24(iss_key(secret), bytes);
}

uint32_t to_us(Duration d) {
    return static_cast<uint32_t>(
        std::min<int64_t>(duration_cast<microseconds>(d).count(), UINT32_MAX));
}
uint32_t ms_since(Instant now, Instant then) {
    if (then.count() == 0) return 0;
    return static_cast<uint32_t>(duration_cast<milliseconds>(now - then).count());
}

}  // namespace

void apply_options(TcpConfig& config, const SocketOptions& options) {
    config.nodelay = options.nodelay;
    config.cork = options.cork;
    config.keepalive = options.keepalive;
    config.user_timeout = options.user_timeout;
    if (options.congestion) config.congestion = *options.congestion;
    if (options.send_buffer)
        config.send_buffer = std::max<size_t>(send_queue_from_sndbuf(*options.send_buffer), 1);
    if (options.receive_buffer)
        config.receive_buffer =
            std::max<size_t>(receive_window_from_rcvbuf(*options.receive_buffer), 1);
    config.user_mss = options.user_mss;
    config.notsent_lowat = options.notsent_lowat;
}

std::string_view to_string(TcpState state) {
    switch (state) {
        case TcpState::kClosed:
            return "CLOSED";
        case TcpState::kListen:
            return "LISTEN";
        case TcpState::kSynSent:
            return "SYN-SENT";
        case TcpState::kSynReceived:
            return "SYN-RECEIVED";
        case TcpState::kEstablished:
            return "ESTABLISHED";
        case TcpState::kFinWait1:
            return "FIN-WAIT-1";
        case TcpState::kFinWait2:
            return "FIN-WAIT-2";
        case TcpState::kCloseWait:
            return "CLOSE-WAIT";
        case TcpState::kClosing:
            return "CLOSING";
        case TcpState::kLastAck:
            return "LAST-ACK";
        case TcpState::kTimeWait:
            return "TIME-WAIT";
    }
    return "?";
}

uint32_t initial_sequence(const FourTuple& tuple, uint64_t secret, Instant now) {
    // RFC 6528: ISN = M + F(4-tuple, secret), M a 4-microsecond timer.
    const auto ticks = static_cast<uint64_t>(now.count() / 4000);
    return static_cast<uint32_t>(hash_tuple(tuple, secret)) + static_cast<uint32_t>(ticks);
}

std::optional<OutSegment> reset_for(const Segment& segment, const packet::Ipv6Addr& src,
                                    const packet::Ipv6Addr& dst) {
    const auto& h = segment.header;
    if (h.has(flags::kRst)) return std::nullopt;
    OutSegment out;
    out.src_addr = dst;
    out.dst_addr = src;
    out.header.src_port = h.dst_port;
    out.header.dst_port = h.src_port;
    if (h.has(flags::kAck)) {
        out.header.seq = h.ack;
        out.header.flags = flags::kRst;
    } else {
        out.header.seq = 0;
        out.header.ack = h.seq + segment.seq_length();
        out.header.flags = flags::kRst | flags::kAck;
    }
    return out;
}

// ---------------------------------------------------------------- lifecycle

TcpConnection::TcpConnection(const TcpConfig& config, const FourTuple& tuple, Instant now)
    : config_(config), tuple_(tuple), sndbuf_(config.send_buffer), rtt_(config.rto) {
    // The smallest shift that lets the window field express the whole buffer.
    while (rcv_wscale_ < kMaxWindowScale && (size_t{65535} << rcv_wscale_) < config_.receive_buffer)
        ++rcv_wscale_;
    if (!config_.window_scaling) rcv_wscale_ = 0;
    // Rounding the scaled window up may promise up to 2^wscale - 1 bytes
    // beyond the buffer; the ring keeps room for them.
    rcvbuf_ = ByteRing(config_.receive_buffer + (size_t{1} << rcv_wscale_));
    iss_ = config.fixed_iss ? *config.fixed_iss : initial_sequence(tuple, config.iss_secret, now);
    // RFC 7323 §5.4: a per-connection random-looking TSval offset.
    ts_offset_ = static_cast<uint32_t>(hash_tuple(tuple, config.iss_secret) >> 32);
    snd_una_ = iss_;
    snd_nxt_ = iss_ + 1;
    sndbuf_seq_ = iss_ + 1;
    recover_ = iss_;
    quickack_left_ = config.quickack_segments;
    cork_ = config.cork;
    mss_ = our_mss() - (config_.timestamps ? kTimestampOptionBytes : 0);
    cc_ = make_congestion_control(config_.congestion, mss_, config_.initial_window_segments);
    last_progress_ = now;
}

TcpConnection::~TcpConnection() = default;

std::unique_ptr<TcpConnection> TcpConnection::connect(const TcpConfig& config,
                                                      const FourTuple& tuple, Instant now) {
    std::unique_ptr<TcpConnection> conn(new TcpConnection(config, tuple, now));
    conn->active_open_ = true;
    conn->state_ = TcpState::kSynSent;
    conn->records_.push_back(TxRecord{.seq = conn->iss_, .syn = true});
    conn->send_record(conn->records_.back(), now, false);
    conn->arm_rto(now);
    return conn;
}

std::unique_ptr<TcpConnection> TcpConnection::from_syn(const TcpConfig& config,
                                                       const FourTuple& tuple, const Segment& syn,
                                                       Instant now) {
    std::unique_ptr<TcpConnection> conn(new TcpConnection(config, tuple, now));
    conn->state_ = TcpState::kSynReceived;
    conn->irs_ = syn.header.seq;
    conn->rcv_nxt_ = syn.header.seq + 1;
    conn->rcv_adv_ = conn->rcv_nxt_;
    conn->last_ack_sent_ = conn->rcv_nxt_;
    conn->negotiate(syn);
    conn->snd_wnd_ = syn.header.window;  // SYN windows are never scaled
    conn->max_snd_wnd_ = conn->snd_wnd_;
    conn->snd_wl1_ = syn.header.seq;
    conn->snd_wl2_ = conn->iss_;
    conn->records_.push_back(TxRecord{.seq = conn->iss_, .syn = true});
    conn->send_record(conn->records_.back(), now, false);
    conn->arm_rto(now);
    return conn;
}

uint32_t TcpConnection::our_mss() const {
    const uint32_t overhead = ip_header_len(tuple_.local.addr) + kTcpHeader;
    uint32_t mss = config_.mtu > overhead ? config_.mtu - overhead : 0;
    if (config_.user_mss != 0) mss = std::min(mss, config_.user_mss);  // TCP_MAXSEG
    return std::max(mss, kMinMss);
}

void TcpConnection::negotiate(const Segment& syn) {
    const auto& o = syn.options;
    const uint32_t default_mss = is_ipv4_mapped(tuple_.remote.addr) ? 536 : 1220;
    peer_mss_ = std::max<uint32_t>(o.mss ? *o.mss : default_mss, kMinMss);
    ws_ok_ = config_.window_scaling && o.window_scale.has_value();
    snd_wscale_ = ws_ok_ ? *o.window_scale : 0;
    if (!ws_ok_) rcv_wscale_ = 0;
    ts_ok_ = config_.timestamps && o.timestamps.has_value();
    if (ts_ok_) ts_recent_ = o.timestamps->value;
    sack_ok_ = config_.sack && o.sack_permitted;
    mss_ = std::min(peer_mss_, our_mss()) - (ts_ok_ ? kTimestampOptionBytes : 0);
    cc_ = make_congestion_control(config_.congestion, mss_, config_.initial_window_segments);
}

bool synchronized(TcpState state) {
    switch (state) {
        case TcpState::kClosed:
        case TcpState::kListen:
        case TcpState::kSynSent:
        case TcpState::kSynReceived:
            return false;
        default:
            return true;
    }
}

bool TcpConnection::synchronized() const {
    return tcp::synchronized(state_);
}

void TcpConnection::set_state(TcpState state, Instant now) {
    state_ = state;
    if (state == TcpState::kFinWait2 && app_closed_)
        fin_wait2_deadline_ = now + config_.fin_wait2_timeout;
}

void TcpConnection::enter_established(Instant now) {
    set_state(TcpState::kEstablished, now);
    events_ |= event::kEstablished | event::kWritable;
    last_progress_ = now;
    restart_keepalive(now);
    if (fin_queued_) set_state(TcpState::kFinWait1, now);
}

void TcpConnection::terminate(int error, Instant) {
    if (error != 0) error_ = error;
    state_ = TcpState::kClosed;
    records_.clear();
    scoreboard_marked_ = false;
    ooo_.clear();
    rto_deadline_ = persist_deadline_ = delack_deadline_ = kNever;
    keepalive_deadline_ = time_wait_deadline_ = fin_wait2_deadline_ = cork_deadline_ = kNever;
    ack_pending_now_ = false;
    events_ |= event::kClosed | event::kReadable | event::kWritable;
}

void TcpConnection::enter_time_wait(Instant now) {
    set_state(TcpState::kTimeWait, now);
    records_.clear();
    scoreboard_marked_ = false;
    rto_deadline_ = persist_deadline_ = keepalive_deadline_ = fin_wait2_deadline_ = kNever;
    cork_deadline_ = kNever;
    time_wait_deadline_ = now + config_.time_wait;
}

// ---------------------------------------------------------------- input

void TcpConnection::on_segment(const Segment& seg, Instant now) {
    ++segs_in_;
    switch (state_) {
        case TcpState::kClosed:
            if (auto rst = reset_for(seg, tuple_.remote.addr, tuple_.local.addr))
                output_.push_back(std::move(*rst));
            return;
        case TcpState::kListen:
            return;  // listeners are TcpListener objects
        case TcpState::kSynSent:
            on_segment_syn_sent(seg, now);
            break;
        default:
            on_segment_synchronized(seg, now);
            break;
    }
    if (state_ == TcpState::kClosed) return;
    transmit(now);
    if (ack_pending_now_) send_ack(now);
}

void TcpConnection::syn_acked(const Segment& seg, Instant now) {
    // The SYN (the first record) is acknowledged: one RTT sample, unless it
    // was retransmitted and no timestamp says which copy was answered.
    if (!records_.empty() && records_.front().syn) {
        const TxRecord syn = records_.front();
        records_.pop_front();
        if (ts_ok_ && seg.options.timestamps && seg.options.timestamps->echo != 0)
            rtt_.sample(milliseconds(ts_now(now) - seg.options.timestamps->echo));
        else if (!syn.ever_retransmitted)
            rtt_.sample(now - syn.sent_at);
    }
    if (syn_retransmitted_) rtt_.lost_syn();
    snd_una_ = iss_ + 1;
    rto_count_ = 0;
    rto_deadline_ = kNever;
}

void TcpConnection::on_segment_syn_sent(const Segment& seg, Instant now) {
    const auto& h = seg.header;
    if (h.has(flags::kAck) && (seq_le(h.ack, iss_) || seq_gt(h.ack, snd_nxt_))) {
        if (!h.has(flags::kRst)) send_reset(h.ack, now);
        return;
    }
    if (h.has(flags::kRst)) {
        if (h.has(flags::kAck)) terminate(ECONNREFUSED, now);
        return;
    }
    if (!h.has(flags::kSyn)) return;
    irs_ = h.seq;
    rcv_nxt_ = h.seq + 1;
    rcv_adv_ = rcv_nxt_;  // edges are only meaningful relative to RCV.NXT
    last_ack_sent_ = rcv_nxt_;
    negotiate(seg);
    snd_wnd_ = h.window;
    max_snd_wnd_ = snd_wnd_;
    snd_wl1_ = h.seq;
    snd_wl2_ = h.ack;
    if (h.has(flags::kAck)) {
        syn_acked(seg, now);
        enter_established(now);
        ack_pending_now_ = true;
    } else {
        // Simultaneous open (RFC 9293 figure 8): answer with SYN-ACK.
        set_state(TcpState::kSynReceived, now);
        if (!records_.empty()) send_record(records_.front(), now, false);
    }
}

bool TcpConnection::sequence_acceptable(const Segment& seg) const {
    const uint32_t wnd = rcv_adv_ - rcv_nxt_;
    const uint32_t len = seg.seq_length();
    const uint32_t seq = seg.header.seq;
    if (wnd == 0) return seq == rcv_nxt_;  // data is trimmed later; the ACK counts
    if (len == 0) return seq_in_range(seq, rcv_nxt_, rcv_nxt_ + wnd);
    return seq_in_range(seq, rcv_nxt_, rcv_nxt_ + wnd) ||
           seq_in_range(seq + len - 1, rcv_nxt_, rcv_nxt_ + wnd);
}

void TcpConnection::on_segment_synchronized(const Segment& seg, Instant now) {
    const auto& h = seg.header;
    if (seg.options.timestamps && ts_ok_ && !h.has(flags::kRst)) {
        // PAWS (RFC 7323 §5.3): an older timestamp is an old duplicate.
        if (seq_lt(seg.options.timestamps->value, ts_recent_)) {
            ack_pending_now_ = true;
            if (!seg.payload.empty() && seq_lt(h.seq, rcv_nxt_))
                note_duplicate(h.seq, seq_min(h.seq + static_cast<uint32_t>(seg.payload.size()),
                                              rcv_nxt_));
            return;
        }
    }
    if (state_ == TcpState::kSynReceived && h.has(flags::kSyn) && h.seq == irs_ &&
        !h.has(flags::kRst)) {
        if (h.has(flags::kAck) && h.ack == iss_ + 1) {
            // Simultaneous open: the peer's SYN-ACK completes ours.
            syn_acked(seg, now);
            snd_wnd_ = h.window;
            snd_wl1_ = h.seq;
            snd_wl2_ = h.ack;
            enter_established(now);
            ack_pending_now_ = true;
        } else if (!records_.empty() && records_.front().syn) {
            send_record(records_.front(), now, true);  // the SYN-ACK was lost
        }
        return;
    }
    if (!sequence_acceptable(seg)) {
        if (!h.has(flags::kRst)) {
            ack_pending_now_ = true;
            // Data wholly below RCV.NXT: a retransmission of what arrived.
            const uint32_t end = h.seq + static_cast<uint32_t>(seg.payload.size());
            if (!seg.payload.empty() && seq_le(end, rcv_nxt_)) note_duplicate(h.seq, end);
            // A retransmitted FIN in TIME-WAIT restarts the 2 MSL wait.
            if (state_ == TcpState::kTimeWait && h.has(flags::kFin))
                time_wait_deadline_ = now + config_.time_wait;
        }
        return;
    }
    if (h.has(flags::kRst)) {
        // RFC 5961 §3.2: only an exact match resets; in-window gets a challenge.
        if (h.seq != rcv_nxt_) {
            send_challenge_ack(now);
            return;
        }
        int error = ECONNRESET;
        if (state_ == TcpState::kSynReceived)
            error = active_open_ ? ECONNREFUSED : ECONNRESET;
        else if (state_ == TcpState::kCloseWait)
            error = EPIPE;  // as Linux: read side is done
        else if (state_ == TcpState::kClosing || state_ == TcpState::kLastAck ||
                 state_ == TcpState::kTimeWait)
            error = 0;
        terminate(error, now);
        return;
    }
    if (h.has(flags::kSyn)) {
        // RFC 5961 §4.2: a SYN on a synchronized connection gets a challenge ACK.
        send_challenge_ack(now);
        return;
    }
    if (!h.has(flags::kAck)) return;
    if (state_ == TcpState::kSynReceived) {
        if (!(seq_lt(snd_una_, h.ack) && seq_le(h.ack, snd_nxt_))) {
            send_reset(h.ack, now);
            return;
        }
        syn_acked(seg, now);
        enter_established(now);
    }
    // Timestamps: remember the newest in-window TSval (RFC 7323 §4.3).
    if (ts_ok_ && seg.options.timestamps && seq_le(h.seq, last_ack_sent_))
        ts_recent_ = seg.options.timestamps->value;
    if (!process_ack(seg, now)) return;
    probes_out_ = 0;
    restart_keepalive(now);
    if (fin_sent_ && seq_gt(snd_una_, fin_seq_)) {
        switch (state_) {
            case TcpState::kFinWait1:
                set_state(TcpState::kFinWait2, now);
                break;
            case TcpState::kClosing:
                enter_time_wait(now);
                break;
            case TcpState::kLastAck:
                terminate(0, now);
                return;
            default:
                break;
        }
    }
    process_text(seg, now);
}

bool TcpConnection::process_ack(const Segment& seg, Instant now) {
    const auto& h = seg.header;
    const uint32_t ack = h.ack;
    if (seq_gt(ack, snd_nxt_)) {  // acknowledges what was never sent
        ack_pending_now_ = true;
        return false;
    }
    if (seq_lt(ack, snd_una_ - max_snd_wnd_)) {  // RFC 5961 §5.2: too old
        ack_pending_now_ = true;
        return false;
    }
    last_ack_recv_ = now;
    bool new_sacks = false;
    if (sack_ok_ && seg.options.sack_count > 0) process_sack(seg, new_sacks);
    const uint32_t seg_window = uint32_t{h.window} << snd_wscale_;
    const bool window_changed = seg_window != snd_wnd_;
    const uint32_t prior_flight = flight();

    if (seq_gt(ack, snd_una_)) {
        const uint32_t acked = ack - snd_una_;
        uint32_t acked_records = 0;
        std::optional<Instant> oldest_send;  // of the segments acknowledged now
        bool retransmission_acked = false;
        while (!records_.empty() && seq_le(records_.front().end(), ack)) {
            const TxRecord& r = records_.front();
            if (r.ever_retransmitted)
                retransmission_acked = true;
            else if (!oldest_send)
                oldest_send = r.sent_at;
            records_.pop_front();
            ++acked_records;
        }
        if (scoreboard_marked_ && acked_records > 0)
            scoreboard_marked_ = std::any_of(records_.begin(), records_.end(), [](const TxRecord& r) {
                return r.sacked || r.lost || r.retransmitted;
            });
        if (!records_.empty() && seq_lt(records_.front().seq, ack)) {
            // A partial acknowledgement of one segment: keep the rest.
            TxRecord& r = records_.front();
            uint32_t cut = ack - r.seq;
            if (r.syn) {
                r.syn = false;
                --cut;
                ++r.seq;
            }
            r.seq += cut;
            r.data_len -= std::min(cut, r.data_len);
        }
        if (seq_gt(ack, sndbuf_seq_)) {
            // Segments still queued keep their bytes (rare: the engine pops
            // what a call queues before the next call).
            for (OutSegment& queued : output_) take_payload(queued);
            const size_t n = std::min<size_t>(ack - sndbuf_seq_, sndbuf_.size());
            sndbuf_.consume(n);
            sndbuf_seq_ += static_cast<uint32_t>(n);
            bytes_acked_ += n;
            if (n > 0) events_ |= event::kWritable;
        }
        // RTT as Linux measures it: from our own send times (microseconds),
        // unless a retransmission was acknowledged (Karn's rule), when only a
        // timestamp echo (RFC 7323 §4) can tell which copy arrived.
        if (oldest_send && !retransmission_acked) {
            rtt_.sample(now - *oldest_send);
        } else if (ts_ok_ && seg.options.timestamps && seg.options.timestamps->echo != 0) {
            rtt_.sample(milliseconds(ts_now(now) - seg.options.timestamps->echo));
        }
        snd_una_ = ack;
        last_progress_ = now;
        rto_count_ = 0;
        rtt_.reset_backoff();
        if (in_recovery_) {
            if (seq_ge(ack, recover_)) {
                in_recovery_ = false;
                cc_->on_recovery_exit();
                reno_sacked_ = 0;
                dupacks_ = 0;
            } else if (!sack_ok_) {
                // RFC 6582 partial ACK: the next hole is lost too; the ACKed
                // segments beyond the first were counted as delivered already.
                const uint32_t delivered = acked_records > 0 ? acked_records - 1 : 0;
                reno_sacked_ = reno_sacked_ > delivered ? reno_sacked_ - delivered : 0;
                if (!records_.empty()) {
                    records_.front().lost = true;
                    records_.front().retransmitted = false;
                    scoreboard_marked_ = true;
                }
            }
        } else {
            if (in_loss_ && seq_ge(ack, recover_)) in_loss_ = false;
            const uint32_t cwnd = cc_->cwnd();
            const bool cwnd_limited =
                cc_->in_slow_start() ? prior_flight * 2 > cwnd : prior_flight + mss_ >= cwnd;
            cc_->on_ack(acked, cwnd_limited, now, rtt_.srtt());
            dupacks_ = 0;
            reno_sacked_ = 0;
        }
        if (snd_una_ == snd_nxt_)
            rto_deadline_ = kNever;
        else
            arm_rto(now);
    } else if (ack == snd_una_ && seg.payload.empty() && !h.has(flags::kSyn) &&
               !h.has(flags::kFin) && snd_una_ != snd_nxt_ && seg_window != 0 &&
               (!window_changed || new_sacks)) {
        // RFC 5681 §2 duplicate ACK; a zero window says nothing about loss.
        ++dupacks_;
        if (!sack_ok_ && in_recovery_ && reno_sacked_ + 1 < records_.size()) ++reno_sacked_;
    }
    update_send_window(seg);

    if (in_recovery_ && sack_ok_) mark_sack_losses();
    if (!in_recovery_ && !in_loss_ && snd_una_ != snd_nxt_ &&
        (dupacks_ >= kDupThresh || (sack_ok_ && sacked_records() >= kDupThresh)))
        enter_recovery(now);
    return true;
}

void TcpConnection::enter_recovery(Instant now) {
    in_recovery_ = true;
    recover_ = snd_nxt_;
    cc_->on_congestion_event(flight(), now);
    if (!records_.empty() && !records_.front().sacked) {
        records_.front().lost = true;
        records_.front().retransmitted = false;
        scoreboard_marked_ = true;
    }
    if (sack_ok_)
        mark_sack_losses();
    else
        reno_sacked_ = std::min<uint32_t>(dupacks_, static_cast<uint32_t>(records_.size()) - 1);
}

void TcpConnection::update_send_window(const Segment& seg) {
    const auto& h = seg.header;
    if (seq_lt(snd_wl1_, h.seq) || (snd_wl1_ == h.seq && seq_le(snd_wl2_, h.ack))) {
        snd_wnd_ = uint32_t{h.window} << snd_wscale_;
        snd_wl1_ = h.seq;
        snd_wl2_ = h.ack;
        max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
    }
}

void TcpConnection::process_sack(const Segment& seg, bool& new_sacks) {
    for (const SackBlock& block : seg.options.sack_blocks()) {
        // Only blocks inside what is outstanding (D-SACKs and garbage ignored).
        if (!seq_lt(block.left, block.right) || seq_le(block.right, snd_una_) ||
            seq_gt(block.right, snd_nxt_) || seq_lt(block.left, snd_una_))
            continue;
        for (TxRecord& r : records_) {
            if (seq_ge(r.seq, block.right)) break;
            if (!r.sacked && seq_ge(r.seq, block.left) && seq_le(r.end(), block.right)) {
                r.sacked = true;
                new_sacks = true;
                scoreboard_marked_ = true;
            }
        }
    }
}

uint32_t TcpConnection::sacked_records() const {
    if (!scoreboard_marked_) return 0;
    uint32_t count = 0;
    for (const TxRecord& r : records_) count += r.sacked ? 1 : 0;
    return count;
}

void TcpConnection::mark_sack_losses() {
    // RFC 6675 IsLost(): DupThresh SACKed segments above a hole make it lost.
    uint32_t sacked_above = 0;
    for (auto it = records_.rbegin(); it != records_.rend(); ++it) {
        if (it->sacked) {
            ++sacked_above;
        } else if (sacked_above >= kDupThresh && !it->lost) {
            it->lost = true;
            it->retransmitted = false;
            scoreboard_marked_ = true;
        }
    }
}

uint32_t TcpConnection::pipe() const {
    // RFC 6675 SetPipe(): what is believed to be in the network. Without a
    // mark on any segment, that is every segment once: no walk of a long
    // queue on every ACK of a bulk transfer.
    uint64_t total = 0;
    if (!scoreboard_marked_) {
        // The records cover [front.seq, snd_nxt) without gaps.
        if (!records_.empty()) total = snd_nxt_ - records_.front().seq;
    } else {
        for (const TxRecord& r : records_) {
            if (r.sacked) continue;
            if (!r.lost) total += r.seq_len();
            if (r.retransmitted) total += r.seq_len();
        }
    }
    if (!sack_ok_) {
        const uint64_t delivered = uint64_t{reno_sacked_} * mss_;
        total = total > delivered ? total - delivered : 0;
    }
    return static_cast<uint32_t>(std::min<uint64_t>(total, UINT32_MAX));
}

void TcpConnection::process_text(const Segment& seg, Instant now) {
    const auto& h = seg.header;
    const bool receiving = state_ == TcpState::kEstablished || state_ == TcpState::kFinWait1 ||
                           state_ == TcpState::kFinWait2;
    if (!receiving) return;  // the peer's FIN came already: later text is ignored
    packet::Bytes payload = seg.payload;
    uint32_t seq = h.seq;
    bool fin = h.has(flags::kFin);
    const uint32_t fin_seq = h.seq + static_cast<uint32_t>(payload.size());
    if (payload.empty() && !fin) return;

    if (app_closed_ && !payload.empty() &&
        seq_gt(seq + static_cast<uint32_t>(payload.size()), rcv_nxt_)) {
        // Nobody will read it: tell the peer its data is lost (Linux does too).
        send_reset(snd_nxt_, now);
        terminate(0, now);
        return;
    }
    if (seq_lt(seq, rcv_nxt_)) {  // trim what was received already
        const uint32_t cut =
            std::min<uint32_t>(rcv_nxt_ - seq, static_cast<uint32_t>(payload.size()));
        if (cut > 0) note_duplicate(seq, seq + cut);
        payload = payload.subspan(cut);
        seq += cut;
        if (seq_lt(fin_seq, rcv_nxt_)) fin = false;
    }
    if (seq_gt(seq + static_cast<uint32_t>(payload.size()), rcv_adv_)) {  // beyond the window
        const uint32_t room = seq_gt(rcv_adv_, seq) ? rcv_adv_ - seq : 0;
        payload = payload.first(std::min<size_t>(room, payload.size()));
        fin = false;
        ack_pending_now_ = true;
    }
    if (!payload.empty()) {
        ++data_segs_in_;
        last_data_recv_ = now;
        if (seq == rcv_nxt_) {
            const bool filled_hole = !ooo_.empty();
            size_t n = rcvbuf_.write(payload);
            rcv_nxt_ += static_cast<uint32_t>(n);
            bytes_received_ += n;
            while (auto block = ooo_.pop_in_order(rcv_nxt_)) {
                n = rcvbuf_.write(*block);
                rcv_nxt_ += static_cast<uint32_t>(n);
                bytes_received_ += n;
            }
            events_ |= event::kReadable;
            schedule_ack(now, filled_hole || !ooo_.empty());
        } else {
            if (config_.out_of_order_limit == 0 ||
                ooo_.bytes() + payload.size() <= config_.out_of_order_limit) {
                if (ooo_.insert(seq, payload) == 0)  // all of it held already
                    note_duplicate(seq, seq + static_cast<uint32_t>(payload.size()));
            }
            ack_pending_now_ = true;  // duplicate ACK with SACK blocks, at once
        }
    }
    if (fin) {
        if (fin_seq == rcv_nxt_) {
            process_fin(now);
        } else if (seq_gt(fin_seq, rcv_nxt_)) {
            ooo_fin_seq_ = fin_seq;
            ack_pending_now_ = true;
        }
    }
    if (ooo_fin_seq_ && *ooo_fin_seq_ == rcv_nxt_ && !fin_received_) process_fin(now);
}

void TcpConnection::process_fin(Instant now) {
    ++rcv_nxt_;
    fin_received_ = true;
    ooo_fin_seq_.reset();
    events_ |= event::kReadable;
    ack_pending_now_ = true;
    switch (state_) {
        case TcpState::kEstablished:
            set_state(TcpState::kCloseWait, now);
            break;
        case TcpState::kFinWait1:
            if (fin_sent_ && seq_gt(snd_una_, fin_seq_))
                enter_time_wait(now);
            else
                set_state(TcpState::kClosing, now);
            break;
        case TcpState::kFinWait2:
            enter_time_wait(now);
            break;
        default:
            break;
    }
}

void TcpConnection::schedule_ack(Instant now, bool immediate) {
    ++segments_unacked_;
    // RFC 9293 §3.8.6.3 / RFC 5681 §4.2: at least every second full segment,
    // never later than the delayed-ACK timer; quick ACKs while starting up.
    if (immediate || quickack_sticky_ || quickack_left_ > 0) {
        if (quickack_left_ > 0) --quickack_left_;
        ack_pending_now_ = true;
    } else if (segments_unacked_ >= 2) {
        if (!batch_acks_) {
            ack_pending_now_ = true;
        } else {
            batch_ack_pending_ = true;
            // The burst's end sends it; the timer only if that never came.
            if (delack_deadline_ == kNever) delack_deadline_ = now + config_.delayed_ack;
        }
    } else if (delack_deadline_ == kNever) {
        delack_deadline_ = now + config_.delayed_ack;
    }
}

// ---------------------------------------------------------------- output

uint32_t TcpConnection::ts_now(Instant now) const {
    return static_cast<uint32_t>(duration_cast<milliseconds>(now).count()) + ts_offset_;
}

size_t TcpConnection::receive_space() const {
    return config_.receive_buffer > rcvbuf_.size() ? config_.receive_buffer - rcvbuf_.size() : 0;
}

uint16_t TcpConnection::window_field() {
    const uint32_t unit = 1u << rcv_wscale_;
    const size_t max_space = size_t{65535} << rcv_wscale_;
    const uint32_t space = static_cast<uint32_t>(std::min(receive_space(), max_space));
    const uint32_t edge = rcv_nxt_ + space;
    if (seq_lt(rcv_adv_, rcv_nxt_)) rcv_adv_ = rcv_nxt_;
    // Receiver SWS avoidance (RFC 9293 §3.8.6.2.2): move the right edge only
    // by min(buffer/2, MSS) or more; it never moves left.
    const uint32_t threshold =
        std::min<uint32_t>(static_cast<uint32_t>(config_.receive_buffer / 2), mss_);
    if (seq_gt(edge, rcv_adv_) && edge - rcv_adv_ >= std::max<uint32_t>(threshold, 1))
        rcv_adv_ = edge;
    const uint32_t advertised = rcv_adv_ - rcv_nxt_;
    const uint32_t field = std::min<uint32_t>(65535, (advertised + unit - 1) >> rcv_wscale_);
    rcv_adv_ = seq_max(rcv_adv_, rcv_nxt_ + (field << rcv_wscale_));
    return static_cast<uint16_t>(field);
}

OutSegment TcpConnection::make_segment(uint32_t seq, uint8_t segment_flags, Instant now) {
    OutSegment s;
    s.src_addr = tuple_.local.addr;
    s.dst_addr = tuple_.remote.addr;
    s.header.src_port = tuple_.local.port;
    s.header.dst_port = tuple_.remote.port;
    s.header.seq = seq;
    s.header.flags = segment_flags;
    const bool ack = (segment_flags & flags::kAck) != 0;
    if (ack) s.header.ack = rcv_nxt_;
    auto& o = s.options;
    if (segment_flags & flags::kSyn) {
        const uint32_t window = static_cast<uint32_t>(std::min<size_t>(receive_space(), 65535));
        s.header.window = static_cast<uint16_t>(window);
        if (ack) rcv_adv_ = seq_max(rcv_adv_, rcv_nxt_ + window);
        o.mss = static_cast<uint16_t>(std::min<uint32_t>(our_mss(), 65535));
        if (state_ == TcpState::kSynSent) {  // our own SYN: offer what we support
            if (config_.window_scaling) o.window_scale = rcv_wscale_;
            o.sack_permitted = config_.sack;
            if (config_.timestamps) o.timestamps = Timestamps{ts_now(now), 0};
        } else {  // SYN-ACK: accept what the peer offered
            if (ws_ok_) o.window_scale = rcv_wscale_;
            o.sack_permitted = sack_ok_;
            if (ts_ok_) o.timestamps = Timestamps{ts_now(now), ts_recent_};
        }
        return s;
    }
    if (segment_flags & flags::kRst) return s;
    s.header.window = window_field();
    if (ts_ok_) o.timestamps = Timestamps{ts_now(now), ts_recent_};
    if (sack_ok_ && ack && (dsack_ || !ooo_.empty())) {
        const size_t room = ts_ok_ ? 3 : 4;
        if (dsack_) {  // first (RFC 2883 §4), and once
            o.sack[o.sack_count++] = *dsack_;
            dsack_.reset();
        }
        for (const SackBlock& b : ooo_.sack_blocks(room - o.sack_count))
            o.sack[o.sack_count++] = b;
    }
    return s;
}

void TcpConnection::note_duplicate(uint32_t seq, uint32_t end) {
    if (seq == end) return;
    ack_pending_now_ = true;  // the sender is retransmitting: tell it at once
    if (sack_ok_) dsack_ = SackBlock{seq, end};
}

void TcpConnection::ack_sent(Instant) {
    last_ack_sent_ = rcv_nxt_;
    segments_unacked_ = 0;
    delack_deadline_ = kNever;
    ack_pending_now_ = false;
    batch_ack_pending_ = false;
}

void TcpConnection::flush_batch_ack(Instant now) {
    // A segment sent meanwhile (data, a window update) carried the ACK.
    if (!batch_ack_pending_) return;
    batch_ack_pending_ = false;
    if (state_ != TcpState::kClosed && segments_unacked_ > 0) send_ack(now);
}

void TcpConnection::send_record(TxRecord& record, Instant now, bool retransmission) {
    uint8_t segment_flags = flags::kAck;
    if (record.syn && state_ == TcpState::kSynSent)
        segment_flags = flags::kSyn;
    else if (record.syn)
        segment_flags |= flags::kSyn;
    if (record.fin) segment_flags |= flags::kFin;
    OutSegment s = make_segment(record.seq, segment_flags, now);
    if (record.data_len > 0) {
        const uint32_t data_seq = record.seq + (record.syn ? 1 : 0);
        s.buffered_seq = data_seq;
        s.buffered_len = record.data_len;
        if (data_seq + record.data_len == sndbuf_seq_ + sndbuf_.size())
            s.header.flags |= flags::kPsh;  // the end of what the application wrote
        // SACK blocks ride on data only as far as the segment stays within MSS.
        const uint32_t budget = std::min(peer_mss_, our_mss());
        while (s.options.sack_count > 0 && s.options.encoded_size() + record.data_len > budget)
            --s.options.sack_count;
        ++data_segs_out_;
        last_data_sent_ = now;
    }
    record.sent_at = now;
    if (retransmission) {
        record.retransmitted = true;
        record.ever_retransmitted = true;
        scoreboard_marked_ = true;
        ++total_retrans_;
        bytes_retrans_ += record.data_len;
    } else {
        bytes_sent_ += record.data_len;
    }
    ++segs_out_;
    if (segment_flags & flags::kAck) ack_sent(now);
    output_.push_back(std::move(s));
}

void TcpConnection::send_ack(Instant now) {
    output_.push_back(make_segment(snd_nxt_, flags::kAck, now));
    ++segs_out_;
    ack_sent(now);
}

void TcpConnection::send_probe(Instant now) {
    // An old sequence number makes the peer answer with its current ACK and
    // window (Linux's tcp_xmit_probe_skb), consuming no sequence space.
    output_.push_back(make_segment(snd_una_ - 1, flags::kAck, now));
    ++segs_out_;
    ack_sent(now);
}

void TcpConnection::send_challenge_ack(Instant now) {
    // RFC 5961 §7: rate-limited, so challenges cannot be turned into a flood.
    if (now - challenge_window_start_ >= std::chrono::seconds(1)) {
        challenge_window_start_ = now;
        challenge_acks_in_window_ = 0;
    }
    if (challenge_acks_in_window_ >= config_.challenge_acks_per_second) return;
    ++challenge_acks_in_window_;
    send_ack(now);
}

void TcpConnection::send_reset(uint32_t seq, Instant now) {
    const bool with_ack = synchronized() || state_ == TcpState::kSynReceived;
    OutSegment s =
        make_segment(seq, flags::kRst | (with_ack && seq == snd_nxt_ ? flags::kAck : 0), now);
    output_.push_back(std::move(s));
    ++segs_out_;
}

uint32_t TcpConnection::unsent_bytes() const {
    const uint32_t offset = snd_nxt_ - sndbuf_seq_;
    if (fin_sent_ || offset >= sndbuf_.size()) return 0;
    return static_cast<uint32_t>(sndbuf_.size() - offset);
}

void TcpConnection::transmit(Instant now, bool force_partial) {
    if (!synchronized() || state_ == TcpState::kTimeWait) return;
    const uint32_t cwnd = cc_->cwnd();
    uint32_t in_pipe = pipe();
    // 1. Segments marked lost, oldest first (RFC 6675 NextSeg rule 1).
    for (TxRecord& r : records_) {
        if (!scoreboard_marked_ || in_pipe >= cwnd) break;
        if (r.lost && !r.retransmitted && !r.sacked) {
            send_record(r, now, true);
            in_pipe += r.seq_len();
        }
    }
    // 2. New data.
    const bool may_send_data = state_ == TcpState::kEstablished || state_ == TcpState::kCloseWait ||
                               state_ == TcpState::kFinWait1 || state_ == TcpState::kClosing ||
                               state_ == TcpState::kLastAck;
    while (may_send_data) {
        const uint32_t unsent = unsent_bytes();
        const bool want_fin = fin_queued_ && !fin_sent_;
        if (unsent == 0 && !want_fin) {
            cork_deadline_ = kNever;
            break;
        }
        if (in_pipe >= cwnd) break;
        const uint32_t right_edge = snd_una_ + snd_wnd_;
        const uint32_t usable = seq_gt(right_edge, snd_nxt_) ? right_edge - snd_nxt_ : 0;
        const uint32_t len = std::min({unsent, mss_, usable});
        const bool fin_here = want_fin && len == unsent;
        if (len == 0 && !fin_here) break;  // window closed: the persist timer probes
        if (len < mss_ && !fin_here && !force_partial) {
            if (len < unsent) {
                // Sender SWS avoidance (RFC 9293 §3.8.6.2.1): small window-limited
                // segments only when nothing is in flight or half the max window.
                if (snd_nxt_ != snd_una_ && len < max_snd_wnd_ / 2) break;
            } else {
                if (cork_) {
                    if (cork_deadline_ == kNever) cork_deadline_ = now + config_.cork_ceiling;
                    break;
                }
                if (!config_.nodelay && snd_nxt_ != snd_una_) break;  // Nagle
            }
        }
        if (snd_nxt_ == snd_una_) last_progress_ = now;
        records_.push_back(TxRecord{.seq = snd_nxt_, .data_len = len, .fin = fin_here});
        TxRecord& r = records_.back();
        send_record(r, now, false);
        snd_nxt_ += r.seq_len();
        in_pipe += r.seq_len();
        if (fin_here) {
            fin_sent_ = true;
            fin_seq_ = r.seq + len;
        }
    }
    if (snd_una_ != snd_nxt_ && rto_deadline_ == kNever) arm_rto(now);
    update_persist(now);
}

// ---------------------------------------------------------------- timers

void TcpConnection::arm_rto(Instant now) {
    Duration rto = rtt_.rto();
    // Linux's tcp_clamp_rto_to_user_timeout: with TCP_USER_TIMEOUT the timer
    // fires when the user timeout runs out, not a backed-off RTO later.
    if (config_.user_timeout > Duration(0)) {
        const Duration left = last_progress_ + config_.user_timeout - now;
        rto = std::max<Duration>(std::min(rto, left), milliseconds(1));
    }
    rto_deadline_ = now + rto;
}

void TcpConnection::update_persist(Instant now) {
    const bool window_closed = snd_wnd_ == 0 && snd_una_ == snd_nxt_ &&
                               (unsent_bytes() > 0 || (fin_queued_ && !fin_sent_));
    if (!window_closed || !synchronized()) {
        persist_deadline_ = kNever;
        persist_backoff_ = 0;
        return;
    }
    if (persist_deadline_ == kNever) {
        persist_start_ = now;
        persist_deadline_ = now + std::max(rtt_.rto(), rtt_.limits().min);
    }
}

void TcpConnection::restart_keepalive(Instant now) {
    probes_out_ = 0;
    // As Linux: every synchronized state but TIME-WAIT (outstanding data
    // defers a probe, see on_keepalive()).
    const bool applies = synchronized() && state_ != TcpState::kTimeWait;
    keepalive_deadline_ =
        config_.keepalive.enabled && applies ? now + config_.keepalive.idle : kNever;
}

Instant TcpConnection::next_deadline() const {
    return std::min({rto_deadline_, persist_deadline_, delack_deadline_, keepalive_deadline_,
                     time_wait_deadline_, fin_wait2_deadline_, cork_deadline_});
}

void TcpConnection::on_timer(Instant now) {
    if (now >= time_wait_deadline_ || now >= fin_wait2_deadline_) {
        terminate(0, now);
        return;
    }
    if (now >= rto_deadline_) {
        rto_deadline_ = kNever;
        on_rto(now);
        if (state_ == TcpState::kClosed) return;
    }
    if (now >= persist_deadline_) {
        on_persist(now);
        if (state_ == TcpState::kClosed) return;
    }
    if (now >= keepalive_deadline_) {
        on_keepalive(now);
        if (state_ == TcpState::kClosed) return;
    }
    if (now >= cork_deadline_) {
        cork_deadline_ = kNever;
        transmit(now, true);
    }
    if (now >= delack_deadline_) send_ack(now);
}

void TcpConnection::on_rto(Instant now) {
    if (records_.empty()) return;
    const bool handshake = state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived;
    if (!handshake && snd_wnd_ == 0 && !app_closed_) {
        // The receiver shrank its window to zero under our data: the
        // retransmissions are window probes; a peer that keeps answering
        // must not be timed out (Linux's tcp_retransmit_timer rule), one
        // that went silent for the maximum RTO is.
        const bool user_timeout_expired =
            config_.user_timeout > Duration(0) && now - last_progress_ >= config_.user_timeout;
        if (now - last_ack_recv_ > rtt_.limits().max || user_timeout_expired) {
            terminate(ETIMEDOUT, now);
            return;
        }
        rtt_.back_off();
        send_record(records_.front(), now, true);
        arm_rto(now);
        return;
    }
    ++rto_count_;
    const uint32_t limit = handshake ? (active_open_ ? config_.syn_retries : config_.synack_retries)
                                     : config_.retries2;
    const bool user_timeout_expired =
        config_.user_timeout > Duration(0) && now - last_progress_ >= config_.user_timeout;
    if (rto_count_ > limit || user_timeout_expired) {
        terminate(ETIMEDOUT, now);
        return;
    }
    rtt_.back_off();
    if (handshake) {
        syn_retransmitted_ = true;
        send_record(records_.front(), now, true);
        arm_rto(now);
        return;
    }
    // RFC 5681 §3.1 / RFC 6582 §3.2 step 4 / RFC 2018 §8: everything
    // outstanding is presumed lost, SACK marks are forgotten (the receiver may
    // have reneged), and fast retransmit waits until the recovery point.
    cc_->on_timeout(flight(), now);
    in_recovery_ = false;
    in_loss_ = true;
    recover_ = snd_nxt_;
    dupacks_ = 0;
    reno_sacked_ = 0;
    for (TxRecord& r : records_) {
        r.sacked = false;
        r.lost = true;
        r.retransmitted = false;
    }
    scoreboard_marked_ = !records_.empty();
    transmit(now);
    arm_rto(now);
}

void TcpConnection::on_persist(Instant now) {
    persist_deadline_ = kNever;
    if (config_.user_timeout > Duration(0) && now - persist_start_ >= config_.user_timeout) {
        terminate(ETIMEDOUT, now);
        return;
    }
    if (probes_out_ > config_.retries2) {  // no answer at all
        terminate(ETIMEDOUT, now);
        return;
    }
    send_probe(now);
    ++probes_out_;
    ++zero_window_probes_;
    if (persist_backoff_ < 31) ++persist_backoff_;
    Duration interval = std::max(rtt_.rto(), rtt_.limits().min);
    for (uint32_t i = 0; i < persist_backoff_ && interval < rtt_.limits().max; ++i) interval *= 2;
    persist_deadline_ = now + std::min(interval, rtt_.limits().max);
}

void TcpConnection::on_keepalive(Instant now) {
    keepalive_deadline_ = kNever;
    const auto& k = config_.keepalive;
    if (!k.enabled) return;
    if (snd_una_ != snd_nxt_ || unsent_bytes() > 0) {  // the RTO or persist timer watches
        keepalive_deadline_ = now + k.idle;
        return;
    }
    const bool user_timeout_expired = config_.user_timeout > Duration(0) && probes_out_ > 0 &&
                                      now - last_ack_recv_ >= config_.user_timeout;
    if (probes_out_ >= k.probes || user_timeout_expired) {
        send_reset(snd_nxt_, now);  // as Linux: the peer learns we gave up
        terminate(ETIMEDOUT, now);
        return;
    }
    send_probe(now);
    ++probes_out_;
    ++keepalive_probes_;
    keepalive_deadline_ = now + k.interval;
}

// ---------------------------------------------------------------- application

IoResult TcpConnection::send(std::span<const uint8_t> bytes, Instant now) {
    if (state_ == TcpState::kClosed) return {0, error_ != 0 ? error_ : EPIPE};
    if (fin_queued_) return {0, EPIPE};
    if (state_ == TcpState::kSynSent || state_ == TcpState::kSynReceived) return {0, EAGAIN};
    if (state_ != TcpState::kEstablished && state_ != TcpState::kCloseWait) return {0, EPIPE};
    if (bytes.empty()) return {0, 0};
    // Queue, transmit what the windows allow, and queue again while
    // TCP_NOTSENT_LOWAT leaves room (without it, the first pass fills the
    // send buffer or takes everything).
    size_t queued = 0;
    while (queued < bytes.size()) {
        const size_t n = sndbuf_.write(
            bytes.subspan(queued).first(std::min(send_allowance(), bytes.size() - queued)));
        if (n == 0) break;
        queued += n;
        transmit(now);
    }
    if (queued == 0) return {0, EAGAIN};
    return {queued, 0};
}

IoResult TcpConnection::recv(std::span<uint8_t> out, Instant now) {
    if (state_ == TcpState::kListen) return {0, ENOTCONN};
    const size_t n = rcvbuf_.read(out);
    if (n > 0) {
        // Window update when reading opened the window substantially (Linux's
        // tcp_cleanup_rbuf rule: the window at least doubles).
        if (synchronized() && !fin_received_ && state_ != TcpState::kTimeWait) {
            const uint32_t current = rcv_adv_ - rcv_nxt_;
            const size_t space = receive_space();
            if (2 * size_t{current} <= config_.receive_buffer && space >= 2 * size_t{current} &&
                space >= std::min<size_t>(mss_, config_.receive_buffer / 2)) {
                send_ack(now);
            }
        }
        return {n, 0};
    }
    if (read_shutdown_ || fin_received_) return {0, 0};
    if (state_ == TcpState::kClosed) return {0, error_};
    if (out.empty()) return {0, 0};
    return {0, EAGAIN};
}

int TcpConnection::shutdown(bool read, bool write, Instant now) {
    if (state_ == TcpState::kClosed || state_ == TcpState::kListen) return ENOTCONN;
    if (read) {
        read_shutdown_ = true;
        events_ |= event::kReadable;
    }
    if (!write || fin_queued_) return 0;
    if (state_ == TcpState::kSynSent) {
        terminate(0, now);
        return 0;
    }
    fin_queued_ = true;
    if (state_ == TcpState::kEstablished)
        set_state(TcpState::kFinWait1, now);
    else if (state_ == TcpState::kCloseWait)
        set_state(TcpState::kLastAck, now);
    // SYN-RECEIVED: the FIN waits for the handshake (enter_established).
    transmit(now);
    return 0;
}

void TcpConnection::close(Instant now) {
    app_closed_ = true;
    switch (state_) {
        case TcpState::kClosed:
        case TcpState::kListen:
            return;
        case TcpState::kSynSent:
            terminate(0, now);
            return;
        default:
            break;
    }
    if (!rcvbuf_.empty()) {
        // RFC 2525 §2.17: closing with unread data aborts, so the peer knows.
        send_reset(snd_nxt_, now);
        terminate(0, now);
        return;
    }
    (void)shutdown(false, true, now);
    if (state_ == TcpState::kFinWait2 && fin_wait2_deadline_ == kNever)
        fin_wait2_deadline_ = now + config_.fin_wait2_timeout;
}

void TcpConnection::abort(Instant now) {
    app_closed_ = true;
    if (state_ == TcpState::kClosed) return;
    if (state_ != TcpState::kSynSent && state_ != TcpState::kTimeWait) send_reset(snd_nxt_, now);
    terminate(0, now);
}

void TcpConnection::set_nodelay(bool on, Instant now) {
    config_.nodelay = on;
    if (on) transmit(now, true);  // Linux pushes what Nagle held back
}

void TcpConnection::set_cork(bool on, Instant now) {
    cork_ = on;
    if (!on) {
        cork_deadline_ = kNever;
        transmit(now, true);
    }
}

void TcpConnection::set_quickack(bool on, Instant now) {
    quickack_sticky_ = on;
    if (on && delack_deadline_ != kNever) send_ack(now);
}

void TcpConnection::set_keepalive(const KeepaliveConfig& keepalive, Instant now) {
    config_.keepalive = keepalive;
    restart_keepalive(now);
}

void TcpConnection::set_congestion(CongestionAlgorithm algorithm) {
    config_.congestion = algorithm;
    if (cc_->algorithm() == algorithm) return;
    std::unique_ptr<CongestionControl> next =
        make_congestion_control(algorithm, mss_, config_.initial_window_segments);
    next->take_window_from(*cc_);
    cc_ = std::move(next);
}

void TcpConnection::set_send_buffer(size_t bytes) {
    const bool was_writable = writable();
    config_.send_buffer = std::max<size_t>(bytes, 1);
    // The storage only grows: queued bytes stay where they are.
    if (config_.send_buffer > sndbuf_.capacity()) (void)sndbuf_.resize(config_.send_buffer);
    if (!was_writable && writable()) events_ |= event::kWritable;
}

void TcpConnection::set_receive_buffer(size_t bytes) {
    config_.receive_buffer = std::max<size_t>(bytes, 1);
    // Room for the window the scale can round up to; the storage only grows,
    // so bytes already promised by an advertised window always fit.
    const size_t needed = config_.receive_buffer + (size_t{1} << rcv_wscale_);
    if (needed > rcvbuf_.capacity()) (void)rcvbuf_.resize(needed);
}

void TcpConnection::set_options(const SocketOptions& options, Instant now) {
    if (options.congestion) set_congestion(*options.congestion);
    if (options.send_buffer) set_send_buffer(send_queue_from_sndbuf(*options.send_buffer));
    if (options.receive_buffer)
        set_receive_buffer(receive_window_from_rcvbuf(*options.receive_buffer));
    set_user_timeout(options.user_timeout);
    // TCP_MAXSEG (user_mss) counts only at the SYN: a live connection keeps its MSS.
    if (options.notsent_lowat != config_.notsent_lowat) {
        const bool was_writable = writable();
        config_.notsent_lowat = options.notsent_lowat;
        if (!was_writable && writable()) events_ |= event::kWritable;
    }
    const KeepaliveConfig& want = options.keepalive;
    const KeepaliveConfig& have = config_.keepalive;
    if (want.enabled != have.enabled || want.idle != have.idle || want.interval != have.interval ||
        want.probes != have.probes)
        set_keepalive(want, now);
    if (options.nodelay != config_.nodelay) set_nodelay(options.nodelay, now);
    // Last: uncorking pushes what waited, under the options above.
    config_.cork = options.cork;
    if (options.cork != cork_) set_cork(options.cork, now);
    if (options.quickack) set_quickack(*options.quickack, now);
}

void TcpConnection::take_payload(OutSegment& s) const {
    if (s.buffered_len == 0) return;
    s.payload.resize(s.buffered_len);
    const size_t copied = sndbuf_.peek(s.buffered_seq - sndbuf_seq_, s.payload);
    s.payload.resize(copied);
    s.buffered_len = 0;
}

std::optional<OutSegment> TcpConnection::pop_output() {
    if (output_.empty()) return std::nullopt;
    OutSegment s = std::move(output_.front());
    output_.pop_front();
    take_payload(s);
    return s;
}

std::optional<OutSegment> TcpConnection::pop_output(PayloadParts& payload) {
    if (output_.empty()) return std::nullopt;
    std::optional<OutSegment> s(std::move(output_.front()));
    output_.pop_front();
    if (s->buffered_len > 0) {
        const auto parts = sndbuf_.view(s->buffered_seq - sndbuf_seq_, s->buffered_len);
        payload = PayloadParts{parts[0], parts[1]};
    } else {
        // A vector's move keeps its buffer: the view outlives the return.
        payload = PayloadParts{s->payload, {}};
    }
    return s;
}

uint32_t TcpConnection::take_events() {
    const uint32_t e = events_;
    events_ = 0;
    return e;
}

bool TcpConnection::readable() const {
    return !rcvbuf_.empty() || fin_received_ || read_shutdown_ || state_ == TcpState::kClosed;
}

bool TcpConnection::writable() const {
    if (state_ == TcpState::kClosed) return true;  // the next send reports the error
    if (state_ != TcpState::kEstablished && state_ != TcpState::kCloseWait) return false;
    // Linux's poll wants twice the unsent bytes below TCP_NOTSENT_LOWAT, so
    // that a writer is not woken by every ACK at the limit.
    return !fin_queued_ && send_room() >= std::max<size_t>(config_.send_buffer / 3, 1) &&
           uint64_t{unsent_bytes()} * 2 < config_.notsent_lowat;
}

size_t TcpConnection::send_room() const {
    const size_t bound = std::min(config_.send_buffer, sndbuf_.capacity());
    return bound > sndbuf_.size() ? bound - sndbuf_.size() : 0;
}

size_t TcpConnection::send_allowance() const {
    const uint32_t unsent = unsent_bytes();
    if (unsent >= config_.notsent_lowat) return 0;
    // Whole segments: Linux checks the mark only when it starts a new buffer
    // and fills that one (so it may go past the mark), and a cut at the exact
    // mark would leave a short segment behind each refill.
    const size_t below = config_.notsent_lowat - unsent;
    const size_t segments = (below + mss_ - 1) / mss_;
    return std::min(send_room(), segments * mss_);
}

std::optional<HandoverState> TcpConnection::handover_state(Instant now) const {
    if (state_ != TcpState::kEstablished || fin_queued_ || fin_sent_ || fin_received_ ||
        !ooo_.empty() || sndbuf_seq_ != snd_una_)
        return std::nullopt;
    return handover_fields(now, true);
}

std::optional<HandoverState> TcpConnection::orphan_handover_state(Instant now) const {
    if ((state_ != TcpState::kFinWait1 && state_ != TcpState::kClosing &&
         state_ != TcpState::kLastAck) ||
        sndbuf_seq_ != snd_una_)
        return std::nullopt;
    // Nothing to read: bytes that came after close() would only make Linux's
    // close() of the taken-over socket send RST instead of its FIN.
    return handover_fields(now, false);
}

HandoverState TcpConnection::handover_fields(Instant now, bool with_receive_queue) const {
    HandoverState s;
    s.snd_una = snd_una_;
    s.snd_wl1 = snd_wl1_;
    s.snd_wnd = snd_wnd_;
    s.max_window = std::max(max_snd_wnd_, snd_wnd_);
    s.rcv_nxt = rcv_nxt_;
    s.rcv_wup = last_ack_sent_;
    s.rcv_wnd = rcv_adv_ - last_ack_sent_;
    s.peer_mss = std::min(peer_mss_, our_mss());  // TCP_MAXSEG bounds what we send
    s.window_scaling = ws_ok_;
    s.snd_wscale = snd_wscale_;
    s.rcv_wscale = rcv_wscale_;
    s.sack = sack_ok_;
    s.timestamps = ts_ok_;
    s.ts_now = ts_now(now);
    s.send_queue.resize(sndbuf_.size());
    sndbuf_.peek(0, s.send_queue);
    if (with_receive_queue) {
        s.receive_queue.resize(rcvbuf_.size());
        rcvbuf_.peek(0, s.receive_queue);
    }
    s.peer_fin = fin_received_;
    return s;
}

TcpInfo TcpConnection::info(Instant now) const {
    TcpInfo i;
    i.state = state_;
    i.ca_state = in_loss_ ? 4 : in_recovery_ ? 3 : (dupacks_ > 0 || sacked_records() > 0) ? 1 : 0;
    i.retransmits = static_cast<uint8_t>(std::min<uint32_t>(rto_count_, 255));
    i.probes = static_cast<uint8_t>(std::min<uint32_t>(probes_out_, 255));
    i.backoff = static_cast<uint8_t>(std::min<uint32_t>(rtt_.backoff(), 255));
    i.opt_timestamps = ts_ok_;
    i.opt_sack = sack_ok_;
    i.opt_wscale = ws_ok_;
    i.snd_wscale = snd_wscale_;
    i.rcv_wscale = rcv_wscale_;
    i.rto_us = to_us(rtt_.rto());
    i.ato_us = to_us(config_.delayed_ack);
    i.snd_mss = mss_;
    // Linux's mss_cache before the SYN-ACK: the route's MSS clamped by
    // TCP_MAXSEG, or by 536 (mss_clamp until the peer's MSS option comes),
    // the timestamp option excluded (TCP_MAXSEG and TCP_INFO read it).
    if (state_ == TcpState::kSynSent)
        i.snd_mss = std::min(our_mss(), config_.user_mss != 0 ? config_.user_mss : kLinuxMssClamp) -
                    (config_.timestamps ? kTimestampOptionBytes : 0);
    i.rcv_mss = mss_;
    i.advmss = our_mss() - (ts_ok_ ? kTimestampOptionBytes : 0);
    // Linux's first guess of the peer's segment size (tcp_initialize_rcv_mss)
    // is the smallest of the MSSes, half the receive window and 536, at least
    // TCP_MIN_MSS; tcp_connect_init makes it before it chooses the window,
    // then 0: a connection in SYN-SENT reads 88.
    if (state_ == TcpState::kSynSent) i.rcv_mss = kMinMss;
    i.pmtu = config_.mtu;
    for (const TxRecord& r : records_) {
        ++i.unacked;
        if (r.sacked) ++i.sacked;
        if (r.lost && !r.sacked) ++i.lost;
        if (r.retransmitted && !r.sacked) ++i.retrans;
    }
    i.last_data_sent_ms = ms_since(now, last_data_sent_);
    i.last_data_recv_ms = ms_since(now, last_data_recv_);
    i.last_ack_recv_ms = ms_since(now, last_ack_recv_);
    i.rtt_us = to_us(rtt_.srtt());
    i.rttvar_us = to_us(rtt_.rttvar());
    i.snd_ssthresh = cc_->ssthresh() == UINT32_MAX ? 0x7fffffff : cc_->ssthresh() / mss_;
    i.snd_cwnd = cc_->cwnd() / mss_;
    i.rcv_space = static_cast<uint32_t>(receive_space());
    i.snd_wnd = snd_wnd_;
    i.rcv_wnd = rcv_adv_ - rcv_nxt_;
    i.total_retrans = total_retrans_;
    i.bytes_sent = bytes_sent_ + bytes_retrans_;
    i.bytes_retrans = bytes_retrans_;
    i.bytes_acked = bytes_acked_;
    i.bytes_received = bytes_received_;
    i.segs_out = segs_out_;
    i.segs_in = segs_in_;
    i.data_segs_out = data_segs_out_;
    i.data_segs_in = data_segs_in_;
    i.notsent_bytes = unsent_bytes();
    i.zero_window_probes = zero_window_probes_;
    i.keepalive_probes = keepalive_probes_;
    i.congestion = cc_->algorithm();
    return i;
}

// ---------------------------------------------------------------- listener

TcpListener::TcpListener(const TcpConfig& config, const TcpEndpoint& local, uint32_t backlog)
    : config_(config), local_(local), backlog_(std::max<uint32_t>(backlog, 1)) {}

void TcpListener::purge() {
    std::erase_if(pending_, [](const std::shared_ptr<TcpConnection>& c) {
        return c->state() == TcpState::kClosed;
    });
}

std::shared_ptr<TcpConnection> TcpListener::on_segment(const Segment& segment,
                                                       const packet::Ipv6Addr& src,
                                                       const packet::Ipv6Addr& dst, Instant now) {
    purge();
    const auto& h = segment.header;
    if (h.has(flags::kRst)) return nullptr;
    if (h.has(flags::kAck)) {  // no handshake in progress for it (RFC 9293 §3.10.7.2)
        if (auto rst = reset_for(segment, src, dst)) output_.push_back(std::move(*rst));
        return nullptr;
    }
    if (!h.has(flags::kSyn)) return nullptr;
    // A full queue drops the SYN (no reset): the client retries, as with Linux.
    if (pending_.size() >= backlog_) return nullptr;
    const FourTuple tuple{{dst, h.dst_port}, {src, h.src_port}};
    std::shared_ptr<TcpConnection> conn = TcpConnection::from_syn(config_, tuple, segment, now);
    pending_.push_back(conn);
    return conn;
}

std::shared_ptr<TcpConnection> TcpListener::accept() {
    purge();
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
        if ((*it)->state() != TcpState::kSynReceived) {
            auto conn = *it;
            pending_.erase(it);
            return conn;
        }
    }
    return nullptr;
}

bool TcpListener::acceptable() const {
    return std::any_of(pending_.begin(), pending_.end(), [](const auto& c) {
        return c->state() != TcpState::kSynReceived && c->state() != TcpState::kClosed;
    });
}

std::optional<OutSegment> TcpListener::pop_output() {
    if (output_.empty()) return std::nullopt;
    OutSegment s = std::move(output_.front());
    output_.pop_front();
    return s;
}

}  // namespace xlane::tcp
