import { NavLink, Outlet } from "react-router-dom";
import { useSession, useSignOut } from "../features/auth/session";

const LINKS = [
  { to: "/dashboard", label: "Home", end: true },
  { to: "/dashboard/transactions", label: "Transactions", end: false },
  { to: "/dashboard/webhooks", label: "Webhooks", end: false },
  { to: "/dashboard/docs", label: "Docs", end: false },
];

export function Layout() {
  const session = useSession();
  const signOut = useSignOut();
  return (
    <div className="shell">
      <header className="topbar">
        <span className="brand">paygate</span>
        <nav aria-label="Main">
          {LINKS.map((l) => (
            <NavLink key={l.to} to={l.to} end={l.end}>
              {l.label}
            </NavLink>
          ))}
        </nav>
        <div className="who">
          <span className="merchant-name" data-test-id="merchant-name">
            {session.data?.merchant.name}
          </span>
          <button type="button" className="small" data-test-id="logout-button" onClick={signOut}>
            Sign out
          </button>
        </div>
      </header>
      <main className="content">
        <Outlet />
      </main>
    </div>
  );
}
