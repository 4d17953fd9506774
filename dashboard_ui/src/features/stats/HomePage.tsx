import { formatRate, formatRupees } from "../../lib/format";
import { useSession } from "../auth/session";
import { useBalance, useStats } from "./api";
import { Credentials } from "./Credentials";
import { VolumeChart } from "./VolumeChart";

export function HomePage() {
  const session = useSession();
  const stats = useStats();
  const balance = useBalance();
  const s = stats.data;
  const inr = balance.data?.balances.find((b) => b.currency === "INR");

  return (
    <div data-test-id="dashboard" className="page">
      <h1>Home</h1>
      {session.data && <Credentials session={session.data} />}
      <section className="stats" data-test-id="stats-container" aria-label="Payment figures">
        <div className="stat card">
          <span className="stat-label">Transactions</span>
          <span className="stat-value" data-test-id="total-transactions">
            {s ? s.total_count : "—"}
          </span>
        </div>
        <div className="stat card">
          <span className="stat-label">Successful volume</span>
          <span className="stat-value" data-test-id="total-amount">
            {s ? formatRupees(s.success_amount) : "—"}
          </span>
        </div>
        <div className="stat card">
          <span className="stat-label">Success rate</span>
          <span className="stat-value" data-test-id="success-rate">
            {s ? formatRate(s.success_count, s.total_count) : "—"}
          </span>
        </div>
        <div className="stat card">
          <span className="stat-label">Available balance</span>
          <span className="stat-value" data-test-id="balance-available">
            {balance.data ? formatRupees(inr?.available ?? 0) : "—"}
          </span>
          {inr && (
            <span className="stat-note">
              payable {formatRupees(inr.payable)}, refunds pending {formatRupees(inr.refunds_pending)}
            </span>
          )}
        </div>
      </section>
      <section className="card" aria-labelledby="chart-title">
        <h2 id="chart-title">Daily volume and success rate</h2>
        {s ? <VolumeChart days={s.daily} /> : <p>Loading…</p>}
      </section>
    </div>
  );
}
