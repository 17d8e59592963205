#include "loopback/loopback_path.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <memory>

#include "bpf/bpffs.h"
#include "common/unique_fd.h"
#include "loopback/cgroup.h"
#include "loopback_msg.skel.h"
#include "loopback_sockops.skel.h"
#include "loopback_sockopt.skel.h"
#include "loopback_spin.skel.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace xlane {
namespace {

constexpr const char* kLinkPin = "xlane_lb_sops_link";
constexpr const char* kLowatLinkPin = "xlane_lb_lowat_link";
constexpr const char* kSpinLinkPin = "xlane_lb_spin_link";
constexpr const char* kMsgProgPin = XLANE_LB_MSG_PROG_NAME;

struct SockopsDeleter {
    void operator()(loopback_sockops* s) const { loopback_sockops__destroy(s); }
};
struct MsgDeleter {
    void operator()(loopback_msg* s) const { loopback_msg__destroy(s); }
};
struct SockoptDeleter {
    void operator()(loopback_sockopt* s) const { loopback_sockopt__destroy(s); }
};
struct SpinDeleter {
    void operator()(loopback_spin* s) const { loopback_spin__destroy(s); }
};
struct LinkDeleter {
    void operator()(bpf_link* l) const { bpf_link__destroy(l); }
};

Result<uint64_t> current_netns_cookie() {
    UniqueFd probe(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!probe) return errno_error("cannot create a socket to read the netns cookie");
    uint64_t cookie = 0;
    socklen_t len = sizeof(cookie);
    if (::getsockopt(probe.get(), SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len) != 0)
        return errno_error("cannot read the network namespace cookie (kernel >= 5.14 needed)");
    return cookie;
}

// Every map of an object gets its pin path, so the first object to load
// creates and pins the maps and the second finds and reuses them.
Status set_pin_paths(bpf_object* object, const std::string& dir) {
    bpf_map* map = nullptr;
    bpf_object__for_each_map(map, object) {
        if (bpf_map__is_internal(map)) continue;
        const std::string path = dir + "/" + bpf_map__name(map);
        if (int err = bpf_map__set_pin_path(map, path.c_str()); err != 0)
            return make_error(err, "cannot set the pin path " + path);
    }
    return {};
}

Result<UniqueFd> open_pin(const std::string& path) {
    int fd = bpf_obj_get(path.c_str());
    if (fd < 0) return make_error(errno, "cannot open pinned object " + path);
    return UniqueFd(fd);
}

Status write_config(int cfg_fd, const xlane_lb_config& cfg) {
    uint32_t zero = 0;
    if (bpf_map_update_elem(cfg_fd, &zero, &cfg, BPF_ANY) != 0)
        return errno_error("cannot write the loopback configuration map");
    return {};
}

Result<xlane_lb_config> read_config(int cfg_fd) {
    uint32_t zero = 0;
    xlane_lb_config cfg{};
    if (bpf_map_lookup_elem(cfg_fd, &zero, &cfg) != 0)
        return errno_error("cannot read the loopback configuration map");
    return cfg;
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0;
}

// The pin directory is named after the namespace's inode number, which the
// kernel reuses once a namespace is gone. Pins left by a namespace that died
// without `disable` carry its cookie, which is never reused: such pins serve
// no socket (they all died with it) and are removed, which also detaches
// their programs from the cgroup.
Status remove_stale_pins(const std::string& pin_dir, uint64_t netns_cookie) {
    auto cfg_fd = open_pin(pin_dir + "/" XLANE_LB_MAP_CFG);
    if (!cfg_fd) return {};
    auto cfg = read_config(cfg_fd->get());
    // Cookie 0: an enable is loading its programs (the maps are pinned
    // before the configuration is written). Those pins are not stale.
    if (!cfg || cfg->netns_cookie == 0 || cfg->netns_cookie == netns_cookie) return {};
    if (auto removed = remove_pin_dir(pin_dir); !removed)
        return make_error(removed.error().errnum,
                          "cannot remove the pins of a namespace that is gone (" + pin_dir +
                              "): " + removed.error().message);
    return {};
}

using SpinObject = std::unique_ptr<loopback_spin, SpinDeleter>;

Result<SpinObject> load_spin_program(const std::string& pin_dir) {
    SpinObject spin(loopback_spin__open());
    if (!spin) return errno_error("cannot open the loopback tracepoint BPF object");
    if (auto pinned = set_pin_paths(spin->obj, pin_dir); !pinned) return pinned.error();
    if (int err = loopback_spin__load(spin.get()); err != 0)
        return make_error(err,
                          "kernel refused the spinning-receiver program on tracepoint "
                          "sock:sock_recv_length (it needs kernel BTF and Linux 6.4+)");
    return spin;
}

// The link is pinned: the program stays attached until the pins go.
Status attach_spin_program(loopback_spin* spin, const std::string& pin_dir) {
    std::unique_ptr<bpf_link, LinkDeleter> link(bpf_program__attach(spin->progs.xlane_lb_spin));
    if (!link)
        return errno_error(
            "cannot attach the spinning-receiver program to tracepoint sock:sock_recv_length");
    const std::string pin = pin_dir + "/" + kSpinLinkPin;
    if (int err = bpf_link__pin(link.get(), pin.c_str()); err != 0)
        return make_error(err, "cannot pin " + pin);
    return {};
}

// Removes the pin directory unless dismissed: enable's rollback.
class PinDirGuard {
  public:
    explicit PinDirGuard(std::string dir) : dir_(std::move(dir)) {}
    PinDirGuard(const PinDirGuard&) = delete;
    PinDirGuard& operator=(const PinDirGuard&) = delete;
    ~PinDirGuard() {
        if (dir_.empty()) return;
        (void)remove_pin_dir(dir_);
        remove_empty_parents(dir_);
    }
    void dismiss() { dir_.clear(); }

  private:
    std::string dir_;
};

// Detaches the sk_msg program from the SOCKHASH unless dismissed.
class MsgAttachGuard {
  public:
    MsgAttachGuard(int prog_fd, int map_fd) : prog_fd_(prog_fd), map_fd_(map_fd) {}
    MsgAttachGuard(const MsgAttachGuard&) = delete;
    MsgAttachGuard& operator=(const MsgAttachGuard&) = delete;
    ~MsgAttachGuard() {
        if (prog_fd_ >= 0) bpf_prog_detach2(prog_fd_, map_fd_, BPF_SK_MSG_VERDICT);
    }
    void dismiss() { prog_fd_ = -1; }

  private:
    int prog_fd_;
    int map_fd_;
};

}  // namespace

Status enable_loopback(const LoopbackOptions& options, std::string* spin_policy_note) {
    if (auto bpffs = ensure_bpffs(); !bpffs) return bpffs;
    auto dir = loopback_pin_dir();
    if (!dir) return dir.error();
    const std::string pin_dir = dir.value();
    auto cookie = current_netns_cookie();
    if (!cookie) return cookie.error();
    if (auto removed = remove_stale_pins(pin_dir, cookie.value()); !removed) return removed;
    if (exists(pin_dir + "/" + kLinkPin))
        return make_error(EEXIST,
                          "the loopback path is already enabled in this network "
                          "namespace (pins in " +
                              pin_dir +
                              "; run `xlane loopback "
                              "disable` first)");

    std::string cgroup = options.cgroup;
    if (cgroup.empty()) {
        auto root = unified_cgroup_root();
        if (!root) return root.error();
        cgroup = root.value();
    }
    auto cgroup_fd = open_cgroup(cgroup);
    if (!cgroup_fd) return cgroup_fd.error();
    if (options.ports.size() > XLANE_LB_MAX_PORTS)
        return make_error(
            E2BIG, "at most " + std::to_string(XLANE_LB_MAX_PORTS) + " ports can be selected");

    if (auto made = make_dirs(pin_dir); !made) return made;
    PinDirGuard rollback(pin_dir);

    std::unique_ptr<loopback_sockops, SockopsDeleter> sockops(loopback_sockops__open());
    if (!sockops) return errno_error("cannot open the loopback sock_ops BPF object");
    if (auto pinned = set_pin_paths(sockops->obj, pin_dir); !pinned) return pinned;
    if (int err = loopback_sockops__load(sockops.get()); err != 0)
        return make_error(err,
                          "kernel refused the loopback sock_ops program (run `xlane "
                          "doctor`)");
    std::unique_ptr<loopback_msg, MsgDeleter> msg(loopback_msg__open());
    if (!msg) return errno_error("cannot open the loopback sk_msg BPF object");
    if (auto pinned = set_pin_paths(msg->obj, pin_dir); !pinned) return pinned;
    if (int err = loopback_msg__load(msg.get()); err != 0)
        return make_error(err, "kernel refused the loopback sk_msg program (run `xlane doctor`)");
    std::unique_ptr<loopback_sockopt, SockoptDeleter> lowat(loopback_sockopt__open());
    if (!lowat) return errno_error("cannot open the loopback setsockopt BPF object");
    if (auto pinned = set_pin_paths(lowat->obj, pin_dir); !pinned) return pinned;
    if (int err = loopback_sockopt__load(lowat.get()); err != 0)
        return make_error(err,
                          "kernel refused the loopback setsockopt program (run `xlane "
                          "doctor`)");
    // The spinning-receiver policy's program, only when the policy is on.
    // Asked for by default, it is left out on a kernel that cannot run it,
    // and the note says why; asked for by name, that is an error.
    uint32_t spin_reads = options.spin_reads;
    SpinObject spin;
    auto without_spin_policy = [&](const Error& why) -> Status {
        if (options.spin_reads_explicit)
            return make_error(why.errnum, why.message +
                                              " (`--spin-reads 0` enables the loopback path "
                                              "without it)");
        if (spin_policy_note != nullptr)
            *spin_policy_note = "spinning-receiver policy off: " + why.describe();
        spin.reset();
        spin_reads = 0;
        return {};
    };
    if (spin_reads != 0) {
        auto loaded = load_spin_program(pin_dir);
        if (loaded) {
            spin = std::move(loaded).value();
        } else if (auto off = without_spin_policy(loaded.error()); !off) {
            return off;
        }
    }

    // Insertion stays off until both programs are in place.
    xlane_lb_config cfg{};
    cfg.netns_cookie = cookie.value();
    cfg.port_filter = options.ports.empty() ? 0 : 1;
    cfg.stream_small = options.stream_small;
    cfg.stream_run = options.stream_run;
    cfg.spin_reads = spin_reads;
    const int cfg_fd = bpf_map__fd(sockops->maps.xlane_lb_cfg);
    if (auto written = write_config(cfg_fd, cfg); !written) return written;
    for (uint16_t port : options.ports) {
        uint8_t one = 1;
        if (bpf_map_update_elem(bpf_map__fd(sockops->maps.xlane_lb_ports), &port, &one, BPF_ANY) !=
            0)
            return errno_error("cannot add port " + std::to_string(port) + " to the port filter");
    }

    const int msg_prog_fd = bpf_program__fd(msg->progs.xlane_lb_msg);
    const int socks_fd = bpf_map__fd(sockops->maps.xlane_lb_socks);
    if (bpf_prog_attach(msg_prog_fd, socks_fd, BPF_SK_MSG_VERDICT, 0) != 0)
        return errno_error("cannot attach the sk_msg program to the loopback SOCKHASH");
    MsgAttachGuard detach_msg(msg_prog_fd, socks_fd);
    const std::string msg_pin = pin_dir + "/" + kMsgProgPin;
    if (bpf_obj_pin(msg_prog_fd, msg_pin.c_str()) != 0) return errno_error("cannot pin " + msg_pin);

    // The tracepoint only acts on inserted sockets: attached before insertion
    // starts, it sees every receive of every one of them.
    if (spin) {
        if (auto attached = attach_spin_program(spin.get(), pin_dir); !attached) {
            if (auto off = without_spin_policy(attached.error()); !off) return off;
            cfg.spin_reads = 0;  // written with `insert` below
        }
    }

    // The SO_RCVLOWAT hook goes on before insertion can start, so no inserted
    // socket can set a mark unseen. On failure the rollback unpins the links,
    // which detaches them.
    std::unique_ptr<bpf_link, LinkDeleter> lowat_link(
        bpf_program__attach_cgroup(lowat->progs.xlane_lb_lowat, cgroup_fd->get()));
    if (!lowat_link) return errno_error("cannot attach the setsockopt program to cgroup " + cgroup);
    const std::string lowat_link_pin = pin_dir + "/" + kLowatLinkPin;
    if (int err = bpf_link__pin(lowat_link.get(), lowat_link_pin.c_str()); err != 0)
        return make_error(err, "cannot pin " + lowat_link_pin);

    std::unique_ptr<bpf_link, LinkDeleter> link(
        bpf_program__attach_cgroup(sockops->progs.xlane_lb_sops, cgroup_fd->get()));
    if (!link) return errno_error("cannot attach the sock_ops program to cgroup " + cgroup);
    const std::string link_pin = pin_dir + "/" + kLinkPin;
    if (int err = bpf_link__pin(link.get(), link_pin.c_str()); err != 0)
        return make_error(err, "cannot pin " + link_pin);

    cfg.insert = 1;
    if (auto written = write_config(cfg_fd, cfg); !written) {
        bpf_link__detach(link.get());
        bpf_link__detach(lowat_link.get());
        return written;
    }
    detach_msg.dismiss();
    rollback.dismiss();
    return {};
}

Result<bool> disable_loopback() {
    if (auto bpffs = ensure_bpffs(false); !bpffs) return bpffs.error();
    auto dir = loopback_pin_dir();
    if (!dir) return dir.error();
    const std::string pin_dir = dir.value();
    if (!exists(pin_dir)) return false;

    auto cfg_fd = open_pin(pin_dir + "/" XLANE_LB_MAP_CFG);
    if (cfg_fd) {
        auto cfg = read_config(cfg_fd->get());
        if (!cfg) return cfg.error();
        // 1. Stop inserting, then take sock_ops off the cgroup.
        cfg->insert = 0;
        if (auto written = write_config(cfg_fd->get(), cfg.value()); !written)
            return written.error();
    }
    if (auto link = open_pin(pin_dir + "/" + kLinkPin)) {
        if (bpf_link_detach(link->get()) != 0)
            return errno_error("cannot detach the loopback sock_ops program from its cgroup");
    }
    // 2. Every message of every inserted socket now takes the kernel path.
    // Bytes already redirected stay in their receiver's queue, which is read
    // before the TCP queue, so nothing is lost or reordered.
    if (cfg_fd) {
        auto cfg = read_config(cfg_fd->get());
        if (!cfg) return cfg.error();
        cfg->pass_all = 1;
        if (auto written = write_config(cfg_fd->get(), cfg.value()); !written)
            return written.error();
    }
    // 3. Only now the SO_RCVLOWAT hook: until pass-all, a socket setting a
    // mark still had to stop its peer's redirects.
    if (auto link = open_pin(pin_dir + "/" + kLowatLinkPin)) {
        if (bpf_link_detach(link->get()) != 0)
            return errno_error("cannot detach the loopback setsockopt program from its cgroup");
    }
    // The spinning-receiver tracepoint does nothing under pass-all; its link
    // goes with the pins in step 5 (LINK_DETACH is EOPNOTSUPP for raw
    // tracepoint links on 6.18: unpinning drops the last reference).
    // 4. No socket is ever deleted from the SOCKHASH (that would drop its
    // queue): the inserted sockets hold the sk_msg program, which holds the
    // maps, until each socket closes. Detaching the program from the map
    // only concerns sockets inserted from now on: none.
    auto socks = open_pin(pin_dir + "/" XLANE_LB_MAP_SOCKS);
    auto prog = open_pin(pin_dir + "/" + kMsgProgPin);
    if (socks && prog) bpf_prog_detach2(prog->get(), socks->get(), BPF_SK_MSG_VERDICT);
    // 5. Remove the pins.
    if (auto removed = remove_pin_dir(pin_dir); !removed) return removed.error();
    remove_empty_parents(pin_dir);
    return true;
}

Result<LoopbackState> read_loopback_state() {
    LoopbackState state;
    auto dir = loopback_pin_dir();
    if (!dir) return dir.error();
    state.pin_dir = dir.value();
    auto ns = current_netns_id();
    if (ns) state.netns_id = ns.value();
    if (!exists(state.pin_dir)) return state;
    state.enabled = true;

    auto cfg_fd = open_pin(state.pin_dir + "/" XLANE_LB_MAP_CFG);
    if (!cfg_fd) return cfg_fd.error();
    auto cfg = read_config(cfg_fd->get());
    if (!cfg) return cfg.error();
    // Pins of a namespace that is gone (see remove_stale_pins) enable nothing.
    auto cookie = current_netns_cookie();
    if (cookie && cfg->netns_cookie != 0 && cfg->netns_cookie != cookie.value()) {
        state.enabled = false;
        return state;
    }
    state.inserting = cfg->insert != 0;
    state.pass_all = cfg->pass_all != 0;
    state.stream_small = cfg->stream_small;
    state.stream_run = cfg->stream_run;
    state.spin_reads = cfg->spin_reads;

    if (auto link = open_pin(state.pin_dir + "/" + kLinkPin)) {
        bpf_link_info info{};
        uint32_t len = sizeof(info);
        if (bpf_obj_get_info_by_fd(link->get(), &info, &len) == 0) {
            state.cgroup_id = info.cgroup.cgroup_id;
            state.cgroup_path = cgroup_path_by_id(state.cgroup_id);
        }
    }
    if (cfg->port_filter) {
        auto ports = open_pin(state.pin_dir + "/" XLANE_LB_MAP_PORTS);
        if (!ports) return ports.error();
        uint16_t key = 0, next = 0;
        const void* prev = nullptr;
        while (bpf_map_get_next_key(ports->get(), prev, &next) == 0) {
            state.ports.push_back(next);
            key = next;
            prev = &key;
        }
        std::sort(state.ports.begin(), state.ports.end());
    }
    if (auto socks = open_pin(state.pin_dir + "/" XLANE_LB_MAP_SOCKS)) {
        xlane_lb_key key{}, next{};
        const void* prev = nullptr;
        while (bpf_map_get_next_key(socks->get(), prev, &next) == 0 &&
               state.sockets < XLANE_LB_MAX_SOCKS) {
            ++state.sockets;
            key = next;
            prev = &key;
        }
    }
    auto stats = open_pin(state.pin_dir + "/" XLANE_LB_MAP_STATS);
    if (!stats) return stats.error();
    const int cpus = libbpf_num_possible_cpus();
    if (cpus <= 0) return make_error(cpus, "cannot count the possible CPUs");
    std::vector<xlane_counter> per_cpu(static_cast<size_t>(cpus));
    for (uint32_t id = 0; id < XLANE_LB_COUNTER_COUNT; ++id) {
        if (bpf_map_lookup_elem(stats->get(), &id, per_cpu.data()) != 0)
            return errno_error("cannot read loopback counter " + std::to_string(id));
        for (const auto& c : per_cpu) {
            state.counters[id].packets += c.packets;
            state.counters[id].bytes += c.bytes;
        }
    }
    return state;
}

const char* loopback_counter_name(uint32_t counter) {
    switch (counter) {
        case XLANE_LB_INSERTED:
            return "inserted";
        case XLANE_LB_INSERT_FAILED:
            return "insert_failed";
        case XLANE_LB_SKIP_NONLOCAL:
            return "skipped_nonlocal";
        case XLANE_LB_SKIP_PORT:
            return "skipped_port";
        case XLANE_LB_SKIP_EARLY_DATA:
            return "skipped_early_data";
        case XLANE_LB_REDIRECTED:
            return "redirected";
        case XLANE_LB_MISS:
            return "miss";
        case XLANE_LB_KERNEL:
            return "kernel_path";
        case XLANE_LB_PASS_ALL:
            return "pass_all";
        case XLANE_LB_DEMOTED:
            return "demoted_stream";
        case XLANE_LB_RELEASED:
            return "released";
        case XLANE_LB_RCVLOWAT:
            return "rcvlowat";
        case XLANE_LB_SPINNER:
            return "spinning_receiver";
        default:
            return "unknown";
    }
}

Result<std::vector<uint16_t>> parse_port_list(const std::string& text) {
    std::vector<uint16_t> ports;
    size_t start = 0;
    while (start <= text.size()) {
        size_t comma = text.find(',', start);
        if (comma == std::string::npos) comma = text.size();
        const std::string item = text.substr(start, comma - start);
        start = comma + 1;
        if (item.empty()) continue;
        const size_t dash = item.find('-');
        try {
            size_t used = 0;
            const unsigned long first = std::stoul(item.substr(0, dash), &used);
            unsigned long last = first;
            if (dash != std::string::npos) last = std::stoul(item.substr(dash + 1), &used);
            if (first == 0 || last > 65535 || first > last) throw std::out_of_range(item);
            for (unsigned long p = first; p <= last; ++p) ports.push_back(static_cast<uint16_t>(p));
        } catch (const std::exception&) {
            return make_error(EINVAL,
                              "bad port or range '" + item + "' (expected e.g. 80,443,5000-5010)");
        }
    }
    std::sort(ports.begin(), ports.end());
    ports.erase(std::unique(ports.begin(), ports.end()), ports.end());
    return ports;
}

}  // namespace xlane
