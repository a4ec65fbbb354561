// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice A rebasing ERC-20 for the adversarial suite: holders own shares, and every balance is
///         shares x `factor` / 1e18, so `setFactor` rescales every balance at once (a positive or a
///         negative rebase) without any transfer. Transfers move `amount x 1e18 / factor` shares,
///         rounded up against the sender; tests use factors and amounts that divide exactly.
contract AdvRebasingToken {
    /// @notice Thrown when `from` holds fewer tokens than a transfer of `needed` takes.
    error AdvInsufficientBalance(address from, uint256 balance, uint256 needed);
    /// @notice Thrown when `spender` may move fewer of `owner`'s tokens than asked.
    error AdvInsufficientAllowance(address owner, address spender, uint256 allowance, uint256 needed);
    /// @notice Thrown for a factor of zero.
    error AdvZeroFactor();

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);
    event Rebased(uint256 oldFactor, uint256 newFactor);

    function name() external pure returns (string memory) {
        return "Adversarial Rebasing Token";
    }

    function symbol() external pure returns (string memory) {
        return "REB";
    }

    function decimals() external pure returns (uint8) {
        return 18;
    }

    /// @notice Tokens per share, WAD.
    uint256 public factor = 1e18;
    uint256 public totalShares;
    mapping(address holder => uint256) public sharesOf;
    mapping(address owner => mapping(address spender => uint256)) public allowance;

    /// @notice Rescales every balance: above 1e18 a positive rebase, below a negative one.
    function setFactor(uint256 newFactor) external {
        if (newFactor == 0) revert AdvZeroFactor();
        emit Rebased(factor, newFactor);
        factor = newFactor;
    }

    function mint(address to, uint256 amount) external {
        uint256 shares = (amount * 1e18) / factor;
        sharesOf[to] += shares;
        totalShares += shares;
        emit Transfer(address(0), to, amount);
    }

    function balanceOf(address holder) public view returns (uint256) {
        return (sharesOf[holder] * factor) / 1e18;
    }

    function totalSupply() external view returns (uint256) {
        return (totalShares * factor) / 1e18;
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 allowed = allowance[from][msg.sender];
        if (allowed != type(uint256).max) {
            if (allowed < amount) revert AdvInsufficientAllowance(from, msg.sender, allowed, amount);
            allowance[from][msg.sender] = allowed - amount;
        }
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) internal {
        uint256 shares = (amount * 1e18 + factor - 1) / factor;
        uint256 held = sharesOf[from];
        if (held < shares) revert AdvInsufficientBalance(from, balanceOf(from), amount);
        sharesOf[from] = held - shares;
        sharesOf[to] += shares;
        emit Transfer(from, to, amount);
    }
}
