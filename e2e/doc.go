// Package e2e holds end-to-end tests: a whole region (bootstrap, indexer,
// miners) in one test process on loopback, and the real binaries driven
// through the ppstore command. It has no code outside its tests.
package e2e
