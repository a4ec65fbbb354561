// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Account health check
/// @notice What MarginAccounts calls at the end of every withdrawal and transfer out of an account.
///         The margin engine implements it: it reverts unless the account's equity, counting no
///         unrealized profit, still covers its initial margin. With no health check set (before
///         any market exists) an account passes whenever its balances cover the request.
interface IAccountHealthCheck {
    /// @notice Reverts unless `accountId` may have value taken out of it in its current state.
    function checkWithdrawal(uint256 accountId) external view;
}
