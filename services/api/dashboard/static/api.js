// Calls to the API with the key the person entered, and the live stream.

const KEY = "billing.apiKey";

// The key lives in this tab's session storage only: gone when the tab closes.
export const apiKey = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  forget: () => sessionStorage.removeItem(KEY),
};

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem?.detail || problem?.title || `HTTP ${status}`);
    this.status = status;
  }
}

function authorized(init = {}) {
  return { ...init, headers: { ...init.headers, Authorization: `Bearer ${apiKey.get()}`, Accept: "application/json" } };
}

// GET path?params -> {body, position, eventTime}: the answer and what it reflects.
export async function getJson(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const response = await fetch(url, authorized());
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  return {
    body,
    position: response.headers.get("X-Projection-Position"),
    eventTime: response.headers.get("X-Projection-Event-Time"),
  };
}

// Follows /v1/stream (docs/stream.md): onChange(event) for each `change` or
// `refetch` (their data: {position, currencies?, customers?}), and after a
// connection that may have missed some; onState("live" | "reconnecting").
// EventSource cannot send headers, so a connection opens with a short-lived
// token from POST /v1/stream/tokens (the key never goes into a URL). The
// browser reconnects by itself with Last-Event-ID; once the stream is closed
// for good (e.g. the token expired), a new token opens a new one.
export function follow(onChange, onState) {
  let source = null;
  let stopped = false;
  let opened = false;
  let delay = 500;

  const changed = (event) => onChange(JSON.parse(event.data));

  async function open() {
    if (stopped) return;
    try {
      const response = await fetch("/v1/stream/tokens", authorized({ method: "POST" }));
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
      const { token } = await response.json();
      const url = new URL("/v1/stream", location.origin);
      url.searchParams.set("token", token);
      source = new EventSource(url);
      source.addEventListener("ready", (event) => {
        delay = 500;
        onState("live");
        // A new stream does not resume the last one: whatever changed in between is unknown.
        if (opened) changed(event);
        opened = true;
      });
      source.addEventListener("change", changed);
      source.addEventListener("refetch", changed);
      source.onerror = () => {
        onState("reconnecting");
        if (source.readyState === EventSource.CLOSED) retry();
      };
    } catch {
      onState("reconnecting");
      retry();
    }
  }

  function retry() {
    if (stopped) return;
    setTimeout(open, delay);
    delay = Math.min(delay * 2, 15000);
  }

  open();
  return () => {
    stopped = true;
    source?.close();
  };
}
