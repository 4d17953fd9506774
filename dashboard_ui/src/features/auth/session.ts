import { useQuery, useQueryClient, type QueryClient } from "@tanstack/react-query";
import { api, setCsrfToken } from "../../lib/api";
import type { Session } from "../../lib/types";

export const SESSION_KEY = ["session"] as const;

async function fetchSession(): Promise<Session | null> {
  try {
    const session = await api<Session>("/api/v1/dashboard/session");
    setCsrfToken(session.csrf_token);
    return session;
  } catch {
    setCsrfToken(null);
    return null;
  }
}

/** The signed-in session (null: signed out), asked of the API once and after each sign-in. */
export function useSession() {
  return useQuery({ queryKey: SESSION_KEY, queryFn: fetchSession, staleTime: Infinity, retry: false });
}

export async function signIn(email: string, password: string): Promise<Session> {
  const session = await api<Session>("/api/v1/dashboard/login", { method: "POST", body: { email, password } });
  setCsrfToken(session.csrf_token);
  return session;
}

/** Forget the session and every merchant answer cached under it (the session query itself stays observed, so
 * the pages see it become null and go to /login). */
export function signedOut(client: QueryClient): void {
  setCsrfToken(null);
  client.setQueryData(SESSION_KEY, null);
  client.removeQueries({ predicate: (q) => q.queryKey[0] !== SESSION_KEY[0] });
}

export function useSignOut() {
  const client = useQueryClient();
  return async () => {
    try {
      await api("/api/v1/dashboard/logout", { method: "POST" });
    } finally {
      signedOut(client);
    }
  };
}
