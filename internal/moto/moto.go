// Package moto starts moto server, the stand-in for AWS in tests and the
// demo, and builds AWS SDK configurations that talk to it.
package moto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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
	// URL is the endpoint, e.g. http://127.0.0.1:41234.
	URL string
	cmd *exec.Cmd
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

// Start launches moto server on a free 127.0.0.1 port and waits until it
// answers. Call Stop when done.
func Start() (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	// Its own process group, so Stop also ends the workers it forks.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if os.Getenv("MOTO_LOG") != "" {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	s := &Server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), cmd: cmd}
	if err := s.waitReady(30 * time.Second); err != nil {
		s.Stop()
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
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
