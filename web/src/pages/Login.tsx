import { useState, type FormEvent } from "react";
import { signIn } from "../api";
import { useI18n } from "../i18n";
import { ErrorBox, Field } from "../ui";

export function Login() {
  const { t, lang, setLang } = useI18n();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await signIn(email, password);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="login">
      <form onSubmit={submit} className="card">
        <h1>{t("appName")}</h1>
        <Field label={t("email")}>
          <input name="username" type="email" autoComplete="username" required autoFocus value={email} onChange={(e) => setEmail(e.target.value)} />
        </Field>
        <Field label={t("password")}>
          <input name="password" type="password" autoComplete="current-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
        </Field>
        <ErrorBox error={error} />
        <button type="submit" disabled={busy}>
          {t("signIn")}
        </button>
        <select aria-label={t("language")} value={lang} onChange={(e) => setLang(e.target.value as "ru" | "en")}>
          <option value="ru">Русский</option>
          <option value="en">English</option>
        </select>
      </form>
    </div>
  );
}
