package tlscert

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/ontime-rt/ontime/internal/tlscert/tlscerttest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func serial(t *testing.T, r *Reloader) int64 {
	t.Helper()
	c, err := r.GetCertificate(nil)
	if err != nil || c == nil || c.Leaf == nil {
		t.Fatalf("GetCertificate: %v %v", c, err)
	}
	return c.Leaf.SerialNumber.Int64()
}

// waitFor polls cond until it holds (the watcher runs on its own clock).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A changed pair is picked up by the poll; a bad pair leaves the previous
// one in use; a signal reloads at once.
func TestWatchReloads(t *testing.T) {
	dir := t.TempDir()
	p := tlscerttest.Write(t, dir, 1)
	r, err := New(p.CertFile, p.KeyFile, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if serial(t, r) != 1 {
		t.Fatal("first pair not served")
	}
	ctx, cancel := context.WithCancel(context.Background())
	sig := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { r.Watch(ctx, 10*time.Millisecond, sig) })
	defer func() { cancel(); wg.Wait() }()

	tlscerttest.Write(t, dir, 2)
	waitFor(t, "the second pair", func() bool { return serial(t, r) == 2 })

	// A key that does not match: the second pair stays.
	loads := r.Loads()
	keep, err := os.ReadFile(p.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	other := tlscerttest.Write(t, t.TempDir(), 3)
	bad, _ := os.ReadFile(other.KeyFile)
	if err := os.WriteFile(p.KeyFile, bad, 0o600); err != nil {
		t.Fatal(err)
	}
	sig <- struct{}{} // handled (and failed) before the next signal is taken
	sig <- struct{}{}
	if serial(t, r) != 2 || r.Loads() != loads {
		t.Fatalf("a mismatched pair replaced the good one: serial %d, loads %d->%d", serial(t, r), loads, r.Loads())
	}
	if err := os.WriteFile(p.KeyFile, keep, 0o600); err != nil {
		t.Fatal(err)
	}
	sig <- struct{}{}
	sig <- struct{}{}
	if r.Loads() == loads {
		t.Fatal("signal did not reload the good pair")
	}
}

func TestNewRefusesBadPair(t *testing.T) {
	dir := t.TempDir()
	p := tlscerttest.Write(t, dir, 1)
	if _, err := New(p.CertFile, dir+"/missing.pem", nil); err == nil {
		t.Fatal("missing key accepted")
	}
	if _, err := New(p.KeyFile, p.CertFile, nil); err == nil {
		t.Fatal("swapped files accepted")
	}
}
