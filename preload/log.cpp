// The log writer: a fixed buffer, hand-made number formatting and raw
// open/write system calls (so no interposed wrapper and no stdio state runs).
#include "log.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>

#include "common/high_fd.h"

namespace xlane::preload {
namespace {

constexpr size_t kMaxPath = 4096;
constexpr size_t kMaxLine = 1200;

constinit std::atomic<uint8_t> g_level{static_cast<uint8_t>(LogLevel::error)};
// The template as configured; written once by configure_log() before any
// reader can see g_configured.
constinit char g_template[kMaxPath] = {};
constinit std::atomic<bool> g_configured{false};
// -1: not open yet; -2: standard error. Opened on first use.
constinit std::atomic<int> g_fd{-1};

constexpr std::array<std::string_view, 5> kLevelNames{"error", "warn", "info", "debug", "trace"};

size_t append(char* out, size_t at, size_t cap, std::string_view text) {
    const size_t n = text.size() < cap - at ? text.size() : cap - at;
    std::memcpy(out + at, text.data(), n);
    return at + n;
}

size_t append_number(char* out, size_t at, size_t cap, unsigned long value) {
    char digits[24];
    size_t n = 0;
    do {
        digits[n++] = static_cast<char>('0' + value % 10);
        value /= 10;
    } while (value != 0);
    while (n > 0 && at < cap) out[at++] = digits[--n];
    return at;
}

// Expands %p and %% into `out`; false when the result does not fit.
bool expand_template(const char* path_template, char* out, size_t cap) {
    size_t at = 0;
    const auto pid = static_cast<unsigned long>(::syscall(SYS_getpid));
    for (const char* c = path_template; *c != '\0'; ++c) {
        if (c[0] == '%' && c[1] == 'p') {
            at = append_number(out, at, cap - 1, pid);
            ++c;
        } else if (c[0] == '%' && c[1] == '%') {
            if (at < cap - 1) out[at++] = '%';
            ++c;
        } else if (at < cap - 1) {
            out[at++] = *c;
        } else {
            return false;
        }
    }
    out[at] = '\0';
    return at < cap - 1;
}

int log_fd() {
    int fd = g_fd.load(std::memory_order_acquire);
    if (fd != -1) return fd == -2 ? STDERR_FILENO : fd;
    int opened = -2;
    if (g_configured.load(std::memory_order_acquire) && g_template[0] != '\0') {
        char path[kMaxPath];
        if (expand_template(g_template, path, sizeof(path))) {
            const long got = ::syscall(SYS_openat, AT_FDCWD, path,
                                       O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
            if (got >= 0) opened = move_fd_high(static_cast<int>(got));
        }
    }
    int expected = -1;
    if (!g_fd.compare_exchange_strong(expected, opened, std::memory_order_acq_rel)) {
        // Another thread opened it first: keep theirs.
        if (opened >= 0) ::syscall(SYS_close, opened);
        opened = expected;
    }
    return opened == -2 ? STDERR_FILENO : opened;
}

}  // namespace

void configure_log(LogLevel level, std::string_view path_template) {
    if (!g_configured.load(std::memory_order_acquire)) {
        const size_t n = path_template.size() < kMaxPath - 1 ? path_template.size() : 0;
        std::memcpy(g_template, path_template.data(), n);
        g_template[n] = '\0';
        g_configured.store(true, std::memory_order_release);
    }
    g_level.store(static_cast<uint8_t>(level), std::memory_order_relaxed);
}

bool log_enabled(LogLevel level) {
    return static_cast<uint8_t>(level) <= g_level.load(std::memory_order_relaxed);
}

void log_line(LogLevel level, std::string_view text) {
    if (!log_enabled(level)) return;
    char line[kMaxLine];
    size_t at = append(line, 0, sizeof(line) - 1, "xlane[");
    at = append_number(line, at, sizeof(line) - 1,
                       static_cast<unsigned long>(::syscall(SYS_getpid)));
    at = append(line, at, sizeof(line) - 1, "]: ");
    at = append(line, at, sizeof(line) - 1, kLevelNames[static_cast<size_t>(level)]);
    at = append(line, at, sizeof(line) - 1, ": ");
    at = append(line, at, sizeof(line) - 1, text);
    line[at++] = '\n';
    // One write per line: O_APPEND keeps lines of several threads and
    // processes whole.
    (void)::syscall(SYS_write, log_fd(), line, at);
}

void log_after_fork_child() {
    if (std::strstr(g_template, "%p") == nullptr) return;
    const int fd = g_fd.exchange(-1, std::memory_order_acq_rel);
    if (fd >= 0) ::syscall(SYS_close, fd);
}

}  // namespace xlane::preload
