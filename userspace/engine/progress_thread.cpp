#include "engine/progress_thread.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

#include "common/high_fd.h"

namespace xlane::engine {
namespace {

timespec to_timespec(std::chrono::nanoseconds span) {
    return {static_cast<time_t>(span.count() / 1'000'000'000),
            static_cast<long>(span.count() % 1'000'000'000)};
}

}  // namespace

uint64_t RxTakers::now_ns() {
    timespec now{};
    ::clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(now.tv_nsec);
}

Result<std::unique_ptr<ProgressThread>> ProgressThread::start(std::vector<int> fds,
                                                              std::chrono::milliseconds tick,
                                                              Callback on_wake, Callback on_start,
                                                              std::chrono::microseconds soon) {
    return start(std::move(fds), {}, nullptr, tick, std::move(on_wake), std::move(on_start), soon);
}

Result<std::unique_ptr<ProgressThread>> ProgressThread::start(std::vector<int> fds,
                                                              std::vector<int> rx_fds,
                                                              const RxTakers* rx_takers,
                                                              std::chrono::milliseconds tick,
                                                              Callback on_wake, Callback on_start,
                                                              std::chrono::microseconds soon) {
    UniqueFd stop(move_fd_high(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)));
    if (!stop) return errno_error("cannot create the progress thread's stop eventfd");
    UniqueFd nudge(move_fd_high(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)));
    if (!nudge) return errno_error("cannot create the progress thread's wake-up eventfd");
    std::unique_ptr<ProgressThread> thread(
        new ProgressThread(std::move(fds), tick, std::move(on_wake), std::move(on_start),
                           std::move(stop), std::move(nudge), soon));
    thread->rx_fds_ = std::move(rx_fds);
    thread->rx_takers_ = rx_takers;
    thread->thread_ = std::thread([self = thread.get()] { self->run(); });
    return thread;
}

void ProgressThread::stop() {
    if (!thread_.joinable()) return;
    const uint64_t one = 1;
    (void)!::write(stop_.get(), &one, sizeof(one));
    thread_.join();
}

ProgressThread::~ProgressThread() {
    stop();
}

void ProgressThread::run() {
    if (on_start_) on_start_();
    std::vector<pollfd> set;
    set.push_back(pollfd{stop_.get(), POLLIN, 0});
    set.push_back(pollfd{nudge_.get(), POLLIN, 0});
    for (int fd : fds_) set.push_back(pollfd{fd, POLLIN, 0});
    const size_t first_rx = set.size();
    for (int fd : rx_fds_) set.push_back(pollfd{fd, POLLIN, 0});
    const auto now = [] { return std::chrono::nanoseconds(RxTakers::now_ns()); };
    bool last_round_requested = false;
    // The long tick counts from the last round, not from the last sleep: the
    // short sleeps of an RX recheck (below) must not postpone it.
    std::chrono::nanoseconds tick_due = now() + tick_;
    uint64_t polls_seen = 0;  // RxTakers::polls at the last recheck or round
    for (;;) {
        // After a requested round, the next comes within `soon` whatever
        // happens; otherwise the long tick, announced first so that a
        // request made from now on writes the nudge eventfd (the seq_cst
        // store and load pair with those of request_round_soon()).
        const std::chrono::nanoseconds started = now();
        std::chrono::nanoseconds sleep = soon_;
        if (!last_round_requested) {
            sleeping_long_.store(true);
            if (!round_requested_.load()) sleep = std::max(tick_due - started, std::chrono::nanoseconds(0));
        }
        // RX spinners take the frames in: sleep without the RX fds (poll
        // skips negative fds), announced first like the long tick, and not
        // longer than kSpunRxRecheck.
        rx_unwatched_.store(rx_takers_ != nullptr && rx_takers_->any());
        const bool rx_unwatched = rx_unwatched_.load() && rx_takers_->any();
        for (size_t i = 0; i < rx_fds_.size(); ++i)
            set[first_rx + i].fd = rx_unwatched ? -1 : rx_fds_[i];
        const bool recheck_only = rx_unwatched && sleep > kSpunRxRecheck;
        if (recheck_only) sleep = kSpunRxRecheck;
        timespec timeout = to_timespec(sleep);
        const int ready = ::ppoll(set.data(), set.size(), &timeout, nullptr);
        rx_unwatched_.store(false);
        sleeping_long_.store(false);
        if (ready < 0 && errno != EINTR) return;  // cannot happen with valid fds
        // Only the recheck ended the sleep: nothing is due (fds and requests
        // would have woken it). While the spinners kept polling the rings
        // since the last look, a round would only take the mutex and a
        // spinner's CPU: see whether the RX fds are still theirs. Otherwise
        // (spinners off their CPUs, a lease holder gone) the round takes the
        // frames in.
        if (ready == 0 && recheck_only) {
            rx_rechecks_.fetch_add(1, std::memory_order_relaxed);
            const uint64_t polls = rx_takers_->polls.load(std::memory_order_relaxed);
            const bool polled = polls != polls_seen;
            polls_seen = polls;
            if (polled) continue;
            unpolled_recheck_rounds_.fetch_add(1, std::memory_order_relaxed);
        }
        if (set[0].revents != 0) return;
        if (set[1].revents != 0) {
            uint64_t value = 0;
            (void)!::read(nudge_.get(), &value, sizeof(value));
        }
        last_round_requested = round_requested_.exchange(false);
        on_wake_();
        tick_due = now() + tick_;
        if (rx_takers_ != nullptr) polls_seen = rx_takers_->polls.load(std::memory_order_relaxed);
        wakeups_.fetch_add(1, std::memory_order_relaxed);
    }
}

void ProgressThread::rx_spinners_gone() {
    if (rx_unwatched_.load()) {
        const uint64_t one = 1;
        (void)!::write(nudge_.get(), &one, sizeof(one));
    }
}

void ProgressThread::request_round_soon() {
    if (round_requested_.load(std::memory_order_relaxed)) return;  // already asked
    round_requested_.store(true);
    if (sleeping_long_.load()) {
        const uint64_t one = 1;
        (void)!::write(nudge_.get(), &one, sizeof(one));
    }
}

}  // namespace xlane::engine
