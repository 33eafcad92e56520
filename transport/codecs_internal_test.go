package transport

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMpReaderBounds reads each msgpack form the hand-written reader
// takes, at the edges of its encodings: a value that ends exactly at the
// body's end is read, one a byte short is malformed; a signed encoding of
// a non-negative integer is an integer, a negative one is not; each
// string and byte-string width is recognised, and nothing past the end
// is looked at.
func TestMpReaderBounds(t *testing.T) {
	big := strings.Repeat("s", 1<<16) // needs str32 or bin32
	str := func(s string) []byte { return appendStr(nil, s) }
	bin := func(b []byte) []byte { return appendBin(nil, b) }
	for _, tc := range []struct {
		name string
		body []byte
		read func(r *mpReader) (any, error)
		want any    // when err is ""
		err  string // a part of the error, which wraps ErrMalformed
	}{
		{"uint int8 positive", []byte{mpInt8, 0x7f}, uintOf, uint64(0x7f), ""},
		{"uint int8 negative", []byte{mpInt8, 0x80}, uintOf, nil, "negative integer"},
		{"uint int16 positive", []byte{mpInt16, 0x7f, 0xff}, uintOf, uint64(0x7fff), ""},
		{"uint int16 negative", []byte{mpInt16, 0x80, 0x00}, uintOf, nil, "negative integer"},
		{"uint int32 negative", []byte{mpInt32, 0xff, 0, 0, 0}, uintOf, nil, "negative integer"},
		{"uint int64 positive", []byte{mpInt64, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uintOf, uint64(1<<63 - 1), ""},
		{"uint int64 negative", []byte{mpInt64, 0x80, 0, 0, 0, 0, 0, 0, 0}, uintOf, nil, "negative integer"},
		{"uint negative fixint", []byte{mpNegFixIntMin}, uintOf, nil, "where an integer belongs"},

		{"str fills the body", str("abc"), strOf, "abc", ""},
		{"str8 fills the body", str(strings.Repeat("x", 40)), strOf, strings.Repeat("x", 40), ""},
		{"str32 fills the body", str(big), strOf, big, ""},
		{"str a byte short", str("abc")[:4-1], strOf, nil, "truncated string"},
		{"str32 a byte short", str(big)[:5+len(big)-1], strOf, nil, "truncated string"},

		{"bin8 fills the body", bin([]byte{1, 2}), binOf, []byte{1, 2}, ""},
		{"bin16 fills the body", bin(make([]byte, 300)), binOf, make([]byte, 300), ""},
		{"bin32 fills the body", bin([]byte(big)), binOf, []byte(big), ""},
		{"bin a byte short", bin([]byte{1, 2})[:3], binOf, nil, "truncated bytes"},
		{"bin from a str", str("ab"), binOf, nil, "where bytes belong"},
		{"bin from an ext", []byte{mpExt8, 0, 0}, binOf, nil, "where bytes belong"},
		{"bin from a bool", []byte{mpTrue}, binOf, nil, "where bytes belong"},

		{"isStr at the end", nil, isStrOf, false, ""},
		{"isStr fixstr", str("a"), isStrOf, true, ""},
		{"isStr str8", str(strings.Repeat("x", 40)), isStrOf, true, ""},
		{"isStr str16", str(strings.Repeat("x", 300)), isStrOf, true, ""},
		{"isStr str32", str(big), isStrOf, true, ""},
		{"isStr bin8", bin([]byte{1}), isStrOf, false, ""},
		{"isStr array16", []byte{mpArray16, 0, 0}, isStrOf, false, ""},
		{"isStr nil", []byte{mpNil}, isStrOf, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &mpReader{b: tc.body}
			got, err := tc.read(r)
			if tc.err != "" {
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want an ErrMalformed saying %q", short(got), err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("error %v; want %v", err, short(tc.want))
			}
			if b, ok := got.([]byte); ok {
				if !bytes.Equal(b, tc.want.([]byte)) {
					t.Fatalf("got %v; want %v", short(got), short(tc.want))
				}
			} else if got != tc.want {
				t.Fatalf("got %v; want %v", short(got), short(tc.want))
			}
			if _, isStr := got.(bool); !isStr && r.rest() != 0 {
				t.Errorf("%d bytes left unread", r.rest())
			}
		})
	}
}

func uintOf(r *mpReader) (any, error)  { return r.uint(1<<64 - 1) }
func strOf(r *mpReader) (any, error)   { return r.str() }
func binOf(r *mpReader) (any, error)   { return r.bin() }
func isStrOf(r *mpReader) (any, error) { return r.isStr(), nil }

// short prints a value, a long one by its length.
func short(v any) string {
	switch v := v.(type) {
	case string:
		if len(v) > 40 {
			return fmt.Sprintf("a string of %d bytes", len(v))
		}
	case []byte:
		if len(v) > 40 {
			return fmt.Sprintf("%d bytes", len(v))
		}
	}
	return fmt.Sprintf("%#v", v)
}

// TestPayloadTimestampFixups: a timestamp in its 4- or 8-byte form whose
// data begins with a byte msgpack would read as a map header is carried in
// the payload's copy in the 12-byte form of the same instant, wherever it
// sits in the payload and however many there are; the copy is exactly as
// long as the rewritten payload (its capacity too: payloads carved from
// one chunk must not share spare room), and decodes to the same times.
func TestPayloadTimestampFixups(t *testing.T) {
	ts32 := []byte{mpFixExt1 + 2, 0xff, 0x80, 0, 0, 0} // 2^31 s
	// 8-byte form: nsec<<34 | sec, its top byte 0x80: nsec 0x80<<22.
	ts64 := []byte{mpFixExt1 + 3, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 5}
	ts96 := func(sec uint64, nsec uint32) []byte {
		b := []byte{mpExt8, 12, 0xff}
		b = append(b, byte(nsec>>24), byte(nsec>>16), byte(nsec>>8), byte(nsec))
		for i := 7; i >= 0; i-- {
			b = append(b, byte(sec>>(8*i)))
		}
		return b
	}
	pad := appendStr(nil, strings.Repeat("p", 300)) // the fixups far into the body
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	payload := cat([]byte{mpFixArray | 3}, pad, ts32, ts64)
	want := cat([]byte{mpFixArray | 3}, pad, ts96(1<<31, 0), ts96(5, 0x80<<22))
	body := cat([]byte{mpFixArray | 6, byte(KindReturn), 1, mpFixStr, 0, 0}, payload)

	for _, alloc := range []*payloadAlloc{nil, {}} {
		m, err := decodeMsg(body, alloc)
		if err != nil {
			t.Fatalf("decodeMsg: %v", err)
		}
		p, ok := m.Payload.(*rawPayload)
		if !ok {
			t.Fatalf("payload %T, want *rawPayload", m.Payload)
		}
		if !bytes.Equal(p.b, want) || cap(p.b) != len(want) {
			t.Fatalf("payload copy (len %d, cap %d):\n%x\nwant (len and cap %d):\n%x", len(p.b), cap(p.b), p.b, len(want), want)
		}
		var got []any
		if err := p.Decode(&got); err != nil {
			t.Fatalf("Decode: %v", err)
		}
		if len(got) != 3 || !got[1].(time.Time).Equal(time.Unix(1<<31, 0)) || !got[2].(time.Time).Equal(time.Unix(5, 0x80<<22)) {
			t.Fatalf("decoded %v, want the padding, then %v and %v", got[1:], time.Unix(1<<31, 0), time.Unix(5, 0x80<<22))
		}
	}

	// One byte after the payload: the error says how many.
	_, err := decodeMsg(append(slices.Clone(body), 0), nil)
	if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "1 bytes after the message") {
		t.Fatalf("a byte after the payload: %v; want ErrMalformed saying 1 bytes after the message", err)
	}
}

// TestParseTimeEdges reads time extension data at the edges of its forms:
// the largest nanoseconds field is 999999999, a zone may have an empty
// abbreviation and name, or an abbreviation that ends the data, and a
// zone whose abbreviation runs past the data is refused, not read past.
func TestParseTimeEdges(t *testing.T) {
	zoned := func(nsec uint32, sec uint64, offset int32, abbr, name string) []byte {
		b := binary.BigEndian.AppendUint32(nil, nsec)
		b = binary.BigEndian.AppendUint64(b, sec)
		b = binary.BigEndian.AppendUint32(b, uint32(offset))
		return append(append(append(b, byte(len(abbr))), abbr...), name...)
	}
	for _, tc := range []struct {
		name string
		data []byte
		want time.Time // when err is ""
		err  string
	}{
		{"nsec 999999999", zoned(999999999, 7, 0, "", "")[:12], time.Unix(7, 999999999), ""},
		{"nsec 1e9", zoned(1e9, 7, 0, "", "")[:12], time.Time{}, "1000000000 nanoseconds"},
		{"zone empty", zoned(0, 7, 3600, "", ""), time.Unix(7, 0).In(time.FixedZone("", 3600)), ""},
		{"abbr ends the data", zoned(0, 7, 3600, "ABC", ""), time.Unix(7, 0).In(time.FixedZone("ABC", 3600)), ""},
		{"abbr past the data", zoned(0, 7, 3600, "ABCDEFGHIJ", "")[:17+5], time.Time{}, "truncated zone"},
		{"no abbr length", zoned(0, 7, 3600, "", "")[:16], time.Time{}, "truncated zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseTime(tc.data)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseTime = %v, %v; want an error saying %q", got, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			wantAbbr, wantOff := tc.want.Zone()
			if abbr, off := got.Zone(); !got.Equal(tc.want) || abbr != wantAbbr || off != wantOff {
				t.Fatalf("parseTime = %v (zone %q %+d), want %v (zone %q %+d)", got, abbr, off, tc.want, wantAbbr, wantOff)
			}
		})
	}
}

// TestAppendShortest: each appender writes a value in its shortest msgpack
// form, at both sides of every boundary between forms (the bytes a frame
// costs, and what another implementation expects of a canonical writer).
func TestAppendShortest(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []byte
		want int // encoded length
	}{
		{"uint 127", appendUint(nil, 127), 1},
		{"uint 128", appendUint(nil, 128), 2},
		{"uint 255", appendUint(nil, 255), 2},
		{"uint 256", appendUint(nil, 256), 3},
		{"uint 65535", appendUint(nil, 65535), 3},
		{"uint 65536", appendUint(nil, 65536), 5},
		{"uint 1<<32-1", appendUint(nil, 1<<32-1), 5},
		{"uint 1<<32", appendUint(nil, 1<<32), 9},
		{"int 0", appendInt(nil, 0), 1},
		{"int -32", appendInt(nil, -32), 1},
		{"int -33", appendInt(nil, -33), 2},
		{"int -128", appendInt(nil, -128), 2},
		{"int -129", appendInt(nil, -129), 3},
		{"int -32768", appendInt(nil, -32768), 3},
		{"int -32769", appendInt(nil, -32769), 5},
		{"int -1<<31", appendInt(nil, -1<<31), 5},
		{"int -1<<31-1", appendInt(nil, -1<<31-1), 9},
		{"str 31", appendStr(nil, strings.Repeat("s", 31)), 1 + 31},
		{"str 32", appendStr(nil, strings.Repeat("s", 32)), 2 + 32},
		{"str 255", appendStr(nil, strings.Repeat("s", 255)), 2 + 255},
		{"str 256", appendStr(nil, strings.Repeat("s", 256)), 3 + 256},
		{"str 65535", appendStr(nil, strings.Repeat("s", 65535)), 3 + 65535},
		{"str 65536", appendStr(nil, strings.Repeat("s", 65536)), 5 + 65536},
		{"bin 255", appendBin(nil, make([]byte, 255)), 2 + 255},
		{"bin 256", appendBin(nil, make([]byte, 256)), 3 + 256},
		{"bin 65535", appendBin(nil, make([]byte, 65535)), 3 + 65535},
		{"bin 65536", appendBin(nil, make([]byte, 65536)), 5 + 65536},
		{"array 15", appendArrayLen(nil, 15), 1},
		{"array 16", appendArrayLen(nil, 16), 3},
		{"array 65535", appendArrayLen(nil, 65535), 3},
		{"array 65536", appendArrayLen(nil, 65536), 5},
		{"map 15", appendMapLen(nil, 15), 1},
		{"map 16", appendMapLen(nil, 16), 3},
		{"map 65535", appendMapLen(nil, 65535), 3},
		{"map 65536", appendMapLen(nil, 65536), 5},
	} {
		if len(tc.got) != tc.want {
			t.Errorf("%s: %d bytes (code %#x), want %d", tc.name, len(tc.got), tc.got[0], tc.want)
		}
	}
}

// TestEnvelopeArrayForms: the envelope's array header may come in any
// msgpack array form, as another implementation may write it; the fields
// read the same.
func TestEnvelopeArrayForms(t *testing.T) {
	fields := []byte{byte(KindYield), 9, mpFixStr | 2, 'e', 'p', 0, 3, 7}
	for _, hdr := range [][]byte{{mpFixArray | 6}, {mpArray16, 0, 6}, {mpArray32, 0, 0, 0, 6}} {
		m, err := decodeMsg(append(slices.Clone(hdr), fields...), nil)
		if err != nil {
			t.Fatalf("header %x: %v", hdr, err)
		}
		if m.Kind != KindYield || m.CID != 9 || m.Endpoint != "ep" || m.Credit != 3 {
			t.Errorf("header %x: %+v, want a yield on dialog 9 to ep with credit 3", hdr, m)
		}
	}
}

// TestPlainTag: a struct tag the codecs take as a plain field name is
// letters, digits and underscores only, at each end of each range; any
// other byte (an option's comma, a dash, the bytes next to each range)
// leaves the struct to msgpack, which interprets it.
func TestPlainTag(t *testing.T) {
	for _, tag := range []string{"", "a", "z", "A", "Z", "0", "9", "_", "aZ_09"} {
		if !plainTag(tag) {
			t.Errorf("plainTag(%q) = false, want true", tag)
		}
	}
	for _, tag := range []string{"a,omitempty", "-", "a b", "`", "{", "@", "[", "/", ":", "é"} {
		if plainTag(tag) {
			t.Errorf("plainTag(%q) = true, want false", tag)
		}
	}
}

// TestAppendTimeForms: a time is written in the shortest extension form
// that holds it (fixext 4, fixext 8, ext 8 up to 255 bytes of data, then
// ext 16), and each form reads back as the same instant and zone.
func TestAppendTimeForms(t *testing.T) {
	zone := func(n int) *time.Location { return time.FixedZone(strings.Repeat("z", n), 3600) }
	for _, tc := range []struct {
		name string
		t    time.Time
		want int // encoded length
	}{
		{"fixext 4", time.Unix(1<<31, 0).UTC(), 2 + 4},
		{"fixext 8", time.Unix(5, 1).UTC(), 2 + 8},
		{"ext 8, 12 bytes", time.Unix(1<<34, 1).UTC(), 3 + 12},
		{"ext 8, 255 bytes", time.Unix(5, 1).In(zone(119)), 3 + 255},
		{"ext 16, 256 bytes", time.Unix(5, 1).In(zone(120)) /* 17+120+120 = 257 */, 4 + 257},
	} {
		b := appendTime(nil, tc.t)
		if len(b) != tc.want {
			t.Errorf("%s: %d bytes (code %#x), want %d", tc.name, len(b), b[0], tc.want)
		}
		got, ok := readTime(b)
		abbr, off := got.Zone()
		wantAbbr, wantOff := tc.t.Zone()
		if !ok || !got.Equal(tc.t) || abbr != wantAbbr || off != wantOff {
			t.Errorf("%s: read back %v, %v; want %v", tc.name, got, ok, tc.t)
		}
	}
}

// TestSkipLongForms: the payload check steps over the 16- and 32-bit
// array and map forms (which msgpack writes for 16 elements or more), and
// refuses one that declares more than the bytes present.
func TestSkipLongForms(t *testing.T) {
	elems := bytes.Repeat([]byte{1}, 16)
	for _, tc := range []struct {
		name string
		b    []byte
		err  string // what the refusal says, or "" to pass
	}{
		{"array16", append([]byte{mpArray16, 0, 16}, elems...), ""},
		{"array32", append([]byte{mpArray32, 0, 0, 0, 16}, elems...), ""},
		{"map16", append([]byte{mpMap16, 0, 8}, elems...), ""},
		{"map32", append([]byte{mpMap32, 0, 0, 0, 8}, elems...), ""},
		{"array16 short", append([]byte{mpArray16, 0, 17}, elems...), "container of 17 elements in 16 bytes"},
		{"map32 short", append([]byte{mpMap32, 0, 0, 0, 9}, elems...), "container of 9 elements in 16 bytes"},
		// An extension's data follows its type byte: 4 declared, 3 there.
		{"ext8 short", []byte{mpExt8, 4, 1, 0xa0, 0xa0, 0xa0}, "truncated extension value"},
		{"ext8 whole", []byte{mpExt8, 3, 1, 0xa0, 0xa0, 0xa0}, ""},
		{"ext32", []byte{mpExt32, 0, 0, 0, 2, 1, 0xa0, 0xa0}, ""},
		{"fixext1", []byte{mpFixExt1, 1, 0xa0}, ""},
		{"fixext16", append([]byte{mpFixExt16, 1}, bytes.Repeat([]byte{0xa0}, 16)...), ""},
	} {
		err := checkValue(tc.b)
		if tc.err == "" && err != nil || tc.err != "" && (!errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: checkValue = %v, want %q", tc.name, err, tc.err)
		}
	}
}
