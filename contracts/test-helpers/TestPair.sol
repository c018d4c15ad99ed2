// SPDX-License-Identifier: MIT
pragma solidity 0.8.28;

/// @title TestPair
/// @notice Test-only stand-in for a Uniswap V2 pair: the three views a price reader calls
/// (`token0`, `token1`, `getReserves`), with reserves set directly instead of by trading.
/// Anyone can set them; never deploy it outside the local test chain.
/// @dev The tokens are kept in the order given (no sorting as the real factory does), so tests
/// can put the priced token on either side.
contract TestPair {
    address private immutable _TOKEN0;
    address private immutable _TOKEN1;

    uint112 private _reserve0;
    uint112 private _reserve1;
    uint32 private _blockTimestampLast;

    /// @notice Emitted whenever the reserves are set, as Uniswap V2 does on every reserve update.
    /// @param reserve0 New reserve of `token0`.
    /// @param reserve1 New reserve of `token1`.
    event Sync(uint112 reserve0, uint112 reserve1);

    /// @param token0_ Address returned by `token0()`.
    /// @param token1_ Address returned by `token1()`.
    constructor(address token0_, address token1_) {
        _TOKEN0 = token0_;
        _TOKEN1 = token1_;
    }

    /// @notice Sets both reserves and the last-update timestamp `getReserves` reports.
    /// @param reserve0 New reserve of `token0`, in its atomic units.
    /// @param reserve1 New reserve of `token1`, in its atomic units.
    /// @param blockTimestampLast Timestamp to report; pass an old one to simulate a pair nobody trades.
    function setReserves(uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast) external {
        _reserve0 = reserve0;
        _reserve1 = reserve1;
        _blockTimestampLast = blockTimestampLast;
        emit Sync(reserve0, reserve1);
    }

    /// @notice Sets both reserves stamped with the current block's time, as a swap or `sync()` would.
    /// @param reserve0 New reserve of `token0`, in its atomic units.
    /// @param reserve1 New reserve of `token1`, in its atomic units.
    function sync(uint112 reserve0, uint112 reserve1) external {
        _reserve0 = reserve0;
        _reserve1 = reserve1;
        // Same truncation as Uniswap V2: the timestamp is stored modulo 2^32.
        _blockTimestampLast = uint32(block.timestamp % 2 ** 32);
        emit Sync(reserve0, reserve1);
    }

    /// @notice The first token of the pair.
    /// @return The `token0_` given at deployment.
    function token0() external view returns (address) {
        return _TOKEN0;
    }

    /// @notice The second token of the pair.
    /// @return The `token1_` given at deployment.
    function token1() external view returns (address) {
        return _TOKEN1;
    }

    /// @notice The reserves and the time they were last updated, in Uniswap V2's exact shape.
    /// @return reserve0 Reserve of `token0`.
    /// @return reserve1 Reserve of `token1`.
    /// @return blockTimestampLast Time of the last update, modulo 2^32.
    function getReserves() external view returns (uint112 reserve0, uint112 reserve1, uint32 blockTimestampLast) {
        return (_reserve0, _reserve1, _blockTimestampLast);
    }
}
