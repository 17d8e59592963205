#include "net/neighbour_table.h"

#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

namespace xlane::net {

namespace {

constexpr std::array<unsigned, 1> kNeighbourGroups = {RTNLGRP_NEIGH};
// How long wait_resolved() sleeps at most before looking again, so that it
// also notices changes another thread consumed from the shared socket.
constexpr std::chrono::milliseconds kWaitSlice{20};
constexpr int kReloadAttempts = 3;

bool usable(const std::optional<packet::MacAddr>& mac, uint16_t state) {
    return mac.has_value() && (state & kNeighbourUsableStates) != 0;
}

std::string describe(uint32_t ifindex, const IpAddress& address) {
    return "neighbour " + address.to_string() + " on interface " + std::to_string(ifindex);
}

}  // namespace

const char* neighbour_state_name(uint16_t nud_state) {
    if (nud_state & NUD_PERMANENT) return "permanent";
    if (nud_state & NUD_NOARP) return "noarp";
    if (nud_state & NUD_REACHABLE) return "reachable";
    if (nud_state & NUD_STALE) return "stale";
    if (nud_state & NUD_DELAY) return "delay";
    if (nud_state & NUD_PROBE) return "probe";
    if (nud_state & NUD_INCOMPLETE) return "incomplete";
    if (nud_state & NUD_FAILED) return "failed";
    return "none";
}

bool NeighbourTable::KeyLess::operator()(const Key& a, const Key& b) const {
    if (a.first != b.first) return a.first < b.first;
    return std::memcmp(a.second.raw().bytes, b.second.raw().bytes, 16) < 0;
}

NeighbourTable::NeighbourTable(Options options, NetlinkSocket requests, NetlinkSocket changes)
    : options_(options), requests_(std::move(requests)), changes_(std::move(changes)) {}

Result<std::unique_ptr<NeighbourTable>> NeighbourTable::open(const Options& options) {
    // Subscribe first: a change during the dump then arrives as a
    // notification afterwards instead of being lost between the two.
    auto changes = NetlinkSocket::open_subscription(kNeighbourGroups);
    if (!changes) return changes.error();
    auto requests = NetlinkSocket::open_requests(options.request_timeout);
    if (!requests) return requests.error();
    std::unique_ptr<NeighbourTable> table(
        new NeighbourTable(options, std::move(requests).value(), std::move(changes).value()));
    std::lock_guard lock(table->mutex_);
    if (Status loaded = table->reload(); !loaded) return loaded.error();
    return table;
}

Status NeighbourTable::reload() {
    Status dumped;
    for (int attempt = 0; attempt < kReloadAttempts; ++attempt) {
        entries_.clear();
        uint8_t buffer[kRequestBufferSize];
        dumped = requests_.request(encode_dump(buffer, RTM_GETNEIGH, AF_UNSPEC),
                                   [this](const nlmsghdr& msg) { apply(msg); });
        // EAGAIN: the table changed during the dump; read it again.
        if (dumped || dumped.error().errnum != EAGAIN) break;
    }
    if (!dumped)
        return make_error(dumped.error().errnum,
                          "cannot read the kernel's neighbour table: " + dumped.error().message);
    return {};
}

void NeighbourTable::apply(const nlmsghdr& msg) {
    if (msg.nlmsg_type != RTM_NEWNEIGH && msg.nlmsg_type != RTM_DELNEIGH) return;
    // The same group carries bridge FDB entries (AF_BRIDGE) and proxy
    // entries, which are not next hops.
    if (msg.nlmsg_len < NLMSG_LENGTH(sizeof(ndmsg))) return;
    const auto* ndm = static_cast<const ndmsg*>(NLMSG_DATA(&msg));
    if (ndm->ndm_family != AF_INET && ndm->ndm_family != AF_INET6) return;
    if (ndm->ndm_flags & NTF_PROXY) return;
    auto decoded = decode_neighbour(msg);
    if (!decoded) return;
    const NeighbourEntry& neighbour = decoded.value();
    const Key key{neighbour.ifindex, neighbour.address};
    ++generation_;
    if (msg.nlmsg_type == RTM_DELNEIGH) {
        entries_.erase(key);
        return;
    }
    Entry& entry = entries_[key];
    if (entry.state != neighbour.state) entry.nudged = false;
    entry.state = neighbour.state;
    entry.mac = neighbour.mac;
    entry.generation = generation_;
}

Status NeighbourTable::ask_kernel_to_resolve(const Key& key, Entry& entry) {
    entry.last_request = std::chrono::steady_clock::now();
    uint8_t buffer[kRequestBufferSize];
    const Status asked = requests_.request(encode_neighbour_resolve(buffer, key.first, key.second),
                                           [](const nlmsghdr&) {});
    if (!asked) {
        const std::string hint = asked.error().errnum == ENODEV
                                     ? " (the interface does not exist)"
                                     : " (is the interface up, with an address of this family?)";
        return make_error(asked.error().errnum, "cannot ask the kernel to resolve " +
                                                    describe(key.first, key.second) + ": " +
                                                    asked.error().message + hint);
    }
    return {};
}

Result<NeighbourLookup> NeighbourTable::lookup(uint32_t ifindex, const IpAddress& address) {
    std::lock_guard lock(mutex_);
    return lookup_locked(Key{ifindex, address});
}

Result<NeighbourLookup> NeighbourTable::lookup_locked(const Key& key) {
    auto found = entries_.find(key);
    Entry& entry = found != entries_.end() ? found->second : entries_[key];
    if (usable(entry.mac, entry.state)) {
        if ((entry.state & NUD_STALE) && !entry.nudged) {
            entry.nudged = true;
            // The MAC is still the kernel's best answer: a failed nudge does
            // not make it less usable, and the kernel's own probes will tell.
            (void)ask_kernel_to_resolve(key, entry);
        }
        return NeighbourLookup{NeighbourState::kResolved, *entry.mac};
    }
    // INCOMPLETE, DELAY, PROBE: the kernel is already at work on it.
    const bool idle = (entry.state & (NUD_INCOMPLETE | NUD_DELAY | NUD_PROBE)) == 0;
    const auto now = std::chrono::steady_clock::now();
    if (idle && now - entry.last_request >= options_.resolve_interval) {
        if (Status asked = ask_kernel_to_resolve(key, entry); !asked) {
            entries_.erase(key);
            return asked.error();
        }
    }
    if (entry.state & NUD_FAILED) return NeighbourLookup{NeighbourState::kFailed, {}};
    return NeighbourLookup{NeighbourState::kPending, {}};
}

Result<packet::MacAddr> NeighbourTable::wait_resolved(uint32_t ifindex, const IpAddress& address,
                                                      std::chrono::milliseconds timeout) {
    const Key key{ifindex, address};
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    uint64_t started;
    {
        std::lock_guard lock(mutex_);
        started = generation_;
        auto first = lookup_locked(key);
        if (!first) return first.error();
        if (first->state == NeighbourState::kResolved) return first->mac;
    }
    for (;;) {
        const auto now = std::chrono::steady_clock::now();
        if (now >= deadline) break;
        const auto remaining =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now) +
            std::chrono::milliseconds(1);
        pollfd pfd{changes_.fd(), POLLIN, 0};
        (void)::poll(&pfd, 1, static_cast<int>(std::min(remaining, kWaitSlice).count()));

        std::lock_guard lock(mutex_);
        if (auto applied = poll_changes_locked(); !applied) return applied.error();
        if (auto found = entries_.find(key); found != entries_.end()) {
            const Entry& entry = found->second;
            if (usable(entry.mac, entry.state)) return *entry.mac;
            if ((entry.state & NUD_FAILED) && entry.generation > started)
                return make_error(EHOSTUNREACH, describe(ifindex, address) +
                                                    " did not answer ARP/neighbour solicitation "
                                                    "(kernel state: failed)");
        }
        // Removed meanwhile, or still idle: ask again (rate-limited).
        if (auto again = lookup_locked(key); !again) return again.error();
    }
    std::lock_guard lock(mutex_);
    const auto found = entries_.find(key);
    const char* state =
        found == entries_.end() ? "none" : neighbour_state_name(found->second.state);
    return make_error(ETIMEDOUT, describe(ifindex, address) + " was not resolved within " +
                                     std::to_string(timeout.count()) + " ms (kernel state: " +
                                     state + "); is the peer up and on this link?");
}

Result<size_t> NeighbourTable::poll_changes() {
    std::lock_guard lock(mutex_);
    return poll_changes_locked();
}

Result<size_t> NeighbourTable::poll_changes_locked() {
    auto drained = changes_.drain([this](const nlmsghdr& msg) { apply(msg); });
    if (drained) return drained;
    if (drained.error().errnum != ENOBUFS) return drained.error();
    // Notifications were lost: only a full read tells what the table is now.
    // What is still queued is newer than the loss and applies on top.
    if (Status reloaded = reload(); !reloaded) return reloaded.error();
    auto rest = changes_.drain([this](const nlmsghdr& msg) { apply(msg); });
    if (!rest) return rest.error();
    return rest.value() + 1;
}

size_t NeighbourTable::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

}  // namespace xlane::net
