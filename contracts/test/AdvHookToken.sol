// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice An 18-decimal token with a one-shot transfer hook (ERC-777 style) for the adversarial
///         suite: once armed, the next transfer (not a mint) calls `hookTarget` with `hookData` after the
///         balances moved, and disarms first, so the nested call's own transfers do not fire it
///         again. A failure of the nested call bubbles up unchanged. Unlike ReentrantToken, the
///         same call can be fired from a plain transfer, which shows it would succeed on its own.
contract AdvHookToken is ERC20 {
    address public hookTarget;
    bytes public hookData;

    constructor() ERC20("Adversarial Hook Token", "HOOK") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arms the hook for the next transfer.
    function arm(address target_, bytes calldata data_) external {
        hookTarget = target_;
        hookData = data_;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address t = hookTarget;
        if (t == address(0) || from == address(0)) return;
        hookTarget = address(0);
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = t.call(hookData);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}
