// Server-sent events as the live feed reads them, and the one-refresh-per-burst rule: no imports, so the
// rules are tested without a browser.

export interface LiveEvent {
  type: string;
  id?: string;
  data: Record<string, unknown>;
}

/** The whole events at the front of `buffer` (each ends with a blank line) and what is left of it: a
 *  partial event waits for the next chunk. Keep-alive comments and unnamed messages are no events. */
export function takeEvents(buffer: string): { events: LiveEvent[]; rest: string } {
  const events: LiveEvent[] = [];
  let cut;
  while ((cut = buffer.indexOf("\n\n")) >= 0) {
    const block = buffer.slice(0, cut);
    buffer = buffer.slice(cut + 2);
    const event: LiveEvent = { type: "message", data: {} };
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event.type = line.slice(6).trim();
      else if (line.startsWith("id:")) event.id = line.slice(3).trim();
      else if (line.startsWith("data:")) {
        try {
          event.data = JSON.parse(line.slice(5));
        } catch {
          /* not JSON: the event still tells that something changed */
        }
      }
    }
    if (event.type !== "message") events.push(event);
  }
  return { events, rest: buffer };
}

/** `f` once, `ms` after the last of a burst of calls. */
export function debounce(f: () => void, ms: number): { call: () => void; cancel: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return {
    call: () => {
      clearTimeout(timer);
      timer = setTimeout(f, ms);
    },
    cancel: () => clearTimeout(timer),
  };
}
