package fake

// Site is a Latitude.sh location.
type Site struct {
	Slug, Name, Facility, Country, CountrySlug, City string
}

// Sites are every site the live API listed.
var Sites = []Site{
	{"ASH", "Ashburn", "Equinix DC2", "United States", "united-states", "Ashburn"},
	{"CHI", "Chicago", "Cyxtera ORD1", "United States", "united-states", "Chicago"},
	{"DAL", "Dallas", "Cyxtera DAL1", "United States", "united-states", "Dallas"},
	{"LAX", "Los Angeles", "Cyxtera LAX3", "United States", "united-states", "Los Angeles"},
	{"MIA", "Miami", "Equinix MI1", "United States", "united-states", "Miami"},
	{"MIA2", "Miami 2", "Colohouse - Miami", "United States", "united-states", "Miami"},
	{"NYC", "New York", "NYI NY2", "United States", "united-states", "New York"},
	{"SAO", "São Paulo", "Latitude.sh SP1", "Brazil", "brazil", "São Paulo"},
	{"SAO2", "São Paulo 2", "Equinix SP4", "Brazil", "brazil", "São Paulo"},
	{"BUE", "Buenos Aires", "Equinix BA1", "Argentina", "argentina", "Buenos Aires"},
	{"MEX", "Mexico City", "KIO MEX", "Mexico", "mexico", "Mexico City"},
	{"MEX2", "Mexico City 2", "Ascenty MEX1", "Mexico", "mexico", "Mexico City"},
	{"SAN", "Santiago", "Ascenty Chile 1", "Chile", "chile", "Santiago"},
	{"SAN3", "Santiago 3", "Ascenty  Chile 2", "Chile", "chile", "Santiago"},
	{"BGT", "Bogotá", "Equinix BG1", "Colombia", "colombia", "Bogotá"},
	{"FRA", "Frankfurt", "Leaseweb Germany GmbH", "Germany", "germany", "Frankfurt"},
	{"LON", "London", "Digital Realty LHR20", "United Kingdom", "united-kingdom", "London"},
	{"LON2", "London 2", "Telehouse Docklands South", "United Kingdom", "united-kingdom", "London"},
	{"AMS", "Amsterdam", "Equinix AM5", "Netherlands", "netherlands", "Amsterdam"},
	{"SGP", "Singapore", "Equinix SG2", "Singapore", "singapore", "Singapore"},
	{"SYD", "Sydney", "Equinix SY3", "Australia", "australia", "Sydney"},
	{"SYD2", "Sydney 2", "Equinix SY5", "Australia", "australia", "Sydney"},
	{"TYO", "Tokyo", "Equinix TY8", "Japan", "japan", "Tokyo"},
	{"TYO2", "Tokyo 2", "Equinix TY11", "Japan", "japan", "Tokyo"},
	{"TYO3", "Tokyo 3", "Equinix TY10", "Japan", "japan", "Tokyo"},
}

func siteBySlug(slug string) (Site, bool) {
	for _, s := range Sites {
		if s.Slug == slug {
			return s, true
		}
	}
	return Site{}, false
}

// countryFactor scales US prices per country, as the live catalogue does.
var countryFactor = map[string]float64{
	"United States": 1, "Brazil": 1.05, "Argentina": 1.38, "Mexico": 1.1, "Chile": 1.05, "Colombia": 1.43,
	"Germany": 1.15, "United Kingdom": 1.15, "Netherlands": 1.15, "Singapore": 1.25, "Australia": 1.38, "Japan": 1.3,
}

// brlPerUSD converts list prices to BRL.
const brlPerUSD = 4.9

// Plan is one server type of the catalogue.
type Plan struct {
	ID, Slug, Name string
	CPUType        string
	CPUClock       float64
	// Cores counts every core of every CPU, as the API's specs.cpu.cores
	// does (the recorded c2.large.x86: two Silver 4210, cores 20, count 2).
	Cores, CPUs int
	MemoryGB    int
	Drives      []Drive
	NIC         string
	GPUCount    int
	GPUType     string
	GPUVRAM     int
	// IPXE says whether the ipxe operating system lists it as
	// provisionable, as the recorded list does (c1.tiny.x86 included,
	// c3.medium.x86 not); whether a create takes ipxe is another matter
	// (ipxe.go).
	IPXE bool
	// HourUSD and MonthUSD are the United States prices.
	HourUSD, MonthUSD float64
	// Stock is the number of servers available per site; a site listed
	// with 0 offers the plan but has none left.
	Stock map[string]int
}

// Drive is a group of identical drives.
type Drive struct {
	Count int
	Size  string
	Type  string
}

func stock(n int, sites ...string) map[string]int {
	m := map[string]int{}
	for _, s := range sites {
		m[s] = n
	}
	return m
}

func merge(ms ...map[string]int) map[string]int {
	out := map[string]int{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// Catalogue returns a fresh copy of the fake's plans.
func Catalogue() []*Plan {
	us := []string{"ASH", "CHI", "DAL", "LAX", "MIA", "NYC"}
	latam := []string{"SAO", "SAO2", "MEX", "SAN", "BUE", "BGT"}
	eu := []string{"FRA", "LON", "AMS"}
	apac := []string{"SGP", "SYD", "TYO"}
	all := func(n int) map[string]int {
		return merge(stock(n, us...), stock(n, latam...), stock(n, eu...), stock(n, apac...))
	}
	return []*Plan{
		{ID: "plan_2X6KG5mA5yPBM", Slug: "c2-small-x86", Name: "c2.small.x86", CPUType: "E-2134G", CPUClock: 3.5, Cores: 4, CPUs: 1, MemoryGB: 32,
			Drives: []Drive{{1, "500 GB", "SSD"}}, NIC: "1 Gbps", IPXE: true, HourUSD: 0.21, MonthUSD: 146,
			Stock: merge(all(500), stock(0, "BUE", "SYD", "BGT"))},
		{ID: "plan_6VE1Wd3pa0rXO", Slug: "c2-medium-x86", Name: "c2.medium.x86", CPUType: "E-2278G", CPUClock: 3.4, Cores: 8, CPUs: 1, MemoryGB: 64,
			Drives: []Drive{{2, "500 GB", "SSD"}}, NIC: "10 Gbps", IPXE: true, HourUSD: 0.45, MonthUSD: 328, Stock: all(40)},
		{ID: "plan_VL1qm0JP5xGaN", Slug: "c2-large-x86", Name: "c2.large.x86", CPUType: "Silver 4210", CPUClock: 2.2, Cores: 20, CPUs: 2, MemoryGB: 128,
			Drives: []Drive{{2, "1 TB", "SSD"}}, NIC: "10 Gbps", IPXE: true, HourUSD: 0.8, MonthUSD: 584, Stock: stock(10, "DAL", "NYC", "SAO", "FRA")},
		{ID: "plan_zGr47qlMDAg0m", Slug: "c1-tiny-x86", Name: "c1.tiny.x86", CPUType: "E3-1240 v3", CPUClock: 3.4, Cores: 4, CPUs: 1, MemoryGB: 16,
			Drives: []Drive{{1, "250 GB", "SSD"}}, NIC: "1 Gbps", IPXE: true, HourUSD: 0.1, MonthUSD: 73, Stock: stock(30, "DAL", "SAO", "MIA")},
		{ID: "plan_Yv0qoBMKy0VAw", Slug: "c3-small-x86", Name: "c3.small.x86", CPUType: "E-2386G", CPUClock: 3.5, Cores: 6, CPUs: 1, MemoryGB: 32,
			Drives: []Drive{{1, "800 GB", "NVME"}}, NIC: "2 x 10 Gbps", IPXE: true, HourUSD: 0.39, MonthUSD: 285, Stock: all(60)},
		{ID: "plan_e8mD5P6dNrOZb", Slug: "c3-medium-x86", Name: "c3.medium.x86", CPUType: "EPYC 7443P", CPUClock: 2.85, Cores: 24, CPUs: 1, MemoryGB: 256,
			Drives: []Drive{{2, "3.8TB", "NVME"}}, NIC: "2 x 10 Gbps", IPXE: false, HourUSD: 1.05, MonthUSD: 767, Stock: stock(12, "DAL", "ASH", "LAX", "FRA", "TYO")},
		{ID: "plan_K4Gk80V9NpW2P", Slug: "c3-large-x86", Name: "c3.large.x86", CPUType: "AMD 7443P", CPUClock: 2.85, Cores: 24, CPUs: 1, MemoryGB: 256,
			Drives: []Drive{{2, "1.9 TB", "NVME"}}, NIC: "2 x 25 Gbps", IPXE: true, HourUSD: 1.86, MonthUSD: 1358, Stock: stock(6, "DAL", "NYC", "FRA")},
		{ID: "plan_aLqpRwP1Ovd8v", Slug: "c3-xlarge-x86", Name: "c3.xlarge.x86", CPUType: "EPYC 9554", CPUClock: 3.1, Cores: 128, CPUs: 2, MemoryGB: 1536,
			Drives: []Drive{{4, "3.8TB", "NVME"}}, NIC: "2 x 100 Gbps", IPXE: false, HourUSD: 4.2, MonthUSD: 3066, Stock: stock(2, "DAL")},
		{ID: "plan_W6Q2D9xGpP0mK", Slug: "s3-large-x86", Name: "s3.large.x86", CPUType: "AMD 7443P", CPUClock: 2.85, Cores: 24, CPUs: 1, MemoryGB: 512,
			Drives: []Drive{{2, "3.8 TB", "NVME"}}, NIC: "2 x 25 Gbps", IPXE: true, HourUSD: 1.52, MonthUSD: 1110, Stock: stock(4, "DAL", "ASH")},
		{ID: "plan_3RNQEb2xnmd6o", Slug: "m3-large-x86", Name: "m3.large.x86", CPUType: "AMD 7543P", CPUClock: 2.8, Cores: 32, CPUs: 1, MemoryGB: 1024,
			Drives: []Drive{{2, "3.8TB", "NVME"}}, NIC: "2 x 25 Gbps", IPXE: true, HourUSD: 2.4, MonthUSD: 1752, Stock: stock(3, "NYC", "LAX")},
		{ID: "plan_Q8yl0aO9rbV3z", Slug: "g3-h100-small", Name: "g3.h100.small", CPUType: "AMD 9124", CPUClock: 3.0, Cores: 16, CPUs: 1, MemoryGB: 192,
			Drives: []Drive{{2, "3.8TB", "NVME"}}, NIC: "2 x 25 Gbps", GPUCount: 1, GPUType: "NVIDIA H100", GPUVRAM: 80, IPXE: true,
			HourUSD: 2.69, MonthUSD: 1963, Stock: stock(4, "DAL", "NYC", "FRA")},
		{ID: "plan_mGb4kXOE0rD8B", Slug: "g3-a100-large", Name: "g3.a100.large", CPUType: "AMD 9354", CPUClock: 3.25, Cores: 64, CPUs: 2, MemoryGB: 1536,
			Drives: []Drive{{4, "3.8TB", "NVME"}}, NIC: "2 x 100 Gbps", GPUCount: 8, GPUType: "NVIDIA A100", GPUVRAM: 80, IPXE: true,
			HourUSD: 14.4, MonthUSD: 10512, Stock: stock(1, "DAL")},
		{ID: "plan_pNZg5X4QwPB9d", Slug: "g3-l40s-large", Name: "g3.l40s.large", CPUType: "AMD 9354", CPUClock: 3.25, Cores: 64, CPUs: 2, MemoryGB: 1536,
			Drives: []Drive{{4, "3.8TB", "NVME"}}, NIC: "2 x 100 Gbps", GPUCount: 8, GPUType: "NVIDIA L40S", GPUVRAM: 48, IPXE: true,
			HourUSD: 5.6, MonthUSD: 4088, Stock: merge(stock(2, "LAX", "SAO"), stock(0, "DAL"))},
		{ID: "plan_8dEw0yxP3Z2nL", Slug: "g4-rtx6kpro-large", Name: "g4.rtx6kpro.large", CPUType: "EPYC 9355", CPUClock: 3.55, Cores: 64, CPUs: 2, MemoryGB: 1536,
			Drives: []Drive{{4, "7.6TB", "NVME"}}, NIC: "2 x 100 Gbps", GPUCount: 8, GPUType: "NVIDIA RTX PRO 6000", GPUVRAM: 96, IPXE: false,
			HourUSD: 12.8, MonthUSD: 9344, Stock: stock(1, "DAL", "FRA")},
	}
}

// operatingSystems is the catalogue of GET /plans/operating_systems: an
// ordinary OS provisionable everywhere, and ipxe only where a plan says so.
type operatingSystem struct {
	ID, Name, Distro, Slug, Version, User string
	Custom                                bool
}

var operatingSystems = []operatingSystem{
	{"os_Z1Gjbano0L2wl", "Custom image (iPXE)", "iPXE", "ipxe", "(iPXE)", "ubuntu", true},
	{"os_PbxMGz5jaDyOw", "Ubuntu", "ubuntu", "ubuntu_24_04_x64_lts", "24.04", "ubuntu", false},
	{"os_KgXQvNe3azpbP", "Ubuntu", "ubuntu", "ubuntu_22_04_x64_lts", "22.04", "ubuntu", false},
	{"os_Vy3ZXaDW5p2ml", "Debian", "debian", "debian_12", "12", "debian", false},
}

// sumDrives is how many drives a plan has.
func sumDrives(p *Plan) int {
	n := 0
	for _, d := range p.Drives {
		n += d.Count
	}
	return n
}
