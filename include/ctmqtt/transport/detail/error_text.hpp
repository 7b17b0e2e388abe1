// Texts that transport error messages quote: the scheme of a bad URL, the
// host name a certificate does not match, OpenSSL's reason for a refusal.
//
// A std::error_code is an int and a category, so it cannot carry a string.
// The transports put the text in a process-wide table and the table's index
// in the error value; the category's message() reads it back. Each distinct
// text is stored once (a URL typed wrong a thousand times costs one entry);
// the table holds at most `capacity` texts, after which messages leave the
// text out. Only failures write to it, never the steady state. No Asio here.
//
// packed_category<Traits> is the error category of each transport error
// enum: the enum in bits 0-7 of the value, a detail (a text's index, an
// HTTP status) above; `ec == enum_value` compares the enum alone.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace ctmqtt::transport::detail {

class error_texts {
public:
    static constexpr std::size_t capacity = 1024;
    static constexpr std::size_t max_length = 200; ///< longer texts are cut (and end in "...")

    /// The index (1 and up) under which `text` can be read back; 0 when the
    /// table is full (the message then goes without it).
    static std::uint32_t remember(std::string_view text) {
        std::string stored{text.substr(0, max_length)};
        if (text.size() > max_length)
            stored += "...";
        auto& t = table();
        std::lock_guard lock(t.mutex);
        for (std::size_t i = 0; i < t.texts.size(); ++i)
            if (t.texts[i] == stored)
                return static_cast<std::uint32_t>(i + 1);
        if (t.texts.size() >= capacity)
            return 0;
        t.texts.push_back(std::move(stored));
        return static_cast<std::uint32_t>(t.texts.size());
    }

    /// The text stored under `index`; empty for 0 or an unknown index.
    static std::string recall(std::uint32_t index) {
        auto& t = table();
        std::lock_guard lock(t.mutex);
        if (index == 0 || index > t.texts.size())
            return {};
        return t.texts[index - 1];
    }

private:
    struct storage {
        std::mutex mutex;
        std::vector<std::string> texts;
    };
    static storage& table() {
        static storage s;
        return s;
    }
};

/// ` "text"` (a space, then the text in quotes), or nothing when the text
/// was not kept.
inline std::string quoted(std::uint32_t index) {
    if (index == 0)
        return {};
    return " \"" + error_texts::recall(index) + "\"";
}

/// Traits: `using errc = ...;`, `static constexpr const char* name`,
/// `static std::string message(errc, std::uint32_t detail)`.
template <class Traits>
class packed_category final : public std::error_category {
public:
    static const std::error_category& instance() noexcept {
        static const packed_category category;
        return category;
    }
    const char* name() const noexcept override { return Traits::name; }
    std::string message(int v) const override {
        return Traits::message(static_cast<typename Traits::errc>(v & 0xFF),
                               static_cast<std::uint32_t>(v) >> 8);
    }
    std::error_condition default_error_condition(int v) const noexcept override {
        return {v & 0xFF, *this};
    }
};

template <class Traits>
std::error_code packed_error(typename Traits::errc e, std::uint32_t detail) noexcept {
    return {static_cast<int>(static_cast<std::uint32_t>(e) | (detail << 8)),
            packed_category<Traits>::instance()};
}

/// An error of `e` whose message quotes `text` (kept in error_texts).
template <class Traits>
std::error_code packed_error_quoting(typename Traits::errc e, std::string_view text) {
    return packed_error<Traits>(e, text.empty() ? 0 : error_texts::remember(text));
}

template <class Traits>
std::error_condition packed_condition(typename Traits::errc e) noexcept {
    return {static_cast<int>(e), packed_category<Traits>::instance()};
}

} // namespace ctmqtt::transport::detail
