// The texts mosquitto_pub and mosquitto_sub print for refusals and errors
// (libmosquitto's tables), and the usage texts of ctmqtt-pub and
// ctmqtt-sub. No Asio.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <ctmqtt/version.hpp>

#include "options.hpp"

namespace ctmqtt::tools {

/// A 3.1/3.1.1 CONNACK return code, as libmosquitto words it.
inline std::string_view connack_string(unsigned code) noexcept {
    switch (code) {
    case 0: return "Connection Accepted.";
    case 1: return "Connection Refused: unacceptable protocol version.";
    case 2: return "Connection Refused: identifier rejected.";
    case 3: return "Connection Refused: broker unavailable.";
    case 4: return "Connection Refused: bad user name or password.";
    case 5: return "Connection Refused: not authorised.";
    default: return "Connection Refused: unknown reason.";
    }
}

/// An MQTT 5 reason code, as libmosquitto words it.
inline std::string_view reason_string(unsigned code) noexcept {
    switch (code) {
    case 0x00: return "Success";
    case 0x01: return "Granted QoS 1";
    case 0x02: return "Granted QoS 2";
    case 0x04: return "Disconnect with Will Message";
    case 0x10: return "No matching subscribers";
    case 0x11: return "No subscription existed";
    case 0x18: return "Continue authentication";
    case 0x19: return "Re-authenticate";
    case 0x80: return "Unspecified error";
    case 0x81: return "Malformed Packet";
    case 0x82: return "Protocol Error";
    case 0x83: return "Implementation specific error";
    case 0x84: return "Unsupported Protocol Version";
    case 0x85: return "Client Identifier not valid";
    case 0x86: return "Bad User Name or Password";
    case 0x87: return "Not authorized";
    case 0x88: return "Server unavailable";
    case 0x89: return "Server busy";
    case 0x8A: return "Banned";
    case 0x8B: return "Server shutting down";
    case 0x8C: return "Bad authentication method";
    case 0x8D: return "Keep Alive timeout";
    case 0x8E: return "Session taken over";
    case 0x8F: return "Topic Filter invalid";
    case 0x90: return "Topic Name invalid";
    case 0x91: return "Packet Identifier in use";
    case 0x92: return "Packet Identifier not found";
    case 0x93: return "Receive Maximum exceeded";
    case 0x94: return "Topic Alias invalid";
    case 0x95: return "Packet too large";
    case 0x96: return "Message rate too high";
    case 0x97: return "Quota exceeded";
    case 0x98: return "Administrative action";
    case 0x99: return "Payload format invalid";
    case 0x9A: return "Retain not supported";
    case 0x9B: return "QoS not supported";
    case 0x9C: return "Use another server";
    case 0x9D: return "Server moved";
    case 0x9E: return "Shared Subscriptions not supported";
    case 0x9F: return "Connection rate exceeded";
    case 0xA0: return "Maximum connect time";
    case 0xA1: return "Subscription identifiers not supported";
    case 0xA2: return "Wildcard Subscriptions not supported";
    default: return "Unknown reason";
    }
}

/// "Connection error: ..." for a refused CONNECT (protocol_version 3, 4 or 5).
inline std::string connection_error(int protocol_version, unsigned code) {
    if (protocol_version == 5) {
        if (code == 0x84)
            return "Connection error: " + std::string{reason_string(code)} +
                   ". Try connecting to an MQTT v5 broker, or use MQTT v3.x mode.\n";
        return "Connection error: " + std::string{reason_string(code)} + "\n";
    }
    return "Connection error: " + std::string{connack_string(code)} + "\n";
}

/// libmosquitto's texts for the errors the programs end with.
namespace error_text {
inline constexpr std::string_view protocol =
    "A network protocol error occurred when communicating with the broker.";
inline constexpr std::string_view refused = "The connection was refused.";
inline constexpr std::string_view lost = "The connection was lost.";
inline constexpr std::string_view no_connection = "The client is not currently connected.";
} // namespace error_text

/// libmosquitto's exit statuses (its MOSQ_ERR_* values).
namespace exit_code {
inline constexpr int protocol = 2;
inline constexpr int no_connection = 4;
inline constexpr int refused = 5;
inline constexpr int lost = 7;
inline constexpr int tls = 8;
inline constexpr int timeout = 27;
} // namespace exit_code

inline std::string version_text(program p) {
    return std::string{program_name(p)} + " version " + std::string{version_string} +
           " running on ctmqtt " + std::string{version_string} + ".\n";
}

namespace detail {

// One line (or paragraph) of the usage text, and which programs show it.
struct usage_entry {
    bool pub;
    bool sub;
    std::string_view text;
};

inline constexpr usage_entry usage_synopsis[] = {
    {true, false,
     " {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL}\n"
     "                  {-f file | -l | -n | -m message}\n"
     "                  [-c] [-k keepalive] [-q qos] [-r] [--repeat N] [--repeat-delay time] "
     "[-x session-expiry]\n"},
    {false, true,
     " {[-h host] [--unix path] [-p port] [-u username] [-P password] -t topic | -L URL "
     "[-t topic]}\n"
     "                  [-c] [-k keepalive] [-q qos] [-x session-expiry-interval]\n"
     "                  [-C msg_count] [-E] [-R] [--retained-only] [--remove-retained] "
     "[-T filter_out] [-U topic ...]\n"
     "                  [-F format]\n"
     "                  [-W timeout_secs]\n"},
    {true, true,
     "                  [-A bind_address] [--nodelay]\n"
     "                  [-i id] [-I id_prefix]\n"},
    {true, false,
     "                  [-d] [--quiet]\n"
     "                  [-M max_inflight]\n"
     "                  [-u username [-P password]]\n"},
    {false, true, "                  [-d] [-N] [--quiet] [-v]\n"},
    {true, true,
     "                  [--will-topic [--will-payload payload] [--will-qos qos] "
     "[--will-retain]]\n"
     "                  [{--cafile file | --capath dir} [--cert file] [--key file]\n"
     "                    [--ciphers ciphers] [--insecure]\n"
     "                    [--tls-alpn protocol]\n"
     "                    [--tls-engine engine] [--keyform keyform] [--tls-engine-kpass-sha1]]\n"
     "                    [--tls-use-os-certs]\n"
     "                  [--psk hex-key --psk-identity identity [--ciphers ciphers]]\n"
     "                  [--proxy socks-url]\n"},
    {true, false, "                  [--property command identifier value]\n"},
    {true, true, "                  [-D command identifier value]\n"},
};

inline constexpr usage_entry usage_options[] = {
    {true, true,
     " -A : bind the outgoing socket to this host/ip address. Use to control which interface\n"
     "      the client communicates over.\n"},
    {true, true,
     " -c : disable clean session/enable persistent client mode\n"
     "      When this argument is used, the broker will be instructed not to clean existing "
     "sessions\n"
     "      for the same client id when the client connects, and sessions will never expire "
     "when the\n"
     "      client disconnects. MQTT v5 clients can change their session expiry interval with "
     "the -x\n"
     "      argument.\n"},
    {false, true, " -C : disconnect and exit after receiving the 'msg_count' messages.\n"},
    {true, true, " -d : enable debug messages.\n"},
    {true, true, " -D : Define MQTT v5 properties. See the documentation for more details.\n"},
    {false, true, " -E : Exit once all subscriptions have been acknowledged by the broker.\n"},
    {true, false, " -f : send the contents of a file as the message.\n"},
    {false, true, " -F : output format.\n"},
    {true, true,
     " -h : mqtt host to connect to. Defaults to localhost.\n"
     " -i : id to use for this client. Defaults to an id the broker assigns.\n"
     " -I : define the client id as id_prefix appended with the process id. Useful for when "
     "the\n"
     "      broker is using the clientid_prefixes option.\n"
     " -k : keep alive in seconds for this client. Defaults to 60.\n"
     " -L : specify user, password, hostname, port and topic as a URL in the form:\n"
     "      mqtt(s)://[username[:password]@]host[:port]/topic (tcp:// and ssl:// too),\n"
     "      or the broker alone: ws(s)://[username[:password]@]host[:port][/path] (WebSocket)\n"
     "      or unix:/path/to/socket, with the topic given by -t.\n"},
    {true, false,
     " -l : read messages from stdin, sending a separate message for each line.\n"
     " -m : message payload to send.\n"
     " -M : the maximum inflight messages for QoS 1/2..\n"
     " -n : send a null (zero length) message.\n"},
    {false, true, " -N : do not add an end of line character when printing the payload.\n"},
    {true, true,
     " -p : network port to connect to. Defaults to 1883 for plain MQTT and 8883 for MQTT over "
     "TLS.\n"
     " -P : provide a password\n"},
    {true, false,
     " -q : quality of service level to use for all messages. Defaults to 0.\n"
     " -r : message should be retained.\n"
     " -s : read message from stdin, sending the entire input as a message.\n"
     " -t : mqtt topic to publish to.\n"},
    {false, true,
     " -q : quality of service level to use for the subscription. Defaults to 0.\n"
     " -R : do not print stale messages (those with retain set).\n"
     " -t : mqtt topic to subscribe to. May be repeated multiple times.\n"
     " -T : topic string to filter out of results. May be repeated.\n"},
    {true, true, " -u : provide a username\n"},
    {false, true,
     " -U : unsubscribe from a topic. May be repeated.\n"
     " -v : print published messages verbosely.\n"},
    {true, true,
     " -V : specify the version of the MQTT protocol to use when connecting.\n"
     "      Can be mqttv5, mqttv311 or mqttv31. Defaults to mqttv311.\n"},
    {false, true,
     " -W : Specifies a timeout in seconds how long to process incoming MQTT messages.\n"},
    {true, true,
     " -x : Set the session-expiry-interval property on the CONNECT packet. Applies to MQTT v5\n"
     "      clients only. Set to 0-4294967294 to specify the session will expire in that many\n"
     "      seconds after the client disconnects, or use -1, 4294967295, or \xE2\x88\x9E for a "
     "session\n"
     "      that does not expire. Defaults to -1 if -c is also given, or 0 if -c not given.\n"
     " --help : display this message.\n"
     " --nodelay : disable Nagle's algorithm, to reduce socket sending latency at the possible\n"
     "             expense of more packets being sent.\n"},
    {false, true,
     " --pretty : print formatted output rather than minimised output when using the\n"
     "            JSON output format option.\n"},
    {true, true, " --quiet : don't print error messages.\n"},
    {false, true,
     " --random-filter : only print a percentage of received messages. Set to 100 to have all\n"
     "                   messages printed, 50.0 to have half of the messages received on "
     "average\n"
     "                   printed, and so on.\n"},
    {true, false,
     " --repeat : if publish mode is -f, -m, or -s, then repeat the publish N times.\n"
     " --repeat-delay : if using --repeat, wait time seconds between publishes. Defaults to "
     "0.\n"},
    {false, true,
     " --retained-only : only handle messages with the retained flag set, and exit when the\n"
     "                   first non-retained message is received.\n"
     " --remove-retained : send a message to the server to clear any received retained "
     "messages\n"
     "                     Use -T to filter out messages you do not want to be cleared.\n"},
    {true, true,
     " --unix : connect to a broker through a unix domain socket instead of a TCP socket,\n"
     "          e.g. /tmp/mosquitto.sock\n"
     " --will-payload : payload for the client Will, which is sent by the broker in case of\n"
     "                  unexpected disconnection. If not given and will-topic is set, a zero\n"
     "                  length message will be sent.\n"
     " --will-qos : QoS level for the client Will.\n"
     " --will-retain : if given, make the client Will retained.\n"
     " --will-topic : the topic on which to publish the client Will.\n"
     " --cafile : path to a file containing trusted CA certificates to enable encrypted\n"
     "            communication.\n"
     " --capath : path to a directory containing trusted CA certificates to enable encrypted\n"
     "            communication.\n"
     " --cert : client certificate for authentication, if required by server.\n"
     " --key : client private key for authentication, if required by server.\n"
     " --keyform : keyfile type, can be either \"pem\" or \"engine\".\n"
     " --ciphers : openssl compatible list of TLS ciphers to support.\n"
     " --tls-version : TLS protocol version, can be one of tlsv1.3 tlsv1.2 or tlsv1.1.\n"
     "                 Defaults to tlsv1.2 if available.\n"
     " --insecure : do not check that the server certificate hostname matches the remote\n"
     "              hostname. Using this option means that you cannot be sure that the\n"
     "              remote host is the server you wish to connect to and so is insecure.\n"
     "              Do not use this option in a production environment.\n"
     " --tls-engine : If set, enables the use of a TLS engine device.\n"
     " --tls-engine-kpass-sha1 : SHA1 of the key password to be used with the selected SSL "
     "engine.\n"
     " --tls-use-os-certs : Load and trust OS provided CA certificates.\n"
     " --psk : pre-shared-key in hexadecimal (no leading 0x) to enable TLS-PSK mode.\n"
     " --psk-identity : client identity string for TLS-PSK mode.\n"
     " --proxy : SOCKS5 proxy URL of the form:\n"
     "           socks5h://[username[:password]@]hostname[:port]\n"
     "           Only \"none\" and \"username\" authentication is supported.\n"
     "\n"
     "TLS engines, TLS-PSK, SOCKS proxies and -A are not available in this build yet.\n"},
};

} // namespace detail

/// What --help prints (on stdout), in mosquitto's layout.
inline std::string usage(program p) {
    const std::string name{program_name(p)};
    const bool pub = p == program::pub;
    std::string u = name +
                    (pub ? " is a simple mqtt client that will publish a message on a single "
                           "topic and exit.\n"
                         : " is a simple mqtt client that will subscribe to a set of topics and "
                           "print all messages it receives.\n") +
                    version_text(p) + "\nUsage: " + name;
    for (const auto& e : detail::usage_synopsis)
        if (pub ? e.pub : e.sub)
            u += e.text;
    u += "       " + name + " --help\n\n";
    for (const auto& e : detail::usage_options)
        if (pub ? e.pub : e.sub)
            u += e.text;
    u += "See https://mosquitto.org/man/" + std::string{pub ? "mosquitto_pub" : "mosquitto_sub"} +
         "-1.html for the options, which ctmqtt's follow.\n\n";
    return u;
}

} // namespace ctmqtt::tools
