// Undo log of an attach in progress: every pin, directory and displaced
// foreign program it records is put back unless commit() is called, so a
// failed `xlane attach` leaves the system as it found it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace xlane {

class AttachTransaction {
  public:
    AttachTransaction() = default;
    AttachTransaction(const AttachTransaction&) = delete;
    AttachTransaction& operator=(const AttachTransaction&) = delete;
    ~AttachTransaction();

    // A pin directory this attach created: removed (with empty parents) on rollback.
    void created_dir(std::string dir) { dir_ = std::move(dir); }
    // A pin this attach made: unlinked on rollback.
    void pinned(std::string path) { pins_.push_back(std::move(path)); }
    // A foreign program this attach detached from `ifindex` (attach flags
    // `flags`): re-attached on rollback through its fd.
    void displaced(unsigned ifindex, UniqueFd prog_fd, uint32_t flags);
    // Our XDP program, attached on `ifindex`: waited out before a displaced
    // program goes back (the link detaches asynchronously).
    void attached(unsigned ifindex, uint32_t prog_id) {
        attached_ifindex_ = ifindex;
        attached_prog_id_ = prog_id;
    }

    void commit() { committed_ = true; }

  private:
    void rollback();

    std::string dir_;
    std::vector<std::string> pins_;
    struct Displaced {
        unsigned ifindex;
        UniqueFd prog_fd;
        uint32_t flags;
    };
    std::vector<Displaced> displaced_;
    unsigned attached_ifindex_ = 0;
    uint32_t attached_prog_id_ = 0;
    bool committed_ = false;
};

}  // namespace xlane
