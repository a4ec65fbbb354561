// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC4626} from "@openzeppelin/contracts/token/ERC20/extensions/ERC4626.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {ILiquidityPool, ITraderPnlSource} from "../interfaces/ILiquidityPool.sol";

/// @title LiquidityPool
/// @notice The counterparty to every trade. Share price = (stablecoin held - traders' unrealized
///         PnL) / shares, with OpenZeppelin's virtual-share offset against the first-depositor
///         inflation attack.
contract LiquidityPool is ILiquidityPool, ERC4626, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev 10^6 virtual shares per virtual asset unit: a first-depositor donation attack must burn
    ///      about a million times what it steals (OpenZeppelin ERC4626 "inflation attack" analysis).
    uint8 internal constant DECIMALS_OFFSET = 6;

    bytes32 public constant COOLDOWN = "COOLDOWN";
    bytes32 public constant CLAIM_WINDOW = "CLAIM_WINDOW";
    uint256 public constant MIN_COOLDOWN = 1 hours;
    uint256 public constant MAX_COOLDOWN = 14 days;
    uint256 public constant MIN_CLAIM_WINDOW = 1 hours;
    uint256 public constant MAX_CLAIM_WINDOW = 7 days;

    /// @notice Seconds between a redeem request and the start of its claim window.
    uint64 public cooldown;
    /// @notice Seconds a matured request stays claimable.
    uint64 public claimWindow;
    ITraderPnlSource public pnlSource;
    /// @notice The option market: traders' options are a liability of the pool.
    ITraderPnlSource public optionSource;
    /// @notice The contract allowed to move stablecoin out of the pool to settle trades.
    address public settlementSpender;

    mapping(address owner => RedeemRequest) internal _requests;

    constructor(
        IERC20 asset_,
        address admin,
        uint256 cooldown_,
        uint256 claimWindow_
    ) ERC4626(asset_) ERC20("Keel LP", "kLP") {
        if (admin == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        _setCooldown(cooldown_);
        _setClaimWindow(claimWindow_);
    }

    // ---------------------------------------------------------------- ERC-4626 accounting

    /// @notice Stablecoin held minus what the pool owes traders in unrealized PnL (plus what they
    ///         owe it), floored at zero.
    function totalAssets() public view override returns (uint256) {
        uint256 held = IERC20(asset()).balanceOf(address(this));
        int256 pnl = tradersUnrealizedPnl();
        if (pnl <= 0) return held + uint256(-pnl);
        return held > uint256(pnl) ? held - uint256(pnl) : 0;
    }

    /// @inheritdoc ILiquidityPool
    function tradersUnrealizedPnl() public view returns (int256 pnl) {
        ITraderPnlSource source = pnlSource;
        if (address(source) != address(0)) pnl = source.tradersUnrealizedPnl();
        source = optionSource;
        if (address(source) != address(0)) pnl += source.tradersUnrealizedPnl();
    }

    /// @notice Nothing can be deposited while traders' profit has wiped out the pool's assets: a new
    ///         depositor would otherwise buy shares at a price of zero and cover the deficit.
    function maxDeposit(address) public view override returns (uint256) {
        return _solvent() ? type(uint256).max : 0;
    }

    /// @inheritdoc ERC4626
    function maxMint(address) public view override returns (uint256) {
        return _solvent() ? type(uint256).max : 0;
    }

    /// @notice What `owner`'s matured request is worth now, limited to the stablecoin held.
    function maxWithdraw(address owner) public view override returns (uint256) {
        return _convertToAssets(maxRedeem(owner), Math.Rounding.Floor);
    }

    /// @notice The shares of `owner`'s request while it is inside its claim window (else zero),
    ///         limited to what the stablecoin held can pay: traders' unrealized losses count in the
    ///         share price but are not cash until they settle, and must not pay out early leavers.
    function maxRedeem(address owner) public view override returns (uint256) {
        RedeemRequest memory r = _requests[owner];
        if (block.timestamp < r.claimableAt || block.timestamp >= r.expiresAt) return 0;
        uint256 payable_ = _convertToShares(IERC20(asset()).balanceOf(address(this)), Math.Rounding.Floor);
        return r.shares < payable_ ? r.shares : payable_;
    }

    function _decimalsOffset() internal pure override returns (uint8) {
        return DECIMALS_OFFSET;
    }

    function _deposit(address caller, address receiver, uint256 assets, uint256 shares) internal override nonReentrant {
        if (receiver == address(this)) revert SharesToPool();
        super._deposit(caller, receiver, assets, shares);
    }

    /// @dev Claims part or all of `owner`'s matured request: burns escrowed shares, pays `assets`.
    function _withdraw(
        address caller,
        address receiver,
        address owner,
        uint256 assets,
        uint256 shares
    ) internal override nonReentrant {
        if (caller != owner) revert NotRequestOwner(caller, owner);
        // shares <= maxRedeem(owner) was checked by ERC4626.withdraw / redeem.
        RedeemRequest storage r = _requests[owner];
        uint128 left = r.shares - uint128(shares);
        if (left == 0) delete _requests[owner];
        else r.shares = left;
        _burn(address(this), shares);
        IERC20(asset()).safeTransfer(receiver, assets);
        emit Withdraw(caller, receiver, owner, assets, shares);
    }

    /// @dev Shares sent to the pool's own address would be indistinguishable from escrow and stuck.
    function transfer(address to, uint256 value) public override(ERC20, IERC20) returns (bool) {
        if (to == address(this)) revert SharesToPool();
        return super.transfer(to, value);
    }

    function transferFrom(address from, address to, uint256 value) public override(ERC20, IERC20) returns (bool) {
        if (to == address(this)) revert SharesToPool();
        return super.transferFrom(from, to, value);
    }

    /// @dev Shares are outstanding but no assets back them: the pool is insolvent to its LPs.
    function _solvent() internal view returns (bool) {
        return totalAssets() > 0 || totalSupply() == 0;
    }

    // ---------------------------------------------------------------- redeem requests

    /// @inheritdoc ILiquidityPool
    function requestRedeem(uint256 shares) external returns (uint256 claimableAt) {
        if (shares == 0) revert ZeroShares();
        RedeemRequest storage r = _requests[msg.sender];
        if (r.shares != 0) revert RequestPending(msg.sender, r.shares);
        _transfer(msg.sender, address(this), shares);
        claimableAt = block.timestamp + cooldown;
        uint256 expiresAt = claimableAt + claimWindow;
        _requests[msg.sender] = RedeemRequest(SafeCast.toUint128(shares), uint64(claimableAt), uint64(expiresAt));
        emit RedeemRequested(msg.sender, shares, claimableAt, expiresAt);
    }

    /// @inheritdoc ILiquidityPool
    function cancelRedeem() external {
        uint256 shares = _requests[msg.sender].shares;
        if (shares == 0) revert NoRequest(msg.sender);
        delete _requests[msg.sender];
        _transfer(address(this), msg.sender, shares);
        emit RedeemCancelled(msg.sender, shares);
    }

    /// @inheritdoc ILiquidityPool
    function redeemRequest(address owner) external view returns (RedeemRequest memory) {
        return _requests[owner];
    }

    // ---------------------------------------------------------------- governance

    function setCooldown(uint256 newCooldown) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setCooldown(newCooldown);
    }

    function setClaimWindow(uint256 newWindow) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setClaimWindow(newWindow);
    }

    /// @notice Lets `settlement` (MarginAccounts) pay traders' realized profit out of the pool, or
    ///         stops it (zero). Revoking the old spender happens in the same call.
    function setSettlement(address settlement) external onlyRole(DEFAULT_ADMIN_ROLE) {
        IERC20 token = IERC20(asset());
        address old = settlementSpender;
        if (old != address(0)) token.forceApprove(old, 0);
        if (settlement != address(0)) {
            if (settlement.code.length == 0) revert NotAContract(settlement);
            token.forceApprove(settlement, type(uint256).max);
        }
        settlementSpender = settlement;
        emit SettlementSet(old, settlement);
    }

    /// @notice Connects the markets' unrealized PnL to the share price (zero address: none).
    function setPnlSource(ITraderPnlSource newSource) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _checkSource(newSource);
        emit PnlSourceSet(address(pnlSource), address(newSource));
        pnlSource = newSource;
    }

    /// @notice Connects the options' value to traders (the pool's option liability) to the share
    ///         price (zero address: none).
    function setOptionSource(ITraderPnlSource newSource) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _checkSource(newSource);
        emit OptionSourceSet(address(optionSource), address(newSource));
        optionSource = newSource;
    }

    /// @dev A code-less source would make totalAssets, and so every deposit and redemption, revert.
    function _checkSource(ITraderPnlSource source) internal view {
        if (address(source) != address(0) && address(source).code.length == 0) revert NotAContract(address(source));
    }

    function _setCooldown(uint256 value) internal {
        if (value < MIN_COOLDOWN || value > MAX_COOLDOWN) {
            revert DurationOutOfBounds(COOLDOWN, value, MIN_COOLDOWN, MAX_COOLDOWN);
        }
        emit CooldownSet(cooldown, value);
        cooldown = uint64(value);
    }

    function _setClaimWindow(uint256 value) internal {
        if (value < MIN_CLAIM_WINDOW || value > MAX_CLAIM_WINDOW) {
            revert DurationOutOfBounds(CLAIM_WINDOW, value, MIN_CLAIM_WINDOW, MAX_CLAIM_WINDOW);
        }
        emit ClaimWindowSet(claimWindow, value);
        claimWindow = uint64(value);
    }
}
