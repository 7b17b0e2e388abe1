// result<T>: a value or a std::error_code (std::expected is C++23).
#pragma once

#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace ctmqtt {

template <class T>
class [[nodiscard]] result {
public:
    result(const T& value) : state_(std::in_place_index<0>, value) {}
    result(T&& value) : state_(std::in_place_index<0>, std::move(value)) {}
    result(std::error_code ec) : state_(std::in_place_index<1>, ec) {}
    /// A value constructed in place from `args`.
    template <class... Args>
    explicit result(std::in_place_t, Args&&... args)
        : state_(std::in_place_index<0>, std::forward<Args>(args)...) {}

    bool has_value() const noexcept { return state_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }

    T& value() & { return std::get<0>(state_); }
    const T& value() const& { return std::get<0>(state_); }
    T&& value() && { return std::get<0>(std::move(state_)); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

    /// The error, or a default (success) error_code when there is a value.
    std::error_code error() const noexcept {
        return has_value() ? std::error_code{} : std::get<1>(state_);
    }

private:
    std::variant<T, std::error_code> state_;
};

} // namespace ctmqtt
