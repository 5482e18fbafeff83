"""scripts/live_view.py, the demo's view: renders from a recorded stream.

recorded_stream.txt holds lines as `mosquitto_sub -q 2 -F '%t\\t%q\\t%r\\t%p' -t 'amr/AMR001/#'`
prints them: the bridge's envelopes as the README gives them (retained connection, battery and
state; position, IMU, joints, laser; a command accepted and a stale one rejected; an e-stop
alert; status/bridge counters; a generic mapping), plus what a broker may carry that the
bridge never sends: a plain-text payload, one with ESC/NUL/BEL/CR, an alert whose message
holds escaped control, bidi and wide characters, invalid UTF-8, a topic with an OSC escape
sequence, and a line mosquitto_sub could not have written.

Run: "$AMR_BRIDGE_PY" -m unittest discover -s tests/demo -v   (or any python3 >= 3.8)
"""
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unicodedata
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
SCRIPT = os.path.join(ROOT, "scripts", "live_view.py")
FIXTURE = os.path.join(HERE, "recorded_stream.txt")
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import live_view as lv  # noqa: E402

# The table and the footer for the recorded stream, every message received at t=100 s and the
# view drawn at t=101 s (so msg/s is the number of messages of the topic).
EXPECTED_TABLE = [
    "topic                    msg/s  qos  ret  last payload",
    "alert/error                1.0    2  no   [error] Emergency stop engaged",
    "alert/warning              1.0    2  no   [warning] ?[31mred? evil 温度 🔋  next",
    'command/emergency          1.0    2  no   {"timestamp":"2024-06-12T09:41:03Z","command":"engage"}',
    'command/move               2.0    2  no   {"timestamp":"2024-06-12T09:40:50Z","command":"rotate_left","parameters":{"spee…',
    "debug/evil                 1.0    0  no   (not JSON, 14 bytes)",
    "debug/note                 1.0    0  no   (not JSON, 17 bytes)",
    "sensor/imu                 3.0    0  no   yaw=14.0 deg",
    "sensor/lidar               1.0    0  no   8 ranges, min 1.234 m",
    "sensor/raw                 1.0    0  no   (not JSON, 19 bytes)",
    'status/?]0;pwned?title     1.0    0  no   {"data":1}',
    "status/battery             1.0    1  yes  87.5 % discharging",
    "status/bridge              1.0    1  no   connected reconnects=0 queue=0 published=1262 dropped=1 skipped=32",
    "status/command             2.0    1  no   rotate_left [job-18] rejected: timestamp is 12.012 s old, more than max_age 2 s",
    "status/connection          1.0    1  yes  online",
    'status/greeting            1.0    1  no   {"data":"hello from a generic mapping"}',
    "status/motor               3.0    1  no   left_wheel_joint, right_wheel_joint",
    "status/position            3.0    1  no   x=1.435 y=-0.500 angle=12.35 deg",
    "status/state               2.0    1  no   emergency",
]
EXPECTED_FOOTER = [
    "last command     1 s ago  rotate_left [job-18] rejected: timestamp is 12.012 s old, more than max_age 2 s",
    "last alert       1 s ago  [warning] ?[31mred? evil 温度 🔋  next",
]
EXPECTED_HEADER = "amr/AMR001/#  18 topics  27.0 msg/s  up 1 s  1 unreadable line"

UNSAFE = ("Cc", "Cf", "Cs", "Zl", "Zp")


def unsafe_chars(text):
    return [hex(ord(c)) for c in text if unicodedata.category(c) in UNSAFE]


def recorded():
    with open(FIXTURE, "rb") as f:
        return f.read()


def view_of(stream, mode="text", chunk=7):
    """The stream fed in small chunks (lines split across reads), all at t=100."""
    view = lv.View()
    splitter = lv.LineSplitter(mode)
    for i in range(0, len(stream), chunk):
        for record in splitter.feed(stream[i:i + chunk]):
            view.add(record, 100.0)
    return view


def as_hex(stream):
    """The same stream as mosquitto_sub -F '%t\\t%q\\t%r\\t%x' prints it."""
    out = []
    for line in stream.split(b"\n")[:-1]:
        rec = lv.parse_line(line)
        if rec is None:
            out.append(line)
            continue
        topic, qos, retain, payload = rec
        out.append(b"\t".join([topic.encode(), b"%d" % qos, b"1" if retain else b"0",
                               payload.hex().encode()]))
    return b"\n".join(out) + b"\n"


class RecordedStream(unittest.TestCase):
    def test_the_fixture_has_what_it_should(self):
        data = recorded()
        self.assertIn(b"\x00", data)
        self.assertIn(b"\x1b", data)
        self.assertIn(b"\"status\":\"rejected\"", data)
        with self.assertRaises(UnicodeDecodeError):
            data.decode("utf-8")

    def test_renders_the_summary_lines(self):
        view = view_of(recorded())
        self.assertEqual(view.table(101.0), EXPECTED_TABLE)
        self.assertEqual(view.footer(101.0), EXPECTED_FOOTER)
        self.assertEqual(view.header(101.0), EXPECTED_HEADER)
        self.assertEqual(view.render(101.0),
                         [EXPECTED_HEADER, ""] + EXPECTED_TABLE + [""] + EXPECTED_FOOTER)

    def test_no_control_character_reaches_the_output(self):
        view = view_of(recorded())
        for line in view.render(101.0):
            self.assertEqual(unsafe_chars(line), [], line)
        # The terminal frame: only the view's own cursor sequences.
        frame = lv.ansi_frame(lv.fit_screen(view.render(101.0), 80, 24), previous=12)
        own = re.sub(r"\x1b\[\d*[AKJ]|\r|\n", "", frame)
        self.assertEqual(unsafe_chars(own), [])

    def test_hex_payloads_render_the_same(self):
        view = view_of(as_hex(recorded()), mode="hex", chunk=5)
        self.assertEqual(view.render(101.0),
                         [EXPECTED_HEADER, ""] + EXPECTED_TABLE + [""] + EXPECTED_FOOTER)

    def test_the_script_prints_a_plain_snapshot(self):
        with open(FIXTURE, "rb") as stdin:
            run = subprocess.run([sys.executable, SCRIPT], stdin=stdin, capture_output=True,
                                 timeout=60)
        self.assertEqual(run.returncode, 0, run.stderr)
        out = run.stdout.decode("utf-8")
        self.assertNotIn("\x1b", out)
        lines = out.splitlines()
        self.assertTrue(lines[0].startswith("amr/AMR001/#  18 topics  27.0 msg/s"), lines[0])
        for line in EXPECTED_TABLE[1:]:
            topic, summary = line.split()[0], line[42:]
            self.assertTrue(any(l.startswith(topic) and l.endswith(summary) for l in lines), line)
        self.assertTrue(any(l.startswith("last command") and "rotate_left [job-18] rejected" in l
                            for l in lines))


def envelope(data, kind="status"):
    return {"timestamp": "2024-06-12T09:41:00Z", "robot_id": "AMR001", "type": kind, "data": data}


def summary(topic, doc):
    payload = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
    return lv.summarize("amr/AMR001/" + topic, payload)


class Summaries(unittest.TestCase):
    def test_position(self):
        doc = envelope({"position": {"x": 10.5, "y": 20.3, "z": 0.0, "angle": 45.0}})
        self.assertEqual(lv.summarize_position(doc), "x=10.500 y=20.300 angle=45.00 deg")
        doc = envelope({"position": {"x": None, "y": 1, "angle": -179.999}})
        self.assertEqual(lv.summarize_position(doc), "x=? y=1.000 angle=-180.00 deg")

    def test_battery(self):
        self.assertEqual(lv.summarize_battery(envelope({"percent": 12.345, "status": "charging",
                                                        "charging": True})), "12.3 % charging")
        self.assertEqual(lv.summarize_battery(envelope({"percent": None, "status": "unknown",
                                                        "charging": False})), "? % not charging")

    def test_state(self):
        self.assertEqual(lv.summarize_state(envelope({"status": "idle"})), "idle")
        self.assertEqual(lv.summarize_state(envelope({"status": "error", "reason": "odometry stale"})),
                         "error (odometry stale)")

    def test_command_outcome(self):
        ok = envelope({"id": None, "command": "stop", "status": "completed", "reason": None})
        self.assertEqual(lv.summarize_command_outcome(ok), "stop completed")
        long_reason = "payload is not valid JSON: expected value at line 1 column 1 and much more text"
        bad = envelope({"id": "job-1", "command": None, "status": "rejected", "reason": long_reason})
        self.assertEqual(lv.summarize_command_outcome(bad),
                         "? [job-1] rejected: payload is not valid JSON: expected value at li…")

    def test_alert(self):
        doc = {"timestamp": "t", "robot_id": "AMR001", "level": "warning",
               "message": "Battery level low", "data": {"battery_level": 18.0}}
        self.assertEqual(lv.summarize_alert(doc), "[warning] Battery level low")
        del doc["level"]
        self.assertEqual(summary("alert/info", doc), "[info] Battery level low")

    def test_connection_bridge_imu_lidar_motor(self):
        self.assertEqual(lv.summarize_connection(envelope({"state": "offline"})), "offline")
        self.assertEqual(
            lv.summarize_bridge(envelope({"connected": False, "reconnects": 3, "offline_queue": 17,
                                          "offline_dropped": 2, "outbound_dropped": 0,
                                          "mappings": {}})),
            "DISCONNECTED reconnects=3 queue=17 published=0 dropped=2 skipped=0")
        # What a rate limit skips is counted apart from what is lost.
        self.assertEqual(
            lv.summarize_bridge(envelope({"connected": True, "reconnects": 0, "offline_queue": 0,
                                          "offline_dropped": 0, "outbound_dropped": 1,
                                          "mappings": {
                                              "scan": {"received": 40, "published": 8,
                                                       "dropped": 0, "skipped": 32},
                                              "odom": {"received": 9, "published": 8,
                                                       "dropped": 1, "skipped": 0}}})),
            "connected reconnects=0 queue=0 published=16 dropped=2 skipped=32")
        self.assertEqual(lv.summarize_imu(envelope({"orientation": None}, "sensor")),
                         "yaw=? (orientation unknown)")
        self.assertEqual(
            lv.summarize_lidar(envelope({"range_min": 0.1, "range_max": 10.0,
                                         "ranges": [None, 0.0, 12.0]}, "sensor")),
            "3 ranges, no valid range")
        self.assertEqual(lv.summarize_motor(envelope({"motors": []})), "(no joints)")

    def test_batches_show_the_newest(self):
        batch = [envelope({"position": {"x": i, "y": 0, "angle": 0}}) for i in range(3)]
        self.assertEqual(summary("status/position", batch),
                         "batch of 3: x=2.000 y=0.000 angle=0.00 deg")

    def test_unexpected_shapes_fall_back_to_compact_json(self):
        self.assertEqual(summary("status/position", envelope({"pose": [1, 2]})),
                         '{"pose":[1,2]}')
        self.assertEqual(summary("status/battery", b"42"), "42")
        self.assertEqual(summary("sensor/lidar", envelope({"ranges": "many"})),
                         '{"ranges":"many"}')

    def test_odd_payloads(self):
        self.assertEqual(summary("status/position", b""), "(empty)")
        self.assertEqual(summary("status/position", b"\xef\xbb\xbf{}"), "(not JSON, 5 bytes)")
        self.assertEqual(summary("status/position", b"{\"a\": 1}\x00"), "(not JSON, 9 bytes)")
        self.assertEqual(summary("x", b"\x00{\x00}"), "(not JSON, 4 bytes)")
        deep = b"[" * 100000 + b"]" * 100000
        self.assertEqual(summary("x", deep), "(JSON nested too deep, 200000 bytes)")
        huge = b'{"data": "' + b"a" * lv.MAX_PARSE + b'"}'
        self.assertEqual(summary("x", huge), f"({len(huge)} bytes, not parsed)")
        self.assertEqual(summary("x", b"1" * 5000), "(not JSON, 5000 bytes)")
        self.assertEqual(summary("x", b"NaN"), "NaN")

    def test_shown_text_is_clean_and_fits(self):
        text = "a\x00b\x1b[2Jc\u202ed\u200be\u2028f\x9bg\tz"
        self.assertEqual(lv.clean(text), "a?b?[2Jcde f?g z")
        self.assertEqual(lv.fit("温度温度温度", 7), "温度温…")
        self.assertEqual(lv.width(lv.fit("温度温度温度", 7)), 7)
        self.assertEqual(lv.fit("e\u0301" * 10, 5), "e\u0301" * 4 + "…")
        doc = {"message": "\u001b]0;title\u0007" + "x" * 500, "level": "\u001b[2J"}
        line = summary("alert/error", doc)
        self.assertEqual(unsafe_chars(line), [])
        self.assertLessEqual(lv.width(line), lv.SUMMARY_CELLS)


class Input(unittest.TestCase):
    def test_parse_line(self):
        self.assertEqual(lv.parse_line(b"amr/A/x\t1\t0\ta\tb"), ("amr/A/x", 1, False, b"a\tb"))
        self.assertEqual(lv.parse_line(b"amr/A/x\t2\t1\t"), ("amr/A/x", 2, True, b""))
        self.assertEqual(lv.parse_line(b"a\tb\tc\t7b7d", "hex"), None)
        self.assertEqual(lv.parse_line(b"a\tx\t2\t1\t7b7d", "hex"), ("a\tx", 2, True, b"{}"))
        self.assertEqual(lv.parse_line(b"a\t2\t1\t7g", "hex"), None)
        self.assertEqual(lv.parse_line(b"\xff\t0\t0\tx"), ("\ufffd", 0, False, b"x"))

    def test_a_hex_payload_may_hold_newlines(self):
        splitter = lv.LineSplitter("hex")
        recs = splitter.feed(b"amr/A/x\t0\t0\t" + b"line1\nline2".hex().encode() + b"\n")
        self.assertEqual(recs, [("amr/A/x", 0, False, b"line1\nline2")])

    def test_an_oversize_line_keeps_its_topic_only(self):
        splitter = lv.LineSplitter("text", max_line=64)
        data = b"amr/A/status/position\t1\t0\t" + b"x" * 1000 + b"\namr/A/y\t0\t0\t{}\n"
        recs = []
        for i in range(0, len(data), 100):
            recs += splitter.feed(data[i:i + 100])
        self.assertEqual(recs, [("amr/A/status/position", 1, False, 1000),
                                ("amr/A/y", 0, False, b"{}")])
        view = lv.View()
        for r in recs:
            view.add(r, 0.0)
        self.assertEqual(view.table(0.0)[1], "status/position     1.0    1  no   (1000 bytes, not parsed)")


class Rates(unittest.TestCase):
    def test_rate_over_the_last_seconds(self):
        view = lv.View()
        for i in range(1000):  # 200 msg/s for 5 s
            view.add(("amr/AMR001/sensor/imu", 0, False, b"{}"), 10.0 + i * 0.005)
        row = view.rows["amr/AMR001/sensor/imu"]
        self.assertAlmostEqual(view.rate(row, 15.0), 200.0, delta=10)
        self.assertAlmostEqual(view.rate(row, 17.5), 100.0, delta=10)
        self.assertEqual(view.rate(row, 21.0), 0.0)
        self.assertLessEqual(len(row.buckets), lv.RATE_WINDOW / lv.RATE_BUCKET + 1)

    def test_a_new_topic_is_not_overstated(self):
        view = lv.View()
        view.add(("amr/AMR001/status/battery", 1, True, b"{}"), 10.0)
        self.assertEqual(view.rate(view.rows["amr/AMR001/status/battery"], 10.1), 1.0)


class Screen(unittest.TestCase):
    def test_frames_never_wrap_nor_scroll(self):
        lines = ["x" * 200, "温" * 200] + [f"line {i}" for i in range(50)]
        shown = lv.fit_screen(lines, 40, 10)
        self.assertEqual(len(shown), 9)
        self.assertTrue(all(lv.width(s) <= 39 for s in shown))
        self.assertTrue(shown[-1].startswith("... 44 more lines"))

    def test_a_frame_redraws_over_the_previous_one(self):
        self.assertEqual(lv.ansi_frame(["a", "b"], 0), "\ra\x1b[K\nb\x1b[K\n\x1b[J")
        self.assertEqual(lv.ansi_frame(["a"], 2), "\x1b[2A\ra\x1b[K\n\x1b[J")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


MOSQUITTO = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


@unittest.skipUnless(MOSQUITTO and shutil.which("mosquitto_pub") and shutil.which("mosquitto_sub"),
                     "needs mosquitto and mosquitto-clients (source scripts/env.sh)")
class AgainstABroker(unittest.TestCase):
    def test_spawned_mosquitto_sub(self):
        port = free_port()
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        conf = os.path.join(tmp.name, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write(f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n")
        broker = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        self.addCleanup(broker.wait)
        self.addCleanup(broker.terminate)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.05)

        def pub(topic, payload, qos, retain):
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic,
                            "-q", str(qos)] + (["-r"] if retain else []) + ["-m", payload],
                           check=True, timeout=30)

        # Retained, so the view gets them whenever mosquitto_sub has subscribed.
        pub("amr/AMR009/status/battery",
            json.dumps(envelope({"percent": 55.0, "status": "charging", "charging": True})), 1, True)
        pub("amr/AMR009/alert/error", json.dumps(
            {"timestamp": "t", "robot_id": "AMR009", "level": "error",
             "message": "Emergency stop engaged", "data": {}}), 2, True)
        run = subprocess.run([sys.executable, SCRIPT, "-h", "127.0.0.1", "-p", str(port),
                              "-t", "amr/AMR009/#", "--duration", "3"],
                             capture_output=True, timeout=60)
        out = run.stdout.decode("utf-8")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertRegex(out, r"status/battery +\d+\.\d +1  yes  55\.0 % charging")
        self.assertRegex(out, r"alert/error +\d+\.\d +2  yes  \[error\] Emergency stop engaged")
        self.assertRegex(out, r"last alert +\d+ s ago  \[error\] Emergency stop engaged")


if __name__ == "__main__":
    unittest.main()
