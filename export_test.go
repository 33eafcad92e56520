package tractor

import "context"

// CallRaw calls endpoint name in the actor behind p with an untyped
// argument, as a peer built from another binary could: the tests use it to
// send payloads of the wrong type and names that do not exist.
func CallRaw(ctx context.Context, p *Portal, name string, arg any) (any, error) {
	d, err := p.ch.open(ctx, name, modeFunc, arg)
	if err != nil {
		return nil, err
	}
	return d.result(ctx)
}

// OpenDialogs counts the dialogs still routed on the portal's connection.
func OpenDialogs(p *Portal) int {
	p.ch.mu.Lock()
	defer p.ch.mu.Unlock()
	return len(p.ch.dialogs)
}

// Register records info in the registrar of the tree of ctx's actor, as a
// program that died before unregistering would have left it.
func Register(ctx context.Context, info ActorInfo) error {
	a := CurrentActor(ctx)
	if a == nil {
		return ErrNoActor
	}
	return a.node.dir.register(ctx, info)
}

// Suspect reports info to the registrar as unreachable, as a peer that
// could not reach it does, and returns whether the registrar purged it.
func Suspect(ctx context.Context, info ActorInfo) (bool, error) {
	return CurrentActor(ctx).node.dir.suspect(ctx, info)
}

// DropRegistrarConnection closes the connection over which the process of
// ctx's actor reaches its registrar, as a network fault would.
func DropRegistrarConnection(ctx context.Context) {
	d := CurrentActor(ctx).node.dir.(*remoteDirectory)
	d.mu.Lock()
	ch := d.conn
	d.mu.Unlock()
	if ch != nil {
		ch.conn.Close()
	}
}

// SetCancelSendHook makes f run just before each cancel request is sent,
// as a late-scheduled sending goroutine would, until restore is called.
func SetCancelSendHook(f func()) (restore func()) {
	testHookCancelSend = f
	return func() { testHookCancelSend = nil }
}
