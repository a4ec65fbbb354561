// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IAccountHealthCheck} from "../interfaces/IAccountHealthCheck.sol";
import {ITraderPnlSource} from "../interfaces/ILiquidityPool.sol";

/// @notice Stands in for the margin engine and the markets in tests: fails chosen accounts and
///         reports a chosen traders' PnL.
contract MockHealthCheck is IAccountHealthCheck, ITraderPnlSource {
    error AccountUnhealthy(uint256 accountId);

    mapping(uint256 => bool) public unhealthy;
    int256 public pnl;

    function setUnhealthy(uint256 accountId, bool value) external {
        unhealthy[accountId] = value;
    }

    function setPnl(int256 value) external {
        pnl = value;
    }

    function checkWithdrawal(uint256 accountId) external view {
        if (unhealthy[accountId]) revert AccountUnhealthy(accountId);
    }

    function tradersUnrealizedPnl() external view returns (int256) {
        return pnl;
    }
}
