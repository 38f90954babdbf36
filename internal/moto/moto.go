// Package moto starts moto server, the stand-in for AWS in tests and the
// demo, and builds AWS SDK configurations that talk to it.
package moto

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/smithy-go/middleware"

	"github.com/ecr-baseline/ecr-baseline/pkg/awsconfig"
)

// Region and AccountID are moto's defaults.
const (
	Region    = "us-east-1"
	AccountID = "123456789012"
)

// Server is a running moto server.
type Server struct {
	// URL is the endpoint, e.g. http://127.0.0.1:41234: a SerialSQS in
	// front of moto.
	URL  string
	cmd  *exec.Cmd
	gate *SerialSQS
}

// Binary finds moto_server: $MOTO_SERVER, else .venv/bin/moto_server in the
// module root that `make tools` installs.
func Binary() (string, error) {
	if p := os.Getenv("MOTO_SERVER"); p != "" {
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		p := filepath.Join(dir, ".venv", "bin", "moto_server")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return "", fmt.Errorf("moto_server not found in %s/.venv: run `make tools` or set MOTO_SERVER", dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("moto_server not found: run `make tools` or set MOTO_SERVER")
		}
		dir = parent
	}
}

// Start launches moto server on a port the kernel picks and waits until it
// answers. Call Stop when done.
//
// The port is moto's own choice (port 0), read from the line it logs, not
// one found free beforehand: between finding a port and moto binding it,
// another package's moto could take it, and this package's tests would then
// reset and read the other server's state without any error.
func Start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", "0")
	// Its own process group, so Stop also ends the workers it forks.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	if os.Getenv("MOTO_LOG") != "" {
		cmd.Stdout = os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{cmd: cmd}
	if s.URL, err = listenURL(stderr, 30*time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	if err := s.waitReady(30 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	if s.gate, err = StartSerialSQS(s.URL); err != nil {
		s.Stop()
		return nil, err
	}
	s.URL = s.gate.URL
	return s, nil
}

// runningOn is the line werkzeug, moto's server, logs once it listens.
var runningOn = regexp.MustCompile(`Running on (http://127\.0\.0\.1:[0-9]+)`)

// listenURL reads moto's log until it says where it listens, then keeps
// draining the log (to stderr with MOTO_LOG) so moto never blocks on it.
func listenURL(log io.Reader, limit time.Duration) (string, error) {
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(log)
		var seen []string
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if os.Getenv("MOTO_LOG") != "" {
				fmt.Fprintln(os.Stderr, line)
			}
			if sent {
				continue
			}
			if m := runningOn.FindStringSubmatch(line); m != nil {
				found <- m[1]
				sent = true
				continue
			}
			if len(seen) < 20 {
				seen = append(seen, line)
			}
		}
		if !sent {
			found <- "exited: " + strings.Join(seen, " | ")
		}
	}()
	select {
	case u := <-found:
		if rest, exited := strings.CutPrefix(u, "exited: "); exited {
			return "", fmt.Errorf("moto server ended before listening: %s", rest)
		}
		return u, nil
	case <-time.After(limit):
		return "", fmt.Errorf("moto server did not say where it listens within %s", limit)
	}
}

func (s *Server) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		resp, err := http.Get(s.URL + "/moto-api/data.json")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("moto server at %s not ready after %s", s.URL, limit)
}

// Stop ends the server and its process group.
func (s *Server) Stop() {
	if s.gate != nil {
		_ = s.gate.Close()
	}
	if s.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// Reset drops every resource moto holds, so tests start from nothing.
func (s *Server) Reset() error {
	resp, err := http.Post(s.URL+"/moto-api/reset", "application/json", nil)
	if err != nil {
		return fmt.Errorf("reset moto: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("reset moto: status %s", resp.Status)
	}
	return nil
}

// Env is the environment a process needs to reach this server through
// the AWS SDK's standard variables.
func (s *Server) Env() []string {
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL,
		"AWS_REGION=" + Region,
		"AWS_ACCESS_KEY_ID=testing",
		"AWS_SECRET_ACCESS_KEY=testing",
		"AWS_EC2_METADATA_DISABLED=true",
	}
}

// Config returns an SDK configuration for this server. apiOptions add
// middleware, such as a Counter.
func (s *Server) Config(ctx context.Context, apiOptions ...func(*middleware.Stack) error) (aws.Config, error) {
	return Config(ctx, s.URL, apiOptions...)
}

// Config returns an SDK configuration for an endpoint that stands in for
// AWS: moto itself or a proxy in front of it. The endpoint must be set at
// load time: the SDK resolves it from the load options, so changing
// BaseEndpoint on a copy of a loaded configuration has no effect.
func Config(ctx context.Context, endpoint string, apiOptions ...func(*middleware.Stack) error) (aws.Config, error) {
	return awsconfig.Load(ctx,
		config.WithRegion(Region),
		config.WithBaseEndpoint(endpoint),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider("testing", "testing", "")),
		config.WithAPIOptions(apiOptions),
	)
}

// RunTests is a TestMain body: it starts a server into *srv, runs the
// package's tests and stops the server. When moto cannot start it fails
// the whole package loudly rather than skipping the AWS tests.
func RunTests(m interface{ Run() int }, srv **Server) int {
	s, err := Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: moto server:", err)
		return 1
	}
	defer s.Stop()
	*srv = s
	return m.Run()
}
