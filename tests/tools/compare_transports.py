#!/usr/bin/env python3
"""ctmqtt-sub, ctmqtt-pub and ctmqtt-bench over TLS, WebSocket and Unix sockets,
side by side with mosquitto_sub and mosquitto_pub where those have the transport.

    compare_transports.py --mosquitto PATH --mosquitto-sub PATH --mosquitto-pub PATH
                          --ctmqtt-sub PATH --ctmqtt-pub PATH [--ctmqtt-bench PATH]
                          [--openssl PATH] [-k PATTERN] [-v]

Makes certificates with the openssl command-line tool (a CA; a server
certificate for localhost and 127.0.0.1; one for another name; a client
certificate, its key also encrypted; a CA nobody here trusts), then starts a
mosquitto with a TCP listener, three TLS listeners (plain, client certificate
required, a certificate for another name), a WebSocket listener, a WebSocket
over TLS one and a Unix socket, and checks:

- TLS and Unix sockets (mosquitto's programs have both): messages published
  by mosquitto_pub and ctmqtt-pub as mosquitto_sub and ctmqtt-sub print them,
  byte for byte, for each way of setting TLS up; the texts and exit statuses
  of every failure (a CA that did not sign the server's certificate, a host
  name mismatch, a refused connection, a missing client certificate, files
  that are missing or are not what they should be, a wrong key password
  read by OpenSSL's prompt, bad option values). Where mosquitto's own
  answer depends on timing (a refused certificate is found in connect or in
  the loop), ours must be one of its answers, always the same one.
- WebSocket (Debian's mosquitto_sub 2.0.11 has none: -L takes mqtt:// and
  mqtts:// only): ctmqtt-sub over ws:// and wss:// prints what mosquitto_sub
  prints over TCP, for messages ctmqtt-pub sent over ws:// and wss://.
- ctmqtt-bench (with --ctmqtt-bench): every kind of URL publishes and
  receives; a refused certificate ends it with the reason.

Standard library only; exits 1 when anything differs.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time

from compare_tools import Broker, Program, Report, free_port, run_parts

# What mosquitto's programs print when TLS fails, and their exit statuses.
TLS_ERROR = (b"", b"Error: A TLS error occurred.\n", 8)            # found in the loop
TLS_ERROR_IN_CONNECT = (b"", b"Unable to connect (A TLS error occurred.).\n", 1)
CONNECTION_LOST = (b"", b"Error: The connection was lost.\n", 7)
PROTOCOL_ERROR_ERRNO = (b"", b"Error: Protocol error\n", 1)      # EPROTO inside connect


def make_certificates(openssl, directory):
    """The certificates, made with the openssl command-line tool (EC P-256 keys: fast)."""
    script = f"""set -e
cd '{directory}'
req() {{ '{openssl}' req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \\
    -subj "/CN=$1" -keyout $2.key -out $2.crt; }}
sign() {{ '{openssl}' genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out $1.key
    '{openssl}' req -new -key $1.key -subj "/CN=$2" -out $1.csr
    '{openssl}' x509 -req -in $1.csr -CA $3.crt -CAkey $3.key -CAcreateserial -days 2 \\
        -extfile $4 -out $1.crt; }}
printf 'subjectAltName = DNS:localhost, IP:127.0.0.1\\nextendedKeyUsage = serverAuth\\n' > server.ext
printf 'subjectAltName = DNS:elsewhere.example\\nextendedKeyUsage = serverAuth\\n' > wrong.ext
printf 'extendedKeyUsage = clientAuth\\n' > client.ext
req 'ctmqtt tools test CA' ca
req 'a CA nobody trusts' other-ca
sign server localhost ca server.ext
sign wrong elsewhere.example ca wrong.ext
sign client tools-test-client ca client.ext
'{openssl}' pkey -in client.key -aes256 -passout pass:secret -out client-enc.key
mkdir hashed && cp ca.crt hashed/ && '{openssl}' rehash hashed
"""
    log = os.path.join(directory, "certificates.log")
    with open(log, "w") as out:
        if subprocess.run(["sh", "-c", script], stdout=out, stderr=out).returncode != 0:
            with open(log) as f:
                raise RuntimeError("making the certificates failed:\n" + f.read())


class Transports:
    def __init__(self, args, directory):
        self.a = args
        self.dir = directory
        self.env = dict(os.environ, XDG_CONFIG_HOME=directory, TZ="UTC")
        self.report = Report(args.verbose)
        make_certificates(args.openssl, directory)
        self.socket = os.path.join(directory, "mqtt.sock")
        for attempt in range(3):  # a port taken meanwhile: again with others
            self.ports = {}
            for name in ("tls", "tls_cert", "wrong", "ws", "wss"):
                port = free_port()
                while port in self.ports.values():
                    port = free_port()
                self.ports[name] = port
            try:
                self.broker = Broker(args.mosquitto, directory, f"transports{attempt}",
                                     self.listeners())
                self.wait_listening()
                break
            except RuntimeError:
                if attempt == 2:
                    raise
        self.port = self.broker.port

    def cert(self, name):
        return os.path.join(self.dir, name)

    def listeners(self):
        server = f"certfile {self.cert('server.crt')}\nkeyfile {self.cert('server.key')}\n"
        p = self.ports
        return ("allow_anonymous true\n"
                f"listener {p['tls']} 127.0.0.1\n{server}"
                f"listener {p['tls_cert']} 127.0.0.1\n{server}"
                f"cafile {self.cert('ca.crt')}\nrequire_certificate true\n"
                f"listener {p['wrong']} 127.0.0.1\n"
                f"certfile {self.cert('wrong.crt')}\nkeyfile {self.cert('wrong.key')}\n"
                # mosquitto hands a WebSocket listener's address to libwebsockets
                # as an interface name.
                f"listener {p['ws']} lo\nprotocol websockets\n"
                f"listener {p['wss']} lo\nprotocol websockets\n{server}"
                f"listener 0 {self.socket}\n")

    def wait_listening(self):
        deadline = time.monotonic() + 10
        for port in self.ports.values():
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        self.broker.stop()
                        raise RuntimeError(f"mosquitto is not listening on {port}")
                    time.sleep(0.05)
        while not os.path.exists(self.socket):
            if time.monotonic() > deadline:
                self.broker.stop()
                raise RuntimeError(f"mosquitto made no socket {self.socket}")
            time.sleep(0.05)

    def tool(self, name):
        return {"mosquitto_sub": self.a.mosquitto_sub, "mosquitto_pub": self.a.mosquitto_pub,
                "ctmqtt-sub": self.a.ctmqtt_sub, "ctmqtt-pub": self.a.ctmqtt_pub,
                "ctmqtt-bench": self.a.ctmqtt_bench}[name]

    def start(self, name, args, stdin=None, new_session=False):
        return Program([self.tool(name)] + args, stdin=stdin, env=self.env,
                       new_session=new_session)

    def both(self, kind, args, stdin=None, new_session=False):
        """mosquitto_<kind> and ctmqtt-<kind>, run at the same time: their results."""
        pair = [self.start(f"{prefix}{kind}", args, stdin, new_session)
                for prefix in ("mosquitto_", "ctmqtt-")]
        return [p.finish() for p in pair]

    # -------------------------------------------------------------- messages

    def exchange(self, name, sub_args, pub_args, extra_subscribers=()):
        """mosquitto_sub and ctmqtt-sub (and `extra_subscribers`: (label, tool,
        args)) subscribed with `sub_args`; mosquitto_pub and ctmqtt-pub publish
        with `pub_args`, one message each. Every subscriber must print the
        same two lines; both publishers must end alike."""
        topic = f"tr/{name}"
        subscribers = [(side, tool, sub_args) for side, tool in (("m", "mosquitto_sub"),
                                                                  ("c", "ctmqtt-sub"))]
        subscribers += list(extra_subscribers)
        running = [(side, self.start(tool, args + ["-t", f"{topic}/#", "-v", "-q", "2", "-C",
                                                   "2", "-i", f"{name}-{side}"]))
                   for side, tool, args in subscribers]
        self.broker.wait_subscribed(*[f"{name}-{side}" for side, _ in running])
        published = []
        for tool, qos in (("mosquitto_pub", "1"), ("ctmqtt-pub", "2")):
            published.append(self.start(tool, pub_args + ["-t", f"{topic}/{tool}", "-q", qos,
                                                          "-m", f"via {name} from {tool}"])
                             .finish())
        self.report.same(f"{name}: the publishers", published[0], published[1])
        results = {side: p.finish() for side, p in running}
        expected = (f"{topic}/mosquitto_pub via {name} from mosquitto_pub\n"
                    f"{topic}/ctmqtt-pub via {name} from ctmqtt-pub\n").encode()
        self.report.check(f"{name}: mosquitto_sub printed both messages",
                          results["m"] == (expected, b"", 0), repr(results["m"]))
        for side, result in results.items():
            if side != "m":
                self.report.same(f"{name}: subscriber {side}", results["m"], result)

    def compare_tls(self):
        p = self.ports
        ca = ["--cafile", self.cert("ca.crt")]
        client = ["--cert", self.cert("client.crt"), "--key", self.cert("client.key")]
        cases = [
            ("tls-cafile", ["-p", str(p["tls"])] + ca),
            ("tls-capath", ["-p", str(p["tls"]), "--capath", self.cert("hashed")]),
            ("tls-client-cert", ["-h", "localhost", "-p", str(p["tls_cert"])] + ca + client),
            ("tls-insecure", ["-p", str(p["wrong"]), "--insecure"] + ca),
            ("tls-13-alpn", ["-p", str(p["tls"]), "--tls-version", "tlsv1.3", "--tls-alpn",
                             "mqtt", "--ciphers", "HIGH", "--keyform", "PEM"] + ca + client),
        ]
        for name, args in cases:
            self.exchange(name, args, args)
        # -L mqtts:// (port 8883 unless given; the system's CAs trusted as well).
        url = f"mqtts://127.0.0.1:{p['tls']}/tr/tls-url"
        self.exchange("tls-url", ["-L", url + "/#"] + ca, ["-L", url + "/x"] + ca)
        # -d: libmosquitto's lines, no more, over TLS too.
        args = ["-p", str(p["tls"]), "-t", "tr/debug", "-E", "-d", "-i", "tls-debug"] + ca
        self.report.same("tls -d", self.start("mosquitto_sub", args).finish(),
                         self.start("ctmqtt-sub", args).finish())

    def compare_tls_failures(self):
        p = self.ports
        ca = ["--cafile", self.cert("ca.crt")]
        client = ["--cert", self.cert("client.crt"), "--key", self.cert("client.key")]
        closed = free_port()
        while closed in self.ports.values() or closed == self.port:
            closed = free_port()
        # (name, options, what ctmqtt prints, what mosquitto may print)
        cases = [
            ("unknown CA", ["-p", str(p["tls"]), "--cafile", self.cert("other-ca.crt")],
             TLS_ERROR, [TLS_ERROR, TLS_ERROR_IN_CONNECT]),
            ("host name mismatch", ["-p", str(p["wrong"])] + ca,
             TLS_ERROR, [TLS_ERROR, TLS_ERROR_IN_CONNECT]),
            ("mqtts:// with the system's CAs only",
             ["-L", f"mqtts://127.0.0.1:{p['tls']}/t"], TLS_ERROR,
             [TLS_ERROR, TLS_ERROR_IN_CONNECT]),
            ("TLS to a plain port", ["-p", str(self.port)] + ca, TLS_ERROR, [TLS_ERROR]),
            ("no client certificate", ["-p", str(p["tls_cert"])] + ca, CONNECTION_LOST,
             [CONNECTION_LOST, PROTOCOL_ERROR_ERRNO]),
            ("connection refused", ["-p", str(closed)] + ca,
             (b"", b"Error: Connection refused\n", 1), None),
            ("missing CA file", ["-p", str(p["tls"]), "--cafile", self.cert("none.crt")],
             (b"", b"Error: Problem setting TLS options: File not found.\n", 1), None),
            ("missing key file", ["-p", str(p["tls_cert"]), "--cert", self.cert("client.crt"),
                                  "--key", self.cert("none.key")] + ca,
             (b"", b"Error: Problem setting TLS options: File not found.\n", 1), None),
            ("a CA file that is no certificate",
             ["-p", str(p["tls"]), "--cafile", self.cert("server.ext")], TLS_ERROR_IN_CONNECT,
             None),
            # OpenSSL 3 takes the name and finds no CA in it: the certificate is refused.
            ("a CA directory that is not there",
             ["-p", str(p["tls"]), "--capath", self.cert("none")], TLS_ERROR,
             [TLS_ERROR, TLS_ERROR_IN_CONNECT]),
            ("a key of another certificate",
             ["-p", str(p["tls_cert"]), "--cert", self.cert("client.crt"), "--key",
              self.cert("server.key")] + ca, TLS_ERROR_IN_CONNECT, None),
            ("no usable cipher", ["-p", str(p["tls"]), "--ciphers", "NONE-SUCH"] + ca,
             TLS_ERROR_IN_CONNECT, None),
            ("unknown TLS version", ["-p", str(p["tls"]), "--tls-version", "tlsv1.0"] + ca,
             (b"", b"Error: Problem setting TLS options, check the options are valid.\n", 1),
             None),
            ("TLS version in capitals", ["-p", str(p["tls"]), "--tls-version", "TLSv1.2"] + ca,
             (b"", b"Unable to connect (Invalid function arguments provided.).\n", 1), None),
            ("unknown key form", ["-p", str(p["tls_cert"]), "--keyform", "der"] + ca + client,
             (b"", b"Error: Problem setting key form, it must be one of 'pem' or 'engine'.\n",
              1), None),
            ("no Unix socket there", ["--unix", self.cert("none.sock")],
             (b"", b"Error: No such file or directory\n", 1), None),
        ]
        for name, args, ours_expected, theirs_known in cases:
            for kind, rest in (("sub", ["-t", "t", "-E"]), ("pub", ["-t", "t", "-m", "x"])):
                theirs, ours = self.both(kind, args + rest)
                label = f"{kind} {name}"
                self.report.check(f"{label}: ctmqtt-{kind}", ours == ours_expected,
                                  f"  expected {ours_expected!r}\n  got      {ours!r}")
                known = theirs_known or [ours_expected]
                self.report.check(f"{label}: mosquitto_{kind} as known", theirs in known,
                                  f"  mosquitto_{kind} gave {theirs!r}, known: {known!r}")
        # An encrypted key: OpenSSL's prompt, read from stdin without a terminal.
        args = ["-p", str(p["tls_cert"]), "--cert", self.cert("client.crt"), "--key",
                self.cert("client-enc.key"), "-t", "tr/key", "-m", "x"] + ca
        prompt = b"Enter PEM pass phrase:\n"
        for password, expected in ((b"secret\n", (b"", prompt, 0)),
                                   (b"wrong\n", (b"", prompt + TLS_ERROR_IN_CONNECT[1], 1))):
            theirs, ours = self.both("pub", args, stdin=password, new_session=True)
            self.report.check(f"key password {password.strip().decode()}: mosquitto_pub",
                              theirs == expected, repr(theirs))
            self.report.same(f"key password {password.strip().decode()}", theirs, ours)

    # -------------------------------------------------------------- Unix sockets

    def compare_unix(self):
        unix = ["--unix", self.socket]
        self.exchange("unix", unix, unix,
                      extra_subscribers=[("u", "ctmqtt-sub", ["-L", f"unix:{self.socket}"])])

    # -------------------------------------------------------------- WebSocket

    def compare_websocket(self):
        p = self.ports
        ws = ["-L", f"ws://127.0.0.1:{p['ws']}/mqtt"]
        wss = ["-L", f"wss://localhost:{p['wss']}/", "--cafile", self.cert("ca.crt")]
        theirs = self.start("mosquitto_sub", ws + ["-t", "t"]).finish()
        self.report.check("mosquitto_sub has no WebSocket (so ctmqtt's side alone)",
                          theirs[1].startswith(b"Error: unsupported URL scheme."), repr(theirs))
        subscribers = [(side, self.start(tool, args + ["-t", "tr/ws/#", "-v", "-q", "2", "-C",
                                                       "3", "-i", f"ws-{side}"]))
                       for side, tool, args in (("tcp", "mosquitto_sub", ["-p", str(self.port)]),
                                                ("ws", "ctmqtt-sub", ws),
                                                ("wss", "ctmqtt-sub", wss))]
        self.broker.wait_subscribed(*[f"ws-{side}" for side, _ in subscribers])
        published = [
            self.start("ctmqtt-pub", ws + ["-t", "tr/ws/ws", "-q", "1", "-m", "over ws"]),
            self.start("ctmqtt-pub", wss + ["-t", "tr/ws/wss", "-q", "2", "-m", "over wss"]),
        ]
        for i, p_ in enumerate(published):
            result = p_.finish()
            self.report.check(f"ws: ctmqtt-pub {i} ends with 0, silently",
                              result == (b"", b"", 0), repr(result))
        self.start("mosquitto_pub", ["-p", str(self.port), "-t", "tr/ws/tcp", "-m",
                                     "over tcp"]).finish()
        results = {side: p_.finish() for side, p_ in subscribers}
        lines = sorted(results["tcp"][0].splitlines())
        self.report.check("ws: mosquitto_sub saw the three messages",
                          lines == [b"tr/ws/tcp over tcp", b"tr/ws/ws over ws",
                                    b"tr/ws/wss over wss"], repr(results["tcp"]))
        for side in ("ws", "wss"):
            self.report.same(f"ws: ctmqtt-sub over {side} as mosquitto_sub over TCP",
                             results["tcp"], results[side])
        # A wss:// server whose CA we do not trust: as TLS over TCP.
        ours = self.start("ctmqtt-sub", ["-L", f"wss://localhost:{p['wss']}/", "-t", "t",
                                         "-E"]).finish()
        self.report.check("wss: unknown CA", ours == TLS_ERROR, repr(ours))

    # -------------------------------------------------------------- ctmqtt-bench

    def bench(self, mode, url, options, count):
        return Program([self.a.ctmqtt_bench, mode, "--url", url, "-c", "2", "--count",
                        str(count), "-q", "1", "--json", "--quiet", "-t", "tr/bench"] + options,
                       env=self.env)

    def compare_bench(self):
        if not self.a.ctmqtt_bench:
            return
        p = self.ports
        ca = ["--cafile", self.cert("ca.crt")]
        client = ["--cert", self.cert("client.crt"), "--key", self.cert("client.key")]
        urls = [(f"mqtts://127.0.0.1:{p['tls']}", ca),
                (f"mqtts://localhost:{p['tls_cert']}", ca + client),
                (f"ws://127.0.0.1:{p['ws']}/mqtt", []),
                (f"wss://127.0.0.1:{p['wss']}/", ["--insecure"]),
                (f"unix:{self.socket}", [])]
        for url, options in urls:
            # A subscriber over this URL counts what a publisher over another brings.
            sub = self.bench("sub", url, options, 40)
            self.broker.wait_subscribed(*[f"ctmqtt-bench-{sub.process.pid}-{i}"
                                          for i in range(2)])
            other_url, other_options = urls[(urls.index((url, options)) + 1) % len(urls)]
            pub = self.bench("pub", other_url, other_options, 10).finish()
            got = sub.finish()
            for label, (out, err, status), key, expected in (
                    ("pub", pub, "acknowledged", 20), ("sub", got, "received", 40)):
                try:
                    summary = json.loads(out)
                except ValueError:
                    summary = {}
                self.report.check(f"bench {label} over {url.split(':')[0]}: {expected} {key}",
                                  status == 0 and summary.get(key) == expected,
                                  f"  status {status}, stderr {err!r}, stdout {out!r}")
        out, err, status = self.bench("pub", f"mqtts://127.0.0.1:{p['tls']}", [], 1).finish()
        self.report.check("bench: an unknown CA ends it with 1 and the reason",
                          status == 1 and b"not signed by a trusted certificate authority" in err,
                          f"  status {status}, stderr {err!r}")

    def stop(self):
        self.broker.stop()


def main():
    parser = argparse.ArgumentParser()
    for name in ("mosquitto", "mosquitto-sub", "mosquitto-pub", "ctmqtt-sub", "ctmqtt-pub"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("--ctmqtt-bench", default="")
    parser.add_argument("--openssl", default=shutil.which("openssl") or "openssl")
    parser.add_argument("-k", default="", help="run only the parts whose name contains this")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    return run_parts(args, "ctmqtt-transports-", Transports, lambda c: [
        ("tls", c.compare_tls),
        ("tls-failures", c.compare_tls_failures),
        ("unix", c.compare_unix),
        ("websocket", c.compare_websocket),
        ("bench", c.compare_bench)])


if __name__ == "__main__":
    sys.exit(main())
