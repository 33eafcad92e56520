package debuglock

import (
	"context"

	"github.com/tractor-go/tractor"
)

// quit ends the session of a user who quit at a's prompt: it releases
// the terminal and cancels a. At the root, the actors already queued
// for the terminal get their turn first: the root serves the lock, and
// its cancellation ends every task of it, the lock's with them, so a
// queued actor would lose its prompt ("acquiring the terminal: context
// canceled") and the root's own release would read as its going away.
// Its children are then cancelled by supervision, which waits for the
// terminal as ever. The wait ends with ctx, or after [DefaultWaitBound].
func quit(ctx context.Context, a *tractor.Actor, lease *Lease) {
	lease.Release()
	if root, err := tractor.Root(ctx); err == nil && root.Actor() == a.ID() {
		ctx, cancel := context.WithTimeout(ctx, DefaultWaitBound)
		_, _ = srv.waitFree(ctx, a.ID().UID, a.ID())
		cancel()
	}
	a.CancelSoon()
}
