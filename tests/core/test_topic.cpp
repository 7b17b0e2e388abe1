// Topic names, topic filters, matching and shared subscriptions (MQTT 5
// §4.7, §4.8.2; 3.1.1 §4.7), and UTF-8 validation (MQTT 5 §1.5.4, RFC 3629).
#include <cstddef>
#include <string>
#include <string_view>

#include <catch2/catch.hpp>

#include <ctmqtt/ctmqtt.hpp>

using namespace ctmqtt;
using namespace std::string_view_literals;

namespace {

// The rule a validator reports, or codec_errc{} for "valid".
codec_errc rule(fault f) {
    return f ? f.rule : codec_errc{};
}

constexpr codec_errc ok{};

} // namespace

// ------------------------------------------------------------------ topic names

TEST_CASE("topic names: valid", "[topic]") {
    for (auto name :
         {"a"sv, "a/b"sv, "/"sv, "//"sv, "/a"sv, "a/"sv, "a//b"sv, " "sv, "$SYS/broker"sv,
          "sport/tennis/player1"sv, "ä/€/𝄞"sv, "a b/c d"sv, "$share/g/a"sv}) {
        INFO(name);
        CHECK(rule(validate_topic_name(name)) == ok);
        CHECK(is_valid_topic_name(name));
    }
}

TEST_CASE("topic names: invalid", "[topic]") {
    CHECK(rule(validate_topic_name("")) == codec_errc::topic_name_empty); // [MQTT-4.7.3-1]
    for (auto name :
         {"#"sv, "+"sv, "a/#"sv, "a/+"sv, "a/+/b"sv, "a+"sv, "a#b"sv, "+/a"sv, "sport/tennis#"sv}) {
        INFO(name);
        CHECK(rule(validate_topic_name(name)) == codec_errc::topic_name_wildcard); // [MQTT-3.3.2-2]
        CHECK_FALSE(is_valid_topic_name(name));
    }
    CHECK_FALSE(is_valid_topic_name(""));
    CHECK_FALSE(is_valid_topic_name("a\xFF"));  // malformed UTF-8
    CHECK_FALSE(is_valid_topic_name("a\0b"sv)); // U+0000
    CHECK(is_valid_topic_name(std::string(65535, 'a')));
    CHECK_FALSE(is_valid_topic_name(std::string(65536, 'a')));
}

// ------------------------------------------------------------------ topic filters

TEST_CASE("topic filters: valid", "[topic]") {
    for (auto filter : {"#"sv,
                        "+"sv,
                        "a"sv,
                        "a/#"sv,
                        "a/+"sv,
                        "+/a"sv,
                        "+/+"sv,
                        "a/+/b"sv,
                        "/+"sv,
                        "+/"sv,
                        "/#"sv,
                        "//"sv,
                        "+/+/#"sv,
                        "sport/tennis/+/#"sv,
                        "$SYS/#"sv,
                        "/"sv,
                        "$share"sv,
                        "$sharex/a"sv,
                        "$share/g/a"sv,
                        "$share/g/#"sv,
                        "$share/g/+/a/#"sv,
                        "$share/group-1/a/b"sv,
                        "$share/g//"sv}) {
        INFO(filter);
        CHECK(rule(validate_topic_filter(filter)) == ok);
        CHECK(is_valid_topic_filter(filter));
    }
}

TEST_CASE("topic filters: invalid, each with its rule", "[topic]") {
    struct vec {
        std::string_view filter;
        codec_errc expected;
    };
    const vec table[] = {
        {"", codec_errc::topic_filter_empty},                  // [MQTT-4.7.3-1]
        {"a#", codec_errc::topic_filter_multi_level_wildcard}, // [MQTT-4.7.1-1]
        {"a/#/b", codec_errc::topic_filter_multi_level_wildcard},
        {"#/a", codec_errc::topic_filter_multi_level_wildcard},
        {"##", codec_errc::topic_filter_multi_level_wildcard},
        {"a/b#", codec_errc::topic_filter_multi_level_wildcard},
        {"#/", codec_errc::topic_filter_multi_level_wildcard},
        {"sport/tennis#", codec_errc::topic_filter_multi_level_wildcard},
        {"a+", codec_errc::topic_filter_single_level_wildcard}, // [MQTT-4.7.1-2]
        {"+a", codec_errc::topic_filter_single_level_wildcard},
        {"a/+b", codec_errc::topic_filter_single_level_wildcard},
        {"a/b+/c", codec_errc::topic_filter_single_level_wildcard},
        {"++", codec_errc::topic_filter_single_level_wildcard},
        {"sport+", codec_errc::topic_filter_single_level_wildcard},
        {"+#", codec_errc::topic_filter_single_level_wildcard},
        // shared subscriptions [MQTT-4.8.2-1] [MQTT-4.8.2-2]
        {"$share/", codec_errc::shared_subscription_invalid},
        {"$share/g", codec_errc::shared_subscription_invalid},
        {"$share//a", codec_errc::shared_subscription_invalid},
        {"$share/g/", codec_errc::shared_subscription_invalid},
        {"$share/g+/a", codec_errc::shared_subscription_invalid},
        {"$share/#/a", codec_errc::shared_subscription_invalid},
        {"$share/+/a", codec_errc::shared_subscription_invalid},
        // the inner filter follows the ordinary rules
        {"$share/g/a#", codec_errc::topic_filter_multi_level_wildcard},
        {"$share/g/a+", codec_errc::topic_filter_single_level_wildcard},
    };
    for (const auto& t : table) {
        INFO("filter \"" << t.filter << '"');
        CHECK(rule(validate_topic_filter(t.filter)) == t.expected);
        CHECK_FALSE(is_valid_topic_filter(t.filter));
    }
    CHECK_FALSE(is_valid_topic_filter("a/\xC0\x80"));
    CHECK(is_valid_topic_filter(std::string(65535, 'f')));
    CHECK_FALSE(is_valid_topic_filter(std::string(65536, 'f')));
}

TEST_CASE("topic filters: \"$share/\" filters follow ordinary rules without shared_rules (3.1.1)",
          "[topic]") {
    CHECK(rule(validate_topic_filter("$share/g", false)) == ok);
    CHECK(rule(validate_topic_filter("$share//a", false)) == ok);
    CHECK(rule(validate_topic_filter("$share/g+/a", false)) ==
          codec_errc::topic_filter_single_level_wildcard);
    CHECK(rule(validate_topic_filter("$share/#/a", false)) ==
          codec_errc::topic_filter_multi_level_wildcard);
    CHECK(rule(validate_topic_filter("", false)) == codec_errc::topic_filter_empty);
    CHECK(rule(validate_topic_filter("$share/g", true)) == codec_errc::shared_subscription_invalid);
}

// ------------------------------------------------------------------ matching

TEST_CASE("topic matching: exact levels", "[topic][match]") {
    CHECK(topic_matches("a/b", "a/b"));
    CHECK_FALSE(topic_matches("a/b", "a/c"));
    CHECK_FALSE(topic_matches("a/b", "a"));
    CHECK_FALSE(topic_matches("a", "a/b"));
    CHECK_FALSE(topic_matches("a/b", "a/b/"));
    CHECK_FALSE(topic_matches("a/b/", "a/b"));
    CHECK(topic_matches("/", "/"));
    CHECK_FALSE(topic_matches("/a", "a"));
    CHECK_FALSE(topic_matches("A", "a")); // case sensitive (MQTT 5 §4.7.3)
    CHECK_FALSE(topic_matches("ab", "a"));
    CHECK_FALSE(topic_matches("a", "ab"));
    CHECK(topic_matches("ä/€", "ä/€"));
    CHECK(topic_matches(" ", " "));
    CHECK_FALSE(topic_matches(" a", "a"));
}

TEST_CASE("topic matching: single-level wildcard", "[topic][match]") {
    // MQTT 5 §4.7.1.3 examples
    CHECK(topic_matches("sport/tennis/+", "sport/tennis/player1"));
    CHECK(topic_matches("sport/tennis/+", "sport/tennis/player2"));
    CHECK_FALSE(topic_matches("sport/tennis/+", "sport/tennis/player1/ranking"));
    CHECK_FALSE(topic_matches("sport/+", "sport"));
    CHECK(topic_matches("sport/+", "sport/"));
    CHECK(topic_matches("+", "a"));
    CHECK_FALSE(topic_matches("+", "a/b"));
    CHECK(topic_matches("+/+", "/finance"));
    CHECK(topic_matches("/+", "/finance"));
    CHECK_FALSE(topic_matches("+", "/finance"));
    CHECK(topic_matches("a/+/c", "a/b/c"));
    CHECK_FALSE(topic_matches("a/+/c", "a/b/d"));
    CHECK(topic_matches("+/b/+", "a/b/c"));
    // '+' matches an empty level
    CHECK(topic_matches("a/+/b", "a//b"));
    CHECK(topic_matches("+/+", "/"));
    CHECK_FALSE(topic_matches("+", "/"));
    CHECK(topic_matches("+/a", "/a"));
    CHECK(topic_matches("a/+", "a/"));
    CHECK(topic_matches("+/+/+", "//"));
}

TEST_CASE("topic matching: multi-level wildcard", "[topic][match]") {
    // MQTT 5 §4.7.1.2 examples
    CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1"));
    CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/ranking"));
    CHECK(topic_matches("sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon"));
    CHECK(topic_matches("sport/#", "sport")); // '#' also matches the parent level
    CHECK(topic_matches("a/#", "a"));
    CHECK(topic_matches("a/#", "a/"));
    CHECK(topic_matches("a/#", "a/b/c/d"));
    CHECK_FALSE(topic_matches("a/#", "ab"));
    CHECK_FALSE(topic_matches("a/#", "b"));
    CHECK_FALSE(topic_matches("a/#", "b/a"));
    CHECK_FALSE(topic_matches("a/b/#", "a"));
    CHECK(topic_matches("a/b/#", "a/b"));
    CHECK(topic_matches("#", "a"));
    CHECK(topic_matches("#", "a/b/c"));
    CHECK(topic_matches("#", "/"));
    CHECK(topic_matches("#", "/a"));
    CHECK(topic_matches("+/#", "a"));
    CHECK(topic_matches("+/#", "a/b"));
    CHECK(topic_matches("+/+/#", "a/b"));
    CHECK(topic_matches("+/+/#", "a/b/c"));
    CHECK_FALSE(topic_matches("+/+/#", "a"));
    CHECK(topic_matches("/#", "/"));
    CHECK(topic_matches("/#", "/a/b"));
    CHECK_FALSE(topic_matches("/#", "a"));
}

TEST_CASE("topic matching: topics starting with $ [MQTT-4.7.2-1]", "[topic][match]") {
    CHECK_FALSE(topic_matches("#", "$SYS"));
    CHECK_FALSE(topic_matches("#", "$SYS/broker/clients"));
    CHECK_FALSE(topic_matches("+/monitor/Clients", "$SYS/monitor/Clients"));
    CHECK_FALSE(topic_matches("+", "$SYS"));
    CHECK_FALSE(topic_matches("+/#", "$SYS/a"));
    CHECK(topic_matches("$SYS/#", "$SYS/monitor/Clients"));
    CHECK(topic_matches("$SYS/#", "$SYS"));
    CHECK(topic_matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
    CHECK(topic_matches("$SYS/+/Clients", "$SYS/monitor/Clients"));
    CHECK(topic_matches("$foo", "$foo"));
    CHECK_FALSE(topic_matches("#", "$"));
    // '$' elsewhere than at the start is an ordinary character
    CHECK(topic_matches("#", "a/$SYS"));
    CHECK(topic_matches("a/+", "a/$x"));
    CHECK(topic_matches("+/$x", "a/$x"));
}

TEST_CASE("topic matching: shared subscriptions match as their inner filter", "[topic][match]") {
    CHECK(topic_matches("$share/g/a/+", "a/b"));
    CHECK(topic_matches("$share/g/#", "a/b/c"));
    CHECK(topic_matches("$share/consumer1/sport/tennis/+", "sport/tennis/player1"));
    CHECK_FALSE(topic_matches("$share/g/a/b", "a/c"));
    CHECK_FALSE(topic_matches("$share/g/#", "$SYS/x"));
    CHECK(topic_matches("$share/g/$SYS/#", "$SYS/x"));
    CHECK_FALSE(topic_matches("$share/g/a", "$share/g/a")); // the name is not the share prefix
}

TEST_CASE("topic matching agrees with a brute-force level comparison", "[topic][match]") {
    // Every filter built from the levels {a, b, +, #, ""} (up to 3 levels, '#' only
    // last) against every name built from {a, b, ""} (up to 3 levels).
    const std::string_view filter_levels[] = {"a", "b", "+", "#", ""};
    const std::string_view name_levels[] = {"a", "b", ""};
    auto split = [](std::string_view s) {
        std::vector<std::string_view> out;
        std::size_t start = 0;
        while (true) {
            const auto slash = s.find('/', start);
            out.push_back(s.substr(start, slash == std::string_view::npos ? std::string_view::npos
                                                                          : slash - start));
            if (slash == std::string_view::npos)
                return out;
            start = slash + 1;
        }
    };
    // The reference: level by level, as MQTT 5 §4.7.1 describes it.
    auto reference = [&](std::string_view filter, std::string_view name) {
        const auto f = split(filter);
        const auto n = split(name);
        for (std::size_t i = 0; i < f.size(); ++i) {
            if (f[i] == "#")
                return true; // this level and everything below, including nothing
            if (i >= n.size())
                return false;
            if (f[i] != "+" && f[i] != n[i])
                return false;
        }
        return f.size() == n.size();
    };
    std::vector<std::string> filters, names;
    for (auto a : filter_levels) {
        filters.emplace_back(a);
        for (auto b : filter_levels) {
            filters.push_back(std::string{a} + "/" + std::string{b});
            for (auto c : filter_levels)
                filters.push_back(std::string{a} + "/" + std::string{b} + "/" + std::string{c});
        }
    }
    for (auto a : name_levels) {
        names.emplace_back(a);
        for (auto b : name_levels) {
            names.push_back(std::string{a} + "/" + std::string{b});
            for (auto c : name_levels)
                names.push_back(std::string{a} + "/" + std::string{b} + "/" + std::string{c});
        }
    }
    std::size_t compared = 0, mismatches = 0;
    std::string first_mismatch;
    for (const auto& f : filters) {
        if (validate_topic_filter(f))
            continue;
        for (const auto& n : names) {
            if (validate_topic_name(n))
                continue;
            ++compared;
            if (topic_matches(f, n) != reference(f, n) && mismatches++ == 0)
                first_mismatch = "filter \"" + f + "\" name \"" + n + '"';
        }
    }
    INFO(first_mismatch);
    CHECK(mismatches == 0u);
    CHECK(compared > 1000u);
}

TEST_CASE("topic functions are usable in constant expressions", "[topic]") {
    static_assert(topic_matches("a/+", "a/b"));
    static_assert(!topic_matches("#", "$SYS/x"));
    static_assert(!validate_topic_filter("a/#"));
    static_assert(validate_topic_filter("a/#/b").rule ==
                  codec_errc::topic_filter_multi_level_wildcard);
    static_assert(validate_topic_name("a/+").rule == codec_errc::topic_name_wildcard);
    static_assert(parse_shared_subscription("$share/g/a")->share_name == "g");
    SUCCEED();
}

// ------------------------------------------------------------------ shared subscriptions

TEST_CASE("parse_shared_subscription", "[topic][shared]") {
    auto s = parse_shared_subscription("$share/g/a/b");
    REQUIRE(s);
    CHECK(s->share_name == "g");
    CHECK(s->topic_filter == "a/b");
    s = parse_shared_subscription("$share/consumer1/sport/tennis/+");
    REQUIRE(s);
    CHECK(s->share_name == "consumer1");
    CHECK(s->topic_filter == "sport/tennis/+");
    s = parse_shared_subscription("$share/g/#");
    REQUIRE(s);
    CHECK(s->topic_filter == "#");
    s = parse_shared_subscription("$share/g//");
    REQUIRE(s);
    CHECK(s->topic_filter == "/");
    s = parse_shared_subscription("$share/g/"); // split, though the empty filter is invalid
    REQUIRE(s);
    CHECK(s->share_name == "g");
    CHECK(s->topic_filter.empty());
    CHECK_FALSE(parse_shared_subscription("$share//a"));
    CHECK_FALSE(parse_shared_subscription("$share/g"));
    CHECK_FALSE(parse_shared_subscription("$share/"));
    CHECK_FALSE(parse_shared_subscription("$share"));
    CHECK_FALSE(parse_shared_subscription("$SHARE/g/a"));
    CHECK_FALSE(parse_shared_subscription("a/$share/g/a"));
    CHECK_FALSE(parse_shared_subscription("#"));
    CHECK(is_shared_subscription("$share/"));
    CHECK_FALSE(is_shared_subscription("$share"));
    CHECK_FALSE(is_shared_subscription("$sharex/g/a"));
}

// ------------------------------------------------------------------ UTF-8

TEST_CASE("UTF-8: valid strings", "[utf8]") {
    const std::string_view valid[] = {
        ""sv,
        "abc"sv,
        "\x01\x1F\x7F"sv,     // control characters are well-formed (SHOULD NOT, not MUST NOT)
        "\xC2\x80"sv,         // U+0080, smallest 2-byte
        "\xDF\xBF"sv,         // U+07FF, largest 2-byte
        "\xE0\xA0\x80"sv,     // U+0800, smallest 3-byte
        "\xED\x9F\xBF"sv,     // U+D7FF, just below the surrogates
        "\xEE\x80\x80"sv,     // U+E000, just above the surrogates
        "\xEF\xBB\xBF"sv,     // U+FEFF BOM (must not be skipped or stripped [MQTT-1.5.4-3])
        "\xEF\xBF\xBF"sv,     // U+FFFF
        "\xF0\x90\x80\x80"sv, // U+10000, smallest 4-byte
        "\xF4\x8F\xBF\xBF"sv, // U+10FFFF, the largest code point
        "\xF0\xAA\x9B\x94"sv, // U+2A6D4, the MQTT 5 §1.5.4 example
        "ä€𝄞 mixed ascii"sv,
    };
    for (auto s : valid) {
        INFO("string of " << s.size() << " bytes");
        CHECK(rule(validate_utf8(s)) == ok);
        CHECK(is_valid_utf8(s));
    }
}

TEST_CASE("UTF-8: malformed strings and U+0000", "[utf8]") {
    struct vec {
        std::string_view s;
        codec_errc expected;
        const char* what;
    };
    const vec table[] = {
        {"\0"sv, codec_errc::utf8_null, "U+0000"},
        {"abc\0"sv, codec_errc::utf8_null, "U+0000 at the end"},
        {"\0abc"sv, codec_errc::utf8_null, "U+0000 at the start"},
        {"\xC0\x80"sv, codec_errc::utf8_malformed, "overlong U+0000"},
        {"\xC1\xBF"sv, codec_errc::utf8_malformed, "overlong U+007F"},
        {"\xE0\x80\x80"sv, codec_errc::utf8_malformed, "overlong 3-byte U+0000"},
        {"\xE0\x9F\xBF"sv, codec_errc::utf8_malformed, "overlong U+07FF"},
        {"\xF0\x80\x80\x80"sv, codec_errc::utf8_malformed, "overlong 4-byte U+0000"},
        {"\xF0\x8F\xBF\xBF"sv, codec_errc::utf8_malformed, "overlong U+FFFF"},
        {"\xED\xA0\x80"sv, codec_errc::utf8_malformed, "surrogate U+D800"},
        {"\xED\xAF\xBF"sv, codec_errc::utf8_malformed, "surrogate U+DBFF"},
        {"\xED\xB0\x80"sv, codec_errc::utf8_malformed, "surrogate U+DC00"},
        {"\xED\xBF\xBF"sv, codec_errc::utf8_malformed, "surrogate U+DFFF"},
        {"\xED\xA0\x80\xED\xB0\x80"sv, codec_errc::utf8_malformed, "surrogate pair (CESU-8)"},
        {"\xF4\x90\x80\x80"sv, codec_errc::utf8_malformed, "U+110000"},
        {"\xF5\x80\x80\x80"sv, codec_errc::utf8_malformed, "lead byte F5"},
        {"\xF7\xBF\xBF\xBF"sv, codec_errc::utf8_malformed, "U+1FFFFF"},
        {"\xF8\x88\x80\x80\x80"sv, codec_errc::utf8_malformed, "5-byte form"},
        {"\xFC\x84\x80\x80\x80\x80"sv, codec_errc::utf8_malformed, "6-byte form"},
        {"\xFE"sv, codec_errc::utf8_malformed, "FE"},
        {"\xFF"sv, codec_errc::utf8_malformed, "FF"},
        {"\x80"sv, codec_errc::utf8_malformed, "lone continuation byte"},
        {"\xBF"sv, codec_errc::utf8_malformed, "lone continuation byte BF"},
        {"a\x80z"sv, codec_errc::utf8_malformed, "continuation byte between ASCII"},
        {"\xC2\x80\x80"sv, codec_errc::utf8_malformed, "extra continuation byte"},
        {"\xC2"sv, codec_errc::utf8_malformed, "truncated 2-byte"},
        {"\xE0\xA0"sv, codec_errc::utf8_malformed, "truncated 3-byte"},
        {"\xE2\x82"sv, codec_errc::utf8_malformed, "truncated euro sign"},
        {"\xF0\x90\x80"sv, codec_errc::utf8_malformed, "truncated 4-byte"},
        {"\xF0"sv, codec_errc::utf8_malformed, "lone 4-byte lead"},
        {"abc\xC3"sv, codec_errc::utf8_malformed, "truncated at the end"},
        {"\xC2\x41"sv, codec_errc::utf8_malformed, "ASCII where a continuation belongs"},
        {"\xE2\x28\xA1"sv, codec_errc::utf8_malformed, "bad second byte of 3"},
        {"\xE2\x82\x28"sv, codec_errc::utf8_malformed, "bad third byte of 3"},
        {"\xF0\x90\x28\x80"sv, codec_errc::utf8_malformed, "bad third byte of 4"},
        {"\xF0\x90\x80\x28"sv, codec_errc::utf8_malformed, "bad fourth byte of 4"},
        {"\xC2\xC2\x80"sv, codec_errc::utf8_malformed, "lead byte where a continuation belongs"},
        {"\xC2\x00"sv, codec_errc::utf8_malformed, "U+0000 as a continuation"},
    };
    for (const auto& t : table) {
        INFO(t.what);
        CHECK(rule(validate_utf8(t.s)) == t.expected);
        CHECK_FALSE(is_valid_utf8(t.s));
    }
}

TEST_CASE("UTF-8: every position around the 8-byte fast path", "[utf8]") {
    // ASCII filler of every length 0..40, with a probe inserted at every position:
    // the fast path reads 8 bytes at a time, so the probe lands in every lane of a
    // word, at word boundaries and in the tail.
    struct probe {
        std::string_view bytes;
        codec_errc expected;
    };
    const probe probes[] = {
        {"\0"sv, codec_errc::utf8_null},
        {"\x80"sv, codec_errc::utf8_malformed},
        {"\xFF"sv, codec_errc::utf8_malformed},
        {"\xC0\x80"sv, codec_errc::utf8_malformed},
        {"\xED\xA0\x80"sv, codec_errc::utf8_malformed},
        {"\xC3\xA9"sv, ok},         // é
        {"\xE2\x82\xAC"sv, ok},     // €
        {"\xF0\x9D\x84\x9E"sv, ok}, // 𝄞
        {"\x01"sv, ok},             // 0x01: a zero-byte test must not trip on it
        {"\x7F"sv, ok},
    };
    std::size_t failures = 0;
    std::string first_failure;
    for (std::size_t len = 0; len <= 40; ++len) {
        for (std::size_t pos = 0; pos <= len; ++pos) {
            for (std::size_t pi = 0; pi < std::size(probes); ++pi) {
                std::string s(len, 'a');
                for (std::size_t i = 0; i < len; ++i)
                    s[i] = static_cast<char>('a' + (i % 26));
                s.insert(pos, probes[pi].bytes);
                const auto got = rule(validate_utf8(s));
                if (got != probes[pi].expected && failures++ == 0)
                    first_failure = "probe " + std::to_string(pi) + " at " + std::to_string(pos) +
                                    " in " + std::to_string(len) + " ASCII bytes";
            }
            // A truncated sequence as the very last byte after `len` ASCII bytes
            std::string t(len, 'x');
            t += "\xE2\x82";
            if (rule(validate_utf8(t)) != codec_errc::utf8_malformed && failures++ == 0)
                first_failure = "truncated tail after " + std::to_string(len);
        }
    }
    // Every ASCII byte 0x01..0x7F in every lane of two words
    for (unsigned c = 1; c < 0x80; ++c) {
        for (std::size_t pos = 0; pos < 16; ++pos) {
            std::string s(16, 'a');
            s[pos] = static_cast<char>(c);
            if (rule(validate_utf8(s)) != ok && failures++ == 0)
                first_failure = "ASCII " + std::to_string(c) + " at " + std::to_string(pos);
        }
    }
    // Every byte 0x80..0xFF alone in every lane: all malformed
    for (unsigned c = 0x80; c < 0x100; ++c) {
        for (std::size_t pos = 0; pos < 17; ++pos) {
            std::string s(17, 'a');
            s[pos] = static_cast<char>(c);
            if (rule(validate_utf8(s)) != codec_errc::utf8_malformed && failures++ == 0)
                first_failure = "byte " + std::to_string(c) + " alone at " + std::to_string(pos);
        }
    }
    INFO(first_failure);
    CHECK(failures == 0u);
}

TEST_CASE("UTF-8: every 2-, 3- and 4-byte lead against every second byte", "[utf8]") {
    // Valid second-byte ranges per RFC 3629 §4 (Table 3-7 of Unicode).
    auto valid_second = [](unsigned lead, unsigned second) -> bool {
        if (lead >= 0xC2 && lead <= 0xDF)
            return second >= 0x80 && second <= 0xBF;
        if (lead == 0xE0)
            return second >= 0xA0 && second <= 0xBF;
        if ((lead >= 0xE1 && lead <= 0xEC) || lead == 0xEE || lead == 0xEF)
            return second >= 0x80 && second <= 0xBF;
        if (lead == 0xED)
            return second >= 0x80 && second <= 0x9F;
        if (lead == 0xF0)
            return second >= 0x90 && second <= 0xBF;
        if (lead >= 0xF1 && lead <= 0xF3)
            return second >= 0x80 && second <= 0xBF;
        if (lead == 0xF4)
            return second >= 0x80 && second <= 0x8F;
        return false;
    };
    auto length = [](unsigned lead) -> std::size_t {
        return lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    };
    std::size_t failures = 0;
    std::string first_failure;
    for (unsigned lead = 0xC0; lead <= 0xFF; ++lead) {
        for (unsigned second = 0; second <= 0xFF; ++second) {
            std::string s;
            s += static_cast<char>(lead);
            s += static_cast<char>(second);
            while (s.size() < length(lead))
                s += '\x80';
            const bool expect_ok = valid_second(lead, second);
            const auto got = rule(validate_utf8(s));
            const bool is_ok = got == ok;
            if (is_ok != expect_ok && failures++ == 0)
                first_failure =
                    "lead " + std::to_string(lead) + " second " + std::to_string(second);
            // and in constant evaluation for a few
        }
    }
    INFO(first_failure);
    CHECK(failures == 0u);
}

TEST_CASE("UTF-8: constant evaluation takes the same decisions", "[utf8]") {
    static_assert(!validate_utf8("plain ascii longer than eight bytes"));
    static_assert(validate_utf8("abcdefgh\xC0\x80").rule == codec_errc::utf8_malformed);
    static_assert(validate_utf8(std::string_view{"abcdefghij\0", 11}).rule ==
                  codec_errc::utf8_null);
    static_assert(!validate_utf8("\xF4\x8F\xBF\xBF"));
    static_assert(validate_utf8("\xF4\x90\x80\x80").rule == codec_errc::utf8_malformed);
    static_assert(validate_utf8("\xED\xA0\x80").rule == codec_errc::utf8_malformed);
    CHECK(is_valid_utf8(std::string(65535, 'u')));
    CHECK_FALSE(is_valid_utf8(std::string(65536, 'u')));
}
