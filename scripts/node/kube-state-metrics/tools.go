//go:build tools

// Package tools pins the kube-state-metrics command the test cluster builds.
// The commands are main packages, which no build can import: the tools build
// tag keeps this file out of every build, while go mod tidy (which reads all
// build tags) still records their dependencies in go.mod and go.sum.
package tools

import (
	_ "k8s.io/kube-state-metrics/v2"
)
