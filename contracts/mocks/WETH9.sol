// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Address} from "@openzeppelin/contracts/utils/Address.sol";

/// @title WETH9
/// @notice Wrapped native token with the semantics of the canonical WETH9 (0xC02a…6Cc2), rewritten
/// for Solidity 0.8.28 with custom errors: 1 WETH is minted per wei deposited, `totalSupply` is the
/// contract's native balance, an allowance of `type(uint256).max` is never decremented, and a
/// `transferFrom` by the owner itself needs no allowance.
/// @dev Kept WETH9 quirks: no zero-address checks, no Transfer event on deposit/withdraw (only
/// Deposit/Withdrawal). Changed: `withdraw` forwards all gas through {Address.sendValue} instead of
/// the 2300-gas `transfer`, so contract wallets can unwrap.
contract WETH9 {
    /// @notice Balance of each account.
    mapping(address account => uint256 balance) public balanceOf;
    /// @notice Remaining amount `spender` may pull from `owner`.
    mapping(address owner => mapping(address spender => uint256 amount)) public allowance;

    // WETH9's exact event signatures: indexing `wad` would change the log layout indexers expect.

    /// @notice Emitted when an allowance is set.
    // solhint-disable-next-line gas-indexed-events
    event Approval(address indexed src, address indexed guy, uint256 wad);
    /// @notice Emitted when tokens move between accounts.
    // solhint-disable-next-line gas-indexed-events
    event Transfer(address indexed src, address indexed dst, uint256 wad);
    /// @notice Emitted when native currency is wrapped.
    // solhint-disable-next-line gas-indexed-events
    event Deposit(address indexed dst, uint256 wad);
    /// @notice Emitted when tokens are unwrapped.
    // solhint-disable-next-line gas-indexed-events
    event Withdrawal(address indexed src, uint256 wad);

    /// @notice `account` holds `balance`, less than the `needed` amount.
    error InsufficientBalance(address account, uint256 balance, uint256 needed);
    /// @notice `spender` may pull `allowance` from the owner, less than the `needed` amount.
    error InsufficientAllowance(address spender, uint256 allowance, uint256 needed);

    /// @notice Plain native transfers wrap, as WETH9's payable fallback does.
    receive() external payable {
        deposit();
    }

    /// @notice Wraps `msg.value` for the caller.
    function deposit() public payable {
        balanceOf[msg.sender] += msg.value;
        emit Deposit(msg.sender, msg.value);
    }

    /// @notice Unwraps `wad` and sends the native currency to the caller.
    /// @param wad Amount to unwrap.
    function withdraw(uint256 wad) external {
        uint256 balance = balanceOf[msg.sender];
        if (balance < wad) revert InsufficientBalance(msg.sender, balance, wad);
        unchecked {
            balanceOf[msg.sender] = balance - wad;
        }
        emit Withdrawal(msg.sender, wad);
        Address.sendValue(payable(msg.sender), wad);
    }

    /// @notice Token name.
    /// @return "Wrapped Ether".
    function name() external pure returns (string memory) {
        return "Wrapped Ether";
    }

    /// @notice Token symbol.
    /// @return "WETH".
    function symbol() external pure returns (string memory) {
        return "WETH";
    }

    /// @notice Token decimals.
    /// @return 18.
    function decimals() external pure returns (uint8) {
        return 18;
    }

    /// @notice Total wrapped supply, which is exactly the native balance held.
    /// @return The contract's native balance.
    function totalSupply() external view returns (uint256) {
        return address(this).balance;
    }

    /// @notice Sets the caller's allowance for `guy`.
    /// @param guy Spender.
    /// @param wad New allowance.
    /// @return Always true.
    function approve(address guy, uint256 wad) external returns (bool) {
        allowance[msg.sender][guy] = wad;
        emit Approval(msg.sender, guy, wad);
        return true;
    }

    /// @notice Moves `wad` from the caller to `dst`.
    /// @param dst Recipient.
    /// @param wad Amount.
    /// @return Always true (failures revert).
    function transfer(address dst, uint256 wad) external returns (bool) {
        return transferFrom(msg.sender, dst, wad);
    }

    /// @notice Moves `wad` from `src` to `dst`, spending the caller's allowance unless the caller is
    /// `src` or the allowance is unlimited.
    /// @param src Owner of the tokens.
    /// @param dst Recipient.
    /// @param wad Amount.
    /// @return Always true (failures revert).
    function transferFrom(address src, address dst, uint256 wad) public returns (bool) {
        uint256 balance = balanceOf[src];
        if (balance < wad) revert InsufficientBalance(src, balance, wad);

        if (src != msg.sender) {
            uint256 allowed = allowance[src][msg.sender];
            if (allowed != type(uint256).max) {
                if (allowed < wad) revert InsufficientAllowance(msg.sender, allowed, wad);
                allowance[src][msg.sender] = allowed - wad;
            }
        }

        unchecked {
            balanceOf[src] = balance - wad;
        }
        balanceOf[dst] += wad;
        emit Transfer(src, dst, wad);
        return true;
    }
}
