"""Server-rendered SVG charts: an SLA report's daily availability bars and downtime minutes by
cause, and stacked counts per time bucket (the rule backtest's hits per hour or day). Plain SVG
strings (no JavaScript), so the same chart is inline in a page and in the PDF (WeasyPrint draws
inline SVG). Every text is escaped; the only inputs are dates, labels and numbers."""

from html import escape

GOOD, FAIR, BAD, NONE = "#2e7d32", "#f9a825", "#c62828", "#b0b7bf"
PLANNED, UNPLANNED, UNMEASURED = "#1565c0", "#c62828", "#90a4ae"
FONT = 'font-family="DejaVu Sans, sans-serif"'
AXIS_FLOORS = (99.0, 98.0, 95.0, 90.0, 80.0, 50.0, 0.0)


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".") if value % 1 else f"{value:.0f}"


def axis_floor(values: list[float]) -> float:
    """The highest floor still below the worst day, so a month at 99.x % does not draw full bars."""
    worst = min(values, default=100.0)
    return next((f for f in AXIS_FLOORS if f <= worst - 0.5 or f == 0.0), 0.0)


def availability_svg(days: list[dict], *, width: int = 680, height: int = 210) -> str:
    left, right, top, bottom = 44, 8, 12, 34
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [d["availability_pct"] for d in days if d["availability_pct"] is not None]
    floor = axis_floor(values)
    span = 100.0 - floor
    n = max(len(days), 1)
    step = plot_w / n
    bar_w = max(step * 0.72, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="Availability per day" class="sla-chart" id="availability-chart">',
    ]
    for tick in (floor, floor + span / 2, 100.0):
        y = top + plot_h * (1 - (tick - floor) / span)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#d5dbe1" stroke-width="0.6"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 3:.1f}" font-size="9" text-anchor="end" fill="#4a5561" {FONT}>'
            f"{escape(_fmt(tick))} %</text>"
        )
    label_every = 1 if n <= 16 else (2 if n <= 32 else max(n // 12, 1))
    for i, day in enumerate(days):
        x = left + i * step + (step - bar_w) / 2
        pct = day["availability_pct"]
        title = f"{day['date']:%Y-%m-%d}: " + ("no measured time" if pct is None else f"{pct:.3f} % available")
        if pct is None:
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - 3:.1f}" width="{bar_w:.1f}" height="3" fill="{NONE}">'
                f"<title>{escape(title)}</title></rect>"
            )
        else:
            h = plot_h * max(min((pct - floor) / span, 1.0), 0.0)
            color = GOOD if pct >= 99.5 else (FAIR if pct >= 95.0 else BAD)
            parts.append(
                f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{max(h, 0.8):.1f}" '
                f'fill="{color}"><title>{escape(title)}</title></rect>'
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 13}" font-size="8.5" text-anchor="middle" '
                f'fill="#4a5561" {FONT}>{day["date"]:%d %b}</text>'
            )
    parts.append(
        f'<text x="{left}" y="{height - 4}" font-size="8.5" fill="#4a5561" {FONT}>Availability per UTC day '
        f"(measured time only; grey: nothing measured). Axis from {escape(_fmt(floor))} %.</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def causes_svg(causes: list[dict], *, width: int = 680, row_h: int = 22) -> str:
    label_w, value_w, top = 250, 80, 6
    height = top + row_h * len(causes) + 22
    bar_max = width - label_w - value_w - 10
    biggest = max((c["minutes"] for c in causes), default=0.0) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="Downtime minutes by cause" class="sla-chart" id="causes-chart">',
    ]
    for i, c in enumerate(causes):
        y = top + i * row_h
        unmeasured = c["cause"] == "unmeasured"
        color = UNMEASURED if unmeasured else (PLANNED if c["planned"] else UNPLANNED)
        kind = "not downtime" if unmeasured else ("planned" if c["planned"] else "unplanned")
        w = bar_max * c["minutes"] / biggest
        parts.append(
            f'<text x="0" y="{y + 14}" font-size="10" fill="#1d2733" {FONT}>{escape(c["label"])} '
            f'<tspan fill="#6b7682" font-size="8.5">({kind})</tspan></text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 4}" width="{max(w, 0.8):.1f}" height="{row_h - 9}" fill="{color}" rx="2"/>'
        )
        parts.append(
            f'<text x="{label_w + max(w, 0.8) + 6:.1f}" y="{y + 14}" font-size="10" fill="#1d2733" {FONT}>'
            f"{c['minutes']:,.1f} min</text>"
        )
    parts.append(
        f'<text x="0" y="{height - 6}" font-size="8.5" fill="#4a5561" {FONT}>Downtime minutes by cause over the '
        "period, summed over miners. Blue: planned; red: unplanned; grey: unmeasured.</text>"
    )
    parts.append("</svg>")
    return "".join(parts)


def counts_svg(
    buckets: list[dict],
    series: list[tuple[str, str, str]],
    *,
    caption: str,
    chart_id: str,
    width: int = 680,
    height: int = 210,
) -> str:
    """Stacked bars of counts: `buckets` are {"label", "title", "counts": {key: n}} in time order,
    `series` (key, label, colour) in stacking order from the bottom."""
    left, right, top, bottom = 44, 8, 12, 46
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(b["counts"].get(k, 0) for k, _, _ in series) for b in buckets]
    biggest = max(totals, default=0) or 1
    biggest += biggest % 2 if biggest > 1 else 0  # an even top: the middle tick is a whole count
    n = max(len(buckets), 1)
    step = plot_w / n
    bar_w = max(step * 0.72, 1.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(caption)}" class="counts-chart" id="{escape(chart_id)}">',
    ]
    for tick in (0, biggest / 2, biggest):
        y = top + plot_h * (1 - tick / biggest)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#d5dbe1" stroke-width="0.6"/>'
        )
        parts.append(
            f'<text x="{left - 6}" y="{y + 3:.1f}" font-size="9" text-anchor="end" fill="#4a5561" {FONT}>'
            f"{escape(_fmt(tick))}</text>"
        )
    label_every = 1 if n <= 16 else (2 if n <= 32 else max(n // 12, 1))
    for i, bucket in enumerate(buckets):
        x = left + i * step + (step - bar_w) / 2
        y = top + plot_h
        for key, label, color in series:
            count = bucket["counts"].get(key, 0)
            if not count:
                continue
            h = plot_h * count / biggest
            y -= h
            title = f"{bucket['title']}: {count} {label}"
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{max(h, 0.8):.1f}" fill="{color}">'
                f"<title>{escape(title)}</title></rect>"
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - bottom + 13}" font-size="8.5" text-anchor="middle" '
                f'fill="#4a5561" {FONT}>{escape(bucket["label"])}</text>'
            )
    legend_x = left
    for _key, label, color in series:
        parts.append(f'<rect x="{legend_x}" y="{height - 24}" width="9" height="9" fill="{color}"/>')
        parts.append(
            f'<text x="{legend_x + 13}" y="{height - 16}" font-size="8.5" fill="#1d2733" {FONT}>{escape(label)}</text>'
        )
        legend_x += 26 + 6 * len(label)
    parts.append(f'<text x="{left}" y="{height - 4}" font-size="8.5" fill="#4a5561" {FONT}>{escape(caption)}</text>')
    parts.append("</svg>")
    return "".join(parts)
