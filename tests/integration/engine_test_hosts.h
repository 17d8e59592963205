// What the engine tests (udp_engine_test, tcp_engine_test) share: the test
// hosts' addresses, the environment their scripts set (XL_ENGINE_IFACE: the
// interface in B where xlane is attached; XL_ENGINE_PEER_NETNS: namespace A)
// and an engine on that interface.
#pragma once

#include <catch2/catch.hpp>
#include <cstdlib>
#include <memory>
#include <string>

#include "config/settings.h"
#include "engine/udp_engine.h"
#include "steering/address.h"

namespace xlane::test {

inline constexpr const char* kAddrA = "198.18.0.1";
inline constexpr const char* kAddrB = "198.18.0.2";
inline constexpr const char* kAddr6A = "fd00:198:18::1";
inline constexpr const char* kAddr6B = "fd00:198:18::2";

inline std::string env(const char* name) {
    const char* value = std::getenv(name);
    return value == nullptr ? "" : value;
}
inline std::string iface() {
    return env("XL_ENGINE_IFACE");
}
inline std::string peer_netns() {
    return env("XL_ENGINE_PEER_NETNS");
}

inline Endpoint endpoint(const char* addr, uint16_t port) {
    auto parsed = IpAddress::parse(addr);
    REQUIRE(parsed.ok());
    return Endpoint{parsed.value(), port};
}

inline std::unique_ptr<engine::UdpEngine> make_engine() {
    engine::UdpEngineConfig config;
    config.interfaces = {iface()};
    // XLANE_TCP_FAULTS reaches the engine as it does under the preload library.
    config.tcp_faults =
        engine::TcpFaultConfig::from(config::load_settings_from_environment().settings.tcp_faults);
    auto made = engine::UdpEngine::create(config);
    INFO((made ? "" : made.error().describe()));
    REQUIRE(made.ok());
    return std::move(made).value();
}

}  // namespace xlane::test
