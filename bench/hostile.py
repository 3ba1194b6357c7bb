#!/usr/bin/env python3
"""Hostile clients: does everyone else still get served?

    python3 bench/hostile.py [--no-build] [--only NAME] [--clients 20]

Starts portico, portico-wasi, nginx and lighttpd (the last two when
installed) as bench/load.py does, then for each server in turn holds one of
these crowds open and, meanwhile, times `--clients` new visitors, one after
another, each asking for a 1 KiB file on a new connection:

- silent:    10,000 connections that send nothing;
- slowloris: 2,000 connections that send a request head one byte a second;
- readers:   2,000 connections that ask for a 10 MiB file with a 4 KiB
             receive buffer and never read;
- expiring:  10,000 keep-alive connections that each asked for the 1 KiB
             file within about a second, so their idle timeouts all come
             due together; visitors are timed back to back from a second
             before the first deadline to two seconds after the last.

It prints, per server and crowd, how many visitors got a 200 within 5 s,
their median and worst wait, the server's resident memory with the
crowd held, and the kernel's memory for TCP with it (machine-wide, from
/proc/net/sockstat, above what it was before the crowd: the send queues
a server fills for clients that do not read are there, not in its RSS).
For the expiring crowd it also prints how many of the crowd the server
had closed by the end: all of them, if it keeps its idle timeout. Every
server gets an idle timeout of IDLE_TIMEOUT (10 s) here, so that crowd
does not wait out load.py's 65 s. Only 127.0.0.1 is targeted; every
crowd is closed before the next, and the whole run ends by itself.
"""

import argparse
import os
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load  # noqa: E402  (the same servers, configurations and helpers)

CROWDS = [("silent", 10_000), ("slowloris", 2_000), ("readers", 2_000), ("expiring", 10_000)]
WAIT = 5.0
IDLE_TIMEOUT = 10


def visitor(port):
    """Seconds until a whole 200 came, or None if not within WAIT."""
    start = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=WAIT) as s:
            s.sendall(b"GET /1k.html HTTP/1.1\r\nHost: v\r\nConnection: close\r\n\r\n")
            got = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
    except OSError:
        return None
    if not got.startswith(b"HTTP/1.1 200 "):
        return None
    return time.perf_counter() - start


def open_crowd(kind, port, count):
    crowd = []
    for i in range(count):
        s = socket.socket()
        if kind == "readers":
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.settimeout(10)
        try:
            s.connect(("127.0.0.1", port))
        except OSError as error:
            print(f"  {kind}: connection {i} failed ({error}); holding {len(crowd)}", flush=True)
            s.close()
            break
        s.setblocking(False)
        try:
            if kind == "slowloris":
                s.send(b"GET /1k.html HTTP/1.1\r\nHost: x\r\nX-a:")
            elif kind == "readers":
                s.send(b"GET /10m.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            elif kind == "expiring":
                # The 1 KiB answer fits the socket's buffer: written, the
                # connection is idle whether or not it is read.
                s.send(b"GET /1k.html HTTP/1.1\r\nHost: x\r\n\r\n")
        except OSError:
            pass
        crowd.append(s)
    return crowd


def trickle(crowd):
    """One more header byte on every slowloris connection."""
    for s in crowd:
        try:
            s.send(b"a")
        except OSError:
            pass


def tcp_mib():
    """The kernel's memory for TCP buffers, machine-wide, in MiB."""
    with open("/proc/net/sockstat") as f:
        for line in f:
            fields = line.split()
            if fields and fields[0] == "TCP:" and "mem" in fields:
                return int(fields[fields.index("mem") + 1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return float("nan")


def closed_by_server(crowd):
    """How many of these sockets the server has closed (EOF or reset)."""
    closed = 0
    for s in crowd:
        try:
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    closed += 1
                    break
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    return closed


def visitors_through(port, until):
    """Visitors back to back (2 ms apart) until `until` (monotonic)."""
    waits = []
    while time.monotonic() < until:
        waits.append(visitor(port))
        time.sleep(0.002)
    return waits


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--only", default="", help="only servers whose name contains this")
    ap.add_argument("--clients", type=int, default=20, help="visitors timed per crowd")
    args = ap.parse_args()
    # Read by load's configurations of nginx and lighttpd, and below.
    load.IDLE_TIMEOUT = IDLE_TIMEOUT
    load.raise_fd_limit(max(n for _, n in CROWDS) + 2048)

    if not args.no_build:
        load.build()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(load.ROOT, "target"))
    tmp, root = load.make_root("portico-hostile-", [("1k.html", 1024), ("10m.bin", 10 * 1024 * 1024)])

    rows = []
    for name in ["portico", "portico-wasi", "nginx", "lighttpd"]:
        if args.only and args.only not in name:
            continue
        port = load.free_port()
        if name.startswith("portico"):
            argv = [os.path.join(target, "release", name), "-q", "-p", str(port),
                    "--idle-timeout", str(load.IDLE_TIMEOUT), root]
        elif name == "nginx" and load.shutil.which("nginx"):
            for d in ["body", "proxy", "fastcgi", "uwsgi", "scgi"]:
                os.makedirs(os.path.join(tmp, d), exist_ok=True)
            argv = ["nginx", "-c", load.nginx_config(tmp, root, port, os.cpu_count() or 2), "-p", tmp]
        elif name == "lighttpd" and load.shutil.which("lighttpd"):
            argv = ["lighttpd", "-D", "-f", load.lighttpd_config(tmp, root, port)]
        else:
            print(f"{name} is not installed: skipped", file=sys.stderr)
            continue
        server = load.Server(name, argv, port)
        try:
            for kind, count in CROWDS:
                tcp_before = tcp_mib()
                opened = time.monotonic()
                crowd = open_crowd(kind, port, count)
                if kind == "expiring":
                    done = time.monotonic()
                    time.sleep(max(0.0, opened + IDLE_TIMEOUT - 1.0 - time.monotonic()))
                    rss = load.rss_kib(server.proc.pid) / 1024
                    tcp = tcp_mib() - tcp_before
                    waits = visitors_through(port, done + IDLE_TIMEOUT + 2.0)
                else:
                    time.sleep(1.0)
                    waits = []
                    last = time.monotonic()
                    for _ in range(args.clients):
                        if kind == "slowloris" and time.monotonic() - last >= 1.0:
                            trickle(crowd)
                            last = time.monotonic()
                        waits.append(visitor(port))
                    rss = load.rss_kib(server.proc.pid) / 1024
                    tcp = tcp_mib() - tcp_before
                served = [w for w in waits if w is not None]
                median = statistics.median(served) * 1e3 if served else float("nan")
                worst = max(served) * 1e3 if served else float("nan")
                rows.append((name, kind, len(crowd), len(served), len(waits), median, worst, rss, tcp))
                print(f"{name:<13} {kind:<10} held {len(crowd):>6}: {len(served)}/{len(waits)} served, "
                      f"median {median:.1f} ms, worst {worst:.1f} ms, RSS {rss:.1f} MiB, "
                      f"TCP {tcp:.0f} MiB", flush=True)
                if kind == "expiring":
                    print(f"{'':<13} {kind:<10} closed by the server at its idle timeout: "
                          f"{closed_by_server(crowd)} of {len(crowd)}", flush=True)
                for s in crowd:
                    s.close()
                time.sleep(2.0)
        finally:
            server.stop()

    print()
    print(f"{'server':<13} {'crowd':<10} {'held':>6} {'served':>11} {'median ms':>10} {'worst ms':>9} "
          f"{'RSS MiB':>8} {'TCP MiB':>8}")
    for name, kind, held, ok, total, median, worst, rss, tcp in rows:
        print(f"{name:<13} {kind:<10} {held:>6} {ok:>5}/{total:<5} {median:>10.1f} {worst:>9.1f} "
              f"{rss:>8.1f} {tcp:>8.0f}")
    load.shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
