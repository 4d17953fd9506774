import { useState, type FormEvent } from "react";
import { newIdempotencyKey } from "../../lib/api";
import { formatRupees, parseRupees } from "../../lib/format";
import type { Payment } from "../../lib/types";
import { useRefund } from "./api";

/** Full or partial refund through the API, with one Idempotency-Key per submitted form. */
export function RefundForm({ payment }: { payment: Payment }) {
  const refund = useRefund(payment.id);
  const left = payment.amount - payment.amount_refunded;
  const [kind, setKind] = useState<"full" | "partial">("full");
  const [amount, setAmount] = useState("");
  const [reason, setReason] = useState("");
  const [problem, setProblem] = useState<string | null>(null);
  const [key, setKey] = useState(newIdempotencyKey);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setProblem(null);
    let paise: number | undefined;
    if (kind === "partial") {
      const parsed = parseRupees(amount);
      if (parsed === null || parsed <= 0) return setProblem("Enter an amount in rupees, such as 250 or 250.50.");
      if (parsed > left) return setProblem(`At most ${formatRupees(left)} can be refunded.`);
      paise = parsed;
    }
    try {
      await refund.mutateAsync({ amount: paise, reason: reason || undefined, key });
      setAmount("");
      setReason("");
      setKey(newIdempotencyKey());
    } catch (e) {
      setProblem(e instanceof Error ? e.message : "Refund failed");
    }
  }

  if (left <= 0) return <p data-test-id="refund-none-left">Fully refunded.</p>;
  return (
    <form className="refund-form" data-test-id="refund-form" onSubmit={submit} aria-label="Refund">
      <fieldset>
        <legend>Refund (up to {formatRupees(left)})</legend>
        <label>
          <input type="radio" name="kind" checked={kind === "full"} onChange={() => setKind("full")} data-test-id="refund-full" />
          Full
        </label>
        <label>
          <input
            type="radio"
            name="kind"
            checked={kind === "partial"}
            onChange={() => setKind("partial")}
            data-test-id="refund-partial"
          />
          Partial
        </label>
      </fieldset>
      {kind === "partial" && (
        <>
          <label htmlFor="refund-amount">Amount (₹)</label>
          <input
            id="refund-amount"
            inputMode="decimal"
            data-test-id="refund-amount-input"
            value={amount}
            onChange={(e) => setAmount(e.target.value)}
          />
        </>
      )}
      <label htmlFor="refund-reason">Reason (optional)</label>
      <input id="refund-reason" data-test-id="refund-reason-input" value={reason} onChange={(e) => setReason(e.target.value)} />
      {problem && (
        <p className="error" role="alert" data-test-id="refund-error">
          {problem}
        </p>
      )}
      <button type="submit" className="primary" data-test-id="refund-button" disabled={refund.isPending}>
        {refund.isPending ? "Refunding…" : "Refund"}
      </button>
    </form>
  );
}
