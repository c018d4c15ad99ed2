import { type Address, type Hash, getAddress, parseSignature } from "viem";
import { collectionMethods } from "../../gateway/schemes/types.js";
import { erc20Abi, escrowAccountAbi, permitTypes, tokenRegistryAbi } from "./abi.js";
import { type AgentChain, requireReader, sendContract, signTypedData } from "./chain.js";
import { AgentError } from "./errors.js";

export interface EscrowAccountOptions extends AgentChain {
  /** The SettlementEscrow (deployments/<network>.json → contracts.SettlementEscrow). */
  readonly escrow: Address;
}

export interface EscrowBalance {
  readonly token: Address;
  /** In the agent's wallet, outside the escrow. */
  readonly wallet: bigint;
  /** Deposited and free: pays any payee, can be moved to a withdrawal at once. */
  readonly deposited: bigint;
  /** Asked back; still pays settlements until withdrawn. `unlockAt` is Unix seconds, 0 when none. */
  readonly pendingWithdrawal: { readonly amount: bigint; readonly unlockAt: bigint };
  /** Reserved for `payee` (only when one was asked about). `releaseAt` 0 means no release requested. */
  readonly commitment?: { readonly payee: Address; readonly amount: bigint; readonly releaseAt: bigint };
  /** What payments to `payee` can draw on: commitment + deposited + pending (only with a payee). */
  readonly spendable?: bigint;
}

export interface DepositResult {
  /** `permit`: one transaction with an EIP-2612 signature; `approve`: approve (if needed) then deposit. */
  readonly method: "permit" | "approve";
  readonly transactions: readonly Hash[];
}

/** Seconds a deposit permit stays valid: long enough to be mined, short enough not to linger. */
const PERMIT_TTL_SECONDS = 3_600n;

/**
 * The agent's own account in the settlement escrow: what the `escrow` scheme pays from. Every
 * write is simulated first, so a refusal names the contract's reason (`WithdrawalLocked`,
 * `InsufficientBalance`…) and nothing is sent.
 */
export function createEscrowAccount(options: EscrowAccountOptions) {
  const escrow = getAddress(options.escrow);
  const owner = options.account.address;
  const reader = () => requireReader(options, "the escrow account");
  const write = (functionName: string, args: readonly unknown[], what: string) =>
    sendContract(options, { address: escrow, abi: escrowAccountAbi, functionName, args }, what);
  const positive = (amount: bigint, what: string) => {
    if (amount <= 0n) throw new AgentError("invalid_argument", `${what} must be more than zero`);
  };

  /** Whether the registry lists EIP-2612 for the token, and its signing domain. */
  async function permitDomain(token: Address): Promise<{ name: string; version: string } | undefined> {
    const registry = await reader().readContract({ address: escrow, abi: escrowAccountAbi, functionName: "registry" });
    const info = await reader().readContract({ address: registry, abi: tokenRegistryAbi, functionName: "getToken", args: [token] });
    if ((info.collectionMethods & collectionMethods.permit) === 0 || info.eip712Name === "" || info.eip712Version === "") return undefined;
    return { name: info.eip712Name, version: info.eip712Version };
  }

  return {
    escrow,

    /**
     * Moves `amount` from the wallet into the escrow. With a permit token (USDC) one transaction
     * carrying a signed permit; otherwise an approval (only if the allowance is short; reset to
     * zero first, as USDT insists) and then the deposit.
     */
    async deposit(token: Address, amount: bigint): Promise<DepositResult> {
      positive(amount, "the deposit");
      token = getAddress(token);
      const held = await reader().readContract({ address: token, abi: erc20Abi, functionName: "balanceOf", args: [owner] });
      if (held < amount) throw new AgentError("insufficient_funds", `the wallet holds ${held}, the deposit needs ${amount}`, { held, amount });

      const domain = await permitDomain(token);
      if (domain !== undefined) {
        const nonce = await reader().readContract({ address: token, abi: erc20Abi, functionName: "nonces", args: [owner] });
        const deadline = BigInt(Math.floor(Date.now() / 1000)) + PERMIT_TTL_SECONDS;
        const signature = await signTypedData(options, {
          domain: { ...domain, chainId: options.chainId, verifyingContract: token },
          types: permitTypes,
          primaryType: "Permit",
          message: { owner, spender: escrow, value: amount, nonce, deadline },
        });
        const { r, s, v, yParity } = parseSignature(signature);
        const { hash } = await write("depositWithPermit", [token, owner, amount, deadline, Number(v ?? BigInt(yParity + 27)), r, s], "the deposit");
        return { method: "permit", transactions: [hash] };
      }

      const transactions: Hash[] = [];
      const allowance = await reader().readContract({ address: token, abi: erc20Abi, functionName: "allowance", args: [owner, escrow] });
      const approve = async (value: bigint) =>
        transactions.push((await sendContract(options, { address: token, abi: erc20Abi, functionName: "approve", args: [escrow, value] }, "the approval")).hash);
      if (allowance < amount) {
        if (allowance > 0n) await approve(0n);
        await approve(amount);
      }
      transactions.push((await write("deposit", [token, amount], "the deposit")).hash);
      return { method: "approve", transactions };
    },

    /** Reserves `amount` of the deposit for `payee`, so its gateway can serve before settling. */
    async commit(token: Address, payee: Address, amount: bigint): Promise<Hash> {
      positive(amount, "the commitment");
      return (await write("commit", [getAddress(token), getAddress(payee), amount], "the commitment")).hash;
    },

    /** Starts the delay after which a commitment can be released back to the deposit. */
    async requestRelease(token: Address, payee: Address): Promise<Hash> {
      return (await write("requestRelease", [getAddress(token), getAddress(payee)], "the release request")).hash;
    },

    async release(token: Address, payee: Address): Promise<Hash> {
      return (await write("release", [getAddress(token), getAddress(payee)], "the release")).hash;
    },

    async balance(token: Address, payee?: Address): Promise<EscrowBalance> {
      token = getAddress(token);
      const r = reader();
      const [wallet, deposited, pending] = await Promise.all([
        r.readContract({ address: token, abi: erc20Abi, functionName: "balanceOf", args: [owner] }),
        r.readContract({ address: escrow, abi: escrowAccountAbi, functionName: "balanceOf", args: [token, owner] }),
        r.readContract({ address: escrow, abi: escrowAccountAbi, functionName: "pendingWithdrawal", args: [token, owner] }),
      ]);
      const result: EscrowBalance = { token, wallet, deposited, pendingWithdrawal: { amount: pending.amount, unlockAt: pending.unlockAt } };
      if (payee === undefined) return result;
      payee = getAddress(payee);
      const [commitment, spendable] = await Promise.all([
        r.readContract({ address: escrow, abi: escrowAccountAbi, functionName: "commitmentOf", args: [token, owner, payee] }),
        r.readContract({ address: escrow, abi: escrowAccountAbi, functionName: "spendableFor", args: [token, owner, payee] }),
      ]);
      return { ...result, commitment: { payee, amount: commitment.amount, releaseAt: commitment.releaseAt }, spendable };
    },

    /** Moves `amount` of the deposit into a withdrawal that unlocks after the escrow's delay. */
    async requestWithdrawal(token: Address, amount: bigint): Promise<{ hash: Hash; unlockAt: bigint }> {
      positive(amount, "the withdrawal");
      token = getAddress(token);
      const { hash } = await write("requestWithdrawal", [token, amount], "the withdrawal request");
      const pending = await reader().readContract({ address: escrow, abi: escrowAccountAbi, functionName: "pendingWithdrawal", args: [token, owner] });
      return { hash, unlockAt: pending.unlockAt };
    },

    /** Sends the whole unlocked pending withdrawal to the wallet. */
    async withdraw(token: Address): Promise<{ hash: Hash; amount: bigint }> {
      token = getAddress(token);
      const pending = await reader().readContract({ address: escrow, abi: escrowAccountAbi, functionName: "pendingWithdrawal", args: [token, owner] });
      const { hash } = await write("withdraw", [token], "the withdrawal");
      return { hash, amount: pending.amount };
    },

    async cancelWithdrawal(token: Address): Promise<Hash> {
      return (await write("cancelWithdrawal", [getAddress(token)], "the withdrawal cancellation")).hash;
    },
  };
}

export type EscrowAccount = ReturnType<typeof createEscrowAccount>;
