package moto

import (
	"strings"
	"testing"
	"time"
)

func TestListenURL(t *testing.T) {
	tests := []struct {
		name, log, want, wantErr string
	}{
		{"werkzeug banner", "WARNING: This is a development server.\n * Running on http://127.0.0.1:40091\nPress CTRL+C to quit\n", "http://127.0.0.1:40091", ""},
		{"bind failure", "OSError: [Errno 98] Address already in use\n", "", "moto server ended before listening: OSError: [Errno 98] Address already in use"},
		{"silent exit", "", "", "moto server ended before listening"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := listenURL(strings.NewReader(tt.log), 5*time.Second)
			if got != tt.want {
				t.Errorf("URL %q, want %q", got, tt.want)
			}
			if (err == nil) != (tt.wantErr == "") || err != nil && !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
