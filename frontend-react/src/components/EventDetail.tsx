import { useEffect, useId, useRef } from 'react';
import { formatMs, formatTime, jsonBytes, prettyJson } from '../format';
import type { EventResult } from '../types';

export interface EventDetailProps {
  /** The event as its row showed it when it was opened: a snapshot, kept while the table moves on. */
  event: EventResult;
  onClose: () => void;
}

const NONE = '—';

function Item({ label, testId, children }: { label: string; testId: string; children: React.ReactNode }) {
  return (
    <div>
      <dt>{label}</dt>
      <dd data-testid={testId}>{children}</dd>
    </div>
  );
}

/** "12.3 ms of 100 ms (12% of the deadline)" */
export function latencyText(e: EventResult): string {
  const pct = e.deadlineMs > 0 ? ` (${Math.round((e.latencyMs / e.deadlineMs) * 100)}% of the deadline)` : '';
  return `${formatMs(e.latencyMs)} ms of ${e.deadlineMs} ms${pct}`;
}

/**
 * One event's full outcome, opened from its row. The stream goes on
 * underneath: this shows the event as it was when opened. Payload and
 * result are the producer's and the worker's JSON, untrusted: they only
 * ever become text (React escapes it). Closes with its button or Escape,
 * and gives focus back to where it was.
 */
export function EventDetail({ event: e, onClose }: EventDetailProps) {
  const uid = useId();
  const ref = useRef<HTMLElement>(null);
  const onCloseRef = useRef(onClose);
  onCloseRef.current = onClose;

  useEffect(() => {
    const before = document.activeElement;
    // The panel itself takes focus, not its Close button: the key that
    // opened it (Enter's keypress, Space's keyup) would press the button.
    ref.current?.focus({ preventScroll: true });
    const onKey = (ev: KeyboardEvent) => {
      if (ev.key === 'Escape') {
        ev.preventDefault();
        onCloseRef.current();
      }
    };
    document.addEventListener('keydown', onKey);
    return () => {
      document.removeEventListener('keydown', onKey);
      if (before instanceof HTMLElement && before.isConnected) before.focus({ preventScroll: true });
    };
  }, [e]);

  const hasPayload = e.payload !== undefined;
  return (
    <section
      ref={ref}
      tabIndex={-1}
      className="event-detail"
      role="dialog"
      aria-modal="false"
      aria-labelledby={`${uid}-title`}
      data-testid="event-detail"
    >
      <div className="event-detail-head">
        <h3 id={`${uid}-title`}>
          Event <span className="mono">{e.id.slice(0, 8)}</span>
        </h3>
        <button type="button" onClick={onClose} data-testid="detail-close" aria-label="Close the event's details">
          Close
        </button>
      </div>
      <p className="muted small">As it was when opened; the table keeps streaming.</p>
      <dl className="detail-list">
        <Item label="ID" testId="detail-id">
          <span className="mono">{e.id}</span>
        </Item>
        <Item label="Source" testId="detail-source">
          {e.source || NONE}
        </Item>
        <Item label="Status" testId="detail-status">
          <span className={`badge status-${e.status}`}>{e.status}</span>
        </Item>
        <Item label="Reason" testId="detail-reason">
          {e.reason ?? NONE}
        </Item>
        <Item label="Failure kind" testId="detail-failure">
          {e.failure ?? NONE}
        </Item>
        <Item label="Why shed" testId="detail-why">
          {e.detail ?? NONE}
        </Item>
        <Item label="Created" testId="detail-created">
          <span className="mono">{formatTime(e.createdAt)}</span>
        </Item>
        <Item label="Processed" testId="detail-processed">
          <span className="mono">{formatTime(e.processedAt)}</span>
        </Item>
        <Item label="Latency / deadline" testId="detail-latency">
          {latencyText(e)}
        </Item>
        <Item label="Payload" testId="detail-payload-size">
          {hasPayload ? `${jsonBytes(e.payload)} bytes` : 'none'}
        </Item>
      </dl>
      {hasPayload && (
        <>
          <h4>Payload</h4>
          <pre className="json" data-testid="detail-payload">
            {prettyJson(e.payload)}
          </pre>
        </>
      )}
      <h4>Result</h4>
      {e.result !== undefined ? (
        <pre className="json" data-testid="detail-result">
          {prettyJson(e.result)}
        </pre>
      ) : (
        <p className="muted" data-testid="detail-result-none">
          none
        </p>
      )}
    </section>
  );
}
