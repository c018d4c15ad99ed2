// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title FeeOnTransferToken
/// @notice Adversarial test token: every `transfer`/`transferFrom` burns {FEE_BPS} (1 %) of the
/// amount, so the recipient receives less than was sent. Contracts that credit the requested amount
/// instead of measuring their balance change get exploited by tokens like this.
/// @dev 6 decimals, so amounts line up with the USDC mocks. Mints and burns are not charged.
/// `mint` is open to anyone: this contract only exists in tests.
contract FeeOnTransferToken is ERC20 {
    /// @notice Fee taken on every transfer, in basis points.
    uint256 public constant FEE_BPS = 100;

    constructor() ERC20("Fee On Transfer Token", "FOT") {}

    /// @notice Mints `amount` to `to`. Unrestricted (test token).
    /// @param to Recipient.
    /// @param amount Amount in atomic units (6 decimals).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice 6 decimals, like the stablecoins this token stands in for.
    /// @return 6.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @dev Burning the fee (instead of keeping it somewhere) makes the shortfall visible both in the
    /// recipient's balance and in `totalSupply`.
    function _update(address from, address to, uint256 value) internal override {
        if (from != address(0) && to != address(0)) {
            uint256 fee = (value * FEE_BPS) / 10_000;
            if (fee != 0) super._update(from, address(0), fee);
            super._update(from, to, value - fee);
        } else {
            super._update(from, to, value);
        }
    }
}
