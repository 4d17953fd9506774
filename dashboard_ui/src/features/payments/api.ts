import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, newIdempotencyKey } from "../../lib/api";
import type { Collection, HistoryEvent, Payment, Refund } from "../../lib/types";

export type PaymentFilters = {
  status: string;
  method: string;
  from: number | null;
  to: number | null;
  search: string;
  page: number;
};

export const PAGE_SIZE = 20;
/** New payments and status changes show up without a reload: every list and drawer polls this often. */
export const POLL_MS = 3000;

export function paymentsQuery(f: PaymentFilters): string {
  const q = new URLSearchParams({ count: String(PAGE_SIZE), skip: String(f.page * PAGE_SIZE) });
  if (f.status) q.set("status", f.status);
  if (f.method) q.set("method", f.method);
  if (f.from !== null) q.set("from", String(f.from));
  if (f.to !== null) q.set("to", String(f.to));
  if (f.search.trim()) q.set("search", f.search.trim());
  return `/api/v1/payments?${q}`;
}

export function usePayments(f: PaymentFilters) {
  return useQuery({
    queryKey: ["payments", f],
    queryFn: () => api<Collection<Payment>>(paymentsQuery(f)),
    refetchInterval: POLL_MS,
    placeholderData: (previous) => previous,
  });
}

export function usePayment(id: string) {
  return useQuery({
    queryKey: ["payment", id],
    queryFn: () => api<Payment>(`/api/v1/payments/${encodeURIComponent(id)}`),
    refetchInterval: POLL_MS,
  });
}

export function usePaymentEvents(id: string) {
  return useQuery({
    queryKey: ["payment-events", id],
    queryFn: () => api<Collection<HistoryEvent>>(`/api/v1/payments/${encodeURIComponent(id)}/events`),
    refetchInterval: POLL_MS,
  });
}

export function usePaymentRefunds(id: string) {
  return useQuery({
    queryKey: ["payment-refunds", id],
    queryFn: () => api<Collection<Refund>>(`/api/v1/payments/${encodeURIComponent(id)}/refunds?count=100`),
    refetchInterval: POLL_MS,
  });
}

function useInvalidatePayment(id: string) {
  const client = useQueryClient();
  return () =>
    Promise.all(
      [["payment", id], ["payment-events", id], ["payment-refunds", id], ["payments"], ["stats"], ["balance"]].map(
        (queryKey) => client.invalidateQueries({ queryKey }),
      ),
    );
}

export function useRefund(id: string) {
  const invalidate = useInvalidatePayment(id);
  return useMutation({
    // One key per submitted form: a retried request after a lost answer never refunds twice.
    mutationFn: (v: { amount?: number; reason?: string; key: string }) =>
      api<Refund>(`/api/v1/payments/${encodeURIComponent(id)}/refunds`, {
        method: "POST",
        body: { ...(v.amount !== undefined ? { amount: v.amount } : {}), ...(v.reason ? { reason: v.reason } : {}) },
        headers: { "Idempotency-Key": v.key },
      }),
    onSuccess: invalidate,
  });
}

export function useCapture(id: string) {
  const invalidate = useInvalidatePayment(id);
  return useMutation({
    mutationFn: (amount: number) =>
      api<Payment>(`/api/v1/payments/${encodeURIComponent(id)}/capture`, {
        method: "POST",
        body: { amount },
        headers: { "Idempotency-Key": newIdempotencyKey() },
      }),
    onSuccess: invalidate,
  });
}
