import { useEffect, useState, type FormEvent } from "react";
import { CopyButton } from "../../components/CopyButton";
import type { WebhookConfig } from "../../lib/types";
import { EVENTS, useRegenerateSecret, useSaveConfig, useSendTest } from "./api";

export function ConfigForm({ config }: { config: WebhookConfig }) {
  const save = useSaveConfig();
  const regenerate = useRegenerateSecret();
  const sendTest = useSendTest();
  const [url, setUrl] = useState(config.url ?? "");
  const [events, setEvents] = useState<string[]>(config.events.length ? config.events : EVENTS.slice(0, 4).concat(EVENTS.slice(6)));
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);

  useEffect(() => setUrl(config.url ?? ""), [config.url]);

  async function submit(event: FormEvent) {
    event.preventDefault();
    setMessage(null);
    try {
      await save.mutateAsync({ url: url.trim() || null, events });
      setMessage({ ok: true, text: url.trim() ? "Saved." : "Saved: deliveries are off." });
    } catch (e) {
      setMessage({ ok: false, text: e instanceof Error ? e.message : "Could not save" });
    }
  }

  async function test() {
    setMessage(null);
    try {
      const sent = await sendTest.mutateAsync();
      setMessage({ ok: true, text: `Test event queued (${sent.id}).` });
    } catch (e) {
      setMessage({ ok: false, text: e instanceof Error ? e.message : "Could not send" });
    }
  }

  const toggle = (name: string) =>
    setEvents((now) => (now.includes(name) ? now.filter((e) => e !== name) : [...now, name]));

  return (
    <form className="card" data-test-id="webhook-config-form" onSubmit={submit} aria-labelledby="hook-title">
      <h2 id="hook-title">Endpoint</h2>
      <label htmlFor="webhook-url">Webhook URL</label>
      <input
        id="webhook-url"
        type="url"
        data-test-id="webhook-url-input"
        placeholder="https://yoursite.example/webhook"
        value={url}
        onChange={(e) => setUrl(e.target.value)}
      />
      <fieldset className="events">
        <legend>Events</legend>
        {EVENTS.map((name) => (
          <label key={name}>
            <input type="checkbox" checked={events.includes(name)} onChange={() => toggle(name)} data-event={name} />
            {name}
          </label>
        ))}
      </fieldset>
      <div className="secret-row">
        <span>Signing secret</span>
        <code data-test-id="webhook-secret">{config.secret ?? "(deleted)"}</code>
        {config.secret && <CopyButton text={config.secret} testId="copy-webhook-secret" />}
        <button
          type="button"
          className="small"
          data-test-id="regenerate-secret-button"
          disabled={regenerate.isPending}
          onClick={() => regenerate.mutate()}
        >
          Regenerate
        </button>
      </div>
      {message && (
        <p className={message.ok ? "notice" : "error"} role={message.ok ? "status" : "alert"} data-test-id="webhook-message">
          {message.text}
        </p>
      )}
      <div className="actions">
        <button type="submit" className="primary" data-test-id="save-webhook-button" disabled={save.isPending}>
          Save
        </button>
        <button type="button" data-test-id="test-webhook-button" disabled={sendTest.isPending} onClick={test}>
          Send test event
        </button>
      </div>
    </form>
  );
}
