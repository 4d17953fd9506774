// The checkout page: one order, UPI or card, then processing, success or error (with retry) on one page.
// Inside the SDK's iframe (&embedded=true) it reports to the merchant's page by postMessage, to the origin
// learnt from the SDK's handshake only, never to "*".
import { ApiError, createPayment, follow, getOrder, type Order, type Payment } from "./api";
import {
  cardDigits,
  cardNetwork,
  checkCardNumber,
  checkCvv,
  checkExpiry,
  checkHolder,
  checkVpa,
  parseExpiry,
} from "./validate";

type Method = "upi" | "card";

const byTestId = <T extends HTMLElement = HTMLElement>(id: string, root: ParentNode = document): T =>
  root.querySelector<T>(`[data-test-id="${id}"]`) as T;
const byId = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

const ui = {
  amount: byTestId("order-amount"),
  orderId: byTestId("order-id"),
  notice: byId("notice"),
  methods: byTestId("payment-methods"),
  methodButtons: Array.from(document.querySelectorAll<HTMLButtonElement>("button[data-method]")),
  forms: { upi: byTestId<HTMLFormElement>("upi-form"), card: byTestId<HTMLFormElement>("card-form") },
  vpa: byTestId<HTMLInputElement>("vpa-input"),
  number: byTestId<HTMLInputElement>("card-number-input"),
  network: byId("card-network"),
  expiry: byTestId<HTMLInputElement>("expiry-input"),
  cvv: byTestId<HTMLInputElement>("cvv-input"),
  holder: byTestId<HTMLInputElement>("cardholder-name-input"),
  processing: byTestId("processing-state"),
  success: byTestId("success-state"),
  paymentId: byTestId("payment-id"),
  error: byTestId("error-state"),
  errorMessage: byTestId("error-message"),
  retry: byTestId<HTMLButtonElement>("retry-button"),
};

const params = new URLSearchParams(location.search);
const orderId = (params.get("order_id") ?? "").trim();
const embedded = params.get("embedded") === "true" && window.parent !== window;
if (embedded) document.documentElement.classList.add("embedded");

// ------------------------------------------------------------------ talking to the SDK

let parentOrigin: string | null = null;
let nonce = "";
const outbox: Array<[string, object]> = [];

/** Post to the merchant's page, once the handshake told us its origin (queued until then). */
function post(type: string, data: object): void {
  if (!embedded) return;
  if (parentOrigin === null) {
    outbox.push([type, data]);
    return;
  }
  window.parent.postMessage({ type, data, nonce }, parentOrigin);
}

if (embedded) {
  window.addEventListener("message", (event: MessageEvent) => {
    const m = event.data as { type?: unknown; nonce?: unknown } | null;
    // Only the first handshake, only from the window that framed us, only from a real origin.
    if (parentOrigin !== null || event.source !== window.parent || event.origin === "null") return;
    if (!m || m.type !== "payment_gateway_init" || typeof m.nonce !== "string") return;
    parentOrigin = event.origin;
    nonce = m.nonce;
    post("ready", {});
    for (const [type, data] of outbox.splice(0)) post(type, data);
  });
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape") post("close_modal", {});
  });
}

// ------------------------------------------------------------------ states

let order: Order | null = null;
let method: Method | null = null;

function formatAmount(amount: number, currency: string): string {
  try {
    return new Intl.NumberFormat("en-IN", { style: "currency", currency }).format(amount / 100);
  } catch {
    return `${currency} ${(amount / 100).toFixed(2)}`;
  }
}

function show(state: "choose" | "processing" | "success" | "error" | "notice"): void {
  ui.methods.hidden = state !== "choose";
  ui.forms.upi.hidden = !(state === "choose" && method === "upi");
  ui.forms.card.hidden = !(state === "choose" && method === "card");
  ui.processing.hidden = state !== "processing";
  ui.success.hidden = state !== "success";
  ui.error.hidden = state !== "error";
  ui.notice.hidden = state !== "notice";
}

function notice(text: string): void {
  ui.notice.textContent = text;
  show("notice");
}

function choose(m: Method): void {
  method = m;
  for (const b of ui.methodButtons) b.setAttribute("aria-pressed", String(b.dataset.method === m));
  show("choose");
  (m === "upi" ? ui.vpa : ui.number).focus();
}

// ------------------------------------------------------------------ field errors

function setError(input: HTMLInputElement, message: string | null): boolean {
  const box = byId(input.getAttribute("aria-describedby") ?? "");
  box.textContent = message ?? "";
  if (message) input.setAttribute("aria-invalid", "true");
  else input.removeAttribute("aria-invalid");
  return message === null;
}

function validate(m: Method): boolean {
  const checks: Array<[HTMLInputElement, string | null]> =
    m === "upi"
      ? [[ui.vpa, checkVpa(ui.vpa.value)]]
      : [
          [ui.number, checkCardNumber(ui.number.value)],
          [ui.expiry, checkExpiry(ui.expiry.value)],
          [ui.cvv, checkCvv(ui.cvv.value, cardNetwork(cardDigits(ui.number.value)))],
          [ui.holder, checkHolder(ui.holder.value)],
        ];
  const bad = checks.filter(([input, message]) => !setError(input, message));
  bad[0]?.[0].focus();
  return bad.length === 0;
}

/** The input a server error names (``field`` such as ``card.cvv``, or the error code), if any. */
function inputFor(e: ApiError): HTMLInputElement | null {
  const field = e.field ?? "";
  if (e.code === "INVALID_VPA" || field === "vpa") return ui.vpa;
  if (e.code === "EXPIRED_CARD" || field.startsWith("card.expiry")) return ui.expiry;
  if (field === "card.cvv") return ui.cvv;
  if (field === "card.holder_name") return ui.holder;
  if (e.code === "INVALID_CARD" || field.startsWith("card")) return ui.number;
  return null;
}

function showNetwork(): void {
  const digits = cardDigits(ui.number.value);
  const network = digits ? cardNetwork(digits) : "unknown";
  const names = { visa: "Visa", mastercard: "Mastercard", amex: "American Express", rupay: "RuPay", unknown: "" };
  ui.network.textContent = names[network];
  ui.network.hidden = network === "unknown";
  ui.cvv.maxLength = network === "amex" || network === "unknown" ? 4 : 3;
}

// ------------------------------------------------------------------ paying

let inFlight = false;
/** One key per attempt: a double click, or a resend of the same attempt, creates one payment. */
let attemptKey: string | null = null;

function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

function body(m: Method): object {
  if (m === "upi") return { order_id: orderId, method: "upi", vpa: ui.vpa.value.trim() };
  const [month, year] = parseExpiry(ui.expiry.value) ?? [0, 0];
  return {
    order_id: orderId,
    method: "card",
    card: {
      number: cardDigits(ui.number.value),
      expiry_month: String(month).padStart(2, "0"),
      expiry_year: String(year),
      cvv: ui.cvv.value,
      holder_name: ui.holder.value.trim(),
    },
  };
}

async function pay(m: Method): Promise<void> {
  if (inFlight || !validate(m)) return;
  inFlight = true;
  attemptKey ??= newKey();
  show("processing");
  try {
    const created = await createPayment(body(m), attemptKey);
    follow(created.id, settled);
  } catch (err) {
    inFlight = false;
    const e = err instanceof ApiError ? err : new ApiError(0, "ERROR", String(err));
    const input = inputFor(e);
    if (input) {
      attemptKey = null; // the details must change before the next attempt
      show("choose");
      setError(input, e.message);
      input.focus();
    } else {
      failed(e.message);
    }
  }
}

function settled(p: Payment): void {
  inFlight = false;
  attemptKey = null;
  if (p.status === "success") {
    ui.paymentId.textContent = p.id;
    show("success");
    ui.success.focus();
    post("payment_success", { paymentId: p.id, orderId: p.order_id, signature: p.signature });
  } else {
    const description = p.error_description ?? "The payment could not be completed.";
    failed(description);
    post("payment_failed", {
      paymentId: p.id,
      orderId: p.order_id,
      error: { code: p.error_code ?? "PAYMENT_FAILED", description },
    });
  }
}

function failed(message: string): void {
  ui.errorMessage.textContent = message;
  show("error");
  ui.retry.focus();
}

// ------------------------------------------------------------------ start

for (const b of ui.methodButtons) b.addEventListener("click", () => choose(b.dataset.method as Method));
for (const m of ["upi", "card"] as const) {
  ui.forms[m].addEventListener("submit", (e) => {
    e.preventDefault();
    void pay(m);
  });
}
for (const input of [ui.vpa, ui.number, ui.expiry, ui.cvv, ui.holder]) {
  input.addEventListener("input", () => setError(input, null));
}
ui.number.addEventListener("input", showNetwork);
ui.retry.addEventListener("click", () => choose(method ?? "upi"));

async function start(): Promise<void> {
  ui.orderId.textContent = orderId || "—";
  if (!orderId) {
    ui.amount.textContent = "—";
    notice("This checkout link has no order. Go back to the shop and start the payment again.");
    return;
  }
  try {
    order = await getOrder(orderId);
  } catch (err) {
    ui.amount.textContent = "—";
    const e = err instanceof ApiError ? err : null;
    notice(
      e?.status === 404 || e?.status === 400
        ? "We could not find this order. Check the link, or go back to the shop and start again."
        : (e?.message ?? "The order could not be loaded. Reload the page to try again."),
    );
    return;
  }
  const price = formatAmount(order.amount, order.currency);
  ui.amount.textContent = price;
  for (const b of document.querySelectorAll<HTMLButtonElement>('[data-test-id="pay-button"]')) {
    b.textContent = `Pay ${price}`;
  }
  if (order.status === "paid") {
    notice("This order has already been paid. There is nothing more to pay.");
    return;
  }
  showNetwork();
  show("choose");
}

void start();
