// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice A Chainlink-shaped feed for the adversarial suite that tries to change state from
///         inside `latestRoundData`: it calls `callTarget` with `callData` first and bubbles a failure of
///         that call. Called directly (a transaction), the nested call goes through; called by a
///         STATICCALL (every read of the price router), any state change in it reverts.
contract AdvReentrantFeed {
    address public callTarget;
    bytes public callData;
    int256 public answer;

    constructor(int256 answer_) {
        answer = answer_;
    }

    function setCall(address target_, bytes calldata data_) external {
        callTarget = target_;
        callData = data_;
    }

    function decimals() external pure returns (uint8) {
        return 8;
    }

    /// @dev Not `view` on purpose: the ABI is the aggregator's, the body writes through `callTarget`.
    function latestRoundData() external returns (uint80, int256, uint256, uint256, uint80) {
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = callTarget.call(callData);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return (1, answer, block.timestamp, block.timestamp, 1);
    }
}
