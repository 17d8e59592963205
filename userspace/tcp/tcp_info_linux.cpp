// The only translation unit that sees <linux/tcp.h>: glibc's <netinet/tcp.h>
// defines another struct tcp_info, so the layout leaves this file as bytes.
#include "tcp/tcp_info_linux.h"

#include <linux/tcp.h>

#include <algorithm>
#include <cstring>

namespace xlane::tcp {
namespace {

// include/net/tcp_states.h: user-visible ABI (tcpi_state, /proc/net/tcp),
// but not exported by the uapi headers.
enum : uint8_t {
    kLinuxEstablished = 1,
    kLinuxSynSent,
    kLinuxSynRecv,
    kLinuxFinWait1,
    kLinuxFinWait2,
    kLinuxTimeWait,
    kLinuxClose,
    kLinuxCloseWait,
    kLinuxLastAck,
    kLinuxListen,
    kLinuxClosing,
};

}  // namespace

uint8_t linux_tcp_state(TcpState state) {
    switch (state) {
        case TcpState::kEstablished:
            return kLinuxEstablished;
        case TcpState::kSynSent:
            return kLinuxSynSent;
        case TcpState::kSynReceived:
            return kLinuxSynRecv;
        case TcpState::kFinWait1:
            return kLinuxFinWait1;
        case TcpState::kFinWait2:
            return kLinuxFinWait2;
        case TcpState::kTimeWait:
            return kLinuxTimeWait;
        case TcpState::kClosed:
            return kLinuxClose;
        case TcpState::kCloseWait:
            return kLinuxCloseWait;
        case TcpState::kLastAck:
            return kLinuxLastAck;
        case TcpState::kListen:
            return kLinuxListen;
        case TcpState::kClosing:
            return kLinuxClosing;
    }
    return kLinuxClose;
}

size_t fill_linux_tcp_info(const TcpInfo& i, std::span<uint8_t> out) {
    tcp_info k{};
    k.tcpi_state = linux_tcp_state(i.state);
    k.tcpi_ca_state = i.ca_state;
    k.tcpi_retransmits = i.retransmits;
    k.tcpi_probes = i.probes;
    k.tcpi_backoff = i.backoff;
    k.tcpi_options = static_cast<uint8_t>((i.opt_timestamps ? TCPI_OPT_TIMESTAMPS : 0) |
                                          (i.opt_sack ? TCPI_OPT_SACK : 0) |
                                          (i.opt_wscale ? TCPI_OPT_WSCALE : 0));
    k.tcpi_snd_wscale = i.snd_wscale & 0xf;
    k.tcpi_rcv_wscale = i.rcv_wscale & 0xf;
    k.tcpi_rto = i.rto_us;
    k.tcpi_ato = i.ato_us;
    k.tcpi_snd_mss = i.snd_mss;
    k.tcpi_rcv_mss = i.rcv_mss;
    k.tcpi_unacked = i.unacked;
    k.tcpi_sacked = i.sacked;
    k.tcpi_lost = i.lost;
    k.tcpi_retrans = i.retrans;
    k.tcpi_last_data_sent = i.last_data_sent_ms;
    k.tcpi_last_data_recv = i.last_data_recv_ms;
    k.tcpi_last_ack_recv = i.last_ack_recv_ms;
    k.tcpi_pmtu = i.pmtu;
    k.tcpi_rcv_ssthresh = i.rcv_space;
    k.tcpi_rtt = i.rtt_us;
    k.tcpi_rttvar = i.rttvar_us;
    k.tcpi_snd_ssthresh = i.snd_ssthresh;
    k.tcpi_snd_cwnd = i.snd_cwnd;
    k.tcpi_advmss = i.advmss;
    k.tcpi_reordering = 3;  // the fixed DupThresh
    k.tcpi_rcv_space = i.rcv_space;
    k.tcpi_total_retrans = i.total_retrans;
    k.tcpi_bytes_acked = i.bytes_acked;
    k.tcpi_bytes_received = i.bytes_received;
    k.tcpi_segs_out = i.segs_out;
    k.tcpi_segs_in = i.segs_in;
    k.tcpi_notsent_bytes = i.notsent_bytes;
    k.tcpi_data_segs_in = i.data_segs_in;
    k.tcpi_data_segs_out = i.data_segs_out;
    k.tcpi_bytes_sent = i.bytes_sent;
    k.tcpi_bytes_retrans = i.bytes_retrans;
    k.tcpi_snd_wnd = i.snd_wnd;
    const size_t n = std::min(out.size(), sizeof k);
    std::memcpy(out.data(), &k, n);
    return n;
}

}  // namespace xlane::tcp
