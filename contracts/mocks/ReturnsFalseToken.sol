// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title ReturnsFalseToken
/// @notice Adversarial test token in the style of early ERC-20s (ZRX, BAT…): `transfer` and
/// `transferFrom` return `false` instead of reverting when the balance or allowance is too low, and
/// the owner can make them return `false` unconditionally. Callers that ignore the return value
/// (instead of using SafeERC20) believe a failed transfer succeeded.
/// @dev A `false` return moves nothing. 6 decimals, like the USDC mocks. `mint` is open to anyone
/// (test token); the switch is owner-only.
contract ReturnsFalseToken is ERC20, Ownable {
    /// @notice When true, `transfer` and `transferFrom` always return false and move nothing.
    bool public alwaysReturnFalse;

    /// @notice Emitted when the owner flips the switch.
    event AlwaysReturnFalseSet(bool indexed enabled);

    /// @dev The deployer becomes the owner, i.e. the only account allowed to flip the switch.
    constructor() ERC20("Returns False Token", "RFALSE") Ownable(msg.sender) {}

    /// @notice Mints `amount` to `to`. Unrestricted (test token).
    /// @param to Recipient.
    /// @param amount Amount in atomic units (6 decimals).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Makes every `transfer`/`transferFrom` return false (or restores normal behaviour).
    /// @param enabled New value of {alwaysReturnFalse}.
    function setAlwaysReturnFalse(bool enabled) external onlyOwner {
        alwaysReturnFalse = enabled;
        emit AlwaysReturnFalseSet(enabled);
    }

    /// @notice Moves `value` to `to`, or returns false when the switch is on or the balance is too low.
    /// @param to Recipient.
    /// @param value Amount.
    /// @return Whether tokens moved.
    function transfer(address to, uint256 value) public override returns (bool) {
        if (alwaysReturnFalse || balanceOf(msg.sender) < value) return false;
        return super.transfer(to, value);
    }

    /// @notice Moves `value` from `from` to `to`, or returns false when the switch is on or the
    /// balance or allowance is too low.
    /// @param from Owner of the tokens.
    /// @param to Recipient.
    /// @param value Amount.
    /// @return Whether tokens moved.
    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        if (alwaysReturnFalse || balanceOf(from) < value || allowance(from, msg.sender) < value) return false;
        return super.transferFrom(from, to, value);
    }

    /// @notice 6 decimals, like the stablecoins this token stands in for.
    /// @return 6.
    function decimals() public pure override returns (uint8) {
        return 6;
    }
}
