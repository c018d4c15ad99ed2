// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";

/// @title MockUSDT
/// @notice Local stand-in for Tether's USDT on Ethereum, reproducing the two quirks that break naive
/// integrations: `transfer`, `transferFrom` and `approve` return NOTHING (so a caller that decodes a
/// `bool` reverts; use SafeERC20), and `approve` refuses to change a non-zero allowance to another
/// non-zero value (reset to 0 first, or use SafeERC20's `forceApprove`).
/// @dev Written without OZ `ERC20` because its functions return `bool`. Like Tether, an allowance of
/// `type(uint256).max` is never decremented. Tether's fee switch (always 0 on mainnet), pausing and
/// blacklisting are left out; see {BlocklistToken} for blocklist behaviour.
contract MockUSDT is Ownable {
    /// @notice Total amount in circulation.
    uint256 public totalSupply;
    /// @notice Balance of each account.
    mapping(address account => uint256 balance) public balanceOf;
    /// @notice Remaining amount `spender` may pull from `owner`.
    mapping(address owner => mapping(address spender => uint256 amount)) public allowance;

    // ERC-20 events keep `value` unindexed: indexing it would change the log layout every indexer expects.

    /// @notice Emitted on every balance movement, including mints (from the zero address).
    // solhint-disable-next-line gas-indexed-events
    event Transfer(address indexed from, address indexed to, uint256 value);
    /// @notice Emitted when an allowance is set.
    // solhint-disable-next-line gas-indexed-events
    event Approval(address indexed owner, address indexed spender, uint256 value);

    /// @notice `account` holds `balance`, less than the `needed` amount.
    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    /// @notice `spender` may pull `allowance` from the owner, less than the `needed` amount.
    error InsufficientAllowance(address spender, uint256 allowance, uint256 needed);
    /// @notice USDT's approve race guard: a non-zero allowance must be reset to zero before it can be
    /// set to a different non-zero value.
    error NonZeroAllowance(address spender, uint256 currentAllowance);

    /// @dev The deployer becomes the owner, i.e. the only account allowed to mint.
    constructor() Ownable(msg.sender) {}

    /// @notice Mints `amount` to `to`; the local faucet.
    /// @param to Recipient.
    /// @param amount Amount in atomic units (6 decimals).
    function mint(address to, uint256 amount) external onlyOwner {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    /// @notice Token name.
    /// @return "Tether USD".
    function name() external pure returns (string memory) {
        return "Tether USD";
    }

    /// @notice Token symbol.
    /// @return "USDT".
    function symbol() external pure returns (string memory) {
        return "USDT";
    }

    /// @notice Token decimals (Tether uses 6).
    /// @return 6.
    function decimals() external pure returns (uint8) {
        return 6;
    }

    /// @notice Moves `value` from the caller to `to`. Returns nothing, like USDT.
    /// @param to Recipient.
    /// @param value Amount.
    function transfer(address to, uint256 value) external {
        _transfer(msg.sender, to, value);
    }

    /// @notice Moves `value` from `from` to `to` using the caller's allowance. Returns nothing, like USDT.
    /// @param from Owner of the tokens.
    /// @param to Recipient.
    /// @param value Amount.
    function transferFrom(address from, address to, uint256 value) external {
        uint256 current = allowance[from][msg.sender];
        if (current != type(uint256).max) {
            if (current < value) revert InsufficientAllowance(msg.sender, current, value);
            allowance[from][msg.sender] = current - value;
        }
        _transfer(from, to, value);
    }

    /// @notice Sets the caller's allowance for `spender`. Returns nothing, like USDT, and reverts when
    /// both the current and the new allowance are non-zero.
    /// @param spender Account allowed to pull.
    /// @param value New allowance.
    function approve(address spender, uint256 value) external {
        uint256 current = allowance[msg.sender][spender];
        if (value != 0 && current != 0) revert NonZeroAllowance(spender, current);
        allowance[msg.sender][spender] = value;
        emit Approval(msg.sender, spender, value);
    }

    function _transfer(address from, address to, uint256 value) private {
        uint256 fromBalance = balanceOf[from];
        if (fromBalance < value) revert InsufficientBalance(from, fromBalance, value);
        unchecked {
            balanceOf[from] = fromBalance - value;
        }
        balanceOf[to] += value;
        emit Transfer(from, to, value);
    }
}
