// xsk_probe: proves, end to end, that a steering entry delivers a UDP flow to
// an AF_XDP socket instead of the kernel socket, and that the flow returns to
// the kernel as soon as that AF_XDP socket closes. Run it inside the namespace
// of the interface xlane is attached to (nsenter --net); it sends the test
// datagrams itself from a socket created in the peer namespace.
//
// Phases (each bounded by --timeout-ms):
//   kernel-before: no entry            -> the kernel socket gets every datagram
//   steered:       XSK + bind/flow     -> the XSK gets every datagram, the kernel none
//   kernel-after:  XSK closed, entry kept -> the kernel socket gets every datagram
// Exit 0 when all hold, 1 when one does not, 2 when the probe cannot run.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "afxdp/xsk_port.h"
#include "common/unique_fd.h"
#include "packet/frame_parser.h"
#include "steering/steering_table.h"
#include "xdp/netdev.h"

namespace {

using namespace xlane;
using Clock = std::chrono::steady_clock;

struct Options {
    std::string iface;
    uint32_t queue = 0;
    std::string local = "198.18.0.2";
    uint16_t port = 0;
    std::string peer_netns;  // e.g. /run/netns/xl-...-a
    std::string key = "bind";
    int count = 20;
    int timeout_ms = 5000;
    std::string hold_file;  // see --hold-file
};

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "xsk_probe: cannot run: %s\n", what.c_str());
    std::exit(2);
}

template <typename T>
T must(Result<T> result) {
    if (!result) die(result.error().describe());
    return std::move(result).value();
}

void must(const Status& status) {
    if (!status) die(status.error().describe());
}

// The probed endpoint as a socket address of its own family.
struct SocketAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;
    int family = AF_INET;
    [[nodiscard]] const sockaddr* get() const {
        return reinterpret_cast<const sockaddr*>(&storage);
    }
};

SocketAddress socket_address(const std::string& addr, uint16_t port) {
    SocketAddress out;
    auto* in = reinterpret_cast<sockaddr_in*>(&out.storage);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&out.storage);
    if (::inet_pton(AF_INET, addr.c_str(), &in->sin_addr) == 1) {
        in->sin_family = AF_INET;
        in->sin_port = htons(port);
        out.length = sizeof(sockaddr_in);
        return out;
    }
    if (::inet_pton(AF_INET6, addr.c_str(), &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons(port);
        out.length = sizeof(sockaddr_in6);
        out.family = AF_INET6;
        return out;
    }
    die("bad IP address " + addr);
}

// The kernel socket the flow belongs to when xlane does not steer it.
UniqueFd open_kernel_receiver(const Options& o) {
    const SocketAddress sa = socket_address(o.local, o.port);
    UniqueFd fd(::socket(sa.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) die("socket(SOCK_DGRAM) failed");
    if (::bind(fd.get(), sa.get(), sa.length) != 0)
        die("cannot bind the kernel UDP socket to " + o.local + " port " + std::to_string(o.port));
    return fd;
}

// A UDP socket that lives in the peer namespace (sockets keep the namespace
// they were created in), connected to the probed endpoint.
UniqueFd open_sender(const Options& o) {
    const SocketAddress sa = socket_address(o.local, o.port);
    UniqueFd fd;
    {
        auto inside = must(NetnsSwitch::enter(o.peer_netns));
        fd.reset(::socket(sa.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    }
    if (!fd) die("cannot create the sender socket in " + o.peer_netns);
    if (::connect(fd.get(), sa.get(), sa.length) != 0)
        die("cannot connect the sender socket to " + o.local);
    return fd;
}

void send_datagrams(int fd, int count, const char* phase) {
    for (int i = 0; i < count; ++i) {
        const std::string payload = std::string("xsk_probe ") + phase + " " + std::to_string(i);
        if (::send(fd, payload.data(), payload.size(), 0) < 0) die("send failed");
    }
}

// Datagrams waiting on the kernel socket (non-blocking drain).
int drain_kernel(int fd) {
    int got = 0;
    std::array<char, 2048> buf{};
    while (::recv(fd, buf.data(), buf.size(), 0) >= 0) ++got;
    return got;
}

// Frames on the XSK that belong to the probed UDP port.
int drain_xsk(afxdp::XskPort& port, uint16_t udp_port) {
    int got = 0;
    std::array<afxdp::RxFrame, 64> frames{};
    size_t n;
    while ((n = port.receive(frames)) > 0) {
        for (size_t i = 0; i < n; ++i) {
            const auto parsed =
                packet::parse_frame(packet::Bytes(frames[i].data.data(), frames[i].data.size()),
                                    packet::ParseOptions{.verify_checksums = false});
            if (parsed.ok() && parsed.protocol == IPPROTO_UDP && parsed.dst_port == udp_port) ++got;
            port.recycle(frames[i].addr);
        }
    }
    return got;
}

struct Counts {
    int kernel = 0;
    int xsk = 0;
};

// Sends `count` datagrams and collects them until `done(counts)` or timeout;
// then keeps listening a little longer so late strays are counted too.
template <typename Done>
Counts run_phase(const Options& o, int sender, int kernel, afxdp::XskPort* xsk, const char* phase,
                 Done done) {
    Counts counts;
    send_datagrams(sender, o.count, phase);
    const auto deadline = Clock::now() + std::chrono::milliseconds(o.timeout_ms);
    auto collect = [&] {
        counts.kernel += drain_kernel(kernel);
        if (xsk != nullptr) counts.xsk += drain_xsk(*xsk, o.port);
    };
    while (Clock::now() < deadline) {
        collect();
        if (done(counts)) break;
        pollfd pfd{kernel, POLLIN, 0};
        ::poll(&pfd, 1, 10);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    collect();
    std::printf("xsk_probe: %-13s sent %d, kernel socket got %d, AF_XDP socket got %d\n", phase,
                o.count, counts.kernel, counts.xsk);
    return counts;
}

// Lets a test look at the live entry (`xlane flows`): creates the file, then
// waits (bounded) until the test deletes it.
void hold(const Options& o) {
    {
        std::FILE* f = std::fopen(o.hold_file.c_str(), "w");
        if (f == nullptr) die("cannot create " + o.hold_file);
        std::fprintf(f, "%d\n", static_cast<int>(::getpid()));
        std::fclose(f);
    }
    const auto deadline = Clock::now() + std::chrono::milliseconds(o.timeout_ms);
    while (::access(o.hold_file.c_str(), F_OK) == 0) {
        if (Clock::now() >= deadline) {
            ::unlink(o.hold_file.c_str());
            std::printf("xsk_probe: nobody released %s in time\n", o.hold_file.c_str());
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

// Removes the steering entry on every exit path.
class SteeringEntryGuard {
  public:
    SteeringEntryGuard(SteeringTable& table, std::optional<BindKey> bind,
                       std::optional<FlowKey> flow)
        : table_(table), bind_(bind), flow_(flow) {}
    ~SteeringEntryGuard() {
        if (bind_) (void)table_.remove_bind(*bind_);
        if (flow_) (void)table_.remove_flow(*flow_);
    }
    SteeringEntryGuard(const SteeringEntryGuard&) = delete;
    SteeringEntryGuard& operator=(const SteeringEntryGuard&) = delete;

  private:
    SteeringTable& table_;
    std::optional<BindKey> bind_;
    std::optional<FlowKey> flow_;
};

int run(const Options& o) {
    const unsigned ifindex = must(interface_index(o.iface));
    UniqueFd kernel = open_kernel_receiver(o);
    UniqueFd sender = open_sender(o);
    bool ok = true;
    auto expect = [&ok](bool holds, const char* what) {
        if (!holds) {
            std::printf("xsk_probe: FAIL: %s\n", what);
            ok = false;
        }
    };

    Counts before = run_phase(o, sender.get(), kernel.get(), nullptr, "kernel-before",
                              [&](const Counts& c) { return c.kernel >= o.count; });
    expect(before.kernel == o.count, "without a steering entry the kernel socket gets the flow");

    SteeringTable table = must(SteeringTable::open_interface(o.iface));
    afxdp::XskPortConfig config;
    config.ifindex = ifindex;
    config.queue = o.queue;
    config.mode = afxdp::XskMode::kCopy;
    config.umem.frame_count = 1024;
    auto xsk = must(afxdp::XskPort::open(config));
    must(table.set_xsk(o.queue, xsk->fd()));

    const auto owner = must(SteerOwner::current_process(XLANE_STEER_TEST_ENTRY));
    const Endpoint local{must(IpAddress::parse(o.local)), o.port};
    std::optional<BindKey> bind;
    std::optional<FlowKey> flow;
    if (o.key == "bind") {
        bind = BindKey{L4Proto::udp, local};
        must(table.add_bind(*bind, owner));
    } else {
        sockaddr_storage ss{};
        socklen_t len = sizeof(ss);
        if (::getsockname(sender.get(), reinterpret_cast<sockaddr*>(&ss), &len) != 0)
            die("getsockname on the sender failed");
        flow = FlowKey{L4Proto::udp, local,
                       must(Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len))};
        must(table.add_flow(*flow, owner));
    }
    SteeringEntryGuard guard(table, bind, flow);
    if (!o.hold_file.empty()) hold(o);

    Counts steered = run_phase(o, sender.get(), kernel.get(), xsk.get(), "steered",
                               [&](const Counts& c) { return c.xsk >= o.count; });
    expect(steered.xsk == o.count, "with the entry and the XSK every datagram reaches the XSK");
    expect(steered.kernel == 0, "with the entry and the XSK the kernel socket gets nothing");

    // Closing the XSK empties its xlane_xsks slot in the kernel; the steering
    // entry stays, and the program must fall back to XDP_PASS.
    xsk.reset();
    Counts after = run_phase(o, sender.get(), kernel.get(), nullptr, "kernel-after",
                             [&](const Counts& c) { return c.kernel >= o.count; });
    expect(after.kernel == o.count, "after the XSK closed the kernel socket gets the flow again");

    std::printf("xsk_probe: %s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{
        "Check that a steering entry sends a UDP flow to an AF_XDP socket, not the kernel"};
    Options o;
    app.add_option("--iface", o.iface, "Interface xlane is attached to")->required();
    app.add_option("--queue", o.queue, "RX queue of the AF_XDP socket");
    app.add_option("--local", o.local, "Local IPv4 or IPv6 address of the probed UDP endpoint");
    app.add_option("--port", o.port, "Local UDP port of the probed endpoint")->required();
    app.add_option("--peer-netns", o.peer_netns, "Namespace path the datagrams are sent from")
        ->required();
    app.add_option("--key", o.key, "Steering entry to enter: bind (3-tuple) or flow (5-tuple)")
        ->check(CLI::IsMember({"bind", "flow"}));
    app.add_option("--count", o.count, "Datagrams per phase");
    app.add_option("--timeout-ms", o.timeout_ms, "Bound on each phase");
    app.add_option("--hold-file", o.hold_file,
                   "Once the entry is in place, create this file and wait until it is deleted");
    CLI11_PARSE(app, argc, argv);
    return run(o);
}
