// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccountHealthCheck} from "./IAccountHealthCheck.sol";
import {IPerpMarket} from "./IPerpMarket.sol";
import {IOptionMarket} from "./IOptionMarket.sol";

/// @title Keel margin engine
/// @notice Decides, for any account at any moment, its equity, initial margin (IM) and maintenance
///         margin (MM), all WAD USD.
///         - Equity = collateral at weight x low price + stablecoin balance (may be negative) +
///           perps' unrealized PnL including unsettled funding + options: a long at its value x
///           (1 - haircut), a short's (negative) value in full. Options are valued by Black-Scholes
///           at the end of the price bracket worse for the holder.
///         - Isolated accounts (standard margin), per position: a perp's MM = notional x s, with
///           s = max(floor, size term, volatility term); a short option's MM the static formula
///           (IOptionMarket.OptionRisk), a long option's zero; IM = MM x IM multiplier.
///         - Cross accounts (portfolio margin), per underlying: revalue the book on a grid of spot
///           shocks spanning +-s (GRID_POINTS points, extremes included), and with options in the
///           book at three volatilities each (as is, up, down); MM = worst loss (no contingency
///           term: perps are linear and fully on the grid, options are revalued in full at every
///           point), IM = the same loss x IM multiplier; summed across underlyings.
interface IMarginEngine is IAccountHealthCheck {
    struct Margin {
        int256 equity;
        uint256 initialMargin;
        uint256 maintenanceMargin;
    }

    /// @notice Everything a liquidation needs, from one read of the oracles. `markToMarket` values
    ///         the account at what it is worth, not what it may borrow against: every collateral
    ///         at its full low price (no weight), the stablecoin at face value, positions at their
    ///         unrealized PnL (funding included). `otherCollateral` is the non-settlement part of it.
    ///         Reverts `PriceDown` while the price of anything the account holds is Down: its
    ///         value is unknown, so it is neither liquidated nor valued.
    struct Valuation {
        int256 equity;
        uint256 initialMargin;
        uint256 maintenanceMargin;
        int256 markToMarket;
        uint256 otherCollateral;
        IPerpMarket.PositionRisk[] positions;
        /// @dev How many option positions the account holds (their value is in `markToMarket`).
        uint256 optionPositions;
    }

    /// @notice What a withdrawal or trade would have left: `equity` (for withdrawals, without
    ///         positive unrealized PnL) below `requirement` (IM, or MM for a risk-reducing trade).
    error InsufficientMargin(uint256 accountId, int256 equity, uint256 requirement);
    /// @notice A price the account's valuation needs is Down.
    error PriceDown(address asset);
    error NotPerpMarket(address caller);
    error ZeroAddress();

    /// @notice The option market whose positions it values.
    function options() external view returns (IOptionMarket);

    /// @notice Equity, IM and MM of the account now.
    function accountMargin(uint256 accountId) external view returns (Margin memory);

    /// @notice Margin, mark-to-market and positions of the account now (liquidation).
    function valuation(uint256 accountId) external view returns (Valuation memory);

    /// @notice Reverts with `InsufficientMargin` unless equity covers IM (a liquidation bidder's
    ///         account after it took its share). Expired longs whose series is not settled yet
    ///         count for nothing here (their payoff is not proved).
    function checkInitialMargin(uint256 accountId) external view;

    /// @notice MM > equity.
    function isLiquidatable(uint256 accountId) external view returns (bool);

    /// @notice Equity without positive unrealized PnL: what backs a withdrawal.
    function withdrawableEquity(uint256 accountId) external view returns (int256);

    /// @notice The markets' check at the end of a trade: equity >= IM after a trade that
    ///         increased risk (without expired longs whose series is not settled yet), equity >= MM
    ///         after one that only reduced it.
    function checkTrade(uint256 accountId, bool increasedRisk) external view;
}
