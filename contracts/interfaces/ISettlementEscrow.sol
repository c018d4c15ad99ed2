// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ITokenRegistry} from "./ITokenRegistry.sol";

/// @title ISettlementEscrow
/// @notice Types, events and errors of the PayPerAgent settlement escrow: agents deposit tokens,
/// sign EIP-712 payment authorizations off-chain, and anyone can settle those authorizations so
/// that the signed payee is paid from the agent's deposit.
interface ISettlementEscrow {
    /// @notice A payment the payer signs with EIP-712 against this escrow's domain.
    /// @param payer Whose deposit pays.
    /// @param payee Who is paid; the only possible recipient.
    /// @param token The ERC-20 the payment is in.
    /// @param amount Atomic units.
    /// @param nonce Unordered nonce: any unused value works, see `isNonceUsed`.
    /// @param validAfter The authorization is valid strictly after this timestamp.
    /// @param validBefore The authorization is valid strictly before this timestamp.
    /// @param challengeHash Binds the payment to the 402 challenge it answers.
    struct PaymentAuthorization {
        address payer;
        address payee;
        address token;
        uint256 amount;
        uint256 nonce;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 challengeHash;
    }

    /// @notice A payment authorization with its signature (65-byte ECDSA, or anything an ERC-1271 payer accepts).
    struct SignedPayment {
        PaymentAuthorization authorization;
        bytes signature;
    }

    /// @notice One entry of `settleBatchFor`: a `PaymentAuthorization` whose payee and token are the
    /// batch's, so they are not repeated, with an EIP-2098 compact signature. The payer signs the
    /// same full `PaymentAuthorization` as for `settle`; the escrow fills in payee and token before
    /// hashing, so an entry moved into another payee's or token's batch no longer verifies.
    /// @param payer Whose deposit pays.
    /// @param amount Atomic units.
    /// @param nonce Unordered nonce.
    /// @param validAfter The authorization is valid strictly after this timestamp.
    /// @param validBefore The authorization is valid strictly before this timestamp.
    /// @param challengeHash Binds the payment to the 402 challenge it answers.
    /// @param r The signature's r.
    /// @param vs The signature's s, with v - 27 in its top bit (EIP-2098).
    struct CompactPayment {
        address payer;
        uint256 amount;
        uint256 nonce;
        uint256 validAfter;
        uint256 validBefore;
        bytes32 challengeHash;
        bytes32 r;
        bytes32 vs;
    }

    /// @notice A hold the payer signs: funds are reserved for a payee, who may capture them until a deadline.
    /// @param payer Whose deposit is held.
    /// @param payee Who may capture.
    /// @param token The ERC-20 held.
    /// @param amount Atomic units reserved.
    /// @param nonce Unordered nonce shared with payment authorizations.
    /// @param validBefore The signature can be used strictly before this timestamp.
    /// @param captureDeadline Last timestamp at which the payee may capture.
    /// @param refundDeadline Last timestamp at which the payee may refund a captured amount.
    /// @param challengeHash Binds the hold to the request it reserves funds for.
    struct HoldAuthorization {
        address payer;
        address payee;
        address token;
        uint256 amount;
        uint256 nonce;
        uint256 validBefore;
        uint256 captureDeadline;
        uint256 refundDeadline;
        bytes32 challengeHash;
    }

    /// @notice Why a payment authorization cannot be settled (`None` means it can).
    enum SettlementFailure {
        None,
        InvalidPayee,
        NotYetValid,
        Expired,
        TokenNotAccepted,
        AmountOutOfRange,
        NonceUsed,
        InsufficientFunds,
        InvalidSignature
    }

    /// @notice Lifecycle of a hold.
    /// @dev `Open` while any authorized amount is still held; `Closed` once the remainder was
    /// captured, voided or reclaimed. Refunds stay possible in both states until the refund deadline.
    enum HoldStatus {
        None,
        Open,
        Closed
    }

    /// @notice State of one hold. Invariant: refunded <= captured <= authorized.
    struct Hold {
        address payer;
        uint48 captureDeadline;
        HoldStatus status;
        address payee;
        uint48 refundDeadline;
        address token;
        uint128 authorized;
        uint128 captured;
        uint128 refunded;
    }

    /// @notice A payer's delayed withdrawal. `amount` can shrink when settlements draw on it.
    struct PendingWithdrawal {
        uint256 amount;
        uint64 unlockAt;
    }

    /// @notice Funds a payer reserved for one payee: only payments to that payee can draw on them,
    /// and the payer gets them back only through a delayed release. `releaseAt` is 0 while no
    /// release was requested. This is what lets a gateway serve first and settle later.
    struct Commitment {
        uint256 amount;
        uint64 releaseAt;
    }

    // ---------------------------------------------------------------- events

    /// @notice `funder` deposited `amount` of `token` to `account`'s balance.
    event Deposited(address indexed token, address indexed account, address indexed funder, uint256 amount);
    /// @notice `account` moved `amount` into its pending withdrawal; `totalPending` unlocks at `unlockAt`.
    event WithdrawalRequested(
        address indexed token,
        address indexed account,
        uint256 amount,
        uint256 totalPending,
        uint64 unlockAt
    );
    /// @notice `account` moved its pending withdrawal of `amount` back to its balance.
    event WithdrawalCancelled(address indexed token, address indexed account, uint256 amount);
    /// @notice `account` withdrew `amount` of `token`.
    event Withdrawn(address indexed token, address indexed account, uint256 amount);
    /// @notice `payer` committed `amount` more of `token` to `payee`; `totalCommitted` is now reserved for it.
    event Committed(
        address indexed token,
        address indexed payer,
        address indexed payee,
        uint256 amount,
        uint256 totalCommitted
    );
    /// @notice `payer` asked for its commitment to `payee` back; it can be released at `releaseAt`.
    event ReleaseRequested(address indexed token, address indexed payer, address indexed payee, uint64 releaseAt);
    /// @notice The rest of `payer`'s commitment to `payee`, `amount`, went back to the payer's balance.
    event Released(address indexed token, address indexed payer, address indexed payee, uint256 amount);
    /// @notice A payment authorization was settled: `amount` left the payer, `amount - fee` went to the payee.
    event PaymentSettled(
        address indexed payer,
        address indexed payee,
        address indexed token,
        uint256 nonce,
        uint256 amount,
        uint256 fee,
        bytes32 challengeHash
    );
    /// @notice An entry of `settleBatch` was skipped, for `reason`; nothing changed for it.
    event PaymentFailed(address indexed payer, uint256 indexed nonce, SettlementFailure reason);
    /// @notice A hold was opened.
    event HoldAuthorized(
        bytes32 indexed holdId,
        address indexed payer,
        address indexed payee,
        address token,
        uint256 amount,
        uint48 captureDeadline,
        uint48 refundDeadline,
        bytes32 challengeHash
    );
    /// @notice `amount` of a hold was captured; the payee got `amount - fee`.
    event HoldCaptured(bytes32 indexed holdId, uint256 amount, uint256 fee);
    /// @notice The payee or an operator released the uncaptured `released` amount back to the payer.
    event HoldVoided(bytes32 indexed holdId, uint256 released);
    /// @notice The payer took back the uncaptured `released` amount after the capture deadline.
    event HoldReclaimed(bytes32 indexed holdId, uint256 released);
    /// @notice The payee returned `amount` of a captured hold to the payer.
    event HoldRefunded(bytes32 indexed holdId, uint256 amount);
    /// @notice `payee` claimed `amount` of its earnings in `token`, sent to `to`.
    event EarningsClaimed(address indexed token, address indexed payee, address indexed to, uint256 amount);
    /// @notice Accrued fees were sent to the fee recipient.
    event FeesClaimed(address indexed token, address indexed recipient, uint256 amount);
    /// @notice The operator fee changed.
    event FeeUpdated(uint16 previousFeeBps, uint16 newFeeBps);
    /// @notice The fee recipient changed.
    event FeeRecipientUpdated(address indexed previousRecipient, address indexed newRecipient);
    /// @notice The withdrawal delay changed; pending withdrawals keep their unlock time.
    event WithdrawalDelayUpdated(uint64 previousDelay, uint64 newDelay);
    /// @notice Tokens sent to the escrow outside any deposit were swept to `to`.
    event Swept(address indexed token, address indexed to, uint256 amount);

    // ---------------------------------------------------------------- errors

    /// @notice A zero amount was given.
    error ZeroAmount();
    /// @notice A zero address was given where a real one is required.
    error ZeroAddress();
    /// @notice The token's registry status does not allow this operation.
    error TokenNotAccepted(address token, ITokenRegistry.TokenStatus status);
    /// @notice The token delivered a different amount than requested (fee-on-transfer, rebasing, ...).
    error UnsupportedTokenBehavior(address token, uint256 expected, uint256 received);
    /// @notice The escrow holds less of `token` than it owes: the token rebased downwards.
    error BalanceShortfall(address token, uint256 held, uint256 owed);
    /// @notice The account's balance is below what the operation needs.
    error InsufficientBalance(uint256 available, uint256 required);
    /// @notice Nothing is pending for withdrawal.
    error NoPendingWithdrawal();
    /// @notice The pending withdrawal unlocks at `unlockAt`.
    error WithdrawalLocked(uint64 unlockAt);
    /// @notice Nothing to claim.
    error NothingToClaim();
    /// @notice The payee is the zero address or the escrow itself.
    error InvalidPayee();
    /// @notice The authorization's `validAfter` has not passed yet.
    error AuthorizationNotYetValid(uint256 validAfter);
    /// @notice The authorization's `validBefore` has passed.
    error AuthorizationExpired(uint256 validBefore);
    /// @notice The amount is outside the token's per-payment limits.
    error AmountOutOfRange(uint256 amount, uint128 minAmount, uint128 maxAmount);
    /// @notice The payer's nonce was already used by a settled payment or a hold.
    error NonceAlreadyUsed(address payer, uint256 nonce);
    /// @notice The payer's balance plus pending withdrawal is below the amount.
    error InsufficientFunds(uint256 spendable, uint256 required);
    /// @notice The signature is not the payer's (or a high-s / malformed ECDSA signature).
    error InvalidSignature();
    /// @notice `settleBatch` got no entries.
    error EmptyBatch();
    /// @notice The fee exceeds `MAX_FEE_BPS`.
    error FeeTooHigh(uint16 feeBps, uint16 maxFeeBps);
    /// @notice The withdrawal delay is outside [`MIN_WITHDRAWAL_DELAY`, `MAX_WITHDRAWAL_DELAY`].
    error WithdrawalDelayOutOfBounds(uint64 delay);
    /// @notice Deadlines are in the past, or the refund deadline precedes the capture deadline.
    error InvalidDeadlines(uint256 captureDeadline, uint256 refundDeadline);
    /// @notice The hold id is unknown.
    error UnknownHold(bytes32 holdId);
    /// @notice The hold is not open (already fully captured, voided or reclaimed).
    error HoldNotOpen(bytes32 holdId);
    /// @notice The caller is not allowed to act on this hold.
    error NotAuthorizedForHold(bytes32 holdId, address caller);
    /// @notice The capture deadline passed.
    error CaptureDeadlinePassed(uint48 captureDeadline);
    /// @notice The capture deadline has not passed yet, so the payer cannot reclaim.
    error CaptureDeadlineNotReached(uint48 captureDeadline);
    /// @notice The amount exceeds what is left to capture.
    error CaptureExceedsHold(uint256 amount, uint256 remaining);
    /// @notice The refund deadline passed.
    error RefundDeadlinePassed(uint48 refundDeadline);
    /// @notice The amount exceeds the captured, not yet refunded amount.
    error RefundExceedsCaptured(uint256 amount, uint256 refundable);
    /// @notice The payee's earnings are below the refund.
    error InsufficientEarnings(uint256 earnings, uint256 required);
    /// @notice Nothing to sweep: the escrow holds no more than it owes.
    error NothingToSweep();
    /// @notice The permit failed and the caller is not the owner, so no existing allowance may be used.
    error PermitFailed(address token, address owner);
    /// @notice The payer has nothing committed to this payee.
    error NothingCommitted();
    /// @notice No release of this commitment was requested.
    error ReleaseNotRequested();
    /// @notice The commitment can be released at `releaseAt`.
    error ReleaseLocked(uint64 releaseAt);
}
