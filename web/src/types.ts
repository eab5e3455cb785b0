// The shapes the gateway's public API answers with (see /api/v1/openapi.json).

import type { Page } from "./api";

export interface Me {
  id: string;
  name: string;
  email?: string | null;
  roles: string[];
  department_id?: string | null;
}

export interface Ref {
  id: string;
  name: string;
}

export interface Company {
  id: string;
  name: string;
  legal_name: string | null;
  tax_id: string | null;
  status: "prospect" | "client" | "former";
  owner_id: string;
  department_id: string | null;
  region: Ref | null;
  industry: Ref | null;
  source: Ref | null;
  phones: string[];
  emails: string[];
  address: string | null;
  website: string | null;
  notes: string | null;
  last_activity_at: string | null;
  created_at: string;
  version: number;
}

export interface Duplicate {
  company_id: string;
  name: string;
  reasons: string[];
  score: number;
}

export interface Person {
  id: string;
  company_id: string;
  name: string;
  position: string | null;
  phones: string[];
  emails: string[];
}

export interface Activity {
  id: string;
  company_id: string;
  kind: string;
  direction: string;
  subject: string | null;
  summary: string;
  happened_at: string;
  author_id: string;
  deal_id: string | null;
}

export interface Meeting {
  id: string;
  company_id: string;
  kind: string;
  subject: string | null;
  starts_at: string;
  duration_minutes: number;
  place: string | null;
  status: string;
}

export interface Offer {
  id: string;
  side: "ours" | "client";
  amount: string;
  discount_percent: string;
  valid_until: string | null;
  comment: string | null;
  made_at: string;
  status: string;
}

export interface DealLine {
  product_id: string;
  quantity: string;
  unit_price: string;
  discount_percent: string;
  total: string;
}

export interface Deal {
  id: string;
  title: string;
  company_id: string;
  owner_id: string;
  department_id: string | null;
  pipeline_id: string;
  stage: string;
  status: string;
  amount: string | null;
  weighted_amount: string | null;
  currency: string;
  expected_close_date: string | null;
  interest_rating: number | null;
  lost_reason: string | null;
  lost_at_stage: string | null;
  entered_stage_at: string;
  opened_at: string;
  closed_at: string | null;
  version: number;
  lines: DealLine[];
  offers: Offer[];
}

/** A deal as the board's card shows it (`/board/cards`). */
export interface BoardCard {
  id: string;
  title: string;
  amount: string | null;
  currency: string;
  owner_id: string;
  owner_name: string | null;
  stage: string;
  version: number;
  stalled: boolean;
}

/** A colleague as every signed-in user may see them (`/people`). */
export interface Person {
  id: string;
  name: string;
  department_id: string | null;
  active: boolean;
}

export interface Stage {
  code: string;
  name: string;
  position: number;
  probability: string;
  stalled_after_days: number | null;
  kind: "open" | "won" | "lost";
  require_to_enter: string[];
  require_to_leave: string[];
}

export interface Pipeline {
  id: string;
  name: string;
  is_default: boolean;
  stages: Stage[];
}

export interface BoardColumn {
  stage: string;
  name: string;
  probability: string;
  count: number;
  amounts: Record<string, string>;
  weighted: Record<string, string>;
  stalled: number;
  stalled_deal_ids: string[];
}

export interface Board {
  pipeline_id: string;
  as_of: string;
  columns: BoardColumn[];
}

export interface Invoice {
  id: string;
  number: string | null;
  deal_id: string | null;
  company_id: string;
  currency: string;
  status: string;
  issue_date: string | null;
  due_date: string | null;
  net: string;
  vat: string;
  total: string;
  paid: string;
  outstanding: string;
  version: number;
}

export interface Payment {
  id: string;
  company_id: string;
  amount: string;
  currency: string;
  received_on: string;
  method: string;
  bank_reference: string | null;
  credit: string;
  allocations: { invoice_id: string; amount: string }[];
}

// history, meetings and deals come a page at a time (history_cursor, meetings_cursor, deals_cursor); null: that
// service is down and named in `missing`.
export interface ClientCard {
  company: Company;
  persons: Person[] | null;
  history: Page<Activity> | null;
  meetings: Page<Meeting> | null;
  deals: Page<Deal> | null;
  invoices: Invoice[] | null;
  debt: Record<string, string> | null;
  partial: boolean;
  missing: string[];
}

export interface LostReason {
  id: string;
  name: string;
  active: boolean;
}

export interface DictEntry {
  id: string;
  name: string;
  active: boolean;
  position: number;
}
