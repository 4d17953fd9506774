import { describe, expect, it } from "vitest";
import { dayToUnix, formatRate, formatRupees, parseRupees } from "../format";

describe("formatRupees", () => {
  it("groups digits the Indian way and drops zero paise", () => {
    expect(formatRupees(50_000_000)).toBe("₹5,00,000");
    expect(formatRupees(1_000_000_000)).toBe("₹1,00,00,000");
    expect(formatRupees(50_000)).toBe("₹500");
    expect(formatRupees(100)).toBe("₹1");
    expect(formatRupees(0)).toBe("₹0");
  });
  it("shows paise when they are not zero", () => {
    expect(formatRupees(123_456)).toBe("₹1,234.56");
    expect(formatRupees(50_005)).toBe("₹500.05");
  });
});

describe("formatRate", () => {
  it("is successful over all as a whole percent", () => {
    expect(formatRate(95, 100)).toBe("95%");
    expect(formatRate(2, 3)).toBe("67%");
    expect(formatRate(0, 0)).toBe("0%");
  });
});

describe("parseRupees", () => {
  it("reads rupees typed by a person into paise", () => {
    expect(parseRupees("250")).toBe(25_000);
    expect(parseRupees("250.5")).toBe(25_050);
    expect(parseRupees("₹1,000.25")).toBe(100_025);
  });
  it("refuses what is not an amount", () => {
    expect(parseRupees("abc")).toBeNull();
    expect(parseRupees("1.234")).toBeNull();
    expect(parseRupees("-5")).toBeNull();
  });
});

describe("dayToUnix", () => {
  it("takes a whole day, and refuses what is not a date", () => {
    const start = dayToUnix("2026-01-15")!;
    expect(dayToUnix("2026-01-15", true)! - start).toBe(86_399);
    expect(dayToUnix("15/01/2026")).toBeNull();
  });
});
