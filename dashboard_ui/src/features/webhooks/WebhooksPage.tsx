import { ConfigForm } from "./ConfigForm";
import { LogsTable } from "./LogsTable";
import { OriginsEditor } from "./OriginsEditor";
import { useWebhookConfig } from "./api";

export function WebhooksPage() {
  const config = useWebhookConfig();
  return (
    <div className="page" data-test-id="webhook-config">
      <h1>Webhooks</h1>
      {config.data ? <ConfigForm config={config.data} /> : <p>Loading…</p>}
      <LogsTable />
      <OriginsEditor />
    </div>
  );
}
