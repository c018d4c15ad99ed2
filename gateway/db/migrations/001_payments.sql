-- 001_payments: the settlement ledger.
--
-- Invariants enforced here, by the database, whatever the application code does:
--   * One payment buys at most one response: payments.payment_key (escrow/EIP-3009 nonce or the
--     client's transfer log) is UNIQUE, and payment rows can never be deleted, so a used key
--     stays used forever — across restarts and across gateway instances sharing this database.
--   * A payment is settled at most once: 'confirmed' and 'released' are final (trigger), and a
--     settlement transaction hash belongs to exactly one batch.
--   * A payment is never forgotten: the row, holding the signed authorization, is written before
--     the response is served; any instance can settle it after a restart.
--   * Money is exact: NUMERIC(78,0) holds any uint256; NaN and negative amounts are refused.
--   * Addresses and hashes are lowercase 0x-hex, so one payer never splits into two spellings.
--
-- Applied inside one transaction by migrate.ts; do not add BEGIN/COMMIT or CONCURRENTLY here.

-- Keeps updated_at honest without every UPDATE having to remember it.
CREATE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

-- Next transaction nonce of each settlement signer, per chain. Allocating a nonce is
-- `UPDATE ... SET next_nonce = next_nonce + 1 RETURNING next_nonce - 1` in the transaction that
-- inserts the batch: the row lock makes concurrent instances take distinct nonces, and a rolled
-- back batch gives its nonce back.
CREATE TABLE signer_nonces (
  chain_id   BIGINT NOT NULL CHECK (chain_id > 0),
  address    TEXT NOT NULL CHECK (address ~ '^0x[0-9a-f]{40}$'),
  next_nonce BIGINT NOT NULL CHECK (next_nonce >= 0),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
  PRIMARY KEY (chain_id, address)
);

CREATE TRIGGER signer_nonces_updated_at BEFORE UPDATE ON signer_nonces
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- One on-chain settlement transaction, paying one payee in one token on one chain.
-- The signed bytes are stored BEFORE broadcasting ('sending'): after a crash between storing and
-- broadcasting (or between broadcasting and recording the result) a restarted engine
-- rebroadcasts or reconciles exactly this transaction — same nonce, same hash — and can never
-- send a second, different one for the same payments.
CREATE TABLE settlement_batches (
  id                BIGSERIAL PRIMARY KEY,
  chain_id          BIGINT NOT NULL CHECK (chain_id > 0),
  token             TEXT NOT NULL CHECK (token ~ '^0x[0-9a-f]{40}$'),
  payee             TEXT NOT NULL CHECK (payee ~ '^0x[0-9a-f]{40}$'),
  -- The engine's sending address; with tx_nonce it identifies the transaction slot to reconcile.
  signer            TEXT NOT NULL CHECK (signer ~ '^0x[0-9a-f]{40}$'),
  tx_nonce          BIGINT NOT NULL CHECK (tx_nonce >= 0),
  -- keccak256(raw_tx): known as soon as the transaction is signed, hence NOT NULL.
  tx_hash           TEXT NOT NULL UNIQUE CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
  raw_tx            BYTEA NOT NULL CHECK (length(raw_tx) > 0),
  --   sending   signed and stored, broadcast not yet acknowledged by a node
  --   submitted a node accepted it; waiting for the receipt
  --   confirmed receipt with status 1
  --   failed    reverted, or dropped and replaced; its payments go back to the queue
  state             TEXT NOT NULL DEFAULT 'sending'
                    CHECK (state IN ('sending', 'submitted', 'confirmed', 'failed')),
  error             TEXT,
  block_number      BIGINT CHECK (block_number >= 0),
  last_broadcast_at TIMESTAMPTZ,
  created_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
  CHECK (state <> 'confirmed' OR block_number IS NOT NULL),
  CHECK (state <> 'failed' OR error IS NOT NULL),
  -- Target of the payments foreign key below, which keeps a payment out of a batch that pays a
  -- different payee, token or chain.
  UNIQUE (id, chain_id, token, payee)
);

-- Reconciliation scans the transactions still in flight.
CREATE INDEX settlement_batches_in_flight_idx ON settlement_batches (state, updated_at)
  WHERE state IN ('sending', 'submitted');
CREATE INDEX settlement_batches_slot_idx ON settlement_batches (chain_id, signer, tx_nonce);

-- The stored transaction is what gets rebroadcast; rewriting it would break the guarantee above.
CREATE FUNCTION settlement_batches_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.chain_id, NEW.token, NEW.payee, NEW.signer, NEW.tx_nonce, NEW.tx_hash, NEW.raw_tx)
     IS DISTINCT FROM
     (OLD.chain_id, OLD.token, OLD.payee, OLD.signer, OLD.tx_nonce, OLD.tx_hash, OLD.raw_tx) THEN
    RAISE EXCEPTION 'settlement batch % is immutable except for its state', OLD.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'settlement_batches_immutable';
  END IF;
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TRIGGER settlement_batches_guard BEFORE UPDATE ON settlement_batches
  FOR EACH ROW EXECUTE FUNCTION settlement_batches_guard();

-- One accepted payment: the replay guard, the settlement work item and the stored response.
-- Lifecycle:
--   reserved  key claimed (inserted with ON CONFLICT DO NOTHING) before the authorization is
--             checked or the response produced; a concurrent duplicate finds the row
--   verified  authorization valid; the response may be served; waiting to be settled
--   submitted part of a broadcast batch (batch_id, tx_hash set)
--   confirmed settled on chain — final
--   failed    settlement failed permanently (failure_reason); not final, because
--             reconciliation may still find the transaction mined
--   released  given up without charging (e.g. the upstream failed) — final; the key stays used
CREATE TABLE payments (
  id                  BIGSERIAL PRIMARY KEY,
  -- Built by the scheme: "escrow:<chainId>:<escrow>:<payer>:<nonce>",
  -- "exact:<chainId>:<token>:<payer>:<nonce32>", "transfer:<chainId>:<txHash>:<logIndex>".
  -- The scheme prefix keeps keys of different schemes from ever colliding.
  payment_key         TEXT NOT NULL UNIQUE CHECK (length(payment_key) <= 512),
  scheme              TEXT NOT NULL CHECK (scheme ~ '^[a-z][a-z0-9-]{0,31}$'),
  network             TEXT NOT NULL, -- CAIP-2, e.g. eip155:324705682
  chain_id            BIGINT NOT NULL CHECK (chain_id > 0),
  token               TEXT NOT NULL CHECK (token ~ '^0x[0-9a-f]{40}$'),
  payer               TEXT NOT NULL CHECK (payer ~ '^0x[0-9a-f]{40}$'),
  payee               TEXT NOT NULL CHECK (payee ~ '^0x[0-9a-f]{40}$'),
  -- NaN passes "amount >= 0" in PostgreSQL (NaN sorts above every number), hence the second test.
  amount              NUMERIC(78, 0) NOT NULL CHECK (amount >= 0 AND amount <> 'NaN'),
  nonce               TEXT,
  -- Latest moment the authorization can be settled; NULL when it never expires.
  valid_before        TIMESTAMPTZ,
  -- Hash of method + path + normalized query/body. A retry of the same payment for the same
  -- request gets the stored response; the same payment for a different request is refused.
  request_fingerprint TEXT NOT NULL CHECK (request_fingerprint <> ''),
  state               TEXT NOT NULL DEFAULT 'reserved'
                      CHECK (state IN ('reserved', 'verified', 'submitted', 'confirmed', 'failed', 'released')),
  failure_reason      TEXT,
  -- The settlement transaction (or, for "transfer", the client's own payment transaction).
  tx_hash             TEXT CHECK (tx_hash ~ '^0x[0-9a-f]{64}$'),
  batch_id            BIGINT,
  -- Settlement retries: the worker backs off by moving next_attempt_at.
  attempts            INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  next_attempt_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
  -- Lease of the settlement worker processing the row (claimed with FOR UPDATE SKIP LOCKED).
  -- A worker that dies simply lets locked_until pass and another one takes over.
  locked_by           TEXT,
  locked_until        TIMESTAMPTZ,
  -- The signed authorization as received, all that is needed to settle after a restart.
  payload             JSONB NOT NULL,
  -- The response served for this payment, replayed verbatim to an identical retry.
  response_status     INTEGER CHECK (response_status BETWEEN 100 AND 599),
  response_headers    JSONB,
  response_body       BYTEA,
  created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
  updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
  CONSTRAINT payments_key_has_scheme_prefix CHECK (starts_with(payment_key, scheme || ':')),
  CONSTRAINT payments_network_matches_chain CHECK (network = 'eip155:' || chain_id::text),
  CONSTRAINT payments_failed_has_reason CHECK (state <> 'failed' OR failure_reason IS NOT NULL),
  CONSTRAINT payments_settlement_has_tx CHECK (state NOT IN ('submitted', 'confirmed') OR tx_hash IS NOT NULL),
  CONSTRAINT payments_lease_complete CHECK ((locked_by IS NULL) = (locked_until IS NULL)),
  CONSTRAINT payments_response_complete CHECK (
    response_status IS NOT NULL OR (response_headers IS NULL AND response_body IS NULL)),
  CONSTRAINT payments_batch_matches FOREIGN KEY (batch_id, chain_id, token, payee)
    REFERENCES settlement_batches (id, chain_id, token, payee)
);

-- Settlement work queue. Partial: settled rows accumulate forever and must not slow the queue.
CREATE INDEX payments_pending_idx ON payments (state, next_attempt_at)
  WHERE state IN ('reserved', 'verified', 'submitted');
-- Unsettled exposure per payer (credit limits, escrow balance checks); INCLUDE lets the sum be
-- answered from the index alone.
CREATE INDEX payments_unsettled_idx ON payments (token, payer, payee) INCLUDE (amount)
  WHERE state IN ('reserved', 'verified', 'submitted');
CREATE INDEX payments_tx_hash_idx ON payments (tx_hash) WHERE tx_hash IS NOT NULL;
CREATE INDEX payments_batch_idx ON payments (batch_id) WHERE batch_id IS NOT NULL;

-- What a payment is (key, parties, amount, authorization, request) never changes after it is
-- accepted; final states stay final; a stored response is written once. Without this an UPDATE
-- bug could re-open a settled payment (settling it twice) or alter what a retry is served.
CREATE FUNCTION payments_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF (NEW.payment_key, NEW.scheme, NEW.network, NEW.chain_id, NEW.token, NEW.payer, NEW.payee,
      NEW.amount, NEW.nonce, NEW.valid_before, NEW.request_fingerprint, NEW.payload, NEW.created_at)
     IS DISTINCT FROM
     (OLD.payment_key, OLD.scheme, OLD.network, OLD.chain_id, OLD.token, OLD.payer, OLD.payee,
      OLD.amount, OLD.nonce, OLD.valid_before, OLD.request_fingerprint, OLD.payload, OLD.created_at) THEN
    RAISE EXCEPTION 'payment % may not change what was paid', OLD.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_immutable';
  END IF;
  IF OLD.state IN ('confirmed', 'released') AND NEW.state <> OLD.state THEN
    RAISE EXCEPTION 'payment % is % and cannot become %', OLD.id, OLD.state, NEW.state
      USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_final_state';
  END IF;
  IF OLD.response_status IS NOT NULL
     AND (NEW.response_status, NEW.response_headers, NEW.response_body)
         IS DISTINCT FROM (OLD.response_status, OLD.response_headers, OLD.response_body) THEN
    RAISE EXCEPTION 'payment % already has a stored response', OLD.id
      USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_response_once';
  END IF;
  NEW.updated_at := now();
  RETURN NEW;
END
$$;

CREATE TRIGGER payments_guard BEFORE UPDATE ON payments
  FOR EACH ROW EXECUTE FUNCTION payments_guard();

-- Deleting a row would free its payment_key and let the same payment buy another response
-- (for "transfer" payments nothing on chain would stop it). Retention needs its own migration.
CREATE FUNCTION payments_forbid_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'payments are permanent; payment % cannot be deleted', OLD.id
    USING ERRCODE = 'check_violation', CONSTRAINT = 'payments_permanent';
END
$$;

CREATE TRIGGER payments_forbid_delete BEFORE DELETE ON payments
  FOR EACH ROW EXECUTE FUNCTION payments_forbid_delete();
