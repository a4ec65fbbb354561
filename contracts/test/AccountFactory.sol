// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IMarginAccounts} from "../interfaces/IMarginAccounts.sol";
import {IPerpMarket} from "../interfaces/IPerpMarket.sol";

/// @notice Benchmarks only: opens many accounts with one position each in one transaction (this
///         contract owns them), so a benchmark can build a book of thousands of accounts quickly.
///         Every account goes through the real deposit, trade and margin checks.
contract AccountFactory {
    IMarginAccounts public immutable accounts;
    IPerpMarket public immutable perps;

    constructor(IMarginAccounts accounts_, IPerpMarket perps_) {
        accounts = accounts_;
        perps = perps_;
    }

    /// @notice `count` accounts (cross when `cross`, else isolated in `marketId`), each with
    ///         `margin` of `token` and a position of `size` (alternating long and short), at any price.
    function open(
        uint256 count,
        bool cross,
        uint32 marketId,
        IERC20 token,
        uint256 margin,
        int256 size
    ) external returns (uint256 firstId) {
        token.approve(address(accounts), margin * count);
        for (uint256 i; i < count; ++i) {
            uint256 id = accounts.createAccount(
                cross ? IMarginAccounts.Mode.Cross : IMarginAccounts.Mode.Isolated,
                cross ? 0 : marketId
            );
            if (i == 0) firstId = id;
            accounts.deposit(id, address(token), margin);
            int256 delta = i % 2 == 0 ? size : -size;
            perps.modifyPosition(id, marketId, delta, delta > 0 ? type(uint256).max : 0);
        }
    }
}
