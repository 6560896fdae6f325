import { act, render, renderHook, screen } from '@testing-library/react';
import { StrictMode } from 'react';
import { beforeEach, describe, expect, it } from 'vitest';
import { FakeScheduler, FakeWebSocket, makeBatch, makeEvent } from './test/fakes';
import { useRealtimeEvents, type RealtimeOptions } from './useRealtimeEvents';

beforeEach(() => FakeWebSocket.reset());

function Probe({ options, onRender }: { options: RealtimeOptions; onRender: () => void }) {
  const s = useRealtimeEvents(options);
  onRender();
  return (
    <div>
      <span data-testid="state">{s.state}</span>
      <span data-testid="seq">{s.latest?.seq ?? '-'}</span>
      <span data-testid="received">{s.latest?.totals.received ?? '-'}</span>
      <span data-testid="events">{s.events.map((e) => e.id).join(',')}</span>
      <span data-testid="missed">{s.missedBatches}</span>
    </div>
  );
}

describe('useRealtimeEvents', () => {
  it('renders at most once per animation frame', () => {
    const sched = new FakeScheduler();
    let renders = 0;
    render(<Probe options={sched.options()} onRender={() => renders++} />);
    const initialRenders = renders;
    expect(screen.getByTestId('state').textContent).toBe('connecting');
    const ws = FakeWebSocket.last;

    act(() => {
      ws.open();
      for (let seq = 1; seq <= 10; seq++) ws.send(makeBatch(seq, { events: [makeEvent({ id: `e${seq}` })] }));
    });
    expect(renders).toBe(initialRenders); // nothing committed before the frame
    expect(sched.rafCalls).toBe(1);

    act(() => sched.frame());
    expect(renders).toBe(initialRenders + 1);
    expect(screen.getByTestId('state').textContent).toBe('live');
    expect(screen.getByTestId('seq').textContent).toBe('10');
    expect(screen.getByTestId('received').textContent).toBe('100');
    expect(screen.getByTestId('events').textContent).toBe('e10,e9,e8,e7,e6,e5,e4,e3,e2,e1');

    // A frame with nothing new renders nothing.
    act(() => sched.frame());
    expect(renders).toBe(initialRenders + 1);

    // The next batch: one more frame, one more render.
    act(() => ws.send(makeBatch(12)));
    act(() => sched.frame());
    expect(renders).toBe(initialRenders + 2);
    expect(screen.getByTestId('missed').textContent).toBe('1');
  });

  it('reports reconnecting, resumes with since and goes live again', () => {
    const sched = new FakeScheduler();
    const { result } = renderHook(() => useRealtimeEvents(sched.options()));
    act(() => {
      FakeWebSocket.last.open();
      FakeWebSocket.last.send(makeBatch(7));
      sched.frame();
    });
    expect(result.current.state).toBe('live');
    expect(result.current.lastBatchAt).toBe(sched.time);
    act(() => {
      FakeWebSocket.last.serverClose();
      sched.frame();
    });
    expect(result.current.state).toBe('reconnecting');
    act(() => sched.fireNext());
    expect(FakeWebSocket.last.url).toBe('ws://test.local/ws?since=7');
    act(() => {
      FakeWebSocket.last.send(makeBatch(8));
      sched.frame();
    });
    expect(result.current.state).toBe('live');
    expect(result.current.latest?.seq).toBe(8);
    expect(result.current.missedBatches).toBe(0);
  });

  it('under StrictMode, closes the first client and goes live on the second', () => {
    const sched = new FakeScheduler();
    render(
      <StrictMode>
        <Probe options={sched.options()} onRender={() => {}} />
      </StrictMode>,
    );
    // StrictMode subscribes, unsubscribes and subscribes again: two sockets,
    // the first dropped (closed as soon as it opens), only the second's
    // batches shown.
    expect(FakeWebSocket.instances).toHaveLength(2);
    const [first, second] = FakeWebSocket.instances;
    act(() => {
      first!.open();
      first!.send(makeBatch(99));
    });
    expect(first!.closed?.code).toBe(1000);
    expect(second!.closed).toBeNull();
    act(() => {
      second!.open();
      second!.send(makeBatch(3, { events: [makeEvent({ id: 'e3' })] }));
      sched.frame();
    });
    expect(screen.getByTestId('state').textContent).toBe('live');
    expect(screen.getByTestId('seq').textContent).toBe('3');
    expect(screen.getByTestId('events').textContent).toBe('e3');
  });

  it('closes the socket and cancels timers and the frame on unmount', () => {
    const sched = new FakeScheduler();
    const { unmount } = renderHook(() => useRealtimeEvents(sched.options()));
    const ws = FakeWebSocket.last;
    act(() => {
      ws.open();
      ws.send(makeBatch(1));
    });
    expect(sched.pendingFrames).toBe(1);
    unmount();
    expect(ws.closed?.code).toBe(1000);
    expect(sched.pendingFrames).toBe(0);
    expect(sched.pendingTimers).toBe(0);
  });
});
