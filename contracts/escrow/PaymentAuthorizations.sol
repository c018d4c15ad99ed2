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

    /// @dev Storage `_check` read that the effects need again.
    struct Reads {
        uint256 nonceWord;
        uint256 committed;
        uint256 balance;
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
        PaymentAuthorization memory payment = authorization;
        (SettlementFailure failure, uint256 fee) = _trySettle(payment, signature, cache, feeBps);
        if (failure != SettlementFailure.None) _revertFor(failure, payment, cache);
        _creditPayee(payment.token, payment.payee, payment.amount, fee);
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
        uint256 bps = feeBps;
        for (uint256 i = 0; i < count; ++i) {
            PaymentAuthorization memory payment = payments[i].authorization;
            (SettlementFailure failure, uint256 fee) = _trySettle(payment, payments[i].signature, cache, bps);
            if (failure == SettlementFailure.None) _creditPayee(payment.token, payment.payee, payment.amount, fee);
            else _reportFailure(results, i, payment, failure);
        }
    }

    /// @notice Settles many payments to one payee in one token, the shape of every batch a gateway
    /// sends, for less gas than `settleBatch`: payee and token are given once, signatures are
    /// EIP-2098 compact, and the payee's earnings and the fees are credited once per batch. Each
    /// entry is checked, settled and reported exactly as by `settleBatch`.
    /// @dev The payer signs the same `PaymentAuthorization` as for `settle`: `payee` and `token`
    /// are filled in from the arguments before hashing, so an entry submitted under another payee
    /// or token fails with `InvalidSignature`. A contract payer is asked (ERC-1271) about the
    /// 65-byte `(r, s, v)` form of its compact signature; wallets that sign otherwise use `settleBatch`.
    /// @param token The token of every entry.
    /// @param payee The payee of every entry.
    /// @param payments The signed payments.
    /// @return results One entry per payment: `None` if settled, otherwise why not.
    function settleBatchFor(
        address token,
        address payee,
        CompactPayment[] calldata payments
    ) external whenNotPaused nonReentrant returns (SettlementFailure[] memory results) {
        uint256 count = payments.length;
        if (count == 0) revert EmptyBatch();
        results = new SettlementFailure[](count);
        PolicyCache memory cache;
        uint256 bps = feeBps;
        uint256 totalFees;
        uint256 totalAmount;
        PaymentAuthorization memory payment;
        payment.payee = payee;
        payment.token = token;
        for (uint256 i = 0; i < count; ++i) {
            CompactPayment calldata entry = payments[i];
            payment.payer = entry.payer;
            payment.amount = entry.amount;
            payment.nonce = entry.nonce;
            payment.validAfter = entry.validAfter;
            payment.validBefore = entry.validBefore;
            payment.challengeHash = entry.challengeHash;
            (SettlementFailure failure, uint256 fee) = _trySettle(payment, _expand(entry.r, entry.vs), cache, bps);
            if (failure == SettlementFailure.None) {
                totalAmount += payment.amount;
                totalFees += fee;
            } else {
                _reportFailure(results, i, payment, failure);
            }
        }
        // The same sums `settleBatch` would credit entry by entry, in one write each.
        if (totalAmount != 0) _creditPayee(token, payee, totalAmount, totalFees);
    }

    /// @notice Why `settle` would fail right now, without changing state. A pause is not reported
    /// here: `settle` reverts with `EnforcedPause` while `paused()` is true.
    /// @param authorization The signed payment.
    /// @param signature The payer's signature.
    /// @return failure `None` if it would settle, otherwise the first failing check.
    function checkPayment(
        PaymentAuthorization calldata authorization,
        bytes calldata signature
    ) external view returns (SettlementFailure failure) {
        PolicyCache memory cache;
        (failure, ) = _check(authorization, signature, cache);
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

    /// @dev Checks and, if they pass, every effect but the payee's and fee recipient's credit,
    /// which the caller makes (once per batch in `settleBatchFor`). Returns the payment's fee.
    function _trySettle(
        PaymentAuthorization memory payment,
        bytes memory signature,
        PolicyCache memory cache,
        uint256 bps
    ) private returns (SettlementFailure failure, uint256 fee) {
        Reads memory reads;
        (failure, reads) = _check(payment, signature, cache);
        if (failure != SettlementFailure.None) return (failure, 0);
        uint256 nonce = payment.nonce;
        _nonceBitmap[payment.payer][nonce >> 8] = reads.nonceWord | (1 << (nonce & 0xff));
        _debit(payment.token, payment.payer, payment.payee, payment.amount, reads.committed, reads.balance);
        fee = _feeOn(payment.amount, bps);
        emit PaymentSettled(
            payment.payer,
            payment.payee,
            payment.token,
            nonce,
            payment.amount,
            fee,
            payment.challengeHash
        );
    }

    /// @dev Cheap checks first, the signature last.
    function _check(
        PaymentAuthorization memory payment,
        bytes memory signature,
        PolicyCache memory cache
    ) private view returns (SettlementFailure, Reads memory reads) {
        // Paying the escrow itself would lock the money for good: nobody could claim it.
        if (payment.payee == address(0) || payment.payee == address(this)) {
            return (SettlementFailure.InvalidPayee, reads);
        }
        if (block.timestamp <= payment.validAfter) return (SettlementFailure.NotYetValid, reads);
        if (block.timestamp >= payment.validBefore) return (SettlementFailure.Expired, reads);
        _loadPolicy(payment.token, cache);
        // Deprecated tokens still settle: payments signed before the deprecation must reach their payee.
        if (cache.status != ITokenRegistry.TokenStatus.Active && cache.status != ITokenRegistry.TokenStatus.Deprecated) {
            return (SettlementFailure.TokenNotAccepted, reads);
        }
        if (payment.amount < cache.minAmount || payment.amount > cache.maxAmount) {
            return (SettlementFailure.AmountOutOfRange, reads);
        }
        reads.nonceWord = _nonceBitmap[payment.payer][payment.nonce >> 8];
        if (reads.nonceWord & (1 << (payment.nonce & 0xff)) != 0) return (SettlementFailure.NonceUsed, reads);
        reads.committed = _commitments[payment.token][payment.payer][payment.payee].amount;
        reads.balance = _balances[payment.token][payment.payer];
        if (reads.committed + reads.balance + _withdrawals[payment.token][payment.payer].amount < payment.amount) {
            return (SettlementFailure.InsufficientFunds, reads);
        }
        bytes32 digest = _hashTypedDataV4(keccak256(abi.encode(PAYMENT_AUTHORIZATION_TYPEHASH, payment)));
        if (!BoundedSignatureChecker.isValidSignatureNow(payment.payer, digest, signature)) {
            return (SettlementFailure.InvalidSignature, reads);
        }
        return (SettlementFailure.None, reads);
    }

    /// @dev EIP-2098 `(r, vs)` to the 65-byte `(r, s, v)` signature it stands for.
    function _expand(bytes32 r, bytes32 vs) private pure returns (bytes memory) {
        return
            abi.encodePacked(
                r,
                vs & bytes32(0x7fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff),
                uint8(uint256(vs) >> 255) + 27
            );
    }

    function _reportFailure(
        SettlementFailure[] memory results,
        uint256 i,
        PaymentAuthorization memory payment,
        SettlementFailure failure
    ) private {
        results[i] = failure;
        emit PaymentFailed(payment.payer, payment.nonce, failure);
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
        PaymentAuthorization memory payment,
        PolicyCache memory cache
    ) private view {
        if (failure == SettlementFailure.InvalidPayee) revert InvalidPayee();
        if (failure == SettlementFailure.NotYetValid) revert AuthorizationNotYetValid(payment.validAfter);
        if (failure == SettlementFailure.Expired) revert AuthorizationExpired(payment.validBefore);
        if (failure == SettlementFailure.TokenNotAccepted) revert TokenNotAccepted(payment.token, cache.status);
        if (failure == SettlementFailure.AmountOutOfRange) {
            revert AmountOutOfRange(payment.amount, cache.minAmount, cache.maxAmount);
        }
        if (failure == SettlementFailure.NonceUsed) revert NonceAlreadyUsed(payment.payer, payment.nonce);
        if (failure == SettlementFailure.InsufficientFunds) {
            revert InsufficientFunds(_spendable(payment.token, payment.payer, payment.payee), payment.amount);
        }
        revert InvalidSignature();
    }
}
