// StatsPublisher and the reader (userspace/stats): what a publisher writes is
// what a reader sees, in one process and across fork(); stale segments go.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "stats/fd_stats.h"
#include "stats/process_identity.h"
#include "stats/stats_publisher.h"
#include "stats/stats_reader.h"

using namespace xlane::stats;
namespace fs = std::filesystem;

namespace {

// A private segment directory per test, removed with everything in it.
struct TempDir {
    TempDir() {
        char name[] = "/tmp/xlane-stats-test-XXXXXX";
        REQUIRE(::mkdtemp(name) != nullptr);
        path = name;
        fs::permissions(path, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                  fs::perms::others_read | fs::perms::others_exec);
    }
    ~TempDir() {
        std::error_code ignored;
        fs::remove_all(path, ignored);
    }
    std::string path;
};

StatsEndpoint v4(const char* address, uint16_t port) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    REQUIRE(inet_pton(AF_INET, address, &in.sin_addr) == 1);
    return endpoint_from_sockaddr(&in, sizeof(in));
}

StatsEndpoint v6(const char* address, uint16_t port) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    in6.sin6_port = htons(port);
    REQUIRE(inet_pton(AF_INET6, address, &in6.sin6_addr) == 1);
    return endpoint_from_sockaddr(&in6, sizeof(in6));
}

SocketInfo udp_socket(int fd, uint16_t port) {
    SocketInfo info;
    info.fd = fd;
    info.family = AF_INET;
    info.protocol = IPPROTO_UDP;
    info.path = Path::fast;
    info.local = v4("198.18.0.2", port);
    return info;
}

ProcessSnapshot only_process(const TempDir& dir, int pid) {
    auto report = read_segments({dir.path, pid, true});
    REQUIRE(report.ok());
    REQUIRE(report->processes.size() == 1);
    return report->processes[0];
}

std::vector<nlohmann::json> read_json_lines(const std::string& path) {
    std::vector<nlohmann::json> lines;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
    return lines;
}

// Waits for a child and returns its exit code (or 128 + signal).
int wait_child(pid_t pid) {
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

TEST_CASE("endpoints print as the tool shows them") {
    CHECK(to_string(v4("198.18.0.2", 5000)) == "198.18.0.2:5000");
    CHECK(to_string(v6("fd00:198:18::2", 7)) == "[fd00:198:18::2]:7");
    CHECK(to_string(v6("::ffff:198.18.0.9", 53)) == "198.18.0.9:53");
    CHECK(to_string(StatsEndpoint{}) == "*");
    const uint16_t unix_family = AF_UNIX;
    CHECK(endpoint_from_sockaddr(&unix_family, sizeof(unix_family)).set == 0);
    CHECK(segment_pid("xlane-stats.123") == 123);
    CHECK_FALSE(segment_pid("xlane-stats.12x"));
    CHECK_FALSE(segment_pid("xlane-stats."));
    CHECK_FALSE(segment_pid("other.123"));
}

TEST_CASE("a reader sees what the publisher publishes, updates and retires") {
    TempDir dir;
    StatsPublisher publisher(dir.path.c_str());
    CHECK(std::string(publisher.segment_path()).empty());  // lazily created

    SocketSlot* a = publisher.publish(udp_socket(7, 5000));
    SocketInfo tcp;
    tcp.fd = 9;
    tcp.family = AF_INET6;
    tcp.protocol = IPPROTO_TCP;
    tcp.path = Path::kernel;
    tcp.reason = Reason::rule;
    tcp.reason_text = "/etc/xlane.conf:2: kernel tcp client 198.18.0.9/32:7000";
    tcp.local = v6("fd00:198:18::2", 40000);
    tcp.remote = v6("fd00:198:18::9", 7000);
    SocketSlot* b = publisher.publish(tcp);
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    const std::string segment = dir.path + "/xlane-stats." + std::to_string(::getpid());
    CHECK(publisher.segment_path() == segment);

    count(a, Counter::rx_packets, 3);
    count(a, Counter::rx_bytes, 300);
    count(a, Counter::tx_eagain);
    count(nullptr, Counter::rx_packets);  // an unpublished socket: nothing happens

    ProcessSnapshot process = only_process(dir, ::getpid());
    CHECK(process.pid == ::getpid());
    CHECK(process.uid == ::geteuid());
    CHECK(process.start_time == process_start_time(::getpid()));
    CHECK_FALSE(process.comm.empty());
    REQUIRE(process.sockets.size() == 2);
    const SocketSnapshot& first = process.sockets[0];
    CHECK(first.fd == 7);
    CHECK(first.protocol == IPPROTO_UDP);
    CHECK(first.path == Path::fast);
    CHECK(first.reason == Reason::none);
    CHECK(to_string(first.local) == "198.18.0.2:5000");
    CHECK(first.remote.set == 0);
    CHECK(first.counter(Counter::rx_packets) == 3);
    CHECK(first.counter(Counter::rx_bytes) == 300);
    CHECK(first.counter(Counter::tx_eagain) == 1);
    CHECK(first.counter(Counter::tx_packets) == 0);
    const SocketSnapshot& second = process.sockets[1];
    CHECK(second.fd == 9);
    CHECK(second.family == AF_INET6);
    CHECK(second.reason == Reason::rule);
    CHECK(second.reason_text == tcp.reason_text);
    CHECK(to_string(second.remote) == "[fd00:198:18::9]:7000");

    SECTION("update: a socket that falls back shows its new path and reason") {
        SocketInfo fallen = udp_socket(7, 5000);
        fallen.path = Path::kernel;
        fallen.reason = Reason::unsupported_option;
        std::string long_text(200, 'x');  // longer than the slot holds
        fallen.reason_text = long_text.c_str();
        publisher.update(a, fallen);
        const SocketSnapshot again = only_process(dir, ::getpid()).sockets[0];
        CHECK(again.path == Path::kernel);
        CHECK(again.reason == Reason::unsupported_option);
        CHECK(again.reason_text == std::string(kReasonTextSize - 1, 'x'));
        CHECK(again.counter(Counter::rx_packets) == 3);  // counters survive an update
    }

    SECTION("retire: the socket disappears and its slot is reused with zeroed counters") {
        publisher.retire(a);
        publisher.retire(a);  // twice is harmless
        process = only_process(dir, ::getpid());
        REQUIRE(process.sockets.size() == 1);
        CHECK(process.sockets[0].fd == 9);
        SocketSlot* c = publisher.publish(udp_socket(11, 5001));
        CHECK(c == a);
        process = only_process(dir, ::getpid());
        REQUIRE(process.sockets.size() == 2);
        CHECK(process.sockets[0].fd == 11);
        CHECK(process.sockets[0].counter(Counter::rx_packets) == 0);
    }

    SECTION("ports: counters per interface, ring and UMEM use per queue") {
        process = only_process(dir, ::getpid());
        CHECK(process.usage_realtime_ns == 0);
        PortUsage ports[2]{};
        std::strcpy(ports[0].ifname, "xb1");
        ports[0].queues = 2;
        ports[0].rx_dropped_queue_full = 7;
        std::strcpy(ports[1].ifname, "xb2");
        QueueUsage queues[3]{};
        std::strcpy(queues[0].ifname, "xb1");
        queues[0].queue = 0;
        std::strcpy(queues[1].ifname, "xb1");
        queues[1].queue = 1;
        queues[1].umem_frames = 4096;
        queues[1].umem_frames_free = 1996;
        queues[1].fill_ring_used = 2048;
        queues[1].kernel_rx_ring_full = 3;
        std::strcpy(queues[2].ifname, "xb2");
        publisher.set_ports(ports, 2, queues, 3);
        process = only_process(dir, ::getpid());
        REQUIRE(process.ports.size() == 2);
        CHECK(std::string(process.ports[0].ifname) == "xb1");
        CHECK(process.ports[0].queues == 2);
        CHECK(process.ports[0].rx_dropped_queue_full == 7);
        CHECK(std::string(process.ports[1].ifname) == "xb2");
        REQUIRE(process.queues.size() == 3);
        CHECK(process.queues[1].queue == 1);
        CHECK(process.queues[1].umem_frames - process.queues[1].umem_frames_free == 2100);
        CHECK(process.queues[1].fill_ring_used == 2048);
        CHECK(process.queues[1].kernel_rx_ring_full == 3);
        CHECK(std::string(process.queues[2].ifname) == "xb2");
        CHECK(process.usage_realtime_ns > 0);
        publisher.set_ports(ports, 1);  // both tables replaced
        process = only_process(dir, ::getpid());
        CHECK(process.ports.size() == 1);
        CHECK(process.queues.empty());
    }

    SECTION("the segment is private to its user and gone after finish()") {
        struct stat st {};
        REQUIRE(::stat(segment.c_str(), &st) == 0);
        CHECK((st.st_mode & 0777) == 0600);
        CHECK(st.st_uid == ::geteuid());
        publisher.finish();
        CHECK_FALSE(fs::exists(segment));
        CHECK(publisher.publish(udp_socket(12, 1)) == nullptr);  // after exit: nothing
        count(a, Counter::rx_packets);                           // still mapped: harmless
    }
}

TEST_CASE("slots grow in chunks: no fixed limit, earlier slots never move") {
    TempDir dir;
    StatsPublisher publisher(dir.path.c_str());
    std::vector<SocketSlot*> slots;
    for (int fd = 0; fd < 300; ++fd) {  // 64 + 64 + 128 + 256: four chunks
        slots.push_back(publisher.publish(udp_socket(fd, static_cast<uint16_t>(10000 + fd))));
        REQUIRE(slots.back() != nullptr);
    }
    for (int fd = 0; fd < 300; ++fd) count(slots[fd], Counter::tx_packets, static_cast<uint64_t>(fd));
    const ProcessSnapshot process = only_process(dir, ::getpid());
    REQUIRE(process.sockets.size() == 300);
    for (int fd = 0; fd < 300; ++fd) {
        CHECK(process.sockets[fd].fd == fd);
        CHECK(process.sockets[fd].local.port == 10000 + fd);
        CHECK(process.sockets[fd].counter(Counter::tx_packets) == static_cast<uint64_t>(fd));
    }
}

TEST_CASE("XLANE_STATS_FILE: one JSON line per socket at close and at exit") {
    TempDir dir;
    const std::string file_template = dir.path + "/summary.%p.jsonl";
    const std::string file = dir.path + "/summary." + std::to_string(::getpid()) + ".jsonl";
    {
        StatsPublisher publisher(dir.path.c_str(), file_template.c_str());
        SocketSlot* closed = publisher.publish(udp_socket(5, 6000));
        SocketInfo open_info = udp_socket(6, 6001);
        open_info.path = Path::kernel;
        open_info.reason = Reason::rule;
        open_info.reason_text = "default: kernel any any *:53 (\"DNS\")";
        SocketSlot* open = publisher.publish(open_info);
        count(closed, Counter::rx_packets, 2);
        count(closed, Counter::rx_bytes, 128);
        count(open, Counter::tx_drops);
        publisher.retire(closed);
        REQUIRE(read_json_lines(file).size() == 1);
    }  // the destructor finishes: the socket still open is summarised as "exit"
    const auto lines = read_json_lines(file);
    REQUIRE(lines.size() == 2);
    CHECK(lines[0]["event"] == "close");
    CHECK(lines[0]["pid"] == ::getpid());
    CHECK(lines[0]["fd"] == 5);
    CHECK(lines[0]["proto"] == "udp");
    CHECK(lines[0]["family"] == "inet");
    CHECK(lines[0]["local"] == "198.18.0.2:6000");
    CHECK(lines[0]["remote"].is_null());
    CHECK(lines[0]["path"] == "fast");
    CHECK(lines[0]["reason"] == "none");
    CHECK(lines[0]["rx_packets"] == 2);
    CHECK(lines[0]["rx_bytes"] == 128);
    CHECK(lines[0]["seconds_open"].is_number());
    CHECK(lines[1]["event"] == "exit");
    CHECK(lines[1]["fd"] == 6);
    CHECK(lines[1]["reason"] == "rule");
    CHECK(lines[1]["reason_text"] == "default: kernel any any *:53 (\"DNS\")");
    CHECK(lines[1]["tx_drops"] == 1);
    struct stat st {};
    REQUIRE(::stat(file.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
}

TEST_CASE("fork: the child publishes into its own segment, the parent's is untouched") {
    TempDir dir;
    StatsPublisher publisher(dir.path.c_str());
    SocketSlot* inherited = publisher.publish(udp_socket(3, 7000));
    REQUIRE(inherited != nullptr);
    count(inherited, Counter::rx_packets, 10);

    int to_parent[2];
    int to_child[2];
    REQUIRE(::pipe(to_parent) == 0);
    REQUIRE(::pipe(to_child) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(to_child[1]);  // EOF if the parent goes away
        // The inherited slot pointer now lands in the child's own segment.
        count(inherited, Counter::rx_packets, 5);
        SocketSlot* own = publisher.publish(udp_socket(4, 7001));
        count(own, Counter::tx_packets, 2);
        char go = 0;
        bool ok = own != nullptr && ::write(to_parent[1], "r", 1) == 1 && ::read(to_child[0], &go, 1) == 1;
        publisher.finish();
        ::_exit(ok ? 0 : 1);
    }
    char ready = 0;
    REQUIRE(::read(to_parent[0], &ready, 1) == 1);

    const ProcessSnapshot parent = only_process(dir, ::getpid());
    REQUIRE(parent.sockets.size() == 1);
    CHECK(parent.sockets[0].counter(Counter::rx_packets) == 10);
    const ProcessSnapshot forked = only_process(dir, child);
    CHECK(forked.pid == child);
    CHECK(forked.start_time == process_start_time(child));
    REQUIRE(forked.sockets.size() == 2);
    CHECK(forked.sockets[0].fd == 3);
    CHECK(forked.sockets[0].counter(Counter::rx_packets) == 5);  // reset at fork, then +5
    CHECK(forked.sockets[1].fd == 4);
    CHECK(forked.sockets[1].counter(Counter::tx_packets) == 2);

    REQUIRE(::write(to_child[1], "g", 1) == 1);
    CHECK(wait_child(child) == 0);
    CHECK_FALSE(fs::exists(dir.path + "/xlane-stats." + std::to_string(child)));
    count(inherited, Counter::rx_packets, 1);
    CHECK(only_process(dir, ::getpid()).sockets[0].counter(Counter::rx_packets) == 11);
    for (int fd : {to_parent[0], to_parent[1], to_child[0], to_child[1]}) ::close(fd);
}

TEST_CASE("stale segments: a killed owner's and an exec'd owner's are removed") {
    TempDir dir;
    SECTION("the owner was killed") {
        int ready[2];
        REQUIRE(::pipe(ready) == 0);
        const pid_t child = ::fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            StatsPublisher publisher(dir.path.c_str());
            bool ok = publisher.publish(udp_socket(3, 1)) != nullptr && ::write(ready[1], "r", 1) == 1;
            ::pause();
            ::_exit(ok ? 0 : 1);
        }
        char byte = 0;
        REQUIRE(::read(ready[0], &byte, 1) == 1);
        const std::string segment = dir.path + "/xlane-stats." + std::to_string(child);
        CHECK(only_process(dir, child).sockets.size() == 1);
        ::kill(child, SIGKILL);
        CHECK(wait_child(child) == 128 + SIGKILL);
        REQUIRE(fs::exists(segment));
        auto report = read_segments({dir.path, std::nullopt, true});
        REQUIRE(report.ok());
        CHECK(report->processes.empty());
        REQUIRE(report->removed.size() == 1);
        CHECK(report->removed[0] == segment);
        CHECK_FALSE(fs::exists(segment));
        ::close(ready[0]);
        ::close(ready[1]);
    }
    SECTION("same pid, other start time: the pid was reused") {
        // A segment written by this very process, then its start time changed
        // as if a previous owner of our pid had written it.
        const std::string segment = dir.path + "/xlane-stats." + std::to_string(::getpid());
        {
            StatsPublisher publisher(dir.path.c_str());
            REQUIRE(publisher.publish(udp_socket(3, 1)) != nullptr);
            fs::copy_file(segment, segment + ".keep");
        }
        fs::rename(segment + ".keep", segment);
        {
            std::fstream file(segment, std::ios::in | std::ios::out | std::ios::binary);
            const uint64_t old_start = process_start_time(::getpid()) - 1;
            file.seekp(offsetof(SegmentHeader, start_time));
            file.write(reinterpret_cast<const char*>(&old_start), sizeof(old_start));
        }
        auto report = read_segments({dir.path, std::nullopt, true});
        REQUIRE(report.ok());
        CHECK(report->processes.empty());
        CHECK(report->removed.size() == 1);
    }
    SECTION("the owner exec'd a program without libxlane.so") {
        int ready[2];
        REQUIRE(::pipe2(ready, O_CLOEXEC) == 0);
        const pid_t child = ::fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            StatsPublisher publisher(dir.path.c_str());
            if (publisher.publish(udp_socket(3, 1)) == nullptr) ::_exit(1);
            // exec keeps pid and start time; the pipe closes on exec.
            ::execlp("sleep", "sleep", "30", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        ::close(ready[1]);
        char byte = 0;
        CHECK(::read(ready[0], &byte, 1) == 0);  // EOF: the child has exec'd
        auto report = read_segments({dir.path, child, true});
        ::kill(child, SIGKILL);
        wait_child(child);
        ::close(ready[0]);
        REQUIRE(report.ok());
        CHECK(report->processes.empty());
        CHECK(report->removed.size() == 1);
    }
}

TEST_CASE("a segment of another layout version is refused with a message") {
    TempDir dir;
    const std::string segment = dir.path + "/xlane-stats.1";
    {
        StatsPublisher publisher(dir.path.c_str());
        REQUIRE(publisher.publish(udp_socket(3, 1)) != nullptr);
        fs::copy_file(publisher.segment_path(), segment);
    }
    {
        std::fstream file(segment, std::ios::in | std::ios::out | std::ios::binary);
        const uint32_t version = kLayoutVersion + 1;
        file.seekp(offsetof(SegmentHeader, version));
        file.write(reinterpret_cast<const char*>(&version), sizeof(version));
    }
    auto process = read_segment(segment);
    REQUIRE_FALSE(process.ok());
    CHECK(process.error().describe().find("layout version " + std::to_string(kLayoutVersion + 1)) !=
          std::string::npos);
}

TEST_CASE("snapshots are consistent while the owner rewrites a socket") {
    TempDir dir;
    StatsPublisher publisher(dir.path.c_str());
    // Every version the writer stores has fd == local port == remote port.
    auto version = [](int n) {
        SocketInfo info = udp_socket(n, static_cast<uint16_t>(n));
        info.remote = v4("198.18.0.1", static_cast<uint16_t>(n));
        return info;
    };
    SocketSlot* slot = publisher.publish(version(1));
    REQUIRE(slot != nullptr);
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        // Far more often than any socket changes (bind, connect, fall-back),
        // with a breath now and then as a real owner has.
        for (int n = 1; !stop.load(std::memory_order_relaxed); n = n % 60000 + 1) {
            publisher.update(slot, version(n));
            count(slot, Counter::tx_packets);
            if (n % 16 == 0) std::this_thread::yield();
        }
    });
    uint64_t last_tx = 0;
    int torn = 0;
    int shrunk = 0;
    int missing = 0;
    // At least 300 reads, and on until the writer has been busy for a while
    // (it may start late on a loaded machine); bounded in time.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (int i = 0; i < 300 || (last_tx < 10000 && std::chrono::steady_clock::now() < deadline); ++i) {
        auto process = read_segment(publisher.segment_path());
        if (!process.ok() || process->sockets.size() != 1) {
            ++missing;
            continue;
        }
        const SocketSnapshot& socket = process->sockets[0];
        if (socket.local.port != socket.fd || socket.remote.port != socket.fd) ++torn;
        if (socket.counter(Counter::tx_packets) < last_tx) ++shrunk;  // counters only grow
        last_tx = socket.counter(Counter::tx_packets);
    }
    stop = true;
    writer.join();
    CHECK(missing == 0);
    CHECK(torn == 0);
    CHECK(shrunk == 0);
    CHECK(last_tx > 0);
}

TEST_CASE("another user cannot read a process's socket statistics") {
    if (::geteuid() != 0) {
        WARN("needs root to switch to another user; not checked");
        return;
    }
    TempDir dir;
    StatsPublisher publisher(dir.path.c_str());
    REQUIRE(publisher.publish(udp_socket(3, 1)) != nullptr);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(2);
        // Only the parent's segment is looked at (the child's own copy, made
        // at fork, belongs to root as well now).
        auto report = read_segments({dir.path, static_cast<int>(::getppid()), true});
        const bool hidden = report.ok() && report->processes.empty() && report->unreadable == 1 &&
                            report->removed.empty();
        const bool open_refused = ::open(publisher.segment_path(), O_RDONLY) < 0 && errno == EACCES;
        ::_exit(hidden && open_refused ? 0 : 1);
    }
    CHECK(wait_child(child) == 0);
    CHECK(only_process(dir, ::getpid()).sockets.size() == 1);  // and it was not removed
}

namespace {
StatsPublisher* g_table_publisher = nullptr;
StatsPublisher& table_publisher() noexcept {
    return *g_table_publisher;
}
}  // namespace

TEST_CASE("FdStatsTable: publish by fd, endpoints from the kernel, dup shares, last close retires") {
    TempDir dir;
    const std::string summary = dir.path + "/summary.jsonl";
    StatsPublisher publisher(dir.path.c_str(), summary.c_str());
    g_table_publisher = &publisher;
    auto table = std::make_unique<FdStatsTable>(table_publisher);

    const int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
    REQUIRE(fd >= 0);
    table->opened(fd, AF_INET, IPPROTO_UDP, Path::kernel, Reason::undecided);
    ProcessSnapshot process = only_process(dir, ::getpid());
    REQUIRE(process.sockets.size() == 1);
    CHECK(process.sockets[0].fd == fd);
    CHECK(process.sockets[0].local.set == 0);  // not bound yet
    CHECK(process.sockets[0].reason == Reason::undecided);

    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    address.sin_port = htons(9);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    table->changed(fd, Path::kernel, Reason::rule, "default: kernel any any 127.0.0.0/8");
    count(table->slot(fd), Counter::tx_packets, 4);
    process = only_process(dir, ::getpid());
    REQUIRE(process.sockets.size() == 1);
    CHECK(to_string(process.sockets[0].local).rfind("127.0.0.1:", 0) == 0);
    CHECK(process.sockets[0].local.port != 0);
    CHECK(to_string(process.sockets[0].remote) == "127.0.0.1:9");
    CHECK(process.sockets[0].reason == Reason::rule);
    CHECK(process.sockets[0].counter(Counter::tx_packets) == 4);

    const int copy = ::dup(fd);
    REQUIRE(copy >= 0);
    table->duplicated(fd, copy);
    CHECK(table->slot(copy) == table->slot(fd));
    ::close(fd);
    table->closed(fd);
    CHECK(table->slot(fd) == nullptr);
    count(table->slot(copy), Counter::tx_packets);
    process = only_process(dir, ::getpid());
    REQUIRE(process.sockets.size() == 1);  // the dup keeps the socket
    CHECK(process.sockets[0].counter(Counter::tx_packets) == 5);
    CHECK_FALSE(fs::exists(summary));

    ::close(copy);
    table->closed_range(0, ~0u);
    CHECK(only_process(dir, ::getpid()).sockets.empty());
    const auto lines = read_json_lines(summary);
    REQUIRE(lines.size() == 1);  // one socket, one summary, however many fds named it
    CHECK(lines[0]["tx_packets"] == 5);
    CHECK(lines[0]["remote"] == "127.0.0.1:9");

    // Out of range and unknown fds are ignored.
    table->opened(-1, AF_INET, IPPROTO_UDP, Path::kernel, Reason::none);
    table->changed(12345, Path::fast, Reason::none);
    table->duplicated(12345, 12346);
    CHECK(table->slot(12346) == nullptr);
    CHECK(table->slot(FdStatsTable::kCapacity) == nullptr);
    g_table_publisher = nullptr;
}

namespace {
// A program's own atfork child handler that runs BEFORE the publisher's
// (registered at start-up, so first in line) and already uses the publisher,
// as libxlane.so's handler does when it hands inherited sockets back.
StatsPublisher* g_early_publisher = nullptr;
SocketSlot* g_early_slot = nullptr;
void early_child_handler() {
    if (g_early_publisher != nullptr)
        g_early_publisher->update_path(g_early_slot, Path::kernel, Reason::forked, "inherited");
}
const bool g_early_handler_installed = [] {
    return pthread_atfork(nullptr, nullptr, early_child_handler) == 0;
}();
}  // namespace

TEST_CASE("fork: a handler that runs before the publisher's never touches the parent's segment") {
    REQUIRE(g_early_handler_installed);
    TempDir dir;
    StatsPublisher publisher(dir.path.c_str());
    g_early_slot = publisher.publish(udp_socket(3, 7000));
    REQUIRE(g_early_slot != nullptr);
    count(g_early_slot, Counter::rx_packets, 10);
    g_early_publisher = &publisher;
    int ready[2];
    int done[2];
    REQUIRE(::pipe(ready) == 0);
    REQUIRE(::pipe(done) == 0);
    const pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        ::close(ready[1]);  // EOF if the parent goes away
        ::close(done[0]);
        char byte = 0;
        (void)!::write(done[1], "r", 1);    // the atfork handlers have run
        (void)!::read(ready[0], &byte, 1);  // hold the segment until the parent has looked
        publisher.finish();
        ::_exit(0);
    }
    ::close(ready[0]);
    ::close(done[1]);
    g_early_publisher = nullptr;
    char byte = 0;
    CHECK(::read(done[0], &byte, 1) == 1);
    ::close(done[0]);
    auto parent = read_segments({dir.path, ::getpid(), true});
    auto forked = read_segments({dir.path, child, true});
    ::close(ready[1]);
    CHECK(wait_child(child) == 0);
    REQUIRE(parent.ok());
    REQUIRE(forked.ok());
    REQUIRE(parent->processes.size() == 1);
    REQUIRE(parent->processes[0].sockets.size() == 1);
    const SocketSnapshot& in_parent = parent->processes[0].sockets[0];
    CHECK(in_parent.path == Path::fast);  // the child's update went to its own segment
    CHECK(in_parent.counter(Counter::rx_packets) == 10);
    REQUIRE(forked->processes.size() == 1);
    REQUIRE(forked->processes[0].sockets.size() == 1);
    const SocketSnapshot& in_child = forked->processes[0].sockets[0];
    CHECK(in_child.path == Path::kernel);
    CHECK(in_child.reason == Reason::forked);
    CHECK(in_child.reason_text == "inherited");
    CHECK(in_child.counter(Counter::rx_packets) == 0);
}

TEST_CASE("FdStatsTable keeps the errno the application's call left") {
    TempDir dir;
    StatsPublisher publisher(dir.path.c_str());
    g_table_publisher = &publisher;
    auto table = std::make_unique<FdStatsTable>(table_publisher);
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(fd >= 0);
    errno = EINPROGRESS;
    table->opened(fd, AF_INET, IPPROTO_TCP, Path::kernel, Reason::tcp_undecided);  // getpeername: ENOTCONN
    CHECK(errno == EINPROGRESS);
    table->changed(fd, Path::kernel, Reason::tcp_undecided);
    CHECK(errno == EINPROGRESS);
    table->closed(fd);
    CHECK(errno == EINPROGRESS);
    ::close(fd);
    g_table_publisher = nullptr;
}
