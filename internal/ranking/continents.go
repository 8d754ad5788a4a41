package ranking

import "strings"

// Continents lists every --continent value.
var Continents = []string{"africa", "asia", "europe", "north-america", "oceania", "south-america"}

// countries maps the countries the providers have sites in, by ISO code
// (Hetzner, Vultr) and by English name (Latitude.sh), to their continent.
var countries = map[string]string{
	"US": "north-america", "CA": "north-america", "MX": "north-america",
	"BR": "south-america", "CL": "south-america", "AR": "south-america", "CO": "south-america", "PE": "south-america",
	"DE": "europe", "NL": "europe", "GB": "europe", "UK": "europe", "FR": "europe", "FI": "europe", "ES": "europe",
	"PL": "europe", "SE": "europe", "IT": "europe", "IE": "europe", "CH": "europe", "AT": "europe", "BE": "europe",
	"JP": "asia", "SG": "asia", "IN": "asia", "KR": "asia", "HK": "asia", "IL": "asia", "TW": "asia", "ID": "asia",
	"AU": "oceania", "NZ": "oceania",
	"ZA": "africa",
}

var countryNames = map[string]string{
	"united states": "US", "united states of america": "US", "usa": "US", "canada": "CA", "mexico": "MX",
	"brazil": "BR", "chile": "CL", "argentina": "AR", "colombia": "CO", "peru": "PE",
	"germany": "DE", "netherlands": "NL", "united kingdom": "GB", "france": "FR", "finland": "FI", "spain": "ES",
	"poland": "PL", "sweden": "SE", "italy": "IT", "ireland": "IE", "switzerland": "CH", "austria": "AT", "belgium": "BE",
	"japan": "JP", "singapore": "SG", "india": "IN", "south korea": "KR", "korea": "KR", "hong kong": "HK", "israel": "IL",
	"taiwan": "TW", "indonesia": "ID", "australia": "AU", "new zealand": "NZ", "south africa": "ZA",
}

// ContinentOf is the continent of a country given by ISO code or English
// name, "" when unknown.
func ContinentOf(country string) string {
	c := strings.TrimSpace(country)
	if code, ok := countryNames[strings.ToLower(c)]; ok {
		c = code
	}
	return countries[strings.ToUpper(c)]
}

// ParseContinent reads a --continent value ("Europe", "north america").
func ParseContinent(s string) (string, bool) {
	c := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), " ", "-")
	for _, k := range Continents {
		if k == c {
			return k, true
		}
	}
	return "", false
}
