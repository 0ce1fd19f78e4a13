"""Summarises one bench run (bench/results/*.jsonl) as a markdown table of medians.

    python bench/compare.py [RESULTS.jsonl] [--run RUN_ID]

Without a file: the newest one in bench/results. Without --run: the last run in the file.
Each line is `{"run", "server", "rep", "bench", "exit", "result": <generator JSON>}` or
`{"run", "meta": {...}}` (machine and commit). Standard-library only.
"""

import argparse
import json
import statistics
import sys
from collections.abc import Callable
from pathlib import Path

Result = dict
Figure = Callable[[Result], float | None]


def dig(*keys: str) -> Figure:
    """A figure read from a nested key of the generator's JSON."""

    def get(r: Result) -> float | None:
        value = r
        for key in keys:
            if not isinstance(value, dict) or value.get(key) is None:
                return None
            value = value[key]
        return value

    return get


def rss_kb_per_viewer(r: Result) -> float | None:
    rss = r.get("serverRssMB") or {}
    if rss.get("afterJoin") is None or rss.get("beforeJoin") is None:
        return None
    return (rss["afterJoin"] - rss["beforeJoin"]) * 1024 / r["viewers"]


def cpu_us_per_delivery(r: Result) -> float | None:
    cpu = r.get("serverCpuMs") or {}
    if cpu.get("rounds") is None or not r.get("deliveries"):
        return None
    return cpu["rounds"] * 1000 / r["deliveries"]


# (label, figure, how runs combine, target as (op, value, unit) on ratio or absolute)
FANOUT = [
    ("last viewer p50 (ms)", dig("fanoutLastViewerMs", "p50"), "median"),
    ("last viewer p95 (ms)", dig("fanoutLastViewerMs", "p95"), "median"),
    ("every delivery p50 (ms)", dig("deliveryMs", "p50"), "median"),
    ("every delivery p99 (ms)", dig("deliveryMs", "p99"), "median"),
    ("joins/s", dig("joinsPerSec"), "median"),
    ("server RSS per viewer (KB)", rss_kb_per_viewer, "median"),
    ("server CPU per delivery (µs)", cpu_us_per_delivery, "median"),
    ("missing deliveries (sum)", dig("missingDeliveries"), "sum"),
]
FINISH = [
    ("lateness p50 (ms)", dig("latenessMs", "p50"), "median"),
    ("lateness p99 (ms)", dig("latenessMs", "p99"), "median"),
    ("lateness max (ms)", dig("latenessMs", "max"), "median"),
    ("duplicates (sum)", dig("duplicates"), "sum"),
    ("received (sum)", dig("received"), "sum"),
    ("expected (sum)", dig("expected"), "sum"),
]
# Issue 5's targets: (bench, label) -> (kind, bound, text). kind "ratio": roomtimer/Node.
TARGETS = {
    ("fanout-5000", "last viewer p50 (ms)"): ("ratio<=", 0.5, "≤ 0.5x Node"),
    ("fanout-5000", "missing deliveries (sum)"): ("abs<=", 0, "0"),
    ("fanout-5000", "joins/s"): ("ratio>=", 1.0, "≥ 1.0x Node"),
    ("fanout-5000", "server RSS per viewer (KB)"): ("abs<=", 20, "≤ 20 KB"),
    ("finish-1000x10", "lateness p99 (ms)"): ("abs<=", 30, "≤ 30 ms"),
    ("finish-1000x10", "duplicates (sum)"): ("abs<=", 0, "0"),
}
# bench/floor.js: the generator's own client against a server that only writes.
FLOORS = [
    (
        "fanout-floor",
        "Fan-out 5000 from a server that only writes (bench/floor.js): its 5000 writes take",
        dig("serverWriteMs"),
    ),
    (
        "finish-floor",
        "Finish 1000x10 from a server that only writes (bench/floor.js): lateness p99",
        dig("latenessMs", "p99"),
    ),
]
PAGE = ("joinCpuMsPerViewer", "pingBurstCpuMsPerViewer", "burstShareOfJoin")
TITLES = {
    "fanout-1000": "fan-out 1000",
    "fanout-5000": "fan-out 5000",
    "finish-1000x10": "finish 1000x10",
}


def load(path: Path, run: str | None) -> tuple[str, dict, list[dict]]:
    lines = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    if not lines:
        sys.exit(f"compare: {path} is empty")
    run = run or lines[-1]["run"]
    mine = [line for line in lines if line["run"] == run]
    if not mine:
        sys.exit(f"compare: no run {run} in {path}")
    meta = next((line["meta"] for line in mine if "meta" in line), {})
    return run, meta, [line for line in mine if "meta" not in line]


def combine(values: list[float], how: str) -> float | None:
    if not values:
        return None
    return sum(values) if how == "sum" else statistics.median(values)


def fmt(x: float | None) -> str:
    if x is None:
        return "–"
    if float(x).is_integer() or abs(x) >= 100:
        return f"{x:.0f}"
    return f"{x:.1f}"


def cell(values: list[float], how: str) -> str:
    text = fmt(combine(values, how))
    if how == "median" and len(values) > 1:
        text += " [" + ", ".join(fmt(v) for v in values) + "]"
    return text


def verdict(target: tuple, ours: float | None, ratio: float | None) -> str:
    kind, bound, text = target
    value = ratio if kind.startswith("ratio") else ours
    if value is None:
        return text
    ok = value <= bound if kind.endswith("<=") else value >= bound
    return f"{text}: {'met' if ok else 'MISSED'}"


def values_of(records: list[dict], bench: str, figures: list, servers: tuple) -> dict:
    """{label: {server: [value per run]}} for one bench."""
    runs = {
        server: [
            r["result"]
            for r in records
            if r["bench"] == bench and r["server"] == server and r["result"]
        ]
        for server in servers
    }
    return {
        label: {s: [v for v in map(figure, rs) if v is not None] for s, rs in runs.items()}
        for label, figure, _ in figures
    }


def before_after_table(records: list[dict]) -> list[str]:
    """The same run's earlier roomtimer (`--before`) against this one."""
    rows = ["| figure | before | after | after / before |", "|---|---|---|---|"]
    benches = (("fanout-1000", FANOUT), ("fanout-5000", FANOUT), ("finish-1000x10", FINISH))
    for bench, figures in benches:
        found = values_of(records, bench, figures, ("before", "roomtimer"))
        for label, _, how in figures:
            values = found[label]
            old, new = combine(values["before"], how), combine(values["roomtimer"], how)
            ratio = new / old if new is not None and old else None
            rows.append(
                f"| {TITLES[bench]}: {label} | {cell(values['before'], how)} | "
                f"{cell(values['roomtimer'], how)} | {'–' if ratio is None else f'{ratio:.2f}x'} |"
            )
    return rows


def standard_table(records: list[dict]) -> list[str]:
    rows = [
        "| figure | roomtimer | Node | roomtimer / Node | target (issue 5) |",
        "|---|---|---|---|---|",
    ]
    benches = (("fanout-1000", FANOUT), ("fanout-5000", FANOUT), ("finish-1000x10", FINISH))
    for bench, figures in benches:
        runs = {
            server: [
                r["result"]
                for r in records
                if r["bench"] == bench and r["server"] == server and r["result"]
            ]
            for server in ("roomtimer", "node")
        }
        for label, figure, how in figures:
            values = {s: [v for v in map(figure, rs) if v is not None] for s, rs in runs.items()}
            ours, theirs = combine(values["roomtimer"], how), combine(values["node"], how)
            ratio = ours / theirs if ours is not None and theirs else None
            target = TARGETS.get((bench, label))
            rows.append(
                f"| {TITLES[bench]}: {label} | {cell(values['roomtimer'], how)} | "
                f"{cell(values['node'], how)} | {'–' if ratio is None else f'{ratio:.2f}x'} | "
                f"{verdict(target, ours, ratio) if target else ''} |"
            )
    return rows


CLUSTER = [
    ("viewers", dig("viewers")),
    ("connect + join (ms)", dig("connectJoinMs")),
    ("last viewer p50 (ms)", dig("lastViewerMs", "p50")),
    ("last viewer p95 (ms)", dig("lastViewerMs", "p95")),
    ("last viewer p99 (ms)", dig("lastViewerMs", "p99")),
    ("every delivery p50 (ms)", dig("deliveryMs", "p50")),
    ("every delivery p99 (ms)", dig("deliveryMs", "p99")),
    ("missing deliveries", dig("missingDeliveries")),
    ("duplicates", dig("duplicates")),
    ("server RSS per viewer (KB)", rss_kb_per_viewer),
    ("server CPU per delivery (µs)", cpu_us_per_delivery),
]


def cluster_table(records: list[dict]) -> list[str]:
    rows: list[str] = []
    for rec in records:
        r = rec["result"]
        if not r:
            continue
        if "error" in r:
            rows.append(
                f"- failed after {r['elapsedMs']} ms: {r['error']}; joined per worker "
                f"{r['joinedPerWorker']} of {r['viewersPerWorker']}; "
                f"server RSS (MB) {r['serverRssMB']}"
            )
            continue
        whole = dict(r, lastViewerMs=r["fanoutLastViewerMs"])
        workers = [
            dict(w, deliveries=w["viewers"] * r["rounds"] - w["missingDeliveries"])
            for w in r["perWorker"]
        ]
        names = [f"worker {k}" + (" (HTTP)" if k == 1 else "") for k in range(1, len(workers) + 1)]
        rows += [
            "| figure | all workers | " + " | ".join(names) + " |",
            "|---" * (2 + len(workers)) + "|",
        ]
        for label, figure in CLUSTER:
            cells = [fmt(figure(whole))] + [fmt(figure(w)) for w in workers]
            rows.append(f"| {label} | " + " | ".join(cells) + " |")
        rows.append(
            f"| joins/s; HTTP command p50 (ms); rounds | {fmt(r['joinsPerSec'])}; "
            f"{fmt(r['httpCommandMs']['p50'])}; {r['rounds']} |" + " |" * len(workers)
        )
    return rows


def flood_and_soak(records: list[dict]) -> list[str]:
    """bench/flood.js (others' delivery with and without a flooder) and bench/soak.js."""
    out = []
    floods = [r["result"] for r in records if r["bench"] == "flood-1000" and r["result"]]
    if floods:
        f0 = floods[0]

        def of(*keys: str) -> str:
            return cell([v for v in map(dig(*keys), floods) if v is not None], "median")

        p99 = combine([r["flooded"]["deliveryMs"]["p99"] for r in floods], "median")
        lost = sum(r[p]["missingDeliveries"] for r in floods for p in ("quiet", "flooded"))
        met = "met" if p99 is not None and p99 < 100 else "MISSED"
        out.append(
            f"One client flooding ({f0['flooders']} sockets from one address, each reconnecting "
            f"when cut; bench/flood.js), {f0['viewers']} viewers, {f0['rate']} commands/s: "
            f"others' delivery p50 {of('quiet', 'deliveryMs', 'p50')} ms and p99 "
            f"{of('quiet', 'deliveryMs', 'p99')} ms without the flood; with it p50 "
            f"{of('flooded', 'deliveryMs', 'p50')} ms and p99 {of('flooded', 'deliveryMs', 'p99')}"
            f" ms (< 100 ms: {met}); missing {lost}. "
            f"The flood: {of('flood', 'eventsPerSec')} events/s, "
            f"{of('flood', 'reconnectsPerSec')} reconnects/s, "
            f"{of('flood', 'refusedPerSec')} connects/s refused, {of('flood', 'rateLimited')} "
            f"`rate_limited`, cut {of('flood', 'cut')} times; server CPU "
            f"{of('quiet', 'serverCpuPercent')} % without, "
            f"{of('flooded', 'serverCpuPercent')} % with; machine load "
            f"{of('quiet', 'loadAverage1m')} and {of('flooded', 'loadAverage1m')}."
        )
    for r in [r["result"] for r in records if r["bench"].startswith("soak") and r["result"]]:
        rss = r["rssKB"]
        out.append(
            f"Soak (bench/soak.js): {r['viewers']} viewers, {r['commands']} commands over "
            f"{r['seconds']} s ({r['commandsPerSec']}/s) on {r['timers']} timers, {r['churned']} "
            f"viewers came and went: {r['deliveries']} deliveries, {r['missingDeliveries']} "
            f"missing, {r['outOfOrder']} out of order, {r['duplicates']} duplicated. Server RSS "
            f"{rss['atStart']} KB at start, {rss['afterWarmup']} KB after {r['warmupSeconds']} s "
            f"of warm-up, {rss['end']} KB at the end: slope after warm-up "
            f"{r['rssSlopeKBPerMin']} KB/min over {r['rssSamplesFitted']} samples; server CPU "
            f"{r['serverCpuPercent']} %."
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, help="a bench/results/*.jsonl file")
    parser.add_argument("--run", help="run id (default: the file's last run)")
    args = parser.parse_args()
    path = args.results
    if path is None:
        files = sorted((Path(__file__).parent / "results").glob("*.jsonl"))
        if not files:
            sys.exit("compare: no results yet (bench/run.sh writes them)")
        path = files[-1]
    run, meta, records = load(path, args.run)
    cluster = any(r["bench"] == "fanout-cluster" for r in records)
    reps = len({r["rep"] for r in records})
    print(f"Run {run}, {reps} repeat(s); " + ("one run" if cluster else "median [each run]") + ".")
    if meta:
        dirty = " + uncommitted changes" if meta.get("dirty") else ""
        print(
            f"Machine: nproc {meta['nproc']}, {meta['memMiB']} MiB, {meta['cpu']}, Linux "
            f"{meta['kernel']}; Python {meta['python']}, Node {meta['node']}; "
            f"roomtimer {meta['commit']}{dirty}."
        )
    print()
    tables = any(r["bench"] != "soak-2000" for r in records)  # `--soak`: its paragraph only
    if cluster:
        print("\n".join(cluster_table(records)))
    elif tables:
        print("\n".join(standard_table(records)))
    if any(r["server"] == "before" for r in records):
        print(f"\nBefore ({meta.get('before', '?')}) and after, same run:\n")
        print("\n".join(before_after_table(records)))
    for bench, what, figure in FLOORS:
        floors = [r["result"] for r in records if r["bench"] == bench and r["result"]]
        values = [v for v in map(figure, floors) if v is not None]
        if values:
            print(f"\n{what}: {cell(values, 'median')} ms.", end="")
    pages = [r["result"] for r in records if r["bench"] == "viewer-page-500" and r["result"]]
    if pages:
        figure = {k: [p[k] for p in pages if p.get(k) is not None] for k in PAGE}
        print(
            f"\n\nViewer page, {pages[0]['viewers']} page-shaped viewers (bench/viewer_page.js): "
            f"connect + join {cell(figure['joinCpuMsPerViewer'], 'median')} ms of server CPU "
            f"per viewer; the clock-sync burst of {pages[0]['pingsPerViewer']} pings "
            f"{cell(figure['pingBurstCpuMsPerViewer'], 'median')} ms per viewer "
            f"({cell([100 * v for v in figure['burstShareOfJoin']], 'median')} % of a join); "
            f"ping round trip p50 {cell([p['pingRttMs']['p50'] for p in pages], 'median')} ms.",
            end="",
        )
    for text in flood_and_soak(records):
        print(f"\n\n{text}" if tables else text, end="")
    print()
    bad = [r for r in records if r["exit"] != 0 or not r["result"] or r.get("serverLogErrors")]
    if bad:
        print()
        for r in bad:
            print(
                f"- {r['bench']} on {r['server']} (rep {r['rep']}): exit {r['exit']}, "
                f"{r.get('serverLogErrors', 0)} error line(s) in the server log"
                + ("" if r["result"] else ", no result")
            )


if __name__ == "__main__":
    main()
