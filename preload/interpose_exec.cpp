// Interposed _exit, _Exit and the exec family. They end the process image
// without running exit handlers, so a UDP datagram that a batched send left
// on an AF_XDP TX ring (see XskPortConfig: back-to-back sends share one
// wake-up) would be closed away with the socket, where the kernel's UDP
// would already have sent it. Each wrapper first wakes the kernel for those
// frames (flush_before_image_ends), then does what libc does. _exit and
// _Exit first close the fast TCP connections as exit() would (termination.h:
// the helper thread does it; only in the process that armed it, so never in
// a vfork child, which shares the parent's memory).
//
// These run in vfork and posix_spawn children, where dlsym could block on
// the loader lock, and where malloc is unsafe. So nothing here resolves a
// libc symbol or allocates: _exit is the exit_group system call, and every
// exec is execve(2) (the PATH search of execvp/execlp follows glibc's rules:
// skip ENOENT/ENOTDIR/EACCES-style failures, remember EACCES, run a file
// without a #! line with /bin/sh). fexecve and execveat are not
// interposed: they are rare and libc's own still works (only the batched
// frames of their caller are at risk).
#include <alloca.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "interpose.h"
#include "runtime.h"
#include "termination.h"
#include "stats/process_publisher.h"

namespace {

constexpr const char* kDefaultPath = "/bin:/usr/bin";  // glibc's default

[[noreturn]] void exit_group_now(int status) {
    for (;;) ::syscall(SYS_exit_group, status);
}

// What _exit and _Exit do: no exit handler runs after them.
[[noreturn]] void end_image_now(int status) {
    // Linux closes the sockets of a process that ends: fast TCP peers get
    // FIN (or RST for unread bytes) as they would from exit(). A closing
    // that timed out leaves the engine alone (its mutex may never come free).
    if (xlane::preload::close_fast_sockets_before_image_ends())
        xlane::preload::flush_before_image_ends();
    // No atexit handler runs: the stats segment goes here, or it would stay
    // until the next `xlane sockets`/`stats` found its process dead.
    xlane::stats::remove_process_segment_at_exit();
    exit_group_now(status);
}

int raw_execve(const char* path, char* const argv[], char* const envp[]) {
    return static_cast<int>(::syscall(SYS_execve, path, argv, envp));
}

size_t count_args(char* const argv[]) {
    size_t n = 0;
    while (argv != nullptr && argv[n] != nullptr) ++n;
    return n;
}

// A file the kernel could not execute (ENOEXEC: no #! and no known format)
// is a shell script, as POSIX says for execvp: run it with /bin/sh.
int exec_as_script(const char* file, char* const argv[], char* const envp[]) {
    const size_t argc = count_args(argv);
    // /bin/sh, file, argv[1..], NULL: on the stack (no malloc in a vfork child).
    const size_t rest = argc > 1 ? argc - 1 : 0;  // argv[1..]
    auto** script_argv = static_cast<char**>(alloca((rest + 3) * sizeof(char*)));
    script_argv[0] = const_cast<char*>("/bin/sh");
    script_argv[1] = const_cast<char*>(file);
    for (size_t i = 0; i < rest; ++i) script_argv[i + 2] = argv[i + 1];
    script_argv[rest + 2] = nullptr;
    return raw_execve("/bin/sh", script_argv, envp);
}

// execvpe's search: a name with a slash is used as is; otherwise each PATH
// entry (an empty one is the current directory) is tried in order.
int exec_searching_path(const char* file, char* const argv[], char* const envp[]) {
    if (file == nullptr || file[0] == '\0') {
        errno = ENOENT;
        return -1;
    }
    if (::strchr(file, '/') != nullptr) {
        raw_execve(file, argv, envp);
        if (errno == ENOEXEC) exec_as_script(file, argv, envp);
        return -1;
    }
    const size_t file_len = ::strlen(file);
    if (file_len >= NAME_MAX + 1) {
        errno = ENAMETOOLONG;
        return -1;
    }
    const char* path = ::getenv("PATH");
    if (path == nullptr) path = kDefaultPath;

    bool saw_eacces = false;
    char candidate[PATH_MAX];
    for (const char* entry = path;; ) {
        const char* end = ::strchrnul(entry, ':');
        const size_t dir_len = static_cast<size_t>(end - entry);
        if (dir_len + 1 + file_len < sizeof(candidate)) {
            size_t used = 0;
            if (dir_len > 0) {
                ::memcpy(candidate, entry, dir_len);
                candidate[dir_len] = '/';
                used = dir_len + 1;
            }
            ::memcpy(candidate + used, file, file_len + 1);
            raw_execve(candidate, argv, envp);
            if (errno == ENOEXEC) {
                exec_as_script(candidate, argv, envp);
                return -1;
            }
            switch (errno) {
                case EACCES: saw_eacces = true; break;
                case ENOENT: case ENOTDIR: case ESTALE: case ENODEV: case ETIMEDOUT: break;
                default: return -1;  // the file exists and cannot run: report it
            }
        }
        if (*end == '\0') break;
        entry = end + 1;
    }
    errno = saw_eacces ? EACCES : ENOENT;
    return -1;
}

// The execl family's arguments, gathered into an argv on the stack.
#define XLANE_GATHER_ARGS(first, argv_out, trailing_envp)                     \
    size_t argc_ = 1;                                                         \
    {                                                                         \
        va_list count_;                                                       \
        va_start(count_, first);                                              \
        while (va_arg(count_, char*) != nullptr) ++argc_;                     \
        va_end(count_);                                                       \
    }                                                                         \
    auto** argv_out = static_cast<char**>(alloca((argc_ + 1) * sizeof(char*))); \
    {                                                                         \
        va_list take_;                                                        \
        va_start(take_, first);                                               \
        argv_out[0] = const_cast<char*>(first);                               \
        for (size_t i = 1; i <= argc_; ++i) argv_out[i] = va_arg(take_, char*); \
        trailing_envp;                                                        \
        va_end(take_);                                                        \
    }

}  // namespace

XLANE_INTERPOSE void _exit(int status) {
    end_image_now(status);
}

XLANE_INTERPOSE void _Exit(int status) {
    end_image_now(status);
}

XLANE_INTERPOSE int execve(const char* path, char* const argv[], char* const envp[]) {
    xlane::preload::flush_before_image_ends();
    return raw_execve(path, argv, envp);
}

XLANE_INTERPOSE int execv(const char* path, char* const argv[]) {
    xlane::preload::flush_before_image_ends();
    return raw_execve(path, argv, environ);
}

XLANE_INTERPOSE int execvpe(const char* file, char* const argv[], char* const envp[]) {
    xlane::preload::flush_before_image_ends();
    return exec_searching_path(file, argv, envp);
}

XLANE_INTERPOSE int execvp(const char* file, char* const argv[]) {
    xlane::preload::flush_before_image_ends();
    return exec_searching_path(file, argv, environ);
}

XLANE_INTERPOSE int execl(const char* path, const char* arg, ...) {
    XLANE_GATHER_ARGS(arg, argv, (void)0)
    xlane::preload::flush_before_image_ends();
    return raw_execve(path, argv, environ);
}

XLANE_INTERPOSE int execlp(const char* file, const char* arg, ...) {
    XLANE_GATHER_ARGS(arg, argv, (void)0)
    xlane::preload::flush_before_image_ends();
    return exec_searching_path(file, argv, environ);
}

XLANE_INTERPOSE int execle(const char* path, const char* arg, ...) {
    char* const* envp = nullptr;
    XLANE_GATHER_ARGS(arg, argv, envp = va_arg(take_, char* const*))
    xlane::preload::flush_before_image_ends();
    return raw_execve(path, argv, envp);
}
