// Money is integer paise; the dashboard shows rupees in Indian digit grouping (₹5,00,000), paise only when not zero.

function groupIndian(whole: string): string {
  if (whole.length <= 3) return whole;
  const last3 = whole.slice(-3);
  const rest = whole.slice(0, -3);
  return rest.replace(/\B(?=(\d{2})+(?!\d))/g, ",") + "," + last3;
}

export function formatRupees(paise: number): string {
  const negative = paise < 0;
  const abs = Math.abs(Math.trunc(paise));
  const whole = groupIndian(Math.floor(abs / 100).toString());
  const rest = abs % 100;
  const text = rest === 0 ? `₹${whole}` : `₹${whole}.${rest.toString().padStart(2, "0")}`;
  return negative ? `-${text}` : text;
}

/** Successful / all × 100, whole percent: `95%` (`0%` with no payments). */
export function formatRate(success: number, total: number): string {
  if (total <= 0) return "0%";
  return `${Math.round((success * 100) / total)}%`;
}

/** A rupee amount typed by a person (`250`, `250.5`, `1,000.25`) in paise, or null when it is not one. */
export function parseRupees(text: string): number | null {
  const clean = text.replace(/[,₹\s]/g, "");
  if (!/^\d+(\.\d{1,2})?$/.test(clean)) return null;
  const [whole, frac = ""] = clean.split(".");
  return Number(whole) * 100 + Number(frac.padEnd(2, "0"));
}

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString("en-IN", { dateStyle: "medium", timeStyle: "medium" });
}

/** A `YYYY-MM-DD` date input as unix seconds (start of that day, or its last second with `endOfDay`). */
export function dayToUnix(day: string, endOfDay = false): number | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day)) return null;
  const ms = Date.parse(`${day}T${endOfDay ? "23:59:59" : "00:00:00"}`);
  return Number.isNaN(ms) ? null : Math.floor(ms / 1000);
}
