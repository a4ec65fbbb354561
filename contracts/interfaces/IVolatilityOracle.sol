// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Keel volatility oracle
/// @notice An on-chain realized-volatility estimate per asset: each new Chainlink round (read
///         through the price oracle, with every guard) folds its log return into an exponentially
///         weighted variance, normalized per second and annualized. Anyone may call `update`.
interface IVolatilityOracle {
    struct Config {
        /// @dev Weight kept by the old estimate at each new round, WAD (half-life ln2 / -ln(lambda) rounds).
        uint64 lambda;
        /// @dev Bounds the published volatility is clamped to, WAD annualized (1e18 = 100%).
        uint64 minVol;
        uint64 maxVol;
    }

    /// @notice Thrown when the asset has no volatility configuration.
    error VolatilityNotConfigured(address asset);
    /// @notice Thrown when the feed has no round updated after the last one folded in.
    error NoNewRound(address asset, uint80 roundId);
    /// @notice Thrown when a parameter is outside its hard bounds.
    error ParameterOutOfBounds(bytes32 parameter, uint256 value, uint256 min, uint256 max);
    /// @notice Thrown when an address argument is zero.
    error ZeroAddress();

    /// @notice `logReturn` (WAD, signed) over `elapsed` seconds moved the estimate to `volatility`
    ///         (unclamped, WAD annualized).
    event VolatilityUpdated(
        address indexed asset,
        uint80 roundId,
        uint256 price,
        int256 logReturn,
        uint256 elapsed,
        uint256 volatility
    );
    event VolatilityConfigured(address indexed asset, Config oldConfig, Config newConfig, uint256 initialVol);

    /// @notice Folds the feed's newest round into the estimate. Permissionless.
    function update(address asset) external;

    /// @notice The estimate clamped to governance bounds, WAD annualized.
    function volatility(address asset) external view returns (uint256);

    /// @notice The unclamped estimate, and the price and update time of the round it last folded in.
    function rawVolatility(address asset) external view returns (uint256 vol, uint256 lastPrice, uint256 updatedAt);
}
