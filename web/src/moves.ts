// The board's move rules, from the pipeline's data (the deals service checks them again on the move).
import type { Deal, Stage } from "./types";

/** A close, or a stage that asks for something on the way in or out, goes through a dialog; a plain move
 *  between open stages goes straight away. */
export function needsDialog(from: Stage, to: Stage): boolean {
  return to.kind !== "open" || from.require_to_leave.length > 0 || to.require_to_enter.length > 0;
}

/** What the stages ask for that the deal lacks. A close checks nothing of the stages it leaves. */
export function missingRequirements(deal: Pick<Deal, "interest_rating" | "offers" | "amount" | "lines" | "expected_close_date">, from: Stage, to: Stage): string[] {
  const has: Record<string, boolean> = {
    interest_rated: deal.interest_rating !== null,
    offer_accepted: deal.offers.some((o) => o.status === "accepted"),
    amount_set: deal.amount !== null,
    lines_set: deal.lines.length > 0,
    close_date_set: deal.expected_close_date !== null,
  };
  const wanted = to.kind === "open" ? [...from.require_to_leave, ...to.require_to_enter] : [];
  return [...new Set(wanted)].filter((r) => !has[r]);
}
