// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";

/// @title BoundedSignatureChecker
/// @notice ECDSA for accounts without code, ERC-1271 for contracts, like OpenZeppelin's
/// `SignatureChecker`, except that the ERC-1271 call gets a fixed gas budget and at most 32 bytes
/// of its answer are copied.
/// @dev In `settleBatch` an unbounded call would let one hostile contract wallet burn the gas of
/// the whole batch, or return a huge blob whose copy does the same, so that 99 honest payments
/// fail with it.
library BoundedSignatureChecker {
    /// @notice Gas forwarded to a contract wallet's `isValidSignature`. A multisig with a few
    /// owners needs well under this.
    uint256 internal constant ERC1271_GAS_LIMIT = 100_000;

    /// @notice Whether `signature` is `signer`'s over `hash`. EOAs must produce a low-s 65-byte
    /// ECDSA signature; contracts must answer the ERC-1271 magic value within the gas budget.
    /// @param signer The claimed signer.
    /// @param hash The signed digest.
    /// @param signature The signature bytes.
    /// @return True if valid.
    function isValidSignatureNow(address signer, bytes32 hash, bytes memory signature) internal view returns (bool) {
        if (signer.code.length == 0) {
            (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecover(hash, signature);
            return err == ECDSA.RecoverError.NoError && recovered == signer;
        }
        bytes memory callData = abi.encodeCall(IERC1271.isValidSignature, (hash, signature));
        bool success;
        uint256 returnSize;
        bytes32 returnWord;
        assembly ("memory-safe") {
            // Output goes to the scratch space at 0x00; only the first word is ever copied.
            success := staticcall(ERC1271_GAS_LIMIT, signer, add(callData, 0x20), mload(callData), 0x00, 0x20)
            returnSize := returndatasize()
            returnWord := mload(0x00)
        }
        return success && returnSize >= 0x20 && returnWord == bytes32(IERC1271.isValidSignature.selector);
    }
}
