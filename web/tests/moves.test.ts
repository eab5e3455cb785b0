import { describe, expect, it } from "vitest";
import { missingRequirements, needsDialog } from "../src/moves";
import type { Stage } from "../src/types";

const stage = (code: string, more: Partial<Stage> = {}): Stage => ({
  code, name: code, position: 0, probability: "0.1", stalled_after_days: null, kind: "open",
  require_to_enter: [], require_to_leave: [], ...more,
});
const needs = stage("needs");
const tech = stage("tech_proposal");
const demo = stage("demo", { require_to_leave: ["interest_rated"] });
const contract = stage("contract", { require_to_enter: ["offer_accepted", "amount_set"] });
const won = stage("won", { kind: "won" });
const lost = stage("lost", { kind: "lost" });
const bare = { interest_rating: null, offers: [], amount: null, lines: [], expected_close_date: null };

describe("what a move on the board asks for", () => {
  it("moves between plain open stages at once", () => {
    expect(needsDialog(needs, tech)).toBe(false);
    expect(needsDialog(tech, needs)).toBe(false);
  });

  it("asks through a dialog when leaving the demo, entering the contract, or closing", () => {
    expect(needsDialog(demo, tech)).toBe(true);
    expect(needsDialog(needs, contract)).toBe(true);
    expect(needsDialog(needs, won)).toBe(true);
    expect(needsDialog(needs, lost)).toBe(true);
  });

  it("names only what the deal lacks", () => {
    expect(missingRequirements(bare, demo, tech)).toEqual(["interest_rated"]);
    expect(missingRequirements({ ...bare, interest_rating: 4 }, demo, tech)).toEqual([]);
    expect(missingRequirements({ ...bare, interest_rating: 4 }, demo, contract)).toEqual(["offer_accepted", "amount_set"]);
    const accepted = { ...bare, amount: "100.00", offers: [{ status: "accepted" }] } as never;
    expect(missingRequirements(accepted, needs, contract)).toEqual([]);
  });

  it("asks nothing of the stages when a deal is closed", () => {
    expect(missingRequirements(bare, demo, lost)).toEqual([]);
    expect(missingRequirements(bare, demo, won)).toEqual([]);
  });
});
