-- 007_record_on_serve: a payment is recorded with one write, and its funds check reads one row.
--
-- 1. Recorded once. Every escrow payment on credit cost two durable writes: reserve_payment
-- inserted it `reserved` before the upstream was called, and an UPDATE stored the response and
-- made it `verified`. The gateway may instead call the upstream first and record the payment
-- after, in the one statement that checks the funds (gateway/payments/record.ts says when):
-- nothing is served until that statement committed, so a crash in between forgets a payment that
-- was never served, and a refusal withholds the response. record_payment is reserve_payment
-- (migration 006, whose reasoning about the lock holds unchanged) with the response as three more
-- arguments. A form may say `"served": true`: chosen, it records the row `verified` with the
-- response (the settlement engine's work) instead of `reserved` without one.
--
-- 2. A running total. reserve_payment summed the account's unsettled payments on every call,
-- under the account's lock: a cost that grows with the backlog, paid by every payment of that
-- payer one at a time. An agent paying 100 times a second with a settlement horizon of several
-- seconds has hundreds of unsettled rows, and its payments queue behind each other's sums. The
-- total is kept in `unsettled_totals`, maintained by triggers on `payments`; record_payment reads
-- one row.
--
-- Exactness: the total of an account is, at every commit, the sum of `amount` over its payments
-- in an unsettled state (gateway/ledger/unsettled.ts UNSETTLED_STATES), because every new row and
-- every change of a row's state adjusts it in the same transaction, and a payment's account and
-- amount never change (payments_guard) nor are rows deleted (payments_forbid_delete). The
-- property test test/gateway/ledger-totals.test.ts compares it with the sum after random changes.
--
-- Locks: a new row adjusts its total from a row trigger (one row per INSERT on the hot path);
-- updates adjust theirs from a statement trigger that applies every account's change in key
-- order, so the engine's multi-row updates and a batch of reservations (which lock accounts in
-- sorted order too) cannot wait on each other in a cycle.

-- Gateways of the previous release may be writing payments while this runs: with no trigger yet,
-- a row they insert or move between the fill and the triggers would be missed by both, and the
-- total wrong for good. Nobody writes payments until this transaction commits (reads go on).
LOCK TABLE payments IN SHARE ROW EXCLUSIVE MODE;

CREATE TABLE unsettled_totals (
  token    TEXT    NOT NULL,
  payer    TEXT    NOT NULL,
  payee    TEXT    NOT NULL,
  chain_id BIGINT  NOT NULL,
  scheme   TEXT    NOT NULL,
  amount   NUMERIC NOT NULL CHECK (amount >= 0),
  PRIMARY KEY (token, payer, payee, chain_id, scheme)
);

INSERT INTO unsettled_totals (token, payer, payee, chain_id, scheme, amount)
SELECT token, payer, payee, chain_id, scheme, SUM(amount)
  FROM payments
 WHERE state IN ('reserved', 'verified', 'submitted')
 GROUP BY token, payer, payee, chain_id, scheme;

CREATE FUNCTION unsettled_totals_on_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.state IN ('reserved', 'verified', 'submitted') THEN
    INSERT INTO unsettled_totals AS t (token, payer, payee, chain_id, scheme, amount)
    VALUES (NEW.token, NEW.payer, NEW.payee, NEW.chain_id, NEW.scheme, NEW.amount)
    ON CONFLICT (token, payer, payee, chain_id, scheme) DO UPDATE SET amount = t.amount + EXCLUDED.amount;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER payments_unsettled_on_insert AFTER INSERT ON payments
  FOR EACH ROW EXECUTE FUNCTION unsettled_totals_on_insert();

CREATE FUNCTION unsettled_totals_on_update() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  r RECORD;
BEGIN
  -- One change per account whose total moves, applied in key order so the row locks are taken in
  -- that order. A decrease is an UPDATE: an upsert would check the negative amount it proposes
  -- against the CHECK before finding the row. The row exists: the payment entered an unsettled
  -- state through an INSERT, which created it (or this migration did, from the sums).
  FOR r IN
    SELECT n.token, n.payer, n.payee, n.chain_id, n.scheme,
           SUM(CASE WHEN n.state IN ('reserved', 'verified', 'submitted') THEN n.amount ELSE 0 END
             - CASE WHEN o.state IN ('reserved', 'verified', 'submitted') THEN o.amount ELSE 0 END) AS delta
      FROM new_rows n JOIN old_rows o ON o.id = n.id
     WHERE (n.state IN ('reserved', 'verified', 'submitted')) <> (o.state IN ('reserved', 'verified', 'submitted'))
     GROUP BY n.token, n.payer, n.payee, n.chain_id, n.scheme
     ORDER BY n.token, n.payer, n.payee, n.chain_id, n.scheme
  LOOP
    IF r.delta > 0 THEN
      INSERT INTO unsettled_totals AS t (token, payer, payee, chain_id, scheme, amount)
      VALUES (r.token, r.payer, r.payee, r.chain_id, r.scheme, r.delta)
      ON CONFLICT (token, payer, payee, chain_id, scheme) DO UPDATE SET amount = t.amount + EXCLUDED.amount;
    ELSIF r.delta < 0 THEN
      UPDATE unsettled_totals t SET amount = t.amount + r.delta
       WHERE t.token = r.token AND t.payer = r.payer AND t.payee = r.payee AND t.chain_id = r.chain_id AND t.scheme = r.scheme;
      IF NOT FOUND THEN
        RAISE EXCEPTION 'no unsettled total for an account that had unsettled payments'
          USING ERRCODE = 'check_violation', CONSTRAINT = 'unsettled_totals_consistent';
      END IF;
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;

CREATE TRIGGER payments_unsettled_on_update AFTER UPDATE ON payments
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
  FOR EACH STATEMENT EXECUTE FUNCTION unsettled_totals_on_update();

-- The check of migration 006, reading the running total, and recording the response of a served form.
CREATE FUNCTION record_payment(
  p_payment_key         TEXT,
  p_scheme              TEXT,
  p_network             TEXT,
  p_chain_id            BIGINT,
  p_token               TEXT,
  p_payer               TEXT,
  p_payee               TEXT,
  p_amount              NUMERIC,
  p_nonce               TEXT,
  p_valid_before        TIMESTAMPTZ,
  p_request_fingerprint TEXT,
  p_tx_hash             TEXT,
  p_forms               JSONB,
  p_recent_ms           INTEGER,
  p_response_status     INTEGER,
  p_response_headers    JSONB,
  p_response_body       BYTEA
) RETURNS TABLE (payment_id BIGINT, form INTEGER, unsettled NUMERIC)
LANGUAGE plpgsql AS $$
DECLARE
  v_unsettled NUMERIC;
  v_form      INTEGER;
  v_served    BOOLEAN;
  v_id        BIGINT;
BEGIN
  IF jsonb_typeof(p_forms) IS DISTINCT FROM 'array' OR jsonb_array_length(p_forms) = 0 THEN
    RAISE EXCEPTION 'record_payment needs a non-empty array of forms'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'record_payment needs READ COMMITTED, not %', current_setting('transaction_isolation')
      USING ERRCODE = 'invalid_transaction_state';
  END IF;

  PERFORM pg_advisory_xact_lock(hashtextextended(
    lower('funds:' || p_chain_id::text || ':' || p_token || ':' || p_payer || ':' || p_payee), 0));

  IF EXISTS (SELECT 1 FROM payments p WHERE p.payment_key = p_payment_key) THEN
    RETURN QUERY SELECT NULL::BIGINT, NULL::INTEGER, NULL::NUMERIC;
    RETURN;
  END IF;

  SELECT COALESCE(
           (SELECT t.amount FROM unsettled_totals t
             WHERE t.token = p_token AND t.payer = p_payer AND t.payee = p_payee
               AND t.chain_id = p_chain_id AND t.scheme = p_scheme), 0)
       + CASE WHEN p_recent_ms IS NULL THEN 0 ELSE (
           SELECT COALESCE(SUM(p.amount), 0)
             FROM payments p
            WHERE p.token = p_token AND p.payer = p_payer AND p.payee = p_payee
              AND p.state = 'confirmed' AND p.updated_at > now() - make_interval(secs => p_recent_ms / 1000.0::float8)
              AND p.chain_id = p_chain_id AND p.scheme = p_scheme) END
    INTO v_unsettled;

  SELECT min(f.ord) INTO v_form
    FROM jsonb_array_elements(p_forms) WITH ORDINALITY AS f(value, ord)
   WHERE (f.value ->> 'maxUnsettled')::NUMERIC >= v_unsettled;
  IF v_form IS NULL THEN
    RETURN QUERY SELECT NULL::BIGINT, 0, v_unsettled;
    RETURN;
  END IF;

  v_served := COALESCE((p_forms -> (v_form - 1) ->> 'served')::BOOLEAN, false);
  IF v_served AND p_response_status IS NULL THEN
    RAISE EXCEPTION 'record_payment: a served form needs the response'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, nonce, valid_before,
                        request_fingerprint, state, payload, tx_hash, response_status, response_headers, response_body)
  VALUES (p_payment_key, p_scheme, p_network, p_chain_id, p_token, p_payer, p_payee, p_amount, p_nonce, p_valid_before,
          p_request_fingerprint, CASE WHEN v_served THEN 'verified' ELSE 'reserved' END,
          p_forms -> (v_form - 1) -> 'settlementData', p_tx_hash,
          CASE WHEN v_served THEN p_response_status END,
          CASE WHEN v_served THEN p_response_headers END,
          CASE WHEN v_served THEN p_response_body END)
  ON CONFLICT (payment_key) DO NOTHING
  RETURNING id INTO v_id;
  IF v_id IS NULL THEN
    RETURN QUERY SELECT NULL::BIGINT, NULL::INTEGER, NULL::NUMERIC;
    RETURN;
  END IF;
  RETURN QUERY SELECT v_id, v_form, v_unsettled;
END
$$;

-- One implementation of the check: reserve_payment is now record_payment without a response. Kept
-- for a gateway of the previous release during a rolling upgrade, whose forms never say "served".
CREATE OR REPLACE FUNCTION reserve_payment(
  p_payment_key         TEXT,
  p_scheme              TEXT,
  p_network             TEXT,
  p_chain_id            BIGINT,
  p_token               TEXT,
  p_payer               TEXT,
  p_payee               TEXT,
  p_amount              NUMERIC,
  p_nonce               TEXT,
  p_valid_before        TIMESTAMPTZ,
  p_request_fingerprint TEXT,
  p_tx_hash             TEXT,
  p_forms               JSONB,
  p_recent_ms           INTEGER
) RETURNS TABLE (payment_id BIGINT, form INTEGER, unsettled NUMERIC)
LANGUAGE sql AS $$
  SELECT * FROM record_payment(p_payment_key, p_scheme, p_network, p_chain_id, p_token, p_payer, p_payee, p_amount,
                               p_nonce, p_valid_before, p_request_fingerprint, p_tx_hash, p_forms, p_recent_ms,
                               NULL, NULL, NULL)
$$;
