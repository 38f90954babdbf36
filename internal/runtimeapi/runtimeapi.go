// Package runtimeapi is a test implementation of the AWS Lambda Runtime API
// (version 2018-06-01), enough to run a real `bootstrap` binary the way the
// provided.al2023 runtime does: the binary polls for the next invocation
// and posts a response or an error for it.
package runtimeapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

const prefix = "/2018-06-01/runtime/"

// FunctionARN is the ARN the emulator reports for the function.
const FunctionARN = "arn:aws:lambda:us-east-1:123456789012:function:ecr-baseline-enforcer"

// Result is the outcome of one invocation.
type Result struct {
	RequestID string
	// Response is the handler's JSON result when it succeeded.
	Response json.RawMessage
	// Error is set when the handler returned an error.
	Error *ErrorPayload
}

// ErrorPayload is what the runtime posts for a failed invocation.
type ErrorPayload struct {
	ErrorMessage string `json:"errorMessage"`
	ErrorType    string `json:"errorType"`
}

type invocation struct {
	id       string
	payload  []byte
	deadline time.Time
	done     chan Result
}

// Server serves the Runtime API on a loopback port.
type Server struct {
	srv     *http.Server
	addr    string
	queue   chan *invocation
	mu      sync.Mutex
	pending map[string]*invocation
	seq     int
	// InitError receives the error a runtime reports before its first poll.
	InitError chan ErrorPayload
}

// Start listens on a free 127.0.0.1 port.
func Start() (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("runtime api listen: %w", err)
	}
	s := &Server{
		addr:      l.Addr().String(),
		queue:     make(chan *invocation),
		pending:   map[string]*invocation{},
		InitError: make(chan ErrorPayload, 1),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+prefix+"invocation/next", s.next)
	mux.HandleFunc("POST "+prefix+"invocation/{id}/response", s.finish(false))
	mux.HandleFunc("POST "+prefix+"invocation/{id}/error", s.finish(true))
	mux.HandleFunc("POST "+prefix+"init/error", s.initError)
	s.srv = &http.Server{Handler: mux}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

// Addr is the value for AWS_LAMBDA_RUNTIME_API.
func (s *Server) Addr() string { return s.addr }

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// Invoke hands payload to the next poll of the runtime and waits for its
// response or error. timeout is the function timeout the runtime sees as
// its deadline.
func (s *Server) Invoke(ctx context.Context, payload []byte, timeout time.Duration) (Result, error) {
	s.mu.Lock()
	s.seq++
	inv := &invocation{
		id:       fmt.Sprintf("req-%06d", s.seq),
		payload:  payload,
		deadline: time.Now().Add(timeout),
		done:     make(chan Result, 1),
	}
	s.pending[inv.id] = inv
	s.mu.Unlock()
	select {
	case s.queue <- inv:
	case e := <-s.InitError:
		return Result{}, fmt.Errorf("runtime init failed: %s: %s", e.ErrorType, e.ErrorMessage)
	case <-ctx.Done():
		return Result{}, fmt.Errorf("no runtime polled for invocation %s: %w", inv.id, ctx.Err())
	}
	select {
	case r := <-inv.done:
		return r, nil
	case <-ctx.Done():
		return Result{}, fmt.Errorf("invocation %s: %w", inv.id, ctx.Err())
	}
}

func (s *Server) next(w http.ResponseWriter, r *http.Request) {
	var inv *invocation
	select {
	case inv = <-s.queue:
	case <-r.Context().Done():
		return
	}
	h := w.Header()
	h.Set("Lambda-Runtime-Aws-Request-Id", inv.id)
	h.Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(inv.deadline.UnixMilli(), 10))
	h.Set("Lambda-Runtime-Invoked-Function-Arn", FunctionARN)
	h.Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
	h.Set("Content-Type", "application/json")
	_, _ = w.Write(inv.payload)
}

func (s *Server) finish(isError bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := r.PathValue("id")
		s.mu.Lock()
		inv, ok := s.pending[id]
		delete(s.pending, id)
		s.mu.Unlock()
		if !ok {
			http.Error(w, `{"errorMessage":"unknown request id","errorType":"InvalidRequestID"}`, http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(r.Body)
		res := Result{RequestID: id}
		if isError {
			res.Error = &ErrorPayload{}
			if err := json.Unmarshal(body, res.Error); err != nil {
				res.Error.ErrorMessage = string(body)
			}
		} else {
			res.Response = body
		}
		inv.done <- res
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"status":"OK"}`))
	}
}

func (s *Server) initError(w http.ResponseWriter, r *http.Request) {
	var e ErrorPayload
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &e); err != nil {
		e.ErrorMessage = string(body)
	}
	select {
	case s.InitError <- e:
	default:
	}
	w.WriteHeader(http.StatusAccepted)
}

// Run starts a bootstrap binary against this server with env added to a
// minimal Lambda environment. Its stdout (the function's logs) goes to logs.
func (s *Server) Run(bootstrap string, env []string, logs io.Writer) (*exec.Cmd, error) {
	cmd := exec.Command(bootstrap)
	cmd.Env = append([]string{
		"AWS_LAMBDA_RUNTIME_API=" + s.addr,
		"AWS_LAMBDA_FUNCTION_NAME=ecr-baseline-enforcer",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_LOG_FORMAT=JSON",
		"PATH=" + os.Getenv("PATH"),
	}, env...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bootstrap, err)
	}
	return cmd, nil
}

// BuildBootstrap compiles a function for this machine the way the Makefile
// does for Lambda (lambda.norpc), into dir/bootstrap.
func BuildBootstrap(pkg, dir string) (string, error) {
	out := dir + "/bootstrap"
	cmd := exec.Command("go", "build", "-tags", "lambda.norpc", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build %s: %w: %s", pkg, err, strings.TrimSpace(string(b)))
	}
	return out, nil
}
