import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { Session } from "../../../lib/types";
import { Credentials } from "../Credentials";

const SESSION: Session = {
  merchant: { id: "m", name: "Shop", email: "s@example.com", api_key: "key_test_abc123" },
  csrf_token: "t",
  expires_at: "2030-01-01T00:00:00Z",
  published_secret: "secret_test_xyz789",
};

function renderWith(session: Session) {
  return render(
    <QueryClientProvider client={new QueryClient()}>
      <Credentials session={session} />
    </QueryClientProvider>,
  );
}

describe("Credentials", () => {
  it("masks the secret, and reveals only the published test secret on request", async () => {
    const { container } = renderWith(SESSION);
    const secret = container.querySelector('[data-test-id="api-secret"]')!;
    expect(secret.textContent).not.toContain("secret_test");
    await userEvent.click(screen.getByRole("button", { name: "Reveal test secret" }));
    expect(secret).toHaveTextContent("secret_test_xyz789");
  });

  it("offers no reveal for a merchant whose secret is not published", () => {
    renderWith({ ...SESSION, published_secret: null });
    expect(screen.queryByRole("button", { name: /Reveal/ })).toBeNull();
    expect(screen.getByText("key_test_abc123")).toHaveAttribute("data-test-id", "api-key");
  });
});
