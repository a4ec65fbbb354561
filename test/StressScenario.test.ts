import { expect } from "chai";
import fs from "fs";
import os from "os";
import path from "path";
import { syntheticScenarioFiles } from "../scripts/make-scenarios";
import {
  SCENARIOS_DIR,
  ScenarioError,
  builtInScenarios,
  loadScenario,
  mergedTimeline,
  parseCsv,
  peakToTrough,
  scenarioSpan,
} from "../scripts/lib/stress/scenario";
import { PricePoint, Scenario } from "../scripts/lib/stress/types";

/** The message of the ScenarioError that `load` throws. */
function errorOf(load: () => unknown): string {
  try {
    load();
  } catch (error) {
    expect(error).to.be.instanceOf(ScenarioError);
    return (error as Error).message;
  }
  throw new Error("expected a ScenarioError, nothing was thrown");
}

/** Data rows of a CSV file: its lines minus the header (and the final newline). */
function csvRowCount(file: string): number {
  const lines = fs.readFileSync(path.join(SCENARIOS_DIR, file), "utf8").split("\n");
  expect(lines.pop()).to.equal("");
  return lines.length - 1;
}

function percent(fraction: number): string {
  return (fraction * 100).toFixed(1);
}

// Sanity figures from /work/shared/data/crashes/SOURCES.md ("Files" table): highest close before
// the largest fall, lowest close after it, the fall in %, lowest candle low after the peak, its %.
const SOURCES_SANITY: [string, number, number, string, number, string][] = [
  ["eth-usd-2020-03-12", 203.04, 88.35, "56.5", 86.0, "57.6"],
  ["eth-usd-2021-05-19", 3556.12, 1925.16, "45.9", 1888.0, "46.9"],
  ["eth-usd-2022-05-09", 2640.68, 1801.9, "31.8", 1800.0, "31.8"],
  ["eth-usd-2022-06-13", 1544.32, 889.72, "42.4", 881.56, "42.9"],
  ["eth-usd-2022-11-08", 1606.56, 1084.17, "32.5", 1073.53, "33.2"],
  ["eth-usd-2024-08-05", 2931.64, 2176.06, "25.8", 2111.0, "28.0"],
  ["eth-usd-2023-07-01", 1974.4, 1836.39, "7.0", 1826.0, "7.5"],
  ["eth-usd-2020-03-12-bitfinex-1h", 203.23, 99.66, "51.0", 89.66, "55.9"],
  ["eth-usd-2022-11-08-bitfinex-1h", 1602.8, 1102.6, "31.2", 1073.9, "33.0"],
  ["btc-usd-2020-03-12", 7948.4, 4130.64, "48.0", 3782.13, "52.4"],
  ["btc-usd-2021-05-19", 45703.37, 30101.0, "34.1", 30000.0, "34.4"],
  ["btc-usd-2022-05-09", 35487.78, 26888.39, "24.2", 26700.0, "24.8"],
  ["btc-usd-2022-06-13", 28518.27, 17650.9, "38.1", 17622.0, "38.2"],
  ["btc-usd-2022-11-08", 21058.03, 15630.18, "25.8", 15588.0, "26.0"],
  ["btc-usd-2023-07-01", 31388.6, 29822.2, "5.0", 29701.02, "5.4"],
  ["btc-usd-2024-08-05", 61095.99, 49338.49, "19.2", 49000.0, "19.8"],
];

const SYNTHETIC = [
  "gap-down-30",
  "slow-bleed-60",
  "stale-feed-crash",
  "sequencer-outage",
  "pump-and-dump",
  "black-thursday",
];

describe("Stress scenarios", function () {
  describe("built-ins", function () {
    it("lists exactly the data files in scenarios/, named by their base name", function () {
      const onDisk = fs
        .readdirSync(SCENARIOS_DIR)
        .filter((f) => /\.(csv|json)$/.test(f))
        .sort();
      const listed = builtInScenarios();
      expect(listed.map((b) => b.file).sort()).to.deep.equal(onDisk);
      expect(listed).to.have.length(22);
      for (const b of listed) expect(b.name).to.equal(b.file.replace(/\.(csv|json)$/, ""));
      expect(listed.map((b) => b.name)).to.include.members([...SOURCES_SANITY.map((s) => s[0]), ...SYNTHETIC]);
    });

    it("loads every built-in with its name, source and description; CSV row counts equal the file's rows", function () {
      for (const { name, file, description } of builtInScenarios()) {
        const s = loadScenario(name);
        expect([s.name, s.source, s.description]).to.deep.equal([name, `built-in: ${file}`, description]);
        if (file.endsWith(".csv")) {
          const asset = name.startsWith("btc-") ? "BTC" : "ETH";
          expect(Object.keys(s.paths)).to.deep.equal([asset]);
          expect(s.paths[asset]).to.have.length(csvRowCount(file));
          expect(s.events).to.deep.equal([]);
        }
      }
    });

    it("reads the first and last rows exactly", function () {
      const eth = loadScenario("eth-usd-2020-03-12").paths.ETH!;
      expect(eth[0]).to.deep.equal({ timestamp: 1583884800, price: 200.7, low: 200.02 });
      expect(eth.at(-1)).to.deep.equal({ timestamp: 1584316800, price: 123.78, low: 123.16 });
      const btc = loadScenario("btc-usd-2020-03-12").paths.BTC!;
      expect(btc[0]).to.deep.equal({ timestamp: 1583884800, price: 7894.56, low: 7869.79 });
      expect(btc.at(-1)).to.deep.equal({ timestamp: 1584316800, price: 5361.3, low: 5320 });
      const bitfinex = loadScenario("eth-usd-2022-11-08-bitfinex-1h").paths.ETH!;
      expect(bitfinex[0]).to.deep.equal({ timestamp: 1667779200, price: 1569.6, low: 1566.7 });
      expect(bitfinex.at(-1)).to.deep.equal({ timestamp: 1668297600, price: 1257.5, low: 1248.2 });
    });

    it("reproduces the sanity figures of SOURCES.md with peakToTrough", function () {
      for (const [name, peak, trough, drawdown, lowTrough, lowDrawdown] of SOURCES_SANITY) {
        const s = loadScenario(name);
        const figures = peakToTrough(Object.values(s.paths)[0]!);
        expect([figures.peak, figures.trough, figures.lowTrough], name).to.deep.equal([peak, trough, lowTrough]);
        expect([percent(figures.drawdown), percent(figures.lowDrawdown)], name).to.deep.equal([drawdown, lowDrawdown]);
        // The description quotes the same peak-to-low figure.
        expect(s.description, name).to.match(new RegExp(` -${lowDrawdown.replace(".", "\\.")}% peak to low$`));
      }
    });

    it("black-thursday drives ETH (5 min) and BTC (1 h) from the real files on one timeline", function () {
      const s = loadScenario("black-thursday");
      expect(s.paths.ETH).to.deep.equal(loadScenario("eth-usd-2020-03-12").paths.ETH);
      expect(s.paths.BTC).to.deep.equal(loadScenario("btc-usd-2020-03-12").paths.BTC);
      expect(s.events).to.deep.equal([]);
      expect(scenarioSpan(s)).to.deep.equal({ start: 1583884800, end: 1584316800 });
      // Every hourly BTC time is also a 5-minute ETH time.
      expect(mergedTimeline(s)).to.deep.equal(s.paths.ETH!.map((p) => p.timestamp));
    });

    it("drives the asset given in the options instead of the one the file name says", function () {
      const s = loadScenario("eth-usd-2020-03-12", { asset: "BTC" });
      expect(Object.keys(s.paths)).to.deep.equal(["BTC"]);
      expect(s.paths.BTC).to.have.length(1441);
    });
  });

  describe("synthetic scenarios", function () {
    it("are exactly what scripts/make-scenarios.ts generates", function () {
      const generated = syntheticScenarioFiles();
      expect(Object.keys(generated)).to.deep.equal(
        SYNTHETIC.map((n) => builtInScenarios().find((b) => b.name === n)!.file),
      );
      for (const [file, content] of Object.entries(generated)) {
        expect(fs.readFileSync(path.join(SCENARIOS_DIR, file), "utf8"), file).to.equal(content);
      }
    });

    it("gap-down-30: 3000 for 2 h, one 5-min step to 2100, 2100 for 6 h, low = price", function () {
      const eth = loadScenario("gap-down-30").paths.ETH!;
      expect(eth).to.have.length(98);
      expect(eth[24]).to.deep.equal({ timestamp: 1700007200, price: 3000, low: 3000 });
      expect(eth[25]).to.deep.equal({ timestamp: 1700007500, price: 2100, low: 2100 });
      expect(eth.at(-1)).to.deep.equal({ timestamp: 1700029100, price: 2100, low: 2100 });
      expect(eth.every((p, i) => p.timestamp === 1700000000 + 300 * i && p.low === p.price)).to.be.true;
      expect(eth.filter((p) => p.price === 3000)).to.have.length(25);
      expect(peakToTrough(eth)).to.deep.equal({
        peak: 3000,
        trough: 2100,
        drawdown: 1 - 2100 / 3000,
        lowTrough: 2100,
        lowDrawdown: 1 - 2100 / 3000,
      });
    });

    it("slow-bleed-60: hourly 3000 * 0.4^(i/168), 169 rows to 1200, no low", function () {
      const eth = loadScenario("slow-bleed-60").paths.ETH!;
      expect(eth).to.have.length(169);
      expect(eth[0]).to.deep.equal({ timestamp: 1700000000, price: 3000 });
      expect(eth[1]).to.deep.equal({ timestamp: 1700003600, price: 2983.68 });
      expect(eth[84]).to.deep.equal({ timestamp: 1700302400, price: 1897.37 }); // 3000 * sqrt(0.4)
      expect(eth.at(-1)).to.deep.equal({ timestamp: 1700604800, price: 1200 });
      expect(eth.every((p, i) => p.timestamp === 1700000000 + 3600 * i && p.low === undefined)).to.be.true;
    });

    // Two crashes with an event over the fall's middle hour (1700009000 to 1700012600).
    const crashes = [
      ["stale-feed-crash", 2250, 2968.75, { kind: "oracleOutage", asset: "ETH", from: 1700009000, to: 1700012600 }],
      ["sequencer-outage", 2400, 2975, { kind: "sequencerDown", from: 1700009000, to: 1700012600 }],
    ] as const;
    for (const [name, low, second, event] of crashes) {
      it(`${name}: 3000, linearly to ${low} over 2 h, flat; one ${event.kind} in the fall's middle hour`, function () {
        const s = loadScenario(name);
        const eth = s.paths.ETH!;
        expect(eth).to.have.length(97);
        expect(eth[24]).to.deep.equal({ timestamp: 1700007200, price: 3000 });
        expect(eth[25]).to.deep.equal({ timestamp: 1700007500, price: second });
        expect(eth[48]).to.deep.equal({ timestamp: 1700014400, price: low });
        expect(eth.at(-1)).to.deep.equal({ timestamp: 1700028800, price: low });
        expect(s.events).to.deep.equal([event]);
      });
    }

    it("pump-and-dump: 3000 to 4500 over 6 h, back to 3000 over 6 h, flat 2 h", function () {
      const eth = loadScenario("pump-and-dump").paths.ETH!;
      expect(eth).to.have.length(169);
      expect(eth[1]).to.deep.equal({ timestamp: 1700000300, price: 3020.83 });
      expect(eth[72]).to.deep.equal({ timestamp: 1700021600, price: 4500 });
      expect(eth[144]).to.deep.equal({ timestamp: 1700043200, price: 3000 });
      expect(eth.at(-1)).to.deep.equal({ timestamp: 1700050400, price: 3000 });
      expect(Math.max(...eth.map((p) => p.price))).to.equal(4500);
    });
  });

  describe("timeline helpers", function () {
    const scenario: Scenario = {
      name: "t",
      source: "test",
      description: "test",
      paths: {
        ETH: [
          { timestamp: 100, price: 1 },
          { timestamp: 200, price: 1 },
          { timestamp: 400, price: 1 },
        ],
        BTC: [
          { timestamp: 50, price: 1 },
          { timestamp: 200, price: 1 },
          { timestamp: 300, price: 1 },
        ],
      },
      events: [],
    };

    it("scenarioSpan covers every path", function () {
      expect(scenarioSpan(scenario)).to.deep.equal({ start: 50, end: 400 });
    });

    it("mergedTimeline is the sorted union of the timestamps, each once", function () {
      expect(mergedTimeline(scenario)).to.deep.equal([50, 100, 200, 300, 400]);
    });
  });

  describe("peakToTrough", function () {
    it("measures the largest fall from an earlier close, and the lowest low after that peak", function () {
      const points: PricePoint[] = [
        { timestamp: 1, price: 100 },
        { timestamp: 2, price: 120, low: 70 }, // the peak's own wick came before the peak close
        { timestamp: 3, price: 90, low: 84 },
        { timestamp: 4, price: 100 },
        { timestamp: 5, price: 96, low: 95 },
      ];
      expect(peakToTrough(points)).to.deep.equal({
        peak: 120,
        trough: 90,
        drawdown: 1 - 90 / 120,
        lowTrough: 84,
        lowDrawdown: 1 - 84 / 120,
      });
    });

    it("keeps the first of equal falls and reports no fall on a rising path", function () {
      const twice = [100, 50, 100, 50].map((price, i) => ({ timestamp: i + 1, price }));
      expect(peakToTrough(twice)).to.deep.equal({
        peak: 100,
        trough: 50,
        drawdown: 0.5,
        lowTrough: 50,
        lowDrawdown: 0.5,
      });
      const rising = [100, 110, 120].map((price, i) => ({ timestamp: i + 1, price }));
      expect(peakToTrough(rising)).to.deep.equal({
        peak: 100,
        trough: 100,
        drawdown: 0,
        lowTrough: 100,
        lowDrawdown: 0,
      });
    });
  });

  describe("user files", function () {
    let dir: string;

    before(function () {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-scenario-"));
    });

    after(function () {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    function write(name: string, text: string): string {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      return file;
    }

    function writeJson(name: string, value: unknown): string {
      return write(name, JSON.stringify(value));
    }

    const ETH_POINTS = [
      [1700000000, 3000],
      [1700000300, 2900, 2800],
      [1700000600, 2950],
    ];

    describe("CSV", function () {
      it("accepts CRLF line ends and trailing blank lines, and names the scenario after the file", function () {
        const file = write("BTC-crash.csv", "timestamp,price,low\r\n1000,10,9\r\n1060,11,11\r\n\r\n");
        const s = loadScenario(file);
        expect(s).to.deep.equal({
          name: "BTC-crash",
          source: file,
          description: `BTC price path from ${file}, 2 rows`,
          paths: {
            BTC: [
              { timestamp: 1000, price: 10, low: 9 },
              { timestamp: 1060, price: 11, low: 11 },
            ],
          },
          events: [],
        });
      });

      it("drives ETH when the file name names no asset, and resolves paths against the working directory", function () {
        const file = write("path.csv", "timestamp,price\n1000,10\n1060,11");
        const s = loadScenario(path.relative(process.cwd(), file));
        expect(s.paths).to.deep.equal({
          ETH: [
            { timestamp: 1000, price: 10 },
            { timestamp: 1060, price: 11 },
          ],
        });
      });

      it("parseCsv reads text on its own", function () {
        expect(parseCsv("timestamp,price\n5,1.5\n6,1e3\n", "mem.csv")).to.deep.equal([
          { timestamp: 5, price: 1.5 },
          { timestamp: 6, price: 1000 },
        ]);
      });

      const cases: [string, string, string][] = [
        ["an empty file", "", ": file is empty"],
        ["a file of blank lines", "\n\r\n", ": file is empty"],
        [
          "a bad header",
          "time,price\n1,2\n",
          ' line 1: header must be "timestamp,price" or "timestamp,price,low", found "time,price"',
        ],
        [
          "a header with spaces",
          "timestamp, price\n1,2\n",
          ' line 1: header must be "timestamp,price" or "timestamp,price,low", found "timestamp, price"',
        ],
        ["too many columns", "timestamp,price\n1,2\n3,4,5\n", " line 3: expected 2 values (timestamp,price), found 3"],
        ["a missing low", "timestamp,price,low\n1,2\n", " line 2: expected 3 values (timestamp,price,low), found 2"],
        ["a blank line between rows", "timestamp,price\n1,2\n\n3,4\n", " line 3: blank line"],
        ["a non-numeric price", "timestamp,price\n1,2\n2,abc\n", ' line 3: price "abc" is not a number'],
        ["an empty timestamp", "timestamp,price\n,2\n2,3\n", ' line 2: timestamp "" is not a number'],
        ["a hex value", "timestamp,price\n1,0x10\n2,3\n", ' line 2: price "0x10" is not a number'],
        ["Infinity", "timestamp,price\n1,Infinity\n2,3\n", ' line 2: price "Infinity" is not a number'],
        ["an overflowing number", "timestamp,price\n1,1e999\n2,3\n", ' line 2: price "1e999" is not finite'],
        ["a fractional timestamp", "timestamp,price\n1.5,2\n3,3\n", " line 2: timestamp 1.5 is not whole seconds"],
        ["a zero timestamp", "timestamp,price\n0,2\n3,3\n", " line 2: timestamp 0 must be > 0"],
        [
          "a timestamp in milliseconds",
          "timestamp,price\n1590000000000,2\n1590000300000,3\n",
          " line 2: timestamp 1590000000000 is too large for unix seconds (milliseconds?)",
        ],
        [
          "a timestamp going back",
          "timestamp,price\n1590000000,2\n1590000300,2\n1590000000,2\n",
          " line 4: timestamp 1590000000 is not after the previous row's 1590000300",
        ],
        [
          "a repeated timestamp",
          "timestamp,price\n1590000000,2\n1590000000,2\n",
          " line 3: timestamp 1590000000 is not after the previous row's 1590000000",
        ],
        ["a zero price", "timestamp,price\n1,0\n2,3\n", " line 2: price 0 must be > 0"],
        ["a negative price", "timestamp,price\n1,-5\n2,3\n", " line 2: price -5 must be > 0"],
        ["a zero low", "timestamp,price,low\n1,2,0\n2,3,3\n", " line 2: low 0 must be > 0"],
        [
          "a low above the price",
          "timestamp,price,low\n1,100,100\n2,100,101\n",
          " line 3: low 101 is above the price 100",
        ],
        ["a single row", "timestamp,price\n1,2\n", ": needs at least 2 rows, found 1"],
        ["a header only", "timestamp,price\n", ": needs at least 2 rows, found 0"],
      ];
      for (const [what, text, message] of cases) {
        it(`rejects ${what}`, function () {
          const file = write("bad.csv", text);
          expect(errorOf(() => loadScenario(file))).to.equal(`${file}${message}`);
          if (text.trim() !== "") expect(errorOf(() => parseCsv(text, "bad.csv"))).to.equal(`bad.csv${message}`);
        });
      }
    });

    describe("names and paths", function () {
      it("rejects an unknown name, listing the built-ins", function () {
        const known = builtInScenarios()
          .map((b) => b.name)
          .join(", ");
        expect(errorOf(() => loadScenario("foo"))).to.equal(
          `unknown scenario "foo": not a built-in name (known: ${known}) and no such file`,
        );
      });

      it("rejects a missing file", function () {
        const file = path.join(dir, "missing.csv");
        expect(errorOf(() => loadScenario(file))).to.equal(`scenario file not found: ${file}`);
        expect(errorOf(() => loadScenario("nowhere/x"))).to.equal("scenario file not found: nowhere/x");
      });

      it("rejects a file that is neither .csv nor .json", function () {
        const file = write("prices.txt", "timestamp,price\n1,2\n3,4\n");
        expect(errorOf(() => loadScenario(file))).to.equal(`${file}: a scenario file must end in .csv or .json`);
      });

      it("rejects an unknown asset option", function () {
        expect(errorOf(() => loadScenario("gap-down-30", { asset: "SOL" as "ETH" }))).to.equal(
          'unknown asset "SOL" (known: ETH, BTC)',
        );
      });
    });

    describe("JSON", function () {
      it("loads inline points, a CSV relative to the JSON file, and typed events; ignores the asset option", function () {
        fs.mkdirSync(path.join(dir, "sub"), { recursive: true });
        write("sub/btc.csv", "timestamp,price\n1700000000,60000\n1700000600,59000\n1700000900,58000\n");
        const file = writeJson("sub/mixed.json", {
          name: "my-crash",
          description: "two assets",
          assets: { ETH: { points: ETH_POINTS }, BTC: { csv: "btc.csv" } },
          events: [
            { kind: "oracleOutage", asset: "ETH", from: 1700000000, to: 1700000600 },
            { kind: "sequencerDown", from: 1700000300, to: 1700000900 },
            { kind: "twapManipulation", asset: "BTC", at: 1700000900, move: -0.25 },
          ],
        });
        const s = loadScenario(file, { asset: "BTC" });
        expect(s).to.deep.equal({
          name: "my-crash",
          source: file,
          description: "two assets",
          paths: {
            ETH: [
              { timestamp: 1700000000, price: 3000 },
              { timestamp: 1700000300, price: 2900, low: 2800 },
              { timestamp: 1700000600, price: 2950 },
            ],
            BTC: [
              { timestamp: 1700000000, price: 60000 },
              { timestamp: 1700000600, price: 59000 },
              { timestamp: 1700000900, price: 58000 },
            ],
          },
          events: [
            { kind: "oracleOutage", asset: "ETH", from: 1700000000, to: 1700000600 },
            { kind: "sequencerDown", from: 1700000300, to: 1700000900 },
            { kind: "twapManipulation", asset: "BTC", at: 1700000900, move: -0.25 },
          ],
        });
        expect(mergedTimeline(s)).to.deep.equal([1700000000, 1700000300, 1700000600, 1700000900]);
      });

      it("defaults the name to the file name and the description to the path", function () {
        const file = writeJson("plain.json", { assets: { ETH: { points: ETH_POINTS } } });
        const s = loadScenario(file);
        expect([s.name, s.description, s.events]).to.deep.equal(["plain", `scenario from ${file}`, []]);
      });

      const eth = { ETH: { points: ETH_POINTS } };
      const cases: [string, unknown, string][] = [
        ["a top level that is not an object", [], ": must be a JSON object"],
        [
          "an unknown top-level key",
          { assets: eth, asset: "ETH" },
          ': unknown key "asset" (allowed: name, description, assets, events)',
        ],
        ["a missing assets object", {}, ': "assets": must be a JSON object'],
        ["no assets", { assets: {} }, ': "assets" must name at least one asset'],
        [
          "an unknown asset",
          { assets: { DOGE: { points: ETH_POINTS } } },
          ': assets: unknown asset "DOGE" (known: ETH, BTC)',
        ],
        [
          "both csv and points",
          { assets: { ETH: { csv: "a.csv", points: ETH_POINTS } } },
          ': assets.ETH: needs exactly one of "csv" or "points"',
        ],
        ["neither csv nor points", { assets: { ETH: {} } }, ': assets.ETH: needs exactly one of "csv" or "points"'],
        [
          "an unknown key in an asset",
          { assets: { ETH: { points: ETH_POINTS, low: 1 } } },
          ': assets.ETH: unknown key "low" (allowed: csv, points)',
        ],
        [
          "a point that is not a pair or triple",
          { assets: { ETH: { points: [[1, 2], [3]] } } },
          ": assets.ETH.points[1]: must be [timestamp, price] or [timestamp, price, low] (finite numbers)",
        ],
        [
          "a point with a string",
          {
            assets: {
              ETH: {
                points: [
                  [1, 2],
                  [3, "4"],
                ],
              },
            },
          },
          ": assets.ETH.points[1]: must be [timestamp, price] or [timestamp, price, low] (finite numbers)",
        ],
        [
          "points going back in time",
          {
            assets: {
              ETH: {
                points: [
                  [1700000300, 2],
                  [1700000000, 2],
                ],
              },
            },
          },
          ": assets.ETH.points[1]: timestamp 1700000000 is not after the previous row's 1700000300",
        ],
        [
          "a low above the price",
          {
            assets: {
              ETH: {
                points: [
                  [1, 2, 3],
                  [2, 2],
                ],
              },
            },
          },
          ": assets.ETH.points[0]: low 3 is above the price 2",
        ],
        [
          "a single point",
          { assets: { ETH: { points: [[1, 2]] } } },
          ": assets.ETH.points: needs at least 2 rows, found 1",
        ],
        ["a bad name", { name: "a b", assets: eth }, ': "name": must be letters, digits, ".", "_" or "-", found "a b"'],
        ["events that are not an array", { assets: eth, events: {} }, ': "events": must be a JSON array'],
        [
          "an unknown event kind",
          { assets: eth, events: [{ kind: "flashCrash" }] },
          ': events[0]: unknown event kind "flashCrash" (known: oracleOutage, sequencerDown, twapManipulation)',
        ],
        [
          "a missing event field",
          { assets: eth, events: [{ kind: "oracleOutage", asset: "ETH", from: 1700000000 }] },
          ': events[0]: oracleOutage needs "to"',
        ],
        [
          "an event field of another kind",
          { assets: eth, events: [{ kind: "sequencerDown", asset: "ETH", from: 1700000000, to: 1700000300 }] },
          ': events[0]: unknown key "asset" (allowed: kind, from, to)',
        ],
        [
          "from not before to",
          { assets: eth, events: [{ kind: "sequencerDown", from: 1700000300, to: 1700000300 }] },
          ': events[0]: "from" 1700000300 must be before "to" 1700000300',
        ],
        [
          "a fractional time",
          { assets: eth, events: [{ kind: "sequencerDown", from: 1700000000.5, to: 1700000300 }] },
          ': events[0]: "from": must be unix seconds (a positive integer), found 1700000000.5',
        ],
        [
          "an outage past the path's end",
          { assets: eth, events: [{ kind: "oracleOutage", asset: "ETH", from: 1700000300, to: 1700000900 }] },
          ": events[0]: 1700000300..1700000900 is outside the ETH path's span 1700000000..1700000600",
        ],
        [
          "a sequencer outage before the start",
          { assets: eth, events: [{ kind: "sequencerDown", from: 1699999999, to: 1700000300 }] },
          ": events[0]: 1699999999..1700000300 is outside the scenario's span 1700000000..1700000600",
        ],
        [
          "a manipulation outside the path",
          { assets: eth, events: [{ kind: "twapManipulation", asset: "ETH", at: 1700000601, move: 0.1 }] },
          ": events[0]: 1700000601 is outside the ETH path's span 1700000000..1700000600",
        ],
        [
          "an event on an asset without a path",
          { assets: eth, events: [{ kind: "oracleOutage", asset: "BTC", from: 1700000000, to: 1700000300 }] },
          ": events[0]: asset BTC has no price path in this scenario",
        ],
        [
          "an event on an unknown asset",
          { assets: eth, events: [{ kind: "oracleOutage", asset: "eth", from: 1700000000, to: 1700000300 }] },
          ': events[0]: unknown asset "eth" (known: ETH, BTC)',
        ],
        ...[0, -0.99, 10, "0.1"].map((move): [string, unknown, string] => [
          `a move of ${JSON.stringify(move)}`,
          { assets: eth, events: [{ kind: "twapManipulation", asset: "ETH", at: 1700000300, move }] },
          `: events[0]: "move" must be a non-zero number in (-0.99, 10), found ${JSON.stringify(move)}`,
        ]),
      ];
      for (const [what, json, message] of cases) {
        it(`rejects ${what}`, function () {
          const file = writeJson("bad.json", json);
          expect(errorOf(() => loadScenario(file))).to.equal(`${file}${message}`);
        });
      }

      it("rejects invalid JSON with the parser's reason", function () {
        const file = write("broken.json", '{"assets": ');
        let reason = "";
        try {
          JSON.parse('{"assets": ');
        } catch (error) {
          reason = (error as Error).message;
        }
        expect(errorOf(() => loadScenario(file))).to.equal(`${file}: invalid JSON: ${reason}`);
      });

      it("names a linked CSV that is missing or broken by its path next to the JSON file", function () {
        const missing = writeJson("missing-link.json", { assets: { ETH: { csv: "nope.csv" } } });
        expect(errorOf(() => loadScenario(missing))).to.equal(
          `${missing}: assets.ETH.csv: file not found: ${path.join(dir, "nope.csv")}`,
        );
        write("broken.csv", "timestamp,price\n1,2\n1,3\n");
        const broken = writeJson("broken-link.json", { assets: { ETH: { csv: "broken.csv" } } });
        expect(errorOf(() => loadScenario(broken))).to.equal(
          `${path.join(dir, "broken.csv")} line 3: timestamp 1 is not after the previous row's 1`,
        );
      });
    });
  });
});
