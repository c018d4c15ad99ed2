// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC1271} from "@openzeppelin/contracts/interfaces/IERC1271.sol";
import {Address} from "@openzeppelin/contracts/utils/Address.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";

/// @title MockERC1271Wallet
/// @notice Minimal smart-contract wallet controlled by one EOA, for testing ERC-1271 signature
/// paths (EIP-3009 / permit `bytes` overloads, escrow payments signed by contract accounts).
/// @dev A signature is valid iff it is an ECDSA signature of the given hash itself (no prefix, no
/// re-hashing) by the current owner. Since the hash a token passes is the EIP-712 digest, the
/// owner signs exactly the typed data a plain EOA would sign, with the wallet as `from`/`owner`.
/// Transferring ownership invalidates every outstanding signature, which is how tests can model
/// revocable contract signatures.
contract MockERC1271Wallet is Ownable, IERC1271 {
    bytes4 private constant _INVALID_SIGNATURE = 0xffffffff;

    /// @notice Emitted after each call made by the wallet.
    // solhint-disable-next-line gas-indexed-events
    event Executed(address indexed target, uint256 value, bytes data);

    /// @param owner_ The EOA that signs for the wallet and may call {execute}.
    constructor(address owner_) Ownable(owner_) {}

    /// @notice Accepts native currency (e.g. from WETH `withdraw`).
    receive() external payable {}

    /// @notice Calls `target` with `data` and `msg.value` on behalf of the wallet; reverts bubble up.
    /// @param target Contract to call (e.g. a token to `approve`, an escrow to `deposit` into).
    /// @param data Calldata.
    /// @return The call's return data.
    function execute(address target, bytes calldata data) external payable onlyOwner returns (bytes memory) {
        bytes memory result = Address.functionCallWithValue(target, data, msg.value);
        emit Executed(target, msg.value, data);
        return result;
    }

    /// @notice ERC-1271: whether `signature` is the owner's ECDSA signature of `hash`.
    /// @param hash The digest that was signed.
    /// @param signature 65-byte (or 64-byte compact) ECDSA signature.
    /// @return magicValue `0x1626ba7e` when valid, `0xffffffff` otherwise.
    function isValidSignature(bytes32 hash, bytes calldata signature) external view returns (bytes4 magicValue) {
        (address recovered, ECDSA.RecoverError err, ) = ECDSA.tryRecover(hash, signature);
        return err == ECDSA.RecoverError.NoError && recovered == owner()
            ? IERC1271.isValidSignature.selector
            : _INVALID_SIGNATURE;
    }
}
