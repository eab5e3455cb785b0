// Marketing events: exhibitions, presentations, webinars and mailings, their participants (by hand or from a
// filter of the client base), the mailing itself and the event's effect from the analytics report.
import { useMemo, useState } from "react";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { ColumnDef } from "@tanstack/react-table";
import { Link, useNavigate, useParams } from "react-router-dom";
import { ApiError, all, get, patch, post, type Page } from "../api";
import { useI18n } from "../i18n";
import { DataTable } from "../table";
import type { Company } from "../types";
import { ErrorBox, Field, Loading, today, useMe } from "../ui";
import { DictSelect, useDictionary } from "./Companies";

const KINDS = ["exhibition", "presentation", "webinar", "mailing"] as const;
const PARTICIPANT_STATUSES = ["invited", "attended", "responded"] as const;

export interface MarketingEvent {
  id: string;
  name: string;
  kind: (typeof KINDS)[number];
  starts_on: string;
  ends_on: string | null;
  cost: string | null;
  currency: string;
  organiser_id: string;
  department_id: string | null;
  template_id: string | null;
  offer: string | null;
  description: string | null;
  audience_filter: Record<string, string> | null;
  participants: Record<string, number>;
  created_at: string;
  updated_at: string;
  version: number;
}

interface Participant {
  company_id: string;
  company_name: string;
  status: (typeof PARTICIPANT_STATUSES)[number];
  added_at: string;
  updated_at: string;
}

interface Template {
  id: string;
  name: string;
  kind: string;
  active: boolean;
}

interface EffectRow {
  marketing_event_id: string;
  participants: Record<string, number>;
  deals: number;
  won: number;
  revenue: string;
  cost: string | null;
  return: number | null;
}

/** Who plans events, adds participants and sends mailings; everyone else reads. */
const mayRun = (roles: string[]) => ["marketing", "head", "executive", "admin"].some((r) => roles.includes(r));

function useEmailTemplates(enabled = true) {
  return useQuery({ queryKey: ["templates", "email"], enabled, queryFn: () => all<Template>("/templates", { kind: "email" }), staleTime: 60_000 });
}

function Counts({ counts, kind }: { counts: Record<string, number>; kind: string }) {
  const { t, num } = useI18n();
  return (
    <span className="counts">
      {/* nobody attends a mailing */}
      {PARTICIPANT_STATUSES.filter((s) => kind !== "mailing" || s !== "attended").map((s) => (
        <span key={s} className={`badge p-${s}`} title={t(`p_${s}`)}>
          {t(`p_${s}`)}: {num(counts[s] ?? 0)}
        </span>
      ))}
    </span>
  );
}

export function MarketingEvents() {
  const { t, date, money } = useI18n();
  const me = useMe();
  const [kind, setKind] = useState("");
  const [creating, setCreating] = useState(false);
  const list = useInfiniteQuery({
    queryKey: ["marketing-events", kind],
    queryFn: ({ pageParam }) => get<Page<MarketingEvent>>("/marketing-events", { kind, limit: 50, cursor: pageParam }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const rows = useMemo(() => list.data?.pages.flatMap((p) => p.items) ?? [], [list.data]);
  const columns = useMemo<ColumnDef<MarketingEvent>[]>(
    () => [
      { header: t("name"), accessorKey: "name", cell: (c) => <Link to={`/marketing/${c.row.original.id}`}>{c.row.original.name}</Link> },
      { header: t("kind"), accessorKey: "kind", cell: (c) => t(`k_${c.getValue()}`) },
      { header: t("startsOn"), accessorKey: "starts_on", cell: (c) => date(String(c.getValue())) },
      { header: t("endsOn"), accessorKey: "ends_on", cell: (c) => date(c.getValue() as string | null) },
      { header: t("participants"), accessorFn: (r) => Object.values(r.participants).reduce((a, b) => a + b, 0), cell: (c) => <Counts counts={c.row.original.participants} kind={c.row.original.kind} /> },
      { header: t("cost"), accessorFn: (r) => Number(r.cost ?? 0), cell: (c) => money(c.row.original.cost, c.row.original.currency) },
    ],
    [t, date, money]
  );
  return (
    <section>
      <div className="toolbar">
        <h2>{t("marketing")}</h2>
        {mayRun(me.roles) && (
          <button onClick={() => setCreating(!creating)} aria-expanded={creating}>
            + {t("newEvent")}
          </button>
        )}
      </div>
      {creating && <EventForm onDone={() => setCreating(false)} />}
      <div className="filters">
        <select aria-label={t("kind")} value={kind} onChange={(e) => setKind(e.target.value)}>
          <option value="">{t("kind")}: {t("any")}</option>
          {KINDS.map((k) => (<option key={k} value={k}>{t(`k_${k}`)}</option>))}
        </select>
      </div>
      <ErrorBox error={list.error} />
      {list.isPending ? <Loading /> : rows.length === 0 ? <p className="muted">{t("nothing")}</p> : <DataTable data={rows} columns={columns} testId="marketing-events" />}
      {list.hasNextPage && <button className="secondary" onClick={() => list.fetchNextPage()}>{t("loadMore")}</button>}
    </section>
  );
}

/** Plans a new event, or edits one (sending only what changed, with the version read as If-Match). */
function EventForm({ event, onDone }: { event?: MarketingEvent; onDone: () => void }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const navigate = useNavigate();
  const templates = useEmailTemplates();
  const [form, setForm] = useState({
    name: event?.name ?? "",
    kind: event?.kind ?? "mailing",
    starts_on: event?.starts_on ?? today(),
    ends_on: event?.ends_on ?? "",
    cost: event?.cost ?? "",
    currency: event?.currency ?? "RUB",
    template_id: event?.template_id ?? "",
    offer: event?.offer ?? "",
    description: event?.description ?? "",
  });
  const body = {
    name: form.name,
    starts_on: form.starts_on,
    ends_on: form.ends_on || null,
    cost: form.cost === "" ? null : form.cost,
    currency: form.currency,
    template_id: form.template_id || null,
    offer: form.offer || null,
    description: form.description || null,
  };
  const save = useMutation({
    mutationFn: () =>
      event
        ? patch<MarketingEvent>(`/marketing-events/${event.id}`, body, event.version)
        : post<MarketingEvent>("/marketing-events", { ...body, kind: form.kind }),
    onSuccess: (saved) => {
      client.invalidateQueries({ queryKey: ["marketing-events"] });
      client.setQueryData(["marketing-event", saved.id], saved);
      onDone();
      if (!event) navigate(`/marketing/${saved.id}`);
    },
  });
  const label = event ? t("edit") : t("newEvent");
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  return (
    <form className="card form-grid" aria-label={label} onSubmit={(e) => { e.preventDefault(); save.mutate(); }}>
      <h3 className="wide">{label}</h3>
      <Field label={t("name")} name="name" error={save.error}><input required value={form.name} onChange={set("name")} autoFocus /></Field>
      {!event && (
        <Field label={t("kind")} name="kind" error={save.error}>
          <select value={form.kind} onChange={set("kind")}>
            {KINDS.map((k) => (<option key={k} value={k}>{t(`k_${k}`)}</option>))}
          </select>
        </Field>
      )}
      <Field label={t("startsOn")} name="starts_on" error={save.error}><input type="date" required value={form.starts_on} onChange={set("starts_on")} /></Field>
      <Field label={t("endsOn")} name="ends_on" error={save.error}><input type="date" value={form.ends_on} onChange={set("ends_on")} /></Field>
      <Field label={t("cost")} name="cost" error={save.error}><input inputMode="decimal" value={form.cost} onChange={set("cost")} /></Field>
      <Field label={t("currency")} name="currency" error={save.error}><input maxLength={3} value={form.currency} onChange={(e) => setForm({ ...form, currency: e.target.value.toUpperCase() })} /></Field>
      {(event?.kind ?? form.kind) === "mailing" && (
        <>
          <Field label={t("template")} name="template_id" error={save.error}>
            <select value={form.template_id} onChange={set("template_id")}>
              <option value="">—</option>
              {templates.data?.filter((x) => x.active || x.id === form.template_id).map((x) => (<option key={x.id} value={x.id}>{x.name}</option>))}
            </select>
          </Field>
          <Field label={t("offer")} name="offer" error={save.error}><textarea rows={2} value={form.offer} onChange={set("offer")} /></Field>
        </>
      )}
      <Field label={t("description")} name="description" error={save.error}><textarea rows={2} value={form.description} onChange={set("description")} /></Field>
      <ErrorBox error={save.error} />
      <div className="actions wide">
        <button type="submit" disabled={save.isPending}>{event ? t("save") : t("create")}</button>
        <button type="button" className="secondary" onClick={onDone}>{t("cancel")}</button>
      </div>
    </form>
  );
}

export function MarketingEventPage() {
  const { id } = useParams();
  const { t, date, money } = useI18n();
  const me = useMe();
  const [editing, setEditing] = useState(false);
  const event = useQuery({ queryKey: ["marketing-event", id], queryFn: () => get<MarketingEvent>(`/marketing-events/${id}`) });
  if (event.isPending) return <Loading />;
  if (event.isError) return <ErrorBox error={event.error} />;
  const e = event.data;
  const runs = mayRun(me.roles);
  return (
    <section data-testid="marketing-event">
      <div className="toolbar">
        <Link to="/marketing">← {t("marketing")}</Link>
        <h2>{e.name}</h2>
        <span className="badge">{t(`k_${e.kind}`)}</span>
        {runs && !editing && <button className="secondary" onClick={() => setEditing(true)}>{t("edit")}</button>}
      </div>
      {editing ? (
        <EventForm event={e} onDone={() => setEditing(false)} />
      ) : (
        <div className="card">
          <dl className="details">
            <dt>{t("startsOn")}</dt><dd>{date(e.starts_on)}{e.ends_on && e.ends_on !== e.starts_on ? ` — ${date(e.ends_on)}` : ""}</dd>
            <dt>{t("cost")}</dt><dd>{money(e.cost, e.currency)}</dd>
            {e.offer && (<><dt>{t("offer")}</dt><dd>{e.offer}</dd></>)}
            {e.description && (<><dt>{t("description")}</dt><dd>{e.description}</dd></>)}
            <dt>{t("participants")}</dt><dd data-testid="participant-counts"><Counts counts={e.participants} kind={e.kind} /></dd>
          </dl>
        </div>
      )}
      <Effect event={e} />
      {runs && <AddParticipants event={e} />}
      {runs && e.kind === "mailing" && <SendMailing event={e} />}
      <Participants event={e} runs={runs} />
    </section>
  );
}

/** The event's effect, from the analytics report of the events starting that day. */
function Effect({ event }: { event: MarketingEvent }) {
  const { t, money, num } = useI18n();
  const next = new Date(`${event.starts_on}T00:00:00Z`);
  next.setUTCDate(next.getUTCDate() + 1);
  const report = useQuery({
    queryKey: ["report-marketing", event.id, event.starts_on, event.currency],
    queryFn: () => get<{ window_days: number; rows: EffectRow[] }>("/reports/marketing-events", { from: `${event.starts_on}T00:00:00Z`, to: next.toISOString(), currency: event.currency }),
  });
  const row = report.data?.rows.find((r) => r.marketing_event_id === event.id);
  return (
    <div className="card" data-testid="effect">
      <h3>{t("effect")}</h3>
      {report.isError ? (
        <ErrorBox error={report.error} />
      ) : report.isPending ? (
        <Loading />
      ) : !row ? (
        <p className="muted">{t("effectPending")}</p>
      ) : (
        <>
          <div className="figures">
            <div><span className="muted">{t("dealsOpened")}</span><b>{num(row.deals)}</b></div>
            <div><span className="muted">{t("dealsWon")}</span><b>{num(row.won)}</b></div>
            <div><span className="muted">{t("revenue")}</span><b>{money(row.revenue, event.currency)}</b></div>
            <div><span className="muted">{t("cost")}</span><b>{money(row.cost, event.currency)}</b></div>
            <div><span className="muted">{t("returnOnCost")}</span><b>{row.return === null ? "—" : `${num(Math.round(row.return * 1000) / 10)} %`}</b></div>
          </div>
          <p className="muted">{t("effectWindow").replace("{n}", String(report.data!.window_days))}</p>
        </>
      )}
    </div>
  );
}

function useRefreshEvent(id: string) {
  const client = useQueryClient();
  return () => {
    client.invalidateQueries({ queryKey: ["marketing-event", id] });
    client.invalidateQueries({ queryKey: ["participants", id] });
    client.invalidateQueries({ queryKey: ["marketing-events"] });
  };
}

function AddParticipants({ event }: { event: MarketingEvent }) {
  const { t, num } = useI18n();
  const refresh = useRefreshEvent(event.id);
  const regions = useDictionary("regions");
  const industries = useDictionary("industries");
  const sources = useDictionary("contact-sources");
  const saved = event.audience_filter ?? {};
  const [filter, setFilter] = useState({ region_id: saved.region_id ?? "", industry_id: saved.industry_id ?? "", source_id: saved.source_id ?? "", status: saved.status ?? "" });
  const [q, setQ] = useState("");
  const found = useQuery({ queryKey: ["companies-pick", q], enabled: q.trim().length >= 2, queryFn: () => get<Page<Company>>("/companies", { q: q.trim(), limit: 10 }) });
  const [result, setResult] = useState<{ added: number; already: number } | null>(null);
  const add = useMutation({
    mutationFn: (body: { company_ids?: string[]; filter?: Record<string, string | null> }) => post<{ added: number; already: number }>(`/marketing-events/${event.id}/participants`, body),
    onSuccess: (r) => {
      setResult(r);
      refresh();
    },
  });
  const fromFilter = () =>
    add.mutate({ filter: Object.fromEntries(Object.entries(filter).map(([k, v]) => [k, v || null])) });
  const empty = Object.values(filter).every((v) => !v);
  return (
    <div className="card">
      <h3>{t("addParticipants")}</h3>
      <form className="filters" aria-label={t("fromFilter")} onSubmit={(e) => { e.preventDefault(); fromFilter(); }}>
        <DictSelect label={t("regions")} entries={regions.data} value={filter.region_id} onChange={(v) => setFilter({ ...filter, region_id: v })} />
        <DictSelect label={t("industries")} entries={industries.data} value={filter.industry_id} onChange={(v) => setFilter({ ...filter, industry_id: v })} />
        <DictSelect label={t("sources")} entries={sources.data} value={filter.source_id} onChange={(v) => setFilter({ ...filter, source_id: v })} />
        <select aria-label={t("status")} value={filter.status} onChange={(e) => setFilter({ ...filter, status: e.target.value })}>
          <option value="">{t("status")}: {t("any")}</option>
          {["prospect", "client", "former"].map((s) => (<option key={s} value={s}>{t(s)}</option>))}
        </select>
        <button type="submit" disabled={add.isPending} title={empty ? t("wholeBase") : undefined}>{t("addFromFilter")}</button>
      </form>
      {empty && <p className="muted">{t("wholeBase")}</p>}
      <div className="pick">
        <input type="search" aria-label={t("findClient")} placeholder={t("searchHint")} value={q} onChange={(e) => setQ(e.target.value)} />
        {found.data && (
          <ul className="plain" data-testid="client-pick">
            {found.data.items.map((c) => (
              <li key={c.id}>
                {c.name} <button type="button" className="small" onClick={() => add.mutate({ company_ids: [c.id] })}>{t("add")}</button>
              </li>
            ))}
            {found.data.items.length === 0 && <li className="muted">{t("nothing")}</li>}
          </ul>
        )}
      </div>
      {result && <p className="ok" role="status">{t("addedN").replace("{added}", num(result.added)).replace("{already}", num(result.already))}</p>}
      <ErrorBox error={add.error} />
    </div>
  );
}

function SendMailing({ event }: { event: MarketingEvent }) {
  const { t, num } = useI18n();
  const templates = useEmailTemplates();
  const [templateId, setTemplateId] = useState(event.template_id ?? "");
  const [offer, setOffer] = useState(event.offer ?? "");
  const send = useMutation({
    mutationFn: () => post<{ recipients: number }>(`/marketing-events/${event.id}/mailings`, { template_id: templateId || null, offer: offer || null }),
  });
  return (
    <form className="card form-grid" aria-label={t("sendMailing")} onSubmit={(e) => { e.preventDefault(); if (window.confirm(t("sendMailingConfirm"))) send.mutate(); }}>
      <h3 className="wide">{t("sendMailing")}</h3>
      <Field label={t("template")} name="template_id" error={send.error}>
        <select value={templateId} onChange={(e) => setTemplateId(e.target.value)}>
          <option value="">—</option>
          {templates.data?.filter((x) => x.active).map((x) => (<option key={x.id} value={x.id}>{x.name}</option>))}
        </select>
      </Field>
      <Field label={t("offer")} name="offer" error={send.error}><textarea rows={2} value={offer} onChange={(e) => setOffer(e.target.value)} /></Field>
      <ErrorBox error={send.error} />
      {send.isSuccess && <p className="ok wide" role="status">{t("mailingQueued").replace("{n}", num(send.data.recipients))}</p>}
      <div className="actions wide"><button type="submit" disabled={send.isPending}>{t("send")}</button></div>
    </form>
  );
}

function Participants({ event, runs }: { event: MarketingEvent; runs: boolean }) {
  const { t, dateTime } = useI18n();
  const [status, setStatus] = useState("");
  const refresh = useRefreshEvent(event.id);
  const list = useInfiniteQuery({
    queryKey: ["participants", event.id, status],
    queryFn: ({ pageParam }) => get<Page<Participant>>(`/marketing-events/${event.id}/participants`, { status, limit: 200, cursor: pageParam }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const change = useMutation({
    mutationFn: (v: { company_id: string; status: string }) => patch(`/marketing-events/${event.id}/participants/${v.company_id}`, { status: v.status }),
    onSuccess: refresh,
    onError: refresh,
  });
  const rows = useMemo(() => list.data?.pages.flatMap((p) => p.items) ?? [], [list.data]);
  // Nobody attends a mailing, and nobody goes back to merely invited: the choices are what the rules allow.
  const choices = (p: Participant) => PARTICIPANT_STATUSES.filter((s) => !(event.kind === "mailing" && s === "attended") && (s !== "invited" || p.status === "invited"));
  const columns = useMemo<ColumnDef<Participant>[]>(
    () => [
      { header: t("client"), accessorKey: "company_name", cell: (c) => <Link to={`/clients/${c.row.original.company_id}`}>{c.row.original.company_name}</Link> },
      {
        header: t("status"),
        accessorKey: "status",
        cell: (c) =>
          runs ? (
            <select aria-label={`${t("status")} ${c.row.original.company_name}`} value={c.row.original.status} onChange={(e) => change.mutate({ company_id: c.row.original.company_id, status: e.target.value })}>
              {choices(c.row.original).map((s) => (<option key={s} value={s}>{t(`p_${s}`)}</option>))}
            </select>
          ) : (
            t(`p_${c.getValue()}`)
          ),
      },
      { header: t("added"), accessorKey: "added_at", cell: (c) => dateTime(String(c.getValue())) },
    ],
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [t, dateTime, runs, event.kind]
  );
  return (
    <div className="card">
      <div className="toolbar">
        <h3>{t("participants")}</h3>
        <select aria-label={t("participantStatus")} value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">{t("status")}: {t("any")}</option>
          {PARTICIPANT_STATUSES.map((s) => (<option key={s} value={s}>{t(`p_${s}`)}</option>))}
        </select>
      </div>
      <ErrorBox error={list.error || (change.error instanceof ApiError ? change.error : null)} />
      {list.isPending ? <Loading /> : rows.length === 0 ? <p className="muted">{t("noParticipants")}</p> : <DataTable data={rows} columns={columns} testId="participants" />}
      {list.hasNextPage && <button className="secondary" onClick={() => list.fetchNextPage()}>{t("loadMore")}</button>}
    </div>
  );
}
