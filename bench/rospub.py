#!/usr/bin/env python3
"""rclpy load generator for scripts/bench: publishes realistic AMR messages at fixed rates.

  rospub.py --topic odom:50 --topic imu:200 ... [--duration S] [--beams N] [--qos reliable]
            [--subscribers N]

Every message carries header.stamp = the wall clock at publish time (for latency) and a
sequence number 0, 1, 2, ... (Odometry: pose.pose.position.x, Imu: linear_acceleration.x,
JointState: position[0]). Publication is paced against the monotonic clock; above 2000 msg/s
per topic it publishes in bursts of ceil(rate/2000) every 0.5 ms (Python cannot sleep finer
than that without burning a core). When the process falls more than 3 periods behind (the
machine was busy), it does not catch up with a burst: the missed slots are skipped and counted
("late_skips"), so what is sent is always the count printed and never a burst the load did not
ask for.

Prints one JSON line at the end: {"sent": {topic: n}, "cpu_s": ..., "wall_s": ..., "rate": {...}}
so the bench knows exactly what was sent and what the publisher itself cost.
"""
import argparse
import json
import math
import random
import sys
import time

import rclpy
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from builtin_interfaces.msg import Time
from nav_msgs.msg import Odometry
from sensor_msgs.msg import BatteryState, Imu, JointState, LaserScan

TYPES = {"odom": Odometry, "imu": Imu, "battery_state": BatteryState,
         "joint_states": JointState, "scan": LaserScan}


def make(topic, beams):
    """A message as a real driver would fill it (sizes matter for the bridge's cost)."""
    cls = TYPES[topic]
    m = cls()
    if topic == "odom":
        m.header.frame_id, m.child_frame_id = "odom", "base_link"
        m.pose.pose.orientation.w = 1.0
        m.pose.covariance = [0.01 * (i % 7 == 0) for i in range(36)]
        m.twist.twist.linear.x, m.twist.twist.angular.z = 0.5, 0.1
        m.twist.covariance = [0.02 * (i % 7 == 0) for i in range(36)]
    elif topic == "imu":
        m.header.frame_id = "imu_link"
        m.orientation.w = 1.0
        m.orientation_covariance = [0.001, 0.0, 0.0, 0.0, 0.001, 0.0, 0.0, 0.0, 0.001]
        m.angular_velocity.z = 0.1
        m.linear_acceleration.z = 9.81
    elif topic == "battery_state":
        m.voltage, m.current, m.percentage = 24.1, -2.3, 0.76
        m.charge, m.capacity, m.temperature = 30.0, 40.0, 31.5
        m.power_supply_status, m.present = 2, True
    elif topic == "joint_states":
        m.name = ["wheel_left", "wheel_right", "caster_left", "caster_right"]
        m.position, m.velocity, m.effort = [1.0] * 4, [0.5] * 4, [0.1] * 4
    elif topic == "scan":
        m.header.frame_id = "laser"
        m.angle_min, m.angle_max = -math.pi, math.pi
        m.angle_increment = 2 * math.pi / beams
        m.time_increment, m.scan_time = 0.1 / beams, 0.1
        m.range_min, m.range_max = 0.05, 30.0
        rnd = random.Random(1)
        m.ranges = [rnd.uniform(0.2, 25.0) if i % 50 else math.inf for i in range(beams)]
        m.intensities = [rnd.uniform(0, 100.0) for _ in range(beams)]
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--topic", action="append", required=True, help="name:rate_hz")
    ap.add_argument("--duration", type=float, default=30.0)
    ap.add_argument("--beams", type=int, default=720)
    ap.add_argument("--qos", default="reliable", choices=["reliable", "best_effort"])
    ap.add_argument("--wait-subscribers", type=float, default=15.0)
    ap.add_argument("--subscribers", type=int, default=1, help="readers to wait for (bridge, floor)")
    a = ap.parse_args()

    rclpy.init()
    node = rclpy.create_node(f"bench_pub_{int(time.time() * 1e6) % 10**9}")
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10,
                     reliability=(ReliabilityPolicy.RELIABLE if a.qos == "reliable"
                                  else ReliabilityPolicy.BEST_EFFORT),
                     durability=DurabilityPolicy.VOLATILE)
    streams = []
    for spec in a.topic:
        name, rate = spec.split(":")
        rate = float(rate)
        pub = node.create_publisher(TYPES[name], name, qos)
        burst = max(1, math.ceil(rate / 2000.0))
        streams.append({"name": name, "pub": pub, "msg": make(name, a.beams),
                        "period": burst / rate, "burst": burst, "n": 0, "rate": rate,
                        "skips": 0})

    deadline = time.time() + a.wait_subscribers
    while any(s["pub"].get_subscription_count() < a.subscribers for s in streams) and time.time() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    time.sleep(0.5)  # let discovery settle on the reader side too
    print(json.dumps({"ready": True}), flush=True)

    cpu0, t0, wall0 = time.process_time(), time.monotonic(), time.time()
    end = t0 + a.duration
    for s in streams:
        s["next"] = t0
    while True:
        s = min(streams, key=lambda x: x["next"])
        if s["next"] >= end:
            break
        delay = s["next"] - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        m = s["msg"]
        for _ in range(s["burst"]):
            ns = time.time_ns()
            m.header.stamp = Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
            n = float(s["n"])
            if s["name"] == "odom":
                m.pose.pose.position.x = n
            elif s["name"] == "imu":
                m.linear_acceleration.x = n
            elif s["name"] == "joint_states":
                m.position[0] = n
            s["pub"].publish(m)
            s["n"] += 1
        s["next"] += s["period"]
        behind = time.monotonic() - s["next"]
        if behind > 3 * s["period"]:
            skip = int(behind / s["period"])
            s["next"] += skip * s["period"]
            s["skips"] += skip
    wall = time.monotonic() - t0
    cpu = time.process_time() - cpu0
    print(json.dumps({"sent": {s["name"]: s["n"] for s in streams}, "cpu_s": cpu, "wall_s": wall, "start": wall0,
                      "rate": {s["name"]: s["n"] / wall for s in streams},
                      "late_skips": {s["name"]: s["skips"] for s in streams}}), flush=True)
    time.sleep(0.5)  # let the last samples leave before the node goes away
    node.destroy_node()
    rclpy.shutdown()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
