-- 007_record_on_serve: a payment served on credit is written once, with the response it bought.
--
-- Until now every escrow payment on credit cost two durable writes: reserve_payment inserted it
-- `reserved` before the upstream was called, and an UPDATE stored the response and made it
-- `verified`. Each write is a commit a paid request waits for, and the UPDATE rewrote the row and
-- every index entry it has. The gateway may instead call the upstream first and record the payment
-- after, in the one statement that checks the funds (gateway/payments/accept.ts says when): nothing
-- is served until this statement committed, so a crash in between forgets a payment that was
-- never served, and a refusal withholds the response.
--
-- record_payment is reserve_payment (migration 006, whose reasoning about the lock holds
-- unchanged) with the response as three more arguments. A form may say `"served": true`: chosen,
-- it records the row `verified` with the response (the settlement engine's work) instead of
-- `reserved` without one. The response is ignored for other forms, which continue as before.
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
    -- Taken meanwhile by a twin under another account's lock (same payer and nonce, other token).
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
