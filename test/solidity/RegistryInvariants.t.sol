// SPDX-License-Identifier: MIT
// solhint-disable func-name-mixedcase
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {EscrowInvariantBase} from "./utils/EscrowInvariantBase.sol";
import {EscrowHandler} from "./handlers/EscrowHandler.sol";
import {ISettlementEscrow} from "../../contracts/interfaces/ISettlementEscrow.sol";

/// @notice Registry status changes (Active / Deprecated / Removed, in any order, mixed with pauses)
/// never strand deposits: after any sequence, every actor can get its whole position out.
/// @dev The handler mix here favours status changes, pauses and exits over the hold machinery.
contract RegistryInvariantsTest is EscrowInvariantBase {
    function setUp() public {
        EscrowHandler h;
        bytes4[] memory selectors = new bytes4[](22);
        selectors[0] = h.deposit.selector;
        selectors[1] = h.deposit.selector;
        selectors[2] = h.requestWithdrawal.selector;
        selectors[3] = h.withdraw.selector;
        selectors[4] = h.settle.selector;
        selectors[5] = h.settleBatch.selector;
        selectors[6] = h.authorizeHold.selector;
        selectors[7] = h.capture.selector;
        selectors[8] = h.refund.selector;
        selectors[9] = h.claimEarnings.selector;
        selectors[10] = h.setTokenStatus.selector;
        selectors[11] = h.setTokenStatus.selector;
        selectors[12] = h.setTokenStatus.selector;
        selectors[13] = h.togglePause.selector;
        selectors[14] = h.exitEverything.selector;
        selectors[15] = h.exitEverything.selector;
        selectors[16] = h.warpTime.selector;
        selectors[17] = h.donate.selector;
        selectors[18] = h.commit.selector;
        selectors[19] = h.requestRelease.selector;
        selectors[20] = h.setWithdrawalDelay.selector;
        selectors[21] = h.settleBatchFor.selector;
        _deployHandler(selectors);
    }

    /// @notice (1) No `exitEverything` action ever failed to get an actor's commitments, balance,
    /// pending withdrawal and earnings out. (2) From the current state, whatever the statuses and
    /// the pause, all actors together can exit completely: each releases its commitments (request,
    /// wait, release), requests its whole balance, waits the delay, withdraws and claims its
    /// earnings, the fees are claimed, and afterwards the escrow owes only the still-open holds and
    /// holds exactly that plus unswept donations. Checked on a state snapshot that is rolled back.
    function invariant_registryStatusNeverStrandsDeposits() public {
        if (handler.exitFailed()) fail(string.concat("exitEverything failed: ", toHex(handler.exitFailedData())));
        _assertNoSurprises();

        uint256 snapshot = vm.snapshotState();
        uint256 nowTs = handler.currentTime();
        vm.warp(nowTs);
        _releaseAllCommitments(nowTs);
        for (uint256 t = 0; t < handler.tokenCount(); ++t) {
            address token = handler.tokens(t);
            for (uint256 i = 0; i < handler.actorCount(); ++i) {
                address actor = handler.actors(i);
                uint256 balance = escrow.balanceOf(token, actor);
                if (balance > 0) {
                    vm.prank(actor);
                    escrow.requestWithdrawal(token, balance);
                }
            }
        }
        // Past every unlock time: the requests just made and any earlier one (the handler's delays
        // never exceed two days).
        vm.warp(block.timestamp + escrow.withdrawalDelay() + 2 days);
        for (uint256 t = 0; t < handler.tokenCount(); ++t) {
            address token = handler.tokens(t);
            for (uint256 i = 0; i < handler.actorCount(); ++i) _exitActor(token, handler.actors(i));
            if (escrow.accruedFees(token) > 0) escrow.claimFees(token);
            uint256 openHolds = _openHolds(token);
            assertEq(escrow.totalOwed(token), openHolds, "after a full exit only open holds are owed");
            assertEq(
                IERC20(token).balanceOf(address(escrow)),
                openHolds + handler.ghostDonated(token) - handler.ghostSwept(token),
                "after a full exit the escrow holds open holds + unswept donations"
            );
        }
        vm.revertToState(snapshot);
    }

    /// @dev Every actor requests the release of each of its commitments, waits the delay and
    /// releases them to its balance; afterwards nothing is committed.
    function _releaseAllCommitments(uint256 nowTs) internal {
        uint256 n = handler.actorCount();
        for (uint256 t = 0; t < handler.tokenCount(); ++t) {
            address token = handler.tokens(t);
            for (uint256 k = 0; k < n * n; ++k) {
                (address payer, address payee) = (handler.actors(k / n), handler.actors(k % n));
                if (escrow.commitmentOf(token, payer, payee).amount == 0) continue;
                vm.prank(payer);
                escrow.requestRelease(token, payee);
            }
        }
        vm.warp(nowTs + escrow.withdrawalDelay());
        for (uint256 t = 0; t < handler.tokenCount(); ++t) {
            address token = handler.tokens(t);
            for (uint256 k = 0; k < n * n; ++k) {
                (address payer, address payee) = (handler.actors(k / n), handler.actors(k % n));
                if (escrow.commitmentOf(token, payer, payee).amount == 0) continue;
                vm.prank(payer);
                escrow.release(token, payee);
                assertEq(escrow.commitmentOf(token, payer, payee).amount, 0, "commitment released");
            }
        }
    }

    function _exitActor(address token, address actor) internal {
        uint256 pending = escrow.pendingWithdrawal(token, actor).amount;
        uint256 earnings = escrow.earningsOf(token, actor);
        uint256 walletBefore = IERC20(token).balanceOf(actor);
        if (pending > 0) {
            vm.prank(actor);
            escrow.withdraw(token);
        }
        if (earnings > 0) {
            vm.prank(actor);
            escrow.claimEarnings(token, actor);
        }
        assertEq(IERC20(token).balanceOf(actor), walletBefore + pending + earnings, "actor got everything out");
        assertEq(escrow.spendableBalance(token, actor) + escrow.earningsOf(token, actor), 0, "nothing left behind");
    }

    function _openHolds(address token) internal view returns (uint256 total) {
        for (uint256 i = 0; i < handler.holdCount(); ++i) {
            ISettlementEscrow.Hold memory h = escrow.getHold(handler.ghostHold(i).id);
            if (h.token == token && h.status == ISettlementEscrow.HoldStatus.Open) total += h.authorized - h.captured;
        }
    }
}
