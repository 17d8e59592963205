// Bulk transfers in both directions at once between two TcpConnections over
// the simulated link: 1 B .. 20 MB, clean and lossy (drop + reorder +
// duplicate), NewReno and CUBIC, with and without SACK/timestamps. Every
// byte is checked by hash; both ends must reach CLOSED without an error.
#include <catch2/catch.hpp>

#include "tcp_sim.h"

namespace xlane::tcp::test {
namespace {

using namespace std::chrono_literals;

struct Profile {
    const char* name;
    double drop, reorder, duplicate;
};
constexpr Profile kClean{"clean", 0, 0, 0};
constexpr Profile kLoss1{"1% loss+reorder+dup", 0.01, 0.02, 0.01};
constexpr Profile kLoss5{"5% loss+reorder+dup", 0.05, 0.02, 0.01};

struct Outcome {
    bool finished = false;
    StreamPump up, down;
    TcpInfo client_info, server_info;
    int client_error = -1, server_error = -1;
    size_t max_buffered = 0;  // in-order + out-of-order bytes held by either receiver
};

Outcome run_transfer(size_t size, const Profile& profile, TcpConfig config, uint64_t seed) {
    FaultRates rates;
    rates.drop = profile.drop;
    rates.reorder = profile.reorder;
    rates.duplicate = profile.duplicate;
    rates.reorder_delay = 3ms;
    SimNetwork net(rates, rates, seed);
    config.time_wait = 2s;
    if (config.iss_secret == 0) config.iss_secret = seed;
    TcpListener& listener = net.listen(net.b(), 80, config);
    auto client = net.connect(net.a(), 40000, net.b(), 80, config);
    std::shared_ptr<TcpConnection> server;
    Outcome out;
    const bool connected = net.run_until(
        [&] {
            if (!server) server = listener.accept();
            return server && client->state() == TcpState::kEstablished;
        },
        300s);
    REQUIRE(connected);
    out.up.sender = client;
    out.up.receiver = server;
    out.up.total = size;
    out.up.pattern = PatternStream(seed * 3 + 1);
    out.down.sender = server;
    out.down.receiver = client;
    out.down.total = size;
    out.down.pattern = PatternStream(seed * 5 + 2);
    bool client_closed = false, server_closed = false;
    out.finished = net.run_until(
        [&] {
            for (const auto* c : {client.get(), server.get()})
                out.max_buffered =
                    std::max(out.max_buffered, c->readable_bytes() + c->out_of_order_bytes());
            out.up.pump(net.now());
            out.down.pump(net.now());
            if (out.up.eof && out.down.shut && !server_closed) {
                out.server_info = server->info(net.now());
                server->close(net.now());
                server_closed = true;
            }
            if (out.down.eof && out.up.shut && !client_closed) {
                out.client_info = client->info(net.now());
                client->close(net.now());
                client_closed = true;
            }
            return client_closed && server_closed && client->state() == TcpState::kClosed &&
                   server->state() == TcpState::kClosed;
        },
        3600s);
    out.client_error = client->error();
    out.server_error = server->error();
    INFO("virtual time " << std::chrono::duration<double>(net.now()).count() << " s, frames "
                         << net.frames_sent() << ", dropped " << net.injector(true).dropped() << "+"
                         << net.injector(false).dropped());
    if (!out.finished) {
        for (const auto& [name, conn] :
             {std::pair{"client", client}, std::pair{"server", server}}) {
            const TcpInfo i = conn->info(net.now());
            UNSCOPED_INFO(name << ": " << to_string(i.state) << " unacked " << i.unacked
                               << " sacked " << i.sacked << " lost " << i.lost << " retrans "
                               << i.retrans << " cwnd " << i.snd_cwnd << " snd_wnd " << i.snd_wnd
                               << " rcv_wnd " << i.rcv_wnd << " notsent " << i.notsent_bytes
                               << " ca " << int(i.ca_state) << " rto_us " << i.rto_us
                               << " readable " << conn->readable_bytes() << " ooo "
                               << conn->out_of_order_bytes() << " deadline "
                               << conn->next_deadline().count());
        }
    }
    CHECK(out.finished);
    return out;
}

void check(const Outcome& out, size_t size) {
    CHECK(out.up.received == size);
    CHECK(out.down.received == size);
    CHECK(out.up.received_hash.value == out.up.sent_hash.value);
    CHECK(out.down.received_hash.value == out.down.sent_hash.value);
    CHECK(out.up.error == 0);
    CHECK(out.down.error == 0);
    CHECK(out.client_error == 0);
    CHECK(out.server_error == 0);
}

}  // namespace

TEST_CASE("bidirectional transfers with SACK + timestamps + window scaling", "[tcp][transfer]") {
    const size_t size = GENERATE(size_t{1}, size_t{1024}, size_t{1} << 20, size_t{20} << 20);
    const Profile profile = GENERATE(kClean, kLoss1, kLoss5);
    const auto cc = GENERATE(CongestionAlgorithm::kNewReno, CongestionAlgorithm::kCubic);
    TcpConfig config;
    config.congestion = cc;
    INFO(size << " bytes each way, " << profile.name << ", " << to_string(cc));
    const Outcome out = run_transfer(size, profile, config, size * 31 + 7);
    check(out, size);
    if (size >= (size_t{1} << 20) && profile.drop > 0) {
        // Loss must have been repaired by retransmissions, not by luck.
        CHECK(out.client_info.total_retrans > 0);
        CHECK(out.server_info.total_retrans > 0);
    }
    if (profile.drop == 0 && profile.duplicate == 0 && profile.reorder == 0)
        CHECK(out.client_info.total_retrans == 0);
}

TEST_CASE("bidirectional transfers without SACK and timestamps (NewReno dupacks, Karn)",
          "[tcp][transfer]") {
    const size_t size = GENERATE(size_t{1}, size_t{1024}, size_t{1} << 20);
    const Profile profile = GENERATE(kClean, kLoss1, kLoss5);
    const bool window_scaling = GENERATE(true, false);
    TcpConfig config;
    config.congestion = CongestionAlgorithm::kNewReno;
    config.sack = false;
    config.timestamps = false;
    config.window_scaling = window_scaling;
    INFO(size << " bytes each way, " << profile.name << ", wscale " << window_scaling);
    const Outcome out = run_transfer(size, profile, config, size * 17 + 3);
    check(out, size);
    CHECK_FALSE(out.client_info.opt_sack);
    CHECK_FALSE(out.client_info.opt_timestamps);
    CHECK(out.client_info.opt_wscale == window_scaling);
}

TEST_CASE("transfers across the sequence-number wrap", "[tcp][transfer]") {
    const Profile profile = GENERATE(kClean, kLoss5);
    const bool sack = GENERATE(true, false);
    TcpConfig config;
    config.sack = sack;
    config.timestamps = sack;
    // Both sides start 100 kB before 2^32: every window, SACK block and
    // trimming decision straddles the wrap early in the transfer.
    config.fixed_iss = 0xffffffffu - 100000;
    INFO(profile.name << ", sack " << sack);
    const Outcome out = run_transfer(size_t{4} << 20, profile, config, 1234);
    check(out, size_t{4} << 20);
}

TEST_CASE("transfers with ISNs from many keys", "[tcp][transfer]") {
    for (uint64_t key = 1; key <= 16; ++key) {
        TcpConfig config;
        config.iss_secret = key * 0x1234567;
        INFO("key " << key);
        const Outcome out = run_transfer(size_t{256} << 10, kLoss1, config, key);
        check(out, size_t{256} << 10);
    }
}

TEST_CASE("transfers with small buffers keep the receive queues bounded", "[tcp][transfer]") {
    TcpConfig config;
    config.send_buffer = 8 * 1024;
    config.receive_buffer = 6 * 1024;
    const Outcome out = run_transfer(size_t{1} << 20, kLoss5, config, 99);
    check(out, size_t{1} << 20);
    // Never more than the buffer (window scale 0: no rounding slack).
    CHECK(out.max_buffered <= 6 * 1024);
    CHECK(out.max_buffered > 4 * 1024);
}

TEST_CASE("transfers with a tight out-of-order limit still complete", "[tcp][transfer]") {
    TcpConfig config;
    config.out_of_order_limit = 8 * 1024;
    const Outcome out = run_transfer(size_t{1} << 20, kLoss5, config, 321);
    check(out, size_t{1} << 20);
}

}  // namespace xlane::tcp::test
