// Package natsreg is a [tractor.Registry] kept in a NATS JetStream
// key-value bucket, so that the programs of a tree find each other's
// actors through NATS with no program acting as the registrar:
//
//	nc, err := nats.Connect(url)
//	...
//	reg, err := natsreg.New(ctx, nc)
//	...
//	defer reg.Close()
//	err = tractor.Run(ctx, body, tractor.UseRegistry(reg))
//
// Each actor is a key "<name>.<uid>" (escaped: see [Key]) whose value is
// its [tractor.ActorInfo]. The bucket's entries live for a TTL, and the
// Registry that registered an entry puts it again every heartbeat: an
// entry lives while its program does, and disappears within the TTL of a
// program that died without unregistering it (killed with SIGKILL, cut off
// from NATS). The bucket places a marker when an entry expires, so
// watchers see expiries as they see deletions; Find, List and Wait also
// skip entries last put longer ago than the TTL (by this host's clock
// against the server's timestamp, so hosts' clocks must roughly agree).
//
// A clustered JetStream refuses requests, or leaves them unanswered, for
// a moment while it elects a leader (a server lost): every operation
// tries again within its ctx, each attempt bounded, until it is answered.
package natsreg

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/tractor-go/tractor"
)

// DefaultBucket is the key-value bucket a Registry uses unless [Bucket]
// names another: the programs of one tree must use the same.
const DefaultBucket = "tractor_actors"

// DefaultTTL is how long an entry outlives the last heartbeat of its
// program unless [TTL] says otherwise.
const DefaultTTL = 3 * time.Second

// Option configures [New].
type Option func(*config)

type config struct {
	bucket    string
	ttl       time.Duration
	heartbeat time.Duration
	replicas  int
}

// Bucket names the key-value bucket (default [DefaultBucket]).
func Bucket(name string) Option { return func(c *config) { c.bucket = name } }

// TTL sets how long an entry lives after its last heartbeat (default
// [DefaultTTL]): the time within which a dead program's actors vanish. The
// bucket keeps one TTL, the last given to a program creating or updating
// it; at least one second (the server's bound for expiry markers).
func TTL(d time.Duration) Option { return func(c *config) { c.ttl = d } }

// Heartbeat sets how often the Registry puts its entries again (default:
// a third of the TTL, so that two lost heartbeats do not expire them).
func Heartbeat(d time.Duration) Option { return func(c *config) { c.heartbeat = d } }

// Replicas sets how many servers of a NATS cluster hold the bucket
// (default 1); 3 in a 3-node cluster keeps the registry through the loss
// of one server.
func Replicas(n int) Option { return func(c *config) { c.replicas = n } }

// Registry is a [tractor.Registry] in a JetStream key-value bucket. It
// owns a heartbeat goroutine, which [Registry.Close] stops.
type Registry struct {
	kv  jetstream.KeyValue
	cfg config

	mu   sync.Mutex
	mine map[string]*entry // registered here and not since unregistered, by uid

	life context.Context // the heartbeat's: Close cancels it
	stop context.CancelFunc
	done chan struct{} // closed as the heartbeat returns
}

// entry is an actor this Registry registered. Its lock orders the
// heartbeat's put against the unregistration's delete, so a heartbeat
// never brings back an entry once it is deleted.
type entry struct {
	key   string
	value []byte

	// ctx is the entry's heartbeat's, cancelled as the entry is
	// unregistered, replaced or closed: a put of it in flight stops.
	ctx    context.Context
	cancel context.CancelFunc

	lock    chan struct{} // a 1-slot channel as a lock, so that waiting for it ends with a ctx
	expires time.Time     // by when the entry expires, from its last put (under lock)
}

// acquire takes e's lock, or returns ctx's error if ctx ends first.
func (e *entry) acquire(ctx context.Context) error {
	select {
	case e.lock <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (e *entry) release() { <-e.lock }

// record is an entry's value.
type record struct {
	Info  tractor.ActorInfo
	Since time.Time // when it registered: Find's order
}

var _ tractor.Registry = (*Registry)(nil)

// New returns a Registry in the bucket of nc's JetStream, creating the
// bucket or updating its configuration. It fails if nc cannot use
// JetStream (not connected, not authorized, JetStream not enabled).
func New(ctx context.Context, nc *nats.Conn, opts ...Option) (*Registry, error) {
	cfg := config{bucket: DefaultBucket, ttl: DefaultTTL, replicas: 1}
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.ttl < time.Second {
		return nil, fmt.Errorf("natsreg: TTL %v: at least 1s", cfg.ttl)
	}
	if cfg.heartbeat <= 0 {
		cfg.heartbeat = cfg.ttl / 3
	}
	if cfg.heartbeat >= cfg.ttl {
		return nil, fmt.Errorf("natsreg: heartbeat %v: shorter than the TTL %v", cfg.heartbeat, cfg.ttl)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsreg: bucket %q: %w", cfg.bucket, err)
	}
	kv, err := bucket(ctx, js, jetstream.KeyValueConfig{
		Bucket:      cfg.bucket,
		Description: "tractor actors",
		History:     1,
		TTL:         cfg.ttl,
		// Expiries leave a marker, so a watcher sees them.
		LimitMarkerTTL: cfg.ttl,
		// Entries are rebuilt by heartbeats: they need no disk.
		Storage:  jetstream.MemoryStorage,
		Replicas: cfg.replicas,
	})
	if err != nil {
		if lerr := nc.LastError(); lerr != nil && !errors.Is(err, lerr) {
			err = fmt.Errorf("%w (connection: %w)", err, lerr)
		}
		return nil, fmt.Errorf("natsreg: bucket %q: %w", cfg.bucket, err)
	}
	life, stop := context.WithCancel(context.Background())
	r := &Registry{kv: kv, cfg: cfg, mine: make(map[string]*entry), life: life, stop: stop, done: make(chan struct{})}
	go r.beat()
	return r, nil
}

// attemptBound bounds one attempt of a request to JetStream: a
// clustered JetStream may leave a request unanswered while it elects a
// leader (a server lost, programs starting together on a fresh cluster),
// and the next attempt is answered.
const attemptBound = 5 * time.Second

// bucket binds the bucket of cfg, creating it if it does not exist yet,
// until ctx ends. Programs that start together on a fresh cluster race to
// create it: the one that loses binds the winner's. A bucket that exists
// with another TTL is updated to cfg's, since entries live by it.
func bucket(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := retry(ctx, attemptBound, func(ctx context.Context) error {
		var err error
		kv, err = js.KeyValue(ctx, cfg.Bucket)
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			kv, err = js.CreateKeyValue(ctx, cfg)
			if errors.Is(err, jetstream.ErrBucketExists) { // lost the race
				kv, err = js.KeyValue(ctx, cfg.Bucket)
			}
		}
		if err != nil {
			return err
		}
		var st jetstream.KeyValueStatus
		if st, err = kv.Status(ctx); err == nil && st.TTL() != cfg.TTL {
			kv, err = js.UpdateKeyValue(ctx, cfg)
		}
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("%w: %w", errNewStream, err)
		}
		return err
	})
	return kv, err
}

// errNewStream says that the bucket's stream, just bound or made, was not
// found: a cluster that has just made it may not find it at once.
var errNewStream = errors.New("natsreg: the bucket's new stream is not found yet")

// transient reports whether err, the outcome of one attempt of a request
// to JetStream, may pass by itself while a clustered JetStream elects a
// leader: no answer within the attempt (the request went to a lost
// server), no response from the stream (its leader lost), or JetStream
// "temporarily unavailable" (no meta leader yet). No responders to an
// API request is not: it means no JetStream at all.
func transient(err error) bool {
	var api *jetstream.APIError
	var legacy *nats.APIError // the watcher's subscription is made by nats.go's older API
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) ||
		errors.Is(err, jetstream.ErrNoStreamResponse) ||
		errors.Is(err, errQuiet) || errors.Is(err, errNewStream) ||
		errors.As(err, &api) && api.ErrorCode == jetstream.ErrorCode(nats.JSErrCodeJetStreamNotAvailable) ||
		errors.As(err, &legacy) && legacy.ErrorCode == nats.JSErrCodeJetStreamNotAvailable
}

// retry runs op, each attempt bounded by try, until it succeeds, fails
// other than [transient]ly, or ctx ends.
func retry(ctx context.Context, try time.Duration, op func(ctx context.Context) error) error {
	p := pause{d: firstPause}
	for {
		actx, cancel := context.WithTimeout(ctx, try)
		err := op(actx)
		cancel()
		if err == nil || !transient(err) {
			return err
		}
		if err := p.wait(ctx, err); err != nil {
			return err
		}
	}
}

// firstPause is the wait after a first transient failure; it doubles with
// each failure up to a second, so that a cluster that refuses at once
// while it elects a leader is not flooded with requests.
const firstPause = 50 * time.Millisecond

// pause is the wait between attempts of one operation.
type pause struct{ d time.Duration }

// wait waits before the next attempt after the transient error err; it
// returns ctx's error, naming err as the last attempt's, if ctx ends
// first.
func (p *pause) wait(ctx context.Context, err error) error {
	t := time.NewTimer(p.d)
	defer t.Stop()
	p.d = min(2*p.d, time.Second)
	if ctx.Err() == nil {
		select {
		case <-t.C:
			return nil
		case <-ctx.Done():
		}
	}
	if errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("%w (last attempt: %w)", ctx.Err(), err)
}

// Close stops the heartbeat, waits for it, and deletes the entries still
// registered here, within ctx: while JetStream is unavailable it keeps
// trying until ctx ends, so a ctx without a deadline may wait for ever.
// A put of the heartbeat in flight is abandoned.
func (r *Registry) Close(ctx context.Context) error {
	r.stop()
	select {
	case <-r.done:
	case <-ctx.Done():
		return fmt.Errorf("natsreg: close %q: waiting for the heartbeat to stop: %w", r.cfg.bucket, ctx.Err())
	}
	r.mu.Lock()
	uids := make([]string, 0, len(r.mine))
	for uid := range r.mine {
		uids = append(uids, uid)
	}
	r.mu.Unlock()
	var errs []error
	for _, uid := range uids {
		errs = append(errs, r.Unregister(ctx, uid))
	}
	return errors.Join(errs...)
}

// beat puts every entry again each heartbeat until Close. A put that
// fails at once or goes unanswered (a server lost, the cluster electing a
// leader) is tried again while the entry lives, from its last put: once
// it has expired, the next heartbeat puts it again. A put may take
// longer than a beat (a loaded host, a cluster electing a leader):
// bounding it by the beat would let every put fail, and the entries
// expire, on a slow but live server.
func (r *Registry) beat() {
	defer close(r.done)
	t := time.NewTicker(r.cfg.heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.life.Done():
			return
		case <-t.C:
		}
		r.mu.Lock()
		es := make([]*entry, 0, len(r.mine))
		for _, e := range r.mine {
			es = append(es, e)
		}
		r.mu.Unlock()
		for _, e := range es {
			r.refresh(e)
		}
	}
}

// refresh puts e again, unless it is gone, trying until it would expire;
// one that has expired (its puts failed for a whole TTL) is put again as
// a new entry would be, tried for a TTL.
func (r *Registry) refresh(e *entry) {
	if e.acquire(e.ctx) != nil {
		return // gone
	}
	defer e.release()
	until := e.expires
	if now := time.Now(); !until.After(now) {
		until = now.Add(r.cfg.ttl)
	}
	ctx, cancel := context.WithDeadline(e.ctx, until)
	defer cancel()
	_ = r.put(ctx, min(attemptBound, r.cfg.ttl/2), e)
}

// Register puts info in the bucket and keeps it alive until Unregister or
// Close. The heartbeat takes the entry over once it is put: an entry
// whose put fails is not kept.
func (r *Registry) Register(ctx context.Context, info tractor.ActorInfo) error {
	value, err := json.Marshal(record{Info: info, Since: time.Now()})
	if err != nil {
		return fmt.Errorf("natsreg: register %s: %w", info.ID, err)
	}
	e := &entry{key: Key(info.ID.Name, info.ID.UID), value: value, lock: make(chan struct{}, 1)}
	e.ctx, e.cancel = context.WithCancel(r.life)
	r.mu.Lock()
	old := r.mine[info.ID.UID]
	r.mu.Unlock()
	if old != nil {
		// The old entry's heartbeat must not put it after the new one.
		old.cancel()
		if err := old.acquire(ctx); err != nil {
			e.cancel()
			return fmt.Errorf("natsreg: register %s in %q: waiting for the heartbeat of its previous entry: %w", info.ID, r.cfg.bucket, err)
		}
		old.release()
	}
	if err := r.put(ctx, attemptBound, e); err != nil {
		e.cancel()
		return fmt.Errorf("natsreg: register %s in %q: %w", info.ID, r.cfg.bucket, err)
	}
	r.mu.Lock()
	r.mine[info.ID.UID] = e
	r.mu.Unlock()
	return nil
}

// put puts e's value under its key, retrying within ctx, each attempt
// bounded by try; it notes when the entry, once put, expires.
func (r *Registry) put(ctx context.Context, try time.Duration, e *entry) error {
	return retry(ctx, try, func(ctx context.Context) error {
		// The server times the entry from when it stores it: after now.
		now := time.Now()
		_, err := r.kv.Put(ctx, e.key, e.value)
		if err == nil {
			e.expires = now.Add(r.cfg.ttl)
		}
		return err
	})
}

// Unregister deletes the entry of the actor uid, registered here or by
// another program (a process actor's parent registers it; it unregisters
// itself as it ends). A heartbeat's put of the entry in flight is
// abandoned.
func (r *Registry) Unregister(ctx context.Context, uid string) error {
	r.mu.Lock()
	e := r.mine[uid]
	delete(r.mine, uid)
	r.mu.Unlock()
	var keys []string
	if e != nil {
		e.cancel()
		if err := e.acquire(ctx); err != nil {
			return fmt.Errorf("natsreg: unregister %s from %q: waiting for its heartbeat: %w", uid, r.cfg.bucket, err)
		}
		defer e.release()
		keys = []string{e.key}
	} else {
		err := retry(ctx, attemptBound, func(ctx context.Context) (err error) {
			keys, err = r.keys(ctx, "*."+escape(uid))
			return err
		})
		if err != nil {
			return fmt.Errorf("natsreg: unregister %s from %q: %w", uid, r.cfg.bucket, err)
		}
	}
	for _, k := range keys {
		err := retry(ctx, attemptBound, func(ctx context.Context) error { return r.kv.Delete(ctx, k) })
		if err != nil {
			return fmt.Errorf("natsreg: unregister %s from %q: %w", uid, r.cfg.bucket, err)
		}
	}
	return nil
}

// keys returns the keys matching filter.
func (r *Registry) keys(ctx context.Context, filter string) ([]string, error) {
	l, err := r.kv.ListKeysFiltered(ctx, filter)
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keys []string
	for k := range l.Keys() {
		keys = append(keys, k)
	}
	// Having delivered every key, the lister has stopped: Stop would
	// find no subscription left.
	return keys, nil
}

// Find returns the live entries of the actors named name, oldest first.
func (r *Registry) Find(ctx context.Context, name string) ([]tractor.ActorInfo, error) {
	recs, err := r.watch(ctx, escape(name)+".*", false)
	if err != nil {
		return nil, fmt.Errorf("natsreg: find %q in %q: %w", name, r.cfg.bucket, err)
	}
	return infos(recs), nil
}

// Wait returns the live entries of the actors named name once there is
// one, watching the bucket for its registration.
func (r *Registry) Wait(ctx context.Context, name string) ([]tractor.ActorInfo, error) {
	recs, err := r.watch(ctx, escape(name)+".*", true)
	if err != nil {
		return nil, fmt.Errorf("natsreg: wait for %q in %q: %w", name, r.cfg.bucket, err)
	}
	return infos(recs), nil
}

// List returns every live entry, sorted by name, then oldest first.
func (r *Registry) List(ctx context.Context) ([]tractor.ActorInfo, error) {
	recs, err := r.watch(ctx, jetstream.AllKeys, false)
	if err != nil {
		return nil, fmt.Errorf("natsreg: list %q: %w", r.cfg.bucket, err)
	}
	slices.SortStableFunc(recs, func(a, b record) int { return strings.Compare(a.Info.ID.Name, b.Info.ID.Name) })
	return infos(recs), nil
}

// watch reads the live entries matching pattern; if wait, and there are
// none, it goes on watching until one is put or ctx ends. A watcher that
// fails [transient]ly is made again.
func (r *Registry) watch(ctx context.Context, pattern string, wait bool) ([]record, error) {
	p := pause{d: firstPause}
	for {
		recs, err := r.watchOnce(ctx, pattern, wait)
		if err == nil || !transient(err) {
			return recs, err
		}
		if err := p.wait(ctx, err); err != nil {
			return nil, err
		}
	}
}

// errQuiet says that JetStream left a watcher's creation unanswered for
// attemptBound, or that the watcher then delivered nothing for as long:
// neither the bucket's current entries nor, while waiting for a name, an
// update. Its request or its consumer may have gone with a lost server,
// and a new watcher is made (a quiet one costs a new consumer every
// attemptBound, no more).
var errQuiet = errors.New("natsreg: JetStream was quiet")

// watchOnce is one watch, which ends with errQuiet if JetStream is quiet
// for attemptBound.
func (r *Registry) watchOnce(ctx context.Context, pattern string, wait bool) ([]record, error) {
	// The watcher lives as long as its context: its creation, which
	// nats.go bounds by that context only, is cut off by cancelling it.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cut := time.AfterFunc(attemptBound, cancel)
	w, err := r.kv.Watch(ctx, pattern, jetstream.IgnoreDeletes())
	if !cut.Stop() {
		if err == nil {
			stopWatcher(w)
		}
		return nil, fmt.Errorf("%w: no watcher within %v", errQuiet, attemptBound)
	}
	if err != nil {
		return nil, err
	}
	quiet := time.NewTimer(attemptBound)
	defer quiet.Stop()
	defer stopWatcher(w)
	var recs []record
	initial := true
	for {
		var kve jetstream.KeyValueEntry
		var ok bool
		select {
		case kve, ok = <-w.Updates():
		case <-quiet.C:
			// No current entries within the bound, or, while waiting
			// for a name, no update: the watcher's consumer may have
			// been lost with a server; a new watcher is made.
			return nil, fmt.Errorf("%w: nothing delivered within %v", errQuiet, attemptBound)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if !ok {
			return nil, fmt.Errorf("watcher closed: %w", nats.ErrConnectionClosed)
		}
		quiet.Reset(attemptBound)
		if kve == nil {
			initial = false
		} else if time.Since(kve.Created()) < r.cfg.ttl {
			var rec record
			if err := json.Unmarshal(kve.Value(), &rec); err == nil {
				recs = append(recs, rec)
			}
		}
		if !initial && (!wait || len(recs) > 0) {
			break
		}
	}
	slices.SortFunc(recs, func(a, b record) int {
		return cmp.Or(a.Since.Compare(b.Since), strings.Compare(a.Info.ID.UID, b.Info.ID.UID))
	})
	return recs, nil
}

// stopWatcher stops w and drains it until the unsubscription closes it:
// the watcher's delivery blocks on a full channel, and nothing is left
// behind.
func stopWatcher(w jetstream.KeyWatcher) {
	_ = w.Stop()
	for range w.Updates() {
	}
}

func infos(recs []record) []tractor.ActorInfo {
	out := make([]tractor.ActorInfo, len(recs))
	for i, rec := range recs {
		out[i] = rec.Info
	}
	return out
}

// Key is the bucket key of the actor uid named name: "<name>.<uid>", each
// escaped so that it is one token of the characters keys allow (letters,
// digits, '-' and '_' stay; any other byte b becomes "=XX", its hex
// code; an empty string becomes "=").
func Key(name, uid string) string { return escape(name) + "." + escape(uid) }

func escape(s string) string {
	if s == "" {
		return "="
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "=%02X", c)
		}
	}
	return b.String()
}
