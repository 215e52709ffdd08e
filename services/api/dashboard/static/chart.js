// The 12-month trend as inline SVG: invoiced and collected as bars, the
// closing receivable as a line; the same figures in a table for screen readers.

import { el, svg } from "./dom.js";

const WIDTH = 720;
const HEIGHT = 260;
const PAD = { top: 12, right: 12, bottom: 28, left: 64 };
const SERIES = [
  { key: "invoiced", label: "Invoiced", kind: "bar" },
  { key: "collected", label: "Collected", kind: "bar" },
  { key: "closing", label: "Closing receivable", kind: "line" },
];

// A period's three figures as the API states them (exact decimal strings).
export function figures(period) {
  return {
    invoiced: period.invoiced.grossTotal,
    collected: period.collected,
    closing: period.closing.receivable.balance,
  };
}

function month(start) {
  const [year, monthNumber] = start.split("-").map(Number);
  return new Date(Date.UTC(year, monthNumber - 1, 1)).toLocaleString("en", { month: "short", timeZone: "UTC" });
}

// 0, and three round steps up to at least the largest value.
function ticks(max) {
  if (max <= 0) return [0, 1];
  const rough = max / 3;
  const magnitude = 10 ** Math.floor(Math.log10(rough));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= rough);
  return [0, step, 2 * step, 3 * step];
}

const short = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

export function trendChart(periods, currency) {
  const rows = periods.map((period) => ({ label: month(period.start), start: period.start, ...figures(period) }));
  const max = Math.max(0, ...rows.flatMap((row) => SERIES.map((s) => Number(row[s.key]))));
  const scale = ticks(max);
  const top = scale[scale.length - 1];
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const y = (value) => PAD.top + plotH - (Number(value) / top) * plotH;
  const slot = plotW / Math.max(rows.length, 1);
  const barW = Math.max(2, slot * 0.32);

  const grid = scale.map((value) =>
    svg("g", { class: "tick" },
      svg("line", { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(value), y2: y(value) }),
      svg("text", { x: PAD.left - 6, y: y(value) + 4, "text-anchor": "end", text: short.format(value) }),
    ),
  );
  const bars = rows.flatMap((row, i) => {
    const x = PAD.left + i * slot + slot / 2;
    return [
      svg("rect", { class: "invoiced", x: x - barW, y: y(row.invoiced), width: barW, height: PAD.top + plotH - y(row.invoiced) }),
      svg("rect", { class: "collected", x, y: y(row.collected), width: barW, height: PAD.top + plotH - y(row.collected) }),
      svg("text", { class: "label", x, y: HEIGHT - 8, "text-anchor": "middle", text: row.label }),
    ];
  });
  const points = rows.map((row, i) => `${PAD.left + i * slot + slot / 2},${y(row.closing)}`).join(" ");

  const titleId = `trend-${currency}`;
  const picture = svg("svg", { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-labelledby": titleId },
    svg("title", { id: titleId, text: `${currency}: invoiced, collected and closing receivable per month` }),
    ...grid, ...bars,
    svg("polyline", { class: "closing", points }),
    ...rows.map((row, i) => svg("circle", { class: "closing", cx: PAD.left + i * slot + slot / 2, cy: y(row.closing), r: 3 })),
  );
  const legend = el("ul", { class: "legend" },
    ...SERIES.map((s) => el("li", { class: s.key }, el("span", { class: `swatch ${s.kind}`, "aria-hidden": "true" }), s.label)),
  );
  const table = el("details", {},
    el("summary", { text: "The figures as a table" }),
    el("table", {},
      el("thead", {}, el("tr", {}, el("th", { scope: "col", text: "Month" }),
        ...SERIES.map((s) => el("th", { scope: "col", class: "num", text: `${s.label} (${currency})` })))),
      el("tbody", {}, ...rows.map((row) => el("tr", {},
        el("th", { scope: "row", text: row.start.slice(0, 7) }),
        ...SERIES.map((s) => el("td", { class: "num", text: row[s.key] }))))),
    ),
  );
  return [picture, legend, table];
}
