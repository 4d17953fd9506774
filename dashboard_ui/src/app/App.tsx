import { useEffect } from "react";
import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { BrowserRouter, Navigate, Outlet, Route, Routes } from "react-router-dom";
import { onUnauthorized } from "../lib/api";
import { Layout } from "../components/Layout";
import { LoginPage } from "../features/auth/LoginPage";
import { SESSION_KEY, signedOut, useSession } from "../features/auth/session";
import { HomePage } from "../features/stats/HomePage";
import { TransactionsPage } from "../features/payments/TransactionsPage";
import { WebhooksPage } from "../features/webhooks/WebhooksPage";
import { DocsPage } from "../features/docs/DocsPage";

const queryClient = new QueryClient({ defaultOptions: { queries: { retry: 1, refetchOnWindowFocus: false } } });

/** `/dashboard/*` without a session goes to `/login`. */
function RequireSession() {
  const session = useSession();
  if (session.isPending) return <p className="loading">Loading…</p>;
  if (!session.data) return <Navigate to="/login" replace />;
  return <Outlet />;
}

function SignedOutWatcher() {
  // Any 401 (an expired or ended session) clears the cached session, which sends the page to /login.
  useEffect(() => {
    onUnauthorized(() => {
      if (queryClient.getQueryData(SESSION_KEY)) signedOut(queryClient);
    });
  }, []);
  return null;
}

export function App() {
  return (
    <QueryClientProvider client={queryClient}>
      <SignedOutWatcher />
      <BrowserRouter future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
        <Routes>
          <Route path="/login" element={<LoginPage />} />
          <Route element={<RequireSession />}>
            <Route element={<Layout />}>
              <Route path="/dashboard" element={<HomePage />} />
              <Route path="/dashboard/transactions" element={<TransactionsPage />} />
              <Route path="/dashboard/webhooks" element={<WebhooksPage />} />
              <Route path="/dashboard/docs" element={<DocsPage />} />
            </Route>
          </Route>
          <Route path="*" element={<Navigate to="/dashboard" replace />} />
        </Routes>
      </BrowserRouter>
    </QueryClientProvider>
  );
}
