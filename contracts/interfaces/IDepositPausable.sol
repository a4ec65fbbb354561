// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice What RiskConfig needs of MarginAccounts: the guardian's deposit pause lives there, in
///         the slot a deposit already reads, so pausing costs deposits nothing.
interface IDepositPausable {
    function setDepositPaused(address token, bool paused) external;

    function depositPaused(address token) external view returns (bool);

    function settlementToken() external view returns (address);
}
