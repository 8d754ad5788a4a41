// Command cto turns a bare-metal provider account into a running CTO
// Platform. See `cto --help`.
package main

import "github.com/cto-platform/cto/internal/cli"

func main() { cli.Main() }
