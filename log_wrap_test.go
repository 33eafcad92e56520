package tractor_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/tractor-go/tractor"
)

// tagHandler adds the attribute wrapped=true to every record it passes
// on: proof that a record went through the wrapper.
type tagHandler struct{ slog.Handler }

func (h tagHandler) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(slog.Bool("wrapped", true))
	return h.Handler.Handle(ctx, r)
}

func (h tagHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return tagHandler{h.Handler.WithAttrs(as)}
}

func (h tagHandler) WithGroup(name string) slog.Handler {
	return tagHandler{h.Handler.WithGroup(name)}
}

// TestWrapLogHandler: the wrapper given with WrapLogHandler wraps the
// configured handler, and every record reaches that handler through it
// once: the root's own, and a process grandchild's relayed ones.
func TestWrapLogHandler(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			rec := newLogRecords()
			var (
				mu      sync.Mutex
				wrapped []slog.Handler
			)
			wrap := func(inner slog.Handler) slog.Handler {
				mu.Lock()
				defer mu.Unlock()
				wrapped = append(wrapped, inner)
				return tagHandler{inner}
			}
			err := run(t, h, func(ctx context.Context) error {
				tractor.CurrentActor(ctx).Logger().Warn("from the root")
				return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
					p, err := n.StartActor(ctx, "child", tractor.Expose(grandchildWarns))
					if err != nil {
						return err
					}
					defer p.CancelActor(ctx)
					_, err = grandchildWarns.Call(ctx, p, "look here")
					return err
				})
			}, tractor.LogHandler(rec), tractor.WrapLogHandler(wrap))
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(wrapped) == 0 {
				t.Fatal("wrap never called")
			}
			for _, inner := range wrapped {
				if r, ok := inner.(logRecords); !ok || r.recs != rec.recs {
					t.Errorf("wrap was given %T, want the LogHandler", inner)
				}
			}
			seen := map[string]int{}
			for _, l := range rec.all() {
				if msg, _ := l["msg"].(string); msg == "from the root" || msg == "look here" {
					if l["wrapped"] != true {
						t.Errorf("record %v did not go through the wrapper", l)
					}
					seen[msg]++
				}
			}
			if seen["from the root"] != 1 || seen["look here"] != 1 {
				t.Fatalf("records %v; want one of each (all: %v)", seen, rec.all())
			}
		})
	}
}
