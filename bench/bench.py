#!/usr/bin/env python3
"""Benchmarks of amr_mqtt_bridge (run through scripts/bench, which sets up the environment).

  bench.py idle | typical | throughput [rates] | camera [runs] | latency | command | size | buildtime

Every scenario starts its own Mosquitto on a free loopback port (own config, stopped by PID),
the release bridge binary and rclpy peers, each ROS process with
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and the scenario's own ROS_DOMAIN_ID (70-79).
It prints numbers; nothing here passes or fails.
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
DOMAIN = {"idle": 70, "typical": 71, "throughput": 72, "latency": 73, "command": 74, "camera": 75}

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
class Broker:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="bench_mosq_")
        self.port = free_port()
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            # No per-client queue limit: a slow bench subscriber must not be the one that drops.
            f.write(f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "max_queued_messages 0\nlog_dest stderr\nlog_type error\nlog_type warning\n")
        exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.proc = start([exe, "-c", conf], stdout=subprocess.DEVNULL)
        wait_port(self.port)

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
    def __init__(self, domain, port, yaml_extra=""):
        self.dir = tempfile.mkdtemp(prefix="bench_bridge_")
        cfg = os.path.join(self.dir, "bridge.yaml")
        with open(cfg, "w") as f:
            f.write('mqtt:\n  broker: "127.0.0.1"\n' + yaml_extra)
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


# ---------------------------------------------------------------- scenarios
TYPICAL = ["odom:50", "imu:200", "battery_state:1", "joint_states:50", "scan:10"]
MQTT_TOPIC = {"odom": "status/position", "imu": "sensor/imu", "battery_state": "status/battery",
              "joint_states": "status/motor", "scan": "sensor/lidar"}


def ratio(a, b):
    return round(a / b, 2) if b else None


def bench_idle(duration=30.0):
    """The bridge connected with no ROS traffic, beside the DDS floor (same window)."""
    b = Broker()
    try:
        br = Bridge(DOMAIN["idle"], b.port)
        floor = Floor(DOMAIN["idle"])
        time.sleep(3.0)  # start-up settles
        w, wf, m = CpuWindow(br.pid), CpuWindow(floor.pid), MachineWindow()
        time.sleep(duration)
        r, rf = w.end(), wf.end()
        r.update(mem_kib(br.pid))
        r["floor"] = {**rf, **mem_of(floor.pid)}
        r["ratio_to_floor"] = ratio(r["cpu_pct_schedstat"], rf["cpu_pct_schedstat"])
        r.update(m.end())
        floor.close()
        br.close()
        return emit("idle", r)
    finally:
        stop_all()
        b.close()


def bench_typical(duration=45.0, beams=720):
    """The typical AMR mix from one rclpy publisher, into the bridge and the DDS floor at once."""
    d = DOMAIN["typical"]
    b = Broker()
    try:
        br = Bridge(d, b.port)
        floor = Floor(d)
        status = BridgeStatus(b.port)
        sub = MqttSub(b.port, f"amr/{ROBOT}/#", mode="lines", fmt="%t %p")
        before = status.wait_new(7.0)
        pub = rospub(d, TYPICAL, duration, beams, subscribers=2)
        wait_json(pub, "ready", 30)
        w_bridge, w_broker, w_pub = CpuWindow(br.pid), CpuWindow(b.proc.pid), CpuWindow(pub.pid)
        w_floor = CpuWindow(floor.pid)
        w_machine = MachineWindow()
        mid_mem = None
        t_mid = time.time() + duration / 2
        while pub.poll() is None and time.time() < t_mid:
            time.sleep(0.2)
        mid_mem = mem_kib(br.pid)
        sent = wait_json(pub, "sent", duration + 30)
        r_bridge, r_broker, r_pub = w_bridge.end(), w_broker.end(), w_pub.end()
        r_floor = w_floor.end()
        r_machine = w_machine.end()
        mem, mem_floor = mem_kib(br.pid), mem_of(floor.pid)
        time.sleep(1.0)
        taken = floor.close()
        seqs = {}
        for line in sub.snapshot():
            topic, _, payload = line.partition(" ")
            seqs.setdefault(topic, []).append(seq_of(topic, payload))
        after = status.wait_new(7.0)
        pub.wait()
        LIVE.remove(pub)
        per_topic = {}
        for name, n in sent["sent"].items():
            topic = f"amr/{ROBOT}/{MQTT_TOPIC[name]}"
            c0 = (before or {}).get("mappings", {}).get(name, {})
            c1 = (after or {}).get("mappings", {}).get(name, {})
            delta = {k: c1.get(k, 0) - c0.get(k, 0) for k in ("received", "published", "skipped")}
            got = seqs.get(topic, [])
            per_topic[name] = {"sent": n, "floor_taken": taken.get(name),
                               "bridge_received": delta["received"],
                               "bridge_published": delta["published"],
                               "bridge_dropped_by_policy": delta["skipped"],
                               "mqtt_received": len(got),
                               "publisher_late_skips": sent["late_skips"][name],
                               "missing_at_s": missing(got, n, sent["rate"][name])}
        r = {"beams": beams, "duration_s": round(sent["wall_s"], 1),
             "bridge": {**r_bridge, **mem, "VmRSS_mid": mid_mem["VmRSS"]},
             "floor": {**r_floor, **mem_floor},
             "ratio_to_floor": ratio(r_bridge["cpu_pct_schedstat"], r_floor["cpu_pct_schedstat"]),
             "VmHWM_above_floor_MiB": round((mem["VmHWM"] - mem_floor["VmHWM_KiB"]) / 1024, 2),
             "RssAnon_above_floor_MiB": round((mem["RssAnon"] - mem_floor["RssAnon_KiB"]) / 1024, 2),
             "publisher_process": {"cpu_pct": round(100 * sent["cpu_s"] / sent["wall_s"], 1),
                                   "rates": {k: round(v, 1) for k, v in sent["rate"].items()}},
             "publisher_proc_stat_cpu_pct": r_pub["cpu_pct"],
             "mosquitto_cpu_pct": r_broker["cpu_pct"],
             "outbound_dropped": (after or {}).get("outbound_dropped"), **r_machine,
             "topics": per_topic}
        status.close()
        sub.close()
        br.close()
        return emit("typical", r)
    finally:
        stop_all()
        b.close()


THROUGHPUT_CONFIG = ("mappings:\n  - name: odom\n    qos: 0\n"
                     "default_mappings: true\nstate: {enabled: false}\n"
                     "bridge: {diagnostics_period: 1.0}\n")


def counter_delta(before, after, mapping):
    c0 = (before or {}).get("mappings", {}).get(mapping, {})
    c1 = (after or {}).get("mappings", {}).get(mapping, {})
    return {k: c1.get(k, 0) - c0.get(k, 0) for k in ("received", "published", "dropped", "refused")}


def link_delta(before, after):
    return {k: (after or {}).get(k, 0) - (before or {}).get(k, 0)
            for k in ("outbound_dropped", "offline_replaced", "offline_dropped")}


def throughput_floor(rate, duration):
    """The DDS floor alone on the same paced odometry: how much of it DDS + r2r take. It
    subscribes to all five topics, as the bridge does (the size of the wait set costs on
    every spin), but only odometry comes."""
    d = DOMAIN["throughput"]
    floor = Floor(d)
    try:
        gen = loadgen(d, [f"odom:{rate}"], duration)
        gen.wait_for("ready", 30)
        w, wg, wm = CpuWindow(floor.pid), CpuWindow(gen.pid), MachineWindow()
        sent = gen.wait_for("sent", duration + 30)
        rf, rg, rm = w.end(), wg.end(), wm.end()
        time.sleep(1.0)
        taken = floor.close().get("odom", 0)
        n = sent["sent"]["odom"]
        return {"who": "floor", "target_rate": rate, "achieved_rate": round(sent["rate"]["odom"]),
                "publisher_late_skips": sent["late_skips"]["odom"], "sent": n, "taken": taken,
                "lost_uncounted": n - taken, "delivered_pct": round(100.0 * taken / n, 3) if n else None,
                "cpu_pct": rf["cpu_pct_schedstat"], "threads": rf["threads"],
                "loadgen_cpu_pct": rg["cpu_pct_schedstat"], **rm}
    finally:
        stop_all()


def throughput_bridge(rate, duration):
    """The bridge alone on the same paced odometry, MQTT QoS 0, counted by sequence number."""
    d = DOMAIN["throughput"]
    b = Broker()
    try:
        br = Bridge(d, b.port, THROUGHPUT_CONFIG)
        status = BridgeStatus(b.port)
        count = MqttCount(b.port, f"amr/{ROBOT}/status/position", latency_every=50)
        before = status.wait_new(3.0)
        gen = loadgen(d, [f"odom:{rate}"], duration)
        gen.wait_for("ready", 30)
        windows = {k: CpuWindow(p) for k, p in
                   (("bridge", br.pid), ("mosquitto", b.proc.pid), ("loadgen", gen.pid),
                    ("mqtt_count", count.pid))}
        wm = MachineWindow()
        sent = gen.wait_for("sent", duration + 30)
        cpu = {k: w.end() for k, w in windows.items()}
        rm = wm.end()
        time.sleep(2.0)
        after = status.wait_new(3.0)
        got = count.close().get(f"amr/{ROBOT}/status/position", {})
        n = sent["sent"]["odom"]
        c, link = counter_delta(before, after, "odom"), link_delta(before, after)
        counted = c["dropped"] + link["outbound_dropped"] + link["offline_replaced"]
        distinct = got.get("distinct", 0)
        r = {"who": "bridge", "target_rate": rate, "achieved_rate": round(sent["rate"]["odom"]),
             "publisher_late_skips": sent["late_skips"]["odom"], "sent": n,
             "bridge_received": c["received"], "bridge_published": c["published"],
             "counted_dropped": counted, "mqtt_received": got.get("count", 0),
             "mqtt_distinct": distinct, "mqtt_duplicates": got.get("duplicates", 0),
             "first_gaps": got.get("first_gaps", [])[:5], "latency_ms": got.get("latency_ms"),
             "lost_before_bridge_uncounted": n - c["received"],
             "lost_after_bridge_uncounted": c["received"] - counted - distinct,
             "delivered_pct": round(100.0 * distinct / n, 3) if n else None,
             "cpu_pct": cpu["bridge"]["cpu_pct_schedstat"], "threads": cpu["bridge"]["threads"],
             "switches_per_s": cpu["bridge"]["switches_per_s"],
             "mosquitto_cpu_pct": cpu["mosquitto"]["cpu_pct_schedstat"],
             "loadgen_cpu_pct": cpu["loadgen"]["cpu_pct_schedstat"],
             "mqtt_count_cpu_pct": cpu["mqtt_count"]["cpu_pct_schedstat"], **rm}
        status.close()
        br.close()
        return r
    finally:
        stop_all()
        b.close()


def bench_throughput(rates=(40000, 60000, 80000), duration=5.0):
    """One odometry mapping at MQTT QoS 0 from the native paced generator: per rate, first
    the DDS floor alone, then the bridge alone (one at a time, so neither takes the other's
    core on a 2-core machine; the same generator settings for both)."""
    out = []
    for rate in rates:
        for who in (throughput_floor, throughput_bridge):
            out.append(emit("throughput", who(rate, duration)))
    return out


CAMERA_CONFIG = ("mappings:\n  - name: camera\n    ros_topic: camera\n"
                 "    ros_type: sensor_msgs/msg/Image\n    converter: generic\n"
                 "    mqtt_category: sensor\n    mqtt_action: camera\n"
                 # Best effort, DDS loses most 1 MB frames on the way (UDP fragments), the
                 # floor as much as the bridge; reliable, they arrive.
                 "    ros_qos: {reliability: reliable, depth: 10}\n")
CAMERA_LOAD = ["odom:50", "imu:200", "camera:10"]
CAMERA_TOPIC = {"odom": "status/position", "imu": "sensor/imu", "camera": "sensor/camera"}


def bench_camera(duration=30.0):
    """A big stream beside small ones: a 640x480 rgb8 camera at 10 Hz mapped generically,
    odometry 50 Hz and IMU 200 Hz (native generator), into the bridge and the floor at once.
    Every odometry and IMU message must still be bridged; camera frames may be dropped, counted."""
    d = DOMAIN["camera"]
    b = Broker()
    try:
        br = Bridge(d, b.port, CAMERA_CONFIG)
        floor = Floor(d, "odom,imu,camera")
        status = BridgeStatus(b.port)
        count = MqttCount(b.port, f"amr/{ROBOT}/#")
        before = status.wait_new(7.0)
        # The camera from a process of its own, as a camera driver is: from one process, Fast
        # DDS itself loses odometry and IMU beside the camera (the floor too: 13 % of odom).
        gen = loadgen(d, CAMERA_LOAD[:2], duration, subscribers=2)
        cam = loadgen(d, CAMERA_LOAD[2:], duration, subscribers=2)
        gen.wait_for("ready", 30)
        cam.wait_for("ready", 30)
        wb, wf, wm = CpuWindow(br.pid), CpuWindow(floor.pid), MachineWindow()
        sent = gen.wait_for("sent", duration + 30)
        cam_sent = cam.wait_for("sent", duration + 30)
        for k in ("sent", "late_skips"):
            sent[k].update(cam_sent[k])
        rb, rf, rm = wb.end(), wf.end(), wm.end()
        mem, mem_floor = mem_kib(br.pid), mem_of(floor.pid)
        time.sleep(2.0)
        after = status.wait_new(7.0)
        taken = floor.close()
        got = count.close()
        link = link_delta(before, after)
        topics = {}
        for name, n in sent["sent"].items():
            c = counter_delta(before, after, name)
            g = got.get(f"amr/{ROBOT}/{CAMERA_TOPIC[name]}", {})
            arrived = g.get("distinct") if name != "camera" else g.get("count", 0)
            topics[name] = {"sent": n, "floor_taken": taken.get(name), "bridge_received": c["received"],
                            "bridge_dropped_counted": c["dropped"], "mqtt_received": arrived,
                            "missing": n - (arrived or 0), "first_gaps": g.get("first_gaps", [])[:5],
                            "latency_ms": g.get("latency_ms")}
        r = {"duration_s": round(sent["wall_s"], 1), "late_skips": sent["late_skips"],
             "bridge": {**rb, **mem}, "floor": {**rf, **mem_floor},
             "ratio_to_floor": ratio(rb["cpu_pct_schedstat"], rf["cpu_pct_schedstat"]),
             "camera_payload_bytes": (got.get(f"amr/{ROBOT}/sensor/camera", {}).get("bytes", 0)
                                      // max(1, topics["camera"]["mqtt_received"])),
             "link": link, **rm, "topics": topics}
        status.close()
        br.close()
        return emit("camera", r)
    finally:
        stop_all()
        b.close()


def bench_latency(duration=30.0, load=False):
    """ROS publish (header.stamp = wall clock) to MQTT receipt (mosquitto_sub %U), odom 50 Hz."""
    d = DOMAIN["latency"]
    b = Broker()
    try:
        br = Bridge(d, b.port)
        sub = MqttSub(b.port, f"amr/{ROBOT}/status/position", mode="lines", fmt="%U %p", qos=1)
        topics = TYPICAL if load else ["odom:50"]
        pub = rospub(d, topics, duration)
        wait_json(pub, "ready", 30)
        wm = MachineWindow()
        sent = wait_json(pub, "sent", duration + 30)
        rm = wm.end()
        time.sleep(1.0)
        lat = []
        for line in sub.snapshot():
            t_recv, _, payload = line.partition(" ")
            ts = json.loads(payload)["timestamp"]
            lat.append((float(t_recv) - parse_rfc3339(ts)) * 1000.0)
        pub.wait()
        LIVE.remove(pub)
        sub.close()
        br.close()
        return emit("latency", {"load": "typical (all 5 topics)" if load else "odom only",
                                "sent": sent["sent"]["odom"], "samples": len(lat),
                                "median_ms": round(statistics.median(lat), 3),
                                "p90_ms": round(pct(lat, 90), 3), "p99_ms": round(pct(lat, 99), 3),
                                "max_ms": round(max(lat), 3), "min_ms": round(min(lat), 3), **rm})
    finally:
        stop_all()
        b.close()


def now_rfc3339():
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def bench_command(n=50):
    """mosquitto_pub (one persistent -l client) -> first Twist at an rclpy cmd_vel subscriber."""
    d = DOMAIN["command"]
    b = Broker()
    try:
        br = Bridge(d, b.port)
        outcomes = MqttSub(b.port, f"amr/{ROBOT}/status/command", mode="lines", fmt="%U %p", qos=2)
        rsub = start([PY, os.path.join(REPO, "tests/ros/ros_tool.py"), "sub",
                      "geometry_msgs/msg/Twist", "cmd_vel", "--wait-subscribers", "15"],
                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ros_env(d))
        twists, tlock = [], threading.Lock()
        wait_json(rsub, "ready", 30)

        def read_twists():
            for line in rsub.stdout:
                v = json.loads(line)
                with tlock:
                    twists.append((v["t"], v["msg"]["linear"]["x"]))
        threading.Thread(target=read_twists, daemon=True).start()
        results = {}
        rnd = random.Random(7)
        wm = MachineWindow()
        for action, cmd in (("move", "velocity"), ("stop", "stop")):
            mpub = start(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(b.port), "-q", "2",
                          "-t", f"amr/{ROBOT}/command/{action}", "-l"], stdin=subprocess.PIPE)
            time.sleep(0.5)
            lat, acc = [], []
            for i in range(n):
                with tlock:
                    mark = len(twists)
                body = {"timestamp": now_rfc3339(), "command": cmd, "id": f"{cmd}-{i}"}
                if cmd == "velocity":
                    body["parameters"] = {"linear": 10, "angular": 0}
                t0 = time.time()
                mpub.stdin.write((json.dumps(body) + "\n").encode())
                mpub.stdin.flush()
                end = t0 + 2.0
                first = None
                while time.time() < end and first is None:
                    with tlock:
                        for t, lin in twists[mark:]:
                            if (lin != 0.0) == (cmd == "velocity"):
                                first = t
                                break
                    time.sleep(0.001)
                if first is not None:
                    lat.append((first - t0) * 1000.0)
                # Velocity: let the watchdog end it (0.5 s) so that every command starts idle.
                # The random part keeps the commands from locking in phase with the 20 Hz tick.
                time.sleep((1.0 if cmd == "velocity" else 0.2) + rnd.uniform(0.0, 0.05))
            mpub.stdin.close()
            mpub.wait(5)
            LIVE.remove(mpub)
            for line in outcomes.snapshot():
                t, _, p = line.partition(" ")
                data = json.loads(p)["data"]
                if (data.get("id") or "").startswith(cmd + "-") and data["status"] in ("accepted", "completed"):
                    acc.append(data)
            results[cmd] = {"commands": n, "twists_seen": len(lat),
                            "median_ms": round(statistics.median(lat), 2) if lat else None,
                            "p90_ms": round(pct(lat, 90), 2), "max_ms": round(max(lat), 2) if lat else None,
                            "min_ms": round(min(lat), 2) if lat else None}
        stop(rsub)
        outcomes.close()
        br.close()
        return emit("command", {"rate_hz": 20, "results": results, **wm.end()})
    finally:
        stop_all()
        b.close()


def bench_size():
    st = os.stat(BRIDGE_BIN)
    tmp = tempfile.mktemp(prefix="bench_strip_")
    shutil.copy(BRIDGE_BIN, tmp)
    subprocess.run(["strip", tmp], check=True)
    stripped = os.stat(tmp).st_size
    os.unlink(tmp)
    ldd = subprocess.run(["ldd", BRIDGE_BIN], capture_output=True, text=True).stdout
    return emit("size", {"binary": BRIDGE_BIN, "bytes": st.st_size, "MiB": round(st.st_size / 2**20, 2),
                         "stripped_bytes": stripped, "stripped_MiB": round(stripped / 2**20, 2),
                         "shared_libs": len([l for l in ldd.splitlines() if "=>" in l])})


def bench_buildtime():
    """cargo build --release from an empty target dir (removed afterwards)."""
    target = tempfile.mkdtemp(prefix="bench_clean_target_", dir="/work" if os.path.isdir("/work") else None)
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    t0 = time.time()
    p = subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, env=env)
    wall = time.time() - t0
    shutil.rmtree(target, ignore_errors=True)
    return emit("buildtime", {"profile": "release", "wall_s": round(wall, 1), "ok": p.returncode == 0,
                              "jobs": os.cpu_count()})


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else "all"
    log(f"# {what}: nproc={os.cpu_count()} kernel={os.uname().release} "
        f"date={datetime.now(timezone.utc).isoformat(timespec='seconds')} binary={BRIDGE_BIN}")
    try:
        if what in ("idle", "typical", "all"):
            bench_idle()
        if what in ("typical", "all"):
            for beams in (360, 1080):
                bench_typical(beams=beams)
        if what in ("throughput", "all"):
            rates = (40000, 60000, 80000)
            if len(sys.argv) > 2:
                rates = [int(x) for x in sys.argv[2].split(",")]
            bench_throughput(rates)
        if what in ("camera", "all"):
            runs = int(sys.argv[2]) if what == "camera" and len(sys.argv) > 2 else 3
            for _ in range(runs):
                bench_camera()
        if what in ("latency", "all"):
            bench_latency(load=False)
            bench_latency(load=True)
        if what in ("command", "all"):
            bench_command()
        if what in ("size", "all"):
            bench_size()
        if what in ("buildtime", "all"):
            bench_buildtime()
    finally:
        stop_all()


if __name__ == "__main__":
    main()
