package app

import "testing"

func TestAccountOf(t *testing.T) {
	tests := []struct{ arn, want string }{
		{"arn:aws:iam::123456789012:role/EcrBaseline-EnforcerRole", "123456789012"},
		{"arn:aws-cn:iam::210987654321:role/path/to/role", "210987654321"},
		{"", ""},
		{"arn:aws:sts::123456789012:assumed-role/r/s", ""},
		{"arn:aws:iam::12345:role/r", ""},
	}
	for _, tt := range tests {
		if got := AccountOf(tt.arn); got != tt.want {
			t.Errorf("AccountOf(%q) = %q, want %q", tt.arn, got, tt.want)
		}
	}
}
