package fake

import (
	"fmt"
	"math/rand/v2"
)

// LoopbackBlock returns a random 127.N.M. prefix, so parallel test
// packages give their fake nodes addresses that do not collide: node i
// listens on prefix+i.
func LoopbackBlock() string {
	return fmt.Sprintf("127.%d.%d.", 1+rand.IntN(254), rand.IntN(256))
}
