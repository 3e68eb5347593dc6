-- The data (market) and what the ingester did (ops). Prices and amounts are
-- numeric: exact, as the exchange sent them. Times are timestamptz (UTC).
CREATE SCHEMA IF NOT EXISTS market;
CREATE SCHEMA IF NOT EXISTS ops;

CREATE TABLE market.symbols (
    exchange        text        NOT NULL,
    symbol          text        NOT NULL,
    exchange_symbol text        NOT NULL,
    base            text        NOT NULL,
    quote           text        NOT NULL,
    active          boolean     NOT NULL,
    updated_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (exchange, symbol)
);

-- closed: the candle's period had ended when it was written. Closed candles
-- are immutable; an open (still changing) one is updated by later fetches.
CREATE TABLE market.candles (
    exchange   text        NOT NULL,
    symbol     text        NOT NULL,
    timeframe  text        NOT NULL,
    ts         timestamptz NOT NULL,
    open       numeric     NOT NULL,
    high       numeric     NOT NULL,
    low        numeric     NOT NULL,
    close      numeric     NOT NULL,
    volume     numeric     NOT NULL,
    closed     boolean     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (exchange, symbol, timeframe, ts),
    CONSTRAINT candles_ohlc CHECK (low <= high AND volume >= 0)
);

CREATE TABLE market.tickers (
    exchange     text        NOT NULL,
    symbol       text        NOT NULL,
    ts           timestamptz NOT NULL,
    bid          numeric,
    bid_volume   numeric,
    ask          numeric,
    ask_volume   numeric,
    last         numeric,
    open         numeric,
    high         numeric,
    low          numeric,
    close        numeric,
    vwap         numeric,
    base_volume  numeric,
    quote_volume numeric,
    received_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (exchange, symbol, ts)
);

-- Top of book as columns for charts; every level in the arrays
-- (bid_prices[1] is the best bid), queryable with unnest().
CREATE TABLE market.order_books (
    exchange        text        NOT NULL,
    symbol          text        NOT NULL,
    ts              timestamptz NOT NULL,
    nonce           bigint,
    best_bid        numeric,
    best_bid_amount numeric,
    best_ask        numeric,
    best_ask_amount numeric,
    bid_prices      numeric[]   NOT NULL,
    bid_amounts     numeric[]   NOT NULL,
    ask_prices      numeric[]   NOT NULL,
    ask_amounts     numeric[]   NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (exchange, symbol, ts)
);

CREATE TABLE market.trades (
    exchange text        NOT NULL,
    symbol   text        NOT NULL,
    ts       timestamptz NOT NULL,
    trade_id text        NOT NULL,
    price    numeric     NOT NULL,
    amount   numeric     NOT NULL,
    side     text,
    PRIMARY KEY (exchange, symbol, trade_id, ts),
    CONSTRAINT trades_values CHECK (price > 0 AND amount >= 0),
    CONSTRAINT trades_side CHECK (side IN ('buy', 'sell'))
);

-- ops rows carry a client-made id so that a retried or replayed write stays
-- one row.
CREATE TABLE ops.request_metrics (
    id             uuid        NOT NULL,
    ts             timestamptz NOT NULL,
    exchange       text        NOT NULL,
    endpoint       text        NOT NULL,
    http_status    integer,
    latency_ms     double precision NOT NULL,
    attempt        integer     NOT NULL,
    outcome        text        NOT NULL,
    error_category text,
    PRIMARY KEY (id, ts)
);

CREATE TABLE ops.quality_reports (
    id            uuid        NOT NULL,
    ts            timestamptz NOT NULL,
    exchange      text        NOT NULL,
    symbol        text        NOT NULL,
    data_type     text        NOT NULL,
    rows_total    integer     NOT NULL,
    rows_rejected integer     NOT NULL,
    completeness  double precision NOT NULL,
    accuracy      double precision NOT NULL,
    consistency   double precision NOT NULL,
    timeliness    double precision NOT NULL,
    validity      double precision NOT NULL,
    uniqueness    double precision NOT NULL,
    score         double precision NOT NULL,
    passed        boolean     NOT NULL,
    issues        jsonb       NOT NULL DEFAULT '[]',
    PRIMARY KEY (id, ts)
);

-- payload is the row as JSON when it is JSON; raw keeps bytes that are not
-- (a truncated response), so nothing is lost.
CREATE TABLE ops.rejected_rows (
    id        uuid        NOT NULL,
    ts        timestamptz NOT NULL,
    exchange  text        NOT NULL,
    symbol    text        NOT NULL,
    data_type text        NOT NULL,
    source    text        NOT NULL,
    reason    text        NOT NULL,
    payload   jsonb,
    raw       bytea,
    PRIMARY KEY (id, ts)
);

CREATE TABLE ops.job_runs (
    id          uuid        NOT NULL,
    job         text        NOT NULL,
    exchange    text        NOT NULL DEFAULT '',
    instance    text        NOT NULL DEFAULT '',
    started_at  timestamptz NOT NULL,
    finished_at timestamptz NOT NULL,
    outcome     text        NOT NULL,
    rows        bigint      NOT NULL DEFAULT 0,
    error       text,
    PRIMARY KEY (id, started_at)
);

-- One row per backfill range and kind: cursor is where a resumed run
-- continues; done marks the range finished.
CREATE TABLE ops.backfill_progress (
    exchange   text        NOT NULL,
    symbol     text        NOT NULL,
    kind       text        NOT NULL,
    timeframe  text        NOT NULL DEFAULT '',
    range_from timestamptz NOT NULL,
    range_to   timestamptz NOT NULL,
    cursor_ts  timestamptz NOT NULL,
    rows       bigint      NOT NULL DEFAULT 0,
    requests   bigint      NOT NULL DEFAULT 0,
    done       boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (exchange, symbol, kind, timeframe, range_from, range_to)
);

-- What was asked of an exchange and what came back, so that "the exchange
-- had nothing" can be told from "we missed it".
CREATE TABLE ops.backfill_coverage (
    exchange     text        NOT NULL,
    symbol       text        NOT NULL,
    kind         text        NOT NULL,
    timeframe    text        NOT NULL DEFAULT '',
    asked_from   timestamptz NOT NULL,
    asked_to     timestamptz NOT NULL,
    rows         integer     NOT NULL,
    first_ts     timestamptz,
    last_ts      timestamptz,
    requested_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (exchange, symbol, kind, timeframe, asked_from)
);

CREATE INDEX request_metrics_exchange_ts ON ops.request_metrics (exchange, ts DESC);
CREATE INDEX quality_reports_exchange_ts ON ops.quality_reports (exchange, symbol, data_type, ts DESC);
CREATE INDEX rejected_rows_exchange_ts ON ops.rejected_rows (exchange, ts DESC);
CREATE INDEX job_runs_job_started ON ops.job_runs (job, started_at DESC);
