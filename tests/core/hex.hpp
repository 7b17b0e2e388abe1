// Test helper: bytes from a hex string ("30 05 00 01 61"), spaces ignored.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace ctmqtt_test {

inline std::vector<std::byte> hex(std::string_view text) {
    std::vector<std::byte> out;
    int high = -1;
    for (char c : text) {
        int v;
        if (c >= '0' && c <= '9')
            v = c - '0';
        else if (c >= 'a' && c <= 'f')
            v = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            v = c - 'A' + 10;
        else if (c == ' ')
            continue;
        else
            throw std::invalid_argument("bad hex digit");
        if (high < 0) {
            high = v;
        } else {
            out.push_back(static_cast<std::byte>(high * 16 + v));
            high = -1;
        }
    }
    if (high >= 0)
        throw std::invalid_argument("odd number of hex digits");
    return out;
}

/// Header and payload of an encoded packet joined, for comparison.
template <class Encoded>
std::vector<std::byte> joined(const Encoded& e) {
    std::vector<std::byte> out(e.header.begin(), e.header.end());
    out.insert(out.end(), e.payload.begin(), e.payload.end());
    return out;
}

} // namespace ctmqtt_test
