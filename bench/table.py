#!/usr/bin/env python3
"""Markdown tables from the JSON lines of scripts/bench: `bench/table.py results.jsonl [more.jsonl ...]`."""
import json
import sys


def row(*cells):
    print("| " + " | ".join(str(c) for c in cells) + " |")


RS = []


def by(kind):
    return [r for r in RS if r["bench"] == kind]


def mib(kib):
    return round(kib / 1024, 1) if kib is not None else None


def per_msg(cpu_pct, rate, taken_fraction):
    """Microseconds of CPU per message taken (the window is the generator's run)."""
    taken = rate * taken_fraction
    return round(cpu_pct / 100.0 / taken * 1e6, 1) if taken else None


def throughput():
    rs = by("throughput")
    if not rs:
        return
    if "who" not in rs[0]:
        print("\nthroughput: results of the rclpy-publisher bench (see BENCHMARKS.md, section 2)")
        return
    print("\nthroughput (native paced generator, one odometry mapping, MQTT QoS 0; floor alone, then bridge alone)")
    row("target msg/s", "who", "achieved msg/s", "generator late skips", "sent", "taken by floor / bridge",
        "MQTT received", "counted drops", "uncounted loss (before / after bridge)", "delivered %",
        "CPU %", "CPU µs per message taken", "by thread", "mosquitto / counter CPU %", "latency p50 / p99 ms",
        "machine busy %")
    for r in rs:
        if r["who"] == "floor":
            row(r["target_rate"], "floor", r["achieved_rate"], r["publisher_late_skips"], r["sent"], r["taken"],
                "-", "-", f'{r["lost_uncounted"]} / -', r["delivered_pct"], r["cpu_pct"],
                per_msg(r["cpu_pct"], r["achieved_rate"], r["taken"] / max(1, r["sent"])), r["threads"], "-", "-",
                r["machine_busy_pct"])
        else:
            lat = r.get("latency_ms") or {}
            row(r["target_rate"], "bridge", r["achieved_rate"], r["publisher_late_skips"], r["sent"],
                r["bridge_received"], r["mqtt_distinct"], r["counted_dropped"],
                f'{r["lost_before_bridge_uncounted"]} / {r["lost_after_bridge_uncounted"]}', r["delivered_pct"],
                r["cpu_pct"], per_msg(r["cpu_pct"], r["achieved_rate"], r["bridge_received"] / max(1, r["sent"])),
                r["threads"], f'{r["mosquitto_cpu_pct"]} / {r["mqtt_count_cpu_pct"]}',
                f'{lat.get("p50")} / {lat.get("p99")}', r["machine_busy_pct"])


def camera():
    rs = by("camera")
    if not rs:
        return
    print("\ncamera (640x480 rgb8 10 Hz, generic mapping, beside odometry 50 Hz + IMU 200 Hz; bridge and floor at once)")
    row("run", "topic", "sent", "floor took", "bridge received", "dropped (counted)", "MQTT received",
        "missing", "latency p50 / p90 / p99 / max ms", "bridge CPU %", "floor CPU %", "machine busy %")
    for i, r in enumerate(rs, 1):
        for t, v in r["topics"].items():
            lat = v.get("latency_ms") or {}
            lat = " / ".join(str(lat.get(k)) for k in ("p50", "p90", "p99", "max")) if lat else "-"
            row(i, t, v["sent"], v["floor_taken"], v["bridge_received"], v["bridge_dropped_counted"],
                v["mqtt_received"], v["missing"], lat, r["bridge"]["cpu_pct_schedstat"],
                r["floor"]["cpu_pct_schedstat"], r["machine_busy_pct"])


def main():
    for path in sys.argv[1:]:
        RS.extend(json.loads(l) for l in open(path) if l.startswith("{"))
    for r in by("idle"):
        f = r.get("floor")
        if not f:  # results from before the floor column
            print("\nidle")
            row("bridge CPU % of one core", "VmRSS MiB", "VmHWM MiB", "threads", "by thread")
            row(r["cpu_pct"], mib(r["VmRSS"]), mib(r["VmHWM"]), r["Threads"], r["threads"])
            continue
        print("\nidle (bridge and DDS floor in the same window)")
        row("bridge CPU %", "floor CPU %", "bridge / floor", "bridge VmRSS MiB", "floor VmRSS MiB",
            "bridge wake-ups/s by thread", "machine busy %")
        row(r["cpu_pct_schedstat"], f["cpu_pct_schedstat"], r["ratio_to_floor"], mib(r["VmRSS"]),
            mib(f["VmRSS_KiB"]), r.get("switches_per_s", {}), r["machine_busy_pct"])
    if by("typical"):
        print("\ntypical (bridge and DDS floor on the same publishers, same window)")
        row("transport", "laser beams", "bridge CPU %", "floor CPU %", "bridge / floor",
            "CPU µs per message out: bridge / floor / above floor", "MQTT writes", "bridge by thread",
            "VmHWM bridge / floor MiB", "above floor: VmHWM / RssAnon MiB", "publisher CPU %",
            "mosquitto CPU %", "machine busy %")
        for r in by("typical"):
            b, f = r["bridge"], r.get("floor", {})
            us = " / ".join(str(r.get(k)) for k in ("bridge_us_per_msg_out", "floor_us_per_msg",
                                                      "extra_us_per_msg_out"))
            row(r.get("transport", "tcp"), r["beams"], b["cpu_pct_schedstat"], f.get("cpu_pct_schedstat"),
                r.get("ratio_to_floor"), us, r.get("mqtt_writes"), b["threads"],
                f'{mib(b["VmHWM"])} / {mib(f.get("VmHWM_KiB"))}',
                f'{r.get("VmHWM_above_floor_MiB")} / {r.get("RssAnon_above_floor_MiB")}',
                r["publisher_process"]["cpu_pct"], r["mosquitto_cpu_pct"], r["machine_busy_pct"])
        print("\ntypical: delivery")
        row("laser beams", "topic", "sent", "floor took", "bridge received", "dropped by policy",
            "MQTT received", "missing")
        for r in by("typical"):
            for t, v in r["topics"].items():
                row(r["beams"], t, v["sent"], v.get("floor_taken"), v["bridge_received"],
                    v["bridge_dropped_by_policy"], v["mqtt_received"], v["missing_at_s"] or "none")
    throughput()
    camera()
    if by("latency"):
        print("\nlatency")
        row("transport", "load", "samples", "median ms", "p90 ms", "p99 ms", "max ms")
        for r in by("latency"):
            row(r.get("transport", "tcp"), r["load"], f'{r["samples"]}/{r["sent"]}', r["median_ms"],
                r["p90_ms"], r["p99_ms"], r["max_ms"])
    if by("generic"):
        print("\ngeneric: the same messages through the built-in converters and a generic mapping")
        row("path", "bridge µs/msg", "floor µs/msg", "above floor µs/msg", "ratio", "RssAnon KiB",
            "threads", "delivered", "machine busy %")
        for r in by("generic"):
            t = r["topics"].values()
            delivered = f'{sum(v["mqtt_received"] for v in t)}/{sum(v["sent"] for v in t)}'
            row(r["path"], r["bridge_us_per_msg"], r["floor_us_per_msg"], r["extra_us_per_msg"],
                r["ratio_to_floor"], r["bridge"]["RssAnon"], r["bridge"]["Threads"], delivered,
                r["machine_busy_pct"])
    for r in by("command"):
        print("\ncommand")
        row("command", "Twists seen", "median ms", "p90 ms", "min ms", "max ms")
        for k, v in r["results"].items():
            row(k, f'{v["twists_seen"]}/{v["commands"]}', v["median_ms"], v["p90_ms"], v["min_ms"], v["max_ms"])
    for r in by("size"):
        print(f'\nsize: {r["bytes"]} bytes ({r["MiB"]} MiB), stripped {r["stripped_bytes"]} ({r["stripped_MiB"]} MiB)')
    for r in by("buildtime"):
        print(f'\nbuildtime: {r["wall_s"]} s, ok={r["ok"]}')


if __name__ == "__main__":
    main()
