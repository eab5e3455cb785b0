import { memo, useEffect, useMemo, useRef, useState } from "react";
import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { Link } from "react-router-dom";
import { DndContext, DragOverlay, pointerWithin, rectIntersection, type CollisionDetection, KeyboardSensor, PointerSensor, TouchSensor, useDraggable, useDroppable, useSensor, useSensors, type DragEndEvent, type DragStartEvent } from "@dnd-kit/core";
import { useVirtualizer } from "@tanstack/react-virtual";
import { get, patch, post, type Page } from "../api";
import { useI18n } from "../i18n";
import { missingRequirements, needsDialog } from "../moves";
import type { Board, BoardCard, Deal, LostReason, Pipeline, Stage } from "../types";
import { ErrorBox, Field, Loading, hasRole, shortId, useMe } from "../ui";
import { usePipelines } from "./CompanyCard";

// Where the pointer is decides the column (a card half over two columns goes where the finger points);
// the keyboard has no pointer, so there the card's overlap decides.
const collision: CollisionDetection = (args) => {
  const hits = pointerWithin(args);
  return hits.length > 0 ? hits : rectIntersection(args);
};

interface Filters {
  pipeline_id: string;
  owner_id: string;
  department_id: string;
}

export function BoardPage() {
  const { t } = useI18n();
  const me = useMe();
  const pipelines = usePipelines();
  const [pipelineId, setPipelineId] = useState("");
  const [scope, setScope] = useState(hasRole(me, "manager") && !hasRole(me, "head") ? "mine" : "all");
  const pipeline = pipelines.data?.find((p) => p.id === pipelineId) ?? pipelines.data?.find((p) => p.is_default) ?? pipelines.data?.[0];
  const filters: Filters = {
    pipeline_id: pipeline?.id ?? "",
    owner_id: scope === "mine" ? me.id : "",
    department_id: scope === "department" ? me.department_id ?? "" : "",
  };
  if (pipelines.isPending) return <Loading />;
  if (pipelines.isError) return <ErrorBox error={pipelines.error} />;
  return (
    <section className="board-page">
      <div className="toolbar">
        <h2>{t("board")}</h2>
        <select aria-label={t("pipeline")} value={pipeline?.id ?? ""} onChange={(e) => setPipelineId(e.target.value)}>
          {pipelines.data.map((p) => (
            <option key={p.id} value={p.id}>{p.name}</option>
          ))}
        </select>
        <select aria-label={t("owner")} value={scope} onChange={(e) => setScope(e.target.value)}>
          <option value="mine">{t("mine")}</option>
          {me.department_id && <option value="department">{t("myDepartment")}</option>}
          <option value="all">{t("everyone")}</option>
        </select>
      </div>
      {pipeline && <BoardView pipeline={pipeline} filters={filters} />}
    </section>
  );
}

// The dialog reads the whole deal itself: a card or a deal page's deal will do.
type Pending = { deal: Pick<Deal, "id" | "title" | "version" | "stage">; from: Stage; to: Stage };

export function BoardView({ pipeline, filters }: { pipeline: Pipeline; filters: Filters }) {
  const { t } = useI18n();
  const client = useQueryClient();
  const board = useQuery({ queryKey: ["board", filters], queryFn: () => get<Board>("/board", { ...filters }) });
  const stages = useMemo(() => [...pipeline.stages].sort((a, b) => a.position - b.position), [pipeline]);
  const open = stages.filter((s) => s.kind === "open");
  const closing = stages.filter((s) => s.kind !== "open");
  const [dragged, setDragged] = useState<BoardCard | null>(null);
  const [pending, setPending] = useState<Pending | null>(null);
  const [moveError, setMoveError] = useState<unknown>(null);
  const sensors = useSensors(
    useSensor(PointerSensor, { activationConstraint: { distance: 6 } }),
    useSensor(TouchSensor, { activationConstraint: { delay: 200, tolerance: 8 } }),
    useSensor(KeyboardSensor)
  );
  const move = useMutation({
    mutationFn: ({ deal, to, comment }: { deal: BoardCard; to: Stage; comment?: string }) =>
      post<Deal>(`/deals/${deal.id}/moves`, { stage: to.code, comment: comment || null }, deal.version),
    onSuccess: () => setMoveError(null),
    onError: (e) => setMoveError(e),
    onSettled: () => {
      client.invalidateQueries({ queryKey: ["board"] });
      client.invalidateQueries({ queryKey: ["column"] });
    },
  });
  const onDragStart = (e: DragStartEvent) => setDragged((e.active.data.current as { deal: BoardCard }).deal);
  const onDragEnd = (e: DragEndEvent) => {
    setDragged(null);
    const deal = (e.active.data.current as { deal: BoardCard } | undefined)?.deal;
    const to = stages.find((s) => s.code === e.over?.id);
    const from = stages.find((s) => s.code === deal?.stage);
    if (!deal || !to || !from || to.code === from.code) return;
    // Anything the stages ask for, or a close, goes through a dialog; a plain move goes straight away.
    if (needsDialog(from, to)) setPending({ deal, from, to });
    else move.mutate({ deal, to });
  };
  return (
    <DndContext sensors={sensors} collisionDetection={collision} autoScroll={{ threshold: { x: 0.05, y: 0.1 } }} onDragStart={onDragStart} onDragEnd={onDragEnd} onDragCancel={() => setDragged(null)}>
      <ErrorBox error={board.error || moveError} />
      {/* Snapping stays off while a card is dragged: each small auto-scroll step would otherwise snap a whole
          column on, and the board would race past the column the finger is over. */}
      <div className={`board${dragged ? " dragging" : ""}`} data-testid="board">
        {open.map((s) => (
          <Column key={s.code} stage={s} filters={filters} summary={board.data?.columns.find((c) => c.stage === s.code)} />
        ))}
        <div className="closing">
          {closing.map((s) => (
            <CloseZone key={s.code} stage={s} count={board.data?.columns.find((c) => c.stage === s.code)?.count} />
          ))}
        </div>
      </div>
      <DragOverlay>{dragged ? <DealCard deal={dragged} overlay /> : null}</DragOverlay>
      {pending && (
        <MoveDialog pending={pending} onClose={() => setPending(null)} />
      )}
      {move.isPending && <div className="toast">{t("loading")}</div>}
    </DndContext>
  );
}

const CARD_HEIGHT = 68;

// A card's lean shape (about 200 bytes) lets a column come in one read of up to this many.
const CARDS_PER_READ = 2000;

function Column({ stage, filters, summary }: { stage: Stage; filters: Filters; summary?: Board["columns"][number] }) {
  const { t, money, num } = useI18n();
  const { setNodeRef, isOver } = useDroppable({ id: stage.code });
  const deals = useInfiniteQuery({
    queryKey: ["column", filters, stage.code],
    queryFn: ({ pageParam }) => get<Page<BoardCard>>("/board/cards", { ...filters, stage: stage.code, limit: CARDS_PER_READ, cursor: pageParam }),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
  });
  // The whole column is loaded (one read, or a few for a very long column); the list is virtual, so thousands of
  // cards cost only what is visible.
  useEffect(() => {
    if (deals.hasNextPage && !deals.isFetchingNextPage && !deals.isError) deals.fetchNextPage();
  }, [deals.hasNextPage, deals.isFetchingNextPage, deals.isError, deals.data]);
  const items = useMemo(() => deals.data?.pages.flatMap((p) => p.items) ?? [], [deals.data]);
  const scroller = useRef<HTMLDivElement>(null);
  const virtual = useVirtualizer({ count: items.length, getScrollElement: () => scroller.current, estimateSize: () => CARD_HEIGHT, overscan: 6 });
  return (
    <div ref={setNodeRef} className={`column${isOver ? " over" : ""}`} data-stage={stage.code} data-testid={`column-${stage.code}`} data-loaded={deals.hasNextPage ? undefined : items.length}>
      <header>
        <b>{stage.name}</b>
        <div className="column-figures">
          <span data-testid="count">{num(summary?.count ?? items.length)}</span> {t("deals_n")}
          {summary && Object.entries(summary.amounts).map(([cur, v]) => <span key={cur}> · {money(v, cur)}</span>)}
          {summary && summary.stalled > 0 && <span className="stalled-count"> · {t("stalled")}: {summary.stalled}</span>}
        </div>
      </header>
      <div className="column-body" ref={scroller}>
        <div style={{ height: virtual.getTotalSize(), position: "relative" }}>
          {virtual.getVirtualItems().map((v) => (
            <div key={items[v.index].id} style={{ position: "absolute", top: 0, left: 0, right: 0, height: CARD_HEIGHT, transform: `translateY(${v.start}px)` }}>
              <DraggableDeal deal={items[v.index]} />
            </div>
          ))}
        </div>
      </div>
    </div>
  );
}

function DraggableDeal({ deal }: { deal: BoardCard }) {
  const { attributes, listeners, setNodeRef, isDragging } = useDraggable({ id: deal.id, data: { deal } });
  return (
    <div ref={setNodeRef} {...listeners} {...attributes} className={isDragging ? "dragging" : ""} data-deal={deal.id}>
      <DealCard deal={deal} />
    </div>
  );
}

const DealCard = memo(function DealCard({ deal, overlay }: { deal: BoardCard; overlay?: boolean }) {
  const { t, money } = useI18n();
  const me = useMe();
  const stalled = deal.stalled;
  return (
    <div className={`deal-card${stalled ? " stalled" : ""}${overlay ? " overlay" : ""}`} title={stalled ? t("stalled") : undefined}>
      <Link to={`/deals/${deal.id}`} onPointerDown={(e) => e.stopPropagation()}>{deal.title}</Link>
      <div className="deal-meta">
        {money(deal.amount, deal.currency)} · {deal.owner_id === me.id ? t("mine") : deal.owner_name ?? shortId(deal.owner_id)}
        {stalled && <span className="badge stalled-badge"> {t("stalled")}</span>}
      </div>
    </div>
  );
});

function CloseZone({ stage, count }: { stage: Stage; count?: number }) {
  const { num } = useI18n();
  const { setNodeRef, isOver } = useDroppable({ id: stage.code });
  return (
    <div ref={setNodeRef} className={`close-zone ${stage.kind}${isOver ? " over" : ""}`} data-testid={`column-${stage.code}`}>
      <b>{stage.name}</b> <span>{count !== undefined ? num(count) : ""}</span>
    </div>
  );
}

export function MoveDialog({ pending, onClose }: { pending: Pending; onClose: () => void }) {
  const { t } = useI18n();
  const client = useQueryClient();
  // The list carries no lines or offers: the whole deal tells what is really missing.
  const full = useQuery({ queryKey: ["deal", pending.deal.id], queryFn: () => get<Deal>(`/deals/${pending.deal.id}`) });
  const reasons = useQuery({ queryKey: ["lost-reasons"], queryFn: () => get<LostReason[]>("/lost-reasons"), enabled: pending.to.kind === "lost" });
  const [rating, setRating] = useState("");
  const [amount, setAmount] = useState("");
  const [closeDate, setCloseDate] = useState("");
  const [comment, setComment] = useState("");
  const [reason, setReason] = useState("");
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  if (full.isPending) return <div className="dialog-backdrop"><div className="dialog"><Loading /></div></div>;
  if (full.isError) return <div className="dialog-backdrop"><div className="dialog"><ErrorBox error={full.error} /><button onClick={onClose}>{t("cancel")}</button></div></div>;
  const deal = full.data;
  const missing = missingRequirements(deal, pending.from, pending.to);
  const submit = async (e: React.FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      let version = deal.version;
      if (missing.includes("interest_rated")) version = (await post<Deal>(`/deals/${deal.id}/interest`, { rating: Number(rating) })).version;
      if (missing.includes("amount_set") || missing.includes("close_date_set")) {
        const body: Record<string, string> = {};
        if (missing.includes("amount_set")) body.amount = amount;
        if (missing.includes("close_date_set")) body.expected_close_date = closeDate;
        version = (await patch<Deal>(`/deals/${deal.id}`, body, version)).version;
      }
      if (pending.to.kind === "won") await post(`/deals/${deal.id}/win`, { comment: comment || null });
      else if (pending.to.kind === "lost") await post(`/deals/${deal.id}/lose`, { reason_id: reason || null, comment: comment || null });
      else await post(`/deals/${deal.id}/moves`, { stage: pending.to.code, comment: comment || null }, version);
      client.invalidateQueries({ queryKey: ["board"] });
      client.invalidateQueries({ queryKey: ["column"] });
      client.invalidateQueries({ queryKey: ["deal", deal.id] });
      onClose();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const blocked = missing.some((m) => m === "offer_accepted" || m === "lines_set");
  return (
    <div className="dialog-backdrop" role="dialog" aria-modal="true" aria-label={`${t("moveTo")} ${pending.to.name}`} onKeyDown={(e) => e.key === "Escape" && onClose()}>
      <form className="dialog" onSubmit={submit}>
        <h3>
          {deal.title}: {pending.from.name} → {pending.to.name}
        </h3>
        {missing.length > 0 && (
          <p>
            {t("stageNeeds")}: {missing.map((m) => t(m)).join(", ")}
          </p>
        )}
        {missing.includes("interest_rated") && (
          <Field label={t("interestRating")} name="rating" error={error}>
            <div className="rating" role="radiogroup" aria-label={t("interestRating")}>
              {[1, 2, 3, 4, 5].map((n) => (
                <label key={n}>
                  <input type="radio" name="rating" value={n} required checked={rating === String(n)} onChange={() => setRating(String(n))} autoFocus={n === 1} /> {n}
                </label>
              ))}
            </div>
          </Field>
        )}
        {missing.includes("amount_set") && (
          <Field label={t("amount")} name="amount" error={error}>
            <input required inputMode="decimal" value={amount} onChange={(e) => setAmount(e.target.value)} />
          </Field>
        )}
        {missing.includes("close_date_set") && (
          <Field label={t("expectedClose")} name="expected_close_date" error={error}>
            <input required type="date" value={closeDate} onChange={(e) => setCloseDate(e.target.value)} />
          </Field>
        )}
        {blocked && (
          <p className="warning">
            <Link to={`/deals/${deal.id}`}>{t("open")} →</Link>
          </p>
        )}
        {pending.to.kind === "lost" && (
          <Field label={t("reason")} name="reason_id" error={error}>
            <select required value={reason} onChange={(e) => setReason(e.target.value)} autoFocus>
              <option value="">—</option>
              {reasons.data?.filter((r) => r.active).map((r) => (<option key={r.id} value={r.id}>{r.name}</option>))}
            </select>
          </Field>
        )}
        <Field label={t("comment")} name="comment" error={error}>
          <textarea rows={2} value={comment} onChange={(e) => setComment(e.target.value)} />
        </Field>
        <ErrorBox error={error} />
        <div className="actions">
          <button type="submit" disabled={busy || blocked}>{pending.to.kind === "won" ? t("win") : pending.to.kind === "lost" ? t("lose") : t("move")}</button>
          <button type="button" className="secondary" onClick={onClose}>{t("cancel")}</button>
        </div>
      </form>
    </div>
  );
}
