// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {IOptionMarket} from "../interfaces/IOptionMarket.sol";
import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {IRiskConfig} from "../interfaces/IRiskConfig.sol";
import {IMarginAccounts} from "../interfaces/IMarginAccounts.sol";

/// @title OptionReader
/// @notice What a contract that reads the option market from outside needs: the market, the
///         prices, the risk parameters and the settlement token's scale. Base of the pool's
///         liability (OptionLiability) and the front ends' lens (OptionLens).
abstract contract OptionReader {
    IOptionMarket public immutable options;
    IPriceOracle public immutable oracle;
    IRiskConfig public immutable riskConfig;
    /// @dev 10^(18 - settlement token decimals): WAD USD per settlement-token unit.
    uint256 internal immutable _scale;

    constructor(IOptionMarket options_, IPriceOracle oracle_, IRiskConfig riskConfig_, IMarginAccounts accounts_) {
        if (
            address(options_) == address(0) ||
            address(oracle_) == address(0) ||
            address(riskConfig_) == address(0) ||
            address(accounts_) == address(0)
        ) revert IOptionMarket.ZeroAddress();
        options = options_;
        oracle = oracle_;
        riskConfig = riskConfig_;
        _scale = 10 ** (18 - IERC20Metadata(accounts_.settlementToken()).decimals());
    }
}
