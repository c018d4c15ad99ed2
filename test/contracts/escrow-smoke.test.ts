import { network } from "hardhat";
import { expect } from "chai";
import { deployEscrowSystem, paymentFor, signPayment } from "./helpers/escrow.js";

const { viem, networkHelpers } = await network.create();
const fixture = () => deployEscrowSystem(viem);

describe("SettlementEscrow smoke", () => {
  it("settles a signed USDC payment from a deposit", async () => {
    const s = await networkHelpers.loadFixture(fixture);
    await s.escrow.write.deposit([s.usdc.address, 10_000_000n], { account: s.agent.account });
    const auth = await paymentFor(s.publicClient, { payer: s.agent.account!.address, payee: s.payee.account!.address, token: s.usdc.address, amount: 1_000n });
    const sig = await signPayment(s.agent, s.domain, auth);
    await s.escrow.write.settle([auth, sig]);
    expect(await s.escrow.read.earningsOf([s.usdc.address, s.payee.account!.address])).to.equal(1_000n);
    expect(await s.escrow.read.balanceOf([s.usdc.address, s.agent.account!.address])).to.equal(9_999_000n);
  });
});
