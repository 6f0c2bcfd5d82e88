//go:build tools

// Package tools pins the CNI plugins the test node builds.
// The commands are main packages, which no build can import: the tools build
// tag keeps this file out of every build, while go mod tidy (which reads all
// build tags) still records their dependencies in go.mod and go.sum.
package tools

import (
	_ "github.com/containernetworking/plugins/plugins/ipam/host-local"
	_ "github.com/containernetworking/plugins/plugins/main/bridge"
	_ "github.com/containernetworking/plugins/plugins/main/loopback"
	_ "github.com/containernetworking/plugins/plugins/meta/portmap"
)
