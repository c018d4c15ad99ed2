-- 006_funds_reservation: record a payment and check the payer's funds in one round trip.
--
-- A payment served on credit must not be covered by money another accepted, unsettled payment
-- already counts on. Until now the gateway held a session advisory lock per account across a
-- chain read, the ledger sum and the insert (five statements and a pinned pool connection per paid
-- request). reserve_payment does the part that needs the lock inside one statement's transaction:
-- lock the account, sum what is unsettled, pick the form of the payment the funds allow, insert.
-- The chain state arrives as bounds (gateway/schemes/escrow/funds.ts, fundsBounds), read before
-- the call, possibly from a per-block cache.
--
-- Why the lock is still needed: two concurrent statements would each sum a snapshot without the
-- other's uncommitted row and both accept. Under pg_advisory_xact_lock the sum runs after every
-- earlier holder committed (a plpgsql statement takes its snapshot when it starts, after the
-- PERFORM that waited), so of the payments accepted on one account, the last one's check saw all
-- the others.

-- Payments confirmed more recently than the chain state's maximum age may not be reflected in that
-- state yet, so they still count as unsettled (below); this finds them without scanning history.
CREATE INDEX payments_recently_confirmed_idx ON payments (token, payer, payee, updated_at) INCLUDE (amount)
  WHERE state = 'confirmed';

-- `p_forms` is a JSON array of the forms the payment may take, most preferred first:
--   [{"maxUnsettled": "<decimal>", "settlementData": {...}}, ...]
-- The first form whose maxUnsettled is at least what is unsettled becomes the row's payload.
--
-- Returns one row:
--   payment_id set                the payment was recorded ('reserved') in form `form` (1-based);
--                                 `unsettled` is what the check saw
--   payment_id NULL, form 0       refused: `unsettled` exceeds every form's bound
--   payment_id NULL, form NULL    the payment key is already taken (replay or concurrent twin)
CREATE FUNCTION reserve_payment(
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
  -- Confirmed payments updated within this many ms still count (the chain state may predate them).
  p_recent_ms           INTEGER
) RETURNS TABLE (payment_id BIGINT, form INTEGER, unsettled NUMERIC)
LANGUAGE plpgsql AS $$
DECLARE
  v_unsettled NUMERIC;
  v_form      INTEGER;
  v_id        BIGINT;
BEGIN
  IF jsonb_typeof(p_forms) IS DISTINCT FROM 'array' OR jsonb_array_length(p_forms) = 0 THEN
    RAISE EXCEPTION 'reserve_payment needs a non-empty array of forms'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  -- The argument above needs each statement's own snapshot, taken after the lock wait: under
  -- REPEATABLE READ or SERIALIZABLE the sum would see the world as it was before the wait.
  IF current_setting('transaction_isolation') <> 'read committed' THEN
    RAISE EXCEPTION 'reserve_payment needs READ COMMITTED, not %', current_setting('transaction_isolation')
      USING ERRCODE = 'invalid_transaction_state';
  END IF;

  -- The same key as gateway/payments/accept.ts used for its session lock, so a gateway of the
  -- previous release running beside this one during a rolling upgrade still excludes it.
  PERFORM pg_advisory_xact_lock(hashtextextended(
    lower('funds:' || p_chain_id::text || ':' || p_token || ':' || p_payer || ':' || p_payee), 0));

  IF EXISTS (SELECT 1 FROM payments p WHERE p.payment_key = p_payment_key) THEN
    RETURN QUERY SELECT NULL::BIGINT, NULL::INTEGER, NULL::NUMERIC;
    RETURN;
  END IF;

  SELECT COALESCE(SUM(p.amount), 0) INTO v_unsettled
    FROM payments p
   WHERE p.token = p_token AND p.payer = p_payer AND p.payee = p_payee
     AND p.state IN ('reserved', 'verified', 'submitted')
     AND p.chain_id = p_chain_id AND p.scheme = p_scheme;
  IF p_recent_ms IS NOT NULL THEN
    v_unsettled := v_unsettled + (
      SELECT COALESCE(SUM(p.amount), 0)
        FROM payments p
       WHERE p.token = p_token AND p.payer = p_payer AND p.payee = p_payee
         AND p.state = 'confirmed' AND p.updated_at > now() - make_interval(secs => p_recent_ms / 1000.0::float8)
         AND p.chain_id = p_chain_id AND p.scheme = p_scheme);
  END IF;

  SELECT min(f.ord) INTO v_form
    FROM jsonb_array_elements(p_forms) WITH ORDINALITY AS f(value, ord)
   WHERE (f.value ->> 'maxUnsettled')::NUMERIC >= v_unsettled;
  IF v_form IS NULL THEN
    RETURN QUERY SELECT NULL::BIGINT, 0, v_unsettled;
    RETURN;
  END IF;

  INSERT INTO payments (payment_key, scheme, network, chain_id, token, payer, payee, amount, nonce, valid_before,
                        request_fingerprint, state, payload, tx_hash)
  VALUES (p_payment_key, p_scheme, p_network, p_chain_id, p_token, p_payer, p_payee, p_amount, p_nonce, p_valid_before,
          p_request_fingerprint, 'reserved', p_forms -> (v_form - 1) -> 'settlementData', p_tx_hash)
  ON CONFLICT (payment_key) DO NOTHING
  RETURNING id INTO v_id;
  IF v_id IS NULL THEN
    -- Taken meanwhile by a twin under another account's lock (same payer and nonce, other token).
    RETURN QUERY SELECT NULL::BIGINT, NULL::INTEGER, NULL::NUMERIC;
    RETURN;
  END IF;
  RETURN QUERY SELECT v_id, v_form, v_unsettled;
END
$$;
