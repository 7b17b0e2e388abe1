#!/usr/bin/env python3
"""Runs a command against a mosquitto of its own.

    with_mosquitto.py [--expect REGEX] MOSQUITTO COMMAND [ARGS...]

Starts MOSQUITTO on a free loopback port with a generated configuration in a
temporary directory, runs COMMAND ARGS... 127.0.0.1 PORT, stops the broker and
exits with the command's status; with --expect, also fails when the command's
output does not match REGEX. Used to run the client examples as tests.
"""
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    args = sys.argv[1:]
    expect = None
    if len(args) >= 2 and args[0] == "--expect":
        expect, args = args[1], args[2:]
    if len(args) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    mosquitto, command = args[0], args[1:]
    directory = tempfile.mkdtemp(prefix="ctmqtt-broker-")
    port = free_port()
    config = os.path.join(directory, "mosquitto.conf")
    with open(config, "w") as f:
        f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
        if os.geteuid() == 0:
            f.write("user root\n")  # else mosquitto drops to a user that cannot read the dir
    broker = subprocess.Popen([mosquitto, "-c", config], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                if broker.poll() is not None or time.monotonic() > deadline:
                    print("with_mosquitto: the broker did not start", file=sys.stderr)
                    return 1
                time.sleep(0.05)
        run = subprocess.run(command + ["127.0.0.1", str(port)], timeout=60,
                             stdout=subprocess.PIPE, text=True)
        sys.stdout.write(run.stdout)
        if run.returncode != 0:
            print(f"with_mosquitto: the command exited with {run.returncode}", file=sys.stderr)
            return 1
        if expect is not None and not re.search(expect, run.stdout):
            print(f"with_mosquitto: no output matched {expect!r}", file=sys.stderr)
            return 1
        return 0
    finally:
        broker.terminate()
        try:
            broker.wait(timeout=5)
        except subprocess.TimeoutExpired:
            broker.kill()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
