import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams } from "react-router-dom";
import { get, post } from "../api";
import { useI18n } from "../i18n";
import type { Deal, Invoice, Person, Stage } from "../types";
import { ErrorBox, Field, Loading, shortId, usePersonName, today, useMe } from "../ui";
import { MoveDialog } from "./Board";
import { usePipelines } from "./CompanyCard";

type TimelineItem = { type: string; at: string } & Record<string, unknown>;

export function DealPage() {
  const { id = "" } = useParams();
  const { t, money, dateTime, date } = useI18n();
  const me = useMe();
  const personName = usePersonName();
  const client = useQueryClient();
  const deal = useQuery({ queryKey: ["deal", id], queryFn: () => get<Deal>(`/deals/${id}`) });
  const timeline = useQuery({ queryKey: ["deal-timeline", id], queryFn: () => get<TimelineItem[]>(`/deals/${id}/timeline`) });
  const invoices = useQuery({ queryKey: ["invoices", { deal_id: id }], queryFn: () => get<Invoice[]>("/invoices", { deal_id: id }) });
  const pipelines = usePipelines();
  const [pending, setPending] = useState<{ deal: Deal; from: Stage; to: Stage } | null>(null);
  const refresh = () => {
    client.invalidateQueries({ queryKey: ["deal", id] });
    client.invalidateQueries({ queryKey: ["deal-timeline", id] });
    client.invalidateQueries({ queryKey: ["invoices"] });
  };
  if (deal.isPending) return <Loading />;
  if (deal.isError) return <ErrorBox error={deal.error} />;
  const d = deal.data;
  const stages = [...(pipelines.data?.find((p) => p.id === d.pipeline_id)?.stages ?? [])].sort((a, b) => a.position - b.position);
  const current = stages.find((s) => s.code === d.stage);
  const go = (code: string) => {
    const to = stages.find((s) => s.code === code);
    if (current && to) setPending({ deal: d, from: current, to });
  };
  return (
    <section data-testid="deal">
      <div className="toolbar">
        <h2>{d.title}</h2>
        <span className={`badge ${d.status}`}>{d.status === "open" ? current?.name ?? d.stage : t(d.status === "won" ? "win" : "lose")}</span>
        <Link to={`/clients/${d.company_id}`}>{t("client")} →</Link>
      </div>
      <div className="columns">
        <div>
          <div className="card">
            <dl>
              <dt>{t("amount")}</dt><dd>{money(d.amount, d.currency)}</dd>
              <dt>{t("stage")}</dt><dd>{current?.name ?? d.stage}</dd>
              <dt>{t("owner")}</dt><dd>{d.owner_id === me.id ? me.name : personName(d.owner_id)}</dd>
              <dt>{t("expectedClose")}</dt><dd>{date(d.expected_close_date)}</dd>
              <dt>{t("interestRating")}</dt><dd>{d.interest_rating ?? "—"}</dd>
              {d.lost_reason && (<><dt>{t("reason")}</dt><dd>{d.lost_reason}</dd></>)}
            </dl>
            {d.status === "open" ? (
              <div className="actions">
                <select aria-label={t("moveTo")} value="" onChange={(e) => go(e.target.value)}>
                  <option value="">{t("moveTo")}…</option>
                  {stages.filter((s) => s.code !== d.stage && s.kind === "open").map((s) => (<option key={s.code} value={s.code}>{s.name}</option>))}
                </select>
                {stages.filter((s) => s.kind !== "open").map((s) => (
                  <button key={s.code} className={s.kind === "won" ? "" : "danger"} onClick={() => go(s.code)}>{t(s.kind === "won" ? "win" : "lose")}</button>
                ))}
              </div>
            ) : (
              <Reopen deal={d} onDone={refresh} />
            )}
          </div>
          <div className="card">
            <h3>{t("lines")}</h3>
            <table>
              <thead><tr><th>{t("product")}</th><th>{t("quantity")}</th><th>{t("unitPrice")}</th><th>{t("discount")}</th><th>{t("total")}</th></tr></thead>
              <tbody>
                {d.lines.map((l, i) => (
                  <tr key={i}><td>{shortId(l.product_id)}</td><td>{l.quantity}</td><td>{money(l.unit_price, d.currency)}</td><td>{l.discount_percent}</td><td>{money(l.total, d.currency)}</td></tr>
                ))}
              </tbody>
            </table>
          </div>
          <Offers deal={d} onDone={refresh} />
          <Proposal deal={d} onDone={refresh} />
          <DealBilling deal={d} invoices={invoices.data ?? []} onDone={refresh} />
        </div>
        <div className="card">
          <h3>{t("timeline")}</h3>
          <ErrorBox error={timeline.error} />
          <ol className="timeline" data-testid="deal-timeline">
            {(timeline.data ?? []).map((item, i) => (
              <li key={i}>
                <time>{dateTime(item.at)}</time> <span className="badge">{item.type}</span>{" "}
                {typeof item.from_stage === "string" || typeof item.to_stage === "string" ? `${item.from_stage ?? ""} → ${item.to_stage ?? ""}` : ""}
                {item.rating !== undefined ? ` ★${item.rating}` : ""}
                {item.amount !== undefined ? ` ${money(String(item.amount), d.currency)}` : ""}
                {typeof item.comment === "string" && item.comment ? <div>{item.comment}</div> : null}
              </li>
            ))}
          </ol>
        </div>
      </div>
      {pending && <MoveDialog pending={pending} onClose={() => { setPending(null); refresh(); }} />}
    </section>
  );
}

function Reopen({ deal, onDone }: { deal: Deal; onDone: () => void }) {
  const { t } = useI18n();
  const reopen = useMutation({ mutationFn: () => post(`/deals/${deal.id}/reopen`, {}), onSuccess: onDone });
  return (
    <div className="actions">
      <button className="secondary" onClick={() => reopen.mutate()}>{t("reopen")}</button>
      <ErrorBox error={reopen.error} />
    </div>
  );
}

function Offers({ deal, onDone }: { deal: Deal; onDone: () => void }) {
  const { t, money, date, dateTime } = useI18n();
  const [form, setForm] = useState({ side: "ours", amount: "", discount_percent: "0", valid_until: "", comment: "" });
  const make = useMutation({
    mutationFn: () => post(`/deals/${deal.id}/offers`, { ...form, valid_until: form.valid_until || null, comment: form.comment || null }),
    onSuccess: () => {
      setForm({ ...form, amount: "", comment: "" });
      onDone();
    },
  });
  const accept = useMutation({ mutationFn: (offerId: string) => post(`/deals/${deal.id}/offers/${offerId}/accept`), onSuccess: onDone });
  return (
    <div className="card">
      <h3>{t("offers")}</h3>
      <ol className="timeline" data-testid="offers">
        {deal.offers.map((o) => (
          <li key={o.id} className={`offer-${o.status}`}>
            <time>{dateTime(o.made_at)}</time> {t(o.side === "ours" ? "ours" : "clientSide")}: <b>{money(o.amount, deal.currency)}</b> −{o.discount_percent}% · {o.status}
            {o.valid_until && ` · ≤ ${date(o.valid_until)}`} {o.comment && <div>{o.comment}</div>}
            {o.status === "open" && deal.status === "open" && <button className="secondary small" onClick={() => accept.mutate(o.id)}>{t("accept")}</button>}
          </li>
        ))}
      </ol>
      <ErrorBox error={accept.error} />
      {deal.status === "open" && (
        <form className="form-grid" aria-label={t("makeOffer")} onSubmit={(e) => { e.preventDefault(); make.mutate(); }}>
          <select aria-label={t("side")} value={form.side} onChange={(e) => setForm({ ...form, side: e.target.value })}>
            <option value="ours">{t("ours")}</option>
            <option value="client">{t("clientSide")}</option>
          </select>
          <Field label={t("amount")} name="amount" error={make.error}><input required inputMode="decimal" value={form.amount} onChange={(e) => setForm({ ...form, amount: e.target.value })} /></Field>
          <Field label={t("discount")} name="discount_percent" error={make.error}><input inputMode="decimal" value={form.discount_percent} onChange={(e) => setForm({ ...form, discount_percent: e.target.value })} /></Field>
          <Field label={t("comment")} name="comment" error={make.error}><input value={form.comment} onChange={(e) => setForm({ ...form, comment: e.target.value })} /></Field>
          <ErrorBox error={make.error} />
          <div className="actions wide"><button type="submit">{t("makeOffer")}</button></div>
        </form>
      )}
    </div>
  );
}

function Proposal({ deal, onDone }: { deal: Deal; onDone: () => void }) {
  const { t } = useI18n();
  const [open, setOpen] = useState(false);
  const persons = useQuery({ queryKey: ["persons", deal.company_id], queryFn: () => get<Person[]>(`/companies/${deal.company_id}/persons`), enabled: open });
  const [documents, setDocuments] = useState("");
  const [recipients, setRecipients] = useState<string[]>([]);
  const [channel, setChannel] = useState("email");
  const [message, setMessage] = useState("");
  const send = useMutation({
    mutationFn: () =>
      post(`/deals/${deal.id}/proposals`, {
        documents: documents.split("\n").map((x) => x.trim()).filter(Boolean),
        recipient_person_ids: recipients,
        channel,
        message: message || null,
      }),
    onSuccess: () => {
      setOpen(false);
      onDone();
    },
  });
  if (deal.status !== "open") return null;
  if (!open) return <button className="secondary" onClick={() => setOpen(true)}>{t("proposal")}</button>;
  return (
    <form className="card" aria-label={t("proposal")} onSubmit={(e) => { e.preventDefault(); send.mutate(); }}>
      <h3>{t("proposal")}</h3>
      <Field label={t("documents")} name="documents" error={send.error}>
        <textarea required rows={3} value={documents} onChange={(e) => setDocuments(e.target.value)} autoFocus />
      </Field>
      <fieldset>
        <legend>{t("recipients")}</legend>
        {persons.data?.map((p) => (
          <label key={p.id} className="check">
            <input type="checkbox" checked={recipients.includes(p.id)} onChange={(e) => setRecipients(e.target.checked ? [...recipients, p.id] : recipients.filter((x) => x !== p.id))} />
            {p.name} {p.emails[0] ? `<${p.emails[0]}>` : ""}
          </label>
        ))}
      </fieldset>
      <select aria-label={t("channel")} value={channel} onChange={(e) => setChannel(e.target.value)}>
        <option value="email">e-mail</option>
        <option value="fax">fax</option>
      </select>
      <Field label={t("comment")} name="message" error={send.error}><textarea rows={2} value={message} onChange={(e) => setMessage(e.target.value)} /></Field>
      <ErrorBox error={send.error} />
      <div className="actions"><button type="submit">{t("send")}</button><button type="button" className="secondary" onClick={() => setOpen(false)}>{t("cancel")}</button></div>
    </form>
  );
}

function DealBilling({ deal, invoices, onDone }: { deal: Deal; invoices: Invoice[]; onDone: () => void }) {
  const { t, money, date } = useI18n();
  const [line, setLine] = useState({ description: "", quantity: "1", unit_price: "", vat_rate: "22" });
  const [ship, setShip] = useState({ waybill_number: "", shipped_on: today(), carrier: "" });
  const [due, setDue] = useState(() => today(14));
  const draft = useMutation({
    mutationFn: () => post<Invoice>("/invoices", { deal_id: deal.id, currency: deal.currency, due_date: due || null, lines: [{ ...line, description: line.description || null }] }),
    onSuccess: onDone,
  });
  const issue = useMutation({ mutationFn: (inv: Invoice) => post(`/invoices/${inv.id}/issue`, {}, inv.version), onSuccess: onDone });
  const deliver = useMutation({
    mutationFn: () => post("/deliveries", { deal_id: deal.id, waybill_number: ship.waybill_number, shipped_on: ship.shipped_on, carrier: ship.carrier || null, items: deal.lines.map((l) => ({ product_id: l.product_id, quantity: l.quantity })) }),
    onSuccess: () => {
      setShip({ ...ship, waybill_number: "" });
      onDone();
    },
  });
  return (
    <div className="card">
      <h3>{t("invoices")}</h3>
      <ul className="plain" data-testid="deal-invoices">
        {invoices.map((inv) => (
          <li key={inv.id} className={inv.status === "overdue" ? "overdue" : ""}>
            {inv.number || "draft"} · {money(inv.total, inv.currency)} · {inv.status} · {t("dueDate")} {date(inv.due_date)}
            {inv.status === "draft" && <button className="small" onClick={() => issue.mutate(inv)}>{t("issue")}</button>}
          </li>
        ))}
      </ul>
      <ErrorBox error={issue.error} />
      <form className="form-grid" aria-label={t("draftInvoice")} onSubmit={(e) => { e.preventDefault(); draft.mutate(); }}>
        <Field label={t("description")} name="description" error={draft.error}><input value={line.description} onChange={(e) => setLine({ ...line, description: e.target.value })} /></Field>
        <Field label={t("quantity")} name="quantity" error={draft.error}><input required inputMode="decimal" value={line.quantity} onChange={(e) => setLine({ ...line, quantity: e.target.value })} /></Field>
        <Field label={t("unitPrice")} name="unit_price" error={draft.error}><input required inputMode="decimal" value={line.unit_price} onChange={(e) => setLine({ ...line, unit_price: e.target.value })} /></Field>
        <Field label={t("vat")} name="vat_rate" error={draft.error}>
          <select value={line.vat_rate} onChange={(e) => setLine({ ...line, vat_rate: e.target.value })}>
            {["22", "20", "10", "0", "none"].map((v) => (<option key={v} value={v}>{v}</option>))}
          </select>
        </Field>
        <Field label={t("dueDate")} name="due_date" error={draft.error}><input type="date" value={due} onChange={(e) => setDue(e.target.value)} /></Field>
        <ErrorBox error={draft.error} />
        <div className="actions wide"><button type="submit">{t("draftInvoice")}</button></div>
      </form>
      <h3>{t("deliveries")}</h3>
      <form className="form-grid" aria-label={t("ship")} onSubmit={(e) => { e.preventDefault(); deliver.mutate(); }}>
        <Field label={t("waybill")} name="waybill_number" error={deliver.error}><input required value={ship.waybill_number} onChange={(e) => setShip({ ...ship, waybill_number: e.target.value })} /></Field>
        <Field label={t("shippedOn")} name="shipped_on" error={deliver.error}><input type="date" required value={ship.shipped_on} onChange={(e) => setShip({ ...ship, shipped_on: e.target.value })} /></Field>
        <Field label={t("carrier")} name="carrier" error={deliver.error}><input value={ship.carrier} onChange={(e) => setShip({ ...ship, carrier: e.target.value })} /></Field>
        <ErrorBox error={deliver.error} />
        {deliver.isSuccess && <p className="ok wide">{t("saved")}</p>}
        <div className="actions wide"><button type="submit">{t("ship")}</button></div>
      </form>
    </div>
  );
}
