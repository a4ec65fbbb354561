import { expect } from "chai";
import { ethers } from "hardhat";
import { loadFixture } from "@nomicfoundation/hardhat-network-helpers";

// IPriceOracle.Status and OraclePolicy.Action, in declaration order.
const Status = { Ok: 0n, Degraded: 1n, Down: 2n } as const;
const Action = { IncreaseRisk: 0n, ReduceRisk: 1n, Deposit: 2n, Withdraw: 3n, Liquidate: 4n, Settle: 5n } as const;
type StatusName = keyof typeof Status;
type ActionName = keyof typeof Action;

/** The policy as IPriceOracle documents it, written out cell by cell. */
const ALLOWED: Record<StatusName, Record<ActionName, boolean>> = {
  Ok: { IncreaseRisk: true, ReduceRisk: true, Deposit: true, Withdraw: true, Liquidate: true, Settle: true },
  Degraded: { IncreaseRisk: false, ReduceRisk: true, Deposit: true, Withdraw: true, Liquidate: true, Settle: true },
  Down: { IncreaseRisk: false, ReduceRisk: false, Deposit: true, Withdraw: false, Liquidate: false, Settle: false },
};

const STATUSES = Object.keys(Status) as StatusName[];
const ACTIONS = Object.keys(Action) as ActionName[];

async function harnessFixture() {
  const harness = await ethers.deployContract("OraclePolicyHarness");
  return { harness };
}

describe("OraclePolicy", () => {
  describe("allows", () => {
    for (const status of STATUSES) {
      for (const action of ACTIONS) {
        const allowed = ALLOWED[status][action];
        it(`${allowed ? "allows" : "refuses"} ${action} while the price is ${status}`, async () => {
          const { harness } = await loadFixture(harnessFixture);
          expect(await harness.allows(Status[status], Action[action])).to.equal(allowed);
        });
      }
    }
  });

  describe("check", () => {
    for (const status of STATUSES) {
      for (const action of ACTIONS) {
        if (ALLOWED[status][action]) {
          it(`lets ${action} through while the price is ${status}`, async () => {
            const { harness } = await loadFixture(harnessFixture);
            await expect(harness.check(Status[status], Action[action])).not.to.be.reverted;
          });
        } else {
          it(`reverts ActionNotAllowed for ${action} while the price is ${status}`, async () => {
            const { harness } = await loadFixture(harnessFixture);
            await expect(harness.check(Status[status], Action[action]))
              .to.be.revertedWithCustomError(harness, "ActionNotAllowed")
              .withArgs(Status[status], Action[action]);
          });
        }
      }
    }
  });

  describe("conservative", () => {
    const price = {
      price: ethers.parseUnits("3000", 18),
      low: ethers.parseUnits("2912.345678901234567891", 18),
      high: ethers.parseUnits("3087.654321098765432109", 18),
      status: Status.Degraded,
    };

    it("values what the account holds at the low end of the bracket", async () => {
      const { harness } = await loadFixture(harnessFixture);
      expect(await harness.conservative(price, true)).to.equal(2_912_345_678_901_234_567_891n);
    });

    it("values what the account owes at the high end of the bracket", async () => {
      const { harness } = await loadFixture(harnessFixture);
      expect(await harness.conservative(price, false)).to.equal(3_087_654_321_098_765_432_109n);
    });

    it("returns the single price for both sides when only one source was read", async () => {
      const { harness } = await loadFixture(harnessFixture);
      const single = { price: 123_456_789n, low: 123_456_789n, high: 123_456_789n, status: Status.Ok };
      expect(await harness.conservative(single, true)).to.equal(123_456_789n);
      expect(await harness.conservative(single, false)).to.equal(123_456_789n);
    });
  });
});
