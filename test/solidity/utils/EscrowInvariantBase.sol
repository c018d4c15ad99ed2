// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {InvariantTargets} from "./Vm.sol";
import {EscrowFixture} from "./EscrowFixture.sol";
import {EscrowHandler} from "../handlers/EscrowHandler.sol";

/// @notice Deploys the escrow system and an `EscrowHandler` that owns the mock tokens (so it can
/// mint), and points the invariant runner at the handler only.
abstract contract EscrowInvariantBase is EscrowFixture, InvariantTargets {
    EscrowHandler internal handler;

    function _deployHandler(bytes4[] memory selectors) internal {
        _deploySystem();
        handler = new EscrowHandler(escrow, registry, usdc, usdt, ADMIN, OPERATOR);
        usdc.transferOwnership(address(handler));
        usdt.transferOwnership(address(handler));
        vm.label(address(handler), "handler");
        targetContract(address(handler));
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// @dev Fails with the handler's first surprise (an outcome that contradicted the model), if any.
    function _assertNoSurprises() internal view {
        uint256 surprises = handler.surprises();
        if (surprises != 0) {
            fail(
                string.concat(
                    "handler surprise: ",
                    handler.firstSurprise(),
                    " data=",
                    toHex(handler.firstSurpriseData())
                )
            );
        }
    }
}
