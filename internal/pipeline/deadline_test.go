package pipeline

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
	"time"
)

// The lazy deadline context behaves as context.WithDeadline does: Done and
// Err at the deadline, the parent's cancellation propagates, Err sticks,
// and child contexts follow it.
func TestDeadlineCtxMatchesWithDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := newDeadlineCtx(context.Background(), time.Now().Add(50*time.Millisecond))
		if d, ok := ctx.Deadline(); !ok || d.IsZero() {
			t.Fatal("no deadline")
		}
		if ctx.Err() != nil {
			t.Fatal("ended early")
		}
		child, cancel := context.WithCancel(ctx)
		defer cancel()
		start := time.Now()
		<-child.Done()
		if took := time.Since(start); took != 50*time.Millisecond {
			t.Fatalf("child ended after %s, want 50ms", took)
		}
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) || !errors.Is(child.Err(), context.DeadlineExceeded) {
			t.Fatalf("errors %v / %v, want deadline exceeded", ctx.Err(), child.Err())
		}
		ctx.release()
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatal("Err changed after it was set")
		}
	})
}

func TestDeadlineCtxWithoutDone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := newDeadlineCtx(context.Background(), time.Now().Add(10*time.Millisecond))
		time.Sleep(10 * time.Millisecond)
		if !errors.Is(ctx.Err(), context.DeadlineExceeded) {
			t.Fatalf("Err %v after the deadline without Done, want deadline exceeded", ctx.Err())
		}
		select {
		case <-ctx.Done():
		default:
			t.Fatal("Done not closed after the deadline")
		}
	})
}

func TestDeadlineCtxParentCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		parent, cancel := context.WithCancel(context.WithValue(context.Background(), ctxKey{}, "v"))
		ctx := newDeadlineCtx(parent, time.Now().Add(time.Hour))
		if ctx.Value(ctxKey{}) != "v" {
			t.Fatal("value not inherited")
		}
		done := ctx.Done()
		cancel()
		<-done
		if !errors.Is(ctx.Err(), context.Canceled) {
			t.Fatalf("Err %v, want canceled", ctx.Err())
		}
		// Released before Done: no timer is ever armed, and Done is closed.
		r := newDeadlineCtx(context.Background(), time.Now().Add(time.Hour))
		r.release()
		<-r.Done()
	})
}

type ctxKey struct{}
