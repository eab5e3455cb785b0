import { useMemo, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import { Link } from "react-router-dom";
import { get, post, type Page } from "../api";
import { useI18n } from "../i18n";
import { DataTable } from "../table";
import type { Company, Invoice, Payment } from "../types";
import { ErrorBox, Field, Loading, today } from "../ui";

export function BillingPage() {
  const { t, money, date } = useI18n();
  const [status, setStatus] = useState("");
  const [overdue, setOverdue] = useState(false);
  const [paying, setPaying] = useState<Invoice | null>(null);
  const [payingFree, setPayingFree] = useState(false);
  const invoices = useQuery({ queryKey: ["invoices", { status, overdue }], queryFn: () => get<Invoice[]>("/invoices", { status, overdue: overdue || undefined }) });
  const companyIds = useMemo(() => [...new Set((invoices.data ?? []).map((i) => i.company_id))], [invoices.data]);
  const names = useCompanyNames(companyIds);
  const columns = useMemo<ColumnDef<Invoice>[]>(
    () => [
      { header: t("number"), accessorKey: "number", cell: (c) => c.getValue() || "draft" },
      { header: t("client"), accessorKey: "company_id", cell: (c) => <Link to={`/clients/${c.getValue()}`}>{names[String(c.getValue())] ?? String(c.getValue()).slice(0, 8)}</Link> },
      { header: t("status"), accessorKey: "status", cell: (c) => (c.getValue() === "overdue" ? <span className="badge overdue">{t("overdue")}</span> : String(c.getValue())) },
      { header: t("dueDate"), accessorKey: "due_date", cell: (c) => date(c.getValue() as string) },
      { header: t("total"), accessorFn: (r) => Number(r.total), cell: (c) => money(c.row.original.total, c.row.original.currency) },
      { header: t("paid"), accessorFn: (r) => Number(r.paid), cell: (c) => money(c.row.original.paid, c.row.original.currency) },
      { header: t("outstanding"), accessorFn: (r) => Number(r.outstanding), cell: (c) => money(c.row.original.outstanding, c.row.original.currency) },
      {
        header: "",
        id: "pay",
        cell: (c) =>
          ["issued", "partly_paid", "overdue"].includes(c.row.original.status) ? (
            <button className="small" onClick={() => setPaying(c.row.original)}>{t("recordPayment")}</button>
          ) : null,
      },
    ],
    [t, money, date, names]
  );
  return (
    <section>
      <div className="toolbar">
        <h2>{t("invoices")}</h2>
        <button onClick={() => setPayingFree(true)}>+ {t("recordPayment")}</button>
      </div>
      <div className="filters">
        <select aria-label={t("status")} value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">{t("status")}: {t("any")}</option>
          {["draft", "issued", "partly_paid", "paid", "overdue", "cancelled"].map((s) => (<option key={s} value={s}>{s}</option>))}
        </select>
        <label className="check"><input type="checkbox" checked={overdue} onChange={(e) => setOverdue(e.target.checked)} /> {t("overdueOnly")}</label>
      </div>
      {(paying || payingFree) && <PaymentForm invoice={paying} onDone={() => { setPaying(null); setPayingFree(false); }} />}
      <ErrorBox error={invoices.error} />
      {invoices.isPending ? <Loading /> : <DataTable data={invoices.data ?? []} columns={columns} rowClass={(r) => (r.status === "overdue" ? "overdue" : "")} testId="invoices" />}
      <Deliveries />
      <Receivables />
    </section>
  );
}

/** Client names for ids, one look-up each (cached), for lists that carry only the id. */
function useCompanyNames(ids: string[]): Record<string, string> {
  const q = useQuery({
    queryKey: ["company-names", ids],
    enabled: ids.length > 0,
    queryFn: async () => {
      const out: Record<string, string> = {};
      await Promise.all(ids.slice(0, 100).map((id) => get<Company>(`/companies/${id}`).then((c) => (out[id] = c.name)).catch(() => undefined)));
      return out;
    },
  });
  return q.data ?? {};
}

function PaymentForm({ invoice, onDone }: { invoice: Invoice | null; onDone: () => void }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [companyQuery, setCompanyQuery] = useState("");
  const [companyId, setCompanyId] = useState(invoice?.company_id ?? "");
  const found = useQuery({ queryKey: ["companies-pick", companyQuery], enabled: !invoice && companyQuery.length >= 2, queryFn: () => get<Page<Company>>("/companies", { q: companyQuery, limit: 10 }) });
  const [form, setForm] = useState({ amount: invoice?.outstanding ?? "", currency: invoice?.currency ?? "RUB", received_on: today(), method: "bank_transfer", bank_reference: "" });
  const record = useMutation({
    mutationFn: () =>
      post<Payment>("/payments", {
        company_id: companyId,
        ...form,
        bank_reference: form.bank_reference || null,
        allocations: invoice ? [{ invoice_id: invoice.id, amount: form.amount }] : null,
      }),
    onSuccess: () => {
      client.invalidateQueries();
      onDone();
    },
  });
  return (
    <form className="card form-grid" aria-label={t("recordPayment")} onSubmit={(e) => { e.preventDefault(); record.mutate(); }}>
      <h3 className="wide">{t("recordPayment")}{invoice ? ` · ${t("invoice")} ${invoice.number}` : ""}</h3>
      {!invoice && (
        <Field label={t("client")} name="company_id" error={record.error}>
          <input value={companyQuery} onChange={(e) => setCompanyQuery(e.target.value)} placeholder={t("searchHint")} autoFocus />
          <select aria-label={t("client")} required value={companyId} onChange={(e) => setCompanyId(e.target.value)}>
            <option value="">—</option>
            {found.data?.items.map((c) => (<option key={c.id} value={c.id}>{c.name}</option>))}
          </select>
        </Field>
      )}
      <Field label={t("amount")} name="amount" error={record.error}>
        <input required inputMode="decimal" value={form.amount} onChange={(e) => setForm({ ...form, amount: e.target.value })} autoFocus={!!invoice} />
      </Field>
      <Field label={t("currency")} name="currency" error={record.error}>
        <input maxLength={3} value={form.currency} onChange={(e) => setForm({ ...form, currency: e.target.value.toUpperCase() })} />
      </Field>
      <Field label={t("receivedOn")} name="received_on" error={record.error}>
        <input type="date" required value={form.received_on} onChange={(e) => setForm({ ...form, received_on: e.target.value })} />
      </Field>
      <Field label={t("method")} name="method" error={record.error}>
        <select value={form.method} onChange={(e) => setForm({ ...form, method: e.target.value })}>
          {["bank_transfer", "card", "cash"].map((m) => (<option key={m} value={m}>{t(m)}</option>))}
        </select>
      </Field>
      <Field label={t("bankReference")} name="bank_reference" error={record.error}>
        <input value={form.bank_reference} onChange={(e) => setForm({ ...form, bank_reference: e.target.value })} />
      </Field>
      <ErrorBox error={record.error} />
      <div className="actions wide">
        <button type="submit" disabled={record.isPending}>{t("record")}</button>
        <button type="button" className="secondary" onClick={onDone}>{t("cancel")}</button>
      </div>
    </form>
  );
}

function Receivables() {
  const { t, money } = useI18n();
  const [by, setBy] = useState("client");
  const data = useQuery({ queryKey: ["receivables", by], queryFn: () => get<{ rows: { key: string | null; currency: string; invoiced: string; paid: string; debt: string; credit: string; ageing: Record<string, string> }[] }>("/receivables", { by }) });
  return (
    <div className="card">
      <div className="toolbar">
        <h3>{t("receivables")}</h3>
        <select aria-label={t("receivables")} value={by} onChange={(e) => setBy(e.target.value)}>
          <option value="client">{t("client")}</option>
          <option value="manager">{t("owner")}</option>
        </select>
      </div>
      <ErrorBox error={data.error} />
      <div className="table-wrap">
        <table data-testid="receivables">
          <thead><tr><th>{by === "client" ? t("client") : t("owner")}</th><th>{t("total")}</th><th>{t("paid")}</th><th>{t("debt")}</th>{Object.keys(data.data?.rows[0]?.ageing ?? {}).map((k) => <th key={k}>{k}</th>)}</tr></thead>
          <tbody>
            {data.data?.rows.map((r, i) => (
              <tr key={i}>
                <td>{by === "client" && r.key ? <Link to={`/clients/${r.key}`}>{r.key.slice(0, 8)}</Link> : r.key?.slice(0, 8) ?? "—"}</td>
                <td>{money(r.invoiced, r.currency)}</td><td>{money(r.paid, r.currency)}</td><td>{money(r.debt, r.currency)}</td>
                {Object.values(r.ageing).map((v, j) => <td key={j}>{money(v, r.currency)}</td>)}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}

interface Delivery {
  id: string;
  deal_id: string | null;
  company_id: string;
  waybill_number: string;
  shipped_on: string;
  delivered_on: string | null;
  carrier: string | null;
  status: "shipped" | "delivered";
  items: { product_id?: string; quantity?: string }[];
}

/** Shipments with their waybills, newest first; one still on its way can be marked delivered. */
function Deliveries() {
  const { t, date } = useI18n();
  const client = useQueryClient();
  const [status, setStatus] = useState("");
  const [q, setQ] = useState("");
  const list = useQuery({ queryKey: ["deliveries", status], queryFn: () => get<Delivery[]>("/deliveries", { status }) });
  const rows = useMemo(() => {
    const needle = q.trim().toLowerCase();
    return [...(list.data ?? [])].reverse().filter((d) => !needle || d.waybill_number.toLowerCase().includes(needle) || (d.carrier ?? "").toLowerCase().includes(needle));
  }, [list.data, q]);
  const names = useCompanyNames(useMemo(() => [...new Set(rows.map((d) => d.company_id))], [rows]));
  const delivered = useMutation({
    mutationFn: (d: Delivery) => post(`/deliveries/${d.id}/delivered`, { delivered_on: today() }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["deliveries"] }),
  });
  const columns = useMemo<ColumnDef<Delivery>[]>(
    () => [
      { header: t("waybill"), accessorKey: "waybill_number" },
      { header: t("client"), accessorKey: "company_id", cell: (c) => <Link to={`/clients/${c.getValue()}`}>{names[String(c.getValue())] ?? String(c.getValue()).slice(0, 8)}</Link> },
      { header: t("deal"), accessorKey: "deal_id", cell: (c) => (c.getValue() ? <Link to={`/deals/${c.getValue()}`}>{String(c.getValue()).slice(0, 8)}</Link> : "—") },
      { header: t("shippedOn"), accessorKey: "shipped_on", cell: (c) => date(String(c.getValue())) },
      { header: t("carrier"), accessorKey: "carrier", cell: (c) => c.getValue() || "—" },
      { header: t("status"), accessorKey: "status", cell: (c) => <span className={`badge ${c.getValue() === "delivered" ? "won" : ""}`}>{t(`d_${c.getValue()}`)}</span> },
      { header: t("delivered"), accessorKey: "delivered_on", cell: (c) => date(c.getValue() as string | null) },
      {
        header: "",
        id: "deliver",
        cell: (c) => (c.row.original.status === "shipped" ? <button className="small" onClick={() => delivered.mutate(c.row.original)}>{t("markDelivered")}</button> : null),
      },
    ],
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [t, date, names]
  );
  return (
    <div className="card">
      <div className="toolbar">
        <h3>{t("deliveries")}</h3>
        <select aria-label={t("deliveryStatus")} value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">{t("status")}: {t("any")}</option>
          {["shipped", "delivered"].map((s) => (<option key={s} value={s}>{t(`d_${s}`)}</option>))}
        </select>
        <input type="search" aria-label={t("findWaybill")} placeholder={t("findWaybill")} value={q} onChange={(e) => setQ(e.target.value)} />
      </div>
      <ErrorBox error={list.error || delivered.error} />
      {list.isPending ? <Loading /> : rows.length === 0 ? <p className="muted">{t("nothing")}</p> : <DataTable data={rows} columns={columns} testId="deliveries" />}
    </div>
  );
}
