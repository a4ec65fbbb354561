// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @notice A token whose transfers call back into a target (an ERC-777-style hook), to prove
///         the protocol's entry points cannot be re-entered mid-transfer. Reverts of the callback
///         bubble up unchanged.
contract ReentrantToken is ERC20 {
    address public callbackTarget;
    bytes public callbackData;

    constructor() ERC20("Reentrant Token", "REE") {}

    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    function setCallback(address target_, bytes calldata data) external {
        callbackTarget = target_;
        callbackData = data;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        address t = callbackTarget;
        if (t == address(0) || from == address(0)) return;
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = t.call(callbackData);
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
    }
}
