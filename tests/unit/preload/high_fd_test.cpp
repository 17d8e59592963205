// common/high_fd.h: where libxlane.so's own descriptors go, under several
// RLIMIT_NOFILE soft limits (set for the test and put back).
#include "common/high_fd.h"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <vector>

namespace {

// Sets the soft limit for one test case; the old one comes back after.
class SoftLimit {
  public:
    explicit SoftLimit(rlim_t soft) {
        REQUIRE(::getrlimit(RLIMIT_NOFILE, &saved_) == 0);
        REQUIRE(soft <= saved_.rlim_max);
        rlimit lowered = saved_;
        lowered.rlim_cur = soft;
        REQUIRE(::setrlimit(RLIMIT_NOFILE, &lowered) == 0);
    }
    SoftLimit(const SoftLimit&) = delete;
    SoftLimit& operator=(const SoftLimit&) = delete;
    ~SoftLimit() { ::setrlimit(RLIMIT_NOFILE, &saved_); }

  private:
    rlimit saved_{};
};

bool is_open(int fd) {
    return ::fcntl(fd, F_GETFD) >= 0;
}

}  // namespace

TEST_CASE("an internal descriptor moves to 1024 and up, close-on-exec, its low number freed") {
    SoftLimit limit(4096);
    CHECK(xlane::high_fd_base() == 1024);
    const int low = ::eventfd(0, EFD_CLOEXEC);
    REQUIRE(low >= 0);
    REQUIRE(low < 1024);
    const int high = xlane::move_fd_high(low);
    CHECK(high >= 1024);
    CHECK(!is_open(low));
    CHECK((::fcntl(high, F_GETFD) & FD_CLOEXEC) != 0);
    // The kernel hands the freed low number to the next descriptor.
    const int next = ::eventfd(0, EFD_CLOEXEC);
    CHECK(next == low);
    ::close(next);
    ::close(high);
}

TEST_CASE("under a soft limit below 1088 the top quarter below it is used") {
    SoftLimit limit(256);
    CHECK(xlane::high_fd_base() == 192);
    const int high = xlane::move_fd_high(::eventfd(0, EFD_CLOEXEC));
    CHECK(high >= 192);
    CHECK(high < 256);
    ::close(high);
}

TEST_CASE("no high number free, a tiny limit or no descriptor: the descriptor is kept, errno too") {
    SECTION("the top quarter is full") {
        SoftLimit limit(256);
        std::vector<int> taken;
        for (int fd = 192; fd < 256; ++fd) {
            if (is_open(fd)) continue;
            REQUIRE(::dup2(STDERR_FILENO, fd) == fd);
            taken.push_back(fd);
        }
        const int low = ::eventfd(0, EFD_CLOEXEC);
        REQUIRE(low >= 0);
        errno = ENOTTY;
        CHECK(xlane::move_fd_high(low) == low);
        CHECK(errno == ENOTTY);
        CHECK(is_open(low));
        ::close(low);
        for (int fd : taken) ::close(fd);
    }
    SECTION("a limit with no room to spare") {
        SoftLimit limit(100);
        CHECK(xlane::high_fd_base() == -1);
        const int low = ::eventfd(0, EFD_CLOEXEC);
        CHECK(xlane::move_fd_high(low) == low);
        ::close(low);
    }
    SECTION("a failed creation passes through") {
        errno = EMFILE;
        CHECK(xlane::move_fd_high(-1) == -1);
        CHECK(errno == EMFILE);
    }
}
