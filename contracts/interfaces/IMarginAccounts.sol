// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @title Keel margin accounts
/// @notice Account ids, owners and operators, Cross / Isolated mode, and the multi-collateral
///         balances of every account. Token amounts are in the token's own decimals.
interface IMarginAccounts {
    /// @notice Cross accounts margin any number of markets together; Isolated accounts are bound
    ///         to one market at creation and their losses never reach another account.
    enum Mode {
        Cross,
        Isolated
    }

    /// @dev One slot. `nonce` counts the changes a liquidation bid must not be surprised by:
    ///      every trade of the account and every liquidation bid on it (as liquidated account or as
    ///      bidder). Deposits, withdrawals and transfers leave it alone: they only add collateral or
    ///      need initial margin, which an account inside an auction cannot have.
    struct Account {
        address owner;
        Mode mode;
        uint32 marketId;
        uint56 nonce;
    }

    /// @dev Packed so that a deposit reads and writes a single slot (`totalDeposits`, `cap`).
    struct Collateral {
        uint128 totalDeposits;
        uint96 cap;
        uint8 decimals;
        bool listed;
        bool depositsPaused;
        uint64 weight;
    }

    /// @notice A non-zero balance with what valuing it needs.
    struct CollateralBalance {
        address token;
        int256 balance;
        uint8 decimals;
        uint64 weight;
    }

    /// @notice Thrown when an amount of zero is deposited, withdrawn or transferred.
    error ZeroAmount();
    /// @notice Thrown when a token is not a listed collateral.
    error UnknownToken(address token);
    /// @notice Thrown when an account id was never created.
    error UnknownAccount(uint256 accountId);
    /// @notice Thrown when `caller` is neither the owner of `accountId` nor an operator it approved.
    error NotAuthorized(uint256 accountId, address caller);
    /// @notice Thrown when only the owner may act (approving operators) and `caller` is not it.
    error NotAccountOwner(uint256 accountId, address caller);
    /// @notice Thrown when a deposit of `amount` exceeds the `room` left under the token's global cap.
    error DepositCapExceeded(address token, uint256 amount, uint256 room);
    /// @notice Thrown when `amount` exceeds the account's balance of `token`.
    error InsufficientBalance(uint256 accountId, address token, int256 balance, uint256 amount);
    /// @notice Thrown when the tokens received differ from the amount sent (fee-on-transfer tokens are refused).
    error TransferAmountMismatch(address token, uint256 expected, uint256 received);
    /// @notice Thrown when a transfer is attempted between accounts of different owners.
    error DifferentOwners(uint256 fromAccountId, uint256 toAccountId);
    /// @notice Thrown when a transfer names the same account on both sides.
    error SameAccount(uint256 accountId);
    /// @notice Thrown when a Cross account names a market or an Isolated account names none.
    error InvalidMarketId(Mode mode, uint32 marketId);
    /// @notice Thrown when listing a token that is already listed.
    error CollateralAlreadyListed(address token);
    /// @notice Thrown when listing more collaterals than `max`.
    error TooManyCollaterals(uint256 max);
    /// @notice Thrown when a token's decimals are above 18.
    error UnsupportedDecimals(address token, uint8 decimals);
    /// @notice Thrown when a collateral weight is outside `[min, max]`.
    error WeightOutOfBounds(address token, uint256 weight, uint256 min, uint256 max);
    /// @notice Thrown when a cap above `max` is set.
    error CapOutOfBounds(address token, uint256 cap, uint256 max);
    /// @notice Thrown when the settlement stablecoin's weight is changed (it is always 1).
    error SettlementWeightFixed();
    /// @notice Thrown when an address argument is zero.
    error ZeroAddress();
    /// @notice Thrown when the withdrawal recipient would be this contract itself.
    error InvalidRecipient(address recipient);
    /// @notice Thrown when the health check set is an address without code.
    error NotAContract(address target);
    /// @notice Thrown when the guardian has paused deposits of `token`.
    error DepositsPaused(address token);
    /// @notice Thrown when there is nothing to sweep.
    error NothingToSweep(address token);
    /// @notice Thrown when settlement is used before the pool and insurance fund are set.
    error SettlementNotConfigured();
    /// @notice Thrown when a liquidation names a fraction above 1 (WAD).
    error InvalidFraction(uint256 fraction);

    event AccountCreated(uint256 indexed accountId, address indexed owner, Mode mode, uint32 marketId);
    event OperatorSet(uint256 indexed accountId, address indexed operator, bool approved);
    event WithdrawalRecipientSet(address indexed owner, address recipient);
    event Deposited(uint256 indexed accountId, address indexed token, address indexed from, uint256 amount);
    event Withdrawn(uint256 indexed accountId, address indexed token, address indexed to, uint256 amount);
    event Transferred(
        uint256 indexed fromAccountId,
        uint256 indexed toAccountId,
        address indexed token,
        uint256 amount
    );
    event CollateralListed(address indexed token, uint8 decimals, uint256 weight, uint256 cap);
    event CollateralWeightSet(address indexed token, uint256 oldWeight, uint256 newWeight);
    event DepositCapSet(address indexed token, uint256 oldCap, uint256 newCap);
    event HealthCheckSet(address oldHealthCheck, address newHealthCheck);
    event ExcessSwept(address indexed token, address indexed to, uint256 amount);
    event DepositPausedSet(address indexed token, bool paused);
    event SettlementConfigured(address pool, address insuranceFund);
    /// @notice A market settled `amount` (settlement-token units, positive: paid to the account)
    ///         into the account's stablecoin balance, of which the pool paid `toInsurance` on to
    ///         the insurance fund. `debtChange` is the change of what the account owes the pool.
    event Settled(uint256 indexed accountId, int256 amount, uint256 toInsurance, int256 debtChange);
    /// @notice A liquidation bid moved `amount` of the non-settlement collateral `token` from the
    ///         liquidated account to the bidder's.
    event CollateralSeized(
        uint256 indexed fromAccountId,
        uint256 indexed toAccountId,
        address indexed token,
        uint256 amount
    );
    /// @notice A liquidation bid booked `fromAmount` and `toAmount` (settlement-token units) into
    ///         the two stablecoin balances, charged `fee` to the liquidated account for the
    ///         insurance fund, used `fundPaid` the fund had sent, and moved `poolFlow` from the
    ///         pool (negative: to the pool).
    event LiquidationSettled(
        uint256 indexed fromAccountId,
        uint256 indexed toAccountId,
        int256 fromAmount,
        int256 toAmount,
        uint256 fee,
        uint256 fundPaid,
        int256 poolFlow
    );

    /// @notice Creates an account owned by the caller. Cross accounts take `marketId` 0; Isolated
    ///         accounts name the one market they will ever trade.
    function createAccount(Mode mode, uint32 marketId) external returns (uint256 accountId);

    /// @notice Approves or revokes `operator` (a bot, a front end) to trade, deposit, withdraw and
    ///         transfer for `accountId`. Withdrawals still only ever pay the owner's recipient.
    function setOperator(uint256 accountId, address operator, bool approved) external;

    /// @notice Sets where withdrawals of all of the caller's accounts are paid (zero: the owner).
    function setWithdrawalRecipient(address recipient) external;

    /// @notice Pulls `amount` of `token` from the caller into `accountId`.
    function deposit(uint256 accountId, address token, uint256 amount) external;

    /// @notice Pays `amount` of `token` from `accountId` to its owner's withdrawal recipient, then
    ///         checks the account's margin.
    function withdraw(uint256 accountId, address token, uint256 amount) external;

    /// @notice Moves `amount` of `token` between two accounts of the same owner, then checks the
    ///         margin of the account it left.
    function transfer(uint256 fromAccountId, uint256 toAccountId, address token, uint256 amount) external;

    /// @notice Markets (MARKET_ROLE): books `amount` (settlement-token units; positive pays the
    ///         account) against the pool, and pays `toInsurance` from the pool to the insurance
    ///         fund. Cash follows the positive part of the balance: this contract always holds
    ///         exactly the sum of positive stablecoin balances, and negative balances are the
    ///         pool's receivable (`settlementDebt`).
    function settle(uint256 accountId, int256 amount, uint256 toInsurance) external;

    /// @notice Markets (MARKET_ROLE), at the start of a trade: the account's record after checking
    ///         `caller` may act for it; increments the account's nonce.
    function touch(uint256 accountId, address caller) external returns (Account memory);

    /// @notice The liquidation engine (LIQUIDATOR_ROLE), for one bid: moves `fraction` (WAD, rounded
    ///         down) of every non-settlement collateral of `fromAccountId` to `toAccountId`, books
    ///         `fromAmount - fee` and `toAmount` into their stablecoin balances, pays `fee` to the
    ///         insurance fund (source LIQUIDATION_FEE), counts `fundPaid` that the fund has already
    ///         sent here, and settles the rest of the cash with the pool. Increments both nonces
    ///         (`toAccountId` zero: a fee alone, at an auction's start).
    function settleLiquidation(
        uint256 fromAccountId,
        uint256 toAccountId,
        uint256 fraction,
        int256 fromAmount,
        int256 toAmount,
        uint256 fee,
        uint256 fundPaid
    ) external;

    /// @notice The account's nonce (see `Account`): a liquidation bid names the nonce it expects.
    function nonce(uint256 accountId) external view returns (uint256);

    /// @notice The account's record after checking `caller` may act for it (owner or operator).
    function authorize(uint256 accountId, address caller) external view returns (Account memory);

    /// @notice The sum of negative stablecoin balances: what accounts owe the pool, in token units.
    function settlementDebt() external view returns (uint256);

    /// @notice The account's record and its non-zero balances (what the margin engine values), in
    ///         one call.
    function marginData(uint256 accountId) external view returns (Account memory, CollateralBalance[] memory);

    /// @notice The account's record; `owner` is zero for an id never created.
    function account(uint256 accountId) external view returns (Account memory);

    /// @notice The account's balance of `token`, in the token's decimals. Only the settlement
    ///         stablecoin's balance can go negative, and only once markets settle into it.
    function balanceOf(uint256 accountId, address token) external view returns (int256);

    /// @notice Whether `caller` may act for `accountId` (owner or approved operator).
    function isAuthorized(uint256 accountId, address caller) external view returns (bool);

    /// @notice Where withdrawals of `owner`'s accounts are paid.
    function withdrawalRecipient(address owner) external view returns (address);

    /// @notice A listed collateral's configuration and total deposits.
    function collateral(address token) external view returns (Collateral memory);

    /// @notice Every listed collateral, settlement stablecoin first.
    function collateralTokens() external view returns (address[] memory);

    /// @notice The settlement stablecoin: PnL, fees and funding settle in it; its weight is 1.
    function settlementToken() external view returns (address);
}
