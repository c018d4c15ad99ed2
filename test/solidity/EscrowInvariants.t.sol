// SPDX-License-Identifier: MIT
// solhint-disable func-name-mixedcase
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {EscrowInvariantBase} from "./utils/EscrowInvariantBase.sol";
import {EscrowHandler} from "./handlers/EscrowHandler.sol";
import {ISettlementEscrow} from "../../contracts/interfaces/ISettlementEscrow.sol";

/// @notice Handler-based invariant tests of the settlement escrow. The runner calls random
/// sequences of the handler's actions (deposits, withdrawals, single and batch settlements through
/// `settleBatch` and `settleBatchFor`, replays, holds and their captures / voids / reclaims /
/// refunds, claims, fee changes, pauses, registry status changes, donations, sweeps, time warps)
/// and checks these properties after every call.
contract EscrowInvariantsTest is EscrowInvariantBase {
    function setUp() public virtual {
        EscrowHandler h;
        bytes4[] memory selectors = new bytes4[](30);
        selectors[0] = h.deposit.selector;
        selectors[1] = h.deposit.selector; // listed twice: deposits feed everything else
        selectors[2] = h.requestWithdrawal.selector;
        selectors[3] = h.cancelWithdrawal.selector;
        selectors[4] = h.withdraw.selector;
        selectors[5] = h.settle.selector;
        selectors[6] = h.settle.selector;
        selectors[7] = h.settleBatch.selector;
        selectors[8] = h.replaySettle.selector;
        selectors[9] = h.authorizeHold.selector;
        selectors[10] = h.authorizeHold.selector;
        selectors[11] = h.capture.selector;
        selectors[12] = h.voidHold.selector;
        selectors[13] = h.reclaim.selector;
        selectors[14] = h.refund.selector;
        selectors[15] = h.claimEarnings.selector;
        selectors[16] = h.claimFees.selector;
        selectors[17] = h.setFee.selector;
        selectors[18] = h.togglePause.selector;
        selectors[19] = h.setTokenStatus.selector;
        selectors[20] = h.donate.selector;
        selectors[21] = h.sweep.selector;
        selectors[22] = h.warpTime.selector;
        selectors[23] = h.exitEverything.selector;
        selectors[24] = h.commit.selector;
        selectors[25] = h.requestRelease.selector;
        selectors[26] = h.release.selector;
        selectors[27] = h.setWithdrawalDelay.selector;
        selectors[28] = h.capture.selector; // listed twice: holds are usually voided or reclaimed otherwise
        selectors[29] = h.settleBatchFor.selector;
        _deployHandler(selectors);
    }

    /// @notice Solvency, per token: the six ledger buckets (balances, commitments, pending
    /// withdrawals, uncaptured rest of open holds, earnings, accrued fees) sum exactly to `totalOwed`, which equals what the
    /// model says was deposited minus what left; the escrow holds exactly `totalOwed` plus the
    /// donations not swept yet, so never less than it owes.
    function invariant_solvency() public view {
        for (uint256 t = 0; t < handler.tokenCount(); ++t) {
            address token = handler.tokens(t);
            uint256 buckets = escrow.accruedFees(token);
            for (uint256 i = 0; i < handler.actorCount(); ++i) {
                address actor = handler.actors(i);
                buckets +=
                    escrow.balanceOf(token, actor) +
                    escrow.pendingWithdrawal(token, actor).amount +
                    escrow.earningsOf(token, actor);
                for (uint256 j = 0; j < handler.actorCount(); ++j) {
                    buckets += escrow.commitmentOf(token, actor, handler.actors(j)).amount;
                }
            }
            for (uint256 i = 0; i < handler.holdCount(); ++i) {
                ISettlementEscrow.Hold memory h = escrow.getHold(handler.ghostHold(i).id);
                if (h.token == token && h.status == ISettlementEscrow.HoldStatus.Open) {
                    buckets += h.authorized - h.captured;
                }
            }
            uint256 owed = escrow.totalOwed(token);
            uint256 held = IERC20(token).balanceOf(address(escrow));
            assertEq(buckets, owed, "sum of buckets == totalOwed");
            assertEq(owed, handler.ghostTotalOwed(token), "totalOwed == deposited - paid out");
            assertLe(owed, held, "totalOwed <= token balance");
            assertEq(
                held,
                owed + handler.ghostDonated(token) - handler.ghostSwept(token),
                "token balance == totalOwed + donations - swept"
            );
        }
    }

    /// @notice No authorization settles twice: every (payer, nonce) is consumed at most once, by a
    /// payment or a hold, and every consumed nonce reads as used.
    function invariant_noAuthorizationSettlesTwice() public view {
        assertEq(handler.doubleSettlements(), 0, "a nonce was consumed twice");
        for (uint256 i = 0; i < handler.settledPaymentCount(); ++i) {
            (address payer, uint256 nonce) = handler.settledPayment(i);
            assertEq(handler.settledCount(payer, nonce), 1, "PaymentSettled count per (payer, nonce)");
            assertTrue(escrow.isNonceUsed(payer, nonce), "settled nonce reads as used");
        }
        for (uint256 i = 0; i < handler.holdCount(); ++i) {
            EscrowHandler.GhostHold memory g = handler.ghostHold(i);
            assertEq(handler.nonceUses(g.payer, g.nonce), 1, "hold nonce used once");
            assertTrue(escrow.isNonceUsed(g.payer, g.nonce), "hold nonce reads as used");
        }
    }

    /// @notice For every hold: refunded <= captured <= authorized, matching the model exactly, and
    /// the hold is Open exactly when the model says something is still held.
    function invariant_capturedRefundedBounds() public view {
        for (uint256 i = 0; i < handler.holdCount(); ++i) {
            EscrowHandler.GhostHold memory g = handler.ghostHold(i);
            ISettlementEscrow.Hold memory h = escrow.getHold(g.id);
            assertLe(h.refunded, h.captured, "refunded <= captured");
            assertLe(h.captured, h.authorized, "captured <= authorized");
            assertEq(h.authorized, g.authorized, "authorized matches model");
            assertEq(h.captured, g.captured, "captured matches model");
            assertEq(h.refunded, g.refunded, "refunded matches model");
            assertEq(
                uint256(h.status),
                uint256(g.open ? ISettlementEscrow.HoldStatus.Open : ISettlementEscrow.HoldStatus.Closed),
                "hold status matches model"
            );
        }
    }

    /// @notice Whenever an actor's withdrawal was unlocked, `withdraw` succeeded and paid exactly
    /// the pending amount, including while paused and with the token Deprecated or Removed.
    function invariant_withdrawalNeverBlocked() public view {
        if (handler.withdrawBlocked()) {
            fail(string.concat("unlocked withdrawal failed: ", toHex(handler.withdrawBlockedData())));
        }
    }

    /// @notice The escrow's per-account ledger equals the handler's independent model (exact
    /// accounting of every action), and no action had an outcome the model did not predict.
    function invariant_ledgerMatchesModel() public view {
        _assertNoSurprises();
        assertTrue(escrow.paused() == handler.ghostPaused(), "paused matches model");
        assertEq(escrow.feeBps(), handler.ghostFeeBps(), "fee matches model");
        for (uint256 t = 0; t < handler.tokenCount(); ++t) {
            address token = handler.tokens(t);
            assertEq(escrow.accruedFees(token), handler.ghostFees(token), "accrued fees");
            for (uint256 i = 0; i < handler.actorCount(); ++i) {
                address actor = handler.actors(i);
                ISettlementEscrow.PendingWithdrawal memory p = escrow.pendingWithdrawal(token, actor);
                assertEq(escrow.balanceOf(token, actor), handler.ghostBalance(token, actor), "balance");
                assertEq(p.amount, handler.ghostPending(token, actor), "pending amount");
                assertEq(p.unlockAt, handler.ghostUnlockAt(token, actor), "pending unlockAt");
                assertEq(escrow.earningsOf(token, actor), handler.ghostEarnings(token, actor), "earnings");
                for (uint256 j = 0; j < handler.actorCount(); ++j) {
                    address payee = handler.actors(j);
                    ISettlementEscrow.Commitment memory c = escrow.commitmentOf(token, actor, payee);
                    assertEq(c.amount, handler.ghostCommitted(token, actor, payee), "commitment amount");
                    assertEq(c.releaseAt, handler.ghostReleaseAt(token, actor, payee), "commitment releaseAt");
                }
            }
        }
    }
}
