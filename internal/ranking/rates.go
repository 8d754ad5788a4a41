package ranking

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// DefaultRateDate is the day the default exchange rates were taken; the
// output states it, so nobody mistakes them for today's.
const DefaultRateDate = "2025-11-28"

// usdPer is how many US dollars one unit of each currency the providers
// price in bought on DefaultRateDate (euro reference rate of that day,
// rounded to cents).
var usdPer = map[string]float64{"USD": 1, "EUR": 1.16}

// Rate is how many units of To one unit of From buys, and where that came
// from.
type Rate struct {
	From   string  `json:"from"`
	To     string  `json:"to"`
	Rate   float64 `json:"rate"`
	Source string  `json:"source"` // "default rate of 2025-11-28" or "--rate"
}

// Rates converts amounts into one currency.
type Rates struct {
	To   string
	user map[string]float64
}

// NewRates converts into currency to; user rates ("EUR=1.08": one EUR buys
// 1.08 of to) win over the defaults.
func NewRates(to string, user []string) (Rates, error) {
	to = strings.ToUpper(strings.TrimSpace(to))
	if !currencyCode(to) {
		return Rates{}, fmt.Errorf("--currency %q is not a currency code; use e.g. USD or EUR", to)
	}
	r := Rates{To: to, user: map[string]float64{}}
	for _, u := range user {
		from, value, ok := strings.Cut(u, "=")
		from = strings.ToUpper(strings.TrimSpace(from))
		v, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if !ok || !currencyCode(from) || err != nil || v <= 0 {
			return Rates{}, fmt.Errorf("--rate %q must be CURRENCY=RATE, how much one unit buys in %s (e.g. EUR=1.16)", u, to)
		}
		r.user[from] = v
	}
	return r, nil
}

func currencyCode(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range s {
		if c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// Rate is what one unit of from buys in r.To.
func (r Rates) Rate(from string) (float64, bool) {
	q, ok := r.Quote(from)
	return q.Rate, ok
}

// Quote is the rate from one currency into r.To with its source.
func (r Rates) Quote(from string) (Rate, bool) {
	from = strings.ToUpper(from)
	switch {
	case from == r.To:
		return Rate{From: from, To: r.To, Rate: 1, Source: "same currency"}, true
	case r.user[from] > 0:
		return Rate{From: from, To: r.To, Rate: r.user[from], Source: "--rate"}, true
	case usdPer[from] > 0 && usdPer[r.To] > 0:
		return Rate{From: from, To: r.To, Rate: usdPer[from] / usdPer[r.To], Source: "default rate of " + DefaultRateDate}, true
	}
	return Rate{}, false
}

// Used lists the quotes a ranking's rows relied on, one per currency other
// than r.To.
func (r Rates) Used(rows []Row) []Rate {
	var out []Rate
	seen := map[string]bool{}
	for _, row := range rows {
		c := row.Cost.Currency
		if seen[c] || c == r.To {
			continue
		}
		seen[c] = true
		if q, ok := r.Quote(c); ok {
			out = append(out, q)
		}
	}
	slices.SortFunc(out, func(a, b Rate) int { return strings.Compare(a.From, b.From) })
	return out
}
