// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {IERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Permit.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title MockUSDC
/// @notice Local stand-in for Circle's FiatToken v2.2 (USDC / bridged USDC.e): 6 decimals, EIP-2612
/// `permit` and EIP-3009 transfer/receive/cancel authorizations, all checked against ONE EIP-712
/// domain whose name and version come from the constructor. Signatures made by the official x402
/// clients for the real token verify here unchanged as long as name, version, chain id and
/// verifying contract match.
/// @dev OZ's `ERC20Permit` is not used because it hard-codes the domain version to "1"; Circle's
/// token signs permits and authorizations with the same domain (version "2"), so `permit` is
/// re-implemented here over the configured `EIP712` base.
///
/// Every signature goes through {SignatureChecker}, exactly as FiatToken v2.2 does: for an EOA it is
/// an ECDSA recovery that rejects malleable (high-s) signatures, for a contract it is an ERC-1271
/// `isValidSignature` call. The `(v, r, s)` overloads pack their arguments into a 65-byte signature
/// and take the same path, so smart-contract wallets can use them too (as on Circle's token).
contract MockUSDC is ERC20, EIP712, Nonces, Ownable, IERC20Permit {
    // The type strings are fixed by EIP-3009 / EIP-2612 and hashed at compile time, so their length costs nothing.

    /// @notice EIP-3009 `transferWithAuthorization` struct type hash.
    bytes32 public constant TRANSFER_WITH_AUTHORIZATION_TYPEHASH =
        // solhint-disable-next-line gas-small-strings
        keccak256(
            "TransferWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
        );

    /// @notice EIP-3009 `receiveWithAuthorization` struct type hash.
    bytes32 public constant RECEIVE_WITH_AUTHORIZATION_TYPEHASH =
        // solhint-disable-next-line gas-small-strings
        keccak256(
            "ReceiveWithAuthorization(address from,address to,uint256 value,uint256 validAfter,uint256 validBefore,bytes32 nonce)"
        );

    /// @notice EIP-3009 `cancelAuthorization` struct type hash.
    bytes32 public constant CANCEL_AUTHORIZATION_TYPEHASH =
        // solhint-disable-next-line gas-small-strings
        keccak256("CancelAuthorization(address authorizer,bytes32 nonce)");

    /// @notice EIP-2612 `permit` struct type hash.
    bytes32 public constant PERMIT_TYPEHASH =
        // solhint-disable-next-line gas-small-strings
        keccak256("Permit(address owner,address spender,uint256 value,uint256 nonce,uint256 deadline)");

    /// @dev authorizer => nonce => used or canceled. EIP-3009 nonces are random 32-byte values, not
    /// a counter, so payments signed in parallel cannot block each other.
    mapping(address authorizer => mapping(bytes32 nonce => bool used)) private _authorizationStates;

    /// @notice Emitted when an authorization is consumed by a transfer or receive.
    event AuthorizationUsed(address indexed authorizer, bytes32 indexed nonce);

    /// @notice Emitted when an authorization is canceled before use.
    event AuthorizationCanceled(address indexed authorizer, bytes32 indexed nonce);

    /// @notice The signature does not belong to the expected signer for this domain and message.
    error InvalidSignature();

    /// @notice `block.timestamp` is not strictly after the authorization's `validAfter`.
    error AuthorizationNotYetValid(uint256 validAfter);

    /// @notice `block.timestamp` is not strictly before the authorization's `validBefore`.
    error AuthorizationExpired(uint256 validBefore);

    /// @notice The authorization nonce has already been used or canceled.
    error AuthorizationUsedOrCanceled(address authorizer, bytes32 nonce);

    /// @notice `receiveWithAuthorization` was called by someone other than the payee.
    error CallerMustBePayee(address caller, address payee);

    /// @notice The permit deadline has passed.
    error PermitExpired(uint256 deadline);

    /// @param name_ ERC-20 name, also used as the EIP-712 domain name (e.g. "Bridged USDC (SKALE Bridge)").
    /// @param symbol_ ERC-20 symbol (e.g. "USDC.e").
    /// @param version_ EIP-712 domain version (Circle uses "2").
    /// @dev The deployer becomes the owner, i.e. the only account allowed to mint.
    constructor(
        string memory name_,
        string memory symbol_,
        string memory version_
    ) ERC20(name_, symbol_) EIP712(name_, version_) Ownable(msg.sender) {}

    /// @notice Mints `amount` to `to`; the local faucet.
    /// @param to Recipient.
    /// @param amount Amount in atomic units (6 decimals).
    function mint(address to, uint256 amount) external onlyOwner {
        _mint(to, amount);
    }

    /// @notice Executes a transfer authorized by `from`'s EIP-3009 signature (`v`, `r`, `s` form).
    /// @dev Anyone may submit it; use {receiveWithAuthorization} when front-running matters.
    /// @param from Payer and signer.
    /// @param to Payee.
    /// @param value Amount.
    /// @param validAfter The authorization is valid only when `block.timestamp > validAfter`.
    /// @param validBefore The authorization is valid only when `block.timestamp < validBefore`.
    /// @param nonce Unique 32-byte nonce chosen by the signer.
    /// @param v Signature recovery byte.
    /// @param r Signature `r`.
    /// @param s Signature `s`.
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        _transferWithAuthorization(
            TRANSFER_WITH_AUTHORIZATION_TYPEHASH,
            from,
            to,
            value,
            validAfter,
            validBefore,
            nonce,
            abi.encodePacked(r, s, v)
        );
    }

    /// @notice Executes a transfer authorized by `from`'s EIP-3009 signature (bytes form; EOA or ERC-1271).
    /// @param from Payer and signer.
    /// @param to Payee.
    /// @param value Amount.
    /// @param validAfter The authorization is valid only when `block.timestamp > validAfter`.
    /// @param validBefore The authorization is valid only when `block.timestamp < validBefore`.
    /// @param nonce Unique 32-byte nonce chosen by the signer.
    /// @param signature 65-byte ECDSA signature, or any bytes the ERC-1271 wallet `from` accepts.
    function transferWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external {
        _transferWithAuthorization(
            TRANSFER_WITH_AUTHORIZATION_TYPEHASH,
            from,
            to,
            value,
            validAfter,
            validBefore,
            nonce,
            signature
        );
    }

    /// @notice Like {transferWithAuthorization} but callable only by the payee `to`, so a
    /// signature observed in the mempool cannot be front-run by a third party (`v`, `r`, `s` form).
    /// @param from Payer and signer.
    /// @param to Payee; must be `msg.sender`.
    /// @param value Amount.
    /// @param validAfter The authorization is valid only when `block.timestamp > validAfter`.
    /// @param validBefore The authorization is valid only when `block.timestamp < validBefore`.
    /// @param nonce Unique 32-byte nonce chosen by the signer.
    /// @param v Signature recovery byte.
    /// @param r Signature `r`.
    /// @param s Signature `s`.
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        _requirePayee(to);
        _transferWithAuthorization(
            RECEIVE_WITH_AUTHORIZATION_TYPEHASH,
            from,
            to,
            value,
            validAfter,
            validBefore,
            nonce,
            abi.encodePacked(r, s, v)
        );
    }

    /// @notice Like {transferWithAuthorization} but callable only by the payee `to` (bytes form; EOA or ERC-1271).
    /// @param from Payer and signer.
    /// @param to Payee; must be `msg.sender`.
    /// @param value Amount.
    /// @param validAfter The authorization is valid only when `block.timestamp > validAfter`.
    /// @param validBefore The authorization is valid only when `block.timestamp < validBefore`.
    /// @param nonce Unique 32-byte nonce chosen by the signer.
    /// @param signature 65-byte ECDSA signature, or any bytes the ERC-1271 wallet `from` accepts.
    function receiveWithAuthorization(
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes calldata signature
    ) external {
        _requirePayee(to);
        _transferWithAuthorization(
            RECEIVE_WITH_AUTHORIZATION_TYPEHASH,
            from,
            to,
            value,
            validAfter,
            validBefore,
            nonce,
            signature
        );
    }

    /// @notice Burns an unused authorization nonce so the matching signature can never be executed
    /// (`v`, `r`, `s` form).
    /// @param authorizer The account that signed the authorization being canceled.
    /// @param nonce The authorization's nonce.
    /// @param v Signature recovery byte.
    /// @param r Signature `r`.
    /// @param s Signature `s`.
    function cancelAuthorization(address authorizer, bytes32 nonce, uint8 v, bytes32 r, bytes32 s) external {
        _cancelAuthorization(authorizer, nonce, abi.encodePacked(r, s, v));
    }

    /// @notice Burns an unused authorization nonce (bytes form; EOA or ERC-1271).
    /// @param authorizer The account that signed the authorization being canceled.
    /// @param nonce The authorization's nonce.
    /// @param signature `CancelAuthorization` signature by `authorizer`.
    function cancelAuthorization(address authorizer, bytes32 nonce, bytes calldata signature) external {
        _cancelAuthorization(authorizer, nonce, signature);
    }

    /// @notice Sets `spender`'s allowance over `owner`'s tokens from an EIP-2612 signature (`v`, `r`, `s` form).
    /// @dev Like Circle's token, a deadline of `type(uint256).max` never expires and
    /// `block.timestamp == deadline` is still accepted.
    /// @param owner Token owner and signer.
    /// @param spender Account receiving the allowance.
    /// @param value New allowance.
    /// @param deadline Last timestamp at which the permit is valid.
    /// @param v Signature recovery byte.
    /// @param r Signature `r`.
    /// @param s Signature `s`.
    function permit(
        address owner,
        address spender,
        uint256 value,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external {
        _permit(owner, spender, value, deadline, abi.encodePacked(r, s, v));
    }

    /// @notice Sets `spender`'s allowance from an EIP-2612 signature (bytes form; EOA or ERC-1271).
    /// @param owner Token owner and signer.
    /// @param spender Account receiving the allowance.
    /// @param value New allowance.
    /// @param deadline Last timestamp at which the permit is valid.
    /// @param signature Permit signature by `owner`.
    function permit(
        address owner,
        address spender,
        uint256 value,
        uint256 deadline,
        bytes calldata signature
    ) external {
        _permit(owner, spender, value, deadline, signature);
    }

    /// @notice Whether `authorizer`'s EIP-3009 `nonce` has been used or canceled.
    /// @param authorizer The signer.
    /// @param nonce The authorization nonce.
    /// @return True when the nonce can no longer be used.
    function authorizationState(address authorizer, bytes32 nonce) external view returns (bool) {
        return _authorizationStates[authorizer][nonce];
    }

    /// @notice The EIP-712 domain separator shared by permits and authorizations.
    /// @return The domain separator for the current chain id.
    // solhint-disable-next-line func-name-mixedcase
    function DOMAIN_SEPARATOR() external view returns (bytes32) {
        return _domainSeparatorV4();
    }

    /// @notice The EIP-712 domain version, as exposed by Circle's FiatToken `version()`.
    /// @return The configured version string.
    function version() external view returns (string memory) {
        return _EIP712Version();
    }

    /// @notice The current EIP-2612 permit nonce of `owner` (sequential, unlike EIP-3009 nonces).
    /// @param owner The token owner.
    /// @return The nonce the next permit must be signed with.
    function nonces(address owner) public view override(IERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    /// @notice USDC uses 6 decimals.
    /// @return 6.
    function decimals() public pure override returns (uint8) {
        return 6;
    }

    function _transferWithAuthorization(
        bytes32 typeHash,
        address from,
        address to,
        uint256 value,
        uint256 validAfter,
        uint256 validBefore,
        bytes32 nonce,
        bytes memory signature
    ) private {
        // Same check order and strict bounds as FiatToken v2.2: time window, then nonce, then signature.
        // solhint-disable-next-line gas-strict-inequalities
        if (block.timestamp <= validAfter) revert AuthorizationNotYetValid(validAfter);
        // solhint-disable-next-line gas-strict-inequalities
        if (block.timestamp >= validBefore) revert AuthorizationExpired(validBefore);
        _requireUnusedAuthorization(from, nonce);
        _requireValidSignature(
            from,
            keccak256(abi.encode(typeHash, from, to, value, validAfter, validBefore, nonce)),
            signature
        );

        _authorizationStates[from][nonce] = true;
        emit AuthorizationUsed(from, nonce);
        _transfer(from, to, value);
    }

    function _cancelAuthorization(address authorizer, bytes32 nonce, bytes memory signature) private {
        _requireUnusedAuthorization(authorizer, nonce);
        _requireValidSignature(
            authorizer,
            keccak256(abi.encode(CANCEL_AUTHORIZATION_TYPEHASH, authorizer, nonce)),
            signature
        );

        _authorizationStates[authorizer][nonce] = true;
        emit AuthorizationCanceled(authorizer, nonce);
    }

    function _permit(address owner, address spender, uint256 value, uint256 deadline, bytes memory signature) private {
        if (deadline != type(uint256).max && block.timestamp > deadline) revert PermitExpired(deadline);
        _requireValidSignature(
            owner,
            keccak256(abi.encode(PERMIT_TYPEHASH, owner, spender, value, _useNonce(owner), deadline)),
            signature
        );
        _approve(owner, spender, value);
    }

    function _requireValidSignature(address signer, bytes32 structHash, bytes memory signature) private view {
        if (!SignatureChecker.isValidSignatureNow(signer, _hashTypedDataV4(structHash), signature)) {
            revert InvalidSignature();
        }
    }

    function _requireUnusedAuthorization(address authorizer, bytes32 nonce) private view {
        if (_authorizationStates[authorizer][nonce]) revert AuthorizationUsedOrCanceled(authorizer, nonce);
    }

    function _requirePayee(address to) private view {
        if (to != msg.sender) revert CallerMustBePayee(msg.sender, to);
    }
}
