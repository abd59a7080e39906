package allocator

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/barelb/barelb/internal/config"
)

// The benchmarks use 198.18.0.0/15, reserved for benchmarking (RFC 2544),
// and the documentation prefix 2001:db8::/32.
const (
	bench16 = "198.18.0.0/16"
	bench64 = "2001:db8::/64"
	fill16  = 1 << 16
)

// cpuClock reports the process CPU time per op next to the wall time: on a
// shared machine wall time includes waiting for a core, CPU time does not.
type cpuClock struct{ start time.Duration }

func startCPU() cpuClock { return cpuClock{cpuTime()} }

func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(cpuTime()-c.start)/float64(b.N), "cpu-ns/op")
}

func benchNames(n int) []string {
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("ns/svc-%d", i)
	}
	return names
}

// BenchmarkAllocate measures auto-assignment of new services filling a /16,
// a /64, or both (one address of each per service). When the /16 is full the
// allocator is rebuilt, off the clock.
func BenchmarkAllocate(b *testing.B) {
	names := benchNames(fill16)
	tests := []struct {
		name   string
		pool   config.Pool
		req    Request
		perGen int
	}{
		{name: "IPv4-/16", pool: pool(b, "p", bench16), req: Request{}, perGen: fill16},
		{name: "IPv4-/16-avoid-buggy", pool: pool(b, "p", "avoid", bench16), req: Request{}, perGen: fill16 - 512},
		{name: "IPv6-/64", pool: pool(b, "p", bench64), req: Request{Families: []Family{IPv6}}, perGen: fill16},
		{name: "dual-/16+/64", pool: pool(b, "p", bench16, bench64), req: Request{Families: []Family{IPv4, IPv6}, FamilyPolicy: RequireDualStack}, perGen: fill16},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			cfg := &config.Config{Pools: []config.Pool{tt.pool}}
			a := New(cfg)
			req := tt.req
			n := 0
			b.ReportAllocs()
			b.ResetTimer()
			clock := startCPU()
			for range b.N {
				if n == tt.perGen {
					b.StopTimer()
					clock.start -= cpuTime()
					a, n = New(cfg), 0
					clock.start += cpuTime()
					b.StartTimer()
				}
				req.Service = names[n]
				if _, err := a.Allocate(req); err != nil {
					b.Fatal(err)
				}
				n++
			}
			clock.report(b)
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allocs/s")
		})
	}
}

// BenchmarkAllocateFragmented measures allocation into a /16 whose used
// addresses are 32,768 separate runs (every other address released), so the
// run set works at its largest.
func BenchmarkAllocateFragmented(b *testing.B) {
	names := benchNames(fill16 + fill16/2)
	cfg := &config.Config{Pools: []config.Pool{pool(b, "p", bench16)}}
	fragment := func() *Allocator {
		a := New(cfg)
		for i := range fill16 {
			if _, err := a.Allocate(Request{Service: names[i]}); err != nil {
				b.Fatal(err)
			}
		}
		for i := 0; i < fill16; i += 2 {
			a.Release(names[i])
		}
		return a
	}
	a := fragment()
	n := 0
	b.ReportAllocs()
	b.ResetTimer()
	clock := startCPU()
	for range b.N {
		if n == fill16/2 {
			b.StopTimer()
			clock.start -= cpuTime()
			a, n = fragment(), 0
			clock.start += cpuTime()
			b.StartTimer()
		}
		if _, err := a.Allocate(Request{Service: names[fill16+n]}); err != nil {
			b.Fatal(err)
		}
		n++
	}
	clock.report(b)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "allocs/s")
}

// BenchmarkAllocateRelease measures a steady state: a /16 filled to half in
// random order, then each op releases a random service and allocates another.
func BenchmarkAllocateRelease(b *testing.B) {
	names := benchNames(fill16)
	a := New(&config.Config{Pools: []config.Pool{pool(b, "p", bench16)}})
	r := rand.New(rand.NewPCG(1, 2))
	held := make([]string, 0, fill16/2)
	free := names[:0:0]
	for i, n := range r.Perm(fill16) {
		if i < fill16/2 {
			held = append(held, names[n])
		} else {
			free = append(free, names[n])
		}
	}
	for _, s := range held {
		if _, err := a.Allocate(Request{Service: s}); err != nil {
			b.Fatal(err)
		}
	}
	// Release a random half of those, so that the used addresses form many runs.
	for i := range held[:len(held)/2] {
		j := r.IntN(len(held))
		held[i], held[j] = held[j], held[i]
	}
	b.ReportAllocs()
	b.ResetTimer()
	clock := startCPU()
	for range b.N {
		i := r.IntN(len(held))
		a.Release(held[i])
		free = append(free, held[i])
		k := r.IntN(len(free))
		held[i] = free[k]
		free[k] = free[len(free)-1]
		free = free[:len(free)-1]
		if _, err := a.Allocate(Request{Service: held[i]}); err != nil {
			b.Fatal(err)
		}
	}
	clock.report(b)
}

// BenchmarkRetained reports the heap an allocator keeps per allocated
// service, filling a /16 (and a /64 for dual-stack) and measuring the live
// heap after a collection.
func BenchmarkRetained(b *testing.B) {
	names := benchNames(fill16)
	tests := []struct {
		name string
		pool config.Pool
		req  Request
	}{
		{name: "IPv4-/16", pool: pool(b, "p", bench16)},
		{name: "dual-/16+/64", pool: pool(b, "p", bench16, bench64), req: Request{Families: []Family{IPv4, IPv6}, FamilyPolicy: RequireDualStack}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			cfg := &config.Config{Pools: []config.Pool{tt.pool}}
			var perAlloc float64
			for range b.N {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				a := New(cfg)
				req := tt.req
				for _, s := range names {
					req.Service = s
					if _, err := a.Allocate(req); err != nil {
						b.Fatal(err)
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				perAlloc = float64(after.HeapAlloc-before.HeapAlloc) / fill16
				runtime.KeepAlive(a)
			}
			b.ReportMetric(perAlloc, "retained-B/alloc")
		})
	}
}

// BenchmarkExhausted measures a refused attempt on a full /16: it must not
// scan the pool.
func BenchmarkExhausted(b *testing.B) {
	names := benchNames(fill16)
	tests := []struct {
		name  string
		pools []config.Pool
	}{
		{name: "IPv4-/16", pools: []config.Pool{pool(b, "p", bench16)}},
		{name: "IPv4-/16-avoid-buggy", pools: []config.Pool{pool(b, "p", "avoid", bench16)}},
		{name: "IPv4-4x/18", pools: []config.Pool{
			pool(b, "a", "198.18.0.0/18"), pool(b, "b", "198.18.64.0/18"),
			pool(b, "c", "198.18.128.0/18"), pool(b, "d", "198.18.192.0/18"),
		}},
	}
	for _, tt := range tests {
		b.Run(tt.name, func(b *testing.B) {
			a := New(&config.Config{Pools: tt.pools})
			for _, s := range names {
				if _, err := a.Allocate(Request{Service: s}); err != nil {
					var re *RefusalError
					if errors.As(err, &re) && re.Reason == ReasonPoolExhausted {
						break
					}
					b.Fatal(err)
				}
			}
			req := Request{Service: "ns/one-too-many"}
			b.ReportAllocs()
			b.ResetTimer()
			clock := startCPU()
			for range b.N {
				_, err := a.Allocate(req)
				var re *RefusalError
				if !errors.As(err, &re) || re.Reason != ReasonPoolExhausted {
					b.Fatalf("Allocate = %v, want pool_exhausted", err)
				}
			}
			clock.report(b)
		})
	}
}
