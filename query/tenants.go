package query

import (
	"os"
	"sort"

	"go.yaml.in/yaml/v3"
)

// Tenants is a node's tenant file: each tenant's weight in the worker pool
// and its quotas. A tenant the file does not name gets Default.
//
//	default: {weight: 1, max_queries: 20}
//	tenants:
//	  ops: {weight: 3}
//	  bi:  {weight: 1, max_queries: 5, admission: best_effort}
type Tenants struct {
	File    string
	Default TenantPolicy
	Tenants map[string]TenantPolicy
}

// TenantPolicy is one tenant's share and quotas.
type TenantPolicy struct {
	// Weight is the tenant's share of the worker pool against the other
	// busy tenants'; default 1.
	Weight float64
	// MaxQueries bounds the tenant's running queries on the node; 0: no
	// bound beyond the node's.
	MaxQueries int
	// BestEffort admits the tenant's queries while the node is full, as
	// best effort (their work goes after feasible work, within the
	// tenant's share) instead of refusing them: `admission: best_effort`
	// (default `strict`).
	BestEffort bool
}

// Bounds of a tenant file.
const (
	MaxTenants          = 10_000
	MaxTenantQueries    = 100_000
	MinTenantWeight     = MinWeight
	MaxTenantWeight     = MaxWeight
	maxTenantNameLength = 128
)

// Policy returns the policy of tenant: its own, or the default.
func (t *Tenants) Policy(tenant string) TenantPolicy {
	if t == nil {
		return TenantPolicy{Weight: 1}
	}
	if p, ok := t.Tenants[tenant]; ok {
		return p
	}
	return t.Default
}

// Weights returns every named tenant's weight.
func (t *Tenants) Weights() map[string]float64 {
	if t == nil {
		return nil
	}
	w := make(map[string]float64, len(t.Tenants))
	for n, p := range t.Tenants {
		w[n] = p.Weight
	}
	return w
}

// ParseTenantsFile reads and parses the tenant file at path.
func ParseTenantsFile(path string) (*Tenants, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseTenants(path, data)
}

// ParseTenants parses a tenant file (YAML or JSON). On failure the error is
// an Errors with the line, column and field of every problem.
func ParseTenants(file string, data []byte) (*Tenants, error) {
	p := &parser{file: file}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Errors{{File: file, Pos: yamlErrorPos(err), Msg: cleanYAMLError(err)}}
	}
	t := &Tenants{File: file, Default: TenantPolicy{Weight: 1}, Tenants: map[string]TenantPolicy{}}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return t, nil // an empty file: equal weights, no quotas
	}
	p.fields(doc.Content[0], "", map[string]func(v *yaml.Node, field string){
		"default": func(v *yaml.Node, field string) { t.Default = p.tenantPolicy(v, field) },
		"tenants": func(v *yaml.Node, field string) {
			if v.Kind != yaml.MappingNode {
				p.errorf(v, field, "want a mapping of tenant names to {weight, max_queries}, got %s", kindName(v))
				return
			}
			if n := len(v.Content) / 2; n > MaxTenants {
				p.errorf(v, field, "%d tenants: at most %d", n, MaxTenants)
				return
			}
			seen := map[string]bool{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				k, pv := v.Content[i], v.Content[i+1]
				name := p.str(k, field)
				if len(name) > maxTenantNameLength {
					p.errorf(k, field, "tenant name of %d bytes: at most %d", len(name), maxTenantNameLength)
					continue
				}
				if p.dup(seen, k, join(field, name)) {
					continue
				}
				t.Tenants[name] = p.tenantPolicy(pv, join(field, name))
			}
		},
	})
	if len(p.errs) > 0 {
		sort.SliceStable(p.errs, func(i, j int) bool { return p.errs[i].Pos.Line < p.errs[j].Pos.Line })
		return nil, p.errs
	}
	return t, nil
}

func (p *parser) tenantPolicy(n *yaml.Node, field string) TenantPolicy {
	tp := TenantPolicy{Weight: 1}
	p.fields(n, field, map[string]func(v *yaml.Node, field string){
		"weight": func(v *yaml.Node, f string) {
			w := p.number(v, f)
			if !(w >= MinTenantWeight && w <= MaxTenantWeight) {
				p.errorf(v, f, "must be %v to %v, got %v", MinTenantWeight, MaxTenantWeight, v.Value)
				return
			}
			tp.Weight = w
		},
		"admission": func(v *yaml.Node, f string) {
			switch a := p.str(v, f); a {
			case "strict":
			case "best_effort":
				tp.BestEffort = true
			default:
				p.errorf(v, f, "unknown admission %q (valid: strict, best_effort)", a)
			}
		},
		"max_queries": func(v *yaml.Node, f string) {
			m := p.integer(v, f)
			if m < 0 || m > MaxTenantQueries {
				p.errorf(v, f, "must be 0 (no bound) to %d, got %v", MaxTenantQueries, v.Value)
				return
			}
			tp.MaxQueries = int(m)
		},
	})
	return tp
}
