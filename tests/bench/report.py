"""Turns the runner's measurements into results.md (the table) and
results.png (a chart of the ratios to each row's reference)."""

from __future__ import annotations

import os
import statistics
from typing import Any, Dict, List, Optional, Tuple

from bench_setup import GROUPS, IMPL_BY_KEY, IMPLS, SCENARIOS, Scenario, reference

Summary = Tuple[float, float, float]  # median, min, max


def summarize(runs: List[Dict[str, Any]], field: str) -> Optional[Summary]:
    vals = [r[field] for r in runs if field in r]
    if not vals:
        return None
    return statistics.median(vals), min(vals), max(vals)


def errors(runs: List[Dict[str, Any]]) -> List[str]:
    return [r["error"] for r in runs if "error" in r]


def fmt(v: float) -> str:
    if v >= 100:
        return f"{v:,.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cell(s: Optional[Summary], rounds: int) -> str:
    if s is None:
        return "—"
    if rounds <= 1 or s[1] == s[2]:
        return fmt(s[0])
    return f"{fmt(s[0])} ({fmt(s[1])}–{fmt(s[2])})"


def ratios(data: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Every (scenario, implementation) next to its row's reference: the
    ratio of medians for throughput (higher is better) and for CPU per unit
    or memory per connection (lower is better)."""
    res = data["results"]
    rows = []
    for sc in SCENARIOS:
        per = res.get(sc.key, {})
        for group in GROUPS:
            ref = reference(group, sc)
            for impl in (i for i in IMPLS if i.group == group):
                row: Dict[str, Any] = {"scenario": sc, "impl": impl, "ref": ref}
                if sc.proto in impl.unsupported:
                    row["unsupported"] = impl.unsupported[sc.proto]
                    rows.append(row)
                    continue
                runs = per.get(impl.key, [])
                ref_runs = per.get(ref, []) if ref else []
                for field in ("throughput", "cpu_us", "kib_per_conn"):
                    s = summarize(runs, field)
                    r = summarize(ref_runs, field)
                    row[field] = s
                    if s and r and impl.key != ref and r[0] > 0:
                        row[field + "_ratio"] = s[0] / r[0]
                row["errors"] = errors(runs)
                rows.append(row)
    return rows


def missing_figures(data: Dict[str, Any]) -> List[str]:
    """What a run failed to measure: an implementation without a figure for
    a scenario it supports, or a binding whose drain rate is missing."""
    out = []
    for row in ratios(data):
        if "unsupported" in row:
            continue
        field = "kib_per_conn" if row["scenario"].kind == "memory" else "throughput"
        if row.get(field) is None:
            why = "; ".join(row["errors"]) or "not run"
            out.append(f"{row['scenario'].key} / {row['impl'].key}: {why}")
    for group in GROUPS:
        d = data["results"].get("drain", {}).get(group, {})
        if "throughput" not in d:
            out.append(f"drain / {group}: {d.get('error', 'not run')}")
    return out


def header(data: Dict[str, Any]) -> List[str]:
    m = data["machine"]
    quick = " (BENCH_QUICK: brief windows, figures are rough)" if data.get("quick") else ""
    if data.get("partial"):
        quick += " (partial: BENCH_SCENARIOS / BENCH_IMPLS)"
    return [
        "# w3sock benchmark results" + quick,
        "",
        f"Written by `make bench` (tests/bench/run.py) on {m['date']}: kernel {m['kernel']}, "
        f"{m['cores']} cores ({m['cpu']}), {m['go']}, node {m['node']}, Python {m['python']}. "
        f"Load average {m['load']} before, {m.get('load_after', '?')} after; the run took "
        f"{m.get('duration', '?')}. The machine is shared: other work may have run at the "
        "same time, which is why rounds are interleaved and medians are given with their range."
        + (f" {m['note']}" if m.get("note") else ""),
        "",
        "How it is measured: one load generator (tests/bench/loadgen, plain Go) drives every "
        "echo server (tests/bench/servers) the same way over 127.0.0.1; each server is a fresh "
        "process per measurement. Throughput is what the load generator counted in a "
        f"{data['window']} window after a warm-up; server CPU is the server process's "
        "utime+stime (/proc/PID/stat, every thread) over that window divided by the work done. "
        f"Medians over {data['rounds']} interleaved rounds, range in brackets. Ratios are "
        "medians divided by the reference's median: for throughput higher is better, for CPU "
        "and memory lower is better. References: C rows libuv (TLS rows: plain Go crypto/tls, "
        "libuv has no TLS); Python rows asyncio; Node rows node:net / node:tls / node:dgram. "
        "Every TLS server negotiates TLS 1.3 with TLS_AES_128_GCM_SHA256 and X25519 (the load "
        "generator checks the cipher; the OpenSSL-based servers follow the client's order). "
        "Rows marked pinned run the server and the load generator both on CPU 0 (taskset): "
        "unpinned, one connection's ping-pong is bimodal on this VM (up to 8x apart in server "
        "CPU per round trip, depending on whether the two processes share a core).",
        "",
        f"Memory: server resident memory growth (VmRSS) with {data['idle_conns']:,} idle "
        "connections held open, each of which carried one 64 B message and its echo, divided "
        "by the connections.",
        "",
    ]


def unit_rate(sc: Scenario) -> str:
    return {"MB": "MB/s"}.get(sc.unit, sc.unit + "s/s")


def write_table(data: Dict[str, Any], rows: List[Dict[str, Any]]) -> List[str]:
    rounds = data["rounds"]
    out = []
    for group in GROUPS:
        out += [f"## {group}", "",
                "| scenario | implementation | throughput | × ref | server CPU per unit | "
                "× ref |",
                "|---|---|---|---|---|---|"]
        for row in (r for r in rows if r["impl"].group == group):
            sc, impl = row["scenario"], row["impl"]
            ref_mark = " (reference)" if impl.key == row["ref"] else ""
            name = f"**{impl.label}**" if impl.w3sock else impl.label
            name += ref_mark
            if "unsupported" in row:
                out.append(f"| {sc.title} | {name} | not supported: {row['unsupported']} | | | |")
                continue
            if sc.kind == "memory":
                k = row.get("kib_per_conn")
                val = f"{cell(k, 1)} KiB per connection" if k else failed(row)
                ratio = row.get("kib_per_conn_ratio")
                out.append(f"| {sc.title} | {name} | | | {val} | "
                           f"{f'{ratio:.2f}' if ratio else ''} |")
                continue
            t, c = row.get("throughput"), row.get("cpu_us")
            if t is None:
                out.append(f"| {sc.title} | {name} | {failed(row)} | | | |")
                continue
            tr, cr = row.get("throughput_ratio"), row.get("cpu_us_ratio")
            out.append(f"| {sc.title} | {name} | {cell(t, rounds)} {unit_rate(sc)} | "
                       f"{f'{tr:.2f}' if tr else ''} | {cell(c, rounds)} µs per {sc.unit} | "
                       f"{f'{cr:.2f}' if cr else ''} |")
        d = data["results"].get("drain", {}).get(group, {})
        drain = (f"{fmt(d['throughput'])} events/s ({d['events']:,} queued datagrams)"
                 if "throughput" in d else
                 f"failed: {d['error']}" if "error" in d else "not measured in this run")
        out.append(f"| events drained per second through the binding | **w3sock {group}** | "
                   f"{drain} | | | |")
        out.append("")
    return out


# The goals issue 13 sets in `make bench` terms: (text, scenario, implementations,
# field, how a ratio becomes the figure the goal names, comparison, bound).
GOALS = [
    ("TLS bulk echo: Node binding CPU per MB ÷ node:tls", "tls-bulk",
     ["node-streams", "node-events"], "cpu_us_ratio", 1, "≤", 1.0),
    ("TLS ping-pong x100: Node binding CPU per round trip ÷ node:tls", "tls-pp100",
     ["node-streams", "node-events"], "cpu_us_ratio", 1, "≤", 1.0),
    ("TLS bulk echo: Python binding CPU per MB ÷ asyncio ssl", "tls-bulk",
     ["py-w3sock", "py-w3sock-uvloop"], "cpu_us_ratio", 1, "≤", 1.0),
    ("TLS ping-pong x100: Python binding CPU per round trip ÷ asyncio ssl", "tls-pp100",
     ["py-w3sock", "py-w3sock-uvloop"], "cpu_us_ratio", 1, "≤", 1.0),
    ("TLS bulk echo: C throughput ÷ plain crypto/tls", "tls-bulk",
     ["c-poll", "c-callback"], "throughput_ratio", 1, "≥", 0.9),
    ("TLS ping-pong x100: C throughput ÷ plain crypto/tls", "tls-pp100",
     ["c-poll", "c-callback"], "throughput_ratio", 1, "≥", 0.9),
    ("UDP echo: Node datagrams per CPU-second ÷ node:dgram's", "udp",
     ["node-streams", "node-events"], "cpu_us_ratio", -1, "≥", 1.0),
    ("UDP echo: Python datagrams per CPU-second ÷ asyncio datagram endpoint's", "udp",
     ["py-w3sock", "py-w3sock-uvloop"], "cpu_us_ratio", -1, "≥", 1.5),
    ("TCP bulk echo: Node W3C streams CPU per MB ÷ node:net", "tcp-bulk",
     ["node-streams"], "cpu_us_ratio", 1, "≤", 1.0),
    ("TCP ping-pong x100: Node W3C streams CPU per round trip ÷ node:net", "tcp-pp100",
     ["node-streams"], "cpu_us_ratio", 1, "≤", 1.0),
    ("memory per idle plain TCP connection, KiB (C)", "mem-tcp",
     ["c-poll", "c-callback"], "kib_per_conn", 0, "≤", 6.0),
]


def write_goals(rows: List[Dict[str, Any]]) -> List[str]:
    """Issue 13's goals against this run; a figure with no bound is stated only."""
    out = ["## Issue 13 goals in this run", "",
           "| goal | implementation | figure | goal met |", "|---|---|---|---|"]
    for text, sc, impls, field, power, op, bound in GOALS:
        for key in impls:
            row = next(r for r in rows if r["scenario"].key == sc and r["impl"].key == key)
            v = row.get(field)
            if isinstance(v, tuple):
                v = v[0]
            if v is None or v == 0:
                out.append(f"| {text} | {row['impl'].label} | no figure | |")
                continue
            fig = v if power >= 0 else 1 / v
            met = fig <= bound if op == "≤" else fig >= bound
            # three decimals where two would print the bound itself
            shown = f"{fig:.3f}" if abs(fig - bound) < 0.005 else f"{fig:.2f}"
            out.append(f"| {text} {op} {bound:g} | {row['impl'].label} | {shown} | "
                       f"{'yes' if met else 'no'} |")
    for key in ("c-poll", "py-w3sock", "node-events"):
        row = next(r for r in rows if r["scenario"].key == "mem-tls" and r["impl"].key == key)
        k = row.get("kib_per_conn")
        out.append(f"| memory per idle TLS connection, KiB (stated) | {row['impl'].label} | "
                   f"{fmt(k[0]) if k else 'no figure'} | |")
    out.append("")
    return out


def failed(row: Dict[str, Any]) -> str:
    if not row["errors"]:
        return "not measured in this run"
    return "failed: " + "; ".join(row["errors"]).replace("|", "/")[:200]


def write_chart(data: Dict[str, Any], rows: List[Dict[str, Any]], path: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(GROUPS), 2, figsize=(16, 18))
    colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd"]
    for gi, group in enumerate(GROUPS):
        impls = [i for i in IMPLS if i.group == group]
        for col, (field, title) in enumerate((
                ("throughput_ratio", "throughput ÷ reference (higher is better)"),
                ("cpu_us_ratio", "server CPU per unit ÷ reference (lower is better;\n"
                                 "memory rows: KiB per idle connection)"))):
            ax = axes[gi][col]
            scs = list(SCENARIOS) if col == 1 else [s for s in SCENARIOS if s.kind == "load"]
            shown = [i for i in impls
                     if any(r["impl"].key == i.key and r["ref"] != i.key for r in rows)]
            height = 0.8 / max(1, len(shown))
            for k, impl in enumerate(shown):
                ys, xs, labels = [], [], []
                for si, sc in enumerate(scs):
                    row = next(r for r in rows if r["scenario"].key == sc.key
                               and r["impl"].key == impl.key)
                    f = "kib_per_conn_ratio" if sc.kind == "memory" else field
                    v = row.get(f)
                    if v is None or row["ref"] == impl.key:
                        continue
                    ys.append(si + (k - (len(shown) - 1) / 2) * height)
                    xs.append(v)
                    labels.append(f"{v:.2f}")
                if not xs:
                    continue
                bars = ax.barh(ys, xs, height=height, color=colors[k % len(colors)],
                               label=impl.label, log=True)
                for bar, lab in zip(bars, labels):
                    x = min(max(bar.get_width(), 0.05), 25) * 1.05
                    ax.text(x, bar.get_y() + bar.get_height() / 2, lab, va="center", fontsize=7)
            ax.axvline(1.0, color="black", linewidth=1)
            ax.set_yticks(range(len(scs)))
            ax.set_yticklabels([s.short or s.title for s in scs], fontsize=9)
            ax.invert_yaxis()
            ax.set_xlim(0.05, 30)
            ax.set_title(f"{group}: {title}", fontsize=10)
            ax.tick_params(axis="x", labelsize=8)
            ax.grid(axis="x", which="both", alpha=0.3)
            if col == 0 and ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.06), ncol=2,
                          frameon=False)
    refs = ("references: C libuv (TLS rows plain Go crypto/tls), Python asyncio, "
            "Node node:net/tls/dgram")
    m = data["machine"]
    fig.suptitle(f"w3sock `make bench`, ratios of medians to each row's reference "
                 f"({m['date']}, kernel {m['kernel']}, {m['cores']} cores)\n{refs}", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.97), h_pad=4)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def write(data: Dict[str, Any], out_dir: str) -> None:
    rows = ratios(data)
    lines = header(data) + write_goals(rows) + write_table(data, rows)
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write("\n".join(lines))
    write_chart(data, rows, os.path.join(out_dir, "results.png"))


__all__ = ["write", "missing_figures", "ratios", "IMPL_BY_KEY"]
