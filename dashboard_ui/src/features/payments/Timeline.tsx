import { formatTime } from "../../lib/format";
import type { HistoryEvent } from "../../lib/types";

function cause(e: HistoryEvent): string {
  const by = e.caused_by;
  if (by.actor === "api") return `API request ${by.request_id ?? ""}`.trim();
  if (by.actor === "worker") return "a worker";
  return by.actor ?? "system";
}

/** Every event of the payment, oldest first: what happened, when, and what caused it. */
export function Timeline({ events }: { events: HistoryEvent[] }) {
  return (
    <ol className="timeline" data-test-id="event-timeline">
      {events.map((e) => (
        <li key={e.id} data-test-id="timeline-event" data-event-type={e.type}>
          <span className="timeline-type">{e.type}</span>
          <time dateTime={e.recorded_at}>{formatTime(e.recorded_at)}</time>
          <span className="timeline-cause">by {cause(e)}</span>
        </li>
      ))}
    </ol>
  );
}
