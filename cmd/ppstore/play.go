package main

import (
	"errors"
	"fmt"
	"net"
	"os/exec"
	"runtime"

	"github.com/ppstore/ppstore/daemon"
	"github.com/ppstore/ppstore/play"
	"github.com/ppstore/ppstore/sharecode"
	"github.com/ppstore/ppstore/user"
	"github.com/ppstore/ppstore/wire"
	"github.com/spf13/cobra"
)

func newPlayCmd() *cobra.Command {
	var (
		listen string
		open   bool
	)
	cmd := &cobra.Command{
		Use:   "play [flags] CID|CODE",
		Short: "Stream a file over local HTTP, for video players and browsers",
		Long: `Serve the file CID (or the file of a share code, from ppstore share) over
HTTP on this machine while its pieces arrive, so
that a browser, ffplay, mpv or VLC streams and seeks it directly. The URL of
a page playing it is the first line of stdout; the file itself is at
URL + "file" (HTTP Range supported). Pieces are fetched on demand, from the
position a player asks for, urgency-first: each goes to the miner expected
to deliver it soonest, and a late one is asked of another replica.
It serves until interrupted (Ctrl-C).`,
		Example: `  ppstore play CID                  # prints http://127.0.0.1:PORT/
  ppstore play CID --open           # and opens it in the default browser
  mpv "$(ppstore play CID | head -1)file"`,
		Args:              exactArgs(1, "one CID or share code"),
		ValidArgsFunction: noFileCompletion,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !sharecode.IsCode(args[0]) {
				// A typo in a CID is reported before connecting to anything.
				if _, err := user.ParseFileCID(args[0]); err != nil {
					return err
				}
			}
			c, err := openClient(cmd)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			id, access, err := c.Resolve(ctx, args[0])
			if err != nil {
				return err
			}
			s, err := c.OpenStream(ctx, id, user.StreamOptions{Access: access})
			if err != nil {
				if errors.Is(err, wire.ErrNotFound) {
					return fmt.Errorf("%v is not stored in this region: %w", id, err)
				}
				return err
			}
			defer s.Close()
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %w", listen, err)
			}
			level := "error"
			if verbose, _ := cmd.Flags().GetBool("verbose"); verbose {
				level = "debug"
			}
			log, _ := daemon.NewLogger(cmd.ErrOrStderr(), level)
			srv := play.New(play.FromStream(s), id.String(), log)
			url := "http://" + ln.Addr().String() + "/"
			fmt.Fprintln(cmd.OutOrStdout(), url)
			fmt.Fprintf(cmd.ErrOrStderr(), "playing %v (%d bytes) at %s; the file itself at %sfile; Ctrl-C stops\n", id, s.PlainSize(), url, url)
			// The first piece is the first thing any player asks for.
			go srv.Prefetch(ctx)
			if open {
				if err := openBrowser(url); err != nil {
					fmt.Fprintf(cmd.ErrOrStderr(), "could not open a browser (%v); open %s yourself\n", err, url)
				}
			}
			return play.Serve(ctx, ln, srv)
		},
	}
	f := cmd.Flags()
	f.StringVar(&listen, "listen", "127.0.0.1:0", "TCP address to serve on (port 0: any free port)")
	f.BoolVar(&open, "open", false, "open the page in the default browser")
	return cmd
}

// openBrowser opens url with the desktop's default handler.
func openBrowser(url string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		cmd = exec.Command("open", url)
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", url)
	default:
		cmd = exec.Command("xdg-open", url)
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	go cmd.Wait() // reap it; the browser outlives us or not
	return nil
}
