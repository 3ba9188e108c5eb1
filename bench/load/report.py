"""The report: the latency table, bot against bare Bolt; every ack to a CSV file with the slow
seconds named; the run against the targets."""

from __future__ import annotations

from pathlib import Path

from bench.load.generator import Stats, merged

TARGET_RATIO_P50, TARGET_P99_MS, TARGET_RSS_MB = 0.5, 20.0, 150.0


def table(results: dict[str, dict[str, Stats]], kinds: tuple[str, ...]) -> str:
    rows = ["kind      target      p50 ms   p99 ms  p99.9 ms   max ms    req/s     n  errors"]
    bot_all, bare_all = merged(results["bot"]), merged(results["bare"])
    for kind in (*kinds, "all"):
        bot = results["bot"][kind] if kind != "all" else bot_all
        bare = results["bare"][kind] if kind != "all" else bare_all
        for name, s in (("bot", bot), ("bare Bolt", bare)):
            errors = ", ".join(f"{k}: {v}" for k, v in s.errors.items()) or "0"
            rows.append(f"{kind:9} {name:10} {s.pct(0.5):8.2f} {s.pct(0.99):8.2f} {s.pct(0.999):9.2f} "
                        f"{s.pct(1.0):8.2f} {s.throughput:8.1f} {len(s.latencies):5d}  {errors}")
        ratio = [bot.pct(q) / bare.pct(q) if bare.pct(q) else float("nan") for q in (0.5, 0.99, 0.999, 1.0)]
        tput = bot.throughput / bare.throughput if bare.throughput else float("nan")
        rows.append(f"{kind:9} {'bot/bare':10} {ratio[0]:8.2f} {ratio[1]:8.2f} {ratio[2]:9.2f} "
                    f"{ratio[3]:8.2f} {tput:8.2f}")
    return "\n".join(rows)


def timeline(stats: dict[str, Stats], path: Path, slow_ms: float) -> str:
    """Write every ack (kind, sent at s, latency ms) to `path`; a line counting the acks slower
    than `slow_ms` in each second of the run."""
    rows = sorted((t, kind, lat) for kind, s in stats.items() for t, lat in zip(s.started, s.latencies, strict=True))
    path.write_text("kind,sent_s,latency_ms\n" + "".join(f"{k},{t:.4f},{lat * 1000:.3f}\n" for t, k, lat in rows))
    per_second: dict[int, int] = {}
    for t, _, lat in rows:
        if lat * 1000 > slow_ms:
            per_second[int(t)] = per_second.get(int(t), 0) + 1
    spots = " ".join(f"{sec}s:{n}" for sec, n in sorted(per_second.items())) or "none"
    return f"acks over {slow_ms:g} ms per second of the run: {spots} (all acks: {path})"


def targets(bot_all: Stats, bare_all: Stats, *, errors: int, log_errors: int, work_ok: bool, rss: dict[str, float],
            rss_requests: int, sent: int) -> str:
    """The run against the README's targets, one line each: met or MISSED, and the figures."""
    checks = [
        (f"ack p50 ≤ {TARGET_RATIO_P50:g} × bare Bolt's", bot_all.pct(0.5) <= TARGET_RATIO_P50 * bare_all.pct(0.5),
         f"{bot_all.pct(0.5):.2f} vs {bare_all.pct(0.5):.2f} ms ({bot_all.pct(0.5) / bare_all.pct(0.5):.2f}×)"),
        (f"ack p99 ≤ {TARGET_P99_MS:g} ms", bot_all.pct(0.99) <= TARGET_P99_MS, f"{bot_all.pct(0.99):.2f} ms"),
        ("no errors", errors == 0 and log_errors == 0, f"{errors} bad answers, {log_errors} ERROR lines"),
        ("all the work after the acks done", work_ok, "every command, click and quorum accounted for"
         if work_ok else "see above"),
    ]
    if rss_requests and sent >= rss_requests:
        checks.append((f"RSS ≤ {TARGET_RSS_MB:g} MB per process after {rss_requests} requests",
                       max(rss.values()) <= TARGET_RSS_MB, ", ".join(f"{k} {v:.1f} MB" for k, v in rss.items())))
    lines = ["\ntargets (this run; 'ack latency unchanged by Mida latency' needs a run with --mida-latency):"]
    lines += [f"  {'met   ' if met else 'MISSED'}  {what}: {detail}" for what, met, detail in checks]
    return "\n".join(lines)
