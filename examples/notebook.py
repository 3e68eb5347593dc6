#!/usr/bin/env python3
"""Read mdingest's warehouse into pandas and chart it.

A research-notebook starting point: hourly candles of one symbol on every
exchange (resampled in SQL from the stored 1m candles), the cross-exchange
spread of closes, and the quality scores of the validated batches, saved as
one PNG. Each cell-sized function can be pasted into Jupyter as it is.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mdingest \
        python3 examples/notebook.py --symbol BTC/USDT --hours 48 --out mdingest.png

Needs pandas, psycopg2 and matplotlib (Debian: apt-get install python3-pandas
python3-psycopg2 python3-matplotlib; pip: pandas psycopg2-binary matplotlib).
Runs on plain PostgreSQL and on TimescaleDB alike.
"""

import argparse
import os
import sys
from datetime import datetime
from decimal import Decimal

import matplotlib

matplotlib.use("Agg")  # no display needed: render straight to a file

import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
import pandas as pd  # noqa: E402
import psycopg2  # noqa: E402

# Closes per bucket and exchange; the bucket origin matches TimescaleDB's
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

QUALITY_SQL = """
SELECT date_bin(%(bucket)s::interval, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') AS bucket,
       exchange, data_type, avg(score) AS score,
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


def load(database_url, symbol, hours, bucket):
    params = {"symbol": symbol, "hours": hours, "bucket": bucket}
    conn = psycopg2.connect(database_url)
    try:
        candles = read_frame(conn, CANDLES_SQL, params)
        quality = read_frame(conn, QUALITY_SQL, params)
    finally:
        conn.close()
    return candles, quality


def plot(candles, quality, symbol, out):
    closes = candles.pivot(index="bucket", columns="exchange", values="close")
    dispersion_bps = (closes.max(axis=1) - closes.min(axis=1)) / closes.mean(axis=1) * 10_000

    fig, (ax_price, ax_disp, ax_quality) = plt.subplots(3, 1, figsize=(11, 10), sharex=True)
    # x_compat: matplotlib's own date axis, labelled even for a few points.
    closes.plot(ax=ax_price, x_compat=True)
    ax_price.set_title(f"{symbol} close")
    ax_price.set_ylabel("price")

    dispersion_bps.plot(ax=ax_disp, color="tab:red", x_compat=True)
    ax_disp.set_title("cross-exchange range of closes")
    ax_disp.set_ylabel("bps")

    if len(quality):
        scores = quality.pivot_table(index="bucket", columns=["exchange", "data_type"], values="score")
        scores.columns = [" ".join(c) for c in scores.columns]
        scores.plot(ax=ax_quality, x_compat=True)
    ax_quality.set_title("quality score")
    ax_quality.set_ylim(0, 1.05)
    ax_quality.set_xlabel("time (UTC)")

    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbol", default="BTC/USDT")
    parser.add_argument("--hours", type=int, default=24, help="how far back to read")
    parser.add_argument("--bucket", default="1 hour", help="a PostgreSQL interval, e.g. '15 minutes'")
    parser.add_argument("--out", default="mdingest.png", help="PNG file to write")
    args = parser.parse_args(argv)

    database_url = os.environ.get("DATABASE_URL")
    if not database_url:
        print("notebook.py: set DATABASE_URL (postgres://user@host:5432/db)", file=sys.stderr)
        return 2

    candles, quality = load(database_url, args.symbol, args.hours, args.bucket)
    if candles.empty:
        print(f"notebook.py: no 1m candles of {args.symbol} in the last {args.hours}h", file=sys.stderr)
        return 1
    plot(candles, quality, args.symbol, args.out)
    print(f"{len(candles)} candle rows, {len(quality)} quality rows -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
