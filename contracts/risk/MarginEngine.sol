// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {FixedPointMathLib} from "solady/src/utils/FixedPointMathLib.sol";
import {IMarginEngine} from "../interfaces/IMarginEngine.sol";
import {IMarginAccounts} from "../interfaces/IMarginAccounts.sol";
import {IPerpMarket} from "../interfaces/IPerpMarket.sol";
import {IOptionMarket} from "../interfaces/IOptionMarket.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {BlackScholes} from "../libraries/BlackScholes.sol";

/// @title MarginEngine
/// @notice See IMarginEngine. Stateless: every figure is computed from the accounts' balances,
///         the markets' positions and the oracles at the moment of the call.
///
///         Instruments plug in per underlying: each position reports its value, its linear
///         exposure and the shock ratio its market needs; the portfolio grid revalues every
///         underlying's book at each shock. Perps revalue linearly (size x spot x shock); options
///         by Black-Scholes at every spot shock and at three volatilities (as is, up, down).
contract MarginEngine is IMarginEngine {
    using FixedPointMathLib for uint256;

    /// @notice Points of the portfolio grid: -s, -2s/3, -s/3, 0, s/3, 2s/3, s.
    uint256 public constant GRID_POINTS = 7;
    uint256 internal constant WAD = 1e18;

    IMarginAccounts public immutable accounts;
    IPerpMarket public immutable perps;
    IOptionMarket public immutable options;
    IPriceOracle public immutable oracle;
    address public immutable settlementToken;

    /// @dev One underlying of a cross account's book.
    struct Book {
        address underlying;
        int256 signedNotional; // sum of size x price, WAD
        uint256 shockRatio; // the largest of its positions' ratios
        uint256 imMultiplier;
        uint256 spot; // the underlying's price
        uint256 low; // the options' down scenarios shock the low end of the bracket
        uint256 high; // and the up scenarios the high end
        bool hasOptions;
    }

    constructor(IMarginAccounts accounts_, IPerpMarket perps_, IOptionMarket options_, IPriceOracle oracle_) {
        if (
            address(accounts_) == address(0) ||
            address(perps_) == address(0) ||
            address(options_) == address(0) ||
            address(oracle_) == address(0)
        ) {
            revert ZeroAddress();
        }
        accounts = accounts_;
        perps = perps_;
        options = options_;
        oracle = oracle_;
        settlementToken = accounts_.settlementToken();
    }

    /// @inheritdoc IMarginEngine
    function accountMargin(uint256 accountId) public view returns (Margin memory m) {
        (m, , ) = _margin(accountId);
    }

    /// @inheritdoc IMarginEngine
    function valuation(uint256 accountId) external view returns (Valuation memory v) {
        (Margin memory m, , Worth memory w) = _margin(accountId);
        v.equity = m.equity;
        v.initialMargin = m.initialMargin;
        v.maintenanceMargin = m.maintenanceMargin;
        v.markToMarket = w.markToMarket;
        v.otherCollateral = w.otherCollateral;
        v.positions = w.risks;
        v.optionPositions = w.options.length;
    }

    /// @inheritdoc IMarginEngine
    function checkInitialMargin(uint256 accountId) external view {
        (Margin memory m, , Worth memory w) = _margin(accountId);
        int256 equity = m.equity - w.unproven;
        if (equity < int256(m.initialMargin)) revert InsufficientMargin(accountId, equity, m.initialMargin);
    }

    /// @inheritdoc IMarginEngine
    function isLiquidatable(uint256 accountId) external view returns (bool) {
        Margin memory m = accountMargin(accountId);
        return int256(m.maintenanceMargin) > m.equity;
    }

    /// @inheritdoc IMarginEngine
    function withdrawableEquity(uint256 accountId) public view returns (int256) {
        (Margin memory m, int256 unrealizedProfit, ) = _margin(accountId);
        return m.equity - unrealizedProfit;
    }

    /// @notice Reverts unless equity without positive unrealized PnL covers IM.
    /// @dev Unrealized profit never backs a withdrawal (positions count only their losses).
    function checkWithdrawal(uint256 accountId) external view {
        // No positions and no debt: nothing to cover, and no price needs reading (this is also what
        // lets such an account withdraw while prices are Down).
        if (
            perps.accountMarkets(accountId).length == 0 &&
            options.accountSeries(accountId).length == 0 &&
            accounts.balanceOf(accountId, settlementToken) >= 0
        ) {
            return;
        }
        (Margin memory m, int256 unrealizedProfit, ) = _margin(accountId);
        int256 equity = m.equity - unrealizedProfit;
        if (equity < int256(m.initialMargin)) revert InsufficientMargin(accountId, equity, m.initialMargin);
    }

    /// @inheritdoc IMarginEngine
    function checkTrade(uint256 accountId, bool increasedRisk) external view {
        if (msg.sender != address(perps) && msg.sender != address(options)) revert NotPerpMarket(msg.sender);
        (Margin memory m, , Worth memory w) = _margin(accountId);
        // New risk is never backed by an expired long whose payoff is not proved yet.
        int256 equity = increasedRisk ? m.equity - w.unproven : m.equity;
        uint256 requirement = increasedRisk ? m.initialMargin : m.maintenanceMargin;
        if (equity < int256(requirement)) revert InsufficientMargin(accountId, equity, requirement);
    }

    // ---------------------------------------------------------------- internals

    /// @dev What the account is worth without haircuts, and the positions it was computed from.
    struct Worth {
        int256 markToMarket;
        uint256 otherCollateral;
        IPerpMarket.PositionRisk[] risks;
        IOptionMarket.OptionRisk[] options;
        /// @dev What equity counts for expired longs not settled yet: kept out of IM checks.
        int256 unproven;
    }

    /// @dev Margin, the sum of positive unrealized PnL (per position) and the account's worth.
    function _margin(
        uint256 accountId
    ) internal view returns (Margin memory m, int256 unrealizedProfit, Worth memory w) {
        (IMarginAccounts.Account memory a, IMarginAccounts.CollateralBalance[] memory held) = accounts.marginData(
            accountId
        );
        IPerpMarket.PositionRisk[] memory risks = perps.accountRisk(accountId);
        w.risks = risks;
        IOptionMarket.OptionRisk[] memory opts = options.accountRisk(accountId);
        w.options = opts;
        int256 stable;
        (stable, m.equity, w.otherCollateral) = _collateralValue(held, risks);
        m.equity += stable;
        int256 pnlSum;
        for (uint256 i; i < risks.length; ++i) {
            int256 pnl = risks[i].pnl;
            pnlSum += pnl;
            if (pnl > 0) unrealizedProfit += pnl;
        }
        // Options: equity counts a long at its haircut value (and never for a withdrawal), a short
        // at its full (negative) value; mark-to-market counts every option at its value.
        int256 optionValue;
        for (uint256 i; i < opts.length; ++i) {
            int256 counted = opts[i].equityValue;
            m.equity += counted;
            if (counted > 0) unrealizedProfit += counted;
            if (counted > 0 && opts[i].secondsToExpiry == 0 && !opts[i].settled) w.unproven += counted;
            optionValue += opts[i].value;
        }
        m.equity += pnlSum;
        w.markToMarket = stable + int256(w.otherCollateral) + pnlSum + optionValue;
        if (risks.length == 0 && opts.length == 0) return (m, unrealizedProfit, w);
        if (a.mode == IMarginAccounts.Mode.Isolated) {
            (m.maintenanceMargin, m.initialMargin) = _standardMargin(risks, opts);
        } else {
            (m.maintenanceMargin, m.initialMargin) = _portfolioMargin(risks, opts);
        }
    }

    /// @dev Per position: a perp's MM = notional x s, a short option's the static formula the
    ///      option market reports (a long's zero); IM = MM x multiplier (all rounded up).
    function _standardMargin(
        IPerpMarket.PositionRisk[] memory risks,
        IOptionMarket.OptionRisk[] memory opts
    ) internal pure returns (uint256 mm, uint256 im) {
        for (uint256 i; i < risks.length; ++i) {
            uint256 positionMm = risks[i].notional.mulWadUp(risks[i].shockRatio);
            mm += positionMm;
            im += positionMm.mulWadUp(risks[i].imMultiplier);
        }
        for (uint256 i; i < opts.length; ++i) {
            mm += opts[i].maintenanceMargin;
            im += opts[i].initialMargin;
        }
    }

    /// @dev Per underlying: the worst loss over the grid of spot shocks spanning +-s (and, with
    ///      options in the book, of volatility shocks).
    function _portfolioMargin(
        IPerpMarket.PositionRisk[] memory risks,
        IOptionMarket.OptionRisk[] memory opts
    ) internal pure returns (uint256 mm, uint256 im) {
        Book[] memory books = _books(risks, opts);
        for (uint256 b; b < books.length && books[b].underlying != address(0); ++b) {
            uint256 loss = books[b].hasOptions ? _gridLoss(books[b], opts) : _worstLoss(books[b]);
            mm += loss;
            im += loss.mulWadUp(books[b].imMultiplier);
        }
    }

    /// @dev Groups positions by underlying (signed notional at the high price, so that a lone
    ///      position's grid loss equals its standard requirement exactly). Settled options carry
    ///      no risk and join no book.
    function _books(
        IPerpMarket.PositionRisk[] memory risks,
        IOptionMarket.OptionRisk[] memory opts
    ) internal pure returns (Book[] memory books) {
        books = new Book[](risks.length + opts.length);
        for (uint256 i; i < risks.length; ++i) {
            IPerpMarket.PositionRisk memory r = risks[i];
            Book memory book = books[_bookOf(books, r.underlying)];
            book.underlying = r.underlying;
            book.spot = r.price.price;
            book.signedNotional += r.size >= 0 ? int256(r.notional) : -int256(r.notional);
            if (r.shockRatio > book.shockRatio) book.shockRatio = r.shockRatio;
            if (r.imMultiplier > book.imMultiplier) book.imMultiplier = r.imMultiplier;
        }
        for (uint256 i; i < opts.length; ++i) {
            IOptionMarket.OptionRisk memory o = opts[i];
            if (o.settled) continue;
            Book memory book = books[_bookOf(books, o.underlying)];
            book.underlying = o.underlying;
            book.spot = o.price.price;
            book.low = o.price.low;
            book.high = o.price.high;
            book.hasOptions = true;
            if (o.spotShock > book.shockRatio) book.shockRatio = o.spotShock;
            if (o.imMultiplier > book.imMultiplier) book.imMultiplier = o.imMultiplier;
        }
    }

    function _bookOf(Book[] memory books, address underlying) internal pure returns (uint256 b) {
        while (books[b].underlying != address(0) && books[b].underlying != underlying) ++b;
    }

    /// @dev A book with options: at each of the GRID_POINTS spot shocks (down from the low end
    ///      of the price bracket, up from the high end, the centre at both; never below 1% of
    ///      spot) and each volatility (as is, up, down), the perps' linear PnL plus each option's
    ///      Black-Scholes value against what equity counts it at. Then at every strike of the
    ///      book inside the grid's span, at the volatility as is and down: near expiry an option
    ///      book's worst loss can sit at a strike between two grid points. The worst loss (zero if
    ///      no scenario loses). Losses round up, gains down.
    function _gridLoss(Book memory book, IOptionMarket.OptionRisk[] memory opts) internal pure returns (uint256) {
        int256 worst;
        uint256 half = (GRID_POINTS - 1) / 2;
        for (uint256 k; k < GRID_POINTS; ++k) {
            bool down = k < half;
            uint256 steps = down ? half - k : k - half;
            uint256 move = book.shockRatio.fullMulDivUp(steps, half);
            int256 perpLoss = _perpLoss(book, down, steps, half);
            uint256 spot =
                down ? (move >= 0.99e18 ? book.low / 100 : book.low.mulWad(WAD - move)) : book.high.mulWad(WAD + move);
            worst = _worstAt(book, opts, spot, perpLoss, 0, 3, worst);
            if (steps == 0 && book.low != book.high) worst = _worstAt(book, opts, book.low, 0, 0, 3, worst);
        }
        uint256 lowest = book.shockRatio >= 0.99e18 ? 0 : book.low.mulWad(WAD - book.shockRatio);
        uint256 highest = book.high.mulWad(WAD + book.shockRatio);
        for (uint256 i; i < opts.length; ++i) {
            IOptionMarket.OptionRisk memory o = opts[i];
            if (o.settled || o.underlying != book.underlying || o.strike <= lowest || o.strike >= highest) continue;
            if (_strikeSeen(opts, i, book.underlying)) continue;
            // Volatility as is (v = 0) and down (v = 2), not up (v = 1).
            int256 perpLoss = _perpLossAt(book, o.strike);
            worst = _worstAt(book, opts, o.strike, perpLoss, 0, 1, worst);
            worst = _worstAt(book, opts, o.strike, perpLoss, 2, 3, worst);
        }
        return uint256(worst);
    }

    /// @dev Whether an earlier live option of the book has the same strike as `opts[i]`.
    function _strikeSeen(
        IOptionMarket.OptionRisk[] memory opts,
        uint256 i,
        address underlying
    ) internal pure returns (bool) {
        for (uint256 j; j < i; ++j) {
            if (!opts[j].settled && opts[j].underlying == underlying && opts[j].strike == opts[i].strike) return true;
        }
        return false;
    }

    /// @dev The larger of `worst` and the loss at `spot` for volatility scenarios [from, to).
    function _worstAt(
        Book memory book,
        IOptionMarket.OptionRisk[] memory opts,
        uint256 spot,
        int256 perpLoss,
        uint256 from,
        uint256 to,
        int256 worst
    ) internal pure returns (int256) {
        for (uint256 v = from; v < to; ++v) {
            int256 loss = perpLoss + _optionsLoss(book.underlying, opts, spot, v);
            if (loss > worst) worst = loss;
        }
        return worst;
    }

    /// @dev The perps' loss at grid point `steps` / `half` of the shock down or up: adverse
    ///      moves rounded up, favourable ones (negative) rounded down.
    function _perpLoss(Book memory book, bool down, uint256 steps, uint256 half) internal pure returns (int256) {
        if (steps == 0 || book.signedNotional == 0) return 0;
        uint256 absNotional = book.signedNotional >= 0 ? uint256(book.signedNotional) : uint256(-book.signedNotional);
        if (down == (book.signedNotional > 0)) {
            return int256(absNotional.mulWadUp(book.shockRatio.fullMulDivUp(steps, half)));
        }
        return -int256(absNotional.mulWad(book.shockRatio.fullMulDiv(steps, half)));
    }

    /// @dev The perps' loss if the price moved from the book's price to `spot`, same rounding.
    function _perpLossAt(Book memory book, uint256 spot) internal pure returns (int256) {
        if (book.signedNotional == 0 || spot == book.spot) return 0;
        uint256 absNotional = book.signedNotional >= 0 ? uint256(book.signedNotional) : uint256(-book.signedNotional);
        bool fell = spot < book.spot;
        uint256 change = fell ? book.spot - spot : spot - book.spot;
        if (fell == (book.signedNotional > 0)) return int256(absNotional.fullMulDivUp(change, book.spot));
        return -int256(absNotional.fullMulDiv(change, book.spot));
    }

    /// @dev Σ (equity value - value in the scenario) over the book's live options, a long's
    ///      scenario value at the same haircut share as its equity value; volatility scenario
    ///      `v`: 0 as is, 1 up, 2 down.
    function _optionsLoss(
        address underlying,
        IOptionMarket.OptionRisk[] memory opts,
        uint256 spot,
        uint256 v
    ) internal pure returns (int256 loss) {
        for (uint256 i; i < opts.length; ++i) {
            IOptionMarket.OptionRisk memory o = opts[i];
            if (o.settled || o.underlying != underlying) continue;
            uint256 volatility = v == 0 ? o.volatility : (v == 1 ? o.volatilityUp : o.volatilityDown);
            uint256 unit = BlackScholes.price(spot, o.strike, volatility, o.secondsToExpiry, o.isCall);
            int256 value;
            if (o.size > 0) {
                // A long counts in every scenario as it does in equity: at its haircut share (so
                // the haircut never pays for another position's loss), rounded down.
                if (o.value > 0) {
                    value = int256(uint256(o.size).mulWad(unit).fullMulDiv(uint256(o.equityValue), uint256(o.value)));
                }
            } else {
                value = -int256(uint256(-o.size).mulWadUp(unit));
            }
            loss += o.equityValue - value;
        }
    }

    /// @dev Revalues a perps-only book at spot x (1 + j s / 3) for j = -3..3 and returns the
    ///      worst loss (zero if no point loses). Each point's loss is rounded up. Only adverse
    ///      points are priced: on this path (every perp margin check) that saves the favourable
    ///      half of the grid that `_perpLoss` would compute for an option book.
    function _worstLoss(Book memory book) internal pure returns (uint256 worst) {
        uint256 absNotional = book.signedNotional >= 0 ? uint256(book.signedNotional) : uint256(-book.signedNotional);
        uint256 half = (GRID_POINTS - 1) / 2;
        for (uint256 k; k < GRID_POINTS; ++k) {
            // A linear book loses when the move is against it: down for net long, up for net short.
            bool down = k < half;
            if (k == half || down != (book.signedNotional > 0)) continue;
            uint256 steps = down ? half - k : k - half;
            uint256 loss = absNotional.mulWadUp(book.shockRatio.fullMulDivUp(steps, half));
            if (loss > worst) worst = loss;
        }
    }

    /// @dev The stablecoin balance at face value (may be negative); every other collateral at the
    ///      low price, weighted (what it backs) and in full (what it is worth), rounded down.
    ///      Prices already read for positions are reused.
    function _collateralValue(
        IMarginAccounts.CollateralBalance[] memory held,
        IPerpMarket.PositionRisk[] memory risks
    ) internal view returns (int256 stable, int256 weighted, uint256 full) {
        for (uint256 i; i < held.length; ++i) {
            IMarginAccounts.CollateralBalance memory c = held[i];
            uint256 scale = 10 ** (18 - c.decimals);
            if (c.token == settlementToken) {
                stable = c.balance * int256(scale);
                continue;
            }
            // Non-settlement balances are never negative.
            uint256 value = (uint256(c.balance) * scale).mulWad(_lowPrice(c.token, risks));
            full += value;
            weighted += int256(value.mulWad(c.weight));
        }
    }

    function _lowPrice(address token, IPerpMarket.PositionRisk[] memory risks) internal view returns (uint256) {
        for (uint256 i; i < risks.length; ++i) {
            if (risks[i].underlying == token) return risks[i].price.low;
        }
        IPriceOracle.Price memory p = oracle.getPrice(token);
        if (p.status == IPriceOracle.Status.Down) revert PriceDown(token);
        return p.low;
    }
}
