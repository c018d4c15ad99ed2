// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title GasBurningWallet
/// @notice A contract "wallet" whose `isValidSignature` burns all the gas it is given, used to
/// show that one hostile payer cannot make a whole `settleBatch` run out of gas.
contract GasBurningWallet {
    uint256 private _sink;

    /// @notice Loops until the gas runs out.
    function isValidSignature(bytes32, bytes calldata) external view returns (bytes4) {
        uint256 x = _sink;
        while (gasleft() > 0) {
            x = uint256(keccak256(abi.encode(x)));
        }
        return bytes4(uint32(x));
    }
}
