// Command tractor looks at running tractor programs.
//
// Usage:
//
//	tractor ps [-secret S] [-timeout D] ADDR
//
// ps joins the registrar of the program whose root listens at ADDR (the
// address its root's [tractor.Actor.Addr] reports, or the one given to
// [tractor.ListenAddr]) with the tree's secret (-secret, or the
// TRACTOR_SECRET environment variable), asks every live actor what it
// runs, and prints the tree: each actor under its parent, with its uid,
// hosting, pid, host:port, parent, uptime, open dialogs and running tasks.
//
//	go run github.com/tractor-go/tractor/cmd/tractor ps -secret "$TRACTOR_SECRET" 127.0.0.1:7000
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit status: 0, 1 for a
// failure, 2 for a usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "ps" {
		fmt.Fprintln(stderr, "usage: tractor ps [-secret S] [-timeout D] ADDR")
		return 2
	}
	fs := flag.NewFlagSet("tractor ps", flag.ContinueOnError)
	fs.SetOutput(stderr)
	secret := fs.String("secret", os.Getenv("TRACTOR_SECRET"), "the tree's `secret` (default $TRACTOR_SECRET)")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: tractor ps [-secret S] [-timeout D] ADDR")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	states, err := ps(ctx, fs.Arg(0), *secret)
	if err != nil {
		fmt.Fprintln(stderr, "tractor ps:", err)
		return 1
	}
	if err := renderTree(stdout, states, time.Now()); err != nil {
		fmt.Fprintln(stderr, "tractor ps:", err)
		return 1
	}
	return 0
}
