// Result<T>: a value or an Error carrying errno, a message a user can act on,
// and the source location that produced it. No exceptions cross our APIs.
#pragma once

#include <cerrno>
#include <cstring>
#include <source_location>
#include <string>
#include <utility>
#include <variant>

namespace xlane {

struct Error {
    int errnum = 0;        // positive errno, 0 when not an OS error
    std::string message;   // what failed, in words a user can act on
    std::source_location where;

    // "message: strerror(errnum)"; the location only where debugging asks for it.
    [[nodiscard]] std::string describe() const {
        if (errnum == 0) return message;
        return message + ": " + std::strerror(errnum);
    }
    [[nodiscard]] std::string location() const {
        return std::string(where.file_name()) + ":" + std::to_string(where.line());
    }
};

// Build an Error from an errno value (positive or libbpf-style negative).
[[nodiscard]] inline Error make_error(int err, std::string message,
                                      std::source_location where = std::source_location::current()) {
    return Error{err < 0 ? -err : err, std::move(message), where};
}

// Build an Error from the current errno.
[[nodiscard]] inline Error errno_error(std::string message,
                                       std::source_location where = std::source_location::current()) {
    return Error{errno, std::move(message), where};
}

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : state_(std::move(value)) {}
    Result(Error error) : state_(std::move(error)) {}

    [[nodiscard]] bool ok() const { return state_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(state_); }
    const T& value() const& { return std::get<0>(state_); }
    T&& value() && { return std::get<0>(std::move(state_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }

    const Error& error() const { return std::get<1>(state_); }

private:
    std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Error error) : error_(std::move(error)), failed_(true) {}

    [[nodiscard]] bool ok() const { return !failed_; }
    explicit operator bool() const { return ok(); }
    const Error& error() const { return error_; }

private:
    Error error_;
    bool failed_ = false;
};

using Status = Result<void>;

}  // namespace xlane
