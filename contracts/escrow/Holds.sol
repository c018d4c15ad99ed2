// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {BoundedSignatureChecker} from "../libraries/BoundedSignatureChecker.sol";
import {ITokenRegistry} from "../interfaces/ITokenRegistry.sol";
import {PaymentAuthorizations} from "./PaymentAuthorizations.sol";

/// @title Holds
/// @notice Two-phase payments: a payer reserves funds for a payee (authorize), the payee takes
/// some or all of them before a deadline (capture), the rest goes back (void or reclaim), and a
/// captured amount can be returned within a refund window (refund).
/// @dev Hold ids are `keccak256(abi.encode(payer, nonce))`; the nonce comes from the same unordered
/// bitmap as payment authorizations, so one signed nonce can never be both a payment and a hold.
abstract contract Holds is PaymentAuthorizations {
    /// @notice EIP-712 type hash of `HoldAuthorization`.
    bytes32 public constant HOLD_AUTHORIZATION_TYPEHASH =
        keccak256(
            "HoldAuthorization(address payer,address payee,address token,uint256 amount,uint256 nonce,uint256 validBefore,uint256 captureDeadline,uint256 refundDeadline,bytes32 challengeHash)"
        );

    mapping(bytes32 holdId => Hold) private _holds;

    /// @notice Opens a hold on the caller's balance for `payee`.
    /// @param token An Active token.
    /// @param payee Who may capture.
    /// @param amount Atomic units, within the token's per-payment limits and the caller's balance.
    /// @param nonce An unused nonce of the caller.
    /// @param captureDeadline Last capture time, in the future.
    /// @param refundDeadline Last refund time, not before `captureDeadline`.
    /// @param challengeHash Reference to the request the hold is for.
    /// @return holdId The new hold's id.
    function authorize(
        address token,
        address payee,
        uint256 amount,
        uint256 nonce,
        uint256 captureDeadline,
        uint256 refundDeadline,
        bytes32 challengeHash
    ) external whenNotPaused nonReentrant returns (bytes32 holdId) {
        return
            _openHold(
                HoldAuthorization({
                    payer: msg.sender,
                    payee: payee,
                    token: token,
                    amount: amount,
                    nonce: nonce,
                    validBefore: type(uint256).max,
                    captureDeadline: captureDeadline,
                    refundDeadline: refundDeadline,
                    challengeHash: challengeHash
                })
            );
    }

    /// @notice Opens a hold signed by the payer; anyone may submit it.
    /// @param authorization The signed hold.
    /// @param signature The payer's signature over its EIP-712 digest.
    /// @return holdId The new hold's id.
    function authorizeWithSignature(
        HoldAuthorization calldata authorization,
        bytes calldata signature
    ) external whenNotPaused nonReentrant returns (bytes32 holdId) {
        if (block.timestamp >= authorization.validBefore) revert AuthorizationExpired(authorization.validBefore);
        if (!BoundedSignatureChecker.isValidSignatureNow(authorization.payer, hashHoldAuthorization(authorization), signature)) {
            revert InvalidSignature();
        }
        return _openHold(authorization);
    }

    /// @notice Captures `amount` of an open hold for its payee, minus the operator fee.
    /// @dev Allowed while paused: the payer already committed these funds to this payee.
    /// @param holdId The hold.
    /// @param amount Atomic units, at most what is left.
    function capture(bytes32 holdId, uint256 amount) external nonReentrant {
        Hold storage hold = _openHoldFor(holdId);
        _requirePayeeOrOperator(holdId, hold);
        if (block.timestamp > hold.captureDeadline) revert CaptureDeadlinePassed(hold.captureDeadline);
        if (amount == 0) revert ZeroAmount();
        ITokenRegistry.TokenStatus status = registry.statusOf(hold.token);
        if (status == ITokenRegistry.TokenStatus.Removed) revert TokenNotAccepted(hold.token, status);
        uint256 remaining = hold.authorized - hold.captured;
        if (amount > remaining) revert CaptureExceedsHold(amount, remaining);
        hold.captured += SafeCast.toUint128(amount);
        if (amount == remaining) hold.status = HoldStatus.Closed;
        uint256 fee = _feeOn(amount, feeBps);
        _creditPayee(hold.token, hold.payee, amount, fee);
        emit HoldCaptured(holdId, amount, fee);
    }

    /// @notice Releases the uncaptured rest of a hold to the payer. Payee or operator only.
    /// @param holdId The hold.
    function voidHold(bytes32 holdId) external nonReentrant {
        Hold storage hold = _openHoldFor(holdId);
        _requirePayeeOrOperator(holdId, hold);
        emit HoldVoided(holdId, _release(hold));
    }

    /// @notice The payer takes back the uncaptured rest after the capture deadline. Works while paused.
    /// @param holdId The hold.
    function reclaim(bytes32 holdId) external nonReentrant {
        Hold storage hold = _openHoldFor(holdId);
        if (msg.sender != hold.payer) revert NotAuthorizedForHold(holdId, msg.sender);
        if (block.timestamp <= hold.captureDeadline) revert CaptureDeadlineNotReached(hold.captureDeadline);
        emit HoldReclaimed(holdId, _release(hold));
    }

    /// @notice The payee returns `amount` of what it captured to the payer's balance, before the
    /// refund deadline. The operator fee already taken is not returned: the payee bears it.
    /// @param holdId The hold.
    /// @param amount Atomic units, at most captured minus already refunded.
    function refund(bytes32 holdId, uint256 amount) external nonReentrant {
        Hold storage hold = _holds[holdId];
        if (hold.status == HoldStatus.None) revert UnknownHold(holdId);
        if (msg.sender != hold.payee) revert NotAuthorizedForHold(holdId, msg.sender);
        if (block.timestamp > hold.refundDeadline) revert RefundDeadlinePassed(hold.refundDeadline);
        if (amount == 0) revert ZeroAmount();
        uint256 refundable = hold.captured - hold.refunded;
        if (amount > refundable) revert RefundExceedsCaptured(amount, refundable);
        uint256 earnings = _earnings[hold.token][hold.payee];
        if (earnings < amount) revert InsufficientEarnings(earnings, amount);
        hold.refunded += SafeCast.toUint128(amount);
        _earnings[hold.token][hold.payee] = earnings - amount;
        _balances[hold.token][hold.payer] += amount;
        emit HoldRefunded(holdId, amount);
    }

    /// @notice State of a hold (all zero if unknown).
    /// @param holdId The hold.
    /// @return The hold.
    function getHold(bytes32 holdId) external view returns (Hold memory) {
        return _holds[holdId];
    }

    /// @notice The id a hold opened by `payer` with `nonce` gets.
    /// @param payer The payer.
    /// @param nonce The nonce.
    /// @return The hold id.
    function holdIdFor(address payer, uint256 nonce) public pure returns (bytes32) {
        return keccak256(abi.encode(payer, nonce));
    }

    /// @notice The EIP-712 digest the payer signs for a hold.
    /// @param authorization The hold.
    /// @return The digest.
    function hashHoldAuthorization(HoldAuthorization calldata authorization) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(HOLD_AUTHORIZATION_TYPEHASH, authorization)));
    }

    // ------------------------------------------------------------------ internals

    function _openHold(HoldAuthorization memory auth) private returns (bytes32 holdId) {
        if (auth.payee == address(0) || auth.payee == address(this)) revert InvalidPayee();
        if (auth.captureDeadline <= block.timestamp || auth.refundDeadline < auth.captureDeadline) {
            revert InvalidDeadlines(auth.captureDeadline, auth.refundDeadline);
        }
        (ITokenRegistry.TokenStatus status, uint128 minAmount, uint128 maxAmount) = registry.paymentPolicy(auth.token);
        if (status != ITokenRegistry.TokenStatus.Active) revert TokenNotAccepted(auth.token, status);
        if (auth.amount < minAmount || auth.amount > maxAmount) revert AmountOutOfRange(auth.amount, minAmount, maxAmount);
        // Pending withdrawals are reserved for settling payments already accepted, not for new holds.
        uint256 balance = _balances[auth.token][auth.payer];
        if (balance < auth.amount) revert InsufficientBalance(balance, auth.amount);
        if (!_useNonce(auth.payer, auth.nonce)) revert NonceAlreadyUsed(auth.payer, auth.nonce);

        holdId = holdIdFor(auth.payer, auth.nonce);
        uint48 captureDeadline = SafeCast.toUint48(auth.captureDeadline);
        uint48 refundDeadline = SafeCast.toUint48(auth.refundDeadline);
        _balances[auth.token][auth.payer] = balance - auth.amount;
        _holds[holdId] = Hold({
            payer: auth.payer,
            captureDeadline: captureDeadline,
            status: HoldStatus.Open,
            payee: auth.payee,
            refundDeadline: refundDeadline,
            token: auth.token,
            authorized: SafeCast.toUint128(auth.amount),
            captured: 0,
            refunded: 0
        });
        emit HoldAuthorized(
            holdId,
            auth.payer,
            auth.payee,
            auth.token,
            auth.amount,
            captureDeadline,
            refundDeadline,
            auth.challengeHash
        );
    }

    function _openHoldFor(bytes32 holdId) private view returns (Hold storage hold) {
        hold = _holds[holdId];
        if (hold.status == HoldStatus.None) revert UnknownHold(holdId);
        if (hold.status != HoldStatus.Open) revert HoldNotOpen(holdId);
    }

    function _requirePayeeOrOperator(bytes32 holdId, Hold storage hold) private view {
        if (msg.sender != hold.payee && !hasRole(OPERATOR_ROLE, msg.sender)) {
            revert NotAuthorizedForHold(holdId, msg.sender);
        }
    }

    /// @dev Closes the hold and returns its uncaptured rest to the payer's balance.
    function _release(Hold storage hold) private returns (uint256 released) {
        released = hold.authorized - hold.captured;
        hold.status = HoldStatus.Closed;
        _balances[hold.token][hold.payer] += released;
    }
}
