#!/usr/bin/env python3
"""The rclpy side of the run-time type tests (src/dyntype, tests/dyntype.rs).

Messages of packages the bridge is NOT built with (test_msgs, visualization_msgs: installed
into a prefix of their own, AMR_BRIDGE_TEST_PREFIX), made and read by rclpy, and their JSON as
the bridge must write it, computed here by walking rclpy's field types (independent of the
bridge's code): objects keyed by field name, 64-bit integers exact, floats as Python floats
(float32 read back from CDR, so widened), NaN/inf as null, arrays of uint8/byte/char as one
base64 string.

  dyntype_peer.py cases                 one JSON line per case: {name, type, cdr (hex), json}
  dyntype_peer.py fixture FILE          the cases and every .msg text they need, for the unit
                                        tests (src/dyntype/rclpy_cases.rs)
  dyntype_peer.py check                 reads lines {name, cdr (hex)}: deserializes each with
                                        rclpy, prints {name, equal, got} (got: its JSON)
  dyntype_peer.py pub CASE TOPIC [--qos Q] [--count N] [--linger S] [--no-wait]
                                        publishes case CASE (--qos reliable|best_effort, with
                                        _transient_local for a latched topic)
  dyntype_peer.py sub TYPE TOPIC [--qos Q]
                                        prints {"ready": true}, then {"json": ...} per message
"""
import argparse
import base64
import copy
import importlib
import json
import math
import os
import sys
import time

from rclpy.serialization import deserialize_message, serialize_message

I64_MIN, I64_MAX, U64_MAX = -(2**63), 2**63 - 1, 2**64 - 1


def msg_class(name):
    pkg, _, typ = name.split("/")
    return getattr(importlib.import_module(f"{pkg}.msg"), typ)


def elem_type(t):
    """(element type, is a collection) of an rclpy field type string."""
    if t.startswith("sequence<"):
        return t[len("sequence<"):-1].split(",")[0].strip(), True
    if t.endswith("]"):
        return t[: t.rindex("[")], True
    return t, False


def scalar_json(t, v):
    if "/" in t:
        return to_json(v)
    if t == "octet":
        return v[0]
    if t in ("float", "double"):
        return float(v) if math.isfinite(v) else None
    if t == "boolean":
        return bool(v)
    if t.startswith("string") or t.startswith("wstring"):
        return v
    return int(v)


def to_json(msg):
    out = {}
    for name, t in msg.get_fields_and_field_types().items():
        v = getattr(msg, name)
        elem, many = elem_type(t)
        if many and elem == "octet":
            out[name] = base64.b64encode(b"".join(v)).decode()
        elif many and elem == "uint8":
            out[name] = base64.b64encode(bytes(int(x) for x in v)).decode()
        elif many:
            out[name] = [scalar_json(elem, x) for x in v]
        else:
            out[name] = scalar_json(elem, v)
    return out


def basic(**kw):
    m = msg_class("test_msgs/msg/BasicTypes")()
    for k, v in kw.items():
        setattr(m, k, v)
    return m


def limits_high():
    return basic(bool_value=True, byte_value=b"\xff", char_value=255, float32_value=3.4028234663852886e38,
                 float64_value=-1.7976931348623157e308, int8_value=127, uint8_value=255, int16_value=32767,
                 uint16_value=65535, int32_value=2**31 - 1, uint32_value=2**32 - 1, int64_value=I64_MAX,
                 uint64_value=U64_MAX)


def limits_low():
    return basic(byte_value=b"\x00", float32_value=0.1, float64_value=5e-324, int8_value=-128,
                 int16_value=-32768, int32_value=-(2**31), int64_value=I64_MIN)


def non_finite():
    return basic(float32_value=float("nan"), float64_value=float("-inf"))


def with_fields(cls_name, **kw):
    m = msg_class(cls_name)()
    for k, v in kw.items():
        setattr(m, k, v)
    return m


def point(x, y, z):
    return with_fields("geometry_msgs/msg/Point", x=x, y=y, z=z)


def color(r, g, b, a):
    return with_fields("std_msgs/msg/ColorRGBA", r=r, g=g, b=b, a=a)


def marker():
    m = msg_class("visualization_msgs/msg/Marker")()
    m.header.stamp.sec, m.header.stamp.nanosec = 1700000000, 123456789
    m.header.frame_id = "map/ドック"
    m.ns, m.id, m.type, m.action = "dock ✓", -7, 11, 0
    m.pose.position = point(1.5, -2.25, 0.0)
    m.pose.orientation.w = 1.0
    m.scale.x = m.scale.y = m.scale.z = 0.1
    m.color = color(0.2, 0.4, 0.6, 1.0)
    m.lifetime.sec, m.lifetime.nanosec = 3, 500
    m.frame_locked = True
    m.points = [point(float(i), -float(i), 0.5 * i) for i in range(5)]
    m.colors = [color(1.0, 0.0, 0.0, 1.0), color(0.0, 1.0, 0.0, 0.5)]
    m.texture_resource = "embedded://tex"
    m.texture.format = "png"
    m.texture.data = bytes(range(256))
    uv = msg_class("visualization_msgs/msg/UVCoordinate")
    m.uv_coordinates = [uv(u=0.0, v=1.0), uv(u=0.5, v=0.25)]
    m.text = "Ünïcødé 😀 \u202e bidi"
    m.mesh_resource = "package://x/mesh.dae"
    m.mesh_file.filename = "mesh.dae"
    m.mesh_file.data = b"\x00\x01\xfe\xff" * 8
    m.mesh_use_embedded_materials = True
    return m


def marker_array():
    a = msg_class("visualization_msgs/msg/MarkerArray")()
    second = marker()
    second.id, second.points, second.mesh_file.data = 8, [], b""
    a.markers = [marker(), second]
    return a


def unbounded():
    m = msg_class("test_msgs/msg/UnboundedSequences")()
    m.bool_values = [True, False, True]
    m.byte_values = [b"\x00", b"\x80", b"\xff"]
    m.char_values = [0, 65, 255]
    m.float32_values = [0.1, -1.5, 3.4e38]
    m.float64_values = [math.pi, -0.0, 1e-300]
    m.int8_values, m.uint8_values = [-128, 0, 127], [0, 128, 255]
    m.int16_values, m.uint16_values = [-32768, 7, 32767], [0, 1, 65535]
    m.int32_values, m.uint32_values = [-(2**31), 0, 2**31 - 1], [0, 1, 2**32 - 1]
    m.int64_values, m.uint64_values = [I64_MIN, 0, I64_MAX], [0, 1, U64_MAX]
    m.string_values = ["", "é", "日本語 😀"]
    m.basic_types_values = [limits_high(), limits_low()]
    m.constants_values = [msg_class("test_msgs/msg/Constants")()]
    m.defaults_values = [msg_class("test_msgs/msg/Defaults")()] * 2
    m.alignment_check = -42
    return m


def bounded():
    m = msg_class("test_msgs/msg/BoundedSequences")()
    m.int64_values, m.uint64_values = [I64_MIN, I64_MAX], [U64_MAX]
    m.uint8_values, m.byte_values = [1, 2, 3], [b"\x07"]
    m.string_values = ["a", "ü"]
    m.basic_types_values = [limits_low()]
    m.float32_values_default = []
    m.alignment_check = 9
    return m


def arrays():
    m = msg_class("test_msgs/msg/Arrays")()
    m.bool_values = [True, False, True]
    m.byte_values = [b"\x01", b"\x02", b"\xff"]
    m.char_values = [97, 98, 99]
    m.float32_values = [1.125, float("inf"), -0.1]
    m.int64_values = [I64_MIN, -1, I64_MAX]
    m.uint64_values = [0, 2**53 + 1, U64_MAX]
    m.string_values = ["x", "", "ハロー"]
    m.basic_types_values = [limits_high(), limits_low(), basic()]
    m.alignment_check = 77
    return m


def strings():
    return with_fields("test_msgs/msg/Strings", string_value="Grüße, 世界! 🚀 \"quoted\" \\ back",
                       bounded_string_value="22 bytes at most: ok")


def wstrings():
    return with_fields("test_msgs/msg/WStrings", wstring_value="aé😀 ハロー 𝄞",
                       array_of_wstrings=["", "ü", "🚀🚀"], bounded_sequence_of_wstrings=["ß"],
                       unbounded_sequence_of_wstrings=["one", "двa", "三"])


def multi_nested():
    m = msg_class("test_msgs/msg/MultiNested")()
    m.bounded_sequence_of_unbounded_sequences = [unbounded()]
    m.unbounded_sequence_of_arrays = [arrays(), msg_class("test_msgs/msg/Arrays")()]
    return m


def builtins():
    m = msg_class("test_msgs/msg/Builtins")()
    m.duration_value.sec, m.duration_value.nanosec = -5, 999999999
    m.time_value.sec, m.time_value.nanosec = 2**31 - 1, 1
    return m


def default_of(name):
    return lambda: msg_class(name)()


CASES = {
    "basic_high": ("test_msgs/msg/BasicTypes", limits_high),
    "basic_low": ("test_msgs/msg/BasicTypes", limits_low),
    "basic_non_finite": ("test_msgs/msg/BasicTypes", non_finite),
    "arrays": ("test_msgs/msg/Arrays", arrays),
    "arrays_default": ("test_msgs/msg/Arrays", default_of("test_msgs/msg/Arrays")),
    "bounded": ("test_msgs/msg/BoundedSequences", bounded),
    "bounded_plain_default": ("test_msgs/msg/BoundedPlainSequences", default_of("test_msgs/msg/BoundedPlainSequences")),
    "unbounded": ("test_msgs/msg/UnboundedSequences", unbounded),
    "unbounded_default": ("test_msgs/msg/UnboundedSequences", default_of("test_msgs/msg/UnboundedSequences")),
    "strings": ("test_msgs/msg/Strings", strings),
    "strings_default": ("test_msgs/msg/Strings", default_of("test_msgs/msg/Strings")),
    "wstrings": ("test_msgs/msg/WStrings", wstrings),
    "wstrings_default": ("test_msgs/msg/WStrings", default_of("test_msgs/msg/WStrings")),
    "defaults": ("test_msgs/msg/Defaults", default_of("test_msgs/msg/Defaults")),
    "constants": ("test_msgs/msg/Constants", default_of("test_msgs/msg/Constants")),
    "empty": ("test_msgs/msg/Empty", default_of("test_msgs/msg/Empty")),
    "nested": ("test_msgs/msg/Nested", lambda: with_fields("test_msgs/msg/Nested", basic_types_value=limits_high())),
    "multi_nested": ("test_msgs/msg/MultiNested", multi_nested),
    "builtins": ("test_msgs/msg/Builtins", builtins),
    "marker": ("visualization_msgs/msg/Marker", marker),
    "marker_array": ("visualization_msgs/msg/MarkerArray", marker_array),
}


def case(name):
    ty, make = CASES[name]
    # Read back, so that float32 fields hold what the wire holds.
    msg = deserialize_message(serialize_message(make()), msg_class(ty))
    return ty, msg


def case_line(name):
    ty, msg = case(name)
    return {"name": name, "type": ty, "cdr": serialize_message(msg).hex(), "json": to_json(msg)}


def msg_file(ty):
    from ament_index_python.packages import get_package_share_directory
    pkg, _, name = ty.split("/")
    return os.path.join(get_package_share_directory(pkg), "msg", name + ".msg")


def definitions(types):
    """The .msg texts of `types` and of every type they contain."""
    out, todo = {}, list(types)
    while todo:
        ty = todo.pop()
        if ty in out:
            continue
        with open(msg_file(ty), encoding="utf-8") as f:
            out[ty] = f.read()
        for t in msg_class(ty).get_fields_and_field_types().values():
            elem, _ = elem_type(t)
            if "/" in elem:
                pkg, name = elem.split("/")
                todo.append(f"{pkg}/msg/{name}")
    return dict(sorted(out.items()))


def qos(kind):
    from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
    transient = kind.endswith("_transient_local")
    kind = kind[: -len("_transient_local")] if transient else kind
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=10,
        reliability=ReliabilityPolicy.RELIABLE if kind == "reliable" else ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.TRANSIENT_LOCAL if transient else DurabilityPolicy.VOLATILE)


def node_for(mode):
    import rclpy
    rclpy.init()
    return rclpy, rclpy.create_node(f"dyntype_peer_{mode}_{os.getpid()}")


def publish(a):
    rclpy, node = node_for("pub")
    ty, msg = case(a.case)
    pub = node.create_publisher(msg_class(ty), a.topic, qos(a.qos))
    deadline = time.time() + (0 if a.no_wait else 20)
    while pub.get_subscription_count() == 0 and time.time() < deadline:
        time.sleep(0.05)
    print(json.dumps({"publishing": a.case}), flush=True)
    for i in range(a.count):
        m = copy.deepcopy(msg)
        if a.counter and hasattr(m, "id"):
            m.id = i
        pub.publish(m)
        time.sleep(1.0 / a.rate)
    end = time.time() + a.linger
    while time.time() < end:
        rclpy.spin_once(node, timeout_sec=0.1)


def subscribe(a):
    rclpy, node = node_for("sub")
    node.create_subscription(msg_class(a.type), a.topic,
                             lambda m: print(json.dumps({"json": to_json(m)}), flush=True), qos(a.qos))
    print(json.dumps({"ready": True}), flush=True)
    while True:
        rclpy.spin_once(node, timeout_sec=0.1)


def check():
    for line in sys.stdin:
        req = json.loads(line)
        ty, want = case(req["name"])
        got = deserialize_message(bytes.fromhex(req["cdr"]), msg_class(ty))
        print(json.dumps({"name": req["name"], "equal": to_json(got) == to_json(want), "got": to_json(got)}),
              flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["cases", "fixture", "check", "pub", "sub"])
    ap.add_argument("args", nargs="*")
    ap.add_argument("--qos", default="reliable")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--rate", type=float, default=10.0)
    ap.add_argument("--linger", type=float, default=1e9)
    ap.add_argument("--no-wait", action="store_true")
    ap.add_argument("--counter", action="store_true", help="sets `id` to the message's index")
    a = ap.parse_args()
    if a.mode == "cases":
        for name in CASES:
            print(json.dumps(case_line(name)), flush=True)
    elif a.mode == "fixture":
        cases = [case_line(name) for name in CASES]
        doc = {"generated_by": "tests/ros/dyntype_peer.py fixture", "definitions": definitions({c["type"] for c in cases}),
               "cases": cases}
        with open(a.args[0], "w", encoding="utf-8") as f:
            json.dump(doc, f, indent=1, ensure_ascii=False)
            f.write("\n")
    elif a.mode == "check":
        check()
    elif a.mode == "pub":
        a.case, a.topic = a.args
        publish(a)
    else:
        a.type, a.topic = a.args
        subscribe(a)


if __name__ == "__main__":
    try:
        main()
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    except Exception as e:  # rclpy's ExternalShutdownException on SIGTERM/SIGINT
        if type(e).__name__ != "ExternalShutdownException":
            raise
