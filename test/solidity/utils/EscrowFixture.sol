// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

import {TestBase} from "./Vm.sol";
import {SettlementEscrow} from "../../../contracts/SettlementEscrow.sol";
import {TokenRegistry} from "../../../contracts/TokenRegistry.sol";
import {ISettlementEscrow} from "../../../contracts/interfaces/ISettlementEscrow.sol";
import {ITokenRegistry, METHOD_ALL, METHOD_ERC20} from "../../../contracts/interfaces/ITokenRegistry.sol";
import {MockUSDC} from "../../../contracts/mocks/MockUSDC.sol";
import {MockUSDT} from "../../../contracts/mocks/MockUSDT.sol";

/// @notice Deploys the registry, MockUSDC, MockUSDT and the escrow, as the TypeScript fixture does:
/// USDC and USDT registered Active with limits [1, 1,000 tokens], a one-day withdrawal delay,
/// `ADMIN` as escrow admin / pauser / registry owner, `OPERATOR` holding OPERATOR_ROLE.
/// The test contract deploys the mocks, so it owns them and can mint.
abstract contract EscrowFixture is TestBase {
    uint256 internal constant START_TIME = 1_750_000_000;
    uint64 internal constant WITHDRAWAL_DELAY = 1 days;
    uint48 internal constant ADMIN_TRANSFER_DELAY = 2 days;
    uint128 internal constant MIN_AMOUNT = 1;
    uint128 internal constant MAX_AMOUNT = 1_000_000_000; // 1,000 tokens with 6 decimals
    uint256 internal constant BPS = 10_000;

    string internal constant USDC_DOMAIN_NAME = "Bridged USDC (SKALE Bridge)";

    address internal constant ADMIN = address(0xAD11);
    address internal constant OPERATOR = address(0x0B0B);
    address internal constant FEE_RECIPIENT = address(0xFEE5);

    TokenRegistry internal registry;
    MockUSDC internal usdc;
    MockUSDT internal usdt;
    SettlementEscrow internal escrow;

    function _deploySystem() internal {
        vm.warp(START_TIME);
        registry = new TokenRegistry(ADMIN);
        usdc = new MockUSDC(USDC_DOMAIN_NAME, "USDC.e", "2");
        usdt = new MockUSDT();
        vm.startPrank(ADMIN);
        registry.registerToken(
            ITokenRegistry.TokenInfo({
                token: address(usdc),
                symbol: "USDC",
                decimals: 6,
                collectionMethods: METHOD_ALL,
                status: ITokenRegistry.TokenStatus.Active,
                eip712Name: USDC_DOMAIN_NAME,
                eip712Version: "2",
                minAmount: MIN_AMOUNT,
                maxAmount: MAX_AMOUNT
            })
        );
        registry.registerToken(
            ITokenRegistry.TokenInfo({
                token: address(usdt),
                symbol: "USDT",
                decimals: 6,
                collectionMethods: METHOD_ERC20,
                status: ITokenRegistry.TokenStatus.Active,
                eip712Name: "",
                eip712Version: "",
                minAmount: MIN_AMOUNT,
                maxAmount: MAX_AMOUNT
            })
        );
        vm.stopPrank();
        escrow = new SettlementEscrow(registry, ADMIN, ADMIN_TRANSFER_DELAY, WITHDRAWAL_DELAY, FEE_RECIPIENT);
        vm.startPrank(ADMIN);
        escrow.grantRole(escrow.PAUSER_ROLE(), ADMIN);
        escrow.grantRole(escrow.OPERATOR_ROLE(), OPERATOR);
        vm.stopPrank();
        vm.label(address(escrow), "escrow");
        vm.label(address(registry), "registry");
        vm.label(address(usdc), "USDC");
        vm.label(address(usdt), "USDT");
    }

    /// @dev Mints `amount` of `token` to `account`, which approves the escrow for everything and deposits it.
    function _fund(address token, address account, uint256 amount) internal {
        _mint(token, account, amount);
        // USDT refuses to change a non-zero allowance, so approve only once.
        if (token == address(usdt)) {
            if (usdt.allowance(account, address(escrow)) == 0) {
                vm.prank(account);
                usdt.approve(address(escrow), type(uint256).max);
            }
        } else if (usdc.allowance(account, address(escrow)) == 0) {
            vm.prank(account);
            usdc.approve(address(escrow), type(uint256).max);
        }
        vm.prank(account);
        escrow.deposit(token, amount);
    }

    function _mint(address token, address to, uint256 amount) internal {
        if (token == address(usdt)) usdt.mint(to, amount);
        else usdc.mint(to, amount);
    }

    function _tokenBalance(address token, address account) internal view returns (uint256) {
        return token == address(usdt) ? usdt.balanceOf(account) : usdc.balanceOf(account);
    }

    function _signPayment(
        uint256 privateKey,
        ISettlementEscrow.PaymentAuthorization memory auth
    ) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(privateKey, escrow.hashPaymentAuthorization(auth));
        return abi.encodePacked(r, s, v);
    }

    function _signHold(
        uint256 privateKey,
        ISettlementEscrow.HoldAuthorization memory auth
    ) internal view returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(privateKey, escrow.hashHoldAuthorization(auth));
        return abi.encodePacked(r, s, v);
    }

    function _setStatus(address token, ITokenRegistry.TokenStatus status) internal {
        if (registry.statusOf(token) == status) return;
        vm.prank(ADMIN);
        registry.setStatus(token, status);
    }

    function _setFee(uint16 feeBps) internal {
        vm.prank(ADMIN);
        escrow.setFee(feeBps);
    }

    function _pause() internal {
        vm.prank(ADMIN);
        escrow.pause();
    }
}
