#!/usr/bin/env python3
"""ctmqtt-bench against a mosquitto of its own: a short run in each mode.

    test_bench.py MOSQUITTO CTMQTT_BENCH

- pub + sub at QoS 0, 1 and 2: the counts add up (at QoS 1 and 2 every
  message published reaches both subscribers; at QoS 0 none more than sent),
  latency samples come with the messages, the JSON summary is well formed;
- conn: every connection is up at the end, with a memory figure per connection;
- a bad option exits with 2 and says which; a refused connection (the broker
  wants a password) exits with 1 and names the refusal.
The broker keeps every queued message (max_queued_messages 0): mosquitto's
default of 1000 drops QoS 1/2 messages for a subscriber that falls behind,
which would make the counts depend on the machine's speed.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

# The mosquitto of its own that the tools' comparison test uses.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
from compare_tools import Broker  # noqa: E402

failures = []


def check(condition, what):
    print(("ok   " if condition else "FAIL ") + what)
    if not condition:
        failures.append(what)


def summary(output, what):
    try:
        return json.loads(output.strip().splitlines()[-1])
    except (ValueError, IndexError):
        check(False, f"{what}: a JSON summary (got {output!r})")
        return None


def wait_for_line(process, text, timeout=10):
    """Reads the process's stderr until a line contains `text`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line:
            return False
        if text in line:
            return True
    return False


def pub_and_sub(bench, broker, qos, clients=4, count=500):
    sent_total = clients * count
    sub = subprocess.Popen([bench, "sub", "-p", str(broker.port), "-c", "2", "-t", "t/#", "-q",
                            str(qos), "--count", str(2 * sent_total), "--duration", "30",
                            "--prefix", "bench-sub", "--json"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The progress line says when both subscribers are connected; the broker's
    # log when they have subscribed.
    check(wait_for_line(sub, "conns 2/2"), f"QoS {qos}: the subscribers connect")
    broker.wait_subscribed(*(f"bench-sub-{sub.pid}-{i}" for i in range(2)))
    pub = subprocess.run([bench, "pub", "-p", str(broker.port), "-c", str(clients), "-t", "t/%i", "-q",
                          str(qos), "-s", "64", "--count", str(count), "--inflight", "50",
                          "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         timeout=60)
    check(pub.returncode == 0, f"QoS {qos}: pub exits with 0 (got {pub.returncode}: {pub.stderr})")
    p = summary(pub.stdout, f"QoS {qos} pub")
    if qos == 0:
        # Nothing waits for QoS 0: give the subscribers a moment, then stop them.
        time.sleep(1.5)
        sub.send_signal(2)
    out, err = sub.communicate(timeout=40)
    s = summary(out, f"QoS {qos} sub")
    if not p or not s:
        return
    check(p["mode"] == "pub" and p["clients"] == clients, f"QoS {qos}: pub summary names the run")
    check(p["sent"] == sent_total, f"QoS {qos}: pub sent {p['sent']} of {sent_total}")
    check(p["acknowledged"] == sent_total,
          f"QoS {qos}: pub acknowledged {p['acknowledged']} of {sent_total}")
    check(p["errors"] == 0, f"QoS {qos}: pub errors {p['errors']}")
    if qos > 0:
        check(p["latency_ms"]["samples"] == sent_total,
              f"QoS {qos}: one acknowledgement latency per message ({p['latency_ms']['samples']})")
        check(s["received"] == 2 * sent_total,
              f"QoS {qos}: both subscribers received every message ({s['received']} of "
              f"{2 * sent_total})")
    else:
        check(0 < s["received"] <= 2 * sent_total,
              f"QoS 0: subscribers received {s['received']} (at most {2 * sent_total})")
    check(s["latency_ms"]["samples"] == s["received"],
          f"QoS {qos}: a latency sample per message received")
    lat = s["latency_ms"]
    check(0 <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["max"],
          f"QoS {qos}: percentiles in order ({lat})")
    check(s["errors"] == 0, f"QoS {qos}: sub errors {s['errors']}")


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    mosquitto, bench = sys.argv[1], sys.argv[2]

    directory = tempfile.mkdtemp(prefix="ctmqtt-bench-test-")
    keep_all = "max_queued_messages 0\n"
    broker = Broker(mosquitto, directory, "open", "allow_anonymous true\n" + keep_all)
    try:
        for qos in (0, 1, 2):
            pub_and_sub(bench, broker, qos)
        conn = subprocess.run([bench, "conn", "-p", str(broker.port), "-c", "200", "--duration",
                               "2", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=30)
        c = summary(conn.stdout, "conn")
        check(conn.returncode == 0, f"conn exits with 0 (got {conn.returncode}: {conn.stderr})")
        if c:
            check(c["connected"] == 200, f"conn: 200 connected at the end ({c['connected']})")
            check(c["rss_kib_per_connection"] > 0,
                  f"conn: memory per connection reported ({c['rss_kib_per_connection']} KiB)")
    finally:
        broker.stop()

    bad = subprocess.run([bench, "pub", "-q", "3"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, timeout=10)
    check(bad.returncode == 2 and "QoS must be 0, 1 or 2" in bad.stderr,
          f"a bad option exits with 2 and says why ({bad.returncode}: {bad.stderr.strip()})")
    bad = subprocess.run([bench, "dance"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, timeout=10)
    check(bad.returncode == 2 and "unknown mode" in bad.stderr,
          f"an unknown mode exits with 2 ({bad.returncode}: {bad.stderr.strip()})")

    closed = Broker(mosquitto, directory, "closed", "allow_anonymous false\n")
    try:
        refused = subprocess.run([bench, "pub", "-p", str(closed.port), "--count", "1",
                                  "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, timeout=30)
        check(refused.returncode == 1 and "connection refused" in refused.stderr,
              f"a refused connection exits with 1 and names the refusal ({refused.returncode}: "
              f"{refused.stderr.strip()})")
    finally:
        closed.stop()
        shutil.rmtree(directory, ignore_errors=True)

    print(f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
