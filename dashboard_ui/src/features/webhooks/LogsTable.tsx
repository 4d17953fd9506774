import { useState } from "react";
import { formatTime } from "../../lib/format";
import { StatusBadge } from "../payments/StatusBadge";
import { LOG_PAGE, useRetry, useWebhookLog, useWebhookLogs } from "./api";

function LogDetail({ id, onClose }: { id: string; onClose: () => void }) {
  const log = useWebhookLog(id);
  return (
    <section className="card log-detail" data-test-id="webhook-log-detail" aria-labelledby="log-title">
      <header className="drawer-head">
        <h3 id="log-title">Delivery {id}</h3>
        <button type="button" className="small" onClick={onClose}>
          Close
        </button>
      </header>
      {log.data ? (
        <>
          <h4>Payload</h4>
          <pre tabIndex={0} aria-label="Payload" data-test-id="webhook-payload">{JSON.stringify(log.data.payload, null, 2)}</pre>
          <h4>Response{log.data.response_code ? ` (${log.data.response_code})` : ""}</h4>
          <pre tabIndex={0} aria-label="Response body" data-test-id="webhook-response-body">{log.data.response_body || log.data.error || "(none)"}</pre>
        </>
      ) : (
        <p>Loading…</p>
      )}
    </section>
  );
}

export function LogsTable() {
  const [offset, setOffset] = useState(0);
  const [open, setOpen] = useState<string | null>(null);
  const logs = useWebhookLogs(offset);
  const retry = useRetry();
  const rows = logs.data?.data ?? [];
  const total = logs.data?.total ?? 0;
  return (
    <section className="card" aria-labelledby="logs-title">
      <h2 id="logs-title">Deliveries</h2>
      <div className="table-wrap">
        <table data-test-id="webhook-logs-table">
          <thead>
            <tr>
              <th scope="col">Event</th>
              <th scope="col">Status</th>
              <th scope="col">Attempts</th>
              <th scope="col">Last attempt</th>
              <th scope="col">Response</th>
              <th scope="col">Next retry</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((w) => (
              <tr key={w.id} data-test-id="webhook-log-item" data-webhook-id={w.id}>
                <td data-test-id="webhook-event">{w.event}</td>
                <td data-test-id="webhook-status">
                  <StatusBadge status={w.status} />
                </td>
                <td data-test-id="webhook-attempts">{w.attempts}</td>
                <td data-test-id="webhook-last-attempt">{formatTime(w.last_attempt_at)}</td>
                <td data-test-id="webhook-response-code">{w.response_code ?? "—"}</td>
                <td data-test-id="webhook-next-retry">{formatTime(w.next_retry_at)}</td>
                <td className="row-actions">
                  <button type="button" className="small" data-test-id="view-webhook-button" onClick={() => setOpen(w.id)}>
                    View
                  </button>
                  <button
                    type="button"
                    className="small"
                    data-test-id="retry-webhook-button"
                    data-webhook-id={w.id}
                    disabled={retry.isPending}
                    onClick={() => retry.mutate(w.id)}
                  >
                    Retry
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {logs.isSuccess && rows.length === 0 && <p className="empty">No deliveries yet.</p>}
      <nav className="pager" aria-label="Delivery pages">
        <button type="button" disabled={offset === 0} onClick={() => setOffset(Math.max(0, offset - LOG_PAGE))}>
          Previous
        </button>
        <span>
          {total === 0 ? 0 : offset + 1}–{Math.min(offset + LOG_PAGE, total)} of {total}
        </span>
        <button type="button" disabled={offset + LOG_PAGE >= total} onClick={() => setOffset(offset + LOG_PAGE)}>
          Next
        </button>
      </nav>
      {open && <LogDetail id={open} onClose={() => setOpen(null)} />}
    </section>
  );
}
