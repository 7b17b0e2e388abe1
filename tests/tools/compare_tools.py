#!/usr/bin/env python3
"""ctmqtt-sub and ctmqtt-pub side by side with mosquitto_sub and mosquitto_pub.

    compare_tools.py --mosquitto PATH --mosquitto-sub PATH --mosquitto-pub PATH
                     --ctmqtt-sub PATH --ctmqtt-pub PATH [-k PATTERN] [-v]

Starts its own mosquitto brokers (generated configurations, free loopback
ports: one open, one that wants a password), runs mosquitto_sub and
ctmqtt-sub with the same options on the same topics, publishes with
mosquitto_pub and ctmqtt-pub, and compares what the two subscribers print
(stdout and stderr, byte for byte, the program's name aside) and their exit
statuses. Times (%I %U %j/%J's "tst" and @ sequences) are the only thing
masked, once both outputs were checked to have them in the same places.
Also: each publisher's messages as mosquitto_sub sees them, wills of killed
clients, refusals, bad options, and a broker that breaks the protocol.
Standard library only; exits 1 when anything differs.
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from with_mosquitto import free_port  # noqa: E402  (tests/support/with_mosquitto.py)

TIMEOUT = 20  # seconds any one program may take

# Every property -D publish can give, in the order ctmqtt sends them (its
# property table's): mosquitto forwards them in the order they came, and
# ctmqtt's client hands them over by field, not in their order (see
# tools/README.md).
PUBLISH_PROPERTIES = ["-D", "publish", "payload-format-indicator", "1",
                      "-D", "publish", "message-expiry-interval", "3000",
                      "-D", "publish", "content-type", "text/plain",
                      "-D", "publish", "response-topic", "reply/here",
                      "-D", "publish", "correlation-data", "corr-1",
                      "-D", "publish", "user-property", "key", "value",
                      "-D", "publish", "user-property", "key 2", "value 2",
                      "-D", "publish", "user-property", "key", "again"]

# ------------------------------------------------------------------ brokers


class Broker:
    """A mosquitto of our own; its log lists every SUBSCRIBE, so that we
    publish only once the subscribers are subscribed."""

    def __init__(self, mosquitto, directory, name, extra=""):
        self.port = free_port()
        self.log = os.path.join(directory, f"{name}.log")
        config = os.path.join(directory, f"{name}.conf")
        with open(config, "w") as f:
            f.write(f"listener {self.port} 127.0.0.1\n")
            f.write(f"log_dest file {self.log}\nlog_type subscribe\nlog_type unsubscribe\n")
            f.write("log_timestamp false\nconnection_messages false\n")
            f.write(extra)
            if os.geteuid() == 0:
                f.write("user root\n")
        self.process = subprocess.Popen([mosquitto, "-c", config], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto ({name}) did not start")
                time.sleep(0.05)

    def subscriptions(self, client_id):
        """How many SUBSCRIBE log lines the broker wrote for a client."""
        try:
            with open(self.log, errors="replace") as f:
                return sum(1 for line in f if line.startswith(client_id + " ")
                           and len(line.split(" ")) >= 3)
        except FileNotFoundError:
            return 0

    def wait_subscribed(self, *client_ids):
        """Until each client has subscribed (or TIMEOUT seconds went by)."""
        deadline = time.monotonic() + TIMEOUT
        while any(self.subscriptions(c) < 1 for c in client_ids) and \
                time.monotonic() < deadline:
            time.sleep(0.02)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()


# ------------------------------------------------------------------ results


class Report:
    def __init__(self, verbose):
        self.failures = []
        self.checks = 0
        self.verbose = verbose

    def check(self, name, ok, detail=""):
        self.checks += 1
        if ok:
            if self.verbose:
                print(f"ok   {name}")
        else:
            self.failures.append(name)
            print(f"FAIL {name}\n{detail}", file=sys.stderr)

    def same(self, name, theirs, ours):
        """Two (stdout, stderr, status) triples must be equal (mosquitto's
        stderr with our programs' names)."""
        theirs = (theirs[0], ours_named(theirs[1]), theirs[2])
        labels = ("stdout", "stderr", "exit status")
        diffs = [f"  {label}:\n    mosquitto: {a!r}\n    ctmqtt:    {b!r}"
                 for label, a, b in zip(labels, theirs, ours) if a != b]
        self.check(name, not diffs, "\n".join(diffs))


def ours_named(text):
    """mosquitto's text with our programs' names where it says its own."""
    if not isinstance(text, bytes):
        return text
    return text.replace(b"mosquitto_sub", b"ctmqtt-sub").replace(b"mosquitto_pub", b"ctmqtt-pub")


TIME_PATTERNS = [
    (re.compile(rb'"tst":(\t?)"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z[+-]\d{4}"'), rb'"tst":\1"T"'),
    (re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}"), b"<I>"),
    (re.compile(rb"\b\d{10}\.\d{9}\b"), b"<U>"),
]


def mask_times(data):
    for pattern, replacement in TIME_PATTERNS:
        data = pattern.sub(replacement, data)
    return data


class Program:
    """A program started with Popen, its output read as it comes; stdin is
    None (nothing), bytes (written, then closed) or True (kept open:
    write())."""

    def __init__(self, args, stdin=None, env=None, new_session=False):
        self.args = args
        # new_session: without a controlling terminal (OpenSSL's pass phrase
        # prompt then reads stdin instead of /dev/tty).
        self.process = subprocess.Popen(
            args, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
            start_new_session=new_session)
        self.out, self.err = [], []
        self.readers = [threading.Thread(target=self._read, args=(stream, into), daemon=True)
                        for stream, into in ((self.process.stdout, self.out),
                                             (self.process.stderr, self.err))]
        for reader in self.readers:
            reader.start()
        if isinstance(stdin, bytes):
            try:
                self.process.stdin.write(stdin)
                self.process.stdin.close()
            except OSError:
                pass

    @staticmethod
    def _read(stream, into):
        for chunk in iter(lambda: stream.read1(65536), b""):
            into.append(chunk)

    def write(self, data):
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def finish(self, timeout=TIMEOUT):
        """(stdout, stderr, exit status); a program still running after
        `timeout` seconds is killed, and its status is "timeout"."""
        try:
            status = self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            status = "timeout"
        for reader in self.readers:
            reader.join(5)
        return b"".join(self.out), b"".join(self.err), status


# ------------------------------------------------------------------ the comparison


class Comparison:
    def __init__(self, args, directory):
        self.a = args
        self.dir = directory
        self.env = dict(os.environ, XDG_CONFIG_HOME=directory, TZ="UTC")
        self.report = Report(args.verbose)
        self.open = Broker(args.mosquitto, directory, "open", "allow_anonymous true\n")
        password_file = os.path.join(directory, "passwords")
        with open(password_file, "w") as f:
            f.write("alice:secret\n")
        passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
        subprocess.run([passwd, "-U", password_file], check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        self.locked = Broker(args.mosquitto, directory, "locked",
                             f"allow_anonymous false\npassword_file {password_file}\n")

    def tool(self, name):
        return {"mosquitto_sub": self.a.mosquitto_sub, "mosquitto_pub": self.a.mosquitto_pub,
                "ctmqtt-sub": self.a.ctmqtt_sub, "ctmqtt-pub": self.a.ctmqtt_pub}[name]

    def start(self, name, args, port=None, stdin=None):
        port = port or self.open.port
        return Program([self.tool(name), "-p", str(port)] + args, stdin=stdin, env=self.env)

    def run(self, name, args, port=None, stdin=None):
        return self.start(name, args, port, stdin).finish()

    def publish(self, args, port=None):
        out, err, status = self.run("mosquitto_pub", args, port)
        if status != 0:
            raise RuntimeError(f"mosquitto_pub {args} failed: {err!r}")

    # -------------------------------------------------------------- subscribers

    def subscriber_cases(self):
        """(name, subscriber options, topics it subscribes, publications,
        retained first?) — {t} is the case's own topic prefix."""
        every = (r"%t|%10t|%-10t|%.2t|%5.2t|%p|%10p|%-10p|%3p|%010p|%-p|%x|%X|%6x|%06x|%q|%r|"
                 r"%l|%5l|%05l|%m|%%|%C|%5C|%R|%D|%E|%5E|%05E|%F|%3F|%S|%4S|%A|%3A|%P|%-08p"
                 r"\e\a\r\v\t\\|\0|@@|%-5.1C|%.0p|%0.3t")
        times = r"%I|%30I|%-26I|%.10I|%U|@Y-@m-@d @H:@M:@S|%j|%J"
        props = PUBLISH_PROPERTIES
        messages = [
            ["-m", "hello"], ["-m", '{"a":1.50,"b":[true,null]}', "-q", "1"],
            ["-n", "-q", "2"], ["-m", "caf\u00e9 \"quoted\"\ttab", "-q", "1"],
            ["-m", "not json {"],
        ]
        cases = []
        for version in ("311", "5"):
            for qos in ("0", "1", "2"):
                cases.append((f"qos{qos}-v{version}", ["-V", version, "-q", qos, "-F", every],
                              [[*m, "-V", version] for m in messages]))
            cases.append((f"times-v{version}", ["-V", version, "-F", times, "-q", "1"],
                          [[*m, "-V", version] for m in messages]))
            cases.append((f"verbose-v{version}", ["-V", version, "-v"],
                          [[*m, "-V", version] for m in messages]))
            cases.append((f"plain-N-v{version}", ["-V", version, "-N"],
                          [[*m, "-V", version] for m in messages]))
        cases += [
            ("properties", ["-V", "5", "-q", "1", "-F", "%P|%C|%R|%D|%E|%F|%S|%A|%j"],
             [["-V", "5", "-m", "with properties", "-q", "1", *props],
              ["-V", "5", "-m", "no properties"]]),
            ("pretty", ["-V", "5", "--pretty", "-F", "%J"],
             [["-V", "5", "-m", '{"a":[{"b":[]}],"c":{}}', *props[:8]]]),
            ("subscription-id", ["-V", "5", "-D", "subscribe", "subscription-identifier", "7",
                                 "-D", "subscribe", "user-property", "s", "1", "-F", "%S %j"],
             [["-V", "5", "-m", "x"]]),
            ("filter-out", ["-v", "-T", "{t}/skip/#"],
             [["-m", "shown", "-t", "{t}/a"], ["-m", "hidden", "-t", "{t}/skip/b"],
              ["-m", "shown too", "-t", "{t}/c"]]),
        ]
        return cases

    def retained_cases(self):
        """Cases whose topics hold retained messages before the subscribers start."""
        live = [["-t", "{t}/live", "-m", "live"]]
        return [
            ("retained", ["-v", "-F", "%r %q %t %p", "-q", "2", "-C", "3"], live),
            ("no-retained", ["-v", "-R", "-C", "1"], live),
            ("retained-only", ["-v", "--retained-only"], live),
            ("remove-retained", ["-v", "--remove-retained", "-W", "2", "-q", "1"], live),
            ("retained-v5", ["-V", "5", "-F", "%r %t %p %j", "-C", "3"], live),
        ]

    def compare_subscribers(self):
        r = self.report
        cases = []  # (name, args, publications, (mosquitto_sub's prefix, ctmqtt-sub's))
        # Retained messages first. Each subscriber has topics of its own here:
        # --remove-retained must not clear the other's before it subscribed.
        for name, args, publications in self.retained_cases():
            prefixes = (f"cmp/{name}/m", f"cmp/{name}/c")
            for prefix in prefixes:
                for i in range(2):
                    self.publish(["-t", f"{prefix}/r{i}", "-m", f"kept {i}", "-r",
                                  "-q", str(i + 1)])
            cases.append((name, args, publications, prefixes))
        for name, args, publications in self.subscriber_cases():
            count = len([p for p in publications if "hidden" not in p])
            cases.append((name, args + ["-C", str(count)], publications, (f"cmp/{name}",) * 2))

        running = []
        for name, args, publications, prefixes in cases:
            pair = tuple(self.start(tool, ["-t", f"{prefix}/#", "-i", f"{name}-{side}"] +
                                    [a.replace("{t}", prefix) for a in args])
                         for tool, side, prefix in zip(("mosquitto_sub", "ctmqtt-sub"), "mc",
                                                       prefixes))
            running.append((name, publications, prefixes, pair))
        # Publish once every subscriber is subscribed (the broker logs each SUBSCRIBE).
        self.open.wait_subscribed(*[f"{name}-{side}" for name, *_ in running for side in "mc"])
        for name, publications, prefixes, _ in running:
            for prefix in sorted(set(prefixes)):
                for p in publications:
                    args = [a.replace("{t}", prefix) for a in p]
                    if "-t" not in args:
                        args = ["-t", f"{prefix}/m"] + args
                    self.publish(args)
        for name, _, prefixes, (theirs, ours) in running:
            waited = time.monotonic()
            a = theirs.finish()
            b = ours.finish()
            if self.report.verbose:
                print(f"     {name}: waited {time.monotonic() - waited:.1f} s")
            # Our topics said as mosquitto_sub's, where they differ.
            b_out = b[0].replace(prefixes[1].encode(), prefixes[0].encode())
            r.check(f"sub {name}: printed something", a[0] != b"" or name == "no-retained",
                    f"mosquitto_sub printed nothing: {a!r}")
            r.same(f"sub {name}", (mask_times(a[0]), a[1], a[2]), (mask_times(b_out), b[1], b[2]))
            if name.startswith("times"):
                r.check(f"sub {name}: times where mosquitto_sub has them",
                        mask_times(a[0]).count(b"<I>") == mask_times(b_out).count(b"<I>") > 0
                        and mask_times(b_out).count(b"<U>") > 0, repr(b_out[:300]))

    # -------------------------------------------------------------- publishers

    def compare_publishers(self):
        """Each scenario published by both programs; mosquitto_sub shows what arrived."""
        file_path = os.path.join(self.dir, "payload.bin")
        with open(file_path, "wb") as f:
            f.write(bytes(range(256)) * 3)
        empty_path = os.path.join(self.dir, "empty.bin")
        open(empty_path, "wb").close()
        props = PUBLISH_PROPERTIES
        scenarios = [  # (name, options, stdin, messages it makes)
            ("m-qos0", ["-m", "text"], None, 1),
            ("m-qos1", ["-m", "text", "-q", "1"], None, 1),
            ("m-qos2", ["-m", "text", "-q", "2"], None, 1),
            ("null", ["-n", "-q", "1"], None, 1),
            ("file", ["-f", file_path, "-q", "2"], None, 1),
            ("empty-file", ["-f", empty_path], None, 1),
            ("stdin", ["-s", "-q", "1"], b"line 1\nline 2\x00binary\n", 1),
            ("lines", ["-l", "-q", "1"], b"one\n\ntwo\r\nthree without newline", 4),
            ("repeat", ["-m", "again", "--repeat", "3", "--repeat-delay", "0.05", "-q", "1"],
             None, 3),
            ("retain", ["-m", "kept", "-r", "-q", "1"], None, 1),
            ("v5-props", ["-m", "props", "-V", "5", "-q", "2"] + props, None, 1),
            ("v31", ["-m", "old", "-V", "31", "-q", "1"], None, 1),
        ]
        total = 2 * sum(s[3] for s in scenarios)
        watcher = self.start("mosquitto_sub", [
            "-t", "pub/#", "-V", "5", "-q", "2", "-C", str(total), "-i", "pub-watch",
            "-F", "%t|%q|%r|%l|%x|%P|%C|%R|%D|%E|%F"])
        self.open.wait_subscribed("pub-watch")
        for name, options, stdin, _ in scenarios:
            for tool, side in (("mosquitto_pub", "m"), ("ctmqtt-pub", "c")):
                program = self.start(tool, ["-t", f"pub/{side}/{name}"] + options,
                                     stdin=stdin if stdin is not None else None)
                out, err, status = program.finish()
                if tool == "mosquitto_pub":
                    theirs = (out, err, status)
                else:
                    self.report.same(f"pub {name}: output and exit status", theirs,
                                     (out, err, status))
        out, err, status = watcher.finish()
        self.report.check("pub: the watching mosquitto_sub got everything", status == 0,
                          f"status {status}, stderr {err!r}")
        seen = {"m": {}, "c": {}}
        for line in out.split(b"\n"):
            parts = line.split(b"|", 1)
            if len(parts) != 2 or not parts[0].startswith(b"pub/"):
                continue
            _, side, name = parts[0].decode().split("/", 2)
            seen[side].setdefault(name, []).append(parts[1])
        for name, _, _, count in scenarios:
            theirs, ours = seen["m"].get(name, []), seen["c"].get(name, [])
            self.report.check(f"pub {name}: {count} message(s) from each", len(theirs) == count
                              and len(ours) == count, f"mosquitto_pub: {theirs}\nctmqtt-pub: {ours}")
            self.report.same(f"pub {name}: what arrived", (theirs, b"", 0), (ours, b"", 0))
        # Retained messages left behind by the "retain" scenario: cleared again.
        for side in "mc":
            self.publish(["-t", f"pub/{side}/retain", "-r", "-n"])

    # -------------------------------------------------------------- wills

    def compare_wills(self):
        """Clients killed while connected: the broker publishes their wills."""
        watchers = [self.start(tool, ["-t", "will/#", "-V", "5", "-v", "-F", "%t %p %C %P",
                                      "-C", "4", "-i", f"will-{side}"])
                    for tool, side in (("mosquitto_sub", "m"), ("ctmqtt-sub", "c"))]
        self.open.wait_subscribed("will-m", "will-c")
        will = ["--will-payload", "gone for good: longer than a short string buffer",
                "--will-qos", "1", "-V", "5",
                "-D", "will", "content-type", "text/x", "-D", "will", "user-property", "w", "1"]
        victims = []
        for tool in ("mosquitto_pub", "ctmqtt-pub"):
            name = tool.replace("_", "-")
            victim = self.start(tool, ["-l", "-t", f"will/{name}/line", "-i", f"victim-{name}",
                                       "--will-topic", f"will/{name}/will"] + will, stdin=True)
            victim.write(b"alive\n")  # published once connected: then the kill counts
            victims.append(victim)
        # Kill them once both lines arrived (each victim is connected then).
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline and not all(
                b"will/mosquitto-pub/line alive" in b"".join(w.out) and
                b"will/ctmqtt-pub/line alive" in b"".join(w.out) for w in watchers):
            time.sleep(0.02)
        for victim in victims:
            victim.process.send_signal(signal.SIGKILL)
            victim.finish()
        results = [w.finish() for w in watchers]
        theirs = results[0]
        ours = (results[1][0], results[1][1], results[1][2])
        self.report.check("wills: both delivered",
                          b"will/mosquitto-pub/will gone for good" in theirs[0]
                          and b"will/ctmqtt-pub/will gone for good" in theirs[0], repr(theirs))
        self.report.same("wills: what the subscribers printed", theirs, ours)

    # -------------------------------------------------------------- refusals

    def compare_refusals(self):
        port = self.locked.port
        for tool in ("sub", "pub"):
            rest = ["-t", "a"] + (["-E"] if tool == "sub" else ["-m", "x"])
            for version in ("31", "311", "5"):
                for credentials in ([], ["-u", "alice", "-P", "wrong"], ["-u", "alice",
                                                                        "-P", "secret"]):
                    args = rest + ["-V", version] + credentials
                    theirs = self.run(f"mosquitto_{tool}", args, port)
                    ours = self.run(f"ctmqtt-{tool}", args, port)
                    self.report.same(f"refusal {tool} {' '.join(args)}", theirs,
                                     (ours[0], ours[1], ours[2]))
        # An authentication method mosquitto does not know (CONNACK 0x8C).
        for tool in ("sub", "pub"):
            args = ["-t", "a", "-V", "5", "-D", "connect", "authentication-method", "none-such",
                    "-D", "connect", "authentication-data", "x"] + \
                (["-E"] if tool == "sub" else ["-m", "x"])
            self.report.same(f"refusal {tool}: authentication method",
                             self.run(f"mosquitto_{tool}", args), self.run(f"ctmqtt-{tool}", args))
        # A message larger than the broker takes: 3.1.1 is cut off (status 7, "The
        # connection was lost."), 5.0 knows the limit (status 0; mosquitto_pub says
        # nothing, ctmqtt-pub says why).
        small = Broker(self.a.mosquitto, self.dir, "small",
                       "allow_anonymous true\nmax_packet_size 100\n")
        try:
            for version in ("311", "5"):
                args = ["-t", "big", "-q", "1", "-V", version, "-m", "x" * 300]
                theirs = self.run("mosquitto_pub", args, small.port)
                ours = self.run("ctmqtt-pub", args, small.port)
                self.report.check(f"too large for the broker, v{version}: same status",
                                  theirs[2] == ours[2], f"{theirs}\n{ours}")
                if version == "311":
                    self.report.same("too large for the broker, v311", theirs, ours)
                else:
                    self.report.check("too large for the broker, v5: the reason",
                                      b"Maximum Packet Size" in ours[1], repr(ours))
        finally:
            small.stop()
        # Nobody listening.
        closed = free_port()
        for tool in ("sub", "pub"):
            args = ["-t", "a"] + (["-E"] if tool == "sub" else ["-m", "x"])
            theirs = self.run(f"mosquitto_{tool}", args, closed)
            ours = self.run(f"ctmqtt-{tool}", args, closed)
            self.report.same(f"connection refused {tool}", theirs, ours)

    def compare_bad_options(self):
        sub_cases = [
            [], ["-t"], ["-t", "a/#/b"], ["-t", "a", "--bogus"], ["-t", "a", "-q", "3"],
            ["-t", "a", "-k", "2"], ["-t", "a", "-C", "0"], ["-t", "a", "-W", "0"],
            ["-t", "a", "-F", "%"], ["-t", "a", "-F", "%k"], ["-t", "a", "-F", "\\q"],
            ["-t", "a", "-V", "4"], ["-t", "a", "-i", "x", "-I", "y"], ["-t", "a", "-c"],
            ["-t", "a", "-V", "5", "-c"], ["-t", "a", "-x", "abc"], ["-t", "a", "-R",
                                                                     "--retained-only"],
            ["-t", "a", "-D", "connect", "foo", "1"], ["-t", "a", "-D", "publish"],
            ["-t", "a", "-D", "subscribe", "content-type", "x"],
            ["-t", "a", "-D", "connect", "receive-maximum", "0"],
            ["-t", "a", "-D", "connect", "user-property", "k"], ["-t", "a", "-m", "x"],
            ["-L", "http://h/t"], ["-L", "mqtt://h"], ["-t", "a", "--will-payload", "p"],
            ["-t", "a", "--will-topic", "w/+"], ["-t", "a", "-p", "99999"],
        ]
        pub_cases = [
            [], ["-t", "a"], ["-m", "x"], ["-t", "a/#", "-m", "x"], ["-t", "a", "-m", "x", "-n"],
            ["-t", "a", "-m", "x", "-v"], ["-t", "a", "-m", "x", "--repeat", "0"],
            ["-t", "a", "-m", "x", "--repeat-delay", "-1"],
            ["-t", "a", "-f", "/nonexistent/file"],
            ["-t", "a", "-m", "x", "-D", "publish", "subscription-identifier", "1"],
            ["-t", "a", "-m", "x", "-D", "publish", "payload-format-indicator", "256"],
            ["-t", "a", "-m", "x", "-D", "publish", "content-type", "a", "-D", "publish",
             "content-type", "b"],
            ["-t", "a", "-m", "x", "-P", "pw"],
            ["-t", "a", "-m", "x", "-D", "will", "content-type", "x", "--will-topic", "w",
             "-V", "311"],
        ]
        for tool, cases in (("sub", sub_cases), ("pub", pub_cases)):
            for args in cases:
                theirs = self.run(f"mosquitto_{tool}", args)
                ours = self.run(f"ctmqtt-{tool}", args)
                their_out = theirs[0]
                our_out = ours[0]
                if b"Usage:" in their_out:  # the usage texts differ; both must print one
                    self.report.check(f"bad option {tool} {args}: usage printed",
                                      b"Usage:" in our_out, repr(our_out[:200]))
                    their_out = our_out = b""
                self.report.same(f"bad option {tool} {' '.join(args)}",
                                 (their_out, theirs[1], theirs[2]),
                                 (our_out, ours[1], ours[2]))
        for tool in ("sub", "pub"):
            theirs = self.run(f"mosquitto_{tool}", ["--help"])
            ours = self.run(f"ctmqtt-{tool}", ["--help"])
            self.report.check(f"--help {tool}: usage on stdout, same status",
                              theirs[2] == ours[2] and b"Usage:" in ours[0], repr(ours[:2]))
        # Options this build parses but cannot serve yet.
        for args in (["--tls-engine", "pkcs11"], ["--psk", "00", "--psk-identity", "me"],
                     ["--proxy", "socks5h://h"]):
            out, err, status = self.run("ctmqtt-sub", ["-t", "a"] + args)
            self.report.check(f"unavailable {args[0]}: refused with a message", status == 1 and
                              b"is not available in this build yet" in err, repr(err))

    def compare_exits(self):
        """-E and -W, and a signal before and after CONNACK."""
        for args in (["-t", "exit/a", "-E"], ["-t", "exit/b", "-W", "1"],
                     ["-t", "exit/c", "-U", "exit/c", "-E", "-V", "5"],
                     ["-t", "exit/d", "-E", "-V", "5", "-D", "disconnect", "reason-string", "bye",
                      "-D", "disconnect", "user-property", "a", "b",
                      "-D", "connect", "user-property", "c", "d",
                      "-D", "unsubscribe", "user-property", "e", "f", "-U", "exit/d"]):
            theirs = self.run("mosquitto_sub", args)
            ours = self.run("ctmqtt-sub", args)
            self.report.same(f"exit {' '.join(args)}", theirs, ours)
        # -d: libmosquitto's debug lines (with a client identifier given).
        for version in ("311", "5"):
            for args in (["-t", "debug/a", "-t", "debug/b", "-q", "1", "-R", "-E", "-d"],
                         ["-t", "debug/a", "-E", "-d", "-U", "debug/a"]):
                args = args + ["-V", version]
                self.report.same(f"debug sub {' '.join(args)}",
                                 self.run("mosquitto_sub", args + ["-i", "dbg-m"]),
                                 self.run("ctmqtt-sub", args + ["-i", "dbg-m"]))
            for qos in "012":
                args = ["-t", "debug/p", "-m", "x", "-d", "-q", qos, "--repeat", "2",
                        "-i", "dbg-p", "-V", version]
                # A subscriber, so that MQTT 5 PUBACKs say Success, not No matching
                # subscribers (ctmqtt's client does not report the success codes).
                watcher = self.start("mosquitto_sub", ["-t", "debug/p", "-C", "4", "-i",
                                                       f"dbg-w{version}{qos}"])
                self.open.wait_subscribed(f"dbg-w{version}{qos}")
                self.report.same(f"debug pub {' '.join(args)}", self.run("mosquitto_pub", args),
                                 self.run("ctmqtt-pub", args))
                watcher.finish()
        # stdout closed by the reader (| head -1): a write error, DISCONNECT, status 0.
        readers = [subprocess.Popen([self.tool(t), "-p", str(self.open.port), "-t", "exit/pipe",
                                     "-v", "-i", f"pipe-{t}"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, env=self.env)
                   for t in ("mosquitto_sub", "ctmqtt-sub")]
        self.open.wait_subscribed("pipe-mosquitto_sub", "pipe-ctmqtt-sub")
        self.publish(["-t", "exit/pipe", "-m", "first"])
        lines = [r.stdout.readline() for r in readers]
        for r in readers:
            r.stdout.close()
        for i in range(3):
            self.publish(["-t", "exit/pipe", "-m", f"more {i}"])
        statuses = []
        for r in readers:
            try:
                statuses.append(r.wait(TIMEOUT))
            except subprocess.TimeoutExpired:
                r.kill()
                statuses.append("timeout")
            r.stderr.close()
        self.report.same("stdout closed", (lines[0], b"", statuses[0]), (lines[1], b"", statuses[1]))
        pair = [self.start(t, ["-t", "exit/signal", "-i", f"signal-{t}"])
                for t in ("mosquitto_sub", "ctmqtt-sub")]
        self.open.wait_subscribed("signal-mosquitto_sub", "signal-ctmqtt-sub")
        for p in pair:
            p.process.send_signal(signal.SIGINT)
        results = [p.finish() for p in pair]
        self.report.same("SIGINT after CONNACK", results[0], results[1])

    def compare_defaults_files(self):
        """Options read from $XDG_CONFIG_HOME/<program> before the command line's."""
        config = os.path.join(self.dir, "config")
        os.makedirs(config, exist_ok=True)
        for name in ("mosquitto_sub", "ctmqtt-sub"):
            with open(os.path.join(config, name), "w") as f:
                f.write("# defaults\n-v\n-C 1\n-F %t=%p\n-q 1\n")
        env = dict(self.env, XDG_CONFIG_HOME=config)
        pair = [Program([self.tool(t), "-p", str(self.open.port), "-t", "defaults/x",
                         "-F", "%t:%q:%p", "-i", f"defaults-{t}"], env=env)
                for t in ("mosquitto_sub", "ctmqtt-sub")]
        self.open.wait_subscribed("defaults-mosquitto_sub", "defaults-ctmqtt-sub")
        self.publish(["-t", "defaults/x", "-m", "from the file", "-q", "1"])
        results = [p.finish() for p in pair]
        self.report.check("defaults file: read", results[0][0] == b"defaults/x:1:from the file\n",
                          repr(results[0]))
        self.report.same("defaults file", *results)

    def compare_persistent_sessions(self):
        """-c: a session the broker keeps; QoS 1 messages published while the
        subscriber is away arrive when it comes back."""
        for version in ("311", "5"):
            results = []
            for tool in ("mosquitto_sub", "ctmqtt-sub"):
                client = f"keep-{tool}-{version}"
                topic = f"keep/{tool}/{version}"
                args = ["-t", topic, "-q", "1", "-c", "-i", client, "-V", version]
                first = self.run(tool, args + ["-E"])
                self.publish(["-t", topic, "-q", "1", "-m", "while away"])
                self.publish(["-t", topic, "-q", "1", "-m", "and again"])
                second = self.run(tool, args + ["-C", "2", "-F", "%q %m %p", "-x", "0"]
                                  if version == "5" else args + ["-C", "2", "-F", "%q %m %p"])
                results.append((first, second))
            self.report.check(f"persistent session v{version}: the queued messages arrive",
                              results[0][1][0] == b"1 1 while away\n1 2 and again\n",
                              repr(results[0]))
            self.report.same(f"persistent session v{version}: first run", *[r[0] for r in results])
            self.report.same(f"persistent session v{version}: second run",
                             *[r[1] for r in results])

    # -------------------------------------------------------------- a broker that breaks MQTT

    def compare_protocol_violation(self):
        """A scripted server: CONNACK, SUBACK, then a PUBLISH that runs past its
        end. Both programs stop with status 2; ours says what was wrong, and
        in MQTT 5 sends DISCONNECT 0x81 (Malformed Packet) first."""
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        received = []

        def serve():
            for _ in range(3):
                connection, _ = server.accept()
                with connection:
                    connection.settimeout(5)
                    try:
                        first = connection.recv(1000)
                        v5 = len(first) > 8 and first[8] == 5
                        connection.sendall(bytes([0x20, 0x03, 0, 0, 0]) if v5
                                           else bytes([0x20, 0x02, 0, 0]))
                        subscribe = connection.recv(1000)
                        packet_id = subscribe[2:4]
                        connection.sendall(bytes([0x90, 0x04 if v5 else 0x03]) + packet_id +
                                           (b"\x00\x00" if v5 else b"\x00"))
                        connection.sendall(bytes([0x30, 0x03, 0x00, 0x05, 0x61]))
                        data = b""
                        while True:
                            chunk = connection.recv(1000)
                            if not chunk:
                                break
                            data += chunk
                        received.append((v5, data))
                    except OSError:
                        received.append((None, b""))

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        theirs = self.run("mosquitto_sub", ["-t", "a"], port)
        ours = self.run("ctmqtt-sub", ["-t", "a"], port)
        ours5 = self.run("ctmqtt-sub", ["-t", "a", "-V", "5"], port)
        thread.join(10)
        server.close()
        self.report.check("protocol violation: both stop with status 2",
                          theirs[2] == 2 and ours[2] == 2 and ours5[2] == 2,
                          f"mosquitto_sub {theirs}\nctmqtt-sub {ours}\nctmqtt-sub -V 5 {ours5}")
        self.report.check("protocol violation: ctmqtt-sub names the cause",
                          b"PUBLISH" in ours[1] and b"PUBLISH" in ours5[1], repr((ours, ours5)))
        disconnects = [data for v5, data in received if v5]
        self.report.check("protocol violation: MQTT 5 DISCONNECT 0x81 first",
                          any(d.endswith(bytes([0xE0, 0x01, 0x81])) or
                              d.endswith(bytes([0xE0, 0x02, 0x81, 0x00])) for d in disconnects),
                          repr(received))

    def stop(self):
        self.open.stop()
        self.locked.stop()


def main():
    parser = argparse.ArgumentParser()
    for name in ("mosquitto", "mosquitto-sub", "mosquitto-pub", "ctmqtt-sub", "ctmqtt-pub"):
        parser.add_argument(f"--{name}", required=True)
    parser.add_argument("-k", default="", help="run only the parts whose name contains this")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    return run_parts(args, "ctmqtt-tools-", Comparison, lambda c: [
        ("subscribers", c.compare_subscribers),
        ("publishers", c.compare_publishers),
        ("wills", c.compare_wills),
        ("refusals", c.compare_refusals),
        ("options", c.compare_bad_options),
        ("exits", c.compare_exits),
        ("sessions", c.compare_persistent_sessions),
        ("defaults", c.compare_defaults_files),
        ("protocol", c.compare_protocol_violation)])


def run_parts(args, prefix, make, parts_of):
    """Makes `make(args, directory)` in a temporary directory, runs the parts
    `parts_of(it)` names (those whose name contains -k's text), stops it and
    says how many checks passed; 1 when any failed."""
    directory = tempfile.mkdtemp(prefix=prefix)
    started = time.monotonic()
    try:
        comparison = make(args, directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    try:
        for name, part in parts_of(comparison):
            if args.k in name:
                part_start = time.monotonic()
                part()
                print(f"{name}: {time.monotonic() - part_start:.1f} s")
    finally:
        comparison.stop()
        shutil.rmtree(directory, ignore_errors=True)
    report = comparison.report
    print(f"{report.checks - len(report.failures)} of {report.checks} checks passed "
          f"in {time.monotonic() - started:.1f} s")
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
