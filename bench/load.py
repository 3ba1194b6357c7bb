#!/usr/bin/env python3
"""Load benchmark: portico, portico-wasi, nginx, lighttpd and Caddy (when installed) on 127.0.0.1.

    python3 bench/load.py [--duration 5] [--rounds 3] [--threads N] [--quick]
                          [--only NAME] [--baseline TARGET_DIR]

Builds both portico binaries in release, makes a web root with a 1 KiB, a
100 KiB and a 10 MiB file, starts every server on its own loopback port,
and runs bounded `wrk` scenarios against each, interleaving servers within
every round (A B C, C B A, ...) because this machine is shared and noisy.
For each run it records requests/s, p99 latency and the server's CPU time
per request (utime+stime from /proc, before/after) and its context
switches per request (every thread's, from /proc: a worker that runs out
of work sleeps and is woken again); at the end each
server's peak RSS (VmHWM, summed over its processes). It prints a table
with every figure's median over the rounds and each server's ratio to
nginx, measured in the same rounds, then portico's and portico-wasi's
ratios to lighttpd (one process, sendfile: the fastest static server a
user could pick here): each default against lighttpd's (portico starts
half as many workers as cores on a loopback address, whose clients share
the cores: one on 2 cores), and "portico -wN" (`--workers N`, a worker per
core as on any other address) against "lighttpd xN" (`server.max-worker`,
as many processes as --threads); then portico-wasi against portico, at
their defaults and both at -wN (how wrk's connections fall on N workers
changes from run to run, and each binary draws its own lot; each run whose
work fell on more than one thread is marked "split", and that table counts
them). With --baseline, the portico binaries
of another build (say a worktree of the previous commit built with its own
CARGO_TARGET_DIR) run interleaved too, as portico@base and
portico-wasi@base, and each build's ratio to its baseline is printed: how a
change moved speed and CPU, measured under the same noise.

"100KiB JS, compressed" asks for a 100 KiB script with a browser's
Accept-Encoding: portico compresses it once (it is asked for until it
comes compressed before the rounds start), nginx (`gzip on`, its default
level 1) and Caddy (`encode zstd gzip`) compress it for every request; the
table after gives each server's bytes per response (wrk's bytes read over
its requests).

"1KiB + 10k idle" first opens 10,000 keep-alive connections to the server
(each answered once, then left idle), times a new client's request (worst
of 5), runs wrk beside them, and records the server's resident memory with
them held. The script raises its own open-file limit for them.

Only 127.0.0.1 is ever targeted, and every wrk run ends by itself.
"""

import argparse
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLK_TCK = os.sysconf("SC_CLK_TCK")

# name, file, wrk connections, extra wrk args, idle keep-alive connections held meanwhile
SCENARIOS = [
    ("1KiB keep-alive", "1k.html", 32, [], 0),
    ("100KiB keep-alive", "100k.bin", 32, [], 0),
    ("10MiB keep-alive", "10m.bin", 8, [], 0),
    ("1KiB 512 conns", "1k.html", 512, [], 0),
    ("1KiB Connection: close", "1k.html", 32, ["-H", "Connection: close"], 0),
    ("1KiB + 10k idle", "1k.html", 32, [], 10_000),
    # A browser's Accept-Encoding for a 100 KiB script without a
    # precompressed sibling: portico compresses it once (warmed up before
    # the rounds), nginx (`gzip on`, level 1) and Caddy (`encode`) per
    # request.
    ("100KiB JS, compressed", "100k.js", 32, ["-H", "Accept-Encoding: gzip, deflate, br, zstd"], 0),
]

BROWSER_ENCODINGS = "gzip, deflate, br, zstd"

# Every server keeps an idle connection this long (nginx's keepalive_timeout).
IDLE_TIMEOUT = 65


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=60.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def descendants(pid):
    """pid and all its children (nginx: master + workers)."""
    pids = [pid]
    try:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
        for line in out.stdout.split():
            pids += descendants(int(line))
    except (OSError, ValueError):
        pass
    return pids


def cpu_seconds(pids):
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # utime, stime, cutime, cstime are fields 14..17 (1-based)
            total += sum(int(x) for x in fields[11:15])
        except OSError:
            pass
    return total / CLK_TCK


def task_files(pids, name):
    """((pid, tid), text of /proc/pid/task/tid/NAME) for every thread of
    the server's processes that is still there."""
    for p in pids:
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                with open(f"/proc/{p}/task/{t}/{name}") as f:
                    yield (p, t), f.read()
            except OSError:
                continue


def context_switches(pids):
    """Context switches (voluntary and not) of every thread of the server's
    processes so far: a server whose threads run out of work sleeps and is
    woken again, and on a small shared box that costs CPU per request."""
    return sum(int(n) for _, text in task_files(pids, "status")
               for n in re.findall(r"ctxt_switches:\s+(\d+)", text))


def thread_ticks(pids):
    """CPU time (utime+stime, in ticks) of every thread of the server's
    processes, by (pid, tid)."""
    ticks = {}
    for key, text in task_files(pids, "stat"):
        fields = text.rsplit(")", 1)[1].split()
        ticks[key] = int(fields[11]) + int(fields[12])
    return ticks


def split_run(before, after):
    """Whether a run's work fell on more than one thread or process: the
    second-busiest used at least a fifth of the busiest's CPU (with
    keep-alive connections staying on the worker that accepted them, this
    is how wrk's connections fell)."""
    used = sorted((after[k] - before.get(k, 0) for k in after), reverse=True)
    return len(used) > 1 and used[0] > 0 and used[1] >= used[0] / 5


def status_kib(pid, field):
    """A memory figure of /proc/PID/status (VmHWM: peak, VmRSS: now), in
    KiB, summed over the server's processes."""
    total = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                m = re.search(rf"{field}:\s+(\d+)", f.read())
            total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total


def peak_rss_kib(pid):
    return status_kib(pid, "VmHWM")


def rss_kib(pid):
    return status_kib(pid, "VmRSS")


def build():
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "portico", "-p", "portico-wasi"],
                   cwd=ROOT, check=True)


def make_root(prefix, files):
    """A temporary directory with root/ holding `files` (name, size): a
    1 KiB HTML page for 1k.html, random bytes for the rest."""
    tmp = tempfile.mkdtemp(prefix=prefix)
    os.chmod(tmp, 0o755)
    root = os.path.join(tmp, "root")
    os.mkdir(root)
    for name, size in files:
        with open(os.path.join(root, name), "wb") as f:
            if name == "1k.html":
                f.write(b"<!DOCTYPE html><title>1k</title>" + b"x" * (size - 32))
            elif name.endswith(".js"):
                f.write(script(size))
            else:
                f.write(os.urandom(size))
    return tmp, root


def script(size):
    """`size` bytes of JavaScript-like text: identifiers, numbers and
    keywords in varied order, which compresses about as real minified
    code does (not as a run of one byte)."""
    import random
    rng = random.Random(42)
    words = ["function", "return", "const", "let", "if", "else", "for", "while", "this",
             "document", "window", "length", "push", "map", "filter", "value", "index",
             "element", "event", "target", "null", "true", "false", "undefined", "new"]
    out = bytearray()
    while len(out) < size:
        a, b = rng.choice(words), rng.choice(words)
        out += f"{a} v{rng.randrange(5000)}={b}.{rng.choice(words)}({rng.randrange(1000)});".encode()
    return bytes(out[:size])


def warm(port, path, timeout=60.0):
    """Ask for `path` with a browser's Accept-Encoding until it comes
    compressed (portico compresses it off the loop after the first ask),
    at most `timeout` seconds: the coding it came in, or None."""
    import http.client
    deadline = time.time() + timeout
    while True:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", f"/{path}", headers={"Accept-Encoding": BROWSER_ENCODINGS})
        response = conn.getresponse()
        response.read()
        coding = response.getheader("Content-Encoding")
        conn.close()
        if coding or time.time() > deadline:
            return coding
        time.sleep(0.1)


def caddy_config(tmp, root, port):
    """Caddy 2 as a static server with `encode` (zstd and gzip, per
    request), its admin API and automatic HTTPS off, no access log."""
    conf = os.path.join(tmp, "Caddyfile")
    with open(conf, "w") as f:
        f.write(f"""{{
    admin off
    auto_https off
}}
http://127.0.0.1:{port} {{
    root * {root}
    encode zstd gzip
    file_server
}}
""")
    return conf


def raise_fd_limit(needed):
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(needed, soft)), hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def hold_idle(port, count):
    """`count` keep-alive connections, each answered once, then left idle."""
    request = b"GET /1k.html HTTP/1.1\r\nHost: bench\r\n\r\n"
    held = []
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(request)
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(65536)
            if not chunk:
                raise RuntimeError(f"idle connection {len(held)} closed by the server")
            got += chunk
        head, body = got.split(b"\r\n\r\n", 1)
        length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))
        while len(body) < length:
            body += s.recv(65536)
        held.append(s)
    return held


def fresh_client_ms(port):
    """How long a new client waits for a whole small response."""
    start = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /1k.html HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
            while s.recv(65536):
                pass
    except OSError:
        return float("inf")  # not answered within 5 s
    return (time.perf_counter() - start) * 1e3


def parse_wrk(out):
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    read = re.search(r"requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB) read", out)
    units = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3}
    parse_wrk.read_bytes = float(read.group(1)) * units[read.group(2)] if read else float("nan")
    total = int(re.search(r"(\d+) requests in", out).group(1))
    m = re.search(r"^\s+99%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}
    p99_ms = float(m.group(1)) * scale[m.group(2)] if m else float("nan")
    errors = re.search(r"Socket errors: (.*)", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, total, p99_ms, (errors.group(1) if errors else ""), int(non2xx.group(1)) if non2xx else 0


class Server:
    def __init__(self, name, argv, port, cwd=None):
        self.name, self.port = name, port
        # Its own process group: lighttpd's master with workers signals its
        # whole group when it stops, which would include this script.
        self.proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True)
        wait_listening(port, self.proc)

    def stop(self):
        self.rss = peak_rss_kib(self.proc.pid)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def nginx_config(tmp, root, port, workers):
    conf = os.path.join(tmp, "nginx.conf")
    with open(conf, "w") as f:
        f.write(f"""
worker_processes {workers};
daemon off;
master_process on;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/nginx-error.log;
worker_rlimit_nofile 20000;
events {{ worker_connections 12000; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 100000;
    keepalive_timeout {IDLE_TIMEOUT};
    client_header_timeout {IDLE_TIMEOUT};
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    types {{ text/html html; application/octet-stream bin; application/javascript js; }}
    gzip on;
    gzip_types application/javascript;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {root};
    }}
}}
""")
    return conf


def lighttpd_config(tmp, root, port, workers=1):
    """lighttpd 1.4 as it is usually run for static files: one process
    (`workers` > 1: a master forking that many, `server.max-worker`),
    sendfile, keep-alive without a request limit, no access log. It holds
    at most max-fds / 2 connections (10,000 under this machine's 20,000
    open-file hard limit, which it cannot raise), so with 10,000 idle ones
    it stops accepting: the 10k scenario shows that."""
    conf = os.path.join(tmp, f"lighttpd-{workers}.conf")
    many = f"server.max-worker = {workers}" if workers > 1 else ""
    with open(conf, "w") as f:
        f.write(f"""
server.document-root = "{root}"
server.bind = "127.0.0.1"
server.port = {port}
server.pid-file = "{tmp}/lighttpd-{workers}.pid"
{many}
server.errorlog = "{tmp}/lighttpd-{workers}-error.log"
server.max-fds = 20000
server.max-connections = 12000
server.max-keep-alive-requests = 100000
server.max-keep-alive-idle = {IDLE_TIMEOUT}
server.max-read-idle = {IDLE_TIMEOUT}
server.network-backend = "sendfile"
mimetype.assign = ( ".html" => "text/html", ".bin" => "application/octet-stream" )
""")
    return conf


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=5, help="seconds per wrk run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2,
                    help="nginx workers, lighttpd xN processes and portico -wN workers")
    ap.add_argument("--quick", action="store_true", help="1 round of 2 s, for a smoke test")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--only", default="", help="run only scenarios whose name contains this")
    ap.add_argument("--baseline", default="",
                    help="a cargo target dir with release binaries of another build to compare with")
    args = ap.parse_args()
    if args.quick:
        args.duration, args.rounds = 2, 1
    scenarios = [s for s in SCENARIOS if args.only.lower() in s[0].lower()]
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")

    if not args.no_build:
        build()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binaries = {
        "portico": os.path.join(target, "release", "portico"),
        "portico-wasi": os.path.join(target, "release", "portico-wasi"),
    }
    if args.baseline:
        for name in ["portico", "portico-wasi"]:
            binary = os.path.join(args.baseline, "release", name)
            if not os.path.exists(binary):
                sys.exit(f"no baseline binary {binary}")
            binaries[f"{name}@base"] = binary

    tmp, root = make_root("portico-load-", [("1k.html", 1024), ("100k.bin", 100 * 1024),
                                            ("10m.bin", 10 * 1024 * 1024),
                                            ("100k.js", 100 * 1024)])

    # Both binaries also with a worker per core (their default on any
    # address but loopback), against lighttpd with as many processes: the
    # comparison at equal threads (benchmarking notes: a peer gets as many
    # workers as the other server has threads). wrk shares the cores.
    runs = [(name, binary, []) for name, binary in binaries.items()]
    spread = f"-w{args.threads}"
    if args.threads > 1 and not args.baseline:
        runs.insert(1, (f"portico {spread}", binaries["portico"], ["--workers", str(args.threads)]))
        runs.insert(3, (f"portico-wasi {spread}", binaries["portico-wasi"],
                        ["--workers", str(args.threads)]))

    servers = []
    try:
        for name, binary, extra_args in runs:
            port = free_port()
            argv = [binary, "-q", "-p", str(port), "--idle-timeout", str(IDLE_TIMEOUT),
                    *extra_args, root]
            servers.append(Server(name, argv, port))
        if shutil.which("nginx"):
            port = free_port()
            for d in ["body", "proxy", "fastcgi", "uwsgi", "scgi"]:
                os.makedirs(os.path.join(tmp, d), exist_ok=True)
            conf = nginx_config(tmp, root, port, args.threads)
            servers.append(Server("nginx", ["nginx", "-c", conf, "-p", tmp], port))
        else:
            print("nginx is not installed: no nginx column (apt-get install nginx-light)", file=sys.stderr)
        if shutil.which("lighttpd"):
            port = free_port()
            conf = lighttpd_config(tmp, root, port)
            servers.append(Server("lighttpd", ["lighttpd", "-D", "-f", conf], port))
            if args.threads > 1 and not args.baseline:
                # lighttpd with as many processes as portico -wN has
                # workers: the comparison at equal threads.
                port = free_port()
                conf = lighttpd_config(tmp, root, port, args.threads)
                servers.append(Server(f"lighttpd x{args.threads}", ["lighttpd", "-D", "-f", conf], port))
        else:
            print("lighttpd is not installed: no lighttpd rows (apt-get install lighttpd)", file=sys.stderr)
        if shutil.which("caddy"):
            port = free_port()
            conf = caddy_config(tmp, root, port)
            servers.append(Server("caddy", ["caddy", "run", "--config", conf, "--adapter", "caddyfile"],
                                  port, cwd=tmp))
        else:
            print("caddy is not installed: no caddy rows (apt-get install caddy)", file=sys.stderr)
        for scenario, path, _, extra, _ in scenarios:
            if any("Accept-Encoding" in arg for arg in extra):
                for server in servers:
                    coding = warm(server.port, path)
                    print(f"warm-up: {server.name} sends {path} as {coding or 'identity'}",
                          file=sys.stderr)

        # (scenario, server) -> list of (rps, p99, cpu_us, rss_mib, fresh_ms, cs_per_req, split)
        results = {}
        if any(idle for *_, idle in scenarios):
            raise_fd_limit(max(idle for *_, idle in scenarios) + 1024)
        for r in range(args.rounds):
            for scenario, path, conns, extra, idle in scenarios:
                # Every other round in reverse (A B C, C B A, ...): the box
                # drifts within a round too, which a fixed order would
                # charge to whoever runs last.
                for server in servers if r % 2 == 0 else servers[::-1]:
                    held, fresh = [], float("nan")
                    if idle:
                        held = hold_idle(server.port, idle)
                        fresh = max(fresh_client_ms(server.port) for _ in range(5))
                    # The server's processes, found once (each look runs `ps`).
                    pids = descendants(server.proc.pid)
                    before = cpu_seconds(pids)
                    switches = context_switches(pids)
                    threads = thread_ticks(pids)
                    out = subprocess.run(
                        ["wrk", "-t", "1", "-c", str(conns), "-d", f"{args.duration}s", "--latency",
                         "--timeout", "5s", *extra, f"http://127.0.0.1:{server.port}/{path}"],
                        capture_output=True, text=True, timeout=args.duration + 30).stdout
                    cpu = cpu_seconds(pids) - before
                    switches = context_switches(pids) - switches
                    split = split_run(threads, thread_ticks(pids))
                    rss = rss_kib(server.proc.pid) / 1024
                    for s in held:
                        s.close()
                    rps, total, p99, errors, non2xx = parse_wrk(out)
                    cpu_us = cpu / total * 1e6 if total else float("nan")
                    cs = switches / total if total else float("nan")
                    per_response = parse_wrk.read_bytes / total if total else float("nan")
                    results.setdefault((scenario, server.name), []).append(
                        (rps, p99, cpu_us, rss, fresh, cs, split, per_response))
                    note = f" errors: {errors}" if errors else ""
                    note += f" non-2xx: {non2xx}" if non2xx else ""
                    note += f" new client with {idle} idle: {fresh:.1f} ms" if idle else ""
                    print(f"round {r + 1} {scenario:<24} {server.name:<17} {rps:>10.0f} req/s "
                          f"p99 {p99:>8.2f} ms  cpu {cpu_us:>8.1f} µs/req  cs {cs:>6.3f}/req  "
                          f"rss {rss:>6.1f} MiB{' split' if split else ''}{note}",
                          flush=True)
                    if held:
                        time.sleep(1)  # let the server see the idle ones go
    finally:
        for server in servers:
            server.stop()

    names = [s.name for s in servers]
    med = lambda xs: statistics.median(xs)
    ratio = lambda a, b: a / b if b else float("nan")

    def round_ratios(rows, base):
        """req/s and CPU ratios per round, then their medians: both servers
        saw the same noise within a round."""
        return (med([ratio(a[0], b[0]) for a, b in zip(rows, base)]),
                med([ratio(a[2], b[2]) for a, b in zip(rows, base)]))
    print()
    print(f"wrk -t1, {args.duration}s per run, {args.rounds} interleaved round(s); medians; "
          f"ratio = server / nginx in the same rounds (req/s: higher is better; cpu: lower is better)")
    header = (f"{'scenario':<24} {'server':<17} {'req/s':>10} {'p99 ms':>8} {'cpu µs/req':>11} "
              f"{'cs/req':>7} {'RSS MiB':>8}")
    if "nginx" in names:
        header += f" {'req/s ratio':>11} {'cpu ratio':>9}"
    print(header)
    for scenario, *_ in scenarios:
        base = results.get((scenario, "nginx"))
        for name in names:
            rows = results[(scenario, name)]
            rps, p99, cpu, rss = (med([row[i] for row in rows]) for i in range(4))
            cs = med([row[5] for row in rows])
            line = (f"{scenario:<24} {name:<17} {rps:>10.0f} {p99:>8.2f} {cpu:>11.1f} {cs:>7.3f} "
                    f"{rss:>8.1f}")
            if base:
                # Ratio per round, then the median: both servers saw the same noise.
                rr, cr = round_ratios(rows, base)
                line += f" {rr:>11.2f} {cr:>9.2f}"
            print(line)
    if "lighttpd" in names:
        # Each default as shipped, then a worker per core against lighttpd
        # with as many processes.
        many = f"lighttpd x{args.threads}"
        pairs = [("portico", "lighttpd"), ("portico-wasi", "lighttpd"),
                 (f"portico {spread}", many), (f"portico-wasi {spread}", many)]
        pairs = [(a, b) for a, b in pairs if a in names and b in names]
        print()
        print("against lighttpd, same rounds (req/s: higher is better; cpu: lower is better)")
        print(f"{'scenario':<24} {'server':<16} {'against':<12} {'req/s ratio':>11} {'cpu ratio':>9}")
        for scenario, *_ in scenarios:
            for name, peer_name in pairs:
                rows, peer = results[(scenario, name)], results[(scenario, peer_name)]
                rr, cr = round_ratios(rows, peer)
                print(f"{scenario:<24} {name:<16} {peer_name:<12} {rr:>11.2f} {cr:>9.2f}")
    if "portico" in names and "portico-wasi" in names:
        print()
        print(f"portico-wasi against portico, same rounds (default workers; both at {spread}); split: "
              f"in how many rounds the load fell on more than one worker (wasi, portico; "
              f"defaults, then {spread})")
        print(f"{'scenario':<24} {'req/s ratio':>11} {'cpu ratio':>9} {spread + ' req/s':>11} "
              f"{spread + ' cpu':>9} {'split':>9} {spread + ' split':>9}")
        splits = lambda rows, base: f"{sum(r[6] for r in rows)}, {sum(r[6] for r in base)} of {len(rows)}"
        for scenario, *_ in scenarios:
            rows, base = results[(scenario, "portico-wasi")], results[(scenario, "portico")]
            rr, cr = round_ratios(rows, base)
            line = f"{scenario:<24} {rr:>11.2f} {cr:>9.2f}"
            split = splits(rows, base)
            if f"portico-wasi {spread}" in names:
                rows = results[(scenario, f"portico-wasi {spread}")]
                base = results[(scenario, f"portico {spread}")]
                rr, cr = round_ratios(rows, base)
                line += f" {rr:>11.2f} {cr:>9.2f} {split:>9} {splits(rows, base):>9}"
            else:
                line += f" {'':>11} {'':>9} {split:>9}"
            print(line)
    for scenario, _, _, extra, _ in scenarios:
        if not any("Accept-Encoding" in arg for arg in extra):
            continue
        print()
        print(f"{scenario}: bytes on the wire per response (head and body; median over rounds)")
        print(f"{'server':<17} {'bytes/response':>14}")
        for name in names:
            rows = results[(scenario, name)]
            print(f"{name:<17} {med([row[7] for row in rows]):>14.0f}")
    for scenario, _, _, _, idle in scenarios:
        if not idle:
            continue
        print()
        print(f"{scenario}: with {idle} idle keep-alive connections held, a new client's wait "
              f"(worst of 5, median over rounds) and the server's resident memory")
        print(f"{'server':<17} {'new client ms':>13} {'RSS MiB':>8}")
        for name in names:
            rows = results[(scenario, name)]
            print(f"{name:<17} {med([row[4] for row in rows]):>13.1f} {med([row[3] for row in rows]):>8.1f}")
    if args.baseline:
        print()
        print("against the baseline build, same rounds (req/s: higher is better; cpu: lower is better)")
        print(f"{'scenario':<24} {'server':<13} {'req/s ratio':>11} {'cpu ratio':>9}")
        for scenario, *_ in scenarios:
            for name in ["portico", "portico-wasi"]:
                rows, base = results[(scenario, name)], results[(scenario, f"{name}@base")]
                rr, cr = round_ratios(rows, base)
                print(f"{scenario:<24} {name:<13} {rr:>11.2f} {cr:>9.2f}")
    print()
    print(f"{'server':<17} {'peak RSS':>10}")
    for server in servers:
        print(f"{server.name:<17} {server.rss / 1024:>8.1f} MiB")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
