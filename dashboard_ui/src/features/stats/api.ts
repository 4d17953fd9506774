import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api } from "../../lib/api";
import type { Balance, Stats } from "../../lib/types";
import { SESSION_KEY } from "../auth/session";

export function useStats() {
  return useQuery({ queryKey: ["stats"], queryFn: () => api<Stats>("/api/v1/stats"), refetchInterval: 5000 });
}

export function useBalance() {
  return useQuery({
    queryKey: ["balance"],
    queryFn: () => api<{ balances: Balance[] }>("/api/v1/balance"),
    refetchInterval: 5000,
  });
}

export type RotatedKeys = { api_key: string; api_secret: string; previous_key_expires_at: string };

export function useRotateKeys() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => api<RotatedKeys>("/api/v1/keys/rotate", { method: "POST" }),
    onSuccess: () => client.invalidateQueries({ queryKey: SESSION_KEY }),
  });
}
