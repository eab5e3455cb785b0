import { describe, expect, it } from "vitest";
import { csrfToken } from "../src/api";

describe("the CSRF token the app copies into X-CSRF-Token", () => {
  it("is the gateway's __Host- cookie, whatever else the page has", () => {
    expect(csrfToken("mercator.x=1; __Host-mercator-csrf=abc-DEF_12; other=2")).toBe("abc-DEF_12");
  });
  it("is not a cookie whose name merely ends the same", () => {
    expect(csrfToken("evil__Host-mercator-csrf=planted")).toBeNull();
    expect(csrfToken("")).toBeNull();
  });
});
