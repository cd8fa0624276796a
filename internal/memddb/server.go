package memddb

import (
	"context"
	"encoding/json"
	"errors"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
)

// targetPrefix starts the X-Amz-Target header of every DynamoDB request.
const targetPrefix = "DynamoDB_20120810."

// Handler serves DynamoDB's JSON protocol (POST /, X-Amz-Target:
// DynamoDB_20120810.<Operation>) over s. It checks no signature.
func Handler(s *Store) http.Handler {
	var seq atomic.Int64
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := "memddb-" + strconv.FormatInt(seq.Add(1), 10)
		target := r.Header.Get("X-Amz-Target")
		if r.Method != http.MethodPost || !strings.HasPrefix(target, targetPrefix) {
			writeError(w, reqID, &Error{Type: "UnknownOperationException", Message: "not a DynamoDB request: " + r.Method + " " + target})
			return
		}
		body, err := io.ReadAll(r.Body)
		if err != nil {
			writeError(w, reqID, &Error{Type: "SerializationException", Message: err.Error()})
			return
		}
		out, err := s.Do(strings.TrimPrefix(target, targetPrefix), body)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				e = &Error{Type: "InternalServerError", Message: err.Error()}
			}
			writeError(w, reqID, e)
			return
		}
		b, err := json.Marshal(out)
		if err != nil {
			writeError(w, reqID, &Error{Type: "InternalServerError", Message: err.Error()})
			return
		}
		write(w, reqID, http.StatusOK, b)
	})
}

func writeError(w http.ResponseWriter, reqID string, e *Error) {
	status := http.StatusBadRequest
	if e.Type == "InternalServerError" {
		status = http.StatusInternalServerError
	}
	write(w, reqID, status, e.body())
}

// write sends a response as DynamoDB does, with its CRC32 header (which
// the SDK checks).
func write(w http.ResponseWriter, reqID string, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/x-amz-json-1.0")
	h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
	h.Set("X-Amzn-Requestid", reqID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Server is a Store served on a loopback port.
type Server struct {
	// Endpoint is the server's base URL, such as http://127.0.0.1:41234.
	Endpoint string
	Store    *Store

	srv *http.Server
	l   net.Listener
}

// Start serves a new, empty Store on a free loopback port.
func Start() (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	st := NewStore()
	s := &Server{Endpoint: "http://" + l.Addr().String(), Store: st, l: l,
		srv: &http.Server{Handler: Handler(st)}}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// Close stops the server at once, closing open connections.
func (s *Server) Close() error {
	err := s.srv.Close()
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
