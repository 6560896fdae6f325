import type { ConnectionState } from '../realtimeClient';
import { formatInt, formatMs, formatTime, hostOf } from '../format';
import { explain } from '../glossary';
import type { Batch } from '../types';
import { ConnectionIndicator } from './ConnectionIndicator';

export interface StatsBarProps {
  latest: Batch | null;
  state: ConnectionState;
  lastBatchAt: number | null;
  missedBatches: number;
  now?: () => number;
}

const NONE = '—';

function Stat({ label, value, testId, className }: { label: string; value: string; testId?: string; className?: string }) {
  return (
    <div className={className ? `stat ${className}` : 'stat'}>
      <dt>{label}</dt>
      <dd data-testid={testId}>{value}</dd>
    </div>
  );
}

interface ProcessorLineProps {
  health: Batch['health'];
  processor: string | undefined;
  workerUrl: string | undefined;
  workerSubject: string | undefined;
  concurrency: string | undefined;
}

/**
 * What processes the events: the processor, the worker's host (http) or
 * subject (nats), the concurrency mode and its limit, and how long the
 * processor's calls take.
 */
function ProcessorLine({ health: h, processor, workerUrl, workerSubject, concurrency }: ProcessorLineProps) {
  const host = processor === 'http' ? hostOf(workerUrl ?? '') : '';
  const subject = processor === 'nats' ? (workerSubject ?? '') : '';
  const calls = h.callP50Ms > 0 || h.callP99Ms > 0;
  return (
    <>
      <p className="small processor-line">
        {processor && (
          <span className="processor-name" data-testid="health-processor">
            {processor}
          </span>
        )}
        {host && (
          <span className="worker-host mono" title={workerUrl} data-testid="health-worker-host">
            {host}
          </span>
        )}
        {subject && (
          <span className="worker-host mono" title={`NATS subject ${subject}`} data-testid="health-worker-subject">
            {subject}
          </span>
        )}
        {concurrency && <span data-testid="health-concurrency">{concurrency}</span>}
        <span data-testid="health-limit">
          limit {formatInt(h.limit)} / {formatInt(h.workers)}
        </span>
      </p>
      <p className="muted small" data-testid="health-calls">
        {calls ? (
          <>
            calls p50 {formatMs(h.callP50Ms)} · p90 {formatMs(h.callP90Ms)} · p99 {formatMs(h.callP99Ms)} · best {h.callBestMs > 0 ? formatMs(h.callBestMs) : NONE} ms
          </>
        ) : (
          'calls: none in the last 10 s'
        )}
      </p>
    </>
  );
}

/** Server totals, last-tick latency, health, drop reasons and connection state. */
export function StatsBar({ latest, state, lastBatchAt, missedBatches, now }: StatsBarProps) {
  const t = latest?.totals;
  const l = latest?.latency;
  const h = latest?.health;
  const int = (n: number | undefined) => (n === undefined ? NONE : formatInt(n));
  const ms = (n: number | undefined) => (n === undefined || !l || l.count === 0 ? NONE : formatMs(n));
  const byCount = (m: Record<string, number>) => Object.entries(m).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const reasons = t ? byCount(t.droppedBy) : [];
  const failures = t ? byCount(t.failedBy) : [];
  const cfg = latest?.config;

  return (
    <section className="stats" aria-label="Server statistics">
      <div className="card card-conn">
        <h2>Connection</h2>
        <ConnectionIndicator state={state} lastBatchAt={lastBatchAt} missedBatches={missedBatches} now={now} />
        {latest && (
          <p className="muted small" data-testid="batch-id">
            {/* In a cluster seq is a wall-clock tick index: the time says more. */}
            {latest.nodes ? `batch at ${formatTime(latest.at)}` : `batch #${latest.seq}`} · tick {latest.tickMs} ms
            {latest.nodes && ` · ${latest.nodes.length} nodes`}
          </p>
        )}
      </div>

      <div className="card card-totals">
        <h2>Totals since start</h2>
        <dl className="kv">
          <Stat label="Received" value={int(t?.received)} testId="total-received" />
          <Stat label="On time" value={int(t?.onTime)} testId="total-ontime" className="ok" />
          <Stat label="Late" value={int(t?.late)} testId="total-late" className="late" />
          <Stat label="Dropped" value={int(t?.dropped)} testId="total-dropped" className="dropped" />
          <Stat label="In flight" value={int(t?.inFlight)} testId="total-inflight" />
        </dl>
      </div>

      <div className="card card-latency">
        <h2>
          Latency, last tick <span className="muted small">({l ? `${formatInt(l.count)} events` : NONE}, ms)</span>
        </h2>
        <dl className="kv">
          <Stat label="p50" value={ms(l?.p50)} testId="latency-p50" />
          <Stat label="p90" value={ms(l?.p90)} testId="latency-p90" />
          <Stat label="p99" value={ms(l?.p99)} testId="latency-p99" />
          <Stat label="max" value={ms(l?.max)} testId="latency-max" />
        </dl>
      </div>

      <div className={h ? `card card-health card-health-${h.status}` : 'card card-health'}>
        <h2>Health</h2>
        <p className="health-line">
          {h ? (
            <>
              <span className={`badge badge-lg health-${h.status}`} data-testid="health-status" title={explain(h.status)}>
                {h.status}
              </span>
              {/* Why: overload told apart from a failing worker or drops with workers free. */}
              {h.cause && (
                <span className="health-cause" data-testid="health-cause">
                  {h.cause}
                </span>
              )}
            </>
          ) : (
            <span className="muted">{NONE}</span>
          )}
        </p>
        <dl className="kv">
          <div className="stat">
            <dt>{latest?.nodes ? 'Queue, all nodes' : 'Queue'}</dt>
            <dd data-testid="health-queue">
              {h ? `${formatInt(h.queueDepth)} / ${formatInt(h.queueCap)}` : NONE}
              {h && h.queueCap > 0 && (
                <meter className="meter" min={0} max={h.queueCap} value={h.queueDepth} aria-label="Queue fill" />
              )}
            </dd>
          </div>
          <div className="stat">
            <dt>{latest?.nodes ? 'Busy workers, all nodes' : 'Busy workers'}</dt>
            <dd data-testid="health-busy">
              {h ? `${formatInt(h.busy)} / ${formatInt(h.workers)}` : NONE}
              {h && h.workers > 0 && (
                <meter className="meter" min={0} max={h.workers} value={h.busy} aria-label="Workers busy" />
              )}
            </dd>
          </div>
        </dl>
        {h && <ProcessorLine health={h} processor={cfg?.processor} workerUrl={cfg?.workerUrl} workerSubject={cfg?.workerSubject} concurrency={cfg?.concurrency} />}
        {h && (
          <p className="muted small punctuality">
            tick jitter <span data-testid="health-jitter">{formatMs(h.tickJitterMs)}</span> ms · schedule error{' '}
            <span data-testid="health-schedule-error">{formatMs(h.scheduleErrorMs)}</span> ms
          </p>
        )}
      </div>

      <div className="card card-drops">
        <h2>Drop reasons</h2>
        {reasons.length === 0 ? (
          <p className="muted">{t ? 'none' : NONE}</p>
        ) : (
          <ul className="reasons" data-testid="drop-reasons">
            {reasons.map(([reason, n]) => (
              <li key={reason} title={explain(reason)}>
                <span className="reason-name">{reason}</span> <span className="reason-count">{formatInt(n)}</span>
              </li>
            ))}
          </ul>
        )}
        {failures.length > 0 && (
          <>
            <h3 className="small failures-title">Failures by kind</h3>
            <ul className="reasons failures" data-testid="failure-kinds">
              {failures.map(([kind, n]) => (
                <li key={kind}>
                  <span className="reason-name">{kind}</span> <span className="reason-count">{formatInt(n)}</span>
                </li>
              ))}
            </ul>
          </>
        )}
      </div>
    </section>
  );
}
