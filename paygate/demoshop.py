"""The demo shop (port 3005): a merchant's own site on another origin, integrating the checkout as a merchant
would. Its server creates the order with the merchant's key and, after the SDK's ``onSuccess``, checks the
signature with the merchant's secret before it calls the order paid: a browser callback alone proves nothing.
"""

import hashlib
import hmac
import html
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

PRODUCT = {"name": "Paygate cotton T-shirt", "amount": 50000, "currency": "INR"}
_HEX64 = re.compile(r"[0-9a-f]{64}")


def checkout_signature(secret: str, order_id: str, payment_id: str) -> str:
    """What the gateway signs: hex HMAC-SHA256 of ``order_id|payment_id`` keyed with the API secret."""
    return hmac.new(secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()


def verified(secret: str, order_id: str, payment_id: str, signature: str) -> bool:
    expected = checkout_signature(secret, order_id, payment_id)
    return bool(_HEX64.fullmatch(signature)) and hmac.compare_digest(expected, signature)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo shop</title><link rel="stylesheet" href="/shop.css"></head>
<body><main>
<h1>Demo shop</h1>
<article class="product"><h2>{name}</h2><p class="price">₹{price}</p>
<button type="button" id="buy">Buy now</button></article>
<p id="result" role="status" aria-live="polite"></p>
</main>
<script src="{checkout}/checkout.js"></script>
<script src="/shop.js"></script>
</body></html>"""

_CSS = """body{margin:0;font:16px/1.5 system-ui,sans-serif;color:#111827;background:#f9fafb}
main{max-width:560px;margin:0 auto;padding:24px 16px}.product{background:#fff;border-radius:12px;padding:20px;
box-shadow:0 1px 3px rgba(0,0,0,.12)}.price{font-size:1.4rem;font-weight:700}
button{font:inherit;min-height:48px;padding:0 24px;border:0;border-radius:8px;background:#166534;color:#fff;
cursor:pointer}button:focus-visible{outline:3px solid #f59e0b;outline-offset:2px}#result{font-weight:600}
.paid{color:#166534}.problem{color:#b91c1c}"""

# The integration a merchant copies: ask our server for an order, open the checkout, and let our server check
# the signature before showing "paid". window.demoShop.events records the callbacks (the tests read it).
_JS = """(function () {
  var result = document.getElementById("result");
  var events = [];
  window.demoShop = { events: events };
  function say(text, cls) { result.textContent = text; result.className = cls || ""; }
  function post(path, body) {
    return fetch(path, { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body || {}) }).then(function (r) { return r.json(); });
  }
  document.getElementById("buy").addEventListener("click", function () {
    say("Starting checkout…");
    post("/orders").then(function (order) {
      new PaymentGateway({
        key: order.key,
        orderId: order.order_id,
        onSuccess: function (data) {
          events.push({ type: "success", data: data, at: Date.now() });
          say("Checking the payment…");
          post("/verify", { order_id: data.orderId, payment_id: data.paymentId, signature: data.signature })
            .then(function (v) {
              events.push({ type: "verified", data: v, at: Date.now() });
              if (v.verified) say("Paid: thank you! Payment " + data.paymentId, "paid");
              else say("We could not confirm this payment.", "problem");
            });
        },
        onFailure: function (data) {
          events.push({ type: "failure", data: data, at: Date.now() });
          say("The payment failed: you can retry in the checkout window.", "problem");
        },
        onClose: function () {
          events.push({ type: "close", at: Date.now() });
          if (!/^Paid/.test(result.textContent)) say("Checkout closed.");
        }
      }).open();
    }, function () { say("The shop could not start a payment.", "problem"); });
  });
})();
"""


def create_app(api_url: str, key: str, secret: str, checkout_url: str) -> Starlette:
    """The shop on the merchant's credentials, creating orders at ``api_url`` and loading the SDK from
    ``checkout_url`` (the checkout server, as the payer's browser reaches it)."""
    checkout_origin = "{0.scheme}://{0.netloc}".format(urlsplit(checkout_url))
    policy = (
        f"default-src 'self'; script-src 'self' {checkout_origin}; frame-src {checkout_origin}; "
        "style-src 'self'; connect-src 'self'; base-uri 'none'"
    )
    #: Orders this shop created, and whether its server has seen a valid signature for one.
    orders: dict[str, bool] = {}

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(base_url=api_url, auth=(key, secret), timeout=10) as client:
            app.state.client = client
            yield

    async def home(request: Request) -> Response:
        body = _PAGE.format(
            name=html.escape(PRODUCT["name"]),  # type: ignore[arg-type]
            price=f"{PRODUCT['amount'] / 100:.2f}",  # type: ignore[operator]
            checkout=html.escape(checkout_url.rstrip("/")),
        )
        return HTMLResponse(body, headers={"Content-Security-Policy": policy, "Cache-Control": "no-store"})

    async def asset(request: Request) -> Response:
        if request.url.path == "/shop.js":
            return Response(_JS, media_type="text/javascript; charset=utf-8")
        return Response(_CSS, media_type="text/css; charset=utf-8")

    async def create_order(request: Request) -> Response:
        """Server side, with the merchant's key: the browser never sees the secret."""
        r = await request.app.state.client.post(
            "/api/v1/orders", json={"amount": PRODUCT["amount"], "currency": PRODUCT["currency"]}
        )
        if r.status_code != 201:
            return JSONResponse({"error": "the gateway refused the order", "detail": r.json()}, status_code=502)
        order_id = r.json()["id"]
        orders[order_id] = False
        return JSONResponse({"order_id": order_id, "key": key, "amount": PRODUCT["amount"]})

    async def verify(request: Request) -> Response:
        """The check every merchant must make: recompute the signature with the API secret."""
        try:
            data = json.loads(await request.body())
            order_id, payment_id, signature = (str(data[k]) for k in ("order_id", "payment_id", "signature"))
        except (ValueError, KeyError, TypeError):
            return JSONResponse({"verified": False, "reason": "order_id, payment_id and signature are needed"}, 400)
        if order_id not in orders:
            return JSONResponse({"verified": False, "reason": "not an order of this shop"}, status_code=400)
        if not verified(secret, order_id, payment_id, signature):
            return JSONResponse({"verified": False, "reason": "signature mismatch"}, status_code=400)
        orders[order_id] = True
        return JSONResponse({"verified": True, "order_id": order_id, "payment_id": payment_id})

    async def status(request: Request) -> Response:
        order_id = request.path_params["order_id"]
        if order_id not in orders:
            return JSONResponse({"error": "unknown order"}, status_code=404)
        return JSONResponse({"order_id": order_id, "paid": orders[order_id]})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/", home),
            Route("/shop.js", asset),
            Route("/shop.css", asset),
            Route("/orders", create_order, methods=["POST"]),
            Route("/verify", verify, methods=["POST"]),
            Route("/orders/{order_id}", status),
            Route("/health", health),
        ],
        lifespan=lifespan,
    )


def serve(api_url: str, key: str, secret: str, checkout_url: str, host: str, port: int) -> None:
    import uvicorn

    app = create_app(api_url, key, secret, checkout_url)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
