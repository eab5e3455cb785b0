import { useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { all, get, patch, post } from "../api";
import { useI18n } from "../i18n";
import type { DictEntry, Pipeline, Stage } from "../types";
import { ErrorBox, Field, hasRole, useMe } from "../ui";
import { Templates } from "./Templates";

const ROLES = ["manager", "head", "marketing", "executive", "support", "admin", "importer"];
const REQUIREMENTS = ["interest_rated", "offer_accepted", "amount_set", "lines_set", "close_date_set"];

interface User { id: string; name: string; email: string; roles: string[]; department_id: string | null; active: boolean; version: number }
interface Department { id: string; name: string; parent_id: string | null; active: boolean }

export function AdminPage() {
  const { t } = useI18n();
  const me = useMe();
  // Marketing writes templates too, and sees only that tab.
  const tabs = hasRole(me, "admin", "head") ? [...(hasRole(me, "admin") ? ["users", "departments"] : []), "pipelines", "dictionaries", "templates"] : ["templates"];
  const [tab, setTab] = useState(tabs[0]);
  return (
    <section>
      <div className="toolbar">
        <h2>{t("admin")}</h2>
        <div className="tabs" role="tablist">
          {tabs.map((x) => (
            <button key={x} role="tab" aria-selected={tab === x} className={tab === x ? "" : "secondary"} onClick={() => setTab(x)}>{t(x)}</button>
          ))}
        </div>
      </div>
      {tab === "users" && <Users />}
      {tab === "departments" && <Departments />}
      {tab === "pipelines" && <Pipelines />}
      {tab === "dictionaries" && <Dictionaries />}
      {tab === "templates" && <Templates />}
    </section>
  );
}

function useDepartments() {
  return useQuery({ queryKey: ["departments"], queryFn: () => all<Department>("/departments") });
}

function Users() {
  const { t } = useI18n();
  const client = useQueryClient();
  const users = useQuery({ queryKey: ["users"], queryFn: () => all<User>("/users") });
  const departments = useDepartments();
  const deptName = (id: string | null) => departments.data?.find((d) => d.id === id)?.name ?? "—";
  const [form, setForm] = useState({ name: "", email: "", password: "", roles: ["manager"], department_id: "" });
  const create = useMutation({
    mutationFn: () => post("/users", { ...form, department_id: form.department_id || null }),
    onSuccess: () => {
      setForm({ name: "", email: "", password: "", roles: ["manager"], department_id: "" });
      client.invalidateQueries({ queryKey: ["users"] });
    },
  });
  const toggle = useMutation({
    mutationFn: (u: User) => patch(`/users/${u.id}`, { active: !u.active }, u.version),
    onSuccess: () => client.invalidateQueries({ queryKey: ["users"] }),
  });
  return (
    <div className="card">
      <ErrorBox error={users.error || toggle.error} />
      <div className="table-wrap">
        <table data-testid="users">
          <thead><tr><th>{t("name")}</th><th>{t("email")}</th><th>{t("roles")}</th><th>{t("department")}</th><th>{t("active")}</th></tr></thead>
          <tbody>
            {users.data?.map((u) => (
              <tr key={u.id}>
                <td>{u.name}</td><td>{u.email}</td><td>{u.roles.join(", ")}</td><td>{deptName(u.department_id)}</td>
                <td><input type="checkbox" aria-label={t("active")} checked={u.active} onChange={() => toggle.mutate(u)} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <form className="form-grid" aria-label={t("users")} onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
        <Field label={t("name")} name="name" error={create.error}><input required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} /></Field>
        <Field label={t("email")} name="email" error={create.error}><input required type="email" value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} /></Field>
        <Field label={t("password")} name="password" error={create.error}><input required type="password" autoComplete="new-password" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} /></Field>
        <Field label={t("department")} name="department_id" error={create.error}>
          <select value={form.department_id} onChange={(e) => setForm({ ...form, department_id: e.target.value })}>
            <option value="">—</option>
            {departments.data?.map((d) => (<option key={d.id} value={d.id}>{d.name}</option>))}
          </select>
        </Field>
        <fieldset className="wide">
          <legend>{t("roles")}</legend>
          {ROLES.map((r) => (
            <label key={r} className="check">
              <input type="checkbox" checked={form.roles.includes(r)} onChange={(e) => setForm({ ...form, roles: e.target.checked ? [...form.roles, r] : form.roles.filter((x) => x !== r) })} /> {r}
            </label>
          ))}
        </fieldset>
        <ErrorBox error={create.error} />
        <div className="actions wide"><button type="submit">{t("add")}</button></div>
      </form>
    </div>
  );
}

function Departments() {
  const { t } = useI18n();
  const client = useQueryClient();
  const departments = useDepartments();
  const [form, setForm] = useState({ name: "", parent_id: "" });
  const create = useMutation({
    mutationFn: () => post("/departments", { name: form.name, parent_id: form.parent_id || null }),
    onSuccess: () => {
      setForm({ name: "", parent_id: "" });
      client.invalidateQueries({ queryKey: ["departments"] });
    },
  });
  const byParent = (parent: string | null): Department[] => (departments.data ?? []).filter((d) => d.parent_id === parent);
  const tree = (parent: string | null) => (
    <ul>
      {byParent(parent).map((d) => (
        <li key={d.id}>{d.name}{!d.active && " ✕"}{tree(d.id)}</li>
      ))}
    </ul>
  );
  return (
    <div className="card">
      <ErrorBox error={departments.error} />
      {tree(null)}
      <form className="form-grid" aria-label={t("departments")} onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
        <Field label={t("name")} name="name" error={create.error}><input required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} /></Field>
        <Field label={t("department")} name="parent_id" error={create.error}>
          <select value={form.parent_id} onChange={(e) => setForm({ ...form, parent_id: e.target.value })}>
            <option value="">—</option>
            {departments.data?.map((d) => (<option key={d.id} value={d.id}>{d.name}</option>))}
          </select>
        </Field>
        <ErrorBox error={create.error} />
        <div className="actions wide"><button type="submit">{t("add")}</button></div>
      </form>
    </div>
  );
}

function Pipelines() {
  const { t } = useI18n();
  const pipelines = useQuery({ queryKey: ["pipelines"], queryFn: () => get<Pipeline[]>("/pipelines") });
  return (
    <div>
      <ErrorBox error={pipelines.error} />
      {pipelines.data?.map((p) => (
        <div className="card" key={p.id}>
          <h3>{p.name}{p.is_default && " ★"}</h3>
          <div className="table-wrap">
            <table>
              <thead><tr><th>{t("stage")}</th><th>{t("probability")}</th><th>{t("stalledAfter")}</th><th>{t("requireEnter")}</th><th>{t("requireLeave")}</th><th /></tr></thead>
              <tbody>
                {[...p.stages].sort((a, b) => a.position - b.position).map((s) => <StageRow key={s.code} pipeline={p} stage={s} />)}
              </tbody>
            </table>
          </div>
        </div>
      ))}
    </div>
  );
}

function StageRow({ pipeline, stage }: { pipeline: Pipeline; stage: Stage }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [s, setS] = useState({ name: stage.name, probability: stage.probability, stalled_after_days: stage.stalled_after_days?.toString() ?? "", require_to_enter: stage.require_to_enter, require_to_leave: stage.require_to_leave });
  const save = useMutation({
    mutationFn: () => patch(`/pipelines/${pipeline.id}/stages/${stage.code}`, { ...s, stalled_after_days: s.stalled_after_days ? Number(s.stalled_after_days) : null }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["pipelines"] }),
  });
  const reqs = (side: "require_to_enter" | "require_to_leave") => (
    <select multiple aria-label={`${stage.code} ${side}`} value={s[side]} onChange={(e) => setS({ ...s, [side]: [...e.target.selectedOptions].map((o) => o.value) })}>
      {REQUIREMENTS.map((r) => (<option key={r} value={r}>{t(r)}</option>))}
    </select>
  );
  return (
    <tr>
      <td><input aria-label={t("name")} value={s.name} onChange={(e) => setS({ ...s, name: e.target.value })} /></td>
      <td><input aria-label={t("probability")} inputMode="decimal" size={5} value={s.probability} onChange={(e) => setS({ ...s, probability: e.target.value })} /></td>
      <td><input aria-label={t("stalledAfter")} type="number" min={1} value={s.stalled_after_days} onChange={(e) => setS({ ...s, stalled_after_days: e.target.value })} /></td>
      <td>{reqs("require_to_enter")}</td>
      <td>{reqs("require_to_leave")}</td>
      <td><button className="small" onClick={() => save.mutate()}>{t("save")}</button><ErrorBox error={save.error} />{save.isSuccess && "✓"}</td>
    </tr>
  );
}

function Dictionaries() {
  const { t } = useI18n();
  return (
    <div className="columns">
      <Dictionary path="/regions" title={t("regions")} />
      <Dictionary path="/industries" title={t("industries")} />
      <Dictionary path="/contact-sources" title={t("sources")} />
      <Dictionary path="/lost-reasons" title={t("lostReasons")} />
    </div>
  );
}

function Dictionary({ path, title }: { path: string; title: string }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const entries = useQuery({ queryKey: ["dict-admin", path], queryFn: () => get<DictEntry[]>(path) });
  const [name, setName] = useState("");
  const refresh = () => {
    client.invalidateQueries({ queryKey: ["dict-admin", path] });
    client.invalidateQueries({ queryKey: ["dict"] });
    client.invalidateQueries({ queryKey: ["lost-reasons"] });
  };
  const add = useMutation({ mutationFn: () => post(path, { name }), onSuccess: () => { setName(""); refresh(); } });
  const toggle = useMutation({ mutationFn: (e: DictEntry) => patch(`${path}/${e.id}`, { active: !e.active }), onSuccess: refresh });
  return (
    <div className="card">
      <h3>{title}</h3>
      <ErrorBox error={entries.error || toggle.error} />
      <ul className="plain">
        {entries.data?.map((e) => (
          <li key={e.id}><label className="check"><input type="checkbox" checked={e.active} onChange={() => toggle.mutate(e)} /> {e.name}</label></li>
        ))}
      </ul>
      <form className="row" onSubmit={(e) => { e.preventDefault(); add.mutate(); }}>
        <input aria-label={title} required value={name} onChange={(e) => setName(e.target.value)} />
        <button type="submit">{t("add")}</button>
      </form>
      <ErrorBox error={add.error} />
    </div>
  );
}
