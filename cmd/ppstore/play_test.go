package main

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// --open hands the URL to the desktop's opener (xdg-open here).
func TestOpenBrowserRunsTheOpener(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the opener is xdg-open on Linux only")
	}
	dir := t.TempDir()
	got := filepath.Join(dir, "opened")
	script := "#!/bin/sh\necho \"$1\" > " + got + "\n" // echo is a builtin: PATH holds only this script
	if err := os.WriteFile(filepath.Join(dir, "xdg-open"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	const url = "http://127.0.0.1:1234/"
	if err := openBrowser(url); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(got)
		if err == nil && string(b) == url+"\n" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the opener was not run with the URL (file: %q, %v)", b, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestOpenBrowserWithoutOpener(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the opener is xdg-open on Linux only")
	}
	t.Setenv("PATH", t.TempDir())
	if err := openBrowser("http://127.0.0.1:1/"); err == nil {
		t.Fatal("no error without an opener")
	}
}
