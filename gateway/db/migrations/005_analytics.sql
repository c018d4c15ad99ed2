-- 005_analytics: what agents called, what it cost, and the reputation that earns discounts.
--
-- Written off the request path by gateway/analytics/recorder.ts, in batches, one transaction
-- per batch: a request's row and its effect on the agent's reputation land together or not at all.
-- Money is exact: NUMERIC(78,0) atomic token units (any uint256) and nano-USD (1e-9 USD).

-- One API call as answered.
CREATE TABLE api_requests (
  id               BIGSERIAL PRIMARY KEY,
  requested_at     TIMESTAMPTZ NOT NULL,
  method           TEXT NOT NULL CHECK (method ~ '^[A-Z]{1,16}$'),
  -- The route template ("/api/weather"), never the raw path: bounded, and groups by endpoint.
  endpoint         TEXT NOT NULL CHECK (length(endpoint) BETWEEN 1 AND 256),
  status           INTEGER NOT NULL CHECK (status BETWEEN 100 AND 599),
  success          BOOLEAN NOT NULL,
  response_time_ms INTEGER NOT NULL CHECK (response_time_ms >= 0),
  -- The verified payer; NULL for requests that never got that far (402 challenges...).
  wallet           TEXT CHECK (wallet ~ '^0x[0-9a-f]{40}$'),
  scheme           TEXT CHECK (scheme ~ '^[a-z][a-z0-9-]{0,31}$'),
  token            TEXT CHECK (token ~ '^0x[0-9a-f]{40}$'),
  -- What was charged, atomic units of `token`; NULL when nothing was charged.
  amount           NUMERIC(78, 0) CHECK (amount >= 0 AND amount <> 'NaN'),
  -- The same charge in nano-USD at the quoted price, when known.
  price_nano_usd   NUMERIC(78, 0) CHECK (price_nano_usd >= 0 AND price_nano_usd <> 'NaN'),
  -- Settlement (or client transfer) transaction; NULL while an asynchronous settlement is pending.
  tx_hash          TEXT CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
  CONSTRAINT api_requests_charge_complete CHECK (
    amount IS NULL OR (token IS NOT NULL AND wallet IS NOT NULL AND scheme IS NOT NULL))
);

CREATE INDEX api_requests_requested_at_idx ON api_requests (requested_at);
CREATE INDEX api_requests_wallet_idx ON api_requests (wallet, requested_at) WHERE wallet IS NOT NULL;

-- Running totals per paying agent. Updated in the recorder's transaction with a row lock, so
-- replicas recording the same agent at once add up instead of overwriting each other.
CREATE TABLE agent_reputation (
  wallet               TEXT PRIMARY KEY CHECK (wallet ~ '^0x[0-9a-f]{40}$'),
  -- Requests whose outcome was the agent's doing: charged ones, and its refused payments.
  total_requests       BIGINT NOT NULL DEFAULT 0 CHECK (total_requests >= 0),
  successful_requests  BIGINT NOT NULL DEFAULT 0 CHECK (successful_requests >= 0),
  total_spent_nano_usd NUMERIC(78, 0) NOT NULL DEFAULT 0 CHECK (total_spent_nano_usd >= 0 AND total_spent_nano_usd <> 'NaN'),
  -- Derived from the two counts by tierFor() (gateway/analytics/tiers.ts) in the same transaction.
  tier                 TEXT NOT NULL DEFAULT 'bronze'
                       CHECK (tier IN ('bronze', 'silver', 'gold', 'platinum', 'diamond')),
  discount_bps         INTEGER NOT NULL DEFAULT 0 CHECK (discount_bps BETWEEN 0 AND 10000),
  first_seen_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at           TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (successful_requests <= total_requests)
);

-- What each agent has spent per token, exactly, in the token's atomic units.
CREATE TABLE agent_spending (
  wallet TEXT NOT NULL REFERENCES agent_reputation (wallet),
  token  TEXT NOT NULL CHECK (token ~ '^0x[0-9a-f]{40}$'),
  amount NUMERIC(78, 0) NOT NULL CHECK (amount >= 0 AND amount <> 'NaN'),
  PRIMARY KEY (wallet, token)
);

-- The dashboard's "recent settlements": newest confirmed payments first, without scanning the
-- ever-growing settled history.
CREATE INDEX payments_recent_confirmed_idx ON payments (updated_at DESC) WHERE state = 'confirmed';
