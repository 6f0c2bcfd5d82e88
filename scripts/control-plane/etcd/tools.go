// Package tools pins the upstream etcd server the test control plane builds.
package tools

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
)
