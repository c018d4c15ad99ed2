// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @dev Collection-method flags stored in `TokenInfo.collectionMethods`.
/// EIP-3009 `transferWithAuthorization` / `receiveWithAuthorization`.
uint8 constant METHOD_EIP3009 = 1;
/// @dev EIP-2612 `permit` followed by a pull.
uint8 constant METHOD_PERMIT = 2;
/// @dev Plain ERC-20 `approve` + `transferFrom`, or a direct `transfer` to the payee.
uint8 constant METHOD_ERC20 = 4;
/// @dev Every defined flag.
uint8 constant METHOD_ALL = METHOD_EIP3009 | METHOD_PERMIT | METHOD_ERC20;

/// @title ITokenRegistry
/// @notice The list of tokens PayPerAgent accepts, how each one can be collected, and the
/// per-payment limits that apply to it. Gateways read it to build their 402 challenges; the
/// settlement escrow reads it to decide which deposits and payments it accepts.
interface ITokenRegistry {
    /// @notice Lifecycle of a registered token.
    /// @dev `None` means "never registered". `Deprecated` stops new deposits and holds but keeps
    /// every exit (withdrawals, reclaims, claims) and the settlement of already-signed payments
    /// open. `Removed` additionally stops settlement; exits stay open.
    enum TokenStatus {
        None,
        Active,
        Deprecated,
        Removed
    }

    /// @notice Registration data for one token.
    /// @param token The ERC-20 contract.
    /// @param symbol Display symbol (e.g. "USDC").
    /// @param decimals Must equal the token's own `decimals()`.
    /// @param collectionMethods Bit set of `METHOD_*` flags: how payment can be collected.
    /// @param status Lifecycle status.
    /// @param eip712Name The token's EIP-712 domain name ("" if it has no domain).
    /// @param eip712Version The token's EIP-712 domain version ("" if it has no domain).
    /// @param minAmount Smallest accepted amount per payment, in atomic units.
    /// @param maxAmount Largest accepted amount per payment, in atomic units.
    struct TokenInfo {
        address token;
        string symbol;
        uint8 decimals;
        uint8 collectionMethods;
        TokenStatus status;
        string eip712Name;
        string eip712Version;
        uint128 minAmount;
        uint128 maxAmount;
    }

    /// @notice Emitted when a token is registered.
    event TokenRegistered(
        address indexed token,
        string symbol,
        uint8 decimals,
        uint8 collectionMethods,
        string eip712Name,
        string eip712Version,
        uint128 minAmount,
        uint128 maxAmount
    );
    /// @notice Emitted when a token's status changes.
    event TokenStatusChanged(address indexed token, TokenStatus previousStatus, TokenStatus newStatus);
    /// @notice Emitted when a token's per-payment limits change.
    event AmountLimitsChanged(address indexed token, uint128 minAmount, uint128 maxAmount);
    /// @notice Emitted when a token's collection methods change.
    event CollectionMethodsChanged(address indexed token, uint8 collectionMethods);
    /// @notice Emitted when a token's EIP-712 domain name or version changes.
    event Eip712DomainChanged(address indexed token, string eip712Name, string eip712Version);

    /// @notice The zero address was given as a token.
    error ZeroAddress();
    /// @notice The token address holds no contract code.
    error NotAContract(address token);
    /// @notice The token is already registered (whatever its status).
    error AlreadyRegistered(address token);
    /// @notice The token was never registered.
    error NotRegistered(address token);
    /// @notice The declared decimals differ from the token's `decimals()`.
    error DecimalsMismatch(address token, uint8 declared, uint8 actual);
    /// @notice The token does not answer `decimals()`.
    error DecimalsUnavailable(address token);
    /// @notice `minAmount` is zero or greater than `maxAmount`.
    error InvalidAmountLimits(uint128 minAmount, uint128 maxAmount);
    /// @notice Unknown bits in a collection-method set, or an empty set.
    error InvalidCollectionMethods(uint8 collectionMethods);
    /// @notice The requested status is `None`, or equal to the current one.
    error InvalidStatusChange(TokenStatus current, TokenStatus requested);
    /// @notice The symbol is empty.
    error EmptySymbol();
    /// @notice Renouncing ownership would freeze the registry for good, so it is disabled.
    error RenounceOwnershipDisabled();

    /// @notice Registers a token as Active.
    /// @dev Reverts on the zero address, an address without code, a duplicate, an empty symbol,
    /// a token without a readable `decimals()` or one that disagrees, invalid limits, or an
    /// empty or unknown method set.
    /// @param info Registration data; `info.status` is ignored and set to Active.
    function registerToken(TokenInfo calldata info) external;

    /// @notice Changes a token's status. Any transition between Active, Deprecated and Removed is allowed.
    /// @param token The registered token.
    /// @param newStatus The new status (not `None`, not the current one).
    function setStatus(address token, TokenStatus newStatus) external;

    /// @notice Changes a token's per-payment limits.
    /// @param token The registered token.
    /// @param minAmount New minimum, at least 1.
    /// @param maxAmount New maximum, at least `minAmount`.
    function setAmountLimits(address token, uint128 minAmount, uint128 maxAmount) external;

    /// @notice Changes how a token's payments can be collected.
    /// @param token The registered token.
    /// @param collectionMethods Non-empty bit set of `METHOD_*` flags.
    function setCollectionMethods(address token, uint8 collectionMethods) external;

    /// @notice Changes the EIP-712 domain name and version recorded for a token.
    /// @param token The registered token.
    /// @param eip712Name New domain name.
    /// @param eip712Version New domain version.
    function setEip712Domain(address token, string calldata eip712Name, string calldata eip712Version) external;

    /// @notice Full registration data of one token.
    /// @param token The registered token.
    /// @return The token's data; reverts with `NotRegistered` if unknown.
    function getToken(address token) external view returns (TokenInfo memory);

    /// @notice Status of a token (`None` if never registered).
    /// @param token Any address.
    /// @return The token's status.
    function statusOf(address token) external view returns (TokenStatus);

    /// @notice What the escrow needs to accept a payment, in one call.
    /// @param token Any address.
    /// @return status The token's status (`None` if never registered).
    /// @return minAmount Per-payment minimum (0 if never registered).
    /// @return maxAmount Per-payment maximum (0 if never registered).
    function paymentPolicy(address token) external view returns (TokenStatus status, uint128 minAmount, uint128 maxAmount);

    /// @notice Number of tokens ever registered, whatever their status.
    /// @return The count.
    function tokenCount() external view returns (uint256);

    /// @notice The token at `index` in registration order.
    /// @param index Position, below `tokenCount()`.
    /// @return The token address.
    function tokenAt(uint256 index) external view returns (address);

    /// @notice Every registered token with its data, in registration order, in one call.
    /// @return All entries, including Deprecated and Removed ones.
    function allTokens() external view returns (TokenInfo[] memory);
}
