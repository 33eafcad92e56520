package tractor

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
)

// ActorDied says how the process of an actor ended without being asked
// to: it crashed, exited or was killed. The nursery that spawned the actor
// reports the death as a [*RemoteError] naming the actor, and so do the
// dialogs with it that the death broke (those of a process reaped promptly
// after its connection dropped, as a killed or crashed one is; one still
// running then breaks them with [ErrActorGone] at once, and only its
// nursery reports how it ended); [errors.As] reads an ActorDied
// from either, and from the joined error of any nursery above it, in this
// process or another:
//
//	var died *tractor.ActorDied
//	if errors.As(err, &died) && died.Signal == syscall.SIGKILL { … }
//
// Such an error also matches [ErrActorDied] and [ErrActorGone]. Only a
// process actor dies this way: an actor hosted on goroutines shares its
// parent's process and cannot be killed apart from it (a goroutine actor
// whose connection breaks is reported as an ErrActorDied without an
// ActorDied, since no process ended).
type ActorDied struct {
	// Actor is the actor whose process ended.
	Actor ActorID
	// Pid is its process id.
	Pid int
	// ExitCode is the process's exit status, or -1 if a signal ended it.
	ExitCode int
	// Signal is the signal that ended the process, or 0 if it exited.
	Signal syscall.Signal
}

// Error names the actor, its pid and how its process ended.
func (d *ActorDied) Error() string {
	return fmt.Sprintf("actor %s (pid %d) died: %s", d.Actor, d.Pid, d.how())
}

// how says how the process ended: "killed by signal killed", "exited
// with status 2".
func (d *ActorDied) how() string {
	if d.Signal != 0 {
		return "killed by signal " + d.Signal.String()
	}
	return fmt.Sprintf("exited with status %d", d.ExitCode)
}

// report is the death as a *RemoteError from the actor, whose message,
// after the actor's name, says more if more is not empty.
func (d *ActorDied) report(more string) *RemoteError {
	return &RemoteError{
		Actor: d.Actor, Type: "tractor.ActorDied", RelayPath: []ActorID{d.Actor},
		Message: fmt.Sprintf("process %d died: %s%s", d.Pid, d.how(), more),
		Code:    "actor_died", Died: d,
	}
}

// Is makes an ActorDied match ErrActorDied and ErrActorGone.
func (d *ActorDied) Is(target error) bool { return target == ErrActorDied || target == ErrActorGone }

// processEnd is the ActorDied of actor's process pid, which ended with
// exit, the status its reaper collected (nil for exit status 0).
func processEnd(actor ActorID, pid int, exit error) *ActorDied {
	d := &ActorDied{Actor: actor, Pid: pid}
	var ee *exec.ExitError
	if !errors.As(exit, &ee) {
		return d
	}
	d.ExitCode = ee.ExitCode()
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		d.Signal = ws.Signal()
	}
	return d
}
