package envconfig

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

func TestLoad(t *testing.T) {
	defaults := Config{ParameterName: "/p", CacheTTL: 5 * time.Minute, Concurrency: 8, Mode: "replace", SweepMaxReceiveCount: 5, MemberRoleName: "ecr-baseline-member"}
	with := func(change func(*Config)) Config { c := defaults; change(&c); return c }
	tests := []struct {
		name    string
		env     map[string]string
		want    Config
		wantErr string
	}{
		{"defaults", map[string]string{"BASELINE_PARAMETER_NAME": "/p"}, defaults, ""},
		{"empty values are defaults", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "DRY_RUN": "", "ECR_READ_TPS": "", "ENFORCEMENT_MODE": ""}, defaults, ""},
		{"all set", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "BASELINE_CACHE_TTL": "30s", "DRY_RUN": "true",
			"ECR_READ_TPS": "50", "ECR_WRITE_TPS": "19.5", "BACKFILL_CONCURRENCY": "16", "ENFORCEMENT_MODE": "merge", "FORCE": "true",
			"EXEMPT_TAG": "policy=manual", "EXEMPT_REPOSITORIES": "sandbox/*,legacy-*", "SELF_ROLE_ARN": "arn:aws:iam::123456789012:role/r",
			"AWS_LAMBDA_FUNCTION_NAME": "fn"},
			Config{ParameterName: "/p", CacheTTL: 30 * time.Second, DryRun: true, ReadTPS: 50, WriteTPS: 19.5, Concurrency: 16,
				Mode: "merge", Force: true, ExemptTagKey: "policy", ExemptTagValue: "manual", ExemptGlobs: []string{"sandbox/*", "legacy-*"},
				SelfRoleARN: "arn:aws:iam::123456789012:role/r", FunctionName: "fn", SweepMaxReceiveCount: 5, MemberRoleName: "ecr-baseline-member"}, ""},
		{"spaces around patterns are dropped", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "EXEMPT_REPOSITORIES": " sandbox/* , legacy-*"},
			with(func(c *Config) { c.ExemptGlobs = []string{"sandbox/*", "legacy-*"} }), ""},
		{"tag exemption off", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "EXEMPT_TAG": ""}, defaults, ""},
		{"tag exemption opted in", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "EXEMPT_TAG": "ecr-baseline:exempt=true"},
			with(func(c *Config) { c.ExemptTagKey, c.ExemptTagValue = "ecr-baseline:exempt", "true" }), ""},
		{"zero TTL reads every time", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "BASELINE_CACHE_TTL": "0s"},
			with(func(c *Config) { c.CacheTTL = 0 }), ""},
		{"slowest and fastest rates", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "ECR_READ_TPS": "0.1", "ECR_WRITE_TPS": "1e4"},
			with(func(c *Config) { c.ReadTPS, c.WriteTPS = 0.1, 10000 }), ""},
		{"bad enforcement options", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "ENFORCEMENT_MODE": "append", "EXEMPT_TAG": "novalue", "EXEMPT_REPOSITORIES": "a/[", "FORCE": "yes please"}, Config{},
			"configuration: ENFORCEMENT_MODE must be replace or merge, got \"append\"\nFORCE must be true or false, got \"yes please\"\n" +
				"EXEMPT_TAG must be key=value (or empty to turn it off), got \"novalue\"\nEXEMPT_REPOSITORIES must be comma-separated Go path.Match patterns, got \"a/[\" in \"a/[\": syntax error in pattern"},
		{"empty pattern", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "EXEMPT_REPOSITORIES": "a/*,,b"}, Config{},
			"configuration: EXEMPT_REPOSITORIES must be comma-separated Go path.Match patterns, got an empty one in \"a/*,,b\""},
		{"zero rate", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "ECR_WRITE_TPS": "0"}, Config{},
			"configuration: ECR_WRITE_TPS must be a number of calls per second from 0.1 to 10000, got \"0\""},
		{"NaN rate paces nothing", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "ECR_READ_TPS": "NaN"}, Config{},
			"configuration: ECR_READ_TPS must be a number of calls per second from 0.1 to 10000, got \"NaN\""},
		{"infinite rate", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "ECR_READ_TPS": "Inf"}, Config{},
			"configuration: ECR_READ_TPS must be a number of calls per second from 0.1 to 10000, got \"Inf\""},
		{"a rate so slow the run hangs", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "ECR_READ_TPS": "1e-300"}, Config{},
			"configuration: ECR_READ_TPS must be a number of calls per second from 0.1 to 10000, got \"1e-300\""},
		{"allowed principals", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "ALLOWED_PRINCIPALS": "111122223333, o-abcdefghij", "ALLOW_PUBLIC": "true"},
			with(func(c *Config) { c.AllowedPrincipals, c.AllowPublic = []string{"111122223333", "o-abcdefghij"}, true }), ""},
		{"an allowed principal that allows nothing", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "ALLOWED_PRINCIPALS": "111122223333,arn:aws:iam::444455556666:root"}, Config{},
			"configuration: ALLOWED_PRINCIPALS must be comma-separated account or organization IDs, got \"arn:aws:iam::444455556666:root\" in \"111122223333,arn:aws:iam::444455556666:root\": allowed principal \"arn:aws:iam::444455556666:root\" is neither a 12-digit account ID nor an organization ID (o-...)"},
		{"members that are not accounts", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "MEMBER_ACCOUNTS": "111122223333,prod", "MEMBER_REGIONS": "Ireland"}, Config{},
			"configuration: MEMBER_ACCOUNTS must be comma-separated 12-digit account IDs, got \"prod\" in \"111122223333,prod\": not a 12-digit account ID\n" +
				"MEMBER_REGIONS must be comma-separated region names, got \"Ireland\" in \"Ireland\": not a region name such as eu-west-1"},
		{"the whole organisation", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "MEMBER_ORGANIZATIONAL_UNITS": "r-ab12, ou-ab12-cdefgh34"},
			with(func(c *Config) { c.MemberOrganizationalUnits = []string{"r-ab12", "ou-ab12-cdefgh34"} }), ""},
		{"neither an OU nor a root", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "MEMBER_ORGANIZATIONAL_UNITS": "r-AB12,o-abcdefghij"}, Config{},
			"configuration: MEMBER_ORGANIZATIONAL_UNITS must be comma-separated organizational unit or root IDs, got \"r-AB12\" in \"r-AB12,o-abcdefghij\": " +
				"neither an organizational unit ID (ou-...) nor the organisation's root ID (r-...)"},
		{"fractional concurrency", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "BACKFILL_CONCURRENCY": "0.5"}, Config{},
			"configuration: BACKFILL_CONCURRENCY must be a positive whole number, got \"0.5\""},
		{"every problem at once", map[string]string{"BASELINE_CACHE_TTL": "soon", "DRY_RUN": "maybe"}, Config{},
			"configuration: BASELINE_PARAMETER_NAME is required\nBASELINE_CACHE_TTL must be a duration such as 5m, got \"soon\"\nDRY_RUN must be true or false, got \"maybe\""},
		{"negative TTL", map[string]string{"BASELINE_PARAMETER_NAME": "/p", "BASELINE_CACHE_TTL": "-1m"}, Config{},
			"configuration: BASELINE_CACHE_TTL must be a duration such as 5m, got \"-1m\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Load(env(tt.env))
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config (-want +got):\n%s", diff)
			}
		})
	}
}

// TestResolveTakesTheFirstSourceAndNamesIt: the CLI's flags come before its
// environment, and every value says where it came from.
func TestResolveTakesTheFirstSourceAndNamesIt(t *testing.T) {
	flags := func(s *Setting) (string, string, bool) {
		if s == ReadTPS {
			return "5", "--read-tps", true
		}
		return "", "", false
	}
	environment := func(s *Setting) (string, string, bool) {
		switch s {
		case ReadTPS, WriteTPS:
			return "7", "X_" + s.Env, true
		case ExemptTag:
			return "", "X_" + s.Env, true
		}
		return "", "", false
	}
	cfg, values, err := Resolve(flags, environment)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ReadTPS != 5 || cfg.WriteTPS != 7 || cfg.ExemptTagKey != "" {
		t.Errorf("ReadTPS %v, WriteTPS %v, ExemptTagKey %q; want 5 from the flag, 7 from the environment, tag exemption off", cfg.ReadTPS, cfg.WriteTPS, cfg.ExemptTagKey)
	}
	from := map[string]string{}
	for _, v := range values {
		from[v.Setting.Env] = v.Setting.Format(cfg) + " from " + v.From
	}
	want := map[string]string{
		"BASELINE_PARAMETER_NAME": "/ecr-baseline/baseline-policy from default", "BASELINE_CACHE_TTL": "5m0s from default",
		"DRY_RUN": "false from default", "ENFORCEMENT_MODE": "replace from default", "FORCE": "false from default",
		"EXEMPT_TAG": " from X_EXEMPT_TAG", "EXEMPT_REPOSITORIES": " from default", "ECR_READ_TPS": "5 from --read-tps",
		"ECR_WRITE_TPS": "7 from X_ECR_WRITE_TPS", "BACKFILL_CONCURRENCY": "8 from default", "SELF_ROLE_ARN": " from default",
		"ALLOWED_PRINCIPALS": " from default", "ALLOW_PUBLIC": "false from default",
		"APPLY_TO_EXISTING_REPOSITORIES": "false from default", "ARCHIVE_BUCKET": " from default",
		"SWEEP_QUEUE_URL": " from default", "SWEEP_DEAD_LETTER_QUEUE_URL": " from default", "SWEEP_MAX_RECEIVE_COUNT": "5 from default",
		"MEMBER_ACCOUNTS": " from default", "MEMBER_ORGANIZATIONAL_UNITS": " from default", "MEMBER_REGIONS": " from default",
		"MEMBER_ROLE_NAME": "ecr-baseline-member from default", "ORGANIZATION_ID": " from default",
	}
	if d := cmp.Diff(want, from); d != "" {
		t.Errorf("values (-want +got):\n%s", d)
	}

	_, _, err = Resolve(func(s *Setting) (string, string, bool) { return "0", "--" + s.Flag, s == Concurrency })
	if want := `--concurrency must be a positive whole number, got "0"`; err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

// TestFormatReadsBack: the text the construct writes into the function's
// environment and the CLI prints parses back to the same value.
func TestFormatReadsBack(t *testing.T) {
	given := map[*Setting]string{ParameterName: "/p", CacheTTL: "90s", DryRun: "true", Mode: "merge", Force: "1",
		ExemptTag: "a=", ExemptRepositories: " x/* ,y", ReadTPS: "2.5", WriteTPS: "1e3", Concurrency: "03", SelfRoleARN: "arn",
		AllowedPrincipals: " 111122223333 ,o-abcdefghij", AllowPublic: "t", ApplyToExisting: "true", ArchiveBucket: "archive",
		SweepQueueURL: "https://q", SweepDeadLetterQueueURL: "https://dlq", SweepMaxReceiveCount: "07",
		MemberAccounts: " 111122223333 , 444455556666", MemberOrganizationalUnits: "ou-ab12-cdefgh34", MemberRegions: "eu-west-1,us-east-1",
		MemberRoleName: "hub-access", OrganizationID: "o-abcdefghij"}
	cfg, _, err := Resolve(func(s *Setting) (string, string, bool) { return given[s], s.Env, true })
	if err != nil {
		t.Fatal(err)
	}
	formatted := map[string]string{}
	for _, s := range Settings {
		formatted[s.Env] = s.Format(cfg)
	}
	want := map[string]string{"BASELINE_PARAMETER_NAME": "/p", "BASELINE_CACHE_TTL": "1m30s", "DRY_RUN": "true",
		"ENFORCEMENT_MODE": "merge", "FORCE": "true", "EXEMPT_TAG": "a=", "EXEMPT_REPOSITORIES": "x/*,y",
		"ECR_READ_TPS": "2.5", "ECR_WRITE_TPS": "1000", "BACKFILL_CONCURRENCY": "3", "SELF_ROLE_ARN": "arn",
		"ALLOWED_PRINCIPALS": "111122223333,o-abcdefghij", "ALLOW_PUBLIC": "true",
		"APPLY_TO_EXISTING_REPOSITORIES": "true", "ARCHIVE_BUCKET": "archive",
		"SWEEP_QUEUE_URL": "https://q", "SWEEP_DEAD_LETTER_QUEUE_URL": "https://dlq", "SWEEP_MAX_RECEIVE_COUNT": "7",
		"MEMBER_ACCOUNTS": "111122223333,444455556666", "MEMBER_ORGANIZATIONAL_UNITS": "ou-ab12-cdefgh34", "MEMBER_REGIONS": "eu-west-1,us-east-1",
		"MEMBER_ROLE_NAME": "hub-access", "ORGANIZATION_ID": "o-abcdefghij"}
	if d := cmp.Diff(want, formatted); d != "" {
		t.Errorf("formatted (-want +got):\n%s", d)
	}
	again, err := Load(env(formatted))
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(cfg, again); d != "" {
		t.Errorf("read back (-first +again):\n%s", d)
	}
}

func TestDefaults(t *testing.T) {
	want := Config{ParameterName: "/ecr-baseline/baseline-policy", CacheTTL: 5 * time.Minute, Concurrency: 8, Mode: "replace",
		SweepMaxReceiveCount: 5, MemberRoleName: "ecr-baseline-member"}
	if d := cmp.Diff(want, Defaults()); d != "" {
		t.Errorf("Defaults() (-want +got):\n%s", d)
	}
}

// TestOrganizationMode: either member list makes a hub; regions or an
// organization alone do not.
func TestOrganizationMode(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want bool
	}{
		{Defaults(), false},
		{Config{MemberRegions: []string{"eu-west-1"}, OrganizationID: "o-abcdefghij"}, false},
		{Config{MemberAccounts: []string{"111122223333"}}, true},
		{Config{MemberOrganizationalUnits: []string{"ou-ab12-cdefgh34"}}, true},
	} {
		if got := tc.cfg.OrganizationMode(); got != tc.want {
			t.Errorf("OrganizationMode(%+v) = %v, want %v", tc.cfg, got, tc.want)
		}
	}
}

func TestIsRoot(t *testing.T) {
	for id, want := range map[string]bool{
		"r-ab12": true, "r-" + strings.Repeat("a", 32): true,
		"r-ab1": false, "r-" + strings.Repeat("a", 33): false, "r-AB12": false, "ou-ab12-cdefgh34": false, "o-abcdefghij": false,
	} {
		if got := IsRoot(id); got != want {
			t.Errorf("IsRoot(%q) = %v, want %v", id, got, want)
		}
	}
}
