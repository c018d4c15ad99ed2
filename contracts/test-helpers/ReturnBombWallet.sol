// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title ReturnBombWallet
/// @notice A contract "wallet" whose `isValidSignature` returns a huge blob that starts with the
/// magic value, used to show that the escrow copies no more than 32 bytes of the answer.
contract ReturnBombWallet {
    /// @notice Returns the magic value followed by 200 KB of zeros.
    function isValidSignature(bytes32, bytes calldata) external pure returns (bytes4) {
        assembly ("memory-safe") {
            mstore(0, 0x1626ba7e00000000000000000000000000000000000000000000000000000000)
            return(0, 200000)
        }
    }
}
