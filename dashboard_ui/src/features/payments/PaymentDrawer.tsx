import { useEffect, useRef } from "react";
import { formatRupees, formatTime } from "../../lib/format";
import { useCapture, usePayment, usePaymentEvents, usePaymentRefunds } from "./api";
import { RefundForm } from "./RefundForm";
import { StatusBadge } from "./StatusBadge";
import { Timeline } from "./Timeline";

/** One payment: details, its event timeline, refunds, the refund form and capture. Escape closes it. */
export function PaymentDrawer({ paymentId, onClose }: { paymentId: string; onClose: () => void }) {
  const payment = usePayment(paymentId);
  const events = usePaymentEvents(paymentId);
  const refunds = usePaymentRefunds(paymentId);
  const capture = useCapture(paymentId);
  const closeRef = useRef<HTMLButtonElement>(null);

  useEffect(() => {
    closeRef.current?.focus();
    const onKey = (e: KeyboardEvent) => e.key === "Escape" && onClose();
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [onClose]);

  const p = payment.data;
  return (
    <div className="drawer-backdrop" onClick={onClose}>
      <aside
        className="drawer"
        role="dialog"
        aria-modal="true"
        aria-labelledby="drawer-title"
        data-test-id="payment-drawer"
        data-payment-id={paymentId}
        onClick={(e) => e.stopPropagation()}
      >
        <header className="drawer-head">
          <h2 id="drawer-title">Payment {paymentId}</h2>
          <button type="button" ref={closeRef} className="small" onClick={onClose} data-test-id="close-drawer-button">
            Close
          </button>
        </header>
        {!p ? (
          <p>Loading…</p>
        ) : (
          <>
            <dl className="details">
              <dt>Status</dt>
              <dd>
                <StatusBadge status={p.status} testId="drawer-status" />
                {p.captured && <span className="badge badge-captured">captured</span>}
              </dd>
              <dt>Amount</dt>
              <dd data-test-id="drawer-amount">{formatRupees(p.amount)}</dd>
              <dt>Refunded</dt>
              <dd data-test-id="drawer-refunded">{formatRupees(p.amount_refunded)}</dd>
              <dt>Order</dt>
              <dd>{p.order_id}</dd>
              <dt>Method</dt>
              <dd>{p.method === "upi" ? `UPI ${p.vpa ?? ""}` : `${p.card_network ?? "card"} •••• ${p.card_last4 ?? ""}`}</dd>
              {p.error_description && (
                <>
                  <dt>Error</dt>
                  <dd>
                    {p.error_code}: {p.error_description}
                  </dd>
                </>
              )}
              <dt>Created</dt>
              <dd>{formatTime(p.created_at)}</dd>
            </dl>
            {p.status === "success" && !p.captured && (
              <button
                type="button"
                className="primary"
                data-test-id="capture-button"
                disabled={capture.isPending}
                onClick={() => capture.mutate(p.amount)}
              >
                Capture {formatRupees(p.amount)}
              </button>
            )}
            {capture.isError && <p className="error" role="alert">{capture.error.message}</p>}
            <h3>Timeline</h3>
            {events.data ? <Timeline events={events.data.items} /> : <p>Loading…</p>}
            <h3>Refunds</h3>
            {refunds.data && refunds.data.items.length > 0 ? (
              <ul className="refunds" data-test-id="refund-list">
                {refunds.data.items.map((r) => (
                  <li key={r.id} data-test-id="refund-item" data-refund-id={r.id}>
                    <code>{r.id}</code> {formatRupees(r.amount)} <StatusBadge status={r.status} testId="refund-status" />
                  </li>
                ))}
              </ul>
            ) : (
              <p>No refunds.</p>
            )}
            {p.status === "success" && <RefundForm payment={p} />}
          </>
        )}
      </aside>
    </div>
  );
}
