// ctmqtt: header-only C++20 MQTT client library, single-header edition.
//
// GENERATED FILE - DO NOT EDIT. Produced by scripts/amalgamate.py from
// include/ctmqtt/ctmqtt.hpp and the headers it includes; regenerate with
//     python3 scripts/amalgamate.py
#pragma once

// ---- begin include/ctmqtt/ctmqtt.hpp ----
// ctmqtt umbrella header: includes the whole public API.
// single_include/ctmqtt/ctmqtt.hpp is generated from this file by
// scripts/amalgamate.py; re-run it after changing any header.

// ---- begin include/ctmqtt/core.hpp ----
// The sans-I/O core: codec, properties, reason codes, topics, session. No Asio,
// no OpenSSL, no threads, no clock.

// ---- begin include/ctmqtt/core/byte_buffer.hpp ----
// byte_buffer: a growable byte array for output that is about to be
// overwritten. std::vector<std::byte>::resize zero-fills what it adds; a
// packet encoded there pays for writing every byte twice. extend() hands
// out uninitialised room instead. Capacity is kept across clear(), so a
// buffer that has reached its working size never allocates again.
//
// It is a contiguous range (begin()/end() are pointers, value_type and
// iterator are declared), so std::span and asio::buffer take it as they take
// a std::vector<std::byte>.

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <memory>
#include <span>
#include <utility>

#if defined(_MSC_VER)
#define CTMQTT_NOINLINE __declspec(noinline)
#else
#define CTMQTT_NOINLINE [[gnu::noinline]]
#endif

namespace ctmqtt {

class byte_buffer {
public:
    using value_type = std::byte;
    using size_type = std::size_t;
    using iterator = std::byte*;
    using const_iterator = const std::byte*;

    byte_buffer() noexcept = default;
    byte_buffer(byte_buffer&& other) noexcept
        : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)),
          capacity_(std::exchange(other.capacity_, 0)) {}
    byte_buffer& operator=(byte_buffer&& other) noexcept {
        data_ = std::move(other.data_);
        size_ = std::exchange(other.size_, 0);
        capacity_ = std::exchange(other.capacity_, 0);
        return *this;
    }

    std::byte* data() noexcept { return data_.get(); }
    const std::byte* data() const noexcept { return data_.get(); }
    std::size_t size() const noexcept { return size_; }
    std::size_t capacity() const noexcept { return capacity_; }
    bool empty() const noexcept { return size_ == 0; }
    std::span<const std::byte> view() const noexcept { return {data_.get(), size_}; }

    iterator begin() noexcept { return data_.get(); }
    iterator end() noexcept { return data_.get() + size_; }
    const_iterator begin() const noexcept { return data_.get(); }
    const_iterator end() const noexcept { return data_.get() + size_; }
    std::byte& operator[](std::size_t i) noexcept { return data_[i]; }
    const std::byte& operator[](std::size_t i) const noexcept { return data_[i]; }

    /// Adds `n` bytes at the end, uninitialised, and returns where they start.
    std::byte* extend(std::size_t n) {
        if (capacity_ - size_ < n) [[unlikely]]
            grow(size_ + n);
        std::byte* at = data_.get() + size_;
        size_ += n;
        return at;
    }

    void append(std::span<const std::byte> bytes) {
        if (!bytes.empty())
            std::memcpy(extend(bytes.size()), bytes.data(), bytes.size());
    }

    /// Keeps the first n bytes (a larger n changes nothing).
    void truncate(std::size_t n) noexcept { size_ = std::min(n, size_); }

    /// Drops the first n bytes, moving the rest to the front.
    void erase_front(std::size_t n) noexcept {
        n = std::min(n, size_);
        if (n != 0 && n != size_)
            std::memmove(data_.get(), data_.get() + n, size_ - n);
        size_ -= n;
    }

    void clear() noexcept { size_ = 0; }

    void reserve(std::size_t n) {
        if (n <= capacity_)
            return;
        // new std::byte[n] default-initialises: nothing is written
        std::unique_ptr<std::byte[]> bigger(new std::byte[n]);
        if (size_ != 0)
            std::memcpy(bigger.get(), data_.get(), size_);
        data_ = std::move(bigger);
        capacity_ = n;
    }

    void swap(byte_buffer& other) noexcept {
        data_.swap(other.data_);
        std::swap(size_, other.size_);
        std::swap(capacity_, other.capacity_);
    }

private:
    // Out of line: GCC would inline it into extend() (it is called once), and
    // extend() would then be too large to inline into every encoder.
    CTMQTT_NOINLINE void grow(std::size_t needed) { reserve(std::max(needed, capacity_ * 2)); }

    std::unique_ptr<std::byte[]> data_;
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/byte_buffer.hpp ----
// ---- begin include/ctmqtt/core/codec.hpp ----
// The public codec: sizes, encoders, decoders and validity checks of every
// packet, generated from the packet descriptions (describe.hpp, packets/).
//
// Encoding writes the fixed header and every field except PUBLISH's payload
// into a caller-provided buffer; the payload is returned as a second buffer
// for a gather write, so it is never copied. Decoding yields views into the
// input. Neither allocates.

#include <cstdint>
#include <optional>
#include <system_error>
#include <type_traits>
#include <variant>

// ---- begin include/ctmqtt/core/describe.hpp ----
// The vocabulary in which packets are described, and the generic code that
// turns a description into a size computation, an encoder, a validity check,
// a decoder and a field visitor.
//
// A description (specialisation of ctmqtt::description<P>) lists:
//   type    the packet type
//   header  the fixed-header flags: fixed_flags<0b0010> or header_bits<bits<...>...>
//   fields  field_list<...> of the variable header and payload, in wire order
//   rules   rule_list<...> of cross-field constraints, checked on both sides
// Each field names a member through an accessor, its wire type (wire.hpp),
// and a presence policy: a predicate over the packet and protocol version,
// evaluated on the partly decoded packet while decoding, so later fields can
// depend on earlier ones (the packet identifier on the QoS, the will topic on
// the will flag). Lists of entries (SUBSCRIBE's subscriptions) are described
// the same way: description<subscription> is a record with fields and rules.

#include <string_view>

// ---- begin include/ctmqtt/core/error.hpp ----
// Codec errors. Every malformed packet, and every packet the encoder refuses
// to build, is reported as a std::error_code whose message names the packet,
// what was wrong and the specification statement, e.g.
//   "PUBLISH: topic name contains a wildcard [MQTT-3.3.2-2]".
// The error value packs the rule (bits 0-7), the packet type (bits 8-15) and
// a detail byte (bits 16-23: a property identifier or a reason code), so
// errors never allocate. Compare with a rule: `ec == codec_errc::topic_name_wildcard`.

#include <string>

// ---- begin include/ctmqtt/core/property_table.hpp ----
// The 27 MQTT 5 properties, described once (MQTT 5 §2.2.2.2): identifier,
// name, wire type, the packets that may carry each, and where it may repeat.
// Everything else about properties (storage types, encoders, decoders,
// validity checks, compile-time "not allowed in this packet" errors) is
// derived from this table.

#include <array>

// ---- begin include/ctmqtt/core/types.hpp ----
// Vocabulary types shared by every layer: protocol versions, QoS, packet types
// and the views the codec hands out.


namespace ctmqtt {

/// Protocol level as carried in CONNECT (MQTT 5 §3.1.2.2, 3.1.1 §3.1.2.2).
enum class protocol_version : std::uint8_t {
    v3_1 = 3,   ///< MQTT 3.1, protocol name "MQIsdp"
    v3_1_1 = 4, ///< MQTT 3.1.1, protocol name "MQTT"
    v5 = 5,     ///< MQTT 5.0, protocol name "MQTT"
};

constexpr std::string_view to_string(protocol_version v) noexcept {
    switch (v) {
    case protocol_version::v3_1: return "3.1";
    case protocol_version::v3_1_1: return "3.1.1";
    case protocol_version::v5: return "5.0";
    }
    return "unknown";
}

/// Quality of service (MQTT 5 §4.3).
enum class qos : std::uint8_t { at_most_once = 0, at_least_once = 1, exactly_once = 2 };

/// Retain handling subscription option (MQTT 5 §3.8.3.1).
enum class retain_handling : std::uint8_t {
    send_on_subscribe = 0,
    send_if_new_subscription = 1,
    do_not_send = 2,
};

/// Control packet types (MQTT 5 §2.1.2). 0 is reserved; 15 is AUTH in 5.0 and
/// reserved before it.
enum class packet_type : std::uint8_t {
    reserved = 0,
    connect = 1,
    connack = 2,
    publish = 3,
    puback = 4,
    pubrec = 5,
    pubrel = 6,
    pubcomp = 7,
    subscribe = 8,
    suback = 9,
    unsubscribe = 10,
    unsuback = 11,
    pingreq = 12,
    pingresp = 13,
    disconnect = 14,
    auth = 15,
};

constexpr std::string_view to_string(packet_type t) noexcept {
    constexpr std::string_view names[] = {"RESERVED",  "CONNECT",  "CONNACK",     "PUBLISH",
                                          "PUBACK",    "PUBREC",   "PUBREL",      "PUBCOMP",
                                          "SUBSCRIBE", "SUBACK",   "UNSUBSCRIBE", "UNSUBACK",
                                          "PINGREQ",   "PINGRESP", "DISCONNECT",  "AUTH"};
    auto i = static_cast<std::size_t>(t);
    return i < std::size(names) ? names[i] : std::string_view{"UNKNOWN"};
}

/// Binary data viewed in place (a decoded payload points into the receive buffer).
using bytes_view = std::span<const std::byte>;

/// Views a string's bytes as binary data (no copy).
inline bytes_view as_bytes(std::string_view s) noexcept {
    return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// Views binary data as characters (no copy, no validation).
inline std::string_view as_string(bytes_view b) noexcept {
    return {reinterpret_cast<const char*>(b.data()), b.size()};
}

/// A UTF-8 string pair, e.g. a user property (MQTT 5 §1.5.7).
struct string_pair {
    std::string_view name;
    std::string_view value;
    friend constexpr bool operator==(const string_pair&, const string_pair&) = default;
};

/// The largest remaining length a fixed header can express (MQTT 5 §1.5.5).
inline constexpr std::uint32_t max_variable_byte_integer = 268'435'455;
/// The largest UTF-8 string or binary data field (MQTT 5 §1.5.4, §1.5.6).
inline constexpr std::size_t max_string_length = 65'535;

} // namespace ctmqtt
// ---- end include/ctmqtt/core/types.hpp ----

namespace ctmqtt {

/// Property identifiers (MQTT 5 §2.2.2.2).
enum class property_id : std::uint8_t {
    payload_format_indicator = 0x01,
    message_expiry_interval = 0x02,
    content_type = 0x03,
    response_topic = 0x08,
    correlation_data = 0x09,
    subscription_identifier = 0x0B,
    session_expiry_interval = 0x11,
    assigned_client_identifier = 0x12,
    server_keep_alive = 0x13,
    authentication_method = 0x15,
    authentication_data = 0x16,
    request_problem_information = 0x17,
    will_delay_interval = 0x18,
    request_response_information = 0x19,
    response_information = 0x1A,
    server_reference = 0x1C,
    reason_string = 0x1F,
    receive_maximum = 0x21,
    topic_alias_maximum = 0x22,
    topic_alias = 0x23,
    maximum_qos = 0x24,
    retain_available = 0x25,
    user_property = 0x26,
    maximum_packet_size = 0x27,
    wildcard_subscription_available = 0x28,
    subscription_identifier_available = 0x29,
    shared_subscription_available = 0x2A,
};

/// Wire data types of property values (MQTT 5 §1.5).
enum class property_wire : std::uint8_t {
    byte,        ///< one byte
    two_byte,    ///< two byte integer
    four_byte,   ///< four byte integer
    varint,      ///< variable byte integer
    utf8,        ///< UTF-8 encoded string
    binary,      ///< binary data
    string_pair, ///< UTF-8 string pair
};

/// Where a property may appear: a packet type, or the will properties of CONNECT.
/// Bit n stands for packet_type n; bit 0 (the reserved type) stands for "will".
using property_scope_mask = std::uint16_t;

/// The property scopes. Each property_set is parameterised by one.
enum class property_scope : std::uint8_t {
    will = 0,
    connect = 1,
    connack = 2,
    publish = 3,
    puback = 4,
    pubrec = 5,
    pubrel = 6,
    pubcomp = 7,
    subscribe = 8,
    suback = 9,
    unsubscribe = 10,
    unsuback = 11,
    disconnect = 14,
    auth = 15,
};

constexpr property_scope_mask scope_bit(property_scope s) noexcept {
    return static_cast<property_scope_mask>(1u << static_cast<unsigned>(s));
}

constexpr std::string_view to_string(property_scope s) noexcept {
    return s == property_scope::will ? std::string_view{"will properties"}
                                     : to_string(static_cast<packet_type>(s));
}

/// How a value constrained to a range is checked on decode and encode.
enum class property_range : std::uint8_t {
    any,         ///< every value of the wire type
    zero_or_one, ///< a boolean byte (e.g. Retain Available)
    non_zero,    ///< 0 is a protocol error (e.g. Receive Maximum, Topic Alias)
    topic_name,  ///< a topic name: no wildcards (Response Topic [MQTT-3.3.2-14])
};

struct property_info {
    property_id id;
    std::string_view name; ///< as the specification spells it
    property_wire wire;
    property_scope_mask allowed; ///< scopes that may carry it
    property_scope_mask repeats; ///< scopes where it may appear more than once
    property_range range;
};

namespace detail {
constexpr property_scope_mask scopes(std::initializer_list<property_scope> list) noexcept {
    property_scope_mask m = 0;
    for (auto s : list)
        m = static_cast<property_scope_mask>(m | scope_bit(s));
    return m;
}
using ps = property_scope;
inline constexpr property_scope_mask every_scope_with_properties =
    scopes({ps::will, ps::connect, ps::connack, ps::publish, ps::puback, ps::pubrec, ps::pubrel,
            ps::pubcomp, ps::subscribe, ps::suback, ps::unsubscribe, ps::unsuback, ps::disconnect,
            ps::auth});
inline constexpr property_scope_mask message_scopes = scopes({ps::publish, ps::will});
inline constexpr property_scope_mask ack_scopes =
    scopes({ps::connack, ps::puback, ps::pubrec, ps::pubrel, ps::pubcomp, ps::suback, ps::unsuback,
            ps::disconnect, ps::auth});
} // namespace detail

/// The property table (MQTT 5 §2.2.2.2, Table 2-4).
// clang-format off (one row a line, as the specification's table)
inline constexpr std::array<property_info, 27> property_table = [] {
    using enum property_id;
    using w = property_wire;
    using r = property_range;
    using detail::ps;
    using detail::scopes;
    return std::array<property_info, 27>{{
        {payload_format_indicator, "Payload Format Indicator", w::byte, detail::message_scopes, 0,
         r::zero_or_one},
        {message_expiry_interval, "Message Expiry Interval", w::four_byte, detail::message_scopes,
         0, r::any},
        {content_type, "Content Type", w::utf8, detail::message_scopes, 0, r::any},
        {response_topic, "Response Topic", w::utf8, detail::message_scopes, 0, r::topic_name},
        {correlation_data, "Correlation Data", w::binary, detail::message_scopes, 0, r::any},
        {subscription_identifier, "Subscription Identifier", w::varint,
         scopes({ps::publish, ps::subscribe}), scopes({ps::publish}), r::non_zero},
        {session_expiry_interval, "Session Expiry Interval", w::four_byte,
         scopes({ps::connect, ps::connack, ps::disconnect}), 0, r::any},
        {assigned_client_identifier, "Assigned Client Identifier", w::utf8, scopes({ps::connack}),
         0, r::any},
        {server_keep_alive, "Server Keep Alive", w::two_byte, scopes({ps::connack}), 0, r::any},
        {authentication_method, "Authentication Method", w::utf8,
         scopes({ps::connect, ps::connack, ps::auth}), 0, r::any},
        {authentication_data, "Authentication Data", w::binary,
         scopes({ps::connect, ps::connack, ps::auth}), 0, r::any},
        {request_problem_information, "Request Problem Information", w::byte, scopes({ps::connect}),
         0, r::zero_or_one},
        {will_delay_interval, "Will Delay Interval", w::four_byte, scopes({ps::will}), 0, r::any},
        {request_response_information, "Request Response Information", w::byte,
         scopes({ps::connect}), 0, r::zero_or_one},
        {response_information, "Response Information", w::utf8, scopes({ps::connack}), 0, r::any},
        {server_reference, "Server Reference", w::utf8, scopes({ps::connack, ps::disconnect}), 0,
         r::any},
        {reason_string, "Reason String", w::utf8, detail::ack_scopes, 0, r::any},
        {receive_maximum, "Receive Maximum", w::two_byte, scopes({ps::connect, ps::connack}), 0,
         r::non_zero},
        {topic_alias_maximum, "Topic Alias Maximum", w::two_byte,
         scopes({ps::connect, ps::connack}), 0, r::any},
        {topic_alias, "Topic Alias", w::two_byte, scopes({ps::publish}), 0, r::non_zero},
        {maximum_qos, "Maximum QoS", w::byte, scopes({ps::connack}), 0, r::zero_or_one},
        {retain_available, "Retain Available", w::byte, scopes({ps::connack}), 0, r::zero_or_one},
        {user_property, "User Property", w::string_pair, detail::every_scope_with_properties,
         detail::every_scope_with_properties, r::any},
        {maximum_packet_size, "Maximum Packet Size", w::four_byte,
         scopes({ps::connect, ps::connack}), 0, r::non_zero},
        {wildcard_subscription_available, "Wildcard Subscription Available", w::byte,
         scopes({ps::connack}), 0, r::zero_or_one},
        {subscription_identifier_available, "Subscription Identifier Available", w::byte,
         scopes({ps::connack}), 0, r::zero_or_one},
        {shared_subscription_available, "Shared Subscription Available", w::byte,
         scopes({ps::connack}), 0, r::zero_or_one},
    }};
}();
// clang-format on

/// Index into property_table by identifier byte; 0xFF for identifiers the
/// specification does not define.
inline constexpr std::array<std::uint8_t, 256> property_index = [] {
    std::array<std::uint8_t, 256> index{};
    for (auto& i : index)
        i = 0xFF;
    for (std::size_t i = 0; i < property_table.size(); ++i)
        index[static_cast<std::size_t>(property_table[i].id)] = static_cast<std::uint8_t>(i);
    return index;
}();

/// The table row for an identifier, or nullptr if it is not a property.
constexpr const property_info* find_property(std::uint32_t id) noexcept {
    if (id > 0xFF || property_index[id] == 0xFF)
        return nullptr;
    return &property_table[property_index[id]];
}

constexpr const property_info& info(property_id id) noexcept {
    return property_table[property_index[static_cast<std::size_t>(id)]];
}

constexpr std::string_view to_string(property_id id) noexcept {
    const auto* p = find_property(static_cast<std::uint32_t>(id));
    return p ? p->name : std::string_view{"unknown property"};
}

constexpr bool property_allowed(property_scope scope, property_id id) noexcept {
    return (info(id).allowed & scope_bit(scope)) != 0;
}

constexpr bool property_repeats(property_scope scope, property_id id) noexcept {
    return (info(id).repeats & scope_bit(scope)) != 0;
}

} // namespace ctmqtt
// ---- end include/ctmqtt/core/property_table.hpp ----

namespace ctmqtt {

/// The rules the codec checks. Each value's message is in rule_message().
enum class codec_errc : std::uint8_t {
    // framing and primitives
    varint_too_long = 1,
    varint_not_minimal,
    incomplete_packet,
    field_truncated,
    trailing_bytes,
    remaining_length_not_zero,
    reserved_packet_type,
    fixed_header_flags,
    packet_too_large,
    buffer_too_small,
    value_too_large,
    string_too_long,
    utf8_malformed,
    utf8_null,
    packet_id_zero,
    // properties
    property_unknown,
    property_duplicate,
    property_not_allowed,
    property_length,
    property_value,
    reason_code_not_allowed,
    // topics
    topic_name_empty,
    topic_name_wildcard,
    topic_filter_empty,
    topic_filter_multi_level_wildcard,
    topic_filter_single_level_wildcard,
    shared_subscription_invalid,
    // CONNECT / CONNACK
    protocol_name,
    protocol_level,
    connect_reserved_flag,
    will_flags_without_will,
    will_qos_invalid,
    password_without_user_name,
    client_identifier_length,
    empty_client_id_without_clean_session,
    connack_reserved_flags,
    session_present_on_refusal,
    return_code_reserved,
    // PUBLISH
    publish_qos_invalid,
    dup_on_qos_0,
    // SUBSCRIBE / UNSUBSCRIBE and acknowledgements
    no_topic_filters,
    no_reason_codes,
    subscription_options_reserved,
    subscription_qos_invalid,
    retain_handling_invalid,
    no_local_on_shared_subscription,
    requires_v5,
    packet_type_mismatch,
};

namespace detail {

inline std::string hex_byte(unsigned v) {
    constexpr char digits[] = "0123456789ABCDEF";
    return std::string{"0x"} + digits[(v >> 4) & 0xF] + digits[v & 0xF];
}

// Statement for a property whose value is out of range (MQTT 5 §3.x.2.x).
inline std::string property_value_message(unsigned id) {
    const auto* p = find_property(id);
    if (!p)
        return "property value out of range";
    std::string m = "property " + std::string{p->name};
    switch (static_cast<property_id>(id)) {
    case property_id::payload_format_indicator: return m + " must be 0 or 1 (MQTT 5 §3.3.2.3.2)";
    case property_id::subscription_identifier: return m + " must not be 0 (MQTT 5 §3.8.2.1.2)";
    case property_id::topic_alias: return m + " must not be 0 [MQTT-3.3.2-8]";
    case property_id::receive_maximum: return m + " must not be 0 (MQTT 5 §3.1.2.11.3)";
    case property_id::maximum_packet_size: return m + " must not be 0 (MQTT 5 §3.1.2.11.4)";
    case property_id::response_topic:
        return m + " must be a topic name: not empty [MQTT-4.7.3-1], no wildcards [MQTT-3.3.2-14]";
    default: break;
    }
    return m + (p->range == property_range::zero_or_one
                    ? " must be 0 or 1 (MQTT 5 §2.2.2.2)"
                    : " has a value out of range (MQTT 5 §2.2.2.2)");
}

// The statement listing the reason codes a packet may carry.
inline std::string reason_code_statement(packet_type packet) {
    switch (packet) {
    case packet_type::connack: return "[MQTT-3.2.2-8]";
    case packet_type::puback: return "[MQTT-3.4.2-1]";
    case packet_type::pubrec: return "[MQTT-3.5.2-1]";
    case packet_type::pubrel: return "[MQTT-3.6.2-1]";
    case packet_type::pubcomp: return "[MQTT-3.7.2-1]";
    case packet_type::suback: return "[MQTT-3.9.3-2]";
    case packet_type::unsuback: return "[MQTT-3.11.3-2]";
    case packet_type::disconnect: return "[MQTT-3.14.2-1]";
    case packet_type::auth: return "[MQTT-3.15.2-1]";
    default: return "(MQTT 5 §2.4)";
    }
}

} // namespace detail

/// What a rule says, with the specification statement, independent of packet.
/// `packet` and `value` (a property identifier, reason code or level) refine it where the statement
/// depends on them.
inline std::string rule_message(codec_errc rule, packet_type packet = packet_type::reserved,
                                unsigned value = 0) {
    using enum codec_errc;
    switch (rule) {
    case varint_too_long: return "variable byte integer longer than 4 bytes (MQTT 5 §1.5.5)";
    case varint_not_minimal: return "variable byte integer not in its shortest form [MQTT-1.5.5-1]";
    case incomplete_packet: return "remaining length goes beyond the data (MQTT 5 §2.1.4)";
    case field_truncated: return "a field runs past the end of the packet (MQTT 5 §1.5)";
    case trailing_bytes: return "bytes left over after the last field (MQTT 5 §2.1.4)";
    case remaining_length_not_zero: return "remaining length must be 0 (MQTT 5 §2.1.4)";
    case reserved_packet_type:
        return "reserved packet type " + std::to_string(value) + " (MQTT 5 §2.1.2)";
    case fixed_header_flags:
        switch (packet) {
        case packet_type::pubrel: return "fixed header flags must be 0010 [MQTT-3.6.1-1]";
        case packet_type::subscribe: return "fixed header flags must be 0010 [MQTT-3.8.1-1]";
        case packet_type::unsubscribe: return "fixed header flags must be 0010 [MQTT-3.10.1-1]";
        case packet_type::disconnect: return "fixed header flags must be 0000 [MQTT-3.14.1-1]";
        case packet_type::auth: return "fixed header flags must be 0000 [MQTT-3.15.1-1]";
        default: return "fixed header flags must be 0000 [MQTT-2.1.3-1] (3.1.1: [MQTT-2.2.2-1])";
        }
    case packet_too_large: return "remaining length over 268,435,455 bytes (MQTT 5 §1.5.5)";
    case buffer_too_small: return "output buffer too small for the encoded packet";
    case value_too_large:
        return "value over 268,435,455 does not fit a variable byte integer (MQTT 5 §1.5.5)";
    case string_too_long: return "string or binary data longer than 65,535 bytes (MQTT 5 §1.5.4)";
    case utf8_malformed: return "malformed UTF-8 string [MQTT-1.5.4-1] (3.1.1: [MQTT-1.5.3-1])";
    case utf8_null: return "UTF-8 string contains U+0000 [MQTT-1.5.4-2] (3.1.1: [MQTT-1.5.3-2])";
    case packet_id_zero:
        return "packet identifier 0 where a non-zero one is required [MQTT-2.2.1-3] (3.1.1: "
               "[MQTT-2.3.1-1])";
    case property_unknown:
        return "unknown property identifier " + detail::hex_byte(value) + " (MQTT 5 §2.2.2.2)";
    case property_duplicate:
        return "property " + std::string{to_string(static_cast<property_id>(value))} +
               " appears more than once (MQTT 5 §2.2.2.2)";
    case property_not_allowed:
        return "property " + std::string{to_string(static_cast<property_id>(value))} +
               " is not allowed in this packet (MQTT 5 §2.2.2.2)";
    case property_length: return "property length goes beyond the packet (MQTT 5 §2.2.2.1)";
    case property_value: return detail::property_value_message(value);
    case reason_code_not_allowed:
        return "reason code " + detail::hex_byte(value) + " is not allowed in this packet " +
               detail::reason_code_statement(packet);
    case topic_name_empty: return "empty topic name without a topic alias [MQTT-4.7.3-1]";
    case topic_name_wildcard: return "topic name contains a wildcard [MQTT-3.3.2-2]";
    case topic_filter_empty: return "empty topic filter [MQTT-4.7.3-1]";
    case topic_filter_multi_level_wildcard:
        return "topic filter: '#' must be alone in the last level [MQTT-4.7.1-1]";
    case topic_filter_single_level_wildcard:
        return "topic filter: '+' must occupy a whole level [MQTT-4.7.1-2]";
    case shared_subscription_invalid:
        return "shared subscription must be $share/{ShareName}/{filter} with a ShareName free of "
               "'/', '+' "
               "and '#' [MQTT-4.8.2-1] [MQTT-4.8.2-2]";
    case protocol_name: return "protocol name must be \"MQTT\" (\"MQIsdp\" for 3.1) [MQTT-3.1.2-1]";
    case protocol_level:
        return "unsupported protocol level " + std::to_string(value) + " [MQTT-3.1.2-2]";
    case connect_reserved_flag: return "reserved connect flag must be 0 [MQTT-3.1.2-3]";
    case will_flags_without_will:
        return "will QoS or will retain set without the will flag [MQTT-3.1.2-11] [MQTT-3.1.2-13] "
               "(3.1.1: [MQTT-3.1.2-13] [MQTT-3.1.2-15])";
    case will_qos_invalid:
        return "will QoS 3 is not allowed [MQTT-3.1.2-12] (3.1.1: [MQTT-3.1.2-14])";
    case password_without_user_name:
        return "password flag set without the user name flag (MQTT 3.1.1) [MQTT-3.1.2-22]";
    case client_identifier_length:
        return "client identifier must be 1 to 23 bytes long (MQTT 3.1 §3.1)";
    case empty_client_id_without_clean_session:
        return "zero-byte client identifier without clean session (MQTT 3.1.1) [MQTT-3.1.3-7]";
    case connack_reserved_flags: return "reserved acknowledge flags must be 0 [MQTT-3.2.2-1]";
    case session_present_on_refusal:
        return "session present set on a refused connection [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4])";
    case return_code_reserved:
        return "return code " + std::to_string(value) + " is reserved (MQTT 3.1.1 §3.2.2.3)";
    case publish_qos_invalid: return "QoS 3 is not allowed [MQTT-3.3.1-4]";
    case dup_on_qos_0: return "DUP flag set on a QoS 0 message [MQTT-3.3.1-2]";
    case no_topic_filters:
        return packet == packet_type::unsubscribe
                   ? "no topic filter in the payload [MQTT-3.10.3-2]"
                   : "no topic filter in the payload [MQTT-3.8.3-2] (3.1.1: [MQTT-3.8.3-3])";
    case no_reason_codes: return "no reason code in the payload (MQTT 5 §3.9.3, §3.11.3)";
    case subscription_options_reserved:
        return "reserved subscription option bits must be 0 [MQTT-3.8.3-5] (3.1.1: [MQTT-3-8.3-4])";
    case subscription_qos_invalid: return "maximum QoS 3 in subscription options (MQTT 5 §3.8.3.1)";
    case retain_handling_invalid: return "retain handling 3 is not allowed (MQTT 5 §3.8.3.1)";
    case no_local_on_shared_subscription:
        return "no local set on a shared subscription [MQTT-3.8.3-4]";
    case requires_v5:
        return "a field set that only MQTT 5 has: reason code, property or subscription option "
               "(MQTT 5 §2.2.2, §2.4, §3.8.3.1)";
    case packet_type_mismatch:
        return std::string{"the packet is a "} +
               std::string{to_string(static_cast<packet_type>(value))} +
               ", not of this type (MQTT 5 §2.1.2)";
    }
    return "unknown codec error";
}

namespace detail {

class codec_rule_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "ctmqtt.codec.rule"; }
    std::string message(int v) const override {
        return rule_message(static_cast<codec_errc>(v & 0xFF));
    }
};

} // namespace detail

/// The category of codec_errc conditions (the rule alone).
inline const std::error_category& codec_rule_category() noexcept {
    static const detail::codec_rule_category_impl category;
    return category;
}

namespace detail {

class codec_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "ctmqtt.codec"; }
    std::string message(int v) const override {
        const auto rule = static_cast<codec_errc>(v & 0xFF);
        const auto packet = static_cast<packet_type>((v >> 8) & 0xFF);
        const auto detail = static_cast<unsigned>((v >> 16) & 0xFF);
        std::string prefix{to_string(packet)};
        if (packet == packet_type::reserved)
            prefix = "packet";
        return prefix + ": " + rule_message(rule, packet, detail);
    }
    std::error_condition default_error_condition(int v) const noexcept override {
        return {v & 0xFF, codec_rule_category()};
    }
};

} // namespace detail

/// The category of codec errors: the message names packet, rule and statement.
inline const std::error_category& codec_category() noexcept {
    static const detail::codec_category_impl category;
    return category;
}

/// An error for `rule` found in a packet of type `packet`; `detail` is the
/// property identifier or reason code the rule is about, if any.
inline std::error_code make_error_code(codec_errc rule, packet_type packet,
                                       unsigned detail = 0) noexcept {
    return {static_cast<int>(static_cast<unsigned>(rule) | (static_cast<unsigned>(packet) << 8) |
                             ((detail & 0xFF) << 16)),
            codec_category()};
}

inline std::error_condition make_error_condition(codec_errc rule) noexcept {
    return {static_cast<int>(rule), codec_rule_category()};
}

/// The rule an error from the codec is about.
inline codec_errc rule_of(const std::error_code& ec) noexcept {
    return static_cast<codec_errc>(ec.value() & 0xFF);
}

/// The packet type an error from the codec is about.
inline packet_type packet_of(const std::error_code& ec) noexcept {
    return static_cast<packet_type>((ec.value() >> 8) & 0xFF);
}

/// A rule found broken during decoding or encoding, with its detail byte;
/// becomes a std::error_code once the packet type is known. Empty means OK.
struct fault {
    codec_errc rule{};
    std::uint8_t detail = 0;

    constexpr fault() noexcept = default;
    constexpr fault(codec_errc r, std::uint8_t d = 0) noexcept : rule(r), detail(d) {}
    constexpr explicit operator bool() const noexcept { return rule != codec_errc{}; }
    std::error_code in(packet_type packet) const noexcept {
        return make_error_code(rule, packet, detail);
    }
};

} // namespace ctmqtt

template <>
struct std::is_error_condition_enum<ctmqtt::codec_errc> : std::true_type {};
// ---- end include/ctmqtt/core/error.hpp ----
// ---- begin include/ctmqtt/core/list_view.hpp ----
// list_view<T, Codec>: the repeated entries of a packet payload (topic
// filters of SUBSCRIBE and UNSUBSCRIBE, reason codes of SUBACK and UNSUBACK).
// When encoding it views the caller's std::span<const T>; when decoding it
// views the validated bytes of the input and decodes one entry per step,
// so neither direction allocates or copies.

#include <iterator>

// ---- begin include/ctmqtt/core/wire.hpp ----
// Wire primitives (MQTT 5 §1.5): one-, two- and four-byte integers, variable
// byte integers, UTF-8 strings, binary data and string pairs. Each is a type
// with the same four static functions, which the packet descriptions name as
// the wire type of a field:
//   size(v)       encoded size in bytes
//   write(v, out) writes v, returns the end of what was written
//   read(r, v)    reads v from a reader, validating it; returns a fault
//   check(v)      what read() would reject, for the encoder
// Reading never copies: strings and binary data are views into the input.


// ---- begin include/ctmqtt/core/utf8.hpp ----
// UTF-8 validation for MQTT strings (MQTT 5 §1.5.4): well-formed per RFC 3629
// (no overlong forms, no surrogates U+D800..U+DFFF, nothing above U+10FFFF)
// [MQTT-1.5.4-1], and no U+0000 [MQTT-1.5.4-2].



namespace ctmqtt {

namespace detail {

// Validates s from index i on, one code point at a time.
constexpr fault validate_utf8_from(std::string_view s, std::size_t i) noexcept {
    const std::size_t n = s.size();
    while (i < n) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c < 0x80) {
            if (c == 0)
                return codec_errc::utf8_null;
            ++i;
            continue;
        }
        std::size_t need;
        unsigned lower = 0x80, upper = 0xBF; // bounds of the second byte
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0)
                lower = 0xA0; // overlong
            else if (c == 0xED)
                upper = 0x9F; // surrogates U+D800..U+DFFF
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0)
                lower = 0x90; // overlong
            else if (c == 0xF4)
                upper = 0x8F; // above U+10FFFF
        } else {
            return codec_errc::utf8_malformed; // a continuation byte, C0, C1 or F5..FF
        }
        if (n - i <= need)
            return codec_errc::utf8_malformed;
        const auto second = static_cast<unsigned char>(s[i + 1]);
        if (second < lower || second > upper)
            return codec_errc::utf8_malformed;
        for (std::size_t k = 2; k <= need; ++k)
            if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80)
                return codec_errc::utf8_malformed;
        i += need + 1;
    }
    return {};
}

} // namespace detail

namespace detail {

constexpr std::uint64_t ones8 = 0x0101010101010101ull;
constexpr std::uint64_t high8 = 0x8080808080808080ull;

/// The high bit of each byte of w that is zero (exact as to whether any is).
constexpr std::uint64_t zero_bytes(std::uint64_t w) noexcept {
    return (w - ones8) & ~w & high8;
}

/// Bytes that stop the ASCII fast path: non-ASCII or zero.
constexpr std::uint64_t non_plain_ascii(std::uint64_t w) noexcept {
    return (w & high8) | zero_bytes(w);
}

/// The index of the first byte of s at which a word test `stops` fires, or
/// s.size() if none: eight bytes at a time, the last word overlapping the one
/// before it; strings shorter than a word byte by byte with `stops_byte`.
template <class WordTest, class ByteTest>
inline std::size_t scan_words(std::string_view s, WordTest stops, ByteTest stops_byte) noexcept {
    const std::size_t n = s.size();
    if (n < 8) {
        for (std::size_t i = 0; i < n; ++i)
            if (stops_byte(static_cast<unsigned char>(s[i])))
                return i;
        return n;
    }
    std::size_t i = 0;
    std::uint64_t w;
    for (; i + 8 <= n; i += 8) {
        std::memcpy(&w, s.data() + i, 8);
        if (stops(w))
            return i;
    }
    if (i < n) {
        std::memcpy(&w, s.data() + n - 8, 8);
        if (stops(w))
            return i;
    }
    return n;
}

} // namespace detail

/// Checks that `s` is a valid MQTT UTF-8 string body (not its length).
constexpr fault validate_utf8(std::string_view s) noexcept {
    std::size_t i = 0;
    if (!std::is_constant_evaluated()) {
        // Fast path: plain ASCII (no zero byte) a word at a time.
        i = detail::scan_words(
            s, [](std::uint64_t w) { return detail::non_plain_ascii(w) != 0; },
            [](unsigned char c) { return c == 0 || c >= 0x80; });
        if (i == s.size())
            return {};
    }
    return detail::validate_utf8_from(s, i);
}

/// True if `s` is a valid MQTT UTF-8 string (well-formed, no U+0000, at most 65,535 bytes).
constexpr bool is_valid_utf8(std::string_view s) noexcept {
    return s.size() <= max_string_length && !validate_utf8(s);
}

} // namespace ctmqtt
// ---- end include/ctmqtt/core/utf8.hpp ----

namespace ctmqtt::wire {

/// A cursor over the bytes of one packet body.
struct reader {
    const std::byte* pos;
    const std::byte* end;

    constexpr reader(const std::byte* b, const std::byte* e) noexcept : pos(b), end(e) {}
    explicit constexpr reader(bytes_view b) noexcept : pos(b.data()), end(b.data() + b.size()) {}

    constexpr std::size_t remaining() const noexcept { return static_cast<std::size_t>(end - pos); }
    constexpr bool empty() const noexcept { return pos == end; }
};

constexpr std::byte* put(std::byte* out, std::uint8_t v) noexcept {
    *out = static_cast<std::byte>(v);
    return out + 1;
}

constexpr std::byte* put(std::byte* out, const void* data, std::size_t n) noexcept {
    if (n != 0)
        std::memcpy(out, data, n);
    return out + n;
}

/// One byte.
struct u8 {
    using value_type = std::uint8_t;
    static constexpr std::size_t size(value_type) noexcept { return 1; }
    static constexpr std::byte* write(value_type v, std::byte* out) noexcept { return put(out, v); }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        if (r.empty())
            return codec_errc::field_truncated;
        v = static_cast<std::uint8_t>(*r.pos++);
        return {};
    }
    static constexpr fault check(value_type) noexcept { return {}; }
};

/// Two byte integer, big-endian (MQTT 5 §1.5.2).
struct u16 {
    using value_type = std::uint16_t;
    static constexpr std::size_t size(value_type) noexcept { return 2; }
    static constexpr std::byte* write(value_type v, std::byte* out) noexcept {
        out[0] = static_cast<std::byte>(v >> 8);
        out[1] = static_cast<std::byte>(v & 0xFF);
        return out + 2;
    }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        if (r.remaining() < 2)
            return codec_errc::field_truncated;
        v = static_cast<std::uint16_t>((static_cast<unsigned>(r.pos[0]) << 8) |
                                       static_cast<unsigned>(r.pos[1]));
        r.pos += 2;
        return {};
    }
    static constexpr fault check(value_type) noexcept { return {}; }
};

/// Four byte integer, big-endian (MQTT 5 §1.5.3).
struct u32 {
    using value_type = std::uint32_t;
    static constexpr std::size_t size(value_type) noexcept { return 4; }
    static constexpr std::byte* write(value_type v, std::byte* out) noexcept {
        out[0] = static_cast<std::byte>(v >> 24);
        out[1] = static_cast<std::byte>((v >> 16) & 0xFF);
        out[2] = static_cast<std::byte>((v >> 8) & 0xFF);
        out[3] = static_cast<std::byte>(v & 0xFF);
        return out + 4;
    }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        if (r.remaining() < 4)
            return codec_errc::field_truncated;
        v = (static_cast<std::uint32_t>(r.pos[0]) << 24) |
            (static_cast<std::uint32_t>(r.pos[1]) << 16) |
            (static_cast<std::uint32_t>(r.pos[2]) << 8) | static_cast<std::uint32_t>(r.pos[3]);
        r.pos += 4;
        return {};
    }
    static constexpr fault check(value_type) noexcept { return {}; }
};

/// Variable byte integer (MQTT 5 §1.5.5): at most 4 bytes, shortest form.
struct varint {
    using value_type = std::uint32_t;
    static constexpr std::size_t size(value_type v) noexcept {
        return v < 128u ? 1 : v < 16'384u ? 2 : v < 2'097'152u ? 3 : 4;
    }
    static constexpr std::byte* write(value_type v, std::byte* out) noexcept {
        do {
            auto b = static_cast<std::uint8_t>(v & 0x7F);
            v >>= 7;
            if (v != 0)
                b = static_cast<std::uint8_t>(b | 0x80);
            *out++ = static_cast<std::byte>(b);
        } while (v != 0);
        return out;
    }
    /// Reads from [p, end); on success stores the value and advances p.
    /// Returns incomplete_packet when the data ends inside the integer.
    static constexpr fault read(const std::byte*& p, const std::byte* end, value_type& v) noexcept {
        if (p != end && static_cast<std::uint8_t>(*p) < 0x80) { // one byte: the common case
            v = static_cast<std::uint8_t>(*p++);
            return {};
        }
        std::uint32_t value = 0;
        for (unsigned i = 0; i < 4; ++i) {
            if (p + i == end)
                return codec_errc::incomplete_packet;
            const auto b = static_cast<std::uint32_t>(p[i]);
            value |= (b & 0x7F) << (7 * i);
            if ((b & 0x80) == 0) {
                if (b == 0 && i != 0)
                    return codec_errc::varint_not_minimal; // [MQTT-1.5.5-1]
                v = value;
                p += i + 1;
                return {};
            }
        }
        return codec_errc::varint_too_long;
    }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        auto f = read(r.pos, r.end, v);
        return f.rule == codec_errc::incomplete_packet ? fault{codec_errc::field_truncated} : f;
    }
    static constexpr fault check(value_type v) noexcept {
        return v > max_variable_byte_integer ? fault{codec_errc::value_too_large} : fault{};
    }
};

/// Binary data: two-byte length then the bytes (MQTT 5 §1.5.6).
struct binary {
    using value_type = bytes_view;
    static constexpr std::size_t size(value_type v) noexcept { return 2 + v.size(); }
    static constexpr std::byte* write(value_type v, std::byte* out) noexcept {
        out = u16::write(static_cast<std::uint16_t>(v.size()), out);
        return put(out, v.data(), v.size());
    }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        std::uint16_t n = 0;
        if (auto f = u16::read(r, n))
            return f;
        if (r.remaining() < n)
            return codec_errc::field_truncated;
        v = {r.pos, n};
        r.pos += n;
        return {};
    }
    static constexpr fault check(value_type v) noexcept {
        return v.size() > max_string_length ? fault{codec_errc::string_too_long} : fault{};
    }
};

/// A string: two-byte length then text that `Validate` accepts (MQTT 5 §1.5.4).
template <auto Validate>
struct validated_string {
    using value_type = std::string_view;
    static constexpr std::size_t size(value_type v) noexcept { return 2 + v.size(); }
    static constexpr std::byte* write(value_type v, std::byte* out) noexcept {
        out = u16::write(static_cast<std::uint16_t>(v.size()), out);
        return put(out, v.data(), v.size());
    }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        bytes_view b;
        if (auto f = binary::read(r, b))
            return f;
        v = as_string(b);
        return Validate(v);
    }
    static constexpr fault check(value_type v) noexcept {
        if (v.size() > max_string_length)
            return codec_errc::string_too_long;
        return Validate(v);
    }
};

/// UTF-8 encoded string (MQTT 5 §1.5.4).
using utf8 = validated_string<&validate_utf8>;

/// UTF-8 string pair (MQTT 5 §1.5.7).
struct pair {
    using value_type = string_pair;
    static constexpr std::size_t size(const value_type& v) noexcept {
        return 4 + v.name.size() + v.value.size();
    }
    static constexpr std::byte* write(const value_type& v, std::byte* out) noexcept {
        return utf8::write(v.value, utf8::write(v.name, out));
    }
    static constexpr fault read(reader& r, value_type& v) noexcept {
        if (auto f = utf8::read(r, v.name))
            return f;
        return utf8::read(r, v.value);
    }
    static constexpr fault check(const value_type& v) noexcept {
        if (auto f = utf8::check(v.name))
            return f;
        return utf8::check(v.value);
    }
};

} // namespace ctmqtt::wire
// ---- end include/ctmqtt/core/wire.hpp ----

namespace ctmqtt {

template <class T, class Codec>
class list_view {
public:
    using value_type = T;
    using codec = Codec;

    constexpr list_view() noexcept = default;
    template <std::size_t N>
    constexpr list_view(std::span<const T, N> items) noexcept : items_(items) {}
    template <std::size_t N>
    constexpr list_view(std::span<T, N> items) noexcept : items_(items) {}
    template <std::size_t N>
    constexpr list_view(const T (&items)[N]) noexcept : items_(items) {}

    /// Used by the decoder: `count` entries, already validated, in [begin, end).
    static constexpr list_view from_wire(const std::byte* begin, const std::byte* end,
                                         std::uint32_t count, protocol_version version) noexcept {
        list_view l;
        l.begin_ = begin;
        l.end_ = end;
        l.count_ = count;
        l.version_ = version;
        l.from_wire_ = true;
        return l;
    }

    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = T;
        using difference_type = std::ptrdiff_t;
        using reference = T;
        using pointer = void;

        constexpr iterator() noexcept = default;
        constexpr T operator*() const noexcept {
            return owner_->from_wire_ ? current_ : owner_->items_[index_];
        }
        constexpr iterator& operator++() noexcept {
            ++index_;
            if (owner_->from_wire_)
                load();
            return *this;
        }
        constexpr iterator operator++(int) noexcept {
            auto t = *this;
            ++*this;
            return t;
        }
        friend constexpr bool operator==(const iterator& a, const iterator& b) noexcept {
            return a.index_ == b.index_;
        }

    private:
        friend class list_view;
        constexpr iterator(const list_view* owner, std::size_t index) noexcept
            : owner_(owner), index_(index), cursor_(owner->begin_, owner->end_) {
            if (owner_->from_wire_)
                load();
        }
        constexpr void load() noexcept {
            if (index_ < owner_->count_)
                (void)Codec::read(cursor_, current_, owner_->version_);
        }
        const list_view* owner_ = nullptr;
        std::size_t index_ = 0;
        wire::reader cursor_{nullptr, nullptr};
        T current_{};
    };

    constexpr iterator begin() const noexcept { return iterator{this, 0}; }
    constexpr iterator end() const noexcept {
        iterator e;
        e.index_ = size();
        return e;
    }
    constexpr std::size_t size() const noexcept { return from_wire_ ? count_ : items_.size(); }
    constexpr bool empty() const noexcept { return size() == 0; }

    /// The encoded entries when this view came from the wire (empty otherwise).
    constexpr bytes_view wire_bytes() const noexcept {
        return from_wire_ ? bytes_view{begin_, static_cast<std::size_t>(end_ - begin_)}
                          : bytes_view{};
    }

private:
    std::span<const T> items_{};
    const std::byte* begin_ = nullptr;
    const std::byte* end_ = nullptr;
    std::uint32_t count_ = 0;
    protocol_version version_ = protocol_version::v5;
    bool from_wire_ = false;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/list_view.hpp ----
// ---- begin include/ctmqtt/core/properties.hpp ----
// Property sets (MQTT 5 §2.2.2), generated from property_table.
//
// property_set<Scope> holds exactly the properties that Scope allows: a
// std::optional for each property that may appear once, a repeated_property
// view for each that may repeat (User Property; Subscription Identifier in
// PUBLISH). get<id>() and set<id>() of a property the scope does not allow
// fail to compile. Decoding checks identifiers, placement, repetition and
// value ranges, and keeps views into the input (nothing is copied).

#include <tuple>

// ---- begin include/ctmqtt/core/topic.hpp ----
// Topic names and topic filters (MQTT 5 §4.7) and shared subscriptions
// (MQTT 5 §4.8.2): validation, matching, and parsing of $share/{name}/{filter}.



namespace ctmqtt {

/// Checks a topic name as PUBLISH carries it: no wildcards [MQTT-3.3.2-2] and
/// at least one character [MQTT-4.7.3-1] (the UTF-8 rules are checked by the
/// string field that carries it). An empty name is allowed only with a topic
/// alias; the packet description checks that case.
namespace detail {
// '+' (0x2B) and '#' (0x23) differ only in bit 3: OR-ing 0x08 into every byte
// makes both 0x2B, so one comparison finds either.
constexpr std::uint64_t wildcard_bytes(std::uint64_t w) noexcept {
    return zero_bytes((w | (ones8 * 0x08)) ^ (ones8 * 0x2B));
}
} // namespace detail

/// True if `s` contains '+' or '#'. Eight bytes at a time: this is on the
/// path of every PUBLISH (libstdc++'s find_first_of calls memchr per byte).
constexpr bool contains_wildcard(std::string_view s) noexcept {
    std::size_t i = 0;
    if (!std::is_constant_evaluated()) {
        i = detail::scan_words(
            s, [](std::uint64_t w) { return detail::wildcard_bytes(w) != 0; },
            [](unsigned char c) { return c == '+' || c == '#'; });
        if (i == s.size())
            return false;
    }
    for (; i < s.size(); ++i)
        if (s[i] == '+' || s[i] == '#')
            return true;
    return false;
}

/// UTF-8 validity [MQTT-1.5.4-1] [MQTT-1.5.4-2] and no wildcard [MQTT-3.3.2-2]
/// in one pass: the check of every topic name read or written.
constexpr fault validate_topic_characters(std::string_view s) noexcept {
    std::size_t i = 0;
    if (!std::is_constant_evaluated()) {
        i = detail::scan_words(
            s,
            [](std::uint64_t w) {
                return (detail::non_plain_ascii(w) | detail::wildcard_bytes(w)) != 0;
            },
            [](unsigned char c) { return c == 0 || c >= 0x80 || c == '+' || c == '#'; });
        if (i == s.size())
            return {};
    }
    if (auto f = detail::validate_utf8_from(s, i))
        return f;
    for (; i < s.size(); ++i)
        if (s[i] == '+' || s[i] == '#')
            return codec_errc::topic_name_wildcard;
    return {};
}

constexpr fault validate_topic_name(std::string_view name) noexcept {
    if (name.empty())
        return codec_errc::topic_name_empty;
    if (contains_wildcard(name))
        return codec_errc::topic_name_wildcard;
    return {};
}

/// A shared subscription split into its parts (MQTT 5 §4.8.2).
struct shared_subscription {
    std::string_view share_name;
    std::string_view topic_filter;
};

inline constexpr std::string_view shared_subscription_prefix = "$share/";

/// True if `filter` starts with "$share/" (it is then a shared subscription,
/// valid or not).
constexpr bool is_shared_subscription(std::string_view filter) noexcept {
    return filter.starts_with(shared_subscription_prefix);
}

/// Splits "$share/{ShareName}/{filter}"; nullopt if `filter` is not of that form.
constexpr std::optional<shared_subscription>
parse_shared_subscription(std::string_view filter) noexcept {
    if (!is_shared_subscription(filter))
        return std::nullopt;
    auto rest = filter.substr(shared_subscription_prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string_view::npos || slash == 0)
        return std::nullopt;
    return shared_subscription{rest.substr(0, slash), rest.substr(slash + 1)};
}

namespace detail {

constexpr fault validate_plain_filter(std::string_view filter) noexcept {
    if (filter.empty())
        return codec_errc::topic_filter_empty;
    for (std::size_t i = 0; i < filter.size(); ++i) {
        const char c = filter[i];
        if (c != '+' && c != '#')
            continue;
        const bool starts_level = i == 0 || filter[i - 1] == '/';
        if (c == '#') {
            // '#' alone in the last level [MQTT-4.7.1-1]
            if (!starts_level || i + 1 != filter.size())
                return codec_errc::topic_filter_multi_level_wildcard;
        } else if (!starts_level || (i + 1 != filter.size() && filter[i + 1] != '/')) {
            return codec_errc::topic_filter_single_level_wildcard; // [MQTT-4.7.1-2]
        }
    }
    return {};
}

} // namespace detail

/// Checks a topic filter as SUBSCRIBE and UNSUBSCRIBE carry it: at least one
/// character, '#' alone in the last level, '+' alone in its level, and for a
/// shared subscription a non-empty ShareName without '/', '+' or '#' followed
/// by a valid filter [MQTT-4.8.2-1] [MQTT-4.8.2-2].
/// With `shared_rules` false (MQTT 3.1.1, which has no shared subscriptions)
/// a "$share/" filter is checked as an ordinary one.
constexpr fault validate_topic_filter(std::string_view filter, bool shared_rules = true) noexcept {
    if (shared_rules && is_shared_subscription(filter)) {
        const auto shared = parse_shared_subscription(filter);
        if (!shared || contains_wildcard(shared->share_name) || shared->topic_filter.empty())
            return codec_errc::shared_subscription_invalid;
        return detail::validate_plain_filter(shared->topic_filter);
    }
    return detail::validate_plain_filter(filter);
}

constexpr bool is_valid_topic_name(std::string_view name) noexcept {
    return name.size() <= max_string_length && !validate_topic_name(name) && !validate_utf8(name);
}

constexpr bool is_valid_topic_filter(std::string_view filter) noexcept {
    return filter.size() <= max_string_length && !validate_topic_filter(filter) &&
           !validate_utf8(filter);
}

/// True if topic name `name` matches topic filter `filter` (MQTT 5 §4.7).
/// A shared subscription matches as its inner filter does. Filters starting
/// with a wildcard do not match names starting with '$' [MQTT-4.7.2-1].
/// Both arguments are assumed valid.
constexpr bool topic_matches(std::string_view filter, std::string_view name) noexcept {
    if (auto shared = parse_shared_subscription(filter))
        filter = shared->topic_filter;
    if (!name.empty() && name.front() == '$' && !filter.empty() &&
        (filter.front() == '+' || filter.front() == '#'))
        return false;
    std::size_t f = 0, n = 0;
    while (true) {
        // Here f and n are at the starts of a level.
        if (f < filter.size() && filter[f] == '#')
            return true; // matches the parent and every child
        const auto f_end = std::min(filter.find('/', f), filter.size());
        const auto n_end = std::min(name.find('/', n), name.size());
        const auto f_level = filter.substr(f, f_end - f);
        if (f_level != "+" && f_level != name.substr(n, n_end - n))
            return false;
        const bool f_last = f_end == filter.size();
        const bool n_last = n_end == name.size();
        if (n_last) {
            // "a/#" also matches "a": the filter may continue with exactly "/#".
            return f_last || filter.substr(f_end) == "/#";
        }
        if (f_last)
            return false;
        f = f_end + 1;
        n = n_end + 1;
    }
}

namespace wire {

/// A topic name (MQTT 5 §3.3.2.1, §4.7): a UTF-8 string without wildcards,
/// validated in one pass. May be empty; the packet decides when that is allowed.
using topic = validated_string<&validate_topic_characters>;

} // namespace wire
} // namespace ctmqtt
// ---- end include/ctmqtt/core/topic.hpp ----

namespace ctmqtt {

namespace detail {

template <property_wire W>
struct property_wire_type;
template <>
struct property_wire_type<property_wire::byte> {
    using type = wire::u8;
};
template <>
struct property_wire_type<property_wire::two_byte> {
    using type = wire::u16;
};
template <>
struct property_wire_type<property_wire::four_byte> {
    using type = wire::u32;
};
template <>
struct property_wire_type<property_wire::varint> {
    using type = wire::varint;
};
template <>
struct property_wire_type<property_wire::utf8> {
    using type = wire::utf8;
};
template <>
struct property_wire_type<property_wire::binary> {
    using type = wire::binary;
};
template <>
struct property_wire_type<property_wire::string_pair> {
    using type = wire::pair;
};

// Skips one value of wire type w, validating it as read() would.
constexpr fault skip_property_value(wire::reader& r, property_wire w) noexcept {
    switch (w) {
    case property_wire::byte: {
        std::uint8_t v;
        return wire::u8::read(r, v);
    }
    case property_wire::two_byte: {
        std::uint16_t v;
        return wire::u16::read(r, v);
    }
    case property_wire::four_byte: {
        std::uint32_t v;
        return wire::u32::read(r, v);
    }
    case property_wire::varint: {
        std::uint32_t v;
        return wire::varint::read(r, v);
    }
    case property_wire::utf8: {
        std::string_view v;
        return wire::utf8::read(r, v);
    }
    case property_wire::binary: {
        bytes_view v;
        return wire::binary::read(r, v);
    }
    case property_wire::string_pair: {
        string_pair v;
        return wire::pair::read(r, v);
    }
    }
    return codec_errc::property_unknown;
}

} // namespace detail

/// The wire type (wire::u8, wire::utf8, ...) of property `Id`.
template <property_id Id>
using property_wire_t = typename detail::property_wire_type<info(Id).wire>::type;

/// The value type of property `Id` (std::uint8_t, std::uint16_t, std::uint32_t,
/// std::string_view, bytes_view or string_pair).
template <property_id Id>
using property_value_t = typename property_wire_t<Id>::value_type;

/// The values of a property that may repeat: either a view over a decoded
/// property block (which it scans for its identifier) or the caller's span.
template <property_id Id>
class repeated_property {
public:
    using value_type = property_value_t<Id>;

    constexpr repeated_property() noexcept = default;
    template <std::size_t N>
    constexpr repeated_property(std::span<const value_type, N> items) noexcept
        : items_(items.data()), size_(static_cast<std::uint32_t>(items.size())) {}
    template <std::size_t N>
    constexpr repeated_property(std::span<value_type, N> items) noexcept
        : items_(items.data()), size_(static_cast<std::uint32_t>(items.size())) {}
    template <std::size_t N>
    constexpr repeated_property(const value_type (&items)[N]) noexcept
        : items_(items), size_(static_cast<std::uint32_t>(N)) {}

    /// Used by the decoder: the validated property block and how many times Id occurs in it.
    static constexpr repeated_property from_block(bytes_view block, std::uint32_t count) noexcept {
        repeated_property r;
        r.block_ = block.data();
        r.size_ = count;
        r.block_length_ = static_cast<std::uint32_t>(block.size()) | from_block_bit;
        return r;
    }

    class iterator {
    public:
        using iterator_category = std::forward_iterator_tag;
        using value_type = property_value_t<Id>;
        using difference_type = std::ptrdiff_t;
        using reference = value_type;
        using pointer = void;

        constexpr iterator() noexcept = default;
        constexpr value_type operator*() const noexcept {
            return owner_->from_block() ? current_ : owner_->items_[index_];
        }
        constexpr iterator& operator++() noexcept {
            ++index_;
            if (owner_->from_block())
                seek();
            return *this;
        }
        constexpr iterator operator++(int) noexcept {
            auto t = *this;
            ++*this;
            return t;
        }
        friend constexpr bool operator==(const iterator& a, const iterator& b) noexcept {
            return a.index_ == b.index_;
        }

    private:
        friend class repeated_property;
        constexpr iterator(const repeated_property* owner, std::size_t index) noexcept
            : owner_(owner), index_(index),
              cursor_(owner->block_, owner->block_ + owner->block_length()) {
            if (owner_->from_block() && index_ < owner_->size())
                seek();
        }
        // Advances the cursor to the next occurrence of Id and decodes it.
        // The block was validated when it was decoded, so reads cannot fail.
        constexpr void seek() noexcept {
            if (index_ >= owner_->size())
                return;
            while (!cursor_.empty()) {
                std::uint32_t id = 0;
                (void)wire::varint::read(cursor_, id);
                if (id == static_cast<std::uint32_t>(Id)) {
                    (void)property_wire_t<Id>::read(cursor_, current_);
                    return;
                }
                (void)detail::skip_property_value(cursor_, find_property(id)->wire);
            }
        }
        const repeated_property* owner_ = nullptr;
        std::size_t index_ = 0;
        wire::reader cursor_{nullptr, nullptr};
        value_type current_{};
    };

    constexpr iterator begin() const noexcept { return iterator{this, 0}; }
    constexpr iterator end() const noexcept {
        iterator e;
        e.index_ = size();
        return e;
    }
    constexpr std::size_t size() const noexcept { return size_; }
    constexpr bool empty() const noexcept { return size() == 0; }

private:
    // 16 bytes, as small as a span: this is in every decoded packet, built each time.
    static constexpr std::uint32_t from_block_bit = 0x8000'0000u; // blocks are < 2^28 bytes
    constexpr bool from_block() const noexcept { return (block_length_ & from_block_bit) != 0; }
    constexpr std::size_t block_length() const noexcept { return block_length_ & ~from_block_bit; }
    union {
        const value_type* items_ = nullptr; ///< the caller's values
        const std::byte* block_;            ///< a decoded property block
    };
    std::uint32_t size_ = 0;         ///< values, in either form
    std::uint32_t block_length_ = 0; ///< with from_block_bit
};

namespace detail {

// The identifiers a scope allows, in table order.
template <property_scope Scope>
constexpr auto allowed_property_ids() noexcept {
    constexpr std::size_t n = [] {
        std::size_t count = 0;
        for (const auto& p : property_table)
            count += (p.allowed & scope_bit(Scope)) != 0;
        return count;
    }();
    std::array<property_id, n> ids{};
    std::size_t i = 0;
    for (const auto& p : property_table)
        if ((p.allowed & scope_bit(Scope)) != 0)
            ids[i++] = p.id;
    return ids;
}

template <property_scope Scope, property_id Id>
using property_slot_t = std::conditional_t<property_repeats(Scope, Id), repeated_property<Id>,
                                           std::optional<property_value_t<Id>>>;

template <property_id Id, class V>
constexpr fault check_property_range(const V& v) noexcept {
    if constexpr (std::is_integral_v<V>) {
        switch (info(Id).range) {
        case property_range::zero_or_one:
            if (v > 1)
                return {codec_errc::property_value, static_cast<std::uint8_t>(Id)};
            break;
        case property_range::non_zero:
            if (v == 0)
                return {codec_errc::property_value, static_cast<std::uint8_t>(Id)};
            break;
        case property_range::any:
        case property_range::topic_name: break;
        }
    } else if constexpr (std::is_same_v<V, std::string_view>) {
        if (info(Id).range == property_range::topic_name && validate_topic_name(v))
            return {codec_errc::property_value, static_cast<std::uint8_t>(Id)};
    }
    return property_wire_t<Id>::check(v);
}

template <property_scope Scope, class Seq>
struct property_storage;
template <property_scope Scope, std::size_t... I>
struct property_storage<Scope, std::index_sequence<I...>> {
    static constexpr auto ids = allowed_property_ids<Scope>();
    using type = std::tuple<property_slot_t<Scope, ids[I]>...>;
};

} // namespace detail

/// The properties of one packet (or of a will), restricted at compile time to
/// those the scope allows.
template <property_scope Scope>
class property_set {
    static constexpr auto ids = detail::allowed_property_ids<Scope>();
    using storage =
        typename detail::property_storage<Scope, std::make_index_sequence<ids.size()>>::type;

    template <property_id Id>
    static constexpr std::size_t slot_index() noexcept {
        static_assert(property_allowed(Scope, Id),
                      "this property is not allowed in this packet (MQTT 5 §2.2.2.2)");
        std::size_t i = 0;
        while (i + 1 < ids.size() && ids[i] != Id)
            ++i; // bounded: only the static_assert reports a bad Id
        return i;
    }

public:
    static constexpr property_scope scope = Scope;

    /// True if the scope allows property Id.
    template <property_id Id>
    static constexpr bool allows = property_allowed(Scope, Id);

    /// The slot of property Id: a std::optional, or a repeated_property for one that may repeat.
    template <property_id Id>
    constexpr auto& get() noexcept {
        return std::get<slot_index<Id>()>(slots_);
    }
    template <property_id Id>
    constexpr const auto& get() const noexcept {
        return std::get<slot_index<Id>()>(slots_);
    }

    /// Sets property Id (for one that repeats: a span of values, which must outlive the set).
    template <property_id Id, class V>
    constexpr property_set& set(V&& value) {
        get<Id>() = std::forward<V>(value);
        return *this;
    }

    /// True if no property is present.
    constexpr bool empty() const noexcept {
        return std::apply([](const auto&... s) { return (is_empty(s) && ...); }, slots_);
    }

    /// Calls f(property_id, value) for every property present, repeated ones once per value.
    template <class F>
    constexpr void for_each(F&& f) const {
        for_each_slot([&]<property_id Id>(const auto& slot) {
            if constexpr (property_repeats(Scope, Id)) {
                if (!slot.empty())
                    for (auto v : slot)
                        f(Id, v);
            } else if (slot) {
                f(Id, *slot);
            }
        });
    }

    // The codec below is used by the packet descriptions (describe.hpp).

    /// Size of the properties without the property length.
    constexpr std::size_t content_size() const noexcept {
        std::size_t n = 0;
        for_each_slot([&]<property_id Id>(const auto& slot) {
            if constexpr (property_repeats(Scope, Id)) {
                if (!slot.empty())
                    for (auto v : slot)
                        n += 1 + property_wire_t<Id>::size(v);
            } else if (slot) {
                n += 1 + property_wire_t<Id>::size(*slot);
            }
        });
        return n;
    }

    /// Size including the property length (MQTT 5 §2.2.2.1).
    constexpr std::size_t encoded_size() const noexcept {
        const auto n = content_size();
        return wire::varint::size(static_cast<std::uint32_t>(n)) + n;
    }

    std::byte* write(std::byte* out) const noexcept {
        out = wire::varint::write(static_cast<std::uint32_t>(content_size()), out);
        for_each_slot([&]<property_id Id>(const auto& slot) {
            auto write_one = [&](const auto& v) {
                out = wire::put(out, static_cast<std::uint8_t>(Id));
                out = property_wire_t<Id>::write(v, out);
            };
            if constexpr (property_repeats(Scope, Id)) {
                if (!slot.empty())
                    for (auto v : slot)
                        write_one(v);
            } else if (slot) {
                write_one(*slot);
            }
        });
        return out;
    }

    /// What the decoder would reject, for the encoder.
    constexpr fault check() const noexcept {
        fault result;
        for_each_slot([&]<property_id Id>(const auto& slot) {
            if (result)
                return;
            if constexpr (property_repeats(Scope, Id)) {
                if (slot.empty())
                    return;
                for (auto v : slot)
                    if (auto f = detail::check_property_range<Id>(v)) {
                        result = f;
                        return;
                    }
            } else if (slot) {
                result = detail::check_property_range<Id>(*slot);
            }
        });
        return result;
    }

    /// Reads property length and properties; the set must be empty before.
    constexpr fault read(wire::reader& r) noexcept {
        std::uint32_t length = 0;
        if (auto f = wire::varint::read(r, length))
            return f;
        if (length > r.remaining())
            return codec_errc::property_length;
        if (length == 0)
            return {}; // the common case: nothing to read
        const bytes_view block{r.pos, length};
        wire::reader in{r.pos, r.pos + length};
        r.pos += length;
        std::uint64_t seen = 0;
        std::array<std::uint32_t, ids.size()> counts{};
        while (!in.empty()) {
            std::uint32_t id = static_cast<std::uint8_t>(*in.pos);
            if (id < 0x80)
                ++in.pos; // every defined identifier fits one byte
            else if (auto f = wire::varint::read(in, id))
                return f;
            const auto* p = find_property(id);
            if (!p)
                return {codec_errc::property_unknown,
                        static_cast<std::uint8_t>(id > 0xFF ? 0xFF : id)};
            if ((p->allowed & scope_bit(Scope)) == 0)
                return {codec_errc::property_not_allowed, static_cast<std::uint8_t>(id)};
            const auto bit = std::uint64_t{1} << id;
            if ((seen & bit) != 0 && (p->repeats & scope_bit(Scope)) == 0)
                return {codec_errc::property_duplicate, static_cast<std::uint8_t>(id)};
            seen |= bit;
            if (auto f = read_value(static_cast<property_id>(id), in, counts))
                return f;
        }
        // Repeated properties become views over the block.
        for_each_slot_mut([&]<property_id Id, std::size_t I>(auto& slot) {
            if constexpr (property_repeats(Scope, Id)) {
                if (counts[I] != 0)
                    slot = repeated_property<Id>::from_block(block, counts[I]);
            }
        });
        return {};
    }

private:
    static constexpr bool is_empty(const auto& slot) noexcept {
        if constexpr (requires { slot.has_value(); })
            return !slot.has_value();
        else
            return slot.empty();
    }

    template <class F, std::size_t... I>
    constexpr void for_each_slot_impl(F& f, std::index_sequence<I...>) const {
        (f.template operator()<ids[I]>(std::get<I>(slots_)), ...);
    }
    template <class F>
    constexpr void for_each_slot(F&& f) const {
        for_each_slot_impl(f, std::make_index_sequence<ids.size()>{});
    }
    template <class F, std::size_t... I>
    constexpr void for_each_slot_mut_impl(F& f, std::index_sequence<I...>) {
        (f.template operator()<ids[I], I>(std::get<I>(slots_)), ...);
    }
    template <class F>
    constexpr void for_each_slot_mut(F&& f) {
        for_each_slot_mut_impl(f, std::make_index_sequence<ids.size()>{});
    }

    template <std::size_t I>
    constexpr fault read_slot(wire::reader& in,
                              std::array<std::uint32_t, ids.size()>& counts) noexcept {
        constexpr property_id id = ids[I];
        property_value_t<id> v{};
        if (auto f = property_wire_t<id>::read(in, v))
            return f;
        if (auto f = detail::check_property_range<id>(v))
            return f;
        if constexpr (property_repeats(Scope, id))
            ++counts[I];
        else
            std::get<I>(slots_) = v;
        return {};
    }

    template <std::size_t... I>
    constexpr fault read_value_impl(property_id id, wire::reader& in,
                                    std::array<std::uint32_t, ids.size()>& counts,
                                    std::index_sequence<I...>) noexcept {
        fault f;
        (void)((id == ids[I] ? (f = read_slot<I>(in, counts), true) : false) || ...);
        return f;
    }
    constexpr fault read_value(property_id id, wire::reader& in,
                               std::array<std::uint32_t, ids.size()>& counts) noexcept {
        return read_value_impl(id, in, counts, std::make_index_sequence<ids.size()>{});
    }

    storage slots_{};
};

using connect_properties = property_set<property_scope::connect>;
using will_properties = property_set<property_scope::will>;
using connack_properties = property_set<property_scope::connack>;
using publish_properties = property_set<property_scope::publish>;
using puback_properties = property_set<property_scope::puback>;
using pubrec_properties = property_set<property_scope::pubrec>;
using pubrel_properties = property_set<property_scope::pubrel>;
using pubcomp_properties = property_set<property_scope::pubcomp>;
using subscribe_properties = property_set<property_scope::subscribe>;
using suback_properties = property_set<property_scope::suback>;
using unsubscribe_properties = property_set<property_scope::unsubscribe>;
using unsuback_properties = property_set<property_scope::unsuback>;
using disconnect_properties = property_set<property_scope::disconnect>;
using auth_properties = property_set<property_scope::auth>;

} // namespace ctmqtt
// ---- end include/ctmqtt/core/properties.hpp ----
// ---- begin include/ctmqtt/core/reason_codes.hpp ----
// Reason codes, described once (MQTT 5 §2.4, Table 2-6): value, name and the
// packets that may carry each. basic_reason_code<P> is the reason code type of
// packet P: it accepts at compile time only the codes P may carry, and
// from_value() checks wire values at run time. Also the MQTT 3.1/3.1.1
// CONNACK return codes (3.1.1 §3.2.2.3).



namespace ctmqtt {

/// Every MQTT 5 reason code by name. Some values have one name per packet
/// (0x00 is Success, Normal disconnection or Granted QoS 0).
enum class reason : std::uint8_t {
    success = 0x00,
    normal_disconnection = 0x00,
    granted_qos_0 = 0x00,
    granted_qos_1 = 0x01,
    granted_qos_2 = 0x02,
    disconnect_with_will_message = 0x04,
    no_matching_subscribers = 0x10,
    no_subscription_existed = 0x11,
    continue_authentication = 0x18,
    re_authenticate = 0x19,
    unspecified_error = 0x80,
    malformed_packet = 0x81,
    protocol_error = 0x82,
    implementation_specific_error = 0x83,
    unsupported_protocol_version = 0x84,
    client_identifier_not_valid = 0x85,
    bad_user_name_or_password = 0x86,
    not_authorized = 0x87,
    server_unavailable = 0x88,
    server_busy = 0x89,
    banned = 0x8A,
    server_shutting_down = 0x8B,
    bad_authentication_method = 0x8C,
    keep_alive_timeout = 0x8D,
    session_taken_over = 0x8E,
    topic_filter_invalid = 0x8F,
    topic_name_invalid = 0x90,
    packet_identifier_in_use = 0x91,
    packet_identifier_not_found = 0x92,
    receive_maximum_exceeded = 0x93,
    topic_alias_invalid = 0x94,
    packet_too_large = 0x95,
    message_rate_too_high = 0x96,
    quota_exceeded = 0x97,
    administrative_action = 0x98,
    payload_format_invalid = 0x99,
    retain_not_supported = 0x9A,
    qos_not_supported = 0x9B,
    use_another_server = 0x9C,
    server_moved = 0x9D,
    shared_subscriptions_not_supported = 0x9E,
    connection_rate_exceeded = 0x9F,
    maximum_connect_time = 0xA0,
    subscription_identifiers_not_supported = 0xA1,
    wildcard_subscriptions_not_supported = 0xA2,
};

struct reason_code_info {
    std::uint8_t value;
    std::string_view name;
    std::uint16_t packets; ///< bit n: packet_type n may carry it
};

namespace detail {
constexpr std::uint16_t packets(std::initializer_list<packet_type> list) noexcept {
    std::uint16_t m = 0;
    for (auto t : list)
        m = static_cast<std::uint16_t>(m | (1u << static_cast<unsigned>(t)));
    return m;
}
} // namespace detail

/// The reason code table (MQTT 5 §2.4, Table 2-6).
// clang-format off (one row a line, as the specification's table)
inline constexpr auto reason_code_table = [] {
    using enum packet_type;
    using detail::packets;
    return std::array<reason_code_info, 45>{{
        {0x00, "Success", packets({connack, puback, pubrec, pubrel, pubcomp, unsuback, auth})},
        {0x00, "Normal disconnection", packets({disconnect})},
        {0x00, "Granted QoS 0", packets({suback})},
        {0x01, "Granted QoS 1", packets({suback})},
        {0x02, "Granted QoS 2", packets({suback})},
        {0x04, "Disconnect with Will Message", packets({disconnect})},
        {0x10, "No matching subscribers", packets({puback, pubrec})},
        {0x11, "No subscription existed", packets({unsuback})},
        {0x18, "Continue authentication", packets({auth})},
        {0x19, "Re-authenticate", packets({auth})},
        {0x80, "Unspecified error",
         packets({connack, puback, pubrec, suback, unsuback, disconnect})},
        {0x81, "Malformed Packet", packets({connack, disconnect})},
        {0x82, "Protocol Error", packets({connack, disconnect})},
        {0x83, "Implementation specific error",
         packets({connack, puback, pubrec, suback, unsuback, disconnect})},
        {0x84, "Unsupported Protocol Version", packets({connack})},
        {0x85, "Client Identifier not valid", packets({connack})},
        {0x86, "Bad User Name or Password", packets({connack})},
        {0x87, "Not authorized", packets({connack, puback, pubrec, suback, unsuback, disconnect})},
        {0x88, "Server unavailable", packets({connack})},
        {0x89, "Server busy", packets({connack, disconnect})},
        {0x8A, "Banned", packets({connack})},
        {0x8B, "Server shutting down", packets({disconnect})},
        {0x8C, "Bad authentication method", packets({connack, disconnect})},
        {0x8D, "Keep Alive timeout", packets({disconnect})},
        {0x8E, "Session taken over", packets({disconnect})},
        {0x8F, "Topic Filter invalid", packets({suback, unsuback, disconnect})},
        {0x90, "Topic Name invalid", packets({connack, puback, pubrec, disconnect})},
        {0x91, "Packet Identifier in use", packets({puback, pubrec, suback, unsuback})},
        {0x92, "Packet Identifier not found", packets({pubrel, pubcomp})},
        {0x93, "Receive Maximum exceeded", packets({disconnect})},
        {0x94, "Topic Alias invalid", packets({disconnect})},
        {0x95, "Packet too large", packets({connack, disconnect})},
        {0x96, "Message rate too high", packets({disconnect})},
        {0x97, "Quota exceeded", packets({connack, puback, pubrec, suback, disconnect})},
        {0x98, "Administrative action", packets({disconnect})},
        {0x99, "Payload format invalid", packets({connack, puback, pubrec, disconnect})},
        {0x9A, "Retain not supported", packets({connack, disconnect})},
        {0x9B, "QoS not supported", packets({connack, disconnect})},
        {0x9C, "Use another server", packets({connack, disconnect})},
        {0x9D, "Server moved", packets({connack, disconnect})},
        {0x9E, "Shared Subscriptions not supported", packets({suback, disconnect})},
        {0x9F, "Connection rate exceeded", packets({connack, disconnect})},
        {0xA0, "Maximum connect time", packets({disconnect})},
        {0xA1, "Subscription Identifiers not supported", packets({suback, disconnect})},
        {0xA2, "Wildcard Subscriptions not supported", packets({suback, disconnect})},
    }};
}();
// clang-format on

/// The table row of a value in a packet, or nullptr if the packet may not carry it.
constexpr const reason_code_info* find_reason_code(packet_type packet,
                                                   std::uint8_t value) noexcept {
    const auto bit = static_cast<std::uint16_t>(1u << static_cast<unsigned>(packet));
    for (const auto& row : reason_code_table)
        if (row.value == value && (row.packets & bit) != 0)
            return &row;
    return nullptr;
}

constexpr bool reason_code_allowed(packet_type packet, std::uint8_t value) noexcept {
    return find_reason_code(packet, value) != nullptr;
}

/// The name of a reason code as carried by a packet ("Success", "Normal
/// disconnection", ...), or "Unknown reason code" if the packet may not carry it.
constexpr std::string_view to_string(packet_type packet, std::uint8_t value) noexcept {
    const auto* row = find_reason_code(packet, value);
    return row ? row->name : std::string_view{"Unknown reason code"};
}

/// The name of a reason code regardless of packet (the first name it has).
constexpr std::string_view to_string(reason r) noexcept {
    for (const auto& row : reason_code_table)
        if (row.value == static_cast<std::uint8_t>(r))
            return row.name;
    return "Unknown reason code";
}

namespace detail {
// Called only when a reason code that the packet may not carry is used in a
// constant expression: the compiler names this function in its error.
inline void reason_code_not_allowed_in_this_packet() {}
} // namespace detail

/// The reason code of packet P. Constructing it from a `reason` the packet may
/// not carry does not compile; wire values are checked by from_value().
template <packet_type P>
class basic_reason_code {
public:
    static constexpr packet_type packet = P;

    /// Success / Normal disconnection / Granted QoS 0: valid for every packet that has one.
    constexpr basic_reason_code() noexcept = default;

    /// Compile-time checked: `puback.reason_code = reason::banned;` does not compile.
    consteval basic_reason_code(reason r) : value_(static_cast<std::uint8_t>(r)) {
        if (!reason_code_allowed(P, value_))
            detail::reason_code_not_allowed_in_this_packet();
    }

    /// Run-time checked construction from a wire value.
    static constexpr std::optional<basic_reason_code> from_value(std::uint8_t v) noexcept {
        if (!reason_code_allowed(P, v))
            return std::nullopt;
        basic_reason_code c;
        c.value_ = v;
        return c;
    }

    /// Run-time checked construction from a name.
    static constexpr std::optional<basic_reason_code> from_reason(reason r) noexcept {
        return from_value(static_cast<std::uint8_t>(r));
    }

    constexpr std::uint8_t value() const noexcept { return value_; }
    constexpr bool is_error() const noexcept { return value_ >= 0x80; }
    constexpr std::string_view name() const noexcept { return to_string(P, value_); }

    friend constexpr bool operator==(basic_reason_code a, basic_reason_code b) noexcept {
        return a.value_ == b.value_;
    }
    friend constexpr bool operator==(basic_reason_code a, reason b) noexcept {
        return a.value_ == static_cast<std::uint8_t>(b);
    }

private:
    std::uint8_t value_ = 0;
};

template <packet_type P>
constexpr std::string_view to_string(basic_reason_code<P> code) noexcept {
    return code.name();
}

using connack_reason_code = basic_reason_code<packet_type::connack>;
using puback_reason_code = basic_reason_code<packet_type::puback>;
using pubrec_reason_code = basic_reason_code<packet_type::pubrec>;
using pubrel_reason_code = basic_reason_code<packet_type::pubrel>;
using pubcomp_reason_code = basic_reason_code<packet_type::pubcomp>;
using suback_reason_code = basic_reason_code<packet_type::suback>;
using unsuback_reason_code = basic_reason_code<packet_type::unsuback>;
using disconnect_reason_code = basic_reason_code<packet_type::disconnect>;
using auth_reason_code = basic_reason_code<packet_type::auth>;

/// CONNACK return codes of MQTT 3.1 and 3.1.1 (3.1.1 §3.2.2.3, Table 3.1).
enum class connect_return_code : std::uint8_t {
    accepted = 0,
    unacceptable_protocol_version = 1,
    identifier_rejected = 2,
    server_unavailable = 3,
    bad_user_name_or_password = 4,
    not_authorized = 5,
};

constexpr std::string_view to_string(connect_return_code c) noexcept {
    switch (c) {
    case connect_return_code::accepted: return "Connection Accepted";
    case connect_return_code::unacceptable_protocol_version:
        return "Connection Refused, unacceptable protocol version";
    case connect_return_code::identifier_rejected: return "Connection Refused, identifier rejected";
    case connect_return_code::server_unavailable: return "Connection Refused, Server unavailable";
    case connect_return_code::bad_user_name_or_password:
        return "Connection Refused, bad user name or password";
    case connect_return_code::not_authorized: return "Connection Refused, not authorized";
    }
    return "Connection Refused, unknown return code";
}

} // namespace ctmqtt
// ---- end include/ctmqtt/core/reason_codes.hpp ----

namespace ctmqtt {

/// Specialised once per packet type (and per list entry type) in core/packets/.
template <class T>
struct description;

namespace describe {

/// A string usable as a template argument: the name of a field.
template <std::size_t N>
struct fixed_string {
    char text[N]{};
    constexpr fixed_string(const char (&s)[N]) noexcept { std::copy_n(s, N, text); }
    constexpr std::string_view view() const noexcept { return {text, N - 1}; }
};

// ---------------------------------------------------------------- presence

inline constexpr auto always = [](const auto&, protocol_version) { return true; };
inline constexpr auto v5_only = [](const auto&, protocol_version v) {
    return v == protocol_version::v5;
};
inline constexpr auto before_v5 = [](const auto&, protocol_version v) {
    return v != protocol_version::v5;
};

/// Present when Pred(packet, version) holds, on both sides; with V5Only, only
/// in MQTT 5 (a value set for an older version is then refused, not dropped).
template <auto Pred, bool V5Only = false>
struct when {
    static constexpr bool v5_feature = V5Only;
    template <class P>
    static constexpr bool encode(const P& p, protocol_version v) noexcept {
        return (!V5Only || v == protocol_version::v5) && Pred(p, v);
    }
    template <class P>
    static constexpr bool decode(const P& p, protocol_version v, const wire::reader&) noexcept {
        return encode(p, v);
    }
    /// Would the field be written if the version were 5.0?
    template <class P>
    static constexpr bool in_v5(const P& p) noexcept {
        return Pred(p, protocol_version::v5);
    }
};

/// MQTT 5 short forms (§3.4.2.1 and siblings): written when Pred holds, read
/// when any bytes remain. Used for trailing reason codes and properties.
template <auto Pred>
struct tail_when {
    static constexpr bool v5_feature = true;
    template <class P>
    static constexpr bool in_v5(const P& p) noexcept {
        return Pred(p, protocol_version::v5);
    }
    template <class P>
    static constexpr bool encode(const P& p, protocol_version v) noexcept {
        return v == protocol_version::v5 && Pred(p, v);
    }
    template <class P>
    static constexpr bool decode(const P&, protocol_version v, const wire::reader& r) noexcept {
        return v == protocol_version::v5 && !r.empty();
    }
};

using present_always = when<always>;
using present_in_v5 = when<always, true>;

// ---------------------------------------------------------------- accessors

/// A data member.
template <auto M>
struct member {
    template <class P>
    static constexpr const auto& get(const P& p) noexcept {
        return p.*M;
    }
    template <class P>
    static constexpr auto& ref(P& p) noexcept {
        return p.*M;
    }
    template <class P, class V>
    static constexpr fault set(P& p, const V& v) noexcept {
        p.*M = v;
        return {};
    }
};

/// The value inside a std::optional member (read only when present).
template <auto M>
struct optional_value {
    template <class P>
    static constexpr const auto& get(const P& p) noexcept {
        return *(p.*M);
    }
    template <class P, class V>
    static constexpr fault set(P& p, const V& v) noexcept {
        p.*M = v;
        return {};
    }
};

/// Member Inner of the struct inside std::optional member Outer, used only
/// where the field's presence guarantees Outer is engaged.
template <auto Outer, auto Inner>
struct in_optional {
    template <class P>
    static constexpr const auto& get(const P& p) noexcept {
        return (*(p.*Outer)).*Inner;
    }
    template <class P>
    static constexpr auto& ref(P& p) noexcept {
        return (*(p.*Outer)).*Inner;
    }
    template <class P, class V>
    static constexpr fault set(P& p, const V& v) noexcept {
        (*(p.*Outer)).*Inner = v;
        return {};
    }
};

/// Whether a std::optional member is present (a flag bit).
template <auto M>
struct has_value {
    template <class P>
    static constexpr bool get(const P& p) noexcept {
        return (p.*M).has_value();
    }
    template <class P>
    static constexpr fault set(P& p, bool present) noexcept {
        if (present)
            (p.*M).emplace();
        else
            (p.*M).reset();
        return {};
    }
};

/// Member Inner of the struct inside std::optional member Outer. Reading a
/// non-default value while Outer is absent is the fault AbsentRule.
template <auto Outer, auto Inner, codec_errc AbsentRule>
struct optional_member {
    template <class P>
    static constexpr auto get(const P& p) noexcept {
        using V = std::remove_cvref_t<decltype((*(p.*Outer)).*Inner)>;
        return (p.*Outer) ? (*(p.*Outer)).*Inner : V{};
    }
    template <class P>
    static constexpr auto& ref(P& p) noexcept {
        return (*(p.*Outer)).*Inner;
    }
    template <class P, class V>
    static constexpr fault set(P& p, const V& v) noexcept {
        if (!(p.*Outer))
            return v == V{} ? fault{} : fault{AbsentRule};
        (*(p.*Outer)).*Inner = v;
        return {};
    }
};

// ---------------------------------------------------------------- bit fields

/// How a value is stored in a few bits, and which bit patterns are valid.
template <class T>
struct bit_value {
    static constexpr unsigned to(T v) noexcept { return static_cast<unsigned>(v); }
    static constexpr bool valid(unsigned raw) noexcept {
        if constexpr (std::is_same_v<T, qos> || std::is_same_v<T, retain_handling>)
            return raw <= 2;
        else
            return true;
    }
    static constexpr T from(unsigned raw) noexcept {
        if constexpr (std::is_same_v<T, bool>)
            return raw != 0;
        else
            return static_cast<T>(raw);
    }
};

/// Width bits at Shift holding the value of accessor Acc. A bit pattern that
/// bit_value rejects is the fault Invalid. Where Present does not hold (e.g.
/// 5.0-only subscription options in 3.1.1) the bits are reserved: non-zero is
/// the fault Reserved.
template <fixed_string Name, class Acc, unsigned Shift, unsigned Width,
          codec_errc Invalid = codec_errc{}, auto Present = always,
          codec_errc Reserved = codec_errc{}>
struct bits {
    static constexpr std::string_view name = Name.view();
    static constexpr unsigned mask = (1u << Width) - 1u;

    template <class P>
    using value_t = std::remove_cvref_t<decltype(Acc::get(std::declval<const P&>()))>;

    template <class P>
    static constexpr unsigned encode(const P& p, protocol_version v) noexcept {
        if (!Present(p, v))
            return 0;
        return (bit_value<value_t<P>>::to(Acc::get(p)) & mask) << Shift;
    }
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        const unsigned raw = bit_value<value_t<P>>::to(Acc::get(p));
        // Set on a version without these bits: refused, not dropped (they decode as reserved bits).
        if (!Present(p, v))
            return raw != 0 ? fault{codec_errc::requires_v5} : fault{};
        if (raw > mask || !bit_value<value_t<P>>::valid(raw))
            return Invalid;
        return {};
    }
    template <class P>
    static constexpr fault decode(P& p, protocol_version v, unsigned byte) noexcept {
        const unsigned raw = (byte >> Shift) & mask;
        if (!Present(p, v))
            return raw != 0 ? fault{Reserved} : fault{};
        if (!bit_value<value_t<P>>::valid(raw))
            return Invalid;
        return Acc::set(p, bit_value<value_t<P>>::from(raw));
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version v, F& f) {
        if (Present(p, v))
            f(name, Acc::get(p));
    }
};

/// Bits that must hold Value (normally 0); anything else is the fault Rule.
template <unsigned Shift, unsigned Width, codec_errc Rule, unsigned Value = 0>
struct reserved_bits {
    static constexpr unsigned mask = (1u << Width) - 1u;
    template <class P>
    static constexpr unsigned encode(const P&, protocol_version) noexcept {
        return Value << Shift;
    }
    template <class P>
    static constexpr fault check(const P&, protocol_version) noexcept {
        return {};
    }
    template <class P>
    static constexpr fault decode(P&, protocol_version, unsigned byte) noexcept {
        return ((byte >> Shift) & mask) == Value ? fault{} : fault{Rule};
    }
    template <class P, class F>
    static constexpr void visit(const P&, protocol_version, F&) {}
};

// ---------------------------------------------------------------- fixed header

/// Fixed-header flags that are constant for the packet type (MQTT 5 §2.1.3).
template <std::uint8_t Flags>
struct fixed_flags {
    template <class P>
    static constexpr std::uint8_t encode(const P&, protocol_version) noexcept {
        return Flags;
    }
    template <class P>
    static constexpr fault check(const P&, protocol_version) noexcept {
        return {};
    }
    template <class P>
    static constexpr fault decode(P&, protocol_version, unsigned flags) noexcept {
        return flags == Flags ? fault{} : fault{codec_errc::fixed_header_flags};
    }
    template <class P, class F>
    static constexpr void visit(const P&, protocol_version, F&) {}
};

/// Fixed-header flags that carry values (PUBLISH: DUP, QoS, RETAIN).
template <class... Bits>
struct header_bits {
    template <class P>
    static constexpr std::uint8_t encode(const P& p, protocol_version v) noexcept {
        return static_cast<std::uint8_t>((Bits::encode(p, v) | ... | 0u));
    }
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        fault f;
        (void)((f = Bits::check(p, v)) || ...);
        return f;
    }
    template <class P>
    static constexpr fault decode(P& p, protocol_version v, unsigned flags) noexcept {
        fault f;
        (void)((f = Bits::decode(p, v, flags)) || ...);
        return f;
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version v, F& f) {
        (Bits::visit(p, v, f), ...);
    }
};

// ---------------------------------------------------------------- field kinds

/// True if v is its type's default (empty for views).
template <class V>
constexpr bool is_default_value(const V& v) noexcept {
    if constexpr (requires { v.empty(); })
        return v.empty();
    else
        return v == V{};
}

/// For a field absent in version v: a value that only MQTT 5 can carry is
/// refused rather than silently dropped. `is_default` says whether the
/// field's value is the one the older version implies.
template <class Presence, class P>
constexpr fault check_absent(const P& p, protocol_version v, auto is_default) noexcept {
    if constexpr (Presence::v5_feature) {
        if (v != protocol_version::v5 && Presence::in_v5(p) && !is_default())
            return codec_errc::requires_v5;
    }
    return {};
}

/// A value of wire type Wire, held by accessor Acc, present per Presence,
/// with an extra semantic check Check(value, packet, version) -> fault.
inline constexpr auto no_check = [](const auto&, const auto&, protocol_version) { return fault{}; };

template <fixed_string Name, class Acc, class Wire, class Presence = present_always,
          auto Check = no_check>
struct field {
    static constexpr std::string_view name = Name.view();
    static constexpr bool is_payload = false;

    template <class P>
    static constexpr std::size_t size(const P& p, protocol_version v) noexcept {
        return Presence::encode(p, v) ? Wire::size(Acc::get(p)) : 0;
    }
    template <class P>
    static std::byte* write(const P& p, protocol_version v, std::byte* out) noexcept {
        return Presence::encode(p, v) ? Wire::write(Acc::get(p), out) : out;
    }
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        if (!Presence::encode(p, v))
            return check_absent<Presence>(p, v, [&] { return is_default_value(Acc::get(p)); });
        if (auto f = Wire::check(Acc::get(p)))
            return f;
        return Check(Acc::get(p), p, v);
    }
    template <class P>
    static constexpr fault read(P& p, wire::reader& r, protocol_version& v) noexcept {
        if (!Presence::decode(p, v, r))
            return {};
        typename Wire::value_type value{};
        if (auto f = Wire::read(r, value))
            return f;
        if (auto f = Check(value, p, v))
            return f;
        return Acc::set(p, value);
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version v, F& f) {
        if (Presence::encode(p, v))
            f(name, Acc::get(p));
    }
};

/// One byte of bit fields (CONNECT flags, CONNACK acknowledge flags,
/// subscription options). Bits are decoded in the order listed.
template <fixed_string Name, class Presence, class... Bits>
struct flags_byte {
    static constexpr std::string_view name = Name.view();
    static constexpr bool is_payload = false;

    template <class P>
    static constexpr std::size_t size(const P& p, protocol_version v) noexcept {
        return Presence::encode(p, v) ? 1 : 0;
    }
    template <class P>
    static std::byte* write(const P& p, protocol_version v, std::byte* out) noexcept {
        if (!Presence::encode(p, v))
            return out;
        return wire::put(out, static_cast<std::uint8_t>((Bits::encode(p, v) | ... | 0u)));
    }
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        if (!Presence::encode(p, v))
            return {};
        fault f;
        (void)((f = Bits::check(p, v)) || ...);
        return f;
    }
    template <class P>
    static constexpr fault read(P& p, wire::reader& r, protocol_version& v) noexcept {
        if (!Presence::decode(p, v, r))
            return {};
        std::uint8_t byte = 0;
        if (auto f = wire::u8::read(r, byte))
            return f;
        fault f;
        (void)((f = Bits::decode(p, v, byte)) || ...);
        return f;
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version v, F& f) {
        if (Presence::encode(p, v))
            (Bits::visit(p, v, f), ...);
    }
};

/// A property set (MQTT 5 §2.2.2): property length then properties.
template <fixed_string Name, class Acc, class Presence = present_in_v5>
struct properties {
    static constexpr std::string_view name = Name.view();
    static constexpr bool is_payload = false;

    template <class P>
    static constexpr std::size_t size(const P& p, protocol_version v) noexcept {
        return Presence::encode(p, v) ? Acc::get(p).encoded_size() : 0;
    }
    template <class P>
    static std::byte* write(const P& p, protocol_version v, std::byte* out) noexcept {
        return Presence::encode(p, v) ? Acc::get(p).write(out) : out;
    }
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        if (!Presence::encode(p, v))
            return check_absent<Presence>(p, v, [&] { return Acc::get(p).empty(); });
        return Acc::get(p).check(); // its size is checked with the packet's remaining length
    }
    template <class P>
    static constexpr fault read(P& p, wire::reader& r, protocol_version& v) noexcept {
        if (!Presence::decode(p, v, r))
            return {};
        return Acc::ref(p).read(r);
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version v, F& f) {
        if (Presence::encode(p, v))
            f(name, Acc::get(p));
    }
};

/// Entries repeated to the end of the packet (MQTT 5 §3.8.3, §3.9.3, §3.10.3,
/// §3.11.3). Acc holds a list_view; at least one entry, else EmptyRule.
template <fixed_string Name, class Acc, codec_errc EmptyRule, class Presence = present_always>
struct list {
    static constexpr std::string_view name = Name.view();
    static constexpr bool is_payload = false;

    template <class P>
    using list_t = std::remove_cvref_t<decltype(Acc::get(std::declval<const P&>()))>;

    template <class P>
    static constexpr std::size_t size(const P& p, protocol_version v) noexcept {
        if (!Presence::encode(p, v))
            return 0;
        std::size_t n = 0;
        for (const auto& e : Acc::get(p))
            n += list_t<P>::codec::size(e, v);
        return n;
    }
    template <class P>
    static std::byte* write(const P& p, protocol_version v, std::byte* out) noexcept {
        if (!Presence::encode(p, v))
            return out;
        for (const auto& e : Acc::get(p))
            out = list_t<P>::codec::write(e, v, out);
        return out;
    }
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        if (!Presence::encode(p, v))
            return check_absent<Presence>(p, v, [&] { return Acc::get(p).empty(); });
        if (Acc::get(p).empty())
            return EmptyRule;
        for (const auto& e : Acc::get(p))
            if (auto f = list_t<P>::codec::check(e, v))
                return f;
        return {};
    }
    template <class P>
    static constexpr fault read(P& p, wire::reader& r, protocol_version& v) noexcept {
        if (!Presence::decode(p, v, r))
            return {};
        const auto* begin = r.pos;
        std::uint32_t count = 0;
        while (!r.empty()) {
            typename list_t<P>::value_type entry{};
            if (auto f = list_t<P>::codec::read(r, entry, v))
                return f;
            ++count;
        }
        if (count == 0)
            return EmptyRule;
        return Acc::set(p, list_t<P>::from_wire(begin, r.pos, count, v));
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version v, F& f) {
        if (Presence::encode(p, v))
            f(name, Acc::get(p));
    }
};

/// Application payload: the rest of the packet (MQTT 5 §3.3.3). Never copied:
/// the encoder leaves it for a gather write, the decoder returns a view.
template <fixed_string Name, class Acc>
struct payload {
    static constexpr std::string_view name = Name.view();
    static constexpr bool is_payload = true;

    template <class P>
    static constexpr std::size_t size(const P& p, protocol_version) noexcept {
        return Acc::get(p).size();
    }
    template <class P>
    static std::byte* write(const P&, protocol_version, std::byte* out) noexcept {
        return out;
    }
    template <class P>
    static constexpr fault check(const P&, protocol_version) noexcept {
        return {};
    }
    template <class P>
    static constexpr fault read(P& p, wire::reader& r, protocol_version&) noexcept {
        const bytes_view rest{r.pos, r.remaining()};
        r.pos = r.end;
        return Acc::set(p, rest);
    }
    template <class P, class F>
    static constexpr void visit(const P& p, protocol_version, F& f) {
        f(name, Acc::get(p));
    }
};

// ---------------------------------------------------------------- semantic wire types

/// A reason code of packet P as one byte. In lists (SUBACK) the MQTT 3.1 and
/// 3.1.1 return codes are the subset {0, 1, 2} and {0, 1, 2, 0x80}.
template <packet_type P>
struct reason_code_wire {
    using value_type = basic_reason_code<P>;
    static constexpr std::size_t size(value_type) noexcept { return 1; }
    static constexpr std::size_t size(value_type, protocol_version) noexcept { return 1; }
    static constexpr std::byte* write(value_type c, std::byte* out) noexcept {
        return wire::put(out, c.value());
    }
    static constexpr std::byte* write(value_type c, protocol_version, std::byte* out) noexcept {
        return write(c, out);
    }
    static constexpr fault check(value_type c, protocol_version v = protocol_version::v5) noexcept {
        if (v != protocol_version::v5 && !allowed_before_v5(c.value(), v))
            return {codec_errc::reason_code_not_allowed, c.value()};
        return {};
    }
    static constexpr fault read(wire::reader& r, value_type& c,
                                protocol_version v = protocol_version::v5) noexcept {
        std::uint8_t raw = 0;
        if (auto f = wire::u8::read(r, raw))
            return f;
        auto code = value_type::from_value(raw);
        if (!code || (v != protocol_version::v5 && !allowed_before_v5(raw, v)))
            return {codec_errc::reason_code_not_allowed, raw};
        c = *code;
        return {};
    }

private:
    // SUBACK failure 0x80 arrived with 3.1.1 (§3.9.3); 3.1 grants QoS 0-2 only.
    static constexpr bool allowed_before_v5(std::uint8_t raw, protocol_version v) noexcept {
        return raw <= 2 ||
               (raw == 0x80 && P == packet_type::suback && v == protocol_version::v3_1_1);
    }
};

/// CONNACK return code of MQTT 3.1 / 3.1.1 (3.1.1 §3.2.2.3): 0..5.
struct return_code_wire {
    using value_type = connect_return_code;
    static constexpr std::size_t size(value_type) noexcept { return 1; }
    static constexpr std::byte* write(value_type c, std::byte* out) noexcept {
        return wire::put(out, static_cast<std::uint8_t>(c));
    }
    static constexpr fault check(value_type c) noexcept {
        const auto raw = static_cast<std::uint8_t>(c);
        return raw > 5 ? fault{codec_errc::return_code_reserved, raw} : fault{};
    }
    static constexpr fault read(wire::reader& r, value_type& c) noexcept {
        std::uint8_t raw = 0;
        if (auto f = wire::u8::read(r, raw))
            return f;
        c = static_cast<connect_return_code>(raw);
        return check(c);
    }
};

// ---------------------------------------------------------------- rules

/// A cross-field constraint: Holds(record, version) must be true, else Rule.
template <auto Holds, codec_errc Rule>
struct rule {
    template <class P>
    static constexpr fault check(const P& p, protocol_version v) noexcept {
        return Holds(p, v) ? fault{} : fault{Rule};
    }
};

template <class... Fields>
struct field_list {};
template <class... Rules>
struct rule_list {};

// ---------------------------------------------------------------- generic codec

template <class P, class Fields = typename description<P>::fields,
          class Rules = typename description<P>::rules>
struct record_codec;

/// Encoder, decoder, size and check of a record, generated from its fields and rules.
template <class P, class... F, class... R>
struct record_codec<P, field_list<F...>, rule_list<R...>> {
    static constexpr std::size_t size([[maybe_unused]] const P& p,
                                      [[maybe_unused]] protocol_version v) noexcept {
        return (F::size(p, v) + ... + 0);
    }

    static std::byte* write([[maybe_unused]] const P& p, [[maybe_unused]] protocol_version v,
                            std::byte* out) noexcept {
        ((out = F::write(p, v, out)), ...);
        return out;
    }

    static constexpr fault check([[maybe_unused]] const P& p,
                                 [[maybe_unused]] protocol_version v) noexcept {
        fault f;
        (void)(((f = F::check(p, v)) || ...) || ((f = R::check(p, v)) || ...));
        return f;
    }

    /// Reads every field; `v` may change while reading (CONNECT's protocol level).
    static constexpr fault read([[maybe_unused]] P& p, [[maybe_unused]] wire::reader& r,
                                [[maybe_unused]] protocol_version& v) noexcept {
        fault f;
        if ((... || (f = F::read(p, r, v))))
            return f;
        (void)((f = R::check(p, v)) || ...);
        return f;
    }

    template <class Fn>
    static constexpr void visit([[maybe_unused]] const P& p, [[maybe_unused]] protocol_version v,
                                [[maybe_unused]] Fn& fn) {
        (F::visit(p, v, fn), ...);
    }

    static constexpr bool has_payload = (F::is_payload || ...);
};

/// The codec of a list entry described as a record (e.g. a subscription).
template <class T>
struct entry_codec {
    static constexpr std::size_t size(const T& e, protocol_version v) noexcept {
        return record_codec<T>::size(e, v);
    }
    static std::byte* write(const T& e, protocol_version v, std::byte* out) noexcept {
        return record_codec<T>::write(e, v, out);
    }
    static constexpr fault check(const T& e, protocol_version v) noexcept {
        return record_codec<T>::check(e, v);
    }
    static constexpr fault read(wire::reader& r, T& e, protocol_version v) noexcept {
        return record_codec<T>::read(e, r, v);
    }
};

/// The codec of a list entry that is a single wire value (a topic filter).
template <class Wire, auto Check = no_check>
struct value_entry_codec {
    using T = typename Wire::value_type;
    static constexpr std::size_t size(const T& e, protocol_version) noexcept {
        return Wire::size(e);
    }
    static std::byte* write(const T& e, protocol_version, std::byte* out) noexcept {
        return Wire::write(e, out);
    }
    static constexpr fault check(const T& e, protocol_version v) noexcept {
        if (auto f = Wire::check(e))
            return f;
        return Check(e, e, v);
    }
    static constexpr fault read(wire::reader& r, T& e, protocol_version v) noexcept {
        if (auto f = Wire::read(r, e))
            return f;
        return Check(e, e, v);
    }
};

// ---------------------------------------------------------------- checks shared by packets

/// A packet identifier must be non-zero [MQTT-2.2.1-3].
inline constexpr auto non_zero_packet_id = [](std::uint16_t id, const auto&, protocol_version) {
    return id == 0 ? fault{codec_errc::packet_id_zero} : fault{};
};

} // namespace describe
} // namespace ctmqtt
// ---- end include/ctmqtt/core/describe.hpp ----
// ---- begin include/ctmqtt/core/packets/auth.hpp ----
// AUTH (MQTT 5 §3.15): enhanced authentication. Packet type 15 is reserved
// before MQTT 5, so the codec refuses it there.

// ---- begin include/ctmqtt/core/packets/publish_ack.hpp ----
// PUBACK, PUBREC, PUBREL and PUBCOMP (MQTT 5 §3.4-3.7; 3.1.1 §3.4-3.7): one
// description for the four acknowledgements of the QoS 1 and QoS 2 flows.



namespace ctmqtt {

template <packet_type P>
struct basic_publish_ack {
    basic_publish_ack() noexcept {
    } // user-provided: value-initialisation skips a memset (see publish)

    std::uint16_t packet_id = 0;
    basic_reason_code<P> reason_code;                        ///< MQTT 5
    property_set<static_cast<property_scope>(P)> properties; ///< MQTT 5
};

using puback = basic_publish_ack<packet_type::puback>;
using pubrec = basic_publish_ack<packet_type::pubrec>;
using pubrel = basic_publish_ack<packet_type::pubrel>;
using pubcomp = basic_publish_ack<packet_type::pubcomp>;

namespace describe {
// The MQTT 5 short forms: the reason code may be left out when it is 0 and
// there are no properties, the property length when there are no properties
// (MQTT 5 §3.4.2.1, §3.4.2.2.1 and the same in §3.5-3.7).
inline constexpr auto reason_code_needed = [](const auto& p, protocol_version) {
    return p.reason_code.value() != 0 || !p.properties.empty();
};
inline constexpr auto properties_needed = [](const auto& p, protocol_version) {
    return !p.properties.empty();
};
} // namespace describe

template <packet_type P>
struct description<basic_publish_ack<P>> {
    static constexpr packet_type type = P;
    using a = basic_publish_ack<P>;
    // PUBREL's fixed header flags are 0010 [MQTT-3.6.1-1].
    using header = describe::fixed_flags<P == packet_type::pubrel ? 0b0010 : 0>;
    using fields = describe::field_list<
        describe::field<"packet_id", describe::member<&a::packet_id>, wire::u16,
                        describe::present_always, describe::non_zero_packet_id>,
        describe::field<"reason_code", describe::member<&a::reason_code>,
                        describe::reason_code_wire<P>,
                        describe::tail_when<describe::reason_code_needed>>,
        describe::properties<"properties", describe::member<&a::properties>,
                             describe::tail_when<describe::properties_needed>>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/packets/publish_ack.hpp ----

namespace ctmqtt {

struct auth {
    auth() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    auth_reason_code reason_code; ///< left out when Success and no properties (MQTT 5 §3.15.2.1)
    auth_properties properties;
};

template <>
struct description<auth> {
    static constexpr packet_type type = packet_type::auth;
    static constexpr protocol_version since = protocol_version::v5;
    using header = describe::fixed_flags<0>; // [MQTT-3.15.1-1]
    using fields = describe::field_list<
        describe::field<"reason_code", describe::member<&auth::reason_code>,
                        describe::reason_code_wire<packet_type::auth>,
                        describe::tail_when<describe::reason_code_needed>>,
        describe::properties<"properties", describe::member<&auth::properties>,
                             describe::tail_when<describe::properties_needed>>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/packets/auth.hpp ----
// ---- begin include/ctmqtt/core/packets/connack.hpp ----
// CONNACK (MQTT 5 §3.2; 3.1.1 §3.2).


namespace ctmqtt {

struct connack {
    connack() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    bool session_present = false;
    connect_return_code return_code = connect_return_code::accepted; ///< MQTT 3.1 and 3.1.1
    connack_reason_code reason_code;                                 ///< MQTT 5
    connack_properties properties;                                   ///< MQTT 5

    /// True if the server accepted the connection.
    constexpr bool accepted(protocol_version v) const noexcept {
        return v == protocol_version::v5 ? !reason_code.is_error()
                                         : return_code == connect_return_code::accepted;
    }
};

template <>
struct description<connack> {
    static constexpr packet_type type = packet_type::connack;
    using header = describe::fixed_flags<0>;
    using fields = describe::field_list<
        describe::flags_byte<
            "acknowledge_flags", describe::present_always,
            describe::bits<"session_present", describe::member<&connack::session_present>, 0, 1>,
            describe::reserved_bits<1, 7, codec_errc::connack_reserved_flags>>, // [MQTT-3.2.2-1]
        describe::field<"return_code", describe::member<&connack::return_code>,
                        describe::return_code_wire, describe::when<describe::before_v5>>,
        describe::field<"reason_code", describe::member<&connack::reason_code>,
                        describe::reason_code_wire<packet_type::connack>, describe::present_in_v5>,
        describe::properties<"properties", describe::member<&connack::properties>>>;
    using rules = describe::rule_list<
        // Session present must be 0 on a refusal [MQTT-3.2.2-6] (3.1.1: [MQTT-3.2.2-4]).
        describe::rule<[](const connack& p, protocol_version v) {
            return !p.session_present || p.accepted(v);
        },
                       codec_errc::session_present_on_refusal>>;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/packets/connack.hpp ----
// ---- begin include/ctmqtt/core/packets/connect.hpp ----
// CONNECT (MQTT 5 §3.1; 3.1.1 §3.1; 3.1 "MQIsdp").



namespace ctmqtt {

/// The will message carried by CONNECT (MQTT 5 §3.1.2.5, §3.1.3.2-4).
struct will_message {
    will_message() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    std::string_view topic;
    bytes_view payload;
    ctmqtt::qos qos = ctmqtt::qos::at_most_once;
    bool retain = false;
    will_properties properties; ///< MQTT 5 only
};

struct connect {
    connect() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    protocol_version version = protocol_version::v5;
    bool clean_start = true; ///< "clean session" in 3.1 and 3.1.1
    std::uint16_t keep_alive = 60;
    std::string_view client_id;
    std::optional<will_message> will;
    std::optional<std::string_view> user_name;
    std::optional<bytes_view> password;
    connect_properties properties; ///< MQTT 5 only
};

namespace describe {

/// Protocol name (MQTT 5 §3.1.2.1): "MQTT", or "MQIsdp" for 3.1. While
/// decoding, the name tells the level field which levels may follow.
struct protocol_name_field {
    static constexpr std::string_view name = "protocol_name";
    static constexpr bool is_payload = false;
    static constexpr std::string_view for_version(protocol_version v) noexcept {
        return v == protocol_version::v3_1 ? "MQIsdp" : "MQTT";
    }
    static constexpr std::size_t size(const connect&, protocol_version v) noexcept {
        return 2 + for_version(v).size();
    }
    static std::byte* write(const connect&, protocol_version v, std::byte* out) noexcept {
        return wire::utf8::write(for_version(v), out);
    }
    static constexpr fault check(const connect&, protocol_version) noexcept { return {}; }
    static constexpr fault read(connect&, wire::reader& r, protocol_version& v) noexcept {
        std::string_view text;
        if (auto f = wire::utf8::read(r, text))
            return f;
        if (text == "MQIsdp")
            v = protocol_version::v3_1;
        else if (text == "MQTT")
            v = protocol_version::v3_1_1; // 4 or 5: the level decides
        else
            return codec_errc::protocol_name; // [MQTT-3.1.2-1]
        return {};
    }
    template <class F>
    static constexpr void visit(const connect& c, protocol_version, F& f) {
        f(name, for_version(c.version));
    }
};

/// Protocol level (MQTT 5 §3.1.2.2): 3 with "MQIsdp", 4 or 5 with "MQTT".
struct protocol_level_field {
    static constexpr std::string_view name = "protocol_level";
    static constexpr bool is_payload = false;
    static constexpr std::size_t size(const connect&, protocol_version) noexcept { return 1; }
    static std::byte* write(const connect&, protocol_version v, std::byte* out) noexcept {
        return wire::put(out, static_cast<std::uint8_t>(v));
    }
    static constexpr fault check(const connect& c, protocol_version) noexcept {
        const auto level = static_cast<std::uint8_t>(c.version);
        return level >= 3 && level <= 5 ? fault{} : fault{codec_errc::protocol_level, level};
    }
    static constexpr fault read(connect& c, wire::reader& r, protocol_version& v) noexcept {
        std::uint8_t level = 0;
        if (auto f = wire::u8::read(r, level))
            return f;
        const bool ok = v == protocol_version::v3_1 ? level == 3 : (level == 4 || level == 5);
        if (!ok)
            return {codec_errc::protocol_level, level}; // [MQTT-3.1.2-2]
        v = c.version = static_cast<protocol_version>(level);
        return {};
    }
    template <class F>
    static constexpr void visit(const connect& c, protocol_version, F& f) {
        f(name, static_cast<unsigned>(c.version));
    }
};

inline constexpr auto has_will = [](const connect& c, protocol_version) {
    return c.will.has_value();
};
inline constexpr auto has_user_name = [](const connect& c, protocol_version) {
    return c.user_name.has_value();
};
inline constexpr auto has_password = [](const connect& c, protocol_version) {
    return c.password.has_value();
};

/// MQTT 3.1 limits the client identifier to 1..23 bytes (3.1 §3.1, Payload).
inline constexpr auto client_id_check = [](std::string_view id, const connect&,
                                           protocol_version v) {
    if (v == protocol_version::v3_1 && (id.empty() || id.size() > 23))
        return fault{codec_errc::client_identifier_length};
    return fault{};
};

/// A will topic is a topic name (MQTT 5 §3.1.3.3, §4.7): wire::topic checks
/// the characters, this that it is not empty [MQTT-4.7.3-1].
inline constexpr auto will_topic_check = [](std::string_view topic, const connect&,
                                            protocol_version) {
    return topic.empty() ? fault{codec_errc::topic_name_empty} : fault{};
};

} // namespace describe

template <>
struct description<connect> {
    static constexpr packet_type type = packet_type::connect;
    using header = describe::fixed_flags<0>;
    using c = connect;
    using fields = describe::field_list<
        describe::protocol_name_field, describe::protocol_level_field,
        describe::flags_byte<
            "connect_flags", describe::present_always,
            describe::reserved_bits<0, 1, codec_errc::connect_reserved_flag>, // [MQTT-3.1.2-3]
            describe::bits<"clean_start", describe::member<&c::clean_start>, 1, 1>,
            describe::bits<"will_flag", describe::has_value<&c::will>, 2, 1>,
            describe::bits<"will_qos",
                           describe::optional_member<&c::will, &will_message::qos,
                                                     codec_errc::will_flags_without_will>,
                           3, 2, codec_errc::will_qos_invalid>,
            describe::bits<"will_retain",
                           describe::optional_member<&c::will, &will_message::retain,
                                                     codec_errc::will_flags_without_will>,
                           5, 1>,
            describe::bits<"password_flag", describe::has_value<&c::password>, 6, 1>,
            describe::bits<"user_name_flag", describe::has_value<&c::user_name>, 7, 1>>,
        describe::field<"keep_alive", describe::member<&c::keep_alive>, wire::u16>,
        describe::properties<"properties", describe::member<&c::properties>>,
        describe::field<"client_id", describe::member<&c::client_id>, wire::utf8,
                        describe::present_always, describe::client_id_check>,
        describe::properties<"will_properties",
                             describe::in_optional<&c::will, &will_message::properties>,
                             describe::when<describe::has_will, true>>,
        describe::field<"will_topic", describe::in_optional<&c::will, &will_message::topic>,
                        wire::topic, describe::when<describe::has_will>,
                        describe::will_topic_check>,
        describe::field<"will_payload", describe::in_optional<&c::will, &will_message::payload>,
                        wire::binary, describe::when<describe::has_will>>,
        describe::field<"user_name", describe::optional_value<&c::user_name>, wire::utf8,
                        describe::when<describe::has_user_name>>,
        describe::field<"password", describe::optional_value<&c::password>, wire::binary,
                        describe::when<describe::has_password>>>;
    using rules = describe::rule_list<
        // 3.1.1 needs a user name for a password [MQTT-3.1.2-22]; 5.0 does not.
        describe::rule<[](const c& p, protocol_version v) {
            return v == protocol_version::v5 || !p.password || p.user_name;
        },
                       codec_errc::password_without_user_name>,
        // 3.1.1: a zero-byte client identifier needs clean session [MQTT-3.1.3-7].
        describe::rule<[](const c& p, protocol_version v) {
            return v != protocol_version::v3_1_1 || !p.client_id.empty() || p.clean_start;
        },
                       codec_errc::empty_client_id_without_clean_session>>;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/packets/connect.hpp ----
// ---- begin include/ctmqtt/core/packets/disconnect.hpp ----
// DISCONNECT (MQTT 5 §3.14; 3.1.1 §3.14, where it has no variable header).


namespace ctmqtt {

struct disconnect {
    disconnect() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    disconnect_reason_code
        reason_code; ///< MQTT 5; left out when Normal disconnection and no properties
    disconnect_properties properties; ///< MQTT 5
};

template <>
struct description<disconnect> {
    static constexpr packet_type type = packet_type::disconnect;
    using header = describe::fixed_flags<0>; // [MQTT-3.14.1-1]
    // MQTT 5 §3.14.2.1: a remaining length of 0 means Normal disconnection; of 1, no properties.
    using fields = describe::field_list<
        describe::field<"reason_code", describe::member<&disconnect::reason_code>,
                        describe::reason_code_wire<packet_type::disconnect>,
                        describe::tail_when<describe::reason_code_needed>>,
        describe::properties<"properties", describe::member<&disconnect::properties>,
                             describe::tail_when<describe::properties_needed>>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/packets/disconnect.hpp ----
// ---- begin include/ctmqtt/core/packets/ping.hpp ----
// PINGREQ and PINGRESP (MQTT 5 §3.12-3.13): a fixed header and nothing else.


namespace ctmqtt {

struct pingreq {};
struct pingresp {};

template <>
struct description<pingreq> {
    static constexpr packet_type type = packet_type::pingreq;
    using header = describe::fixed_flags<0>;
    using fields = describe::field_list<>;
    using rules = describe::rule_list<>;
};

template <>
struct description<pingresp> {
    static constexpr packet_type type = packet_type::pingresp;
    using header = describe::fixed_flags<0>;
    using fields = describe::field_list<>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/packets/ping.hpp ----
// ---- begin include/ctmqtt/core/packets/publish.hpp ----
// PUBLISH (MQTT 5 §3.3; 3.1.1 §3.3).



namespace ctmqtt {

struct publish {
    // User-provided, so value-initialisation (publish{}, a result's in-place
    // value) runs the member initialisers without first zeroing all ~180 bytes:
    // that memset was a `rep stos`, half the cost of a decode.
    publish() noexcept {}

    std::string_view topic; ///< may be empty in MQTT 5 when a Topic Alias is set
    bytes_view payload;     ///< never copied: a view into the caller's data or the receive buffer
    ctmqtt::qos qos = ctmqtt::qos::at_most_once;
    bool retain = false;
    bool dup = false;
    std::uint16_t packet_id = 0; ///< present when QoS > 0
    publish_properties properties;
};

namespace describe {

inline constexpr auto has_packet_id = [](const publish& p, protocol_version) {
    return p.qos != qos::at_most_once;
};

} // namespace describe

template <>
struct description<publish> {
    static constexpr packet_type type = packet_type::publish;
    using header =
        describe::header_bits<describe::bits<"retain", describe::member<&publish::retain>, 0, 1>,
                              describe::bits<"qos", describe::member<&publish::qos>, 1, 2,
                                             codec_errc::publish_qos_invalid>, // [MQTT-3.3.1-4]
                              describe::bits<"dup", describe::member<&publish::dup>, 3, 1>>;
    using fields = describe::field_list<
        // UTF-8 without wildcards [MQTT-3.3.2-2]; emptiness is a rule below.
        describe::field<"topic", describe::member<&publish::topic>, wire::topic>,
        describe::field<"packet_id", describe::member<&publish::packet_id>, wire::u16,
                        describe::when<describe::has_packet_id>, describe::non_zero_packet_id>,
        describe::properties<"properties", describe::member<&publish::properties>>,
        describe::payload<"payload", describe::member<&publish::payload>>>;
    using rules = describe::rule_list<
        // DUP must be 0 for QoS 0 [MQTT-3.3.1-2].
        describe::rule<[](const publish& p, protocol_version) {
            return !(p.dup && p.qos == qos::at_most_once);
        },
                       codec_errc::dup_on_qos_0>,
        // A topic name has at least one character [MQTT-4.7.3-1], unless MQTT 5
        // replaces it with a Topic Alias (MQTT 5 §3.3.2.1).
        describe::rule<[](const publish& p, protocol_version v) {
            return !p.topic.empty() || (v == protocol_version::v5 &&
                                        p.properties.get<property_id::topic_alias>().has_value());
        },
                       codec_errc::topic_name_empty>>;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/packets/publish.hpp ----
// ---- begin include/ctmqtt/core/packets/suback.hpp ----
// SUBACK (MQTT 5 §3.9; 3.1.1 §3.9).



namespace ctmqtt {

using suback_reason_code_list =
    list_view<suback_reason_code, describe::reason_code_wire<packet_type::suback>>;

struct suback {
    suback() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    std::uint16_t packet_id = 0;
    suback_reason_code_list
        reason_codes;             ///< one per subscription; 3.1.1: 0, 1, 2 or 0x80 [MQTT-3.9.3-2]
    suback_properties properties; ///< MQTT 5
};

template <>
struct description<suback> {
    static constexpr packet_type type = packet_type::suback;
    using header = describe::fixed_flags<0>;
    using fields = describe::field_list<
        describe::field<"packet_id", describe::member<&suback::packet_id>, wire::u16,
                        describe::present_always, describe::non_zero_packet_id>,
        describe::properties<"properties", describe::member<&suback::properties>>,
        describe::list<"reason_codes", describe::member<&suback::reason_codes>,
                       codec_errc::no_reason_codes>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/packets/suback.hpp ----
// ---- begin include/ctmqtt/core/packets/subscribe.hpp ----
// SUBSCRIBE (MQTT 5 §3.8; 3.1.1 §3.8) and its subscription entries.



namespace ctmqtt {

/// One topic filter with its subscription options (MQTT 5 §3.8.3.1).
struct subscription {
    std::string_view topic_filter;
    ctmqtt::qos max_qos = ctmqtt::qos::at_most_once;
    bool no_local = false;            ///< MQTT 5
    bool retain_as_published = false; ///< MQTT 5
    ctmqtt::retain_handling retain_handling =
        ctmqtt::retain_handling::send_on_subscribe; ///< MQTT 5
};

namespace describe {
/// MQTT 5 gives "$share/" filters their own rules (§4.8.2); in 3.1.1 they are ordinary filters.
inline constexpr auto topic_filter_check = [](std::string_view filter, const auto&,
                                              protocol_version v) {
    return validate_topic_filter(filter, v == protocol_version::v5);
};
} // namespace describe

template <>
struct description<subscription> {
    using s = subscription;
    using fields = describe::field_list<
        describe::field<"topic_filter", describe::member<&s::topic_filter>, wire::utf8,
                        describe::present_always, describe::topic_filter_check>,
        // Bits 2-5 exist in MQTT 5 only; in 3.1.1 bits 2-7 are reserved [MQTT-3-8.3-4].
        describe::flags_byte<
            "options", describe::present_always,
            describe::bits<"max_qos", describe::member<&s::max_qos>, 0, 2,
                           codec_errc::subscription_qos_invalid>,
            describe::bits<"no_local", describe::member<&s::no_local>, 2, 1, codec_errc{},
                           describe::v5_only, codec_errc::subscription_options_reserved>,
            describe::bits<"retain_as_published", describe::member<&s::retain_as_published>, 3, 1,
                           codec_errc{}, describe::v5_only,
                           codec_errc::subscription_options_reserved>,
            describe::bits<"retain_handling", describe::member<&s::retain_handling>, 4, 2,
                           codec_errc::retain_handling_invalid, describe::v5_only,
                           codec_errc::subscription_options_reserved>,
            describe::reserved_bits<6, 2,
                                    codec_errc::subscription_options_reserved>>>; // [MQTT-3.8.3-5]
    using rules = describe::rule_list<
        // No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
        describe::rule<[](const s& e, protocol_version) {
            return !(e.no_local && is_shared_subscription(e.topic_filter));
        },
                       codec_errc::no_local_on_shared_subscription>>;
};

using subscription_list = list_view<subscription, describe::entry_codec<subscription>>;

struct subscribe {
    subscribe() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    std::uint16_t packet_id = 0;
    subscription_list subscriptions; ///< at least one [MQTT-3.8.3-3]
    subscribe_properties properties; ///< MQTT 5
};

template <>
struct description<subscribe> {
    static constexpr packet_type type = packet_type::subscribe;
    using header = describe::fixed_flags<0b0010>; // [MQTT-3.8.1-1]
    using fields = describe::field_list<
        describe::field<"packet_id", describe::member<&subscribe::packet_id>, wire::u16,
                        describe::present_always, describe::non_zero_packet_id>,
        describe::properties<"properties", describe::member<&subscribe::properties>>,
        describe::list<"subscriptions", describe::member<&subscribe::subscriptions>,
                       codec_errc::no_topic_filters>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/packets/subscribe.hpp ----
// ---- begin include/ctmqtt/core/packets/unsuback.hpp ----
// UNSUBACK (MQTT 5 §3.11; 3.1.1 §3.11, where it carries only the packet identifier).



namespace ctmqtt {

using unsuback_reason_code_list =
    list_view<unsuback_reason_code, describe::reason_code_wire<packet_type::unsuback>>;

struct unsuback {
    unsuback() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    std::uint16_t packet_id = 0;
    unsuback_reason_code_list reason_codes; ///< MQTT 5: one per topic filter
    unsuback_properties properties;         ///< MQTT 5
};

template <>
struct description<unsuback> {
    static constexpr packet_type type = packet_type::unsuback;
    using header = describe::fixed_flags<0>;
    using fields = describe::field_list<
        describe::field<"packet_id", describe::member<&unsuback::packet_id>, wire::u16,
                        describe::present_always, describe::non_zero_packet_id>,
        describe::properties<"properties", describe::member<&unsuback::properties>>,
        describe::list<"reason_codes", describe::member<&unsuback::reason_codes>,
                       codec_errc::no_reason_codes, describe::present_in_v5>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/packets/unsuback.hpp ----
// ---- begin include/ctmqtt/core/packets/unsubscribe.hpp ----
// UNSUBSCRIBE (MQTT 5 §3.10; 3.1.1 §3.10).



namespace ctmqtt {

namespace describe {
// "$share/" filters have their own rules in MQTT 5 only (§4.8.2).
inline constexpr auto unsubscribe_filter_check = [](std::string_view filter, std::string_view,
                                                    protocol_version v) {
    return validate_topic_filter(filter, v == protocol_version::v5);
};
} // namespace describe

using topic_filter_list =
    list_view<std::string_view,
              describe::value_entry_codec<wire::utf8, describe::unsubscribe_filter_check>>;

struct unsubscribe {
    unsubscribe() noexcept {} // user-provided: value-initialisation skips a memset (see publish)

    std::uint16_t packet_id = 0;
    topic_filter_list topic_filters;   ///< at least one [MQTT-3.10.3-2]
    unsubscribe_properties properties; ///< MQTT 5
};

template <>
struct description<unsubscribe> {
    static constexpr packet_type type = packet_type::unsubscribe;
    using header = describe::fixed_flags<0b0010>; // [MQTT-3.10.1-1]
    using fields = describe::field_list<
        describe::field<"packet_id", describe::member<&unsubscribe::packet_id>, wire::u16,
                        describe::present_always, describe::non_zero_packet_id>,
        describe::properties<"properties", describe::member<&unsubscribe::properties>>,
        describe::list<"topic_filters", describe::member<&unsubscribe::topic_filters>,
                       codec_errc::no_topic_filters>>;
    using rules = describe::rule_list<>;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/packets/unsubscribe.hpp ----
// ---- begin include/ctmqtt/core/result.hpp ----
// result<T>: a value or a std::error_code (std::expected is C++23).


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
// ---- end include/ctmqtt/core/result.hpp ----

namespace ctmqtt {

/// A type with a packet description.
template <class P>
concept packet = requires {
    description<P>::type;
};

template <packet P>
inline constexpr packet_type packet_type_of = description<P>::type;

/// Every packet type, in packet-type order.
using any_packet =
    std::variant<connect, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe, suback,
                 unsubscribe, unsuback, pingreq, pingresp, disconnect, auth>;

namespace detail {

template <packet P>
constexpr protocol_version effective_version(const P& p, protocol_version v) noexcept {
    if constexpr (requires { p.version; })
        return p.version; // CONNECT carries its own
    else
        return v;
}

template <packet P>
constexpr bool exists_in(protocol_version v) noexcept {
    if constexpr (requires { description<P>::since; })
        return v >= description<P>::since;
    else
        return true;
}

template <packet P>
using codec_of = describe::record_codec<P>;

} // namespace detail

/// The remaining length of `p` encoded for version `v` (MQTT 5 §2.1.4).
template <packet P>
constexpr std::size_t remaining_length(const P& p, protocol_version v) noexcept {
    return detail::codec_of<P>::size(p, detail::effective_version(p, v));
}

/// The size of the whole encoded packet: fixed header, variable header, payload.
template <packet P>
constexpr std::size_t encoded_size(const P& p, protocol_version v) noexcept {
    const auto n = remaining_length(p, v);
    return 1 + wire::varint::size(static_cast<std::uint32_t>(n)) + n;
}

/// What encode() writes into the buffer: everything but PUBLISH's payload.
template <packet P>
constexpr std::size_t header_size(const P& p, protocol_version v) noexcept {
    if constexpr (std::is_same_v<P, publish>)
        return encoded_size(p, v) - p.payload.size();
    else
        return encoded_size(p, v);
}

namespace detail {

// The checks of check(), returning the remaining length on success.
template <packet P>
std::error_code check_sized(const P& p, protocol_version v, std::size_t& remaining) noexcept {
    constexpr auto type = packet_type_of<P>;
    if (!exists_in<P>(v))
        return make_error_code(codec_errc::reserved_packet_type, type, static_cast<unsigned>(type));
    if (auto f = description<P>::header::check(p, v))
        return f.in(type);
    if (auto f = codec_of<P>::check(p, v))
        return f.in(type);
    remaining = codec_of<P>::size(p, v);
    if (remaining > max_variable_byte_integer)
        return make_error_code(codec_errc::packet_too_large, type);
    return {};
}

} // namespace detail

/// Checks that `p` is a well-formed packet of version `v`, as the decoder would.
template <packet P>
std::error_code check(const P& p, protocol_version v) noexcept {
    std::size_t remaining = 0;
    return detail::check_sized(p, detail::effective_version(p, v), remaining);
}

/// An encoded packet: `header` (in the caller's buffer) followed by `payload`
/// (the caller's data, not copied; empty for every packet but PUBLISH).
struct encoded_packet {
    bytes_view header;
    bytes_view payload;
    constexpr std::size_t size() const noexcept { return header.size() + payload.size(); }
};

/// Encodes `p` for version `v` into `buffer`, which needs header_size(p, v)
/// bytes. Refuses a packet that check() rejects.
template <packet P>
result<encoded_packet> encode(const P& p, protocol_version v,
                              std::span<std::byte> buffer) noexcept {
    v = detail::effective_version(p, v);
    constexpr auto type = packet_type_of<P>;
    std::size_t rl = 0;
    if (auto ec = detail::check_sized(p, v, rl))
        return ec;
    const auto head = 1 + wire::varint::size(static_cast<std::uint32_t>(rl));
    bytes_view payload{};
    if constexpr (std::is_same_v<P, publish>)
        payload = p.payload;
    const auto needed = head + rl - payload.size();
    if (buffer.size() < needed)
        return make_error_code(codec_errc::buffer_too_small, type);
    std::byte* out = buffer.data();
    out = wire::put(out, static_cast<std::uint8_t>((static_cast<unsigned>(type) << 4) |
                                                   description<P>::header::encode(p, v)));
    out = wire::varint::write(static_cast<std::uint32_t>(rl), out);
    out = detail::codec_of<P>::write(p, v, out);
    return encoded_packet{bytes_view{buffer.data(), needed}, payload};
}

/// Encodes `p` whole (header, then the payload copied after it) at the end
/// of `out`, which needs `std::byte* extend(std::size_t)` (byte_buffer has
/// it): checked, sized and written in one pass. A packet longer than
/// `max_size` bytes (0: no limit) is not written: `too_large` is returned
/// (codec_errc::packet_too_large when that is empty). `too_large` may also
/// be a function returning the error, called only then (an error_code of
/// another category costs a call to its category on every packet).
template <packet P, class Buffer, class TooLarge = std::error_code>
std::error_code encode_append(const P& p, protocol_version v, Buffer& out, std::size_t max_size = 0,
                              const TooLarge& too_large = {}) {
    v = detail::effective_version(p, v);
    constexpr auto type = packet_type_of<P>;
    std::size_t rl = 0;
    if (auto ec = detail::check_sized(p, v, rl))
        return ec;
    const auto total = 1 + wire::varint::size(static_cast<std::uint32_t>(rl)) + rl;
    if (max_size != 0 && total > max_size) {
        std::error_code ec;
        if constexpr (std::is_invocable_r_v<std::error_code, const TooLarge&>)
            ec = too_large();
        else
            ec = too_large;
        return ec ? ec : make_error_code(codec_errc::packet_too_large, type);
    }
    std::byte* at = out.extend(total);
    at = wire::put(at, static_cast<std::uint8_t>((static_cast<unsigned>(type) << 4) |
                                                 description<P>::header::encode(p, v)));
    at = wire::varint::write(static_cast<std::uint32_t>(rl), at);
    at = detail::codec_of<P>::write(p, v, at);
    if constexpr (std::is_same_v<P, publish>)
        if (!p.payload.empty())
            std::memcpy(at, p.payload.data(), p.payload.size());
    return {};
}

/// A parsed fixed header (MQTT 5 §2.1.1).
struct fixed_header {
    packet_type type = packet_type::reserved;
    std::uint8_t flags = 0;
    std::uint32_t remaining_length = 0;
    std::uint8_t length = 0; ///< bytes taken by the fixed header itself (2..5)

    constexpr std::size_t packet_size() const noexcept {
        return length + std::size_t{remaining_length};
    }
};

namespace detail {

// parse_fixed_header without the result wrapper: an empty fault with
// h.length == 0 means more bytes are needed.
inline fault parse_header(bytes_view data, protocol_version v, fixed_header& h) noexcept {
    h.length = 0;
    if (data.empty())
        return {};
    const auto first = static_cast<std::uint8_t>(data[0]);
    h.type = static_cast<packet_type>(first >> 4);
    h.flags = static_cast<std::uint8_t>(first & 0x0F);
    if (h.type == packet_type::reserved ||
        (h.type == packet_type::auth && v != protocol_version::v5))
        return {codec_errc::reserved_packet_type, static_cast<std::uint8_t>(first >> 4)};
    const std::byte* p = data.data() + 1;
    if (auto f = wire::varint::read(p, data.data() + data.size(), h.remaining_length))
        return f.rule == codec_errc::incomplete_packet ? fault{} : f;
    h.length = static_cast<std::uint8_t>(p - data.data());
    return {};
}

inline std::error_code header_error(fault f, const fixed_header& h) noexcept {
    return f.rule == codec_errc::reserved_packet_type ? f.in(packet_type::reserved) : f.in(h.type);
}

} // namespace detail

/// Parses the fixed header at the start of `data`. nullopt: more bytes are
/// needed to know it. Errors: a reserved packet type, a remaining length of
/// more than 4 bytes or not in its shortest form.
inline result<std::optional<fixed_header>> parse_fixed_header(bytes_view data,
                                                              protocol_version v) noexcept {
    fixed_header h;
    if (auto f = detail::parse_header(data, v, h))
        return detail::header_error(f, h);
    if (h.length == 0)
        return std::optional<fixed_header>{};
    return std::optional<fixed_header>{h};
}

/// Decodes the body of a packet of type P whose fixed header is `header`;
/// `body` is exactly the remaining length. For CONNECT, `v` is ignored: the
/// packet says its own version.
template <packet P>
std::error_code decode_body(const fixed_header& header, bytes_view body, protocol_version v,
                            P& out) noexcept {
    constexpr auto type = packet_type_of<P>;
    if (header.type != type)
        return make_error_code(codec_errc::packet_type_mismatch, type,
                               static_cast<unsigned>(header.type));
    if (!detail::exists_in<P>(v))
        return make_error_code(codec_errc::reserved_packet_type, type,
                               static_cast<unsigned>(header.type));
    if (auto f = description<P>::header::decode(out, v, header.flags))
        return f.in(type);
    wire::reader r{body};
    if (auto f = detail::codec_of<P>::read(out, r, v))
        return f.in(type);
    if (!r.empty())
        return make_error_code(r.pos == body.data() ? codec_errc::remaining_length_not_zero
                                                    : codec_errc::trailing_bytes,
                               type);
    return {};
}

/// A decoded packet and the number of input bytes it took.
struct decoded_packet {
    any_packet packet;
    std::size_t size = 0;
};

namespace detail {

template <std::size_t I = 0>
std::error_code decode_as(const fixed_header& h, bytes_view body, protocol_version v,
                          any_packet& out) {
    if constexpr (I < std::variant_size_v<any_packet>) {
        using P = std::variant_alternative_t<I, any_packet>;
        if (packet_type_of<P> == h.type)
            return decode_body(h, body, v, out.emplace<I>());
        return decode_as<I + 1>(h, body, v, out);
    } else {
        return make_error_code(codec_errc::reserved_packet_type, packet_type::reserved,
                               static_cast<unsigned>(h.type));
    }
}

} // namespace detail

/// Decodes the first packet in `data` into `out`. The input must hold the
/// whole packet: a remaining length beyond the data is an error (a stream
/// reader uses parse_fixed_header to wait for more bytes instead).
inline std::error_code decode_packet(bytes_view data, protocol_version v,
                                     decoded_packet& out) noexcept {
    fixed_header h;
    if (auto f = detail::parse_header(data, v, h))
        return detail::header_error(f, h);
    if (h.length == 0)
        return make_error_code(codec_errc::incomplete_packet, packet_type::reserved);
    if (h.packet_size() > data.size())
        return make_error_code(codec_errc::incomplete_packet, h.type);
    out.size = h.packet_size();
    return detail::decode_as(h, data.subspan(h.length, h.remaining_length), v, out.packet);
}

/// Decodes the first packet in `data` (see the overload above).
inline result<decoded_packet> decode_packet(bytes_view data, protocol_version v) noexcept {
    result<decoded_packet> out{std::in_place};
    if (auto ec = decode_packet(data, v, *out))
        out = ec;
    return out; // one return of one object: never moved
}

/// Decodes `data` as one packet of type P (it must be exactly one packet)
/// into `out`, which must be default-constructed. The allocation-free,
/// move-free form of decode<P>(data, v).
template <packet P>
std::error_code decode(bytes_view data, protocol_version v, P& out) noexcept {
    fixed_header h;
    if (auto f = detail::parse_header(data, v, h))
        return detail::header_error(f, h);
    if (h.length == 0)
        return make_error_code(codec_errc::incomplete_packet, packet_type_of<P>);
    if (h.packet_size() > data.size())
        return make_error_code(codec_errc::incomplete_packet, h.type);
    if (h.packet_size() < data.size())
        return make_error_code(codec_errc::trailing_bytes, h.type);
    return decode_body(h, data.subspan(h.length), v, out);
}

/// Decodes `data` as one packet of type P (it must be exactly one packet).
template <packet P>
result<P> decode(bytes_view data, protocol_version v) noexcept {
    result<P> out{std::in_place};
    if (auto ec = decode(data, v, *out))
        out = ec;
    return out; // one return of one object: constructed in the caller's storage, never moved
}

/// Calls f(name, value) for every field of `p` present in version `v`, in
/// wire order (fixed-header flags first). Used by the printer and the tests.
template <packet P, class F>
constexpr void visit_fields(const P& p, protocol_version v, F&& f) {
    v = detail::effective_version(p, v);
    description<P>::header::visit(p, v, f);
    detail::codec_of<P>::visit(p, v, f);
}

/// Visits the fields of a list entry (e.g. a subscription).
template <class T, class F>
constexpr void visit_entry(const T& e, protocol_version v, F&& f) {
    describe::record_codec<T>::visit(e, v, f);
}

} // namespace ctmqtt
// ---- end include/ctmqtt/core/codec.hpp ----
// ---- begin include/ctmqtt/core/print.hpp ----
// Human-readable text of packets, generated from the same descriptions as the
// codec: to_string(packet, version) lists every field present in that version.
//   PUBLISH v5.0 retain=false qos=1 dup=false topic="a/b" packet_id=7 properties={Topic Alias=3}
//   payload=(5 bytes) "hello"
// For logs, tools and tests; it allocates, the codec does not.

#include <cstdio>


namespace ctmqtt {

namespace detail {

inline void append_quoted(std::string& out, std::string_view s) {
    out += '"';
    for (char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (ch == '"' || ch == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c == 0x7F) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02X", c);
            out += buf;
        } else {
            out += ch;
        }
    }
    out += '"';
}

inline void append_bytes(std::string& out, bytes_view b) {
    constexpr std::size_t shown = 64;
    out += '(' + std::to_string(b.size()) + " bytes)";
    if (b.empty())
        return;
    out += ' ';
    append_quoted(out, as_string(b.first(std::min(b.size(), shown))));
    if (b.size() > shown)
        out += "...";
}

template <class T>
struct is_reason_code : std::false_type {};
template <packet_type P>
struct is_reason_code<basic_reason_code<P>> : std::true_type {};

template <class T>
struct is_property_set : std::false_type {};
template <property_scope S>
struct is_property_set<property_set<S>> : std::true_type {};

template <class T>
struct is_list_view : std::false_type {};
template <class T, class C>
struct is_list_view<list_view<T, C>> : std::true_type {};

template <class V>
void append_value(std::string& out, const V& v, protocol_version version) {
    if constexpr (std::is_same_v<V, bool>) {
        out += v ? "true" : "false";
    } else if constexpr (std::is_same_v<V, qos> || std::is_same_v<V, retain_handling>) {
        out += std::to_string(static_cast<unsigned>(v));
    } else if constexpr (std::is_integral_v<V>) {
        out += std::to_string(static_cast<unsigned long>(v));
    } else if constexpr (std::is_convertible_v<V, std::string_view>) {
        append_quoted(out, v);
    } else if constexpr (std::is_same_v<V, bytes_view>) {
        append_bytes(out, v);
    } else if constexpr (std::is_same_v<V, string_pair>) {
        append_quoted(out, v.name);
        out += ':';
        append_quoted(out, v.value);
    } else if constexpr (std::is_same_v<V, connect_return_code>) {
        out += std::to_string(static_cast<unsigned>(v)) + " (" + std::string{to_string(v)} + ')';
    } else if constexpr (is_reason_code<V>::value) {
        out += detail::hex_byte(v.value()) + " (" + std::string{v.name()} + ')';
    } else if constexpr (is_property_set<V>::value) {
        out += '{';
        bool first = true;
        v.for_each([&](property_id id, const auto& value) {
            if (!first)
                out += ", ";
            first = false;
            out += to_string(id);
            out += '=';
            append_value(out, value, version);
        });
        out += '}';
    } else if constexpr (is_list_view<V>::value) {
        out += '[';
        bool first = true;
        for (const auto& e : v) {
            if (!first)
                out += ", ";
            first = false;
            if constexpr (std::is_same_v<typename V::value_type, subscription>) {
                out += '{';
                bool first_field = true;
                visit_entry(e, version, [&](std::string_view name, const auto& value) {
                    if (!first_field)
                        out += ' ';
                    first_field = false;
                    out += name;
                    out += '=';
                    append_value(out, value, version);
                });
                out += '}';
            } else {
                append_value(out, e, version);
            }
        }
        out += ']';
    } else {
        static_assert(sizeof(V) == 0, "no text form for this field type");
    }
}

} // namespace detail

/// The packet as one line of text, every field present in version `v`.
template <packet P>
std::string to_string(const P& p, protocol_version v) {
    if constexpr (requires { p.version; })
        v = p.version;
    std::string out{to_string(packet_type_of<P>)};
    out += " v";
    out += to_string(v);
    visit_fields(p, v, [&](std::string_view name, const auto& value) {
        using V = std::remove_cvref_t<decltype(value)>;
        if constexpr (detail::is_property_set<V>::value) {
            if (value.empty())
                return; // keep the line short: no "properties={}"
        }
        out += ' ';
        out += name;
        out += '=';
        detail::append_value(out, value, v);
    });
    return out;
}

/// The text of whichever packet `p` holds.
inline std::string to_string(const any_packet& p, protocol_version v) {
    return std::visit([&](const auto& packet) { return to_string(packet, v); }, p);
}

} // namespace ctmqtt
// ---- end include/ctmqtt/core/print.hpp ----
// ---- begin include/ctmqtt/core/session.hpp ----
// The protocol engine: a sans-I/O MQTT client session for 3.1, 3.1.1 and 5.0.
//
// It does no I/O, reads no clock and starts no thread. It is fed the bytes
// received and the current time; it produces the bytes to send (output()),
// calls its handler for what happened, and says when it next needs the time
// (deadline()). Everything it does is therefore deterministic and is tested
// by feeding bytes (tests/core/test_session.cpp, test_session_auth.cpp).
//
// What it implements: CONNECT/CONNACK with every MQTT 5 negotiated value;
// QoS 0, 1 and 2 both ways with exactly-once delivery of inbound QoS 2;
// packet identifiers allocated and found in constant time (an identifier is
// the index of its in-flight slot plus one); Receive Maximum and Maximum
// Packet Size both ways; topic aliases both ways (outbound by policy, the
// least recently used one replaced when the server's table is full);
// enhanced authentication and re-authentication through an authenticator;
// keep alive (PINGREQ when idle, closed after 1.5 × keep alive of silence);
// Clean Start (the client's session state discarded at connect()); session
// resumption (in-flight PUBLISHes resent with DUP up to the server's Receive
// Maximum, PUBRELs resent, Message Expiry counted down but never applied to a
// message already sent [MQTT-4.3.3-7]); in-flight state
// exported and restored for a persistent store; DISCONNECT both ways; a
// protocol violation by the server ends in DISCONNECT with the matching
// reason code (MQTT 5) and an error for the handler; a 3.1/3.1.1 server's
// CONNACK refusing a 5.0 CONNECT (return code 1) is the 5.0 refusal 0x84.
// Every outgoing packet is encoded in one pass at the end of a byte_buffer
// (encode_append): sized once, never zero-filled.

#include <bit>
#include <chrono>
#include <functional>
#include <unordered_map>
#include <vector>

// ---- begin include/ctmqtt/core/session_error.hpp ----
// Session errors: what the protocol engine reports when a connection is
// refused, the server breaks the protocol, a limit is hit or the connection
// dies. Like codec errors, each value packs the rule and a detail byte (a
// reason code), so making one never allocates, and the message says what
// happened and cites the specification:
//   "connection refused: Bad User Name or Password (CONNACK 0x86)".



namespace ctmqtt {

enum class session_errc : std::uint8_t {
    connection_refused = 1, ///< CONNACK refused; detail: reason or return code
    connection_refused_v3,  ///< 3.1/3.1.1 return code in detail
    not_connected,          ///< an operation that needs a connection
    already_connecting,     ///< connect() while a connection is open
    keep_alive_timeout,     ///< nothing from the server within 1.5 × keep alive
    server_disconnected,    ///< the server sent DISCONNECT; detail: reason code
    connection_lost,        ///< the transport closed
    malformed_packet,       ///< the server sent a malformed packet (see the log for which)
    unexpected_packet, ///< a packet the client never receives, or one out of order; detail: type
    unknown_packet_id, ///< an acknowledgement for no packet in flight; detail: type
    receive_maximum_exceeded,  ///< the server sent more QoS>0 PUBLISHes than we allow
    topic_alias_invalid,       ///< an inbound alias of 0, above our maximum, or unknown
    packet_too_large,          ///< inbound above our maximum packet size
    outbound_packet_too_large, ///< outbound above the server's maximum packet size
    send_quota_exhausted, ///< the server's Receive Maximum is reached: wait for an acknowledgement
    packet_ids_exhausted, ///< every packet identifier is in use
    qos_not_supported,    ///< above the server's Maximum QoS
    retain_not_supported, ///< retain with Retain Available 0
    message_expired,      ///< the Message Expiry Interval ran out before delivery
    publish_refused,      ///< PUBACK/PUBREC with an error reason code; detail: reason
    subscription_identifiers_not_supported,
    shared_subscriptions_not_supported,
    wildcard_subscriptions_not_supported,
    authentication_failed, ///< the authenticator rejected the server; detail: 1 challenge, 2
                           ///< success
    session_expired,       ///< the server has no session (Session Present 0) and kept none of ours
    subscription_identifier_in_publish, ///< a client's PUBLISH carried a Subscription Identifier
    outbound_topic_alias_invalid, ///< a Topic Alias above the server's maximum (detail 0) or unset
                                  ///< (1)
    session_present_unexpected,   ///< Session Present 1 answering Clean Start 1
    reason_code_count_mismatch,   ///< SUBACK/UNSUBACK without one code per filter; detail: type
    auth_without_method, ///< AUTH, or a CONNACK method, though CONNECT had none; detail: type
    authentication_method_mismatch, ///< AUTH/CONNACK without CONNECT's method; detail: type
    unexpected_auth,              ///< AUTH outside an authentication exchange; detail: reason code
    reauthentication_unavailable, ///< no authenticator (detail 0) or method (1) in CONNECT
    authentication_in_progress,   ///< reauthenticate() while one is under way
    restore_refused,              ///< restore_in_flight() refused; detail: why (1-5)
    session_expiry_in_server_disconnect, ///< the server's DISCONNECT set Session Expiry Interval
};

namespace detail {

inline std::string session_rule_message(session_errc e, unsigned value) {
    const auto hex = [&] { return detail::hex_byte(value); };
    switch (e) {
    case session_errc::connection_refused:
        return "connection refused: " +
               std::string{to_string(packet_type::connack, static_cast<std::uint8_t>(value))} +
               " (CONNACK " + hex() + ")";
    case session_errc::connection_refused_v3: {
        std::string text{to_string(static_cast<connect_return_code>(value))};
        const std::string prefix = "Connection Refused, "; // the table's wording; said once already
        if (text.starts_with(prefix))
            text.erase(0, prefix.size());
        return "connection refused: " + text + " (CONNACK return code " + std::to_string(value) +
               ")";
    }
    case session_errc::not_connected: return "not connected";
    case session_errc::already_connecting: return "a connection is already open or being opened";
    case session_errc::keep_alive_timeout:
        return "no packet from the server within 1.5 times the keep alive: connection closed "
               "(MQTT 5 §3.1.2.10)";
    case session_errc::server_disconnected:
        return "the server disconnected: " +
               std::string{to_string(packet_type::disconnect, static_cast<std::uint8_t>(value))} +
               " (DISCONNECT " + hex() + ")";
    case session_errc::connection_lost: return "the connection was lost";
    case session_errc::malformed_packet:
        return "the server sent a malformed packet (DISCONNECT 0x81)";
    case session_errc::unexpected_packet:
        return "the server sent a " + std::string{to_string(static_cast<packet_type>(value))} +
               " packet where none may come (protocol error, DISCONNECT 0x82)";
    case session_errc::unknown_packet_id:
        return "the server acknowledged a packet identifier not in use: " +
               std::string{to_string(static_cast<packet_type>(value))} +
               " (protocol error, DISCONNECT 0x82)";
    case session_errc::receive_maximum_exceeded:
        return "the server sent more unacknowledged QoS 1/2 messages than our Receive Maximum "
               "[MQTT-3.3.4-9] "
               "(DISCONNECT 0x93)";
    case session_errc::topic_alias_invalid:
        return "the server used a topic alias of 0, above our Topic Alias Maximum, or never set "
               "(MQTT 5 §3.3.2.3.4, DISCONNECT 0x94)";
    case session_errc::packet_too_large:
        return "the server sent a packet larger than our Maximum Packet Size [MQTT-3.1.2-24] "
               "(DISCONNECT 0x95)";
    case session_errc::outbound_packet_too_large:
        return "packet larger than the server's Maximum Packet Size [MQTT-3.2.2-15]";
    case session_errc::send_quota_exhausted:
        return "the server's Receive Maximum is reached: no more QoS 1/2 messages until one is "
               "acknowledged "
               "[MQTT-4.9.0-2]";
    case session_errc::packet_ids_exhausted: return "every packet identifier is in use";
    case session_errc::qos_not_supported:
        return "QoS above the server's Maximum QoS [MQTT-3.2.2-11]";
    case session_errc::retain_not_supported:
        return "retain is not available on this server [MQTT-3.2.2-14]";
    case session_errc::message_expired:
        return "the message expired before it could be delivered (MQTT 5 §3.3.2.3.3)";
    case session_errc::publish_refused:
        return "the server refused the message: " +
               std::string{to_string(packet_type::puback, static_cast<std::uint8_t>(value))} +
               " (" + hex() + ")";
    case session_errc::subscription_identifiers_not_supported:
        return "the server does not support subscription identifiers (MQTT 5 §3.2.2.3.12)";
    case session_errc::shared_subscriptions_not_supported:
        return "the server does not support shared subscriptions (MQTT 5 §3.2.2.3.13)";
    case session_errc::wildcard_subscriptions_not_supported:
        return "the server does not support wildcard subscriptions (MQTT 5 §3.2.2.3.11)";
    case session_errc::authentication_failed:
        switch (value) {
        case 1:
            return "authentication failed: the authenticator rejected the server's AUTH Continue "
                   "authentication (MQTT 5 §4.12, DISCONNECT 0x80)";
        case 2:
            return "authentication failed: the authenticator rejected the server's Success "
                   "(CONNACK or AUTH 0x00) (MQTT 5 §4.12, DISCONNECT 0x80)";
        default: return "authentication failed (AUTH)";
        }
    case session_errc::subscription_identifier_in_publish:
        return "a client's PUBLISH must not carry a Subscription Identifier [MQTT-3.3.4-6]";
    case session_errc::outbound_topic_alias_invalid:
        if (value == 1)
            return "Topic Alias with an empty topic, but this connection never set that alias "
                   "(MQTT 5 §3.3.2.3.4)";
        return "Topic Alias above the server's Topic Alias Maximum [MQTT-3.3.2-9] [MQTT-3.2.2-18]";
    case session_errc::session_present_unexpected:
        return "the server answered Clean Start 1 with Session Present 1, but the client has no "
               "session state [MQTT-3.2.2-4] [MQTT-3.2.2-2] (3.1.1: [MQTT-3.2.2-1]; protocol "
               "error, DISCONNECT 0x82)";
    case session_errc::reason_code_count_mismatch:
        if (static_cast<packet_type>(value) == packet_type::unsuback)
            return "the server's UNSUBACK does not carry one reason code per topic filter of the "
                   "UNSUBSCRIBE [MQTT-3.11.3-1] (protocol error, DISCONNECT 0x82)";
        return "the server's SUBACK does not carry one reason code per topic filter of the "
               "SUBSCRIBE [MQTT-3.8.4-6] [MQTT-3.9.3-1] (3.1.1: [MQTT-3.8.4-5]; protocol error, "
               "DISCONNECT 0x82)";
    case session_errc::auth_without_method:
        if (static_cast<packet_type>(value) == packet_type::connack)
            return "the server's CONNACK carries an Authentication Method, but CONNECT carried "
                   "none [MQTT-4.12.0-6] (protocol error, DISCONNECT 0x82)";
        return "the server sent AUTH, but CONNECT carried no Authentication Method "
               "[MQTT-4.12.0-6] (protocol error, DISCONNECT 0x82)";
    case session_errc::authentication_method_mismatch:
        return "the server's " + std::string{to_string(static_cast<packet_type>(value))} +
               " does not carry the Authentication Method of CONNECT [MQTT-4.12.0-5] (protocol "
               "error, DISCONNECT 0x82)";
    case session_errc::unexpected_auth:
        return "the server sent AUTH " +
               std::string{to_string(packet_type::auth, static_cast<std::uint8_t>(value))} + " (" +
               hex() +
               ") outside an authentication exchange it may end or continue (MQTT 5 "
               "§4.12; protocol error, DISCONNECT 0x82)";
    case session_errc::reauthentication_unavailable:
        if (value == 1)
            return "AUTH may only be sent when CONNECT carried an Authentication Method "
                   "[MQTT-4.12.0-7]";
        return "re-authentication needs the authenticator whose Authentication Method CONNECT "
               "carried [MQTT-4.12.1-1]";
    case session_errc::authentication_in_progress:
        return "a re-authentication is already in progress (MQTT 5 §4.12.1)";
    case session_errc::session_expiry_in_server_disconnect:
        return "the server's DISCONNECT carries a Session Expiry Interval [MQTT-3.14.2-2] "
               "(protocol error, DISCONNECT 0x82)";
    case session_errc::restore_refused: {
        const char* why = "";
        switch (value) {
        case 1: why = "session state is restored only while disconnected"; break;
        case 2: why = "packet identifier 0 [MQTT-2.2.1-3]"; break;
        case 3: why = "the packet identifier is already in flight"; break;
        case 4: why = "the packet is not a QoS 1/2 PUBLISH with that packet identifier"; break;
        case 5:
            why = "the PUBLISH has a Topic Alias or no topic, which a new connection cannot "
                  "resolve [MQTT-3.3.2-7]";
            break;
        default: break;
        }
        return std::string{"cannot restore the in-flight packet: "} + why;
    }
    case session_errc::session_expired:
        return "the server kept no session state for this client (Session Present 0)";
    }
    return "unknown session error";
}

class session_category_impl final : public std::error_category {
public:
    const char* name() const noexcept override { return "ctmqtt.session"; }
    std::string message(int v) const override {
        return session_rule_message(static_cast<session_errc>(v & 0xFF),
                                    static_cast<unsigned>((v >> 8) & 0xFF));
    }
    std::error_condition default_error_condition(int v) const noexcept override {
        return {v & 0xFF, *this};
    }
};

} // namespace detail

inline const std::error_category& session_category() noexcept {
    static const detail::session_category_impl category;
    return category;
}

inline std::error_code make_error_code(session_errc e, unsigned detail = 0) noexcept {
    return {static_cast<int>(static_cast<unsigned>(e) | ((detail & 0xFF) << 8)),
            session_category()};
}

inline std::error_condition make_error_condition(session_errc e) noexcept {
    return {static_cast<int>(e), session_category()};
}

} // namespace ctmqtt

template <>
struct std::is_error_condition_enum<ctmqtt::session_errc> : std::true_type {};
// ---- end include/ctmqtt/core/session_error.hpp ----

namespace ctmqtt {

/// Time as the session sees it: whatever the caller says "now" is.
using session_clock = std::chrono::steady_clock;
using session_time = session_clock::time_point;

/// When the session replaces PUBLISH topics by Topic Aliases (MQTT 5 §3.3.2.3.4).
enum class topic_alias_policy : std::uint8_t {
    never,     ///< topics go as given (a Topic Alias the message carries is still honoured)
    when_free, ///< a topic gets an alias while the server's Topic Alias Maximum allows a new one
    always,    ///< as when_free, and a full table gives the least recently used alias a new topic
};

/// One outbound packet in flight, as a persistent store keeps it.
struct in_flight_packet {
    std::uint16_t packet_id = 0;
    bool pubrel = false; ///< true: PUBREL pending (QoS 2 after PUBREC); false: PUBLISH awaiting ack
    bytes_view packet;   ///< the encoded PUBLISH (full topic, no Topic Alias); empty for PUBREL
};

/// Enhanced authentication (MQTT 5 §4.12): the mechanism (SCRAM, Kerberos,
/// ...) behind the Authentication Method. Not owned by the session; it must
/// outlive it. Errors it returns reject the server (DISCONNECT 0x80).
class authenticator {
public:
    virtual ~authenticator() = default;
    /// The Authentication Method; the view must stay valid while the session lives.
    virtual std::string_view method() const = 0;
    /// Data for CONNECT (and for the AUTH 0x19 that starts a re-authentication);
    /// leave empty for none.
    virtual std::error_code initial_data(std::vector<std::byte>& out) {
        out.clear();
        return {};
    }
    /// The server sent AUTH 0x18 (Continue authentication) with this data: fill the response.
    virtual std::error_code on_challenge(bytes_view server_data,
                                         std::vector<std::byte>& response) = 0;
    /// Authentication (or re-authentication) succeeded: CONNACK 0x00 or AUTH
    /// 0x00, with the server's data. An error rejects the server.
    virtual std::error_code on_success(bytes_view server_data) {
        (void)server_data;
        return {};
    }
};

/// What the session tells its owner. Views in the packets passed are valid
/// only during the call.
class session_handler {
public:
    virtual ~session_handler() = default;
    /// CONNACK arrived. `ec` is empty when the server accepted the connection.
    virtual void on_connack(const connack& ack, std::error_code ec) = 0;
    /// An application message. QoS 2 messages are delivered exactly once.
    virtual void on_message(const publish& message) = 0;
    /// An outbound QoS 1/2 PUBLISH is finished: acknowledged (PUBACK or
    /// PUBCOMP), refused by a reason code, or expired. QoS 0 messages are
    /// finished when written and are not reported here.
    virtual void on_publish_done(std::uint16_t packet_id, std::error_code ec) = 0;
    virtual void on_suback(const suback& ack) = 0;
    virtual void on_unsuback(const unsuback& ack) = 0;
    /// AUTH from the server (enhanced authentication, MQTT 5 §4.12), after the
    /// authenticator (if any) handled it.
    virtual void on_auth(const auth&) {}
    /// A re-authentication (session::reauthenticate) ended: empty on AUTH
    /// 0x00 accepted by the authenticator, else why it failed.
    virtual void on_reauthenticated(std::error_code) {}
    /// The server sent DISCONNECT (MQTT 5): its Reason String and Server
    /// Reference (0x9C Use another server, 0x9D Server moved) are here.
    /// on_connection_closed follows.
    virtual void on_server_disconnect(const disconnect&) {}
    /// For a persistent store: a QoS 1/2 PUBLISH was stored (`pubrel` false,
    /// `packet` its encoding) or turned into a pending PUBREL (`pubrel` true,
    /// `packet` empty) under this identifier.
    virtual void on_stored(std::uint16_t, bool, bytes_view) {}
    /// For a persistent store: the identifier's PUBLISH or PUBREL is finished.
    virtual void on_released(std::uint16_t) {}
    /// For a persistent store: an inbound QoS 2 identifier now awaits PUBREL
    /// (true: the message was delivered and PUBREC sent) or no longer does.
    virtual void on_inbound_qos2(std::uint16_t, bool) {}
    /// The connection is over: the server sent DISCONNECT, broke the protocol,
    /// stopped answering, or the transport closed. The owner closes the
    /// transport once output() is written; session state is kept for a resume.
    virtual void on_connection_closed(std::error_code ec) = 0;
};

namespace detail {

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};

// The outbound topic aliases of one network connection (MQTT 5 §3.3.2.3.4):
// the topic each alias stands for on the server and the alias of each topic,
// both found in constant time (a topic is looked up by view: no allocation),
// and the aliases in order of use, for replacing the least recently used.
class outbound_alias_table {
public:
    void reset(std::uint16_t maximum) {
        by_topic_.clear();
        topic_of_.resize(1);
        prev_.assign(1, 0);
        next_.assign(1, 0);
        maximum_ = maximum;
        next_unused_ = 1;
    }

    /// The alias the server knows `topic` by; 0: none.
    std::uint16_t find(std::string_view topic) const noexcept {
        const auto it = by_topic_.find(topic);
        return it == by_topic_.end() ? std::uint16_t{0} : it->second;
    }

    /// The topic `alias` stands for on the server; nullptr if unset.
    const std::string* topic(std::uint16_t alias) const noexcept {
        return alias < topic_of_.size() && !topic_of_[alias].empty() ? &topic_of_[alias] : nullptr;
    }

    /// The alias a topic without one gets: one not used yet on this
    /// connection, else (`replace`) the least recently used; 0: none.
    std::uint16_t candidate(bool replace) const noexcept {
        if (next_unused_ <= maximum_)
            return static_cast<std::uint16_t>(next_unused_);
        return replace ? next_[0] : std::uint16_t{0};
    }

    /// The server now maps `alias` to `topic`; the alias is the most recently used.
    void assign(std::uint16_t alias, std::string_view topic) {
        if (alias >= topic_of_.size()) {
            topic_of_.resize(alias + 1u);
            prev_.resize(alias + 1u, 0);
            next_.resize(alias + 1u, 0);
        }
        auto& current = topic_of_[alias];
        map_type::node_type node; // the replaced topic's entry, reused for the new one
        if (!current.empty()) {
            if (auto it = by_topic_.find(std::string_view{current});
                it != by_topic_.end() && it->second == alias)
                node = by_topic_.extract(it);
            unlink(alias);
        }
        current.assign(topic);
        // A topic that had another alias keeps it on the server; the table uses the new one.
        if (auto it = by_topic_.find(topic); it != by_topic_.end()) {
            it->second = alias;
        } else if (node) {
            node.key().assign(topic);
            node.mapped() = alias;
            by_topic_.insert(std::move(node));
        } else {
            by_topic_.emplace(std::string{topic}, alias);
        }
        link_last(alias);
        while (next_unused_ <= maximum_ && next_unused_ < topic_of_.size() &&
               !topic_of_[next_unused_].empty())
            ++next_unused_;
    }

    /// `alias` was used again: it becomes the most recently used.
    void touch(std::uint16_t alias) noexcept {
        unlink(alias);
        link_last(alias);
    }

private:
    using map_type = std::unordered_map<std::string, std::uint16_t, string_hash, std::equal_to<>>;

    // A doubly linked list through prev_/next_, with 0 as its head: next_[0]
    // is the least recently used alias, prev_[0] the most recently used.
    void unlink(std::uint16_t a) noexcept {
        next_[prev_[a]] = next_[a];
        prev_[next_[a]] = prev_[a];
    }
    void link_last(std::uint16_t a) noexcept {
        const auto last = prev_[0];
        next_[last] = a;
        prev_[a] = last;
        next_[a] = 0;
        prev_[0] = a;
    }

    map_type by_topic_;
    std::vector<std::string> topic_of_ = std::vector<std::string>(1); ///< by alias; empty: unused
    std::vector<std::uint16_t> prev_ = std::vector<std::uint16_t>(1, 0);
    std::vector<std::uint16_t> next_ = std::vector<std::uint16_t>(1, 0);
    std::uint32_t maximum_ = 0;
    std::uint32_t next_unused_ = 1; ///< the lowest alias not used yet on this connection
};

} // namespace detail

class session {
public:
    struct options {
        protocol_version version = protocol_version::v5;
        /// The CONNECT to send; its version member is set from `version`.
        /// Views in it (client id, will, credentials) must outlive the session.
        ctmqtt::connect connect;
        /// How many QoS 1/2 messages the server may send us unacknowledged
        /// (sent as Receive Maximum in MQTT 5).
        std::uint16_t receive_maximum = 65'535;
        /// The largest packet we accept (0: no limit; sent as Maximum Packet Size).
        std::uint32_t maximum_packet_size = 0;
        /// How many topic aliases the server may set for us (Topic Alias Maximum).
        std::uint16_t topic_alias_maximum = 0;
        /// Whether the session gives topics aliases on the way out (MQTT 5),
        /// within the server's Topic Alias Maximum.
        topic_alias_policy outbound_topic_aliases = topic_alias_policy::never;
        /// With Session Present 0 after a resume, or at a connect() with Clean
        /// Start 1, publish the messages that were still in flight again as new
        /// messages (else they fail with session_errc::session_expired).
        bool republish_after_session_loss = true;
        /// Enhanced authentication (MQTT 5 only; not owned): CONNECT carries its
        /// Authentication Method and data, and it answers the server's AUTH.
        authenticator* auth = nullptr;
    };

    /// What the server granted in CONNACK (MQTT 5 §3.2.2.3); defaults are
    /// the specification's when a property is absent.
    struct server_limits {
        std::uint16_t receive_maximum = 65'535;
        std::uint32_t maximum_packet_size = 0; ///< 0: no limit
        std::uint16_t topic_alias_maximum = 0;
        ctmqtt::qos maximum_qos = ctmqtt::qos::exactly_once;
        bool retain_available = true;
        bool wildcard_subscription_available = true;
        bool subscription_identifier_available = true;
        bool shared_subscription_available = true;
        std::uint16_t keep_alive = 0; ///< the keep alive in force (Server Keep Alive wins)
        std::string assigned_client_id;
    };

    enum class state : std::uint8_t { disconnected, connecting, connected, closing };

    // By const reference: options holds views only, so a copy costs what a move
    // would, and GCC 12 at -O1 sees no move through a by-value parameter (it
    // warned that the will's bytes may be used uninitialised when they were
    // moved twice).
    session(const options& opts, session_handler& handler) : options_(opts), handler_(handler) {
        options_.connect.version = options_.version;
    }

    session(const session&) = delete;
    session& operator=(const session&) = delete;

    state current_state() const noexcept { return state_; }

    /// Changes the Clean Start flag (Clean Session in 3.1/3.1.1) of the next
    /// CONNECT: an owner that asked for a session the server keeps connects
    /// with clean start the first time and resumes with it off afterwards.
    void set_clean_start(bool on) noexcept { options_.connect.clean_start = on; }
    /// Changes the Client Identifier of the next CONNECT: an owner whose
    /// CONNECT had an empty one reconnects with the Assigned Client
    /// Identifier (MQTT 5 §3.2.2.3.7), so the server resumes the session it
    /// keeps under it. The view must outlive the session, as those in options
    /// do: copy limits().assigned_client_id, which connect() clears.
    void set_client_id(std::string_view id) noexcept { options_.connect.client_id = id; }
    const server_limits& limits() const noexcept { return limits_; }
    protocol_version version() const noexcept { return options_.version; }

    // ------------------------------------------------------------ lifecycle

    /// Starts a connection: queues CONNECT. Call when the transport is open.
    /// With Clean Start 1 the client's session state is discarded here
    /// [MQTT-3.1.2-4]: in-flight messages become new messages (or fail with
    /// session_expired), pending PUBRELs finish, inbound QoS 2 state is cleared.
    std::error_code connect(session_time now) {
        if (state_ != state::disconnected)
            return make_error_code(session_errc::already_connecting);
        auto& c = options_.connect;
        if (options_.version == protocol_version::v5) {
            if (options_.receive_maximum != 65'535)
                c.properties.set<property_id::receive_maximum>(options_.receive_maximum);
            if (options_.maximum_packet_size != 0)
                c.properties.set<property_id::maximum_packet_size>(options_.maximum_packet_size);
            if (options_.topic_alias_maximum != 0)
                c.properties.set<property_id::topic_alias_maximum>(options_.topic_alias_maximum);
            if (options_.auth) {
                if (auto ec = options_.auth->initial_data(auth_data_)) {
                    authenticator_error_ = ec;
                    return ec;
                }
                c.properties.set<property_id::authentication_method>(options_.auth->method());
                auto& data = c.properties.get<property_id::authentication_data>();
                if (auth_data_.empty())
                    data.reset();
                else
                    data = bytes_view{auth_data_};
            }
        }
        input_.clear();
        output_.clear();
        output_begin_ = 0;
        // The previous server's limits (Maximum Packet Size) do not apply to this CONNECT.
        limits_ = server_limits{};
        if (auto ec = append(c, now))
            return ec;
        state_ = state::connecting;
        last_received_ = now;
        ping_outstanding_ = false;
        limits_.keep_alive = c.keep_alive;
        inbound_aliases_.clear();
        outbound_aliases_.reset(0); // per network connection [MQTT-3.3.2-7]
        reauthenticating_ = false;
        const auto method = options_.version == protocol_version::v5
                                ? c.properties.get<property_id::authentication_method>()
                                : std::nullopt;
        auth_method_sent_ = method.has_value();
        auth_method_.assign(method.value_or(std::string_view{}));
        clean_start_sent_ = c.clean_start;
        // Resends held back on the last connection are sent (or held back) anew after CONNACK.
        for (auto& s : slots_)
            s.pending = false;
        resend_queue_.clear();
        resend_head_ = 0;
        pending_resends_ = 0;
        if (c.clean_start)
            drop_session_state(); // [MQTT-3.1.2-4]
        return {};
    }

    /// The transport closed (or could not be opened). In-flight state is kept
    /// for a resume with clean start off.
    void connection_lost() {
        if (state_ == state::disconnected)
            return;
        close(make_error_code(session_errc::connection_lost), false);
    }

    /// Sends DISCONNECT; the owner closes the transport once it is written.
    /// A Reason String, then the User Properties, are left out if the packet
    /// would exceed the server's Maximum Packet Size [MQTT-3.14.2-3] [MQTT-3.14.2-4].
    std::error_code disconnect(disconnect_reason_code reason = {},
                               const disconnect_properties& props = {}) {
        if (state_ != state::connected && state_ != state::connecting)
            return make_error_code(session_errc::not_connected);
        ctmqtt::disconnect d;
        if (options_.version == protocol_version::v5) {
            d.reason_code = reason;
            d.properties = props;
            trim_properties(d);
        }
        if (auto ec = append(d, last_sent_))
            return ec;
        state_ = state::closing;
        return {};
    }

    // ------------------------------------------------------------ output and time

    /// Bytes to send, in order. consume_output() says how many were written.
    bytes_view output() const noexcept {
        return bytes_view{output_.data() + output_begin_, output_.size() - output_begin_};
    }
    /// Moves the pending output into `into` (whose old contents are dropped,
    /// its capacity reused by the session): for a writer that must keep the
    /// bytes still while the session goes on appending (an asynchronous write).
    void take_output(byte_buffer& into) {
        output_.erase_front(output_begin_);
        output_begin_ = 0;
        into.clear();
        output_.swap(into);
    }

    void consume_output(std::size_t n) noexcept {
        output_begin_ += n;
        if (output_begin_ >= output_.size()) {
            output_.clear(); // keeps its capacity: steady state allocates nothing
            output_begin_ = 0;
        }
    }

    /// When on_timer() must be called next (keep alive); nullopt if never.
    std::optional<session_time> deadline() const noexcept {
        if ((state_ != state::connected && state_ != state::connecting) || limits_.keep_alive == 0)
            return std::nullopt;
        const auto keep_alive = keep_alive_interval();
        const auto dead = last_received_ + keep_alive * 3 / 2;
        if (state_ == state::connecting || ping_outstanding_)
            return dead;
        return std::min(dead, std::min(last_sent_, last_received_) + keep_alive);
    }

    /// Keep alive: PINGREQ when nothing was sent for a keep-alive interval
    /// [MQTT-3.1.2-20], or nothing received (a server owes a busy client no
    /// packet but PINGRESP, MQTT 5 §3.1.2.10). When nothing arrived for 1.5 ×
    /// the connection is closed without DISCONNECT: the client SHOULD close
    /// the network connection (§3.1.2.10), and DISCONNECT 0x8D is the
    /// server's reason code (§3.14.2.1).
    void on_timer(session_time now) {
        if ((state_ != state::connected && state_ != state::connecting) || limits_.keep_alive == 0)
            return;
        const auto keep_alive = keep_alive_interval();
        if (now >= last_received_ + keep_alive * 3 / 2) {
            close(make_error_code(session_errc::keep_alive_timeout), false);
            return;
        }
        if (state_ == state::connected && !ping_outstanding_ &&
            now >= std::min(last_sent_, last_received_) + keep_alive) {
            (void)append(pingreq{}, now);
            ping_outstanding_ = true;
        }
    }

    // ------------------------------------------------------------ input

    /// Feeds received bytes. Every complete packet is handled at once; a
    /// partial one is kept until the rest arrives.
    void receive(bytes_view data, session_time now) {
        // After our DISCONNECT nothing more is processed [MQTT-3.14.4-1]; the owner closes.
        if (state_ == state::disconnected || state_ == state::closing)
            return;
        if (!data.empty())
            last_received_ = now;
        if (input_.empty()) {
            const auto used = consume_packets(data, now);
            if (used < data.size() && state_ != state::disconnected)
                input_.assign(data.begin() + static_cast<std::ptrdiff_t>(used), data.end());
            return;
        }
        input_.insert(input_.end(), data.begin(), data.end());
        const auto used = consume_packets(bytes_view{input_}, now);
        input_.erase(input_.begin(),
                     input_.begin() + static_cast<std::ptrdiff_t>(std::min(used, input_.size())));
    }

    // ------------------------------------------------------------ operations

    /// Sends a PUBLISH. For QoS 1/2 the session assigns the packet identifier
    /// (returned), keeps a copy for resending (with the full topic and no
    /// Topic Alias) and reports the outcome through on_publish_done; QoS 0
    /// returns 0. The topic may go as a Topic Alias (options.outbound_topic_aliases).
    result<std::uint16_t> publish(const ctmqtt::publish& message, session_time now) {
        if (state_ != state::connected)
            return make_error_code(session_errc::not_connected);
        if (message.qos > limits_.maximum_qos)
            return make_error_code(session_errc::qos_not_supported);
        if (message.retain && !limits_.retain_available)
            return make_error_code(session_errc::retain_not_supported);
        if (!message.properties.get<property_id::subscription_identifier>()
                 .empty()) // [MQTT-3.3.4-6]
            return make_error_code(session_errc::subscription_identifier_in_publish);
        if (auto alias = message.properties.get<property_id::topic_alias>();
            alias && *alias > limits_.topic_alias_maximum) // [MQTT-3.3.2-9] [MQTT-3.2.2-18]
            return make_error_code(session_errc::outbound_topic_alias_invalid);
        if (message.qos == qos::at_most_once && !message.dup && message.packet_id == 0 &&
            !aliases_involved(message)) { // it goes as given: no copy
            if (auto ec = append(message, now))
                return ec;
            return std::uint16_t{0};
        }
        ctmqtt::publish p = message;
        p.dup = false;
        alias_plan plan;
        if (auto ec = plan_alias(p, plan))
            return ec;
        // p is now the stored form: the full topic, no Topic Alias.
        if (p.qos == qos::at_most_once) {
            p.packet_id = 0;
            if (auto ec = plan.alias != 0 ? append(wire_form(p, plan), now) : append(p, now))
                return ec;
            commit_alias(plan, p.topic);
            return std::uint16_t{0};
        }
        // [MQTT-3.3.4-7]; resends waiting for quota go before any new message [MQTT-4.6.0-1]
        if (outbound_publishes_ >= limits_.receive_maximum || pending_resends_ > 0)
            return make_error_code(session_errc::send_quota_exhausted);
        auto id = allocate_id();
        if (!id)
            return make_error_code(session_errc::packet_ids_exhausted);
        p.packet_id = *id;
        auto& slot = slots_[*id - 1u];
        if (auto ec = encode_into(p, slot.packet)) {
            free_id(*id);
            return ec;
        }
        if (plan.alias != 0) {
            if (auto ec = append(wire_form(p, plan), now)) {
                free_id(*id);
                return ec;
            }
        } else {
            write_bytes(slot.packet, now);
        }
        commit_alias(plan, p.topic);
        slot.kind =
            p.qos == qos::at_least_once ? slot_kind::awaiting_puback : slot_kind::awaiting_pubrec;
        slot.sent_at = now;
        slot.expiry_offset = expiry_offset(p, slot.packet);
        slot.sequence = ++sequence_;
        ++outbound_publishes_;
        handler_.on_stored(*id, false, slot.packet);
        return *id;
    }

    /// Sends a SUBSCRIBE; on_suback reports the result.
    result<std::uint16_t> subscribe(std::span<const subscription> subscriptions,
                                    const subscribe_properties& props, session_time now) {
        if (state_ != state::connected)
            return make_error_code(session_errc::not_connected);
        if (options_.version == protocol_version::v5) {
            if (props.get<property_id::subscription_identifier>() &&
                !limits_.subscription_identifier_available)
                return make_error_code(session_errc::subscription_identifiers_not_supported);
            for (const auto& s : subscriptions) {
                if (is_shared_subscription(s.topic_filter) &&
                    !limits_.shared_subscription_available)
                    return make_error_code(session_errc::shared_subscriptions_not_supported);
                if (contains_wildcard(s.topic_filter) && !limits_.wildcard_subscription_available)
                    return make_error_code(session_errc::wildcard_subscriptions_not_supported);
            }
        }
        ctmqtt::subscribe s;
        s.subscriptions = subscriptions;
        s.properties = props;
        return send_request(s, slot_kind::awaiting_suback, subscriptions.size(), now);
    }

    /// Sends an UNSUBSCRIBE; on_unsuback reports the result.
    result<std::uint16_t> unsubscribe(std::span<const std::string_view> filters,
                                      const unsubscribe_properties& props, session_time now) {
        if (state_ != state::connected)
            return make_error_code(session_errc::not_connected);
        ctmqtt::unsubscribe u;
        u.topic_filters = filters;
        u.properties = props;
        return send_request(u, slot_kind::awaiting_unsuback, filters.size(), now);
    }

    /// Sends AUTH (enhanced authentication driven by the owner, MQTT 5 §4.12);
    /// only if CONNECT carried an Authentication Method [MQTT-4.12.0-7].
    /// A Reason String, then the User Properties, are left out if the packet
    /// would exceed the server's Maximum Packet Size [MQTT-3.15.2-2] [MQTT-3.15.2-3].
    std::error_code send_auth(const ctmqtt::auth& a, session_time now) {
        if (state_ != state::connected && state_ != state::connecting)
            return make_error_code(session_errc::not_connected);
        if (!auth_method_sent_) // [MQTT-4.12.0-7]
            return make_error_code(session_errc::reauthentication_unavailable, 1);
        ctmqtt::auth trimmed = a;
        trim_properties(trimmed);
        return append(trimmed, now);
    }

    /// Starts a re-authentication (MQTT 5 §4.12.1): AUTH 0x19 with the
    /// authenticator's method [MQTT-4.12.1-1] and initial data. The exchange
    /// ends with AUTH 0x00 or the end of the connection; on_reauthenticated
    /// reports it. Needs an open connection whose CONNECT the authenticator made.
    std::error_code reauthenticate(session_time now) {
        if (state_ != state::connected)
            return make_error_code(session_errc::not_connected);
        if (!options_.auth || !auth_method_sent_)
            return make_error_code(session_errc::reauthentication_unavailable);
        if (reauthenticating_)
            return make_error_code(session_errc::authentication_in_progress);
        if (auto ec = options_.auth->initial_data(auth_data_)) {
            authenticator_error_ = ec;
            return ec;
        }
        if (auto ec = append(auth_packet(reason::re_authenticate), now))
            return ec;
        reauthenticating_ = true;
        return {};
    }

    /// The authenticator's own error behind the last authentication_failed.
    std::error_code authenticator_error() const noexcept { return authenticator_error_; }

    /// QoS 1/2 messages sent and not yet finished.
    std::size_t publishes_in_flight() const noexcept { return outbound_publishes_; }

    // ------------------------------------------------------------ persistent state

    /// Calls f(in_flight_packet) for every outbound PUBLISH awaiting its
    /// acknowledgement and every pending PUBREL, in the order they would be
    /// resent. The views are valid during the call.
    template <class F>
    void for_each_in_flight(F&& f) const {
        for (const auto id : resend_order()) {
            const auto& s = slots_[id - 1u];
            if (s.kind == slot_kind::awaiting_pubcomp)
                f(in_flight_packet{id, true, {}});
            else if (is_publish(s.kind))
                f(in_flight_packet{id, false, bytes_view{s.packet}});
        }
    }

    /// Puts back one in-flight packet saved by for_each_in_flight (call in
    /// that order), while disconnected: resumed with the next connection. A
    /// PUBLISH is checked by decoding it; an identifier already in use is refused.
    std::error_code restore_in_flight(std::uint16_t packet_id, bool pubrel_pending,
                                      bytes_view packet) {
        if (state_ != state::disconnected)
            return make_error_code(session_errc::restore_refused, 1);
        if (packet_id == 0)
            return make_error_code(session_errc::restore_refused, 2);
        if (packet_id <= slots_.size() && slots_[packet_id - 1u].kind != slot_kind::free)
            return make_error_code(session_errc::restore_refused, 3);
        std::optional<ctmqtt::publish> p;
        if (!pubrel_pending) {
            p.emplace();
            if (auto ec = decode(packet, options_.version, *p))
                return ec;
            if (p->qos == qos::at_most_once || p->packet_id != packet_id)
                return make_error_code(session_errc::restore_refused, 4);
            if (p->topic.empty() || p->properties.get<property_id::topic_alias>())
                return make_error_code(session_errc::restore_refused, 5);
        }
        while (slots_.size() <
               packet_id) { // free_ids_ may now name packet_id: allocate_id skips it
            slots_.emplace_back();
            free_ids_.push_back(static_cast<std::uint16_t>(slots_.size()));
        }
        auto& s = slots_[packet_id - 1u];
        if (p) {
            if (auto ec =
                    encode_into(*p, s.packet)) // our own encoding: expiry_offset finds the value
                return ec;
            s.kind = p->qos == qos::at_least_once ? slot_kind::awaiting_puback
                                                  : slot_kind::awaiting_pubrec;
            s.expiry_offset = expiry_offset(*p, s.packet);
        } else {
            s.kind = slot_kind::awaiting_pubcomp;
            s.packet.clear();
            s.expiry_offset = 0;
        }
        s.sent_at = session_time::min(); // unknown: the expiry count starts at the next resume
        s.sequence = ++sequence_;
        s.pending = false;
        ++outbound_publishes_;
        return {};
    }

    /// Calls f(packet_id) for every inbound QoS 2 identifier awaiting PUBREL.
    template <class F>
    void for_each_inbound_qos2(F&& f) const {
        if (!inbound_qos2_)
            return;
        for (std::size_t w = 0; w < inbound_qos2_words; ++w)
            for (auto bits = inbound_qos2_[w]; bits != 0; bits &= bits - 1)
                f(static_cast<std::uint16_t>(w * 64 +
                                             static_cast<std::size_t>(std::countr_zero(bits))));
    }

    /// Marks an inbound QoS 2 identifier as awaiting PUBREL (saved by
    /// for_each_inbound_qos2): a resend of that message is not delivered again.
    /// The first one allocates the session's table of them (8 KiB).
    void restore_inbound_qos2(std::uint16_t packet_id) {
        if (packet_id != 0)
            mark_inbound_qos2(packet_id, true);
    }

private:
    enum class slot_kind : std::uint8_t {
        free,
        awaiting_puback,  // QoS 1 sent
        awaiting_pubrec,  // QoS 2 sent
        awaiting_pubcomp, // QoS 2, PUBREL sent
        awaiting_suback,
        awaiting_unsuback,
    };

    static constexpr bool is_publish(slot_kind k) noexcept {
        return k == slot_kind::awaiting_puback || k == slot_kind::awaiting_pubrec;
    }
    static constexpr bool counts_against_quota(slot_kind k) noexcept {
        return is_publish(k) || k == slot_kind::awaiting_pubcomp;
    }

    // One in-flight packet; its packet identifier is its index + 1, so
    // allocation is a pop from the free list and lookup an index.
    struct slot {
        slot_kind kind = slot_kind::free;
        bool pending = false; ///< to be resent once the server's Receive Maximum allows
        /// Published again as a new message after the session was lost, and not
        /// written since: this session's server has never had it, so Message
        /// Expiry still applies (to nothing else [MQTT-4.3.3-7]).
        bool unsent = false;
        std::uint32_t expiry_offset = 0; ///< where the Message Expiry Interval value is, 0 if none
        std::size_t filters = 0;         ///< SUBSCRIBE/UNSUBSCRIBE: topic filters sent
        byte_buffer packet;              ///< the encoded PUBLISH, kept for resending
        session_time sent_at{};
        std::uint64_t sequence = 0; ///< order of the PUBLISH, then of its PUBREC (MQTT 5 §4.6)
    };

    // ------------------------------------------------------------ packet identifiers

    std::optional<std::uint16_t> allocate_id() {
        // restore_in_flight may leave identifiers in use on the list: skipped here
        while (!free_ids_.empty()) {
            const auto id = free_ids_.back();
            free_ids_.pop_back();
            if (slots_[id - 1u].kind == slot_kind::free)
                return id;
        }
        if (slots_.size() >= 65'535)
            return std::nullopt;
        slots_.emplace_back();
        return static_cast<std::uint16_t>(slots_.size());
    }

    void free_id(std::uint16_t id) {
        auto& s = slots_[id - 1u];
        const bool stored = counts_against_quota(s.kind);
        if (stored)
            --outbound_publishes_;
        if (s.pending) {
            s.pending = false;
            --pending_resends_;
        }
        s.kind = slot_kind::free;
        s.unsent = false;
        s.packet.clear();
        free_ids_.push_back(id);
        if (stored)
            handler_.on_released(id);
    }

    // Frees a PUBLISH's identifier and reports its outcome.
    void finish_publish(std::uint16_t id, std::error_code ec) {
        free_id(id);
        handler_.on_publish_done(id, ec);
    }

    slot* find_slot(std::uint16_t id) noexcept {
        if (id == 0 || id > slots_.size() || slots_[id - 1u].kind == slot_kind::free)
            return nullptr;
        return &slots_[id - 1u];
    }

    // The in-flight identifiers in the order first sent (PUBLISH) or
    // acknowledged (PUBREC) [MQTT-4.6.0-1, -4]: identifiers are reused, so
    // their order is not the send order.
    std::vector<std::uint16_t> resend_order() const {
        std::vector<std::uint16_t> order;
        for (std::size_t i = 0; i < slots_.size(); ++i)
            if (slots_[i].kind != slot_kind::free)
                order.push_back(static_cast<std::uint16_t>(i + 1));
        std::sort(order.begin(), order.end(), [this](std::uint16_t a, std::uint16_t b) {
            return slots_[a - 1u].sequence < slots_[b - 1u].sequence;
        });
        return order;
    }

    // SUBSCRIBE or UNSUBSCRIBE: an identifier, the packet, and the count of
    // filters the acknowledgement must answer [MQTT-3.8.4-6] [MQTT-3.11.3-1].
    template <class P>
    result<std::uint16_t> send_request(P& p, slot_kind kind, std::size_t filters,
                                       session_time now) {
        auto id = allocate_id();
        if (!id)
            return make_error_code(session_errc::packet_ids_exhausted);
        p.packet_id = *id;
        if (auto ec = append(p, now)) {
            free_id(*id);
            return ec;
        }
        auto& s = slots_[*id - 1u];
        s.kind = kind;
        s.filters = filters;
        return *id;
    }

    // ------------------------------------------------------------ topic aliases

    struct alias_plan {
        std::uint16_t alias = 0; ///< 0: the topic goes as it is
        bool with_topic = true;  ///< false: the alias alone (the server knows it)
    };

    // Whether plan_alias has anything to do for this PUBLISH.
    bool aliases_involved(const ctmqtt::publish& p) const noexcept {
        return options_.version == protocol_version::v5 &&
               (options_.outbound_topic_aliases != topic_alias_policy::never ||
                p.properties.get<property_id::topic_alias>().has_value());
    }

    // Which alias the PUBLISH goes with (MQTT 5 §3.3.2.3.4), without changing
    // the table yet; leaves `p` in its stored form (full topic, no alias).
    std::error_code plan_alias(ctmqtt::publish& p, alias_plan& plan) const {
        if (!aliases_involved(p))
            return {};
        auto& given = p.properties.get<property_id::topic_alias>();
        if (given) { // the message's own alias: an empty topic needs one set on this connection
            plan.alias = *given;
            plan.with_topic = !p.topic.empty();
            if (p.topic.empty()) {
                const auto* topic = outbound_aliases_.topic(*given);
                if (!topic)
                    return make_error_code(session_errc::outbound_topic_alias_invalid, 1);
                p.topic = *topic;
            }
            given.reset();
            return {};
        }
        if (options_.outbound_topic_aliases == topic_alias_policy::never)
            return {};
        if (const auto known = outbound_aliases_.find(p.topic)) {
            plan = {known, false};
        } else if (const auto fresh = outbound_aliases_.candidate(options_.outbound_topic_aliases ==
                                                                  topic_alias_policy::always)) {
            plan = {fresh, true};
        }
        return {};
    }

    // The PUBLISH as it goes on this connection.
    static ctmqtt::publish wire_form(const ctmqtt::publish& stored, const alias_plan& plan) {
        ctmqtt::publish w = stored;
        w.properties.set<property_id::topic_alias>(plan.alias);
        if (!plan.with_topic)
            w.topic = {};
        return w;
    }

    // The PUBLISH was written: the server now knows the alias.
    void commit_alias(const alias_plan& plan, std::string_view topic) {
        if (plan.alias == 0)
            return;
        if (plan.with_topic)
            outbound_aliases_.assign(plan.alias, topic);
        else
            outbound_aliases_.touch(plan.alias);
    }

    // ------------------------------------------------------------ output

    // Encodes `p` whole at the end of `out` (checked, sized and written in one
    // pass, nothing zero-filled); a packet above the server's Maximum Packet
    // Size is refused and nothing is written.
    template <class P>
    std::error_code encode_to(const P& p, byte_buffer& out) {
        return encode_append(p, options_.version, out, limits_.maximum_packet_size, [] {
            return make_error_code(session_errc::outbound_packet_too_large);
        });
    }

    // `out` becomes the encoding of `p` (a PUBLISH stored for resending).
    template <class P>
    std::error_code encode_into(const P& p, byte_buffer& out) {
        out.clear();
        return encode_to(p, out);
    }

    // Queues `p` for sending.
    template <class P>
    std::error_code append(const P& p, session_time now) {
        if (auto ec = encode_to(p, output_))
            return ec;
        last_sent_ = now;
        return {};
    }

    void write_bytes(bytes_view bytes, session_time now) {
        output_.append(bytes);
        last_sent_ = now;
    }

    // A packet with user-given properties: the Reason String, then the User
    // Properties, are left out while it exceeds the server's Maximum Packet
    // Size (MQTT 5 §3.4.2.2.2-3 and the same rule in every packet that has them).
    template <class P>
    void trim_properties(P& p) const {
        const auto fits = [&] {
            return limits_.maximum_packet_size == 0 ||
                   encoded_size(p, options_.version) <= limits_.maximum_packet_size;
        };
        if (fits())
            return;
        p.properties.template get<property_id::reason_string>().reset();
        if (fits())
            return;
        p.properties.template get<property_id::user_property>() = {};
    }

    // Where a PUBLISH's Message Expiry Interval value sits in its encoding, so
    // a resend can count it down in place (MQTT 5 §3.3.2.3.3).
    std::uint32_t expiry_offset(const ctmqtt::publish& p, bytes_view bytes) const {
        if (options_.version != protocol_version::v5 ||
            !p.properties.get<property_id::message_expiry_interval>())
            return 0;
        // fixed header, topic, packet id, property length, then properties in table order:
        // Payload Format Indicator (2 bytes) may come before Message Expiry Interval.
        fixed_header h;
        (void)detail::parse_header(bytes, options_.version, h);
        std::size_t at = h.length + 2 + p.topic.size() + 2;
        at += wire::varint::size(static_cast<std::uint32_t>(p.properties.content_size()));
        if (p.properties.get<property_id::payload_format_indicator>())
            at += 2;
        return static_cast<std::uint32_t>(at + 1); // past the identifier byte
    }

    std::chrono::milliseconds keep_alive_interval() const noexcept {
        // in milliseconds: 1.5 × an odd number of seconds is not a whole second
        return std::chrono::milliseconds{std::uint32_t{limits_.keep_alive} * 1000u};
    }

    // ------------------------------------------------------------ input

    std::size_t consume_packets(bytes_view data, session_time now) {
        std::size_t used = 0;
        while (used < data.size() && state_ != state::disconnected && state_ != state::closing) {
            const auto rest = data.subspan(used);
            fixed_header h;
            if (auto f = detail::parse_header(rest, options_.version, h)) {
                violation(detail::header_error(f, h), reason::malformed_packet);
                return data.size();
            }
            if (h.length == 0)
                break; // the fixed header is not complete yet
            if (options_.maximum_packet_size != 0 &&
                h.packet_size() > options_.maximum_packet_size) {
                violation(make_error_code(session_errc::packet_too_large),
                          reason::packet_too_large);
                return data.size();
            }
            if (h.packet_size() > rest.size())
                break;
            handle_packet(h, rest.subspan(h.length, h.remaining_length), now);
            used += h.packet_size();
        }
        return used;
    }

    void handle_packet(const fixed_header& h, bytes_view body, session_time now) {
        switch (h.type) {
        case packet_type::connack: return on_connack(h, body, now);
        case packet_type::publish: return on_publish(h, body, now);
        case packet_type::puback: return on_puback(h, body, now);
        case packet_type::pubrec: return on_pubrec(h, body, now);
        case packet_type::pubrel: return on_pubrel(h, body, now);
        case packet_type::pubcomp: return on_pubcomp(h, body, now);
        case packet_type::suback: return on_suback(h, body);
        case packet_type::unsuback: return on_unsuback(h, body);
        case packet_type::pingresp:
            if (!expect_connected(h.type)) // nothing but CONNACK (or AUTH) first [MQTT-3.2.0-1]
                return;
            if (auto p = decode_checked<pingresp>(h, body))
                ping_outstanding_ = false;
            return;
        case packet_type::disconnect: return on_disconnect(h, body);
        case packet_type::auth: return on_auth(h, body, now);
        default:
            // CONNECT, SUBSCRIBE, UNSUBSCRIBE, PINGREQ: packets only a client sends.
            return violation(
                make_error_code(session_errc::unexpected_packet, static_cast<unsigned>(h.type)),
                reason::protocol_error);
        }
    }

    // Decodes a packet; a malformed one ends the connection (DISCONNECT 0x81).
    template <class P>
    std::optional<P> decode_checked(const fixed_header& h, bytes_view body) {
        std::optional<P> p{std::in_place};
        if (auto ec = decode_body(h, body, options_.version, *p)) {
            // A Topic Alias of 0 is a Protocol Error answered with 0x94 (MQTT 5 §3.3.2.3.4).
            const bool alias_zero =
                rule_of(ec) == codec_errc::property_value &&
                ((ec.value() >> 16) & 0xFF) == static_cast<int>(property_id::topic_alias);
            violation(ec, alias_zero ? reason::topic_alias_invalid : reason::malformed_packet);
            return std::nullopt;
        }
        return p;
    }

    bool expect_connected(packet_type t) {
        if (state_ == state::connected || state_ == state::closing)
            return true;
        violation(make_error_code(session_errc::unexpected_packet, static_cast<unsigned>(t)),
                  reason::protocol_error);
        return false;
    }

    // A server that speaks only 3.1 or 3.1.1 answers a 5.0 CONNECT with its
    // own CONNACK: flags 0 and return code 1, "unacceptable protocol version"
    // (3.1.1 §3.2.2.3), two bytes that are no 5.0 CONNACK (0x01 is no 5.0
    // reason code, and the property length is missing). Nothing else is
    // taken for it: any other short CONNACK stays malformed.
    bool is_v3_version_refusal(bytes_view body) const noexcept {
        return options_.version == protocol_version::v5 && body.size() == 2 &&
               body[0] == std::byte{0x00} &&
               body[1] == std::byte{static_cast<std::uint8_t>(
                              connect_return_code::unacceptable_protocol_version)};
    }

    // The server refused the connection: the handler hears why, then the
    // connection ends without DISCONNECT.
    void refused(const connack& ack) {
        const auto ec =
            options_.version == protocol_version::v5
                ? make_error_code(session_errc::connection_refused, ack.reason_code.value())
                : make_error_code(session_errc::connection_refused_v3,
                                  static_cast<unsigned>(ack.return_code));
        handler_.on_connack(ack, ec);
        close(ec, false);
    }

    void on_connack(const fixed_header& h, bytes_view body, session_time now) {
        if (state_ != state::connecting) // a second CONNACK [MQTT-3.2.0-2]
            return violation(
                make_error_code(session_errc::unexpected_packet, static_cast<unsigned>(h.type)),
                reason::protocol_error);
        if (is_v3_version_refusal(body)) {
            // Reported as the 5.0 refusal that means the same, 0x84 Unsupported
            // Protocol Version, so an owner can fall back to 3.1.1 on either.
            connack ack;
            ack.return_code = connect_return_code::unacceptable_protocol_version;
            ack.reason_code = reason::unsupported_protocol_version;
            return refused(ack);
        }
        auto ack = decode_checked<connack>(h, body);
        if (!ack)
            return;
        if (!ack->accepted(options_.version))
            return refused(*ack);
        if (ack->session_present && clean_start_sent_) // [MQTT-3.2.2-2]: we have no session
            return violation(make_error_code(session_errc::session_present_unexpected),
                             reason::protocol_error); // [MQTT-3.2.2-4]
        if (options_.version == protocol_version::v5) {
            if (!check_auth_method(ack->properties.get<property_id::authentication_method>(),
                                   packet_type::connack))
                return;
            read_limits(*ack);
        }
        if (options_.auth && auth_method_sent_) {
            if (auto ec = options_.auth->on_success(auth_data_of(*ack))) {
                authenticator_error_ = ec;
                const auto failed = make_error_code(session_errc::authentication_failed, 2);
                handler_.on_connack(*ack, failed);
                return close(failed, true, reason::unspecified_error);
            }
        }
        state_ = state::connected;
        outbound_aliases_.reset(limits_.topic_alias_maximum);
        // Resend first, so nothing the handler publishes overtakes a resent message
        // [MQTT-4.6.0-1].
        resume(ack->session_present, now);
        handler_.on_connack(*ack, {});
    }

    void read_limits(const connack& ack) {
        const auto& p = ack.properties;
        if (auto v = p.get<property_id::receive_maximum>())
            limits_.receive_maximum = *v;
        if (auto v = p.get<property_id::maximum_packet_size>())
            limits_.maximum_packet_size = *v;
        if (auto v = p.get<property_id::topic_alias_maximum>())
            limits_.topic_alias_maximum = *v;
        if (auto v = p.get<property_id::maximum_qos>())
            limits_.maximum_qos = static_cast<qos>(*v);
        if (auto v = p.get<property_id::retain_available>())
            limits_.retain_available = *v != 0;
        if (auto v = p.get<property_id::wildcard_subscription_available>())
            limits_.wildcard_subscription_available = *v != 0;
        if (auto v = p.get<property_id::subscription_identifier_available>())
            limits_.subscription_identifier_available = *v != 0;
        if (auto v = p.get<property_id::shared_subscription_available>())
            limits_.shared_subscription_available = *v != 0;
        if (auto v = p.get<property_id::server_keep_alive>())
            limits_.keep_alive = *v; // [MQTT-3.2.2-21]
        if (auto v = p.get<property_id::assigned_client_identifier>())
            limits_.assigned_client_id = std::string{*v};
    }

    // The client's session state is gone (Clean Start 1 [MQTT-3.1.2-4], or
    // Session Present 0 [MQTT-3.2.2-5]): in-flight messages become new ones
    // (or fail), PUBRELs finish (the server had the message), SUBSCRIBE and
    // UNSUBSCRIBE are forgotten (the client layer subscribes again), and
    // inbound QoS 2 identifiers are cleared.
    void drop_session_state() {
        for_each_inbound_qos2([this](std::uint16_t id) { handler_.on_inbound_qos2(id, false); });
        if (inbound_qos2_) // kept: a session that had one will have more
            std::fill_n(inbound_qos2_.get(), inbound_qos2_words, std::uint64_t{0});
        inbound_unacknowledged_ = 0;
        for (const auto id : resend_order()) {
            auto& s = slots_[id - 1u];
            if (is_publish(s.kind)) {
                if (options_.republish_after_session_loss) {
                    s.packet[0] &= ~std::byte{0x08}; // a new message in the new session
                    s.unsent = true;
                } else
                    finish_publish(id, make_error_code(session_errc::session_expired));
            } else if (s.kind == slot_kind::awaiting_pubcomp) {
                finish_publish(id, {});
            } else {
                free_id(id);
            }
        }
    }

    // After CONNACK: resend what is in flight (MQTT 5 §4.4), in order, the
    // PUBLISHes only as far as the server's Receive Maximum allows
    // [MQTT-3.3.4-7]; the rest go as acknowledgements come back. Every PUBLISH
    // already sent in this session goes, however old [MQTT-4.3.3-7]
    // [MQTT-4.4.0-1]; only one published again as new may expire first.
    void resume(bool session_present, session_time now) {
        if (!session_present)
            drop_session_state();
        inbound_unacknowledged_ = 0;
        const auto order = resend_order();
        std::size_t quota = limits_.receive_maximum;
        for (const auto id : order) // PUBRELs are not held back but hold their place in the quota
            if (slots_[id - 1u].kind == slot_kind::awaiting_pubcomp)
                quota = quota > 0 ? quota - 1 : 0;
        for (const auto id : order) {
            auto& s = slots_[id - 1u];
            switch (s.kind) {
            case slot_kind::free: break;
            case slot_kind::awaiting_puback:
            case slot_kind::awaiting_pubrec:
                if (count_down_expiry(s, now)) {
                    finish_publish(id, make_error_code(session_errc::message_expired));
                    break;
                }
                if (session_present && !s.unsent)
                    s.packet[0] |= std::byte{0x08}; // DUP [MQTT-3.3.1-1]
                if (pending_resends_ == 0 && quota > 0) {
                    --quota;
                    write_stored(s, now);
                } else {
                    s.pending = true;
                    ++pending_resends_;
                    resend_queue_.push_back(id);
                }
                break;
            case slot_kind::awaiting_pubcomp: {
                pubrel rel;
                rel.packet_id = id;
                (void)append(rel, now); // [MQTT-4.4.0-1]
                break;
            }
            case slot_kind::awaiting_suback:
            case slot_kind::awaiting_unsuback:
                // Not resent (MQTT 5 §4.4 resends only PUBLISH and PUBREL): the client layer
                // re-subscribes.
                free_id(id);
                break;
            }
        }
    }

    // An acknowledgement freed quota: the next resends held back by Receive
    // Maximum go (unless the handler ended the connection meanwhile).
    void resend_pending(session_time now) {
        while (state_ == state::connected && pending_resends_ > 0 &&
               outbound_publishes_ - pending_resends_ < limits_.receive_maximum) {
            const auto id = resend_queue_[resend_head_++];
            auto& s = slots_[id - 1u];
            if (!s.pending)
                continue; // finished while it waited
            s.pending = false;
            --pending_resends_;
            if (count_down_expiry(s, now))
                finish_publish(id, make_error_code(session_errc::message_expired));
            else
                write_stored(s, now);
        }
        if (pending_resends_ == 0) {
            resend_queue_.clear();
            resend_head_ = 0;
        }
    }

    // A stored PUBLISH goes (again): from now on this session's server may have it.
    void write_stored(slot& s, session_time now) {
        write_bytes(s.packet, now);
        s.unsent = false;
    }

    // Counts the stored PUBLISH's Message Expiry Interval down by the whole
    // seconds since it was last counted, so the server sees the lifetime left
    // (as a server forwards it, [MQTT-3.3.2-6]); true when it ran out on a
    // message this session's server never had (`unsent`): that one is not
    // sent. A message already sent is resent however long it waited: the
    // client must not apply Message Expiry to it [MQTT-4.3.3-7] but resend it
    // [MQTT-4.4.0-1], so its interval stops at 1 second. Not 0: the
    // specification gives 0 no meaning of its own, and a server may take it
    // for "never expires" (mosquitto stores 0 as no expiry time).
    bool count_down_expiry(slot& s, session_time now) {
        if (s.expiry_offset == 0)
            return false;
        if (s.sent_at == session_time::min()) { // restored: the time away is unknown
            s.sent_at = now;
            return false;
        }
        auto* at = s.packet.data() + s.expiry_offset;
        wire::reader r{at, at + 4};
        std::uint32_t remaining = 0;
        (void)wire::u32::read(r, remaining);
        const auto elapsed =
            std::max(std::chrono::duration_cast<std::chrono::seconds>(now - s.sent_at),
                     std::chrono::seconds{0});
        if (elapsed.count() < static_cast<long long>(remaining)) {
            (void)wire::u32::write(remaining - static_cast<std::uint32_t>(elapsed.count()), at);
            s.sent_at += elapsed; // the part of a second not counted yet counts next time
            return false;
        }
        if (s.unsent)
            return true;
        if (remaining != 0) // a 0 the publisher gave goes as it went the first time
            (void)wire::u32::write(std::uint32_t{1}, at);
        s.sent_at = now;
        return false;
    }

    void on_publish(const fixed_header& h, bytes_view body, session_time now) {
        if (!expect_connected(h.type))
            return;
        auto p = decode_checked<ctmqtt::publish>(h, body);
        if (!p)
            return;
        if (options_.version == protocol_version::v5 && !resolve_alias(*p))
            return;
        switch (p->qos) {
        case qos::at_most_once: handler_.on_message(*p); return;
        case qos::at_least_once: {
            handler_.on_message(*p);
            puback ack;
            ack.packet_id = p->packet_id;
            (void)append(ack, now);
            return;
        }
        case qos::exactly_once: {
            pubrec rec;
            rec.packet_id = p->packet_id;
            if (!inbound_qos2_seen(p->packet_id)) {
                if (options_.version == protocol_version::v5 &&          // 3.1.1 has no such limit
                    inbound_unacknowledged_ >= options_.receive_maximum) // [MQTT-3.3.4-9]
                    return violation(make_error_code(session_errc::receive_maximum_exceeded),
                                     reason::receive_maximum_exceeded);
                mark_inbound_qos2(p->packet_id, true);
                ++inbound_unacknowledged_;
                handler_.on_message(*p); // once: a resend with DUP finds the identifier marked
                handler_.on_inbound_qos2(p->packet_id, true);
            }
            (void)append(rec, now);
            return;
        }
        }
    }

    // Inbound topic aliases (MQTT 5 §3.3.2.3.4): set or use.
    bool resolve_alias(ctmqtt::publish& p) {
        const auto alias = p.properties.get<property_id::topic_alias>();
        if (!alias) {
            if (p.topic.empty()) { // checked by the codec already; kept for clarity
                violation(make_error_code(session_errc::topic_alias_invalid),
                          reason::topic_alias_invalid);
                return false;
            }
            return true;
        }
        if (*alias == 0 || *alias > options_.topic_alias_maximum) {
            violation(make_error_code(session_errc::topic_alias_invalid),
                      reason::topic_alias_invalid);
            return false;
        }
        if (inbound_aliases_.size() < options_.topic_alias_maximum)
            inbound_aliases_.resize(options_.topic_alias_maximum);
        auto& stored = inbound_aliases_[*alias - 1u];
        if (p.topic.empty()) {
            if (!stored) {
                violation(make_error_code(session_errc::topic_alias_invalid),
                          reason::topic_alias_invalid);
                return false;
            }
            p.topic = *stored;
        } else {
            stored = std::string{p.topic};
        }
        return true;
    }

    bool inbound_qos2_seen(std::uint16_t id) const noexcept {
        return inbound_qos2_ && (inbound_qos2_[id / 64] >> (id % 64) & 1u) != 0;
    }
    void mark_inbound_qos2(std::uint16_t id, bool on) {
        if (!inbound_qos2_) {
            if (!on)
                return;
            // on first use: most sessions never receive QoS 2, and an idle one
            // should not hold 8 KiB for it (value-initialised: all clear)
            inbound_qos2_ = std::make_unique<std::uint64_t[]>(inbound_qos2_words);
        }
        const auto bit = std::uint64_t{1} << (id % 64);
        if (on)
            inbound_qos2_[id / 64] |= bit;
        else
            inbound_qos2_[id / 64] &= ~bit;
    }

    template <class Ack>
    std::optional<Ack> decode_ack(const fixed_header& h, bytes_view body, slot_kind expected,
                                  slot*& found) {
        if (!expect_connected(h.type))
            return std::nullopt;
        auto ack = decode_checked<Ack>(h, body);
        if (!ack)
            return std::nullopt;
        found = find_slot(ack->packet_id);
        if (!found || found->kind != expected) {
            violation(
                make_error_code(session_errc::unknown_packet_id, static_cast<unsigned>(h.type)),
                reason::protocol_error);
            return std::nullopt;
        }
        return ack;
    }

    // PUBACK or PUBCOMP: the flow is finished; freed quota lets a held-back resend go.
    template <class Ack>
    void on_final_ack(const fixed_header& h, bytes_view body, slot_kind expected,
                      session_time now) {
        slot* s = nullptr;
        auto ack = decode_ack<Ack>(h, body, expected, s);
        if (!ack)
            return;
        finish_publish(ack->packet_id, ack->reason_code.is_error()
                                           ? make_error_code(session_errc::publish_refused,
                                                             ack->reason_code.value())
                                           : std::error_code{});
        resend_pending(now);
    }

    void on_puback(const fixed_header& h, bytes_view body, session_time now) {
        on_final_ack<puback>(h, body, slot_kind::awaiting_puback, now);
    }

    void on_pubcomp(const fixed_header& h, bytes_view body, session_time now) {
        on_final_ack<pubcomp>(h, body, slot_kind::awaiting_pubcomp, now);
    }

    void on_pubrec(const fixed_header& h, bytes_view body, session_time now) {
        slot* s = nullptr;
        auto rec = decode_ack<pubrec>(h, body, slot_kind::awaiting_pubrec, s);
        if (!rec)
            return;
        if (rec->reason_code.is_error()) { // the flow ends here (MQTT 5 §4.3.3)
            finish_publish(rec->packet_id, make_error_code(session_errc::publish_refused,
                                                           rec->reason_code.value()));
            return resend_pending(now);
        }
        s->kind = slot_kind::awaiting_pubcomp;
        s->packet.clear();         // the message is the server's now; only PUBREL remains
        s->sequence = ++sequence_; // PUBRELs are resent in PUBREC order [MQTT-4.6.0-4]
        handler_.on_stored(rec->packet_id, true, {});
        pubrel rel;
        rel.packet_id = rec->packet_id;
        (void)append(rel, now);
    }

    void on_pubrel(const fixed_header& h, bytes_view body, session_time now) {
        if (!expect_connected(h.type))
            return;
        auto rel = decode_checked<pubrel>(h, body);
        if (!rel)
            return;
        pubcomp comp;
        comp.packet_id = rel->packet_id;
        if (inbound_qos2_seen(rel->packet_id)) {
            mark_inbound_qos2(rel->packet_id, false);
            if (inbound_unacknowledged_ > 0)
                --inbound_unacknowledged_;
            handler_.on_inbound_qos2(rel->packet_id, false);
        } else if (options_.version == protocol_version::v5) {
            comp.reason_code = reason::packet_identifier_not_found; // MQTT 5 §3.7.2.1
        }
        (void)append(comp, now);
    }

    // SUBACK or UNSUBACK: one reason code per topic filter sent [MQTT-3.8.4-6]
    // [MQTT-3.11.3-1] (3.1.1 UNSUBACK has none).
    template <class Ack>
    std::optional<Ack> decode_request_ack(const fixed_header& h, bytes_view body,
                                          slot_kind expected) {
        slot* s = nullptr;
        auto ack = decode_ack<Ack>(h, body, expected, s);
        if (!ack)
            return std::nullopt;
        const bool counted =
            expected == slot_kind::awaiting_suback || options_.version == protocol_version::v5;
        if (counted && ack->reason_codes.size() != s->filters) {
            violation(make_error_code(session_errc::reason_code_count_mismatch,
                                      static_cast<unsigned>(h.type)),
                      reason::protocol_error);
            return std::nullopt;
        }
        free_id(ack->packet_id);
        return ack;
    }

    void on_suback(const fixed_header& h, bytes_view body) {
        if (auto ack = decode_request_ack<suback>(h, body, slot_kind::awaiting_suback))
            handler_.on_suback(*ack);
    }

    void on_unsuback(const fixed_header& h, bytes_view body) {
        if (auto ack = decode_request_ack<unsuback>(h, body, slot_kind::awaiting_unsuback))
            handler_.on_unsuback(*ack);
    }

    void on_disconnect(const fixed_header& h, bytes_view body) {
        if (options_.version != protocol_version::v5) // servers never send DISCONNECT before 5.0
            return violation(
                make_error_code(session_errc::unexpected_packet, static_cast<unsigned>(h.type)),
                reason::protocol_error);
        auto d = decode_checked<ctmqtt::disconnect>(h, body);
        if (!d)
            return;
        if (d->properties.get<property_id::session_expiry_interval>()) // [MQTT-3.14.2-2]
            return violation(make_error_code(session_errc::session_expiry_in_server_disconnect),
                             reason::protocol_error);
        handler_.on_server_disconnect(*d);
        close(make_error_code(session_errc::server_disconnected, d->reason_code.value()), false);
    }

    // ------------------------------------------------------------ enhanced authentication

    // The server's AUTH or successful CONNACK repeats our Authentication
    // Method [MQTT-4.12.0-5], and has none if we sent none [MQTT-4.12.0-6].
    bool check_auth_method(std::optional<std::string_view> method, packet_type t) {
        if (!auth_method_sent_ && !method && t == packet_type::connack)
            return true;
        if (!auth_method_sent_) {
            violation(make_error_code(session_errc::auth_without_method, static_cast<unsigned>(t)),
                      reason::protocol_error);
            return false;
        }
        if (!method || *method != auth_method_) {
            violation(make_error_code(session_errc::authentication_method_mismatch,
                                      static_cast<unsigned>(t)),
                      reason::protocol_error);
            return false;
        }
        return true;
    }

    template <class P>
    static bytes_view auth_data_of(const P& p) noexcept {
        const auto data = p.properties.template get<property_id::authentication_data>();
        return data ? *data : bytes_view{};
    }

    // AUTH with our method and auth_data_ (if any).
    ctmqtt::auth auth_packet(reason code) const {
        ctmqtt::auth a;
        a.reason_code = *auth_reason_code::from_reason(code);
        a.properties.set<property_id::authentication_method>(std::string_view{auth_method_});
        if (!auth_data_.empty())
            a.properties.set<property_id::authentication_data>(bytes_view{auth_data_});
        return a;
    }

    void on_auth(const fixed_header& h, bytes_view body, session_time now) {
        auto a = decode_checked<ctmqtt::auth>(h, body);
        if (!a)
            return;
        if (!check_auth_method(a->properties.get<property_id::authentication_method>(),
                               packet_type::auth))
            return;
        if (!options_.auth) { // the owner drives the exchange (send_auth)
            handler_.on_auth(*a);
            return;
        }
        // Continue authentication while connecting or re-authenticating; Success
        // ends a re-authentication. Re-authenticate is the client's code.
        const auto code = a->reason_code.value();
        const bool continuing = code == 0x18 && (state_ == state::connecting || reauthenticating_);
        const bool succeeded = code == 0x00 && state_ == state::connected && reauthenticating_;
        if (!continuing && !succeeded)
            return violation(make_error_code(session_errc::unexpected_auth, code),
                             reason::protocol_error);
        std::error_code failed;
        if (continuing) {
            if (auto ec = options_.auth->on_challenge(auth_data_of(*a), auth_data_)) {
                authenticator_error_ = ec;
                failed = make_error_code(session_errc::authentication_failed, 1);
            } else {
                failed = append(auth_packet(reason::continue_authentication), now);
            }
        } else if (auto ec = options_.auth->on_success(auth_data_of(*a))) {
            authenticator_error_ = ec;
            failed = make_error_code(session_errc::authentication_failed, 2);
        }
        if (succeeded && !failed)
            reauthenticating_ = false;
        handler_.on_auth(*a);
        if (failed) // [MQTT-4.12.1-2]; close() reports a re-authentication's end
            return close(failed, true, reason::unspecified_error);
        if (succeeded)
            handler_.on_reauthenticated({});
    }

    // ------------------------------------------------------------ ending

    // The server broke the protocol: DISCONNECT with the reason (MQTT 5), then close.
    void violation(std::error_code ec, reason why) { close(ec, true, why); }

    void close(std::error_code ec, bool send_disconnect,
               reason why = reason::normal_disconnection) {
        if (state_ == state::disconnected)
            return;
        if (send_disconnect && options_.version == protocol_version::v5 &&
            (state_ == state::connected || state_ == state::connecting)) {
            ctmqtt::disconnect d;
            if (auto code = disconnect_reason_code::from_reason(why))
                d.reason_code = *code;
            (void)append(d, last_sent_);
        }
        state_ = state::disconnected;
        input_.clear();
        ping_outstanding_ = false;
        if (reauthenticating_) {
            reauthenticating_ = false;
            handler_.on_reauthenticated(ec);
        }
        handler_.on_connection_closed(ec);
    }

    options options_;
    session_handler& handler_;
    state state_ = state::disconnected;
    server_limits limits_;

    std::vector<std::byte> input_; ///< a partial packet waiting for the rest
    byte_buffer output_;           ///< bytes to send
    std::size_t output_begin_ = 0;

    std::vector<slot> slots_;             ///< in-flight outbound packets, by identifier - 1
    std::vector<std::uint16_t> free_ids_; ///< identifiers whose slot is free
    std::size_t outbound_publishes_ = 0; ///< QoS 1/2 PUBLISHes in flight (server's Receive Maximum)
    std::vector<std::uint16_t> resend_queue_; ///< resends held back by Receive Maximum, in order
    std::size_t resend_head_ = 0;             ///< the next of resend_queue_
    std::size_t pending_resends_ = 0;         ///< slots marked pending

    /// 65,536 bits: the inbound QoS 2 identifiers awaiting PUBREL. Allocated by
    /// the first one (null until then: none), then kept.
    static constexpr std::size_t inbound_qos2_words = 65'536 / 64;
    std::unique_ptr<std::uint64_t[]> inbound_qos2_;
    std::size_t inbound_unacknowledged_ = 0;
    std::vector<std::optional<std::string>> inbound_aliases_;
    detail::outbound_alias_table outbound_aliases_;

    bool clean_start_sent_ = false;    ///< this connection's CONNECT had Clean Start 1
    bool auth_method_sent_ = false;    ///< this connection's CONNECT had an Authentication Method
    bool reauthenticating_ = false;    ///< our AUTH 0x19 awaits its end
    std::string auth_method_;          ///< the Authentication Method sent in CONNECT
    std::vector<std::byte> auth_data_; ///< the authenticator's data, sent from here
    std::error_code authenticator_error_;

    std::uint64_t sequence_ = 0; ///< last slot::sequence given
    session_time last_sent_{};
    session_time last_received_{};
    bool ping_outstanding_ = false;
};

} // namespace ctmqtt
// ---- end include/ctmqtt/core/session.hpp ----
// ---- end include/ctmqtt/core.hpp ----
// ---- begin include/ctmqtt/version.hpp ----
// ctmqtt's version. Keep in sync with project() in CMakeLists.txt and
// meson.build (tests/single_include/main.cpp checks the string against the
// numbers).


namespace ctmqtt {

inline constexpr int version_major = 0;
inline constexpr int version_minor = 1;
inline constexpr int version_patch = 0;

/// "major.minor.patch"
inline constexpr std::string_view version_string = "0.1.0";

} // namespace ctmqtt
// ---- end include/ctmqtt/version.hpp ----
// ---- end include/ctmqtt/ctmqtt.hpp ----
