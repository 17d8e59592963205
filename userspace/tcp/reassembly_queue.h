// ReassemblyQueue: out-of-order TCP data held until the gap before it fills,
// plus the SACK blocks (RFC 2018) that describe it. The caller bounds what it
// inserts by the receive window, so the queue never outgrows the receive buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <vector>

#include "tcp/seq.h"
#include "tcp/tcp_segment.h"

namespace xlane::tcp {

class ReassemblyQueue {
  public:
    // Stores the bytes of [seq, seq + size) not already held. Returns the
    // number of new bytes stored.
    size_t insert(uint32_t seq, std::span<const uint8_t> bytes);

    // Removes and returns the block that starts at or before `rcv_nxt` and
    // ends after it (trimmed to start at rcv_nxt); blocks wholly before
    // rcv_nxt are discarded. nullopt when the next byte is still missing.
    std::optional<std::vector<uint8_t>> pop_in_order(uint32_t rcv_nxt);

    [[nodiscard]] size_t bytes() const { return bytes_; }
    [[nodiscard]] bool empty() const { return blocks_.empty(); }

    // Up to `max` SACK blocks: the contiguous range holding the most recent
    // insert first (RFC 2018 §4), then the others from the lowest.
    [[nodiscard]] std::vector<SackBlock> sack_blocks(size_t max) const;
    // All contiguous ranges, lowest first.
    [[nodiscard]] std::vector<SackBlock> ranges() const;

    void clear() {
        blocks_.clear();
        bytes_ = 0;
        last_insert_.reset();
    }

  private:
    struct SeqLess {
        bool operator()(uint32_t a, uint32_t b) const { return seq_lt(a, b); }
    };
    // Non-overlapping blocks keyed by their first sequence number.
    std::map<uint32_t, std::vector<uint8_t>, SeqLess> blocks_;
    size_t bytes_ = 0;
    std::optional<uint32_t> last_insert_;
};

}  // namespace xlane::tcp
