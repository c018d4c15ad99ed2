-- 003_cache: the shared layer of the response cache (gateway/cache/), behind each instance's
-- in-memory LRU. Several gateway instances sharing this database share these entries, so one
-- instance's upstream call serves the others until the entry expires.
--
-- Nothing here is money or a promise to anyone: rows may be deleted at any time (expired rows are
-- pruned, the admin "clear cache" empties the table) and a lost row only costs an upstream call.
--
-- Applied inside one transaction by migrate.ts; do not add BEGIN/COMMIT or CONCURRENTLY here.

CREATE TABLE response_cache (
  -- "<route id>:<sha256 of the canonical, validated parameters>" (gateway/cache/key.ts).
  key         TEXT PRIMARY KEY CHECK (length(key) BETWEEN 1 AND 256),
  -- The catalogue route, for operators looking at the table and for clearing one route.
  route       TEXT NOT NULL CHECK (length(route) BETWEEN 1 AND 128),
  value       JSONB NOT NULL,
  stored_at   TIMESTAMPTZ NOT NULL,
  -- Served as fresh until expires_at; after that only when the upstream fails and the route
  -- allows stale-if-error, until stale_until; then the row is garbage.
  expires_at  TIMESTAMPTZ NOT NULL,
  stale_until TIMESTAMPTZ NOT NULL,
  CONSTRAINT response_cache_expiry_order CHECK (stored_at <= expires_at AND expires_at <= stale_until)
);

-- Pruning deletes by stale_until.
CREATE INDEX response_cache_stale_until_idx ON response_cache (stale_until);
