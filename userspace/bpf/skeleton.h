// Skeleton<S>: RAII owner of a `bpftool gen skeleton` object. open_and_load in
// the factory, destroy in the destructor, non-copyable; libbpf's negative
// errno is converted to an Error once, here.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <cerrno>

#include "common/result.h"

namespace xlane {

template <typename S, S* (*Open)(), int (*Load)(S*), void (*Destroy)(S*)>
class Skeleton {
public:
    // Opens and loads; the verifier's rejection comes back as an Error.
    // `prepare` sees the opened object before the load (program flags).
    [[nodiscard]] static Result<Skeleton> open_and_load(
        const std::string& what, const std::function<void(S*)>& prepare = {}) {
        errno = 0;
        S* raw = Open();
        if (raw == nullptr) return errno_error("cannot open BPF object " + what);
        Skeleton owner(raw);
        if (prepare) prepare(raw);
        if (int err = Load(raw); err != 0)
            return make_error(err, "kernel refused to load BPF object " + what +
                                       " (run `xlane doctor`)");
        return owner;
    }

    S* operator->() const { return skel_.get(); }
    S* get() const { return skel_.get(); }

private:
    struct Deleter {
        void operator()(S* s) const { Destroy(s); }
    };
    explicit Skeleton(S* raw) : skel_(raw) {}
    std::unique_ptr<S, Deleter> skel_;
};

}  // namespace xlane
