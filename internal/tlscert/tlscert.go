// Package tlscert serves a TLS certificate from files and reloads it when
// they change, without touching connections already made: each new
// handshake asks GetCertificate for the newest pair.
package tlscert

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Reloader holds the certificate of CertFile and KeyFile (PEM).
type Reloader struct {
	certFile, keyFile string
	log               *slog.Logger

	mu      sync.RWMutex
	cert    *tls.Certificate
	stamp   stamp // of the files the certificate was loaded from
	failed  stamp // of the files a reload last failed on (logged once)
	reloads uint64
}

// stamp is what tells that a file changed: its modification time and size.
type stamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// New loads the pair; an unreadable or mismatched pair is an error.
func New(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	if log == nil {
		log = slog.Default()
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, log: log}
	if err := r.Reload(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *Reloader) stat() (stamp, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return stamp{}, fmt.Errorf("tls certificate: %w", err)
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return stamp{}, fmt.Errorf("tls key: %w", err)
	}
	return stamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// Reload reads the files again. On failure the certificate in use stays.
func (r *Reloader) Reload() error {
	st, err := r.stat()
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		r.mu.Lock()
		r.failed = st
		r.mu.Unlock()
		return fmt.Errorf("tls: load %s and %s: %w", r.certFile, r.keyFile, err)
	}
	r.mu.Lock()
	r.cert, r.stamp = &cert, st
	r.reloads++
	r.mu.Unlock()
	return nil
}

// GetCertificate is tls.Config.GetCertificate: the newest pair loaded.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.cert, nil
}

// Loads counts the pairs loaded (the first included).
func (r *Reloader) Loads() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.reloads
}

// Watch reloads the pair when the files' modification time or size change
// (checked every interval) and whenever signal delivers, until ctx ends.
// Failures are logged once per change of the files and the pair in use
// stays: a pair caught half written is picked up at the next check.
func (r *Reloader) Watch(ctx context.Context, interval time.Duration, signal <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		forced := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-signal:
			forced = true
		}
		st, err := r.stat()
		r.mu.RLock()
		same, failedBefore := st == r.stamp, st == r.failed
		r.mu.RUnlock()
		if err == nil && same && !forced {
			continue
		}
		if err == nil {
			err = r.Reload()
		}
		if err != nil {
			if forced || !failedBefore {
				r.log.Warn("tls: certificate not reloaded; the previous one stays in use", "err", err)
			}
			if st != (stamp{}) {
				r.mu.Lock()
				r.failed = st
				r.mu.Unlock()
			}
			continue
		}
		r.log.Info("tls: certificate reloaded", "cert", r.certFile)
	}
}
