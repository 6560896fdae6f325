package config

// The kinds of the settings that take one of a few names. They are
// declared here, in the package that describes and checks the settings,
// and the packages that act on them (pipeline, source, node) read them, so
// that a setting's choices are listed once.

// Policy names a queueing and shedding discipline of the pipeline.
type Policy string

// The policies. Every policy drops an event that can no longer start in
// time, and reports each drop with its reason.
const (
	// EDF serves the earliest deadline first while the backlog clears in
	// time, and the event with the most time left first once it cannot.
	// It sheds only under contention (more events waiting than workers
	// free), the events least likely to finish in time for the worker time
	// they would take (docs/design.md); never while a worker is free for
	// every waiting event. A full queue evicts the latest deadline when
	// the newcomer's is earlier. The default.
	EDF Policy = "edf"
	// LIFO is adaptive LIFO: first come, first served while the queue is
	// short, newest first once it backs up. Sheds like EDF; a full queue
	// evicts the oldest.
	LIFO Policy = "lifo"
	// FIFO is the baseline: first come, first served; a full queue drops
	// the newcomer; an event is dropped at dequeue only once its deadline
	// has passed.
	FIFO Policy = "fifo"
)

// Policies lists every policy, the default first.
func Policies() []Policy { return []Policy{EDF, LIFO, FIFO} }

// Concurrency says how many events are processed at once.
type Concurrency string

// The concurrency modes.
const (
	// ConcurrencyFixed processes up to Workers events at once: the
	// baseline, and the default of the simulated processors.
	ConcurrencyFixed Concurrency = "fixed"
	// ConcurrencyAdaptive bounds the events processed at once by a limit
	// between 1 and Workers learned from the latency of the processor's
	// calls: the default of the user's workers (http, nats), whose
	// capacity ontime cannot know.
	ConcurrencyAdaptive Concurrency = "adaptive"
)

// Concurrencies lists the concurrency modes, the default first.
func Concurrencies() []Concurrency { return []Concurrency{ConcurrencyFixed, ConcurrencyAdaptive} }

// Dist is the distribution of simulated work around its mean.
type Dist string

// The work distributions.
const (
	// DistFixed: every event takes exactly the mean. The default.
	DistFixed Dist = "fixed"
	// DistUniform: work between 0 and twice the mean.
	DistUniform Dist = "uniform"
	// DistExp: exponential work with the given mean, mostly short with a
	// long tail (p99 is 4.6 times the mean).
	DistExp Dist = "exp"
)

// Dists lists the work distributions, the default first.
func Dists() []Dist { return []Dist{DistFixed, DistUniform, DistExp} }

// Processor names what processes events.
type Processor string

// The processors.
const (
	// Sleep is simulated work that waits, like I/O. The default.
	Sleep Processor = "sleep"
	// CPU is simulated work that burns a core.
	CPU Processor = "cpu"
	// HTTP sends each event to the user's worker at WorkerURL.
	HTTP Processor = "http"
	// NATS sends each event as a NATS request on WorkerSubject, to workers
	// sharing it as a queue group. It needs the node's NATS connection
	// (cluster mode), which the node checks.
	NATS Processor = "nats"
)

// Processors lists the processors, the default first.
func Processors() []Processor { return []Processor{Sleep, CPU, HTTP, NATS} }

// IsWorker tells a processor that calls the user's worker (http, nats),
// whose capacity ontime does not know, from simulated work.
func (p Processor) IsWorker() bool { return p == HTTP || p == NATS }

// Arrivals is the spacing of generated events.
type Arrivals string

// The spacings.
const (
	// Constant spacing: one event every 1/rate seconds. The default.
	Constant Arrivals = "constant"
	// Poisson arrivals: exponential gaps with mean 1/rate.
	Poisson Arrivals = "poisson"
)

// ArrivalSet lists the spacings of generated events, the default first.
func ArrivalSet() []Arrivals { return []Arrivals{Constant, Poisson} }

// DefaultConcurrency is the concurrency a processor gets at start-up when
// none is named: adaptive for a worker whose capacity ontime cannot know
// (http, nats), fixed for the simulated ones, whose capacity is Workers.
func DefaultConcurrency(p Processor) Concurrency {
	if p.IsWorker() {
		return ConcurrencyAdaptive
	}
	return ConcurrencyFixed
}

// DefaultRate is the generator's rate at start-up when none is named: off
// with the user's worker (http, nats), which gets only the events it is
// sent, 20 events/s of synthetic load with simulated work.
func DefaultRate(p Processor) float64 {
	if p.IsWorker() {
		return 0
	}
	return 20
}

func names[T ~string](xs []T) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = string(x)
	}
	return out
}
