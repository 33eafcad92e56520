package tractor_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/tractor-go/tractor"
)

// exDiskCheck warns, in its actor's logger, that the disk is almost full.
var exDiskCheck = tractor.Func("example.diskCheck", func(ctx context.Context, freePct int) (bool, error) {
	tractor.CurrentActor(ctx).Logger().Warn("disk almost full", "free_pct", freePct)
	return true, nil
})

// The runtime logs to the program's own slog handler, each record with the
// actor's name and uid. A process child's records reach it too: the child
// writes them to its stderr as JSON, and its parent hands them on. Without
// LogHandler the logs go to stderr, as console lines on a terminal and JSON
// otherwise; TRACTOR_LOG=debug shows the runtime's debug records.
func ExampleLogHandler() {
	h := slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		// Leave out what changes from run to run.
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "uid" {
				return slog.Attr{}
			}
			return a
		},
	})
	err := tractor.Run(context.Background(), func(ctx context.Context) error {
		tractor.CurrentActor(ctx).Logger().Warn("checking the disks")
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			p, err := n.StartActor(ctx, "checker", tractor.Expose(exDiskCheck), tractor.Spawn(tractor.Process))
			if err != nil {
				return err
			}
			defer p.CancelActor(ctx)
			_, err = exDiskCheck.Call(ctx, p, 2)
			return err
		})
	}, tractor.LogHandler(h), tractor.Name("app"))
	fmt.Println("err:", err)
	// Output:
	// level=WARN msg="checking the disks" actor=app
	// level=WARN msg="disk almost full" actor=checker free_pct=2
	// err: <nil>
}
