#!/usr/bin/env python3
"""Turns a scripts/bench run (results.jsonl + sample files in DIR) into the table printed on
stdout, BENCHMARKS.md and the SVG plots in bench/plots/. Standard library only.

Usage: python3 bench/report.py bench/last-run [--no-write] [--splice-parse]

--splice-parse (scripts/bench with ONLY=parse): replace only the parsing rows of the summary and
section 6 of the existing BENCHMARKS.md, leaving the other benchmarks' numbers as they were.
"""

import json
import math
import os
import statistics
import sys
from collections import defaultdict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PLOTS = os.path.join(ROOT, "bench", "plots")
COLORS = {"hush": "#1f77b4", "hush-sqlite": "#1f77b4", "hush-postgres": "#17becf",
          "openbao": "#d62728", "openbao-agent": "#d62728", "file": "#1f77b4",
          "streamlit": "#2ca02c", "restart": "#9467bd", "env true": "#7f7f7f",
          "hush run -- true": "#1f77b4", "fan1000": "#1f77b4", "fan10000": "#ff7f0e"}
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b"]


# ---------------------------------------------------------------- loading

def load(run_dir):
    rows = []
    with open(os.path.join(run_dir, "results.jsonl")) as f:
        for line in f:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def samples(run_dir, name):
    path = os.path.join(run_dir, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [float(x) for x in f if x.strip()]


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def median_run(runs):
    """The run whose req/s is the median (for plots)."""
    runs = sorted(runs, key=lambda r: r["rps"])
    run = runs[(len(runs) - 1) // 2]
    if not run["pct"].get("100"):  # wrk's percentile(100) is 0: the maximum stands there
        run["pct"]["100"] = run["max_ms"]
    return run


# ---------------------------------------------------------------- formatting

def fnum(v, digits=0):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return f"{v:,.{digits}f}"


def fms(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if v >= 100:
        return f"{v:,.0f} ms"
    if v >= 10:
        return f"{v:.1f} ms"
    if v >= 1:
        return f"{v:.2f} ms"
    if v >= 0.01:
        return f"{v:.3f} ms"
    return f"{v * 1000:.2f} µs"


def fratio(v):
    if v is None or v == 0 or (isinstance(v, float) and math.isnan(v)):
        return "–"
    # Two decimals below 10: the goals sit at 1×, 3× and 10×, and 2.97× must not read as 3.0×.
    if v < 10:
        return f"{v:.2f}×"
    return f"{v:.1f}×" if v < 100 else f"{v:,.0f}×"


def ok(cond):
    if cond is None:
        return "not run"
    return "**met**" if cond else "**missed**"


def table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out)


# ---------------------------------------------------------------- SVG

def esc(s):
    return str(s).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def nice_log_ticks(lo, hi):
    ticks = []
    e = math.floor(math.log10(lo))
    while 10 ** e <= hi * 1.0001:
        for m in (1, 2, 5):
            t = m * 10 ** e
            if lo * 0.999 <= t <= hi * 1.001:
                ticks.append(t)
        e += 1
    return ticks


def tick_label(t):
    if t >= 1000:
        return f"{t / 1000:g} s"
    if t >= 1:
        return f"{t:g} ms"
    return f"{t * 1000:g} µs"


def panel(title, series, x_kind, w=460, h=300):
    """One chart as an SVG fragment. series: [(name, [(x, y_ms)...])].
    x_kind 'pct': x are percentiles, plotted on a log scale of 1/(1-p) (50 … 99.99, 100 at the end).
    x_kind 'cdf': x are latencies in ms (log), y the fraction of samples at or below."""
    ml, mr, mt, mb = 62, 12, 28, 42
    pw, ph = w - ml - mr, h - mt - mb
    parts = [f'<rect x="0" y="0" width="{w}" height="{h}" fill="white"/>',
             f'<text x="{w / 2}" y="17" text-anchor="middle" font-size="13" font-weight="bold">{esc(title)}</text>']
    pts_all = [p for _, pts in series for p in pts]
    if not pts_all:
        parts.append(f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle" font-size="12">no data</text>')
        return "\n".join(parts)
    if x_kind == "pct":
        xs_def = [50, 75, 90, 95, 99, 99.9, 99.99, 100]
        xpos = lambda p: math.log10(1 / (1 - min(p, 99.999) / 100))
        x0, x1 = xpos(50), xpos(100)
        ys = [y for _, y in pts_all if y > 0]
        lo, hi = min(ys), max(ys)
        yl0, yl1 = math.log10(lo) - 0.05, math.log10(hi) + 0.05
        sx = lambda x: ml + (xpos(x) - x0) / (x1 - x0) * pw
        sy = lambda y: mt + ph - (math.log10(max(y, lo)) - yl0) / (yl1 - yl0) * ph
        for p in xs_def:
            parts.append(f'<line x1="{sx(p):.1f}" y1="{mt}" x2="{sx(p):.1f}" y2="{mt + ph}" stroke="#eee"/>')
            lab = "max" if p == 100 else f"p{p:g}"
            parts.append(f'<text x="{sx(p):.1f}" y="{mt + ph + 14}" text-anchor="middle" font-size="10">{lab}</text>')
        parts.append(f'<text x="{ml + pw / 2}" y="{h - 6}" text-anchor="middle" font-size="11">percentile</text>')
        for t in nice_log_ticks(10 ** yl0, 10 ** yl1):
            parts.append(f'<line x1="{ml}" y1="{sy(t):.1f}" x2="{ml + pw}" y2="{sy(t):.1f}" stroke="#eee"/>')
            parts.append(f'<text x="{ml - 4}" y="{sy(t) + 3:.1f}" text-anchor="end" font-size="10">{tick_label(t)}</text>')
        parts.append(f'<text x="14" y="{mt + ph / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 14 {mt + ph / 2})">latency</text>')
    else:
        xs = [x for x, _ in pts_all if x > 0]
        lo, hi = min(xs), max(xs)
        xl0, xl1 = math.log10(lo) - 0.05, math.log10(hi) + 0.05
        sx = lambda x: ml + (math.log10(max(x, lo)) - xl0) / (xl1 - xl0) * pw
        sy = lambda y: mt + ph - y * ph
        for t in nice_log_ticks(10 ** xl0, 10 ** xl1):
            parts.append(f'<line x1="{sx(t):.1f}" y1="{mt}" x2="{sx(t):.1f}" y2="{mt + ph}" stroke="#eee"/>')
            parts.append(f'<text x="{sx(t):.1f}" y="{mt + ph + 14}" text-anchor="middle" font-size="10">{tick_label(t)}</text>')
        for f in (0, 0.25, 0.5, 0.75, 0.9, 1):
            parts.append(f'<line x1="{ml}" y1="{sy(f):.1f}" x2="{ml + pw}" y2="{sy(f):.1f}" stroke="#eee"/>')
            parts.append(f'<text x="{ml - 4}" y="{sy(f) + 3:.1f}" text-anchor="end" font-size="10">{f:g}</text>')
        parts.append(f'<text x="{ml + pw / 2}" y="{h - 6}" text-anchor="middle" font-size="11">delay (log scale)</text>')
        parts.append(f'<text x="14" y="{mt + ph / 2}" text-anchor="middle" font-size="11" transform="rotate(-90 14 {mt + ph / 2})">fraction ≤ delay</text>')
    parts.append(f'<rect x="{ml}" y="{mt}" width="{pw}" height="{ph}" fill="none" stroke="#888"/>')
    for i, (name, pts) in enumerate(series):
        color = COLORS.get(name, PALETTE[i % len(PALETTE)])
        if not pts:
            continue
        path = " ".join(f"{'M' if j == 0 else 'L'}{sx(x):.1f},{sy(y):.1f}" for j, (x, y) in enumerate(pts))
        parts.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        ly = mt + 14 + 15 * i
        parts.append(f'<line x1="{ml + 8}" y1="{ly - 4}" x2="{ml + 26}" y2="{ly - 4}" stroke="{color}" stroke-width="3"/>')
        parts.append(f'<text x="{ml + 30}" y="{ly}" font-size="11">{esc(name)}</text>')
    return "\n".join(parts)


def grid(panels, cols=2, w=460, h=300):
    rows = math.ceil(len(panels) / cols)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w * cols}" height="{h * rows}" '
           f'font-family="Helvetica, Arial, sans-serif">']
    for i, p in enumerate(panels):
        x, y = (i % cols) * w, (i // cols) * h
        out.append(f'<svg x="{x}" y="{y}" width="{w}" height="{h}">{p}</svg>')
    out.append("</svg>")
    return "\n".join(out)


def cdf_points(values):
    v = sorted(x for x in values if x is not None)
    if not v:
        return []
    n = len(v)
    step = max(1, n // 400)
    pts = [(max(x, 1e-3), (i + 1) / n) for i, x in enumerate(v) if i % step == 0 or i == n - 1]
    return pts


def write_svg(name, content):
    os.makedirs(PLOTS, exist_ok=True)
    with open(os.path.join(PLOTS, name), "w") as f:
        f.write(content)
    return f"bench/plots/{name}"


# ---------------------------------------------------------------- report

def main():
    run_dir = sys.argv[1]
    write = "--no-write" not in sys.argv
    rows = load(run_dir)
    by = defaultdict(list)
    for r in rows:
        by[r["bench"]].append(r)
    machine = (by.get("machine") or [{}])[0]
    machine_end = (by.get("machine_end") or [{}])[0]
    md = []
    summary = []  # (what, hush, peer, ratio, target, verdict)

    # ---- 1. reads
    reads = defaultdict(list)
    for r in by.get("read", []):
        reads[(r["keys"], r["conns"], r["impl"])].append(r)
    read_rows, read_panels = [], []
    for keys in (10, 1000):
        for conns in (32, 1):
            h, b = reads.get((keys, conns, "hush")), reads.get((keys, conns, "openbao"))
            if not h or not b:
                continue
            hr, br = med(r["rps"] for r in h), med(r["rps"] for r in b)
            h50, b50 = med(r["p50_ms"] for r in h), med(r["p50_ms"] for r in b)
            h99, b99 = med(r["p99_ms"] for r in h), med(r["p99_ms"] for r in b)
            errs = sum(r["sockerr"] + r["non2xx"] for r in h + b)
            read_rows.append([f"{keys:,}", conns, fnum(hr), fnum(br), fratio(hr / br),
                              fms(h50), fms(b50), fms(h99), fms(b99), errs])
            met = hr >= 3 * br and h50 <= b50 and h99 <= b99
            summary.append((f"Reads, {keys:,} keys, {conns} conn", f"{fnum(hr)} req/s, p50 {fms(h50)}, p99 {fms(h99)}",
                            f"OpenBao {fnum(br)} req/s, p50 {fms(b50)}, p99 {fms(b99)}", fratio(hr / br) + " req/s",
                            "≥ 3× req/s, p50 and p99 ≤", ok(met)))
            series = []
            for impl, runs in (("hush", h), ("openbao", b)):
                m = median_run(runs)
                series.append((impl, [(float(p), v) for p, v in m["pct"].items()]))
            read_panels.append(panel(f"GET secrets, {keys:,} keys, {conns} connection{'s' if conns > 1 else ''}", series, "pct"))
    floor_rows = []
    for conns in (32, 1):
        h, f = reads.get((10, conns, "hush")), reads.get((10, conns, "floor"))
        if not h or not f:
            continue
        hr, fr = med(r["rps"] for r in h), med(r["rps"] for r in f)
        floor_rows.append([conns, fnum(hr), fnum(fr), f"{100 * hr / fr:.0f}%",
                           fms(med(r["p50_ms"] for r in h)), fms(med(r["p50_ms"] for r in f)),
                           fms(med(r["p99_ms"] for r in h)), fms(med(r["p99_ms"] for r in f))])
        target = "≥ 60% of the floor" if conns == 32 else "(none)"
        summary.append((f"Reads vs the bare-hyper floor, 10 keys, {conns} conn", f"{fnum(hr)} req/s",
                        f"floor {fnum(fr)} req/s", f"{100 * hr / fr:.0f}%", target,
                        ok(hr >= 0.6 * fr) if conns == 32 else "–"))
    read_plot = write_svg("reads.svg", grid(read_panels)) if read_panels and write else "bench/plots/reads.svg"

    # ---- 2. writes
    writes = defaultdict(list)
    for r in by.get("write", []):
        writes[(r["conns"], r["impl"])].append(r)
    write_rows, write_panels = [], []
    for conns in (32, 1):
        bao = writes.get((conns, "openbao"))
        brps = med(r["rps"] for r in bao) if bao else None
        series = []
        for impl in ("hush-sqlite", "hush-postgres", "openbao"):
            runs = writes.get((conns, impl))
            if not runs:
                continue
            rps = med(r["rps"] for r in runs)
            write_rows.append([impl, conns, fnum(rps), fms(med(r["p50_ms"] for r in runs)),
                               fms(med(r["p99_ms"] for r in runs)),
                               fratio(rps / brps) if brps and impl != "openbao" else "",
                               sum(r["sockerr"] + r["non2xx"] for r in runs)])
            series.append((impl, [(float(p), v) for p, v in median_run(runs)["pct"].items()]))
            if impl != "openbao" and brps:
                summary.append((f"Writes, {impl}, {conns} conn", f"{fnum(rps)} saves/s", f"OpenBao {fnum(brps)} writes/s",
                                fratio(rps / brps), "≥ 1× OpenBao" if conns == 32 else "(none)",
                                ok(rps >= brps) if conns == 32 else "–"))
        if series:
            write_panels.append(panel(f"Saves, {conns} connection{'s' if conns > 1 else ''}", series, "pct"))
    write_plot = write_svg("writes.svg", grid(write_panels)) if write_panels and write else "bench/plots/writes.svg"

    # ---- 3. propagation
    prop = {r["label"]: r for r in by.get("propagation", [])}
    prop_rows, prop_series = [], []
    names = {"file": "(a) runner's secrets file replaced", "streamlit": "(b) Streamlit script re-run with the new value",
             "restart": "(c) plain program restarted with the new environment",
             "openbao-agent": "OpenBao Agent, exec + env_template, render interval 1 s"}
    targets = {"file": ("p99 < 50 ms", lambda r: r["p99_ms"] < 50), "streamlit": ("p99 < 500 ms", lambda r: r["p99_ms"] < 500)}
    files = {"file": "prop-file.txt", "streamlit": "prop-streamlit.txt", "restart": "prop-restart.txt", "openbao-agent": "prop-agent.txt"}
    for label in ("file", "streamlit", "restart", "openbao-agent"):
        r = prop.get(label)
        if r is None:
            continue
        if "not_run" in r:
            prop_rows.append([names[label], "not run: " + r["not_run"], "", "", "", ""])
            if label in targets:
                summary.append((f"Propagation {names[label]}", "not run: " + r["not_run"], "", "", targets[label][0], "not run"))
            continue
        prop_rows.append([names[label], r["n"], fms(r["p50_ms"]), fms(r["p99_ms"]), fms(r["max_ms"]), r.get("timeouts", 0)])
        prop_series.append((label, cdf_points(samples(run_dir, files[label]))))
        if label == "restart":
            agent = prop.get("openbao-agent")
            summary.append((f"Propagation {names[label]}", f"p50 {fms(r['p50_ms'])}, p99 {fms(r['p99_ms'])}, max {fms(r['max_ms'])}",
                            f"Agent p50 {fms(agent['p50_ms'])}" if agent and agent.get("p50_ms") else "",
                            fratio(agent["p50_ms"] / r["p50_ms"]) + " faster (p50)" if agent and agent.get("p50_ms") else "",
                            "(none)", "–"))
        if label in targets:
            agent = prop.get("openbao-agent")
            ratio = fratio(agent["p50_ms"] / r["p50_ms"]) + " faster (p50)" if agent and agent.get("p50_ms") and r["p50_ms"] > 0 else ""
            summary.append((f"Propagation {names[label]}", f"p50 {fms(r['p50_ms'])}, p99 {fms(r['p99_ms'])}, max {fms(r['max_ms'])}",
                            f"Agent p50 {fms(agent['p50_ms'])}" if agent and agent.get("p50_ms") else "", ratio,
                            targets[label][0], ok(targets[label][1](r))))
    prop_plot = write_svg("propagation.svg", grid([panel("Save response → change visible (CDF)", prop_series, "cdf", w=700, h=360)], cols=1, w=700, h=360)) if prop_series and write else "bench/plots/propagation.svg"

    # ---- 4. fan-out
    fan_rows, fan_series = [], []
    for r in sorted(by.get("fanout", []), key=lambda r: r["watchers"]):
        fr, fq = r["from_response"], r["from_request"]
        fan_rows.append([f"{r['watchers']:,}", f"{r['connect_s']:.2f} s", f"{r['rss_before_kb'] / 1024:.1f} MB",
                         f"{r['rss_connected_kb'] / 1024:.1f} MB", f"{r['bytes_per_watcher'] / 1024:.1f} KB",
                         fms(fq["p50_ms"]), fms(fq["p99_ms"]), fms(fq["max_ms"]), fms(r["save_ms"]), fms(fr["max_ms"]),
                         f"{r['rss_closed_kb'] / 1024:.1f} MB"])
        fan_series.append((f"{r['watchers']:,} watchers", cdf_points(samples(run_dir, f"fanout-{r['watchers']}.txt"))))
        if r["watchers"] >= 10000:
            met = r["rss_connected_kb"] < 200 * 1024 and fq["max_ms"] < 2000
            summary.append((f"Fan-out, {r['watchers']:,} watchers", f"RSS {r['rss_connected_kb'] / 1024:.0f} MB, all notified in {fms(fq['max_ms'])}",
                            "", "", "< 200 MB, all within 2 s", ok(met)))
        else:
            summary.append((f"Fan-out, {r['watchers']:,} watchers", f"RSS {r['rss_connected_kb'] / 1024:.0f} MB, all notified in {fms(fq['max_ms'])}",
                            "", "", "(10,000: < 200 MB, 2 s)", "–"))
    shared_rows = []
    for r in by.get("shared-fanout", []):
        an, fe = r["announced_ms"], r["fetched_ms"]
        shared_rows.append([r["environments"], f"{r['watchers']:,}", fms(r["save_ms"]), fms(an["p50_ms"]),
                            fms(an["p99_ms"]), fms(an["max_ms"]), fms(fe["p50_ms"]), fms(fe["p99_ms"]), fms(fe["max_ms"]),
                            f"{r['rss_before_kb'] / 1024:.1f} → {r['rss_connected_kb'] / 1024:.1f} → {r['rss_after_kb'] / 1024:.1f} MB"])
        summary.append((f"Shared document, {r['environments']} environments × {r['watchers'] // r['environments']} runners",
                        f"all told in {fms(an['max_ms'])}, all read the new value in {fms(fe['max_ms'])}", "", "",
                        "all within 1 s", ok(fe["max_ms"] < 1000)))
    fan_plot = write_svg("fanout.svg", grid([panel("Save request sent → watcher has the new version (CDF)", fan_series, "cdf", w=700, h=360)], cols=1, w=700, h=360)) if fan_series and write else "bench/plots/fanout.svg"

    # ---- 5. start-up
    st_rows, st_series = [], []
    startup = {r["command"]: r for r in by.get("startup", [])}
    base = startup.get("env true")
    for cmd, r in startup.items():
        if "not_run" in r:
            st_rows.append([cmd, "not run: " + r["not_run"], "", "", ""])
            summary.append(("Start-up overhead of `hush run -- true`", "not run: " + r["not_run"], "", "", "< 15 ms", "not run"))
            continue
        over = r["mean_ms"] - base["mean_ms"] if base and cmd != "env true" else None
        st_rows.append([f"`{cmd}`", fms(r["mean_ms"]) + f" ± {fms(r['stddev_ms'])}", fms(r["median_ms"]), fms(r["p99_ms"]),
                        fms(over) if over is not None else ""])
        st_series.append((cmd, cdf_points(r["times_ms"])))
        if over is not None:
            summary.append(("Start-up overhead of `hush run -- true`", f"{fms(r['mean_ms'])} (+{fms(over)})",
                            f"env true {fms(base['mean_ms'])}", "", "< 15 ms overhead", ok(over < 15)))
    st_plot = write_svg("startup.svg", grid([panel("Start-up, one run each (CDF)", st_series, "cdf", w=700, h=320)], cols=1, w=700, h=320)) if st_series and write else "bench/plots/startup.svg"

    # ---- 6. parsing
    parse = {(r["impl"], r["what"], r["keys"]): r for r in by.get("parse", [])}
    parse_rows = []
    for n in sorted({k for _, _, k in parse}):
        g = lambda impl, what: parse.get((impl, what, n), {}).get("median_ms")
        hl, hp, hf, tl, tp, sl, se, sf = (g("hush", "load"), g("hush", "parse"), g("hush", "from_path"), g("tomllib", "load"),
                                          g("tomllib", "parse"), g("streamlit", "load"), g("streamlit", "env_export"),
                                          g("streamlit", "first_load"))
        pl, pd = g("hush-py", "load"), g("hush-py", "to_dict")
        parse_rows.append([f"{n:,}", fms(hp), fms(hf), fms(hl), fms(pl), fms(pd), fms(tp), fms(tl), fms(sl), fms(se),
                           fms(sf), fratio(sl / hl) if sl and hl else "–", fratio(sl / pl) if sl and pl else "–",
                           fratio(tl / hl) if tl and hl else "–"])
        if sl and hl:
            summary.append((f"Parsing {n:,} keys", f"{fms(hl)}", f"st.secrets {fms(sl)}, tomllib {fms(tl)}",
                            fratio(sl / hl) + " vs Streamlit", "≥ 10× faster than Streamlit", ok(sl / hl >= 10)))
        if sl and pl:
            summary.append((f"hush.secrets (Python), {n:,} keys", f"{fms(pl)}", f"st.secrets {fms(sl)}, tomllib {fms(tl)}",
                            fratio(sl / pl) + " vs Streamlit", "≥ 10× faster than Streamlit", ok(sl / pl >= 10)))

    # ---- 7. memory
    mem = {(r["impl"], r["phase"]): r["rss_kb"] for r in by.get("memory", [])}
    mem_rows = []
    for phase, label in (("fresh", "fresh: 1 s after start, before any sign-in"), ("idle", "idle: after a sign-in, seeding 2 apps and one read each"), ("after_reads", "after the read runs (2 s idle)"), ("end", "at the end (after writes, propagation, start-up)")):
        h, b = mem.get(("hush", phase)), mem.get(("openbao", phase))
        if h is None and b is None:
            continue
        mem_rows.append([label, f"{h / 1024:.1f} MB" if h else "–", f"{b / 1024:.1f} MB" if b else "–",
                         fratio(b / h) if h and b else "–"])
    for phase, what in (("fresh", "fresh"), ("idle", "after a sign-in")):
        if ("hush", phase) in mem:
            h, b = mem[("hush", phase)], mem.get(("openbao", phase))
            summary.append((f"Idle RSS of `hush serve`, {what}", f"{h / 1024:.1f} MB", f"OpenBao {b / 1024:.1f} MB" if b else "",
                            fratio(b / h) + " smaller" if b else "", "< 30 MB", ok(h < 30 * 1024)))

    # ---- print the table
    hdr = ["benchmark", "hush", "peer", "ratio", "target", "verdict"]
    widths = [max(len(str(x)) for x in col) for col in zip(hdr, *summary)] if summary else [10] * 6
    print()
    print("  ".join(h.ljust(w) for h, w in zip(hdr, widths)))
    for row in summary:
        print("  ".join(str(c).replace("**", "").ljust(w) for c, w in zip(row, widths)))
    print()

    if not write:
        return

    # ---- BENCHMARKS.md
    q = " (QUICK=1 smoke run: short loads, few trials — not the numbers to quote)" if machine.get("quick") else ""
    md.append("# Benchmarks\n")
    md.append("Generated by `scripts/bench` (raw results in `bench/last-run/`, plots in `bench/plots/`); the analysis "
              "at the end is hand-written in `bench/ANALYSIS.md` and copied in. Every number comes from one run on one "
              "shared machine, with hush and its peer measured side by side and interleaved: **read the ratios, not the "
              f"absolute numbers**.{q}\n")
    md.append("## Machine and versions\n")
    md.append(table(["", ""], [
        ["date", machine.get("date", "?")],
        ["CPU", f"{machine.get('nproc', '?')} × {machine.get('cpu', '?')}, {machine.get('mem_gib', '?')} GiB, Linux {machine.get('kernel', '?')}"],
        ["load average (1/5/15 min)", f"start {' '.join(machine.get('loadavg_start', []))}, end {' '.join(machine_end.get('loadavg_end', []))}"],
        ["hush", f"git {machine.get('hush_rev', '?')}, release build (`lto = \"thin\"`), SQLite (WAL) in a temp dir, encryption at rest and audit log on (they cannot be turned off)"],
        ["OpenBao", f"{machine.get('openbao', '?')} (`bao server -dev`: in memory, KV v2 at secret/)"],
        ["Streamlit", f"{machine.get('streamlit', '?')} (Python {machine.get('python', '?')})"],
        ["PostgreSQL", machine.get("postgres", "?").split(" on ")[0]],
        ["tools", f"{machine.get('wrk', '?')}; {machine.get('hyperfine', '?')}; {machine.get('rustc', '?')}"],
        ["load settings", f"wrk `-d{machine.get('duration')}`, {machine.get('repeats')} interleaved repeats per row (medians shown)"],
    ]))
    md.append("\n## Summary\n")
    md.append(table(hdr, summary))
    md.append("\n## 1. Reads: an app token fetching its app's latest secrets\n")
    md.append("`GET /api/v1/apps/{app}/secrets` with `Authorization: Bearer <app token>` (hush) against "
              "`GET /v1/secret/data/{path}` with `X-Vault-Token: root` (OpenBao KV v2); the same wrk, 32 connections "
              "(`-t2 -c32`) and 1 (`-t1 -c1`). Secrets are the generated `key_00000 = \"v00000-…\"` documents. Each hush read "
              "is authorised by token hash, audited (queued, written in batches) and served from the decrypted-latest cache.\n")
    md.append(table(["keys", "conns", "hush req/s", "OpenBao req/s", "ratio", "hush p50", "OpenBao p50", "hush p99", "OpenBao p99", "errors"], read_rows))
    md.append(f"\n![read latency percentiles]({read_plot})\n")
    if floor_rows:
        md.append("\nThe same 10-key read against its physical floor: `hush-bench floor`, a bare hyper server on the "
                  "same runtime answering every request with a body of the same size, driven by the same wrk script "
                  "(its bearer header ignored). The difference is hush's own work per read: the token's hash looked up, "
                  "the role checked, the audit trail counted, the cached document served.\n")
        md.append(table(["conns", "hush req/s", "floor req/s", "hush / floor", "hush p50", "floor p50", "hush p99", "floor p99"], floor_rows))

    md.append("## 2. Writes: saves per second\n")
    md.append("hush: `PUT /api/v1/apps/{app}/secrets` `{toml, base_version, message}` with a personal access token; "
              "wrk `-tN -cN` with `bench/wrk/write_hush.lua`: every connection owns a fresh app and saves on top of "
              "the version its previous save made (a 409 would resync and count as an error). Each save parses and "
              "validates the TOML, diffs it against the previous version, encrypts it, stores it, and waits for its "
              "audit entry to be written. OpenBao: `POST /v1/secret/data/bench-write-{conn}` (a new KV v2 version "
              "each time, no check-and-set), same documents, same wrk settings.\n")
    md.append(table(["server", "conns", "saves/s", "p50", "p99", "vs OpenBao", "errors"], write_rows))
    md.append(f"\n![write latency percentiles]({write_plot})\n")
    md.append("## 3. Propagation: from a save's HTTP response to the app\n")
    md.append("`hush-bench propagate` saves a new `bench_value` (random 50–250 ms pauses between saves) and times from "
              "the save's response until (a) the file named by the child's `HUSH_SECRETS_FILE` holds it "
              "(`hush run --on-change none`, polled every 0.5 ms), (b) `bench/streamlit_app.py`, under "
              "`hush run -- streamlit run …` with one headless session (`bench/st_session.py`), logs a script run "
              "with it, (c) a child of `hush run --on-change restart` logs its start with it in its environment. "
              "OpenBao Agent: `../shared/bench/openbao-agent-propagation.sh` with `INTERVAL=1s` (its time runs from "
              "the write request).\n")
    md.append(table(["path", "saves", "p50", "p99", "max", "lost"], prop_rows))
    md.append(f"\n![propagation CDF]({prop_plot})\n")
    md.append("## 4. Fan-out: many watchers on one server\n")
    md.append("`hush-bench fanout` opens N `GET /api/v1/apps/{app}/watch` SSE streams (raw TCP, app token) on a fresh "
              "server, waits until each has received the current version, reads the server's RSS, saves once, and "
              "times, from the moment the save request is sent, until every stream carries the new version (the "
              "watchers are told before the save's own response arrives, which waits for its audit entry to be "
              "written: *after the response* is 0 then). Open-file limit raised to the hard limit (20,000 here) on both sides.\n")
    md.append(table(["watchers", "connect all", "RSS before", "RSS connected", "per watcher", "p50", "p99",
                     "all notified", "save response", "all, after the response", "RSS after close"], fan_rows))
    md.append(f"\n![fan-out CDF]({fan_plot})\n")
    if shared_rows:
        md.append("\n### A shared document included by 100 app environments\n")
        md.append("`hush-bench shared-fanout --envs 100 --per-env 10` on a fresh server: a shared document, 100 apps "
                  "each with a `staging` environment that includes it, an app token per environment and 10 raw-TCP watch "
                  "streams per environment (1,000 in all). One save of the shared document; from the moment its request "
                  "is sent, *told* is when each stream carries its environment's new revision, *read* is when a read of "
                  "the secrets with that stream's token (what a runner does before replacing its file) returns the new "
                  "value. The 1,000 reads go out at once from one process; the runner's file replacement (row (a) of "
                  "section 3) is not in these numbers.\n")
        md.append(table(["environments", "streams", "save response", "told p50", "p99", "all told", "read p50", "p99",
                         "all read", "RSS before → connected → after"], shared_rows))

    md.append("## 5. Start-up: `hush run -- true` against `env true`\n")
    md.append("hyperfine `-N --warmup 5`, server on 127.0.0.1 (one fetch of a 10-key app, the secrets file written, "
              "the child started and waited for, the encrypted fallback copy written).\n")
    md.append(table(["command", "mean", "median", "p99", "overhead"], st_rows))
    md.append(f"\n![start-up CDF]({st_plot})\n")
    md.append("## 6. Parsing: loading a secrets file\n")
    md.append("Same generated files as `../shared/bench/streamlit-secrets.py` (`make_toml`), timed like `timeit` "
              "(autorange ≥ 0.2 s, median of the repeats, per call). hush: `hush_core::Document::parse` on the text "
              "(*parse*); `hush_client::Secrets::from_path` + first lookup (*from_path*); the same plus `Secrets::env()`, "
              "the environment projection (*load*: what an app gets; the projection computes every variable's text but "
              "does not call `setenv`, which a Rust library cannot do safely; `hush run` hands the variables to the "
              "child at exec). Python, in the same interpreter: `hush.Secrets.from_path(p)[\"key_00000\"]` "
              "(*hush.secrets load*: read, parse, first lookup with its Python object; the hush-secrets wheel, release "
              "build) and `hush.Secrets.from_path(p).to_dict()` (every value as a Python object); `tomllib.loads` / "
              "`tomllib.load`; Streamlit: `Secrets()` + first access (watcher patched out), which parses and sets "
              "`os.environ` for every key (hush.secrets never changes `os.environ`); its `os.environ` export alone; "
              "one real first load.\n")
    md.append(table(["keys", "hush parse", "hush from_path", "hush load", "hush.secrets load", "hush.secrets to_dict",
                     "tomllib.loads", "tomllib.load", "st.secrets load", "st env export only", "st first load (real)",
                     "Streamlit / hush", "Streamlit / hush.secrets", "tomllib / hush"], parse_rows))
    md.append("\n## 7. Memory\n")
    md.append(table(["when", "hush serve RSS", "OpenBao RSS", "OpenBao / hush"], mem_rows))
    md.append("\n## Exact commands\n")
    md.append("```sh\nscripts/bench            # everything, ~15 min\nQUICK=1 scripts/bench    # smoke run, ~3 min\n"
              "ONLY=\"reads memory\" scripts/bench   # a subset\n```\n")
    md.append("What it runs (ports 18300–18350 on 127.0.0.1):\n")
    md.append("```sh\n"
              "hush admin create-owner --name bench --data-dir $WORK/hush-main        # HUSH_OWNER_PASSWORD\n"
              "hush serve --listen 127.0.0.1:18300 --data-dir $WORK/hush-main --metrics-listen off\n"
              "hush-bench login / seed                                                # apps + tokens via hush-client\n"
              "bao server -dev -dev-listen-address=127.0.0.1:18310 -dev-root-token-id=root -dev-no-store-token -log-level=warn\n"
              "wrk -t2 -c32 -d$DURATION --latency -s bench/wrk/read_hush.lua http://127.0.0.1:18300/api/v1/apps/read10/secrets\n"
              "wrk -t2 -c32 -d$DURATION --latency -s bench/wrk/read_bao.lua  http://127.0.0.1:18310/v1/secret/data/read10\n"
              "wrk -t32 -c32 -d$DURATION --latency -s bench/wrk/write_hush.lua http://127.0.0.1:18300   # and :18301 (PostgreSQL)\n"
              "wrk -t32 -c32 -d$DURATION --latency -s bench/wrk/write_bao.lua  http://127.0.0.1:18310\n"
              "hush serve … --database-url postgres://postgres@127.0.0.1:5432/hush_bench_$$   # HUSH_MASTER_KEY=<32 random bytes, base64>\n"
              "hush run --app prop --on-change none    -- sh -c 'env > …; exec sleep 3600'\n"
              "hush run --app prop --on-change restart -- sh -c 'echo \"$(date +%s.%N) $bench_value\" >> …; exec sleep 3600'\n"
              "hush run --app prop -- streamlit run bench/streamlit_app.py --server.headless true …  # + bench/st_session.py\n"
              "hush-bench propagate --app prop --file … [--stamped] --trials $TRIALS\n"
              "INTERVAL=1s TRIALS=$AGENT_TRIALS bash ../shared/bench/openbao-agent-propagation.sh\n"
              "hush-bench fanout --app fan --watchers 1000|10000 --pid <server pid>\n"
              "hyperfine -N --warmup 5 --runs 100 'env true' 'hush run --app prop -- true'\n"
              "hush-bench parse --keys 10,1000,10000;  python bench/parse_py.py --keys 10,1000,10000\n"
              "```\n")
    analysis = os.path.join(ROOT, "bench", "ANALYSIS.md")
    if os.path.exists(analysis):
        md.append(open(analysis).read().rstrip() + "\n")
    text = "\n".join(md)
    if "--splice-parse" in sys.argv:
        note = (f"Measured in a run of its own (`ONLY=parse scripts/bench`), {machine.get('date', '?')}, git "
                f"{machine.get('hush_rev', '?')}, load average {' '.join(machine.get('loadavg_start', []))} at the "
                "start; the other sections are from the full run above.\n")
        text = splice_parse(open(os.path.join(ROOT, "BENCHMARKS.md")).read(), text, note)
    with open(os.path.join(ROOT, "BENCHMARKS.md"), "w") as f:
        f.write(text)
    print(f"wrote BENCHMARKS.md and {PLOTS}/", file=sys.stderr)


PARSE_ROW_PREFIXES = ("| Parsing ", "| hush.secrets (Python)")
PARSE_SECTION = "## 6. Parsing"


def section(text, title):
    """(start, end) of the markdown section starting with `title` (up to the next `## `)."""
    start = text.index(title)
    end = text.find("\n## ", start + len(title))
    return start, (len(text) if end < 0 else end + 1)


def splice_parse(old, new, note):
    """`old` with its parsing summary rows and section 6 taken from `new`."""
    new_rows = [line for line in new.splitlines() if line.startswith(PARSE_ROW_PREFIXES)]
    out, placed = [], False
    for line in old.splitlines():
        if line.startswith(PARSE_ROW_PREFIXES):
            if not placed:
                out.extend(new_rows)
                placed = True
            continue
        out.append(line)
    old = "\n".join(out) + "\n"
    s, e = section(new, PARSE_SECTION)
    heading, rest = new[s:e].split("\n", 1)
    body = f"{heading}\n\n{note}{rest}"
    s, e = section(old, PARSE_SECTION)
    return old[:s] + body + old[e:]


if __name__ == "__main__":
    main()
