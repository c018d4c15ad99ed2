// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {BoundedSignatureChecker} from "../libraries/BoundedSignatureChecker.sol";
import {ITokenRegistry} from "../interfaces/ITokenRegistry.sol";
import {EscrowAccounts} from "./EscrowAccounts.sol";

/// @title PaymentAuthorizations
/// @notice Settles EIP-712 payment authorizations signed by payers against their deposits.
/// @dev Nonces are unordered: a payer's nonce space is a bitmap of 256-bit words, so an agent
/// can sign many payments in parallel without coordinating a counter. Nonces in the same word
/// share one storage slot, which is what keeps batch settlement cheap; see docs/escrow-contracts.md.
/// There is deliberately no way for a payer to cancel a signed authorization early: a gateway
/// serves the response before it settles, so a cancel would let the payer take the response for
/// free. Authorizations are short-lived instead (`validBefore`).
abstract contract PaymentAuthorizations is EscrowAccounts, EIP712 {
    /// @notice EIP-712 type hash of `PaymentAuthorization`.
    bytes32 public constant PAYMENT_AUTHORIZATION_TYPEHASH =
        keccak256(
            "PaymentAuthorization(address payer,address payee,address token,uint256 amount,uint256 nonce,uint256 validAfter,uint256 validBefore,bytes32 challengeHash)"
        );

    mapping(address payer => mapping(uint256 wordPosition => uint256 bits)) private _nonceBitmap;

    /// @dev Registry answers remembered across one batch: batches usually repeat the same token.
    struct PolicyCache {
        address token;
        ITokenRegistry.TokenStatus status;
        uint128 minAmount;
        uint128 maxAmount;
    }

    /// @notice Settles one payment authorization; reverts with the reason if it cannot.
    /// @dev Anyone may submit: the money can only go to the signed payee.
    /// @param authorization The signed payment.
    /// @param signature The payer's signature over its EIP-712 digest.
    function settle(
        PaymentAuthorization calldata authorization,
        bytes calldata signature
    ) external whenNotPaused nonReentrant {
        PolicyCache memory cache;
        SettlementFailure failure = _trySettle(authorization, signature, cache);
        if (failure != SettlementFailure.None) _revertFor(failure, authorization, cache);
    }

    /// @notice Settles many payment authorizations. A bad entry is reported (`PaymentFailed`) and
    /// skipped; the others still settle.
    /// @param payments The signed payments.
    /// @return results One entry per payment: `None` if settled, otherwise why not.
    function settleBatch(
        SignedPayment[] calldata payments
    ) external whenNotPaused nonReentrant returns (SettlementFailure[] memory results) {
        uint256 count = payments.length;
        if (count == 0) revert EmptyBatch();
        results = new SettlementFailure[](count);
        PolicyCache memory cache;
        for (uint256 i = 0; i < count; ++i) {
            SignedPayment calldata payment = payments[i];
            SettlementFailure failure = _trySettle(payment.authorization, payment.signature, cache);
            if (failure != SettlementFailure.None) {
                results[i] = failure;
                emit PaymentFailed(payment.authorization.payer, payment.authorization.nonce, failure);
            }
        }
    }

    /// @notice Why `settle` would fail right now, without changing state. A pause is not reported
    /// here: `settle` reverts with `EnforcedPause` while `paused()` is true.
    /// @param authorization The signed payment.
    /// @param signature The payer's signature.
    /// @return `None` if it would settle, otherwise the first failing check.
    function checkPayment(
        PaymentAuthorization calldata authorization,
        bytes calldata signature
    ) external view returns (SettlementFailure) {
        PolicyCache memory cache;
        return _check(authorization, signature, cache);
    }

    /// @notice Whether `payer` has used `nonce` (for a settled payment or a hold).
    /// @param payer The payer.
    /// @param nonce The nonce.
    /// @return True if used.
    function isNonceUsed(address payer, uint256 nonce) public view returns (bool) {
        return _nonceBitmap[payer][nonce >> 8] & (1 << (nonce & 0xff)) != 0;
    }

    /// @notice The raw bitmap word, so a client can find free nonces in one call.
    /// @param payer The payer.
    /// @param wordPosition `nonce >> 8`.
    /// @return Bit `i` is set if nonce `(wordPosition << 8) | i` is used.
    function nonceBitmap(address payer, uint256 wordPosition) external view returns (uint256) {
        return _nonceBitmap[payer][wordPosition];
    }

    /// @notice The EIP-712 digest the payer signs for `authorization`.
    /// @param authorization The payment.
    /// @return The digest.
    function hashPaymentAuthorization(PaymentAuthorization calldata authorization) public view returns (bytes32) {
        return _hashTypedDataV4(keccak256(abi.encode(PAYMENT_AUTHORIZATION_TYPEHASH, authorization)));
    }

    /// @notice This escrow's EIP-712 domain separator.
    /// @return The separator for the current chain.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    // ------------------------------------------------------------------ internals

    function _trySettle(
        PaymentAuthorization calldata authorization,
        bytes calldata signature,
        PolicyCache memory cache
    ) private returns (SettlementFailure failure) {
        failure = _check(authorization, signature, cache);
        if (failure != SettlementFailure.None) return failure;
        _useNonce(authorization.payer, authorization.nonce);
        _debitSpendable(authorization.token, authorization.payer, authorization.payee, authorization.amount);
        uint256 fee = _creditPayee(authorization.token, authorization.payee, authorization.amount);
        emit PaymentSettled(
            authorization.payer,
            authorization.payee,
            authorization.token,
            authorization.nonce,
            authorization.amount,
            fee,
            authorization.challengeHash
        );
    }

    /// @dev Cheap checks first, the signature last.
    function _check(
        PaymentAuthorization calldata authorization,
        bytes calldata signature,
        PolicyCache memory cache
    ) private view returns (SettlementFailure) {
        // Paying the escrow itself would lock the money for good: nobody could claim it.
        if (authorization.payee == address(0) || authorization.payee == address(this)) {
            return SettlementFailure.InvalidPayee;
        }
        if (block.timestamp <= authorization.validAfter) return SettlementFailure.NotYetValid;
        if (block.timestamp >= authorization.validBefore) return SettlementFailure.Expired;
        _loadPolicy(authorization.token, cache);
        // Deprecated tokens still settle: payments signed before the deprecation must reach their payee.
        if (cache.status != ITokenRegistry.TokenStatus.Active && cache.status != ITokenRegistry.TokenStatus.Deprecated) {
            return SettlementFailure.TokenNotAccepted;
        }
        if (authorization.amount < cache.minAmount || authorization.amount > cache.maxAmount) {
            return SettlementFailure.AmountOutOfRange;
        }
        if (isNonceUsed(authorization.payer, authorization.nonce)) return SettlementFailure.NonceUsed;
        if (_spendable(authorization.token, authorization.payer, authorization.payee) < authorization.amount) {
            return SettlementFailure.InsufficientFunds;
        }
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(PAYMENT_AUTHORIZATION_TYPEHASH, authorization)));
        if (!BoundedSignatureChecker.isValidSignatureNow(authorization.payer, digest, signature)) {
            return SettlementFailure.InvalidSignature;
        }
        return SettlementFailure.None;
    }

    /// @dev Marks a nonce used; returns false if it already was.
    function _useNonce(address payer, uint256 nonce) internal returns (bool) {
        uint256 bit = 1 << (nonce & 0xff);
        uint256 word = _nonceBitmap[payer][nonce >> 8];
        if (word & bit != 0) return false;
        _nonceBitmap[payer][nonce >> 8] = word | bit;
        return true;
    }

    function _loadPolicy(address token, PolicyCache memory cache) internal view {
        if (cache.token == token && token != address(0)) return;
        (cache.status, cache.minAmount, cache.maxAmount) = registry.paymentPolicy(token);
        cache.token = token;
    }

    function _revertFor(
        SettlementFailure failure,
        PaymentAuthorization calldata authorization,
        PolicyCache memory cache
    ) private view {
        if (failure == SettlementFailure.InvalidPayee) revert InvalidPayee();
        if (failure == SettlementFailure.NotYetValid) revert AuthorizationNotYetValid(authorization.validAfter);
        if (failure == SettlementFailure.Expired) revert AuthorizationExpired(authorization.validBefore);
        if (failure == SettlementFailure.TokenNotAccepted) revert TokenNotAccepted(authorization.token, cache.status);
        if (failure == SettlementFailure.AmountOutOfRange) {
            revert AmountOutOfRange(authorization.amount, cache.minAmount, cache.maxAmount);
        }
        if (failure == SettlementFailure.NonceUsed) revert NonceAlreadyUsed(authorization.payer, authorization.nonce);
        if (failure == SettlementFailure.InsufficientFunds) {
            revert InsufficientFunds(
                _spendable(authorization.token, authorization.payer, authorization.payee),
                authorization.amount
            );
        }
        revert InvalidSignature();
    }
}
