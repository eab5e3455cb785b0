import { useEffect, useRef, useState, type FormEvent } from "react";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useParams } from "react-router-dom";
import { get, post, type Page } from "../api";
import { useI18n } from "../i18n";
import type { Activity, ClientCard, Deal, Pipeline } from "../types";
import { ErrorBox, Field, Loading, usePersonName, useMe, withOffset } from "../ui";

const KINDS = ["call", "meeting", "letter", "email", "fax", "note", "demo", "support", "system"];

export function usePipelines() {
  return useQuery({ queryKey: ["pipelines"], queryFn: () => get<Pipeline[]>("/pipelines"), staleTime: 300_000 });
}

export function stageName(pipelines: Pipeline[] | undefined, pipelineId: string, code: string) {
  return pipelines?.find((p) => p.id === pipelineId)?.stages.find((s) => s.code === code)?.name ?? code;
}

export function CompanyCard() {
  const { id = "" } = useParams();
  const { t, money, dateTime, date } = useI18n();
  const me = useMe();
  const personName = usePersonName();
  // Deals and planned meetings in the largest page the gateway gives (200): as many deals as the card showed before
  // it paged them. Its history is not shown from here (History below pages it on its own), so one entry will do.
  const card = useQuery({
    queryKey: ["card", id],
    queryFn: () => get<ClientCard>(`/client-cards/${id}`, { deals_limit: 200, meetings_limit: 200, history_limit: 1 }),
  });
  const pipelines = usePipelines();
  const logRef = useRef<HTMLSelectElement>(null);
  // Alt+L anywhere on the card jumps to the log form: a call is logged without touching the mouse.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.altKey && (e.key === "l" || e.key === "д")) {
        e.preventDefault();
        logRef.current?.focus();
      }
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, []);
  if (card.isPending) return <Loading />;
  if (card.isError) return <ErrorBox error={card.error} />;
  const c = card.data.company;
  const debt = card.data.debt ? Object.entries(card.data.debt).filter(([, v]) => Number(v) !== 0) : [];
  return (
    <section className="client-card" data-testid="client-card">
      <div className="toolbar">
        <h2>{c.name}</h2>
        <span className={`badge ${c.status}`}>{t(c.status)}</span>
      </div>
      {card.data.partial && <div className="warning">{t("partial")}: {card.data.missing.join(", ")}</div>}
      <div className="columns">
        <div>
          <div className="card">
            <h3>{t("details")}</h3>
            <dl>
              {c.legal_name && (<><dt>{t("legalName")}</dt><dd>{c.legal_name}</dd></>)}
              <dt>{t("taxId")}</dt><dd>{c.tax_id || "—"}</dd>
              <dt>{t("phones")}</dt><dd>{c.phones.map((p) => <a key={p} href={`tel:${p}`}>{p} </a>)}</dd>
              <dt>{t("emails")}</dt><dd>{c.emails.map((p) => <a key={p} href={`mailto:${p}`}>{p} </a>)}</dd>
              <dt>{t("address")}</dt><dd>{c.address || "—"}</dd>
              <dt>{t("regions")}</dt><dd>{c.region?.name || "—"}</dd>
              <dt>{t("industries")}</dt><dd>{c.industry?.name || "—"}</dd>
              <dt>{t("sources")}</dt><dd>{c.source?.name || "—"}</dd>
              <dt>{t("owner")}</dt><dd>{c.owner_id === me.id ? me.name : personName(c.owner_id)}</dd>
              <dt>{t("lastActivity")}</dt><dd>{c.last_activity_at ? dateTime(c.last_activity_at) : t("never")}</dd>
            </dl>
          </div>
          <Persons companyId={id} persons={card.data.persons ?? []} />
          <div className="card">
            <h3>{t("debt")}</h3>
            <p data-testid="debt">{debt.length === 0 ? t("noDebt") : debt.map(([cur, v]) => money(v, cur)).join(" · ")}</p>
            <h3>{t("invoices")}</h3>
            <ul className="plain">
              {(card.data.invoices ?? []).map((inv) => (
                <li key={inv.id} className={inv.status === "overdue" ? "overdue" : ""}>
                  {inv.number || "draft"} · {money(inv.total, inv.currency)} · {t("outstanding")} {money(inv.outstanding, inv.currency)} · {inv.status === "overdue" ? t("overdue") : inv.status} · {t("dueDate")} {date(inv.due_date)}
                </li>
              ))}
            </ul>
          </div>
        </div>
        <div>
          <LogContact companyId={id} selectRef={logRef} deals={card.data.deals?.items ?? []} />
          <ScheduleMeeting companyId={id} />
          <div className="card">
            <h3>{t("meetings")}</h3>
            <ul className="plain" data-testid="meetings">
              {(card.data.meetings?.items ?? []).map((m) => (
                <li key={m.id}>
                  {dateTime(m.starts_at)} · {t(m.kind)} · {m.subject || ""} {m.place ? `· ${m.place}` : ""}
                </li>
              ))}
            </ul>
          </div>
          <div className="card">
            <div className="toolbar">
              <h3>{t("deals")}</h3>
              <NewDeal companyId={id} />
            </div>
            <ul className="plain" data-testid="deals">
              {(card.data.deals?.items ?? []).map((d) => (
                <li key={d.id}>
                  <Link to={`/deals/${d.id}`}>{d.title}</Link> · {stageName(pipelines.data, d.pipeline_id, d.stage)} · {money(d.amount, d.currency)}
                </li>
              ))}
            </ul>
          </div>
          <History companyId={id} />
        </div>
      </div>
    </section>
  );
}

function Persons({ companyId, persons }: { companyId: string; persons: ClientCard["persons"] & object }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [adding, setAdding] = useState(false);
  const [form, setForm] = useState({ name: "", position: "", phone: "", email: "" });
  const add = useMutation({
    mutationFn: () => post(`/companies/${companyId}/persons`, { name: form.name, position: form.position || null, phones: form.phone ? [form.phone] : [], emails: form.email ? [form.email] : [] }),
    onSuccess: () => {
      setAdding(false);
      setForm({ name: "", position: "", phone: "", email: "" });
      client.invalidateQueries({ queryKey: ["card", companyId] });
    },
  });
  return (
    <div className="card">
      <div className="toolbar">
        <h3>{t("persons")}</h3>
        <button className="secondary" onClick={() => setAdding(!adding)}>+ {t("addPerson")}</button>
      </div>
      {adding && (
        <form className="form-grid" onSubmit={(e) => { e.preventDefault(); add.mutate(); }}>
          <Field label={t("name")} name="name" error={add.error}><input required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} /></Field>
          <Field label={t("position")} name="position" error={add.error}><input value={form.position} onChange={(e) => setForm({ ...form, position: e.target.value })} /></Field>
          <Field label={t("phone")} name="phones" error={add.error}><input type="tel" value={form.phone} onChange={(e) => setForm({ ...form, phone: e.target.value })} /></Field>
          <Field label={t("email")} name="emails" error={add.error}><input type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} /></Field>
          <ErrorBox error={add.error} />
          <div className="actions wide"><button type="submit">{t("save")}</button></div>
        </form>
      )}
      <ul className="plain" data-testid="persons">
        {persons.map((p) => (
          <li key={p.id}>
            <b>{p.name}</b> {p.position ? `· ${p.position}` : ""} {p.phones.map((x) => <a key={x} href={`tel:${x}`}>{x} </a>)} {p.emails.join(" ")}
          </li>
        ))}
      </ul>
    </div>
  );
}

function LogContact({ companyId, selectRef, deals }: { companyId: string; selectRef: React.RefObject<HTMLSelectElement | null>; deals: Deal[] }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [kind, setKind] = useState("call");
  const [direction, setDirection] = useState("outbound");
  const [summary, setSummary] = useState("");
  const [dealId, setDealId] = useState("");
  const log = useMutation({
    mutationFn: () => post<Activity>(`/companies/${companyId}/history`, { kind, direction, summary, deal_id: dealId || null }),
    onSuccess: () => {
      setSummary("");
      client.invalidateQueries({ queryKey: ["card", companyId] });
      client.invalidateQueries({ queryKey: ["history", companyId] });
    },
  });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    log.mutate();
  };
  return (
    <form className="card log-form" onSubmit={submit} aria-label={t("logContact")}>
      <h3>
        {t("logContact")} <kbd>Alt+L</kbd>
      </h3>
      <div className="row">
        <select ref={selectRef} aria-label={t("kind")} value={kind} onChange={(e) => setKind(e.target.value)}>
          {KINDS.filter((k) => k !== "system").map((k) => (
            <option key={k} value={k}>{t(k)}</option>
          ))}
        </select>
        <select aria-label={t("direction")} value={direction} onChange={(e) => setDirection(e.target.value)}>
          {["outbound", "inbound", "internal"].map((d) => (
            <option key={d} value={d}>{t(d)}</option>
          ))}
        </select>
        {deals.length > 0 && (
          <select aria-label={t("deals")} value={dealId} onChange={(e) => setDealId(e.target.value)}>
            <option value="">—</option>
            {deals.map((d) => (<option key={d.id} value={d.id}>{d.title}</option>))}
          </select>
        )}
      </div>
      <Field label={t("summary")} name="summary" error={log.error}>
        <textarea
          required
          rows={2}
          value={summary}
          onChange={(e) => setSummary(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) submit(e);
          }}
        />
      </Field>
      <ErrorBox error={log.error} />
      <button type="submit" disabled={log.isPending}>{t("log")}</button>
    </form>
  );
}

function ScheduleMeeting({ companyId }: { companyId: string }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState({ kind: "meeting", subject: "", starts_at: "", duration_minutes: "60", place: "" });
  const schedule = useMutation({
    mutationFn: () =>
      post(`/companies/${companyId}/meetings`, {
        kind: form.kind,
        subject: form.subject || null,
        starts_at: form.starts_at ? withOffset(form.starts_at) : null,
        duration_minutes: Number(form.duration_minutes),
        place: form.place || null,
      }),
    onSuccess: () => {
      setOpen(false);
      client.invalidateQueries({ queryKey: ["card", companyId] });
    },
  });
  if (!open)
    return (
      <button className="secondary" onClick={() => setOpen(true)}>
        + {t("scheduleMeeting")}
      </button>
    );
  return (
    <form className="card form-grid" aria-label={t("scheduleMeeting")} onSubmit={(e) => { e.preventDefault(); schedule.mutate(); }}>
      <h3 className="wide">{t("scheduleMeeting")}</h3>
      <select aria-label={t("kind")} value={form.kind} onChange={(e) => setForm({ ...form, kind: e.target.value })} autoFocus>
        <option value="meeting">{t("meeting")}</option>
        <option value="call">{t("call")}</option>
      </select>
      <Field label={t("startsAt")} name="starts_at" error={schedule.error}>
        <input type="datetime-local" required value={form.starts_at} onChange={(e) => setForm({ ...form, starts_at: e.target.value })} />
      </Field>
      <Field label={t("durationMinutes")} name="duration_minutes" error={schedule.error}>
        <input type="number" min={1} value={form.duration_minutes} onChange={(e) => setForm({ ...form, duration_minutes: e.target.value })} />
      </Field>
      <Field label={t("subject")} name="subject" error={schedule.error}>
        <input value={form.subject} onChange={(e) => setForm({ ...form, subject: e.target.value })} />
      </Field>
      <Field label={t("place")} name="place" error={schedule.error}>
        <input value={form.place} onChange={(e) => setForm({ ...form, place: e.target.value })} />
      </Field>
      <ErrorBox error={schedule.error} />
      <div className="actions wide">
        <button type="submit">{t("schedule")}</button>
        <button type="button" className="secondary" onClick={() => setOpen(false)}>{t("cancel")}</button>
      </div>
    </form>
  );
}

function NewDeal({ companyId }: { companyId: string }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [open, setOpen] = useState(false);
  const [form, setForm] = useState({ title: "", amount: "", currency: "RUB" });
  const create = useMutation({
    mutationFn: () => post<Deal>("/deals", { title: form.title, company_id: companyId, amount: form.amount || null, currency: form.currency }),
    onSuccess: () => {
      setOpen(false);
      setForm({ title: "", amount: "", currency: "RUB" });
      client.invalidateQueries({ queryKey: ["card", companyId] });
    },
  });
  if (!open) return <button className="secondary" onClick={() => setOpen(true)}>+ {t("newDeal")}</button>;
  return (
    <form className="form-grid" aria-label={t("newDeal")} onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
      <Field label={t("title")} name="title" error={create.error}>
        <input required autoFocus value={form.title} onChange={(e) => setForm({ ...form, title: e.target.value })} />
      </Field>
      <Field label={t("amount")} name="amount" error={create.error}>
        <input inputMode="decimal" value={form.amount} onChange={(e) => setForm({ ...form, amount: e.target.value })} />
      </Field>
      <Field label={t("currency")} name="currency" error={create.error}>
        <input value={form.currency} maxLength={3} onChange={(e) => setForm({ ...form, currency: e.target.value.toUpperCase() })} />
      </Field>
      <ErrorBox error={create.error} />
      <div className="actions wide">
        <button type="submit">{t("create")}</button>
        <button type="button" className="secondary" onClick={() => setOpen(false)}>{t("cancel")}</button>
      </div>
    </form>
  );
}

function History({ companyId }: { companyId: string }) {
  const { t, dateTime } = useI18n();
  const [kind, setKind] = useState("");
  const history = useInfiniteQuery({
    queryKey: ["history", companyId, kind],
    queryFn: ({ pageParam }) => get<Page<Activity>>(`/companies/${companyId}/history`, { kind, limit: 30, cursor: pageParam }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const items = history.data?.pages.flatMap((p) => p.items) ?? [];
  return (
    <div className="card">
      <div className="toolbar">
        <h3>{t("history")}</h3>
        <select aria-label={t("kind")} value={kind} onChange={(e) => setKind(e.target.value)}>
          <option value="">{t("allKinds")}</option>
          {KINDS.map((k) => (<option key={k} value={k}>{t(k)}</option>))}
        </select>
      </div>
      <ErrorBox error={history.error} />
      <ol className="timeline" data-testid="history">
        {items.map((a) => (
          <li key={a.id} className={`kind-${a.kind}`}>
            <time>{dateTime(a.happened_at)}</time> <span className="badge">{t(a.kind)}</span> {a.kind !== "system" && <small>{t(a.direction)}</small>}
            {a.subject && <b> {a.subject}</b>}
            <div>{a.summary}</div>
          </li>
        ))}
      </ol>
      {history.hasNextPage && <button className="secondary" onClick={() => history.fetchNextPage()}>{t("loadMore")}</button>}
    </div>
  );
}
