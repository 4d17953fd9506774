// The one API client: same-origin calls (the dashboard server passes /api to the API), the session cookie
// sent by the browser, the CSRF token (kept in memory only, never in storage) on every state-changing call,
// and one place that turns a 401 into "signed out".

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    description: string,
  ) {
    super(description);
  }
}

let csrfToken: string | null = null;
let onSignedOut: () => void = () => {};

export function setCsrfToken(token: string | null): void {
  csrfToken = token;
}

export function onUnauthorized(handler: () => void): void {
  onSignedOut = handler;
}

type Options = { method?: string; body?: unknown; headers?: Record<string, string> };

export async function api<T>(path: string, options: Options = {}): Promise<T> {
  const method = options.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json", ...options.headers };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  let data: unknown = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const error = (data as { error?: { code?: string; description?: string } } | null)?.error;
    if (response.status === 401 && !path.endsWith("/dashboard/login")) onSignedOut();
    throw new ApiError(response.status, error?.code ?? "ERROR", error?.description ?? `HTTP ${response.status}`);
  }
  return data as T;
}

export function newIdempotencyKey(): string {
  return crypto.randomUUID();
}
