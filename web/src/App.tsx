import { Suspense, lazy, useEffect, useState, useSyncExternalStore } from "react";
import { useQuery } from "@tanstack/react-query";
import { NavLink, Navigate, Route, Routes, useLocation } from "react-router-dom";
import { authState, get, onAuthChange, signOut } from "./api";
import { useI18n, type Key } from "./i18n";
import { useLive } from "./live";
import type { Me } from "./types";
import { ErrorBox, Loading, MeContext, hasRole } from "./ui";
import { Login } from "./pages/Login";
import { Companies } from "./pages/Companies";
import { CompanyCard } from "./pages/CompanyCard";
import { BoardPage } from "./pages/Board";
import { DealPage } from "./pages/Deal";
import { BillingPage } from "./pages/Billing";
import { MarketingEventPage, MarketingEvents } from "./pages/Marketing";
// Charts and administration are loaded when first opened: the board and the cards start without them.
const Dashboards = lazy(() => import("./pages/Dashboards").then((m) => ({ default: m.Dashboards })));
const AdminPage = lazy(() => import("./pages/Admin").then((m) => ({ default: m.AdminPage })));

/** The screens each role opens; the services still decide what each one sees. */
function screens(me: Me): { to: string; label: Key }[] {
  const out: { to: string; label: Key }[] = [];
  const sales = hasRole(me, "manager", "head", "executive", "admin");
  if (sales || hasRole(me, "marketing", "support")) out.push({ to: "/clients", label: "clients" });
  if (sales) out.push({ to: "/board", label: "board" }, { to: "/billing", label: "billing" });
  if (sales || hasRole(me, "marketing")) out.push({ to: "/marketing", label: "marketing" });
  if (sales || hasRole(me, "marketing")) out.push({ to: "/dashboards", label: "dashboards" });
  if (hasRole(me, "admin", "head", "marketing")) out.push({ to: "/admin", label: "admin" });
  return out;
}

function home(me: Me): string {
  if (hasRole(me, "executive", "marketing") && !hasRole(me, "manager")) return "/dashboards";
  if (hasRole(me, "head")) return "/board";
  if (hasRole(me, "admin") && !hasRole(me, "manager")) return "/admin";
  return "/clients";
}

export function App() {
  const state = useSyncExternalStore(onAuthChange, authState);
  if (state === "checking") return <Loading />;
  return state === "in" ? <SignedIn /> : <Login />;
}

function SignedIn() {
  const { t, lang, setLang } = useI18n();
  const me = useQuery({ queryKey: ["me"], queryFn: () => get<Me>("/me") });
  const [menuOpen, setMenuOpen] = useState(false);
  const live = useLive(!!me.data);
  const { pathname } = useLocation();
  useEffect(() => setMenuOpen(false), [pathname]);
  if (me.isPending) return <Loading />;
  if (me.isError) return <ErrorBox error={me.error} />;
  const links = screens(me.data);
  return (
    <MeContext.Provider value={me.data}>
      <header className="top">
        <button className="menu-button" aria-label={t("menu")} aria-expanded={menuOpen} onClick={() => setMenuOpen(!menuOpen)}>
          ☰
        </button>
        <span className="brand">{t("appName")}</span>
        <nav className={menuOpen ? "open" : ""} aria-label="main">
          {links.map((l) => (
            <NavLink key={l.to} to={l.to} onClick={() => setMenuOpen(false)}>
              {t(l.label)}
            </NavLink>
          ))}
        </nav>
        <span className="spacer" />
        <span className={`live-dot ${live ? "on" : ""}`} title={t("live")} data-testid="live">
          ●
        </span>
        <select aria-label={t("language")} value={lang} onChange={(e) => setLang(e.target.value as "ru" | "en")}>
          <option value="ru">RU</option>
          <option value="en">EN</option>
        </select>
        <span className="who" data-testid="who">
          {me.data.name}
        </span>
        <button className="link" onClick={() => signOut()}>
          {t("signOut")}
        </button>
      </header>
      <main>
        <Suspense fallback={<Loading />}>
        <Routes>
          <Route path="/" element={<Navigate to={home(me.data)} replace />} />
          <Route path="/clients" element={<Companies />} />
          <Route path="/clients/:id" element={<CompanyCard />} />
          <Route path="/board" element={<BoardPage />} />
          <Route path="/deals/:id" element={<DealPage />} />
          <Route path="/billing" element={<BillingPage />} />
          <Route path="/marketing" element={<MarketingEvents />} />
          <Route path="/marketing/:id" element={<MarketingEventPage />} />
          <Route path="/dashboards" element={<Dashboards />} />
          <Route path="/admin" element={<AdminPage />} />
          <Route path="*" element={<ErrorBox error={t("notFound")} />} />
        </Routes>
        </Suspense>
      </main>
    </MeContext.Provider>
  );
}
