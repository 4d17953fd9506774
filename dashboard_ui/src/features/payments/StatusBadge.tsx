export function StatusBadge({ status, testId }: { status: string; testId?: string }) {
  return (
    <span className={`badge badge-${status}`} data-test-id={testId}>
      {status}
    </span>
  );
}
