import { expect } from "chai";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { formatSummary, ProgressBar, renderHtml, writeReport, type ProgressStream } from "../scripts/lib/stress/report";
import type { Report, StepSample } from "../scripts/lib/stress/types";

// The report writer is pure output: these tests need no chain. Chart coordinates in the expected
// values follow from the layout constants of report.ts: a 720 x 220 chart whose plot spans
// x 80..656 and y 26..192.

const T0 = 1_583_971_200; // 2020-03-12 00:00:00 UTC
const HALF_HOUR = 1_800;

function sample(i: number, overrides: Partial<StepSample> = {}): StepSample {
  return {
    timestamp: T0 + i * HALF_HOUR,
    prices: { ETH: 194 - 10 * i },
    status: { ETH: "Ok" },
    insuranceFund: 1_000_000 - 20_000 * i,
    liquidations: 3 * i,
    badDebt: i > 2 ? 1_500.25 * (i - 2) : 0,
    socializedLoss: i > 3 ? 120 : 0,
    belowMaintenance: i % 3,
    ...overrides,
  };
}

function report(overrides: Partial<Report> = {}): Report {
  return {
    scenario: "black-thursday",
    scenarioSource: "built-in: black-thursday.json",
    description: "ETH falls 43% in a day; Chainlink rounds lag",
    mode: "in-process",
    seed: 42,
    accounts: 200,
    steps: 480,
    liquidations: 37,
    accountsLiquidated: 21,
    maxLiquidationDelaySeconds: 24,
    accountsBelowMaintenanceAtEnd: 0,
    insuranceFundStart: 1_000_000,
    insuranceFundEnd: 912_345.67,
    socializedLoss: 0,
    badDebt: 1_234.56,
    lpSharePriceChange: -0.0012,
    traderLossToLiquidationDiscounts: 45_678.9,
    liquidationFees: 3_210.5,
    gasUsedByLiquidations: 12_345_678,
    wallSeconds: 93.42,
    details: { "ETH peak-to-trough": 0.4312, "bot passes": 1_440, "worst account": "#17" },
    samples: [0, 1, 2, 3, 4].map((i) => sample(i)),
    health: [
      { label: "before", timestamp: T0, bounds: [1, 1.5, 2, 3, 5, 10], counts: [0, 3, 10, 40, 80, 50, 17] },
      {
        label: "worst",
        timestamp: T0 + 3 * HALF_HOUR,
        bounds: [1, 1.5, 2, 3, 5, 10],
        counts: [12, 30, 50, 60, 30, 15, 3],
      },
      {
        label: "after",
        timestamp: T0 + 4 * HALF_HOUR,
        bounds: [1, 1.5, 2, 3, 5, 10],
        counts: [0, 8, 40, 62, 50, 30, 10],
      },
    ],
    ...overrides,
  };
}

/** The first capture group of every match of `pattern` (a global regex) in `text`. */
const captures = (text: string, pattern: RegExp): string[] => Array.from(text.matchAll(pattern), (m) => m[1] ?? "");
const svgs = (html: string) => captures(html, /(<svg[\s\S]*?<\/svg>)/g);
const count = (text: string, needle: string) => text.split(needle).length - 1;

/** The y coordinates of every vertex of every polyline in `svg`. */
function polylineYs(svg: string): number[][] {
  return captures(svg, /<polyline [^>]*points="([^"]*)"/g).map((points) =>
    points.split(" ").map((point) => Number(point.split(",")[1])),
  );
}

/** The y-axis tick labels of `svg`, bottom to top. */
function yTickLabels(svg: string): string[] {
  return captures(svg, /<text x="74" y="[\d.]+" text-anchor="end">([^<]*)<\/text>/g);
}

describe("Stress report", () => {
  describe("writeReport", () => {
    let dir: string;
    beforeEach(() => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "keel-stress-report-"));
    });
    afterEach(() => {
      fs.rmSync(dir, { recursive: true, force: true });
    });

    it("creates the directory and writes report.json and report.html into it", () => {
      const out = path.join(dir, "black-thursday", "run-1");
      const paths = writeReport(out, report());
      expect(paths).to.deep.equal({ json: path.join(out, "report.json"), html: path.join(out, "report.html") });
      expect(fs.readdirSync(out).sort()).to.deep.equal(["report.html", "report.json"]);
      expect(fs.readFileSync(paths.html, "utf8")).to.equal(renderHtml(report()));
    });

    it("writes 2-space JSON that parses back to the report, keys in declared order whatever the input order", () => {
      const input = report();
      const shuffled = Object.fromEntries(Object.entries(input).reverse()) as unknown as Report;
      shuffled.samples = input.samples.map(
        (s) => Object.fromEntries(Object.entries(s).reverse()) as unknown as StepSample,
      );
      const { json } = writeReport(dir, shuffled);
      const text = fs.readFileSync(json, "utf8");
      const parsed = JSON.parse(text);

      expect(parsed).to.deep.equal(input);
      expect(Object.keys(parsed)).to.deep.equal([
        "scenario",
        "scenarioSource",
        "description",
        "mode",
        "seed",
        "accounts",
        "steps",
        "liquidations",
        "accountsLiquidated",
        "maxLiquidationDelaySeconds",
        "accountsBelowMaintenanceAtEnd",
        "insuranceFundStart",
        "insuranceFundEnd",
        "socializedLoss",
        "badDebt",
        "lpSharePriceChange",
        "traderLossToLiquidationDiscounts",
        "liquidationFees",
        "gasUsedByLiquidations",
        "wallSeconds",
        "details",
        "samples",
        "health",
      ]);
      expect(Object.keys(parsed.samples[0])).to.deep.equal([
        "timestamp",
        "prices",
        "status",
        "insuranceFund",
        "liquidations",
        "badDebt",
        "socializedLoss",
        "belowMaintenance",
      ]);
      expect(Object.keys(parsed.health[0])).to.deep.equal(["label", "timestamp", "bounds", "counts"]);
      // Numbers stay JSON numbers, indented by two spaces; the file ends with a newline.
      expect(text.split("\n").slice(0, 6)).to.deep.equal([
        "{",
        '  "scenario": "black-thursday",',
        '  "scenarioSource": "built-in: black-thursday.json",',
        '  "description": "ETH falls 43% in a day; Chainlink rounds lag",',
        '  "mode": "in-process",',
        '  "seed": 42,',
      ]);
      expect(text).to.contain('  "insuranceFundEnd": 912345.67,\n');
      expect(text.endsWith("}\n")).to.be.true;
    });
  });

  describe("renderHtml", () => {
    it("is self-contained: no scripts, links, sources or network addresses", () => {
      const html = renderHtml(report());
      for (const forbidden of ["http://", "https://", "<script", "<link", "src=", "url("]) {
        expect(html, forbidden).not.to.contain(forbidden);
      }
      expect(html.startsWith("<!doctype html>\n")).to.be.true;
    });

    it("draws one SVG per chart: five over the path and one per health histogram", () => {
      expect(svgs(renderHtml(report()))).to.have.length(8);
      expect(count(renderHtml(report()), "<svg")).to.equal(8);
      const noHealth = renderHtml(report({ health: [] }));
      expect(count(noHealth, "<svg")).to.equal(5);
      expect(noHealth).to.contain("<p>No health histograms recorded.</p>");
    });

    it("escapes text from the scenario file", () => {
      const html = renderHtml(
        report({ scenario: `crash "A" & <B>`, description: "<script>alert(1)</script>", details: { "<b>": "'x'" } }),
      );
      expect(html).not.to.contain("<script>");
      expect(html).to.contain("<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>");
      expect(html).to.contain("<title>Stress report: crash &quot;A&quot; &amp; &lt;B&gt;</title>");
      expect(html).to.contain("<tr><th>&lt;b&gt;</th><td>&#39;x&#39;</td></tr>");
    });

    it("lists every key figure with its unit, then the details", () => {
      const html = renderHtml(report());
      const rows = [
        ["Scenario", "black-thursday"],
        ["Source", "built-in: black-thursday.json"],
        ["Mode", "in-process"],
        ["Seed", "42"],
        ["Accounts", "200"],
        ["Steps", "480"],
        ["Liquidations (bids)", "37"],
        ["Accounts liquidated", "21"],
        ["Max liquidation delay", "24 s"],
        ["Accounts below maintenance margin at end", "0"],
        ["Insurance fund at start", "$1,000,000.00"],
        ["Insurance fund at end", "$912,345.67"],
        // The samples fall to $920,000 by the last step; the end is lower still.
        ["Insurance fund max drawdown", "$87,654.33 (8.77%)"],
        ["Socialized loss", "$0.00"],
        ["Bad debt", "$1,234.56"],
        ["LP share price change", "-0.1200%"],
        ["Trader loss to liquidation discounts", "$45,678.90"],
        ["Liquidation fees", "$3,210.50"],
        ["Gas used by liquidations", "12,345,678 gas"],
        ["Wall time", "93.4 s"],
        ["ETH peak-to-trough", "0.4312"],
        ["bot passes", "1,440"],
        ["worst account", "#17"],
      ];
      for (const [name, value] of rows) expect(html).to.contain(`<tr><th>${name}</th><td>${value}</td></tr>`);
      expect(html).to.contain(
        '<p class="meta">mode in-process · seed 42 · 200 accounts · 480 steps · wall time 93.4 s' +
          " · path clock 2020-03-12 00:00 to 2020-03-12 02:00 UTC</p>",
      );
    });

    it("labels the time axis in UTC on round times of the path clock", () => {
      const [prices] = svgs(renderHtml(report()));
      // Two hours of samples: ticks every half hour, x from 80 (00:00) to 656 (02:00).
      expect(captures(prices, /text-anchor="middle">([^<]*)</g)).to.deep.equal([
        "2020-03-12 00:00",
        "2020-03-12 00:30",
        "2020-03-12 01:00",
        "2020-03-12 01:30",
        "2020-03-12 02:00",
      ]);
      expect(prices).to.contain('<text x="224" y="208" text-anchor="middle">2020-03-12 00:30</text>');
    });

    it("plots one asset in USD and two assets each normalised to 100 at start", () => {
      const one = renderHtml(report());
      expect(one).to.contain("<figcaption>ETH price (USD)</figcaption>");
      expect(yTickLabels(svgs(one)[0])).to.deep.equal(["$150", "$160", "$170", "$180", "$190", "$200"]);

      const two = renderHtml(
        report({ samples: [0, 1, 2].map((i) => sample(i, { prices: { ETH: 200 - 40 * i, BTC: 8_000 - 800 * i } })) }),
      );
      expect(two).to.contain("<figcaption>Prices (ETH, BTC), each normalised to 100 at start</figcaption>");
      // ETH 100, 80, 60 and BTC 100, 90, 80 on an axis from 60 to 100: both start at the top.
      const [eth, btc] = polylineYs(svgs(two)[0]);
      expect(eth).to.deep.equal([26, 109, 192]);
      expect(btc).to.deep.equal([26, 67.5, 109]);
      expect(svgs(two)[0]).to.contain('<text x="100" y="16">ETH</text>');
      expect(svgs(two)[0]).to.contain('<text x="146" y="16">BTC</text>');
    });

    it("shades the price chart amber where an oracle was degraded and red where one was down", () => {
      const statuses = ["Ok", "Degraded", "Degraded", "Down", "Ok"];
      const html = renderHtml(report({ samples: statuses.map((ETH, i) => sample(i, { status: { ETH } })) }));
      const [prices] = svgs(html);
      // Degraded from sample 1 (00:30, x 224) to sample 3 (01:30, x 512); down until sample 4 (x 656).
      expect(prices).to.contain('<rect class="band degraded" x="224" y="26" width="288" height="166"/>');
      expect(prices).to.contain('<rect class="band down" x="512" y="26" width="144" height="166"/>');
      expect(count(prices, 'class="band degraded"')).to.equal(2); // the band and its legend swatch
      expect(count(prices, 'class="band down"')).to.equal(2);
      expect(html).to.contain("shaded where an oracle was degraded (amber) or down (red)</figcaption>");
      expect(html).to.match(/\.band\.degraded \{ fill: #f59e0b;/);
      expect(html).to.match(/\.band\.down \{ fill: #dc2626;/);
    });

    it("draws health histograms on one shared scale with labelled buckets", () => {
      const charts = svgs(renderHtml(report())).slice(5);
      // The largest bucket over all three is 80: ticks 0..80 by 20 on each chart.
      for (const chart of charts) expect(yTickLabels(chart)).to.deep.equal(["0", "20", "40", "60", "80"]);
      const labels = captures(charts[0], /y="208" text-anchor="middle">([^<]*)</g);
      expect(labels).to.deep.equal(["&lt; 1", "1-1.5", "1.5-2", "2-3", "3-5", "5-10", "&gt; 10"]);
      expect(renderHtml(report())).to.contain(
        "<figcaption>Health worst (2020-03-12 01:30 UTC): accounts by equity / maintenance margin</figcaption>",
      );
    });

    it("rejects a histogram whose counts do not match its bounds", () => {
      const health = [{ label: "worst", timestamp: T0, bounds: [1, 2], counts: [1, 2] }];
      expect(() => renderHtml(report({ health }))).to.throw(
        'health histogram "worst": 2 counts for 2 bounds (expected 3)',
      );
    });

    describe("edge cases render without NaN, undefined or Infinity", () => {
      const cases: [string, Partial<Report>][] = [
        ["one sample", { samples: [sample(0)] }],
        ["no samples", { samples: [] }],
        [
          "flat values and zero liquidations",
          {
            liquidations: 0,
            accountsLiquidated: 0,
            samples: [0, 1, 2].map((i) =>
              sample(i, { insuranceFund: 5e5, liquidations: 0, badDebt: 0, socializedLoss: 0, belowMaintenance: 0 }),
            ),
          },
        ],
        ["empty health", { health: [] }],
        ["an empty histogram", { health: [{ label: "after", timestamp: T0, bounds: [], counts: [0] }] }],
        ["two assets", { samples: [0, 1].map((i) => sample(i, { prices: { ETH: 2_000, BTC: 60_000 } })) }],
        ["an empty pool's ratio", { lpSharePriceChange: NaN, details: {} }],
      ];
      for (const [name, overrides] of cases) {
        it(name, () => {
          const html = renderHtml(report(overrides));
          for (const bad of ["NaN", "undefined", "Infinity"]) expect(html, bad).not.to.contain(bad);
        });
      }

      it("draws a flat series as a level line and a lone sample as a dot", () => {
        const flat = renderHtml(report({ samples: [0, 1, 2].map((i) => sample(i, { insuranceFund: 5e5 })) }));
        // $500,000 padded by 5% either way: ticks $460,000..$540,000, the line in the middle.
        expect(polylineYs(svgs(flat)[1])).to.deep.equal([[109, 109, 109]]);
        // Float noise (1e-9 on $500,000) counts as flat, not as a range to spread over the chart.
        const noisy = renderHtml(report({ samples: [0, 1].map((i) => sample(i, { insuranceFund: 5e5 + i * 1e-9 })) }));
        expect(polylineYs(svgs(noisy)[1])).to.deep.equal([[109, 109]]);
        expect(yTickLabels(svgs(noisy)[1])).to.deep.equal(["$460,000", "$480,000", "$500,000", "$520,000", "$540,000"]);
        const lone = renderHtml(report({ samples: [sample(0)] }));
        expect(svgs(lone)[1]).to.contain('<circle cx="368" cy="109" r="3" fill="#2563eb"/>');
        expect(svgs(lone)[1]).to.contain('<text x="368" y="208" text-anchor="middle">2020-03-12 00:00</text>');
        const none = renderHtml(report({ samples: [] }));
        expect(count(none, '<text x="360" y="110" text-anchor="middle">No samples</text>')).to.equal(5);
      });
    });
  });

  describe("formatSummary", () => {
    it("prints an aligned plain-text table of the run and the report paths", () => {
      const text = formatSummary(report(), {
        json: "stress/black-thursday/report.json",
        html: "stress/black-thursday/report.html",
      });
      expect(text).to.equal(
        [
          "Scenario         black-thursday (in-process, seed 42)",
          "Run              200 accounts, 480 steps",
          "Liquidations     37 bids on 21 accounts, max delay 24 s",
          "Below MM at end  0 accounts",
          "Insurance fund   $1,000,000.00 -> $912,345.67 (max drawdown $87,654.33, 8.77%)",
          "Socialized loss  $0.00",
          "Bad debt         $1,234.56",
          "LP share price   -0.1200%",
          "Trader loss      $45,678.90 to liquidation discounts",
          "Liquidation gas  12,345,678",
          "Wall time        93.4 s",
          "Report           stress/black-thursday/report.json",
          "                 stress/black-thursday/report.html",
        ].join("\n"),
      );
    });

    it("uses singulars, signs a gain and measures the drawdown from the fund's peak", () => {
      const samples = [
        sample(0, { insuranceFund: 100 }),
        sample(1, { insuranceFund: 150 }),
        sample(2, { insuranceFund: 90 }),
      ];
      const lines = formatSummary(
        report({
          accounts: 1,
          steps: 1,
          liquidations: 1,
          accountsLiquidated: 1,
          accountsBelowMaintenanceAtEnd: 1,
          insuranceFundStart: 100,
          insuranceFundEnd: 120,
          lpSharePriceChange: 0.000_05,
          samples,
        }),
        { json: "a.json", html: "a.html" },
      ).split("\n");
      expect(lines.slice(1, 5)).to.deep.equal([
        "Run              1 account, 1 step",
        "Liquidations     1 bid on 1 account, max delay 24 s",
        "Below MM at end  1 account",
        // Peak $150 at step 1, trough $90 at step 2: $60, 40% of the peak.
        "Insurance fund   $100.00 -> $120.00 (max drawdown $60.00, 40.00%)",
      ]);
      expect(lines[7]).to.equal("LP share price   +0.0050%");
    });
  });

  describe("ProgressBar", () => {
    function fakeStream(isTTY: boolean): ProgressStream & { output: string } {
      return {
        isTTY,
        output: "",
        write(chunk: string) {
          this.output += chunk;
          return true;
        },
      };
    }

    it("prints a plain line at each 10% boundary when not a TTY", () => {
      const stream = fakeStream(false);
      let ms = 0;
      const bar = new ProgressBar(20, "replay", stream, () => ms);
      for (let i = 1; i <= 20; i++) {
        ms += 250;
        bar.tick(1, `${Math.floor(i / 4)} liquidations`);
      }
      bar.done();
      expect(stream.output).to.equal(
        [
          "replay [###---------------------------]  10% step 2/20 0.5s 0 liquidations",
          "replay [######------------------------]  20% step 4/20 1.0s 1 liquidations",
          "replay [#########---------------------]  30% step 6/20 1.5s 1 liquidations",
          "replay [############------------------]  40% step 8/20 2.0s 2 liquidations",
          "replay [###############---------------]  50% step 10/20 2.5s 2 liquidations",
          "replay [##################------------]  60% step 12/20 3.0s 3 liquidations",
          "replay [#####################---------]  70% step 14/20 3.5s 3 liquidations",
          "replay [########################------]  80% step 16/20 4.0s 4 liquidations",
          "replay [###########################---]  90% step 18/20 4.5s 4 liquidations",
          "replay [##############################] 100% step 20/20 5.0s 5 liquidations",
          "",
        ].join("\n"),
      );
    });

    it("prints one line for a jump across several boundaries, and the final state on done()", () => {
      const stream = fakeStream(false);
      const bar = new ProgressBar(20, "replay", stream, () => 0);
      bar.tick(7); // 0% -> 35%: crosses 10, 20 and 30
      bar.tick(1); // 40%
      bar.tick(1); // 45%: no boundary
      bar.done();
      expect(stream.output).to.equal(
        "replay [##########--------------------]  35% step 7/20 0.0s\n" +
          "replay [############------------------]  40% step 8/20 0.0s\n" +
          "replay [#############-----------------]  45% step 9/20 0.0s\n",
      );
    });

    it("redraws one line in place on a TTY and ends it with a newline", () => {
      const stream = fakeStream(true);
      const bar = new ProgressBar(4, "replay", stream, () => 0);
      bar.tick(1, "12 liquidations");
      bar.tick(3, "1 liquidation");
      bar.done();
      expect(stream.output).to.equal(
        "\rreplay [#######-----------------------]  25% step 1/4 0.0s 12 liquidations" +
          // Two spaces blank out the tail of the longer line before it.
          "\rreplay [##############################] 100% step 4/4 0.0s 1 liquidation  " +
          "\rreplay [##############################] 100% step 4/4 0.0s 1 liquidation" +
          "\n",
      );
      expect(stream.output.endsWith("\n")).to.be.true;
      expect(count(stream.output, "\n")).to.equal(1);
    });

    it("does not throw on an empty run", () => {
      const stream = fakeStream(false);
      const bar = new ProgressBar(0, "replay", stream, () => 0);
      bar.done();
      expect(stream.output).to.equal("replay [##############################] 100% step 0/0 0.0s\n");
      const tty = fakeStream(true);
      new ProgressBar(0, "replay", tty, () => 0).done();
      expect(tty.output).to.equal("\rreplay [##############################] 100% step 0/0 0.0s\n");
    });
  });
});
