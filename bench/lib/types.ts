/**
 * The shapes every benchmark section shares. A section measures and returns rows; whether a row
 * meets its target is decided once, by the runner (lib/report.ts), never by the section itself.
 */

/** A target on a row's value: `value <= atMost` or `value >= atLeast`. */
export type Target = { readonly atMost: number } | { readonly atLeast: number };

/** One measurement, as a section returns it. */
export interface MeasuredRow {
  readonly section: string;
  readonly name: string;
  readonly value: number;
  readonly unit: string;
  readonly target?: Target;
  /** Conditions a reader needs to interpret the number (payload shape, backend, batch contents). */
  readonly note?: string;
}

/** A row after the runner checked its target: `pass` is present exactly when `target` is. */
export interface Row extends MeasuredRow {
  readonly pass?: boolean;
}

export interface SectionContext {
  /** Progress for the person watching; goes to stderr so stdout stays the table. */
  log(message: string): void;
}

/**
 * One numbered section of `npm run bench` (issue 6). Later sections (HTTP load, settlement
 * throughput, scale-out, memory) plug in by exporting one of these from bench/sections/ and
 * adding it to the list in bench/run.ts.
 */
export interface Section {
  /** Short id used on the command line: `node --import tsx bench/run.ts verification`. */
  readonly id: string;
  readonly title: string;
  run(context: SectionContext): Promise<readonly MeasuredRow[]>;
}
