import { useState } from "react";

/** Copies ``text`` to the clipboard and says so for a moment (to screen readers too). */
export function CopyButton({ text, label = "Copy", testId }: { text: string; label?: string; testId?: string }) {
  const [copied, setCopied] = useState(false);
  async function copy() {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
      window.setTimeout(() => setCopied(false), 1500);
    } catch {
      setCopied(false);
    }
  }
  return (
    <button type="button" className="small" onClick={copy} data-test-id={testId} aria-live="polite">
      {copied ? "Copied" : label}
    </button>
  );
}
