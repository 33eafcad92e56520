package transport_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // named zones load whatever the host has installed

	"github.com/tractor-go/tractor/transport"
)

// overWire returns what a peer decodes into a T from the payload v, as a
// wire connection carries it.
func overWire[T any](t *testing.T, v any) T {
	t.Helper()
	b, err := transport.EncodePayload(v)
	if err != nil {
		t.Fatalf("encode %T: %v", v, err)
	}
	var got T
	if err := transport.Decode(transport.RawPayload(b), &got); err != nil {
		t.Fatalf("decode %T into %T: %v", v, &got, err)
	}
	return got
}

// TestTimeKeepsItsZone: a time.Time crosses a wire with its instant and
// its zone: the same offset and abbreviation, the same wall clock, and its
// location itself when the receiver has it (a named zone, Local, UTC), a
// fixed zone of the same name and offset otherwise. Alone, in a struct,
// inside an any, and as a value of a map[string]any (which msgpack writes
// by its own code, not its registry's), an []any, and of a map[string]any
// inside an any field.
func TestTimeKeepsItsZone(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	fixed := time.FixedZone("X", 5*3600+1800)
	base := time.Date(2026, 7, 14, 9, 30, 15, 123456789, time.UTC)
	cases := []struct {
		name    string
		t       time.Time
		sameLoc bool // the location itself, not only an equal zone
		named   bool // a location with daylight-saving rules
	}{
		{"FixedZone", base.In(fixed), false, false},
		{"Local", base.In(time.Local), true, false},
		{"Now", time.Now(), true, false},
		{"NamedSummer", base.In(paris), false, true},
		{"NamedWinter", base.AddDate(0, 6, 0).In(paris), false, true},
		{"UTC", base, true, false},
		{"Zero", time.Time{}, true, false},
		{"Before1970", time.Date(1903, 1, 2, 3, 4, 5, 6, fixed), false, false},
		{"FarFuture", time.Date(3000, 1, 1, 0, 0, 0, 1, paris), false, true},
	}
	type holder struct {
		At  time.Time
		Any any
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			check := func(how string, got time.Time) {
				t.Helper()
				wantAbbr, wantOff := tc.t.Zone()
				gotAbbr, gotOff := got.Zone()
				if !got.Equal(tc.t) || gotAbbr != wantAbbr || gotOff != wantOff {
					t.Fatalf("%s: got %v (zone %s %+d), want %v (zone %s %+d)", how, got, gotAbbr, gotOff, tc.t, wantAbbr, wantOff)
				}
				if layout := time.RFC3339Nano + " MST"; got.Format(layout) != tc.t.Format(layout) {
					t.Fatalf("%s: wall clock %s, want %s", how, got.Format(layout), tc.t.Format(layout))
				}
				if tc.sameLoc && got.Location() != tc.t.Location() {
					t.Fatalf("%s: location %v, want %v", how, got.Location(), tc.t.Location())
				}
				if got.Location().String() != tc.t.Location().String() {
					t.Fatalf("%s: location named %q, want %q", how, got.Location(), tc.t.Location())
				}
				// A named location keeps its rules: half a year on, the
				// offset has changed as the sender's would.
				_, gotLater := got.AddDate(0, 6, 0).Zone()
				if _, wantLater := tc.t.AddDate(0, 6, 0).Zone(); tc.named && gotLater != wantLater {
					t.Fatalf("%s: half a year later offset %+d, want %+d", how, gotLater, wantLater)
				}
			}
			check("alone", overWire[time.Time](t, tc.t))
			h := overWire[holder](t, holder{At: tc.t, Any: tc.t})
			check("in a struct", h.At)
			at, ok := h.Any.(time.Time)
			if !ok {
				t.Fatalf("in an any: got %T, want time.Time", h.Any)
			}
			check("in an any", at)
			m := overWire[map[string]any](t, map[string]any{"at": tc.t})
			if at, ok = m["at"].(time.Time); !ok {
				t.Fatalf("in a map[string]any: got %T, want time.Time", m["at"])
			}
			check("in a map[string]any", at)
			s := overWire[[]any](t, []any{tc.t})
			if at, ok = s[0].(time.Time); !ok {
				t.Fatalf("in an []any: got %T, want time.Time", s[0])
			}
			check("in an []any", at)
			h = overWire[holder](t, holder{Any: map[string]any{"at": tc.t}})
			if m, ok = h.Any.(map[string]any); !ok {
				t.Fatalf("a map in an any: got %T, want map[string]any", h.Any)
			}
			if at, ok = m["at"].(time.Time); !ok {
				t.Fatalf("in a map in an any: got %T, want time.Time", m["at"])
			}
			check("in a map[string]any in an any", at)
		})
	}
}

// TestTimeZoneLoadsBounded: a receiver loads each zone name a peer sends
// once, and at most 256 in all, so 1000 times in 1000 distinct zones that
// do not exist cost at most 256 loads, not 1000; each still arrives with
// its wall clock, abbreviation and offset, in a fixed zone. A name longer
// than any in the tz database is not looked up at all.
func TestTimeZoneLoadsBounded(t *testing.T) {
	loads, restore := transport.CountZoneLoads()
	t.Cleanup(restore)
	base := time.Date(2024, 7, 1, 12, 0, 0, 0, time.UTC)
	for i := range 1000 {
		name := fmt.Sprintf("Bogus/Zone%04d", i)
		sent := base.In(time.FixedZone(name, i*60))
		for range 2 {
			got := overWire[time.Time](t, sent)
			if abbr, off := got.Zone(); !got.Equal(sent) || abbr != name || off != i*60 {
				t.Fatalf("got %v (zone %s %+d), want %v", got, abbr, off, sent)
			}
		}
	}
	if n := loads(); n > 256 {
		t.Errorf("decoding times in 1000 unknown zones loaded zones %d times, want at most 256", n)
	}
	if named, fixed := transport.ZoneCaches(); named != transport.MaxZones || fixed != transport.MaxZones {
		t.Errorf("after 1000 zones the caches hold %d names and %d fixed zones, want %d each", named, fixed, transport.MaxZones)
	}

	// One zone twice: one load, and one location shared by both times.
	loads, restore = transport.CountZoneLoads()
	t.Cleanup(restore)
	once := base.In(time.FixedZone("Bogus/Once", 60))
	first, second := overWire[time.Time](t, once), overWire[time.Time](t, once)
	if first.Location() != second.Location() || loads() != 1 {
		t.Errorf("one zone decoded twice: %d loads, locations shared: %v; want 1 load, shared", loads(), first.Location() == second.Location())
	}

	// The longest name looked up has 64 bytes; one of 65 is not.
	loads, restore = transport.CountZoneLoads()
	t.Cleanup(restore)
	for _, n := range []int{64, 65} {
		name := "Bogus/" + strings.Repeat("y", n-len("Bogus/"))
		got := overWire[time.Time](t, base.In(time.FixedZone(name, 120)))
		if got.Location().String() != name {
			t.Errorf("a zone name of %d bytes arrived as %q", n, got.Location())
		}
	}
	if n := loads(); n != 1 {
		t.Errorf("zone names of 64 and 65 bytes: %d loads, want 1 (the 64-byte one)", n)
	}

	loads, restore = transport.CountZoneLoads()
	t.Cleanup(restore)
	long := base.In(time.FixedZone("Europe/"+strings.Repeat("x", 100), 3600))
	if got := overWire[time.Time](t, long); got.Location().String() != long.Location().String() {
		t.Errorf("a long zone name arrived as %q", got.Location())
	}
	if n := loads(); n != 0 {
		t.Errorf("a zone name of %d bytes was looked up (%d loads)", len(long.Location().String()), n)
	}
}

// TestTimeLongestZone: a time whose zone abbreviation and name have the
// most bytes a time carries (255 each) crosses whole, through msgpack's
// decoder (inside a map) as through this package's.
func TestTimeLongestZone(t *testing.T) {
	loc := time.FixedZone(strings.Repeat("Z", 255), -7200)
	sent := time.Date(2026, 12, 1, 8, 0, 0, 999999999, loc)
	m := overWire[map[string]any](t, map[string]any{"at": sent})
	for how, got := range map[string]any{"alone": overWire[time.Time](t, sent), "in a map": m["at"]} {
		at, ok := got.(time.Time)
		if !ok {
			t.Fatalf("%s: got %T, want time.Time", how, got)
		}
		abbr, off := at.Zone()
		if !at.Equal(sent) || abbr != loc.String() || off != -7200 || at.Location().String() != loc.String() {
			t.Errorf("%s: got %v (zone of %d bytes %+d), want %v", how, at, len(abbr), off, sent)
		}
	}
}

// TestDurationIsTyped: a time.Duration crosses as its int64 nanoseconds
// and decodes back into a Duration, alone and in a struct; into an any it
// is the integer.
func TestDurationIsTyped(t *testing.T) {
	for _, d := range []time.Duration{0, time.Nanosecond, -90 * time.Minute, 1<<63 - 1} {
		if got := overWire[time.Duration](t, d); got != d {
			t.Errorf("Duration %v crossed as %v", d, got)
		}
		type holder struct{ D time.Duration }
		if got := overWire[holder](t, holder{d}); got.D != d {
			t.Errorf("Duration %v in a struct crossed as %v", d, got.D)
		}
		if got := overWire[any](t, d); fmt.Sprint(got) != fmt.Sprint(int64(d)) {
			t.Errorf("Duration %v into an any crossed as %T %v, want its nanoseconds", d, got, got)
		}
	}
}

// TestBytesAreBinary: a []byte crosses as a msgpack byte string (bin),
// not an array of integers; nil stays nil and empty stays empty and
// non-nil, alone and in a struct.
func TestBytesAreBinary(t *testing.T) {
	b, err := transport.EncodePayload([]byte{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0xc4, 3, 1, 2, 3}; !bytes.Equal(b, want) {
		t.Fatalf("[]byte{1, 2, 3} encodes as % x, want % x (bin 8)", b, want)
	}
	type holder struct{ B []byte }
	for _, v := range [][]byte{nil, {}, {0}, bytes.Repeat([]byte{7}, 70000)} {
		got := overWire[[]byte](t, v)
		if !bytes.Equal(got, v) || (got == nil) != (v == nil) {
			t.Errorf("%d bytes (nil %t) crossed as %d (nil %t)", len(v), v == nil, len(got), got == nil)
		}
		h := overWire[holder](t, holder{v})
		if !bytes.Equal(h.B, v) || (h.B == nil) != (v == nil) {
			t.Errorf("in a struct: %d bytes (nil %t) crossed as %d (nil %t)", len(v), v == nil, len(h.B), h.B == nil)
		}
	}
	if got := overWire[any](t, []byte("hi")); !bytes.Equal(got.([]byte), []byte("hi")) {
		t.Errorf("[]byte into an any crossed as %T %v", got, got)
	}
}
