// streamprobe: a streaming client independent of ucri's code, built from Debian's Go packages
// (github.com/docker/spdystream, github.com/gorilla/websocket) in GOPATH mode. It speaks to a URL returned
// by Exec, Attach or PortForward the way kubelet and crictl do, and prints a JSON summary on stdout.
//
//	streamprobe exec URL [-tty] [-stdin] [-resize WxH] [-protocol P]   (stdin: our own stdin)
//	streamprobe pf URL -port N -count C -parallel P -payload TEXT
//	streamprobe ws-exec URL [-stdin] [-tty] [-resize WxH] [-protocol P] (WebSocket, v5.channel.k8s.io by default)
//	streamprobe ws-pf URL -payload TEXT [-protocol P]                   (WebSocket channel pairs; ports in the URL)
//	streamprobe ws-spdy-pf URL -port N -count C -parallel P -payload T  (SPDY tunnelled in WebSocket)
package main

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/binary"
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
	// ErrorTimeout: the error stream did not end (with -keep-open).
	ErrorTimeout bool `json:"errorTimeout,omitempty"`
}

func pfCmd(args []string, tunnelled bool) {
	fs := flag.NewFlagSet("pf", flag.ExitOnError)
	port := fs.Int("port", 0, "")
	count := fs.Int("count", 1, "")
	parallel := fs.Int("parallel", 1, "")
	payload := fs.String("payload", "", "")
	altPort := fs.Int("alt-port", 0, "")
	altEvery := fs.Int("alt-every", 0, "")
	// -keep-open: as client-go's port-forward does, keep the data stream open until the server ended it and
	// then its error stream (the target closed the connection); a server that ends the error stream only
	// after the client closed data leaves the pair hanging, reported as ErrorTimeout.
	keepOpen := fs.Bool("keep-open", false, "")
	fs.Parse(args[1:])
	var conn *spdystream.Connection
	if tunnelled {
		conn = wsTunnel(args[0])
	} else {
		conn, _ = upgrade(args[0], []string{"portforward.k8s.io"})
	}
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
			if *keepOpen {
				data, _ := io.ReadAll(dataS)
				errDone := make(chan []byte)
				go func() { e, _ := io.ReadAll(errS); errDone <- e }()
				r := pfResult{Index: i, Port: h.Get("port"), Data: string(data)}
				select {
				case e := <-errDone:
					r.Error = string(e)
				case <-time.After(10 * time.Second):
					r.ErrorTimeout = true
				}
				dataS.Close()
				results[i] = r
				return
			}
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

func wsDial(raw string, protocols []string) *websocket.Conn {
	u := strings.Replace(raw, "http://", "ws://", 1)
	d := websocket.Dialer{Subprotocols: protocols, HandshakeTimeout: 10 * time.Second}
	c, resp, err := d.Dial(u, nil)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		out, _ := json.Marshal(map[string]interface{}{"httpStatus": status, "error": err.Error()})
		fmt.Println(string(out))
		os.Exit(0)
	}
	return c
}

// wsMessage decodes one channel message: binary (channel byte, data) or, for base64 protocols, text
// (channel digit, base64 data).
func wsMessage(c *websocket.Conn, m []byte) (int, []byte) {
	if len(m) == 0 {
		return -1, nil
	}
	if strings.Contains(c.Subprotocol(), "base64") {
		data, err := base64.StdEncoding.DecodeString(string(m[1:]))
		if err != nil {
			fail("bad base64 message %q: %v", m, err)
		}
		return int(m[0] - '0'), data
	}
	return int(m[0]), m[1:]
}

func wsSend(c *websocket.Conn, channel int, data []byte) {
	if strings.Contains(c.Subprotocol(), "base64") {
		c.WriteMessage(websocket.TextMessage, []byte(string(rune('0'+channel))+base64.StdEncoding.EncodeToString(data)))
		return
	}
	c.WriteMessage(websocket.BinaryMessage, append([]byte{byte(channel)}, data...))
}

func wsExecCmd(args []string) {
	fs := flag.NewFlagSet("ws-exec", flag.ExitOnError)
	stdin := fs.Bool("stdin", false, "")
	resize := fs.String("resize", "", "")
	protocol := fs.String("protocol", "v5.channel.k8s.io", "")
	fs.Parse(args[1:])
	c := wsDial(args[0], strings.Split(*protocol, ","))
	if *resize != "" {
		var w, h int
		fmt.Sscanf(*resize, "%dx%d", &w, &h)
		size, _ := json.Marshal(map[string]int{"Width": w, "Height": h})
		wsSend(c, 4, size)
	}
	if *stdin {
		in, _ := io.ReadAll(os.Stdin)
		wsSend(c, 0, in)
		if c.Subprotocol() == "v5.channel.k8s.io" {
			c.WriteMessage(websocket.BinaryMessage, []byte{255, 0}) // v5: close stdin
		}
	}
	var out, errOut, status bytes.Buffer
	first := -1
	for {
		_, m, err := c.ReadMessage()
		if err != nil {
			break
		}
		ch, data := wsMessage(c, m)
		if first < 0 {
			first = ch
		}
		switch ch {
		case 1:
			out.Write(data)
		case 2:
			errOut.Write(data)
		case 3:
			status.Write(data)
		}
	}
	res, _ := json.Marshal(map[string]interface{}{
		"protocol": c.Subprotocol(), "stdout": out.String(), "stderr": errOut.String(), "status": status.String(),
		"firstChannel": first,
	})
	fmt.Println(string(res))
}

type wsPfChannel struct {
	Port  int    `json:"port"`
	Data  string `json:"data"`
	Error string `json:"error"`
}

// wsPfCmd sends the payload on every data channel and collects what each channel pair answers until the
// server closes the WebSocket, checking the two-byte port prefix that opens each channel.
func wsPfCmd(args []string) {
	fs := flag.NewFlagSet("ws-pf", flag.ExitOnError)
	payload := fs.String("payload", "", "")
	protocol := fs.String("protocol", "v4.channel.k8s.io", "")
	fs.Parse(args[1:])
	u, _ := url.Parse(args[0])
	var ports []string
	for _, p := range u.Query()["port"] {
		ports = append(ports, strings.Split(p, ",")...)
	}
	c := wsDial(args[0], strings.Split(*protocol, ","))
	for i := range ports {
		wsSend(c, 2*i, []byte(fmt.Sprintf("%s %d\n", *payload, i)))
	}
	res := make([]wsPfChannel, len(ports))
	seen := map[int]bool{}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		_, m, err := c.ReadMessage()
		if err != nil {
			break
		}
		ch, data := wsMessage(c, m)
		if ch < 0 || ch/2 >= len(res) {
			fail("message on unknown channel %d", ch)
		}
		if !seen[ch] {
			seen[ch] = true
			if len(data) < 2 {
				fail("first message of channel %d lacks the port: %v", ch, data)
			}
			res[ch/2].Port = int(binary.LittleEndian.Uint16(data[:2]))
			data = data[2:]
		}
		if ch%2 == 0 {
			res[ch/2].Data += string(data)
		} else {
			res[ch/2].Error += string(data)
		}
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}

// wsConn presents a WebSocket carrying binary messages as a byte stream, for a tunnelled SPDY session.
type wsConn struct {
	*websocket.Conn
	r io.Reader
}

func (w *wsConn) Read(p []byte) (int, error) {
	for {
		if w.r == nil {
			_, r, err := w.NextReader()
			if err != nil {
				return 0, io.EOF
			}
			w.r = r
		}
		n, err := w.r.Read(p)
		if err == io.EOF {
			w.r = nil
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

func (w *wsConn) Write(p []byte) (int, error) {
	if err := w.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *wsConn) SetDeadline(t time.Time) error { return w.UnderlyingConn().SetDeadline(t) }

func wsTunnel(raw string) *spdystream.Connection {
	c := wsDial(raw, []string{"SPDY/3.1+portforward.k8s.io"})
	if c.Subprotocol() != "SPDY/3.1+portforward.k8s.io" {
		fail("server chose %q, not the SPDY tunnel", c.Subprotocol())
	}
	conn, err := spdystream.NewConnection(&wsConn{Conn: c}, false)
	if err != nil {
		fail("spdy over websocket: %v", err)
	}
	go conn.Serve(spdystream.NoOpStreamHandler)
	return conn
}

func main() {
	if len(os.Args) < 3 {
		fail("usage: streamprobe exec|pf|ws-exec|ws-pf|ws-spdy-pf URL [flags]")
	}
	switch os.Args[1] {
	case "exec":
		execCmd(os.Args[2:])
	case "pf":
		pfCmd(os.Args[2:], false)
	case "ws-spdy-pf":
		pfCmd(os.Args[2:], true)
	case "ws-pf":
		wsPfCmd(os.Args[2:])
	case "ws-exec":
		wsExecCmd(os.Args[2:])
	default:
		fail("unknown command %q", os.Args[1])
	}
}
