// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IInsuranceFund} from "../interfaces/IInsuranceFund.sol";

/// @title InsuranceFund
/// @notice Accounts its balance itself rather than reading balanceOf, so that every unit that
///         enters or leaves is evented with a tag; tokens sent by plain transfer are booked by
///         `reconcile()` and never stuck.
contract InsuranceFund is IInsuranceFund, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    bytes32 public constant DRAWER_ROLE = keccak256("DRAWER_ROLE");
    bytes32 public constant RECORDER_ROLE = keccak256("RECORDER_ROLE");
    bytes32 public constant SOURCE_TOP_UP = "TOP_UP";
    bytes32 public constant SOURCE_UNTRACKED = "UNTRACKED";

    /// @inheritdoc IInsuranceFund
    address public immutable asset;
    /// @inheritdoc IInsuranceFund
    uint256 public balance;

    constructor(address asset_, address admin) {
        if (asset_ == address(0) || admin == address(0)) revert ZeroAddress();
        asset = asset_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IInsuranceFund
    function topUp(uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        IERC20 token = IERC20(asset);
        uint256 before = token.balanceOf(address(this));
        token.safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = token.balanceOf(address(this)) - before;
        if (received != amount) revert TransferAmountMismatch(amount, received);
        uint256 balanceAfter = balance + amount;
        balance = balanceAfter;
        emit Inflow(msg.sender, SOURCE_TOP_UP, amount, balanceAfter);
    }

    /// @inheritdoc IInsuranceFund
    function draw(address to, uint256 amount, bytes32 reason) external onlyRole(DRAWER_ROLE) nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        uint256 current = balance;
        if (amount > current) revert InsufficientFund(amount, current);
        uint256 balanceAfter = current - amount;
        balance = balanceAfter;
        IERC20(asset).safeTransfer(to, amount);
        emit Outflow(to, reason, amount, balanceAfter);
    }

    /// @inheritdoc IInsuranceFund
    function recordInflow(uint256 amount, bytes32 source) external onlyRole(RECORDER_ROLE) {
        if (amount == 0) revert ZeroAmount();
        uint256 current = balance;
        uint256 unbooked = IERC20(asset).balanceOf(address(this)) - current;
        if (amount > unbooked) revert TransferAmountMismatch(amount, unbooked);
        uint256 balanceAfter = current + amount;
        balance = balanceAfter;
        emit Inflow(msg.sender, source, amount, balanceAfter);
    }

    /// @inheritdoc IInsuranceFund
    function reconcile() external nonReentrant returns (uint256 amount) {
        uint256 held = IERC20(asset).balanceOf(address(this));
        uint256 current = balance;
        if (held <= current) revert NothingToReconcile();
        amount = held - current;
        balance = held;
        emit Inflow(address(0), SOURCE_UNTRACKED, amount, held);
    }
}
