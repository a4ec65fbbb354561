// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Stands in for a contract the protocol calls out to (a margin engine): every call it
///         receives, view or not, makes one call of its own to `callTarget` with `callData` and bubbles a
///         revert up unchanged. Tests use it to re-enter a guarded entry point mid-call.
///         `options()` answers the option market a liquidation engine's constructor asks for.
contract EdgeReentrantHook {
    address public callTarget;
    bytes public callData;
    address public options;

    constructor(address options_) {
        options = options_;
    }

    function setCall(address target_, bytes calldata data_) external {
        callTarget = target_;
        callData = data_;
    }

    // solhint-disable-next-line no-complex-fallback
    fallback(bytes calldata) external returns (bytes memory) {
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = callTarget.call(callData);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        return ret;
    }
}
