#include "steering/steering_table.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <sstream>

#include "bpf/bpffs.h"

namespace xlane {

std::string_view to_string(L4Proto proto) {
    return proto == L4Proto::udp ? "udp" : "tcp";
}

Result<L4Proto> parse_l4_proto(std::string_view text) {
    if (text == "udp") return L4Proto::udp;
    if (text == "tcp") return L4Proto::tcp;
    return make_error(EINVAL, "unknown protocol '" + std::string(text) + "' (use udp or tcp)");
}

namespace {

Result<L4Proto> proto_from_abi(uint8_t proto) {
    if (proto == IPPROTO_UDP) return L4Proto::udp;
    if (proto == IPPROTO_TCP) return L4Proto::tcp;
    return make_error(EPROTO, "steering entry with unknown IP protocol " + std::to_string(proto));
}

std::string owner_text(const xlane_steer_value& owner) {
    return "pid " + std::to_string(owner.owner_pid) +
           (SteerOwner::alive(owner) ? "" : " (no longer running)");
}

// Walks a hash map's keys; the bound stops a map that churns while we walk.
template <typename Key, typename Entry, typename Convert>
Result<std::vector<Entry>> walk(int map_fd, uint32_t max_entries, Convert convert) {
    std::vector<Entry> entries;
    Key key{}, next{};
    const Key* prev = nullptr;
    while (entries.size() <= max_entries && bpf_map_get_next_key(map_fd, prev, &next) == 0) {
        key = next;
        prev = &key;
        xlane_steer_value owner{};
        if (bpf_map_lookup_elem(map_fd, &key, &owner) != 0) continue;  // removed meanwhile
        auto typed = convert(key);
        if (!typed) return typed.error();
        entries.push_back(Entry{typed.value(), owner});
    }
    return entries;
}

}  // namespace

xlane_bind_key BindKey::to_abi() const {
    xlane_bind_key key{};
    key.local_addr = local.addr.raw();
    key.local_port_be = htons(local.port);
    key.proto = static_cast<uint8_t>(proto);
    return key;
}

Result<BindKey> BindKey::from_abi(const xlane_bind_key& key) {
    auto proto = proto_from_abi(key.proto);
    if (!proto) return proto.error();
    return BindKey{proto.value(), Endpoint{IpAddress(key.local_addr), ntohs(key.local_port_be)}};
}

xlane_flow_key FlowKey::to_abi() const {
    xlane_flow_key key{};
    key.local_addr = local.addr.raw();
    key.remote_addr = remote.addr.raw();
    key.local_port_be = htons(local.port);
    key.remote_port_be = htons(remote.port);
    key.proto = static_cast<uint8_t>(proto);
    return key;
}

Result<FlowKey> FlowKey::from_abi(const xlane_flow_key& key) {
    auto proto = proto_from_abi(key.proto);
    if (!proto) return proto.error();
    return FlowKey{proto.value(), Endpoint{IpAddress(key.local_addr), ntohs(key.local_port_be)},
                   Endpoint{IpAddress(key.remote_addr), ntohs(key.remote_port_be)}};
}

Result<uint64_t> SteerOwner::start_time(pid_t pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/stat";
    std::ifstream in(path);
    std::string line;
    if (!in || !std::getline(in, line)) return make_error(ESRCH, "cannot read " + path);
    // Field 2 (comm) may hold spaces and parentheses: count fields after the last ')'.
    const auto paren = line.rfind(')');
    if (paren == std::string::npos) return make_error(EPROTO, "unexpected format of " + path);
    std::istringstream fields(line.substr(paren + 1));
    std::string field;
    for (int index = 3; fields >> field; ++index) {
        if (index != 22) continue;
        uint64_t ticks = 0;
        auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), ticks);
        if (ec != std::errc{} || end != field.data() + field.size()) break;
        return ticks;
    }
    return make_error(EPROTO, "no start time (field 22) in " + path);
}

Result<xlane_steer_value> SteerOwner::current_process(uint32_t flags) {
    const pid_t pid = ::getpid();
    auto started = start_time(pid);
    if (!started) return started.error();
    xlane_steer_value value{};
    value.owner_pid = static_cast<uint32_t>(pid);
    value.flags = flags;
    value.owner_start_time = started.value();
    return value;
}

bool SteerOwner::alive(const xlane_steer_value& owner) {
    auto started = start_time(static_cast<pid_t>(owner.owner_pid));
    return started && started.value() == owner.owner_start_time;
}

Result<SteeringTable> SteeringTable::open(const std::string& pin_dir) {
    auto maps = PinnedXdpMaps::open(pin_dir);
    if (!maps) return maps.error();
    return SteeringTable(std::move(maps.value()));
}

Result<SteeringTable> SteeringTable::open_interface(const std::string& ifname) {
    auto dir = interface_pin_dir(ifname);
    if (!dir) return dir.error();
    return open(dir.value());
}

Status SteeringTable::add_bind(const BindKey& key, const xlane_steer_value& owner) {
    const xlane_bind_key raw = key.to_abi();
    if (bpf_map_update_elem(maps_.binds.get(), &raw, &owner, BPF_NOEXIST) == 0) return {};
    const int err = errno;
    xlane_steer_value holder{};
    if (err == EEXIST && bpf_map_lookup_elem(maps_.binds.get(), &raw, &holder) == 0)
        return make_error(err, std::string(to_string(key.proto)) + " " + key.local.to_string() +
                                   " is already steered by " + owner_text(holder));
    return make_error(err, "cannot add bind " + std::string(to_string(key.proto)) + " " +
                               key.local.to_string() + " to " XLANE_MAP_BINDS);
}

Status SteeringTable::remove_bind(const BindKey& key) {
    const xlane_bind_key raw = key.to_abi();
    if (bpf_map_delete_elem(maps_.binds.get(), &raw) != 0)
        return errno_error("cannot remove bind " + std::string(to_string(key.proto)) + " " +
                           key.local.to_string() + " from " XLANE_MAP_BINDS);
    return {};
}

Status SteeringTable::add_flow(const FlowKey& key, const xlane_steer_value& owner) {
    const xlane_flow_key raw = key.to_abi();
    if (bpf_map_update_elem(maps_.flows.get(), &raw, &owner, BPF_NOEXIST) == 0) return {};
    const int err = errno;
    const std::string what = std::string(to_string(key.proto)) + " " + key.local.to_string() +
                             " <- " + key.remote.to_string();
    xlane_steer_value holder{};
    if (err == EEXIST && bpf_map_lookup_elem(maps_.flows.get(), &raw, &holder) == 0)
        return make_error(err, what + " is already steered by " + owner_text(holder));
    return make_error(err, "cannot add flow " + what + " to " XLANE_MAP_FLOWS);
}

Status SteeringTable::remove_flow(const FlowKey& key) {
    const xlane_flow_key raw = key.to_abi();
    if (bpf_map_delete_elem(maps_.flows.get(), &raw) != 0)
        return errno_error("cannot remove flow " + std::string(to_string(key.proto)) + " " +
                           key.local.to_string() + " <- " + key.remote.to_string() +
                           " from " XLANE_MAP_FLOWS);
    return {};
}

Result<std::vector<BindEntry>> SteeringTable::binds() const {
    return walk<xlane_bind_key, BindEntry>(maps_.binds.get(), XLANE_MAX_BINDS, BindKey::from_abi);
}

Result<std::vector<FlowEntry>> SteeringTable::flows() const {
    return walk<xlane_flow_key, FlowEntry>(maps_.flows.get(), XLANE_MAX_FLOWS, FlowKey::from_abi);
}

Status SteeringTable::set_xsk(uint32_t queue, int xsk_fd) {
    if (bpf_map_update_elem(maps_.xsks.get(), &queue, &xsk_fd, BPF_ANY) != 0)
        return errno_error("cannot put the AF_XDP socket into " XLANE_MAP_XSKS "[" +
                           std::to_string(queue) + "]");
    return {};
}

Status SteeringTable::clear_xsk(uint32_t queue) {
    if (bpf_map_delete_elem(maps_.xsks.get(), &queue) != 0 && errno != ENOENT)
        return errno_error("cannot clear " XLANE_MAP_XSKS "[" + std::to_string(queue) + "]");
    return {};
}

}  // namespace xlane
