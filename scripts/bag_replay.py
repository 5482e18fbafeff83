#!/usr/bin/env python3
"""Replays a rosbag2 bag (MCAP or sqlite3) into the ROS graph, like `ros2 bag play`, without
rosbag2: the bag is read with `rosbags` (pip install rosbags) and its raw CDR bytes are
published with rclpy, at the recorded timing.

  bag_replay.py <bag dir | file.mcap | file.db3> [--topics /odom /imu ...] [--rate 1.0]
                [--remap /from:=/to ...] [--qos reliable|best_effort|auto] [--loop]
                [--wait 5] [--quiet]

- One publisher per topic, of the bag's message type (its Python class is imported from the
  type name, e.g. sensor_msgs/msg/Imu -> sensor_msgs.msg.Imu). A topic whose type has no
  Python module here is skipped, and the summary says so.
- --qos auto (default) uses the QoS profiles recorded in the bag's metadata (offered QoS,
  adapted as rosbag2 does: reliable only when every recorded publisher was reliable,
  transient_local only when every one was); reliable or best_effort force the reliability
  (durability volatile). Depth: the recorded depth, at least 10.
- Before playing, waits up to --wait seconds until every topic has a subscriber (once one
  topic has a subscriber, the others get one more second, so a topic that nobody subscribes to
  costs one second, not the whole wait), then --delay seconds more (the subscribers' side of
  DDS discovery completes on its own time; without it the first messages may be lost). Then
  plays; messages keep their recorded spacing,
  scaled by 1/--rate (2.0 plays twice as fast). Header stamps are not changed.
- Ends with a summary: messages published per topic. Exit code 0; 1 when the bag cannot be
  read or nothing was published.

DDS discovery: ROS_AUTOMATIC_DISCOVERY_RANGE is set to LOCALHOST when it is not set, so a
replay never reaches other machines by accident; set it yourself (e.g. SUBNET) to replay into a
robot on the network. ROS_DOMAIN_ID is taken from the environment as usual.
"""
import argparse
import importlib
import os
import sys
import time
from pathlib import Path

# Before rclpy starts a DDS participant.
_DISCOVERY_DEFAULTED = "ROS_AUTOMATIC_DISCOVERY_RANGE" not in os.environ
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bag_replay.py",
        description="Replay a rosbag2 bag (MCAP or sqlite3) into ROS 2 with rosbags + rclpy. "
        "Sets ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST when it is unset (DDS stays on this "
        "host); export another value to replay across the network.",
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("bag", help="rosbag2 directory (with metadata.yaml), or a .mcap / .db3 file")
    ap.add_argument("--topics", nargs="+", metavar="TOPIC", help="replay only these bag topics")
    ap.add_argument("--rate", type=float, default=1.0, help="speed factor (default 1.0)")
    ap.add_argument(
        "--remap", action="append", default=[], metavar="/FROM:=/TO",
        help="publish bag topic /FROM on /TO (repeatable)",
    )
    ap.add_argument(
        "--qos", choices=["reliable", "best_effort", "auto"], default="auto",
        help="publisher reliability; auto = the bag's recorded offered QoS (default)",
    )
    ap.add_argument("--loop", action="store_true", help="play again and again until Ctrl-C")
    ap.add_argument(
        "--wait", type=float, default=5.0, metavar="S",
        help="wait up to S seconds for subscribers before playing (default 5; 0: do not wait)",
    )
    ap.add_argument(
        "--delay", type=float, default=1.0, metavar="S",
        help="after the subscribers matched, wait S seconds more before the first message "
        "(default 1.0): DDS matches each side on its own, and a subscriber that has not yet "
        "matched the replay's publisher drops what it gets",
    )
    ap.add_argument("--quiet", action="store_true", help="print only the summary")
    a = ap.parse_args(argv)
    if not a.rate > 0:
        ap.error("--rate must be > 0")
    remaps = {}
    for r in a.remap:
        src, sep, dst = r.partition(":=")
        if not sep or not src.startswith("/") or not dst.startswith("/"):
            ap.error(f"--remap {r!r}: expected /from:=/to (absolute topic names)")
        remaps[src] = dst
    a.remaps = remaps
    return a


def msg_class(type_name):
    """sensor_msgs/msg/Imu -> the rclpy message class; ImportError/AttributeError otherwise."""
    parts = type_name.split("/")
    if len(parts) == 2:  # ROS 1 style name
        parts = [parts[0], "msg", parts[1]]
    pkg, sub, name = parts
    return getattr(importlib.import_module(f"{pkg}.{sub}"), name)


def qos_profile(mode, recorded):
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

    depth = 10
    if mode == "reliable":
        rel, dur = ReliabilityPolicy.RELIABLE, DurabilityPolicy.VOLATILE
    elif mode == "best_effort":
        rel, dur = ReliabilityPolicy.BEST_EFFORT, DurabilityPolicy.VOLATILE
    else:
        names_r = [q.reliability.name for q in recorded]
        names_d = [q.durability.name for q in recorded]
        # rosbag2's adaptation: reliable only if all recorded publishers were (an unknown
        # recording counts as reliable, the ROS default).
        reliable = all(n != "BEST_EFFORT" for n in names_r)
        latched = bool(names_d) and all(n == "TRANSIENT_LOCAL" for n in names_d)
        rel = ReliabilityPolicy.RELIABLE if reliable else ReliabilityPolicy.BEST_EFFORT
        dur = DurabilityPolicy.TRANSIENT_LOCAL if latched else DurabilityPolicy.VOLATILE
        depth = max([10] + [q.depth for q in recorded if 0 < q.depth < 10000])
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=rel, durability=dur)


def qos_word(p):
    from rclpy.qos import DurabilityPolicy, ReliabilityPolicy

    r = "reliable" if p.reliability == ReliabilityPolicy.RELIABLE else "best_effort"
    d = "transient_local" if p.durability == DurabilityPolicy.TRANSIENT_LOCAL else "volatile"
    return f"{r}/{d}/{p.depth}"


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    say = (lambda *x: None) if a.quiet else (lambda *x: print("bag_replay:", *x, flush=True))

    try:
        from rosbags.rosbag2 import Reader
    except ImportError:
        print("bag_replay: needs the rosbags package (pip install rosbags)", file=sys.stderr)
        return 1
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    try:
        reader = Reader(Path(a.bag))
        reader.open()
    except Exception as e:  # rosbags raises several error types
        print(f"bag_replay: cannot read {a.bag}: {e}", file=sys.stderr)
        return 1

    if _DISCOVERY_DEFAULTED:
        say("ROS_AUTOMATIC_DISCOVERY_RANGE was unset: using LOCALHOST")
    wanted = set(a.topics or [])
    unknown = wanted - {c.topic for c in reader.connections}
    if unknown:
        print(f"bag_replay: not in the bag: {' '.join(sorted(unknown))}", file=sys.stderr)
        return 1

    rclpy.init(args=["--ros-args"])
    node = rclpy.create_node("bag_replay", start_parameter_services=False)
    pubs = {}  # connection id -> (out topic, publisher)
    skipped = {}  # bag topic -> reason
    by_topic = {}
    for c in reader.connections:
        if wanted and c.topic not in wanted:
            continue
        by_topic.setdefault((c.topic, c.msgtype), []).append(c)
    publishers = {}
    for (topic, typ), conns in sorted(by_topic.items()):
        if any(c.ext.serialization_format != "cdr" for c in conns):
            skipped[topic] = f"serialization {conns[0].ext.serialization_format}, not cdr"
            continue
        try:
            cls = msg_class(typ)
        except (ImportError, AttributeError, ValueError) as e:
            skipped[topic] = f"{typ}: no Python class here ({e})"
            continue
        out = a.remaps.get(topic, topic)
        recorded = [q for c in conns for q in c.ext.offered_qos_profiles]
        profile = qos_profile(a.qos, recorded)
        pub = node.create_publisher(cls, out, profile)
        publishers[out] = pub
        for c in conns:
            pubs[c.id] = (out, pub)
        say(f"{topic} -> {out}" if out != topic else topic, typ, qos_word(profile))
    for topic, why in skipped.items():
        say(f"skipping {topic}: {why}")
    for src in a.remaps:
        if src not in {t for t, _ in by_topic}:
            say(f"warning: --remap {src}: no such topic in the bag (or filtered out)")
    if not pubs:
        print("bag_replay: nothing to publish", file=sys.stderr)
        return 1

    ex = SingleThreadedExecutor()
    ex.add_node(node)
    if a.wait > 0:
        end = time.monotonic() + a.wait
        first = None
        while True:
            matched = {t for t, p in publishers.items() if p.get_subscription_count() > 0}
            if len(matched) == len(publishers):
                break
            now = time.monotonic()
            if matched and first is None:
                first = now
            if now >= end or (first is not None and now >= first + 1.0):
                missing = sorted(set(publishers) - matched)
                say(f"no subscriber on {' '.join(missing)} (publishing anyway)")
                break
            ex.spin_once(timeout_sec=0.05)
    if a.delay > 0:
        time.sleep(a.delay)

    counts = {t: 0 for t in publishers}
    max_lag = 0.0
    conns = [c for c in reader.connections if c.id in pubs]
    started = time.monotonic()
    passes = 0
    try:
        while True:
            passes += 1
            t0_bag = None
            t0 = time.monotonic()
            for c, log_ns, raw in reader.messages(connections=conns):
                if t0_bag is None:
                    t0_bag = log_ns
                due = t0 + (log_ns - t0_bag) / 1e9 / a.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                else:
                    max_lag = max(max_lag, -delay)
                out, pub = pubs[c.id]
                pub.publish(bytes(raw))
                counts[out] += 1
            if not a.loop:
                break
            say(f"pass {passes} done, looping")
    except KeyboardInterrupt:
        pass
    elapsed = time.monotonic() - started
    # Reliable/transient-local deliveries finish in the background: give them a moment.
    time.sleep(0.5)
    reader.close()

    total = sum(counts.values())
    print(
        f"bag_replay: published {total} messages in {elapsed:.2f} s ({passes} pass(es)), "
        f"at most {max_lag * 1000:.0f} ms behind the recorded timing:",
        flush=True,
    )
    for t in sorted(counts):
        print(f"  {t}\t{counts[t]}", flush=True)
    for t, why in sorted(skipped.items()):
        print(f"  {t}\tskipped: {why}", flush=True)
    node.destroy_node()
    rclpy.try_shutdown()
    return 0 if total else 1


if __name__ == "__main__":
    sys.exit(main())
