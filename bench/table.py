#!/usr/bin/env python3
"""Markdown tables from the JSON lines of scripts/bench: `bench/table.py results.jsonl`."""
import json
import sys


def row(*cells):
    print("| " + " | ".join(str(c) for c in cells) + " |")


def main():
    rs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
    by = lambda k: [r for r in rs if r["bench"] == k]
    for r in by("idle"):
        print("\nidle")
        row("bridge CPU % of one core", "VmRSS MiB", "VmHWM MiB", "threads", "by thread")
        row(r["cpu_pct"], round(r["VmRSS"] / 1024, 1), round(r["VmHWM"] / 1024, 1), r["Threads"], r["threads"])
    if by("typical"):
        print("\ntypical")
        row("laser beams", "bridge CPU %", "by thread", "VmRSS MiB (mid / end)", "VmHWM MiB",
            "publisher CPU %", "mosquitto CPU %", "machine busy %")
        for r in by("typical"):
            b = r["bridge"]
            row(r["beams"], b["cpu_pct"], b["threads"],
                f'{b["VmRSS_mid"] / 1024:.1f} / {b["VmRSS"] / 1024:.1f}', round(b["VmHWM"] / 1024, 1),
                r["publisher_process"]["cpu_pct"], r["mosquitto_cpu_pct"], r["machine_busy_pct"])
        print("\ntypical: delivery")
        row("laser beams", "topic", "sent", "bridge received", "dropped by policy", "MQTT received", "missing")
        for r in by("typical"):
            for t, v in r["topics"].items():
                row(r["beams"], t, v["sent"], v["bridge_received"], v["bridge_dropped_by_policy"],
                    v["mqtt_received"], v["missing_at_s"] or "none")
    if by("throughput"):
        print("\nthroughput")
        row("depth", "target msg/s", "achieved", "pubs", "sent", "bridge received", "counted drops",
            "MQTT received", "uncounted loss", "delivered %", "bridge CPU %", "publishers CPU %", "machine busy %")
        for r in by("throughput"):
            counted = r["counted_dropped"] + r["offline_replaced"]
            unc = r["lost_before_bridge_uncounted"] + r["lost_after_bridge_uncounted"]
            row(r["depth"], r["target_rate"], r["achieved_rate"], r["publishers"], r["sent"], r["bridge_received"],
                counted, r["mqtt_received"], f'{unc} ({100.0 * unc / r["sent"]:.2f} %)', r["delivered_pct"],
                r["bridge_cpu_pct"], r["publisher_cpu_pct"], r["machine_busy_pct"])
    if by("latency"):
        print("\nlatency")
        row("load", "samples", "median ms", "p90 ms", "p99 ms", "max ms")
        for r in by("latency"):
            row(r["load"], f'{r["samples"]}/{r["sent"]}', r["median_ms"], r["p90_ms"], r["p99_ms"], r["max_ms"])
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
