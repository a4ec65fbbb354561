// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IPriceOracle} from "../interfaces/IPriceOracle.sol";
import {OraclePolicy} from "../libraries/OraclePolicy.sol";

/// @notice Exposes OraclePolicy to tests.
contract OraclePolicyHarness {
    function allows(IPriceOracle.Status status, OraclePolicy.Action action) external pure returns (bool) {
        return OraclePolicy.allows(status, action);
    }

    function check(IPriceOracle.Status status, OraclePolicy.Action action) external pure {
        OraclePolicy.check(status, action);
    }

    function conservative(IPriceOracle.Price calldata p, bool held) external pure returns (uint256) {
        return OraclePolicy.conservative(p, held);
    }
}
