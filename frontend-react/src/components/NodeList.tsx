import { formatInt, formatMs } from '../format';
import { explain } from '../glossary';
import type { NodeStatus } from '../types';

export interface NodeListProps {
  nodes: NodeStatus[];
  /** The newest batch's time (unix ms), to say how long ago each node reported. */
  at: number;
}

/** The cluster's nodes: status, clock skew and load, as the serving node sees them. */
export function NodeList({ nodes, at }: NodeListProps) {
  return (
    <section className="card card-nodes" aria-labelledby="nodes-title" data-testid="node-list">
      <h2 id="nodes-title">Cluster nodes ({nodes.length})</h2>
      <div className="table-scroll">
        <table className="nodes">
          <thead>
            <tr>
              <th scope="col">Node</th>
              <th scope="col">Status</th>
              <th scope="col" className="num">
                Skew
              </th>
              <th scope="col" className="num">
                Busy
              </th>
              <th scope="col" className="num">
                Queue
              </th>
              <th scope="col" className="num">
                Seen
              </th>
            </tr>
          </thead>
          <tbody>
            {nodes.map((n) => {
              const h = n.health;
              return (
                <tr key={n.id} data-testid="node-row" data-status={n.status}>
                  <td className="mono" title={n.id}>
                    {n.id}
                  </td>
                  <td>
                    <span
                      className={`badge health-${n.status}`}
                      title={n.health.cause ? `${explain(n.status)} Cause: ${n.health.cause}.` : explain(n.status)}
                      data-testid="node-status"
                    >
                      {n.status || '—'}
                    </span>
                  </td>
                  <td className="num" data-testid="node-skew">
                    {n.skewMs >= 0 ? '+' : ''}
                    {formatMs(n.skewMs)} ms
                  </td>
                  <td className="num" data-testid="node-load">
                    {formatInt(h.busy)} / {formatInt(h.limit > 0 ? h.limit : h.workers)}
                  </td>
                  <td className="num">
                    {formatInt(h.queueDepth)} / {formatInt(h.queueCap)}
                  </td>
                  <td className="num">{n.lastSeen > 0 && at > 0 ? `${formatMs(Math.max(0, (at - n.lastSeen) / 1000))} s ago` : '—'}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      <p className="muted small">Skew: the node’s clock minus this node’s. Busy: events processed now of its limit.</p>
    </section>
  );
}
