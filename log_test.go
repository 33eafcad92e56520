package tractor_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"testing"

	"log/slog"

	"github.com/tractor-go/tractor"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of actors.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %q", sc.Text())
		}
		out = append(out, m)
	}
	return out
}

func treeWithFailure(ctx context.Context) error {
	return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
		p, err := n.StartActor(ctx, "worker", tractor.Expose(square, fail))
		if err != nil {
			return err
		}
		defer p.CancelActor(ctx)
		_, _ = fail.Call(ctx, p, "logged")
		tractor.CurrentActor(ctx).Logger().Info("from the body")
		return nil
	})
}

func TestLogs(t *testing.T) {
	t.Run("quiet by default", func(t *testing.T) {
		var buf syncBuffer
		if err := run(t, goroutines, treeWithFailure, tractor.LogOutput(&buf)); err != nil {
			t.Fatal(err)
		}
		if lines := buf.lines(t); len(lines) != 0 {
			t.Errorf("default level logged %d lines: %v", len(lines), lines)
		}
	})
	t.Run("every line names its actor; children inherit the level", func(t *testing.T) {
		var buf syncBuffer
		if err := run(t, goroutines, treeWithFailure, tractor.LogOutput(&buf), tractor.LogLevel(slog.LevelDebug), tractor.Name("boss")); err != nil {
			t.Fatal(err)
		}
		byActor := map[string]int{}
		for _, l := range buf.lines(t) {
			name, _ := l["actor"].(string)
			uid, _ := l["uid"].(string)
			if name == "" || len(uid) != 16 {
				t.Errorf("line without actor name and uid: %v", l)
			}
			byActor[name]++
		}
		if byActor["boss"] == 0 || byActor["worker"] == 0 {
			t.Errorf("lines per actor: %v; want lines from boss and from worker", byActor)
		}
	})
}
