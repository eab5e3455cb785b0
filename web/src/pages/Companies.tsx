import { useEffect, useMemo, useState, type FormEvent } from "react";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link, useNavigate } from "react-router-dom";
import type { ColumnDef } from "@tanstack/react-table";
import { get, post, type Page } from "../api";
import { useI18n } from "../i18n";
import { DataTable } from "../table";
import type { Company, DictEntry, Duplicate } from "../types";
import { ErrorBox, Field, Loading, hasRole, usePersonName, useMe } from "../ui";

export function useDictionary(kind: "regions" | "industries" | "contact-sources") {
  return useQuery({ queryKey: ["dict", kind], queryFn: () => get<DictEntry[]>(`/${kind}`), staleTime: 300_000 });
}

function useDebounced<T>(value: T, ms = 250): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const h = setTimeout(() => setV(value), ms);
    return () => clearTimeout(h);
  }, [value, ms]);
  return v;
}

export function Companies() {
  const { t, dateTime } = useI18n();
  const me = useMe();
  const personName = usePersonName();
  const [q, setQ] = useState("");
  const [status, setStatus] = useState("");
  const [region, setRegion] = useState("");
  const [industry, setIndustry] = useState("");
  const [source, setSource] = useState("");
  const [mine, setMine] = useState(false);
  const [creating, setCreating] = useState(false);
  const query = useDebounced(q);
  const regions = useDictionary("regions");
  const industries = useDictionary("industries");
  const sources = useDictionary("contact-sources");
  const filters = { q: query, status, region_id: region, industry_id: industry, source_id: source, owner_id: mine ? me.id : "" };
  const list = useInfiniteQuery({
    queryKey: ["companies", filters],
    queryFn: ({ pageParam }) => get<Page<Company>>("/companies", { ...filters, limit: 50, cursor: pageParam }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  const rows = useMemo(() => list.data?.pages.flatMap((p) => p.items) ?? [], [list.data]);
  const columns = useMemo<ColumnDef<Company>[]>(
    () => [
      { header: t("name"), accessorKey: "name", cell: (c) => <Link to={`/clients/${c.row.original.id}`}>{c.row.original.name}</Link> },
      { header: t("status"), accessorKey: "status", cell: (c) => <span className={`badge ${c.getValue()}`}>{t(String(c.getValue()))}</span> },
      { header: t("taxId"), accessorKey: "tax_id" },
      { header: t("phone"), accessorFn: (r) => r.phones[0] ?? "" },
      { header: t("owner"), accessorFn: (r) => (r.owner_id === me.id ? t("mine") : personName(r.owner_id)) },
      { header: t("lastActivity"), accessorKey: "last_activity_at", cell: (c) => (c.getValue() ? dateTime(String(c.getValue())) : t("never")) },
    ],
    [t, dateTime, me.id, personName]
  );
  const canCreate = hasRole(me, "manager", "head", "admin", "executive");
  return (
    <section>
      <div className="toolbar">
        <h2>{t("clients")}</h2>
        {canCreate && (
          <button onClick={() => setCreating(!creating)} aria-expanded={creating}>
            + {t("newClient")}
          </button>
        )}
      </div>
      {creating && <CreateCompany onDone={() => setCreating(false)} />}
      <div className="filters">
        <input type="search" placeholder={t("searchHint")} aria-label={t("search")} value={q} onChange={(e) => setQ(e.target.value)} />
        <select aria-label={t("status")} value={status} onChange={(e) => setStatus(e.target.value)}>
          <option value="">{t("status")}: {t("any")}</option>
          {["prospect", "client", "former"].map((s) => (
            <option key={s} value={s}>
              {t(s)}
            </option>
          ))}
        </select>
        <DictSelect label={t("regions")} entries={regions.data} value={region} onChange={setRegion} />
        <DictSelect label={t("industries")} entries={industries.data} value={industry} onChange={setIndustry} />
        <DictSelect label={t("sources")} entries={sources.data} value={source} onChange={setSource} />
        <label className="check">
          <input type="checkbox" checked={mine} onChange={(e) => setMine(e.target.checked)} /> {t("mine")}
        </label>
      </div>
      <ErrorBox error={list.error} />
      {list.isPending ? <Loading /> : rows.length === 0 ? <p className="muted">{t("nothing")}</p> : <DataTable data={rows} columns={columns} testId="companies" />}
      {list.hasNextPage && (
        <button className="secondary" onClick={() => list.fetchNextPage()} disabled={list.isFetchingNextPage}>
          {t("loadMore")}
        </button>
      )}
    </section>
  );
}

export function DictSelect({ label, entries, value, onChange }: { label: string; entries?: DictEntry[]; value: string; onChange: (v: string) => void }) {
  const { t } = useI18n();
  return (
    <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">
        {label}: {t("any")}
      </option>
      {entries
        ?.filter((e) => e.active)
        .map((e) => (
          <option key={e.id} value={e.id}>
            {e.name}
          </option>
        ))}
    </select>
  );
}

function CreateCompany({ onDone }: { onDone: () => void }) {
  const { t } = useI18n();
  const navigate = useNavigate();
  const client = useQueryClient();
  const [form, setForm] = useState({ name: "", tax_id: "", phone: "", email: "", address: "", region_id: "", industry_id: "", source_id: "" });
  const regions = useDictionary("regions");
  const industries = useDictionary("industries");
  const sources = useDictionary("contact-sources");
  const probe = useDebounced(form, 400);
  // Likely duplicates while typing: the same tax id, phone, e-mail or a near-identical name.
  const duplicates = useQuery({
    queryKey: ["duplicates", probe.name, probe.tax_id, probe.phone, probe.email],
    enabled: probe.name.trim().length >= 2,
    queryFn: () => get<Duplicate[]>("/companies/duplicates", { name: probe.name, tax_id: probe.tax_id, phone: probe.phone ? [probe.phone] : [], email: probe.email ? [probe.email] : [] }),
    retry: false,
  });
  const create = useMutation({
    mutationFn: () =>
      post<Company & { likely_duplicates: Duplicate[] }>("/companies", {
        name: form.name,
        tax_id: form.tax_id || null,
        phones: form.phone ? [form.phone] : [],
        emails: form.email ? [form.email] : [],
        address: form.address || null,
        region_id: form.region_id || null,
        industry_id: form.industry_id || null,
        source_id: form.source_id || null,
      }),
    onSuccess: (c) => {
      client.invalidateQueries({ queryKey: ["companies"] });
      onDone();
      navigate(`/clients/${c.id}`);
    },
  });
  const set = (k: keyof typeof form) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate();
  };
  return (
    <form className="card form-grid" onSubmit={submit} aria-label={t("newClient")}>
      <Field label={t("name")} name="name" error={create.error}>
        <input required autoFocus value={form.name} onChange={set("name")} />
      </Field>
      <Field label={t("taxId")} name="tax_id" error={create.error}>
        <input value={form.tax_id} onChange={set("tax_id")} inputMode="numeric" />
      </Field>
      <Field label={t("phone")} name="phones" error={create.error}>
        <input value={form.phone} onChange={set("phone")} type="tel" />
      </Field>
      <Field label={t("email")} name="emails" error={create.error}>
        <input value={form.email} onChange={set("email")} type="email" />
      </Field>
      <Field label={t("address")} name="address" error={create.error}>
        <input value={form.address} onChange={set("address")} />
      </Field>
      <DictSelect label={t("regions")} entries={regions.data} value={form.region_id} onChange={(v) => setForm({ ...form, region_id: v })} />
      <DictSelect label={t("industries")} entries={industries.data} value={form.industry_id} onChange={(v) => setForm({ ...form, industry_id: v })} />
      <DictSelect label={t("sources")} entries={sources.data} value={form.source_id} onChange={(v) => setForm({ ...form, source_id: v })} />
      {duplicates.data && duplicates.data.length > 0 && (
        <div className="warning wide" data-testid="duplicates">
          <b>{t("likelyDuplicates")}:</b>
          <ul>
            {duplicates.data.map((d) => (
              <li key={d.company_id}>
                <Link to={`/clients/${d.company_id}`}>{d.name}</Link> <small>({d.reasons.join(", ")})</small>
              </li>
            ))}
          </ul>
        </div>
      )}
      <ErrorBox error={create.error} />
      <div className="actions wide">
        <button type="submit" disabled={create.isPending}>
          {t("create")}
        </button>
        <button type="button" className="secondary" onClick={onDone}>
          {t("cancel")}
        </button>
      </div>
    </form>
  );
}
