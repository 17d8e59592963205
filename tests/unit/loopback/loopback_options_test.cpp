// `--ports` parsing and counter names of the loopback path (no privileges).
#include <catch2/catch.hpp>

#include "loopback/loopback_path.h"

using xlane::parse_port_list;

TEST_CASE("port lists: single ports, ranges, duplicates, order") {
    auto ports = parse_port_list("443,80,5000-5002,80");
    REQUIRE(ports.ok());
    CHECK(ports.value() == std::vector<uint16_t>{80, 443, 5000, 5001, 5002});
    auto all = parse_port_list("1-3,65535");
    REQUIRE(all.ok());
    CHECK(all.value() == std::vector<uint16_t>{1, 2, 3, 65535});
    CHECK(parse_port_list("").value().empty());
}

TEST_CASE("port lists: bad items are refused with the item named") {
    for (const char* bad : {"0", "65536", "abc", "10-5", "80,x", "-5", "1-"}) {
        auto ports = parse_port_list(bad);
        INFO(bad);
        REQUIRE_FALSE(ports.ok());
        CHECK(ports.error().message.find("bad port") != std::string::npos);
    }
}

TEST_CASE("every loopback counter has a name") {
    for (uint32_t id = 0; id < XLANE_LB_COUNTER_COUNT; ++id)
        CHECK(std::string(xlane::loopback_counter_name(id)) != "unknown");
    CHECK(std::string(xlane::loopback_counter_name(XLANE_LB_COUNTER_COUNT)) == "unknown");
}
