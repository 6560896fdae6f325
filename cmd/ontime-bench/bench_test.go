package main

import (
	"context"
	"testing"
	"time"
)

// BenchmarkPipelineZeroWork is the zero-work throughput run as a Go
// benchmark, for profiling (-cpuprofile).
func BenchmarkPipelineZeroWork(b *testing.B) {
	o := options{tick: 100 * time.Millisecond, workers: 2, queue: 1 << 16}
	for b.Loop() {
		if _, err := pipelineRate(context.Background(), o, 200_000, 2, 1<<16); err != nil {
			b.Fatal(err)
		}
	}
}
