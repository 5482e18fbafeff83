#!/usr/bin/env python3
"""Benchmarks of amr_mqtt_bridge (run through scripts/bench, which sets up the environment).

  bench.py idle | typical [tcp|tls] | throughput [rates] | camera [runs] | latency [tcp|tls]
           | command | size | buildtime | generic [rounds] | all

Every scenario starts its own Mosquitto on free loopback ports (own config, stopped by PID),
the release bridge binary and its peers, each ROS process with
ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST and the scenario's own ROS_DOMAIN_ID (70-79). The
harness (processes, /proc windows, broker, bridge, counters) is bench/harness.py.
It prints numbers; nothing here passes or fails.
"""
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time

from harness import *  # noqa: F401,F403 (the harness is this file's vocabulary)
from harness import LIVE, log, pct, stop, stop_all, wait_json

# ---------------------------------------------------------------- scenarios
TYPICAL = ["odom:50", "imu:200", "battery_state:1", "joint_states:50", "scan:10"]
MQTT_TOPIC = {"odom": "status/position", "imu": "sensor/imu", "battery_state": "status/battery",
              "joint_states": "status/motor", "scan": "sensor/lidar"}


def ratio(a, b):
    return round(a / b, 2) if b else None


def bench_idle(duration=30.0, transport="tls"):
    """The bridge connected with no ROS traffic, beside the DDS floor (same window)."""
    b = Broker(tls=transport == "tls")
    try:
        br = Bridge(DOMAIN["idle"], b)
        floor = Floor(DOMAIN["idle"])
        time.sleep(3.0)  # start-up settles
        w, wf, m = CpuWindow(br.pid), CpuWindow(floor.pid), MachineWindow()
        time.sleep(duration)
        r, rf = w.end(), wf.end()
        r.update(mem_kib(br.pid))
        r["floor"] = {**rf, **mem_of(floor.pid)}
        r["ratio_to_floor"] = ratio(r["cpu_pct_schedstat"], rf["cpu_pct_schedstat"])
        r["transport"] = transport
        r.update(m.end())
        floor.close()
        br.close()
        return emit("idle", r)
    finally:
        stop_all()
        b.close()


def us_per_msg(cpu_pct, wall_s, n):
    """CPU microseconds per message: the window's CPU time over the messages it handled."""
    return round(cpu_pct / 100.0 * wall_s / n * 1e6, 1) if n else None


def bench_typical(duration=45.0, beams=720, transport="tls"):
    """The typical AMR mix from one rclpy publisher, into the bridge and the DDS floor at once;
    the bridge reaches the broker over `transport` (tcp, or tls as fleets do)."""
    d = DOMAIN["typical"]
    b = Broker(tls=transport == "tls")
    try:
        br = Bridge(d, b)
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
        taken_in = sum(t["bridge_received"] for t in per_topic.values())
        sent_out = sum(t["bridge_published"] for t in per_topic.values())
        floor_taken = sum(v for v in taken.values() if v)
        wall = r_bridge["wall_s"]
        r = {"transport": transport, "beams": beams, "duration_s": round(sent["wall_s"], 1),
             "bridge_cpu_pct": r_bridge["cpu_pct_schedstat"], "floor_cpu_pct": r_floor["cpu_pct_schedstat"],
             "bridge_us_per_msg_in": us_per_msg(r_bridge["cpu_pct_schedstat"], wall, taken_in),
             "bridge_us_per_msg_out": us_per_msg(r_bridge["cpu_pct_schedstat"], wall, sent_out),
             "floor_us_per_msg": us_per_msg(r_floor["cpu_pct_schedstat"], r_floor["wall_s"], floor_taken),
             "extra_us_per_msg_out": (round(us_per_msg(r_bridge["cpu_pct_schedstat"] - r_floor["cpu_pct_schedstat"],
                                                       wall, sent_out), 1) if sent_out else None),
             "mqtt_writes": (after or {}).get("writes", 0) - (before or {}).get("writes", 0),
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
        br = Bridge(d, b, THROUGHPUT_CONFIG)
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
        br = Bridge(d, b, CAMERA_CONFIG)
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


def generic_config(path):
    """IMU and a laser scan through the built-in converters or through generic mappings (the
    run-time types), with the same ROS QoS, no rate limit, nothing else mapped."""
    kind = {"builtin": ("converter: imu", "converter: laser_scan"),
            "generic": ("converter: generic, ros_type: sensor_msgs/msg/Imu",
                        "converter: generic, ros_type: sensor_msgs/msg/LaserScan")}[path]
    qos = "ros_qos: {reliability: best_effort, durability: volatile, depth: 1000}"
    return ("default_mappings: false\nstate: {enabled: false}\ncommands: {enabled: false}\n"
            "bridge: {diagnostics_period: 1.0}\nmappings:\n"
            f"  - {{name: imu, {kind[0]}, ros_topic: imu, mqtt_category: sensor, mqtt_action: imu, {qos}}}\n"
            f"  - {{name: scan, {kind[1]}, ros_topic: scan, mqtt_category: sensor, mqtt_action: lidar, {qos}}}\n")


def bench_generic_path(path, duration=30.0, beams=360):
    """IMU 200 Hz and a `beams`-beam scan 10 Hz (rclpy) into the bridge, mapped by `path`
    (builtin: r2r's typed messages and the compiled converters; generic: the run-time types'
    context, CDR walked to JSON on the ros-convert thread), beside the DDS floor in the same
    window: CPU microseconds per message of each."""
    d = DOMAIN["generic"]
    b = Broker()
    try:
        br = Bridge(d, b, generic_config(path))
        floor = Floor(d, "imu,scan")
        status = BridgeStatus(b.port)
        count = MqttSub(b.port, f"amr/{ROBOT}/sensor/#")
        before = status.wait_new(7.0)
        pub = rospub(d, ["imu:200", "scan:10"], duration, beams, subscribers=2)
        wait_json(pub, "ready", 30)
        wb, wf, wm = CpuWindow(br.pid), CpuWindow(floor.pid), MachineWindow()
        sent = wait_json(pub, "sent", duration + 30)
        rb, rf, rm = wb.end(), wf.end(), wm.end()
        time.sleep(1.0)
        after = status.wait_new(7.0)
        taken = floor.close()
        got = count.snapshot()
        pub.wait()
        LIVE.remove(pub)
        topics, received = {}, 0
        for name, mqtt in (("imu", "sensor/imu"), ("scan", "sensor/lidar")):
            c = counter_delta(before, after, name)
            received += c["received"]
            topics[name] = {"sent": sent["sent"][name], "floor_taken": taken.get(name),
                            "bridge_received": c["received"], "bridge_published": c["published"],
                            "bridge_dropped": c["dropped"], "bridge_refused": c["refused"],
                            "mqtt_received": got.get(f"amr/{ROBOT}/{mqtt}", 0)}
        floor_taken = sum(v for v in taken.values() if v)
        bridge_us = us_per_msg(rb["cpu_pct_schedstat"], rb["wall_s"], received)
        floor_us = us_per_msg(rf["cpu_pct_schedstat"], rf["wall_s"], floor_taken)
        r = {"path": path, "beams": beams, "duration_s": round(sent["wall_s"], 1),
             "bridge_us_per_msg": bridge_us, "floor_us_per_msg": floor_us,
             "extra_us_per_msg": round(bridge_us - floor_us, 1) if bridge_us and floor_us else None,
             "bridge_cpu_pct": rb["cpu_pct_schedstat"], "floor_cpu_pct": rf["cpu_pct_schedstat"],
             "ratio_to_floor": ratio(rb["cpu_pct_schedstat"], rf["cpu_pct_schedstat"]),
             "bridge": {**rb, **mem_kib(br.pid)}, "floor": rf, **rm, "topics": topics}
        log(f"# generic: {path}: bridge {bridge_us} us/msg, floor {floor_us} us/msg")
        status.close()
        count.close()
        br.close()
        return emit("generic", r)
    finally:
        stop_all()
        b.close()


def bench_generic(rounds=3, duration=30.0):
    """The generic (run-time types) path against the built-in converters on the same messages,
    alternating, `rounds` of each."""
    for _ in range(rounds):
        for path in ("builtin", "generic"):
            bench_generic_path(path, duration)


def bench_latency(duration=30.0, load=False, transport="tls"):
    """ROS publish (header.stamp = wall clock) to MQTT receipt (mosquitto_sub %U), odom 50 Hz."""
    d = DOMAIN["latency"]
    b = Broker(tls=transport == "tls")
    try:
        br = Bridge(d, b)
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
                                "transport": transport,
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
        br = Bridge(d, b)
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
        transports = ("tcp", "tls")
        if what in ("idle", "typical", "latency") and len(sys.argv) > 2:
            transports = tuple(sys.argv[2].split(","))
        if what in ("idle", "all"):
            for t in transports:
                bench_idle(transport=t)
        if what in ("typical", "all"):
            # BENCH_BEAMS=360: one laser size only (quicker A/B runs).
            beams_list = [int(b) for b in os.environ.get("BENCH_BEAMS", "360,1080").split(",")]
            for beams in beams_list:
                for t in transports:
                    bench_typical(beams=beams, transport=t)
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
            for t in transports:
                bench_latency(load=False, transport=t)
                bench_latency(load=True, transport=t)
        if what in ("command", "all"):
            bench_command()
        if what in ("generic", "all"):
            rounds = int(sys.argv[2]) if what == "generic" and len(sys.argv) > 2 else 3
            duration = float(os.environ.get("BENCH_GENERIC_SECONDS", "30"))
            bench_generic(rounds, duration)
        if what in ("size", "all"):
            bench_size()
        if what in ("buildtime", "all"):
            bench_buildtime()
    finally:
        stop_all()


if __name__ == "__main__":
    main()
