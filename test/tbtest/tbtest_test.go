package tbtest

import (
	"slices"
	"testing"
)

func TestRunEndsTheHelperAndRunsItsCleanupsLastFirst(t *testing.T) {
	var ran []int
	r := Run(func(tb testing.TB) {
		tb.Cleanup(func() { ran = append(ran, 1) })
		tb.Cleanup(func() { ran = append(ran, 2) })
		tb.Skipf("no %s here", "disk")
		ran = append(ran, 99) // not reached: Skipf ends the goroutine
	})
	if !r.Skipped() || r.Failed() || r.Msg != "no disk here" {
		t.Fatalf("skipped=%v failed=%v msg=%q, want a skip saying no disk here", r.Skipped(), r.Failed(), r.Msg)
	}
	if !slices.Equal(ran, []int{2, 1}) {
		t.Fatalf("ran %v, want the cleanups last first [2 1] and nothing after the skip", ran)
	}
	if r := Run(func(tb testing.TB) { tb.Fatal("broken") }); !r.Failed() || r.Skipped() {
		t.Fatalf("Fatal: failed=%v skipped=%v", r.Failed(), r.Skipped())
	}
}
