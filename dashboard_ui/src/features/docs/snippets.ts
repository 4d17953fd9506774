// The Docs page's snippets, filled in with the signed-in merchant's key (never its secret).

export function createOrder(apiKey: string, apiBase: string): string {
  return `curl -X POST ${apiBase}/api/v1/orders \\
  -u ${apiKey}:YOUR_API_SECRET \\
  -H 'Content-Type: application/json' \\
  -H 'Idempotency-Key: order-1001' \\
  -d '{"amount": 50000, "currency": "INR", "receipt": "receipt#1001"}'`;
}

export function sdk(apiKey: string, checkoutBase: string): string {
  return `<script src="${checkoutBase}/checkout.js"></script>
<button id="pay">Pay ₹500</button>
<script>
  document.getElementById("pay").addEventListener("click", () => {
    const checkout = new PaymentGateway({
      key: "${apiKey}",
      orderId: "order_xxx", // created by your server (above)
      onSuccess: (data) => {
        // data = { paymentId, orderId, signature }: send it to your server and check the signature there
        fetch("/payment/verify", { method: "POST", headers: { "Content-Type": "application/json" },
                                    body: JSON.stringify(data) });
      },
      onFailure: (error) => console.warn("payment failed", error),
      onClose: () => console.log("checkout closed"),
    });
    checkout.open();
  });
</script>`;
}

export const WEBHOOK_NODE = `// Node.js (Express): verify over the raw body bytes, before parsing JSON.
const crypto = require("crypto");
const express = require("express");
const app = express();

app.post("/webhook", express.raw({ type: "application/json" }), (req, res) => {
  const expected = crypto.createHmac("sha256", process.env.WEBHOOK_SECRET).update(req.body).digest("hex");
  const given = Buffer.from(req.get("X-Webhook-Signature") || "", "utf8");
  if (given.length !== expected.length || !crypto.timingSafeEqual(given, Buffer.from(expected, "utf8"))) {
    return res.status(401).send("bad signature");
  }
  const event = JSON.parse(req.body);
  // de-duplicate on req.get("webhook-id"): the same on every retry of one event
  console.log(event.event, event.data);
  res.sendStatus(200);
});`;

export const WEBHOOK_PYTHON = `# Python: verify over the raw body bytes, before parsing JSON.
import hashlib, hmac, os

def verify(body: bytes, signature: str) -> bool:
    expected = hmac.new(os.environ["WEBHOOK_SECRET"].encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)

# Flask
from flask import Flask, request, abort
app = Flask(__name__)

@app.post("/webhook")
def webhook():
    if not verify(request.get_data(), request.headers.get("X-Webhook-Signature", "")):
        abort(401)
    event = request.get_json()
    return "", 200

# Or with Standard Webhooks (pip install standardwebhooks), which also rejects replays:
# import base64; from standardwebhooks.webhooks import Webhook
# Webhook(base64.b64encode(os.environ["WEBHOOK_SECRET"].encode()).decode()).verify(body, headers)`;

export const SIGNATURE_CHECK = `# On your server: is the checkout's onSuccess real?
import hashlib, hmac
def checkout_is_genuine(order_id: str, payment_id: str, signature: str, api_secret: str) -> bool:
    expected = hmac.new(api_secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)`;
