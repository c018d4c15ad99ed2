/**
 * Reference costs for the README's gas table: what paying the same USDC amount costs without the
 * escrow, to put `settle` and `settleBatch` in context. Both transfers go to a recipient that
 * already holds USDC, like a payee with earlier earnings.
 */
import { network } from "hardhat";
import { expect } from "chai";
import { keccak256, parseSignature, toHex } from "viem";
import { USDC_DOMAIN_NAME, USDC_DOMAIN_VERSION, deployEscrowSystem } from "./helpers/escrow.js";
import { transferWithAuthorizationTypes } from "../../gateway/schemes/exact/abi.js";

const { viem, networkHelpers } = await network.create();
const fixture = () => deployEscrowSystem(viem);

const TRANSFER_WITH_AUTHORIZATION_TYPES = transferWithAuthorizationTypes;

describe("gas reference points", () => {
  it("a plain ERC-20 transfer and an EIP-3009 transferWithAuthorization of USDC", async () => {
    const s = await networkHelpers.loadFixture(fixture);
    const [from, to] = [s.agent.account.address, s.payee.account.address];
    await s.usdc.write.transfer([to, 1n], { account: s.agent.account }); // recipient already holds USDC

    const transferHash = await s.usdc.write.transfer([to, 1_000n], { account: s.agent.account });
    const transfer = await s.publicClient.waitForTransactionReceipt({ hash: transferHash });

    const { timestamp } = await s.publicClient.getBlock();
    const message = { from, to, value: 1_000n, validAfter: 0n, validBefore: timestamp + 3_600n, nonce: keccak256(toHex("gas")) };
    const signature = await s.agent.signTypedData({
      account: s.agent.account,
      domain: { name: USDC_DOMAIN_NAME, version: USDC_DOMAIN_VERSION, chainId: s.chainId, verifyingContract: s.usdc.address },
      types: TRANSFER_WITH_AUTHORIZATION_TYPES,
      primaryType: "TransferWithAuthorization",
      message,
    });
    const { r, s: sigS, v } = parseSignature(signature);
    const authHash = await s.usdc.write.transferWithAuthorization(
      [from, to, message.value, message.validAfter, message.validBefore, message.nonce, Number(v), r, sigS],
      { account: s.stranger.account },
    );
    const eip3009 = await s.publicClient.waitForTransactionReceipt({ hash: authHash });

    console.log(`        ERC-20 transfer: ${transfer.gasUsed} gas`);
    console.log(`        EIP-3009 transferWithAuthorization: ${eip3009.gasUsed} gas`);
    expect(transfer.status).to.equal("success");
    expect(eip3009.status).to.equal("success");
    expect(await s.usdc.read.balanceOf([to])).to.equal(2_001n);
  });
});
