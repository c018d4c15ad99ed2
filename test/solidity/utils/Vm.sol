// SPDX-License-Identifier: MIT
// solhint-disable one-contract-per-file, func-name-mixedcase
pragma solidity 0.8.28;

import {Strings} from "@openzeppelin/contracts/utils/Strings.sol";

/// @notice The subset of the Foundry / EDR cheatcodes these tests use. forge-std is not a
/// dependency of this project, so the signatures are declared here; they must match EDR's
/// cheatcode selectors exactly.
interface Vm {
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory logs);
    function warp(uint256 newTimestamp) external;
    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;
    function expectRevert() external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert(bytes calldata revertData) external;
    function assume(bool condition) external pure;
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);
    function addr(uint256 privateKey) external pure returns (address keyAddr);
    function label(address account, string calldata newLabel) external;
    function snapshotState() external returns (uint256 snapshotId);
    function revertToState(uint256 snapshotId) external returns (bool success);
}

/// @dev The cheatcode address: `address(uint160(uint256(keccak256("hevm cheat code"))))`.
address constant HEVM_ADDRESS = address(uint160(uint256(keccak256("hevm cheat code"))));

/// @notice Minimal stand-in for forge-std's `Test`: the cheatcode handle, `bound` and assertions
/// that revert with a readable message (a revert is what fails a test).
abstract contract TestBase {
    Vm internal constant vm = Vm(HEVM_ADDRESS);

    /// @dev secp256k1 group order.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        return BoundLib.bound(x, min, max);
    }

    function fail(string memory message) internal pure {
        revert(message);
    }

    function assertTrue(bool condition, string memory message) internal pure {
        if (!condition) revert(message);
    }

    function assertFalse(bool condition, string memory message) internal pure {
        if (condition) revert(message);
    }

    function assertEq(uint256 left, uint256 right, string memory message) internal pure {
        if (left != right) {
            revert(
                string.concat(message, ": ", Strings.toString(left), " != ", Strings.toString(right))
            );
        }
    }

    function assertEq(address left, address right, string memory message) internal pure {
        if (left != right) {
            revert(
                string.concat(message, ": ", Strings.toHexString(left), " != ", Strings.toHexString(right))
            );
        }
    }

    function assertEq(bytes32 left, bytes32 right, string memory message) internal pure {
        if (left != right) {
            revert(
                string.concat(
                    message,
                    ": ",
                    Strings.toHexString(uint256(left), 32),
                    " != ",
                    Strings.toHexString(uint256(right), 32)
                )
            );
        }
    }

    /// @dev Lowercase hex of arbitrary bytes, for failure messages that carry revert data.
    function toHex(bytes memory data) internal pure returns (string memory) {
        bytes16 digits = "0123456789abcdef";
        bytes memory out = new bytes(2 + data.length * 2);
        out[0] = "0";
        out[1] = "x";
        for (uint256 i = 0; i < data.length; ++i) {
            out[2 + 2 * i] = digits[uint8(data[i]) >> 4];
            out[3 + 2 * i] = digits[uint8(data[i]) & 0x0f];
        }
        return string(out);
    }

    function assertLe(uint256 left, uint256 right, string memory message) internal pure {
        if (left > right) {
            revert(string.concat(message, ": ", Strings.toString(left), " > ", Strings.toString(right)));
        }
    }
}

/// @notice forge-std's `bound`: maps any `x` into `[min, max]`, keeping small values unchanged
/// where possible so the fuzzer's edge values (0, 1, max) still reach the edges of the range.
library BoundLib {
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (x >= min && x <= max) return x;
        uint256 size = max - min;
        if (size == type(uint256).max) return x;
        ++size;
        // Keep 0..3 and max-3..max mapped onto the edges of the range, like forge-std.
        if (x <= 3 && size > x) return min + x;
        if (x >= type(uint256).max - 3 && size > type(uint256).max - x) return max - (type(uint256).max - x);
        if (x > max) {
            uint256 diff = x - max;
            uint256 rem = diff % size;
            if (rem == 0) return max;
            return min + rem - 1;
        }
        uint256 diffBelow = min - x;
        uint256 remBelow = diffBelow % size;
        if (remBelow == 0) return min;
        return max - remBelow + 1;
    }
}

/// @notice The invariant-target configuration that forge-std's `StdInvariant` keeps. The EDR
/// invariant runner (like Foundry's) calls these views on the test contract, if present, to learn
/// which contracts, selectors and senders to fuzz.
abstract contract InvariantTargets {
    struct FuzzSelector {
        address addr;
        bytes4[] selectors;
    }

    address[] private _targetedContracts;
    address[] private _excludedContracts;
    address[] private _targetedSenders;
    FuzzSelector[] private _targetedSelectors;

    function targetContract(address target) internal {
        _targetedContracts.push(target);
    }

    function excludeContract(address target) internal {
        _excludedContracts.push(target);
    }

    function targetSender(address sender) internal {
        _targetedSenders.push(sender);
    }

    function targetSelector(FuzzSelector memory selector) internal {
        _targetedSelectors.push(selector);
    }

    function targetContracts() public view returns (address[] memory) {
        return _targetedContracts;
    }

    function excludeContracts() public view returns (address[] memory) {
        return _excludedContracts;
    }

    function targetSenders() public view returns (address[] memory) {
        return _targetedSenders;
    }

    function targetSelectors() public view returns (FuzzSelector[] memory) {
        return _targetedSelectors;
    }
}
