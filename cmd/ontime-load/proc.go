package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"
)

// raiseFileLimit raises the soft RLIMIT_NOFILE to the hard limit and returns
// the new soft limit. Every client is a socket, and the usual soft limit of
// 1024 would stop a 10k-client run after a thousand connections. (The Go
// runtime already raises the limit at startup since Go 1.19; doing it here
// makes the need explicit and yields the limit to check the run against.)
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("read the open file limit: %w", err)
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return 0, fmt.Errorf("raise the open file limit to %d: %w", lim.Max, err)
		}
	}
	return lim.Cur, nil
}

// atClkTck is the auxiliary vector key of the kernel's clock tick rate
// (sysconf(_SC_CLK_TCK)), the unit of the CPU times in /proc/<pid>/stat.
const atClkTck = 17

// clockTicks returns the clock ticks per second that /proc reports CPU times
// in. It reads the rate the kernel handed this process in its auxiliary
// vector, which is what getconf CLK_TCK does without cgo; the rate is a
// kernel constant, so it holds for the server's process too. It falls back to
// 100, the value on every mainstream Linux build.
func clockTicks() int64 {
	const fallback = 100
	data, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		return fallback
	}
	word := strconv.IntSize / 8
	for i := 0; i+2*word <= len(data); i += 2 * word {
		var key, val uint64
		if word == 8 {
			key, val = binary.NativeEndian.Uint64(data[i:]), binary.NativeEndian.Uint64(data[i+8:])
		} else {
			key, val = uint64(binary.NativeEndian.Uint32(data[i:])), uint64(binary.NativeEndian.Uint32(data[i+4:]))
		}
		if key == 0 { // AT_NULL ends the vector
			break
		}
		if key == atClkTck && val > 0 && val < 1e6 {
			return int64(val)
		}
	}
	return fallback
}

// procSample is a server process's resource use at one instant.
type procSample struct {
	cpuTicks   int64 // user + system CPU time, in clock ticks
	startTicks int64 // when the process started, in clock ticks after boot
	rssKiB     int64
}

// readProc samples the process pid from /proc.
func readProc(pid int) (procSample, error) {
	var s procSample
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return s, fmt.Errorf("server process %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces and
	// parentheses itself: the fields that follow start after the last ')'.
	paren := bytes.LastIndexByte(stat, ')')
	if paren < 0 {
		return s, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(stat[paren+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15,
	// starttime field 22.
	if len(f) < 20 {
		return s, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	utime, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	stime, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	start, err3 := strconv.ParseInt(string(f[19]), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	s.cpuTicks = utime + stime
	s.startTicks = start

	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return s, fmt.Errorf("server process %d: %w", pid, err)
	}
	for line := range bytes.Lines(status) {
		if rest, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			// "VmRSS:	   12345 kB"
			num, _, _ := bytes.Cut(bytes.TrimSpace(rest), []byte(" "))
			if s.rssKiB, err = strconv.ParseInt(string(num), 10, 64); err != nil {
				return s, fmt.Errorf("/proc/%d/status: VmRSS: %w", pid, err)
			}
			return s, nil
		}
	}
	// A zombie has no VmRSS line: the server has exited.
	return s, fmt.Errorf("server process %d has no resident memory (has it exited?)", pid)
}

// processAge is how long ago a process started, from its start time in
// clock ticks after boot; zero if the system uptime cannot be read.
func processAge(startTicks, tck int64) time.Duration {
	data, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	up, _, _ := bytes.Cut(data, []byte(" "))
	secs, err := strconv.ParseFloat(string(up), 64)
	if err != nil {
		return 0
	}
	return max(0, time.Duration(secs*float64(time.Second))-time.Duration(startTicks)*time.Second/time.Duration(tck))
}

// pollPeakRSS samples pid's RSS every interval until ctx ends and returns the
// largest seen. Sampling errors (the server exiting) end the polling early;
// the end-of-run sample reports them.
func pollPeakRSS(ctx context.Context, pid int, interval time.Duration) int64 {
	var peak int64
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		s, err := readProc(pid)
		if err != nil {
			return peak
		}
		peak = max(peak, s.rssKiB)
		select {
		case <-ctx.Done():
			return peak
		case <-t.C:
		}
	}
}

// selfCPU is this process's user and system CPU time so far, zero if the
// kernel will not say.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
