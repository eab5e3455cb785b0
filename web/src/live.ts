// Live updates: the gateway streams the events the viewer may see (server-sent events, read with
// fetch so the bearer token goes in a header, not in the URL); each one refreshes what is on screen.
import { useEffect, useState } from "react";
import { useQueryClient } from "@tanstack/react-query";
import { accessToken, get } from "./api";
import { debounce, takeEvents, type LiveEvent } from "./sse";

export type { LiveEvent };

type Listener = (e: LiveEvent) => void;
const listeners = new Set<Listener>();
export function onLiveEvent(f: Listener) {
  listeners.add(f);
  return () => {
    listeners.delete(f);
  };
}

export function useLive(enabled: boolean): boolean {
  const client = useQueryClient();
  const [connected, setConnected] = useState(false);
  useEffect(() => {
    if (!enabled) return;
    const stop = new AbortController();
    // Events come in bursts (a move writes a transition and a history entry): one refresh per burst.
    const burst = debounce(() => client.invalidateQueries({ predicate: (q) => q.queryKey[0] !== "me" }), 150);
    const refresh = burst.call;
    (async () => {
      let pause = 1000;
      let first = true;
      while (!stop.signal.aborted) {
        try {
          const r = await fetch("/api/v1/live", {
            headers: { authorization: `Bearer ${accessToken()}`, accept: "text/event-stream" },
            signal: stop.signal,
          });
          // An expired access token: any API call refreshes it, then the stream is opened again.
          if (r.status === 401) await get("/me").catch(() => undefined);
          if (!r.ok || !r.body) throw new Error(String(r.status));
          setConnected(true);
          pause = 1000;
          // Events are not replayed: after a gap, what is on screen is fetched afresh.
          if (!first) refresh();
          first = false;
          const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
          let buffer = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buffer += value;
            const taken = takeEvents(buffer);
            buffer = taken.rest;
            for (const event of taken.events) {
              listeners.forEach((f) => f(event));
              refresh();
            }
          }
        } catch {
          /* the connection dropped (or was refused): try again after a pause */
        }
        setConnected(false);
        if (stop.signal.aborted) break;
        await new Promise((ok) => setTimeout(ok, pause));
        pause = Math.min(pause * 2, 30000);
      }
    })();
    return () => {
      stop.abort();
      burst.cancel();
    };
  }, [enabled, client]);
  return connected;
}
