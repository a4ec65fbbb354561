// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Traders' unrealized PnL source
/// @notice Implemented by the markets: what traders can claim from the pool beyond the cash it
///         holds, in the settlement token's decimals: their unrealized PnL (funding included)
///         minus what accounts owe the pool in negative stablecoin balances. Positive: the pool
///         owes it.
interface ITraderPnlSource {
    function tradersUnrealizedPnl() external view returns (int256 pnl);
}

/// @title Keel liquidity pool
/// @notice ERC-4626 vault over the settlement stablecoin that takes the other side of every trade.
///         LPs deposit at any time; they leave through request -> cooldown -> redeem, so that no
///         LP can step out just ahead of a loss the pool is about to book.
interface ILiquidityPool {
    struct RedeemRequest {
        uint128 shares;
        uint64 claimableAt;
        uint64 expiresAt;
    }

    /// @notice Thrown when a request names zero shares.
    error ZeroShares();
    /// @notice Thrown when `owner` already has a pending request (cancel it first).
    error RequestPending(address owner, uint256 shares);
    /// @notice Thrown when `owner` has no pending request to cancel.
    error NoRequest(address owner);
    /// @notice Thrown when someone other than the requester tries to claim its request.
    error NotRequestOwner(address caller, address owner);
    /// @notice Thrown when shares would be sent or minted to the pool's own address (use requestRedeem).
    error SharesToPool();
    /// @notice Thrown when the PnL source set is an address without code.
    error NotAContract(address target);
    /// @notice Thrown when the admin is the zero address.
    error ZeroAddress();
    /// @notice Thrown when a timing parameter is outside `[min, max]`.
    error DurationOutOfBounds(bytes32 parameter, uint256 value, uint256 min, uint256 max);

    event RedeemRequested(address indexed owner, uint256 shares, uint256 claimableAt, uint256 expiresAt);
    event RedeemCancelled(address indexed owner, uint256 shares);
    event CooldownSet(uint256 oldCooldown, uint256 newCooldown);
    event ClaimWindowSet(uint256 oldWindow, uint256 newWindow);
    event PnlSourceSet(address oldSource, address newSource);
    event OptionSourceSet(address oldSource, address newSource);
    event SettlementSet(address oldSpender, address newSpender);

    /// @notice Moves `shares` of the caller into escrow in the pool; they can be redeemed from
    ///         `cooldown` seconds from now for `claimWindow` seconds, at the share price of that
    ///         moment. Escrowed shares keep sharing the pool's profit and loss until redeemed.
    function requestRedeem(uint256 shares) external returns (uint256 claimableAt);

    /// @notice Returns the caller's escrowed shares to it (also the way out of an expired request).
    function cancelRedeem() external;

    /// @notice The pending request of `owner` (zero shares when none).
    function redeemRequest(address owner) external view returns (RedeemRequest memory);

    /// @notice Traders' unrealized PnL counted against the pool's assets (zero before markets).
    function tradersUnrealizedPnl() external view returns (int256);
}
