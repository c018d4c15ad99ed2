// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {TestBase, Vm} from "../utils/Vm.sol";
import {SettlementEscrow} from "../../../contracts/SettlementEscrow.sol";
import {TokenRegistry} from "../../../contracts/TokenRegistry.sol";
import {ISettlementEscrow} from "../../../contracts/interfaces/ISettlementEscrow.sol";
import {ITokenRegistry} from "../../../contracts/interfaces/ITokenRegistry.sol";
import {MockUSDC} from "../../../contracts/mocks/MockUSDC.sol";
import {MockUSDT} from "../../../contracts/mocks/MockUSDT.sol";

/// @notice Drives the escrow through bounded, mostly valid actions for the invariant tests and
/// keeps an independent model ("ghost" state) of every ledger bucket, hold and used nonce.
/// @dev Each action predicts its outcome from the model (including the exact revert data of an
/// expected failure), performs the call as a low-level call, and records any disagreement
/// (unexpected success, unexpected failure or a different revert reason) in `surprises` instead of
/// reverting, since the invariant runner ignores reverting calls (failOnRevert is off).
/// Settlements are counted from the `PaymentSettled` events the escrow actually emits.
/// Time is kept in `currentTime` and re-applied at the start of every action, so warps persist
/// across the calls of a run whatever the runner does with the block environment.
/// Both tokens are registered with the same per-payment limits, read once from the registry.
contract EscrowHandler is TestBase {
    struct GhostHold {
        bytes32 id;
        address payer;
        address payee;
        address token;
        uint256 authorized;
        uint256 captured;
        uint256 refunded;
        bool open;
        uint256 captureDeadline;
        uint256 refundDeadline;
        uint256 nonce;
    }

    uint256 public constant NUM_ACTORS = 4;
    uint256 public constant MAX_DEPOSIT = 2_000_000_000;
    uint256 private constant _BPS = 10_000;
    uint256 private constant _VALIDITY = 365 days;

    SettlementEscrow public immutable escrow;
    TokenRegistry public immutable registry;
    MockUSDC public immutable usdc;
    MockUSDT public immutable usdt;
    address public immutable admin;
    address public immutable operator;
    address public immutable feeRecipient;
    address public constant RELAYER = address(0x7E1A);
    address public constant DONOR = address(0xD0D0);
    address public constant SWEEP_SINK = address(0x5111C);
    uint128 public immutable maxAmount;
    uint128 public immutable minAmount;

    address[] public tokens;
    address[] public actors;
    mapping(address actor => uint256 key) private _keys;

    // ------------------------------------------------------------------ model
    uint256 public currentTime;
    bool public ghostPaused;
    uint16 public ghostFeeBps;
    mapping(address token => mapping(address account => uint256)) public ghostBalance;
    mapping(address token => mapping(address account => uint256)) public ghostPending;
    mapping(address token => mapping(address account => uint64)) public ghostUnlockAt;
    mapping(address token => mapping(address payer => mapping(address payee => uint256))) public ghostCommitted;
    mapping(address token => mapping(address payer => mapping(address payee => uint64))) public ghostReleaseAt;
    mapping(address token => mapping(address payee => uint256)) public ghostEarnings;
    mapping(address token => uint256) public ghostFees;
    mapping(address token => uint256) public ghostDeposited;
    mapping(address token => uint256) public ghostWithdrawn;
    mapping(address token => uint256) public ghostEarningsClaimed;
    mapping(address token => uint256) public ghostFeesClaimed;
    mapping(address token => uint256) public ghostDonated;
    mapping(address token => uint256) public ghostSwept;
    mapping(address payer => mapping(uint256 nonce => bool)) public ghostNonceUsed;
    mapping(address payer => uint256) private _nonceCounter;
    GhostHold[] private _holds;

    // ------------------------------------------------------------------ settlement record
    /// @dev `PaymentSettled` events the escrow emitted, by (payer, nonce).
    mapping(address payer => mapping(uint256 nonce => uint256)) public settledCount;
    ISettlementEscrow.SignedPayment[] private _settled;
    /// @dev Every consumption of a nonce, by a settled payment or an opened hold.
    mapping(address payer => mapping(uint256 nonce => uint256)) public nonceUses;
    /// @notice Number of times a (payer, nonce) settled a second time, or was consumed twice in
    /// any way (payment and hold). Must stay 0.
    uint256 public doubleSettlements;

    // ------------------------------------------------------------------ failure flags
    /// @notice Set when an unlocked withdrawal failed or paid the wrong amount.
    bool public withdrawBlocked;
    bytes public withdrawBlockedData;
    /// @notice Set when `exitEverything` could not get an actor's whole position out.
    bool public exitFailed;
    bytes public exitFailedData;
    /// @notice Outcomes that disagreed with the model (first one kept with its revert data).
    uint256 public surprises;
    string public firstSurprise;
    bytes public firstSurpriseData;

    // ------------------------------------------------------------------ statistics
    mapping(bytes32 action => uint256) public calls;
    mapping(bytes32 action => uint256) public successes;
    mapping(bytes32 action => uint256) public expectedFailures;

    constructor(
        SettlementEscrow escrow_,
        TokenRegistry registry_,
        MockUSDC usdc_,
        MockUSDT usdt_,
        address admin_,
        address operator_
    ) {
        escrow = escrow_;
        registry = registry_;
        usdc = usdc_;
        usdt = usdt_;
        admin = admin_;
        operator = operator_;
        feeRecipient = escrow_.feeRecipient();
        tokens.push(address(usdc_));
        tokens.push(address(usdt_));
        (, minAmount, maxAmount) = registry_.paymentPolicy(address(usdc_));
        currentTime = block.timestamp;
        ghostFeeBps = escrow_.feeBps();
        for (uint256 i = 0; i < NUM_ACTORS; ++i) {
            uint256 key = uint256(keccak256(abi.encode("payperagent actor", i))) % (SECP256K1_N - 1) + 1;
            address actor = vm.addr(key);
            actors.push(actor);
            _keys[actor] = key;
            vm.prank(actor);
            usdc_.approve(address(escrow_), type(uint256).max);
            vm.prank(actor);
            usdt_.approve(address(escrow_), type(uint256).max);
        }
    }

    /// @dev Every action starts at the handler's clock and records the escrow's logs, so that
    /// settlements are counted from the `PaymentSettled` events actually emitted.
    modifier action(bytes32 name) {
        vm.warp(currentTime);
        ++calls[name];
        vm.recordLogs();
        _;
        _countSettlementEvents();
    }

    // ================================================================== deposits & withdrawals

    function deposit(uint256 actorSeed, uint256 tokenSeed, uint256 amountSeed) external action("deposit") {
        address actor = _actor(actorSeed);
        address token = _token(tokenSeed);
        // Mostly deposit into an Active token; an eighth of the time keep the pick whatever its status.
        if (registry.statusOf(token) != ITokenRegistry.TokenStatus.Active && (tokenSeed >> 8) % 8 != 0) {
            token = _token(tokenSeed + 1);
        }
        uint256 amount = bound(amountSeed, 1, MAX_DEPOSIT);
        _mint(token, actor, amount);
        bytes memory expected = _depositBlocker(token);
        vm.prank(actor);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.deposit, (token, amount)));
        if (_check("deposit", ok, err, expected)) {
            ghostBalance[token][actor] += amount;
            ghostDeposited[token] += amount;
        }
    }

    function requestWithdrawal(uint256 actorSeed, uint256 amountSeed) external action("requestWithdrawal") {
        (address actor, address token) = _findPosition(actorSeed, _HAS_BALANCE);
        uint256 balance = ghostBalance[token][actor];
        if (balance == 0) return;
        uint256 amount = bound(amountSeed, 1, balance);
        vm.prank(actor);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.requestWithdrawal, (token, amount)));
        if (_check("requestWithdrawal", ok, err, "")) {
            ghostBalance[token][actor] -= amount;
            ghostPending[token][actor] += amount;
            ghostUnlockAt[token][actor] = uint64(currentTime) + escrow.withdrawalDelay();
        }
    }

    function cancelWithdrawal(uint256 actorSeed) external action("cancelWithdrawal") {
        (address actor, address token) = _findPosition(actorSeed, _HAS_PENDING);
        uint256 pending = ghostPending[token][actor];
        if (pending == 0) return;
        vm.prank(actor);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.cancelWithdrawal, (token)));
        if (_check("cancelWithdrawal", ok, err, "")) {
            ghostBalance[token][actor] += pending;
            ghostPending[token][actor] = 0;
            ghostUnlockAt[token][actor] = 0;
        }
    }

    /// @notice Withdraws an actor's pending amount, warping to its unlock time first if needed.
    /// Any failure, or a payout different from the pending amount, sets `withdrawBlocked`.
    function withdraw(uint256 actorSeed, uint256 extraSeed) external action("withdraw") {
        (address actor, address token) = _findPosition(actorSeed, _HAS_PENDING);
        uint256 pending = ghostPending[token][actor];
        if (pending == 0) return;
        uint256 unlockAt = ghostUnlockAt[token][actor];
        if (currentTime < unlockAt) _warpTo(unlockAt + bound(extraSeed, 0, 1 hours));
        _withdrawUnlocked(actor, token, pending);
    }

    // ================================================================== commitments

    function commit(uint256 actorSeed, uint256 payeeSeed, uint256 amountSeed) external action("commit") {
        (address payer, address token) = _findPosition(actorSeed, _HAS_BALANCE);
        address payee = _actor(payeeSeed);
        uint256 balance = ghostBalance[token][payer];
        if (balance == 0) return;
        uint256 amount = bound(amountSeed, 1, balance);
        bytes memory expected = ghostPaused ? abi.encodeWithSelector(Pausable.EnforcedPause.selector) : bytes("");
        vm.prank(payer);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.commit, (token, payee, amount)));
        if (_check("commit", ok, err, expected)) {
            ghostBalance[token][payer] -= amount;
            ghostCommitted[token][payer][payee] += amount;
            ghostReleaseAt[token][payer][payee] = 0;
        }
    }

    function requestRelease(uint256 seed) external action("requestRelease") {
        (bool found, address token, address payer, address payee) = _findCommitment(seed, false);
        if (!found) return;
        vm.prank(payer);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.requestRelease, (token, payee)));
        if (_check("requestRelease", ok, err, "")) {
            ghostReleaseAt[token][payer][payee] = uint64(currentTime) + escrow.withdrawalDelay();
        }
    }

    /// @notice Releases a commitment whose release was requested, warping to its release time if needed.
    function release(uint256 seed, uint256 extraSeed) external action("release") {
        (bool found, address token, address payer, address payee) = _findCommitment(seed, true);
        if (!found) return;
        uint256 releaseAt = ghostReleaseAt[token][payer][payee];
        if (currentTime < releaseAt) _warpTo(releaseAt + bound(extraSeed, 0, 1 hours));
        vm.prank(payer);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.release, (token, payee)));
        if (_check("release", ok, err, "")) _applyRelease(token, payer, payee);
    }

    // ================================================================== payments

    /// @notice Settles a fresh payment signed by an actor, for an amount its funds cover.
    function settle(
        uint256 payerSeed,
        uint256 payeeSeed,
        uint256 amountSeed,
        uint256 nonceSeed
    ) external action("settle") {
        (address payer, address token) = _findPosition(payerSeed, _CAN_PAY);
        ISettlementEscrow.PaymentAuthorization memory auth = _freshPayment(
            payer,
            _pickPayee(payer, token, payeeSeed),
            token,
            amountSeed,
            nonceSeed
        );
        bytes memory signature = _signPayment(auth);
        ISettlementEscrow.SettlementFailure predicted = _predictSettlement(auth);
        bytes memory expected = ghostPaused
            ? abi.encodeWithSelector(Pausable.EnforcedPause.selector)
            : _settlementError(auth, predicted);
        vm.prank(RELAYER);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.settle, (auth, signature)));
        if (_check("settle", ok, err, expected)) _applySettlement(auth, signature);
    }

    /// @notice Settles a batch of 1-5 entries: fresh payments, duplicates of earlier entries of the
    /// same batch and replays of already-settled payments, across both tokens. Every entry's result
    /// must match the model, which is applied entry by entry as the escrow does.
    function settleBatch(uint256 seed, uint256 countSeed) external action("settleBatch") {
        uint256 count = bound(countSeed, 1, 5);
        ISettlementEscrow.SignedPayment[] memory batch = new ISettlementEscrow.SignedPayment[](count);
        ISettlementEscrow.SettlementFailure[] memory expected = new ISettlementEscrow.SettlementFailure[](count);
        for (uint256 i = 0; i < count; ++i) {
            uint256 s = uint256(keccak256(abi.encode(seed, i)));
            uint256 kind = s % 8;
            if (kind == 0 && i > 0) {
                batch[i] = batch[(s >> 8) % i]; // duplicate inside the batch
            } else if (kind == 1 && _settled.length > 0) {
                batch[i] = _settled[(s >> 8) % _settled.length]; // replay of an earlier settlement
            } else {
                (address payer, address token) = _findPosition(s >> 16, _CAN_PAY);
                ISettlementEscrow.PaymentAuthorization memory auth = _freshPayment(
                    payer,
                    _pickPayee(payer, token, s >> 24),
                    token,
                    s >> 40,
                    s >> 64
                );
                batch[i] = ISettlementEscrow.SignedPayment({authorization: auth, signature: _signPayment(auth)});
            }
            // The escrow processes entries in order, so the model is advanced entry by entry
            // (unless paused: then the whole call reverts and nothing is applied).
            if (ghostPaused) continue;
            expected[i] = _predictSettlement(batch[i].authorization);
            if (expected[i] == ISettlementEscrow.SettlementFailure.None) {
                _applySettlement(batch[i].authorization, batch[i].signature);
            }
        }
        bytes memory expectedErr = ghostPaused ? abi.encodeWithSelector(Pausable.EnforcedPause.selector) : bytes("");
        vm.prank(RELAYER);
        (bool ok, bytes memory ret) = _call(abi.encodeCall(escrow.settleBatch, (batch)));
        if (!_check("settleBatch", ok, ret, expectedErr)) return;
        ISettlementEscrow.SettlementFailure[] memory results = abi.decode(ret, (ISettlementEscrow.SettlementFailure[]));
        for (uint256 i = 0; i < count; ++i) {
            if (results[i] != expected[i]) _surprise("settleBatch entry result", abi.encode(i, results[i], expected[i]));
        }
    }

    /// @notice `settleBatchFor` of 1-5 entries for one (token, payee): fresh payments from any
    /// payer, duplicates of earlier entries, replays of earlier settlements and entries signed for
    /// another payee (which the escrow must refuse as `InvalidSignature`). Results, events and
    /// ledger must match the model applied entry by entry, as for `settleBatch`.
    function settleBatchFor(uint256 seed, uint256 countSeed) external action("settleBatchFor") {
        uint256 count = bound(countSeed, 1, 5);
        (address firstPayer, address token) = _findPosition(seed, _CAN_PAY);
        address payee = _pickPayee(firstPayer, token, seed >> 8);
        ISettlementEscrow.PaymentAuthorization[] memory signed = new ISettlementEscrow.PaymentAuthorization[](count);
        ISettlementEscrow.CompactPayment[] memory batch = new ISettlementEscrow.CompactPayment[](count);
        ISettlementEscrow.SettlementFailure[] memory expected = new ISettlementEscrow.SettlementFailure[](count);
        for (uint256 i = 0; i < count; ++i) {
            uint256 s = uint256(keccak256(abi.encode(seed, "for", i)));
            uint256 kind = s % 8;
            ISettlementEscrow.PaymentAuthorization memory auth;
            if (kind == 0 && i > 0) {
                auth = signed[(s >> 8) % i]; // duplicate inside the batch
            } else if (kind == 1 && _settled.length > 0) {
                auth = _settled[(s >> 8) % _settled.length].authorization; // replay, maybe of another batch shape
            } else {
                address payer = i == 0 ? firstPayer : _actor(s >> 16);
                address signedPayee = kind == 2 ? _actor(s >> 24) : payee; // sometimes signed for someone else
                auth = _freshPayment(payer, signedPayee, token, s >> 40, s >> 64);
            }
            signed[i] = auth;
            batch[i] = _compactPayment(auth);
            if (ghostPaused) continue;
            // The escrow checks the entry as if signed for the batch's payee and token (a copy:
            // memory structs assign by reference).
            ISettlementEscrow.PaymentAuthorization memory asSubmitted = ISettlementEscrow.PaymentAuthorization({
                payer: auth.payer,
                payee: payee,
                token: token,
                amount: auth.amount,
                nonce: auth.nonce,
                validAfter: auth.validAfter,
                validBefore: auth.validBefore,
                challengeHash: auth.challengeHash
            });
            expected[i] = _predictSettlement(asSubmitted);
            if (expected[i] == ISettlementEscrow.SettlementFailure.None && (auth.payee != payee || auth.token != token)) {
                expected[i] = ISettlementEscrow.SettlementFailure.InvalidSignature;
            }
            if (expected[i] == ISettlementEscrow.SettlementFailure.None) _applySettlement(auth, _signPayment(auth));
        }
        bytes memory expectedErr = ghostPaused ? abi.encodeWithSelector(Pausable.EnforcedPause.selector) : bytes("");
        vm.prank(RELAYER);
        (bool ok, bytes memory ret) = _call(abi.encodeCall(escrow.settleBatchFor, (token, payee, batch)));
        if (!_check("settleBatchFor", ok, ret, expectedErr)) return;
        ISettlementEscrow.SettlementFailure[] memory results = abi.decode(ret, (ISettlementEscrow.SettlementFailure[]));
        for (uint256 i = 0; i < count; ++i) {
            if (results[i] != expected[i]) _surprise("settleBatchFor entry result", abi.encode(i, results[i], expected[i]));
        }
    }

    /// @notice Re-submits an already-settled payment, or a new payment reusing a hold's nonce.
    /// Must never settle.
    function replaySettle(uint256 seed) external action("replaySettle") {
        ISettlementEscrow.PaymentAuthorization memory auth;
        bytes memory signature;
        if (seed & 1 == 0 && _settled.length > 0) {
            ISettlementEscrow.SignedPayment memory p = _settled[(seed >> 1) % _settled.length];
            auth = p.authorization;
            signature = p.signature;
        } else if (_holds.length > 0) {
            GhostHold memory h = _holds[(seed >> 1) % _holds.length];
            auth = ISettlementEscrow.PaymentAuthorization({
                payer: h.payer,
                payee: h.payee,
                token: h.token,
                amount: minAmount,
                nonce: h.nonce,
                validAfter: 0,
                validBefore: currentTime + 1 hours,
                challengeHash: keccak256("reused hold nonce")
            });
            signature = _signPayment(auth);
        } else {
            return;
        }
        ISettlementEscrow.SettlementFailure predicted = _predictSettlement(auth);
        if (predicted == ISettlementEscrow.SettlementFailure.None) {
            _surprise("replaySettle: model says a used nonce can settle", abi.encode(auth.payer, auth.nonce));
            return;
        }
        bytes memory expected = ghostPaused
            ? abi.encodeWithSelector(Pausable.EnforcedPause.selector)
            : _settlementError(auth, predicted);
        vm.prank(RELAYER);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.settle, (auth, signature)));
        if (ok) _applySettlement(auth, signature); // the event scan records the double settlement
        _check("replaySettle", ok, err, expected);
    }

    // ================================================================== holds

    function authorizeHold(
        uint256 payerSeed,
        uint256 payeeSeed,
        uint256 amountSeed,
        uint256 deadlineSeed,
        bool signed
    ) external action("authorizeHold") {
        GhostHold memory h;
        (h.payer, h.token) = _findPosition(payerSeed, _CAN_HOLD);
        h.payee = _actor(payeeSeed);
        uint256 balance = ghostBalance[h.token][h.payer];
        h.authorized = bound(amountSeed, minAmount, _clamp(balance));
        h.captureDeadline = currentTime + bound(deadlineSeed, 1 hours, 4 days);
        h.refundDeadline = h.captureDeadline + bound(deadlineSeed >> 128, 0, 4 days);
        h.nonce = _nextNonce(h.payer, deadlineSeed);
        h.id = escrow.holdIdFor(h.payer, h.nonce);
        h.open = true;

        bytes memory expected;
        ITokenRegistry.TokenStatus status = registry.statusOf(h.token);
        if (ghostPaused) expected = abi.encodeWithSelector(Pausable.EnforcedPause.selector);
        else if (status != ITokenRegistry.TokenStatus.Active) {
            expected = abi.encodeWithSelector(ISettlementEscrow.TokenNotAccepted.selector, h.token, status);
        } else if (balance < h.authorized) {
            expected = abi.encodeWithSelector(ISettlementEscrow.InsufficientBalance.selector, balance, h.authorized);
        }

        bool ok;
        bytes memory ret;
        if (signed) {
            ISettlementEscrow.HoldAuthorization memory auth = ISettlementEscrow.HoldAuthorization({
                payer: h.payer,
                payee: h.payee,
                token: h.token,
                amount: h.authorized,
                nonce: h.nonce,
                validBefore: currentTime + 1 hours,
                captureDeadline: h.captureDeadline,
                refundDeadline: h.refundDeadline,
                challengeHash: keccak256("hold")
            });
            (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keys[h.payer], escrow.hashHoldAuthorization(auth));
            vm.prank(RELAYER);
            (ok, ret) = _call(abi.encodeCall(escrow.authorizeWithSignature, (auth, abi.encodePacked(r, s, v))));
        } else {
            vm.prank(h.payer);
            (ok, ret) = _call(
                abi.encodeCall(
                    escrow.authorize,
                    (h.token, h.payee, h.authorized, h.nonce, h.captureDeadline, h.refundDeadline, keccak256("hold"))
                )
            );
        }
        if (_check("authorizeHold", ok, ret, expected)) {
            if (abi.decode(ret, (bytes32)) != h.id) _surprise("authorizeHold: hold id", ret);
            ghostBalance[h.token][h.payer] -= h.authorized;
            _consumeNonce(h.payer, h.nonce);
            _holds.push(h);
        }
    }

    function capture(uint256 holdSeed, uint256 amountSeed, bool byOperator) external action("capture") {
        (bool found, uint256 index) = _findHold(holdSeed, 0);
        if (!found) return;
        GhostHold storage h = _holds[index];
        uint256 remaining = h.authorized - h.captured;
        uint256 amount = bound(amountSeed, 1, remaining);
        bytes memory expected;
        ITokenRegistry.TokenStatus status = registry.statusOf(h.token);
        if (status == ITokenRegistry.TokenStatus.Removed) {
            expected = abi.encodeWithSelector(ISettlementEscrow.TokenNotAccepted.selector, h.token, status);
        }
        vm.prank(byOperator ? operator : h.payee);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.capture, (h.id, amount)));
        if (_check("capture", ok, err, expected)) {
            h.captured += amount;
            if (h.captured == h.authorized) h.open = false;
            uint256 fee = (amount * ghostFeeBps) / _BPS;
            ghostFees[h.token] += fee;
            ghostEarnings[h.token][h.payee] += amount - fee;
        }
    }

    function voidHold(uint256 holdSeed, bool byOperator) external action("voidHold") {
        (bool found, uint256 index) = _findHold(holdSeed, 1);
        if (!found) return;
        GhostHold storage h = _holds[index];
        vm.prank(byOperator ? operator : h.payee);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.voidHold, (h.id)));
        if (_check("voidHold", ok, err, "")) _releaseHold(h);
    }

    /// @notice The payer reclaims an open hold, warping past its capture deadline if needed.
    function reclaim(uint256 holdSeed) external action("reclaim") {
        (bool found, uint256 index) = _findHold(holdSeed, 1);
        if (!found) return;
        GhostHold storage h = _holds[index];
        if (currentTime <= h.captureDeadline) _warpTo(h.captureDeadline + 1);
        vm.prank(h.payer);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.reclaim, (h.id)));
        if (_check("reclaim", ok, err, "")) _releaseHold(h);
    }

    function refund(uint256 holdSeed, uint256 amountSeed) external action("refund") {
        (bool found, uint256 index) = _findHold(holdSeed, 2);
        if (!found) return;
        GhostHold storage h = _holds[index];
        uint256 refundable = h.captured - h.refunded;
        uint256 earnings = ghostEarnings[h.token][h.payee];
        uint256 limit = refundable < earnings ? refundable : earnings;
        if (limit == 0) return;
        uint256 amount = bound(amountSeed, 1, limit);
        vm.prank(h.payee);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.refund, (h.id, amount)));
        if (_check("refund", ok, err, "")) {
            h.refunded += amount;
            ghostEarnings[h.token][h.payee] -= amount;
            ghostBalance[h.token][h.payer] += amount;
        }
    }

    // ================================================================== earnings & fees

    function claimEarnings(uint256 actorSeed) external action("claimEarnings") {
        (address actor, address token) = _findPosition(actorSeed, _HAS_EARNINGS);
        uint256 amount = ghostEarnings[token][actor];
        if (amount == 0) return;
        uint256 walletBefore = _tokenBalance(token, actor);
        vm.prank(actor);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.claimEarnings, (token, actor)));
        if (_check("claimEarnings", ok, err, "")) {
            if (_tokenBalance(token, actor) != walletBefore + amount) _surprise("claimEarnings payout", "");
            ghostEarnings[token][actor] = 0;
            ghostEarningsClaimed[token] += amount;
        }
    }

    function claimFees(uint256 tokenSeed) external action("claimFees") {
        address token = _token(tokenSeed);
        uint256 amount = ghostFees[token];
        if (amount == 0) return;
        uint256 walletBefore = _tokenBalance(token, feeRecipient);
        vm.prank(RELAYER);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.claimFees, (token)));
        if (_check("claimFees", ok, err, "")) {
            if (_tokenBalance(token, feeRecipient) != walletBefore + amount) _surprise("claimFees payout", "");
            ghostFees[token] = 0;
            ghostFeesClaimed[token] += amount;
        }
    }

    // ================================================================== admin & environment

    /// @notice Changes the withdrawal delay within its bounds; pending withdrawals keep their unlock time.
    function setWithdrawalDelay(uint256 delaySeed) external action("setWithdrawalDelay") {
        uint64 delay = uint64(bound(delaySeed, escrow.MIN_WITHDRAWAL_DELAY(), 2 days));
        vm.prank(admin);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.setWithdrawalDelay, (delay)));
        _check("setWithdrawalDelay", ok, err, "");
    }

    function setFee(uint256 bpsSeed) external action("setFee") {
        uint16 bps = uint16(bound(bpsSeed, 0, escrow.MAX_FEE_BPS()));
        vm.prank(admin);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.setFee, (bps)));
        if (_check("setFee", ok, err, "")) ghostFeeBps = bps;
    }

    /// @notice Unpauses if paused; otherwise pauses a quarter of the time (so the escrow is
    /// paused during roughly a fifth of the calls).
    function togglePause(uint256 seed) external action("togglePause") {
        bool pausing = !ghostPaused;
        if (pausing && seed % 4 != 0) return;
        vm.prank(admin);
        (bool ok, bytes memory err) = _call(pausing ? abi.encodeCall(escrow.pause, ()) : abi.encodeCall(escrow.unpause, ()));
        if (_check("togglePause", ok, err, "")) ghostPaused = pausing;
    }

    /// @notice Moves a token to Active (two thirds of the time), Deprecated or Removed.
    function setTokenStatus(uint256 tokenSeed, uint256 statusSeed) external action("setTokenStatus") {
        address token = _token(tokenSeed);
        uint256 sel = statusSeed % 6;
        ITokenRegistry.TokenStatus status = sel < 4
            ? ITokenRegistry.TokenStatus.Active
            : sel == 4
                ? ITokenRegistry.TokenStatus.Deprecated
                : ITokenRegistry.TokenStatus.Removed;
        if (registry.statusOf(token) == status) return;
        vm.prank(admin);
        (bool ok, bytes memory err) = _call(abi.encodeCall(registry.setStatus, (token, status)), address(registry));
        _check("setTokenStatus", ok, err, "");
    }

    /// @notice Someone sends tokens straight to the escrow, outside any deposit.
    function donate(uint256 tokenSeed, uint256 amountSeed) external action("donate") {
        address token = _token(tokenSeed);
        uint256 amount = bound(amountSeed, 1, MAX_DEPOSIT);
        _mint(token, DONOR, amount);
        vm.prank(DONOR);
        if (token == address(usdt)) usdt.transfer(address(escrow), amount);
        else usdc.transfer(address(escrow), amount);
        ghostDonated[token] += amount;
        ++successes["donate"];
    }

    /// @notice The admin sweeps the excess over what is owed; only donations can ever leave this way.
    function sweep(uint256 tokenSeed) external action("sweep") {
        address token = _token(tokenSeed);
        uint256 excess = ghostDonated[token] - ghostSwept[token];
        bytes memory expected = excess == 0 ? abi.encodeWithSelector(ISettlementEscrow.NothingToSweep.selector) : bytes("");
        uint256 sinkBefore = _tokenBalance(token, SWEEP_SINK);
        vm.prank(admin);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.sweep, (token, SWEEP_SINK)));
        if (_check("sweep", ok, err, expected)) {
            if (_tokenBalance(token, SWEEP_SINK) != sinkBefore + excess) _surprise("sweep amount", "");
            ghostSwept[token] += excess;
        }
    }

    function warpTime(uint256 secondsSeed) external action("warpTime") {
        _warpTo(currentTime + bound(secondsSeed, 1, 12 hours));
        ++successes["warpTime"];
    }

    /// @notice Gets an actor's whole position in a token out: reclaims its expired open holds,
    /// releases its commitments (request, wait the delay, release), moves its whole balance to a
    /// pending withdrawal, waits the delay, withdraws and claims its earnings, whatever the pause
    /// state and registry status. Any failure sets `exitFailed`.
    function exitEverything(uint256 actorSeed, uint256 tokenSeed) external action("exitEverything") {
        address actor = _actor(actorSeed);
        address token = _token(tokenSeed);
        for (uint256 i = 0; i < _holds.length; ++i) {
            GhostHold storage h = _holds[i];
            if (h.open && h.payer == actor && h.token == token && currentTime > h.captureDeadline) {
                vm.prank(actor);
                (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.reclaim, (h.id)));
                if (!ok) return _exitFailure(err);
                _releaseHold(h);
            }
        }
        if (!_releaseAllCommitments(actor, token)) return;
        uint256 balance = ghostBalance[token][actor];
        if (balance > 0) {
            vm.prank(actor);
            (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.requestWithdrawal, (token, balance)));
            if (!ok) return _exitFailure(err);
            ghostBalance[token][actor] = 0;
            ghostPending[token][actor] += balance;
            ghostUnlockAt[token][actor] = uint64(currentTime) + escrow.withdrawalDelay();
        }
        uint256 pending = ghostPending[token][actor];
        if (pending > 0) {
            _warpTo(ghostUnlockAt[token][actor]);
            uint256 walletBefore = _tokenBalance(token, actor);
            vm.prank(actor);
            (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.withdraw, (token)));
            if (!ok) return _exitFailure(err);
            if (_tokenBalance(token, actor) != walletBefore + pending) return _exitFailure("wrong payout");
            ghostPending[token][actor] = 0;
            ghostUnlockAt[token][actor] = 0;
            ghostWithdrawn[token] += pending;
        }
        uint256 earnings = ghostEarnings[token][actor];
        if (earnings > 0) {
            vm.prank(actor);
            (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.claimEarnings, (token, actor)));
            if (!ok) return _exitFailure(err);
            ghostEarnings[token][actor] = 0;
            ghostEarningsClaimed[token] += earnings;
        }
        if (
            _committedTotal(token, actor) != 0 ||
            escrow.balanceOf(token, actor) != 0 ||
            escrow.pendingWithdrawal(token, actor).amount != 0 ||
            escrow.earningsOf(token, actor) != 0
        ) return _exitFailure("position left behind");
        ++successes["exitEverything"];
    }

    // ================================================================== views for the invariants

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function tokenCount() external view returns (uint256) {
        return tokens.length;
    }

    function holdCount() external view returns (uint256) {
        return _holds.length;
    }

    function ghostHold(uint256 index) external view returns (GhostHold memory) {
        return _holds[index];
    }

    function settledPaymentCount() external view returns (uint256) {
        return _settled.length;
    }

    function settledPayment(uint256 index) external view returns (address payer, uint256 nonce) {
        ISettlementEscrow.PaymentAuthorization memory a = _settled[index].authorization;
        return (a.payer, a.nonce);
    }

    /// @notice Sum of the uncaptured rest of the model's open holds in `token`.
    function ghostOpenHolds(address token) public view returns (uint256 total) {
        for (uint256 i = 0; i < _holds.length; ++i) {
            GhostHold storage h = _holds[i];
            if (h.open && h.token == token) total += h.authorized - h.captured;
        }
    }

    /// @notice What the model says the escrow owes in `token`.
    function ghostTotalOwed(address token) external view returns (uint256) {
        return ghostDeposited[token] - ghostWithdrawn[token] - ghostEarningsClaimed[token] - ghostFeesClaimed[token];
    }

    function keyOf(address actor) external view returns (uint256) {
        return _keys[actor];
    }

    // ================================================================== internals

    function _withdrawUnlocked(address actor, address token, uint256 pending) internal {
        uint256 walletBefore = _tokenBalance(token, actor);
        vm.prank(actor);
        (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.withdraw, (token)));
        if (!ok) {
            withdrawBlocked = true;
            if (withdrawBlockedData.length == 0) withdrawBlockedData = err.length == 0 ? bytes("empty revert") : err;
            return;
        }
        if (_tokenBalance(token, actor) != walletBefore + pending) {
            withdrawBlocked = true;
            withdrawBlockedData = abi.encode("wrong payout", pending, _tokenBalance(token, actor) - walletBefore);
            return;
        }
        ++successes["withdraw"];
        ghostPending[token][actor] = 0;
        ghostUnlockAt[token][actor] = 0;
        ghostWithdrawn[token] += pending;
    }

    /// @dev Requests the release of all of `actor`'s commitments in `token`, waits the delay and
    /// releases them to its balance. Returns false (and records the failure) if anything failed.
    function _releaseAllCommitments(address actor, address token) internal returns (bool) {
        bool any;
        for (uint256 i = 0; i < actors.length; ++i) {
            address payee = actors[i];
            if (ghostCommitted[token][actor][payee] == 0) continue;
            any = true;
            vm.prank(actor);
            (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.requestRelease, (token, payee)));
            if (!ok) {
                _exitFailure(err);
                return false;
            }
            ghostReleaseAt[token][actor][payee] = uint64(currentTime) + escrow.withdrawalDelay();
        }
        if (!any) return true;
        _warpTo(currentTime + escrow.withdrawalDelay());
        for (uint256 i = 0; i < actors.length; ++i) {
            address payee = actors[i];
            if (ghostCommitted[token][actor][payee] == 0) continue;
            vm.prank(actor);
            (bool ok, bytes memory err) = _call(abi.encodeCall(escrow.release, (token, payee)));
            if (!ok) {
                _exitFailure(err);
                return false;
            }
            _applyRelease(token, actor, payee);
        }
        return true;
    }

    function _exitFailure(bytes memory err) internal {
        exitFailed = true;
        if (exitFailedData.length == 0) exitFailedData = err.length == 0 ? bytes("empty revert") : err;
    }

    function _freshPayment(
        address payer,
        address payee,
        address token,
        uint256 amountSeed,
        uint256 nonceSeed
    ) internal returns (ISettlementEscrow.PaymentAuthorization memory) {
        return
            ISettlementEscrow.PaymentAuthorization({
                payer: payer,
                payee: payee,
                token: token,
                amount: bound(amountSeed, minAmount, _clamp(_spendableFor(token, payer, payee))),
                nonce: _nextNonce(payer, nonceSeed),
                validAfter: currentTime - 1,
                validBefore: currentTime + _VALIDITY,
                challengeHash: keccak256(abi.encode(nonceSeed))
            });
    }

    /// @dev Fresh nonces: a per-payer counter (unique) in one of four bitmap words chosen by the seed.
    function _nextNonce(address payer, uint256 seed) internal returns (uint256) {
        return (uint256(seed % 4) << 128) | ++_nonceCounter[payer];
    }

    /// @dev `[minAmount, maxAmount]` clamp of what an actor can afford (at least `minAmount`).
    function _clamp(uint256 available) internal view returns (uint256) {
        if (available < minAmount) return minAmount;
        return available > maxAmount ? maxAmount : available;
    }

    /// @dev The escrow's `_check`, on the model (signatures are always the payer's own here).
    function _predictSettlement(
        ISettlementEscrow.PaymentAuthorization memory a
    ) internal view returns (ISettlementEscrow.SettlementFailure) {
        if (a.payee == address(0) || a.payee == address(escrow)) return ISettlementEscrow.SettlementFailure.InvalidPayee;
        if (currentTime <= a.validAfter) return ISettlementEscrow.SettlementFailure.NotYetValid;
        if (currentTime >= a.validBefore) return ISettlementEscrow.SettlementFailure.Expired;
        ITokenRegistry.TokenStatus status = registry.statusOf(a.token);
        if (status != ITokenRegistry.TokenStatus.Active && status != ITokenRegistry.TokenStatus.Deprecated) {
            return ISettlementEscrow.SettlementFailure.TokenNotAccepted;
        }
        if (a.amount < minAmount || a.amount > maxAmount) return ISettlementEscrow.SettlementFailure.AmountOutOfRange;
        if (ghostNonceUsed[a.payer][a.nonce]) return ISettlementEscrow.SettlementFailure.NonceUsed;
        if (_spendableFor(a.token, a.payer, a.payee) < a.amount) {
            return ISettlementEscrow.SettlementFailure.InsufficientFunds;
        }
        return ISettlementEscrow.SettlementFailure.None;
    }

    function _settlementError(
        ISettlementEscrow.PaymentAuthorization memory a,
        ISettlementEscrow.SettlementFailure f
    ) internal view returns (bytes memory) {
        if (f == ISettlementEscrow.SettlementFailure.None) return "";
        if (f == ISettlementEscrow.SettlementFailure.Expired) {
            return abi.encodeWithSelector(ISettlementEscrow.AuthorizationExpired.selector, a.validBefore);
        }
        if (f == ISettlementEscrow.SettlementFailure.TokenNotAccepted) {
            return abi.encodeWithSelector(ISettlementEscrow.TokenNotAccepted.selector, a.token, registry.statusOf(a.token));
        }
        if (f == ISettlementEscrow.SettlementFailure.NonceUsed) {
            return abi.encodeWithSelector(ISettlementEscrow.NonceAlreadyUsed.selector, a.payer, a.nonce);
        }
        if (f == ISettlementEscrow.SettlementFailure.InsufficientFunds) {
            return abi.encodeWithSelector(
                ISettlementEscrow.InsufficientFunds.selector,
                _spendableFor(a.token, a.payer, a.payee),
                a.amount
            );
        }
        return abi.encode("unmodelled failure", f);
    }

    /// @dev Applies a settlement to the model: debit the commitment to this payee, then the
    /// balance, then the pending withdrawal; credit the payee minus the fee.
    function _applySettlement(ISettlementEscrow.PaymentAuthorization memory a, bytes memory signature) internal {
        uint256 committed = ghostCommitted[a.token][a.payer][a.payee];
        uint256 fromCommitment = committed < a.amount ? committed : a.amount;
        ghostCommitted[a.token][a.payer][a.payee] = committed - fromCommitment;
        uint256 rest = a.amount - fromCommitment;
        uint256 balance = ghostBalance[a.token][a.payer];
        if (balance >= rest) {
            ghostBalance[a.token][a.payer] = balance - rest;
        } else {
            ghostBalance[a.token][a.payer] = 0;
            ghostPending[a.token][a.payer] -= rest - balance;
            // A fully drawn withdrawal is cleared: "nothing pending" reads as all zeros.
            if (ghostPending[a.token][a.payer] == 0) ghostUnlockAt[a.token][a.payer] = 0;
        }
        uint256 fee = (a.amount * ghostFeeBps) / _BPS;
        ghostFees[a.token] += fee;
        ghostEarnings[a.token][a.payee] += a.amount - fee;
        ghostNonceUsed[a.payer][a.nonce] = true;
        _settled.push(ISettlementEscrow.SignedPayment({authorization: a, signature: signature}));
    }

    /// @dev Counts one consumption of a nonce (a settled payment or an opened hold).
    function _consumeNonce(address payer, uint256 nonce) internal {
        ghostNonceUsed[payer][nonce] = true;
        if (++nonceUses[payer][nonce] > 1) ++doubleSettlements;
    }

    /// @dev Counts the `PaymentSettled` events of the action that just ran, per (payer, nonce).
    function _countSettlementEvents() internal {
        Vm.Log[] memory logs = vm.getRecordedLogs();
        for (uint256 i = 0; i < logs.length; ++i) {
            Vm.Log memory log = logs[i];
            if (log.emitter != address(escrow) || log.topics.length == 0) continue;
            if (log.topics[0] != ISettlementEscrow.PaymentSettled.selector) continue;
            address payer = address(uint160(uint256(log.topics[1])));
            (uint256 nonce, , , ) = abi.decode(log.data, (uint256, uint256, uint256, bytes32));
            ++settledCount[payer][nonce];
            _consumeNonce(payer, nonce);
        }
    }

    function _releaseHold(GhostHold storage h) internal {
        ghostBalance[h.token][h.payer] += h.authorized - h.captured;
        h.open = false;
    }

    /// @dev Finds a hold from `seed` on: mode 0 = open and capturable now, 1 = open, 2 = refundable now.
    function _findHold(uint256 seed, uint256 mode) internal view returns (bool, uint256) {
        uint256 n = _holds.length;
        if (n == 0) return (false, 0);
        uint256 start = seed % n;
        for (uint256 k = 0; k < n; ++k) {
            uint256 i = (start + k) % n;
            GhostHold storage h = _holds[i];
            if (mode == 0 && h.open && currentTime <= h.captureDeadline) return (true, i);
            if (mode == 1 && h.open) return (true, i);
            if (mode == 2 && h.captured > h.refunded && currentTime <= h.refundDeadline) return (true, i);
        }
        return (false, 0);
    }

    function _depositBlocker(address token) internal view returns (bytes memory) {
        if (ghostPaused) return abi.encodeWithSelector(Pausable.EnforcedPause.selector);
        ITokenRegistry.TokenStatus status = registry.statusOf(token);
        if (status != ITokenRegistry.TokenStatus.Active) {
            return abi.encodeWithSelector(ISettlementEscrow.TokenNotAccepted.selector, token, status);
        }
        return "";
    }

    /// @dev Compares an outcome with the expectation (`expected` empty = must succeed); records
    /// any mismatch. Returns whether the call succeeded and was expected to.
    function _check(string memory name, bool ok, bytes memory err, bytes memory expected) internal returns (bool) {
        bytes32 key = bytes32(bytes(name));
        if (expected.length == 0) {
            if (ok) {
                ++successes[key];
                return true;
            }
            _surprise(string.concat(name, ": unexpected revert"), err);
            return false;
        }
        if (ok) {
            _surprise(string.concat(name, ": unexpected success"), expected);
            return false;
        }
        if (keccak256(err) != keccak256(expected)) {
            _surprise(string.concat(name, ": wrong revert"), abi.encode(err, expected));
            return false;
        }
        ++expectedFailures[key];
        return false;
    }

    function _surprise(string memory what, bytes memory data) internal {
        if (surprises == 0) {
            firstSurprise = what;
            firstSurpriseData = data;
        }
        ++surprises;
    }

    function _call(bytes memory data) internal returns (bool ok, bytes memory ret) {
        return _call(data, address(escrow));
    }

    function _call(bytes memory data, address target) internal returns (bool ok, bytes memory ret) {
        // solhint-disable-next-line avoid-low-level-calls
        (ok, ret) = target.call(data);
    }

    function _signPayment(ISettlementEscrow.PaymentAuthorization memory auth) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keys[auth.payer], escrow.hashPaymentAuthorization(auth));
        return abi.encodePacked(r, s, v);
    }

    /// @dev The `settleBatchFor` entry of a payment: its payer's signature in EIP-2098 form.
    function _compactPayment(
        ISettlementEscrow.PaymentAuthorization memory auth
    ) internal view returns (ISettlementEscrow.CompactPayment memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(_keys[auth.payer], escrow.hashPaymentAuthorization(auth));
        return
            ISettlementEscrow.CompactPayment({
                payer: auth.payer,
                amount: auth.amount,
                nonce: auth.nonce,
                validAfter: auth.validAfter,
                validBefore: auth.validBefore,
                challengeHash: auth.challengeHash,
                r: r,
                vs: bytes32(uint256(s) | (uint256(v - 27) << 255))
            });
    }

    function _spendable(address token, address account) internal view returns (uint256) {
        return ghostBalance[token][account] + ghostPending[token][account];
    }

    function _spendableFor(address token, address payer, address payee) internal view returns (uint256) {
        return ghostCommitted[token][payer][payee] + ghostBalance[token][payer] + ghostPending[token][payer];
    }

    function _committedTotal(address token, address payer) internal view returns (uint256 total) {
        for (uint256 i = 0; i < actors.length; ++i) total += ghostCommitted[token][payer][actors[i]];
    }

    /// @dev A payee for `payer`: half of the time (and always when only commitments can pay) one
    /// it has a commitment to, otherwise any actor.
    function _pickPayee(address payer, address token, uint256 seed) internal view returns (address) {
        if (seed % 2 == 0 || _spendable(token, payer) < minAmount) {
            for (uint256 k = 0; k < actors.length; ++k) {
                address payee = actors[(seed + k) % actors.length];
                if (ghostCommitted[token][payer][payee] > 0) return payee;
            }
        }
        return _actor(seed >> 1);
    }

    /// @dev The first (token, payer, payee) from `seed` on with a commitment (whose release was
    /// requested, if `requested`).
    function _findCommitment(
        uint256 seed,
        bool requested
    ) internal view returns (bool, address, address, address) {
        uint256 na = actors.length;
        uint256 n = tokens.length * na * na;
        for (uint256 k = 0; k < n; ++k) {
            uint256 idx = (seed + k) % n;
            address token = tokens[idx / (na * na)];
            address payer = actors[(idx / na) % na];
            address payee = actors[idx % na];
            if (ghostCommitted[token][payer][payee] == 0) continue;
            if (requested && ghostReleaseAt[token][payer][payee] == 0) continue;
            return (true, token, payer, payee);
        }
        return (false, address(0), address(0), address(0));
    }

    function _applyRelease(address token, address payer, address payee) internal {
        ghostBalance[token][payer] += ghostCommitted[token][payer][payee];
        ghostCommitted[token][payer][payee] = 0;
        ghostReleaseAt[token][payer][payee] = 0;
    }

    function _warpTo(uint256 timestamp) internal {
        if (timestamp > currentTime) currentTime = timestamp;
        vm.warp(currentTime);
    }

    uint256 private constant _HAS_BALANCE = 0;
    uint256 private constant _HAS_PENDING = 1;
    uint256 private constant _HAS_EARNINGS = 2;
    uint256 private constant _CAN_PAY = 3;
    uint256 private constant _CAN_HOLD = 4;

    /// @dev The first (actor, token) from `seed` on whose position allows the action, so that
    /// actions mostly do something; falls back to the seed's own pick (then the action is skipped
    /// or fails as the model predicts).
    function _findPosition(uint256 seed, uint256 kind) internal view returns (address, address) {
        uint256 n = actors.length * tokens.length;
        for (uint256 k = 0; k < n; ++k) {
            uint256 idx = (seed + k) % n;
            address actor = actors[idx % actors.length];
            address token = tokens[idx / actors.length];
            bool fits;
            if (kind == _HAS_BALANCE) fits = ghostBalance[token][actor] > 0;
            else if (kind == _HAS_PENDING) fits = ghostPending[token][actor] > 0;
            else if (kind == _HAS_EARNINGS) fits = ghostEarnings[token][actor] > 0;
            else if (kind == _CAN_PAY) {
                fits =
                    _spendable(token, actor) + _committedTotal(token, actor) >= minAmount &&
                    registry.statusOf(token) != ITokenRegistry.TokenStatus.Removed;
            } else {
                fits =
                    ghostBalance[token][actor] >= minAmount &&
                    registry.statusOf(token) == ITokenRegistry.TokenStatus.Active;
            }
            if (fits) return (actor, token);
        }
        return (actors[seed % actors.length], tokens[(seed % n) / actors.length]);
    }

    function _actor(uint256 seed) internal view returns (address) {
        return actors[seed % actors.length];
    }

    function _token(uint256 seed) internal view returns (address) {
        return tokens[seed % tokens.length];
    }

    function _mint(address token, address to, uint256 amount) internal {
        if (token == address(usdt)) usdt.mint(to, amount);
        else usdc.mint(to, amount);
    }

    function _tokenBalance(address token, address account) internal view returns (uint256) {
        return token == address(usdt) ? usdt.balanceOf(account) : usdc.balanceOf(account);
    }
}
