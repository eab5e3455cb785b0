import { describe, expect, it } from "vitest";
import { formatting } from "../src/i18n";

// Intl puts narrow or ordinary no-break spaces between groups; a reader sees a space.
const plain = (s: string) => s.replace(/[\u00a0\u202f]/g, " ");

describe("money, numbers and dates in the user's locale", () => {
  it("writes roubles the Russian way and the British way", () => {
    expect(plain(formatting("ru").money("120000.50", "RUB"))).toBe("120 000,50 ₽");
    expect(plain(formatting("en").money("120000.50", "RUB"))).toBe("RUB 120,000.50");
    expect(plain(formatting("en").money("99.5", "EUR"))).toBe("€99.50");
  });

  it("shows a dash for no amount and still writes an unknown currency's figure", () => {
    expect(formatting("ru").money(null, "RUB")).toBe("—");
    expect(formatting("en").money("", "USD")).toBe("—");
    expect(plain(formatting("en").money("1234.5", "XXXX"))).toBe("1,234.5");
  });

  it("keeps a calendar day on its day whatever the time zone, and names months in the language", () => {
    expect(formatting("en").date("2026-03-01")).toBe("1 Mar 2026");
    expect(formatting("ru").date("2026-03-01")).toBe("1 мар. 2026 г.");
    expect(formatting("en").date(null)).toBe("—");
  });

  it("groups counts by the locale and translates words, falling back to the key", () => {
    expect(plain(formatting("ru").num(5000))).toBe("5 000");
    expect(formatting("en").num("5000")).toBe("5,000");
    expect(formatting("en").t("board")).not.toBe(formatting("ru").t("board"));
    expect(formatting("en").t("no such word")).toBe("no such word");
  });
});
