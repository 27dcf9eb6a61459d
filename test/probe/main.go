// Command probe is ucri's test client for the CRI socket. It dials the socket the way crictl 1.26 and
// kubelet < 1.31 do (the bare socket path as the gRPC target, an insecure blocking dial through a unix
// context dialer), so grpc-go sends the socket path as the HTTP/2 :authority. That is the request shape
// which Node's HTTP/2 layer rejects unless ucri rewrites it; the probe exists to prove the rewrite works
// against a real grpc-go client.
//
// It needs no generated code: messages travel as raw bytes through a pass-through codec and the few
// fields it reads are decoded with protowire. Build it in GOPATH mode against Debian's packages:
//
//	GO111MODULE=off GOPATH=<tmp>:/usr/share/gocode go build -o probe ./test/probe
//
// Usage:
//
//	probe -socket PATH [-n N] [-timeout D] version
//	probe -socket PATH [-n N] [-timeout D] raw METHOD HEXREQUEST
//
// A failed call exits with status 1 and prints "code=<Code> message=<msg>" on stderr.
package main

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

// rawCodec hands message bytes through unchanged; requests and responses are []byte or *[]byte.
type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	switch m := v.(type) {
	case []byte:
		return m, nil
	case *[]byte:
		return *m, nil
	}
	return nil, fmt.Errorf("raw codec cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	m, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec cannot unmarshal into %T", v)
	}
	*m = append((*m)[:0], data...)
	return nil
}

// Name is the content-subtype; ForceCodec does not add it to content-type, so the server sees
// plain application/grpc exactly as with the generated proto codec.
func (rawCodec) Name() string { return "proto" }

const versionMethod = "/runtime.v1.RuntimeService/Version"

func main() {
	socket := flag.String("socket", "/run/ucri/ucri.sock", "path of the CRI unix socket")
	count := flag.Int("n", 1, "repeat the call this many times on one connection")
	timeout := flag.Duration("timeout", 10*time.Second, "deadline of the dial and of each call")
	authority := flag.String("authority", "", "send this :authority instead of the socket path (as newer clients do)")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 || *count < 1 {
		usage()
	}

	var method string
	var request []byte
	switch args[0] {
	case "version":
		if len(args) != 1 {
			usage()
		}
		method = versionMethod
		request = protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "v1")
	case "raw":
		if len(args) != 3 {
			usage()
		}
		method = args[1]
		var err error
		if request, err = hex.DecodeString(args[2]); err != nil {
			fail("bad hex request: %v", err)
		}
	default:
		usage()
	}

	conn, err := dial(*socket, *authority, *timeout)
	if err != nil {
		fail("dial %s: %v", *socket, err)
	}
	defer conn.Close()

	var response []byte
	for i := 0; i < *count; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		response = response[:0]
		err := conn.Invoke(ctx, method, request, &response, grpc.ForceCodec(rawCodec{}))
		cancel()
		if err != nil {
			st := status.Convert(err)
			fmt.Fprintf(os.Stderr, "call %d of %d failed: code=%s message=%s\n", i+1, *count, st.Code(), st.Message())
			os.Exit(1)
		}
	}

	if args[0] == "raw" {
		fmt.Println(hex.EncodeToString(response))
		return
	}
	out, err := decodeVersion(response)
	if err != nil {
		fail("decode VersionResponse: %v", err)
	}
	enc, _ := json.Marshal(out)
	fmt.Println(string(enc))
}

// dial connects as crictl 1.26 does: the bare path is the target, so grpc-go's passthrough resolver
// makes the path the :authority (unless authority is given).
func dial(socket, authority string, timeout time.Duration) (*grpc.ClientConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	dialer := func(ctx context.Context, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", addr)
	}
	opts := []grpc.DialOption{grpc.WithInsecure(), grpc.WithBlock(), grpc.WithContextDialer(dialer)}
	if authority != "" {
		opts = append(opts, grpc.WithAuthority(authority))
	}
	return grpc.DialContext(ctx, socket, opts...)
}

type versionResponse struct {
	Version           string `json:"version"`
	RuntimeName       string `json:"runtime_name"`
	RuntimeVersion    string `json:"runtime_version"`
	RuntimeAPIVersion string `json:"runtime_api_version"`
}

// decodeVersion reads VersionResponse fields 1..4 (strings) and skips any other field.
func decodeVersion(b []byte) (versionResponse, error) {
	var out versionResponse
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return out, protowire.ParseError(n)
		}
		b = b[n:]
		if typ == protowire.BytesType && num >= 1 && num <= 4 {
			v, m := protowire.ConsumeString(b)
			if m < 0 {
				return out, protowire.ParseError(m)
			}
			b = b[m:]
			switch num {
			case 1:
				out.Version = v
			case 2:
				out.RuntimeName = v
			case 3:
				out.RuntimeVersion = v
			case 4:
				out.RuntimeAPIVersion = v
			}
			continue
		}
		m := protowire.ConsumeFieldValue(num, typ, b)
		if m < 0 {
			return out, protowire.ParseError(m)
		}
		b = b[m:]
	}
	if out.RuntimeAPIVersion == "" && out.RuntimeName == "" {
		return out, errors.New("response has neither runtime_name nor runtime_api_version")
	}
	return out, nil
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: probe -socket PATH [-n N] [-timeout D] version | raw METHOD HEXREQUEST")
	os.Exit(2)
}

func fail(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(1)
}
