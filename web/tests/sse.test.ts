import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { debounce, takeEvents } from "../src/sse";

describe("the live feed's events", () => {
  it("takes whole events and keeps a partial one for the next chunk", () => {
    const first = takeEvents('event: DealStageChanged\nid: 7\ndata: {"deal_id":"d1","stage":"needs"}\n\nevent: Paym');
    expect(first.events).toEqual([{ type: "DealStageChanged", id: "7", data: { deal_id: "d1", stage: "needs" } }]);
    expect(first.rest).toBe("event: Paym");
    const second = takeEvents(first.rest + 'entReceived\ndata: {"amount":"10.00"}\n\n');
    expect(second.events).toEqual([{ type: "PaymentReceived", data: { amount: "10.00" } }]);
    expect(second.rest).toBe("");
  });

  it("ignores keep-alive comments and unnamed messages, and keeps an event whose data is not JSON", () => {
    const { events } = takeEvents(": keep-alive\n\ndata: {}\n\nevent: DealWon\ndata: {broken\n\n");
    expect(events).toEqual([{ type: "DealWon", data: {} }]);
  });
});

describe("one refresh per burst", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("refreshes once, after the last event of a burst", () => {
    const refresh = vi.fn();
    const burst = debounce(refresh, 150);
    burst.call();
    vi.advanceTimersByTime(100);
    burst.call();
    vi.advanceTimersByTime(100);
    expect(refresh).not.toHaveBeenCalled();
    vi.advanceTimersByTime(50);
    expect(refresh).toHaveBeenCalledTimes(1);
    burst.call();
    burst.cancel();
    vi.advanceTimersByTime(1000);
    expect(refresh).toHaveBeenCalledTimes(1);
  });
});
