import { memo } from 'react';
import { HEALTH, REASONS, STATUSES } from '../glossary';

/** What every status, reason and health verdict means, one sentence each. */
export const Legend = memo(function Legend() {
  return (
    <section className="card card-legend" aria-labelledby="legend-title" data-testid="legend">
      <h2 id="legend-title">What the statuses and reasons mean</h2>
      <div className="legend-cols">
        <dl className="legend-list">
          {STATUSES.map((s) => (
            <div key={s.key} data-testid={`legend-${s.key}`}>
              <dt>
                <span className={`badge status-${s.key}`}>{s.label}</span>
              </dt>
              <dd>{s.text}</dd>
            </div>
          ))}
          {HEALTH.map((s) => (
            <div key={s.key} data-testid={`legend-health-${s.key}`}>
              <dt>
                <span className={`badge health-${s.key}`}>{s.key}</span>
              </dt>
              <dd>Health: {s.text}</dd>
            </div>
          ))}
        </dl>
        <dl className="legend-list">
          {REASONS.map((r) => (
            <div key={r.key} data-testid={`legend-${r.key}`}>
              <dt>
                <span className="reason-name">{r.key}</span>
              </dt>
              <dd>{r.text}</dd>
            </div>
          ))}
        </dl>
      </div>
    </section>
  );
});
