// Dashboards built from whatever reports the public API offers: every GET under /api/v1/reports/ (and the
// receivables) found in the OpenAPI document becomes a panel — its parameters as controls, its rows as a
// table, a chart of its figures and a CSV export. A report added to analytics shows up by itself.
import { useMemo, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import { Link } from "react-router-dom";
import { get, type Query } from "../api";
import { Chart } from "../chart";
import { useI18n } from "../i18n";
import { DataTable } from "../table";
import { ErrorBox, Loading, csvDownload, useMe } from "../ui";

interface Param {
  name: string;
  required: boolean;
  enum?: string[];
  format?: string;
  type?: string;
  default?: unknown;
}

export interface Report {
  path: string; // after /api/v1
  title: string;
  params: Param[];
}

type Json = Record<string, any>;

function resolve(doc: Json, schema: Json | undefined): Json {
  let s = schema ?? {};
  for (let i = 0; i < 10 && s.$ref; i++) s = s.$ref.split("/").slice(1).reduce((o: Json, k: string) => o?.[k], doc) ?? {};
  const options = s.anyOf || s.oneOf;
  if (options) return resolve(doc, options.find((o: Json) => o.type !== "null") ?? {});
  return s;
}

export function reportsOf(doc: Json): Report[] {
  const out: Report[] = [];
  for (const [path, item] of Object.entries<Json>(doc.paths ?? {})) {
    const op = item.get;
    if (!op || path.includes("{")) continue;
    if (!path.startsWith("/api/v1/reports/") && path !== "/api/v1/receivables") continue;
    const params: Param[] = (op.parameters ?? [])
      .filter((p: Json) => p.in === "query" && !["cursor", "limit"].includes(p.name))
      .map((p: Json) => {
        const s = resolve(doc, p.schema);
        return { name: p.name, required: !!p.required, enum: s.enum, format: s.format, type: s.type, default: s.default ?? p.schema?.default };
      })
      // An id is chosen by clicking through, not typed in.
      .filter((p: Param) => p.format !== "uuid");
    out.push({ path: path.slice("/api/v1".length), title: op.summary || path.split("/").pop()!, params });
  }
  return out.sort((a, b) => a.path.localeCompare(b.path));
}

/** The panels a role opens first; any other report is one choice away. */
function presets(roles: string[]): { path: string; query: Query }[] {
  if (roles.includes("executive"))
    return [{ path: "/reports/client-base", query: { by: "status" } }, { path: "/receivables", query: { by: "manager" } }, { path: "/reports/activity", query: { by: "author" } }];
  if (roles.includes("marketing"))
    return [{ path: "/reports/client-base", query: { by: "source" } }, { path: "/reports/client-base", query: { by: "region" } }, { path: "/reports/client-base", query: { by: "industry" } }];
  if (roles.includes("head"))
    return [{ path: "/reports/activity", query: { by: "author" } }, { path: "/reports/inactive-clients", query: {} }, { path: "/receivables", query: { by: "manager" } }];
  return [{ path: "/receivables", query: { by: "client" } }, { path: "/reports/activity", query: { by: "kind" } }, { path: "/reports/inactive-clients", query: {} }];
}

export function Dashboards() {
  const { t } = useI18n();
  const me = useMe();
  const doc = useQuery({ queryKey: ["openapi"], queryFn: () => fetch("/api/v1/openapi.json").then((r) => r.json()), staleTime: 300_000 });
  const reports = useMemo(() => (doc.data ? reportsOf(doc.data) : []), [doc.data]);
  const [extra, setExtra] = useState<{ path: string; query: Query }[]>([]);
  const panels = [...presets(me.roles).filter((p) => reports.some((r) => r.path === p.path)), ...extra];
  if (doc.isPending) return <Loading />;
  if (doc.isError) return <ErrorBox error={doc.error} />;
  return (
    <section>
      <div className="toolbar">
        <h2>{t("dashboards")}</h2>
        <select aria-label={t("report")} value="" onChange={(e) => e.target.value && setExtra([...extra, { path: e.target.value, query: {} }])}>
          <option value="">+ {t("report")}…</option>
          {reports.map((r) => (<option key={r.path} value={r.path}>{r.title}</option>))}
        </select>
      </div>
      <div className="panels">
        {panels.map((p, i) => {
          const report = reports.find((r) => r.path === p.path);
          return report ? <Panel key={`${p.path}-${i}`} report={report} initial={p.query} /> : null;
        })}
      </div>
    </section>
  );
}

const numeric = (v: unknown) => typeof v === "number" || (typeof v === "string" && /^-?\d+(\.\d+)?$/.test(v));

/** The rows of a report's answer: its `rows` or `items`, or the first list of objects in it. */
export function rowsOf(answer: Json): Json[] {
  if (Array.isArray(answer)) return answer;
  if (Array.isArray(answer.rows)) return answer.rows;
  if (Array.isArray(answer.items)) return answer.items;
  return Object.values(answer).find((v) => Array.isArray(v) && typeof v[0] === "object") ?? [];
}

function Panel({ report, initial }: { report: Report; initial: Query }) {
  const { t, num, dateTime } = useI18n();
  const [query, setQuery] = useState<Query>(() => {
    const q: Query = { ...initial };
    for (const p of report.params) if (q[p.name] === undefined && p.required && p.enum) q[p.name] = p.enum[0];
    return q;
  });
  const data = useQuery({ queryKey: ["report", report.path, query], queryFn: () => get<Json>(report.path, query) });
  const rows = useMemo(() => (data.data ? rowsOf(data.data) : []), [data.data]);
  const keys = useMemo(() => [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => typeof rows[0]?.[k] !== "object" || rows[0]?.[k] === null), [rows]);
  const flat = (r: Json, k: string) => r[k];
  const label = (r: Json) => String(r.name ?? r.key ?? r.company_id ?? Object.values(r).find((v) => typeof v === "string") ?? "—");
  const figures = keys.filter((k) => k !== "key" && !k.endsWith("_id") && rows.some((r) => r[k] !== null) && rows.every((r) => r[k] === null || numeric(r[k])));
  const columns = useMemo<ColumnDef<Json>[]>(
    () =>
      keys.map((k) => ({
        header: k,
        accessorFn: (r: Json) => flat(r, k),
        cell: (c) => {
          const v = c.getValue();
          if (v === null || v === undefined) return "—";
          if (k === "company_id") return <Link to={`/clients/${v}`}>{String(v).slice(0, 8)}</Link>;
          if (numeric(v)) return num(v as string);
          if (typeof v === "string" && /^\d{4}-\d\d-\d\dT/.test(v)) return dateTime(v);
          return String(v);
        },
      })),
    [keys, num, dateTime]
  );
  const name = [report.title, ...Object.values(query).filter(Boolean)].join(" · ");
  return (
    <div className="card panel" data-testid={`report-${report.path}`}>
      <div className="toolbar">
        <h3>{name}</h3>
        <button
          className="secondary small"
          disabled={!rows.length}
          onClick={() => csvDownload(name.replace(/[^\p{L}\d]+/gu, "-"), keys, rows.map((r) => keys.map((k) => r[k])))}
        >
          {t("exportCsv")}
        </button>
      </div>
      <div className="filters">
        {report.params.map((p) =>
          p.enum ? (
            <select key={p.name} aria-label={p.name} value={String(query[p.name] ?? "")} onChange={(e) => setQuery({ ...query, [p.name]: e.target.value })}>
              {!p.required && <option value="">{p.name}: {t("any")}</option>}
              {p.enum.map((v) => (<option key={v} value={v}>{p.name}: {v}</option>))}
            </select>
          ) : p.format === "date-time" ? (
            <input key={p.name} type="datetime-local" aria-label={p.name} onChange={(e) => setQuery({ ...query, [p.name]: e.target.value ? new Date(e.target.value).toISOString() : "" })} />
          ) : (
            <input key={p.name} aria-label={p.name} placeholder={p.name} type={p.type === "integer" ? "number" : "text"} defaultValue={String(query[p.name] ?? p.default ?? "")} onBlur={(e) => setQuery({ ...query, [p.name]: e.target.value })} />
          )
        )}
      </div>
      <ErrorBox error={data.error} />
      {data.isPending ? (
        <Loading />
      ) : (
        <>
          {figures.length > 0 && rows.length > 0 && (
            <Chart labels={rows.slice(0, 30).map(label)} series={figures.slice(0, 3).map((f) => ({ name: f, values: rows.slice(0, 30).map((r) => Number(r[f] ?? 0)) }))} />
          )}
          {rows.length === 0 ? <p className="muted">{t("nothing")}</p> : <DataTable data={rows} columns={columns} />}
        </>
      )}
    </div>
  );
}

