package debuglock

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tractor-go/tractor"
)

// TestPromptCommandWords: the prompt reads a command and its flags as
// words, so that goroutines -a works under either name and with any
// spacing, an unknown flag is named as such, and a command given words
// it does not take is not run.
func TestPromptCommandWords(t *testing.T) {
	for _, tc := range []struct{ line, want, not string }{
		{"gs -a", "every goroutine of process", "unknown"},
		{"goroutines -a", "every goroutine of process", "unknown"},
		{"  goroutines   -a  ", "every goroutine of process", "unknown"},
		{"gs", "goroutines of process", "every goroutine"},
		{"goroutines -x", `goroutines: unknown flags "-x"; goroutines -a shows`, "every goroutine of process"},
		{"where  now", `unknown command "where now"`, "fallback"},
	} {
		t.Run(tc.line, func(t *testing.T) {
			var out bytes.Buffer
			err := tractor.Run(context.Background(), func(ctx context.Context) error {
				return prompt(tractor.CurrentActor(ctx), strings.NewReader(tc.line+"\nc\n"), &out, nil, "fallback", nil)
			})
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out.String(), tc.want) || strings.Contains(out.String(), tc.not) {
				t.Fatalf("%q printed:\n%s\nwant it to hold %q, not %q", tc.line, out.String(), tc.want, tc.not)
			}
		})
	}
}
