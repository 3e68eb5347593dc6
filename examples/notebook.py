#!/usr/bin/env python3
"""Read mdingest's warehouse into pandas and chart it.

A research-notebook starting point: candles of one symbol on every exchange
(resampled in SQL from the stored 1m candles), the cross-exchange range of
their closes, and the quality scores of the validated batches, saved as one
PNG. Each cell-sized function can be pasted into Jupyter as it is.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mdingest \\
        python3 examples/notebook.py --symbol BTC/USDT --hours 48 --out mdingest.png

Needs Python 3.9+ with pandas (1.5+), psycopg2 and matplotlib (3.6+)
(Debian 12: apt-get install python3-pandas python3-psycopg2
python3-matplotlib; pip: pip install pandas psycopg2-binary matplotlib).
Runs on plain PostgreSQL and on TimescaleDB alike.
"""

import argparse
import os
import sys
from datetime import datetime
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")  # no display needed: render straight to a file

import matplotlib.dates as mdates  # noqa: E402  (after the backend is chosen)
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import psycopg2  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

# Buckets --bucket auto chooses from: the finest that keeps the chart
# under MAX_BUCKETS points.
BUCKETS = [("1 minute", 1), ("5 minutes", 5), ("15 minutes", 15), ("1 hour", 60), ("4 hours", 240), ("1 day", 1440)]
MAX_BUCKETS = 120

# The first and last stored 1m candle of the symbol in the window.
SPAN_SQL = """
SELECT min(ts) AS first, max(ts) AS last
FROM market.candles
WHERE symbol = %(symbol)s AND timeframe = '1m'
  AND ts >= now() - %(hours)s * INTERVAL '1 hour'
"""

# OHLCV per bucket and exchange; the bucket origin matches TimescaleDB's
# time_bucket (see sql/candles_resampled.sql).
CANDLES_SQL = """
SELECT date_bin(%(bucket)s::interval, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       exchange,
       (array_agg(open ORDER BY ts))[1] AS open,
       max(high) AS high,
       min(low) AS low,
       (array_agg(close ORDER BY ts DESC))[1] AS close,
       sum(volume) AS volume
FROM market.candles
WHERE symbol = %(symbol)s AND timeframe = '1m'
  AND ts >= now() - %(hours)s * INTERVAL '1 hour'
GROUP BY 1, 2
ORDER BY 1, 2
"""

# Quality reports of the symbol per bucket, exchange and data type. The
# daemon writes one report per validated batch; a candle report's data type
# names its timeframe ("ohlcv:1m"), the others are ticker, orderbook and
# trades.
QUALITY_SQL = """
SELECT date_bin(%(bucket)s::interval, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       exchange, data_type,
       avg(score) AS score,
       count(*) AS reports,
       count(*) FILTER (WHERE NOT passed) AS failed
FROM ops.quality_reports
WHERE symbol = %(symbol)s AND ts >= now() - %(hours)s * INTERVAL '1 hour'
GROUP BY 1, 2, 3
ORDER BY 1, 2, 3
"""


def read_frame(conn, sql, params):
    """Run sql and return its rows as a DataFrame (numeric -> float, time -> UTC)."""
    with conn.cursor() as cur:
        cur.execute(sql, params)
        columns = [c.name for c in cur.description]
        frame = pd.DataFrame(cur.fetchall(), columns=columns)
    for col in frame.columns:
        # numeric arrives as Decimal (exact, as stored); charts want floats.
        if frame[col].map(lambda v: isinstance(v, Decimal)).any():
            frame[col] = frame[col].astype(float)
        # timestamptz arrives with a fixed-offset tzinfo; a UTC datetime
        # column gives pandas and matplotlib a proper time axis.
        elif frame[col].map(lambda v: isinstance(v, datetime)).any():
            frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def auto_bucket(first, last):
    """The finest bucket that keeps the span under MAX_BUCKETS points."""
    if first is None or last is None:
        return BUCKETS[0][0]
    minutes = (last - first).total_seconds() / 60 + 1
    for name, size in BUCKETS:
        if minutes / size <= MAX_BUCKETS:
            return name
    return BUCKETS[-1][0]


def load(database_url, symbol, hours, bucket="auto"):
    """Candles and quality reports of symbol over the last hours, per bucket."""
    params = {"symbol": symbol, "hours": hours}
    conn = psycopg2.connect(database_url)
    try:
        if bucket == "auto":
            span = read_frame(conn, SPAN_SQL, params)
            bucket = auto_bucket(span["first"][0], span["last"][0])
        params["bucket"] = bucket
        candles = read_frame(conn, CANDLES_SQL, params)
        quality = read_frame(conn, QUALITY_SQL, params)
    finally:
        conn.close()
    return candles, quality, bucket


def _time_axis(ax):
    locator = mdates.AutoDateLocator(minticks=4, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))


def _plain_numbers(ax, decimals=0):
    # No offset or scientific notation ("+3.14e3"): the values as read,
    # with thousands separators, on a handful of ticks.
    ax.yaxis.set_major_locator(MaxNLocator(nbins=5, steps=[1, 2, 5, 10]))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.{decimals}f}"))


def _legend_outside(ax, title):
    # Right of the axes, so no line hides behind it; constrained layout
    # makes room for it inside the figure.
    ax.legend(title=title, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0,
              fontsize="small", title_fontsize="small", frameon=False)


def plot(candles, quality, symbol, bucket):
    """The three panels as one matplotlib figure."""
    closes = candles.pivot(index="bucket", columns="exchange", values="close").sort_index()
    dispersion_bps = (closes.max(axis=1) - closes.min(axis=1)) / closes.mean(axis=1) * 10_000
    marker = "o" if len(closes) <= 40 else None  # a lone bucket still shows

    fig, (ax_price, ax_disp, ax_quality) = plt.subplots(
        3, 1, figsize=(12, 10), sharex=True, layout="constrained", height_ratios=[3, 2, 2])
    fig.suptitle(f"{symbol}, {bucket} buckets (UTC)")

    for exchange in closes.columns:
        ax_price.plot(closes.index, closes[exchange], marker=marker, markersize=3, linewidth=1.2, label=exchange)
    ax_price.set_title("last close per bucket", loc="left", fontsize="medium")
    ax_price.set_ylabel(f"price ({symbol.split('/')[-1]})")
    _plain_numbers(ax_price, decimals=2 if closes.max().max() < 10 else 0)
    ax_price.grid(alpha=0.3)
    _legend_outside(ax_price, "exchange")

    ax_disp.plot(dispersion_bps.index, dispersion_bps, color="tab:red", marker=marker, markersize=3, linewidth=1.2)
    ax_disp.set_title("cross-exchange range of closes: (highest - lowest) / mean", loc="left", fontsize="medium")
    ax_disp.set_ylabel("basis points")
    ax_disp.set_ylim(bottom=0, top=max(1.0, dispersion_bps.max() * 1.15))
    _plain_numbers(ax_disp, decimals=1 if dispersion_bps.max() < 10 else 0)
    ax_disp.grid(alpha=0.3)

    plot_quality(ax_quality, quality)
    for ax in (ax_price, ax_disp, ax_quality):
        _time_axis(ax)
    ax_quality.set_xlabel("time (UTC)")
    return fig


def plot_quality(ax, quality):
    """Per data type, the worst exchange's mean score in each bucket, and a
    summary of the batches that failed."""
    ax.set_title("quality score: worst exchange per data type", loc="left", fontsize="medium")
    ax.set_ylabel("score (0-1)")
    ax.grid(alpha=0.3)
    if quality.empty:
        ax.text(0.5, 0.5, "no quality reports in this window", transform=ax.transAxes, ha="center", va="center")
        ax.set_ylim(0, 1.05)
        return
    worst = quality.groupby(["bucket", "data_type"])["score"].min().unstack("data_type").sort_index()
    # Scores are mostly exactly 1, so lines overlap: hollow markers of
    # different shapes and sizes keep each data type visible.
    shapes = ["o", "s", "^", "D", "v", "P"]
    for i, data_type in enumerate(worst.columns):
        ax.plot(worst.index, worst[data_type], marker=shapes[i % len(shapes)], markersize=max(3, 9 - 2 * i),
                markerfacecolor="none", linewidth=1.2, label=data_type)
    low = float(worst.min().min())
    # Scores sit near 1: zoom in so that lines apart from 1 are visible.
    ax.set_ylim(min(0.9, low - 0.05), 1.02)
    _plain_numbers(ax, decimals=2)

    reports, failed = int(quality["reports"].sum()), int(quality["failed"].sum())
    summary = f"{reports:,} batches checked, {failed:,} below the quality thresholds"
    if failed:
        by = quality[quality["failed"] > 0].groupby(["exchange", "data_type"])["failed"].sum()
        by = by.sort_values(ascending=False).head(3)
        summary += ": " + ", ".join(f"{ex} {dt} ({n})" for (ex, dt), n in by.items())
    ax.text(0.01, 0.04, summary, transform=ax.transAxes, fontsize="small", va="bottom",
            bbox={"facecolor": "white", "alpha": 0.8, "edgecolor": "none"})
    _legend_outside(ax, "data type")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbol", default="BTC/USDT")
    parser.add_argument("--hours", type=int, default=24, help="how far back to read")
    parser.add_argument("--bucket", default="auto",
                        help="a PostgreSQL interval, e.g. '15 minutes'; auto: the finest of "
                             + ", ".join(b for b, _ in BUCKETS) + f" with at most {MAX_BUCKETS} buckets")
    parser.add_argument("--out", default="mdingest.png", help="PNG file to write")
    args = parser.parse_args(argv)

    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print("notebook.py: set DATABASE_URL (postgres://user@host:5432/db)", file=sys.stderr)
        return 2

    candles, quality, bucket = load(database_url, args.symbol, args.hours, args.bucket)
    if candles.empty:
        print(f"notebook.py: no 1m candles of {args.symbol} in the last {args.hours}h", file=sys.stderr)
        return 1
    fig = plot(candles, quality, args.symbol, bucket)
    fig.savefig(args.out, dpi=100)
    plt.close(fig)
    print(f"{len(candles)} candle rows, {len(quality)} quality rows, bucket {bucket} -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
