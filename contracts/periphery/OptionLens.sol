// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IOptionMarket} from "../interfaces/IOptionMarket.sol";
import {OptionReader} from "../options/OptionReader.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IRiskConfig} from "../interfaces/IRiskConfig.sol";
import {IMarginAccounts} from "../interfaces/IMarginAccounts.sol";
import {RiskParams} from "../governance/RiskParams.sol";
import {BlackScholes} from "../libraries/BlackScholes.sol";
import {OptionMath} from "../libraries/OptionMath.sol";

/// @title OptionLens
/// @notice Read-only views of the option market for front ends: Black-Scholes quotes and what a
///         trade would cost now. Not used by the core (the market keeps within the contract size
///         limit by leaving these here).
contract OptionLens is OptionReader {
    constructor(
        IOptionMarket options_,
        IPriceOracle oracle_,
        IRiskConfig riskConfig_,
        IMarginAccounts accounts_
    ) OptionReader(options_, oracle_, riskConfig_, accounts_) {}

    /// @notice Black-Scholes with a zero interest rate: price (WAD USD per unit), delta (WAD),
    ///         gamma (WAD per USD) and vega (WAD USD per 1.0 of volatility). Reverts
    ///         `BlackScholes.InvalidPricingInput` outside the library's domain.
    function quote(
        uint256 spot,
        uint256 strike,
        uint256 volatility,
        uint256 secondsToExpiry,
        bool isCall
    ) external pure returns (uint256 price, int256 delta, uint256 gamma, uint256 vega) {
        BlackScholes.Greeks memory g = BlackScholes.greeks(spot, strike, volatility, secondsToExpiry, isCall);
        return (g.price, g.delta, g.gamma, g.vega);
    }

    /// @notice What `tradeOption(…, seriesId, amount, …)` would charge (buy) or pay (sell) now, in
    ///         settlement units, for an account that holds none of the series: the same price,
    ///         spread and rounding as the trade.
    function quotePremium(uint32 seriesId, int256 amount) external view returns (uint256) {
        if (amount == 0) revert IOptionMarket.ZeroAmount();
        IOptionMarket.Series memory s = options.series(seriesId);
        if (s.underlying == address(0)) revert IOptionMarket.UnknownSeries(seriesId);
        if (block.timestamp >= s.expiry) revert IOptionMarket.SeriesExpired(seriesId, s.expiry);
        IPriceOracle.Price memory p = oracle.getPriceChecked(s.underlying);
        if (p.status == IPriceOracle.Status.Down) revert IOptionMarket.PriceDown(s.underlying);
        uint256 spot = (s.isCall == (amount > 0)) ? p.high : p.low;
        BlackScholes.Greeks memory g = BlackScholes.greeks(
            spot,
            s.strike,
            riskConfig.impliedVolatility(s.underlying),
            s.expiry - block.timestamp,
            s.isCall
        );
        return
            OptionMath.premium(
                amount,
                OptionMath.tradePrice(amount, g.price, spot),
                _spreadAfter(s, amount, g),
                _scale
            );
    }

    /// @dev The spread at the larger of the exposure before and after the trade.
    function _spreadAfter(
        IOptionMarket.Series memory s,
        int256 amount,
        BlackScholes.Greeks memory g
    ) internal view returns (uint256) {
        int256 net = int256(uint256(s.longOpenInterest)) - int256(uint256(s.shortOpenInterest)) + amount;
        IOptionMarket.Exposure memory e = options.exposureOf(s.underlying);
        int256 delta = int256(e.netDelta) + s.traderDelta - (net * g.delta) / 1e18;
        int256 vega = int256(e.netVega) + s.traderVega - (net * int256(g.vega)) / 1e18;
        return
            OptionMath.spread(
                _param(RiskParams.Param.OPTION_SPREAD_BASE, s.underlying),
                _param(RiskParams.Param.OPTION_SPREAD_SLOPE, s.underlying),
                _larger(delta, e.netDelta),
                _larger(vega, e.netVega),
                _param(RiskParams.Param.MAX_NET_DELTA, s.underlying),
                _param(RiskParams.Param.MAX_NET_VEGA, s.underlying)
            );
    }

    function _larger(int256 a, int256 b) internal pure returns (int256) {
        return (a >= 0 ? a : -a) > (b >= 0 ? b : -b) ? a : b;
    }

    function _param(RiskParams.Param p, address underlying) internal view returns (uint256) {
        return riskConfig.get(p, uint256(uint160(underlying)));
    }
}
