// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IMarginAccounts} from "../interfaces/IMarginAccounts.sol";
import {IMarginEngine} from "../interfaces/IMarginEngine.sol";
import {IPerpMarket} from "../interfaces/IPerpMarket.sol";
import {IOptionMarket} from "../interfaces/IOptionMarket.sol";
import {ILiquidationEngine} from "../interfaces/ILiquidationEngine.sol";
import {IInsuranceFund} from "../interfaces/IInsuranceFund.sol";

interface IProbePool {
    function totalAssets() external view returns (uint256);
    function totalSupply() external view returns (uint256);
    function balanceOf(address) external view returns (uint256);
}

/// @notice Test scaffolding for the invariant suite: everything one step's invariants compare, in
///         one call, so that a step costs two reads however many accounts the run has.
contract InvariantProbe {
    struct AccountView {
        uint256 nonce;
        int256[] balances;
        IPerpMarket.Position[] perps;
        int256[] options;
        /// @dev false while a price the account needs is Down (the fields below are then zero).
        bool valued;
        int256 equity;
        uint256 initialMargin;
        uint256 maintenanceMargin;
        int256 markToMarket;
        ILiquidationEngine.Auction auction;
        /// @dev Of a running auction: the discount and the insolvent payout quoted now for the whole account.
        uint256 discount;
        uint256 payout;
        bool insolvent;
        /// @dev Other collateral + |MtM| + positions' notional: the base of the insolvent incentive.
        uint256 gross;
    }

    struct GlobalView {
        /// @dev tokenBalances[token][holder]
        uint256[][] tokenBalances;
        uint256[] totalDeposits;
        uint256 settlementDebt;
        uint256 fundBalance;
        uint256 poolSupply;
        uint256[] poolShares;
        bool poolValued;
        uint256 poolAssets;
        IPerpMarket.MarketState[] markets;
        IOptionMarket.Series[] series;
    }

    IMarginAccounts public immutable accounts;
    IMarginEngine public immutable engine;
    IPerpMarket public immutable perps;
    IOptionMarket public immutable options;
    ILiquidationEngine public immutable liquidation;
    IInsuranceFund public immutable fund;
    IProbePool public immutable pool;

    constructor(
        IMarginAccounts accounts_,
        IMarginEngine engine_,
        IPerpMarket perps_,
        IOptionMarket options_,
        ILiquidationEngine liquidation_,
        IInsuranceFund fund_,
        IProbePool pool_
    ) {
        accounts = accounts_;
        engine = engine_;
        perps = perps_;
        options = options_;
        liquidation = liquidation_;
        fund = fund_;
        pool = pool_;
    }

    function snapshot(
        uint256[] calldata ids,
        address[] calldata tokens,
        uint32[] calldata marketIds,
        uint32[] calldata seriesIds,
        address[] calldata holders
    ) external view returns (AccountView[] memory views, GlobalView memory g) {
        views = new AccountView[](ids.length);
        for (uint256 i; i < ids.length; ++i) views[i] = _account(ids[i], tokens, marketIds, seriesIds);
        g.tokenBalances = new uint256[][](tokens.length);
        g.totalDeposits = new uint256[](tokens.length);
        for (uint256 t; t < tokens.length; ++t) {
            g.tokenBalances[t] = new uint256[](holders.length);
            for (uint256 h; h < holders.length; ++h) g.tokenBalances[t][h] = IERC20(tokens[t]).balanceOf(holders[h]);
            g.totalDeposits[t] = accounts.collateral(tokens[t]).totalDeposits;
        }
        g.settlementDebt = accounts.settlementDebt();
        g.fundBalance = fund.balance();
        g.poolSupply = pool.totalSupply();
        g.poolShares = new uint256[](holders.length);
        for (uint256 h; h < holders.length; ++h) g.poolShares[h] = pool.balanceOf(holders[h]);
        try pool.totalAssets() returns (uint256 a) {
            (g.poolValued, g.poolAssets) = (true, a);
        } catch {} // solhint-disable-line no-empty-blocks
        g.markets = new IPerpMarket.MarketState[](marketIds.length);
        for (uint256 m; m < marketIds.length; ++m) g.markets[m] = perps.marketState(marketIds[m]);
        g.series = new IOptionMarket.Series[](seriesIds.length);
        for (uint256 s; s < seriesIds.length; ++s) g.series[s] = options.series(seriesIds[s]);
    }

    function _account(
        uint256 id,
        address[] calldata tokens,
        uint32[] calldata marketIds,
        uint32[] calldata seriesIds
    ) internal view returns (AccountView memory v) {
        v.nonce = accounts.nonce(id);
        v.balances = new int256[](tokens.length);
        for (uint256 t; t < tokens.length; ++t) v.balances[t] = accounts.balanceOf(id, tokens[t]);
        v.perps = new IPerpMarket.Position[](marketIds.length);
        for (uint256 m; m < marketIds.length; ++m) v.perps[m] = perps.position(id, marketIds[m]);
        v.options = new int256[](seriesIds.length);
        for (uint256 s; s < seriesIds.length; ++s) v.options[s] = options.positionOf(id, seriesIds[s]);
        try engine.valuation(id) returns (IMarginEngine.Valuation memory val) {
            v.valued = true;
            v.equity = val.equity;
            v.initialMargin = val.initialMargin;
            v.maintenanceMargin = val.maintenanceMargin;
            v.markToMarket = val.markToMarket;
            v.gross =
                val.otherCollateral + (val.markToMarket >= 0 ? uint256(val.markToMarket) : uint256(-val.markToMarket));
            for (uint256 k; k < val.positions.length; ++k) v.gross += val.positions[k].notional;
        } catch {} // solhint-disable-line no-empty-blocks
        (v.auction, , ) = liquidation.auctionOf(id);
        if (v.auction.startTime != 0 && v.valued) {
            try liquidation.quote(id, 1e18) returns (ILiquidationEngine.Quote memory q) {
                (v.discount, v.payout, v.insolvent) = (q.discount, q.payout, q.insolvent);
            } catch {} // solhint-disable-line no-empty-blocks
        }
    }
}
