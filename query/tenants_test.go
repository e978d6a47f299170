package query

import (
	"errors"
	"strings"
	"testing"
)

func TestParseTenants(t *testing.T) {
	ts, err := ParseTenants("t.yaml", []byte(`
default: {weight: 0.5, max_queries: 20}
tenants:
  ops: {weight: 3}
  bi:
    weight: 1
    max_queries: 5
    admission: best_effort
`))
	if err != nil {
		t.Fatal(err)
	}
	if p := ts.Policy("ops"); p.Weight != 3 || p.MaxQueries != 0 || p.BestEffort {
		t.Errorf("ops %+v", p)
	}
	if p := ts.Policy("bi"); p.Weight != 1 || p.MaxQueries != 5 || !p.BestEffort {
		t.Errorf("bi %+v", p)
	}
	if p := ts.Policy("someone"); p.Weight != 0.5 || p.MaxQueries != 20 {
		t.Errorf("default %+v", p)
	}
	if w := ts.Weights(); len(w) != 2 || w["ops"] != 3 {
		t.Errorf("weights %v", w)
	}
	empty, err := ParseTenants("e.yaml", nil)
	if err != nil || empty.Policy("x").Weight != 1 {
		t.Errorf("empty file: %+v, %v", empty, err)
	}
	var none *Tenants
	if none.Policy("x").Weight != 1 || none.Weights() != nil {
		t.Error("a nil Tenants is equal weights")
	}
}

func TestParseTenantsErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"tenants:\n  a: {weight: 0}\n", "t.yaml:2:15: tenants.a.weight: must be 0.001 to 1000, got 0"},
		{"tenants:\n  a: {weight: 1e9}\n", "tenants.a.weight: must be 0.001 to 1000, got 1e9"},
		{"tenants:\n  a: {weight: .nan}\n", "tenants.a.weight: must be 0.001 to 1000"},
		{"tenants:\n  a: {max_queries: -1}\n", "t.yaml:2:20: tenants.a.max_queries: must be 0 (no bound) to 100000, got -1"},
		{"tenants:\n  a: {max_queries: 2.5}\n", "tenants.a.max_queries: want a whole number"},
		{"tenants:\n  a: {wieght: 2}\n", `t.yaml:2:7: tenants.a: unknown field "wieght" (valid: admission, max_queries, weight)`},
		{"tenants:\n  a: {weight: 1}\n  a: {weight: 2}\n", "t.yaml:3:3: tenants.a: given twice in this mapping"},
		{"tenants: [a, b]\n", "t.yaml:1:10: tenants: want a mapping of tenant names"},
		{"default: 3\n", "default: want a mapping"},
		{"tenants:\n  a: {admission: lax}\n", `t.yaml:2:18: tenants.a.admission: unknown admission "lax" (valid: strict, best_effort)`},
		{"users: {}\n", `unknown field "users" (valid: default, tenants)`},
		{"tenants: {a: {weight: 1}\n", "t.yaml:1:1: malformed YAML/JSON"},
		{"tenants:\n  " + strings.Repeat("x", 200) + ": {}\n", "tenant name of 200 bytes: at most 128"},
	} {
		_, err := ParseTenants("t.yaml", []byte(tc.src))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want %q", tc.src, err, tc.want)
			continue
		}
		var es Errors
		if !errors.As(err, &es) {
			t.Errorf("%q: %T is not Errors", tc.src, err)
		}
	}
}

// The example a README command serves with parses.
func TestExampleTenantFile(t *testing.T) {
	ts, err := ParseTenantsFile("../deploy/tenants.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if p := ts.Policy("analytics"); p.Weight != 1 || p.MaxQueries != 5 || !p.BestEffort {
		t.Errorf("analytics %+v", p)
	}
	if p := ts.Policy("ops"); p.Weight != 3 || p.MaxQueries != 10 || p.BestEffort {
		t.Errorf("ops %+v", p)
	}
}
