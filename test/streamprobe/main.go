// streamprobe: a streaming client independent of ucri's code, built from Debian's Go packages
// (github.com/docker/spdystream, github.com/gorilla/websocket) in GOPATH mode. It speaks to a URL returned
// by Exec, Attach or PortForward the way kubelet and crictl do, and prints a JSON summary on stdout.
//
//	streamprobe exec URL [-tty] [-stdin] [-resize WxH] [-protocol P]   (stdin: our own stdin)
//	streamprobe pf URL -port N -count C -parallel P -payload TEXT
//	streamprobe ws-exec URL [-stdin]                                   (WebSocket v5.channel.k8s.io)
package main

import (
	"bufio"
	"bytes"
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

	"github.com/docker/spdystream"
	"github.com/gorilla/websocket"
)

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(2)
}

// upgrade performs the HTTP/1.1 upgrade to SPDY/3.1 and returns the connection and the chosen protocol.
func upgrade(raw string, protocols []string) (*spdystream.Connection, string) {
	u, err := url.Parse(raw)
	if err != nil {
		fail("bad url: %v", err)
	}
	c, err := net.DialTimeout("tcp", u.Host, 10*time.Second)
	if err != nil {
		fail("dial: %v", err)
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n", u.RequestURI(), u.Host)
	for _, p := range protocols {
		fmt.Fprintf(&req, "X-Stream-Protocol-Version: %s\r\n", p)
	}
	req.WriteString("Content-Length: 0\r\n\r\n")
	if _, err := c.Write(req.Bytes()); err != nil {
		fail("write: %v", err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		fail("read response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(resp.Body)
		out, _ := json.Marshal(map[string]interface{}{"httpStatus": resp.StatusCode, "body": string(body)})
		fmt.Println(string(out))
		os.Exit(0)
	}
	if br.Buffered() > 0 {
		fail("server sent frames before any stream was opened")
	}
	conn, err := spdystream.NewConnection(c, false)
	if err != nil {
		fail("spdy: %v", err)
	}
	go conn.Serve(spdystream.NoOpStreamHandler)
	return conn, resp.Header.Get("X-Stream-Protocol-Version")
}

func stream(conn *spdystream.Connection, h http.Header) *spdystream.Stream {
	s, err := conn.CreateStream(h, nil, false)
	if err != nil {
		fail("create stream %v: %v", h, err)
	}
	if err := s.WaitTimeout(10 * time.Second); err != nil {
		fail("no reply to stream %v: %v", h, err)
	}
	return s
}

func typed(conn *spdystream.Connection, t string) *spdystream.Stream {
	h := http.Header{}
	h.Set("streamType", t)
	return stream(conn, h)
}

func execCmd(args []string) {
	fs := flag.NewFlagSet("exec", flag.ExitOnError)
	tty := fs.Bool("tty", false, "")
	stdin := fs.Bool("stdin", false, "")
	resize := fs.String("resize", "", "")
	protocol := fs.String("protocol", "v4.channel.k8s.io", "")
	fs.Parse(args[1:])
	conn, chosen := upgrade(args[0], strings.Split(*protocol, ","))
	// The order kubelet's client uses: error, stdin, stdout, stderr, resize.
	errS := typed(conn, "error")
	var inS, outS, errOutS, resizeS *spdystream.Stream
	if *stdin {
		inS = typed(conn, "stdin")
	}
	outS = typed(conn, "stdout")
	if !*tty {
		errOutS = typed(conn, "stderr")
	}
	if *tty && chosen != "v2.channel.k8s.io" && chosen != "channel.k8s.io" {
		resizeS = typed(conn, "resize")
	}
	if resizeS != nil && *resize != "" {
		var w, h int
		fmt.Sscanf(*resize, "%dx%d", &w, &h)
		json.NewEncoder(resizeS).Encode(map[string]int{"Width": w, "Height": h})
	}
	if inS != nil {
		go func() {
			io.Copy(inS, os.Stdin)
			inS.Close()
		}()
	}
	var out, errOut bytes.Buffer
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); io.Copy(&out, outS) }()
	go func() {
		defer wg.Done()
		if errOutS != nil {
			io.Copy(&errOut, errOutS)
		}
	}()
	status, _ := io.ReadAll(errS)
	wg.Wait()
	res, _ := json.Marshal(map[string]string{
		"protocol": chosen, "stdout": out.String(), "stderr": errOut.String(), "status": string(status),
	})
	fmt.Println(string(res))
	conn.Close()
}

type pfResult struct {
	Index int    `json:"index"`
	Port  string `json:"port"`
	Data  string `json:"data"`
	Error string `json:"error"`
}

func pfCmd(args []string) {
	fs := flag.NewFlagSet("pf", flag.ExitOnError)
	port := fs.Int("port", 0, "")
	count := fs.Int("count", 1, "")
	parallel := fs.Int("parallel", 1, "")
	payload := fs.String("payload", "", "")
	altPort := fs.Int("alt-port", 0, "")
	altEvery := fs.Int("alt-every", 0, "")
	fs.Parse(args[1:])
	conn, _ := upgrade(args[0], []string{"portforward.k8s.io"})
	results := make([]pfResult, *count)
	sem := make(chan struct{}, *parallel)
	var wg sync.WaitGroup
	for i := 0; i < *count; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			h := http.Header{}
			h.Set("streamType", "error")
			p := *port
			if *altEvery > 0 && i%*altEvery == 0 {
				p = *altPort
			}
			h.Set("port", strconv.Itoa(p))
			h.Set("requestID", strconv.Itoa(i))
			errS := stream(conn, h)
			h.Set("streamType", "data")
			dataS := stream(conn, h)
			msg := fmt.Sprintf("%s %d\n", *payload, i)
			dataS.Write([]byte(msg))
			dataS.Close()
			var data []byte
			done := make(chan struct{})
			go func() { data, _ = io.ReadAll(dataS); close(done) }()
			e, _ := io.ReadAll(errS)
			select {
			case <-done:
			case <-time.After(20 * time.Second):
			}
			results[i] = pfResult{Index: i, Port: h.Get("port"), Data: string(data), Error: string(e)}
		}(i)
	}
	wg.Wait()
	out, _ := json.Marshal(results)
	fmt.Println(string(out))
	conn.Close()
}

func wsExecCmd(args []string) {
	fs := flag.NewFlagSet("ws-exec", flag.ExitOnError)
	stdin := fs.Bool("stdin", false, "")
	fs.Parse(args[1:])
	u := strings.Replace(args[0], "http://", "ws://", 1)
	d := websocket.Dialer{Subprotocols: []string{"v5.channel.k8s.io"}, HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial(u, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		out, _ := json.Marshal(map[string]interface{}{"httpStatus": status, "error": err.Error()})
		fmt.Println(string(out))
		return
	}
	if *stdin {
		in, _ := io.ReadAll(os.Stdin)
		c.WriteMessage(websocket.BinaryMessage, append([]byte{0}, in...))
		c.WriteMessage(websocket.BinaryMessage, []byte{255, 0}) // v5: close stdin
	}
	var out, errOut, status bytes.Buffer
	for {
		_, m, err := c.ReadMessage()
		if err != nil {
			break
		}
		if len(m) == 0 {
			continue
		}
		switch m[0] {
		case 1:
			out.Write(m[1:])
		case 2:
			errOut.Write(m[1:])
		case 3:
			status.Write(m[1:])
		}
	}
	res, _ := json.Marshal(map[string]string{
		"protocol": c.Subprotocol(), "stdout": out.String(), "stderr": errOut.String(), "status": status.String(),
	})
	fmt.Println(string(res))
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: streamprobe exec|pf|ws-exec URL [flags]")
	}
	switch os.Args[1] {
	case "exec":
		execCmd(os.Args[2:])
	case "pf":
		pfCmd(os.Args[2:])
	case "ws-exec":
		wsExecCmd(os.Args[2:])
	default:
		fail("unknown command %q", os.Args[1])
	}
}
