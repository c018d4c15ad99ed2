// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControlDefaultAdminRules} from "@openzeppelin/contracts/access/extensions/AccessControlDefaultAdminRules.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ISettlementEscrow} from "../interfaces/ISettlementEscrow.sol";
import {ITokenRegistry} from "../interfaces/ITokenRegistry.sol";
import {IERC3009Receiver} from "../interfaces/IERC3009Receiver.sol";

/// @title EscrowAccounts
/// @notice The escrow's ledger: deposits, delayed withdrawals, payee earnings and operator fees,
/// plus the admin settings that govern them.
/// @dev For every token, `totalOwed[token]` is the sum of all balances, pending withdrawals,
/// holds, earnings and accrued fees. Only deposits increase it and only transfers out decrease it;
/// settlements, holds and refunds move value between buckets and leave it unchanged.
abstract contract EscrowAccounts is ISettlementEscrow, AccessControlDefaultAdminRules, Pausable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice May pause and unpause the escrow.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice May void holds on behalf of payees (a gateway's settlement key).
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    /// @notice The operator fee can never exceed 10%.
    uint16 public constant MAX_FEE_BPS = 1_000;
    /// @notice Shortest withdrawal delay the admin may set.
    uint64 public constant MIN_WITHDRAWAL_DELAY = 1 hours;
    /// @notice Longest withdrawal delay the admin may set.
    uint64 public constant MAX_WITHDRAWAL_DELAY = 30 days;
    uint256 private constant _BPS = 10_000;

    /// @notice The registry deciding which tokens are accepted.
    ITokenRegistry public immutable registry;

    /// @notice Operator fee in basis points, taken from every settled or captured payment.
    uint16 public feeBps;
    /// @notice Delay between `requestWithdrawal` and `withdraw`.
    uint64 public withdrawalDelay;
    /// @notice Receives accrued fees.
    address public feeRecipient;

    mapping(address token => mapping(address account => uint256)) internal _balances;
    mapping(address token => mapping(address account => PendingWithdrawal)) internal _withdrawals;
    mapping(address token => mapping(address payer => mapping(address payee => Commitment))) internal _commitments;
    mapping(address token => mapping(address payee => uint256)) internal _earnings;
    mapping(address token => uint256) internal _accruedFees;
    mapping(address token => uint256) internal _totalOwed;

    constructor(
        ITokenRegistry registry_,
        address admin,
        uint48 adminTransferDelay,
        uint64 withdrawalDelay_,
        address feeRecipient_
    ) AccessControlDefaultAdminRules(adminTransferDelay, admin) {
        if (address(registry_) == address(0) || feeRecipient_ == address(0)) revert ZeroAddress();
        _checkWithdrawalDelay(withdrawalDelay_);
        registry = registry_;
        withdrawalDelay = withdrawalDelay_;
        feeRecipient = feeRecipient_;
    }

    // ------------------------------------------------------------------ deposits

    /// @notice Deposits `amount` of `token` from the caller to the caller's balance (needs an allowance).
    /// @param token An Active token.
    /// @param amount Atomic units, more than zero.
    function deposit(address token, uint256 amount) external whenNotPaused nonReentrant {
        _depositFrom(token, msg.sender, msg.sender, amount);
    }

    /// @notice Deposits `amount` of `token` from the caller to `account`'s balance (needs an allowance).
    /// @param token An Active token.
    /// @param account Who is credited.
    /// @param amount Atomic units, more than zero.
    function depositFor(address token, address account, uint256 amount) external whenNotPaused nonReentrant {
        if (account == address(0)) revert ZeroAddress();
        _depositFrom(token, msg.sender, account, amount);
    }

    /// @notice Deposits with an EIP-3009 `receiveWithAuthorization` signed by `from`, credited to `from`.
    /// @dev `receiveWithAuthorization` (not `transferWithAuthorization`) because the token lets only
    /// the payee (this escrow) submit it, so nobody can front-run the authorization to strand the funds.
    /// Anyone may relay the call; the deposit always goes to `from`.
    /// @param token An Active EIP-3009 token.
    /// @param from The signer and owner of the funds.
    /// @param amount Atomic units, more than zero.
    /// @param validAfter EIP-3009 validAfter.
    /// @param validBefore EIP-3009 validBefore.
    /// @param nonce EIP-3009 nonce.
    /// @param v Signature v.
    /// @param r Signature r.
    /// @param s Signature s.
    function depositWithAuthorization(
        address token,
        address from,
        uint256 amount,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external whenNotPaused nonReentrant {
        uint256 before = _checkDepositable(token, amount);
        IERC3009Receiver(token).receiveWithAuthorization(
            from,
            address(this),
            amount,
            validAfter,
            validBefore,
            nonce,
            v,
            r,
            s
        );
        _creditDeposit(token, from, from, amount, before);
    }

    /// @notice Deposits with an EIP-2612 permit signed by `owner`, credited to `owner`.
    /// @dev The permit is tried first. If it fails because someone front-ran it, the allowance it
    /// set is already in place, so the owner's own call still goes through. A failed permit falls
    /// back to an existing allowance only when the owner is the caller: otherwise anyone could
    /// force an owner's approved wallet funds into the escrow, behind the withdrawal delay.
    /// @param token An Active EIP-2612 token.
    /// @param owner The signer and owner of the funds.
    /// @param amount Atomic units, more than zero.
    /// @param deadline Permit deadline.
    /// @param v Signature v.
    /// @param r Signature r.
    /// @param s Signature s.
    function depositWithPermit(
        address token,
        address owner,
        uint256 amount,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external whenNotPaused nonReentrant {
        // Registry check first, so an unaccepted or code-less token gets TokenNotAccepted, not a bare revert.
        uint256 before = _checkDepositable(token, amount);
        bool permitted;
        try IERC20Permit(token).permit(owner, address(this), amount, deadline, v, r, s) {
            permitted = true;
        } catch {
            permitted = false;
        }
        if (!permitted && msg.sender != owner) revert PermitFailed(token, owner);
        IERC20(token).safeTransferFrom(owner, address(this), amount);
        _creditDeposit(token, owner, owner, amount, before);
    }

    // ------------------------------------------------------------------ withdrawals

    /// @notice Moves `amount` of the caller's balance into a pending withdrawal that unlocks after
    /// `withdrawalDelay`. Adding to an existing pending withdrawal restarts its delay.
    /// @dev Pending funds still cover settlements until withdrawn, so a gateway that accepted a
    /// payment off-chain can settle it before the payer leaves. Works while paused and for any token status.
    /// @param token The token.
    /// @param amount Atomic units, at most the caller's balance.
    function requestWithdrawal(address token, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 balance = _balances[token][msg.sender];
        if (balance < amount) revert InsufficientBalance(balance, amount);
        PendingWithdrawal storage pending = _withdrawals[token][msg.sender];
        uint64 unlockAt = uint64(block.timestamp) + withdrawalDelay;
        _balances[token][msg.sender] = balance - amount;
        pending.amount += amount;
        pending.unlockAt = unlockAt;
        emit WithdrawalRequested(token, msg.sender, amount, pending.amount, unlockAt);
    }

    /// @notice Moves the caller's whole pending withdrawal back to its balance.
    /// @param token The token.
    function cancelWithdrawal(address token) external nonReentrant {
        uint256 amount = _withdrawals[token][msg.sender].amount;
        if (amount == 0) revert NoPendingWithdrawal();
        delete _withdrawals[token][msg.sender];
        _balances[token][msg.sender] += amount;
        emit WithdrawalCancelled(token, msg.sender, amount);
    }

    /// @notice Sends the caller its pending withdrawal once unlocked. Works while paused and for any token status.
    /// @param token The token.
    function withdraw(address token) external nonReentrant {
        PendingWithdrawal memory pending = _withdrawals[token][msg.sender];
        if (pending.amount == 0) revert NoPendingWithdrawal();
        if (block.timestamp < pending.unlockAt) revert WithdrawalLocked(pending.unlockAt);
        delete _withdrawals[token][msg.sender];
        _totalOwed[token] -= pending.amount;
        emit Withdrawn(token, msg.sender, pending.amount);
        IERC20(token).safeTransfer(msg.sender, pending.amount);
    }

    // ------------------------------------------------------------------ commitments

    /// @notice Reserves `amount` of the caller's balance for payments to `payee`. Committing more
    /// cancels a pending release of this commitment.
    /// @dev A gateway that serves before settling relies on this: other payees cannot draw on it,
    /// and the payer gets it back only after `withdrawalDelay` (see `requestRelease`).
    /// @param token The token.
    /// @param payee The only payee whose payments may draw on it.
    /// @param amount Atomic units, at most the caller's balance.
    function commit(address token, address payee, uint256 amount) external whenNotPaused nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (payee == address(0) || payee == address(this)) revert InvalidPayee();
        uint256 balance = _balances[token][msg.sender];
        if (balance < amount) revert InsufficientBalance(balance, amount);
        Commitment storage commitment = _commitments[token][msg.sender][payee];
        _balances[token][msg.sender] = balance - amount;
        commitment.amount += amount;
        commitment.releaseAt = 0;
        emit Committed(token, msg.sender, payee, amount, commitment.amount);
    }

    /// @notice Starts the delay after which the caller's commitment to `payee` can be released.
    /// Payments to `payee` keep drawing on it until then. Works while paused.
    /// @param token The token.
    /// @param payee The payee.
    function requestRelease(address token, address payee) external nonReentrant {
        Commitment storage commitment = _commitments[token][msg.sender][payee];
        if (commitment.amount == 0) revert NothingCommitted();
        uint64 releaseAt = uint64(block.timestamp) + withdrawalDelay;
        commitment.releaseAt = releaseAt;
        emit ReleaseRequested(token, msg.sender, payee, releaseAt);
    }

    /// @notice Moves what is left of the caller's commitment to `payee` back to its balance, once
    /// the release delay has passed. Works while paused and for any token status.
    /// @param token The token.
    /// @param payee The payee.
    function release(address token, address payee) external nonReentrant {
        Commitment memory commitment = _commitments[token][msg.sender][payee];
        if (commitment.amount == 0) revert NothingCommitted();
        if (commitment.releaseAt == 0) revert ReleaseNotRequested();
        if (block.timestamp < commitment.releaseAt) revert ReleaseLocked(commitment.releaseAt);
        delete _commitments[token][msg.sender][payee];
        _balances[token][msg.sender] += commitment.amount;
        emit Released(token, msg.sender, payee, commitment.amount);
    }

    // ------------------------------------------------------------------ earnings and fees

    /// @notice Sends the caller's earnings in `token` to `to`. No delay: payees are not the ones
    /// a gateway must be protected from. Works while paused and for any token status.
    /// @param token The token.
    /// @param to Recipient of the earnings.
    function claimEarnings(address token, address to) external nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        uint256 amount = _earnings[token][msg.sender];
        if (amount == 0) revert NothingToClaim();
        _earnings[token][msg.sender] = 0;
        _totalOwed[token] -= amount;
        emit EarningsClaimed(token, msg.sender, to, amount);
        IERC20(token).safeTransfer(to, amount);
    }

    /// @notice Sends the accrued fees in `token` to `feeRecipient`. Anyone may trigger it.
    /// @param token The token.
    function claimFees(address token) external nonReentrant {
        uint256 amount = _accruedFees[token];
        if (amount == 0) revert NothingToClaim();
        _accruedFees[token] = 0;
        _totalOwed[token] -= amount;
        address recipient = feeRecipient;
        emit FeesClaimed(token, recipient, amount);
        IERC20(token).safeTransfer(recipient, amount);
    }

    // ------------------------------------------------------------------ admin

    /// @notice Sets the operator fee.
    /// @param newFeeBps Basis points, at most `MAX_FEE_BPS`.
    function setFee(uint16 newFeeBps) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newFeeBps > MAX_FEE_BPS) revert FeeTooHigh(newFeeBps, MAX_FEE_BPS);
        emit FeeUpdated(feeBps, newFeeBps);
        feeBps = newFeeBps;
    }

    /// @notice Sets who receives accrued fees.
    /// @param newRecipient A non-zero address.
    function setFeeRecipient(address newRecipient) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (newRecipient == address(0)) revert ZeroAddress();
        emit FeeRecipientUpdated(feeRecipient, newRecipient);
        feeRecipient = newRecipient;
    }

    /// @notice Sets the withdrawal delay for future requests.
    /// @param newDelay Seconds, within [`MIN_WITHDRAWAL_DELAY`, `MAX_WITHDRAWAL_DELAY`].
    function setWithdrawalDelay(uint64 newDelay) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _checkWithdrawalDelay(newDelay);
        emit WithdrawalDelayUpdated(withdrawalDelay, newDelay);
        withdrawalDelay = newDelay;
    }

    /// @notice Stops new deposits, payment settlements and holds. Exits stay open.
    function pause() external onlyRole(PAUSER_ROLE) {
        _pause();
    }

    /// @notice Lifts a pause.
    function unpause() external onlyRole(PAUSER_ROLE) {
        _unpause();
    }

    /// @notice Sends tokens that reached the escrow outside any deposit (plain transfers) to `to`.
    /// @dev Only the excess over `totalOwed` can leave: the admin can never touch owed funds.
    /// @param token The token.
    /// @param to Recipient.
    function sweep(address token, address to) external onlyRole(DEFAULT_ADMIN_ROLE) nonReentrant {
        if (to == address(0)) revert ZeroAddress();
        uint256 held = IERC20(token).balanceOf(address(this));
        uint256 owed = _totalOwed[token];
        if (held <= owed) revert NothingToSweep();
        uint256 excess = held - owed;
        emit Swept(token, to, excess);
        IERC20(token).safeTransfer(to, excess);
    }

    // ------------------------------------------------------------------ views

    /// @notice The account's balance, excluding its pending withdrawal.
    /// @param token The token.
    /// @param account The account.
    /// @return Atomic units.
    function balanceOf(address token, address account) external view returns (uint256) {
        return _balances[token][account];
    }

    /// @notice What can still pay settlements to any payee: balance plus pending withdrawal.
    /// Commitments come on top, for their own payee only (see `spendableFor`).
    /// @param token The token.
    /// @param account The account.
    /// @return Atomic units.
    function spendableBalance(address token, address account) external view returns (uint256) {
        return _balances[token][account] + _withdrawals[token][account].amount;
    }

    /// @notice What can pay settlements from `payer` to `payee`: the commitment to that payee,
    /// the balance and the pending withdrawal.
    /// @param token The token.
    /// @param payer The payer.
    /// @param payee The payee.
    /// @return Atomic units.
    function spendableFor(address token, address payer, address payee) external view returns (uint256) {
        return _spendable(token, payer, payee);
    }

    /// @notice The payer's commitment to `payee`.
    /// @param token The token.
    /// @param payer The payer.
    /// @param payee The payee.
    /// @return The committed amount and release time (0 if no release was requested).
    function commitmentOf(address token, address payer, address payee) external view returns (Commitment memory) {
        return _commitments[token][payer][payee];
    }

    /// @notice The account's pending withdrawal.
    /// @param token The token.
    /// @param account The account.
    /// @return The amount and unlock time (both zero if none).
    function pendingWithdrawal(address token, address account) external view returns (PendingWithdrawal memory) {
        return _withdrawals[token][account];
    }

    /// @notice A payee's unclaimed earnings.
    /// @param token The token.
    /// @param payee The payee.
    /// @return Atomic units.
    function earningsOf(address token, address payee) external view returns (uint256) {
        return _earnings[token][payee];
    }

    /// @notice Fees accrued and not yet claimed.
    /// @param token The token.
    /// @return Atomic units.
    function accruedFees(address token) external view returns (uint256) {
        return _accruedFees[token];
    }

    /// @notice Everything the escrow owes in `token`: balances, pending withdrawals, holds, earnings and fees.
    /// @param token The token.
    /// @return Atomic units; `token.balanceOf(escrow)` is never below it.
    function totalOwed(address token) external view returns (uint256) {
        return _totalOwed[token];
    }

    // ------------------------------------------------------------------ internals

    /// @dev Commitment to `payee`, plus balance, plus pending withdrawal.
    function _spendable(address token, address payer, address payee) internal view returns (uint256) {
        return
            _commitments[token][payer][payee].amount + _balances[token][payer] + _withdrawals[token][payer].amount;
    }

    /// @dev Takes `amount` from `payer`'s commitment to `payee` first (that is what it is for),
    /// then its balance, then its pending withdrawal. The caller has checked `_spendable` and
    /// passes the commitment and balance it read for that.
    function _debit(
        address token,
        address payer,
        address payee,
        uint256 amount,
        uint256 committed,
        uint256 balance
    ) internal {
        if (committed >= amount) {
            _commitments[token][payer][payee].amount = committed - amount;
            return;
        }
        if (committed != 0) _commitments[token][payer][payee].amount = 0;
        uint256 rest = amount - committed;
        if (balance >= rest) {
            _balances[token][payer] = balance - rest;
        } else {
            if (balance != 0) _balances[token][payer] = 0;
            PendingWithdrawal storage pending = _withdrawals[token][payer];
            uint256 left = pending.amount - (rest - balance);
            // A fully drawn withdrawal is cleared, so "nothing pending" always reads as all zeros.
            if (left == 0) delete _withdrawals[token][payer];
            else pending.amount = left;
        }
    }

    /// @dev The operator fee on `amount` at `bps` basis points, rounded down.
    function _feeOn(uint256 amount, uint256 bps) internal pure returns (uint256) {
        return (amount * bps) / _BPS;
    }

    /// @dev Credits a payee with `amount` minus `fee`, and the fee to the accrued fees.
    function _creditPayee(address token, address payee, uint256 amount, uint256 fee) internal {
        if (fee != 0) _accruedFees[token] += fee;
        _earnings[token][payee] += amount - fee;
    }

    function _depositFrom(address token, address from, address account, uint256 amount) private {
        uint256 before = _checkDepositable(token, amount);
        IERC20(token).safeTransferFrom(from, address(this), amount);
        _creditDeposit(token, account, from, amount, before);
    }

    /// @dev Returns the escrow's balance before the transfer, for the balance-delta check.
    function _checkDepositable(address token, uint256 amount) private view returns (uint256 before) {
        if (amount == 0) revert ZeroAmount();
        ITokenRegistry.TokenStatus status = registry.statusOf(token);
        if (status != ITokenRegistry.TokenStatus.Active) revert TokenNotAccepted(token, status);
        before = IERC20(token).balanceOf(address(this));
        // A downward rebase leaves the escrow owing more than it holds; refuse more of such a token.
        uint256 owed = _totalOwed[token];
        if (before < owed) revert BalanceShortfall(token, before, owed);
    }

    /// @dev Credits only after checking the escrow really received `amount`: fee-on-transfer and
    /// similar tokens would otherwise leave deposits backed by less than they claim.
    function _creditDeposit(address token, address account, address funder, uint256 amount, uint256 before) private {
        uint256 received = IERC20(token).balanceOf(address(this)) - before;
        if (received != amount) revert UnsupportedTokenBehavior(token, amount, received);
        _balances[token][account] += amount;
        _totalOwed[token] += amount;
        emit Deposited(token, account, funder, amount);
    }

    function _checkWithdrawalDelay(uint64 delay) private pure {
        if (delay < MIN_WITHDRAWAL_DELAY || delay > MAX_WITHDRAWAL_DELAY) revert WithdrawalDelayOutOfBounds(delay);
    }
}
