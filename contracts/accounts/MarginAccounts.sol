// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {IMarginAccounts} from "../interfaces/IMarginAccounts.sol";
import {IAccountHealthCheck} from "../interfaces/IAccountHealthCheck.sol";
import {IInsuranceFund} from "../interfaces/IInsuranceFund.sol";

/// @title MarginAccounts
/// @notice Holds every trader's collateral. Markets change positions; this contract only moves
///         collateral, and every movement out of an account ends with that account's health check.
contract MarginAccounts is IMarginAccounts, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Upper bound on listed collaterals: the margin engine values every one of them on
    ///         each check, so the list must stay short enough for a liquidation to fit in a block.
    uint256 public constant MAX_COLLATERALS = 8;
    /// @notice Haircut bounds for non-settlement collateral: never worth a full dollar per dollar.
    uint256 public constant MIN_COLLATERAL_WEIGHT = 0.05e18;
    uint256 public constant MAX_COLLATERAL_WEIGHT = 0.95e18;
    uint256 public constant MAX_DEPOSIT_CAP = type(uint96).max;
    /// @notice Held by RiskConfig, through which the guardian pauses deposits of a collateral.
    bytes32 public constant PAUSER_ROLE = keccak256("PAUSER_ROLE");
    /// @notice Held by the markets: settles PnL, funding and fees into stablecoin balances.
    bytes32 public constant MARKET_ROLE = keccak256("MARKET_ROLE");
    /// @notice Held by the liquidation engine: moves a liquidated account's collateral to a bidder.
    bytes32 public constant LIQUIDATOR_ROLE = keccak256("LIQUIDATOR_ROLE");
    /// @notice Insurance-fund inflow tags.
    bytes32 public constant SOURCE_TRADING_FEE = "TRADING_FEE";
    bytes32 public constant SOURCE_LIQUIDATION_FEE = "LIQUIDATION_FEE";

    /// @inheritdoc IMarginAccounts
    address public immutable settlementToken;

    /// @notice The margin engine's check; zero until markets exist.
    IAccountHealthCheck public healthCheck;
    uint256 public nextAccountId = 1;
    /// @notice The liquidity pool: counterparty of every settlement (it approves this contract).
    address public pool;
    IInsuranceFund public insuranceFund;
    /// @inheritdoc IMarginAccounts
    uint256 public settlementDebt;

    mapping(uint256 accountId => Account) internal _accounts;
    mapping(uint256 accountId => mapping(address operator => bool)) internal _operators;
    mapping(uint256 accountId => mapping(address token => int256)) internal _balances;
    mapping(address owner => address) internal _withdrawalRecipients;
    mapping(address token => Collateral) internal _collaterals;
    address[] internal _collateralTokens;

    constructor(address admin, address settlementToken_, uint256 settlementCap) {
        if (admin == address(0) || settlementToken_ == address(0)) revert ZeroAddress();
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        settlementToken = settlementToken_;
        _list(settlementToken_, 1e18, settlementCap);
    }

    // ---------------------------------------------------------------- accounts

    /// @inheritdoc IMarginAccounts
    function createAccount(Mode mode, uint32 marketId) external returns (uint256 accountId) {
        if ((mode == Mode.Cross) != (marketId == 0)) revert InvalidMarketId(mode, marketId);
        accountId = nextAccountId++;
        _accounts[accountId] = Account({owner: msg.sender, mode: mode, marketId: marketId, nonce: 0});
        emit AccountCreated(accountId, msg.sender, mode, marketId);
    }

    /// @inheritdoc IMarginAccounts
    function setOperator(uint256 accountId, address operator, bool approved) external {
        if (_accounts[accountId].owner != msg.sender) revert NotAccountOwner(accountId, msg.sender);
        if (operator == address(0)) revert ZeroAddress();
        _operators[accountId][operator] = approved;
        emit OperatorSet(accountId, operator, approved);
    }

    /// @inheritdoc IMarginAccounts
    function setWithdrawalRecipient(address recipient) external {
        // Paying this contract would turn the owner's withdrawal into sweepable excess.
        if (recipient == address(this)) revert InvalidRecipient(recipient);
        _withdrawalRecipients[msg.sender] = recipient;
        emit WithdrawalRecipientSet(msg.sender, recipient);
    }

    // ---------------------------------------------------------------- collateral movements

    /// @inheritdoc IMarginAccounts
    function deposit(uint256 accountId, address token, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _authorize(accountId);
        Collateral storage c = _listed(token);
        // The guardian's only lever here: new deposits of a collateral. Withdrawals and transfers
        // have no pause.
        if (c.depositsPaused) revert DepositsPaused(token);
        uint256 total = c.totalDeposits;
        uint256 cap = c.cap;
        uint256 room = cap > total ? cap - total : 0;
        if (amount > room) revert DepositCapExceeded(token, amount, room);

        // Balance-delta check: a token that delivers less than it was asked to (fee-on-transfer)
        // would leave the account credited with tokens the contract does not hold.
        uint256 before = IERC20(token).balanceOf(address(this));
        IERC20(token).safeTransferFrom(msg.sender, address(this), amount);
        uint256 received = IERC20(token).balanceOf(address(this)) - before;
        if (received != amount) revert TransferAmountMismatch(token, amount, received);

        // total + amount <= cap <= type(uint96).max, and a balance never exceeds its token's total.
        uint256 repaid = _credit(accountId, token, amount);
        c.totalDeposits = uint128(total + amount - repaid);
        emit Deposited(accountId, token, msg.sender, amount);
    }

    /// @inheritdoc IMarginAccounts
    function withdraw(uint256 accountId, address token, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        address owner = _authorize(accountId);
        Collateral storage c = _listed(token);
        _debit(accountId, token, amount);
        c.totalDeposits -= uint128(amount); // amount <= balance <= totalDeposits
        address to = _withdrawalRecipients[owner];
        if (to == address(0)) to = owner;
        IERC20(token).safeTransfer(to, amount);
        emit Withdrawn(accountId, token, to, amount);
        _checkHealth(accountId);
    }

    /// @inheritdoc IMarginAccounts
    function transfer(uint256 fromAccountId, uint256 toAccountId, address token, uint256 amount) external nonReentrant {
        if (amount == 0) revert ZeroAmount();
        if (fromAccountId == toAccountId) revert SameAccount(fromAccountId);
        address fromOwner = _authorize(fromAccountId);
        // The caller must be trusted by both accounts: an operator of one account may not push
        // collateral into (or out of) another account it was never approved for.
        address toOwner = _authorize(toAccountId);
        if (fromOwner != toOwner) revert DifferentOwners(fromAccountId, toAccountId);
        _listed(token);
        _debit(fromAccountId, token, amount);
        uint256 repaid = _credit(toAccountId, token, amount);
        if (repaid != 0) _collaterals[token].totalDeposits -= uint128(repaid);
        emit Transferred(fromAccountId, toAccountId, token, amount);
        _checkHealth(fromAccountId);
    }

    // ---------------------------------------------------------------- settlement

    /// @inheritdoc IMarginAccounts
    function settle(uint256 accountId, int256 amount, uint256 toInsurance) external onlyRole(MARKET_ROLE) nonReentrant {
        address pool_ = _pool();
        (int256 cash, int256 debtChange) = _book(accountId, amount);
        _moveCash(pool_, cash, toInsurance, 0, SOURCE_TRADING_FEE);
        emit Settled(accountId, amount, toInsurance, debtChange);
    }

    /// @inheritdoc IMarginAccounts
    function touch(uint256 accountId, address caller) external onlyRole(MARKET_ROLE) returns (Account memory a) {
        a = _accounts[accountId];
        if (a.owner == address(0)) revert UnknownAccount(accountId);
        if (caller != a.owner && !_operators[accountId][caller]) revert NotAuthorized(accountId, caller);
        _accounts[accountId].nonce = ++a.nonce;
    }

    /// @inheritdoc IMarginAccounts
    function settleLiquidation(
        uint256 fromAccountId,
        uint256 toAccountId,
        uint256 fraction,
        int256 fromAmount,
        int256 toAmount,
        uint256 fee,
        uint256 fundPaid
    ) external onlyRole(LIQUIDATOR_ROLE) nonReentrant {
        if (fraction > 1e18) revert InvalidFraction(fraction);
        address pool_ = _pool();
        ++_accounts[fromAccountId].nonce;
        (int256 cash, ) = _book(fromAccountId, fromAmount - int256(fee));
        if (toAccountId != 0) {
            ++_accounts[toAccountId].nonce;
            (int256 toCash, ) = _book(toAccountId, toAmount);
            cash += toCash;
            if (fraction != 0) _seize(fromAccountId, toAccountId, fraction);
        }
        int256 poolFlow = _moveCash(pool_, cash, fee, fundPaid, SOURCE_LIQUIDATION_FEE);
        emit LiquidationSettled(fromAccountId, toAccountId, fromAmount, toAmount, fee, fundPaid, poolFlow);
    }

    /// @notice Connects settlement to the pool and the insurance fund (both must be contracts).
    function setSettlement(address pool_, IInsuranceFund insuranceFund_) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (pool_.code.length == 0) revert NotAContract(pool_);
        if (address(insuranceFund_).code.length == 0) revert NotAContract(address(insuranceFund_));
        pool = pool_;
        insuranceFund = insuranceFund_;
        emit SettlementConfigured(pool_, address(insuranceFund_));
    }

    // ---------------------------------------------------------------- governance

    /// @notice Lists a non-settlement collateral with its haircut weight (WAD) and global cap.
    function listCollateral(address token, uint256 weight, uint256 cap) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _checkWeight(token, weight);
        _list(token, weight, cap);
    }

    /// @notice Changes a non-settlement collateral's haircut weight (WAD).
    function setCollateralWeight(address token, uint256 weight) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (token == settlementToken) revert SettlementWeightFixed();
        Collateral storage c = _listed(token);
        _checkWeight(token, weight);
        emit CollateralWeightSet(token, c.weight, weight);
        c.weight = uint64(weight);
    }

    /// @notice Changes a collateral's global deposit cap. Lowering it below current deposits only
    ///         stops new deposits; nobody is forced out.
    function setDepositCap(address token, uint256 cap) external onlyRole(DEFAULT_ADMIN_ROLE) {
        Collateral storage c = _listed(token);
        if (cap > MAX_DEPOSIT_CAP) revert CapOutOfBounds(token, cap, MAX_DEPOSIT_CAP);
        emit DepositCapSet(token, c.cap, cap);
        c.cap = uint96(cap);
    }

    /// @notice Pauses or resumes deposits of `token` (the guardian, through RiskConfig).
    function setDepositPaused(address token, bool paused) external onlyRole(PAUSER_ROLE) {
        _listed(token).depositsPaused = paused;
        emit DepositPausedSet(token, paused);
    }

    /// @notice Whether deposits of `token` are paused.
    function depositPaused(address token) external view returns (bool) {
        return _collaterals[token].depositsPaused;
    }

    /// @notice Sets the margin engine's health check (zero: balance-only, before markets exist).
    function setHealthCheck(IAccountHealthCheck newHealthCheck) external onlyRole(DEFAULT_ADMIN_ROLE) {
        // A code-less address would make every withdrawal and transfer revert without a reason.
        if (address(newHealthCheck) != address(0) && address(newHealthCheck).code.length == 0) {
            revert NotAContract(address(newHealthCheck));
        }
        emit HealthCheckSet(address(healthCheck), address(newHealthCheck));
        healthCheck = newHealthCheck;
    }

    /// @notice Sends tokens that reached this contract outside `deposit` (direct transfers,
    ///         unlisted tokens) to `to`, so nothing is ever stuck. Account balances are untouchable.
    function sweepExcess(address token, address to) external onlyRole(DEFAULT_ADMIN_ROLE) {
        if (to == address(0)) revert ZeroAddress();
        uint256 held = IERC20(token).balanceOf(address(this));
        uint256 owed = _collaterals[token].totalDeposits;
        if (held <= owed) revert NothingToSweep(token);
        uint256 excess = held - owed;
        IERC20(token).safeTransfer(to, excess);
        emit ExcessSwept(token, to, excess);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IMarginAccounts
    function account(uint256 accountId) external view returns (Account memory) {
        return _accounts[accountId];
    }

    /// @inheritdoc IMarginAccounts
    function nonce(uint256 accountId) external view returns (uint256) {
        return _accounts[accountId].nonce;
    }

    /// @inheritdoc IMarginAccounts
    function balanceOf(uint256 accountId, address token) external view returns (int256) {
        return _balances[accountId][token];
    }

    /// @inheritdoc IMarginAccounts
    function isAuthorized(uint256 accountId, address caller) public view returns (bool) {
        address owner = _accounts[accountId].owner;
        return owner != address(0) && (caller == owner || _operators[accountId][caller]);
    }

    /// @inheritdoc IMarginAccounts
    function authorize(uint256 accountId, address caller) external view returns (Account memory a) {
        a = _accounts[accountId];
        if (a.owner == address(0)) revert UnknownAccount(accountId);
        if (caller != a.owner && !_operators[accountId][caller]) revert NotAuthorized(accountId, caller);
    }

    /// @inheritdoc IMarginAccounts
    function marginData(uint256 accountId) external view returns (Account memory a, CollateralBalance[] memory held) {
        a = _accounts[accountId];
        uint256 n = _collateralTokens.length;
        held = new CollateralBalance[](n);
        uint256 count;
        for (uint256 i; i < n; ++i) {
            address token = _collateralTokens[i];
            int256 balance = _balances[accountId][token];
            if (balance == 0) continue;
            Collateral storage c = _collaterals[token];
            held[count++] = CollateralBalance(token, balance, c.decimals, c.weight);
        }
        assembly ("memory-safe") {
            mstore(held, count) // shrink to the non-zero balances
        }
    }

    /// @inheritdoc IMarginAccounts
    function withdrawalRecipient(address owner) external view returns (address) {
        address to = _withdrawalRecipients[owner];
        return to == address(0) ? owner : to;
    }

    /// @inheritdoc IMarginAccounts
    function collateral(address token) external view returns (Collateral memory) {
        return _collaterals[token];
    }

    /// @inheritdoc IMarginAccounts
    function collateralTokens() external view returns (address[] memory) {
        return _collateralTokens;
    }

    // ---------------------------------------------------------------- internals

    /// @dev Returns the owner after checking the caller is the owner or one of its operators.
    function _authorize(uint256 accountId) internal view returns (address owner) {
        owner = _accounts[accountId].owner;
        if (owner == address(0)) revert UnknownAccount(accountId);
        if (msg.sender != owner && !_operators[accountId][msg.sender]) revert NotAuthorized(accountId, msg.sender);
    }

    function _listed(address token) internal view returns (Collateral storage c) {
        c = _collaterals[token];
        if (!c.listed) revert UnknownToken(token);
    }

    function _debit(uint256 accountId, address token, uint256 amount) internal {
        int256 balance = _balances[accountId][token];
        if (balance < 0 || uint256(balance) < amount) revert InsufficientBalance(accountId, token, balance, amount);
        _balances[accountId][token] = balance - int256(amount);
    }

    /// @dev Credits `amount`; the part that repays a negative stablecoin balance is cash the pool
    ///      is owed: it is sent on to the pool, and the returned `repaid` never counts as deposits.
    function _credit(uint256 accountId, address token, uint256 amount) internal returns (uint256 repaid) {
        int256 before = _balances[accountId][token];
        _balances[accountId][token] = before + int256(amount);
        if (before >= 0) return 0;
        repaid = uint256(-before) < amount ? uint256(-before) : amount;
        settlementDebt -= repaid;
        IERC20(token).safeTransfer(pool, repaid);
        emit Settled(accountId, 0, 0, -int256(repaid));
    }

    function _pool() internal view returns (address pool_) {
        pool_ = pool;
        if (pool_ == address(0)) revert SettlementNotConfigured();
    }

    /// @dev Adds `amount` to the stablecoin balance; returns the change of its positive part (the
    ///      cash this contract must hold for it) and of its negative part (what it owes the pool).
    function _book(uint256 accountId, int256 amount) internal returns (int256 cash, int256 debtChange) {
        address token = settlementToken;
        int256 before = _balances[accountId][token];
        int256 after_ = before + amount;
        _balances[accountId][token] = after_;
        debtChange = _negativePart(after_) - _negativePart(before);
        if (debtChange != 0) settlementDebt = uint256(int256(settlementDebt) + debtChange);
        cash = _positivePart(after_) - _positivePart(before);
    }

    /// @dev Keeps the cash rule after balances changed by `cash` (positive parts): `fundPaid` has
    ///      arrived from the insurance fund, `toInsurance` leaves for it (booked under `source`),
    ///      and the pool pays or receives the difference (`poolFlow`, positive: from the pool).
    function _moveCash(
        address pool_,
        int256 cash,
        uint256 toInsurance,
        uint256 fundPaid,
        bytes32 source
    ) internal returns (int256 poolFlow) {
        Collateral storage c = _collaterals[settlementToken];
        if (cash > 0) c.totalDeposits += uint128(uint256(cash));
        else if (cash < 0) c.totalDeposits -= uint128(uint256(-cash));
        IERC20 t = IERC20(settlementToken);
        poolFlow = cash + int256(toInsurance) - int256(fundPaid);
        uint256 fromHere = toInsurance;
        // Read only when a share goes to the fund (a settlement without one skips the cold slot).
        IInsuranceFund fund = toInsurance == 0 ? IInsuranceFund(address(0)) : insuranceFund;
        if (poolFlow > 0) {
            // What the pool pays goes straight to the fund first (one transfer fewer).
            uint256 direct = uint256(poolFlow) < toInsurance ? uint256(poolFlow) : toInsurance;
            fromHere -= direct;
            if (direct != 0) t.safeTransferFrom(pool_, address(fund), direct);
            if (uint256(poolFlow) > direct) t.safeTransferFrom(pool_, address(this), uint256(poolFlow) - direct);
        }
        if (fromHere != 0) t.safeTransfer(address(fund), fromHere);
        if (toInsurance != 0) fund.recordInflow(toInsurance, source);
        if (poolFlow < 0) t.safeTransfer(pool_, uint256(-poolFlow));
    }

    /// @dev Moves `fraction` (WAD, rounded down) of each non-settlement balance; totals unchanged.
    function _seize(uint256 fromAccountId, uint256 toAccountId, uint256 fraction) internal {
        uint256 n = _collateralTokens.length;
        for (uint256 i = 1; i < n; ++i) {
            address token = _collateralTokens[i]; // index 0 is the settlement token
            int256 balance = _balances[fromAccountId][token];
            if (balance == 0) continue;
            // Non-settlement balances are never negative and below 2^128 (the caps).
            uint256 amount = (uint256(balance) * fraction) / 1e18;
            if (amount == 0) continue;
            _balances[fromAccountId][token] = balance - int256(amount);
            _balances[toAccountId][token] += int256(amount);
            emit CollateralSeized(fromAccountId, toAccountId, token, amount);
        }
    }

    function _positivePart(int256 x) internal pure returns (int256) {
        return x > 0 ? x : int256(0);
    }

    function _negativePart(int256 x) internal pure returns (int256) {
        return x < 0 ? -x : int256(0);
    }

    /// @dev An account whose nonce is still zero has never traded nor taken part in a liquidation
    ///      (every position change and every market settlement follows a `touch` or a
    ///      `settleLiquidation`, which count it): it holds no position and owes nothing, so there is
    ///      nothing for the margin engine to check (and its slot is already warm here).
    function _checkHealth(uint256 accountId) internal view {
        if (_accounts[accountId].nonce == 0) return;
        IAccountHealthCheck check = healthCheck;
        if (address(check) != address(0)) check.checkWithdrawal(accountId);
    }

    function _checkWeight(address token, uint256 weight) internal pure {
        if (weight < MIN_COLLATERAL_WEIGHT || weight > MAX_COLLATERAL_WEIGHT) {
            revert WeightOutOfBounds(token, weight, MIN_COLLATERAL_WEIGHT, MAX_COLLATERAL_WEIGHT);
        }
    }

    function _list(address token, uint256 weight, uint256 cap) internal {
        if (token == address(0)) revert ZeroAddress();
        if (_collaterals[token].listed) revert CollateralAlreadyListed(token);
        if (_collateralTokens.length == MAX_COLLATERALS) revert TooManyCollaterals(MAX_COLLATERALS);
        if (cap > MAX_DEPOSIT_CAP) revert CapOutOfBounds(token, cap, MAX_DEPOSIT_CAP);
        uint8 decimals = IERC20Metadata(token).decimals();
        if (decimals > 18) revert UnsupportedDecimals(token, decimals);
        _collaterals[token] = Collateral({
            totalDeposits: 0,
            cap: uint96(cap),
            decimals: decimals,
            listed: true,
            depositsPaused: false,
            weight: uint64(weight)
        });
        _collateralTokens.push(token);
        emit CollateralListed(token, decimals, weight, cap);
    }
}
