// ctmqtt-sub's output (tools/common/format.hpp, json.hpp) against what
// mosquitto_sub 2.0.11 (Debian 12, with cJSON 1.7.15) printed for the same
// messages: each expected string below was taken from mosquitto_sub's
// output, with the clock fixed here at 2020-05-06T21:48:00.123456789 UTC.
#include <cstdlib>
#include <ctime>
#include <string>
#include <string_view>
#include <vector>

#include <catch2/catch.hpp>

#include "common/format.hpp"
#include "common/json.hpp"

using namespace ctmqtt;
using namespace ctmqtt::tools;
using namespace std::string_literals;

namespace {

constexpr std::time_t fixed_seconds = 1588801680; // 2020-05-06T21:48:00Z
constexpr long fixed_nanoseconds = 123456789;

// Sets the time zone for the test's formatting (strftime, localtime).
struct time_zone {
    explicit time_zone(const char* tz) {
        ::setenv("TZ", tz, 1);
        ::tzset();
    }
};

struct printed {
    std::string out;
    std::string err;
};

printed print(const received_message& m, std::string format, bool eol = false,
              bool pretty = false) {
    output_options o;
    o.format = std::move(format);
    o.eol = eol;
    o.pretty = pretty;
    printed p;
    print_message(
        o, m,
        [] {
            return timestamp{fixed_seconds, fixed_nanoseconds};
        },
        p.out, p.err);
    return p;
}

std::string format(const received_message& m, std::string f) {
    auto p = print(m, std::move(f));
    REQUIRE(p.err.empty());
    return p.out;
}

received_message plain(std::string_view topic, std::string_view payload, int qos = 0,
                       bool retain = false, int mid = 0) {
    received_message m;
    m.topic = topic;
    m.payload = payload;
    m.qos = qos;
    m.retain = retain;
    m.mid = mid;
    return m;
}

// The message with every property mosquitto_pub -D publish can set, in the
// order the broker forwarded them.
received_message with_properties(std::string_view payload) {
    auto m = plain("f/abc", payload);
    m.properties = {
        {property_id::content_type, 0, "text/x", {}},
        {property_id::response_topic, 0, "r/t", {}},
        {property_id::correlation_data, 0, "c d", {}},
        {property_id::payload_format_indicator, 1, {}, {}},
        {property_id::user_property, 0, "b", "a"},
        {property_id::user_property, 0, "e f", "c d"},
        {property_id::message_expiry_interval, 4000000000u, {}, {}},
    };
    return m;
}

// Everything but the %I %U %j %J time sequences, as one -F string.
const std::string all_sequences =
    R"(%t|%10t|%-10t|%.2t|%5.2t|%-5.2t|%p|%10p|%-10p|%3p|%010p|%-p|%x|%X|%6x|%-6X|%06x|%q|%r|)"
    R"(%l|%5l|%-5l|%05l|%m|%%|%C|%5C|%R|%D|%E|%5E|%05E|%F|%3F|%S|%4S|%A|%3A|%P|%-08p)"
    R"(\e\a\r\v\t\\|\0|@@|%-5.1C|%.0p|%0.3t)";

} // namespace

TEST_CASE("format: every sequence, flags, widths and escapes as mosquitto_sub prints them",
          "[tools][format]") {
    const time_zone utc{"UTC"};
    SECTION("a payload and no properties") {
        CHECK(format(plain("f/abc", "hello"), all_sequences) ==
              "f/abc|     f/abc|f/abc     |f/|   f/|f/   |hello|     hello|hello     |hel|"
              "00000hello|hello     |68656c6c6f|68656C6C6F|  6865|6865  |006865|0|0|5|    5|"
              "5    |00005|0|%||     ||||     |00000||   ||    ||   ||hello   \x1b\a\r\v\t\\|"s +
                  '\0' + "|@|     |hello|f/a");
    }
    SECTION("every publish property") {
        CHECK(format(with_properties("ABC"), all_sequences) ==
              "f/abc|     f/abc|f/abc     |f/|   f/|f/   |ABC|       ABC|ABC       |ABC|"
              "0000000ABC|ABC   |414243|414243|    41|41    |000041|0|0|3|    3|3    |00003|0|%|"
              "text/x|text/x|r/t|c d|-294967296|-294967296|-294967296|1|  1||    ||   |"
              "a:b c d:e f|ABC     \x1b\a\r\v\t\\|"s +
                  '\0' + "|@|t    |ABC|f/a");
    }
    SECTION("an empty payload") {
        CHECK(format(plain("f/e", ""), all_sequences) ==
              "f/e|       f/e|f/e       |f/|   f/|f/   ||          |          |   |0000000000||"
              "||      |      |000000|0|0|0|    0|0    |00000|0|%||     ||||     |00000||   ||"
              "    ||   ||        \x1b\a\r\v\t\\|"s +
                  '\0' + "|@|     ||f/e");
    }
    SECTION("QoS, retain, packet identifier") {
        CHECK(format(plain("a", "x", 2, true, 7), "%q %r %m %3m %-3m| %03m") ==
              "2 1 7   7 7  | 007");
    }
    SECTION("subscription identifiers and a topic alias") {
        auto m = plain("a", "x");
        m.properties = {{property_id::subscription_identifier, 5, {}, {}},
                        {property_id::subscription_identifier, 9, {}, {}},
                        {property_id::topic_alias, 3, {}, {}}};
        CHECK(format(m, "%S|%3S|%03A") == "5|  5|003"); // the first identifier only
    }
    SECTION("the end of the line, and -N") {
        CHECK(print(plain("a", "x"), "%p", true).out == "x\n");
        CHECK(print(plain("a", "x"), "%p", false).out == "x");
    }
    SECTION("a string ends at its first NUL, a payload does not") {
        const std::string payload = "a\0b"s;
        CHECK(format(plain("t", payload), "%p|%l|%x") == "a\0b|3|610062"s);
    }
}

TEST_CASE("format: times from the clock (%I %U and @ sequences)", "[tools][format]") {
    SECTION("UTC") {
        const time_zone utc{"UTC"};
        CHECK(format(plain("t", "x"), "%I|%U|@Y-@m-@d @H:@M:@S.@N|@@|@s") ==
              "2020-05-06T21:48:00+0000|1588801680.123456789|2020-05-06 21:48:00.123456789|@|"
              "1588801680");
        CHECK(format(plain("t", "x"), "%30I|%-26I|%.10I") ==
              "      2020-05-06T21:48:00+0000|2020-05-06T21:48:00+0000  |2020-05-06");
    }
    SECTION("a zone east of UTC, in summer time") {
        const time_zone cest{"CET-1CEST,M3.5.0,M10.5.0/3"};
        CHECK(format(plain("t", "x"), "%I|%U") == "2020-05-06T23:48:00+0200|1588801680.123456789");
    }
}

TEST_CASE("format: %j and %J, the JSON mosquitto_sub writes with cJSON", "[tools][format]") {
    const time_zone utc{"UTC"};
    const std::string head = R"({"tst":"2020-05-06T21:48:00.123456Z+0000",)";
    SECTION("the escaped payload (%j)") {
        CHECK(format(plain("j/p00", R"({"a":1.0,"b":[1,2]})"), "%j") ==
              head + R"("topic":"j/p00","qos":0,"retain":0,"payloadlen":19,)" +
                  R"("payload":"{\"a\":1.0,\"b\":[1,2]}"})");
        CHECK(format(plain("j/p18", "\x01 5"), "%j") ==
              head + R"("topic":"j/p18","qos":0,"retain":0,"payloadlen":3,"payload":"\u0001 5"})");
        // cJSON takes the payload as a C string: it ends at the first NUL.
        CHECK(format(plain("j/p24", "1\0002"s), "%j") ==
              head + R"("topic":"j/p24","qos":0,"retain":0,"payloadlen":3,"payload":"1"})");
    }
    SECTION("an empty payload is null, QoS 1/2 add the packet identifier") {
        CHECK(format(plain("a/c", "", 1, true, 3), "%j") ==
              head + R"("topic":"a/c","qos":1,"retain":1,"payloadlen":0,"mid":3,"payload":null})");
        CHECK(format(plain("a/c", "", 0), "%J") ==
              head + R"("topic":"a/c","qos":0,"retain":0,"payloadlen":0,"payload":null})");
    }
    SECTION("properties in the order they came, user properties as one object") {
        CHECK(format(with_properties("plain"), "%j") ==
              head + R"("topic":"f/abc","qos":0,"retain":0,"payloadlen":5,"properties":{)" +
                  R"("content-type":"text/x","response-topic":"r/t","correlation-data":"c d",)" +
                  R"("payload-format-indicator":1,"user-properties":{"a":"b","c d":"e f"},)" +
                  R"("message-expiry-interval":4000000000},"payload":"plain"})");
        auto m = plain("a/c", "plain");
        m.properties = {{property_id::subscription_identifier, 2, {}, {}},
                        {property_id::correlation_data, 0, "cd", {}},
                        {property_id::user_property, 0, "v", "k"},
                        {property_id::payload_format_indicator, 0, {}, {}}};
        CHECK(
            format(m, "%j") ==
            head + R"("topic":"a/c","qos":0,"retain":0,"payloadlen":5,"properties":{)" +
                R"("subscription-identifier":2,"correlation-data":"cd",)" +
                R"("user-properties":{"k":"v"},"payload-format-indicator":0},"payload":"plain"})");
    }
    SECTION("the parsed payload (%J) as cJSON writes it back") {
        const auto J = [&](std::string_view payload) {
            auto p = print(plain("j", payload), "%J");
            REQUIRE(p.err.empty());
            const std::string prefix = head + R"("topic":"j","qos":0,"retain":0,"payloadlen":)" +
                                       std::to_string(payload.size()) + R"(,"payload":)";
            REQUIRE(p.out.starts_with(prefix));
            REQUIRE(p.out.ends_with("}"));
            return p.out.substr(prefix.size(), p.out.size() - prefix.size() - 1);
        };
        CHECK(J(R"({"a":1.0,"b":[1,2,3],"c":{"d":null,"e":true,"f":false}})") ==
              R"({"a":1,"b":[1,2,3],"c":{"d":null,"e":true,"f":false}})");
        CHECK(J("  [ 1e3 , -0.0, 0.1, 1.5e300, 123456789012345678, 3.14159265358979, 2147483648, "
                "-2147483649, 1e-7, 100000000000000000000 ]  ") ==
              "[1000,-0,0.1,1.5e+300,1.2345678901234568e+17,3.14159265358979,2147483648,"
              "-2147483649,1e-07,1e+20]");
        CHECK(J(R"("str\u00e9\ud83d\ude00\/\b\f\n\r\t\u0001 \"q\" \\")") ==
              "\"str\xC3\xA9\xF0\x9F\x98\x80/\\b\\f\\n\\r\\t\\u0001 \\\"q\\\" \\\\\"");
        CHECK(J("01") == "1");
        CHECK(J(R"({"k":"v","k":"w"})") == R"({"k":"v","k":"w"})");
        CHECK(J("{}") == "{}");
        CHECK(J("[]") == "[]");
        CHECK(J("1e999") == "null");
        CHECK(J(R"("\u0000abc")") == R"("")");
        CHECK(J("1.") == "1");
        CHECK(J(R"({"a":[{"b":[]}],"c":{},"d":[{}]})") == R"({"a":[{"b":[]}],"c":{},"d":[{}]})");
        CHECK(J(R"([true,false,null,"x"])") == R"([true,false,null,"x"])");
        CHECK(J("\x01 5") == "5");
        CHECK(J(R"("\uZZZZ")") == R"("")");
        CHECK(J("\xEF\xBB\xBF"
                "1") == "1");
        CHECK(J("{\"a\":\"raw\x01"
                "ctl\xC3\xA9\"}") == "{\"a\":\"raw\\u0001ctl\xC3\xA9\"}");
        CHECK(J("0.30000000000000004") == "0.3");
        CHECK(J(R"({"x":-1.5E+2})") == R"({"x":-150})");
        CHECK(J("  {\"a\":1}\n") == R"({"a":1})");
    }
    SECTION("a payload that is not JSON: an error on stderr, nothing on stdout") {
        for (std::string_view bad :
             {R"({"a":})", "[1,]", "nul", "-", ".5", "1e", R"("\udc00")", "123abc", "[1 2]",
              R"({"a" 1})", R"("unterminated)", "[-]", "truex", R"("a\x")"}) {
            CAPTURE(bad);
            const auto p = print(plain("j/p04", bad), "<%J>");
            CHECK(p.out == "<>");
            CHECK(p.err == "Error: Message payload is not valid JSON on topic j/p04.\n");
        }
        const auto nul = print(plain("j/p24", "1\0002"s), "%J");
        CHECK(nul.err == "Error: Message payload is not valid JSON on topic j/p24.\n");
    }
    SECTION("--pretty: cJSON's indented form") {
        const auto p =
            print(plain("j/p16", R"({"a":[{"b":[]}],"c":{},"d":[{}]})"), "%J", false, true);
        CHECK(p.out == "{\n\t\"tst\":\t\"2020-05-06T21:48:00.123456Z+0000\",\n"
                       "\t\"topic\":\t\"j/p16\",\n\t\"qos\":\t0,\n\t\"retain\":\t0,\n"
                       "\t\"payloadlen\":\t32,\n\t\"payload\":\t{\n"
                       "\t\t\"a\":\t[{\n\t\t\t\t\"b\":\t[]\n\t\t\t}],\n"
                       "\t\t\"c\":\t{\n\t\t},\n"
                       "\t\t\"d\":\t[{\n\t\t\t}]\n\t}\n}");
        const auto numbers = print(plain("j", "[1,2]"), "%J", false, true);
        CHECK(numbers.out.ends_with("\t\"payload\":\t[1, 2]\n}"));
    }
}

TEST_CASE("format: without -F, and -v", "[tools][format]") {
    output_options o;
    const auto run = [&](const received_message& m) {
        std::string out, err;
        print_message(
            o, m, [] { return timestamp{}; }, out, err);
        return out;
    };
    CHECK(run(plain("a/b", "hello")) == "hello\n");
    CHECK(run(plain("a/b", "")).empty()); // an empty message prints nothing
    o.verbose = true;
    CHECK(run(plain("a/b", "hello")) == "a/b hello\n");
    CHECK(run(plain("a/b", "")) == "a/b (null)\n");
    o.eol = false;
    CHECK(run(plain("a/b", "hello")) == "a/b hello");
    CHECK(run(plain("a/b", "")).empty());
    o.verbose = false;
    CHECK(run(plain("a/b", "bin\0ary"s)) == "bin\0ary"s);
}

TEST_CASE("json: print_string escapes as cJSON does", "[tools][json]") {
    std::string out;
    json::print_string(out, "q\"b\\\b\f\n\r\t\x1f\x7f\xC3\xA9/");
    CHECK(out == "\"q\\\"b\\\\\\b\\f\\n\\r\\t\\u001f\x7f\xC3\xA9/\"");
}
