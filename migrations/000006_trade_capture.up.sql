-- Trade capture keeps a cursor per exchange and symbol: the newest trade
-- stored. Read at start-up (and after the database was away), so it needs
-- the symbol's latest trades without scanning its history.
CREATE INDEX IF NOT EXISTS trades_latest ON market.trades (exchange, symbol, ts DESC);

-- Spans in which trades could not be captured: from the last trade kept
-- before the hole to the first kept after it (both kept, so neither is
-- missing). reason: not_served (the exchange no longer serves them),
-- no_overlap (two polls of a latest-trades-only exchange did not
-- overlap), outage (polls failed, or the daemon or database was away).
-- missed is the estimated number of trades lost: exact where the
-- exchange's trade ids are consecutive, else from the observed rate.
-- `backfill --trades` and `gaps --kind trades --fill` fill them where the
-- exchange can and set status to filled or unfillable, with the detail.
CREATE TABLE ops.trade_holes (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    exchange    text        NOT NULL,
    symbol      text        NOT NULL,
    from_ts     timestamptz NOT NULL,
    from_id     text        NOT NULL,
    to_ts       timestamptz NOT NULL,
    to_id       text,
    reason      text        NOT NULL,
    missed      bigint,
    detected_at timestamptz NOT NULL DEFAULT now(),
    status      text        NOT NULL DEFAULT 'open',
    filled_at   timestamptz,
    filled_rows bigint,
    detail      text,
    CONSTRAINT trade_holes_once UNIQUE (exchange, symbol, from_ts, from_id),
    CONSTRAINT trade_holes_span CHECK (to_ts >= from_ts),
    CONSTRAINT trade_holes_reason CHECK (reason IN ('not_served', 'no_overlap', 'outage')),
    CONSTRAINT trade_holes_status CHECK (status IN ('open', 'filled', 'unfillable'))
);

CREATE INDEX trade_holes_open ON ops.trade_holes (exchange, symbol, from_ts) WHERE status = 'open';
