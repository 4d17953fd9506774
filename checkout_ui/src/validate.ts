// Client-side checks that mirror the gateway's own (commands/instruments.py): a field that fails says why
// beside itself and nothing is sent. The server checks everything again; these only spare a round trip.

export type Network = "visa" | "mastercard" | "amex" | "rupay" | "unknown";

const VPA = /^[a-zA-Z0-9._-]+@[a-zA-Z0-9]+$/;

export function checkVpa(vpa: string): string | null {
  if (!vpa.trim()) return "Enter your UPI ID, such as name@bank";
  return VPA.test(vpa.trim()) ? null : "Enter a valid UPI ID, such as name@bank";
}

export function cardDigits(number: string): string {
  return number.replace(/[ \t-]/g, "");
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return sum % 10 === 0;
}

export function cardNetwork(digits: string): Network {
  if (digits.startsWith("4")) return "visa";
  const two = Number(digits.slice(0, 2));
  if (digits.length >= 2 && two >= 51 && two <= 55) return "mastercard";
  if (two === 34 || two === 37) return "amex";
  if (two === 60 || two === 65 || (two >= 81 && two <= 89)) return "rupay";
  return "unknown";
}

export function checkCardNumber(number: string): string | null {
  const digits = cardDigits(number);
  if (!digits) return "Enter your card number";
  if (!/^[0-9]+$/.test(digits)) return "A card number has digits only";
  if (digits.length < 13 || digits.length > 19) return "A card number has 13 to 19 digits";
  return luhnValid(digits) ? null : "This card number is not valid: check it for typos";
}

/** [month, 4-digit year] of "MM/YY" (or MM/YYYY), or null when it is not in that form. */
export function parseExpiry(expiry: string): [number, number] | null {
  const m = /^\s*([0-9]{1,2})\s*\/\s*([0-9]{2}|[0-9]{4})\s*$/.exec(expiry);
  if (!m) return null;
  const year = m[2].length === 2 ? 2000 + Number(m[2]) : Number(m[2]);
  return [Number(m[1]), year];
}

export function checkExpiry(expiry: string, today: Date = new Date()): string | null {
  if (!expiry.trim()) return "Enter the expiry date as MM/YY";
  const parsed = parseExpiry(expiry);
  if (!parsed) return "Enter the expiry date as MM/YY";
  const [month, year] = parsed;
  if (month < 1 || month > 12) return "The month must be 01 to 12";
  const now = today.getFullYear() * 12 + today.getMonth();
  return year * 12 + (month - 1) >= now ? null : "This card has expired";
}

export function cvvLength(network: Network): number[] {
  if (network === "amex") return [4];
  return network === "unknown" ? [3, 4] : [3];
}

export function checkCvv(cvv: string, network: Network): string | null {
  const lengths = cvvLength(network);
  const digits = lengths.join(" or ");
  if (!cvv) return `Enter the ${digits}-digit security code (CVV)`;
  return /^[0-9]+$/.test(cvv) && lengths.includes(cvv.length) ? null : `The CVV has ${digits} digits`;
}

export function checkHolder(name: string): string | null {
  return name.trim() ? null : "Enter the name on the card";
}
