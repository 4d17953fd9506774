// The gateway's public checkout endpoints, reached through the checkout server (same origin, /api/...).

export interface Order {
  id: string;
  amount: number;
  currency: string;
  status: string;
}

export interface Payment {
  id: string;
  order_id: string;
  amount: number;
  currency: string;
  method: string;
  status: "pending" | "success" | "failed";
  error_code?: string | null;
  error_description?: string | null;
  signature?: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

async function call<T>(path: string, init?: RequestInit): Promise<T> {
  let r: Response;
  try {
    r = await fetch(path, { ...init, headers: { Accept: "application/json", ...(init?.headers ?? {}) } });
  } catch {
    throw new ApiError(0, "NETWORK_ERROR", "We could not reach the payment server. Check your connection and retry.");
  }
  const body = await r.json().catch(() => null);
  if (!r.ok) {
    const e = body?.error ?? {};
    throw new ApiError(r.status, e.code ?? "ERROR", e.description ?? `The server answered ${r.status}`, e.field);
  }
  return body as T;
}

export const getOrder = (id: string) => call<Order>(`/api/v1/orders/${encodeURIComponent(id)}/public`);

export const getPayment = (id: string) => call<Payment>(`/api/v1/payments/${encodeURIComponent(id)}/public`);

export function createPayment(body: object, idempotencyKey: string): Promise<Payment> {
  return call<Payment>("/api/v1/payments/public", {
    method: "POST",
    headers: { "Content-Type": "application/json", "Idempotency-Key": idempotencyKey },
    body: JSON.stringify(body),
  });
}

/** Follow a payment until it is final: server-sent events, or polling every 2 s when they are unavailable. */
export function follow(id: string, onFinal: (p: Payment) => void): () => void {
  let stopped = false;
  let source: EventSource | null = null;
  let timer = 0;
  let polling = false;
  let reopen = 0;
  const finish = (p: Payment) => {
    if (stopped || p.status === "pending") return;
    stop();
    onFinal(p);
  };
  const poll = () => {
    polling = true;
    if (stopped) return;
    getPayment(id)
      .then(finish, () => undefined)
      .finally(() => {
        if (!stopped) timer = window.setTimeout(poll, 2000);
      });
  };
  const stop = () => {
    stopped = true;
    source?.close();
    window.clearTimeout(timer);
    window.clearTimeout(reopen);
  };
  if (typeof EventSource === "function") {
    source = new EventSource(`/api/v1/payments/${encodeURIComponent(id)}/public/events`);
    source.addEventListener("payment", (e) => finish(JSON.parse((e as MessageEvent<string>).data) as Payment));
    source.onopen = () => window.clearTimeout(reopen);
    // The server ends each stream after a while and the browser reconnects at once; a stream that is refused,
    // or does not come back within 2 s, leaves the page polling every 2 s instead.
    source.onerror = () => {
      if (stopped || polling || !source) return;
      if (source.readyState === EventSource.CLOSED) {
        source = null;
        poll();
        return;
      }
      window.clearTimeout(reopen);
      reopen = window.setTimeout(() => {
        if (!polling && !stopped) poll();
      }, 2000);
    };
  } else {
    poll();
  }
  return stop;
}
