import { useState, type FormEvent } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { Navigate, useNavigate } from "react-router-dom";
import { ApiError } from "../../lib/api";
import { SESSION_KEY, signIn, useSession } from "./session";

export function LoginPage() {
  const session = useSession();
  const client = useQueryClient();
  const navigate = useNavigate();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  if (session.data) return <Navigate to="/dashboard" replace />;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const signedIn = await signIn(email, password);
      client.setQueryData(SESSION_KEY, signedIn);
      navigate("/dashboard", { replace: true });
    } catch (e) {
      setError(
        e instanceof ApiError && e.status === 429
          ? "Too many failed attempts. Wait a minute and try again."
          : e instanceof ApiError && e.status === 401
            ? "Wrong email or password."
            : "Could not sign in. Try again.",
      );
    } finally {
      setBusy(false);
    }
  }

  return (
    <main className="login">
      <form className="card login-card" data-test-id="login-form" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Sign in to paygate</h1>
        <label htmlFor="email">Email</label>
        <input
          id="email"
          data-test-id="email-input"
          type="email"
          autoComplete="username"
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
        />
        <label htmlFor="password">Password</label>
        <input
          id="password"
          data-test-id="password-input"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {error && (
          <p className="error" role="alert" data-test-id="login-error">
            {error}
          </p>
        )}
        <button type="submit" className="primary" data-test-id="login-button" disabled={busy}>
          {busy ? "Signing in…" : "Sign in"}
        </button>
      </form>
    </main>
  );
}
