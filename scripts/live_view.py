#!/usr/bin/env python3
"""A readable live view of a robot's MQTT topics: one line per topic, refreshed in place.

Each line: the topic (relative to amr/<id>/), its message rate over the last 5 s, the QoS and
retain flag of its last message, and a short summary of that message's payload. The last
command outcome and the last alert stay visible under the table. When stdout is not a terminal,
a plain snapshot is printed every second instead. Standard library only.

  live_view.py -h 127.0.0.1 -p 1883 -t 'amr/AMR001/#' [--duration S] [-- mosquitto_sub options]
      spawns mosquitto_sub itself (QoS 2 and MQTT v5 "retain as published", so QoS and retain
      are the publisher's; payloads in hex, so any byte, newlines included, is safe);
      options after `--` go to mosquitto_sub as they are (-u, --cafile, ...).
  mosquitto_sub -q 2 -t 'amr/AMR001/#' -F '%t\\t%q\\t%r\\t%p' | live_view.py [--prefix amr/AMR001/]
      reads those lines from stdin (`--payload hex` for -F '%t\\t%q\\t%r\\t%x'); add
      -V mqttv5 --retain-as-published to see the publisher's retain flag on live messages too.

Nothing from a payload or a topic can move the cursor: control and format characters are
replaced before anything is shown, and every line is cut to the terminal's width.
"""
import argparse
import json
import math
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
import unicodedata

RATE_WINDOW = 5.0  # s of history behind msg/s
RATE_BUCKET = 0.25  # s per rate bucket (bounded memory at any message rate)
SUMMARY_CELLS = 80  # longest payload summary, in terminal cells
REASON_CELLS = 48  # longest command-outcome reason
TOPIC_CELLS = 32  # widest topic column
MAX_PARSE = 1 << 20  # payloads above this many bytes are not parsed as JSON
MAX_LINE = 8 << 20  # input lines above this many bytes are skipped (payload not kept)
MAX_TOPICS = 1000  # topics tracked; more are only counted
SUB_FORMAT = "%t\t%q\t%r\t%x"

# ---------------------------------------------------------------------------------------------
# Text that is safe to show.


def clean(text):
    """Text without anything a terminal would act on: whitespace controls become a space,
    other control characters (NUL, ESC, DEL, C1) a '?', format characters (bidi overrides,
    zero-width) and surrogates are dropped, line/paragraph separators become a space."""
    out = []
    for ch in text:
        if " " <= ch <= "~":
            out.append(ch)
            continue
        cat = unicodedata.category(ch)
        if ch in "\t\n\r\x0b\x0c" or cat in ("Zl", "Zp"):
            out.append(" ")
        elif cat == "Cc":
            out.append("?")
        elif cat in ("Cf", "Cs"):
            continue
        else:
            out.append(ch)
    return "".join(out)


def cells(ch):
    """Terminal cells of one (already cleaned) character."""
    if " " <= ch <= "~":
        return 1
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def width(text):
    return sum(cells(ch) for ch in text)


def fit(text, limit):
    """`text` cleaned and cut to at most `limit` cells, with '…' when cut."""
    cut = len(text) > limit * 4 + 8  # clean() and width() only see what may be shown
    text = clean(text[: limit * 4 + 8])
    if not cut and width(text) <= limit:
        return text
    out, used = [], 0
    for ch in text:
        w = cells(ch)
        if used + w > limit - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def pad(text, cols):
    return text + " " * max(0, cols - width(text))


def num(value, digits):
    """A number with `digits` decimals; '?' for null or missing; anything else shown short."""
    if value is None:
        return "?"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        value = float(value) if abs(value) < 1e300 else math.inf
    if isinstance(value, float):
        return f"{value:.{digits}f}" if math.isfinite(value) else str(value)
    return fit(compact(value), 16)


def compact(value):
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=True)
    except (ValueError, TypeError, RecursionError):
        return repr(value)


def word(value, limit=24):
    """A short word from a payload field ('?' when missing)."""
    if value is None:
        return "?"
    return fit(value if isinstance(value, str) else compact(value), limit)


# ---------------------------------------------------------------------------------------------
# One summary per topic kind. Each takes the parsed JSON document (the bridge's envelope
# `{timestamp, robot_id, type, data}`, or the alert `{timestamp, robot_id, level, message, data}`)
# and returns one line; a document of an unexpected shape raises (KeyError, TypeError,
# ValueError, AttributeError) and is then shown as compact JSON instead.


def _data(doc):
    data = doc["data"]
    if not isinstance(data, dict):
        raise ValueError("data is not an object")
    return data


def summarize_position(doc):
    p = _data(doc)["position"]
    return f"x={num(p.get('x'), 3)} y={num(p.get('y'), 3)} angle={num(p.get('angle'), 2)} deg"


def summarize_battery(doc):
    d = _data(doc)
    if d.get("charging") is True:
        state = "charging"
    elif isinstance(d.get("status"), str) and d["status"] != "unknown":
        state = word(d["status"])
    else:
        state = "not charging"
    return f"{num(d.get('percent'), 1)} % {state}"


def summarize_state(doc):
    d = _data(doc)
    text = word(d["status"])
    if d.get("reason") is not None:
        text += f" ({word(d['reason'], 40)})"
    return text


def summarize_command_outcome(doc):
    d = _data(doc)
    text = word(d.get("command"))
    if d.get("id") is not None:
        text += f" [{word(d['id'])}]"
    text += f" {word(d['status'])}"
    if d.get("reason") is not None:
        text += f": {word(d['reason'], REASON_CELLS)}"
    return text


def summarize_alert(doc, level=None):
    level = doc.get("level", level)
    return f"[{word(level)}] {word(doc['message'], SUMMARY_CELLS)}"


def summarize_connection(doc):
    return word(_data(doc)["state"])


def summarize_bridge(doc):
    d = _data(doc)
    maps = d.get("mappings") or {}
    counters = [c for c in maps.values() if isinstance(c, dict)]

    def total(key):
        vals = [c.get(key) for c in counters]
        return sum(v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool))

    # dropped: lost on the way (full queues); skipped: left out by a rate limit on purpose.
    dropped = total("dropped")
    for key in ("offline_dropped", "outbound_dropped"):
        if isinstance(d.get(key), (int, float)) and not isinstance(d.get(key), bool):
            dropped += d[key]
    link = {True: "connected", False: "DISCONNECTED"}.get(d["connected"], word(d["connected"]))
    return (
        f"{link} reconnects={num(d.get('reconnects'), 0)} queue={num(d.get('offline_queue'), 0)}"
        f" published={num(total('published'), 0)} dropped={num(dropped, 0)}"
        f" skipped={num(total('skipped'), 0)}"
    )


def summarize_imu(doc):
    o = _data(doc)["orientation"]
    if o is None:
        return "yaw=? (orientation unknown)"
    return f"yaw={num(o.get('yaw'), 1)} deg"


def summarize_lidar(doc):
    d = _data(doc)
    ranges = d["ranges"]
    if not isinstance(ranges, list):
        raise ValueError("ranges is not a list")
    lo = d.get("range_min") if isinstance(d.get("range_min"), (int, float)) else -math.inf
    hi = d.get("range_max") if isinstance(d.get("range_max"), (int, float)) else math.inf
    valid = [
        r
        for r in ranges
        if isinstance(r, (int, float)) and not isinstance(r, bool) and lo <= r <= hi
    ]
    if not valid:
        return f"{len(ranges)} ranges, no valid range"
    return f"{len(ranges)} ranges, min {num(min(valid), 3)} m"


def summarize_motor(doc):
    motors = _data(doc)["motors"]
    if not isinstance(motors, list):
        raise ValueError("motors is not a list")
    if not motors:
        return "(no joints)"
    return fit(", ".join(word(m.get("name"), 40) for m in motors), SUMMARY_CELLS)


def summarize_other(doc):
    """Compact JSON; of an envelope ({timestamp, robot_id, type, data}) only its data."""
    if isinstance(doc, dict) and set(doc) == {"timestamp", "robot_id", "type", "data"}:
        doc = doc["data"]
    return fit(compact(doc), SUMMARY_CELLS)


KINDS = {
    "status/position": summarize_position,
    "status/battery": summarize_battery,
    "status/state": summarize_state,
    "status/command": summarize_command_outcome,
    "status/connection": summarize_connection,
    "status/bridge": summarize_bridge,
    "sensor/imu": summarize_imu,
    "sensor/lidar": summarize_lidar,
    "status/motor": summarize_motor,
}


def tree_path(topic):
    """The part of `amr/<id>/...` after the robot id (the whole topic otherwise)."""
    parts = topic.split("/")
    if len(parts) >= 3 and parts[0] == "amr":
        return "/".join(parts[2:])
    return topic


def summarizer(topic):
    """The summary function for a (full) topic."""
    path = tree_path(topic)
    if path.startswith("alert/"):
        level = path[len("alert/"):]
        return lambda doc: summarize_alert(doc, level)
    return KINDS.get(path, summarize_other)


def summarize(topic, payload, size=None):
    """One line for the last payload of `topic` (bytes; None when it was too large to keep)."""
    size = len(payload) if payload is not None else size
    try:
        if payload is None or size > MAX_PARSE:
            return f"({size} bytes, not parsed)"
        if not payload:
            return "(empty)"
        try:
            doc = json.loads(payload.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return f"(not JSON, {size} bytes)"
        except RecursionError:
            return f"(JSON nested too deep, {size} bytes)"
        fn = summarizer(topic)
        try:
            if isinstance(doc, list) and doc and fn is not summarize_other:
                return fit(f"batch of {len(doc)}: {fn(doc[-1])}", SUMMARY_CELLS)
            return fit(fn(doc), SUMMARY_CELLS)
        except (KeyError, TypeError, ValueError, AttributeError, IndexError):
            return summarize_other(doc)
    except Exception as e:  # never let one payload stop the view
        return f"(unreadable, {size} bytes: {type(e).__name__})"


# ---------------------------------------------------------------------------------------------
# Input: lines of mosquitto_sub -F '%t\t%q\t%r\t%p' (text) or '%t\t%q\t%r\t%x' (hex).


def parse_line(line, payload_mode="text"):
    """(topic, qos, retain, payload bytes) from one line without its newline, or None."""
    if payload_mode == "hex":
        fields = line.rsplit(b"\t", 3)
    else:
        fields = line.split(b"\t", 3)
    if len(fields) != 4:
        return None
    topic, qos, retain, payload = fields
    if qos not in (b"0", b"1", b"2") or retain not in (b"0", b"1") or not topic:
        return None
    if payload_mode == "hex":
        try:
            payload = bytes.fromhex(payload.decode("ascii"))
        except (UnicodeDecodeError, ValueError):
            return None
    return topic.decode("utf-8", "replace"), int(qos), retain == b"1", payload


class LineSplitter:
    """Bytes in, records out; a line over MAX_LINE bytes yields its topic with payload None."""

    def __init__(self, payload_mode="text", max_line=MAX_LINE):
        self.mode = payload_mode
        self.max_line = max_line
        self.buf = bytearray()
        self.skipping = None  # [head, bytes so far] of an oversize line

    def feed(self, data):
        out = []
        while data:
            nl = data.find(b"\n")
            chunk, data = (data, b"") if nl < 0 else (data[:nl], data[nl + 1:])
            if self.skipping is not None:
                self.skipping[1] += len(chunk)
            else:
                self.buf += chunk
                if len(self.buf) > self.max_line:
                    self.skipping = [bytes(self.buf[:4096]), len(self.buf)]
                    self.buf.clear()
            if nl < 0:
                break
            if self.skipping is not None:
                out.append(self._oversize(*self.skipping))
                self.skipping = None
            else:
                out.append(parse_line(bytes(self.buf), self.mode))
                self.buf.clear()
        return out

    def _oversize(self, head, total):
        fields = head.split(b"\t", 3)
        if len(fields) < 4 or fields[1] not in (b"0", b"1", b"2") or fields[2] not in (b"0", b"1"):
            return None
        size = total - sum(len(f) + 1 for f in fields[:3])
        if self.mode == "hex":
            size //= 2
        return fields[0].decode("utf-8", "replace"), int(fields[1]), fields[2] == b"1", size


# ---------------------------------------------------------------------------------------------
# The view.


class Row:
    __slots__ = ("topic", "qos", "retain", "payload", "size", "first", "last", "buckets", "seq",
                 "cache")

    def __init__(self, topic, now):
        self.topic = topic
        self.first = now
        self.buckets = []  # [bucket index, count], oldest first
        self.seq = 0
        self.cache = (None, "")


class View:
    """The state behind the screen; `now` is passed in, so it renders the same for a test."""

    def __init__(self, prefix="auto", source=""):
        self.prefix = None if prefix == "auto" else prefix
        self.auto_prefix = prefix == "auto"
        self.source = source
        self.rows = {}
        self.start = None
        self.unparsed = 0
        self.untracked = 0
        self.last_command = None  # (time, topic, payload, size)
        self.last_alert = None
        self.note = ""  # e.g. mosquitto_sub's last error line

    def add(self, record, now):
        if self.start is None:
            self.start = now
        if record is None:
            self.unparsed += 1
            return
        topic, qos, retain, payload = record
        size = payload if isinstance(payload, int) else len(payload)
        payload = None if isinstance(payload, int) else payload
        if self.auto_prefix and self.prefix is None:
            parts = topic.split("/")
            if len(parts) >= 3 and parts[0] == "amr":
                self.prefix = f"amr/{parts[1]}/"
        row = self.rows.get(topic)
        if row is None:
            if len(self.rows) >= MAX_TOPICS:
                self.untracked += 1
                return
            row = self.rows[topic] = Row(topic, now)
        row.qos, row.retain, row.payload, row.size, row.last = qos, retain, payload, size, now
        row.seq += 1
        b = int(now // RATE_BUCKET)
        if row.buckets and row.buckets[-1][0] == b:
            row.buckets[-1][1] += 1
        else:
            row.buckets.append([b, 1])
            keep = int(RATE_WINDOW / RATE_BUCKET) + 1
            if len(row.buckets) > keep:
                del row.buckets[:-keep]
        path = tree_path(topic)
        if path == "status/command":
            self.last_command = (now, topic, payload, size)
        elif path.startswith("alert/"):
            self.last_alert = (now, topic, payload, size)

    def rate(self, row, now):
        oldest = int((now - RATE_WINDOW) // RATE_BUCKET)
        n = sum(c for b, c in row.buckets if b > oldest)
        span = max(1.0, min(RATE_WINDOW, now - row.first))
        return n / span

    def shown_topic(self, topic):
        if self.prefix and topic.startswith(self.prefix) and len(topic) > len(self.prefix):
            return topic[len(self.prefix):]
        return topic

    def summary(self, row):
        if row.cache[0] != row.seq:
            row.cache = (row.seq, summarize(row.topic, row.payload, row.size))
        return row.cache[1]

    def table(self, now):
        """The per-topic lines (no header), sorted by topic."""
        rows = sorted(self.rows.values(), key=lambda r: self.shown_topic(r.topic))
        shown = [fit(self.shown_topic(r.topic), TOPIC_CELLS) for r in rows]
        tw = max([5] + [width(s) for s in shown])
        lines = [f"{pad('topic', tw)}   msg/s  qos  ret  last payload"]
        for r, t in zip(rows, shown):
            ret = "yes" if r.retain else "no"
            rate = rate_text(self.rate(r, now))
            lines.append(f"{pad(t, tw)}  {rate}  {r.qos:>3}  {ret:<3}  {self.summary(r)}")
        return lines

    def footer(self, now):
        lines = []
        for label, last in (("last command", self.last_command), ("last alert  ", self.last_alert)):
            if last is None:
                lines.append(f"{label}  -")
                continue
            at, topic, payload, size = last
            lines.append(f"{label}  {ago(now - at)}  {summarize(topic, payload, size)}")
        if self.note:
            lines.append(fit(self.note, 100))
        return lines

    def header(self, now):
        total = sum(self.rate(r, now) for r in self.rows.values())
        up = 0 if self.start is None else now - self.start
        parts = [fit(self.source or (self.prefix or "") + "#", 60),
                 plural(len(self.rows), "topic"), f"{total:.1f} msg/s", f"up {up:.0f} s"]
        if self.unparsed:
            parts.append(plural(self.unparsed, "unreadable line"))
        if self.untracked:
            parts.append(plural(self.untracked, "message") + " on untracked topics")
        return "  ".join(parts)

    def render(self, now):
        """Every line of one frame, each free of control characters."""
        return [self.header(now), ""] + self.table(now) + [""] + self.footer(now)


def rate_text(rate):
    return f"{rate:6.1f}" if rate < 9999.95 else f"{rate:6.0f}"


def plural(n, what):
    return f"{n} {what}" + ("" if n == 1 else "s")


def ago(seconds):
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:4.0f} s ago"
    if seconds < 3600:
        return f"{seconds / 60:4.0f} min ago"
    return f"{seconds / 3600:4.0f} h ago"


# ---------------------------------------------------------------------------------------------
# The screen.


def ansi_frame(lines, previous):
    """Redraws `lines` over the `previous` frame's lines, cursor left under the frame."""
    out = [f"\x1b[{previous}A\r" if previous else "\r"]
    for line in lines:
        out.append(line + "\x1b[K\n")
    out.append("\x1b[J")
    return "".join(out)


def fit_screen(lines, cols, rows):
    """Lines cut to the terminal: no line wraps, the frame never scrolls the screen."""
    lines = [fit(line, cols - 1) for line in lines]
    if len(lines) > rows - 1:
        hidden = len(lines) - (rows - 2)
        more = f"... {hidden} more lines (a taller terminal shows them)"
        lines = lines[: rows - 2] + [fit(more, cols - 1)]
    return lines


class Screen:
    def __init__(self, out, ansi):
        self.out = out
        self.ansi = ansi
        self.previous = 0
        self.size = None

    def show(self, lines):
        if not self.ansi:
            self.out.write("\n".join(lines) + "\n\n")
            self.out.flush()
            return
        size = shutil.get_terminal_size((100, 40))
        if self.size is not None and size != self.size:
            self.out.write("\x1b[H\x1b[2J")  # resized: old lines may have wrapped
            self.previous = 0
        self.size = size
        lines = fit_screen(lines, max(20, size.columns), max(5, size.lines))
        if self.previous == 0:
            self.out.write("\x1b[?25l")
        self.out.write(ansi_frame(lines, self.previous))
        self.out.flush()
        self.previous = len(lines)

    def close(self):
        if self.ansi and self.previous:
            self.out.write("\x1b[?25h")
            self.out.flush()


# ---------------------------------------------------------------------------------------------
# Main loop.


class Stop(Exception):
    pass


def _stop(signum, frame):
    raise Stop()


def prefix_of(topics):
    prefixes = {t[:-1] for t in topics if t.endswith("/#") and "+" not in t and "#" not in t[:-1]}
    return prefixes.pop() if len(prefixes) == 1 else "auto"


def parse_args(argv):
    extra = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(
        prog="live_view.py", add_help=False, description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--help", action="help", help="show this help and exit")
    ap.add_argument("-h", "--host", help="broker host: spawn mosquitto_sub (else read stdin)")
    ap.add_argument("-p", "--port", default="1883", help="broker port (default 1883)")
    ap.add_argument("-t", "--topic", action="append", default=[],
                    help="topic filter, repeatable (default amr/#)")
    ap.add_argument("--prefix",
                    help="topic prefix not shown (default: from -t, else amr/<first id>/)")
    ap.add_argument("--payload", choices=("text", "hex"), default="text",
                    help="stdin lines end in %%p (text, default) or %%x (hex)")
    ap.add_argument("--duration", type=float, help="stop after this many seconds")
    ap.add_argument("--interval", type=float,
                    help="seconds between frames (default 0.5 on a terminal, 1 otherwise)")
    args = ap.parse_args(argv)
    args.extra = extra
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        sys.stdout.reconfigure(errors="replace")
    except (AttributeError, ValueError):
        pass
    ansi = sys.stdout.isatty() and os.environ.get("TERM", "") not in ("", "dumb")
    interval = args.interval or (0.5 if ansi else 1.0)
    topics = args.topic or ["amr/#"]
    child = None
    if args.host:
        cmd = ["mosquitto_sub", "-h", args.host, "-p", str(args.port), "-q", "2",
               "-V", "mqttv5", "--retain-as-published", "-F", SUB_FORMAT]
        for t in topics:
            cmd += ["-t", t]
        cmd += args.extra
        child = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE)
        inputs = {child.stdout.fileno(): "data", child.stderr.fileno(): "err"}
        mode = "hex"
        source = f"{','.join(topics)} on {args.host}:{args.port}"
    else:
        inputs = {sys.stdin.fileno(): "data"}
        mode = args.payload
        source = ""
    prefix = args.prefix or (prefix_of(topics) if args.host else "auto")
    view = View(prefix=prefix, source=source)
    splitter = LineSplitter(mode)
    screen = Screen(sys.stdout, ansi)
    err_tail = b""
    errors = []
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _stop)
    # poll, not epoll: stdin may be a regular file (a recorded stream).
    sel = getattr(selectors, "PollSelector", selectors.SelectSelector)()
    for fd, what in inputs.items():
        sel.register(fd, selectors.EVENT_READ, what)
    start = time.monotonic()
    deadline = start + args.duration if args.duration else None
    next_frame = start if ansi else start + interval
    rc = 0
    try:
        while inputs:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if now >= next_frame:
                screen.show(view.render(now))
                next_frame = now + interval
            wait = next_frame - now
            if deadline is not None:
                wait = min(wait, deadline - now)
            for key, _ in sel.select(max(0.0, wait)):
                fd = key.fd
                data = os.read(fd, 1 << 16)
                if not data:
                    sel.unregister(fd)
                    del inputs[fd]
                    continue
                now = time.monotonic()
                if key.data == "data":
                    for record in splitter.feed(data):
                        view.add(record, now)
                else:
                    err_tail += data
                    *done, err_tail = err_tail.split(b"\n")
                    err_tail = err_tail[-4096:]
                    for line in done:
                        text = clean(line.decode("utf-8", "replace")).strip()
                        if text:
                            errors.append(text)
                            del errors[:-20]
                            view.note = f"mosquitto_sub: {text}"
        if child is not None and not inputs:
            rc = child.wait()
            if rc:
                view.note = f"mosquitto_sub exited with status {rc}" + (
                    f": {errors[-1]}" if errors else "")
        screen.show(view.render(time.monotonic()))
    except (KeyboardInterrupt, Stop):
        if not ansi:
            try:
                screen.show(view.render(time.monotonic()))
            except (BrokenPipeError, Stop, KeyboardInterrupt):
                pass
    except BrokenPipeError:
        pass
    finally:
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        try:
            screen.close()
        except BrokenPipeError:
            pass
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(2)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    if rc:
        for text in errors:
            print(f"live_view: mosquitto_sub: {text}", file=sys.stderr)
    return 1 if rc else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:
        try:
            sys.stdout = None
        finally:
            os._exit(0)
