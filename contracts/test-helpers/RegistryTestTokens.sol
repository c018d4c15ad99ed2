// SPDX-License-Identifier: MIT
// solhint-disable one-contract-per-file
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

// Test-only tokens for the TokenRegistry tests, kept in one file on purpose; never deployed outside the local test chain.

/// @notice A plain ERC-20 whose `decimals()` is fixed at deployment.
contract RegistryTestERC20 is ERC20 {
    uint8 private immutable _DECIMALS;

    /// @param name_ Token name.
    /// @param symbol_ Token symbol.
    /// @param decimals_ Value returned by `decimals()`.
    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_) {
        _DECIMALS = decimals_;
    }

    /// @inheritdoc ERC20
    function decimals() public view override returns (uint8) {
        return _DECIMALS;
    }
}

/// @notice A contract with code but no `decimals()` function and no fallback: calling
/// `decimals()` on it reverts with empty data.
contract RegistryNoDecimalsToken {
    /// @notice Something to call, so the contract is not empty.
    /// @return A fixed symbol.
    function symbol() external pure returns (string memory) {
        return "NODEC";
    }
}

/// @notice A token whose `decimals()` always reverts.
contract RegistryRevertingDecimalsToken {
    /// @notice Raised by `decimals()`.
    error DecimalsDisabled();

    /// @notice Always reverts with `DecimalsDisabled`.
    /// @return Never returns.
    function decimals() external pure returns (uint8) {
        revert DecimalsDisabled();
    }
}

/// @notice A contract that answers every call, `decimals()` included, with fixed raw bytes:
/// used for empty, short (< 32 bytes) and out-of-range (> 255) `decimals()` answers.
contract RegistryRawDecimalsToken {
    bytes private _response;

    /// @param response The exact return data of every call.
    constructor(bytes memory response) {
        _response = response;
    }

    /// @notice Returns the configured bytes as raw return data, whatever the call.
    /// @return The configured bytes.
    fallback(bytes calldata) external returns (bytes memory) {
        return _response;
    }
}
