#include "net/veth_peer.h"

#include <dirent.h>
#include <fcntl.h>
#include <linux/rtnetlink.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <chrono>
#include <cstdio>
#include <set>
#include <utility>
#include <vector>

#include "common/unique_fd.h"
#include "net/netlink_socket.h"
#include "net/rtnl_messages.h"
#include "xdp/netdev.h"

namespace xlane::net {

namespace {

constexpr std::chrono::milliseconds kAnswerTimeout{2000};

// Sends `request` and decodes the kernel's one answer of type `type`.
template <typename T>
Result<T> ask_one(NetlinkSocket& nl, nlmsghdr* request, uint16_t type,
                  Result<T> (*decode)(const nlmsghdr&), const char* what) {
    std::optional<Result<T>> answer;
    auto status = nl.request(request, [&](const nlmsghdr& msg) {
        if (msg.nlmsg_type == type) answer.emplace(decode(msg));
    });
    if (!status) return status.error();
    if (!answer) return make_error(EPROTO, std::string("the kernel's answer had no ") + what);
    return std::move(*answer);
}

Result<LinkEntry> get_link(NetlinkSocket& nl, uint32_t ifindex) {
    uint8_t buffer[kRequestBufferSize];
    return ask_one(nl, encode_link_get(buffer, ifindex), RTM_NEWLINK, decode_link, "link");
}

// The id this namespace gives the namespace behind `fd` (-1 when none).
Result<int32_t> netns_id_of(NetlinkSocket& nl, int fd) {
    uint8_t buffer[kRequestBufferSize];
    return ask_one(nl, encode_netns_id_get(buffer, fd), RTM_NEWNSID, decode_netns_id,
                   "namespace id");
}

// Every path a network namespace can be opened by: the named ones first
// (`ip netns add`), then each process's.
std::vector<std::string> namespace_candidates() {
    std::vector<std::string> paths;
    for (const char* dir : {"/run/netns", "/proc"}) {
        DIR* d = ::opendir(dir);
        if (d == nullptr) continue;
        const bool named = std::string(dir) == "/run/netns";
        while (const dirent* e = ::readdir(d)) {
            const std::string name = e->d_name;
            if (name == "." || name == "..") continue;
            if (named) {
                paths.push_back("/run/netns/" + name);
            } else if (name.find_first_not_of("0123456789") == std::string::npos) {
                paths.push_back("/proc/" + name + "/ns/net");
            }
        }
        ::closedir(d);
    }
    return paths;
}

// The path of the namespace this one knows as `netnsid`: the kernel can
// name it by id but not open it, so each candidate is opened and asked.
Result<std::string> namespace_path_by_id(int32_t netnsid) {
    auto nl = NetlinkSocket::open_requests(kAnswerTimeout);
    if (!nl) return nl.error();
    std::set<std::pair<dev_t, ino_t>> seen;
    for (const auto& path : namespace_candidates()) {
        UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
        if (!fd) continue;  // a process that exited, or a stale name
        struct stat st {};
        if (::fstat(fd.get(), &st) != 0 || !seen.insert({st.st_dev, st.st_ino}).second) continue;
        auto id = netns_id_of(nl.value(), fd.get());
        if (id && id.value() == netnsid) return path;
    }
    return make_error(ENOENT,
                      "no named namespace and no process is in the veth peer's namespace (id " +
                          std::to_string(netnsid) + ")");
}

// A NETLINK_ROUTE socket of the peer's namespace (ours when the peer shares
// it): a socket stays in the namespace it was made in, so the thread enters
// that one, makes the socket and comes back (NetnsSwitch, xdp/netdev.h).
Result<NetlinkSocket> open_peer_socket(const VethPeer& peer) {
    if (!peer.netnsid) return NetlinkSocket::open_requests(kAnswerTimeout);
    auto inside = NetnsSwitch::enter(peer.netns_path);
    if (!inside) return inside.error();
    return NetlinkSocket::open_requests(kAnswerTimeout);
}

}  // namespace

Result<std::optional<VethPeer>> find_veth_peer(uint32_t ifindex) {
    auto nl = NetlinkSocket::open_requests(kAnswerTimeout);
    if (!nl) return nl.error();
    auto link = get_link(nl.value(), ifindex);
    if (!link) return link.error();
    if (link->kind != "veth") return std::optional<VethPeer>{};
    if (link->link == 0) return make_error(ENODEV, "veth " + link->name + " reports no peer");

    VethPeer peer;
    peer.ifindex = link->link;
    peer.netnsid = link->link_netnsid;
    if (peer.netnsid) {
        auto path = namespace_path_by_id(*peer.netnsid);
        if (!path) return path.error();
        peer.netns_path = std::move(path.value());
    }
    auto peer_nl = open_peer_socket(peer);
    if (!peer_nl) return peer_nl.error();
    auto peer_link = get_link(peer_nl.value(), peer.ifindex);
    if (!peer_link) return peer_link.error();
    peer.name = peer_link->name;
    peer.qdisc = peer_link->qdisc;
    peer.tx_queues = peer_link->tx_queues;
    return std::optional<VethPeer>{std::move(peer)};
}

const char* peer_queue_kind(const VethPeer& peer) {
    // mq refuses a device with a single transmit queue.
    return peer.tx_queues > 1 ? "mq" : "pfifo_fast";
}

Status add_peer_queue(const VethPeer& peer) {
    auto nl = open_peer_socket(peer);
    if (!nl) return nl.error();
    uint8_t buffer[kRequestBufferSize];
    return nl->request(
        encode_root_qdisc_add(buffer, peer.ifindex, kPeerQueueHandle, peer_queue_kind(peer)),
        [](const nlmsghdr&) {});
}

Result<bool> remove_peer_queue(const VethPeer& peer) {
    auto nl = open_peer_socket(peer);
    if (!nl) return nl.error();
    uint8_t buffer[kRequestBufferSize];
    auto status = nl->request(encode_root_qdisc_delete(buffer, peer.ifindex, kPeerQueueHandle),
                              [](const nlmsghdr&) {});
    // EINVAL: the root qdisc has another handle; ENOENT: it is the default one.
    if (!status && (status.error().errnum == EINVAL || status.error().errnum == ENOENT))
        return false;
    if (!status) return status.error();
    return true;
}

std::string describe_peer_namespace(const VethPeer& peer) {
    if (!peer.netnsid) return "in this namespace";
    return "in namespace id " + std::to_string(*peer.netnsid) + " (" + peer.netns_path + ")";
}

bool kernel_has_veth_backpressure() {
    utsname u{};
    if (::uname(&u) != 0) return true;
    int major = 0;
    int minor = 0;
    if (std::sscanf(u.release, "%d.%d", &major, &minor) != 2) return true;
    return major > 6 || (major == 6 && minor >= 16);
}

}  // namespace xlane::net
