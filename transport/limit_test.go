package transport_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/klauspost/compress/s2"

	"github.com/tractor-go/tractor/transport"
)

// limitTestFrame is the frame limit of the tests below: small, so that the
// messages at its edge stay small too.
const limitTestFrame = 64 << 10

// payloadForFrame returns a highly compressible payload whose yield
// message, framed, is exactly frameLen bytes before compression (flags
// byte plus body).
func payloadForFrame(t *testing.T, frameLen int) []byte {
	t.Helper()
	for n := frameLen; n > 0; n-- {
		p := bytes.Repeat([]byte{'z'}, n)
		b, err := transport.EncodeMsg(yield(1, p))
		if err != nil {
			t.Fatal(err)
		}
		if 1+len(b) == frameLen {
			return p
		}
	}
	t.Fatalf("no payload frames to %d bytes", frameLen)
	return nil
}

// TestSendLimitBeforeCompression: the frame limit applies to a message as
// it is before compression. A message one byte over it fails its Send with
// ErrFrameTooLarge however well it compresses, and only that Send: the
// connection goes on. A message exactly at the limit is sent, compressed,
// and the receiver accepts it: both sides check the same quantity.
func TestSendLimitBeforeCompression(t *testing.T) {
	forEachConnType(t, func(t *testing.T, ct connType) {
		cfg := transport.Config{MaxFrame: limitTestFrame, Compress: true}
		a, b := ct.make(t, cfg, cfg)
		shake(t, a, b, transport.Hello{}, transport.Hello{})
		sb := serve(t, b)
		serve(t, a)
		ctx := context.Background()

		over := payloadForFrame(t, limitTestFrame+1)
		if z := s2.Encode(nil, over); len(z) > limitTestFrame/100 {
			t.Fatalf("test payload compresses to %d bytes; want a highly compressible one", len(z))
		}
		err := a.Send(ctx, yield(1, over))
		if !errors.Is(err, transport.ErrFrameTooLarge) {
			t.Fatalf("Send of a compressible message over the limit returned %v, want ErrFrameTooLarge", err)
		}
		at := payloadForFrame(t, limitTestFrame)
		if err := a.Send(ctx, yield(2, at)); err != nil {
			t.Fatalf("Send of a message exactly at the limit: %v", err)
		}
		if err := a.Send(ctx, yield(3, "after")); err != nil {
			t.Fatalf("Send after a refused one: %v", err)
		}
		got := sb.col.waitN(t, 2)
		if len(got) != 2 || got[0].CID != 2 || !bytes.Equal(decodeAs[[]byte](t, got[0].Payload), at) || got[1].CID != 3 {
			t.Fatalf("receiver got %d messages (cids %v), want the one at the limit, then the next", len(got), cids(got))
		}
		if sb.returned() {
			t.Fatalf("receiver's Serve returned %v: a message at the limit broke the connection", sb.err)
		}
	})
}

// TestReceiveLimitAgreesWithSend: a peer that sends a compressed frame
// that decompresses to exactly the limit (flags byte included) is served;
// one byte more is an oversized frame, which the receiver refuses by
// closing the connection, however small its compressed form.
func TestReceiveLimitAgreesWithSend(t *testing.T) {
	cfg := transport.Config{MaxFrame: limitTestFrame, Compress: true}
	for _, tc := range []struct {
		name     string
		frameLen int // before compression
		want     error
	}{
		{"at the limit", limitTestFrame, nil},
		{"one byte over", limitTestFrame + 1, transport.ErrFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, raw := rawPair(t, cfg)
			shakeRaw(t, c, raw, true)
			s := serve(t, c)
			p := payloadForFrame(t, tc.frameLen)
			b, err := transport.EncodeMsg(yield(1, p))
			if err != nil {
				t.Fatal(err)
			}
			go raw.Write(frame(1, s2.Encode(nil, b)))
			if tc.want != nil {
				if err := s.wait(t); !errors.Is(err, tc.want) {
					t.Fatalf("Serve returned %v, want %v", err, tc.want)
				}
				return
			}
			got := s.col.waitN(t, 1)
			if !bytes.Equal(decodeAs[[]byte](t, got[0].Payload), p) {
				t.Fatalf("frame at the limit delivered as %d bytes", len(decodeAs[[]byte](t, got[0].Payload)))
			}
		})
	}
}

func cids(msgs []transport.Msg) []uint64 {
	var out []uint64
	for _, m := range msgs {
		out = append(out, m.CID)
	}
	return out
}
