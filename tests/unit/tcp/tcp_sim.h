// Test support: two hosts running TcpConnections, joined by a simulated link
// with a seeded FaultInjector per direction and a virtual clock. Segments
// really go through encode_segment()/decode_segment() (checksums included),
// so the codec is exercised by every transfer. Nothing here sleeps.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "tcp/fault_injector.h"
#include "tcp/tcp_connection.h"

namespace xlane::tcp::test {

struct SimHost {
    packet::Ipv6Addr addr{};
    std::vector<std::shared_ptr<TcpConnection>> connections;
    std::map<uint16_t, std::unique_ptr<TcpListener>> listeners;
    uint64_t resets_sent = 0;  // answers to segments that matched nothing
};

struct LinkParams {
    Duration one_way_delay = std::chrono::milliseconds(1);
    double rate_bits_per_second = 1e9;
};

class SimNetwork {
  public:
    SimNetwork(FaultRates a_to_b, FaultRates b_to_a, uint64_t seed, LinkParams link = {});

    SimHost& a() { return hosts_[0]; }
    SimHost& b() { return hosts_[1]; }
    Instant now() const { return now_; }

    std::shared_ptr<TcpConnection> connect(SimHost& from, uint16_t local_port, SimHost& to,
                                           uint16_t remote_port, const TcpConfig& config);
    TcpListener& listen(SimHost& host, uint16_t port, const TcpConfig& config,
                        uint32_t backlog = 16);
    // Registers a connection made outside connect() (simultaneous open).
    void adopt(SimHost& host, std::shared_ptr<TcpConnection> connection);

    // Moves time forward event by event (deliveries, timers), calling `step`
    // after each; stops when it returns true (-> true) or when virtual time
    // would pass `limit` or nothing is left to happen (-> false).
    bool run_until(const std::function<bool()>& step, Duration limit);

    // Replaces a direction's faults from now on (e.g. cut the link).
    void set_faults(bool a_to_b, FaultRates rates);

    uint64_t frames_sent() const { return frames_sent_; }
    uint64_t frames_delivered() const { return frames_delivered_; }
    FaultInjector& injector(bool a_to_b) { return a_to_b ? *ab_ : *ba_; }
    // Every segment header that crossed the link, in send order (for asserts).
    struct Trace {
        bool from_a;
        SegmentHeader header;
        size_t payload;
    };
    std::vector<Trace> trace;
    bool keep_trace = false;

  private:
    TcpConfig reproducible(TcpConfig config) const;
    struct Frame {
        packet::Ipv6Addr src, dst;
        std::vector<uint8_t> bytes;  // TCP header + payload
    };
    void flush();
    void transmit(const OutSegment& segment);
    void deliver(const Frame& frame);
    SimHost* host_for(const packet::Ipv6Addr& addr);

    SimHost hosts_[2];
    std::unique_ptr<FaultInjector> ab_, ba_;
    uint64_t seed_;
    LinkParams link_;
    Instant now_{std::chrono::seconds(1)};
    Instant link_free_[2]{};
    std::multimap<std::pair<Instant, uint64_t>, Frame> in_flight_;
    uint64_t order_ = 0;
    uint64_t frames_sent_ = 0, frames_delivered_ = 0;
};

// A reproducible byte stream and its FNV-1a hash, so multi-megabyte
// transfers are checked without storing them.
class PatternStream {
  public:
    explicit PatternStream(uint64_t seed) : state_(seed | 1) {}
    void fill(std::span<uint8_t> out) {
        for (auto& byte : out) {
            state_ ^= state_ << 13;
            state_ ^= state_ >> 7;
            state_ ^= state_ << 17;
            byte = static_cast<uint8_t>(state_ >> 24);
        }
    }

  private:
    uint64_t state_;
};

struct Fnv1a {
    uint64_t value = 0xcbf29ce484222325ULL;
    void add(std::span<const uint8_t> bytes) {
        for (uint8_t b : bytes) {
            value ^= b;
            value *= 0x100000001b3ULL;
        }
    }
};

// One direction of a bulk transfer driven through the socket-like API.
struct StreamPump {
    std::shared_ptr<TcpConnection> sender;
    std::shared_ptr<TcpConnection> receiver;
    size_t total = 0;
    PatternStream pattern{1};
    Fnv1a sent_hash, received_hash;
    size_t sent = 0, received = 0;
    bool shut = false, eof = false;
    int error = 0;
    std::vector<uint8_t> pending;  // generated, not yet accepted by send()
    size_t pending_offset = 0;

    // Sends and receives what the buffers allow; true once EOF was read.
    bool pump(Instant now);
};

}  // namespace xlane::tcp::test
