// SPDX-License-Identifier: MIT
// solhint-disable func-name-mixedcase
pragma solidity 0.8.28;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {EscrowFixture} from "./utils/EscrowFixture.sol";
import {ISettlementEscrow} from "../../contracts/interfaces/ISettlementEscrow.sol";
import {ITokenRegistry} from "../../contracts/interfaces/ITokenRegistry.sol";

/// @notice Property-based (fuzz) tests of the settlement escrow: payment settlement, replay
/// protection, signature malleability, hold capture/refund bounds and delayed withdrawals.
contract EscrowFuzzTest is EscrowFixture {
    uint256 internal constant PAYER_KEY = 0xA11CE;
    address internal payer;
    address internal constant PAYEE = address(0x9A7EE);
    address internal constant OTHER_PAYEE = address(0x07E4);
    address internal constant RELAYER = address(0xBEEF);
    bytes32 internal constant CHALLENGE = keccak256("402 challenge");

    function setUp() public {
        _deploySystem();
        payer = vm.addr(PAYER_KEY);
        vm.label(payer, "payer");
    }

    // ================================================================ settle

    struct SettleCase {
        address token;
        uint256 deposited;
        uint256 pending;
        uint256 committed; // to the payee of the authorization
        uint256 committedOther; // to another payee: must not pay this one
        uint256 balance;
        uint16 feeBps;
        bool paused;
        bool nonceBurnt;
        ITokenRegistry.TokenStatus status;
        ISettlementEscrow.PaymentAuthorization auth;
        bytes signature;
        ISettlementEscrow.SettlementFailure expected;
        uint256 owedBefore;
        uint256 heldBefore;
        uint256 feesBefore;
    }

    /// @notice A correctly signed authorization either settles with exact accounting or reverts with
    /// the error of the first failing precondition, in the order the escrow checks them. The payer's
    /// deposit is split at random between a commitment to the payee, a commitment to another payee
    /// (which must not be drawn on), the free balance and a pending withdrawal; the payment draws on
    /// them in that order: commitment, balance, pending withdrawal.
    function testFuzz_settle(
        uint256 depositSeed,
        uint256 splitSeed,
        uint256 amountSeed,
        uint256 nonce,
        uint256 validAfterSeed,
        uint256 validBeforeSeed,
        uint256 feeSeed,
        uint256 flags
    ) public {
        SettleCase memory c = _settleCase(depositSeed, splitSeed, feeSeed, flags);
        c.auth.nonce = nonce;
        c.auth.amount = _settleAmount(c, amountSeed, flags);
        c.auth.validAfter = _validAfter(block.timestamp, validAfterSeed);
        c.auth.validBefore = _validBefore(block.timestamp, validBeforeSeed);
        _arrangeSettle(c);
        _runSettle(c);
    }

    function _settleCase(
        uint256 depositSeed,
        uint256 splitSeed,
        uint256 feeSeed,
        uint256 flags
    ) internal view returns (SettleCase memory c) {
        c.token = flags & 1 == 0 ? address(usdc) : address(usdt);
        c.deposited = bound(depositSeed, 0, (3 * uint256(MAX_AMOUNT)) / 2);
        c.pending = bound(uint64(splitSeed), 0, c.deposited);
        c.committed = bound(uint64(splitSeed >> 64), 0, c.deposited - c.pending);
        c.committedOther = (splitSeed >> 192) % 4 == 0
            ? bound(uint64(splitSeed >> 128), 0, c.deposited - c.pending - c.committed)
            : 0;
        c.balance = c.deposited - c.pending - c.committed - c.committedOther;
        c.feeBps = uint16(bound(feeSeed, 0, escrow.MAX_FEE_BPS()));
        c.paused = (flags >> 1) % 16 == 0;
        c.nonceBurnt = (flags >> 5) % 8 == 0;
        uint256 statusSel = (flags >> 8) % 4;
        c.status = statusSel == 3
            ? ITokenRegistry.TokenStatus.Removed
            : statusSel == 2
                ? ITokenRegistry.TokenStatus.Deprecated
                : ITokenRegistry.TokenStatus.Active;
        c.auth.payer = payer;
        uint256 payeeSel = (flags >> 12) % 32;
        c.auth.payee = payeeSel == 0 ? address(0) : payeeSel == 1 ? address(escrow) : PAYEE;
        c.auth.token = c.token;
        c.auth.challengeHash = CHALLENGE;
    }

    /// @dev Amounts: mostly valid and covered by what this payee may draw on, sometimes within
    /// [0, 2 * max], sometimes anything at all.
    function _settleAmount(SettleCase memory c, uint256 amountSeed, uint256 flags) internal pure returns (uint256) {
        uint256 mode = (flags >> 17) % 16;
        if (mode == 0) return amountSeed;
        if (mode < 4) return bound(amountSeed, 0, 2 * uint256(MAX_AMOUNT));
        uint256 spendable = c.committed + c.balance + c.pending;
        uint256 cap = spendable < MIN_AMOUNT ? MIN_AMOUNT : spendable > MAX_AMOUNT ? MAX_AMOUNT : spendable;
        return bound(amountSeed, MIN_AMOUNT, cap);
    }

    function _arrangeSettle(SettleCase memory c) internal {
        if (c.deposited > 0) _fund(c.token, payer, c.deposited);
        vm.startPrank(payer);
        if (c.pending > 0) escrow.requestWithdrawal(c.token, c.pending);
        if (c.committed > 0) escrow.commit(c.token, PAYEE, c.committed);
        if (c.committedOther > 0) escrow.commit(c.token, OTHER_PAYEE, c.committedOther);
        vm.stopPrank();
        if (c.nonceBurnt) _burnNonceWithHold(c.token == address(usdc) ? address(usdt) : address(usdc), c.auth.nonce);
        _setFee(c.feeBps);
        _setStatus(c.token, c.status);
        c.signature = _signPayment(PAYER_KEY, c.auth);
        c.expected = _expectedFailure(c);
        // The read-only pre-check agrees with what `settle` does (it ignores the pause).
        assertEq(uint256(escrow.checkPayment(c.auth, c.signature)), uint256(c.expected), "checkPayment");
        if (c.paused) _pause();
        c.owedBefore = escrow.totalOwed(c.token);
        c.heldBefore = _tokenBalance(c.token, address(escrow));
        c.feesBefore = escrow.accruedFees(c.token);
    }

    /// @dev Uses `nonce` by opening a hold with it in `otherToken`, leaving the tested token's ledger alone.
    function _burnNonceWithHold(address otherToken, uint256 nonce) internal {
        _fund(otherToken, payer, MIN_AMOUNT);
        uint256 nowTs = block.timestamp;
        vm.prank(payer);
        escrow.authorize(otherToken, OTHER_PAYEE, MIN_AMOUNT, nonce, nowTs + 1 hours, nowTs + 2 hours, CHALLENGE);
    }

    function _runSettle(SettleCase memory c) internal {
        bool fails = c.paused || c.expected != ISettlementEscrow.SettlementFailure.None;
        if (c.paused) {
            vm.expectRevert(Pausable.EnforcedPause.selector);
        } else if (fails) {
            vm.expectRevert(_revertDataFor(c));
        }
        vm.prank(RELAYER);
        escrow.settle(c.auth, c.signature);

        address token = c.token;
        uint256 amount = c.auth.amount;
        uint256 fromCommitment;
        uint256 fromBalance;
        uint256 fee;
        if (!fails) {
            fromCommitment = amount < c.committed ? amount : c.committed;
            uint256 rest = amount - fromCommitment;
            fromBalance = rest < c.balance ? rest : c.balance;
            fee = (amount * c.feeBps) / BPS;
        } else {
            amount = 0; // nothing moved
        }
        assertEq(escrow.commitmentOf(token, payer, PAYEE).amount, c.committed - fromCommitment, "commitment to payee");
        assertEq(escrow.commitmentOf(token, payer, OTHER_PAYEE).amount, c.committedOther, "other commitment untouched");
        assertEq(escrow.balanceOf(token, payer), c.balance - fromBalance, "payer balance");
        assertEq(
            escrow.pendingWithdrawal(token, payer).amount,
            c.pending - (amount - fromCommitment - fromBalance),
            "payer pending withdrawal"
        );
        assertEq(escrow.earningsOf(token, PAYEE), amount - fee, "payee earnings: +amount-fee");
        assertEq(escrow.accruedFees(token), c.feesBefore + fee, "fees: +fee");
        assertLe(fee * BPS, amount * c.feeBps, "fee rounds down");
        assertLe((fee + 1) * BPS, amount * c.feeBps + BPS, "fee is the floor");
        assertEq(escrow.totalOwed(token), c.owedBefore, "totalOwed unchanged by settlement");
        assertEq(_tokenBalance(token, address(escrow)), c.heldBefore, "no tokens moved");
        assertTrue(escrow.isNonceUsed(payer, c.auth.nonce) == (c.nonceBurnt || !fails), "nonce state");
    }

    /// @notice The fee setter accepts exactly [0, MAX_FEE_BPS].
    function testFuzz_setFeeBounds(uint16 feeBps) public {
        uint16 maxFee = escrow.MAX_FEE_BPS();
        if (feeBps > maxFee) {
            vm.expectRevert(abi.encodeWithSelector(ISettlementEscrow.FeeTooHigh.selector, feeBps, maxFee));
        }
        vm.prank(ADMIN);
        escrow.setFee(feeBps);
        if (feeBps <= maxFee) assertEq(escrow.feeBps(), feeBps, "fee stored");
        else assertEq(escrow.feeBps(), 0, "fee unchanged");
    }

    // ================================================================ replay

    /// @notice Settling the same authorization twice always fails the second time with
    /// `NonceAlreadyUsed`, whether the first settlement was `settle` or `settleBatch`, and a batch
    /// carrying the same authorization several times settles it exactly once.
    function testFuzz_noDoubleSettlement(
        uint256 amountSeed,
        uint256 nonce,
        uint256 copiesSeed,
        uint256 feeSeed,
        bool batchFirst
    ) public {
        uint256 amount = bound(amountSeed, MIN_AMOUNT, MAX_AMOUNT);
        uint256 copies = bound(copiesSeed, 2, 6);
        uint16 feeBps = uint16(bound(feeSeed, 0, escrow.MAX_FEE_BPS()));
        _setFee(feeBps);
        _fund(address(usdc), payer, 8 * uint256(MAX_AMOUNT));

        ISettlementEscrow.PaymentAuthorization memory auth = _payment(amount, nonce);
        bytes memory signature = _signPayment(PAYER_KEY, auth);
        ISettlementEscrow.SignedPayment[] memory batch = new ISettlementEscrow.SignedPayment[](copies);
        for (uint256 i = 0; i < copies; ++i) {
            batch[i] = ISettlementEscrow.SignedPayment({authorization: auth, signature: signature});
        }
        bytes memory nonceUsed = abi.encodeWithSelector(ISettlementEscrow.NonceAlreadyUsed.selector, payer, nonce);

        if (batchFirst) {
            vm.prank(RELAYER);
            ISettlementEscrow.SettlementFailure[] memory results = escrow.settleBatch(batch);
            assertEq(uint256(results[0]), uint256(ISettlementEscrow.SettlementFailure.None), "first copy settles");
            for (uint256 i = 1; i < copies; ++i) {
                assertEq(uint256(results[i]), uint256(ISettlementEscrow.SettlementFailure.NonceUsed), "duplicate in batch");
            }
            vm.expectRevert(nonceUsed);
            vm.prank(RELAYER);
            escrow.settle(auth, signature);
        } else {
            vm.prank(RELAYER);
            escrow.settle(auth, signature);
            vm.expectRevert(nonceUsed);
            vm.prank(RELAYER);
            escrow.settle(auth, signature);
            vm.prank(RELAYER);
            ISettlementEscrow.SettlementFailure[] memory results = escrow.settleBatch(batch);
            for (uint256 i = 0; i < copies; ++i) {
                assertEq(uint256(results[i]), uint256(ISettlementEscrow.SettlementFailure.NonceUsed), "replay in batch");
            }
        }

        _checkNonceClosedForEverythingElse(nonce);

        // Charged exactly once.
        uint256 fee = (amount * feeBps) / BPS;
        assertEq(escrow.spendableBalance(address(usdc), payer), 8 * uint256(MAX_AMOUNT) - amount, "payer charged once");
        assertEq(escrow.earningsOf(address(usdc), PAYEE), amount - fee, "payee paid once");
        assertEq(escrow.accruedFees(address(usdc)), fee, "fee taken once");
    }

    /// @dev A different authorization reusing a settled nonce, or a hold on it, is refused as well.
    function _checkNonceClosedForEverythingElse(uint256 nonce) internal {
        ISettlementEscrow.PaymentAuthorization memory other = _payment(MIN_AMOUNT, nonce);
        other.payee = RELAYER;
        bytes memory otherSignature = _signPayment(PAYER_KEY, other);
        assertEq(
            uint256(escrow.checkPayment(other, otherSignature)),
            uint256(ISettlementEscrow.SettlementFailure.NonceUsed),
            "other payment on a used nonce"
        );
        uint256 nowTs = block.timestamp;
        vm.expectRevert(abi.encodeWithSelector(ISettlementEscrow.NonceAlreadyUsed.selector, payer, nonce));
        vm.prank(payer);
        escrow.authorize(address(usdc), PAYEE, MIN_AMOUNT, nonce, nowTs + 1 hours, nowTs + 2 hours, CHALLENGE);
    }

    // ================================================================ malleability

    /// @notice For random keys and random authorizations (hence random digests), the high-s twin of
    /// a valid signature (s' = n - s, v flipped), which `ecrecover` accepts for the same signer, is
    /// always rejected, for payments and for holds; the canonical signature still works.
    function testFuzz_malleability(
        uint256 keySeed,
        address payee,
        uint256 amountSeed,
        uint256 nonce,
        uint256 validForSeed,
        bytes32 challengeHash
    ) public {
        uint256 key = bound(keySeed, 1, SECP256K1_N - 1);
        vm.assume(payee != address(0) && payee != address(escrow));
        address signer = vm.addr(key);
        _fund(address(usdc), signer, 2 * uint256(MAX_AMOUNT));
        ISettlementEscrow.PaymentAuthorization memory auth = ISettlementEscrow.PaymentAuthorization({
            payer: signer,
            payee: payee,
            token: address(usdc),
            amount: bound(amountSeed, MIN_AMOUNT, MAX_AMOUNT),
            nonce: nonce,
            validAfter: 0,
            validBefore: block.timestamp + bound(validForSeed, 1, 365 days),
            challengeHash: challengeHash
        });
        _checkHoldTwinRejected(key, auth);
        _checkPaymentTwinRejected(key, auth);
    }

    function _checkPaymentTwinRejected(uint256 key, ISettlementEscrow.PaymentAuthorization memory auth) internal {
        (bytes memory low, bytes memory high, bytes memory compact) = _signatureForms(
            key,
            escrow.hashPaymentAuthorization(auth),
            auth.payer
        );
        assertEq(
            uint256(escrow.checkPayment(auth, high)),
            uint256(ISettlementEscrow.SettlementFailure.InvalidSignature),
            "checkPayment(high-s)"
        );
        vm.expectRevert(ISettlementEscrow.InvalidSignature.selector);
        escrow.settle(auth, high);
        vm.expectRevert(ISettlementEscrow.InvalidSignature.selector);
        escrow.settle(auth, compact);

        ISettlementEscrow.SignedPayment[] memory batch = new ISettlementEscrow.SignedPayment[](1);
        batch[0] = ISettlementEscrow.SignedPayment({authorization: auth, signature: high});
        ISettlementEscrow.SettlementFailure[] memory results = escrow.settleBatch(batch);
        assertEq(uint256(results[0]), uint256(ISettlementEscrow.SettlementFailure.InvalidSignature), "batch(high-s)");
        assertFalse(escrow.isNonceUsed(auth.payer, auth.nonce), "rejected twin leaves the nonce unused");
        assertEq(escrow.earningsOf(address(usdc), auth.payee), 0, "rejected twin pays nothing");

        // The canonical low-s signature over the same digest settles.
        escrow.settle(auth, low);
        assertTrue(escrow.isNonceUsed(auth.payer, auth.nonce), "low-s settles");
    }

    /// @dev Holds go through the same signature check.
    function _checkHoldTwinRejected(uint256 key, ISettlementEscrow.PaymentAuthorization memory auth) internal {
        ISettlementEscrow.HoldAuthorization memory hold = ISettlementEscrow.HoldAuthorization({
            payer: auth.payer,
            payee: auth.payee,
            token: auth.token,
            amount: auth.amount,
            nonce: auth.nonce ^ 1,
            validBefore: auth.validBefore,
            captureDeadline: block.timestamp + 1 hours,
            refundDeadline: block.timestamp + 2 hours,
            challengeHash: auth.challengeHash
        });
        (bytes memory low, bytes memory high, ) = _signatureForms(key, escrow.hashHoldAuthorization(hold), auth.payer);
        vm.expectRevert(ISettlementEscrow.InvalidSignature.selector);
        escrow.authorizeWithSignature(hold, high);
        assertFalse(escrow.isNonceUsed(auth.payer, hold.nonce), "rejected hold twin leaves the nonce unused");
        bytes32 holdId = escrow.authorizeWithSignature(hold, low);
        assertEq(escrow.getHold(holdId).authorized, hold.amount, "low-s hold opens");
    }

    /// @dev Returns the canonical signature, its high-s twin, and the 64-byte EIP-2098 form; checks
    /// that the twin really is valid for `ecrecover`, so the escrow's rejection is meaningful.
    function _signatureForms(
        uint256 key,
        bytes32 digest,
        address signer
    ) internal pure returns (bytes memory low, bytes memory high, bytes memory compact) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(key, digest);
        assertLe(uint256(s), SECP256K1_N / 2, "vm.sign gives low-s");
        bytes32 sHigh = bytes32(SECP256K1_N - uint256(s));
        uint8 vHigh = v == 27 ? 28 : 27;
        assertEq(ecrecover(digest, v, r, s), signer, "low-s recovers");
        assertEq(ecrecover(digest, vHigh, r, sHigh), signer, "high-s twin recovers the same signer");
        low = abi.encodePacked(r, s, v);
        high = abi.encodePacked(r, sHigh, vHigh);
        compact = abi.encodePacked(r, bytes32(uint256(s) | (uint256(v - 27) << 255)));
    }

    // ================================================================ holds

    struct HoldModel {
        bytes32 id;
        uint256 authorized;
        uint256 captured;
        uint256 refunded;
        bool open;
        uint256 earnings;
        uint256 fees;
        uint256 payerBalance;
    }

    /// @notice Random sequences of captures and refunds keep refunded <= captured <= authorized;
    /// every capture or refund past those bounds (or past the payee's earnings) reverts with the
    /// matching error and changes nothing.
    function testFuzz_holds(uint256 authSeed, uint256 feeSeed, uint256 nonce, uint256[12] calldata ops) public {
        uint16 feeBps = uint16(bound(feeSeed, 0, escrow.MAX_FEE_BPS()));
        _setFee(feeBps);
        uint256 funded = 2 * uint256(MAX_AMOUNT);
        _fund(address(usdc), payer, funded);

        HoldModel memory m;
        m.authorized = bound(authSeed, MIN_AMOUNT, MAX_AMOUNT);
        uint256 nowTs = block.timestamp;
        vm.prank(payer);
        m.id = escrow.authorize(address(usdc), PAYEE, m.authorized, nonce, nowTs + 1 days, nowTs + 2 days, CHALLENGE);
        m.open = true;
        m.payerBalance = funded - m.authorized;
        _checkHold(m);

        for (uint256 i = 0; i < ops.length; ++i) {
            uint256 op = ops[i];
            if (op & 1 == 0) _fuzzCapture(m, op);
            else _fuzzRefund(m, op);
            _checkHold(m);
        }

        // Whatever is left goes back to the payer.
        if (m.open) {
            vm.prank(PAYEE);
            escrow.voidHold(m.id);
            m.payerBalance += m.authorized - m.captured;
            m.open = false;
            _checkHold(m);
        }
        assertEq(escrow.totalOwed(address(usdc)), funded, "totalOwed unchanged by holds");
    }

    function _fuzzCapture(HoldModel memory m, uint256 op) internal {
        uint256 remaining = m.authorized - m.captured;
        uint256 amount = _opAmount(op, remaining, m.authorized);
        bytes memory expected;
        if (!m.open) expected = abi.encodeWithSelector(ISettlementEscrow.HoldNotOpen.selector, m.id);
        else if (amount == 0) expected = abi.encodeWithSelector(ISettlementEscrow.ZeroAmount.selector);
        else if (amount > remaining) {
            expected = abi.encodeWithSelector(ISettlementEscrow.CaptureExceedsHold.selector, amount, remaining);
        }
        if (expected.length != 0) vm.expectRevert(expected);
        vm.prank((op >> 1) & 1 == 0 ? PAYEE : OPERATOR);
        escrow.capture(m.id, amount);
        if (expected.length != 0) return;
        uint256 fee = (amount * escrow.feeBps()) / BPS;
        m.captured += amount;
        m.open = m.captured < m.authorized;
        m.earnings += amount - fee;
        m.fees += fee;
    }

    function _fuzzRefund(HoldModel memory m, uint256 op) internal {
        uint256 refundable = m.captured - m.refunded;
        uint256 limit = refundable < m.earnings ? refundable : m.earnings;
        uint256 amount = _opAmount(op, limit, m.authorized);
        bytes memory expected;
        if (amount == 0) expected = abi.encodeWithSelector(ISettlementEscrow.ZeroAmount.selector);
        else if (amount > refundable) {
            expected = abi.encodeWithSelector(ISettlementEscrow.RefundExceedsCaptured.selector, amount, refundable);
        } else if (amount > m.earnings) {
            expected = abi.encodeWithSelector(ISettlementEscrow.InsufficientEarnings.selector, m.earnings, amount);
        }
        if (expected.length != 0) vm.expectRevert(expected);
        vm.prank(PAYEE);
        escrow.refund(m.id, amount);
        if (expected.length != 0) return;
        m.refunded += amount;
        m.earnings -= amount;
        m.payerBalance += amount;
    }

    /// @dev Picks an amount for a capture / refund: exactly the limit, just over it, or random.
    function _opAmount(uint256 op, uint256 limit, uint256 authorized) internal pure returns (uint256) {
        uint256 mode = (op >> 2) & 3;
        uint256 x = op >> 8;
        if (mode == 0) return limit;
        if (mode == 1) return limit + 1 + (x % 1_000);
        return bound(x, 0, authorized);
    }

    function _checkHold(HoldModel memory m) internal view {
        ISettlementEscrow.Hold memory h = escrow.getHold(m.id);
        assertLe(h.refunded, h.captured, "refunded <= captured");
        assertLe(h.captured, h.authorized, "captured <= authorized");
        assertEq(h.authorized, m.authorized, "authorized");
        assertEq(h.captured, m.captured, "captured");
        assertEq(h.refunded, m.refunded, "refunded");
        assertEq(
            uint256(h.status),
            uint256(m.open ? ISettlementEscrow.HoldStatus.Open : ISettlementEscrow.HoldStatus.Closed),
            "status"
        );
        assertEq(escrow.earningsOf(address(usdc), PAYEE), m.earnings, "payee earnings");
        assertEq(escrow.accruedFees(address(usdc)), m.fees, "fees");
        assertEq(escrow.balanceOf(address(usdc), payer), m.payerBalance, "payer balance");
    }

    // ================================================================ withdrawal

    /// @notice After `requestWithdrawal` and a warp to at least the unlock time, `withdraw` always
    /// succeeds and pays exactly the pending amount minus what settlements drew from it, whether the
    /// escrow is paused and whatever the token's registry status.
    function testFuzz_withdrawal(
        uint256 depositSeed,
        uint256 requestSeed,
        uint256 settleSeed,
        uint256 warpSeed,
        uint256 flags
    ) public {
        address token = flags & 1 == 0 ? address(usdc) : address(usdt);
        uint256 deposited = bound(depositSeed, 1, 5 * uint256(MAX_AMOUNT));
        uint256 requested = bound(requestSeed, 1, deposited);
        _fund(token, payer, deposited);
        vm.prank(payer);
        escrow.requestWithdrawal(token, requested);
        uint64 unlockAt = escrow.pendingWithdrawal(token, payer).unlockAt;
        assertEq(unlockAt, block.timestamp + WITHDRAWAL_DELAY, "unlockAt");

        // A settlement signed before the request may draw on the pending amount.
        uint256 drawn;
        if ((flags >> 1) & 1 == 1) {
            uint256 cap = deposited < MAX_AMOUNT ? deposited : MAX_AMOUNT;
            uint256 amount = bound(settleSeed, MIN_AMOUNT, cap);
            ISettlementEscrow.PaymentAuthorization memory auth = _payment(token, amount, settleSeed);
            vm.prank(RELAYER);
            escrow.settle(auth, _signPayment(PAYER_KEY, auth));
            uint256 balance = deposited - requested;
            drawn = amount > balance ? amount - balance : 0;
        }
        uint256 expectedPayout = requested - drawn;
        assertEq(escrow.pendingWithdrawal(token, payer).amount, expectedPayout, "pending after settlement");
        if (expectedPayout == 0) {
            assertEq(escrow.pendingWithdrawal(token, payer).unlockAt, 0, "a fully drawn withdrawal is cleared");
        }

        if ((flags >> 2) & 1 == 1 && expectedPayout != 0) {
            vm.warp(unlockAt - 1);
            vm.expectRevert(abi.encodeWithSelector(ISettlementEscrow.WithdrawalLocked.selector, unlockAt));
            vm.prank(payer);
            escrow.withdraw(token);
        }
        if ((flags >> 3) & 1 == 1) _pause();
        uint256 statusSel = (flags >> 4) % 3;
        _setStatus(
            token,
            statusSel == 0
                ? ITokenRegistry.TokenStatus.Active
                : statusSel == 1
                    ? ITokenRegistry.TokenStatus.Deprecated
                    : ITokenRegistry.TokenStatus.Removed
        );
        if ((flags >> 6) & 1 == 1) _mint(token, address(escrow), bound(warpSeed, 1, MAX_AMOUNT)); // a donation

        vm.warp(uint256(unlockAt) + bound(warpSeed, 0, 365 days));
        uint256 walletBefore = _tokenBalance(token, payer);
        uint256 owedBefore = escrow.totalOwed(token);
        uint256 balanceBefore = escrow.balanceOf(token, payer);

        if (expectedPayout == 0) {
            // Settlements consumed the whole pending amount: nothing left to withdraw.
            vm.expectRevert(ISettlementEscrow.NoPendingWithdrawal.selector);
        }
        vm.prank(payer);
        escrow.withdraw(token);

        assertEq(_tokenBalance(token, payer), walletBefore + expectedPayout, "paid exactly the pending amount");
        assertEq(escrow.totalOwed(token), owedBefore - expectedPayout, "totalOwed decreased by the payout");
        assertEq(escrow.pendingWithdrawal(token, payer).amount, 0, "pending cleared");
        assertEq(escrow.balanceOf(token, payer), balanceBefore, "balance untouched");
    }

    // ================================================================ helpers

    function _payment(uint256 amount, uint256 nonce) internal view returns (ISettlementEscrow.PaymentAuthorization memory) {
        return _payment(address(usdc), amount, nonce);
    }

    function _payment(
        address token,
        uint256 amount,
        uint256 nonce
    ) internal view returns (ISettlementEscrow.PaymentAuthorization memory) {
        return
            ISettlementEscrow.PaymentAuthorization({
                payer: payer,
                payee: PAYEE,
                token: token,
                amount: amount,
                nonce: nonce,
                validAfter: block.timestamp - 1,
                validBefore: block.timestamp + 1 hours,
                challengeHash: CHALLENGE
            });
    }

    /// @dev A `validAfter` / `validBefore` around `nowTs`: a quarter of the time within two seconds
    /// of it (the boundary cases of the strict comparisons), a quarter anywhere within two days
    /// either way, and half the time on the side where the authorization is valid.
    function _validAfter(uint256 nowTs, uint256 seed) internal pure returns (uint256) {
        uint256 mode = seed % 4;
        if (mode == 0) return nowTs - 2 + ((seed >> 2) % 5);
        if (mode == 1) return bound(seed >> 2, nowTs - 2 days, nowTs + 2 days);
        return bound(seed >> 2, 0, nowTs - 1);
    }

    function _validBefore(uint256 nowTs, uint256 seed) internal pure returns (uint256) {
        uint256 mode = seed % 4;
        if (mode == 0) return nowTs - 2 + ((seed >> 2) % 5);
        if (mode == 1) return bound(seed >> 2, nowTs - 2 days, nowTs + 2 days);
        return bound(seed >> 2, nowTs + 1, type(uint256).max);
    }

    function _expectedFailure(SettleCase memory c) internal view returns (ISettlementEscrow.SettlementFailure) {
        ISettlementEscrow.PaymentAuthorization memory a = c.auth;
        uint256 nowTs = block.timestamp;
        if (a.payee == address(0) || a.payee == address(escrow)) return ISettlementEscrow.SettlementFailure.InvalidPayee;
        if (nowTs <= a.validAfter) return ISettlementEscrow.SettlementFailure.NotYetValid;
        if (nowTs >= a.validBefore) return ISettlementEscrow.SettlementFailure.Expired;
        if (c.status == ITokenRegistry.TokenStatus.Removed) return ISettlementEscrow.SettlementFailure.TokenNotAccepted;
        if (a.amount < MIN_AMOUNT || a.amount > MAX_AMOUNT) return ISettlementEscrow.SettlementFailure.AmountOutOfRange;
        if (c.nonceBurnt) return ISettlementEscrow.SettlementFailure.NonceUsed;
        if (c.committed + c.balance + c.pending < a.amount) return ISettlementEscrow.SettlementFailure.InsufficientFunds;
        return ISettlementEscrow.SettlementFailure.None;
    }

    function _revertDataFor(SettleCase memory c) internal pure returns (bytes memory) {
        ISettlementEscrow.PaymentAuthorization memory a = c.auth;
        ISettlementEscrow.SettlementFailure f = c.expected;
        if (f == ISettlementEscrow.SettlementFailure.InvalidPayee) {
            return abi.encodeWithSelector(ISettlementEscrow.InvalidPayee.selector);
        }
        if (f == ISettlementEscrow.SettlementFailure.NotYetValid) {
            return abi.encodeWithSelector(ISettlementEscrow.AuthorizationNotYetValid.selector, a.validAfter);
        }
        if (f == ISettlementEscrow.SettlementFailure.Expired) {
            return abi.encodeWithSelector(ISettlementEscrow.AuthorizationExpired.selector, a.validBefore);
        }
        if (f == ISettlementEscrow.SettlementFailure.TokenNotAccepted) {
            return abi.encodeWithSelector(ISettlementEscrow.TokenNotAccepted.selector, a.token, c.status);
        }
        if (f == ISettlementEscrow.SettlementFailure.AmountOutOfRange) {
            return abi.encodeWithSelector(ISettlementEscrow.AmountOutOfRange.selector, a.amount, MIN_AMOUNT, MAX_AMOUNT);
        }
        if (f == ISettlementEscrow.SettlementFailure.NonceUsed) {
            return abi.encodeWithSelector(ISettlementEscrow.NonceAlreadyUsed.selector, a.payer, a.nonce);
        }
        if (f == ISettlementEscrow.SettlementFailure.InsufficientFunds) {
            return abi.encodeWithSelector(
                ISettlementEscrow.InsufficientFunds.selector,
                c.committed + c.balance + c.pending,
                a.amount
            );
        }
        return abi.encodeWithSelector(ISettlementEscrow.InvalidSignature.selector);
    }
}
