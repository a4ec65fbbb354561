// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Measures the execution gas of one call from a contract, as a market calling the oracle
///         would spend it: cold target, cold storage, no transaction overhead.
contract GasProbe {
    event Measured(uint256 gasUsed);

    function measure(address target, bytes calldata data) external returns (uint256 gasUsed) {
        uint256 before = gasleft();
        // solhint-disable-next-line avoid-low-level-calls
        (bool ok, bytes memory ret) = target.call(data);
        gasUsed = before - gasleft();
        if (!ok) {
            assembly {
                revert(add(ret, 32), mload(ret))
            }
        }
        emit Measured(gasUsed);
    }
}
