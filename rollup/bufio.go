package rollup

import (
	"bufio"
	"io"
)

func bufioReader(r io.Reader) io.Reader { return bufio.NewReaderSize(r, 1<<20) }

func bufioWriter(w io.Writer) *bufio.Writer { return bufio.NewWriterSize(w, 1<<20) }
