#!/usr/bin/env python3
"""A small rclpy peer for the tests and the demo: publishes or records any message type.

  ros_tool.py pub <pkg/msg/Type> <topic> <json> [--rate HZ] [--count N] [--qos reliable|best_effort]
      (--qos reliable_transient_local / best_effort_transient_local: a latched topic)
      [--linger S]    (stays in the graph S seconds after the last message, default 0.5)
      [--stamp now]   (fills header.stamp with the clock when the message has a header)
      [--counter a.b.c]  (sets that numeric field to the message's index 0, 1, 2, ... so that a
                          receiver can tell which message it got; the last one has count - 1)
      [--fanout N]    (N topics from one node: <topic> is a template, {i} the topic's number
                       0..N-1 (e.g. /r{i:02d}/odom); each gets every message, --rate each)
      [--depth N]     (the publisher's history depth, default 100)
  ros_tool.py sub <pkg/msg/Type> <topic> [--qos ...] [--duration S]
      prints one JSON line per message: {"t": <arrival, unix s>, "msg": {...}}

JSON <-> message conversion is done here by walking the message's fields, so the peer is
independent of the bridge's own conversion code.
"""
import argparse
import contextlib
import importlib
import json
import math
import sys
import time

import rclpy
from rclpy.qos import QoSProfile, ReliabilityPolicy, DurabilityPolicy, HistoryPolicy


def msg_class(name):
    pkg, _, typ = name.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), typ)


def fill(msg, data):
    for key, value in data.items():
        current = getattr(msg, key)
        if hasattr(current, "get_fields_and_field_types"):
            fill(current, value)
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            typ = msg.get_fields_and_field_types()[key]
            inner = typ[typ.index("<") + 1:typ.rindex(">")] if "<" in typ else typ
            pkg, typ_name = inner.split("/")
            cls = getattr(importlib.import_module(f"{pkg}.msg"), typ_name)
            items = []
            for v in value:
                m = cls()
                fill(m, v)
                items.append(m)
            setattr(msg, key, items)
        else:
            if isinstance(value, list):
                value = [float(v) if isinstance(v, str) and v in ("inf", "-inf", "nan") else v for v in value]
            elif isinstance(value, str) and value in ("inf", "-inf", "nan") and isinstance(current, float):
                value = float(value)
            setattr(msg, key, value)


def set_path(msg, path, value):
    *parents, last = path.split(".")
    for p in parents:
        msg = getattr(msg, p)
    current = getattr(msg, last)
    setattr(msg, last, float(value) if isinstance(current, float) else int(value))


def to_dict(msg):
    if hasattr(msg, "get_fields_and_field_types"):
        return {k: to_dict(getattr(msg, k)) for k in msg.get_fields_and_field_types()}
    if isinstance(msg, (list, tuple)) or type(msg).__name__ == "ndarray" or type(msg).__name__ == "array":
        return [to_dict(v) for v in msg]
    if isinstance(msg, bytes):
        # `byte` fields (DiagnosticStatus.level) arrive as bytes of length 1.
        return msg[0] if len(msg) == 1 else list(msg)
    if isinstance(msg, float) and not math.isfinite(msg):
        return str(msg)
    return msg


def qos(kind, depth=100):
    # reliable | best_effort, optionally with _transient_local (a latched topic).
    transient = kind.endswith("_transient_local")
    kind = kind[: -len("_transient_local")] if transient else kind
    if kind not in ("reliable", "best_effort"):
        raise SystemExit(f"ros_tool.py: unknown --qos {kind}")
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.RELIABLE if kind == "reliable" else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if transient else DurabilityPolicy.VOLATILE,
    )


@contextlib.contextmanager
def ros_node(mode):
    """A node of this process for the life of the block, and rclpy shut down after it."""
    rclpy.init()
    node = rclpy.create_node(f"ros_tool_{mode}_{int(time.time() * 1000) % 100000}")
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


def publish(node, cls, a):
    """`--count` messages at `--rate` (to each of `--fanout` topics), once every topic has a
    subscriber matched (or after --wait-subscribers s)."""
    topics = [a.topic.format(i=i) for i in range(a.fanout)] if a.fanout else [a.topic]
    pubs = [node.create_publisher(cls, t, qos(a.qos, a.depth)) for t in topics]
    deadline = time.time() + a.wait_subscribers
    while any(p.get_subscription_count() == 0 for p in pubs) and time.time() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)
    if a.fanout:
        matched = sum(1 for p in pubs if p.get_subscription_count() > 0)
        print(f"ros_tool.py: {matched} of {len(pubs)} topics have a subscriber", file=sys.stderr, flush=True)
    time.sleep(0.3)  # let discovery settle on the reader side too
    period = 1.0 / a.rate
    start = time.monotonic()
    for i in range(a.count):
        m = cls()
        fill(m, json.loads(a.data))
        if a.stamp == "now" and hasattr(m, "header"):
            m.header.stamp = node.get_clock().now().to_msg()
        if a.counter:
            set_path(m, a.counter, i)
        for pub in pubs:
            pub.publish(m)
        next_t = start + (i + 1) * period
        delay = next_t - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    # Stay in the graph after the last message (a latched publisher keeps serving it).
    end = time.time() + a.linger
    while time.time() < end:
        rclpy.spin_once(node, timeout_sec=min(0.1, max(0.0, end - time.time())))


def record(node, cls, a):
    """One JSON line per message for `--duration` s, after a "ready" line."""
    def on_msg(m, info):
        # The middleware's reception time, not when this (possibly starved) process got
        # round to it: arrival times are what a robot's controller would see.
        received = info.get("received_timestamp", 0) if isinstance(info, dict) else 0
        t = received / 1e9 if received else time.time()
        print(json.dumps({"t": t, "msg": to_dict(m)}), flush=True)
    node.create_subscription(cls, a.topic, on_msg, qos(a.qos))
    # Ready once a publisher is matched (or after --wait-subscribers s without one). Not
    # spinning meanwhile: a latched or fast publisher's first message would be printed before
    # "ready" (the graph is updated without a spin; messages wait in the reader's history).
    deadline = time.time() + a.wait_subscribers
    while node.count_publishers(a.topic) == 0 and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    print(json.dumps({"ready": True, "publishers": node.count_publishers(a.topic)}), flush=True)
    end = time.time() + a.duration
    while time.time() < end:
        rclpy.spin_once(node, timeout_sec=0.05)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["pub", "sub"])
    ap.add_argument("type")
    ap.add_argument("topic")
    ap.add_argument("data", nargs="?", default="{}")
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--qos", default="reliable")
    ap.add_argument("--duration", type=float, default=1e9)
    ap.add_argument("--stamp", default="")
    ap.add_argument("--counter", default="")
    ap.add_argument("--wait-subscribers", type=float, default=5.0)
    ap.add_argument("--linger", type=float, default=0.5)
    ap.add_argument("--fanout", type=int, default=0)
    ap.add_argument("--depth", type=int, default=100, help="the publisher's history depth")
    a = ap.parse_args()
    with ros_node(a.mode) as node:
        (publish if a.mode == "pub" else record)(node, msg_class(a.type), a)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        sys.exit(0)
