package priority

// DefaultCostWindow is the number of executions a CostProfile averages over,
// the prototype's STATS_COUNTER_QUEUE_SIZE.
const DefaultCostWindow = 100

// CostProfile is the online profile of one operator instance's cost per
// message: the mean of the last Window executions. Until the first sample it
// reports Prior (the cold-start rule; the prototype's prior is 0). It is not
// safe for concurrent use.
type CostProfile struct {
	prior   int64
	samples []int64
	next    int
	n       int
	sum     int64
}

// NewCostProfile returns a profile over the last window samples (window <= 0
// means DefaultCostWindow) that reports prior until it has a sample.
func NewCostProfile(window int, prior int64) *CostProfile {
	if window <= 0 {
		window = DefaultCostWindow
	}
	return &CostProfile{prior: prior, samples: make([]int64, window)}
}

// Observe records the cost of one execution.
func (p *CostProfile) Observe(cost int64) {
	if p.n == len(p.samples) {
		p.sum -= p.samples[p.next]
	} else {
		p.n++
	}
	p.samples[p.next] = cost
	p.sum += cost
	p.next++
	if p.next == len(p.samples) {
		p.next = 0
	}
}

// Mean returns the mean of the samples held, or the prior if there are none.
func (p *CostProfile) Mean() int64 {
	if p.n == 0 {
		return p.prior
	}
	return p.sum / int64(p.n)
}

// Samples returns how many samples the mean is taken over.
func (p *CostProfile) Samples() int { return p.n }

// PathCosts is an upstream operator's view of its downstream paths: the last
// reply total from each downstream. C_path is the maximum over them (the
// critical path); with no reply yet it is 0 (cold start). It is not safe for
// concurrent use.
type PathCosts struct {
	ids    []string
	totals []int64
}

// Observe records the reply total of downstream id.
func (p *PathCosts) Observe(id string, total int64) {
	for i, x := range p.ids {
		if x == id {
			p.totals[i] = total
			return
		}
	}
	p.ids = append(p.ids, id)
	p.totals = append(p.totals, total)
}

// Max returns C_path: the most expensive downstream path.
func (p *PathCosts) Max() int64 {
	var m int64
	for _, t := range p.totals {
		m = max(m, t)
	}
	return m
}

// Len returns how many downstreams have replied.
func (p *PathCosts) Len() int { return len(p.ids) }
