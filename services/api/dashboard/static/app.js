// The dashboard: wires the key form, the asOf picker, the figures and the stream.

import { ApiError, apiKey, follow, getJson } from "./api.js";
import { trendChart } from "./chart.js";
import { byId, el } from "./dom.js";

// position: the newest the stream announced; every read waits for it (minPosition).
const state = { asOf: "", currency: "", query: "", position: "", stop: null };

// "1234567.89" -> "1,234,567.89": digits grouped as text, never through a float.
export function grouped(amount) {
  const [whole, fraction] = amount.split(".");
  const sign = whole.startsWith("-") ? "-" : "";
  const digits = whole.replace("-", "").replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return sign + digits + (fraction === undefined ? "" : `.${fraction}`);
}

const amount = (value) => el("span", { class: "amount", text: grouped(value) });
// In tables, where rows of several currencies could meet, the code goes with it.
const money = (value, currency) => el("span", { class: "money" }, amount(value), " ", el("span", { class: "code", text: currency }));
const plural = (count, word) => `${count} ${word}${count === 1 ? "" : "s"}`;

function utcToday() {
  return new Date().toISOString().slice(0, 10);
}

function showError(error) {
  const box = byId("error");
  if (error instanceof ApiError && error.status === 401) {
    apiKey.forget();
    signedOut("That key was not accepted.");
    return;
  }
  box.textContent = error ? `Could not load the figures: ${error.message}` : "";
  box.hidden = !error;
}

function reflects({ position, eventTime }) {
  byId("position").textContent = position || "nothing applied yet";
  const eventTimeEl = byId("event-time");
  eventTimeEl.textContent = eventTime ? new Date(eventTime).toISOString().replace(".000Z", "Z") : "—";
  if (eventTime) eventTimeEl.dateTime = eventTime;
  const now = new Date();
  byId("fetched").textContent = now.toLocaleTimeString();
  byId("fetched").dateTime = now.toISOString();
}

function figure(name, label, value, detail) {
  return el("div", { class: "figure" },
    el("dt", { text: label }),
    el("dd", { dataset: { figure: name } }, amount(value)),
    detail ? el("dd", { class: "detail", text: detail }) : null,
  );
}

function card(s) {
  return el("article", { class: "card", dataset: { currency: s.currency }, "aria-labelledby": `card-${s.currency}` },
    el("h3", { id: `card-${s.currency}` }, s.currency, " ", el("span", { class: "symbol", text: s.currencySymbol })),
    el("dl", {},
      figure("receivable", "Receivable", s.receivable.balance, plural(s.receivable.count, "invoice")),
      figure("overdue", "Overdue", s.overdue.balance, plural(s.overdue.count, "invoice")),
      figure("collected", "Collected", s.collected),
      figure("revenue", "Revenue", s.revenue),
    ),
  );
}

function aging(s) {
  const largest = Math.max(0, ...s.overdue.aging.map((b) => Number(b.amount)));
  return el("div", { class: "aging-currency", dataset: { currency: s.currency } },
    el("h3", { text: s.currency }),
    el("ul", {}, ...s.overdue.aging.map((b) => {
      const bar = el("span", { class: "fill" });
      // Set through the CSSOM: the page's CSP allows no inline style attributes.
      bar.style.width = largest > 0 ? `${(Number(b.amount) / largest) * 100}%` : "0";
      return el("li", { dataset: { bucket: b.bucket } },
        el("span", { class: "bucket", text: `${b.bucket} days` }),
        el("span", { class: "track", "aria-hidden": "true" }, bar),
        el("span", { class: "value" }, amount(b.amount), el("span", { class: "count", text: ` · ${plural(b.count, "invoice")}` })),
      );
    })),
  );
}

function chooseCurrency(currencies) {
  const select = byId("currency");
  if (!currencies.includes(state.currency)) state.currency = currencies[0] || "";
  select.replaceChildren(...currencies.map((c) => el("option", { value: c, selected: c === state.currency, text: c })));
}

async function loadFigures() {
  const answer = await getJson("/v1/summary", { asOf: state.asOf, minPosition: state.position });
  const summaries = answer.body.summaries;
  byId("as-of").value = answer.body.asOf;
  byId("cards").replaceChildren(...summaries.map(card));
  byId("aging").replaceChildren(...summaries.map(aging));
  byId("no-figures").hidden = summaries.length > 0;
  chooseCurrency(summaries.map((s) => s.currency));
  reflects(answer);
  return answer.body.asOf;
}

// The twelve calendar months up to asOf.
async function loadTrend(asOf) {
  const figureEl = byId("trend");
  if (!state.currency) return figureEl.replaceChildren();
  const [year, monthNumber] = asOf.split("-").map(Number);
  const first = new Date(Date.UTC(year, monthNumber - 12, 1)).toISOString().slice(0, 10);
  const answer = await getJson("/v1/summary/series", {
    from: first, to: asOf, interval: "month", currency: state.currency, minPosition: state.position,
  });
  const series = answer.body.series.find((s) => s.currency === state.currency);
  figureEl.replaceChildren(...(series ? trendChart(series.periods, state.currency) : []));
}

async function loadDebtors() {
  const body = byId("debtors").tBodies[0];
  if (!state.currency) return body.replaceChildren();
  const answer = await getJson("/v1/customers", {
    currency: state.currency, sortBy: "overdueBalance", sortOrder: "DESC", limit: 10, asOf: state.asOf,
    minPosition: state.position,
  });
  body.replaceChildren(...answer.body.items.map((c) => el("tr", { dataset: { customer: c.customerId } },
    el("th", { scope: "row" }, c.customerName || c.customerId, c.customerName ? el("span", { class: "id", text: ` ${c.customerId}` }) : null),
    el("td", { class: "num", dataset: { figure: "overdue" } }, money(c.overdue.balance, c.currency)),
    el("td", { class: "num", text: String(c.overdue.oldestDaysPastDue) }),
    el("td", { class: "num", dataset: { figure: "receivable" } }, money(c.receivable.balance, c.currency)),
    el("td", { text: c.lastPaymentDate ? String(c.lastPaymentDate).slice(0, 10) : "—" }),
  )));
}

async function loadInvoices() {
  const body = byId("invoices").tBodies[0];
  if (!state.query) {
    byId("search-count").textContent = "";
    return body.replaceChildren();
  }
  const answer = await getJson("/v1/invoices", { search: state.query, limit: 20, minPosition: state.position });
  const { items, pagination } = answer.body;
  byId("search-count").textContent = `${plural(pagination.totalResultSize, "invoice")} found${pagination.totalResultSize > items.length ? `, the first ${items.length} shown` : ""}.`;
  body.replaceChildren(...items.map((i) => el("tr", { dataset: { invoice: i.id } },
    el("th", { scope: "row", text: i.invoiceNumber }),
    el("td", { text: i.customerName || i.customerId }),
    el("td", { text: `${i.status.toLowerCase()}, ${i.paymentStatus.toLowerCase().replace("_", " ")}` }),
    el("td", { text: i.dueDate }),
    el("td", { class: "num" }, money(i.grossTotal, i.currency)),
    el("td", { class: "num" }, money(i.balance, i.currency)),
  )));
}

// One refresh at a time; changes arriving meanwhile cause one more, not one
// each. The trend and the debtors are read again only when their currency
// changed (a change names its currencies; a refetch or a new stream does not).
let running = null;
let again = null;
async function refresh(currencies = null) {
  const wanted = { all: currencies === null || currencies.includes(state.currency) };
  if (running) {
    again = { all: Boolean(again?.all || wanted.all) };
    return running;
  }
  running = (async () => {
    for (let next = wanted; next; next = again) {
      again = null;
      try {
        const asOf = await loadFigures();
        await Promise.all(next.all ? [loadTrend(asOf), loadDebtors(), loadInvoices()] : [loadInvoices()]);
        showError(null);
      } catch (error) {
        showError(error);
      }
    }
    running = null;
  })();
  return running;
}

function changed(event) {
  if (event.position) state.position = event.position;
  refresh(event.currencies || null);
}

function setLive(liveState) {
  const badge = byId("live");
  badge.dataset.state = liveState;
  badge.textContent = liveState;
}

function signedIn() {
  byId("main").hidden = false;
  byId("forget").hidden = false;
  byId("key").value = "";
  byId("key").placeholder = "key saved for this tab";
  refresh();
  state.stop?.();
  state.stop = follow(changed, setLive);
}

function signedOut(message) {
  state.stop?.();
  state.stop = null;
  byId("main").hidden = true;
  byId("forget").hidden = true;
  byId("key").placeholder = "";
  byId("key-note").textContent = message || "Kept in this browser tab only (session storage).";
  byId("key").focus();
}

byId("key-form").addEventListener("submit", (event) => {
  event.preventDefault();
  apiKey.set(byId("key").value.trim());
  byId("key-note").textContent = "Kept in this browser tab only (session storage).";
  signedIn();
});
byId("forget").addEventListener("click", () => {
  apiKey.forget();
  signedOut();
});
byId("as-of").addEventListener("change", (event) => {
  state.asOf = event.target.value;
  refresh();
});
byId("as-of-today").addEventListener("click", () => {
  state.asOf = "";
  byId("as-of").value = utcToday();
  refresh();
});
byId("currency").addEventListener("change", (event) => {
  state.currency = event.target.value;
  refresh();
});
byId("search-form").addEventListener("submit", (event) => {
  event.preventDefault();
  state.query = byId("search").value.trim();
  refresh();
});

if (apiKey.get()) signedIn();
else signedOut();
