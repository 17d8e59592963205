// libFuzzer target: rtnetlink replies and notifications as the route and
// neighbour caches read them. The input is a receive buffer; it is walked
// message by message with net::next_message() as NetlinkSocket does, and
// every message goes through every decoder, which must refuse what does not
// fit rather than read past it.
#include <linux/rtnetlink.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "fuzz_input.h"
#include "net/rtnl_messages.h"

namespace net = xlane::net;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    // The socket reads into an aligned buffer; give ASan an exact-size one.
    std::vector<uint32_t> aligned((size + 3) / 4);
    if (size) std::memcpy(aligned.data(), data, size);
    std::vector<net::AddressEntry> addresses;

    std::span<const uint8_t> rest(reinterpret_cast<const uint8_t*>(aligned.data()), size);
    while (const nlmsghdr* msg = net::next_message(rest)) {
        const auto* start = reinterpret_cast<const uint8_t*>(aligned.data());
        const auto offset = static_cast<size_t>(reinterpret_cast<const uint8_t*>(msg) - start);
        XLANE_FUZZ_REQUIRE(msg->nlmsg_len <= size - offset);
        if (auto route = net::decode_route(*msg))
            XLANE_FUZZ_REQUIRE(route.value().family == AF_INET || route.value().family == AF_INET6);
        if (auto neighbour = net::decode_neighbour(*msg))
            (void)neighbour.value().address.to_string();
        if (auto link = net::decode_link(*msg))
            (void)(link.value().name.size() + link.value().kind.size() + link.value().qdisc.size());
        if (auto id = net::decode_netns_id(*msg)) (void)id.value();
        if (auto address = net::decode_address(*msg)) addresses.push_back(address.value());
    }
    for (uint32_t ifindex = 0; ifindex < 4; ++ifindex) {
        (void)net::primary_address(addresses, ifindex, true);
        (void)net::primary_address(addresses, ifindex, false);
    }
    return 0;
}
