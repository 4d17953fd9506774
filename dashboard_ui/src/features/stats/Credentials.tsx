import { useState } from "react";
import { CopyButton } from "../../components/CopyButton";
import type { Session } from "../../lib/types";
import { useRotateKeys, type RotatedKeys } from "./api";

const MASK = "••••••••••••••••••••";

/** The API key (copyable) and the secret: shown once after a rotation, otherwise masked. In development the
 * seeded test merchant's published secret may be revealed. */
export function Credentials({ session }: { session: Session }) {
  const rotate = useRotateKeys();
  const [fresh, setFresh] = useState<RotatedKeys | null>(null);
  const [revealed, setRevealed] = useState(false);
  const [confirming, setConfirming] = useState(false);

  const key = fresh?.api_key ?? session.merchant.api_key;
  const secret = fresh?.api_secret ?? (revealed ? session.published_secret : null);

  async function doRotate() {
    setConfirming(false);
    setFresh(await rotate.mutateAsync());
  }

  return (
    <section className="card" data-test-id="api-credentials" aria-labelledby="creds-title">
      <h2 id="creds-title">API credentials</h2>
      <dl className="creds">
        <dt>Key</dt>
        <dd>
          <code data-test-id="api-key">{key}</code>
          <CopyButton text={key} testId="copy-api-key" />
        </dd>
        <dt>Secret</dt>
        <dd>
          <code data-test-id="api-secret">{secret ?? MASK}</code>
          {secret && <CopyButton text={secret} testId="copy-api-secret" />}
          {!fresh && session.published_secret && (
            <button type="button" className="small" data-test-id="reveal-secret-button" onClick={() => setRevealed(!revealed)}>
              {revealed ? "Hide" : "Reveal test secret"}
            </button>
          )}
        </dd>
      </dl>
      {fresh && (
        <p className="notice" role="status" data-test-id="secret-once-notice">
          Copy the new secret now: it is shown only this once. The previous key keeps working until{" "}
          {new Date(fresh.previous_key_expires_at).toLocaleString("en-IN")}.
        </p>
      )}
      {!confirming ? (
        <button type="button" data-test-id="rotate-key-button" onClick={() => setConfirming(true)} disabled={rotate.isPending}>
          Rotate key
        </button>
      ) : (
        <div className="confirm">
          <span>Issue a new key pair?</span>
          <button type="button" className="danger" data-test-id="confirm-rotate-button" onClick={doRotate}>
            Rotate
          </button>
          <button type="button" onClick={() => setConfirming(false)}>
            Cancel
          </button>
        </div>
      )}
      {rotate.isError && <p className="error" role="alert">Could not rotate: {rotate.error.message}</p>}
    </section>
  );
}
