import { memo } from 'react';
import { formatMs, formatTime, shortId } from '../format';
import type { EventResult } from '../types';

const STATUS_LABEL: Record<string, string> = {
  'on-time': 'on time',
  late: 'late',
  dropped: 'dropped',
};

/** One event; memoized so rows already on screen don't re-render. */
export const EventRow = memo(function EventRow({ event: e }: { event: EventResult }) {
  const over = e.status !== 'dropped' && e.latencyMs > e.deadlineMs;
  return (
    <tr data-testid="event-row" className={`row-${e.status}`}>
      <td className="mono" title={e.id}>
        {shortId(e.id)}
      </td>
      <td>
        <span className={`badge status-${e.status}`}>{STATUS_LABEL[e.status] ?? e.status}</span>
      </td>
      <td className="mono">{formatTime(e.createdAt)}</td>
      <td className="mono">{formatTime(e.processedAt)}</td>
      <td className={over ? 'num over' : 'num'}>
        {formatMs(e.latencyMs)} / {e.deadlineMs} ms
      </td>
      <td>{e.reason ?? <span className="muted">—</span>}</td>
    </tr>
  );
});
