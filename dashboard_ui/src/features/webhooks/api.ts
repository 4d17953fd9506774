import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, api } from "../../lib/api";
import type { WebhookConfig, WebhookLogDetail, WebhookPage } from "../../lib/types";

export const LOG_PAGE = 10;
export const EVENTS = [
  "payment.created",
  "payment.pending",
  "payment.success",
  "payment.failed",
  "payment.captured",
  "order.paid",
  "refund.created",
  "refund.processed",
];

export function useWebhookConfig() {
  return useQuery({ queryKey: ["webhook-config"], queryFn: () => api<WebhookConfig>("/api/v1/webhooks/config") });
}

export function useSaveConfig() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (v: { url: string | null; events: string[] }) =>
      api<WebhookConfig>("/api/v1/webhooks/config", { method: "PUT", body: v }),
    onSuccess: (data) => client.setQueryData(["webhook-config"], data),
  });
}

export function useRegenerateSecret() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => api<WebhookConfig>("/api/v1/webhooks/config/secret", { method: "POST" }),
    onSuccess: (data) => client.setQueryData(["webhook-config"], data),
  });
}

export function useSendTest() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => api<{ id: string }>("/api/v1/webhooks/test", { method: "POST" }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["webhook-logs"] }),
  });
}

export function useWebhookLogs(offset: number) {
  return useQuery({
    queryKey: ["webhook-logs", offset],
    queryFn: () => api<WebhookPage>(`/api/v1/webhooks?limit=${LOG_PAGE}&offset=${offset}`),
    refetchInterval: 3000,
    placeholderData: (previous) => previous,
  });
}

export function useWebhookLog(id: string) {
  return useQuery({
    queryKey: ["webhook-log", id],
    queryFn: () => api<WebhookLogDetail>(`/api/v1/webhooks/${encodeURIComponent(id)}`),
    refetchInterval: 3000,
  });
}

export function useRetry() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => api(`/api/v1/webhooks/${encodeURIComponent(id)}/retry`, { method: "POST" }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["webhook-logs"] }),
  });
}

export type CheckoutConfig = { allowed_origins: string[] };

/** The checkout's allowed origins; null when this gateway has no such endpoint (404). */
export function useCheckoutConfig() {
  return useQuery({
    queryKey: ["checkout-config"],
    queryFn: async () => {
      try {
        return await api<CheckoutConfig>("/api/v1/checkout/config");
      } catch (e) {
        if (e instanceof ApiError && (e.status === 404 || e.status === 405)) return null;
        throw e;
      }
    },
    retry: false,
  });
}

export function useSaveCheckoutConfig() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (origins: string[]) =>
      api<CheckoutConfig>("/api/v1/checkout/config", { method: "PUT", body: { allowed_origins: origins } }),
    onSuccess: (data) => client.setQueryData(["checkout-config"], data),
  });
}
