package debuglock

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// flagged lists the prompt's commands that take flags, under every name.
var flagged = map[string]bool{"goroutines": true, "gs": true}

// splitCommand splits a prompt line into its command and the command's
// flags, so that "gs -a", "goroutines -a" and "  goroutines   -a " read
// alike. A line whose command takes no flags but has more words is
// returned whole, words single-spaced, as the name: no command has it,
// and the prompt says it does not know that command line.
func splitCommand(line string) (name string, flags []string) {
	words := strings.Fields(line)
	switch {
	case len(words) == 0:
		return "", nil
	case len(words) > 1 && !flagged[words[0]]:
		return strings.Join(words, " "), nil
	}
	return words[0], words[1:]
}

// goroutinesCommand runs goroutines (gs): one line per goroutine of the
// process, self marked, or with -a every goroutine's stack.
func goroutinesCommand(out io.Writer, flags []string, self int) {
	switch strings.Join(flags, " ") {
	case "":
		fmt.Fprintf(out, "goroutines of process %d (* is this one; goroutines -a shows their stacks):\n", os.Getpid())
		goroutineLines(out, allStacks(), self)
	case "-a":
		everyStack(out)
	default:
		fmt.Fprintf(out, "goroutines: unknown flags %q; goroutines -a shows every goroutine's stack\n", strings.Join(flags, " "))
	}
}

// everyStack prints the stack of every goroutine of the process.
func everyStack(out io.Writer) {
	fmt.Fprintf(out, "every goroutine of process %d:\n%s\n", os.Getpid(), allStacks())
}
