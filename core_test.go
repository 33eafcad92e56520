package tractor_test

import (
	"context"
	"os"
	"testing"

	"github.com/tractor-go/tractor"
)

// coreTests are tractor's core scenarios. Each runs over every hosting
// with no change in its body: a test that passes over goroutines must pass
// with its actors in processes, over a pipe or TCP.
var coreTests = []struct {
	name string
	fn   func(*testing.T, hosting)
}{
	{"Hosting", testHosting},
	{"Call", testCall},
	{"Permission", testPermission},
	{"BadArgument", testBadArgument},
	{"ContextDialog", testContextDialog},
	{"CancelThenResult", testCancelThenResult},
	{"ActorCancelledUnderDialog", testActorCancelledUnderDialog},
	{"OneWayStream", testOneWayStream},
	{"FlowControl", testFlowControl},
	{"RunInActor", testRunInActor},
	{"OneCancelsAll", testOneCancelsAll},
	{"NurseryBodyError", testNurseryBodyError},
	{"NurseryJoinsErrors", testNurseryJoinsErrors},
	{"RelayPath", testRelayPath},
	{"CancelTree", testCancelTree},
	{"CancelSoon", testCancelSoon},
	{"NurseryCancel", testNurseryCancel},
	{"NurseryPanicPropagates", testNurseryPanicPropagates},
	{"SendRacingClose", testSendRacingClose},
	{"ConcurrentReceivers", testConcurrentReceivers},
	{"ConcurrentSendersWoken", testConcurrentSendersWoken},
	{"CancelRacingOpen", testCancelRacingOpen},
	{"RealErrorDuringCancel", testRealErrorDuringCancel},
	{"SelfCancelOutcome", testSelfCancelOutcome},
	{"ResultWithOpenCtx", testResultWithOpenCtx},
	{"AnyPayload", testAnyPayload},
	{"NoDialogLeaks", testNoDialogLeaks},
}

func TestCore(t *testing.T) {
	for _, h := range rows(hostings) {
		t.Run(h.name, func(t *testing.T) {
			for _, c := range coreTests {
				t.Run(c.name, func(t *testing.T) { c.fn(t, h) })
			}
		})
	}
}

// testHosting checks that the actors really run where the hosting says: in
// this process, or each in a process of its own.
func testHosting(t *testing.T, h hosting) {
	withWorker(t, h, eps(pid), func(ctx context.Context, p *tractor.Portal) {
		got, err := pid.Call(ctx, p, struct{}{})
		if err != nil {
			t.Fatal(err)
		}
		if inProcess := got == os.Getpid(); inProcess != h.inProcess() {
			t.Errorf("actor runs in pid %d (test pid %d), hosting %s", got, os.Getpid(), h.name)
		}
	})
}
