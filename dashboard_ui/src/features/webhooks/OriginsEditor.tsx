import { useEffect, useState, type FormEvent } from "react";
import { useCheckoutConfig, useSaveCheckoutConfig } from "./api";

/** The origins allowed to open this merchant's checkout (one per line), when the gateway offers the setting. */
export function OriginsEditor() {
  const config = useCheckoutConfig();
  const save = useSaveCheckoutConfig();
  const [text, setText] = useState("");
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);

  useEffect(() => {
    if (config.data) setText(config.data.allowed_origins.join("\n"));
  }, [config.data]);

  if (config.isPending) return null;
  async function submit(event: FormEvent) {
    event.preventDefault();
    const origins = text
      .split(/\s+/)
      .map((o) => o.trim())
      .filter(Boolean);
    try {
      await save.mutateAsync(origins);
      setMessage({ ok: true, text: "Saved." });
    } catch (e) {
      setMessage({ ok: false, text: e instanceof Error ? e.message : "Could not save" });
    }
  }
  return (
    <section className="card" data-test-id="checkout-origins" aria-labelledby="origins-title">
      <h2 id="origins-title">Allowed checkout origins</h2>
      {config.data === null ? (
        <p data-test-id="checkout-origins-unavailable">This gateway does not offer checkout origin settings.</p>
      ) : (
        <form onSubmit={submit}>
          <label htmlFor="origins">Origins that may embed your checkout, one per line (https://shop.example)</label>
          <textarea
            id="origins"
            rows={4}
            data-test-id="checkout-origins-input"
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
          {message && (
            <p className={message.ok ? "notice" : "error"} role={message.ok ? "status" : "alert"}>
              {message.text}
            </p>
          )}
          <button type="submit" data-test-id="save-origins-button" disabled={save.isPending}>
            Save origins
          </button>
        </form>
      )}
    </section>
  );
}
