// DatagramQueue: FIFO order and metadata, peek, MSG_TRUNC, scatter over any
// iovecs, the budget's Linux admission rule, and a long randomised run
// against a simple model that wraps the ring many times.
#include "udp/datagram_queue.h"

#include <catch2/catch.hpp>
#include <deque>
#include <random>

#include "udp/iovec_io.h"
#include "udp_test_support.h"

using namespace xlane;
using namespace xlane::udp;
using namespace xlane::udp::test;

namespace {

DatagramMeta meta_for(uint16_t port, uint64_t stamp = 0) {
    DatagramMeta m;
    m.src_addr = kIp4A;
    m.dst_addr = kIp4B;
    m.src_port = port;
    m.dst_port = 5001;
    m.ifindex = 7;
    m.rx_timestamp_ns = stamp;
    return m;
}

std::vector<uint8_t> receive_all(DatagramQueue& q, bool peek = false) {
    std::vector<uint8_t> buf(70000);
    iovec iov{buf.data(), buf.size()};
    auto got = q.receive(std::span(&iov, 1), peek);
    REQUIRE(got);
    REQUIRE_FALSE(got->truncated());
    buf.resize(got->copied);
    return buf;
}

}  // namespace

TEST_CASE("datagrams come out in order with their metadata", "[udp][queue]") {
    DatagramQueue q(1 << 20);
    CHECK(q.empty());
    CHECK(q.next_length() == 0);
    iovec none{nullptr, 0};
    CHECK_FALSE(q.receive(std::span(&none, 1), false));
    for (uint16_t i = 0; i < 10; ++i)
        CHECK(q.push(meta_for(1000 + i, i * 5u), pattern(i * 100u, i)));
    CHECK(q.size() == 10);
    for (uint16_t i = 0; i < 10; ++i) {
        CHECK(q.next_length() == i * 100u);
        const auto meta = q.front_meta();
        REQUIRE(meta);
        CHECK(meta->src_port == 1000 + i);
        CHECK(meta->src_addr == kIp4A);
        CHECK(meta->dst_addr == kIp4B);
        CHECK(meta->ifindex == 7);
        CHECK(meta->rx_timestamp_ns == i * 5u);
        CHECK(receive_all(q) == pattern(i * 100u, i));
    }
    CHECK(q.empty());
    CHECK(q.bytes_charged() == 0);
    CHECK(q.counters().queued == 10);
}

TEST_CASE("MSG_PEEK leaves the datagram queued", "[udp][queue]") {
    DatagramQueue q(1 << 20);
    REQUIRE(q.push(meta_for(1), pattern(300, 1)));
    REQUIRE(q.push(meta_for(2), pattern(200, 2)));
    CHECK(receive_all(q, true) == pattern(300, 1));
    CHECK(receive_all(q, true) == pattern(300, 1));
    CHECK(q.size() == 2);
    CHECK(receive_all(q) == pattern(300, 1));
    CHECK(receive_all(q) == pattern(200, 2));
    CHECK(q.empty());
}

TEST_CASE("MSG_TRUNC: the rest of a datagram is discarded, its length reported", "[udp][queue]") {
    DatagramQueue q(1 << 20);
    const auto data = pattern(100);
    REQUIRE(q.push(meta_for(1), data));
    REQUIRE(q.push(meta_for(2), pattern(10, 2)));
    uint8_t small[30];
    iovec iov{small, sizeof(small)};
    SECTION("peek then read, both truncated") {
        auto peeked = q.receive(std::span(&iov, 1), true);
        REQUIRE(peeked);
        CHECK(peeked->truncated());
        CHECK(peeked->return_value(true) == 100);
        CHECK(peeked->return_value(false) == 30);
        CHECK(q.size() == 2);
    }
    auto got = q.receive(std::span(&iov, 1), false);
    REQUIRE(got);
    CHECK(got->length == 100);
    CHECK(got->copied == 30);
    CHECK(got->truncated());
    CHECK(got->return_value(true) == 100);
    CHECK(got->return_value(false) == 30);
    CHECK(std::equal(small, small + 30, data.begin()));
    // The next read gets the next datagram, not the tail of this one.
    CHECK(receive_all(q) == pattern(10, 2));
}

TEST_CASE("a datagram scatters over any iovec array", "[udp][queue]") {
    DatagramQueue q(1 << 20);
    const auto data = pattern(1000, 4);
    REQUIRE(q.push(meta_for(1), data));
    std::vector<uint8_t> a(1), b(0), c(333), d(2000);
    std::vector<iovec> iov = {{a.data(), a.size()},
                              {nullptr, 0},
                              {c.data(), c.size()},
                              {b.data(), b.size()},
                              {d.data(), d.size()}};
    auto got = q.receive(iov, false);
    REQUIRE(got);
    CHECK(got->copied == 1000);
    CHECK_FALSE(got->truncated());
    std::vector<uint8_t> joined = a;
    joined.insert(joined.end(), c.begin(), c.end());
    joined.insert(joined.end(), d.begin(), d.begin() + 666);
    CHECK(joined == data);
    CHECK(iovec_total_length(iov) == 2334);
}

TEST_CASE("the budget admits like Linux and counts drops", "[udp][queue]") {
    const size_t charge = DatagramQueue::charge_for(100);
    CHECK(charge == DatagramQueue::charge_for(97));  // rounded to 8
    DatagramQueue q(10 * charge);
    const auto data = pattern(100);
    // Refused only once the bytes already queued exceed the budget: the
    // eleventh datagram overshoots it, the twelfth is dropped.
    for (int i = 0; i < 11; ++i) CHECK(q.push(meta_for(1), data));
    CHECK(q.bytes_charged() == 11 * charge);
    CHECK_FALSE(q.push(meta_for(1), data));
    CHECK_FALSE(q.push(meta_for(1), pattern(0)));
    CHECK(q.counters().dropped == 2);
    CHECK(q.counters().queued == 11);
    CHECK(q.size() == 11);
    q.pop();
    q.pop();
    CHECK(q.push(meta_for(1), data));
    SECTION("a larger budget admits more, keeping what is queued") {
        q.set_budget(20 * charge);
        for (int i = 0; i < 11; ++i) CHECK(q.push(meta_for(2), pattern(100, 2)));
        CHECK_FALSE(q.push(meta_for(2), data));
        for (int i = 0; i < 10; ++i) CHECK(receive_all(q) == data);
        for (int i = 0; i < 11; ++i) CHECK(receive_all(q) == pattern(100, 2));
        CHECK(q.empty());
    }
    SECTION("a zero budget still admits one datagram, of any size") {
        DatagramQueue tiny(0);
        CHECK(tiny.push(meta_for(1), pattern(DatagramQueue::kMaxPayload)));
        CHECK_FALSE(tiny.push(meta_for(1), data));
        CHECK(receive_all(tiny) == pattern(DatagramQueue::kMaxPayload));
        CHECK(tiny.push(meta_for(1), data));
    }
    SECTION("no UDP payload exceeds 65535 bytes") {
        DatagramQueue roomy(1 << 20);
        CHECK_FALSE(roomy.push(meta_for(1), pattern(DatagramQueue::kMaxPayload + 1)));
        CHECK(roomy.counters().dropped == 1);
    }
}

TEST_CASE("randomised pushes and pops agree with a model", "[udp][queue]") {
    std::mt19937 rng(2024);
    for (size_t budget : {size_t{0}, size_t{4096}, size_t{70000}, size_t{300000}}) {
        CAPTURE(budget);
        DatagramQueue q(budget);
        std::deque<std::pair<uint16_t, std::vector<uint8_t>>> model;
        size_t charged = 0;
        uint16_t serial = 0;
        for (int step = 0; step < 3000; ++step) {
            const unsigned action = rng() % 10;
            if (action < 6) {
                // Mostly small, sometimes up to the largest datagram.
                const size_t size = rng() % 8 == 0 ? rng() % 65536 : rng() % 1500;
                const auto data = pattern(size, ++serial);
                const bool admit = charged <= budget;
                REQUIRE(q.push(meta_for(serial), data) == admit);
                if (admit) {
                    model.emplace_back(serial, data);
                    charged += DatagramQueue::charge_for(size);
                }
            } else if (action < 9 && !model.empty()) {
                REQUIRE(q.front_meta()->src_port == model.front().first);
                REQUIRE(receive_all(q, action == 8) == model.front().second);
                if (action != 8) {
                    charged -= DatagramQueue::charge_for(model.front().second.size());
                    model.pop_front();
                }
            } else if (action == 9 && step % 7 == 0 && budget < 400000) {
                budget = budget * 2 + 1000;
                q.set_budget(budget);
            }
            REQUIRE(q.size() == model.size());
            REQUIRE(q.bytes_charged() == charged);
        }
    }
}

TEST_CASE("the ring wraps and grows without losing order", "[udp][queue]") {
    // Never empty, so the write position never resets: 2000 datagrams (~5 MB)
    // go through a ring of ~270 KB many times over. The budget admits the
    // third datagram whatever the two queued ones weigh.
    size_t budget = 2 * DatagramQueue::charge_for(DatagramQueue::kMaxPayload);
    DatagramQueue q(budget);
    std::deque<std::vector<uint8_t>> model;
    std::mt19937 rng(7);
    for (uint32_t i = 0; i < 2000; ++i) {
        const size_t size = i % 50 == 0 ? 30000 + rng() % 35000 : rng() % 3000;
        model.push_back(pattern(size, i));
        REQUIRE(q.push(meta_for(static_cast<uint16_t>(i)), model.back()));
        if (i % 400 == 399) {  // grow at arbitrary ring states
            budget += 50000;
            q.set_budget(budget);
        }
        while (model.size() > 2) {
            REQUIRE(receive_all(q) == model.front());
            model.pop_front();
        }
    }
    while (!model.empty()) {
        REQUIRE(receive_all(q) == model.front());
        model.pop_front();
    }
    CHECK(q.empty());
}
