// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title IERC3009Receiver
/// @notice The part of EIP-3009 the escrow uses to take deposits that cannot be front-run.
interface IERC3009Receiver {
    /// @notice Receives a transfer signed by `from`; only `to` may submit it.
    /// @param from Payer and signer.
    /// @param to Payee; must be the caller.
    /// @param value Atomic units.
    /// @param validAfter Valid strictly after this timestamp.
    /// @param validBefore Valid strictly before this timestamp.
    /// @param nonce Unique 32-byte nonce.
    /// @param v Signature v.
    /// @param r Signature r.
    /// @param s Signature s.
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external;
}
