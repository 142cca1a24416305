"""The soak's printed summary and its results files, JSON and Markdown (bench/soak.py). Not a bench."""

from _harness import write_results


def markdown(r: dict) -> str:
    lines = [
        f"# Ingest soak {r['at'][:19]}Z — {r['machine']['cpus']} CPUs, load average "
        f"{min(r['load_avg'], default=0):.1f}–{max(r['load_avg'], default=0):.1f} (machine {r['machine_busy_pct']:.0f}% busy)",
        "",
        f"{r['minutes']:g} min, {r['sites_per_step']} sites of {r['miners_per_site']:,} miners more every "
        f"{r['step_minutes']:g} min, gunicorn {r['gunicorn_workers']} workers, Celery worker concurrency {r['celery_concurrency']}.",
        "",
        "| sites | records/s | upload p95 ms | ingest lag p99 / max s | failed uploads | load | kept up |",
        "|---:|---:|---:|---:|---:|---:|:--|",
    ]
    for s in r["steps"]:
        lines.append(
            f"| {s['sites']} | {s['records_per_sec']:,.0f} | {s['upload_p95_ms']:.0f} | {s['ingest_lag_p99_sec']:.1f} / "
            f"{s['ingest_lag_max_sec']:.1f} | {s['failed_uploads']} | {s['load_avg']:.1f} | { {True: 'yes', False: 'NO', None: 'no upload yet'}[s['kept_up']] } |"
        )
    u, copy = r["upload_ms"], r["bare_copy"]
    lines += [
        "",
        f"- Highest rate kept (lag < 60 s, no error): **{r['best']['records_per_sec']:,.0f} records/s** at {r['best']['sites']} sites"
        if r["best"]
        else "- No step kept up.",
        f"- Uploads: {r['uploads']:,} ({r['failed_uploads']} failed), p50 {u['p50']:.0f} ms, p95 {u['p95']:.0f} ms, p99 {u['p99']:.0f} ms; "
        f"{r['records_accepted']:,} records accepted.",
        f"- Rollups: {r['rollup']['runs']} runs, longest {r['rollup']['max_sec']:.2f} s; the 15m tier was behind its last "
        + (
            f"closed bucket by at most {r['rollup']['lag_max_sec']:.0f} s, {r['rollup']['lag_end_sec']:.0f} s at the end."
            if r["rollup"]["lag_max_sec"] is not None
            else "closed bucket: n/a (no 15m bucket closed during the run)."
        ),
        f"- Telemetry tables grew {r['db_growth_mb_per_million']} MB per million records (every tier, indexes included).",
    ]
    if copy:
        lines.append(
            f"- Bare COPY + upsert of the same {copy['records']:,} records, same run: {copy['records_per_sec']:,.0f} records/s, "
            f"{copy['cpu_sec_per_1000_records']:.3f} CPU-s per 1,000 (client + backend). Product: "
            f"{r.get('server_cpu_sec_per_1000_records')} CPU-s per 1,000 (gunicorn + backends); ratios: rate "
            f"{r.get('ratio_rate_vs_copy')}×, CPU {r.get('ratio_cpu_vs_copy')}×."
        )
    lines += [
        f"- Verdict: {r['verdict']}.",
        "",
        "| process | CPU s | CPU % | RSS max MB | processes |",
        "|:--|---:|---:|---:|---:|",
    ]
    for g in r["processes"].values():
        lines.append(
            f"| {g['role']} | {g['cpu_sec']:.1f} | {g['cpu_pct']:.0f} | {g['rss_max_mb']:.0f} | {g['processes']} |"
        )
    return "\n".join(lines) + "\n"


def print_and_write(r: dict) -> None:
    text = markdown(r)
    print(text)
    out = write_results("soak", r)
    md = out.with_suffix(".md")
    md.write_text(text)
    print(f"  written to {md}")
