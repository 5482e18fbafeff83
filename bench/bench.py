#!/usr/bin/env python3
"""Benchmarks of amr_mqtt_bridge (run through scripts/bench, which sets up the environment).

  bench.py idle | typical | throughput | latency | command | size | buildtime

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
BRIDGE_BIN = os.path.join(TARGET, "release", "amr_mqtt_bridge")
TICK = os.sysconf("SC_CLK_TCK")
ROBOT = "BENCH01"
DOMAIN = {"idle": 70, "typical": 71, "throughput": 72, "latency": 73, "command": 74}

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


def thread_ticks(pid):
    """{thread name: ticks} summed over threads of the same name."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[name] = out.get(name, 0) + int(fields[11]) + int(fields[12])
    return out


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
    vals = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "Threads"):
                vals[k] = int(v.split()[0])
    return vals


class CpuWindow:
    """CPU% of one core over a window, from utime+stime deltas; also per thread name."""

    def __init__(self, pid):
        self.pid = pid
        self.t0, self.c0, self.th0 = time.monotonic(), cpu_ticks(pid), thread_ticks(pid)
        self.ns0 = exec_ns(pid)

    def end(self):
        t1, c1, th1 = time.monotonic(), cpu_ticks(self.pid), thread_ticks(self.pid)
        ns1 = exec_ns(self.pid)
        wall = t1 - self.t0
        pct = 100.0 * (c1 - self.c0) / TICK / wall
        threads = {k: 100.0 * (v - self.th0.get(k, 0)) / TICK / wall for k, v in th1.items()}
        threads = {k: round(v, 1) for k, v in sorted(threads.items(), key=lambda kv: -kv[1]) if v >= 0.05}
        return {"cpu_pct": round(pct, 2), "cpu_pct_schedstat": round((ns1 - self.ns0) / 1e7 / wall, 2),
                "wall_s": round(wall, 2), "threads": threads}


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
        with open(self.log, "w") as out:
            self.proc = start([BRIDGE_BIN, "--ros-args", "-p", f"config_file:={cfg}",
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


def rospub(domain, topics, duration, beams=720, qos="reliable"):
    args = [PY, os.path.join(HERE, "rospub.py"), "--duration", str(duration), "--beams", str(beams),
            "--qos", qos]
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
    result = {"bench": name, **result}
    print(json.dumps(result), flush=True)
    return result


# ---------------------------------------------------------------- scenarios
TYPICAL = ["odom:50", "imu:200", "battery_state:1", "joint_states:50", "scan:10"]
MQTT_TOPIC = {"odom": "status/position", "imu": "sensor/imu", "battery_state": "status/battery",
              "joint_states": "status/motor", "scan": "sensor/lidar"}


def bench_idle(duration=30.0):
    b = Broker()
    try:
        br = Bridge(DOMAIN["idle"], b.port)
        time.sleep(3.0)  # start-up settles
        w, m = CpuWindow(br.pid), MachineWindow()
        time.sleep(duration)
        r = w.end()
        r.update(mem_kib(br.pid))
        r.update(m.end())
        br.close()
        return emit("idle", r)
    finally:
        stop_all()
        b.close()


def bench_typical(duration=45.0, beams=720):
    d = DOMAIN["typical"]
    b = Broker()
    try:
        br = Bridge(d, b.port)
        status = BridgeStatus(b.port)
        sub = MqttSub(b.port, f"amr/{ROBOT}/#", mode="lines", fmt="%t %p")
        before = status.wait_new(7.0)
        pub = rospub(d, TYPICAL, duration, beams)
        wait_json(pub, "ready", 30)
        w_bridge, w_broker, w_pub = CpuWindow(br.pid), CpuWindow(b.proc.pid), CpuWindow(pub.pid)
        w_machine = MachineWindow()
        mid_mem = None
        t_mid = time.time() + duration / 2
        while pub.poll() is None and time.time() < t_mid:
            time.sleep(0.2)
        mid_mem = mem_kib(br.pid)
        sent = wait_json(pub, "sent", duration + 30)
        r_bridge, r_broker, r_pub = w_bridge.end(), w_broker.end(), w_pub.end()
        r_machine = w_machine.end()
        mem = mem_kib(br.pid)
        time.sleep(1.0)
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
            delta = {k: c1.get(k, 0) - c0.get(k, 0) for k in ("received", "published", "dropped")}
            got = seqs.get(topic, [])
            per_topic[name] = {"sent": n, "bridge_received": delta["received"],
                               "bridge_published": delta["published"],
                               "bridge_dropped_by_policy": delta["dropped"],
                               "mqtt_received": len(got),
                               "publisher_late_skips": sent["late_skips"][name],
                               "missing_at_s": missing(got, n, sent["rate"][name])}
        r = {"beams": beams, "duration_s": round(sent["wall_s"], 1),
             "bridge": {**r_bridge, **mem, "VmRSS_mid": mid_mem["VmRSS"]},
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


def bench_throughput(rate, duration=8.0, depth=None):
    """One Odometry mapping at `rate` msg/s, MQTT QoS 0, no rate limit."""
    d = DOMAIN["throughput"]
    extra = "mappings:\n  - name: odom\n    qos: 0\n"
    if depth:
        extra += f"    ros_qos: {{reliability: best_effort, durability: volatile, depth: {depth}}}\n"
    extra += ("default_mappings: true\nstate: {enabled: false}\n"
              "bridge: {diagnostics_period: 1.0}\n")
    b = Broker()
    try:
        br = Bridge(d, b.port, extra)
        status = BridgeStatus(b.port)
        sub = MqttSub(b.port, f"amr/{ROBOT}/status/position", mode="count")
        before = status.wait_new(3.0)
        nproc = max(1, math.ceil(rate / 5000))
        pubs = [rospub(d, [f"odom:{rate / nproc}"], duration) for _ in range(nproc)]
        for p in pubs:
            wait_json(p, "ready", 30)
        w, wm = CpuWindow(br.pid), MachineWindow()
        results = [wait_json(p, "sent", duration + 30) for p in pubs]
        rb, rm = w.end(), wm.end()
        time.sleep(2.0)
        after = status.wait_new(3.0)
        for p in pubs:
            p.wait()
            LIVE.remove(p)
        got = sub.snapshot().get(f"amr/{ROBOT}/status/position", 0)
        c0 = (before or {}).get("mappings", {}).get("odom", {})
        c1 = after["mappings"]["odom"]
        sent = sum(r["sent"]["odom"] for r in results)
        recv = c1["received"] - c0.get("received", 0)
        dropped = c1["dropped"] - c0.get("dropped", 0)
        replaced = after["offline_replaced"] - (before or {}).get("offline_replaced", 0)
        out_dropped = after["outbound_dropped"] - (before or {}).get("outbound_dropped", 0)
        r = {"target_rate": rate, "depth": depth or 10, "publishers": nproc,
             "achieved_rate": round(sum(r["rate"]["odom"] for r in results)),
             "publisher_late_skips": sum(r["late_skips"]["odom"] for r in results),
             "sent": sent, "bridge_received": recv,
             "bridge_published": c1["published"] - c0.get("published", 0),
             "counted_dropped": dropped, "outbound_dropped": out_dropped,
             "offline_replaced": replaced, "mqtt_received": got,
             "lost_before_bridge_uncounted": sent - recv,
             "lost_after_bridge_uncounted": recv - dropped - replaced - got,
             "delivered_pct": round(100.0 * got / sent, 2) if sent else None,
             "bridge_cpu_pct": rb["cpu_pct"], "bridge_threads": rb["threads"],
             "publisher_cpu_pct": round(sum(100 * r["cpu_s"] / r["wall_s"] for r in results), 1),
             **rm}
        status.close()
        sub.close()
        br.close()
        return emit("throughput", r)
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
            depths = [None, 100, 1000]
            if len(sys.argv) > 2:
                depths = [None if x == "10" else int(x) for x in sys.argv[2].split(",")]
            for depth in depths:
                for rate in (1000, 5000, 10000, 20000):
                    bench_throughput(rate, depth=depth)
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
