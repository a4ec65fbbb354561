// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IPriceOracle} from "../interfaces/IPriceOracle.sol";

/// @title OraclePolicy
/// @notice What each oracle status allows, in one place every market and the margin engine call.
///         Ok: everything. Degraded: no new risk; closing, reducing, depositing, withdrawing
///         (checked on the conservative price), settling and liquidating continue. Down: only
///         what cannot lower any account's health (depositing).
library OraclePolicy {
    enum Action {
        IncreaseRisk, // open or increase a position, list a new option series
        ReduceRisk, // close or reduce a position
        Deposit,
        Withdraw,
        Liquidate,
        Settle
    }

    /// @notice Thrown when `action` is not allowed while the price is in `status`.
    error ActionNotAllowed(IPriceOracle.Status status, Action action);

    function allows(IPriceOracle.Status status, Action action) internal pure returns (bool) {
        if (status == IPriceOracle.Status.Ok) return true;
        if (status == IPriceOracle.Status.Degraded) return action != Action.IncreaseRisk;
        return action == Action.Deposit;
    }

    function check(IPriceOracle.Status status, Action action) internal pure {
        if (!allows(status, action)) revert ActionNotAllowed(status, action);
    }

    /// @notice The conservative price for the side concerned: what an account holds (long,
    ///         collateral) is valued at the low end, what it owes (short) at the high end.
    function conservative(IPriceOracle.Price memory p, bool held) internal pure returns (uint256) {
        return held ? p.low : p.high;
    }
}
