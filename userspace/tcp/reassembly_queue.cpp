// ReassemblyQueue: blocks never overlap, so a new segment only contributes
// the pieces between the blocks it spans; adjacent blocks are merged only
// when SACK ranges are reported (no copying on the receive path).
#include "tcp/reassembly_queue.h"

#include <algorithm>

namespace xlane::tcp {

size_t ReassemblyQueue::insert(uint32_t seq, std::span<const uint8_t> bytes) {
    if (bytes.empty()) return 0;
    const uint32_t end = seq + static_cast<uint32_t>(bytes.size());
    size_t stored = 0;
    uint32_t cursor = seq;
    // Start from the block that begins at or before seq (it may cover it).
    auto it = blocks_.upper_bound(seq);
    if (it != blocks_.begin()) {
        auto prev = std::prev(it);
        const uint32_t prev_end = prev->first + static_cast<uint32_t>(prev->second.size());
        if (seq_gt(prev_end, cursor)) cursor = seq_min(prev_end, end);
    }
    while (seq_lt(cursor, end)) {
        const uint32_t gap_end = (it != blocks_.end() && seq_lt(it->first, end)) ? it->first : end;
        if (seq_lt(cursor, gap_end)) {
            const size_t offset = seq_distance(seq, cursor);
            const size_t length = seq_distance(cursor, gap_end);
            blocks_.emplace_hint(
                it, cursor,
                std::vector<uint8_t>(bytes.begin() + offset, bytes.begin() + offset + length));
            stored += length;
        }
        if (it == blocks_.end() || !seq_lt(it->first, end)) break;
        cursor = it->first + static_cast<uint32_t>(it->second.size());
        ++it;
    }
    bytes_ += stored;
    last_insert_ = seq;
    return stored;
}

std::optional<std::vector<uint8_t>> ReassemblyQueue::pop_in_order(uint32_t rcv_nxt) {
    while (!blocks_.empty()) {
        auto it = blocks_.begin();
        const uint32_t start = it->first;
        const uint32_t end = start + static_cast<uint32_t>(it->second.size());
        if (seq_gt(start, rcv_nxt)) return std::nullopt;
        std::vector<uint8_t> data = std::move(it->second);
        blocks_.erase(it);
        bytes_ -= data.size();
        if (seq_le(end, rcv_nxt)) continue;  // already delivered by another path
        data.erase(data.begin(), data.begin() + seq_distance(start, rcv_nxt));
        return data;
    }
    return std::nullopt;
}

std::vector<SackBlock> ReassemblyQueue::ranges() const {
    std::vector<SackBlock> out;
    for (const auto& [start, data] : blocks_) {
        const uint32_t end = start + static_cast<uint32_t>(data.size());
        if (!out.empty() && out.back().right == start)
            out.back().right = end;
        else
            out.push_back({start, end});
    }
    return out;
}

std::vector<SackBlock> ReassemblyQueue::sack_blocks(size_t max) const {
    std::vector<SackBlock> all = ranges();
    std::vector<SackBlock> out;
    if (max == 0 || all.empty()) return out;
    auto recent = all.end();
    if (last_insert_) {
        recent = std::find_if(all.begin(), all.end(), [&](const SackBlock& b) {
            return seq_le(b.left, *last_insert_) && seq_lt(*last_insert_, b.right);
        });
    }
    if (recent != all.end()) out.push_back(*recent);
    for (auto it = all.begin(); it != all.end() && out.size() < max; ++it)
        if (it != recent) out.push_back(*it);
    return out;
}

}  // namespace xlane::tcp
