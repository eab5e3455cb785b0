// The gateway's public API: bearer tokens (OAuth2 password flow), a refresh when the access token
// expires, errors as RFC 9457 problems naming the fields.

export interface FieldError {
  field?: string | null;
  message: string;
}

export interface Problem {
  title: string;
  status: number;
  detail?: string;
  errors?: FieldError[];
  rule?: string;
}

export class ApiError extends Error {
  constructor(public problem: Problem) {
    super(problem.detail || problem.title);
  }
  get status() {
    return this.problem.status;
  }
  /** The message for one field of a form, when the server named it. */
  field(name: string): string | undefined {
    return this.problem.errors?.find((e) => e.field === name || e.field?.endsWith(`.${name}`))?.message;
  }
}

// The refresh token is an HttpOnly cookie the gateway sets (asked for with X-Refresh-Token-Transport), so
// no script here, nor one injected into the page, can read it; the short-lived access token lives in this
// module's memory only. A reload refreshes by the cookie to get a new one.
const TRANSPORT = { "x-refresh-token-transport": "cookie" };
const CSRF_COOKIE = "__Host-mercator-csrf";

/** "checking" while the first refresh of a page load is under way. */
export type AuthState = "checking" | "in" | "out";
let access: string | null = null;
let state: AuthState = "checking";
const listeners = new Set<() => void>();

export function onAuthChange(f: () => void) {
  listeners.add(f);
  return () => listeners.delete(f);
}

function setAccess(token: string | null) {
  access = token;
  state = token ? "in" : "out";
  listeners.forEach((f) => f());
}

export const authState = () => state;
export const accessToken = () => access;

/** The double-submit CSRF token: the gateway's cookie, which only this origin's scripts can read. */
export function csrfToken(cookies: string = document.cookie): string | null {
  for (const part of cookies.split(";")) {
    const [name, ...value] = part.trim().split("=");
    if (name === CSRF_COOKIE) return value.join("=");
  }
  return null;
}

async function problemOf(r: Response): Promise<ApiError> {
  let body: Problem;
  try {
    body = await r.json();
  } catch {
    body = { title: r.statusText || "Error", status: r.status };
  }
  if (!body.title) body = { title: r.statusText || "Error", status: r.status, detail: JSON.stringify(body) };
  return new ApiError({ ...body, status: r.status });
}

export async function signIn(username: string, password: string) {
  const r = await fetch("/api/v1/auth/token", {
    method: "POST",
    credentials: "same-origin",
    headers: { "content-type": "application/x-www-form-urlencoded", ...TRANSPORT },
    body: new URLSearchParams({ username, password }),
  });
  if (!r.ok) throw await problemOf(r);
  setAccess((await r.json()).access_token);
}

export async function signOut() {
  setAccess(null);
  const csrf = csrfToken();
  if (csrf) {
    await fetch("/api/v1/auth/logout", {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-csrf-token": csrf },
    }).catch(() => undefined);
  }
}

let refreshing: Promise<boolean> | null = null;

async function refreshByCookie(): Promise<string | null> {
  // Read inside the lock: the tab that refreshed before this one has set new cookies.
  const csrf = csrfToken();
  if (!csrf) return null; // never signed in here, or signed out: no cookie to refresh with
  const r = await fetch("/api/v1/auth/refresh", {
    method: "POST",
    credentials: "same-origin",
    headers: { "x-csrf-token": csrf, ...TRANSPORT },
  });
  return r.ok ? (await r.json()).access_token : null;
}

/** One refresh at a time: parallel requests that all met a 401 wait for the same new token. Across tabs too:
 * each refresh spends the cookie's token, and two tabs spending the same one look like a stolen token to the
 * gateway, which then ends the session. */
function refresh(): Promise<boolean> {
  refreshing ??= (async () => {
    try {
      const locks = typeof navigator !== "undefined" ? navigator.locks : undefined;
      const token = locks ? await locks.request("mercator.refresh", refreshByCookie) : await refreshByCookie();
      setAccess(token || null);
      return !!token;
    } catch {
      setAccess(null);
      return false;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
}

/** At page load: the cookie (if any) gives this page its access token. */
export function resume(): Promise<boolean> {
  return refresh();
}

export type Query = Record<string, string | number | boolean | null | undefined | string[]>;

export function url(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query || {})) {
    if (v === undefined || v === null || v === "") continue;
    if (Array.isArray(v)) v.forEach((x) => params.append(k, x));
    else params.set(k, String(v));
  }
  const qs = params.toString();
  return `/api/v1${path}${qs ? `?${qs}` : ""}`;
}

export async function request<T>(method: string, path: string, opts: { query?: Query; body?: unknown; ifMatch?: number } = {}): Promise<T> {
  const go = () => {
    const headers: Record<string, string> = { accept: "application/json" };
    if (access) headers.authorization = `Bearer ${access}`;
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    if (opts.ifMatch !== undefined) headers["if-match"] = `"${opts.ifMatch}"`;
    return fetch(url(path, opts.query), {
      method,
      headers,
      body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
    });
  };
  let r = await go();
  if (r.status === 401 && (await refresh())) r = await go();
  if (!r.ok) throw await problemOf(r);
  if (r.status === 204) return undefined as T;
  return r.json();
}

export const get = <T>(path: string, query?: Query) => request<T>("GET", path, { query });
export const post = <T>(path: string, body: unknown = {}, ifMatch?: number) => request<T>("POST", path, { body, ifMatch });
export const patch = <T>(path: string, body: unknown, ifMatch?: number) => request<T>("PATCH", path, { body, ifMatch });

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** Every page of a keyset-paginated list (up to `max` items). */
export async function all<T>(path: string, query: Query = {}, max = 10000): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | null = null;
  do {
    const page: Page<T> = await get<Page<T>>(path, { ...query, limit: 200, cursor });
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < max);
  return out;
}
