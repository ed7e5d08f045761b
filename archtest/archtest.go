// Package archtest holds no code: its test checks the layering rules of the
// tree (libraries never import daemons; daemons never import each other).
package archtest
