#!/usr/bin/env python3
"""Writes small, realistic rosbag2 bags with `rosbags` (an independent rosbag2 implementation,
no ROS needed), and dumps what a bag holds as JSON so that tests can compute expectations.

  make_bag.py write <out_dir> --profile turtlebot|robot3|quirks [--storage mcap|sqlite3]
                  [--duration S] [--version 8|9]
      <out_dir> must not exist; it becomes a rosbag2 directory (metadata.yaml + one file).
  make_bag.py dump <bag dir, .mcap or .db3> [--topics T ...]
      prints {"topics": {name: {type, count, qos}}, "messages": {name: [fields...]}}; floats
      that are not finite are written as the strings "nan", "inf", "-inf" (strict JSON).

Profiles, as other people's robots record them:

  turtlebot  a TurtleBot-like base driving a circle (yaw wraps through +-180 degrees), topics at
             the root: /odom (30 Hz, covariance, stamps with arbitrary nanoseconds), /imu
             (200 Hz, stamps on whole milliseconds), /joint_states (30 Hz, position and
             velocity but no effort, stamps in microseconds), /battery_state (1 Hz; the driver
             publishes percentage 0-100 although the message says 0-1; temperature, charge
             and capacity NaN), /scan (10 Hz, 720 beams, +inf through a doorway, -inf where
             the mast hides the laser, some NaN), /tf (30 Hz) and /cmd_vel (10 Hz) that the
             bridge does not bridge.
  robot3     another vendor's base recorded in namespace /robot3: odom 50 Hz, an IMU without
             orientation (orientation_covariance[0] = -1) at 100 Hz, four joints, a battery
             driver that follows the 0-1 definition, reports NaN while its BMS boots and
             leaves the header stamp zero (unstamped), a 720-beam scan.
  quirks     a driver whose header stamps are not normalised (nanosec >= 1e9), see quirks().

Offered QoS as rosbag2 records it: best effort for the sensors (imu, scan), reliable for the
rest, reliable + transient_local for the battery. Recording time: June 2023 (past dates).
"""
import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
from rosbags.interfaces import (
    Qos,
    QosDurability,
    QosHistory,
    QosLiveliness,
    QosReliability,
    QosTime,
)
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.typesys import Stores, get_typestore

TS = get_typestore(Stores.ROS2_JAZZY)
T = TS.types

# 2023-06-14T09:21:07.318004211Z: when "the robot" recorded.
T0_NS = 1_686_734_467_318_004_211
NSEC = 1_000_000_000

INFINITE = QosTime(0x7FFFFFFF, 0xFFFFFFFF)  # how rosbag2 writes an infinite duration


def qos(reliable, transient_local=False, depth=10):
    return Qos(
        QosHistory.KEEP_LAST,
        depth,
        QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        INFINITE,
        INFINITE,
        QosLiveliness.AUTOMATIC,
        INFINITE,
        False,
    )


SENSOR = qos(False, depth=5)
RELIABLE = qos(True)
LATCHED = qos(True, transient_local=True, depth=1)


def stamp(ns):
    return T["builtin_interfaces/msg/Time"](sec=ns // NSEC, nanosec=ns % NSEC)


def header(ns, frame):
    return T["std_msgs/msg/Header"](stamp=stamp(ns), frame_id=frame)


def vec3(x, y, z):
    return T["geometry_msgs/msg/Vector3"](x=float(x), y=float(y), z=float(z))


def quat_rpy(roll, pitch, yaw):
    sr, cr = math.sin(roll / 2), math.cos(roll / 2)
    sp, cp = math.sin(pitch / 2), math.cos(pitch / 2)
    sy, cy = math.sin(yaw / 2), math.cos(yaw / 2)
    return T["geometry_msgs/msg/Quaternion"](
        x=sr * cp * cy - cr * sp * sy,
        y=cr * sp * cy + sr * cp * sy,
        z=cr * cp * sy - sr * sp * cy,
        w=cr * cp * cy + sr * sp * sy,
    )


class Motion:
    """A base driving a circle: v m/s, w rad/s, starting at yaw0."""

    def __init__(self, v, w, yaw0, x0=1.0, y0=0.5):
        self.v, self.w, self.yaw0, self.x0, self.y0 = v, w, yaw0, x0, y0

    def pose(self, t):
        yaw = self.yaw0 + self.w * t
        r = self.v / self.w
        x = self.x0 + r * (math.sin(yaw) - math.sin(self.yaw0))
        y = self.y0 - r * (math.cos(yaw) - math.cos(self.yaw0))
        return x, y, yaw


def times(duration, hz, phase_ns, rng, jitter_ns, round_to=1):
    """Header stamps (ns) of a periodic sensor with clock jitter, rounded to `round_to` ns."""
    out = []
    period = NSEC / hz
    k = 0
    while k * period < duration * NSEC:
        ns = T0_NS + phase_ns + int(k * period) + int(rng.integers(-jitter_ns, jitter_ns + 1))
        out.append(ns // round_to * round_to)
        k += 1
    return out


def odometry(ns, m, frame, child, t, rng):
    x, y, yaw = m.pose(t)
    cov = np.zeros(36)
    cov[[0, 7, 14, 21, 28, 35]] = [1e-3, 1e-3, 1e6, 1e6, 1e6, 3e-2]
    tcov = np.zeros(36)
    tcov[[0, 7, 14, 21, 28, 35]] = [2e-3, 1e6, 1e6, 1e6, 1e6, 5e-2]
    return T["nav_msgs/msg/Odometry"](
        header=header(ns, frame),
        child_frame_id=child,
        pose=T["geometry_msgs/msg/PoseWithCovariance"](
            pose=T["geometry_msgs/msg/Pose"](
                position=T["geometry_msgs/msg/Point"](x=x, y=y, z=0.0),
                orientation=quat_rpy(0.0, 0.0, yaw),
            ),
            covariance=cov,
        ),
        twist=T["geometry_msgs/msg/TwistWithCovariance"](
            twist=T["geometry_msgs/msg/Twist"](
                linear=vec3(m.v + rng.normal(0, 0.002), 0, 0),
                angular=vec3(0, 0, m.w + rng.normal(0, 0.003)),
            ),
            covariance=tcov,
        ),
    )


def imu(ns, m, t, rng, with_orientation=True):
    _, _, yaw = m.pose(t)
    roll, pitch = rng.normal(0, 0.01), rng.normal(0, 0.01)
    if with_orientation:
        q = quat_rpy(roll, pitch, yaw)
        ocov = np.array([1e-3, 0, 0, 0, 1e-3, 0, 0, 0, 1e-3], dtype=np.float64)
    else:
        q = T["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=0.0)
        ocov = np.array([-1.0, 0, 0, 0, 0, 0, 0, 0, 0], dtype=np.float64)
    return T["sensor_msgs/msg/Imu"](
        header=header(ns, "imu_link"),
        orientation=q,
        orientation_covariance=ocov,
        angular_velocity=vec3(rng.normal(0, 0.01), rng.normal(0, 0.01), m.w + rng.normal(0, 0.02)),
        angular_velocity_covariance=np.full(9, 0.0) + np.eye(3).ravel() * 2e-4,
        linear_acceleration=vec3(
            rng.normal(0, 0.05), m.v * m.w + rng.normal(0, 0.05), 9.80665 + rng.normal(0, 0.05)
        ),
        linear_acceleration_covariance=np.eye(3).ravel() * 1.7e-2,
    )


def joints(ns, names, m, t, radius, separation):
    wl = (m.v - m.w * separation / 2) / radius
    wr = (m.v + m.w * separation / 2) / radius
    vel = [wl, wr, wl, wr][: len(names)]
    pos = [v * t for v in vel]
    return T["sensor_msgs/msg/JointState"](
        header=header(ns, ""),
        name=list(names),
        position=np.array(pos, dtype=np.float64),
        velocity=np.array(vel, dtype=np.float64),
        effort=np.array([], dtype=np.float64),
    )


def battery(ns, percentage, voltage, current, status, nan_fields, stamped=True):
    nan = float("nan")
    return T["sensor_msgs/msg/BatteryState"](
        header=header(ns if stamped else 0, "battery"),
        voltage=voltage,
        temperature=nan if "temperature" in nan_fields else 31.5,
        current=current,
        charge=nan if "charge" in nan_fields else 1.42,
        capacity=nan if "capacity" in nan_fields else 1.8,
        design_capacity=1.8,
        percentage=percentage,
        power_supply_status=status,
        power_supply_health=1,
        power_supply_technology=3,
        present=True,
        cell_voltage=np.array([4.03, 4.02, 4.04], dtype=np.float32),
        cell_temperature=np.array([], dtype=np.float32),
        location="slot0",
        serial_number="",
    )


def scan(ns, frame, m, t, rng, beams=720):
    """A 720-beam scan in a 7 x 5 m room with a doorway (no return: +inf), a mast hiding four
    beams (-inf: too close, REP 117) and about 1 % invalid beams (NaN)."""
    x, y, yaw = m.pose(t)
    inc = 2 * math.pi / beams
    angle_min = -math.pi
    ranges = np.empty(beams, dtype=np.float32)
    for i in range(beams):
        a = yaw + angle_min + i * inc
        dx, dy = math.cos(a), math.sin(a)
        best = math.inf
        for wall, pos in (("x", -2.5), ("x", 4.5), ("y", -2.0), ("y", 3.0)):
            d = dx if wall == "x" else dy
            p = x if wall == "x" else y
            if abs(d) > 1e-9:
                s = (pos - p) / d
                if s > 0:
                    hit = (y + s * dy) if wall == "x" else (x + s * dx)
                    door = wall == "x" and pos == 4.5 and 0.2 < hit < 1.2
                    best = min(best, math.inf if door else s)
        ranges[i] = best + rng.normal(0, 0.01) if math.isfinite(best) else math.inf
    ranges[ranges > 12.0] = np.inf
    ranges[358:362] = -np.inf  # the mast, right behind the laser
    ranges[rng.choice(beams, size=7, replace=False)] = np.nan
    intensities = np.where(np.isfinite(ranges), 47.0, 0.0).astype(np.float32)
    return T["sensor_msgs/msg/LaserScan"](
        header=header(ns, frame),
        angle_min=angle_min,
        angle_max=angle_min + (beams - 1) * inc,
        angle_increment=inc,
        time_increment=1.0 / (10 * beams),
        scan_time=0.1,
        range_min=0.12,
        range_max=12.0,
        ranges=ranges,
        intensities=intensities,
    )


def tf(ns, m, t):
    x, y, yaw = m.pose(t)
    tr = T["geometry_msgs/msg/TransformStamped"](
        header=header(ns, "odom"),
        child_frame_id="base_footprint",
        transform=T["geometry_msgs/msg/Transform"](
            translation=vec3(x, y, 0), rotation=quat_rpy(0, 0, yaw)
        ),
    )
    return T["tf2_msgs/msg/TFMessage"](transforms=[tr])


def twist(v, w):
    return T["geometry_msgs/msg/Twist"](linear=vec3(v, 0, 0), angular=vec3(0, 0, w))


def turtlebot(duration, rng):
    m = Motion(v=0.26, w=1.1, yaw0=math.radians(150.0))
    topics = {
        "/odom": ("nav_msgs/msg/Odometry", RELIABLE),
        "/imu": ("sensor_msgs/msg/Imu", SENSOR),
        "/joint_states": ("sensor_msgs/msg/JointState", RELIABLE),
        "/battery_state": ("sensor_msgs/msg/BatteryState", LATCHED),
        "/scan": ("sensor_msgs/msg/LaserScan", SENSOR),
        "/tf": ("tf2_msgs/msg/TFMessage", qos(True, depth=100)),
        "/cmd_vel": ("geometry_msgs/msg/Twist", RELIABLE),
    }
    msgs = []
    t = lambda ns: (ns - T0_NS) / NSEC  # noqa: E731

    for ns in times(duration, 30, 1_234_567, rng, 400_000):
        msgs.append(("/odom", ns, odometry(ns, m, "odom", "base_footprint", t(ns), rng)))
        msgs.append(("/tf", ns, tf(ns, m, t(ns))))
    for ns in times(duration, 200, 0, rng, 0, round_to=1_000_000):
        msgs.append(("/imu", ns, imu(ns, m, t(ns), rng)))
    for ns in times(duration, 30, 7_654_321, rng, 300_000, round_to=1_000):
        msgs.append(("/joint_states", ns, joints(ns, ["wheel_left_joint", "wheel_right_joint"], m, t(ns), 0.033, 0.16)))
    for k, ns in enumerate(times(duration, 1, 250_000_000, rng, 2_000_000)):
        pct = np.float32(87.4 - 0.3 * k)  # 0-100, not 0-1
        msgs.append(("/battery_state", ns, battery(ns, float(pct), 12.06 - 0.01 * k, -0.87, 2, {"temperature", "charge", "capacity"})))
    for ns in times(duration, 10, 40_000_000, rng, 1_000_000):
        msgs.append(("/scan", ns, scan(ns, "base_scan", m, t(ns), rng)))
    for ns in times(duration, 10, 3_000_000, rng, 1_000_000):
        msgs.append(("/cmd_vel", ns, twist(0.26, 1.1)))
    return topics, msgs


def robot3(duration, rng):
    ns_ = "/robot3"
    m = Motion(v=0.5, w=-0.8, yaw0=math.radians(-120.0), x0=-0.5, y0=1.0)
    topics = {
        f"{ns_}/odom": ("nav_msgs/msg/Odometry", RELIABLE),
        f"{ns_}/imu": ("sensor_msgs/msg/Imu", SENSOR),
        f"{ns_}/joint_states": ("sensor_msgs/msg/JointState", RELIABLE),
        f"{ns_}/battery_state": ("sensor_msgs/msg/BatteryState", LATCHED),
        f"{ns_}/scan": ("sensor_msgs/msg/LaserScan", SENSOR),
    }
    msgs = []
    t = lambda ns: (ns - T0_NS) / NSEC  # noqa: E731
    for ns in times(duration, 50, 999_999, rng, 200_000):
        msgs.append((f"{ns_}/odom", ns, odometry(ns, m, "robot3/odom", "robot3/base_link", t(ns), rng)))
    for ns in times(duration, 100, 2_000_000, rng, 100_000):
        msgs.append((f"{ns_}/imu", ns, imu(ns, m, t(ns), rng, with_orientation=False)))
    names = ["front_left_wheel", "front_right_wheel", "rear_left_wheel", "rear_right_wheel"]
    for ns in times(duration, 20, 5_000_000, rng, 500_000):
        msgs.append((f"{ns_}/joint_states", ns, joints(ns, names, m, t(ns), 0.1, 0.45)))
    for k, ns in enumerate(times(duration, 2, 100_000_000, rng, 1_000_000)):
        pct = float("nan") if k < 2 else 0.62 - 0.001 * k  # NaN while the BMS boots
        msgs.append((f"{ns_}/battery_state", ns, battery(ns, pct, 24.3, -2.1, 2 if k < 2 else 3, {"temperature"}, stamped=False)))
    for ns in times(duration, 10, 20_000_000, rng, 1_000_000):
        msgs.append((f"{ns_}/scan", ns, scan(ns, "robot3/laser", m, t(ns), rng)))
    return topics, msgs


def quirks(duration, rng):
    """A driver that does not carry nanoseconds into seconds: it stamps `sec` once per burst
    and adds the period to `nanosec`, which goes past 1e9 (builtin_interfaces/Time says
    [0, 1e9); rclcpp reads such a stamp as sec * 1e9 + nanosec). /odom starts at 09:20:59.5
    (second 59 of a minute), /joint_states at 09:21:07.5."""
    m = Motion(v=0.2, w=0.3, yaw0=0.0)
    topics = {
        "/odom": ("nav_msgs/msg/Odometry", RELIABLE),
        "/joint_states": ("sensor_msgs/msg/JointState", RELIABLE),
    }
    msgs = []
    n = int(duration * 10)
    for topic, sec in (("/odom", 1_686_734_459), ("/joint_states", 1_686_734_467)):
        for k in range(n):
            nanosec = 500_000_000 + k * 100_000_000
            log_ns = sec * NSEC + nanosec + 1_000_000
            t = (log_ns - T0_NS) / NSEC
            if topic == "/odom":
                msg = odometry(0, m, "odom", "base_link", t, rng)
            else:
                msg = joints(0, ["left", "right"], m, t, 0.05, 0.3)
            msg.header.stamp = T["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec)
            msgs.append((topic, log_ns, msg))
    return topics, msgs


def write(out, profile, storage, duration, version):
    rng = np.random.default_rng(20230614)
    topics, msgs = {"turtlebot": turtlebot, "robot3": robot3, "quirks": quirks}[profile](duration, rng)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    # Receive (log) time: the stamp plus transport latency, 0.4-3 ms; written in log order.
    logged = []
    for topic, ns, msg in msgs:
        stamp_ns = msg.header.stamp.sec * NSEC + msg.header.stamp.nanosec if hasattr(msg, "header") else ns
        logged.append((max(stamp_ns, ns) + int(rng.integers(400_000, 3_000_000)), topic, msg))
    logged.sort(key=lambda x: x[0])
    with Writer(Path(out), version=version, storage_plugin=plugin) as w:
        conns = {
            topic: w.add_connection(topic, typ, typestore=TS, offered_qos_profiles=[q])
            for topic, (typ, q) in topics.items()
        }
        for log_ns, topic, msg in logged:
            w.write(conns[topic], log_ns, bytes(TS.serialize_cdr(msg, conns[topic].msgtype)))
    counts = {}
    for _, topic, _ in logged:
        counts[topic] = counts.get(topic, 0) + 1
    print(json.dumps({"bag": str(out), "storage": storage, "counts": counts}))


# --------------------------------------------------------------------------------------------
# dump


def plain(v):
    if hasattr(v, "__msgtype__"):
        return {k: plain(getattr(v, k)) for k in v.__dataclass_fields__ if not k.startswith("__")}
    if isinstance(v, np.ndarray):
        return [plain(x) for x in v.tolist()]
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return v
    if isinstance(v, np.generic):
        return plain(v.item())
    return v


def dump(path, only):
    out = {"topics": {}, "messages": {}}
    with Reader(Path(path)) as r:
        for c in r.connections:
            if only and c.topic not in only:
                continue
            out["topics"][c.topic] = {
                "type": c.msgtype,
                "count": c.msgcount,
                "qos": [
                    {"reliability": q.reliability.name.lower(), "durability": q.durability.name.lower(), "depth": q.depth}
                    for q in c.ext.offered_qos_profiles
                ],
            }
            out["messages"][c.topic] = []
        conns = [c for c in r.connections if not only or c.topic in only]
        for c, log_ns, raw in r.messages(connections=conns):
            msg = TS.deserialize_cdr(raw, c.msgtype)
            d = plain(msg)
            d["_log_ns"] = log_ns
            out["messages"][c.topic].append(d)
    json.dump(out, sys.stdout, allow_nan=False)
    sys.stdout.write("\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    w = sub.add_parser("write")
    w.add_argument("out")
    w.add_argument("--profile", choices=["turtlebot", "robot3", "quirks"], default="turtlebot")
    w.add_argument("--storage", choices=["mcap", "sqlite3"], default="mcap")
    w.add_argument("--duration", type=float, default=6.0)
    w.add_argument("--version", type=int, choices=[8, 9], default=9)
    d = sub.add_parser("dump")
    d.add_argument("bag")
    d.add_argument("--topics", nargs="*", default=[])
    a = ap.parse_args()
    if a.cmd == "write":
        write(a.out, a.profile, a.storage, a.duration, a.version)
    else:
        dump(a.bag, set(a.topics))


if __name__ == "__main__":
    main()
