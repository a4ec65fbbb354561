// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {FixedPointMathLib} from "solady/src/utils/FixedPointMathLib.sol";
import {IMarginEngine} from "../interfaces/IMarginEngine.sol";
import {IMarginAccounts} from "../interfaces/IMarginAccounts.sol";
import {IPerpMarket} from "../interfaces/IPerpMarket.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";

/// @title MarginEngine
/// @notice See IMarginEngine. Stateless: every figure is computed from the accounts' balances,
///         the markets' positions and the oracles at the moment of the call.
///
///         Instruments plug in per underlying: each position reports its value, its linear
///         exposure and the shock ratio its market needs; the portfolio grid revalues every
///         underlying's book at each shock. Perps revalue linearly (size x spot x shock); options
///         (a later instrument) will add their per-scenario revaluation to the same grid points.
contract MarginEngine is IMarginEngine {
    using FixedPointMathLib for uint256;

    /// @notice Points of the portfolio grid: -s, -2s/3, -s/3, 0, s/3, 2s/3, s.
    uint256 public constant GRID_POINTS = 7;
    uint256 internal constant WAD = 1e18;

    IMarginAccounts public immutable accounts;
    IPerpMarket public immutable perps;
    IPriceOracle public immutable oracle;
    address public immutable settlementToken;

    /// @dev One underlying of a cross account's book.
    struct Book {
        address underlying;
        int256 signedNotional; // sum of size x price, WAD
        uint256 shockRatio; // the largest of its positions' ratios
        uint256 imMultiplier;
    }

    constructor(IMarginAccounts accounts_, IPerpMarket perps_, IPriceOracle oracle_) {
        if (address(accounts_) == address(0) || address(perps_) == address(0) || address(oracle_) == address(0)) {
            revert ZeroAddress();
        }
        accounts = accounts_;
        perps = perps_;
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
    }

    /// @inheritdoc IMarginEngine
    function checkInitialMargin(uint256 accountId) external view {
        Margin memory m = accountMargin(accountId);
        if (m.equity < int256(m.initialMargin)) revert InsufficientMargin(accountId, m.equity, m.initialMargin);
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
        if (perps.accountMarkets(accountId).length == 0 && accounts.balanceOf(accountId, settlementToken) >= 0) {
            return;
        }
        (Margin memory m, int256 unrealizedProfit, ) = _margin(accountId);
        int256 equity = m.equity - unrealizedProfit;
        if (equity < int256(m.initialMargin)) revert InsufficientMargin(accountId, equity, m.initialMargin);
    }

    /// @inheritdoc IMarginEngine
    function checkTrade(uint256 accountId, bool increasedRisk) external view {
        if (msg.sender != address(perps)) revert NotPerpMarket(msg.sender);
        Margin memory m = accountMargin(accountId);
        uint256 requirement = increasedRisk ? m.initialMargin : m.maintenanceMargin;
        if (m.equity < int256(requirement)) revert InsufficientMargin(accountId, m.equity, requirement);
    }

    // ---------------------------------------------------------------- internals

    /// @dev What the account is worth without haircuts, and the positions it was computed from.
    struct Worth {
        int256 markToMarket;
        uint256 otherCollateral;
        IPerpMarket.PositionRisk[] risks;
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
        int256 stable;
        (stable, m.equity, w.otherCollateral) = _collateralValue(held, risks);
        m.equity += stable;
        int256 pnlSum;
        for (uint256 i; i < risks.length; ++i) {
            int256 pnl = risks[i].pnl;
            pnlSum += pnl;
            if (pnl > 0) unrealizedProfit += pnl;
        }
        m.equity += pnlSum;
        w.markToMarket = stable + int256(w.otherCollateral) + pnlSum;
        if (risks.length == 0) return (m, unrealizedProfit, w);
        if (a.mode == IMarginAccounts.Mode.Isolated) {
            (m.maintenanceMargin, m.initialMargin) = _standardMargin(risks);
        } else {
            (m.maintenanceMargin, m.initialMargin) = _portfolioMargin(risks);
        }
    }

    /// @dev Per position: MM = notional x s, IM = MM x multiplier (both rounded up).
    function _standardMargin(IPerpMarket.PositionRisk[] memory risks) internal pure returns (uint256 mm, uint256 im) {
        for (uint256 i; i < risks.length; ++i) {
            uint256 positionMm = risks[i].notional.mulWadUp(risks[i].shockRatio);
            mm += positionMm;
            im += positionMm.mulWadUp(risks[i].imMultiplier);
        }
    }

    /// @dev Per underlying: the worst loss over the grid of spot shocks spanning +-s.
    function _portfolioMargin(IPerpMarket.PositionRisk[] memory risks) internal pure returns (uint256 mm, uint256 im) {
        Book[] memory books = _books(risks);
        for (uint256 b; b < books.length && books[b].underlying != address(0); ++b) {
            uint256 loss = _worstLoss(books[b]);
            mm += loss;
            im += loss.mulWadUp(books[b].imMultiplier);
        }
    }

    /// @dev Groups positions by underlying (signed notional at the high price, so that a lone
    ///      position's grid loss equals its standard requirement exactly).
    function _books(IPerpMarket.PositionRisk[] memory risks) internal pure returns (Book[] memory books) {
        books = new Book[](risks.length);
        for (uint256 i; i < risks.length; ++i) {
            IPerpMarket.PositionRisk memory r = risks[i];
            uint256 b;
            while (books[b].underlying != address(0) && books[b].underlying != r.underlying) ++b;
            Book memory book = books[b];
            book.underlying = r.underlying;
            book.signedNotional += r.size >= 0 ? int256(r.notional) : -int256(r.notional);
            if (r.shockRatio > book.shockRatio) book.shockRatio = r.shockRatio;
            if (r.imMultiplier > book.imMultiplier) book.imMultiplier = r.imMultiplier;
        }
    }

    /// @dev Revalues the book at spot x (1 + j s / 3) for j = -3..3 and returns the worst loss
    ///      (zero if no point loses). Each point's loss is rounded up.
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
