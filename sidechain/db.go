package sidechain

import (
	"errors"
	"sync"

	dbm "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"
)

// errDBClosed is returned by writes to a database CometBFT already closed.
var errDBClosed = errors.New("sidechain: database closed (node stopping)")

// stoppableDB guards one of CometBFT's databases against use after Close.
//
// When CometBFT v1.0.1 stops a node it closes its block store while some
// per-peer consensus goroutines may still read it once more on their way
// out (a read between two of their sleeps), and pebble panics on any use of
// a closed database. Reads after Close here find nothing instead, which
// those goroutines already handle (a missing commit); writes fail. Close
// waits for reads in flight.
type stoppableDB struct {
	dbm.DB
	mu     sync.RWMutex
	closed bool
}

// stoppableDBProvider opens CometBFT's databases as usual (pebble, under the
// home's data/), each wrapped in a stoppableDB.
func stoppableDBProvider(ctx *cmtcfg.DBContext) (dbm.DB, error) {
	db, err := cmtcfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	return &stoppableDB{DB: db}, nil
}

func (d *stoppableDB) Get(key []byte) ([]byte, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, nil
	}
	return d.DB.Get(key)
}

func (d *stoppableDB) Has(key []byte) (bool, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return false, nil
	}
	return d.DB.Has(key)
}

func (d *stoppableDB) write(f func() error) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return errDBClosed
	}
	return f()
}

func (d *stoppableDB) Set(k, v []byte) error {
	return d.write(func() error { return d.DB.Set(k, v) })
}

func (d *stoppableDB) SetSync(k, v []byte) error {
	return d.write(func() error { return d.DB.SetSync(k, v) })
}

func (d *stoppableDB) Delete(k []byte) error {
	return d.write(func() error { return d.DB.Delete(k) })
}

func (d *stoppableDB) DeleteSync(k []byte) error {
	return d.write(func() error { return d.DB.DeleteSync(k) })
}

func (d *stoppableDB) Iterator(start, end []byte) (dbm.Iterator, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return dbm.NewMemDB().Iterator(start, end)
	}
	return d.DB.Iterator(start, end)
}

func (d *stoppableDB) ReverseIterator(start, end []byte) (dbm.Iterator, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return dbm.NewMemDB().ReverseIterator(start, end)
	}
	return d.DB.ReverseIterator(start, end)
}

func (d *stoppableDB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	return d.DB.Close()
}
