// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {FixedPointMathLib} from "solady/src/utils/FixedPointMathLib.sol";
import {IOptionMarket} from "../interfaces/IOptionMarket.sol";
import {OptionReader} from "./OptionReader.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IRiskConfig} from "../interfaces/IRiskConfig.sol";
import {IMarginAccounts} from "../interfaces/IMarginAccounts.sol";
import {ITraderPnlSource} from "../interfaces/ILiquidityPool.sol";
import {BlackScholes} from "../libraries/BlackScholes.sol";
import {OptionMath} from "../libraries/OptionMath.sol";

/// @title OptionLiability
/// @notice The pool's option liability, for its share price (LiquidityPool.optionSource): what
///         traders' options are worth to them net, read from the option market's public state.
///         A contract of its own so that the market stays within the contract size limit.
contract OptionLiability is ITraderPnlSource, OptionReader {
    using FixedPointMathLib for uint256;

    constructor(
        IOptionMarket options_,
        IPriceOracle oracle_,
        IRiskConfig riskConfig_,
        IMarginAccounts accounts_
    ) OptionReader(options_, oracle_, riskConfig_, accounts_) {}

    /// @inheritdoc ITraderPnlSource
    /// @dev In settlement units rounded up (a liability of the pool is never understated): live
    ///      series at net size x Black-Scholes on the side of the price bracket worse for the pool
    ///      (an expired, unsettled one at intrinsic value), settled series at their unpaid payoffs.
    function tradersUnrealizedPnl() external view returns (int256 total) {
        address[] memory underlyings = options.underlyings();
        for (uint256 u; u < underlyings.length; ++u) total += _liveLiability(underlyings[u]);
        uint32[] memory settled = options.settledOpenSeries();
        for (uint256 i; i < settled.length; ++i) {
            IOptionMarket.Series memory s = options.series(settled[i]);
            uint256 payoff = OptionMath.payoff(s.isCall, s.strike, s.settlementPrice);
            total += int256(uint256(s.longOpenInterest).mulWadUp(payoff));
            total -= int256(uint256(s.shortOpenInterest).mulWad(payoff));
        }
        int256 scale = int256(_scale);
        return total >= 0 ? (total + scale - 1) / scale : total / scale;
    }

    function _liveLiability(address underlying) internal view returns (int256 total) {
        uint32[] memory live = options.liveSeries(underlying);
        IPriceOracle.Price memory p;
        uint256 volatility;
        for (uint256 i; i < live.length; ++i) {
            IOptionMarket.Series memory s = options.series(live[i]);
            int256 net = int256(uint256(s.longOpenInterest)) - int256(uint256(s.shortOpenInterest));
            if (net == 0) continue;
            if (volatility == 0) {
                p = oracle.getPrice(underlying);
                if (p.status == IPriceOracle.Status.Down) revert IOptionMarket.PriceDown(underlying);
                volatility = riskConfig.impliedVolatility(underlying);
            }
            uint256 remaining = s.expiry > block.timestamp ? s.expiry - block.timestamp : 0;
            // Traders net long: their options at the higher value; net short: at the lower.
            uint256 spot = (s.isCall == (net > 0)) ? p.high : p.low;
            uint256 unit = BlackScholes.price(spot, s.strike, volatility, remaining, s.isCall);
            total += net > 0 ? int256(uint256(net).mulWadUp(unit)) : -int256(uint256(-net).mulWad(unit));
        }
    }
}
