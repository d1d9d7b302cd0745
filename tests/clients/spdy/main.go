// spdyclient: a minimal Kubernetes remotecommand/portforward client over
// SPDY/3.1, built on moby/spdystream (the library kubectl, crictl and the
// kubelet use), independent of Cradle's own SPDY code. Used by Cradle's tests.
//
//	spdyclient exec URL [-stdin] [-stdout] [-stderr] [-tty -width W -height H] [-protocol P]
//	    stdin from our stdin, output to our stdout/stderr; the error stream's
//	    content is printed to stderr as "STATUS <text>"; exits with the
//	    remote exit code (v4 Status), or 1 on other failures.
//	spdyclient portforward URL -port P [-conns N] [-size BYTES] [-report] [-websocket]
//	    opens N concurrent stream pairs to an echo server on P, sends BYTES of a
//	    pattern on each, checks the echo; prints "ok N" (with -report then, per
//	    connection, "conn I sent BYTES sha256 HEX received BYTES sha256 HEX");
//	    or the error stream text. With -websocket the SPDY session runs inside
//	    a WebSocket (subprotocol SPDY/3.1+portforward.k8s.io, the SPDY bytes in
//	    binary messages), as client-go's NewSPDYOverWebsocketDialer does; built
//	    on Debian's gorilla/websocket, the library client-go uses.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	"github.com/moby/spdystream"
)

type bufConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufConn) Read(p []byte) (int, error) { return c.r.Read(p) }

func dial(rawURL string, protocols []string) (*spdystream.Connection, string) {
	u, err := url.Parse(rawURL)
	if err != nil {
		fail("url: %v", err)
	}
	var conn net.Conn
	if u.Scheme == "https" {
		// Tests use a throw-away self-signed certificate.
		conn, err = tls.Dial("tcp", u.Host, &tls.Config{InsecureSkipVerify: true})
	} else {
		conn, err = net.Dial("tcp", u.Host)
	}
	if err != nil {
		fail("dial: %v", err)
	}
	req, _ := http.NewRequest("POST", rawURL, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "SPDY/3.1")
	for _, p := range protocols {
		req.Header.Add("X-Stream-Protocol-Version", p)
	}
	if err := req.Write(conn); err != nil {
		fail("request: %v", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		fail("response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		fmt.Fprintf(os.Stderr, "HTTP %d %s", resp.StatusCode, body)
		os.Exit(3)
	}
	sc, err := spdystream.NewConnection(&bufConn{conn, br}, false)
	if err != nil {
		fail("spdy: %v", err)
	}
	go sc.Serve(spdystream.NoOpStreamHandler)
	return sc, resp.Header.Get("X-Stream-Protocol-Version")
}

// tunnelPrefix marks a WebSocket subprotocol that carries SPDY.
const tunnelPrefix = "SPDY/3.1+"

// wsConn is the SPDY byte stream inside a WebSocket: each Write is one
// binary message, Read goes through the binary messages in order.
type wsConn struct {
	ws      *websocket.Conn
	current io.Reader
}

func (c *wsConn) Read(p []byte) (int, error) {
	for {
		if c.current == nil {
			kind, r, err := c.ws.NextReader()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
					return 0, io.EOF
				}
				return 0, err
			}
			if kind != websocket.BinaryMessage {
				return 0, fmt.Errorf("tunnel: message of type %d, not binary", kind)
			}
			c.current = r
		}
		n, err := c.current.Read(p)
		if err == io.EOF {
			c.current = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (c *wsConn) Write(p []byte) (int, error) {
	if err := c.ws.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (c *wsConn) Close() error {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	return c.ws.Close()
}

func (c *wsConn) LocalAddr() net.Addr                { return c.ws.LocalAddr() }
func (c *wsConn) RemoteAddr() net.Addr               { return c.ws.RemoteAddr() }
func (c *wsConn) SetDeadline(t time.Time) error      { return c.ws.UnderlyingConn().SetDeadline(t) }
func (c *wsConn) SetReadDeadline(t time.Time) error  { return c.ws.SetReadDeadline(t) }
func (c *wsConn) SetWriteDeadline(t time.Time) error { return c.ws.SetWriteDeadline(t) }

// dialTunnel opens a WebSocket asking for SPDY/3.1+<protocol> and runs a SPDY
// session inside it; returns the SPDY protocol the server chose.
func dialTunnel(rawURL string, protocols []string) (*spdystream.Connection, string) {
	wsURL := strings.Replace(strings.Replace(rawURL, "https://", "wss://", 1), "http://", "ws://", 1)
	offered := make([]string, 0, len(protocols))
	for _, p := range protocols {
		offered = append(offered, tunnelPrefix+p)
	}
	dialer := websocket.Dialer{
		Subprotocols: offered,
		// Tests use a throw-away self-signed certificate.
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true},
	}
	ws, resp, err := dialer.Dial(wsURL, nil)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(resp.Body)
			fmt.Fprintf(os.Stderr, "HTTP %d %s", resp.StatusCode, body)
			os.Exit(3)
		}
		fail("websocket dial: %v", err)
	}
	chosen := ws.Subprotocol()
	if !strings.HasPrefix(chosen, tunnelPrefix) {
		fail("server chose subprotocol %q, not a SPDY tunnel", chosen)
	}
	sc, err := spdystream.NewConnection(&wsConn{ws: ws}, false)
	if err != nil {
		fail("spdy: %v", err)
	}
	go sc.Serve(spdystream.NoOpStreamHandler)
	return sc, strings.TrimPrefix(chosen, tunnelPrefix)
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}

func stream(c *spdystream.Connection, h http.Header) *spdystream.Stream {
	s, err := c.CreateStream(h, nil, false)
	if err != nil {
		fail("create stream %v: %v", h, err)
	}
	return s
}

func execCmd(args []string) {
	fs := flag.NewFlagSet("exec", flag.ExitOnError)
	stdin := fs.Bool("stdin", false, "")
	stdout := fs.Bool("stdout", false, "")
	stderr := fs.Bool("stderr", false, "")
	tty := fs.Bool("tty", false, "")
	width := fs.Int("width", 0, "")
	height := fs.Int("height", 0, "")
	protocol := fs.String("protocol", "v4.channel.k8s.io", "")
	fs.Parse(args[1:])
	conn, negotiated := dial(args[0], []string{*protocol})
	defer conn.Close()
	errStream := stream(conn, http.Header{"Streamtype": {"error"}})
	var wg sync.WaitGroup
	if *stdin {
		s := stream(conn, http.Header{"Streamtype": {"stdin"}})
		go func() {
			io.Copy(s, os.Stdin)
			s.Close()
		}()
	}
	copyOut := func(kind string, w io.Writer) {
		s := stream(conn, http.Header{"Streamtype": {kind}})
		wg.Add(1)
		go func() {
			defer wg.Done()
			io.Copy(w, s)
		}()
	}
	if *stdout {
		copyOut("stdout", os.Stdout)
	}
	if *stderr {
		copyOut("stderr", os.Stderr)
	}
	if *tty {
		s := stream(conn, http.Header{"Streamtype": {"resize"}})
		json.NewEncoder(s).Encode(map[string]int{"Width": *width, "Height": *height})
	}
	status, _ := io.ReadAll(errStream)
	wg.Wait()
	if len(status) > 0 {
		fmt.Fprintf(os.Stderr, "STATUS %s\n", status)
	}
	if negotiated != "v4.channel.k8s.io" {
		if len(status) > 0 {
			os.Exit(1)
		}
		os.Exit(0)
	}
	var st struct {
		Status  string
		Reason  string
		Details struct {
			Causes []struct{ Reason, Message string }
		}
	}
	if err := json.Unmarshal(status, &st); err != nil {
		fail("status %q: %v", status, err)
	}
	if st.Status == "Success" {
		os.Exit(0)
	}
	for _, c := range st.Details.Causes {
		if c.Reason == "ExitCode" {
			code, _ := strconv.Atoi(c.Message)
			os.Exit(code)
		}
	}
	os.Exit(1)
}

func portForward(args []string) {
	fs := flag.NewFlagSet("portforward", flag.ExitOnError)
	port := fs.Int("port", 0, "")
	conns := fs.Int("conns", 1, "")
	size := fs.Int("size", 1024, "")
	report := fs.Bool("report", false, "")
	overWebsocket := fs.Bool("websocket", false, "")
	fs.Parse(args[1:])
	open := dial
	if *overWebsocket {
		open = dialTunnel
	}
	conn, _ := open(args[0], []string{"portforward.k8s.io"})
	defer conn.Close()
	var wg sync.WaitGroup
	errs := make(chan string, *conns)
	reports := make([]string, *conns)
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			h := http.Header{
				"Port":       {strconv.Itoa(*port)},
				"Requestid":  {strconv.Itoa(i)},
				"Streamtype": {"error"},
			}
			errStream := stream(conn, h)
			h = http.Header{"Port": {strconv.Itoa(*port)}, "Requestid": {strconv.Itoa(i)}, "Streamtype": {"data"}}
			data := stream(conn, h)
			payload := make([]byte, *size)
			for j := range payload {
				payload[j] = byte((j*7 + i) % 251)
			}
			go func() {
				// In 32 KiB writes, as io.Copy in kubectl does (a SPDY
				// frame carries at most 16 MiB).
				for off := 0; off < len(payload); off += 32 * 1024 {
					end := off + 32*1024
					if end > len(payload) {
						end = len(payload)
					}
					if _, err := data.Write(payload[off:end]); err != nil {
						break
					}
				}
				data.Close()
			}()
			got, _ := io.ReadAll(data)
			msg, _ := io.ReadAll(errStream)
			if len(msg) > 0 {
				errs <- string(msg)
				return
			}
			reports[i] = fmt.Sprintf("conn %d sent %d sha256 %x received %d sha256 %x",
				i, len(payload), sha256.Sum256(payload), len(got), sha256.Sum256(got))
			if !bytes.Equal(got, payload) {
				errs <- fmt.Sprintf("conn %d: echo mismatch: got %d bytes, sent %d", i, len(got), len(payload))
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	failed := false
	for e := range errs {
		fmt.Fprintln(os.Stderr, "ERROR", e)
		failed = true
	}
	if failed {
		os.Exit(1)
	}
	fmt.Printf("ok %d\n", *conns)
	if *report {
		for _, r := range reports {
			fmt.Println(r)
		}
	}
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: spdyclient exec|portforward URL [flags]")
	}
	switch os.Args[1] {
	case "exec":
		execCmd(os.Args[2:])
	case "portforward":
		portForward(os.Args[2:])
	default:
		fail("unknown mode %s", os.Args[1])
	}
}
