// Small pieces every screen uses: the signed-in user, errors from the API, form fields.
import { createContext, useContext, useMemo, type ReactNode } from "react";
import { useQuery } from "@tanstack/react-query";
import { ApiError, all } from "./api";
import { useI18n } from "./i18n";
import type { Me, Person } from "./types";

export const MeContext = createContext<Me>(null!);
export const useMe = () => useContext(MeContext);
export const hasRole = (me: Me, ...roles: string[]) => roles.some((r) => me.roles.includes(r));

export function ErrorBox({ error }: { error: unknown }) {
  const { t } = useI18n();
  if (!error) return null;
  if (error instanceof ApiError) {
    const p = error.problem;
    const text = p.status === 404 ? t("notFound") : p.status === 403 ? t("forbidden") : p.detail || p.title;
    return (
      <div className="error" role="alert">
        {text}
        {p.errors && p.errors.length > 0 && (
          <ul>
            {p.errors.map((e, i) => (
              <li key={i}>
                {e.field ? <b>{e.field}: </b> : null}
                {e.message}
              </li>
            ))}
          </ul>
        )}
      </div>
    );
  }
  return (
    <div className="error" role="alert">
      {String(error)}
    </div>
  );
}

/** A labelled control; the server's message for this field, when it named it, shown beneath. */
export function Field({ label, name, error, children }: { label: string; name?: string; error?: unknown; children: ReactNode }) {
  const message = name && error instanceof ApiError ? error.field(name) : undefined;
  return (
    <label className={`field${message ? " invalid" : ""}`}>
      <span>{label}</span>
      {children}
      {message && <small className="field-error">{message}</small>}
    </label>
  );
}

export function Loading() {
  const { t } = useI18n();
  return <div className="loading">{t("loading")}</div>;
}

/** A local date-time-input value (YYYY-MM-DDTHH:mm) as an RFC 3339 time with the browser's offset. */
export function withOffset(local: string): string {
  return new Date(local).toISOString();
}

/** A local calendar day, `days` from today. */
export function today(days = 0): string {
  const d = new Date();
  d.setDate(d.getDate() + days);
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

/** A colleague's name by id, from the directory every signed-in user reads (an id's start until it comes). */
export function usePersonName(): (id: string | null | undefined) => string {
  const people = useQuery({ queryKey: ["people"], queryFn: () => all<Person>("/people"), staleTime: 5 * 60_000 });
  return useMemo(() => {
    const names = new Map((people.data ?? []).map((p) => [p.id, p.name]));
    return (id: string | null | undefined) => (id ? names.get(id) ?? shortId(id) : "—");
  }, [people.data]);
}

export function shortId(id: string | null | undefined) {
  return id ? id.slice(0, 8) : "—";
}

export function csvDownload(name: string, header: string[], rows: (string | number | null | undefined)[][]) {
  const cell = (v: string | number | null | undefined) => {
    const s = v === null || v === undefined ? "" : String(v);
    return /[",\n;]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const text = [header, ...rows].map((r) => r.map(cell).join(",")).join("\r\n");
  const a = document.createElement("a");
  a.href = URL.createObjectURL(new Blob(["\ufeff" + text], { type: "text/csv;charset=utf-8" }));
  a.download = `${name}.csv`;
  a.click();
  setTimeout(() => URL.revokeObjectURL(a.href), 1000);
}
