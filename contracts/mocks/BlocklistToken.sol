// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {MockUSDC} from "./MockUSDC.sol";

/// @title BlocklistToken
/// @notice Adversarial test token: a {MockUSDC} (6 decimals, permit, EIP-3009) with Circle-style
/// blocklisting. Like FiatToken's `notBlacklisted` checks, a blocklisted account can neither send,
/// receive, approve nor be approved, and cannot act as the spender of a `transferFrom`; this covers
/// EIP-3009 authorizations and permits too, since they go through the same internal hooks.
/// @dev Minting, blocklisting and un-blocklisting are owner-only (the deployer).
contract BlocklistToken is MockUSDC {
    mapping(address account => bool blocked) private _blocklisted;

    /// @notice Emitted when `account` is blocklisted.
    event Blocklisted(address indexed account);
    /// @notice Emitted when `account` is removed from the blocklist.
    event UnBlocklisted(address indexed account);

    /// @notice `account` is blocklisted.
    error AccountBlocklisted(address account);

    constructor() MockUSDC("Blocklist USD Coin", "BLUSDC", "2") {}

    /// @notice Freezes `account`.
    /// @param account Account to blocklist.
    function blocklist(address account) external onlyOwner {
        _blocklisted[account] = true;
        emit Blocklisted(account);
    }

    /// @notice Unfreezes `account`.
    /// @param account Account to remove from the blocklist.
    function unBlocklist(address account) external onlyOwner {
        _blocklisted[account] = false;
        emit UnBlocklisted(account);
    }

    /// @notice Whether `account` is blocklisted.
    /// @param account Account to check.
    /// @return True when blocklisted.
    function isBlocklisted(address account) external view returns (bool) {
        return _blocklisted[account];
    }

    /// @notice ERC-20 `transferFrom`, additionally refusing a blocklisted spender (as USDC does).
    /// @param from Owner of the tokens.
    /// @param to Recipient.
    /// @param value Amount.
    /// @return Always true (failures revert).
    function transferFrom(address from, address to, uint256 value) public override returns (bool) {
        _requireNotBlocklisted(msg.sender);
        return super.transferFrom(from, to, value);
    }

    function _update(address from, address to, uint256 value) internal override {
        _requireNotBlocklisted(from);
        _requireNotBlocklisted(to);
        super._update(from, to, value);
    }

    function _approve(address owner, address spender, uint256 value, bool emitEvent) internal override {
        _requireNotBlocklisted(owner);
        _requireNotBlocklisted(spender);
        super._approve(owner, spender, value, emitEvent);
    }

    function _requireNotBlocklisted(address account) private view {
        if (_blocklisted[account]) revert AccountBlocklisted(account);
    }
}
