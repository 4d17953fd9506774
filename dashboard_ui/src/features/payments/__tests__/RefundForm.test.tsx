import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { setCsrfToken } from "../../../lib/api";
import type { Payment } from "../../../lib/types";
import { RefundForm } from "../RefundForm";

const PAYMENT: Payment = {
  id: "pay_A", order_id: "order_A", amount: 50_000, currency: "INR", method: "upi", vpa: "a@b", status: "success",
  captured: false, amount_refunded: 10_000, refund_status: "partial", error_code: null, error_description: null,
  created_at: "2026-01-01T00:00:00Z", updated_at: "2026-01-01T00:00:00Z",
};

function renderForm() {
  const client = new QueryClient();
  return render(
    <QueryClientProvider client={client}>
      <RefundForm payment={PAYMENT} />
    </QueryClientProvider>,
  );
}

afterEach(() => vi.unstubAllGlobals());

describe("RefundForm", () => {
  it("refuses a partial amount above what is left, without calling the API", async () => {
    const fetchMock = vi.fn();
    vi.stubGlobal("fetch", fetchMock);
    renderForm();
    await userEvent.click(screen.getByLabelText("Partial"));
    await userEvent.type(screen.getByLabelText("Amount (₹)"), "500");
    await userEvent.click(screen.getByRole("button", { name: "Refund" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("At most ₹400 can be refunded.");
    expect(fetchMock).not.toHaveBeenCalled();
  });

  it("sends a partial refund in paise with an Idempotency-Key and the CSRF token", async () => {
    const fetchMock = vi.fn().mockResolvedValue(new Response(JSON.stringify({ id: "rfnd_1" }), { status: 201 }));
    vi.stubGlobal("fetch", fetchMock);
    setCsrfToken("csrf-123");
    renderForm();
    await userEvent.click(screen.getByLabelText("Partial"));
    await userEvent.type(screen.getByLabelText("Amount (₹)"), "250.50");
    await userEvent.click(screen.getByRole("button", { name: "Refund" }));
    await waitFor(() => expect(fetchMock).toHaveBeenCalled());
    const [url, init] = fetchMock.mock.calls[0];
    expect(url).toBe("/api/v1/payments/pay_A/refunds");
    expect(JSON.parse(init.body)).toEqual({ amount: 25_050 });
    expect(init.headers["Idempotency-Key"]).toMatch(/^[0-9a-f-]{36}$/);
    expect(init.headers["X-CSRF-Token"]).toBe("csrf-123");
  });
});
