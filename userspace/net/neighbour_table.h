// NeighbourTable: the link-layer (MAC) address of a next hop on an interface,
// from the kernel's neighbour table, kept current by notifications; asks the kernel to resolve
// misses.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

#include "common/result.h"
#include "net/netlink_socket.h"
#include "net/rtnl_messages.h"
#include "packet/wire.h"
#include "steering/address.h"

namespace xlane::net {

enum class NeighbourState {
    kResolved,  // `mac` is the address the kernel itself would send to
    kPending,   // the kernel is resolving it (ARP/ND): retry or queue, then look again
    kFailed,    // the kernel's last attempt got no answer; a new one has been started
};

struct NeighbourLookup {
    NeighbourState state = NeighbourState::kPending;
    packet::MacAddr mac{};  // valid when kResolved
};

// Thread contract: every public method may be called from any thread; one
// internal mutex serialises them. lookup() never waits for the network:
// when it asks the kernel to resolve, that is one netlink round trip
// (bounded by Options::request_timeout) under the lock. wait_resolved()
// holds the lock only between its waits. There is no hidden thread: the
// table follows the kernel's as of the last poll_changes() call, which the
// owner makes when fd() is readable (wait_resolved() also makes it).
class NeighbourTable {
  public:
    struct Options {
        std::chrono::milliseconds request_timeout{1000};
        // A missing or failed entry is asked for again at most this often,
        // so a caller retrying per packet does not flood the kernel.
        std::chrono::milliseconds resolve_interval{1000};
    };

    // Subscribes to neighbour notifications, then reads the kernel's table.
    [[nodiscard]] static Result<std::unique_ptr<NeighbourTable>> open(const Options& options);
    [[nodiscard]] static Result<std::unique_ptr<NeighbourTable>> open() { return open(Options{}); }

    // The MAC of `address` (the next hop, IPv4 or IPv6) on `ifindex`. When
    // the kernel has no usable entry, asks it to resolve one (RTM_NEWNEIGH
    // with NTF_USE, as if the kernel had a packet for it) and says kPending.
    // A STALE entry is returned and the kernel is nudged to confirm it,
    // since frames sent on an XSK never confirm a neighbour to the kernel.
    // IPv6: the kernel solicits from the interface's link-local address and
    // sends nothing while that is tentative (DAD), so right after an
    // interface comes up the entry stays pending for a second or two.
    [[nodiscard]] Result<NeighbourLookup> lookup(uint32_t ifindex, const IpAddress& address);

    // For blocking callers and tests: lookup(), then poll_changes() until the
    // entry is resolved (its MAC), the kernel reports it FAILED after this
    // call started (EHOSTUNREACH), or `timeout` passes (ETIMEDOUT).
    [[nodiscard]] Result<packet::MacAddr> wait_resolved(uint32_t ifindex, const IpAddress& address,
                                                        std::chrono::milliseconds timeout);

    // Readable when neighbour notifications are waiting.
    [[nodiscard]] int fd() const { return changes_.fd(); }
    // Applies the waiting notifications without blocking; after a lost
    // notification (queue overrun) reads the whole table again. Returns how
    // many notifications were applied.
    [[nodiscard]] Result<size_t> poll_changes();

    [[nodiscard]] size_t size() const;

  private:
    using Key = std::pair<uint32_t, IpAddress>;
    struct KeyLess {
        bool operator()(const Key& a, const Key& b) const;
    };
    struct Entry {
        uint16_t state = 0;  // NUD_*; 0 (NUD_NONE) until the kernel tells
        std::optional<packet::MacAddr> mac;
        uint64_t generation = 0;  // the table's generation when last changed
        bool nudged = false;      // a STALE entry was already sent to the kernel for confirmation
        std::chrono::steady_clock::time_point last_request{};
    };

    NeighbourTable(Options options, NetlinkSocket requests, NetlinkSocket changes);
    Status reload();
    void apply(const nlmsghdr& msg);
    Status ask_kernel_to_resolve(const Key& key, Entry& entry);
    Result<NeighbourLookup> lookup_locked(const Key& key);
    Result<size_t> poll_changes_locked();

    Options options_;
    mutable std::mutex mutex_;
    NetlinkSocket requests_;
    NetlinkSocket changes_;
    std::map<Key, Entry, KeyLess> entries_;
    uint64_t generation_ = 0;
};

[[nodiscard]] const char* neighbour_state_name(uint16_t nud_state);

}  // namespace xlane::net
