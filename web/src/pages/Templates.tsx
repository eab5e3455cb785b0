// Message and document templates (notifications): the list, a new one, editing with the version read
// (If-Match), the error the service names shown at its line, and the versions kept of every edit.
import { useEffect, useMemo, useRef, useState } from "react";
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, all, get, patch, post } from "../api";
import { useI18n } from "../i18n";
import { ErrorBox, Field, Loading } from "../ui";

interface Template {
  id: string;
  name: string;
  kind: "email" | "document";
  description: string | null;
  subject: string;
  body: string;
  active: boolean;
  version: number;
  created_at: string;
  updated_at: string;
}

interface TemplateVersion {
  template_id: string;
  version: number;
  description: string | null;
  subject: string;
  body: string;
  created_at: string;
  author_id: string | null;
}

/** The line a template error names ("line 3: unexpected '}'"), if it names one. */
export function errorLine(message: string | undefined): number | null {
  const m = message && /\bline (\d+)\b/.exec(message);
  return m ? Number(m[1]) : null;
}

/** A text area with line numbers; the line the server's error names is marked and its message shown there. */
function SourceEditor({ label, name, value, onChange, error, rows = 12 }: { label: string; name: string; value: string; onChange: (v: string) => void; error: unknown; rows?: number }) {
  const message = error instanceof ApiError ? error.field(name) : undefined;
  const bad = errorLine(message);
  const area = useRef<HTMLTextAreaElement>(null);
  const gutter = useRef<HTMLDivElement>(null);
  const count = Math.max(value.split("\n").length, rows);
  // Bring the faulty line into view and put the cursor at its start.
  useEffect(() => {
    const el = area.current;
    if (!el || !bad) return;
    const lines = el.value.split("\n");
    const start = lines.slice(0, bad - 1).reduce((n, l) => n + l.length + 1, 0);
    el.focus();
    el.setSelectionRange(start, start + (lines[bad - 1]?.length ?? 0));
    const lineHeight = el.scrollHeight / Math.max(lines.length, 1);
    el.scrollTop = Math.max(0, (bad - 3) * lineHeight);
  }, [bad, message]);
  return (
    <label className={`field source${message ? " invalid" : ""}`}>
      <span>{label}</span>
      <div className="source-editor">
        <div className="gutter" ref={gutter} aria-hidden="true">
          {Array.from({ length: count }, (_, i) => (
            <div key={i} className={i + 1 === bad ? "bad-line" : undefined} data-line={i + 1}>{i + 1}</div>
          ))}
        </div>
        <textarea
          ref={area}
          name={name}
          spellCheck={false}
          rows={rows}
          value={value}
          aria-invalid={!!message}
          onScroll={(e) => gutter.current && (gutter.current.scrollTop = e.currentTarget.scrollTop)}
          onChange={(e) => onChange(e.target.value)}
        />
      </div>
      {message && (
        <small className="field-error" data-testid={`error-${name}`}>
          {message}
        </small>
      )}
    </label>
  );
}

export function Templates() {
  const { t, dateTime } = useI18n();
  const [kind, setKind] = useState("");
  const [selected, setSelected] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);
  const list = useQuery({ queryKey: ["templates", kind || "all"], queryFn: () => all<Template>("/templates", { kind }) });
  const current = list.data?.find((x) => x.id === selected) ?? null;
  return (
    <div className="columns templates">
      <div className="card">
        <div className="toolbar">
          <h3>{t("templates")}</h3>
          <select aria-label={t("kind")} value={kind} onChange={(e) => setKind(e.target.value)}>
            <option value="">{t("kind")}: {t("any")}</option>
            <option value="email">{t("t_email")}</option>
            <option value="document">{t("t_document")}</option>
          </select>
          <button onClick={() => { setCreating(true); setSelected(null); }}>+ {t("newTemplate")}</button>
        </div>
        <ErrorBox error={list.error} />
        {list.isPending ? <Loading /> : (
          <ul className="plain pick-list" data-testid="templates">
            {list.data?.map((x) => (
              <li key={x.id}>
                <button className={`link${x.id === selected ? " selected" : ""}`} onClick={() => { setSelected(x.id); setCreating(false); }}>
                  {x.name}
                </button>{" "}
                <span className="badge">{t(`t_${x.kind}`)}</span> {!x.active && <span className="badge lost">{t("inactive")}</span>}{" "}
                <span className="muted">v{x.version} · {dateTime(x.updated_at)}</span>
              </li>
            ))}
          </ul>
        )}
      </div>
      <div>
        {creating && <NewTemplate onDone={(id) => { setCreating(false); if (id) setSelected(id); }} />}
        {current && <EditTemplate key={`${current.id}`} template={current} />}
      </div>
    </div>
  );
}

function NewTemplate({ onDone }: { onDone: (id: string | null) => void }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const [form, setForm] = useState({ name: "", kind: "email", description: "", subject: "", body: "" });
  const create = useMutation({
    mutationFn: () => post<Template>("/templates", { ...form, description: form.description || null }),
    onSuccess: (x) => {
      client.invalidateQueries({ queryKey: ["templates"] });
      onDone(x.id);
    },
  });
  return (
    <form className="card form-grid" aria-label={t("newTemplate")} onSubmit={(e) => { e.preventDefault(); create.mutate(); }}>
      <h3 className="wide">{t("newTemplate")}</h3>
      <Field label={t("name")} name="name" error={create.error}><input required value={form.name} onChange={(e) => setForm({ ...form, name: e.target.value })} /></Field>
      <Field label={t("kind")} name="kind" error={create.error}>
        <select value={form.kind} onChange={(e) => setForm({ ...form, kind: e.target.value })}>
          <option value="email">{t("t_email")}</option>
          <option value="document">{t("t_document")}</option>
        </select>
      </Field>
      <Field label={t("description")} name="description" error={create.error}><input value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} /></Field>
      <div className="wide"><SourceEditor label={form.kind === "email" ? t("subject") : t("title")} name="subject" rows={2} value={form.subject} onChange={(v) => setForm({ ...form, subject: v })} error={create.error} /></div>
      <div className="wide"><SourceEditor label={t("body")} name="body" value={form.body} onChange={(v) => setForm({ ...form, body: v })} error={create.error} /></div>
      {/* an error the service named a field for is shown at that field */}
      {!(create.error instanceof ApiError && create.error.problem.errors?.some((e) => e.field === "subject" || e.field === "body")) && <ErrorBox error={create.error} />}
      <div className="actions wide">
        <button type="submit" disabled={create.isPending}>{t("create")}</button>
        <button type="button" className="secondary" onClick={() => onDone(null)}>{t("cancel")}</button>
      </div>
    </form>
  );
}

function EditTemplate({ template }: { template: Template }) {
  const { t, dateTime } = useI18n();
  const client = useQueryClient();
  const [form, setForm] = useState({ description: template.description ?? "", subject: template.subject, body: template.body, active: template.active });
  // The version this form was read at: an edit saved by someone else meanwhile is refused (412), not overwritten.
  const [base, setBase] = useState(template.version);
  const [viewing, setViewing] = useState<number | null>(null);
  const versions = useQuery({ queryKey: ["template-versions", template.id, base], queryFn: () => get<TemplateVersion[]>(`/templates/${template.id}/versions`) });
  const save = useMutation({
    mutationFn: () => patch<Template>(`/templates/${template.id}`, { ...form, description: form.description || null }, base),
    onSuccess: (x) => {
      setBase(x.version);
      client.invalidateQueries({ queryKey: ["templates"] });
    },
  });
  const stale = save.error instanceof ApiError && save.error.status === 412;
  const reload = async () => {
    const fresh = await get<Template>(`/templates/${template.id}`);
    setForm({ description: fresh.description ?? "", subject: fresh.subject, body: fresh.body, active: fresh.active });
    setBase(fresh.version);
    save.reset();
    client.invalidateQueries({ queryKey: ["templates"] });
  };
  const shown = useMemo(() => versions.data?.find((v) => v.version === viewing) ?? null, [versions.data, viewing]);
  return (
    <>
      <form className="card form-grid" aria-label={t("editTemplate")} onSubmit={(e) => { e.preventDefault(); save.mutate(); }}>
        <h3 className="wide">{template.name} <span className="badge">{t(`t_${template.kind}`)}</span> <span className="muted">v{base}</span></h3>
        <Field label={t("description")} name="description" error={save.error}><input value={form.description} onChange={(e) => setForm({ ...form, description: e.target.value })} /></Field>
        <label className="check"><input type="checkbox" checked={form.active} onChange={(e) => setForm({ ...form, active: e.target.checked })} /> {t("active")}</label>
        <div className="wide"><SourceEditor label={template.kind === "email" ? t("subject") : t("title")} name="subject" rows={2} value={form.subject} onChange={(v) => setForm({ ...form, subject: v })} error={save.error} /></div>
        <div className="wide"><SourceEditor label={t("body")} name="body" rows={14} value={form.body} onChange={(v) => setForm({ ...form, body: v })} error={save.error} /></div>
        {stale ? (
          <div className="warning wide" role="alert">{t("staleTemplate")} <button type="button" className="small" onClick={reload}>{t("reloadLatest")}</button></div>
        ) : (
          !(save.error instanceof ApiError && save.error.problem.errors?.some((e) => e.field === "subject" || e.field === "body")) && <ErrorBox error={save.error} />
        )}
        {save.isSuccess && <p className="ok wide" role="status">{t("saved")} · v{base}</p>}
        <div className="actions wide"><button type="submit" disabled={save.isPending}>{t("save")}</button></div>
      </form>
      <div className="card">
        <h3>{t("versions")}</h3>
        <ErrorBox error={versions.error} />
        <ul className="plain" data-testid="template-versions">
          {[...(versions.data ?? [])].sort((a, b) => b.version - a.version).map((v) => (
            <li key={v.version}>
              <button className={`link${v.version === viewing ? " selected" : ""}`} onClick={() => setViewing(v.version === viewing ? null : v.version)}>v{v.version}</button>{" "}
              <span className="muted">{dateTime(v.created_at)}</span>
            </li>
          ))}
        </ul>
        {shown && (
          <div className="version" data-testid="template-version">
            <p><b>{t("subject")}:</b> <code>{shown.subject}</code></p>
            <pre>{shown.body}</pre>
            <button type="button" className="secondary" onClick={() => setForm({ ...form, description: shown.description ?? "", subject: shown.subject, body: shown.body })}>{t("restoreVersion")}</button>
          </div>
        )}
      </div>
    </>
  );
}
