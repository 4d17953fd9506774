import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { MemoryRouter } from "react-router-dom";
import { afterEach, describe, expect, it, vi } from "vitest";
import { LoginPage } from "../LoginPage";

function answer(status: number, body: unknown) {
  return Promise.resolve(new Response(JSON.stringify(body), { status }));
}

afterEach(() => vi.unstubAllGlobals());

describe("LoginPage", () => {
  it("has the contract's test ids and says when the password is wrong", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn((url: string) =>
        url.endsWith("/session")
          ? answer(401, { error: { code: "AUTHENTICATION_ERROR", description: "Session expired" } })
          : answer(401, { error: { code: "AUTHENTICATION_ERROR", description: "Invalid email or password" } }),
      ),
    );
    render(
      <QueryClientProvider client={new QueryClient()}>
        <MemoryRouter future={{ v7_startTransition: true, v7_relativeSplatPath: true }}>
          <LoginPage />
        </MemoryRouter>
      </QueryClientProvider>,
    );
    const form = await screen.findByRole("form", { name: "Sign in to paygate" });
    expect(form).toHaveAttribute("data-test-id", "login-form");
    await userEvent.type(screen.getByLabelText("Email"), "shop@example.com");
    await userEvent.type(screen.getByLabelText("Password"), "nope");
    await userEvent.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Wrong email or password.");
    expect(screen.getByLabelText("Password")).toHaveAttribute("data-test-id", "password-input");
  });
});
