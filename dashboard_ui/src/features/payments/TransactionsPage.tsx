import { useState } from "react";
import { dayToUnix, formatRupees, formatTime } from "../../lib/format";
import { PAGE_SIZE, usePayments, type PaymentFilters } from "./api";
import { PaymentDrawer } from "./PaymentDrawer";
import { StatusBadge } from "./StatusBadge";

const EMPTY: PaymentFilters = { status: "", method: "", from: null, to: null, search: "", page: 0 };

export function TransactionsPage() {
  const [filters, setFilters] = useState<PaymentFilters>(EMPTY);
  const [fromDay, setFromDay] = useState("");
  const [toDay, setToDay] = useState("");
  const [search, setSearch] = useState("");
  const [open, setOpen] = useState<string | null>(null);
  const payments = usePayments(filters);
  const items = payments.data?.items ?? [];

  const set = (patch: Partial<PaymentFilters>) => setFilters((f) => ({ ...f, ...patch, page: 0 }));

  return (
    <div className="page">
      <h1>Transactions</h1>
      <form
        className="filters card"
        aria-label="Filters"
        onSubmit={(e) => {
          e.preventDefault();
          set({ search });
        }}
      >
        <label>
          Status
          <select data-test-id="filter-status" value={filters.status} onChange={(e) => set({ status: e.target.value })}>
            <option value="">All</option>
            <option value="pending">Pending</option>
            <option value="success">Success</option>
            <option value="failed">Failed</option>
          </select>
        </label>
        <label>
          Method
          <select data-test-id="filter-method" value={filters.method} onChange={(e) => set({ method: e.target.value })}>
            <option value="">All</option>
            <option value="upi">UPI</option>
            <option value="card">Card</option>
          </select>
        </label>
        <label>
          From
          <input
            type="date"
            data-test-id="filter-from"
            value={fromDay}
            onChange={(e) => {
              setFromDay(e.target.value);
              set({ from: dayToUnix(e.target.value) });
            }}
          />
        </label>
        <label>
          To
          <input
            type="date"
            data-test-id="filter-to"
            value={toDay}
            onChange={(e) => {
              setToDay(e.target.value);
              set({ to: dayToUnix(e.target.value, true) });
            }}
          />
        </label>
        <label className="grow">
          Payment or order id
          <input
            type="search"
            data-test-id="search-input"
            placeholder="pay_… or order_…"
            value={search}
            onChange={(e) => setSearch(e.target.value)}
          />
        </label>
        <button type="submit" data-test-id="search-button">
          Search
        </button>
      </form>
      <div className="table-wrap card">
        <table data-test-id="transactions-table">
          <caption className="visually-hidden">Payments, newest first</caption>
          <thead>
            <tr>
              <th scope="col">Payment</th>
              <th scope="col">Order</th>
              <th scope="col">Amount</th>
              <th scope="col">Method</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {items.map((p) => (
              <tr
                key={p.id}
                data-test-id="transaction-row"
                data-payment-id={p.id}
                className="clickable"
                onClick={() => setOpen(p.id)}
              >
                <td data-test-id="payment-id">
                  <button type="button" className="link" onClick={() => setOpen(p.id)}>
                    {p.id}
                  </button>
                </td>
                <td data-test-id="order-id">{p.order_id}</td>
                <td data-test-id="amount">{formatRupees(p.amount)}</td>
                <td data-test-id="method">{p.method}</td>
                <td data-test-id="status">
                  <StatusBadge status={p.status} />
                </td>
                <td data-test-id="created-at">
                  <time dateTime={p.created_at}>{formatTime(p.created_at)}</time>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
        {payments.isSuccess && items.length === 0 && <p className="empty">No payments match.</p>}
        {payments.isError && <p className="error" role="alert">{payments.error.message}</p>}
      </div>
      <nav className="pager" aria-label="Pages">
        <button
          type="button"
          data-test-id="prev-page"
          disabled={filters.page === 0}
          onClick={() => setFilters((f) => ({ ...f, page: f.page - 1 }))}
        >
          Previous
        </button>
        <span data-test-id="page-number">Page {filters.page + 1}</span>
        <button
          type="button"
          data-test-id="next-page"
          disabled={items.length < PAGE_SIZE}
          onClick={() => setFilters((f) => ({ ...f, page: f.page + 1 }))}
        >
          Next
        </button>
      </nav>
      {open && <PaymentDrawer paymentId={open} onClose={() => setOpen(null)} />}
    </div>
  );
}
