// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

interface IUniswapV3PoolActions {
    function mint(
        address recipient,
        int24 tickLower,
        int24 tickUpper,
        uint128 amount,
        bytes calldata data
    ) external returns (uint256 amount0, uint256 amount1);

    function swap(
        address recipient,
        bool zeroForOne,
        int256 amountSpecified,
        uint160 sqrtPriceLimitX96,
        bytes calldata data
    ) external returns (int256 amount0, int256 amount1);

    function token0() external view returns (address);

    function token1() external view returns (address);
}

/// @notice Test helper that mints liquidity into and swaps against a real Uniswap v3 pool, paying
///         from the caller's balance (approved to this contract) in the pool's callbacks.
contract UniswapV3Callee {
    using SafeERC20 for IERC20;

    function mint(address pool, int24 tickLower, int24 tickUpper, uint128 liquidity) external {
        IUniswapV3PoolActions(pool).mint(msg.sender, tickLower, tickUpper, liquidity, abi.encode(msg.sender));
    }

    /// @notice Swaps an exact input amount up to a price limit.
    function swapExactIn(address pool, bool zeroForOne, uint256 amountIn, uint160 sqrtPriceLimitX96) external {
        IUniswapV3PoolActions(pool).swap(
            msg.sender,
            zeroForOne,
            int256(amountIn),
            sqrtPriceLimitX96,
            abi.encode(msg.sender)
        );
    }

    function uniswapV3MintCallback(uint256 amount0Owed, uint256 amount1Owed, bytes calldata data) external {
        _pay(abi.decode(data, (address)), amount0Owed, amount1Owed);
    }

    function uniswapV3SwapCallback(int256 amount0Delta, int256 amount1Delta, bytes calldata data) external {
        _pay(
            abi.decode(data, (address)),
            amount0Delta > 0 ? uint256(amount0Delta) : 0,
            amount1Delta > 0 ? uint256(amount1Delta) : 0
        );
    }

    function _pay(address payer, uint256 amount0, uint256 amount1) internal {
        IUniswapV3PoolActions pool = IUniswapV3PoolActions(msg.sender);
        if (amount0 > 0) IERC20(pool.token0()).safeTransferFrom(payer, msg.sender, amount0);
        if (amount1 > 0) IERC20(pool.token1()).safeTransferFrom(payer, msg.sender, amount1);
    }
}
