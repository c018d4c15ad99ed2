/**
 * Telling "the contract does not answer this call" from "we could not reach the chain".
 *
 * Optional views (eip712Domain(), version(), …) are probed by calling them: a revert, an empty
 * answer or an undecodable answer all mean the function is not there and are a normal outcome.
 * A transport failure is not an answer at all and must not be mistaken for one, or a flaky RPC
 * node would make a token look as if it had no EIP-712 domain.
 */
import {
  AbiDecodingDataSizeTooSmallError,
  AbiDecodingZeroDataError,
  BaseError,
  CallExecutionError,
  ContractFunctionExecutionError,
  ContractFunctionRevertedError,
  ContractFunctionZeroDataError,
} from "viem";

/** True when a `readContract` failure came from the contract (revert, no data, bad data), not the transport. */
export function isContractAnswerError(error: unknown): boolean {
  if (!(error instanceof BaseError)) return false;
  const fromContract = error.walk(
    (e) =>
      e instanceof ContractFunctionRevertedError ||
      e instanceof ContractFunctionZeroDataError ||
      e instanceof AbiDecodingZeroDataError ||
      e instanceof AbiDecodingDataSizeTooSmallError,
  );
  if (fromContract !== null) return true;
  // Any other decoding failure of data the node did return: the call went through, the answer is junk.
  return error instanceof ContractFunctionExecutionError && !(error.cause instanceof CallExecutionError);
}
