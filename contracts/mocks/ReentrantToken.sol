// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title ReentrantToken
/// @notice Adversarial test token that calls back into an arbitrary contract from inside
/// `transfer`/`transferFrom`, BEFORE any balance changes, to prove that the caller's reentrancy guard
/// (or checks-effects-interactions ordering) holds.
/// @dev Arm it with {arm}; the next `transfer` or `transferFrom` (not mint/burn) makes the call with
/// `msg.sender == address(this)` and disarms itself, so the callback cannot recurse forever. The
/// callback's revert is NOT bubbled up: the outer transfer continues, and the outcome is kept in
/// {lastCallSucceeded} / {lastReturnData} (e.g. the guard's custom error selector) for the test to
/// inspect. 6 decimals, like the USDC mocks. `mint` and `arm` are open to anyone (test token).
contract ReentrantToken is ERC20 {
    /// @notice Contract to call during the next transfer; zero when disarmed.
    address public reentryTarget;
    /// @notice Calldata for the next reentrant call.
    bytes public reentryCalldata;
    /// @notice Whether the last reentrant call succeeded.
    bool public lastCallSucceeded;
    /// @notice Return data (or revert data) of the last reentrant call.
    bytes public lastReturnData;
    /// @notice How many reentrant calls have been made so far.
    uint256 public reentryCount;

    /// @notice Emitted when the token is armed.
    event Armed(address indexed target, bytes data);
    /// @notice Emitted when the token is disarmed by hand.
    event Disarmed();
    /// @notice Emitted after each reentrant call with its outcome.
    event ReentryAttempted(address indexed target, bool indexed success, bytes returnData);

    constructor() ERC20("Reentrant Token", "REENT") {}

    /// @notice Mints `amount` to `to`. Unrestricted (test token).
    /// @param to Recipient.
    /// @param amount Amount in atomic units (6 decimals).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Makes the next `transfer`/`transferFrom` call `target` with `data` first.
    /// @param target Contract to reenter; the zero address disarms.
    /// @param data Calldata for the reentrant call.
    function arm(address target, bytes calldata data) external {
        reentryTarget = target;
        reentryCalldata = data;
        emit Armed(target, data);
    }

    /// @notice Cancels a pending reentrant call.
    function disarm() external {
        delete reentryTarget;
        delete reentryCalldata;
        emit Disarmed();
    }

    /// @notice 6 decimals, like the stablecoins this token stands in for.
    /// @return 6.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function _update(address from, address to, uint256 value) internal override {
        address target = reentryTarget;
        if (target != address(0) && from != address(0) && to != address(0)) {
            bytes memory data = reentryCalldata;
            delete reentryTarget;
            delete reentryCalldata;

            // A raw call on purpose: the revert must be captured, not bubbled.
            // solhint-disable-next-line avoid-low-level-calls
            (bool success, bytes memory returnData) = target.call(data);
            lastCallSucceeded = success;
            lastReturnData = returnData;
            ++reentryCount;
            emit ReentryAttempted(target, success, returnData);
        }
        super._update(from, to, value);
    }
}
