#!/usr/bin/env python3
"""The bench's harness (bench/bench.py holds the scenarios): processes started and stopped by
PID, CPU and memory windows from /proc, a Mosquitto of its own (plain TCP, or TLS with a CA
and a server certificate made for the run), the release bridge, the DDS floor, the load
generators and MQTT counters. Every ROS process runs with ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST.
"""
import json
import math
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
PY = os.environ.get("AMR_BRIDGE_PY", sys.executable)
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(REPO, "target"))
# BENCH_BRIDGE_BIN: another build of the bridge (e.g. an older commit) for before/after runs.
BRIDGE_BIN = os.environ.get("BENCH_BRIDGE_BIN") or os.path.join(TARGET, "release", "amr_mqtt_bridge")
EXAMPLES = os.path.join(TARGET, "release", "examples")  # dds_floor, loadgen, mqtt_count
TICK = os.sysconf("SC_CLK_TCK")
ROBOT = "BENCH01"
DOMAIN = {"idle": 70, "typical": 71, "throughput": 72, "latency": 73, "command": 74, "camera": 75,
          "generic": 76}

LIVE = []  # every process we started, stopped by PID at exit


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ros_env(domain):
    env = dict(os.environ)
    env.update(ROS_DOMAIN_ID=str(domain), ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
               RCUTILS_COLORIZED_OUTPUT="0")
    return env


def start(args, **kw):
    p = subprocess.Popen(args, **kw)
    LIVE.append(p)
    return p


def stop(p, grace=5.0):
    if p.poll() is None:
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(grace)
        except subprocess.TimeoutExpired:
            os.kill(p.pid, signal.SIGKILL)
            p.wait()
    if p in LIVE:
        LIVE.remove(p)


def stop_all():
    for p in list(LIVE):
        stop(p, 3.0)


# ---------------------------------------------------------------- /proc sampling
def cpu_ticks(pid):
    """utime + stime of a process (all threads), in clock ticks."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of stat(5)


def per_thread(pid, file, value):
    """{thread name: value(open /proc/<pid>/task/<tid>/<file>)} summed over threads of the
    same name; threads that end meanwhile are skipped."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/{file}") as f:
                n = value(f)
        except OSError:
            continue
        out[name] = out.get(name, 0) + n
    return out


def thread_ticks(pid):
    """{thread name: CPU ticks} (utime + stime, fields 14 and 15 of stat(5))."""
    def ticks(f):
        fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    return per_thread(pid, "stat", ticks)


def thread_switches(pid):
    """{thread name: context switches} (voluntary + involuntary): how often each thread went
    to sleep or was preempted (wake-ups cost here)."""
    return per_thread(pid, "status",
                      lambda f: sum(int(l.split()[1]) for l in f if "ctxt_switches" in l))


def exec_ns(pid):
    """Precise run time of all threads (schedstat), a cross-check of the tick-based stat."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError):
            pass
    return total


def mem_kib(pid):
    """VmRSS and its peak VmHWM (what the notes compare), and RssAnon: the process's own
    memory, without the file-backed pages of its binary and libraries (a bigger binary
    shows more code pages in VmRSS although they cost no memory of their own)."""
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "Threads"):
                vals[k] = int(v.split()[0])
    return vals


class CpuWindow:
    """CPU% of one core over a window, from utime+stime deltas; also per thread name."""

    def __init__(self, pid):
        self.pid = pid
        self.t0, self.c0, self.th0 = time.monotonic(), cpu_ticks(pid), thread_ticks(pid)
        self.ns0, self.sw0 = exec_ns(pid), thread_switches(pid)

    def end(self):
        t1, c1, th1 = time.monotonic(), cpu_ticks(self.pid), thread_ticks(self.pid)
        ns1, sw1 = exec_ns(self.pid), thread_switches(self.pid)
        wall = t1 - self.t0
        switches = {k: round((v - self.sw0.get(k, 0)) / wall) for k, v in sw1.items()}
        switches = {k: v for k, v in sorted(switches.items(), key=lambda kv: -kv[1]) if v >= 1}
        pct = 100.0 * (c1 - self.c0) / TICK / wall
        threads = {k: 100.0 * (v - self.th0.get(k, 0)) / TICK / wall for k, v in th1.items()}
        threads = {k: round(v, 1) for k, v in sorted(threads.items(), key=lambda kv: -kv[1]) if v >= 0.05}
        return {"cpu_pct": round(pct, 2), "cpu_pct_schedstat": round((ns1 - self.ns0) / 1e7 / wall, 2),
                "wall_s": round(wall, 2), "threads": threads, "switches_per_s": switches}


def machine_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v) - v[3] - v[4], sum(v)  # busy (all but idle, iowait), total


class MachineWindow:
    """How busy the whole machine was (all cores, % of one core, so 200 = both cores busy):
    the bench does not own this machine, and other work on it shows here."""

    def __init__(self):
        self.b0, self.t0 = machine_ticks()

    def end(self):
        b1, t1 = machine_ticks()
        with open("/proc/loadavg") as f:
            load1 = float(f.read().split()[0])
        ncpu = os.cpu_count()
        return {"machine_busy_pct": round(100.0 * ncpu * (b1 - self.b0) / max(1, t1 - self.t0), 1),
                "loadavg_1m": load1}


# ---------------------------------------------------------------- broker, bridge, MQTT client
def openssl(cwd, *args):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_pki(d):
    """A CA and a server certificate for 127.0.0.1 in `d` (ca.crt, server.crt, server.key)."""
    openssl(d, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=bench CA",
            "-keyout", "ca.key", "-out", "ca.crt")
    with open(os.path.join(d, "server.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
    openssl(d, "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr")
    openssl(d, "x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.crt")
    for f in ("ca.crt", "server.crt", "server.key"):
        os.chmod(os.path.join(d, f), 0o644)  # mosquitto drops to its own user as root


class Broker:
    """Mosquitto on free loopback ports. `port` is where the bench's own clients connect
    (plain TCP); `bridge_port` is where the bridge connects: the same, or with `tls` a TLS
    listener whose CA is `ca_file`."""

    def __init__(self, tls=False):
        self.dir = tempfile.mkdtemp(prefix="bench_mosq_")
        os.chmod(self.dir, 0o755)
        self.port = free_port()
        self.tls = tls
        self.bridge_port, self.ca_file = self.port, None
        conf = os.path.join(self.dir, "mosquitto.conf")
        # No per-client queue limit: a slow bench subscriber must not be the one that drops.
        text = (f"per_listener_settings false\nallow_anonymous true\npersistence false\n"
                "max_queued_messages 0\nlog_dest stderr\nlog_type error\nlog_type warning\n"
                f"listener {self.port} 127.0.0.1\n")
        if tls:
            make_pki(self.dir)
            self.bridge_port, self.ca_file = free_port(), os.path.join(self.dir, "ca.crt")
            text += (f"listener {self.bridge_port} 127.0.0.1\n"
                     f"cafile {self.ca_file}\ncertfile {os.path.join(self.dir, 'server.crt')}\n"
                     f"keyfile {os.path.join(self.dir, 'server.key')}\n")
        with open(conf, "w") as f:
            f.write(text)
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = start([exe, "-c", conf], stdout=subprocess.DEVNULL)
        wait_port(self.port)
        wait_port(self.bridge_port)

    def bridge_yaml(self):
        """The bridge's mqtt keys for this broker (to put under `mqtt:`)."""
        if not self.tls:
            return ""
        return f"  use_ssl: true\n  tls: {{ca_file: \"{self.ca_file}\"}}\n"

    def close(self):
        stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def wait_port(port, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Bridge:
    """The release bridge connected to `broker` (its TLS listener when it has one)."""

    def __init__(self, domain, broker, yaml_extra=""):
        self.dir = tempfile.mkdtemp(prefix="bench_bridge_")
        cfg = os.path.join(self.dir, "bridge.yaml")
        port = broker.bridge_port
        with open(cfg, "w") as f:
            # BENCH_BRIDGE_YAML: more configuration for every bridge (e.g. "bridge: {linger: 0}"),
            # for A/B runs of one setting.
            f.write('mqtt:\n  broker: "127.0.0.1"\n' + broker.bridge_yaml() + yaml_extra
                    + os.environ.get("BENCH_BRIDGE_YAML", ""))
        self.log = os.path.join(self.dir, "bridge.log")
        env = ros_env(domain)
        env["ROS_LOG_DIR"] = self.dir
        # BENCH_BRIDGE_CPUS=1: the whole bridge on these CPUs (taskset), e.g. to measure what
        # cross-core wake-ups cost (see BENCHMARKS.md).
        pin = ["taskset", "-c", os.environ["BENCH_BRIDGE_CPUS"]] if os.environ.get("BENCH_BRIDGE_CPUS") else []
        with open(self.log, "w") as out:
            self.proc = start(pin + [BRIDGE_BIN, "--ros-args", "-p", f"config_file:={cfg}",
                               "-p", "broker:=127.0.0.1", "-p", f"port:={port}",
                               "-p", f"robot_id:={ROBOT}"],
                              stdout=out, stderr=subprocess.STDOUT, env=env)
        end = time.time() + 30
        while "connected to" not in self.text():
            if time.time() > end or self.proc.poll() is not None:
                raise RuntimeError("bridge did not connect:\n" + self.text())
            time.sleep(0.05)
        self.pid = self.proc.pid

    def text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def close(self):
        stop(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class MqttSub:
    """mosquitto_sub on a filter. mode "count": counts messages per topic (-F %t);
    mode "lines": keeps every line of the given -F format with our own receive time."""

    def __init__(self, port, topic, mode="count", fmt="%t", qos=0):
        self.mode, self.counts, self.lines = mode, {}, []
        self.lock = threading.Lock()
        self.proc = start(["mosquitto_sub", "-h", "127.0.0.1", "-p", str(port), "-t", topic,
                           "-q", str(qos), "-F", fmt, "-i", f"bench_{free_port()}"],
                          stdout=subprocess.PIPE)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        time.sleep(0.3)  # mosquitto_sub has no "subscribed" signal

    def _read(self):
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self.lock:
                if self.mode == "count":
                    self.counts[line] = self.counts.get(line, 0) + 1
                else:
                    self.lines.append(line)

    def snapshot(self):
        with self.lock:
            return dict(self.counts) if self.mode == "count" else list(self.lines)

    def close(self):
        stop(self.proc)


class BridgeStatus:
    """The latest status/bridge report (QoS 1)."""

    def __init__(self, port):
        self.sub = MqttSub(port, f"amr/{ROBOT}/status/bridge", mode="lines", fmt="%p", qos=1)

    def latest(self):
        lines = self.sub.snapshot()
        return json.loads(lines[-1])["data"] if lines else None

    def wait_new(self, timeout):
        n = len(self.sub.snapshot())
        end = time.time() + timeout
        while time.time() < end and len(self.sub.snapshot()) == n:
            time.sleep(0.1)
        return self.latest()

    def close(self):
        self.sub.close()


class JsonProc:
    """A bench tool that speaks JSON lines on stdout (the examples of the crate): a thread
    collects every line, so that the tool never blocks on a full pipe."""

    def __init__(self, args, env):
        self.lines, self.lock = [], threading.Lock()
        self.proc = start(args, stdout=subprocess.PIPE, env=env)
        self.pid = self.proc.pid
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in self.proc.stdout:
            try:
                v = json.loads(raw)
            except ValueError:
                continue
            with self.lock:
                self.lines.append(v)

    def wait_for(self, key, timeout):
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                hit = [v for v in self.lines if key in v]
            if hit:
                return hit[-1]
            if self.proc.poll() is not None:
                time.sleep(0.2)  # the reader may still be behind
                with self.lock:
                    hit = [v for v in self.lines if key in v]
                if hit:
                    return hit[-1]
                raise RuntimeError(f"{self.proc.args[0]} ended without {key!r}")
            time.sleep(0.02)
        raise RuntimeError(f"no {key!r} from {self.proc.args}")

    def stop(self, key):
        """SIGTERM; returns the last line with `key` (the tool's final report)."""
        stop(self.proc)
        time.sleep(0.1)
        with self.lock:
            hit = [v for v in self.lines if key in v]
        return hit[-1] if hit else None


FLOOR_TOPICS = "odom,imu,joint_states,battery_state,scan"


class Floor(JsonProc):
    """The DDS floor (examples/dds_floor.rs): takes the same topics with the bridge's QoS and
    drops them; what any Rust ROS 2 node pays before it does any work."""

    def __init__(self, domain, topics=FLOOR_TOPICS):
        super().__init__([os.path.join(EXAMPLES, "dds_floor"), "--topics", topics], ros_env(domain))
        self.wait_for("ready", 30)

    def close(self):
        return (self.stop("taken") or {}).get("taken", {})


def loadgen(domain, topics, duration, subscribers=1, qos="reliable", depth=1000):
    """The native paced publisher (examples/loadgen.rs); started, not yet ready."""
    args = [os.path.join(EXAMPLES, "loadgen"), "--duration", str(duration), "--qos", qos,
            "--depth", str(depth), "--subscribers", str(subscribers)]
    for t in topics:
        args += ["--topic", t]
    return JsonProc(args, ros_env(domain))


SEQ_KEYS = {"status/position": '"position":{"x":', "sensor/imu": '"linear_acceleration":{"x":'}


class MqttCount(JsonProc):
    """examples/mqtt_count.rs: counts messages and sequence numbers at QoS 0, fast enough not
    to be the limit (mosquitto_sub piped into Python is, near 80k msg/s)."""

    def __init__(self, port, topic, latency_every=1):
        args = [os.path.join(EXAMPLES, "mqtt_count"), "--port", str(port), "--topic", topic,
                "--latency-every", str(latency_every)]
        for suffix, key in SEQ_KEYS.items():
            args += ["--seq", f"{suffix}={key}"]
        super().__init__(args, dict(os.environ))
        self.wait_for("ready", 10)

    def close(self):
        return (self.stop("topics") or {}).get("topics", {})


def mem_of(pid):
    m = mem_kib(pid)
    return {"VmRSS_KiB": m["VmRSS"], "VmHWM_KiB": m["VmHWM"], "RssAnon_KiB": m["RssAnon"]}


def rospub(domain, topics, duration, beams=720, qos="reliable", subscribers=1):
    args = [PY, os.path.join(HERE, "rospub.py"), "--duration", str(duration), "--beams", str(beams),
            "--qos", qos, "--subscribers", str(subscribers)]
    for t in topics:
        args += ["--topic", t]
    return start(args, stdout=subprocess.PIPE, env=ros_env(domain))


def wait_json(proc, key, timeout):
    """Reads the child's stdout until a JSON line with `key`."""
    end = time.time() + timeout
    while time.time() < end:
        line = proc.stdout.readline()
        if not line:
            break
        try:
            v = json.loads(line)
        except ValueError:
            continue
        if key in v:
            return v
    raise RuntimeError(f"no {key!r} from {proc.args}")


def parse_rfc3339(s):
    """Unix seconds (float) of an RFC 3339 UTC timestamp with up to 9 fractional digits."""
    s = s.rstrip("Z")
    base, _, frac = s.partition(".")
    t = datetime.strptime(base, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    return t + (int(frac) / 10 ** len(frac) if frac else 0.0)


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    k = (len(xs) - 1) * p / 100.0
    lo, hi = math.floor(k), math.ceil(k)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


SEQ_PATH = {"status/position": ("position", "x"), "sensor/imu": ("linear_acceleration", "x"),
            "status/motor": ("motors", 0, "position")}


def seq_of(topic, payload):
    """The publisher's sequence number in a bridged message, or None for topics without one."""
    path = SEQ_PATH.get(topic.split("/", 2)[-1])
    if not path:
        return None
    v = json.loads(payload)["data"]
    for k in path:
        v = v[k]
    return int(v)


def missing(got, sent, rate):
    """Which sequence numbers never arrived, as [(seconds into the run, how many)]."""
    have = {g for g in got if g is not None}
    if not have:
        return []
    out, run = [], None
    for i in range(sent):
        if i not in have:
            if run and run[1] == i - 1:
                run[1], run[2] = i, run[2] + 1
            else:
                run = [i, i, 1]
                out.append(run)
    return [(round(r[0] / rate, 2), r[2]) for r in out]


def emit(name, result):
    """One JSON line per result on stdout (the numbers for BENCHMARKS.md)."""
    result = {"bench": name, **result, "bridge_binary": BRIDGE_BIN,
              "bridge_cpus": os.environ.get("BENCH_BRIDGE_CPUS") or "any",
              "utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    print(json.dumps(result), flush=True)
    return result
