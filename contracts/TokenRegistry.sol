// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {ITokenRegistry, METHOD_ALL} from "./interfaces/ITokenRegistry.sol";

/// @title TokenRegistry
/// @notice The owner-managed list of tokens PayPerAgent accepts, with how each one can be
/// collected and the per-payment limits that apply to it.
/// @dev Every setter is `onlyOwner`; ownership moves in two steps (`Ownable2Step`). Tokens are
/// never deleted: a registered token keeps its slot in the enumeration for good, and
/// `setStatus` moves it between Active, Deprecated and Removed.
///
/// Storage of one token (`TokenRecord`, keyed by token address):
///
/// | slot | content                                                          |
/// |------|------------------------------------------------------------------|
/// | +0   | minAmount (low 128 bits), maxAmount (high 128 bits)              |
/// | +1   | status (byte 0), decimals (byte 1), collectionMethods (byte 2)   |
/// | +2   | symbol                                                           |
/// | +3   | eip712Name                                                       |
/// | +4   | eip712Version                                                    |
///
/// `paymentPolicy` and `statusOf`, which the escrow calls on every settlement, therefore read
/// two slots and one slot respectively, and never touch the strings.
contract TokenRegistry is ITokenRegistry, Ownable2Step {
    /// @dev Stored form of one token; see the layout table above. The token address is the
    /// mapping key and is not repeated here. The limits come first on purpose: placed after the
    /// three one-byte fields, `minAmount` would be packed into their slot and `maxAmount` left
    /// alone in the next, so `setAmountLimits` would write two slots instead of one.
    struct TokenRecord {
        uint128 minAmount;
        uint128 maxAmount;
        TokenStatus status;
        uint8 decimals;
        uint8 collectionMethods;
        string symbol;
        string eip712Name;
        string eip712Version;
    }

    /// @dev Registration data by token address. `status == None` means "never registered";
    /// `setStatus` never writes `None`, so a registered token can never look unregistered.
    mapping(address token => TokenRecord record) private _records;

    /// @dev Every registered token, in registration order. Append-only.
    address[] private _tokens;

    /// @param initialOwner The account allowed to manage the registry.
    constructor(address initialOwner) Ownable(initialOwner) {}

    // -----------------------------------------------------------------------------------------
    // Admin
    // -----------------------------------------------------------------------------------------

    /// @inheritdoc ITokenRegistry
    function registerToken(TokenInfo calldata info) external onlyOwner {
        address token = info.token;
        if (token == address(0)) revert ZeroAddress();
        if (_records[token].status != TokenStatus.None) revert AlreadyRegistered(token);
        if (token.code.length == 0) revert NotAContract(token);
        if (bytes(info.symbol).length == 0) revert EmptySymbol();
        _checkCollectionMethods(info.collectionMethods);
        _checkAmountLimits(info.minAmount, info.maxAmount);
        // Read-only call into the token: part of the checks, made before any state is written.
        uint8 actualDecimals = _readDecimals(token);
        if (actualDecimals != info.decimals) revert DecimalsMismatch(token, info.decimals, actualDecimals);

        TokenRecord storage record = _records[token];
        record.status = TokenStatus.Active;
        record.decimals = info.decimals;
        record.collectionMethods = info.collectionMethods;
        record.minAmount = info.minAmount;
        record.maxAmount = info.maxAmount;
        record.symbol = info.symbol;
        record.eip712Name = info.eip712Name;
        record.eip712Version = info.eip712Version;
        _tokens.push(token);

        emit TokenRegistered(
            token,
            info.symbol,
            info.decimals,
            info.collectionMethods,
            info.eip712Name,
            info.eip712Version,
            info.minAmount,
            info.maxAmount
        );
    }

    /// @inheritdoc ITokenRegistry
    function setStatus(address token, TokenStatus newStatus) external onlyOwner {
        TokenRecord storage record = _registeredRecord(token);
        TokenStatus previousStatus = record.status;
        if (newStatus == TokenStatus.None || newStatus == previousStatus) {
            revert InvalidStatusChange(previousStatus, newStatus);
        }
        record.status = newStatus;
        emit TokenStatusChanged(token, previousStatus, newStatus);
    }

    /// @inheritdoc ITokenRegistry
    function setAmountLimits(address token, uint128 minAmount, uint128 maxAmount) external onlyOwner {
        TokenRecord storage record = _registeredRecord(token);
        _checkAmountLimits(minAmount, maxAmount);
        record.minAmount = minAmount;
        record.maxAmount = maxAmount;
        emit AmountLimitsChanged(token, minAmount, maxAmount);
    }

    /// @inheritdoc ITokenRegistry
    function setCollectionMethods(address token, uint8 collectionMethods) external onlyOwner {
        TokenRecord storage record = _registeredRecord(token);
        _checkCollectionMethods(collectionMethods);
        record.collectionMethods = collectionMethods;
        emit CollectionMethodsChanged(token, collectionMethods);
    }

    /// @inheritdoc ITokenRegistry
    function setEip712Domain(
        address token,
        string calldata eip712Name,
        string calldata eip712Version
    ) external onlyOwner {
        TokenRecord storage record = _registeredRecord(token);
        record.eip712Name = eip712Name;
        record.eip712Version = eip712Version;
        emit Eip712DomainChanged(token, eip712Name, eip712Version);
    }

    /// @notice Disabled: a registry without an owner could never deprecate a compromised token.
    /// Hand ownership over with `transferOwnership` + `acceptOwnership` instead.
    function renounceOwnership() public view override onlyOwner {
        revert RenounceOwnershipDisabled();
    }

    // -----------------------------------------------------------------------------------------
    // Views
    // -----------------------------------------------------------------------------------------

    /// @inheritdoc ITokenRegistry
    function getToken(address token) external view returns (TokenInfo memory) {
        return _toInfo(token, _registeredRecord(token));
    }

    /// @inheritdoc ITokenRegistry
    function statusOf(address token) external view returns (TokenStatus) {
        return _records[token].status;
    }

    /// @inheritdoc ITokenRegistry
    function paymentPolicy(
        address token
    ) external view returns (TokenStatus status, uint128 minAmount, uint128 maxAmount) {
        TokenRecord storage record = _records[token];
        return (record.status, record.minAmount, record.maxAmount);
    }

    /// @inheritdoc ITokenRegistry
    function tokenCount() external view returns (uint256) {
        return _tokens.length;
    }

    /// @inheritdoc ITokenRegistry
    /// @dev Reverts with `Panic(0x32)` (array index out of bounds) when `index >= tokenCount()`,
    /// like OpenZeppelin's `EnumerableSet.at`.
    function tokenAt(uint256 index) external view returns (address) {
        return _tokens[index];
    }

    /// @inheritdoc ITokenRegistry
    /// @dev Gas grows with the number of tokens and the length of their strings; meant for
    /// off-chain callers (`eth_call`), not for other contracts.
    function allTokens() external view returns (TokenInfo[] memory infos) {
        uint256 count = _tokens.length;
        infos = new TokenInfo[](count);
        for (uint256 i = 0; i < count; ++i) {
            address token = _tokens[i];
            infos[i] = _toInfo(token, _records[token]);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Internals
    // -----------------------------------------------------------------------------------------

    /// @dev The record of `token`, or a `NotRegistered` revert if it was never registered.
    function _registeredRecord(address token) private view returns (TokenRecord storage record) {
        record = _records[token];
        if (record.status == TokenStatus.None) revert NotRegistered(token);
    }

    /// @dev Copies a stored record into the external `TokenInfo` shape.
    function _toInfo(address token, TokenRecord storage record) private view returns (TokenInfo memory) {
        return
            TokenInfo({
                token: token,
                symbol: record.symbol,
                decimals: record.decimals,
                collectionMethods: record.collectionMethods,
                status: record.status,
                eip712Name: record.eip712Name,
                eip712Version: record.eip712Version,
                minAmount: record.minAmount,
                maxAmount: record.maxAmount
            });
    }

    /// @dev Reverts unless `collectionMethods` is non-empty and holds only defined `METHOD_*` flags.
    function _checkCollectionMethods(uint8 collectionMethods) private pure {
        if (collectionMethods == 0 || (collectionMethods & ~METHOD_ALL) != 0) {
            revert InvalidCollectionMethods(collectionMethods);
        }
    }

    /// @dev Reverts unless `0 < minAmount <= maxAmount`.
    function _checkAmountLimits(uint128 minAmount, uint128 maxAmount) private pure {
        if (minAmount == 0 || minAmount > maxAmount) revert InvalidAmountLimits(minAmount, maxAmount);
    }

    /// @dev The token's own `decimals()`. Uses a low-level `staticcall` so that a token without
    /// the function, one whose `decimals()` reverts, returns fewer than 32 bytes or a value that
    /// does not fit in a `uint8` all end in `DecimalsUnavailable` instead of an opaque revert
    /// from the ABI decoder. Only the owner reaches this, with a token they chose, so the
    /// forwarded gas and the copied return data are not bounded further.
    function _readDecimals(address token) private view returns (uint8) {
        // solhint-disable-next-line avoid-low-level-calls
        (bool success, bytes memory data) = token.staticcall(abi.encodeCall(IERC20Metadata.decimals, ()));
        if (!success || data.length < 32) revert DecimalsUnavailable(token);
        uint256 value = abi.decode(data, (uint256));
        if (value > type(uint8).max) revert DecimalsUnavailable(token);
        return uint8(value);
    }
}
