// Multi-threaded socket programs (they know nothing of xlane) that threads.sh
// runs under LD_PRELOAD=libxlane.so, in normal and sanitizer builds:
//
//   thread_probe tcp-server PORT THREADS CONNECTIONS
//       An echo server on 198.18.0.2:PORT. Every thread waits on its own
//       epoll set, which also holds one epoll set shared by all threads:
//       the listener (EPOLLEXCLUSIVE) and every other accepted connection
//       live in the shared set (EPOLLONESHOT, re-armed by whichever thread
//       served it), the rest in the accepting thread's own set. One UDP
//       socket (accelerated when xlane is attached) in the shared set takes
//       the clients' "done" notices. Each frame's checksum is verified
//       before it is echoed. Exits 0 once CONNECTIONS connections were
//       accepted, all were open at once, all ended, and one notice per
//       client thread arrived.
//   thread_probe tcp-clients PORT THREADS CONNECTIONS
//       CONNECTIONS connections to 198.18.0.2:PORT from THREADS threads,
//       each with its own epoll set; every connection echoes kRounds frames
//       of pseudo-random length and content and checks each echo byte for
//       byte; none closes before all have echoed theirs (all are open at once).
//       Then one UDP notice per thread to the server.
//   thread_probe udp-receiver PORT EXPECTED
//       Counts and checks datagrams on 198.18.0.2:PORT until EXPECTED arrived
//       or 3 s pass without any; prints "received N bad B duplicates D".
//   thread_probe udp-senders PORT THREADS COUNT
//       THREADS threads, each sending COUNT datagrams on its own socket and
//       COUNT on one socket shared by all, to 198.18.0.2:PORT; prints "sent N".
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../../support/probe_expect.h"

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr const char* kServer = "198.18.0.2";
constexpr int kRounds = 3;
constexpr uint32_t kMaxFrame = 8192;
constexpr uint32_t kHeader = 8;  // u32 length, u32 checksum (host order: same machine)
constexpr auto kDeadline = 80s;  // the whole run, sanitizers included

sockaddr_in address(const char* text, uint16_t port) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    inet_pton(AF_INET, text, &in.sin_addr);
    return in;
}

uint32_t fnv1a(const uint8_t* data, size_t size) {
    uint32_t hash = 2166136261u;
    for (size_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 16777619u;
    return hash;
}

uint32_t next_random(uint32_t& state) {
    state ^= state << 13;
    state ^= state >> 17;
    state ^= state << 5;
    return state;
}

// 1000 connections and the epoll sets need more than the usual soft limit of
// 1024 fds; the hard limit (20000 here) allows it.
void raise_fd_limit(rlim_t wanted) {
    rlimit limit{};
    EXPECT(getrlimit(RLIMIT_NOFILE, &limit) == 0);
    if (limit.rlim_cur >= wanted) return;
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= wanted ? wanted : limit.rlim_max;
    EXPECT(setrlimit(RLIMIT_NOFILE, &limit) == 0);
}

bool past(Clock::time_point deadline) {
    return Clock::now() >= deadline;
}

// Writes all of `data` to a non-blocking socket, waiting in poll() for room.
bool write_all(int fd, const uint8_t* data, size_t size) {
    size_t done = 0;
    while (done < size) {
        const ssize_t n = ::send(fd, data + done, size - done, MSG_NOSIGNAL);
        if (n > 0) {
            done += static_cast<size_t>(n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            pollfd p{fd, POLLOUT, 0};
            if (::poll(&p, 1, 5000) <= 0) return false;
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        return false;
    }
    return true;
}

// ---- TCP echo server ----

struct ServerConnection {
    int fd = -1;
    bool shared = false;  // lives in the shared set (EPOLLONESHOT)
    // Held by the thread serving a shared connection, re-arm included: the
    // kernel already orders two threads' turns (EPOLLONESHOT), but TSan
    // cannot see that through epoll_ctl/epoll_wait and would report the
    // next thread's close as a race with the re-arm.
    std::mutex turn;
    std::vector<uint8_t> in;
};

struct Server {
    int listener = -1;
    int udp = -1;
    int shared_epoll = -1;
    int expected = 0;
    int client_threads = 0;
    std::atomic<int> accepted{0};
    std::atomic<int> open{0};
    std::atomic<int> max_open{0};
    std::atomic<int> closed{0};
    std::atomic<int> frames{0};
    std::atomic<int> bad_frames{0};
    std::atomic<int> notices{0};
    std::atomic<bool> done{false};
    std::atomic<int> served_by_shared{0};
    std::atomic<int> served_by_own{0};
};

void note_open(Server& server) {
    const int now = server.open.fetch_add(1) + 1;
    int max = server.max_open.load();
    while (now > max && !server.max_open.compare_exchange_weak(max, now)) {
    }
}

// Reads what the connection has; echoes each complete frame whose checksum
// holds. Returns false when the connection ended (EOF or error).
bool serve(Server& server, ServerConnection& connection) {
    uint8_t buffer[16384];
    for (;;) {
        const ssize_t n = ::recv(connection.fd, buffer, sizeof buffer, 0);
        if (n == 0) return false;
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        connection.in.insert(connection.in.end(), buffer, buffer + n);
        while (connection.in.size() >= kHeader) {
            uint32_t length = 0;
            uint32_t checksum = 0;
            std::memcpy(&length, connection.in.data(), 4);
            std::memcpy(&checksum, connection.in.data() + 4, 4);
            if (length > kMaxFrame) {
                server.bad_frames.fetch_add(1);
                return false;
            }
            if (connection.in.size() < kHeader + length) break;
            if (fnv1a(connection.in.data() + kHeader, length) != checksum) server.bad_frames.fetch_add(1);
            if (!write_all(connection.fd, connection.in.data(), kHeader + length)) return false;
            server.frames.fetch_add(1);
            connection.in.erase(connection.in.begin(), connection.in.begin() + kHeader + length);
        }
    }
}

void end_connection(Server& server, ServerConnection* connection) {
    ::close(connection->fd);  // also leaves every epoll set
    delete connection;
    server.open.fetch_sub(1);
    server.closed.fetch_add(1);
}

void accept_all(Server& server, int own_epoll) {
    for (;;) {
        const int fd = ::accept4(server.listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            EXPECT(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR || errno == ECONNABORTED);
            return;
        }
        const int index = server.accepted.fetch_add(1);
        note_open(server);
        auto* connection = new ServerConnection{fd, index % 2 == 0, {}, {}};
        epoll_event event{};
        event.data.ptr = connection;
        event.events = connection->shared ? EPOLLIN | EPOLLRDHUP | EPOLLONESHOT : EPOLLIN | EPOLLRDHUP;
        EXPECT(::epoll_ctl(connection->shared ? server.shared_epoll : own_epoll, EPOLL_CTL_ADD, fd,
                           &event) == 0);
    }
}

void read_notices(Server& server) {
    char text[64];
    for (;;) {
        const ssize_t n = ::recv(server.udp, text, sizeof text - 1, MSG_DONTWAIT);
        if (n < 0) {
            EXPECT(errno == EAGAIN || errno == EWOULDBLOCK);
            return;
        }
        text[n] = '\0';
        EXPECT(std::strncmp(text, "done ", 5) == 0);
        server.notices.fetch_add(1);
    }
}

bool server_finished(const Server& server) {
    return server.closed.load() == server.expected && server.notices.load() >= server.client_threads;
}

// Serves the shared set's ready entries (the listener, the UDP socket, shared
// connections), re-arming each ONESHOT one it keeps.
void drain_shared(Server& server, int own_epoll) {
    epoll_event events[16];
    const int n = ::epoll_wait(server.shared_epoll, events, 16, 0);
    EXPECT(n >= 0 || errno == EINTR);
    for (int i = 0; i < n; ++i) {
        if (events[i].data.ptr == &server.listener) {
            accept_all(server, own_epoll);
            continue;
        }
        if (events[i].data.ptr == &server.udp) {
            read_notices(server);
            epoll_event event{EPOLLIN | EPOLLONESHOT, {}};
            event.data.ptr = &server.udp;
            EXPECT(::epoll_ctl(server.shared_epoll, EPOLL_CTL_MOD, server.udp, &event) == 0);
            continue;
        }
        auto* connection = static_cast<ServerConnection*>(events[i].data.ptr);
        std::unique_lock turn(connection->turn);
        server.served_by_shared.fetch_add(1);
        if (!serve(server, *connection) || (events[i].events & (EPOLLHUP | EPOLLERR)) != 0) {
            turn.unlock();  // the connection is freed with its fd
            end_connection(server, connection);
            continue;
        }
        epoll_event event{EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, {}};
        event.data.ptr = connection;
        EXPECT(::epoll_ctl(server.shared_epoll, EPOLL_CTL_MOD, connection->fd, &event) == 0);
    }
}

void server_thread(Server& server, Clock::time_point deadline) {
    const int own = ::epoll_create1(EPOLL_CLOEXEC);
    EXPECT(own >= 0);
    epoll_event event{EPOLLIN, {}};
    event.data.ptr = &server;  // the shared set, nested
    EXPECT(::epoll_ctl(own, EPOLL_CTL_ADD, server.shared_epoll, &event) == 0);
    epoll_event events[64];
    while (!server.done.load() && !past(deadline)) {
        const int n = ::epoll_wait(own, events, 64, 100);
        EXPECT(n >= 0 || errno == EINTR);
        for (int i = 0; i < n; ++i) {
            if (events[i].data.ptr == &server) {
                drain_shared(server, own);
                continue;
            }
            auto* connection = static_cast<ServerConnection*>(events[i].data.ptr);
            server.served_by_own.fetch_add(1);
            if (!serve(server, *connection) || (events[i].events & (EPOLLHUP | EPOLLERR)) != 0)
                end_connection(server, connection);
        }
        if (server_finished(server)) server.done.store(true);
    }
    // Connections of this set still open after a failure stay open: the
    // process exits right after (their count fails the run).
    ::close(own);
}

int tcp_server(uint16_t port, int threads, int connections, int client_threads) {
    raise_fd_limit(static_cast<rlim_t>(connections) + 256);
    Server server;
    server.expected = connections;
    server.client_threads = client_threads;
    server.listener = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    const int one = 1;
    EXPECT(::setsockopt(server.listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0);
    const sockaddr_in local = address(kServer, port);
    EXPECT(::bind(server.listener, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0);
    EXPECT(::listen(server.listener, 4096) == 0);
    server.udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT(::bind(server.udp, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0);

    server.shared_epoll = ::epoll_create1(EPOLL_CLOEXEC);
    epoll_event event{EPOLLIN | EPOLLEXCLUSIVE, {}};
    event.data.ptr = &server.listener;
    EXPECT(::epoll_ctl(server.shared_epoll, EPOLL_CTL_ADD, server.listener, &event) == 0);
    event = epoll_event{EPOLLIN | EPOLLONESHOT, {}};
    event.data.ptr = &server.udp;
    EXPECT(::epoll_ctl(server.shared_epoll, EPOLL_CTL_ADD, server.udp, &event) == 0);
    if (g_failures != 0) return 1;
    std::printf("ready\n");
    std::fflush(stdout);

    const auto deadline = Clock::now() + kDeadline;
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) pool.emplace_back(server_thread, std::ref(server), deadline);
    for (auto& thread : pool) thread.join();

    std::printf("served %d connections (max %d open at once, %d closed), %d frames, %d bad; "
                "events on shared set %d, on own sets %d; %d notices\n",
                server.accepted.load(), server.max_open.load(), server.closed.load(), server.frames.load(),
                server.bad_frames.load(), server.served_by_shared.load(), server.served_by_own.load(),
                server.notices.load());
    EXPECT(server.accepted.load() == connections);
    EXPECT(server.max_open.load() == connections);  // every connection was open at once
    EXPECT(server.closed.load() == connections);
    EXPECT(server.frames.load() == connections * kRounds);
    EXPECT(server.bad_frames.load() == 0);
    EXPECT(server.notices.load() == client_threads);
    EXPECT(server.served_by_shared.load() > 0 && server.served_by_own.load() > 0);
    ::close(server.shared_epoll);
    ::close(server.udp);
    ::close(server.listener);
    return g_failures == 0 ? 0 : 1;
}

// ---- TCP clients ----

struct ClientConnection {
    int fd = -1;
    uint32_t random = 0;
    int round = 0;  // frames echoed so far
    bool connected = false;
    std::vector<uint8_t> sent;      // the frame in flight
    std::vector<uint8_t> received;  // its echo so far
};

struct Clients {
    int total = 0;
    std::atomic<int> established{0};
    std::atomic<int> rounds_done{0};  // connections that echoed all their frames
    std::atomic<int> completed{0};
    std::atomic<int> mismatches{0};
    std::atomic<int> failures{0};
};

bool send_frame(ClientConnection& c) {
    const uint32_t length = 1 + next_random(c.random) % kMaxFrame;
    c.sent.resize(kHeader + length);
    for (uint32_t i = 0; i < length; ++i) c.sent[kHeader + i] = static_cast<uint8_t>(next_random(c.random));
    const uint32_t checksum = fnv1a(c.sent.data() + kHeader, length);
    std::memcpy(c.sent.data(), &length, 4);
    std::memcpy(c.sent.data() + 4, &checksum, 4);
    c.received.clear();
    return write_all(c.fd, c.sent.data(), c.sent.size());
}

// Reads the echo; returns false on an error or a wrong echo, sets `round_done`.
bool read_echo(Clients& clients, ClientConnection& c, bool* round_done) {
    *round_done = false;
    uint8_t buffer[16384];
    for (;;) {
        const ssize_t n = ::recv(c.fd, buffer, sizeof buffer, 0);
        if (n == 0) return false;
        if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        c.received.insert(c.received.end(), buffer, buffer + n);
        if (c.received.size() > c.sent.size()) break;
        if (c.received.size() == c.sent.size()) {
            if (c.received != c.sent) break;
            *round_done = true;
            return true;
        }
    }
    clients.mismatches.fetch_add(1);
    return false;
}

void client_thread(Clients& clients, uint16_t port, int index, int count, Clock::time_point deadline) {
    const int own = ::epoll_create1(EPOLL_CLOEXEC);
    EXPECT(own >= 0);
    std::vector<ClientConnection> connections(static_cast<size_t>(count));
    const sockaddr_in server = address(kServer, port);
    for (int i = 0; i < count; ++i) {
        ClientConnection& c = connections[static_cast<size_t>(i)];
        c.random = 0x9e3779b9u * static_cast<uint32_t>(index * 4096 + i + 1);
        c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        EXPECT(c.fd >= 0);
        const int ret = ::connect(c.fd, reinterpret_cast<const sockaddr*>(&server), sizeof server);
        EXPECT(ret == 0 || errno == EINPROGRESS);
        epoll_event event{EPOLLOUT, {}};
        event.data.ptr = &c;
        EXPECT(::epoll_ctl(own, EPOLL_CTL_ADD, c.fd, &event) == 0);
    }
    int finished = 0;
    // A connection that echoed all its frames closes only once every
    // connection did: then all are open at once on both sides.
    bool waiting_for_all = false;
    epoll_event events[64];
    while (finished < count && !past(deadline)) {
        if (waiting_for_all && clients.rounds_done.load() == clients.total) {
            for (auto& c : connections)
                if (c.fd >= 0 && c.round == kRounds) {
                    ::close(c.fd);
                    c.fd = -1;
                    ++finished;
                    clients.completed.fetch_add(1);
                }
            waiting_for_all = false;
            continue;
        }
        const int n = ::epoll_wait(own, events, 64, 50);
        EXPECT(n >= 0 || errno == EINTR);
        for (int e = 0; e < n; ++e) {
            auto& c = *static_cast<ClientConnection*>(events[e].data.ptr);
            if (!c.connected) {
                int error = 0;
                socklen_t length = sizeof error;
                EXPECT(::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &error, &length) == 0);
                if (error != 0) {
                    std::fprintf(stderr, "connect: %s\n", std::strerror(error));
                    clients.failures.fetch_add(1);
                    ::close(c.fd);
                    c.fd = -1;
                    ++finished;
                    continue;
                }
                c.connected = true;
                clients.established.fetch_add(1);
                epoll_event event{EPOLLIN, {}};
                event.data.ptr = &c;
                EXPECT(::epoll_ctl(own, EPOLL_CTL_MOD, c.fd, &event) == 0);
                if (!send_frame(c)) clients.failures.fetch_add(1);
                continue;
            }
            bool round_done = false;
            if (!read_echo(clients, c, &round_done)) {
                clients.failures.fetch_add(1);
                ::close(c.fd);
                c.fd = -1;
                ++finished;
                continue;
            }
            if (!round_done) continue;
            if (++c.round < kRounds) {
                if (!send_frame(c)) clients.failures.fetch_add(1);
                continue;
            }
            EXPECT(::epoll_ctl(own, EPOLL_CTL_DEL, c.fd, nullptr) == 0);
            clients.rounds_done.fetch_add(1);
            waiting_for_all = true;
        }
    }
    for (auto& c : connections)
        if (c.fd >= 0) ::close(c.fd);
    ::close(own);
    // The notice: one UDP datagram per thread, on its own socket.
    const int udp = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const std::string text = "done " + std::to_string(index);
    EXPECT(::sendto(udp, text.data(), text.size(), 0, reinterpret_cast<const sockaddr*>(&server),
                    sizeof server) == static_cast<ssize_t>(text.size()));
    ::close(udp);
}

int tcp_clients(uint16_t port, int threads, int connections) {
    raise_fd_limit(static_cast<rlim_t>(connections) + 256);
    Clients clients;
    clients.total = connections;
    const auto deadline = Clock::now() + kDeadline;
    std::vector<std::thread> pool;
    for (int i = 0; i < threads; ++i) {
        const int count = connections / threads + (i < connections % threads ? 1 : 0);
        pool.emplace_back(client_thread, std::ref(clients), port, i, count, deadline);
    }
    for (auto& thread : pool) thread.join();
    std::printf("clients: %d established, %d completed %d rounds, %d mismatches, %d failures\n",
                clients.established.load(), clients.completed.load(), kRounds, clients.mismatches.load(),
                clients.failures.load());
    EXPECT(clients.established.load() == connections);
    EXPECT(clients.completed.load() == connections);
    EXPECT(clients.mismatches.load() == 0);
    EXPECT(clients.failures.load() == 0);
    return g_failures == 0 ? 0 : 1;
}

// ---- UDP ----

struct Datagram {
    uint32_t thread;
    uint32_t shared;  // 1: sent on the shared socket
    uint32_t sequence;
    uint32_t length;  // of the filler
    uint32_t checksum;  // of the filler
};

constexpr uint32_t kMaxFiller = 1200;

size_t make_datagram(uint8_t* out, uint32_t thread, uint32_t shared, uint32_t sequence) {
    Datagram d{thread, shared, sequence, (thread * 131 + sequence * 17) % kMaxFiller, 0};
    uint8_t* filler = out + sizeof d;
    uint32_t random = (thread + 1) * 2654435761u ^ (sequence + 1) * 40503u ^ shared;
    for (uint32_t i = 0; i < d.length; ++i) filler[i] = static_cast<uint8_t>(next_random(random));
    d.checksum = fnv1a(filler, d.length);
    std::memcpy(out, &d, sizeof d);
    return sizeof d + d.length;
}

int udp_senders(uint16_t port, int threads, int count) {
    const sockaddr_in destination = address(kServer, port);
    const int shared = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    EXPECT(shared >= 0);
    std::atomic<long> sent{0};
    std::atomic<long> failed{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            const int own = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            EXPECT(own >= 0);
            // Half connected (send), half not (sendto): both paths of the engine.
            if (t % 2 == 0)
                EXPECT(::connect(own, reinterpret_cast<const sockaddr*>(&destination), sizeof destination) == 0);
            uint8_t buffer[sizeof(Datagram) + kMaxFiller];
            for (int i = 0; i < count; ++i) {
                for (uint32_t on_shared = 0; on_shared < 2; ++on_shared) {
                    const size_t size = make_datagram(buffer, static_cast<uint32_t>(t), on_shared,
                                                      static_cast<uint32_t>(i));
                    const int fd = on_shared ? shared : own;
                    ssize_t n = 0;
                    if (fd == own && t % 2 == 0)
                        n = ::send(fd, buffer, size, 0);
                    else
                        n = ::sendto(fd, buffer, size, 0, reinterpret_cast<const sockaddr*>(&destination),
                                     sizeof destination);
                    if (n == static_cast<ssize_t>(size)) {
                        sent.fetch_add(1);
                    } else {
                        failed.fetch_add(1);
                        std::fprintf(stderr, "send: %zd %s\n", n, std::strerror(errno));
                    }
                }
                // Paced a little: the receiver is a kernel socket that must keep up.
                if (i % 64 == 63) std::this_thread::sleep_for(1ms);
            }
            ::close(own);
        });
    }
    for (auto& thread : pool) thread.join();
    ::close(shared);
    std::printf("sent %ld failed %ld\n", sent.load(), failed.load());
    EXPECT(failed.load() == 0);
    return g_failures == 0 ? 0 : 1;
}

int udp_receiver(uint16_t port, long expected) {
    const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    const int big = 32 << 20;
    if (::setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) != 0)
        (void)::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    const sockaddr_in local = address(kServer, port);
    EXPECT(::bind(fd, reinterpret_cast<const sockaddr*>(&local), sizeof local) == 0);
    std::printf("ready\n");
    std::fflush(stdout);
    std::vector<std::vector<uint8_t>> seen;  // [thread * 2 + shared][sequence]
    long received = 0;
    long bad = 0;
    long duplicates = 0;
    uint8_t buffer[2048];
    while (received < expected) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 3000) <= 0) break;
        const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n < static_cast<ssize_t>(sizeof(Datagram))) {
            ++bad;
            continue;
        }
        Datagram d{};
        std::memcpy(&d, buffer, sizeof d);
        if (d.length > kMaxFiller || static_cast<size_t>(n) != sizeof d + d.length || d.shared > 1 ||
            d.thread > 64 || d.sequence > (1u << 20) || fnv1a(buffer + sizeof d, d.length) != d.checksum) {
            ++bad;
            continue;
        }
        const size_t stream = d.thread * 2 + d.shared;
        if (seen.size() <= stream) seen.resize(stream + 1);
        if (seen[stream].size() <= d.sequence) seen[stream].resize(d.sequence + 1, 0);
        if (seen[stream][d.sequence]++ != 0) ++duplicates;
        ++received;
    }
    std::printf("received %ld bad %ld duplicates %ld\n", received, bad, duplicates);
    ::close(fd);
    EXPECT(bad == 0 && duplicates == 0);
    return g_failures == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "tcp-server" && argc == 6)
        return tcp_server(static_cast<uint16_t>(std::atoi(argv[2])), std::atoi(argv[3]), std::atoi(argv[4]),
                          std::atoi(argv[5]));
    if (mode == "tcp-clients" && argc == 5)
        return tcp_clients(static_cast<uint16_t>(std::atoi(argv[2])), std::atoi(argv[3]), std::atoi(argv[4]));
    if (mode == "udp-senders" && argc == 5)
        return udp_senders(static_cast<uint16_t>(std::atoi(argv[2])), std::atoi(argv[3]), std::atoi(argv[4]));
    if (mode == "udp-receiver" && argc == 4)
        return udp_receiver(static_cast<uint16_t>(std::atoi(argv[2])), std::atol(argv[3]));
    std::fprintf(stderr,
                 "usage: thread_probe tcp-server PORT THREADS CONNECTIONS CLIENT_THREADS\n"
                 "       thread_probe tcp-clients PORT THREADS CONNECTIONS\n"
                 "       thread_probe udp-senders PORT THREADS COUNT\n"
                 "       thread_probe udp-receiver PORT EXPECTED\n");
    return 2;
}
