import { render, screen } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import { Timeline } from "../Timeline";

describe("Timeline", () => {
  it("lists every event oldest first with what caused it", () => {
    render(
      <Timeline
        events={[
          { id: "1", type: "payment.created", version: 1, recorded_at: "2026-01-01T10:00:00Z", data: {}, caused_by: { actor: "api", request_id: "abc" } },
          { id: "2", type: "payment.succeeded", version: 1, recorded_at: "2026-01-01T10:00:05Z", data: {}, caused_by: { actor: "worker" } },
        ]}
      />,
    );
    const items = screen.getAllByRole("listitem");
    expect(items.map((i) => i.getAttribute("data-event-type"))).toEqual(["payment.created", "payment.succeeded"]);
    expect(items[0]).toHaveTextContent("API request abc");
    expect(items[1]).toHaveTextContent("a worker");
  });
});
