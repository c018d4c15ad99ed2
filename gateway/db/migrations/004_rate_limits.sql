-- 004_rate_limits: request counters shared by every gateway instance.
--
-- One row per (agent, window length, window start): a fixed-window counter. An agent is
-- "wallet:0x…" once it has paid, otherwise "ip:…" (gateway/ratelimit/agent.ts). Counting is one
-- atomic `INSERT … ON CONFLICT DO UPDATE … RETURNING` per request, so replicas sharing this
-- database can never both let the 101st request of a minute through.
--
-- UNLOGGED: counters are worth less than the write-ahead log they would cost on every request.
-- After a PostgreSQL crash the table comes back empty, which only forgives the current windows.
CREATE UNLOGGED TABLE rate_limit_counters (
  agent          TEXT NOT NULL CHECK (length(agent) BETWEEN 1 AND 128),
  window_seconds INTEGER NOT NULL CHECK (window_seconds > 0),
  -- Unix seconds, a multiple of window_seconds: windows are aligned (a day starts at 00:00 UTC).
  window_start   BIGINT NOT NULL CHECK (window_start >= 0),
  hits           INTEGER NOT NULL CHECK (hits >= 0),
  -- The limit in force when the row was last counted; the conditional increment compares with it.
  hit_limit      INTEGER NOT NULL CHECK (hit_limit > 0),
  -- Unix seconds when the window closes; expired rows are pruned.
  expires_at     BIGINT NOT NULL,
  PRIMARY KEY (agent, window_seconds, window_start),
  CHECK (expires_at = window_start + window_seconds)
);

CREATE INDEX rate_limit_counters_expiry_idx ON rate_limit_counters (expires_at);
