// checkout.js: embeds the checkout page in a modal on the merchant's own page. One IIFE defining one global
// (window.PaymentGateway), no dependencies, no inline handlers; every rule scoped under the modal's id and every
// listener removed on close. Messages count only from the checkout origin and from our own iframe.

export interface Options {
  key: string;
  orderId: string;
  onSuccess?: (data: { paymentId: string; orderId: string; signature?: string }) => void;
  onFailure?: (data: { paymentId?: string; orderId?: string; error?: { code: string; description: string } }) => void;
  onClose?: () => void;
}

const script = document.currentScript as HTMLScriptElement | null;
/** Where the checkout page lives: the origin this script was loaded from. */
const ORIGIN = script && script.src ? new URL(script.src).origin : "http://localhost:3001";
const ID = "payment-gateway-modal";
const CSS = `
#${ID}{position:fixed;inset:0;z-index:2147483647}
#${ID} .modal-overlay{position:absolute;inset:0;display:flex;align-items:center;justify-content:center;
background:rgba(17,24,39,.6);padding:16px;box-sizing:border-box}
#${ID} .modal-content{position:relative;width:100%;max-width:480px;height:min(640px,calc(100vh - 32px));
background:#fff;border-radius:12px;overflow:hidden;box-shadow:0 20px 50px rgba(0,0,0,.35)}
#${ID} iframe{display:block;width:100%;height:100%;border:0}
#${ID} .close-button{position:absolute;top:8px;right:8px;width:44px;height:44px;border:0;border-radius:50%;
background:#111827;color:#fff;font:24px/1 system-ui,sans-serif;cursor:pointer}
#${ID} .close-button:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}
@media (max-width:600px){#${ID} .modal-overlay{padding:0}
#${ID} .modal-content{max-width:none;height:100%;border-radius:0}}`;

function fail(message: string): never {
  throw new Error(`PaymentGateway: ${message}`);
}

function nonce(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export default class PaymentGateway {
  private readonly options: Options;
  private modal: HTMLElement | null = null;
  private iframe: HTMLIFrameElement | null = null;
  private closeButton: HTMLButtonElement | null = null;
  private sheet: CSSStyleSheet | HTMLStyleElement | null = null;
  private nonce = "";
  private restoreFocus: Element | null = null;
  private overflow: [string, string] = ["", ""];

  constructor(options: Options) {
    if (!options || typeof options !== "object") fail("options are required: new PaymentGateway({key, orderId})");
    if (typeof options.key !== "string" || !options.key) fail('the "key" option is required');
    if (typeof options.orderId !== "string" || !options.orderId) fail('the "orderId" option is required');
    for (const name of ["onSuccess", "onFailure", "onClose"] as const) {
      if (options[name] !== undefined && typeof options[name] !== "function") fail(`"${name}" must be a function`);
    }
    this.options = options;
  }

  open(): void {
    if (this.modal) return;
    this.addStyle();
    const modal = document.createElement("div");
    modal.id = ID;
    modal.setAttribute("data-test-id", "payment-modal");
    modal.setAttribute("role", "dialog");
    modal.setAttribute("aria-modal", "true");
    modal.setAttribute("aria-label", "Payment");
    const overlay = document.createElement("div");
    overlay.className = "modal-overlay";
    const content = document.createElement("div");
    content.className = "modal-content";
    const iframe = document.createElement("iframe");
    iframe.setAttribute("data-test-id", "payment-iframe");
    iframe.title = "Payment checkout";
    iframe.allow = "payment";
    iframe.src = `${ORIGIN}/checkout?order_id=${encodeURIComponent(this.options.orderId)}&embedded=true`;
    const close = document.createElement("button");
    close.type = "button";
    close.className = "close-button";
    close.setAttribute("data-test-id", "close-modal-button");
    close.setAttribute("aria-label", "Close payment");
    close.textContent = "\u00d7";
    content.append(iframe, close);
    overlay.append(content);
    modal.append(overlay);

    this.modal = modal;
    this.iframe = iframe;
    this.closeButton = close;
    this.nonce = nonce();
    this.restoreFocus = document.activeElement;
    const root = document.documentElement;
    this.overflow = [root.style.overflow, document.body.style.overflow];
    root.style.overflow = "hidden";
    document.body.style.overflow = "hidden";

    iframe.addEventListener("load", this.handshake);
    close.addEventListener("click", this.dismiss);
    window.addEventListener("message", this.receive);
    document.addEventListener("keydown", this.key, true);
    document.addEventListener("focusin", this.trap, true);
    document.body.append(modal);
    iframe.focus();
  }

  /** Close the modal (the merchant's own call); calls onClose. */
  close(): void {
    if (!this.modal) return;
    this.teardown();
    this.options.onClose?.();
  }

  private readonly dismiss = (): void => this.close();

  /** Tell the page in our iframe who we are; it answers only to this origin, with this nonce. */
  private readonly handshake = (): void => {
    this.iframe?.contentWindow?.postMessage({ type: "payment_gateway_init", nonce: this.nonce }, ORIGIN);
  };

  private readonly receive = (event: MessageEvent): void => {
    if (event.origin !== ORIGIN || !this.iframe || event.source !== this.iframe.contentWindow) return;
    const m = event.data as { type?: unknown; data?: unknown; nonce?: unknown } | null;
    if (!m || typeof m !== "object" || m.nonce !== this.nonce) return;
    const data = (m.data && typeof m.data === "object" ? m.data : {}) as never;
    if (m.type === "payment_success") {
      this.teardown();
      this.options.onSuccess?.(data);
    } else if (m.type === "payment_failed") {
      this.options.onFailure?.(data); // stays open: the page offers a retry
    } else if (m.type === "close_modal") {
      this.close();
    }
  };

  private readonly key = (event: KeyboardEvent): void => {
    if (event.key === "Escape") {
      event.preventDefault();
      this.close();
    } else if (event.key === "Tab" && document.activeElement === this.closeButton) {
      event.preventDefault(); // the iframe and the close button are the whole tab cycle
      this.iframe?.focus();
    }
  };

  /** Focus that leaves the modal (Shift+Tab out of the iframe, say) comes back to its close button. */
  private readonly trap = (event: FocusEvent): void => {
    if (this.modal && event.target instanceof Node && !this.modal.contains(event.target)) this.closeButton?.focus();
  };

  private addStyle(): void {
    if (this.sheet) return;
    // A constructed sheet works under a host CSP without 'unsafe-inline' styles; a <style> is the fallback.
    if ("adoptedStyleSheets" in document && typeof CSSStyleSheet === "function" && "replaceSync" in CSSStyleSheet.prototype) {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(CSS);
      document.adoptedStyleSheets = [...document.adoptedStyleSheets, sheet];
      this.sheet = sheet;
    } else {
      const style = document.createElement("style");
      style.textContent = CSS;
      document.head.append(style);
      this.sheet = style;
    }
  }

  private teardown(): void {
    this.iframe?.removeEventListener("load", this.handshake);
    this.closeButton?.removeEventListener("click", this.dismiss);
    window.removeEventListener("message", this.receive);
    document.removeEventListener("keydown", this.key, true);
    document.removeEventListener("focusin", this.trap, true);
    this.modal?.remove();
    const sheet = this.sheet;
    if (sheet instanceof CSSStyleSheet) document.adoptedStyleSheets = document.adoptedStyleSheets.filter((s) => s !== sheet);
    else sheet?.remove();
    this.sheet = null;
    document.documentElement.style.overflow = this.overflow[0];
    document.body.style.overflow = this.overflow[1];
    this.modal = this.iframe = this.closeButton = null;
    const back = this.restoreFocus;
    this.restoreFocus = null;
    if (back instanceof HTMLElement && back.isConnected) back.focus();
  }
}
