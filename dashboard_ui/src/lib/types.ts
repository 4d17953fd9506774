export type Merchant = { id: string; name: string; email: string; api_key: string };
export type Session = { merchant: Merchant; csrf_token: string; expires_at: string; published_secret: string | null };
export type Collection<T> = { entity: "collection"; count: number; items: T[] };

export type Payment = {
  id: string;
  order_id: string;
  amount: number;
  currency: string;
  method: "upi" | "card";
  vpa?: string | null;
  card_network?: string | null;
  card_last4?: string | null;
  status: "pending" | "success" | "failed";
  captured: boolean;
  amount_refunded: number;
  refund_status: string | null;
  error_code: string | null;
  error_description: string | null;
  created_at: string;
  updated_at: string;
};

export type Refund = {
  id: string;
  payment_id: string;
  amount: number;
  reason: string | null;
  status: "pending" | "processed";
  created_at: string;
  processed_at: string | null;
};

export type HistoryEvent = {
  id: string;
  type: string;
  version: number;
  recorded_at: string;
  data: Record<string, unknown>;
  caused_by: { actor?: string; request_id?: string; causation_id?: string };
};

export type Day = {
  date: string;
  total_count: number;
  success_count: number;
  success_amount: number;
  success_rate: number | null;
};
export type Stats = {
  total_count: number;
  success_count: number;
  failed_count: number;
  success_amount: number;
  success_rate: number;
  daily: Day[];
};

export type Balance = {
  currency: string;
  payments_succeeded: number;
  captured: number;
  refunds_pending: number;
  refunds_processed: number;
  payable: number;
  available: number;
};

export type WebhookConfig = { url: string | null; events: string[]; secret: string | null };
export type WebhookLog = {
  id: string;
  event: string;
  status: "pending" | "success" | "failed";
  attempts: number;
  created_at: string;
  last_attempt_at: string | null;
  next_retry_at: string | null;
  response_code: number | null;
};
export type WebhookLogDetail = WebhookLog & { payload: unknown; response_body: string | null; error?: string | null };
export type WebhookPage = { data: WebhookLog[]; total: number; limit: number; offset: number };
