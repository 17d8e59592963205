#include "xdp/attach_transaction.h"

#include <bpf/libbpf.h>
#include <unistd.h>

#include "bpf/bpffs.h"
#include "xdp/xdp_query.h"

namespace xlane {

AttachTransaction::~AttachTransaction() {
    if (!committed_) rollback();
}

void AttachTransaction::displaced(unsigned ifindex, UniqueFd prog_fd, uint32_t flags) {
    displaced_.push_back(Displaced{ifindex, std::move(prog_fd), flags});
}

void AttachTransaction::rollback() {
    // Reverse order: the link pin (made last) goes first, which detaches our
    // program before a displaced one is put back in its place.
    for (auto it = pins_.rbegin(); it != pins_.rend(); ++it) ::unlink(it->c_str());
    if (attached_prog_id_ != 0 && !displaced_.empty())
        (void)wait_until_detached(attached_ifindex_, attached_prog_id_);
    for (auto& entry : displaced_)
        (void)bpf_xdp_attach(static_cast<int>(entry.ifindex), entry.prog_fd.get(), entry.flags,
                             nullptr);
    if (!dir_.empty()) {
        (void)remove_pin_dir(dir_);
        remove_empty_parents(dir_);
    }
}

}  // namespace xlane
