// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

// Governance is OpenZeppelin's TimelockController, deployed as is; importing it here makes
// Hardhat compile its artifact for the deploy scripts.
// solhint-disable-next-line no-unused-import
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
