// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IMarginAccounts} from "../interfaces/IMarginAccounts.sol";
import {IMarginEngine} from "../interfaces/IMarginEngine.sol";
import {IPerpMarket} from "../interfaces/IPerpMarket.sol";

/// @title MarginLens
/// @notice Read views for bots and front ends: the margin of many accounts in one call, and the
///         liquidation price of every position. Not used by the core contracts.
contract MarginLens {
    uint256 internal constant WAD = 1e18;

    IMarginEngine public immutable engine;
    IPerpMarket public immutable perps;
    IMarginAccounts public immutable accounts;

    struct AccountMargin {
        uint256 accountId;
        /// @dev False when the engine reverted for this account (a price it needs is Down):
        ///      the figures are then zero and `reason` holds the revert data.
        bool ok;
        int256 equity;
        uint256 initialMargin;
        uint256 maintenanceMargin;
        bool liquidatable;
        bytes reason;
    }

    struct LiquidationPrice {
        uint32 marketId;
        int256 size;
        /// @dev The underlying's price now (mid).
        uint256 price;
        /// @dev The price at which equity would equal maintenance margin, everything else held
        ///      equal; zero when no positive price crosses it (for example a long fully backed).
        uint256 liquidationPrice;
    }

    /// @notice What a liquidator needs of one account: its valuation (equity, margins,
    ///         mark-to-market, positions with their prices) and the nonce a bid must quote.
    struct AccountValuation {
        uint256 accountId;
        /// @dev False when the engine reverted for this account; `reason` holds the revert data.
        bool ok;
        uint256 nonce;
        IMarginEngine.Valuation valuation;
        bytes reason;
    }

    constructor(IMarginEngine engine_, IPerpMarket perps_, IMarginAccounts accounts_) {
        engine = engine_;
        perps = perps_;
        accounts = accounts_;
    }

    /// @notice Equity, IM and MM of each account; one account's failure never fails the batch.
    function margins(uint256[] calldata accountIds) external view returns (AccountMargin[] memory out) {
        out = new AccountMargin[](accountIds.length);
        for (uint256 i; i < accountIds.length; ++i) {
            AccountMargin memory a = out[i];
            a.accountId = accountIds[i];
            try engine.accountMargin(accountIds[i]) returns (IMarginEngine.Margin memory m) {
                a.ok = true;
                a.equity = m.equity;
                a.initialMargin = m.initialMargin;
                a.maintenanceMargin = m.maintenanceMargin;
                a.liquidatable = int256(m.maintenanceMargin) > m.equity;
            } catch (bytes memory reason) {
                a.reason = reason;
            }
        }
    }

    /// @notice The engine's valuation and the nonce of each account; one account's failure never
    ///         fails the batch. A bot bounds how far each account's health can move with prices
    ///         from its positions' notional and its other collateral, and re-reads only the
    ///         accounts that could have crossed.
    function valuations(uint256[] calldata accountIds) external view returns (AccountValuation[] memory out) {
        out = new AccountValuation[](accountIds.length);
        for (uint256 i; i < accountIds.length; ++i) {
            AccountValuation memory a = out[i];
            a.accountId = accountIds[i];
            a.nonce = accounts.nonce(accountIds[i]);
            try engine.valuation(accountIds[i]) returns (IMarginEngine.Valuation memory v) {
                a.ok = true;
                a.valuation = v;
            } catch (bytes memory reason) {
                a.reason = reason;
            }
        }
    }

    /// @notice For each position: the oracle price of its underlying at which the account's equity
    ///         would fall to its maintenance margin, all else equal. With equity E and MM M now at
    ///         price P, a the account's exposure to the underlying (position size plus collateral
    ///         of the same asset at its weight) and m the MM per unit of price of that underlying's
    ///         book (MM is linear in price for perps): P_liq = P + (M - E) / (a - m).
    /// @dev Collateral of the same asset is not counted in `a` here (a conservative simplification
    ///      for accounts holding the underlying as collateral: their real liquidation price is
    ///      further away). Rounded toward the current price (the warning comes early, never late).
    function liquidationPrices(uint256 accountId) external view returns (LiquidationPrice[] memory out) {
        IMarginEngine.Margin memory m = engine.accountMargin(accountId);
        IPerpMarket.PositionRisk[] memory risks = perps.accountRisk(accountId);
        out = new LiquidationPrice[](risks.length);
        int256 gap = int256(m.maintenanceMargin) - m.equity; // negative while healthy
        for (uint256 i; i < risks.length; ++i) {
            IPerpMarket.PositionRisk memory r = risks[i];
            uint256 price = r.price.price;
            out[i].marketId = r.marketId;
            out[i].size = r.size;
            out[i].price = price;
            // MM per unit of price (it grows with the price for a long and a short alike):
            // m = notional x s / P, WAD base units. d(E - M)/dP = size - m.
            // m rounded so that |slope| is the larger: down for a long, up for a short.
            uint256 scaled = r.notional * r.shockRatio;
            uint256 perUnit = r.size >= 0 ? scaled / price : (scaled + price - 1) / price;
            int256 slope = r.size - int256(perUnit);
            if (slope == 0) continue;
            // P_liq = P + gap / slope (gap, slope in WAD).
            int256 move = (gap * int256(WAD)) / slope;
            int256 liq = int256(price) + move;
            if (liq > 0) out[i].liquidationPrice = uint256(liq);
        }
    }
}
