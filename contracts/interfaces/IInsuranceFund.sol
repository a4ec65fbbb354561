// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Keel insurance fund
/// @notice Holds settlement stablecoin that backs insolvent accounts before any loss reaches the
///         liquidity pool. Anyone may top it up; only the liquidation engine's role may draw.
///         Every inflow and outflow emits one event tagged with its source or reason.
interface IInsuranceFund {
    /// @notice Thrown when an amount of zero is moved.
    error ZeroAmount();
    /// @notice Thrown when a draw of `amount` exceeds the fund's `balance`.
    error InsufficientFund(uint256 amount, uint256 balance);
    /// @notice Thrown when the tokens received differ from the amount sent.
    error TransferAmountMismatch(uint256 expected, uint256 received);
    /// @notice Thrown when an address argument is zero.
    error ZeroAddress();
    /// @notice Thrown when the fund holds no tokens beyond its accounted balance.
    error NothingToReconcile();

    /// @notice `source` tags where the money came from (TOP_UP, UNTRACKED, later LIQUIDATION_FEE...).
    event Inflow(address indexed from, bytes32 indexed source, uint256 amount, uint256 balanceAfter);
    /// @notice `reason` tags why the money left (for example INSOLVENT_ACCOUNT).
    event Outflow(address indexed to, bytes32 indexed reason, uint256 amount, uint256 balanceAfter);

    /// @notice Pulls `amount` of the stablecoin from the caller into the fund (source TOP_UP).
    function topUp(uint256 amount) external;

    /// @notice Pays `amount` to `to`, tagged `reason`. Drawer role only.
    function draw(address to, uint256 amount, bytes32 reason) external;

    /// @notice Books `amount` that a protocol contract (RECORDER_ROLE) has just transferred in,
    ///         tagged `source` (for example TRADING_FEE). Reverts unless that much is unbooked.
    function recordInflow(uint256 amount, bytes32 source) external;

    /// @notice Books stablecoin that reached the fund by plain transfer as an UNTRACKED inflow.
    function reconcile() external returns (uint256 amount);

    /// @notice The fund's accounted balance, in the stablecoin's decimals.
    function balance() external view returns (uint256);

    /// @notice The settlement stablecoin the fund holds.
    function asset() external view returns (address);
}
