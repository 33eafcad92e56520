// Command cluster-nats runs a tree of three programs that find each other
// through NATS, with no program acting as the registrar: each registers an
// actor in a JetStream key-value bucket (package natsreg), finds the
// others' by name and calls them, then they shut down.
//
// It starts a NATS server with JetStream in this process (a random port,
// its store in a temporary directory), or uses the one at $NATS_URL when
// set, and runs the three programs as child processes of this binary.
//
// Run it with:
//
//	go run ./examples/cluster-nats
//	NATS_URL=nats://127.0.0.1:4222 go run ./examples/cluster-nats
package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/tractor-go/tractor"
	"github.com/tractor-go/tractor/natsreg"
)

// greet is the endpoint every program's actor exposes.
var greet = tractor.Func("clusternats.greet", func(ctx context.Context, from string) (string, error) {
	return fmt.Sprintf("hello %s, from %s", from, tractor.CurrentActor(ctx).Name()), nil
})

// programs are the three programs of the tree.
var programs = []string{"alpha", "beta", "gamma"}

const (
	roleArg = "-program" // argv[1] of a program: argv[2] is its name
	urlEnv  = "CLUSTER_NATS_URL"
	// secret is the tree's shared secret, with which actors of different
	// programs authenticate each other.
	secret = "cluster-nats-example"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == roleArg {
		if err := program(os.Args[2]); err != nil {
			fmt.Println("FAILED:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(); err != nil {
		fmt.Println("FAILED:", err)
		os.Exit(1)
	}
	fmt.Println("done")
}

// run starts the NATS server unless $NATS_URL names one, then the three
// programs; once each has called the others, it ends them and waits.
func run() error {
	url := os.Getenv("NATS_URL")
	if url == "" {
		dir, err := os.MkdirTemp("", "cluster-nats-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		s, err := server.NewServer(&server.Options{
			Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true,
			JetStream: true, StoreDir: dir,
		})
		if err != nil {
			return fmt.Errorf("nats server: %w", err)
		}
		s.Start()
		defer func() { s.Shutdown(); s.WaitForShutdown() }()
		if !s.ReadyForConnections(10 * time.Second) {
			return errors.New("nats server not ready")
		}
		url = s.ClientURL()
		fmt.Println("started an embedded NATS server with JetStream")
	} else {
		fmt.Println("using the NATS server at $NATS_URL")
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	type child struct {
		cmd   *exec.Cmd
		stdin interface{ Close() error }
	}
	var children []child
	defer func() {
		for _, c := range children {
			c.cmd.Process.Kill()
			c.cmd.Wait()
		}
	}()
	// Each program says "called" once it has called the two others;
	// then it waits for its stdin to close.
	called := make(chan string)
	var relays sync.WaitGroup
	defer relays.Wait()
	for _, name := range programs {
		cmd := exec.Command(self, roleArg, name)
		cmd.Env = append(os.Environ(), urlEnv+"="+url, "TRACTOR_SECRET="+secret)
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			return err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		children = append(children, child{cmd, stdin})
		relays.Add(1)
		go func() {
			defer relays.Done()
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				if sc.Text() == "called" {
					called <- name
					continue
				}
				fmt.Printf("[%s] %s\n", name, sc.Text())
			}
		}()
	}
	timeout := time.After(time.Minute)
	for range programs {
		select {
		case <-called:
		case <-timeout:
			return errors.New("the programs did not call each other within a minute")
		}
	}
	fmt.Println("every program has called the two others; ending them")
	var errs []error
	for _, c := range children {
		c.stdin.Close()
	}
	for _, c := range children {
		errs = append(errs, c.cmd.Wait())
	}
	children = nil
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Println("the three programs have exited")
	return nil
}

// program is one program of the tree: it joins the registry in NATS,
// starts its greeter, waits for the others' and calls them, then serves
// until its stdin closes.
func program(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	nc, err := nats.Connect(os.Getenv(urlEnv), nats.Name(name))
	if err != nil {
		return err
	}
	defer nc.Close()
	reg, err := natsreg.New(ctx, nc, natsreg.TTL(2*time.Second))
	if err != nil {
		return err
	}
	defer reg.Close(context.Background())

	return tractor.Run(ctx, func(ctx context.Context) error {
		return tractor.OpenNursery(ctx, func(ctx context.Context, n *tractor.Nursery) error {
			defer n.Cancel()
			if _, err := n.StartActor(ctx, name+"-greeter", tractor.Expose(greet)); err != nil {
				return err
			}
			fmt.Printf("registered %s-greeter in NATS\n", name)
			for _, other := range programs {
				if other == name {
					continue
				}
				p, err := tractor.WaitForActor(ctx, other+"-greeter")
				if err != nil {
					return err
				}
				reply, err := greet.Call(ctx, p, name)
				if err != nil {
					return err
				}
				fmt.Printf("found %s-greeter through NATS and called it: %q\n", other, reply)
			}
			fmt.Println("called")
			// Serve the others until the parent ends this program.
			if _, err := io.Copy(io.Discard, os.Stdin); err != nil {
				return err
			}
			fmt.Println("leaving")
			return nil
		})
	}, tractor.Name(name), tractor.UseRegistry(reg))
}
