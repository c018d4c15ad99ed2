/**
 * Group commit for one kind of statement: callers submit items one at a time; while a batch is in
 * flight, new items wait, and the moment it returns they all go out together as the next batch.
 * Nobody waits for a timer, so a lone request is sent at once (no added latency at low load),
 * while under load the number of round trips and commits per second stays near one per batch
 * instead of one per request.
 *
 * `run` gets the items in submission order and must return one result per item, in that order,
 * or throw, which fails every item of that batch (and only that batch).
 */
export interface Coalescer<I, R> {
  submit(item: I): Promise<R>;
  /** Items waiting for the next batch; for tests and metrics. */
  readonly waiting: () => number;
}

export interface CoalescerOptions<I, R> {
  readonly run: (items: readonly I[]) => Promise<readonly R[]>;
  /** Most items per batch; the rest wait for the next one. Default 100. */
  readonly maxBatch?: number;
  /**
   * Batches allowed in flight at once; default 1. More than one lets a slow batch not hold the
   * queue back, at the price of smaller batches.
   */
  readonly concurrency?: number;
}

interface Waiting<I, R> {
  readonly item: I;
  readonly resolve: (result: R) => void;
  readonly reject: (error: unknown) => void;
}

export function createCoalescer<I, R>(options: CoalescerOptions<I, R>): Coalescer<I, R> {
  const maxBatch = options.maxBatch ?? 100;
  const concurrency = options.concurrency ?? 1;
  if (!Number.isSafeInteger(maxBatch) || maxBatch < 1) throw new RangeError(`maxBatch must be a positive integer, got ${maxBatch}`);
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new RangeError(`concurrency must be a positive integer, got ${concurrency}`);
  const queue: Waiting<I, R>[] = [];
  let inFlight = 0;

  const pump = (): void => {
    while (inFlight < concurrency && queue.length > 0) {
      const batch = queue.splice(0, maxBatch);
      inFlight += 1;
      void send(batch).finally(() => {
        inFlight -= 1;
        pump();
      });
    }
  };

  const send = async (batch: Waiting<I, R>[]): Promise<void> => {
    let results: readonly R[];
    try {
      results = await options.run(batch.map((w) => w.item));
    } catch (error) {
      for (const w of batch) w.reject(error);
      return;
    }
    if (results.length !== batch.length) {
      const error = new Error(`a batch of ${batch.length} returned ${results.length} results`);
      for (const w of batch) w.reject(error);
      return;
    }
    batch.forEach((w, i) => w.resolve(results[i] as R));
  };

  return {
    submit(item) {
      return new Promise<R>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        // After the current turn of the event loop, so items submitted together share a batch.
        if (queue.length === 1) queueMicrotask(pump);
      });
    },
    waiting: () => queue.length,
  };
}
