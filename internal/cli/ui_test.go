package cli

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cto-platform/cto/internal/pipeline"
)

// lockedBuffer is a terminal both the live view and a question write to.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A question on the terminal stays there: the live view draws nothing
// while it waits for the answer, and its next frame starts below the
// answer instead of moving the cursor up over the question.
func TestLiveViewLeavesAQuestionAlone(t *testing.T) {
	term := &lockedBuffer{}
	u := newLiveUI(term, 0)
	defer u.Close()
	u.Emit(pipeline.Event{Type: pipeline.StepStarted, Step: pipeline.StepValidate})
	u.Emit(pipeline.Event{Type: pipeline.Message, Step: pipeline.StepValidate, Message: "total: $0.21 per hour"})
	time.Sleep(300 * time.Millisecond) // a few frames

	var during string
	u.Prompt(func() {
		term.Write([]byte("Create 1 server(s)? [y/N] "))
		start := term.String()
		// Events keep coming while the user reads the question.
		u.Emit(pipeline.Event{Type: pipeline.NodeUpdate, Step: pipeline.StepServers, Node: "cto-cp1", Status: "pending"})
		time.Sleep(400 * time.Millisecond)
		during = strings.TrimPrefix(term.String(), start)
		term.Write([]byte("y\n"))
	})
	if during != "" {
		t.Errorf("the live view drew %q over the open question", during)
	}
	before := term.String()
	if !strings.Contains(before, "total: $0.21 per hour") {
		t.Errorf("the cost lines were not drawn before the question:\n%q", before)
	}
	time.Sleep(300 * time.Millisecond)
	after := strings.TrimPrefix(term.String(), before)
	if !strings.Contains(after, "cto-cp1") {
		t.Fatalf("no frame after the answer, or it lacks the event sent meanwhile:\n%q", after)
	}
	if !strings.HasPrefix(after, " ") {
		t.Errorf("the first frame after the answer does not start below it: %q", after[:min(len(after), 20)])
	}
}
