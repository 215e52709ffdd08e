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

// Follows /v1/stream: onChange(change) per event, onState("live" | "reconnecting").
// EventSource cannot send headers, so each connection opens with a short-lived
// token from POST /v1/stream/tokens (the key never goes into a URL); a dropped
// stream gets a new token and resumes after the last event it saw.
export function follow(onChange, onState) {
  let source = null;
  let lastEventId = "";
  let stopped = false;
  let delay = 500;

  async function open() {
    if (stopped) return;
    try {
      const response = await fetch("/v1/stream/tokens", authorized({ method: "POST" }));
      if (!response.ok) throw new ApiError(response.status, await response.json().catch(() => null));
      const { token } = await response.json();
      const url = new URL("/v1/stream", location.origin);
      url.searchParams.set("token", token);
      if (lastEventId) url.searchParams.set("lastEventId", lastEventId);
      source = new EventSource(url);
      source.onopen = () => {
        delay = 500;
        onState("live");
      };
      const changed = (event) => {
        lastEventId = event.lastEventId || lastEventId;
        onChange(event.data ? JSON.parse(event.data) : {});
      };
      source.onmessage = changed;
      source.addEventListener("change", changed);
      // Fell too far behind: the server asks for a full refetch.
      source.addEventListener("refetch", changed);
      source.onerror = () => {
        source.close();
        retry();
      };
    } catch {
      retry();
    }
  }

  function retry() {
    if (stopped) return;
    onState("reconnecting");
    setTimeout(open, delay);
    delay = Math.min(delay * 2, 15000);
  }

  open();
  return () => {
    stopped = true;
    source?.close();
  };
}
