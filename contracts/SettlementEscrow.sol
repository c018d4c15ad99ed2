// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ITokenRegistry} from "./interfaces/ITokenRegistry.sol";
import {EscrowAccounts} from "./escrow/EscrowAccounts.sol";
import {Holds} from "./escrow/Holds.sol";

/// @title SettlementEscrow
/// @notice PayPerAgent's escrow on SKALE: AI agents deposit USDC, USDT, SKL or WETH once, then pay
/// per API call with EIP-712 signed authorizations that a gateway settles in batches.
/// @dev The pieces live in `escrow/`: `EscrowAccounts` (deposits, delayed withdrawals, earnings,
/// fees, admin), `PaymentAuthorizations` (settle, settleBatch, settleBatchFor, unordered nonces) and `Holds`
/// (authorize, capture, void, reclaim, refund). This contract only wires them together.
contract SettlementEscrow is Holds {
    /// @notice EIP-712 domain name signed by payers.
    string public constant DOMAIN_NAME = "PayPerAgent Settlement Escrow";
    /// @notice EIP-712 domain version signed by payers.
    string public constant DOMAIN_VERSION = "1";

    /// @param registry_ Token registry consulted on every deposit, payment and hold.
    /// @param admin Holder of DEFAULT_ADMIN_ROLE (fees, withdrawal delay, roles, sweep).
    /// @param adminTransferDelay Delay of the two-step admin transfer, in seconds.
    /// @param withdrawalDelay_ Initial withdrawal delay, within the contract's bounds.
    /// @param feeRecipient_ Receives operator fees.
    constructor(
        ITokenRegistry registry_,
        address admin,
        uint48 adminTransferDelay,
        uint64 withdrawalDelay_,
        address feeRecipient_
    )
        EscrowAccounts(registry_, admin, adminTransferDelay, withdrawalDelay_, feeRecipient_)
        EIP712(DOMAIN_NAME, DOMAIN_VERSION)
    {}
}
