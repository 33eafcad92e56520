package tractor

import (
	"context"
	"fmt"

	"github.com/tractor-go/tractor/transport"
)

// dial returns a portal from a to the actor uid ("" for the registrar) in
// the process listening at addr, connecting straight to it: through an
// in-memory connection if it lives in this process, over TCP otherwise.
// A connection a already has with that actor is reused, and a dial to it
// already under way is waited for, within ctx; dials to different actors
// do not wait for each other.
func (a *Actor) dial(ctx context.Context, addr, uid string) (*Portal, error) {
	for {
		if p := a.dialledPortal(uid); p != nil {
			return p, nil
		}
		a.peerMu.Lock()
		busy := a.dialing[uid]
		if busy == nil {
			done := make(chan struct{})
			if a.dialing == nil {
				a.dialing = make(map[string]chan struct{})
			}
			a.dialing[uid] = done
			a.peerMu.Unlock()
			defer func() {
				a.peerMu.Lock()
				delete(a.dialing, uid)
				a.peerMu.Unlock()
				close(done)
			}()
			break
		}
		a.peerMu.Unlock()
		select {
		case <-busy: // it connected, or failed: look again
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	var conn transport.Conn
	var near *Actor
	where := ActorInfo{Addr: addr}
	if t := a.node.actor(uid); t != nil && uid != "" {
		mine, theirs := memPair(a.cfg.wireCheck)
		if t.adopt(theirs, a.id, a, false, nil) == nil {
			return nil, fmt.Errorf("%w: actor %s is ending", errNoSuchActor, t.id)
		}
		conn, near = mine, t
		where.ID, where.Hosting, where.PID = t.id, a.node.hostingOf(t), a.node.pid
	} else if uid != "" && a.node.local(addr) {
		return nil, a.node.noSuchActor(uid) // no need to ask our own listener
	} else {
		var w peerWelcome
		var err error
		if conn, w, err = a.node.dialPeer(ctx, a, addr, uid); err != nil {
			return nil, err
		}
		where.ID, where.Hosting, where.PID = w.ID, w.Hosting, w.PID
	}
	ch := a.adopt(conn, where.ID, near, true, &where)
	if ch == nil {
		conn.Close()
		return nil, errorf("tractor: actor %s is ending: %w", a.id, ErrActorGone)
	}
	return &Portal{ch: ch, info: &where}, nil
}

// dialledPortal returns a portal over a's live connection with uid, if any.
func (a *Actor) dialledPortal(uid string) *Portal {
	if uid == "" {
		return nil
	}
	a.peerMu.Lock()
	ch := a.dialled[uid]
	a.peerMu.Unlock()
	if ch == nil || ch.goneErr() != nil {
		return nil
	}
	return &Portal{ch: ch, info: ch.where}
}

// adopt makes conn a connection of a with peer and serves it until it
// ends; a owns it from then on. It returns nil, leaving conn alone, once a
// is ending. peerActor is the peer itself if it lives in this process;
// where is where it runs, as far as this side knows (a dialler knows).
func (a *Actor) adopt(conn transport.Conn, peer ActorID, peerActor *Actor, creator bool, where *ActorInfo) *session {
	a.peerMu.Lock()
	defer a.peerMu.Unlock()
	if a.peersClosed {
		return nil
	}
	ch := newSession(a, peer, conn, creator)
	ch.peerActor, ch.where = peerActor, where
	if a.peers == nil {
		a.peers, a.dialled = make(map[*session]struct{}), make(map[string]*session)
	}
	a.peers[ch] = struct{}{}
	if creator {
		a.dialled[peer.UID] = ch
	}
	a.peerWG.Go(func() {
		ch.serve()
		// The peer went: its tasks here were cancelled with it.
		ch.drain()
		ch.close()
		a.peerMu.Lock()
		delete(a.peers, ch)
		if a.dialled[peer.UID] == ch {
			delete(a.dialled, peer.UID)
		}
		a.peerMu.Unlock()
	})
	return ch
}

// closePeers ends every peer connection of a, once its tasks have been
// cancelled: they return, then the connections close.
func (a *Actor) closePeers() {
	a.peerMu.Lock()
	a.peersClosed = true
	chs := make([]*session, 0, len(a.peers))
	for ch := range a.peers {
		chs = append(chs, ch)
	}
	a.peerMu.Unlock()
	for _, ch := range chs {
		ch.drain()
	}
	for _, ch := range chs {
		ch.close()
	}
	a.peerWG.Wait()
}
