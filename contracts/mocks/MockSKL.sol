// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title MockSKL
/// @notice Local stand-in for the SKALE token: a plain 18-decimal ERC-20 with no permit and no
/// EIP-3009, i.e. a token that can only be collected with `approve` + `transferFrom`.
contract MockSKL is ERC20, Ownable {
    /// @dev The deployer becomes the owner, i.e. the only account allowed to mint.
    constructor() ERC20("SKALE", "SKL") Ownable(msg.sender) {}

    /// @notice Mints `amount` to `to`; the local faucet.
    /// @param to Recipient.
    /// @param amount Amount in atomic units (18 decimals).
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }
}
