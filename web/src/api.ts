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

interface Tokens {
  access_token: string;
  refresh_token: string;
}

const KEY = "mercator.tokens";
let tokens: Tokens | null = JSON.parse(localStorage.getItem(KEY) || "null");
const listeners = new Set<() => void>();

export function onAuthChange(f: () => void) {
  listeners.add(f);
  return () => listeners.delete(f);
}

function setTokens(t: Tokens | null) {
  tokens = t;
  if (t) localStorage.setItem(KEY, JSON.stringify(t));
  else localStorage.removeItem(KEY);
  listeners.forEach((f) => f());
}

export const signedIn = () => tokens !== null;
export const accessToken = () => tokens?.access_token ?? null;

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
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ username, password }),
  });
  if (!r.ok) throw await problemOf(r);
  setTokens(await r.json());
}

export async function signOut() {
  const t = tokens;
  setTokens(null);
  if (t) {
    await fetch("/api/v1/auth/logout", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ refresh_token: t.refresh_token }),
    }).catch(() => undefined);
  }
}

let refreshing: Promise<boolean> | null = null;

/** One refresh at a time: parallel requests that all met a 401 wait for the same new token. */
function refresh(): Promise<boolean> {
  if (!tokens) return Promise.resolve(false);
  refreshing ??= (async () => {
    try {
      const r = await fetch("/api/v1/auth/refresh", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ refresh_token: tokens!.refresh_token }),
      });
      if (!r.ok) {
        setTokens(null);
        return false;
      }
      setTokens(await r.json());
      return true;
    } finally {
      refreshing = null;
    }
  })();
  return refreshing;
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
    if (tokens) headers.authorization = `Bearer ${tokens.access_token}`;
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
