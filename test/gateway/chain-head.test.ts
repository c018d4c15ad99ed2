/**
 * The head tracker bounds how stale the per-block escrow reads can be, and the coalescer batches
 * the paid path's statements: both are timing-sensitive in production, so their rules are pinned
 * here with a fake clock and fake I/O.
 */
import { expect } from "chai";
import type { Hash } from "viem";
import { createHeadTracker } from "../../gateway/chain/head.js";
import { createCoalescer } from "../../gateway/lib/coalescer.js";

function fakeChain() {
  let number = 100n;
  let calls = 0;
  let failNext: Error | undefined;
  let release: (() => void) | undefined;
  let hold = false;
  return {
    reader: {
      getBlock: async () => {
        calls += 1;
        if (hold) await new Promise<void>((resolve) => (release = resolve));
        if (failNext !== undefined) {
          const error = failNext;
          failNext = undefined;
          throw error;
        }
        return { number, hash: `0x${number.toString(16).padStart(64, "0")}` as Hash, timestamp: 1_000n + number };
      },
    } as never,
    mine: () => (number += 1n),
    calls: () => calls,
    failNext: (error: Error) => (failNext = error),
    hold: (on: boolean) => {
      hold = on;
      if (!on) release?.();
    },
  };
}

describe("chain head tracker", () => {
  it("answers from the last head within its age and reads again after it", async () => {
    const chain = fakeChain();
    let clock = 0;
    const head = createHeadTracker({ reader: chain.reader, maxAgeMs: 250, now: () => clock });
    expect((await head.latest()).number).to.equal(100n);
    chain.mine();
    clock = 100;
    expect((await head.latest()).number).to.equal(100n, "still within half its age: no read");
    expect(chain.calls()).to.equal(1);
    clock = 250;
    expect((await head.latest()).number).to.equal(101n, "too old: the answer waits for a fresh head");
    expect(chain.calls()).to.equal(2);
  });

  it("refreshes in the background past half its age, so steady traffic never waits", async () => {
    const chain = fakeChain();
    let clock = 0;
    const head = createHeadTracker({ reader: chain.reader, maxAgeMs: 250, now: () => clock });
    await head.latest();
    chain.mine();
    clock = 130;
    expect((await head.latest()).number).to.equal(100n, "answered at once from the cached head");
    await new Promise((resolve) => setImmediate(resolve));
    expect(chain.calls()).to.equal(2);
    expect((await head.latest()).number).to.equal(101n);
  });

  it("shares one read among concurrent callers and does not keep a failure", async () => {
    const chain = fakeChain();
    const head = createHeadTracker({ reader: chain.reader, maxAgeMs: 0 });
    chain.hold(true);
    const both = Promise.all([head.latest(), head.latest()]);
    chain.hold(false);
    await both;
    expect(chain.calls()).to.equal(1);
    chain.failNext(new Error("node down"));
    let failed: unknown;
    await head.latest().catch((error: unknown) => (failed = error));
    expect((failed as Error).message).to.equal("node down");
    expect((await head.latest()).number).to.equal(100n);
  });
});

describe("statement coalescer", () => {
  it("sends a lone item at once and batches what arrives while a batch is in flight", async () => {
    const batches: number[][] = [];
    let release!: () => void;
    let first = true;
    const coalescer = createCoalescer<number, number>({
      run: async (items) => {
        batches.push([...items]);
        if (first) {
          first = false;
          await new Promise<void>((resolve) => (release = resolve));
        }
        return items.map((n) => n * 10);
      },
      maxBatch: 3,
    });
    const a = coalescer.submit(1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(batches).to.deep.equal([[1]]);
    const rest = [2, 3, 4, 5].map((n) => coalescer.submit(n));
    expect(coalescer.waiting()).to.equal(4);
    release();
    expect(await Promise.all([a, ...rest])).to.deep.equal([10, 20, 30, 40, 50]);
    expect(batches).to.deep.equal([[1], [2, 3, 4], [5]]);
  });

  it("fails only the batch whose statement failed, and a batch with a wrong result count", async () => {
    let call = 0;
    const coalescer = createCoalescer<number, number>({
      run: async (items) => {
        call += 1;
        if (call === 1) throw new Error("connection terminated");
        if (call === 2) return [];
        return items;
      },
    });
    const errors = await Promise.all([coalescer.submit(1).catch((e: Error) => e.message)]);
    expect(errors).to.deep.equal(["connection terminated"]);
    expect(await coalescer.submit(2).catch((e: Error) => e.message)).to.match(/returned 0 results/);
    expect(await coalescer.submit(3)).to.equal(3);
  });

  it("refuses a nonsensical batch size", () => {
    expect(() => createCoalescer({ run: async (items) => items, maxBatch: 0 })).to.throw(RangeError);
  });
});
