package rollup

import "github.com/cockroachdb/pebble/vfs"

func memFS() vfs.FS { return vfs.NewMem() }
