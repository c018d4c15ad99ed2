// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @title RebasingToken
/// @notice Adversarial test token whose balances change without any transfer: the owner can scale
/// every balance (and the total supply) down by a percentage. A contract that caches "what it holds"
/// in its own accounting ends up owing more than it has.
/// @dev Holdings are stored as shares; `balanceOf = shares * multiplier / 1e18`. Amounts are
/// converted to shares rounding up, so the recipient always gets at least the amount sent and a
/// holder can still move its whole (rounded-down) balance. 6 decimals, like the USDC mocks.
/// `mint` is open to anyone: this contract only exists in tests.
contract RebasingToken is ERC20, Ownable {
    uint256 private constant _UNIT = 1e18;
    uint256 private constant _BPS = 10_000;

    /// @notice Token units per share, scaled by 1e18. Starts at 1e18 (1 share = 1 unit).
    uint256 public multiplier = _UNIT;

    uint256 private _totalShares;
    mapping(address account => uint256 shares) private _shares;

    /// @notice Emitted when every balance is rescaled.
    // solhint-disable-next-line gas-indexed-events
    event Rebased(uint256 previousMultiplier, uint256 newMultiplier);

    /// @notice The rebase would wipe out every balance (`bps` must be below 10 000).
    error InvalidRebase(uint256 bps);

    /// @dev The deployer becomes the owner, i.e. the only account allowed to rebase.
    constructor() ERC20("Rebasing Token", "REBASE") Ownable(msg.sender) {}

    /// @notice Mints `amount` to `to`. Unrestricted (test token).
    /// @param to Recipient.
    /// @param amount Amount in atomic units (6 decimals).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Scales every balance down by `bps` basis points (e.g. 1000 = -10 %).
    /// @param bps Reduction in basis points, below 10 000.
    function rebaseDown(uint256 bps) external onlyOwner {
        uint256 previous = multiplier;
        uint256 updated = bps < _BPS ? Math.mulDiv(previous, _BPS - bps, _BPS) : 0;
        if (updated == 0) revert InvalidRebase(bps);
        multiplier = updated;
        emit Rebased(previous, updated);
    }

    /// @notice The shares held by `account`; unaffected by rebases.
    /// @param account Holder.
    /// @return The account's shares.
    function sharesOf(address account) external view returns (uint256) {
        return _shares[account];
    }

    /// @notice 6 decimals, like the stablecoins this token stands in for.
    /// @return 6.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    /// @notice The current balance of `account`, after every rebase so far.
    /// @param account Holder.
    /// @return The balance in atomic units.
    function balanceOf(address account) public view override returns (uint256) {
        return Math.mulDiv(_shares[account], multiplier, _UNIT);
    }

    /// @notice The current total supply, after every rebase so far.
    /// @return The total supply in atomic units.
    function totalSupply() public view override returns (uint256) {
        return Math.mulDiv(_totalShares, multiplier, _UNIT);
    }

    /// @dev Replaces OZ's balance bookkeeping (its `_balances` are never touched) with shares.
    function _update(address from, address to, uint256 value) internal override {
        uint256 shares = Math.mulDiv(value, _UNIT, multiplier, Math.Rounding.Ceil);

        if (from == address(0)) {
            _totalShares += shares;
        } else {
            uint256 fromShares = _shares[from];
            if (fromShares < shares) revert ERC20InsufficientBalance(from, balanceOf(from), value);
            unchecked {
                _shares[from] = fromShares - shares;
            }
        }

        if (to == address(0)) {
            _totalShares -= shares;
        } else {
            _shares[to] += shares;
        }

        emit Transfer(from, to, value);
    }
}
