import { CopyButton } from "../../components/CopyButton";
import { useSession } from "../auth/session";
import { SIGNATURE_CHECK, WEBHOOK_NODE, WEBHOOK_PYTHON, createOrder, sdk } from "./snippets";

function Snippet({ code, testId, label }: { code: string; testId: string; label: string }) {
  return (
    <div className="snippet">
      <div className="snippet-head">
        <span>{label}</span>
        <CopyButton text={code} testId={`copy-${testId}`} />
      </div>
      <pre tabIndex={0} aria-label={label}>
        <code data-test-id={testId}>{code}</code>
      </pre>
    </div>
  );
}

export function DocsPage() {
  const session = useSession();
  const key = session.data?.merchant.api_key ?? "YOUR_API_KEY";
  const host = window.location.hostname || "localhost";
  const apiBase = `${window.location.protocol}//${host}:8000`;
  const checkoutBase = `${window.location.protocol}//${host}:3001`;
  return (
    <div className="page" data-test-id="api-docs">
      <h1>Integration guide</h1>
      <p>
        Three steps: your server creates an order, your page opens the checkout for it, and your server learns the
        outcome from a signed webhook. Full reference: the API's{" "}
        <a href={`${apiBase}/docs`} data-test-id="openapi-link">
          OpenAPI documentation
        </a>{" "}
        (machine-readable at <a href={`${apiBase}/openapi.json`}>/openapi.json</a>).
      </p>

      <section className="card" data-test-id="section-create-order" aria-labelledby="doc-order">
        <h2 id="doc-order">1. Create an order</h2>
        <p>Amounts are integer paise: 50000 is ₹500. Call this from your server only: the secret never goes to a browser.</p>
        <Snippet code={createOrder(key, apiBase)} testId="code-snippet-create-order" label="curl" />
        <p>
          <strong>Idempotency keys.</strong> Send an <code>Idempotency-Key</code> (any unique string, such as your own
          order number) on every create. A retry with the same key within 24 hours returns the first answer byte for
          byte and creates nothing new, so a timeout or a <code>503 COMMIT_UNKNOWN</code> is always safe to retry. The
          same key with a different body is refused with 400.
        </p>
      </section>

      <section className="card" data-test-id="section-sdk-integration" aria-labelledby="doc-sdk">
        <h2 id="doc-sdk">2. Open the checkout</h2>
        <p>Load the SDK and open the checkout for the order. It runs in an iframe on the gateway's origin.</p>
        <Snippet code={sdk(key, checkoutBase)} testId="code-snippet-sdk" label="HTML" />
        <p>
          <strong>Check the signature.</strong> A browser callback can be forged, so never mark an order paid from{" "}
          <code>onSuccess</code> alone. Its <code>signature</code> is the hex HMAC-SHA256 of{" "}
          <code>order_id|payment_id</code> keyed with your API secret; compare it on your server in constant time:
        </p>
        <Snippet code={SIGNATURE_CHECK} testId="code-snippet-signature" label="Python" />
      </section>

      <section className="card" data-test-id="section-webhook-verification" aria-labelledby="doc-hook">
        <h2 id="doc-hook">3. Verify webhooks</h2>
        <p>
          Every delivery carries <code>X-Webhook-Signature</code>: the lowercase hex HMAC-SHA256 of the exact body
          bytes, keyed with your webhook secret (see Webhooks). Verify before parsing.
        </p>
        <div data-test-id="code-snippet-webhook" className="snippet-group">
          <Snippet code={WEBHOOK_NODE} testId="code-snippet-webhook-node" label="Node.js" />
          <Snippet code={WEBHOOK_PYTHON} testId="code-snippet-webhook-python" label="Python" />
        </div>
        <p>
          <strong>Standard Webhooks.</strong> Deliveries also carry <code>webhook-id</code> (the same on every retry of
          one event: de-duplicate on it), <code>webhook-timestamp</code> and <code>webhook-signature</code> (
          <code>v1,</code> + base64 HMAC-SHA256 of <code>id.timestamp.body</code>, the same key), so the{" "}
          <code>standardwebhooks</code> libraries can check them and reject replays older than five minutes. Answer
          any 2xx within 5 seconds; failures are retried after 1 min, 5 min, 30 min and 2 h.
        </p>
      </section>
    </div>
  );
}
