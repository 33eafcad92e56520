package transport

import (
	"encoding/binary"
	"fmt"
	"reflect"
	"sync"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// How a time.Time crosses a wire: its instant and its zone.
//
// msgpack writes a time.Time as its timestamp extension (type -1), which
// holds the instant alone, and reads one back in the receiver's local
// zone: a time sent in another zone would print and compute (Hour, Day,
// Format) differently on the other side. This package registers its own
// encoding for the same extension type (msgpack has one registry per
// process, so this applies to every msgpack encoding in a program that
// imports tractor):
//
//   - a time in UTC, and the zero time, are written as msgpack writes
//     them, the standard timestamp of 4, 8 or 12 bytes, which reads back
//     as UTC;
//   - any other time is written as the 12-byte timestamp followed by the
//     zone in effect at that instant: its offset east of UTC in seconds
//     (4 bytes, big-endian), the length of its abbreviation (1 byte), the
//     abbreviation ("CET"), and the name of its *time.Location
//     ("Europe/Paris", "Local").
//
// What the receiver rebuilds: the same instant (to the nanosecond; the
// monotonic clock reading, meaningful only in the sending process, is
// dropped, as time.Time.Equal ignores it), in
//
//   - time.Local, for a time in the sender's time.Local, if the receiver's
//     Local has the same offset at that instant (two processes of one
//     program on one host share it);
//   - the location of that name, for a named location the receiver can
//     load (time.LoadLocation) and that has the same offset at that
//     instant, so later arithmetic crosses daylight-saving changes as it
//     would have on the sender (a receiver loads each name once and at
//     most 256 names in all, so a peer cannot make it search the disk for
//     every time it sends: past those, a name reads as a fixed zone);
//   - otherwise a fixed zone, time.FixedZone(abbreviation, offset): the
//     same wall clock, zone name and offset as the sender saw, for that
//     instant.
//
// So t.Equal(u), u.Zone() == t.Zone() and u.Format(layout) ==
// t.Format(layout) always hold for a received u, and u.Location() names
// t's location whenever the receiver has it, wherever t sits in the
// payload: alone, in a struct, a slice, a map[string]any or an interface.
// A timestamp written by another
// msgpack encoder (4, 8 or 12 bytes) reads as UTC.

// timeExtID is the msgpack extension type of a timestamp.
const timeExtID = -1

func init() {
	msgpack.RegisterExtEncoder(timeExtID, time.Time{}, encodeTime)
	msgpack.RegisterExtDecoder(timeExtID, time.Time{}, decodeTime)
	msgpack.Register(map[string]any(nil), encodeAnyMap, nil)
}

// encodeAnyMap is msgpack's encoder for map[string]any, the fields of
// every registered error among others. msgpack's own writes each value
// with Encoder.Encode, which writes a time.Time by its own code, not the
// registry's encodeTime, and so drops its zone; this one writes such a
// value through the registry. (A named type of the same map type is still
// written by msgpack's own encoder: its time values arrive in UTC.)
func encodeAnyMap(e *msgpack.Encoder, v reflect.Value) error {
	if v.IsNil() {
		return e.EncodeNil()
	}
	m := v.Interface().(map[string]any)
	if err := e.EncodeMapLen(len(m)); err != nil {
		return err
	}
	for k, x := range m {
		if err := e.EncodeString(k); err != nil {
			return err
		}
		var err error
		if _, ok := x.(time.Time); ok {
			err = e.EncodeValue(reflect.ValueOf(x))
		} else {
			err = e.Encode(x)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// encodeTime returns the extension data of the time in v.
func encodeTime(_ *msgpack.Encoder, v reflect.Value) ([]byte, error) {
	return appendTimeData(nil, v.Interface().(time.Time)), nil
}

// appendTimeData appends the extension data of t to b.
func appendTimeData(b []byte, t time.Time) []byte {
	sec, nsec := t.Unix(), uint32(t.Nanosecond())
	if t.Location() == time.UTC || t.IsZero() {
		if uint64(sec)>>34 == 0 { // msgpack's 4- and 8-byte forms
			data := uint64(nsec)<<34 | uint64(sec)
			if data>>32 == 0 {
				return binary.BigEndian.AppendUint32(b, uint32(data))
			}
			return binary.BigEndian.AppendUint64(b, data)
		}
		return binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint32(b, nsec), uint64(sec))
	}
	abbr, offset := t.Zone()
	if len(abbr) > 255 {
		abbr = abbr[:255]
	}
	name := t.Location().String()
	if len(name) > maxZoneName { // no location has such a name; read as a fixed zone
		name = name[:maxZoneName]
	}
	b = binary.BigEndian.AppendUint32(b, nsec)
	b = binary.BigEndian.AppendUint64(b, uint64(sec))
	b = binary.BigEndian.AppendUint32(b, uint32(int32(offset)))
	b = append(b, byte(len(abbr)))
	b = append(b, abbr...)
	return append(b, name...)
}

// decodeTime reads extension data of extLen bytes into the time.Time v.
func decodeTime(d *msgpack.Decoder, v reflect.Value, extLen int) error {
	if extLen < 0 || extLen > 12+4+1+255+maxZoneName {
		return fmt.Errorf("msgpack: invalid ext len=%d decoding time", extLen)
	}
	b := make([]byte, extLen)
	if err := d.ReadFull(b); err != nil {
		return err
	}
	t, err := parseTime(b)
	if err != nil {
		return err
	}
	v.Set(reflect.ValueOf(t))
	return nil
}

// maxZoneName bounds the location names a peer may send.
const maxZoneName = 255

// parseTime reads a time from its extension data, as encodeTime writes it.
func parseTime(b []byte) (time.Time, error) {
	var sec int64
	var nsec uint32
	switch {
	case len(b) == 4:
		sec = int64(binary.BigEndian.Uint32(b))
	case len(b) == 8:
		v := binary.BigEndian.Uint64(b)
		nsec, sec = uint32(v>>34), int64(v&(1<<34-1))
	case len(b) >= 12:
		nsec, sec = binary.BigEndian.Uint32(b), int64(binary.BigEndian.Uint64(b[4:]))
	default:
		return time.Time{}, fmt.Errorf("msgpack: invalid ext len=%d decoding time", len(b))
	}
	if nsec >= 1e9 {
		return time.Time{}, fmt.Errorf("msgpack: timestamp with %d nanoseconds", nsec)
	}
	t := time.Unix(sec, int64(nsec)).UTC()
	if len(b) <= 12 {
		return t, nil
	}
	if len(b) < 17 || len(b) < 17+int(b[16]) {
		return time.Time{}, fmt.Errorf("msgpack: truncated zone in a time of %d bytes", len(b))
	}
	offset := int(int32(binary.BigEndian.Uint32(b[12:])))
	abbr := string(b[17 : 17+int(b[16])])
	name := string(b[17+int(b[16]):])
	return t.In(zoneFor(t, name, abbr, offset)), nil
}

// zoneFor returns the location of the given name if this process has it
// and it has offset at t's instant, else a fixed zone of that abbreviation
// and offset.
func zoneFor(t time.Time, name, abbr string, offset int) *time.Location {
	var loc *time.Location
	switch name {
	case "Local":
		loc = time.Local
	case "UTC":
		loc = time.UTC
	default:
		if len(name) <= maxZoneLookup {
			loc = loadZone(name)
		}
	}
	if loc != nil {
		if a, o := t.In(loc).Zone(); a == abbr && o == offset {
			return loc
		}
	}
	return fixedZone(abbr, offset)
}

// fixedZone returns time.FixedZone(abbr, offset), from a cache, so that a
// stream of times in one zone shares one location.
func fixedZone(abbr string, offset int) *time.Location {
	key := fmt.Sprintf("%s\x00%d", abbr, offset)
	zones.Lock()
	defer zones.Unlock()
	if loc, ok := zones.fixed[key]; ok {
		return loc
	}
	loc := time.FixedZone(abbr, offset)
	if zones.fixed == nil {
		zones.fixed = make(map[string]*time.Location)
	}
	if len(zones.fixed) < maxZones {
		zones.fixed[key] = loc
	}
	return loc
}

// zones caches time.LoadLocation's answers by name (nil for a name that
// does not load), so that a stream of times in one zone reads its tzdata
// once, and fixed zones by abbreviation and offset. Each map holds at most
// maxZones entries, whatever peers send.
var zones struct {
	sync.Mutex
	m     map[string]*time.Location
	fixed map[string]*time.Location
}

const (
	maxZones = 256
	// maxZoneLookup bounds the names looked up at all: the longest in the
	// tz database has 32 bytes; a longer one reads as a fixed zone.
	maxZoneLookup = 64
)

// loadLocation is time.LoadLocation, a variable for tests to count calls.
var loadLocation = time.LoadLocation

// loadZone returns the location of the given name, or nil if it does not
// load. Loading searches the zoneinfo directories and zip, so a peer must
// not be able to make every time it sends do it: each name is loaded once,
// hit or miss, and once maxZones names are cached, an unknown one is not
// loaded at all and reads as a fixed zone (zoneFor).
func loadZone(name string) *time.Location {
	zones.Lock()
	loc, ok := zones.m[name]
	full := len(zones.m) >= maxZones
	zones.Unlock()
	if ok || full {
		return loc
	}
	loc, err := loadLocation(name)
	if err != nil {
		loc = nil
	}
	zones.Lock()
	defer zones.Unlock()
	if zones.m == nil {
		zones.m = make(map[string]*time.Location)
	}
	if len(zones.m) < maxZones {
		zones.m[name] = loc
	}
	return loc
}

// msgpack's Encoder.Encode and Decoder.Decode treat a time.Time and a
// *time.Time given to them directly by their own code, not the registry,
// so payloads that are times are written and read here.

// appendTime appends t as its extension value.
func appendTime(b []byte, t time.Time) []byte {
	// The header's size is known once the data is written: write the data
	// after the largest header (ext 16, 4 bytes), then move it back.
	start := len(b)
	b = appendTimeData(append(b, 0, 0, 0, 0), t)
	n := len(b) - start - 4
	var hdr []byte
	switch {
	case n == 4:
		hdr = []byte{mpFixExt1 + 2, 0xff}
	case n == 8:
		hdr = []byte{mpFixExt1 + 3, 0xff}
	case n <= 255:
		hdr = []byte{mpExt8, byte(n), 0xff}
	default:
		hdr = []byte{mpExt16, byte(n >> 8), byte(n), 0xff}
	}
	copy(b[start+len(hdr):], b[start+4:])
	copy(b[start:], hdr)
	return b[:start+len(hdr)+n]
}

// readTime reads b if it is exactly one timestamp extension value.
func readTime(b []byte) (time.Time, bool) {
	if len(b) < 2 {
		return time.Time{}, false
	}
	var n int
	switch c := b[0]; {
	case c >= mpFixExt1 && c <= mpFixExt16:
		n, b = 1<<(c-mpFixExt1), b[1:]
	case c == mpExt8:
		n, b = int(b[1]), b[2:]
	case c == mpExt16 && len(b) >= 3:
		n, b = int(binary.BigEndian.Uint16(b[1:])), b[3:]
	default:
		return time.Time{}, false
	}
	if len(b) != 1+n || int8(b[0]) != timeExtID {
		return time.Time{}, false
	}
	t, err := parseTime(b[1:])
	return t, err == nil
}
