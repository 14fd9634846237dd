"""Turns the JSON lines of one bench/peers.sh run into the Markdown table of BENCHMARKS.md.

Each results/NAME.json holds one loadgen line. Phases run in several rounds report the median
round, so one disturbed round on a shared machine does not decide the figure.
"""

import argparse
import json
import os
import pathlib
import platform
import re
import statistics
import subprocess
import textwrap

BEGIN = "<!-- whole-server:begin -->"
END = "<!-- whole-server:end -->"


def load(results, name):
    return json.loads((results / f"{name}.json").read_text())


def rounds(results, prefix):
    """Every round of one phase, in order."""
    found = sorted(results.glob(f"{prefix}-*.json"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    return [json.loads(p.read_text()) for p in found]


def median(runs, key):
    return statistics.median(run[key] for run in runs)


def machine():
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = re.search(r"Model name:\s*(.+)", lscpu)
    meminfo = pathlib.Path("/proc/meminfo").read_text()
    total_kib = int(re.search(r"MemTotal:\s*(\d+)", meminfo).group(1))
    return {
        "cpus": os.cpu_count(),
        "model": model.group(1).strip() if model else "unknown",
        "memory": f"{total_kib / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
    }


def ratio(rampart, peer):
    return rampart / peer if peer else float("inf")


def fmt(value, digits=1):
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def verdict_at_least(r, goal):
    if r >= goal:
        return "met"
    if goal == 1.0 and r >= 0.9:
        return "not met (within 10%)"
    return "missed"


def table(results):
    smtp_r, smtp_p = rounds(results, "smtp-rampart"), rounds(results, "smtp-postfix")
    pop_r, pop_d = rounds(results, "pop3-rampart"), rounds(results, "pop3-dovecot")
    imap_r, imap_d = load(results, "imap-rampart"), load(results, "imap-dovecot")
    idle_r, idle_d = load(results, "idle-rampart"), load(results, "idle-dovecot")
    idle_m = load(results, "idle-rampart-mmap")

    rows = []

    def row(metric, r, p, target="", digits=1):
        rows.append(f"| {metric} | {fmt(r, digits)} | {fmt(p, digits)} | "
                    f"{ratio(r, p):.2f} | {target} |")

    smtp_rate = (median(smtp_r, "messages_per_sec"), median(smtp_p, "messages_per_sec"))
    row("SMTP acceptance, messages/s (higher is better)", *smtp_rate,
        f"≥ 2.00: {verdict_at_least(ratio(*smtp_rate), 2.0)}")
    row("SMTP end of data → 250, p50 ms", median(smtp_r, "p50_ms"), median(smtp_p, "p50_ms"),
        digits=2)
    row("SMTP end of data → 250, p99 ms", median(smtp_r, "p99_ms"), median(smtp_p, "p99_ms"),
        digits=2)

    imap_rate = (imap_r["per_sec"], imap_d["per_sec"])
    row("IMAP command mix, ops/s (higher is better)", *imap_rate,
        f"≥ 1.00: {verdict_at_least(ratio(*imap_rate), 1.0)}")
    row("IMAP command mix, p50 ms", imap_r["p50_ms"], imap_d["p50_ms"], digits=2)
    row("IMAP command mix, p99 ms", imap_r["p99_ms"], imap_d["p99_ms"], digits=2)
    for name in ("select", "fetch_flags", "fetch_body", "store"):
        row(f"IMAP `{name}` p50 ms", imap_r["by_command"][name]["p50_ms"],
            imap_d["by_command"][name]["p50_ms"], digits=2)

    pop_rate = (median(pop_r, "messages_per_sec"), median(pop_d, "messages_per_sec"))
    row("POP3 RETR of the maildrop, messages/s (higher is better)", *pop_rate,
        f"≥ 1.00: {verdict_at_least(ratio(*pop_rate), 1.0)}")

    pss = (idle_r["pss_kib_per_conn"], idle_d["pss_kib_per_conn"])
    rss = (idle_r["rss_kib_per_conn"], idle_d["rss_kib_per_conn"])
    memory_target = f"≤ 0.10: {'met' if ratio(*pss) <= 0.10 else 'missed'}"
    row("Idle IMAP connection, KiB each (PSS; lower is better)", *pss, memory_target)
    row("Idle IMAP connection, KiB each (RSS; lower is better)", *rss)
    row("Idle IMAP connection, KiB each (PSS), Rampart with "
        "`MALLOC_MMAP_THRESHOLD_=262144` (diagnostic)", idle_m["pss_kib_per_conn"], pss[1])

    header = ("| metric | Rampart | Postfix (SMTP) / Dovecot (IMAP, POP3) | ratio R/P | target |\n"
              "|---|---:|---:|---:|---|")
    context = (
        f"SMTP: {smtp_r[0]['messages']} messages of {smtp_r[0]['size']} octets per round on "
        f"{smtp_r[0]['concurrency']} connections, median of {len(smtp_r)} rounds "
        f"(Rampart rounds: {', '.join(fmt(r['messages_per_sec']) for r in smtp_r)}; "
        f"Postfix: {', '.join(fmt(r['messages_per_sec']) for r in smtp_p)} messages/s). "
        f"IMAP: {imap_r['clients']} clients for {imap_r['seconds']:.0f} s on one INBOX of "
        f"{imap_r['exists']} messages (Dovecot: {imap_d['exists']}); errors "
        f"{imap_r['errors']} / {imap_d['errors']}. "
        f"POP3: one session retrieving {pop_r[0]['messages']} messages, median of "
        f"{len(pop_r)} rounds. Idle: {idle_r['connections']} connections in IDLE "
        f"(Rampart {idle_r['before_pss_kib']:,} → {idle_r['after_pss_kib']:,} KiB PSS, one "
        f"process; Dovecot {idle_d['before_pss_kib']:,} → {idle_d['after_pss_kib']:,} KiB PSS "
        f"over {idle_d['before_processes']} → {idle_d['after_processes']} processes)."
    )
    disk = [load(results, f"disk-{when}") for when in ("before", "after")]
    context += (
        f" Disk: one fdatasync of a 4 KiB append took {disk[0]['p50_ms']:.2f} ms (p50; "
        f"p90 {disk[0]['p90_ms']:.2f}) before the SMTP rounds and {disk[1]['p50_ms']:.2f} ms "
        f"(p90 {disk[1]['p90_ms']:.2f}) after them."
    )
    return header + "\n" + "\n".join(rows), context


def wrap(paragraph):
    """Markdown prose within 100 columns; words (and inline code) are never split."""
    return textwrap.fill(paragraph, width=100, break_long_words=False, break_on_hyphens=False)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--results", type=pathlib.Path, required=True)
    parser.add_argument("--benchmarks", type=pathlib.Path, required=True)
    parser.add_argument("--write", default="1")
    parser.add_argument("--command", required=True)
    parser.add_argument("--postfix", required=True)
    parser.add_argument("--dovecot", required=True)
    parser.add_argument("--rampart", required=True)
    parser.add_argument("--params", required=True)
    parser.add_argument("--loadavg", required=True, help="load average at the start")
    parser.add_argument("--loadavg-end", required=True)
    parser.add_argument("--date", required=True, help="when the run ended, as printed")
    args = parser.parse_args()

    rows, context = table(args.results)
    m = machine()
    header = (
        f"Run of {args.date} on {m['cpus']} CPUs ({m['model']}), {m['memory']} of memory, "
        f"Linux {m['kernel']}; load average {args.loadavg} at the start and "
        f"{args.loadavg_end} at the end. {args.rampart}; Postfix {args.postfix}; "
        f"Dovecot {args.dovecot}. Parameters: {args.params}."
    )
    block = "\n".join([
        BEGIN,
        wrap(header),
        "",
        "```sh",
        args.command,
        "```",
        "",
        rows,
        "",
        wrap(context),
        END,
    ])
    print(block)

    if args.write != "1":
        return
    text = args.benchmarks.read_text() if args.benchmarks.exists() else (
        "# Benchmarks\n\n## Whole server\n\n" + BEGIN + "\n" + END + "\n\n"
        "## Parsers (side by side with peer crates)\n\nSee benches/README.md\n")
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{args.benchmarks}: the markers {BEGIN} and {END} are missing")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    args.benchmarks.write_text(head + block + tail)


if __name__ == "__main__":
    main()
