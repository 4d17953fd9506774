import { Bar, CartesianGrid, ComposedChart, Legend, Line, ResponsiveContainer, Tooltip, XAxis, YAxis } from "recharts";
import { formatRupees } from "../../lib/format";
import type { Day } from "../../lib/types";

/** Daily successful volume (bars, ₹) and success rate (line, %) over the days given. */
export function VolumeChart({ days }: { days: Day[] }) {
  const data = days.map((d) => ({
    day: d.date.slice(5),
    volume: d.success_amount / 100,
    rate: d.success_rate,
    payments: d.total_count,
  }));
  const summary = days.filter((d) => d.total_count > 0).length;
  return (
    <figure className="chart" data-test-id="volume-chart" aria-label="Daily volume and success rate, last 30 days">
      <ResponsiveContainer width="100%" height={260}>
        <ComposedChart data={data} margin={{ top: 8, right: 8, bottom: 0, left: 0 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="#e3e6ee" />
          <XAxis dataKey="day" tick={{ fontSize: 11 }} interval="preserveStartEnd" />
          <YAxis yAxisId="volume" tick={{ fontSize: 11 }} tickFormatter={(v: number) => formatRupees(v * 100)} width={72} />
          <YAxis yAxisId="rate" orientation="right" domain={[0, 100]} tick={{ fontSize: 11 }} unit="%" width={40} />
          <Tooltip
            formatter={(value: number, name: string) =>
              name === "Volume" ? formatRupees(Math.round(value * 100)) : `${value ?? 0}%`
            }
          />
          <Legend />
          <Bar yAxisId="volume" dataKey="volume" name="Volume" fill="#3b5bdb" radius={[3, 3, 0, 0]} isAnimationActive={false} />
          <Line yAxisId="rate" dataKey="rate" name="Success rate" stroke="#2b8a3e" strokeWidth={2} dot={{ r: 3 }} connectNulls isAnimationActive={false} />
        </ComposedChart>
      </ResponsiveContainer>
      <figcaption>
        Last 30 days (UTC): {summary} day{summary === 1 ? "" : "s"} with payments.
      </figcaption>
    </figure>
  );
}
