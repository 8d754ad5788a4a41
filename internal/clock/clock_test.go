package clock

import (
	"testing"
	"time"
)

func TestWall(t *testing.T) {
	if got := Wall(Real{}, time.Minute); got != time.Minute {
		t.Errorf("Wall(Real, 1m) = %v", got)
	}
	if got := Wall(NewScaled(600), time.Minute); got != 100*time.Millisecond {
		t.Errorf("Wall(Scaled 600, 1m) = %v, want 100ms", got)
	}
}
