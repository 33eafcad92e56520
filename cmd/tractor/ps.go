package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/transport"
)

// Errors ps names, beside the runtime's.
var (
	// errNoSecret: ps was given no secret, and a random one would only be
	// refused.
	errNoSecret = errors.New("no secret: give -secret or set TRACTOR_SECRET")
	// errUnreachable: nothing listens at the address.
	errUnreachable = errors.New("registrar unreachable")
	// errWrongSecret: the registrar's process refused ps's secret.
	errWrongSecret = errors.New("wrong secret")
)

// psName is the name of ps's own actor, which joins the registrar to ask
// and is left out of what it prints.
const psName = "tractor-ps"

// ps joins the registrar at addr with secret and returns the state of
// every actor it knows but ps's own.
func ps(ctx context.Context, addr, secret string) ([]tractor.ActorState, error) {
	if secret == "" {
		return nil, errNoSecret
	}
	var states []tractor.ActorState
	err := tractor.Run(ctx, func(ctx context.Context) error {
		all, err := tractor.Inspect(ctx)
		if err != nil {
			return err
		}
		self := tractor.CurrentActor(ctx).ID().UID
		for _, s := range all {
			if s.ID.UID != self {
				states = append(states, s)
			}
		}
		return nil
	}, tractor.Name(psName), tractor.Registrar(addr), tractor.Secret(secret))
	switch {
	case err == nil:
		return states, nil
	case errors.Is(err, transport.ErrAuth):
		return nil, fmt.Errorf("%w for the registrar at %s: %w", errWrongSecret, addr, err)
	case errors.Is(err, transport.ErrNoListener):
		return nil, fmt.Errorf("%w: nothing listens at %s: %w", errUnreachable, addr, err)
	case errors.Is(err, tractor.ErrRegistrar):
		return nil, fmt.Errorf("%w at %s: %w", errUnreachable, addr, err)
	}
	return nil, err
}

// renderTree prints states as a tree, each actor under its parent, in the
// order given among siblings; an actor whose parent is not among states
// (a root, or one whose parent ended meanwhile) starts a tree of its own.
// Uptimes are reckoned at now.
func renderTree(w io.Writer, states []tractor.ActorState, now time.Time) error {
	known := make(map[string]bool, len(states))
	for _, s := range states {
		known[s.ID.UID] = true
	}
	children := make(map[string][]int)
	var roots []int
	for i, s := range states {
		if p := s.Parent.UID; p != "" && known[p] && p != s.ID.UID {
			children[p] = append(children[p], i)
		} else {
			roots = append(roots, i)
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACTOR\tUID\tHOSTING\tPID\tADDR\tPARENT\tUPTIME\tDIALOGS\tTASKS")
	seen := make([]bool, len(states))
	var walk func(i int, lead, branch string)
	walk = func(i int, lead, branch string) {
		seen[i] = true
		s := states[i]
		parent := "-"
		if s.Parent.UID != "" {
			parent = s.Parent.String()
		}
		row := []string{lead + branch + s.ID.Name, s.ID.UID, s.Hosting.String(), strconv.Itoa(s.PID), s.Addr, parent}
		if s.Err != nil {
			row = append(row, "?", "?", "? ("+s.Err.Error()+")")
		} else {
			row = append(row, uptime(now.Sub(s.Started)), strconv.Itoa(s.Dialogs), strconv.Itoa(s.Tasks))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
		switch branch {
		case "├── ":
			lead += "│   "
		case "└── ":
			lead += "    "
		}
		kids := children[s.ID.UID]
		for k, c := range kids {
			b := "├── "
			if k == len(kids)-1 {
				b = "└── "
			}
			walk(c, lead, b)
		}
	}
	for _, r := range roots {
		walk(r, "", "")
	}
	for i := range states {
		if !seen[i] { // in a cycle of parents, which no uid should make
			walk(i, "", "")
		}
	}
	return tw.Flush()
}

// uptime formats d to a precision that suits it: milliseconds under a
// second, seconds under a day.
func uptime(d time.Duration) string {
	switch {
	case d < 0:
		return "0s" // the actor's host's clock is ahead of this one's
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < 24*time.Hour:
		return d.Round(time.Second).String()
	}
	return fmt.Sprintf("%dd%s", d/(24*time.Hour), (d % (24 * time.Hour)).Round(time.Second))
}
